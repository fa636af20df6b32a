"""The layer's slimmed botocore data (tools.gen.package.slim_botocore_data) resolves
every client dockhand makes exactly as the full data does, and the code makes no
client the slimming did not keep."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.loaders import Loader

from tools.gen.package import BOTOCORE_SERVICES, slim_botocore_data

ROOT = Path(__file__).resolve().parents[2]
FULL_DATA = Path(botocore.__file__).parent / "data"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1")


@pytest.fixture(scope="module")
def slim_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("botocore") / "data"
    shutil.copytree(FULL_DATA, data)
    slim_botocore_data(data)
    return data


def _resolved(data: Path | None, service: str, region: str) -> tuple[Any, ...]:
    session = botocore.session.Session()
    if data is not None:
        session.register_component(
            "data_loader",
            Loader(extra_search_paths=[str(data)], include_default_search_paths=False),
        )
    client = session.create_client(
        service, region_name=region, aws_access_key_id="a", aws_secret_access_key="b"
    )
    signer = client._request_signer
    return (
        client.meta.endpoint_url,
        client.meta.region_name,
        client.meta.partition,
        signer.signing_name,
        signer.region_name,
    )


@pytest.mark.parametrize("service", BOTOCORE_SERVICES)
def test_clients_resolve_as_with_the_full_data(slim_data: Path, service: str) -> None:
    for region in REGIONS:
        assert _resolved(slim_data, service, region) == _resolved(None, service, region)


def test_slimming_keeps_the_partitions_and_the_services_models(slim_data: Path) -> None:
    assert (slim_data / "endpoints.json").stat().st_size < 100_000  # from ~1.2 MB
    assert not list((slim_data / "dynamodb").glob("*/*.json.gz"))
    assert (slim_data / "dynamodb" / "2012-08-10" / "service-2.json").is_file()
    assert list((slim_data / "lambda").glob("*/service-2.json.gz"))  # others untouched


def test_the_code_makes_no_client_the_layer_does_not_keep() -> None:
    named: set[str] = set()
    for source in [*(ROOT / "common").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]:
        text = source.read_text()
        named.update(re.findall(r"\baws\.client\(\s*\"([a-z0-9-]+)\"", text))
        named.update(re.findall(r"\baws\.(dynamodb|s3)\(\)", text))
    assert named, "the scan found no client at all: the pattern is stale"
    assert named <= set(BOTOCORE_SERVICES)


def test_a_layer_without_botocore_is_left_alone(tmp_path: Path) -> None:
    slim_botocore_data(tmp_path / "botocore" / "data")
    assert list(tmp_path.iterdir()) == []
