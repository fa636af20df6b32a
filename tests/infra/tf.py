"""Small readers over the parsed Terraform (tools.local.infra_model.load) for the infra tests."""

from __future__ import annotations

from typing import Any

from tools.local.infra_model import INFRA_DIR, load

MODULE = "modules/function/main.tf"


def tf_files() -> list[str]:
    return sorted(p.relative_to(INFRA_DIR).as_posix() for p in INFRA_DIR.rglob("*.tf"))


def blocks(kind: str, file: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(type, name) → body of every `resource` or `data` block in `file`."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for block in load(file).get(kind, []):
        for type_name, named in block.items():
            for name, body in named.items():
                found[(type_name, name)] = body
    return found


def resource(file: str, type_name: str, name: str) -> dict[str, Any]:
    return blocks("resource", file)[(type_name, name)]


def all_blocks(kind: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(file, type, name) → body across every .tf file."""
    return {
        (file, type_name, name): body
        for file in tf_files()
        for (type_name, name), body in blocks(kind, file).items()
    }


def locals_of(file: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in load(file).get("locals", []):
        merged.update(block)
    return merged


def first(value: Any) -> Any:
    """Nested blocks parse as one-element lists."""
    return value[0] if isinstance(value, list) else value


def permissions() -> dict[str, dict[str, Any]]:
    """permissions.tf with `${local.api_key_access}` references resolved."""
    local = locals_of("permissions.tf")
    shared = local["api_key_access"]
    resolved: dict[str, dict[str, Any]] = {}
    for fn, access in local["permissions"].items():
        dynamodb = {
            table: shared if grant == "${local.api_key_access}" else grant
            for table, grant in access["dynamodb"].items()
        }
        resolved[fn] = {**access, "dynamodb": dynamodb}
    return resolved


MODULE_VARIABLES = "modules/function/variables.tf"


def module_call(file: str, name: str) -> dict[str, Any]:
    for block in load(file).get("module", []):
        if name in block:
            body: dict[str, Any] = block[name]
            return body
    raise KeyError(name)


def variables(file: str) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for block in load(file).get("variable", []):
        merged.update(block)
    return merged
