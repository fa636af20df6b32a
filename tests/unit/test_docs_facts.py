"""What the README and docs state about the code, checked against the code.

A sentence such as "14 Lambda functions" or "55 operations" is a fact about the tree;
when a function, table or route is added, this test names the sentence to update.
Numbers may be written as digits or words ("six tables"). Beyond counts: the lists the
docs spell out (GET /stats's figures, the metric table, the IAM table, the MCP
revisions, the retry schedule, the rules at the top of docs/api.md), the settings and
defaults they name, and every path and module they point to."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from common.agents import held
from common.context import redact
from common.mcp import protocol
from common.runtime import catalogue
from common.stats import rollup
from common.triggers import queues
from common.triggers.inbox import changes
from tests.infra import tf
from tools.gen import openapi
from tools.local import infra_model

REPO = Path(__file__).resolve().parents[2]
NONE = "\N{EN DASH}"  # an empty cell in the docs' tables
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16,
}  # fmt: skip
NUMBER = r"(?P<n>\d[\d,]*|" + "|".join(WORDS) + ")"


def _operations() -> int:
    return sum(len(methods) for methods in openapi.build_document()["paths"].values())


def _tables() -> int:
    return (REPO / "infra" / "tables.tf").read_text("utf-8").count('resource "aws_dynamodb_table"')


def _functions() -> int:
    return len(infra_model.functions())


def _ids_per_transaction() -> int:
    return changes._PER_TRANSACTION


def _figures() -> int:
    return len(rollup.COUNTED)


FACTS = {
    "Lambda functions": (rf"\b{NUMBER} (?:Lambda )?functions\b", _functions),
    "DynamoDB tables": (rf"\b{NUMBER} (?:DynamoDB )?tables\b", _tables),
    "API operations": (rf"\b{NUMBER} operations\b", _operations),
    "ack ids per transaction": (rf"\bper {NUMBER} ids\b", _ids_per_transaction),
    "named queues": (rf"\b(?:up to|at most) {NUMBER} (?:named )?queues\b",
                     lambda: queues.MAX_QUEUES),
    "released per run": (rf"\bat most {NUMBER} (?:held )?items per run\b",
                         lambda: held.RELEASE_BUDGET),
    "MCP batch size": (rf"\bbatches of at most {NUMBER} messages\b", lambda: protocol.MAX_BATCH),
    "counted figures": (rf"\b{NUMBER} counted figures\b", _figures),
}  # fmt: skip


def _claims(pattern: str) -> list[tuple[str, int, int]]:
    found = []
    for path in DOCS:
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            for match in re.finditer(pattern, line, flags=re.IGNORECASE):
                word = match.group("n").lower()
                found.append(
                    (
                        f"{path.relative_to(REPO)}:{number}",
                        number,
                        WORDS.get(word) or int(word.replace(",", "")),
                    )
                )
    return found


@pytest.mark.parametrize("fact", sorted(FACTS))
def test_every_count_in_the_docs_is_the_codes(fact: str) -> None:
    pattern, actual = FACTS[fact]
    expected = actual()
    wrong = [f"{where} says {n}" for where, _, n in _claims(pattern) if n != expected]
    assert wrong == [], f"{fact}: the code has {expected}; update {wrong}"


def test_the_patterns_find_claims() -> None:
    # If a rewording hides a claim from its pattern, this test says so rather than the
    # count test passing on nothing.
    assert [fact for fact, (pattern, _) in FACTS.items() if not _claims(pattern)] == []


def test_the_figures_listed_for_stats_are_the_counted_ones() -> None:
    # docs/agents.md spells out GET /stats's figures; a new counter must be named there.
    agents = (REPO / "docs" / "agents.md").read_text("utf-8")
    listing = agents.split("Response of `GET /stats`", 1)[1].split("\n\n", 1)[0]
    assert [name for name in rollup.COUNTED if f"`{name}`" not in listing] == []


def test_every_setting_the_docs_name_exists() -> None:
    code = "\n".join(
        path.read_text("utf-8")
        for folder in ("common", "handlers", "tools")
        for path in (REPO / folder).rglob("*.py")
    )
    code += (REPO / "Makefile").read_text("utf-8")
    named = {
        (str(path.relative_to(REPO)), name)
        for path in DOCS
        for name in re.findall(r"\bDOCKHAND_[A-Z0-9_]*[A-Z0-9]\b", path.read_text("utf-8"))
    }
    assert sorted((where, name) for where, name in named if name not in code) == []


def test_defaults_stated_for_settings_are_the_codes() -> None:
    # "`DOCKHAND_X`, default N" in the docs against `_int("DOCKHAND_X", N, ...)`.
    config = (REPO / "common" / "runtime" / "config.py").read_text("utf-8")
    defaults = {
        name: int(value.replace("_", ""))
        for name, value in re.findall(r'_int\(\s*"(DOCKHAND_[A-Z0-9_]+)",\s*([0-9_]+)', config)
    }
    wrong = []
    for path in DOCS:
        text = path.read_text("utf-8")
        for name, value in re.findall(r"`(DOCKHAND_[A-Z0-9_]+)`,? default (\d+)", text):
            if name in defaults and defaults[name] != int(value):
                wrong.append(f"{path.name}: {name} default {value}, code {defaults[name]}")
    assert wrong == []


def test_the_mcp_revisions_named_are_the_served_ones() -> None:
    mcp = (REPO / "docs" / "mcp.md").read_text("utf-8")
    table = mcp.split("### Protocol revisions", 1)[1].split("\n\n", 2)[1]
    named = set(re.findall(r"\b\d{4}-\d{2}-\d{2}\b", table))
    assert named == set(protocol.ALL_VERSIONS)
    # and the newest handshake revision, which initialize offers when it cannot match
    assert f"else the newest ({protocol.LATEST_VERSION})" in mcp


def _dynamodb_lines(access: dict[str, Any]) -> list[str]:
    lines = []
    for table, grant in access["dynamodb"].items():
        actions = [action.removeprefix("dynamodb:") for action in grant["actions"]]
        writes = grant.get("leading_key_writes")
        if writes:
            only = "/".join(key.rstrip("*") for key in writes["leading_keys"])
            actions += [f"{a.removeprefix('dynamodb:')} ({only} only)" for a in writes["actions"]]
        parts = [", ".join(actions)] if actions else []
        if grant["indexes"]:
            parts.append("Query on " + ", ".join(grant["indexes"]))
        lines.append(f"**{table}**: " + " · ".join(parts))
    return lines


def _s3_cell(access: dict[str, Any]) -> str:
    objects = ", ".join(action.removeprefix("s3:") for action in access["s3"]) or NONE
    bucket = access.get("s3_bucket")
    if bucket:
        objects += "; bucket: " + ", ".join(action.removeprefix("s3:") for action in bucket)
    return objects


def test_the_iam_table_in_deploy_md_is_permissions_tf() -> None:
    # The DynamoDB grants, S3 actions and master key of each function, as permissions.tf
    # says; the SQS and stream lines (infra/delivery.tf) are free text after them.
    deploy = (REPO / "docs" / "deploy.md").read_text("utf-8")
    rows = {}
    for line in deploy.split("## IAM per function", 1)[1].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("function", "---"):
            rows[cells[0]] = cells[1:]
    granted = tf.permissions()
    assert sorted(rows) == sorted(granted)
    for fn, (dynamodb, s3, master_key) in rows.items():
        stated = [part for part in dynamodb.split("<br>") if part.startswith("**")]
        assert stated == _dynamodb_lines(granted[fn]), fn
        assert s3 == _s3_cell(granted[fn]), fn
        assert master_key.startswith("yes" if granted[fn]["master_key"] else NONE), fn


# Paths the docs name that are not in the tree on purpose: MCP method names, a file the
# user writes, a folder a build makes.
NOT_FILES = {"tools/call", "tools/list", "infra/terraform.tfvars", "bench/wheels/"}


def test_every_path_the_docs_name_exists() -> None:
    # Modules move (common/triggers/inbox.py became a package): a stale path misleads.
    missing = []
    for path in DOCS:
        text = path.read_text("utf-8")
        for name in sorted(
            set(re.findall(r"\b(?:common|handlers|tools|tests|infra)/[\w./-]*\w/?", text))
        ):
            if name in NOT_FILES or name.endswith("_") or (REPO / name).exists():
                continue
            if (REPO / f"{name}.py").exists():  # a module named by its path
                continue
            missing.append(f"{path.relative_to(REPO)}: {name}")
    assert missing == []


FILE_SUFFIXES = {"json", "md", "py", "txt", "png", "tf", "toml", "csv", "zip"}


def test_every_module_the_docs_name_exists() -> None:
    missing = []
    for path in DOCS:
        text = path.read_text("utf-8")
        for dotted in sorted(
            set(re.findall(r"\b(?:common|handlers|tools|bench)(?:\.[a-z_]+)+\b", text))
        ):
            if dotted.rsplit(".", 1)[1] in FILE_SUFFIXES:  # bench.json is a file
                continue
            parts = dotted.split(".")
            while parts and not (
                (REPO / Path(*parts)).with_suffix(".py").exists() or (REPO / Path(*parts)).is_dir()
            ):
                parts.pop()
            module = REPO / Path(*parts)
            source = module / "__init__.py" if module.is_dir() else module.with_suffix(".py")
            rest = dotted.split(".")[len(parts) :]
            if not parts or (rest and not re.search(rf"\b{rest[0]}\b", source.read_text("utf-8"))):
                missing.append(f"{path.relative_to(REPO)}: {dotted}")
    assert missing == []


def test_the_metric_table_is_the_catalogue() -> None:
    operations = (REPO / "docs" / "operations.md").read_text("utf-8")
    rows = {
        name: (unit, dimensions)
        for name, unit, dimensions in re.findall(
            r"^\| `(\w+)` \| (\w+) \| ([\w, ]+) \|", operations, flags=re.MULTILINE
        )
    }
    declared = {
        name: (spec.unit.value, ", ".join(spec.dimensions))
        for name, spec in catalogue.CATALOGUE.items()
    }
    assert rows == declared


def test_the_rules_at_the_top_of_api_md_are_the_codes() -> None:
    from common.runtime import http, models
    from common.runtime.config import load_settings
    from handlers import heartbeat, hydrate

    top = (REPO / "docs" / "api.md").read_text("utf-8").split("## Operations", 1)[0]
    top = " ".join(top.split())  # sentences wrap anywhere
    config = load_settings()
    routes = heartbeat.ROUTES
    agent = {name: routes[f"POST /agents/{{agent_id}}/{name}"].max_body // http.KIB for name in (
        "heartbeat", "lease", "release", "ack")}  # fmt: skip
    assert agent["heartbeat"] == agent["lease"] == agent["release"]
    stated = [
        f"Bodies are at most {http.DEFAULT_MAX_BODY // http.KIB} KiB",
        f"`POST /hydrate`: {hydrate.MAX_SNAPSHOT_BODY // http.MIB} MiB",
        f"{agent['heartbeat']} KiB (`heartbeat`, `lease`, `release`) and {agent['ack']} KiB",
        f"{config.rate_limit_requests} requests per {config.rate_limit_window_seconds} s",
        f"over {config.auth_client_budget} a minute (or {config.auth_client_key_budget} "
        "against one key id)",
        f"within {config.key_cache_seconds} s",
        f"`limit` (1\N{EN DASH}{models.MAX_LIMIT}, default {models.DEFAULT_LIMIT})",
    ]
    assert [phrase for phrase in stated if phrase not in top] == []


def _duration(seconds: int) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def test_the_retry_schedule_in_triggers_md_is_the_codes() -> None:
    from common.triggers.delivery import messages

    schedule = ", ".join(_duration(s) for s in messages.RETRY_SCHEDULE_SECONDS)
    triggers = " ".join((REPO / "docs" / "triggers.md").read_text("utf-8").split())
    assert f"Schedule: {schedule} after each failed attempt" in triggers


def test_the_redaction_kinds_in_context_md_are_the_codes() -> None:
    text = (REPO / "docs" / "context.md").read_text("utf-8")
    section = text.split("### Redaction in `POST /notes`", 1)[1].split("\n### ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", section.split("A value that is already", 1)[0]))
    assert sorted(named) == sorted(redact.KINDS)
