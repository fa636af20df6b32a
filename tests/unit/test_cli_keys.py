"""`dockhand keys` on the in-process emulator: ids in creation order, slug messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.runtime.slug import SLUG_RULE
from tools.cli import localstate
from tools.cli import main as cli


@pytest.fixture(autouse=True)
def no_local_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(localstate, "STATE_DIR", tmp_path)
    localstate.forget()


@pytest.mark.usefixtures("aws")
def test_keys_list_is_in_creation_order(capsys: pytest.CaptureFixture[str]) -> None:
    created = []
    for _ in range(5):
        assert cli.main(["keys", "create", "--tenant", "acme", "--role", "viewer", "--json"]) == 0
        created.append(json.loads(capsys.readouterr().out)["key_id"])

    assert cli.main(["keys", "list", "--tenant", "acme", "--json"]) == 0

    listed = [k["key_id"] for k in json.loads(capsys.readouterr().out)]
    assert listed == created
    assert created == sorted(created)  # the ids themselves sort in creation order


@pytest.mark.usefixtures("aws")
def test_a_new_key_id_still_authenticates(capsys: pytest.CaptureFixture[str]) -> None:
    from common.access import auth

    record = auth.create_key("acme", "creator")

    assert auth.split_key(record["api_key"]) is not None
    assert len(record["key_id"]) == 26


@pytest.mark.usefixtures("aws")
def test_a_bad_tenant_says_what_a_slug_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["keys", "create", "--tenant", "Acme!", "--role", "viewer"])

    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dockhand: tenant: must be a slug: {SLUG_RULE}")
    assert "1-64 of a-z 0-9 . _ -, starting with a letter or digit" in err


def test_keys_outside_the_repository_folder_point_at_the_running_make_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.exceptions import NoCredentialsError

    from common.access import auth

    def unreachable(*args: object) -> None:
        raise NoCredentialsError()

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("DOCKHAND_TARGET", raising=False)
    monkeypatch.setattr(localstate, "repository_state_dir", lambda: tmp_path / "none")
    monkeypatch.setattr(auth, "create_key", unreachable)
    with pytest.raises(SystemExit) as exited:
        cli.main(["keys", "create", "--tenant", "acme", "--role", "viewer"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "cannot reach the keys table" in err
    assert "DOCKHAND_STATE_DIR" in err  # the hint says how to reach the run from here
