"""`dockhand snapshot` never sends a secret: a temporary git repository with planted fake
secrets, the body captured by a local HTTP server (and `--dry-run`), then stored and
rehydrated through the handlers, and the summary it prints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ApiClient, Keys
from tests.unit.test_cli_snapshot import CREATED, Recorder, commit, run_git, server
from tools.cli import collect, secretscan
from tools.cli import main as cli

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
__all__ = ["server"]  # the fixture, re-used

AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB = "ghp_" + "Zq8w1Xk3Lm" * 3 + "Pc7Rt2"
SLACK = "xoxb-" + "2918475610" + "-" + "Vb7nQ2mX9kLp4Rt8"
PASSWORD = "correct-horse-battery-9"
COMMIT_TOKEN = "ghp_" + "Yt5Re4Wq3E" * 3 + "Qa1Sd2"
PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
DOTENV = "dotenv-only-value-123"
PLANTED = [AWS_ID, AWS_SECRET, GITHUB, SLACK, PASSWORD, COMMIT_TOKEN, PEM_BODY, DOTENV]


@pytest.fixture
def secret_repo(tmp_path: Path) -> Path:
    root = tmp_path / "leaky"
    root.mkdir()
    run_git(root, "init", "-q", "-b", "main")
    (root / "config.py").write_text(
        "import os\n"
        f"# TODO: move {AWS_ID} out of here\n"
        f'aws_secret_access_key = "{AWS_SECRET}"\n'
        f'# FIXME: rotate aws_secret_access_key = "{AWS_SECRET}"\n'
        "x = 1\n"
        f'# TODO: password = "{PASSWORD}"\n'
        f"# NOTE: CI uses {GITHUB}\n"
        f"# HACK: slack {SLACK}\n"
        "def ok():  # TODO: ordinary comment\n"
        "    return 2\n",
        encoding="utf-8",
    )
    (root / "deploy.sh").write_text(
        "# TODO: stop embedding this key\n"
        "-----BEGIN RSA PRIVATE KEY-----\n"
        f"{PEM_BODY}\n"
        "-----END RSA PRIVATE KEY-----\n",
        encoding="utf-8",
    )
    (root / ".env").write_text(f"# TODO: {DOTENV}\nAPI_KEY={DOTENV}\n", encoding="utf-8")
    (root / "server.pem").write_text(f"# TODO: {DOTENV}\n", encoding="utf-8")
    (root / "vendor_notes").mkdir()
    (root / "vendor_notes" / "skip.py").write_text("# TODO: excluded by .dockhandignore\n")
    (root / "generated.py").write_text("# TODO: excluded by --exclude\n")
    (root / ".dockhandignore").write_text("vendor_notes/\n!keep.py\n")
    commit(root, "feat: first", "Dev")
    (root / "later.txt").write_text("x\n")
    commit(root, f"chore: remove token {COMMIT_TOKEN} from ci", "Dev")
    return root


def _assert_clean(text: str) -> None:
    for secret in PLANTED:
        assert secret not in text, f"{secret[:6]}... leaked"


def test_nothing_secret_is_posted_and_the_summary_names_kind_and_place(
    secret_repo: Path, server: type[Recorder], capsys: pytest.CaptureFixture[str]
) -> None:
    server.reply = (201, "application/json", json.dumps({**CREATED, "redactions": {}}).encode())
    code = cli.main(
        [
            "snapshot",
            "--repo",
            str(secret_repo),
            "--exclude",
            "generated.py",
            "--goal",
            f"ship it; ci key {GITHUB}",
            "--constraints",
            f"never print {AWS_ID}",
        ]
    )
    assert code == 0
    posted = server.requests[0]["body"].decode("utf-8")
    _assert_clean(posted)
    body = json.loads(posted)
    paths = {m["path"] for m in body["markers"]}
    assert paths == {"config.py", "deploy.sh"}  # no .env, *.pem, ignored or excluded files
    texts = [m["text"] for m in body["markers"]]
    assert "move [REDACTED:aws_access_key_id] out of here" in texts
    assert 'password = "[REDACTED:secret_keyword]"' in texts
    assert "CI uses [REDACTED:github_token]" in texts
    assert "slack [REDACTED:slack_token]" in texts
    assert "ordinary comment" in texts  # ordinary code is not flagged
    assert body["commits"][0]["message"] == "chore: remove token [REDACTED:github_token] from ci"
    assert body["thread"]["goal"] == "ship it; ci key [REDACTED:github_token]"
    err = capsys.readouterr().err
    _assert_clean(err)
    listed = summary_places(err)
    sha = body["commits"][0]["sha"][:12]
    # A marker's context is the next line, so a secret there is reported at the marker.
    assert listed["aws_access_key_id"] == {"config.py:2", "--constraints"}
    assert listed["aws_secret_access_key"] == {"config.py:2", "config.py:4"}
    assert listed["secret_keyword"] >= {"config.py:6"}
    assert listed["github_token"] == {"config.py:6", "config.py:7", f"commit {sha}", "--goal"}
    assert listed["slack_token"] == {"config.py:7", "config.py:8"}
    assert listed["private_key"] == {"deploy.sh:1"}


def summary_places(err: str) -> dict[str, set[str]]:
    """{kind: {places}} from the summary lines `  [REDACTED:<kind>] xN: place, place`."""
    places: dict[str, set[str]] = {}
    for line in err.splitlines():
        if line.startswith("  [REDACTED:"):
            head, _, rest = line.strip().partition(": ")
            places[head[len("[REDACTED:") : head.index("]")]] = set(rest.split(", "))
    return places


def test_dry_run_prints_the_exact_body_and_sends_nothing(
    secret_repo: Path, server: type[Recorder], capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert cli.main(["snapshot", "--repo", str(secret_repo), "--dry-run"]) == 0
    assert server.requests == []
    captured = capfdbinary.readouterr()
    out = captured.out.decode("utf-8")
    _assert_clean(out + captured.err.decode("utf-8"))
    body = json.loads(out)
    assert out.rstrip("\n").encode("utf-8") == cli_body_bytes(body)
    assert "redacted" in captured.err.decode("utf-8")


def cli_body_bytes(body: object) -> bytes:
    from tools.cli import snapshot as cli_snapshot

    return cli_snapshot.encode_body(body)


def test_the_redacted_body_stays_clean_in_s3_responses_and_rehydrate(
    secret_repo: Path, api: ApiClient, keys: Keys
) -> None:
    from common.context import snapshots
    from common.runtime.config import settings
    from common.store import aws

    collected = collect.collect(secret_repo, goal=f"ship {GITHUB}")
    body, findings = secretscan.scrub(collected)
    assert findings
    created = api.post("/hydrate", key=keys.creator, json_body=body)
    assert created.status == 201
    assert created.json["redactions"] == {}  # the client already redacted everything
    _assert_clean(created.text)
    snapshot_id = created.json["snapshot_id"]
    meta = snapshots.get_meta("acme", snapshot_id)
    stored = aws.s3().get_object(Bucket=settings().snapshots_bucket, Key=meta["s3_key"])
    _assert_clean(json.dumps(snapshots.load_document(meta)))
    assert stored["ContentLength"] > 0
    for fmt in ("markdown", "json"):
        document = api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer, query={"format": fmt})
        assert document.status == 200
        _assert_clean(document.text)
    _assert_clean(api.get("/threads", key=keys.viewer).text)


def test_secret_files_are_recognised_by_name() -> None:
    for path in (".env", ".env.local", "a/b/server.pem", "tls.key", "id_rsa", "id_rsa.pub"):
        assert secretscan.is_secret_file(path), path
    for path in ("cert.py", "keys.py", "environment.md", "docs/credentials.md.txt"):
        assert secretscan.is_secret_file(path) == path.endswith("credentials.md.txt"), path


def test_the_dockhand_repository_itself_has_no_findings() -> None:
    """Precision on real code: this repository's own commits and markers are not flagged."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    body = collect.collect(root, max_commits=500)
    _, findings = secretscan.scrub(body)
    assert findings == []


def test_ordinary_code_lines_are_not_flagged() -> None:
    scanner = secretscan.Scanner()
    lines = [
        "def password_hash(password: str) -> str:",
        "token = request.headers.get('authorization')",
        "key = settings().master_key",
        "Revert 0123456789abcdef0123456789abcdef01234567",
        "self.secret = derived_key('agents')",
        "01JHSNAP000000000000000001",
    ]
    from detect_secrets.settings import transient_settings

    with transient_settings({"plugins_used": [{"name": n} for n in secretscan.PLUGINS]}):
        for line in lines:
            assert scanner.clean(line, "x:1") == line
    assert scanner.findings == []
