"""The first-response benchmark's plan and ratios (bench/firstresponse.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import firstresponse, scenarios
from bench.firstresponse import BASELINE, BASELINE_VARIANTS, Samples
from tools.local import infra_model


def test_every_round_samples_the_baseline_at_start_middle_and_end() -> None:
    handlers = {"events": "handlers.events.handler", "status": "handlers.status.handler"}
    plan = firstresponse.jobs(handlers, {"events": {"master_key": False}})
    targets = [job.target for job in plan]
    assert targets.count(BASELINE) == 3 * len(firstresponse.BASELINE_VARIANTS)
    assert targets[0] == BASELINE
    assert targets[-1] == BASELINE
    middle = [i for i, t in enumerate(targets) if t == BASELINE][len(BASELINE_VARIANTS)]
    assert 0 < middle < len(plan) - 2 * len(BASELINE_VARIANTS)
    # a keyed function with a key made before the hardening work (12) and one made now (4)
    assert [j.variant.name for j in plan if j.target == "events"] == ["cost 12", "cost 4"]
    assert [j.variant.name for j in plan if j.target == "status"] == ["no key"]


def test_every_function_is_measured_with_each_key_it_could_be_given() -> None:
    handlers = {name: spec.handler for name, spec in infra_model.functions().items()}
    plan = firstresponse.jobs(handlers, {})
    cases = scenarios.scenarios(firstresponse._NO_IDS)
    for name in handlers:
        variants = {j.variant.name for j in plan if j.target == name}
        assert variants == ({"cost 12", "cost 4"} if cases[name].auth else {"no key"}), name


def test_each_keyed_sample_presents_the_key_of_its_cost() -> None:
    handlers = {"events": "handlers.events.handler"}
    plan = firstresponse.jobs(handlers, {})
    keys = {12: "dk_twelve", 4: "dk_four"}
    runner = firstresponse.Runner(_FakeColumn(), "http://127.0.0.1:1", keys, _IDS)  # type: ignore[arg-type]
    for job in plan:
        argv, environment, _ = runner.command(job)
        presented = {cost for cost, key in keys.items() if f"Bearer {key}" in argv[-1]}
        assert presented == {job.variant.cost}, job
        assert "DOCKHAND_MASTER_KEY" not in environment


_IDS = {"inbox_cursor": "c", "notes_cursor": "n", "agent_id": "a", "agent_secret": "s"}


class _FakeColumn:
    python, flags, notes = "python3", ("-S",), ["fake"]
    cwd = {"dockhand": Path("."), "baseline": Path(".")}

    def environment(self, side: str) -> dict[str, str]:
        return {"DOCKHAND_MASTER_KEY": "not-deployed", "SIDE": side}


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
                },
            },
            "status": {
                "route": "GET /status",
                "variants": {
                    "no key": {
                        "available": True,
                        "first_ms": 240.0,
                        "init_ms": 200.0,
                        "first_vs_baseline_12": 0.19,
                        "first_vs_baseline_4": 0.23,
                        "init_vs_baseline": 0.24,
                    },
                },
            },
        },
    }
    cold = {"columns": {"artefact": {"functions": {"events": {"vs_baseline": 0.57}}}}}
    lines = firstresponse.format_lines(section, cold)
    row = next(line for line in lines if "events" in line)
    for figure in ("0.57", "0.30", "500", "0.41", "300", "0.45", "POST /events"):
        assert figure in row
    unkeyed = next(line for line in lines if "status" in line)
    for figure in ("0.24", "0.19", "0.23", "(no API key)"):
        assert figure in unkeyed
    assert not any("record" in line for line in lines)


@pytest.mark.parametrize("cost", [4, 12])
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
    assert auth.BCRYPT_COST == 4  # new keys keep production's cost afterwards
