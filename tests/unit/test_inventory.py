"""InventorySource: the newest complete report, read whole, handed out in S3's key order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from docpipe.reconcile.inventory import InventoryError, InventorySource, NoInventoryError
from docpipe.s3 import S3Client
from tests.inventory_reports import write_report

SOURCE = "docs-bucket"
DESTINATION = "inventory-bucket"
PREFIX = f"inventory/{SOURCE}/docpipe-reconcile/"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (SOURCE, DESTINATION):
            client.create_bucket(Bucket=bucket)
        yield client


def source(s3: Any) -> InventorySource:
    return InventorySource(S3Client(s3), DESTINATION, PREFIX, source_bucket=SOURCE)


def row(key: str, **fields: Any) -> dict[str, Any]:
    return {"Bucket": SOURCE, "Key": key, "Size": 3, "LastModifiedDate": "2026-01-01T00:00:00.000Z",
            "ETag": f"etag-{key}", **fields}  # fmt: skip


def report(s3: Any, rows: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    return write_report(
        s3, source_bucket=SOURCE, destination_bucket=DESTINATION, prefix=PREFIX, rows=rows, **kwargs
    )


def test_rows_come_out_in_s3_key_order_under_the_prefix_after_the_cursor(s3: Any) -> None:
    keys = ["docs/b", "docs/a", "docs/é", "docs/Z", "other/x", "docs/a/b", "docs/c"]
    report(s3, [row(k) for k in keys], file_count=3)

    found = [info.key for info in source(s3).objects("docs/", after="docs/a")]

    expected = sorted((k for k in keys if k.startswith("docs/") and k > "docs/a"), key=lambda k: k.encode())
    assert found == expected == ["docs/a/b", "docs/b", "docs/c", "docs/é"]


def test_an_all_versions_report_yields_only_current_objects(s3: Any) -> None:
    schema = ("Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "ETag")
    rows = [
        row("docs/a", VersionId="2", IsLatest="true", IsDeleteMarker="false"),
        row("docs/a", VersionId="1", IsLatest="false", IsDeleteMarker="false"),
        row("docs/gone", VersionId="4", IsLatest="true", IsDeleteMarker="true"),
    ]
    report(s3, rows, schema=schema)

    assert [info.key for info in source(s3).objects("")] == ["docs/a"]


def test_the_object_carries_size_and_etag_from_the_report(s3: Any) -> None:
    report(s3, [row("docs/a", Size=12, ETag="abc-2")])

    (info,) = source(s3).objects("")

    assert (info.bucket, info.size, info.etag, info.last_modified and info.last_modified.year) == (
        SOURCE, 12, "abc-2", 2026,
    )  # fmt: skip


def test_the_newest_complete_report_is_read_and_its_time_is_the_sources(s3: Any) -> None:
    now = time.time()
    report(s3, [row("docs/old")], created=now - 86_400)
    report(s3, [row("docs/new")], created=now)
    # A newer folder whose checksum has not arrived yet is not a report yet.
    s3.put_object(Bucket=DESTINATION, Key=f"{PREFIX}2999-01-01T00-00Z/manifest.json", Body=b"{}")
    inventory = source(s3)

    keys = [info.key for info in inventory.objects("")]

    assert keys == ["docs/new"]
    assert inventory.as_of is not None and abs(inventory.as_of - now) < 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schema": ("Bucket", "Key", "Size")}, "no ETag column"),
        ({"file_format": "ORC"}, "docpipe reads CSV reports"),
    ],
)
def test_a_report_docpipe_cannot_compare_is_refused_naming_why(
    s3: Any, kwargs: dict[str, Any], message: str
) -> None:
    report(s3, [row("docs/a")], **kwargs)

    with pytest.raises(InventoryError, match=message):
        list(source(s3).objects(""))


def test_a_report_of_another_bucket_is_refused(s3: Any) -> None:
    write_report(
        s3, source_bucket="someone-else", destination_bucket=DESTINATION, prefix=PREFIX, rows=[row("a")]
    )

    with pytest.raises(InventoryError, match="lists bucket 'someone-else'"):
        list(source(s3).objects(""))


def test_no_report_yet_is_its_own_error(s3: Any) -> None:
    with pytest.raises(NoInventoryError, match="within 48 hours"):
        list(source(s3).objects(""))
