"""The promises infra/ makes, read from the Terraform itself: tables match the
code's key layout, every function logs with retention, every schedule has a DLQ
and retries, the bucket is private, encrypted, versioned and TLS only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.store import tables
from tests.infra import tf
from tools.gen import package
from tools.local.infra_model import table_specs

ROOT = Path(__file__).resolve().parents[2]


# --- Tables ↔ common/store/tables.py -------------------------------------------------


def test_tables_are_the_ones_the_code_knows() -> None:
    assert set(table_specs()) == set(tables.TABLE_INDEXES)


@pytest.mark.parametrize("table", sorted(tables.TABLE_INDEXES))
def test_table_matches_key_layout(table: str) -> None:
    spec = table_specs()[table]
    assert (spec["hash_key"], spec["range_key"]) == (tables.PK, tables.SK)
    indexes = {gsi["name"] for gsi in spec.get("global_secondary_index", [])}
    assert indexes == set(tables.TABLE_INDEXES[table])
    ttl = tf.first(spec["ttl"])
    assert ttl["attribute_name"] == tables.TTL_ATTRIBUTE
    assert ttl["enabled"] is True
    assert tf.first(spec["point_in_time_recovery"])["enabled"] is True
    assert tf.first(spec["server_side_encryption"])["enabled"] is True
    assert spec["billing_mode"] == "PAY_PER_REQUEST"
    assert spec["deletion_protection_enabled"] == "${var.deletion_protection}"
    assert spec["name"] == f"${{local.name}}-{table}"


def test_variables_and_locals_tables_tf_uses_exist() -> None:
    assert "deletion_protection" in tf.variables("variables.tf")
    assert "name" in tf.locals_of("main.tf")


# --- Functions --------------------------------------------------------------------


def test_runtime_matches_the_layer_build() -> None:
    main = tf.locals_of("main.tf")
    assert main["runtime"] == f"python{package.LAMBDA_PYTHON_VERSION}"
    assert main["architecture"] == "arm64"
    assert package.LAMBDA_PLATFORM.endswith("aarch64")
    layer = tf.resource("layer.tf", "aws_lambda_layer_version", "dependencies")
    assert layer["compatible_runtimes"] == ["${local.runtime}"]
    assert layer["compatible_architectures"] == ["${local.architecture}"]


def test_every_function_has_its_own_log_group_with_retention() -> None:
    group = tf.resource(tf.MODULE, "aws_cloudwatch_log_group", "this")
    assert group["name"] == "/aws/lambda/${var.name}"
    assert group["retention_in_days"] == "${var.log_retention_days}"
    function = tf.resource(tf.MODULE, "aws_lambda_function", "this")
    assert tf.first(function["logging_config"])["log_group"] == (
        "${aws_cloudwatch_log_group.this.name}"
    )
    assert function["role"] == "${aws_iam_role.this.arn}"  # its own role
    api_logs = tf.resource("api.tf", "aws_cloudwatch_log_group", "api_access")
    assert api_logs["retention_in_days"] == "${var.log_retention_days}"


def test_function_code_is_a_local_artefact_sam_can_find() -> None:
    function = tf.resource(tf.MODULE, "aws_lambda_function", "this")
    assert function["filename"] == "${var.filename}"
    assert function["source_code_hash"] == "${var.source_code_hash}"
    metadata = tf.resource(tf.MODULE, "null_resource", "sam_metadata_aws_lambda_function")
    triggers = metadata["triggers"]
    assert triggers["resource_type"] == "ZIP_LAMBDA_FUNCTION"
    assert triggers["resource_name"] == "aws_lambda_function.this"
    assert triggers["built_output_path"] == "${var.filename}"
    layer = tf.resource(
        "layer.tf", "null_resource", "sam_metadata_aws_lambda_layer_version_dependencies"
    )["triggers"]
    assert layer["resource_type"] == "LAMBDA_LAYER"
    assert layer["resource_name"] == "aws_lambda_layer_version.dependencies"
    call = tf.module_call("main.tf", "function")
    assert call["filename"] == "${path.module}/${var.function_zip}"
    assert tf.variables("variables.tf")["function_zip"]["default"] == "../build/function.zip"
    assert tf.variables("variables.tf")["layer_zip"]["default"] == "../build/layer.zip"


def test_environment_names_are_settings_the_code_reads() -> None:
    environment = tf.locals_of("main.tf")["common_environment"]
    code = (ROOT / "common" / "runtime" / "config.py").read_text() + (
        ROOT / "common" / "store" / "secrets.py"
    ).read_text()
    for name in environment:
        if name.startswith("DOCKHAND_"):
            assert f'"{name}"' in code, f"{name} is set but common/ never reads it"
    for table in tables.TABLE_INDEXES:
        assert (
            environment[f"DOCKHAND_{table.upper()}_TABLE"]
            == f"${{aws_dynamodb_table.{table}.name}}"
        )
    assert environment["DOCKHAND_SNAPSHOTS_BUCKET"] == "${aws_s3_bucket.snapshots.bucket}"
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(environment)
    call = tf.module_call("main.tf", "function")
    assert "DOCKHAND_MASTER_KEY_SECRET_ID" in call["environment"]
    assert "aws_secretsmanager_secret.master_key.arn" in call["environment"]


# --- HTTP API ------------------------------------------------------------------------


def test_each_route_gets_a_proxy_integration_and_a_scoped_permission() -> None:
    integration = tf.resource(tf.MODULE, "aws_apigatewayv2_integration", "this")
    assert integration["integration_type"] == "AWS_PROXY"
    assert integration["payload_format_version"] == "2.0"
    route = tf.resource(tf.MODULE, "aws_apigatewayv2_route", "this")
    assert route["for_each"] == "${toset(var.routes)}"
    assert route["route_key"] == "${each.value}"
    permission = tf.resource(tf.MODULE, "aws_lambda_permission", "api")
    assert permission["principal"] == "apigateway.amazonaws.com"
    # One route: stage wildcard only, then the route's own method and path.
    assert permission["source_arn"] == (
        "${var.api_execution_arn}/*/${each.value.method}${each.value.path}"
    )


def test_api_stage_logs_and_throttles() -> None:
    api = tf.resource("api.tf", "aws_apigatewayv2_api", "http")
    assert api["protocol_type"] == "HTTP"
    stage = tf.resource("api.tf", "aws_apigatewayv2_stage", "default")
    assert stage["name"] == "$default"
    assert stage["auto_deploy"] is True
    settings = tf.first(stage["default_route_settings"])
    assert settings["throttling_burst_limit"] == "${var.api_throttling_burst_limit}"
    assert settings["throttling_rate_limit"] == "${var.api_throttling_rate_limit}"
    access = tf.first(stage["access_log_settings"])
    for field in ("requestId", "routeKey", "status", "latency", "ip"):
        assert re.search(rf"\b{field}\b", access["format"]), field
    routes = [key for key in tf.all_blocks("resource") if key[1] == "aws_apigatewayv2_route"]
    assert routes == [(tf.MODULE, "aws_apigatewayv2_route", "this")], "no other routes"


# --- Schedules ---------------------------------------------------------------------------


def test_every_schedule_retries_and_has_a_dlq() -> None:
    rule = tf.resource(tf.MODULE, "aws_cloudwatch_event_rule", "schedule")
    assert rule["schedule_expression"] == "${var.schedule}"
    target = tf.resource(tf.MODULE, "aws_cloudwatch_event_target", "schedule")
    retry = tf.first(target["retry_policy"])
    assert retry["maximum_event_age_in_seconds"] == "${var.schedule_max_event_age_seconds}"
    assert retry["maximum_retry_attempts"] == "${var.schedule_max_retry_attempts}"
    assert tf.first(target["dead_letter_config"])["arn"] == "${var.schedule_dlq_arn}"
    permission = tf.resource(tf.MODULE, "aws_lambda_permission", "schedule")
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.schedule[0].arn}"
    call = tf.module_call("main.tf", "function")
    assert call["schedule"] == "${each.value.schedule}"
    assert call["schedule_dlq_arn"] == "${aws_sqs_queue.schedule_dlq.arn}"


def test_dlq_is_encrypted_and_only_our_rules_may_write() -> None:
    queue = tf.resource("schedules.tf", "aws_sqs_queue", "schedule_dlq")
    assert queue["sqs_managed_sse_enabled"] is True
    policy = tf.blocks("data", "schedules.tf")[("aws_iam_policy_document", "schedule_dlq")]
    statement = policy["statement"][0]
    assert tf.first(statement["principals"])["identifiers"] == ["events.amazonaws.com"]
    condition = tf.first(statement["condition"])
    assert (condition["test"], condition["variable"]) == ("ArnEquals", "aws:SourceArn")


def test_alarms_cover_errors_throttles_dlq_and_5xx() -> None:
    module = tf.blocks("resource", tf.MODULE)
    metrics = {
        module[("aws_cloudwatch_metric_alarm", n)]["metric_name"] for n in ("errors", "throttles")
    }
    assert metrics == {"Errors", "Throttles"}
    root = tf.blocks("resource", "alarms.tf")
    assert root[("aws_cloudwatch_metric_alarm", "schedule_dlq")]["metric_name"] == (
        "ApproximateNumberOfMessagesVisible"
    )
    assert root[("aws_cloudwatch_metric_alarm", "api_5xx")]["metric_name"] == "5xx"


# --- Bucket ----------------------------------------------------------------------------


def test_bucket_is_private_encrypted_versioned_and_tls_only() -> None:
    storage = tf.blocks("resource", "storage.tf")
    block = storage[("aws_s3_bucket_public_access_block", "snapshots")]
    for flag in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[flag] is True, flag
    sse = tf.first(
        storage[("aws_s3_bucket_server_side_encryption_configuration", "snapshots")]["rule"]
    )
    assert tf.first(sse["apply_server_side_encryption_by_default"])["sse_algorithm"] in {
        "aws:kms",
        "AES256",
    }
    versioning = storage[("aws_s3_bucket_versioning", "snapshots")]
    assert tf.first(versioning["versioning_configuration"])["status"] == "Enabled"
    ownership = tf.first(storage[("aws_s3_bucket_ownership_controls", "snapshots")]["rule"])
    assert ownership["object_ownership"] == "BucketOwnerEnforced"
    lifecycle = tf.first(storage[("aws_s3_bucket_lifecycle_configuration", "snapshots")]["rule"])
    assert "noncurrent_version_expiration" in lifecycle
    tls = tf.blocks("data", "storage.tf")[("aws_iam_policy_document", "snapshots_tls_only")]
    deny = tls["statement"][0]
    assert deny["effect"] == "Deny"
    condition = tf.first(deny["condition"])
    assert (condition["variable"], condition["values"]) == ("aws:SecureTransport", ["false"])
    policy = storage[("aws_s3_bucket_policy", "snapshots")]
    assert policy["policy"] == "${data.aws_iam_policy_document.snapshots_tls_only.json}"


def test_checkov_skips_always_give_a_reason() -> None:
    skip = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(:?)(.*)")
    for path in (ROOT / "infra").rglob("*.tf"):
        for line in path.read_text().splitlines():
            match = skip.search(line)
            if match:
                assert match.group(2) == ":", (path, line)
                assert len(match.group(3).strip()) > 20, (path, line)
