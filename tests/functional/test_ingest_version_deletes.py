"""A version delete leaves the document as the bucket leaves it (S3 sends ObjectRemoved:Delete for all).

S3 notifies ``ObjectRemoved:Delete`` with the ``versionId`` for every permanent version delete: of a
noncurrent version (the object is unchanged), of a delete marker (the object is back) and of the
current version (an older one is current now). moto in process sends none of these, so the tests
send S3's notification for the delete they make (the local stack's emulator sends them itself).
"""

from __future__ import annotations

from typing import Any

from docpipe.events import object_notification
from docpipe.timestamps import iso_timestamp
from tests.functional.conftest import Pipeline, sqs_batch

TEXT = "Version deletes must not unindex a document that is still there. " * 20


def version_delete(pipeline: Pipeline, key: str, version_id: str) -> dict[str, Any]:
    """Delete one version, and deliver the notification S3 sends for it."""
    pipeline.s3.delete_object(Bucket=pipeline.names.documents_bucket, Key=key, VersionId=version_id)
    pipeline.drain_queue()  # whatever moto sent (nothing, or not S3's record)
    body = object_notification(
        "removed", pipeline.names.documents_bucket, key, region="us-east-1", sequencer=None,
        event_time=iso_timestamp(),
        version_id=version_id, configuration_id="docpipe",
    )  # fmt: skip
    response = pipeline.invoke(sqs_batch(body))
    assert response["batchItemFailures"] == []
    return body


def put(pipeline: Pipeline, key: str, text: str) -> str:
    response = pipeline.s3.put_object(Bucket=pipeline.names.documents_bucket, Key=key, Body=text.encode())
    records = pipeline.drain_queue()
    assert pipeline.invoke({"Records": records})["batchItemFailures"] == []
    return str(response["VersionId"])


def indexed_text(pipeline: Pipeline, key: str) -> str:
    return " ".join(str(v.metadata["text"]) for v in pipeline.vectors(key))


def test_deleting_a_noncurrent_version_leaves_the_document_indexed(pipeline: Pipeline) -> None:
    old = put(pipeline, "docs/a.txt", TEXT + "first")
    put(pipeline, "docs/a.txt", TEXT + "second")
    chunks = [v.key for v in pipeline.vectors("docs/a.txt")]

    version_delete(pipeline, "docs/a.txt", old)

    record = pipeline.record("docs/a.txt")
    assert record is not None and record.state == "indexed"
    assert [v.key for v in pipeline.vectors("docs/a.txt")] == chunks and "second" in indexed_text(
        pipeline, "docs/a.txt"
    )


def test_deleting_the_current_version_indexes_the_one_that_becomes_current(pipeline: Pipeline) -> None:
    put(pipeline, "docs/a.txt", TEXT + "first")
    current = put(pipeline, "docs/a.txt", TEXT + "second")

    version_delete(pipeline, "docs/a.txt", current)

    assert pipeline.record("docs/a.txt").state == "indexed"  # type: ignore[union-attr]
    text = indexed_text(pipeline, "docs/a.txt")
    assert "first" in text and "second" not in text


def test_deleting_a_delete_marker_indexes_the_object_again(pipeline: Pipeline) -> None:
    put(pipeline, "docs/a.txt", TEXT + "back")
    marker = pipeline.s3.delete_object(Bucket=pipeline.names.documents_bucket, Key="docs/a.txt")["VersionId"]
    pipeline.drain_queue()
    removal = object_notification(
        "removed", pipeline.names.documents_bucket, "docs/a.txt", region="us-east-1", sequencer=None,
        event_time=iso_timestamp(),
        configuration_id="docpipe",
    )  # fmt: skip
    removal["Records"][0]["eventName"] = "ObjectRemoved:DeleteMarkerCreated"
    pipeline.invoke(sqs_batch(removal))
    assert pipeline.record("docs/a.txt").state == "deleted"  # type: ignore[union-attr]

    version_delete(pipeline, "docs/a.txt", marker)

    assert pipeline.record("docs/a.txt").state == "indexed"  # type: ignore[union-attr]
    assert "back" in indexed_text(pipeline, "docs/a.txt")


def test_deleting_the_last_version_deletes_the_document(pipeline: Pipeline) -> None:
    only = put(pipeline, "docs/a.txt", TEXT + "only")

    version_delete(pipeline, "docs/a.txt", only)

    assert pipeline.record("docs/a.txt").state == "deleted"  # type: ignore[union-attr]
    assert pipeline.vectors("docs/a.txt") == []
