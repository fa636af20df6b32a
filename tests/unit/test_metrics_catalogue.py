"""The metric catalogue (common/runtime/catalogue.py) and the code agree, both ways.

Emissions are found statically: an AST walk of common/ and handlers/ for calls to
`count("name")` / `record("name", v)` through `common.runtime.catalogue` (however it is
imported), and through module-local forwarding wrappers such as
`def _metric(name): count(name)`.  A name that is not a string literal fails the
test, because then nothing can check it against the catalogue.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from common.runtime import catalogue

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("common", "handlers")
EMITTERS = {"count", "record"}


@dataclass
class Emission:
    name: str
    where: str


@dataclass
class Scan:
    emitted: list[Emission] = field(default_factory=list)
    non_literal: list[str] = field(default_factory=list)
    bypasses: list[str] = field(default_factory=list)


def _source_files() -> Iterator[Path]:
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if path != ROOT / "common" / "runtime" / "catalogue.py":
                yield path


def _catalogue_aliases(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names bound to the module common.runtime.catalogue, names bound to count/record)."""
    modules: set[str] = set()
    functions: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "common.runtime":
            modules |= {a.asname or a.name for a in node.names if a.name == "catalogue"}
        elif isinstance(node, ast.ImportFrom) and node.module == "common.runtime.catalogue":
            functions |= {a.asname or a.name for a in node.names if a.name in EMITTERS}
        elif isinstance(node, ast.Import):
            modules |= {
                a.asname or a.name for a in node.names if a.name == "common.runtime.catalogue"
            }
    return modules, functions


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _is_emitter_call(call: ast.Call, modules: set[str], functions: set[str]) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in functions
    if isinstance(func, ast.Attribute) and func.attr in EMITTERS:
        return _dotted(func.value) in modules
    return False


def _enclosing_functions(tree: ast.Module) -> dict[ast.AST, ast.FunctionDef]:
    """Each node → the innermost function defining it (ast.walk goes outer first,
    so later, inner assignments win)."""
    owners: dict[ast.AST, ast.FunctionDef] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            owners.update({inner: node for inner in ast.walk(node) if inner is not node})
    return owners


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def scan_file(path: Path, scan: Scan, root: Path = ROOT) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    relative = path.relative_to(root)
    modules, functions = _catalogue_aliases(tree)
    owners = _enclosing_functions(tree)
    wrappers: set[str] = set()
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    for call in calls:
        if isinstance(call.func, ast.Attribute) and call.func.attr == "add_metric":
            scan.bypasses.append(f"{relative}:{call.lineno}")
        if not _is_emitter_call(call, modules, functions) or not call.args:
            continue
        first = call.args[0]
        owner = owners.get(call)
        parameters = {a.arg for a in owner.args.args} if owner else set()
        if isinstance(first, ast.Name) and first.id in parameters and owner is not None:
            wrappers.add(owner.name)  # a forwarding wrapper: its callers name the metric
        elif (name := _literal(first)) is not None:
            scan.emitted.append(Emission(name, f"{relative}:{call.lineno}"))
        else:
            scan.non_literal.append(f"{relative}:{call.lineno}")
    for call in calls:
        if isinstance(call.func, ast.Name) and call.func.id in wrappers and call.args:
            name = _literal(call.args[0])
            if name is None:
                scan.non_literal.append(f"{relative}:{call.lineno}")
            else:
                scan.emitted.append(Emission(name, f"{relative}:{call.lineno}"))


def scan_sources() -> Scan:
    scan = Scan()
    for path in _source_files():
        scan_file(path, scan)
    return scan


@pytest.fixture(scope="module")
def scan() -> Scan:
    return scan_sources()


def test_every_emitted_metric_is_in_the_catalogue(scan: Scan) -> None:
    missing = sorted(
        {f"{e.name} ({e.where})" for e in scan.emitted if e.name not in catalogue.CATALOGUE}
    )
    assert not missing, f"emitted but not in common.runtime.catalogue.CATALOGUE: {missing}"


def test_every_catalogue_metric_is_emitted_somewhere(scan: Scan) -> None:
    emitted = {e.name for e in scan.emitted}
    unused = sorted(set(catalogue.CATALOGUE) - emitted)
    assert not unused, f"in the catalogue but emitted nowhere (remove or emit): {unused}"


def test_metric_names_are_literals(scan: Scan) -> None:
    assert not scan.non_literal, f"metric names must be string literals: {scan.non_literal}"


def test_nothing_bypasses_the_catalogue(scan: Scan) -> None:
    assert not scan.bypasses, (
        f"use common.runtime.catalogue.count/record, not add_metric: {scan.bypasses}"
    )


def test_scanner_sees_every_import_style_and_wrappers(tmp_path: Path) -> None:
    """The scanner itself can fail: each style below is one emission or one error."""
    source = tmp_path / "sample.py"
    source.write_text(
        "from common.runtime import catalogue\n"
        "from common.runtime import catalogue as metrics\n"
        "import common.runtime.catalogue\n"
        "from common.runtime.catalogue import count as tally\n"
        "def _metric(name):\n"
        "    tally(name)\n"
        "def f():\n"
        "    dynamic = str(1)\n"
        "    catalogue.count('a')\n"
        "    metrics.record('b', 1)\n"
        "    common.runtime.catalogue.count('c')\n"
        "    tally('d')\n"
        "    _metric('e')\n"
        "    catalogue.count(dynamic)\n"
        "    _metric(dynamic)\n"
        "    'x=='.count('=')\n"
        "    metrics.add_metric(name='z', unit='Count', value=1)\n"
    )
    scan = Scan()
    scan_file(source, scan, root=tmp_path)
    assert sorted(e.name for e in scan.emitted) == ["a", "b", "c", "d", "e"]
    assert scan.non_literal == ["sample.py:14", "sample.py:15"]
    assert scan.bypasses == ["sample.py:17"]


def test_catalogue_entries_are_well_formed() -> None:
    for name, spec in catalogue.CATALOGUE.items():
        assert spec.name == name
        assert spec.description
        assert spec.dimensions[0] == "service", name  # powertools adds it to every blob
        assert len(spec.dimensions) <= 30  # EMF's limit per dimension set


def test_unknown_names_are_refused() -> None:
    with pytest.raises(KeyError, match=r"not in common\.runtime\.catalogue\.CATALOGUE"):
        catalogue.count("no_such_metric")


# ---------------------------------------------------------------- what is published


def _blobs(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def _published(blobs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """metric name → its dimension set, as CloudWatch would read the EMF blobs."""
    found: dict[str, set[str]] = {}
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            (dimensions,) = directive["Dimensions"]
            for metric in directive["Metrics"]:
                found[metric["Name"]] = set(dimensions)
    return found


@pytest.fixture
def emf_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")


def test_a_request_publishes_per_route_metrics_and_the_code_on_its_own(
    api: Any, emf_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    result = api.get("/events/nope")  # no key: 401 unauthorized
    assert result.status == 401
    blobs = _blobs(capsys.readouterr().out)
    published = _published(blobs)
    assert published["requests"] == {"service", "route"}
    assert published["latency"] == {"service", "route"}
    assert published["errors_4xx"] == {"service", "route"}
    assert published["errors_by_code"] == {"service", "code"}
    by_code = next(b for b in blobs if "errors_by_code" in b)
    assert by_code["code"] == "unauthorized"
    assert next(b for b in blobs if "requests" in b)["route"] == "GET /events/{event_id}"
    for name, dimensions in published.items():
        assert set(catalogue.CATALOGUE[name].dimensions) == dimensions, name


def test_a_success_publishes_no_error_code(
    api: Any, emf_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert api.get("/status").status == 200
    published = _published(_blobs(capsys.readouterr().out))
    assert set(published) == {"requests", "latency"}


def test_disabled_metrics_print_nothing_and_leave_nothing_behind(
    api: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from common.runtime.observability import metrics

    capsys.readouterr()
    assert api.get("/events/nope").status == 401
    assert _blobs(capsys.readouterr().out) == []
    assert metrics.metric_set == {}
    assert set(metrics.dimension_set) <= {"service"}


def test_the_rollup_publishes_the_gauges_over_tenants(
    api: Any, keys: Any, emf_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from common.runtime import clock
    from handlers import rollup

    start = 1_790_000_000.0
    clock.set_clock(lambda: start)
    for n, key in enumerate((keys.creator, keys.creator, keys.other_creator)):
        body = {"event_type": "t", "payload": {"n": n}}
        assert api.post("/events", key=key, json_body=body).status == 201
    assert api.post("/agents", key=keys.creator, json_body={"name": "a1"}).status == 201
    clock.set_clock(lambda: start + 86400 + 60)  # the next day; events pending for a day
    capsys.readouterr()
    rollup.handler({"day": clock.day_of(start)}, None)
    (blob,) = [b for b in _blobs(capsys.readouterr().out) if "inbox_pending" in b]
    assert blob["inbox_pending"] == [3.0]  # summed over acme (2) and globex (1)
    assert blob["inbox_oldest_pending_age_seconds"] == [86460.0]
    assert blob["agents_healthy"] == [1.0]  # as stored: the sweeper did not run
    assert blob["agents_dead"] == [0.0]
    assert blob["rollup_tenants"] == [2.0]
    for name, dimensions in _published([blob]).items():
        assert set(catalogue.CATALOGUE[name].dimensions) == dimensions == {"service"}, name
