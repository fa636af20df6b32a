"""The pieces of bench/coldstart.py and bench/artefacts.py that decide what is measured:
the function list and first-request clients come from infra, and the layer's compiled
extensions (only those) are swapped for this host's."""

from __future__ import annotations

import platform
import zipfile
from pathlib import Path

import pytest

from bench import artefacts, coldstart
from tools.local import infra_model


def test_every_function_in_infra_is_measured_with_the_clients_infra_grants() -> None:
    handlers = {name: spec.handler for name, spec in infra_model.functions().items()}
    found = coldstart.targets(handlers, coldstart._permissions())
    assert [t.name for t in found] == [*handlers, coldstart.BASELINE]
    by_name = {t.name: t for t in found}
    assert by_name["events"].services == ("dynamodb",)
    assert by_name["hydrate"].services == ("dynamodb", "s3", "secretsmanager")
    assert by_name["rehydrate"].services == ("dynamodb", "s3")
    assert by_name[coldstart.BASELINE].services == ()
    assert "aws.client(_service)" in by_name["events"].script()
    assert "aws.client" not in by_name[coldstart.BASELINE].script()


def test_a_function_not_yet_granted_anything_still_gets_its_dynamodb_client() -> None:
    assert coldstart.first_request_clients("dispatch", {}) == ("dynamodb",)


def _dist(site: Path, name: str, version: str, files: list[str]) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("".join(f"{f},sha256=x,1\n" for f in files))
    for relative in files:
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(f"layer {relative}")


def test_only_the_compiled_files_of_native_dists_are_swapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "python"
    _dist(site, "fastcore", "1.2.3", ["fastcore/__init__.py", "fastcore/_core.aarch64.so"])
    _dist(site, "purepkg", "2.0", ["purepkg/__init__.py"])
    (site / "fastcore" / "__pycache__").mkdir()
    (site / "fastcore" / "__pycache__" / "__init__.cpython-312.pyc").write_text("shipped")
    assert [d.name for d in artefacts.native_dists(site)] == ["fastcore"]

    cache = tmp_path / "wheels"
    cache.mkdir()
    wheel = cache / f"fastcore-1.2.3-cp312-cp312-manylinux_2_17_{platform.machine()}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fastcore/__init__.py", "host wheel source")
        archive.writestr(f"fastcore/_core.{platform.machine()}.so", "host binary")
        archive.writestr("fastcore.libs/libdep.so", "vendored")

    def cached_wheel(python: str, dist: artefacts.NativeDist) -> Path:
        prefix = f"{dist.name}-{dist.version}-"
        return artefacts.host_wheel_from_cache(prefix, platform.machine(), cache)

    monkeypatch.setattr(artefacts, "host_wheel", cached_wheel)
    assert artefacts.swap_native_extensions(site, "python3.12") == ["fastcore==1.2.3"]
    assert not (site / "fastcore" / "_core.aarch64.so").exists()
    assert (site / "fastcore" / f"_core.{platform.machine()}.so").read_text() == "host binary"
    assert (site / "fastcore.libs" / "libdep.so").exists()
    # Pure Python stays exactly as shipped, bytecode included.
    assert (site / "fastcore" / "__init__.py").read_text() == "layer fastcore/__init__.py"
    assert (site / "fastcore" / "__pycache__" / "__init__.cpython-312.pyc").read_text() == (
        "shipped"
    )
    assert (site / "purepkg" / "__init__.py").read_text() == "layer purepkg/__init__.py"


def test_the_tree_is_made_read_only_and_back(tmp_path: Path) -> None:
    """Modes only: root ignores them, which is why the children also run with -B and
    PYTHONDONTWRITEBYTECODE (tests/infra/test_package.py checks nothing is written)."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "m.py").write_text("x = 1\n")
    artefacts.make_read_only(tmp_path)
    modes = {p.name: p.stat().st_mode & 0o777 for p in [tmp_path, *tmp_path.rglob("*")]}
    assert modes == {tmp_path.name: 0o555, "a": 0o555, "b": 0o555, "m.py": 0o444}
    artefacts.make_writable(tmp_path)
    (tmp_path / "a" / "b" / "__pycache__").mkdir()


def test_top_imports_leave_out_entry_modules_and_repeat_no_package() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:      1000 |     300000 | handlers.events",
            "import time:      2000 |     120000 |   botocore.session",
            "import time:      1500 |     100000 |     botocore.client",
            "import time:      3000 |      40000 |   pydantic",
        ]
    )
    rows = coldstart.top_imports(stderr)
    assert rows == [
        {"module": "botocore.session", "cumulative_ms": 120.0},
        {"module": "pydantic", "cumulative_ms": 40.0},
    ]
