"""`make check-deploy`: infra/ applied with the real hashicorp/aws provider to an embedded
moto server, a second plan that is empty, and what was deployed read back from the
emulator's APIs and compared with the handlers' route tables and infra/ (see
tests/deploy/deployment.py for what is replaced and why, and docs/deploy.md for what
only a real AWS account can prove).

Not part of `make test` (about two minutes, most of it the provider's own waits):
`make check-deploy` runs it, and .ci/run calls that after `make check-infra`.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import deployment
from tools.local import infra_model

pytestmark = pytest.mark.skipif(
    deployment.mirror_problem() is not None,
    reason=f"check-deploy skipped: {deployment.mirror_problem()}",
)


@dataclass
class Deployed:
    copy: Path
    emulator: deployment.Emulator
    outputs: dict[str, Any]


@pytest.fixture(scope="module")
def emulator() -> Iterator[deployment.Emulator]:
    # One per module: moto servers in one process share their backends anyway.
    with deployment.emulator() as running:
        yield running


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, emulator: deployment.Emulator) -> Deployed:
    copy = deployment.prepare_copy(tmp_path_factory.mktemp("deploy"), emulator.endpoint)
    init = deployment.init(copy)
    assert init.returncode == 0, deployment.report(init)
    applied = deployment.apply(copy)
    assert applied.returncode == 0, deployment.report(applied)
    return Deployed(copy, emulator, deployment.outputs(copy))


def handler_routes() -> dict[str, set[str]]:
    """Function name → the route keys its handler module's ROUTES declares."""
    routes = {}
    for name, spec in infra_model.functions().items():
        module = importlib.import_module(spec.handler.rsplit(".", 1)[0])
        routes[name] = set(getattr(module, "ROUTES", {}))
    return routes


def function_name(logical: str) -> str:
    return f"{deployment.NAME}-{logical}"


# ---------------------------------------------------------------- the apply itself


def test_a_second_plan_shows_no_changes(deployed: Deployed) -> None:
    plan = deployment.plan_changes(deployed.copy)

    assert plan.returncode == 0, "the plan after apply is not empty:\n" + deployment.report(plan)


def test_outputs_name_the_deployed_resources(deployed: Deployed) -> None:
    assert deployed.outputs["table_prefix"] == deployment.NAME
    assert deployed.outputs["function_names"] == {
        fn: function_name(fn) for fn in infra_model.functions()
    }
    assert deployed.outputs["api_url"].startswith("https://")


# ---------------------------------------------------------------- routes


def deployed_routes(emulator: deployment.Emulator) -> dict[str, str]:
    """Route key → the function name its integration invokes, as API Gateway has them."""
    api = emulator.client("apigatewayv2")
    (http_api,) = [a for a in api.get_apis()["Items"] if a["Name"] == deployment.NAME]
    integrations = {
        i["IntegrationId"]: i for i in api.get_integrations(ApiId=http_api["ApiId"])["Items"]
    }
    found = {}
    for route in api.get_routes(ApiId=http_api["ApiId"])["Items"]:
        integration = integrations[route["Target"].removeprefix("integrations/")]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"
        # .../functions/arn:aws:lambda:<region>:<account>:function:<name>/invocations
        uri = integration["IntegrationUri"]
        found[route["RouteKey"]] = uri.split(":function:")[1].removesuffix("/invocations")
    return found


def test_deployed_routes_are_exactly_the_handlers_route_tables(deployed: Deployed) -> None:
    expected = {
        route: function_name(fn) for fn, routes in handler_routes().items() for route in routes
    }

    assert deployed_routes(deployed.emulator) == expected


def test_every_route_may_invoke_only_its_own_function(deployed: Deployed) -> None:
    client = deployed.emulator.client("lambda")
    for fn, routes in handler_routes().items():
        if not routes:
            continue
        policy = json.loads(client.get_policy(FunctionName=function_name(fn))["Policy"])
        sources = {
            s["Condition"]["ArnLike"]["AWS:SourceArn"].split("/*/", 1)[1]
            for s in policy["Statement"]
            if s["Principal"] == {"Service": "apigateway.amazonaws.com"}
        }
        assert sources == {route.replace(" ", "", 1) for route in routes}, fn


# ---------------------------------------------------------------- functions


def deployed_functions(emulator: deployment.Emulator) -> dict[str, dict[str, Any]]:
    client = emulator.client("lambda")
    functions: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("list_functions").paginate():
        for config in page["Functions"]:
            functions[config["FunctionName"]] = config
    return functions


def test_one_function_per_infra_function_with_its_handler(deployed: Deployed) -> None:
    functions = deployed_functions(deployed.emulator)
    specs = infra_model.functions()

    assert set(functions) == {function_name(fn) for fn in specs}
    for fn, spec in specs.items():
        config = functions[function_name(fn)]
        module_name, attribute = spec.handler.rsplit(".", 1)
        assert config["Handler"] == spec.handler
        assert callable(getattr(importlib.import_module(module_name), attribute))
        assert config["Runtime"] == "python3.12"
        assert config["Architectures"] == ["arm64"]
        assert config["Role"].endswith(f":role/{function_name(fn)}")  # its own role
        assert len(config["Layers"]) == 1


def test_functions_are_told_the_deployed_table_and_bucket_names(deployed: Deployed) -> None:
    tables = deployed.emulator.client("dynamodb").list_tables()["TableNames"]
    buckets = [b["Name"] for b in deployed.emulator.client("s3").list_buckets()["Buckets"]]
    for config in deployed_functions(deployed.emulator).values():
        env = config["Environment"]["Variables"]
        for logical in infra_model.table_specs():
            assert env[f"DOCKHAND_{logical.upper()}_TABLE"] in tables
        assert env["DOCKHAND_SNAPSHOTS_BUCKET"] in buckets
        assert env["DOCKHAND_TABLE_PREFIX"] == deployment.NAME


def test_each_function_role_has_only_its_own_policy(deployed: Deployed) -> None:
    iam = deployed.emulator.client("iam")
    for fn in infra_model.functions():
        name = function_name(fn)
        assert iam.list_role_policies(RoleName=name)["PolicyNames"] == [name]
        assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []


# ---------------------------------------------------------------- tables


def test_tables_have_the_keys_and_indexes_the_code_queries(deployed: Deployed) -> None:
    dynamodb = deployed.emulator.client("dynamodb")
    for logical in infra_model.table_specs():
        name = f"{deployment.NAME}-{logical}"
        expected = infra_model.create_table_kwargs(logical, name)  # what make run creates
        table = dynamodb.describe_table(TableName=name)["Table"]

        assert table["KeySchema"] == expected["KeySchema"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        deployed_indexes = {
            g["IndexName"]: (g["KeySchema"], g["Projection"]["ProjectionType"])
            for g in table.get("GlobalSecondaryIndexes", [])
        }
        assert deployed_indexes == {
            g["IndexName"]: (g["KeySchema"], g["Projection"]["ProjectionType"])
            for g in expected.get("GlobalSecondaryIndexes", [])
        }
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
        backups = dynamodb.describe_continuous_backups(TableName=name)
        recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"


def test_snapshot_bucket_is_versioned_encrypted_and_private(deployed: Deployed) -> None:
    s3 = deployed.emulator.client("s3")
    bucket = deployed.outputs["snapshots_bucket"]

    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())


# ---------------------------------------------------------------- schedules


def test_scheduled_functions_have_their_rule_target_and_dead_letter_queue(
    deployed: Deployed,
) -> None:
    events = deployed.emulator.client("events")
    functions = deployed_functions(deployed.emulator)
    dlq_arn = deployed.emulator.client("sqs").get_queue_attributes(
        QueueUrl=deployed.outputs["schedule_dlq_url"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    rules = {r["Name"]: r for r in events.list_rules(NamePrefix=deployment.NAME)["Rules"]}
    scheduled = {fn: s.schedule for fn, s in infra_model.functions().items() if s.schedule}

    assert set(rules) == {function_name(fn) for fn in scheduled}
    for fn, expression in scheduled.items():
        rule = rules[function_name(fn)]
        assert rule["ScheduleExpression"] == expression
        assert rule["State"] == "ENABLED"
        (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert target["Arn"] == functions[function_name(fn)]["FunctionArn"]
        assert target["DeadLetterConfig"]["Arn"] == dlq_arn


# ---------------------------------------------------------------- what only an apply catches


def test_an_apply_catches_a_malformed_iam_action_that_validate_accepts(
    tmp_path: Path, emulator: deployment.Emulator
) -> None:
    """A defect planted in a copy: `terraform validate` passes, the apply fails."""
    copy = deployment.prepare_copy(tmp_path, emulator.endpoint)
    permissions = copy / "permissions.tf"
    text = permissions.read_text()
    assert '"dynamodb:PutItem"' in text
    permissions.write_text(text.replace('"dynamodb:PutItem"', '"dynamodb PutItem"', 1))
    assert deployment.init(copy).returncode == 0

    validate = deployment.terraform(copy, "validate", "-no-color")
    # Its own names (environment "planted"), so nothing collides with the main deployment;
    # only the policy and what it depends on, which is where the defect is.
    applied = deployment.apply(
        copy,
        ["-var=environment=planted", '-target=module.function["events"].aws_iam_role_policy.this'],
    )

    assert validate.returncode == 0, deployment.report(validate)
    assert applied.returncode != 0
    output = applied.stdout + applied.stderr
    assert "MalformedPolicyDocument" in output, deployment.report(applied)
    assert "dockhand-planted-events" in output
