"""Reads `infra/*.tf` (python-hcl2) and infra/routes.json so local runs and tests use
Terraform's own definitions of functions, routes and tables instead of a copy that
could drift."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted ("\"pk\""); strip that, recursively."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


@cache
def load(name: str) -> dict[str, Any]:
    import hcl2

    with (INFRA_DIR / name).open() as handle:
        parsed: dict[str, Any] = unquote(hcl2.load(handle))
    return parsed


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str  # "handlers.events.handler"
    routes: tuple[str, ...]
    schedule: str | None
    trigger: str | None = None  # "stream:<table>" or "queue:<queue>" (push delivery)


@cache
def routes() -> dict[str, list[str]]:
    """infra/routes.json: function → its route keys, as `make openapi` writes them from the
    handlers' route declarations (Terraform reads the same file)."""
    import json

    path = INFRA_DIR / "routes.json"
    if not path.exists():  # before the first `make openapi` (which writes it)
        return {}
    loaded: dict[str, list[str]] = json.loads(path.read_text("utf-8"))
    return loaded


@cache
def functions() -> dict[str, FunctionSpec]:
    raw = load("functions.tf")["locals"][0]["functions"]
    return {
        name: FunctionSpec(
            name=name,
            handler=spec["handler"],
            routes=tuple(routes().get(name, ())),
            schedule=spec.get("schedule"),
            trigger=spec.get("trigger"),
        )
        for name, spec in raw.items()
    }


def route_table() -> dict[str, str]:
    """Route key ("GET /events/{event_id}") → function name."""
    return {route: fn.name for fn in functions().values() for route in fn.routes}


@cache
def table_specs() -> dict[str, dict[str, Any]]:
    """Logical table name ("events") → its aws_dynamodb_table block."""
    specs: dict[str, dict[str, Any]] = {}
    for block in load("tables.tf")["resource"]:
        for logical, spec in block.get("aws_dynamodb_table", {}).items():
            specs[logical] = spec
    return specs


def create_table_kwargs(logical: str, table_name: str) -> dict[str, Any]:
    """boto3 CreateTable arguments equivalent to the Terraform block."""
    spec = table_specs()[logical]
    schema = [{"AttributeName": spec["hash_key"], "KeyType": "HASH"}]
    if spec.get("range_key"):
        schema.append({"AttributeName": spec["range_key"], "KeyType": "RANGE"})
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": schema,
        "AttributeDefinitions": [
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in spec["attribute"]
        ],
    }
    indexes = []
    for gsi in spec.get("global_secondary_index", []):
        keys = [{"AttributeName": gsi["hash_key"], "KeyType": "HASH"}]
        if gsi.get("range_key"):
            keys.append({"AttributeName": gsi["range_key"], "KeyType": "RANGE"})
        indexes.append(
            {
                "IndexName": gsi["name"],
                "KeySchema": keys,
                "Projection": {
                    "ProjectionType": gsi["projection_type"],
                    **(
                        {"NonKeyAttributes": gsi["non_key_attributes"]}
                        if gsi.get("non_key_attributes")
                        else {}
                    ),
                },
            }
        )
    if indexes:
        kwargs["GlobalSecondaryIndexes"] = indexes
    if spec.get("stream_enabled"):
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": spec["stream_view_type"],
        }
    return kwargs


def ttl_attribute(logical: str) -> str | None:
    ttl = table_specs()[logical].get("ttl")
    return str(ttl[0]["attribute_name"]) if ttl else None


def ensure_resources(dynamodb: Any, s3: Any, names: dict[str, str], bucket: str) -> None:
    """Create the tables (logical name → real name) and the bucket if missing."""
    existing = set(dynamodb.list_tables().get("TableNames", []))
    for logical, table_name in names.items():
        if table_name in existing:
            continue
        created = dynamodb.create_table(**create_table_kwargs(logical, table_name))
        # The emulators answer ACTIVE at once: wait (a DescribeTable a second) only when not.
        if created["TableDescription"].get("TableStatus") != "ACTIVE":
            dynamodb.get_waiter("table_exists").wait(
                TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
            )
        attribute = ttl_attribute(logical)
        if attribute:
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute},
            )
    buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in buckets:
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def table_names_from_settings() -> dict[str, str]:
    from common.runtime.config import settings

    s = settings()
    return {
        "keys": s.keys_table,
        "events": s.events_table,
        "context": s.context_table,
        "agents": s.agents_table,
        "stats": s.stats_table,
        "hooks": s.hooks_table,
    }


def ensure_configured_resources() -> None:
    """The tables and bucket this process's settings name, on the clients it uses."""
    from common.runtime.config import settings
    from common.store import aws

    ensure_resources(
        aws.dynamodb(), aws.s3(), table_names_from_settings(), settings().snapshots_bucket
    )
