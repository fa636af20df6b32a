"""The deployed master key: one GetSecretValue on a botocore client, read at init in a
Lambda container told where the secret is, kept for the container's life."""

from __future__ import annotations

from collections.abc import Iterator

import botocore.session
import pytest
from botocore.stub import Stubber

from common.runtime.config import ConfigError
from common.store import aws, secrets

SECRET_ID = "arn:aws:secretsmanager:us-east-1:000000000000:secret:master"
VALUE = "deployed-master-key-0123456789abcdefghijkl"


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    monkeypatch.delenv("DOCKHAND_MASTER_KEY")
    monkeypatch.setenv("DOCKHAND_MASTER_KEY_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "inbox")
    client = botocore.session.get_session().create_client("secretsmanager", region_name="us-east-1")
    stubber = Stubber(client)
    aws.set_client("secretsmanager", client)
    secrets.reset_secrets()
    with stubber:
        yield stubber
    aws.reset_clients()
    secrets.reset_secrets()


def _answer(stubber: Stubber, value: str = VALUE) -> None:
    stubber.add_response(
        "get_secret_value", {"SecretString": value, "Name": "master"}, {"SecretId": SECRET_ID}
    )


def test_one_get_secret_value_serves_every_derived_key(deployed: Stubber) -> None:
    _answer(deployed)  # the stub answers once: a second call would fail

    assert secrets.read_at_init() is True
    cursor, agent = secrets.derived_key("cursor"), secrets.derived_key("agent")

    deployed.assert_no_pending_responses()
    assert cursor != agent
    assert len(cursor) == 32


def test_the_key_from_the_secret_is_the_key_derivations_use(
    deployed: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    _answer(deployed)
    from_secret = secrets.derived_key("cursor")
    monkeypatch.setenv("DOCKHAND_MASTER_KEY", VALUE)
    secrets.reset_secrets()

    assert secrets.derived_key("cursor") == from_secret


def test_a_failed_read_at_init_is_not_fatal_and_is_retried_on_first_use(
    deployed: Stubber,
) -> None:
    deployed.add_client_error("get_secret_value", "InternalServiceError", http_status_code=500)
    _answer(deployed)

    assert secrets.read_at_init() is False
    assert len(secrets.derived_key("cursor")) == 32
    deployed.assert_no_pending_responses()


def test_a_short_secret_is_refused(deployed: Stubber) -> None:
    _answer(deployed, "short")

    with pytest.raises(ConfigError, match="at least 32"):
        secrets.derived_key("cursor")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": ""}, False),  # not a Lambda container
        ({"DOCKHAND_MASTER_KEY_SECRET_ID": ""}, False),  # a function not granted the key
        ({"DOCKHAND_MASTER_KEY": VALUE}, False),  # local: nothing to fetch
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}, False),  # not into a snapshot
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}, True),
    ],
)
def test_read_at_init_only_where_it_will_be_needed(changes: dict[str, str], expected: bool) -> None:
    environ = {"AWS_LAMBDA_FUNCTION_NAME": "inbox", "DOCKHAND_MASTER_KEY_SECRET_ID": SECRET_ID}
    assert secrets._should_read_at_init({**environ, **changes}) is expected
