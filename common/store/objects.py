"""The one way domain code reads and writes S3 objects (snapshot documents).

Failures to write surface as ServiceUnavailable (503 + Retry-After): the caller has
written nothing that points at the object yet.  Reads let botocore errors through:
a missing object behind existing metadata is an internal error, not a retry.
"""

from __future__ import annotations

from typing import Any

from common.runtime.errors import ServiceUnavailable
from common.runtime.observability import logger
from common.store import aws


def put(
    bucket: str, key: str, body: bytes, *, metadata: dict[str, str], **extra: Any
) -> str | None:
    """Write an object; its version id (None where versioning is off)."""
    try:
        result = aws.s3().put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata, **extra)
    except Exception as exc:
        logger.warning("object write failed", extra={"cause": type(exc).__name__})
        raise ServiceUnavailable(retry_after=1) from None
    version = result.get("VersionId")
    return str(version) if version and version != "null" else None


def get(bucket: str, key: str) -> bytes:
    body: bytes = aws.s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def delete(bucket: str, key: str, version_id: str | None = None) -> None:
    """Delete an object; with a version id, that version itself (not just hidden)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    aws.s3().delete_object(**kwargs)


def versions(bucket: str, key: str) -> list[dict[str, str]]:
    """Every version and delete marker of exactly `key` (the prefix may match longer keys)."""
    found: list[dict[str, str]] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
    while True:
        page = aws.s3().list_object_versions(**kwargs)
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if entry["Key"] == key:
                found.append({"Key": key, "VersionId": str(entry["VersionId"])})
        if not page.get("IsTruncated"):
            return found
        kwargs["KeyMarker"] = page["NextKeyMarker"]
        kwargs["VersionIdMarker"] = page["NextVersionIdMarker"]


def delete_versions(bucket: str, entries: list[dict[str, str]]) -> bool:
    """Delete object versions, 1,000 a request; False when S3 refused some of them."""
    for start in range(0, len(entries), 1000):
        result = aws.s3().delete_objects(
            Bucket=bucket, Delete={"Objects": entries[start : start + 1000], "Quiet": True}
        )
        if result.get("Errors"):
            codes = sorted({str(e.get("Code")) for e in result["Errors"]})
            logger.warning("object versions not deleted", extra={"codes": codes})
            return False
    return True
