"""Least privilege per function: permissions.tf (the data main.tf turns into
one IAM policy per function) and every policy document in infra/."""

from __future__ import annotations

import fnmatch
import importlib
import re
from typing import Any

import pytest

from tests.infra import tf
from tools.local.infra_model import functions, table_specs

# The tables each function is meant to touch (docs/conventions.md data layout).
EXPECTED_TABLES = {
    "events": {"keys", "events", "stats"},
    "inbox": {"keys", "events", "stats"},
    "notes": {"keys", "context", "stats"},
    "hydrate": {"keys", "context", "stats"},
    "rehydrate": {"keys", "context"},
    "mcp": {"keys", "context", "stats"},
    "heartbeat": {"keys", "agents", "events", "stats"},  # + agent.recovered events
    "status": {"keys", "stats", "events", "agents"},
    "sweeper": {"agents", "events", "stats"},  # agent.* events in the inbox
    "rollup": {"stats", "events", "agents"},
    "subscriptions": {"keys", "hooks", "events"},
    "dispatch": {"events", "hooks", "stats"},
    "deliver": {"hooks", "events", "stats"},
    "retry": {"hooks"},
}
# Push delivery: who may send to, or consume, the delivery queue (infra/delivery.tf).
EXPECTED_SQS = {
    "subscriptions": {"deliveries": {"sqs:SendMessage"}},
    "dispatch": {"deliveries": {"sqs:SendMessage"}, "deliveries_dlq": {"sqs:SendMessage"}},
    "deliver": {
        "deliveries": {
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
            "sqs:SendMessage",
        }
    },
    "retry": {"deliveries": {"sqs:SendMessage"}},
}
EXPECTED_STREAMS = {
    "dispatch": {
        "events": {
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        }
    }
}
EXPECTED_S3 = {
    "hydrate": {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion"},
    "rehydrate": {"s3:GetObject"},
    "mcp": {"s3:GetObject"},
}
# Cursor signing (every function with a list route) and agent secrets (heartbeat).
# Webhook secrets are derived too (subscriptions shows them, deliver signs with them).
EXPECTED_MASTER_KEY = {"inbox", "notes", "hydrate", "heartbeat", "mcp", "subscriptions", "deliver"}
# Write actions only the functions that own the data may have.
WRITES = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
}
ACTION = re.compile(r"^(dynamodb|s3|secretsmanager|sqs):[A-Z][A-Za-z]+$")

PERMISSIONS = tf.permissions()


def test_every_deployed_function_has_permissions_and_nothing_else_does() -> None:
    assert set(PERMISSIONS) == set(functions())


@pytest.mark.parametrize("name", sorted(EXPECTED_TABLES))
def test_each_function_uses_only_its_tables(name: str) -> None:
    assert set(PERMISSIONS[name]["dynamodb"]) == EXPECTED_TABLES[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_TABLES))
def test_actions_are_named_never_wildcards(name: str) -> None:
    access = PERMISSIONS[name]
    actions = [a for grant in access["dynamodb"].values() for a in grant["actions"]]
    actions += access["s3"]
    for action in actions:
        assert ACTION.match(action), f"{name}: {action!r} is not one named action"
    for grant in access["dynamodb"].values():
        assert all(a.startswith("dynamodb:") for a in grant["actions"])
        assert "dynamodb:Scan" not in grant["actions"], "no scans on any path"
    assert all(a.startswith("s3:") for a in access["s3"])


@pytest.mark.parametrize("name", sorted(EXPECTED_TABLES))
def test_indexes_exist_on_their_tables(name: str) -> None:
    for table, grant in PERMISSIONS[name]["dynamodb"].items():
        existing = {gsi["name"] for gsi in table_specs()[table].get("global_secondary_index", [])}
        assert set(grant["indexes"]) <= existing, f"{name}: {table} has no {grant['indexes']}"
        assert grant["actions"] or grant["indexes"], f"{name}: empty grant on {table}"


@pytest.mark.parametrize("name", sorted(EXPECTED_TABLES))
def test_s3_and_master_key_only_where_needed(name: str) -> None:
    assert set(PERMISSIONS[name]["s3"]) == EXPECTED_S3.get(name, set())
    assert PERMISSIONS[name]["master_key"] is (name in EXPECTED_MASTER_KEY)


def _needs_api_key(name: str) -> bool:
    routes: dict[str, Any] = getattr(importlib.import_module(f"handlers.{name}"), "ROUTES", {})
    return any(route.auth != "none" for route in routes.values())


@pytest.mark.parametrize("name", sorted(EXPECTED_TABLES))
def test_api_key_functions_read_keys_and_count_requests(name: str) -> None:
    keys = PERMISSIONS[name]["dynamodb"].get("keys")
    if _needs_api_key(name):
        assert keys is not None
        # Reads any key item; writes nothing unconditioned on the keys table.
        assert keys["actions"] == ["dynamodb:GetItem"], name
        assert keys["leading_key_writes"]["actions"] == ["dynamodb:UpdateItem"], name
    else:
        assert keys is None, f"{name} serves no API-key route but may read keys"


def test_keys_table_updates_are_narrowed_to_the_rate_limit_items() -> None:
    """UpdateItem on the keys table only where pk is RL#... (per-key windows) or AF#...
    (failed-authentication guard): never a key item (KEY#...)."""
    from common.access import authguard

    for name, access in PERMISSIONS.items():
        keys = access["dynamodb"].get("keys")
        if keys is None:
            continue
        assert not WRITES & set(keys["actions"]), f"{name} may write key items"
        patterns = keys["leading_key_writes"]["leading_keys"]
        assert sorted(patterns) == ["AF#*", "RL#*"], name
        assert not any(fnmatch.fnmatchcase("KEY#k", p) for p in patterns)
    # The prefixes the code writes are the ones granted.
    written = [authguard.key_guard_pk("k"), authguard.client_pk("203.0.113.1"), "RL#k"]
    assert all(any(fnmatch.fnmatchcase(pk, p) for p in ["AF#*", "RL#*"]) for pk in written)


def test_main_turns_leading_key_writes_into_a_conditioned_statement() -> None:
    statements = tf.locals_of("main.tf")["policy_statements"]
    assert '"dynamodb_${table}_leading_keys"' in statements
    assert "grant.leading_key_writes.actions" in statements
    assert '"ForAllValues:StringLike"' in statements
    assert '"dynamodb:LeadingKeys"' in statements
    assert "grant.leading_key_writes.leading_keys" in statements
    assert '"Null"' in statements  # a request without the key never matches


@pytest.mark.parametrize("name", sorted(EXPECTED_TABLES))
def test_queues_and_streams_only_where_needed(name: str) -> None:
    sqs = {q: set(a) for q, a in PERMISSIONS[name].get("sqs", {}).items()}
    streams = {s: set(a) for s, a in PERMISSIONS[name].get("streams", {}).items()}
    assert sqs == EXPECTED_SQS.get(name, {})
    assert streams == EXPECTED_STREAMS.get(name, {})
    for actions in [*sqs.values(), *streams.values()]:
        assert all(ACTION.match(a) for a in actions)


def test_event_source_mappings_report_batch_item_failures() -> None:
    delivery = tf.blocks("resource", "delivery.tf")
    dispatch = delivery[("aws_lambda_event_source_mapping", "dispatch")]
    deliver = delivery[("aws_lambda_event_source_mapping", "deliver")]
    assert dispatch["event_source_arn"] == "${aws_dynamodb_table.events.stream_arn}"
    assert deliver["event_source_arn"] == "${aws_sqs_queue.deliveries.arn}"
    for mapping in (dispatch, deliver):
        assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert "INSERT" in tf.first(tf.first(dispatch["filter_criteria"])["filter"])["pattern"]
    queue = delivery[("aws_sqs_queue", "deliveries")]
    assert queue["sqs_managed_sse_enabled"] is True
    assert delivery[("aws_sqs_queue", "deliveries_dlq")]["sqs_managed_sse_enabled"] is True
    assert "deliveries_dlq.arn" in queue["redrive_policy"]
    events = tf.resource("tables.tf", "aws_dynamodb_table", "events")
    assert (events["stream_enabled"], events["stream_view_type"]) == (True, "NEW_IMAGE")


def test_delivery_alarms_watch_the_dlq_and_disabled_subscriptions() -> None:
    delivery = tf.blocks("resource", "delivery.tf")
    dlq = delivery[("aws_cloudwatch_metric_alarm", "deliveries_dlq")]
    assert dlq["metric_name"] == "ApproximateNumberOfMessagesVisible"
    disabled = delivery[("aws_cloudwatch_metric_alarm", "subscriptions_disabled")]
    assert disabled["metric_name"] == "subscriptions_disabled"


def test_readers_do_not_write() -> None:
    for name in ("rehydrate", "status"):
        for table, grant in PERMISSIONS[name]["dynamodb"].items():
            if table == "keys":
                continue  # the rate-limit window is a write every API-key route makes
            assert not WRITES & set(grant["actions"]), f"{name} may write {table}"


def test_main_builds_statements_from_permissions_only() -> None:
    """The module gets nothing but permissions.tf plus its own logs and DLQ."""
    statements = tf.locals_of("main.tf")["policy_statements"]
    assert "local.permissions" in statements
    call = tf.module_call("main.tf", "function")
    assert call["for_each"] == "${local.functions}"
    assert call["policy_statements"] == "${local.policy_statements[each.key]}"


def _allow_statements() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for (file, _type, name), body in tf.all_blocks("data").items():
        if _type != "aws_iam_policy_document":
            continue
        statements = list(body.get("statement", []))
        for dynamic in body.get("dynamic", []):
            statements += dynamic["statement"]["content"]
        found += [(f"{file}:{name}", s) for s in statements if s.get("effect", "Allow") == "Allow"]
    return found


def test_no_policy_allows_a_wildcard_action_or_resource() -> None:
    statements = _allow_statements()
    assert len(statements) >= 5
    for where, statement in statements:
        actions = statement.get("actions", [])
        resources = statement.get("resources", [])
        if isinstance(actions, list):
            assert all("*" not in a for a in actions), where
        if isinstance(resources, list):
            assert "*" not in resources, where


def test_function_logs_only_to_their_own_group() -> None:
    policy = tf.blocks("data", tf.MODULE)[("aws_iam_policy_document", "this")]
    logs = policy["statement"][0]
    assert set(logs["actions"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert logs["resources"] == ["${aws_cloudwatch_log_group.this.arn}:*"]
    module_vars = tf.variables(tf.MODULE_VARIABLES)
    validation = tf.first(module_vars["policy_statements"]["validation"])
    assert '"*"' in validation["condition"], "the module refuses * in statements"
