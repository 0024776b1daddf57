"""Reconcile on an S3 Inventory report: what a report that is damaged, missing or old must not do.

The stack is template.yaml with ``ReconcileSource=inventory`` (moto, mock_aws). moto generates no
reports, so each test writes one in S3's documented format (tests/inventory_reports.py). The
drift it finds and repairs is the same as on ListObjectsV2: tests/functional/test_reconcile_drift.py
runs its drift tests on both sources.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import boto3
import pytest

from docpipe.config import Settings
from docpipe.events import object_notification
from docpipe.queue import MessageQueue
from docpipe.s3 import S3Client
from docpipe.timestamps import iso_timestamp
from tests.functional.conftest import Pipeline, sqs_batch
from tests.functional.test_reconcile_drift import TEXT, ingest_queue, lose_events
from tests.inventory_reports import bucket_rows, write_report

pytestmark = pytest.mark.parametrize("pipeline", [{"ReconcileSource": "inventory"}], indirect=True)


def settings(pipeline: Pipeline) -> Settings:
    return Settings.from_env(pipeline.names.env("ReconcileFunction"))


def report_of(pipeline: Pipeline, **kwargs: Any) -> dict[str, Any]:
    """A report of the documents bucket as it is now (or of ``rows``), delivered where S3 puts it."""
    config = settings(pipeline)
    return write_report(
        pipeline.s3,
        source_bucket=pipeline.names.documents_bucket,
        destination_bucket=config.inventory_bucket,
        prefix=config.inventory_prefix,
        **kwargs,
    )


def reconcile_service(pipeline: Pipeline) -> Any:
    """ReconcileService on the pipeline's stack, reading objects from the inventory report."""
    from docpipe.reconcile import ReconcileService, make_object_source

    s3 = S3Client(boto3.client("s3", region_name="us-east-1"))
    return ReconcileService(
        s3=s3,
        registry=pipeline.registry,
        store=pipeline.store,
        queue=MessageQueue(boto3.client("sqs", region_name="us-east-1"), pipeline.names.queue_url),
        bucket=pipeline.names.documents_bucket,
        region="us-east-1",
        source=make_object_source(settings(pipeline), s3),
    )


def run(pipeline: Pipeline, **request: Any) -> dict[str, Any]:
    from docpipe.reconcile import ReconcileRequest

    report: dict[str, Any] = reconcile_service(pipeline).run(ReconcileRequest(**request))
    return report


@pytest.fixture
def indexed(pipeline: Pipeline) -> Pipeline:
    pipeline.start()
    lose_events(pipeline)
    for name in ("a", "b", "c"):
        pipeline.upload(f"docs/{name}.txt", (TEXT + name).encode())
    assert ingest_queue(pipeline) == 3
    return pipeline


def test_the_template_wires_reconcile_to_the_inventory_bucket(pipeline: Pipeline) -> None:
    config = settings(pipeline)

    assert config.reconcile_source == "inventory"
    assert config.inventory_bucket == pipeline.names.inventory_bucket != ""
    assert config.inventory_prefix == f"inventory/{pipeline.names.documents_bucket}/docpipe-reconcile/"


def test_without_a_report_the_run_says_so_and_changes_nothing(indexed: Pipeline) -> None:
    indexed.delete_object("docs/a.txt")
    indexed.upload("docs/new.txt", TEXT.encode())
    lose_events(indexed)

    report = run(indexed)

    assert report["stopped"] == "no_inventory" and not report["complete"]
    assert (
        "no S3 Inventory report" in report["error"] and settings(indexed).inventory_prefix in report["error"]
    )
    assert report["enqueued"] == 0 and indexed.drain_queue() == []
    assert indexed.registry.get_cursor() == {}


def _drop_second_file(pipeline: Pipeline, manifest: dict[str, Any]) -> None:
    pipeline.s3.delete_object(Bucket=settings(pipeline).inventory_bucket, Key=manifest["files"][1]["key"])


def _damage_second_file(pipeline: Pipeline, manifest: dict[str, Any]) -> None:
    key = manifest["files"][1]["key"]
    bucket = settings(pipeline).inventory_bucket
    rows = gzip.decompress(pipeline.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    # A well-formed file with a row fewer: only its size and MD5 tell.
    pipeline.s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(rows[rows.index(b"\n") + 1 :]))


def _truncate_second_file(pipeline: Pipeline, manifest: dict[str, Any]) -> None:
    key = manifest["files"][1]["key"]
    bucket = settings(pipeline).inventory_bucket
    body = pipeline.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    pipeline.s3.put_object(Bucket=bucket, Key=key, Body=body[: len(body) - 9])


def _edit_manifest(pipeline: Pipeline, manifest: dict[str, Any]) -> None:
    # A manifest that lost a file, without its checksum updated.
    bucket = settings(pipeline).inventory_bucket
    edited = {k: v for k, v in manifest.items() if k != "manifest_key"} | {"files": manifest["files"][:1]}
    pipeline.s3.put_object(Bucket=bucket, Key=manifest["manifest_key"], Body=json.dumps(edited))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_drop_second_file, "unreadable"),
        (_damage_second_file, "not the one the manifest names"),
        (_truncate_second_file, "damaged"),
        (_edit_manifest, "does not match its manifest.checksum"),
    ],
    ids=["missing_data_file", "replaced_data_file", "truncated_data_file", "manifest_checksum"],
)
def test_a_partial_or_damaged_report_deletes_nothing(indexed: Pipeline, damage: Any, message: str) -> None:
    # Given docs/a.txt deleted with its event lost, and a report whose second file cannot be trusted.
    indexed.delete_object("docs/a.txt")
    indexed.upload("docs/new.txt", TEXT.encode())
    lose_events(indexed)
    damage(indexed, report_of(indexed))

    report = run(indexed)

    assert report["stopped"] == "listing_failed" and not report["complete"]
    assert message in report["error"]
    assert report["enqueued"] == 0 and indexed.drain_queue() == []  # the report is checked whole first
    assert indexed.record("docs/a.txt").state == "indexed"  # type: ignore[union-attr]
    assert indexed.registry.get_cursor() == {}


def test_a_document_indexed_after_the_report_was_taken_is_not_removed(indexed: Pipeline) -> None:
    # Given a report of a, b, c; then docs/late.txt uploaded and indexed through its event.
    report_of(indexed, created=time.time() - 60)
    indexed.upload("docs/late.txt", (TEXT + "late").encode())
    assert ingest_queue(indexed) == 1

    report = run(indexed)

    assert report["counts"]["gone"] == 0 and report["newer_than_source"] == 1
    assert indexed.drain_queue() == []
    assert indexed.record("docs/late.txt").state == "indexed"  # type: ignore[union-attr]


def test_a_document_deleted_after_the_report_is_not_indexed_again(indexed: Pipeline) -> None:
    # Given a report that still lists docs/a.txt, taken before its delete was applied.
    report_of(indexed, created=time.time() - 60)
    indexed.delete_object("docs/a.txt")
    lose_events(indexed)
    # moto (in process) sends nothing for a delete on a versioned bucket: S3's event, by hand.
    removal = object_notification(
        "removed", indexed.names.documents_bucket, "docs/a.txt", region="us-east-1", sequencer=None,
        event_time=iso_timestamp(),
        configuration_id="docpipe",
    )  # fmt: skip
    assert indexed.invoke(sqs_batch(removal))["batchItemFailures"] == []
    assert indexed.record("docs/a.txt").state == "deleted"  # type: ignore[union-attr]

    report = run(indexed)

    assert report["counts"]["changed"] == 0 and report["newer_than_source"] == 1
    assert indexed.drain_queue() == []


def test_a_removal_the_report_suggests_is_confirmed_against_the_bucket(indexed: Pipeline) -> None:
    # Given docs/a.txt absent from a report (deleted, then written again with both events lost):
    # its registry entry is older than the report, but the object is there.
    indexed.delete_object("docs/a.txt")
    lose_events(indexed)
    report_of(indexed)
    indexed.upload("docs/a.txt", (TEXT + "a").encode())
    lose_events(indexed)

    report = run(indexed)

    assert report["counts"]["gone"] == 0 and report["newer_than_source"] == 1
    assert indexed.drain_queue() == []
    assert indexed.record("docs/a.txt").state == "indexed"  # type: ignore[union-attr]


def test_a_removal_the_report_and_the_bucket_agree_on_is_enqueued(indexed: Pipeline) -> None:
    indexed.delete_object("docs/a.txt")
    lose_events(indexed)
    report_of(indexed)

    report = run(indexed)
    ingest_queue(indexed)

    assert report["counts"]["gone"] == 1 and report["examples"]["gone"] == ["docs/a.txt"]
    assert indexed.record("docs/a.txt").state == "deleted"  # type: ignore[union-attr]


def test_url_encoded_keys_in_the_report_match_the_registry(pipeline: Pipeline) -> None:
    pipeline.start()
    lose_events(pipeline)
    keys = ["docs/a b+c.txt", "docs/ünïcode & 100%.txt", "docs/plus+sign.txt"]
    for key in keys:
        pipeline.upload(key, (TEXT + key).encode())
    assert ingest_queue(pipeline) == 3
    manifest = report_of(pipeline)
    raw = b"".join(
        gzip.decompress(
            pipeline.s3.get_object(Bucket=settings(pipeline).inventory_bucket, Key=f["key"])["Body"].read()
        )
        for f in manifest["files"]
    ).decode()

    report = run(pipeline)

    assert "a+b%2Bc.txt" in raw and "docs/a b+c.txt" not in raw  # S3's encoding, not the key
    assert report["drift"] == 0 and report["in_sync"] == 3 and report["objects_listed"] == 3


def test_the_newest_report_is_the_one_read(indexed: Pipeline) -> None:
    now = time.time()
    old = [
        row for row in bucket_rows(indexed.s3, indexed.names.documents_bucket) if row["Key"] != "docs/b.txt"
    ]
    report_of(indexed, rows=old, created=now - 86_400)  # yesterday's: b missing
    newest = report_of(indexed, created=now)

    report = run(indexed)

    assert report["drift"] == 0 and report["objects_listed"] == 3
    assert report["inventory_manifest"].endswith(newest["manifest_key"])
    assert report["source"] == "inventory" and report["source_as_of"].startswith(
        time.strftime("%Y-", time.gmtime(now))
    )


def test_a_report_in_another_format_is_refused(indexed: Pipeline) -> None:
    report_of(indexed, file_format="Parquet")

    report = run(indexed)

    assert report["stopped"] == "listing_failed" and "docpipe reads CSV reports" in report["error"]
    assert report["enqueued"] == 0


def test_the_handler_reads_the_report(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import load_event
    from tests.functional.conftest import HANDLER_PATH, import_handler
    from tests.lambda_context import LambdaContext

    for key, value in pipeline.names.env("ReconcileFunction").items():
        monkeypatch.setenv(key, value) if value else monkeypatch.delenv(key, raising=False)
    pipeline.upload("docs/unseen.txt", TEXT.encode())
    lose_events(pipeline)
    report_of(pipeline)
    app = import_handler(HANDLER_PATH.parent.parent / "reconcile" / "app.py", "reconcile_inventory_app")

    result = app.handler(load_event("reconcile.json"), LambdaContext())

    assert result["source"] == "inventory" and result["counts"]["missing"] == 1 and result["enqueued"] == 1


def test_a_report_too_large_for_the_invocation_stops_cleanly_and_removes_nothing(indexed: Pipeline) -> None:
    from docpipe.reconcile import inventory

    # Given a report of 3 objects plus 12,000 rows under another prefix, and an invocation whose
    # time runs out while it is read (rows are checked against the clock every batch).
    indexed.delete_object("docs/a.txt")
    lose_events(indexed)
    rows = bucket_rows(indexed.s3, indexed.names.documents_bucket)
    filler = [dict(rows[0], Key=f"elsewhere/{n}.txt") for n in range(12_000)]
    report_of(indexed, rows=rows + filler)
    assert len(filler) > inventory._INSERT_BATCH
    looks = iter(range(10**6))
    service = reconcile_service(indexed)

    report = service.run(remaining_ms=lambda: 10**9 if next(looks) < 1 else 0)

    assert report["stopped"] == "listing_failed" and "ran out of time" in report["error"]
    assert report["enqueued"] == 0 and indexed.drain_queue() == []
    assert indexed.record("docs/a.txt").state == "indexed"  # type: ignore[union-attr]
