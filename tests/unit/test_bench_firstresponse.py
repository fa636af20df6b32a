"""The first-response benchmark's plan and ratios (bench/firstresponse.py)."""

from __future__ import annotations

import itertools

import pytest

from bench import firstresponse, scenarios
from bench.firstresponse import BASELINE, Samples
from tools.local import infra_model


def test_every_round_samples_the_baseline_at_start_middle_and_end() -> None:
    handlers = {"events": "handlers.events.handler", "status": "handlers.status.handler"}
    plan = firstresponse.jobs(handlers, {"events": {"master_key": False}})
    targets = [job.target for job in plan]
    assert targets.count(BASELINE) == 3 * len(firstresponse.BASELINE_VARIANTS)
    assert targets[0] == BASELINE
    assert targets[-1] == BASELINE
    # a keyed function is measured without a record at cost 12 and 4, then with one
    assert [j.variant.name for j in plan if j.target == "events"] == ["cost 12", "cost 4", "record"]
    assert [j.variant.name for j in plan if j.target == "status"] == ["no key"]


def test_the_middle_baseline_never_separates_a_record_run_from_its_cost_4_run() -> None:
    handlers = {name: spec.handler for name, spec in infra_model.functions().items()}
    plan = firstresponse.jobs(handlers, {})
    for before, job in itertools.pairwise(plan):
        if job.variant.name == "record":
            assert (before.target, before.variant.name) == (job.target, "cost 4")


def test_ratios_divide_each_sample_by_the_baseline_of_its_own_round() -> None:
    mine = Samples(first=[2.0, 4.0, 3.0], init=[1.0, 1.0, 1.0], rounds=[0, 1, 2])
    # the machine slowed down in round 1: both sides slowed down with it
    base = Samples(first=[4.0, 4.0, 8.0, 8.0, 6.0, 6.0], init=[2.0] * 6, rounds=[0, 0, 1, 1, 2, 2])

    assert firstresponse._round_ratio(mine, base, "first") == 0.5
    assert firstresponse._round_ratio(mine, base, "init") == 0.5
    # medians taken apart would pair samples from different moments: 2 / 16 here
    mine = Samples(first=[2.0, 2.0, 8.0], init=[1.0] * 3, rounds=[0, 1, 2])
    base = Samples(first=[4.0, 16.0, 16.0], init=[1.0] * 3, rounds=[0, 1, 2])
    assert firstresponse._round_ratio(mine, base, "first") == 0.5


def test_the_table_shows_both_ratios_per_function() -> None:
    section = {
        "runs": 1,
        "how": ["artefacts"],
        "functions": {
            "events": {
                "route": "POST /events",
                "variants": {
                    "cost 12": {
                        "available": True,
                        "first_ms": 500.0,
                        "init_ms": 100.0,
                        "first_vs_baseline_12": 0.41,
                        "init_vs_baseline": 0.3,
                    },
                    "cost 4": {
                        "available": True,
                        "first_ms": 300.0,
                        "init_ms": 100.0,
                        "first_vs_baseline_4": 0.45,
                        "init_vs_baseline": 0.3,
                    },
                    "record": {
                        "available": True,
                        "first_ms": 250.0,
                        "init_ms": 100.0,
                        "first_vs_baseline_12": 0.2,
                        "first_vs_baseline_4": 0.38,
                    },
                },
            }
        },
    }
    cold = {"columns": {"artefact": {"functions": {"events": {"vs_baseline": 0.57}}}}}
    row = next(line for line in firstresponse.format_lines(section, cold) if "events" in line)
    for figure in ("0.57", "0.30", "0.41", "0.45", "0.20", "0.38", "POST /events"):
        assert figure in row


@pytest.mark.parametrize("cost", [4, 5])
def test_bench_keys_have_the_cost_asked_for(aws: None, cost: int) -> None:
    from common.access import auth
    from common.runtime.config import settings
    from common.store import aws as clients

    api_key = scenarios.create_key(cost)
    key_id = auth.split_key(api_key)
    assert key_id is not None
    item = clients.dynamodb().get_item(
        TableName=settings().keys_table, Key={"pk": {"S": f"KEY#{key_id[0]}"}, "sk": {"S": "KEY"}}
    )["Item"]
    stored = next(v["S"] for v in item.values() if "S" in v and v["S"].startswith("$2"))
    assert stored.startswith(f"$2b${cost:02d}$")
