"""The AWS `make run` talks to: an embedded moto server (in memory) unless
`AWS_ENDPOINT_URL` points at another emulator or `DOCKHAND_TARGET=aws`; the
Terraform-defined tables and bucket in it, the bootstrap key, and the ports delivery
must never reach."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

# The gateway's logger (tools.local.gateway): plain text on stderr, not the functions'.
log = logging.getLogger("local.gateway")

LOCAL_TENANT = "local"
LOCAL_REGION = "us-east-1"
LOCAL_TABLE_PREFIX = "dockhand-local"


@dataclass
class Backend:
    mode: str  # "embedded" | "external" | "aws"
    endpoint: str | None = None
    stop: Callable[[], None] = lambda: None

    @property
    def in_memory(self) -> bool:
        return self.mode == "embedded"


def start_backend() -> Backend:
    """Choose the AWS backend and point this process's environment at it."""
    if os.environ.get("DOCKHAND_TARGET") == "aws":
        return Backend("aws")
    if os.environ.get("AWS_ENDPOINT_URL"):
        _use_local_defaults(fresh_master_key=False)
        return Backend("external", os.environ["AWS_ENDPOINT_URL"])
    return _start_embedded_moto()


def _start_embedded_moto() -> Backend:
    from moto.server import ThreadedMotoServer

    for noisy in ("werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from tools.local.emulator import make_dynamodb_safe

    make_dynamodb_safe()  # one DynamoDB request at a time, atomic transactions
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # Never let a developer's real credentials or profile reach the emulator's clients.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["AWS_ACCESS_KEY_ID"] = "local"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "local"  # noqa: S105 - the emulator's fake secret
    _use_local_defaults(fresh_master_key=True)
    return Backend("embedded", endpoint, server.stop)


def _use_local_defaults(*, fresh_master_key: bool) -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ["AWS_DEFAULT_REGION"] = os.environ.get("AWS_DEFAULT_REGION") or LOCAL_REGION
    os.environ["AWS_REGION"] = os.environ.get("AWS_REGION") or os.environ["AWS_DEFAULT_REGION"]
    os.environ.setdefault("DOCKHAND_TABLE_PREFIX", LOCAL_TABLE_PREFIX)
    # EMF metric blobs on stdout are noise locally; the request log says the same.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    if fresh_master_key:
        # The data is new every run, so a new master key costs nothing.
        os.environ["DOCKHAND_MASTER_KEY"] = secrets.token_urlsafe(48)
    elif not os.environ.get("DOCKHAND_MASTER_KEY"):
        os.environ["DOCKHAND_MASTER_KEY"] = secrets.token_urlsafe(48)
        log.warning(
            "DOCKHAND_MASTER_KEY is not set: generated one for this run; agent secrets and "
            "cursors will not survive a restart (set it to keep them)"
        )


def prepare_resources(backend: Backend) -> None:
    """Create the Terraform-defined tables and bucket (never in real AWS)."""
    if backend.mode == "aws":
        return
    from tools.local import infra_model

    infra_model.ensure_configured_resources()


def create_bootstrap_key(backend: Backend) -> str | None:
    if backend.mode == "aws":
        return None  # never mint keys in a real account behind the user's back
    from common.access import auth

    record = auth.create_key(LOCAL_TENANT, "creator", "bootstrap")
    return str(record["api_key"])


def reserve_own_ports(api_url: str, backend: Backend) -> frozenset[int]:
    """Keep receivers off this run's own gateway and emulator ports (the loopback
    exception of `make run`, common/triggers/ssrf.py): the emulator's control API has no
    authentication, and a delivery to the gateway would call the API as no one."""
    from common.runtime.config import reset_settings, settings

    ports = {urlsplit(api_url).port}
    if backend.endpoint:
        endpoint = urlsplit(backend.endpoint)
        if endpoint.hostname in {"127.0.0.1", "localhost", "::1"}:
            ports.add(endpoint.port or (443 if endpoint.scheme == "https" else 80))
    given = os.environ.get("DOCKHAND_LOOPBACK_RESERVED_PORTS", "")
    ports |= {int(p) for p in given.split(",") if p.strip().isdigit()}
    reserved = sorted(p for p in ports if p is not None)
    os.environ["DOCKHAND_LOOPBACK_RESERVED_PORTS"] = ",".join(str(p) for p in reserved)
    reset_settings()
    return settings().loopback_reserved_ports
