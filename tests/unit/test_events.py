"""Event parsing: every envelope S3 notifications arrive in becomes the same ObjectEvent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from docpipe.events import (
    UnrecognizedEventError,
    detect_source,
    parse_event,
    parse_sqs_record,
)


def s3_record(event_name: str = "ObjectCreated:Put", key: str = "docs/a.pdf", **obj: Any) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-01-01T00:00:00.000Z",
        "eventName": event_name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": "docs-bucket", "arn": "arn:aws:s3:::docs-bucket"},
            "object": {"key": key, "sequencer": "0055AED6DCD90281E5", **obj},
        },
    }


def sqs(body: Any, message_id: str = "m-1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": "r",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }


def eventbridge(detail_type: str, **obj: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "e-1",
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::docs-bucket"],
        "detail": {
            "version": "0",
            "bucket": {"name": "docs-bucket"},
            "object": {"key": "docs/My+Report%E2%82%AC.pdf", "sequencer": "0062E99A88DC407460", **obj},
            "request-id": "r",
            "requester": "123456789012",
        },
    }


def test_raw_put_notification_becomes_a_created_event() -> None:
    event = {"Records": [s3_record(size=1024, eTag="abc", versionId="v1")]}

    [parsed] = list(parse_event(event))

    assert detect_source(event) == "s3"
    assert (parsed.kind, parsed.bucket, parsed.key) == ("created", "docs-bucket", "docs/a.pdf")
    assert (parsed.size, parsed.etag, parsed.version_id, parsed.sequencer) == (
        1024,
        "abc",
        "v1",
        "0055AED6DCD90281E5",
    )
    assert parsed.event_time == "2026-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("docs/my+report.pdf", "docs/my report.pdf"),
        ("docs/a%2Bb.pdf", "docs/a+b.pdf"),
        ("docs/%C3%BCber+%E2%82%AC.pdf", "docs/über €.pdf"),
        ("docs/100%25.pdf", "docs/100%.pdf"),
    ],
)
def test_keys_are_url_decoded(encoded: str, decoded: str) -> None:
    [parsed] = list(parse_event({"Records": [s3_record(key=encoded)]}))

    assert parsed.key == decoded


def test_every_record_of_a_notification_is_returned() -> None:
    event = {"Records": [s3_record(key="a.pdf"), s3_record(key="b.pdf"), s3_record(key="c.pdf")]}

    assert [e.key for e in parse_event(event)] == ["a.pdf", "b.pdf", "c.pdf"]


def test_delete_and_delete_marker_become_removed_events() -> None:
    event = {
        "Records": [
            s3_record("ObjectRemoved:Delete", key="a.pdf"),
            s3_record("ObjectRemoved:DeleteMarkerCreated", key="b.pdf", versionId="dm1"),
        ]
    }

    plain, marker = parse_event(event)

    assert (plain.kind, plain.is_delete_marker) == ("removed", False)
    assert (marker.kind, marker.is_delete_marker, marker.version_id) == ("removed", True, "dm1")


def test_events_that_do_not_change_content_are_ignored() -> None:
    event = {"Records": [s3_record("ObjectRestore:Completed"), s3_record("ObjectTagging:Put")]}

    assert list(parse_event(event)) == []


def test_sqs_wrapped_notification_is_unwrapped() -> None:
    record = sqs({"Records": [s3_record(key="docs/x+y.txt")]})

    [parsed] = parse_sqs_record(record)

    assert detect_source({"Records": [record]}) == "sqs"
    assert parsed.key == "docs/x y.txt"


def test_s3_test_event_yields_nothing() -> None:
    body = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-01-01T00:00:00Z",
        "Bucket": "docs-bucket",
    }

    assert parse_sqs_record(sqs(body)) == []
    assert list(parse_event(body)) == []


def test_sns_envelope_inside_sqs_is_unwrapped() -> None:
    sns = {"Type": "Notification", "MessageId": "n", "Message": json.dumps({"Records": [s3_record()]})}

    [parsed] = parse_sqs_record(sqs(sns))

    assert parsed.key == "docs/a.pdf"


def test_eventbridge_object_created_and_deleted_events() -> None:
    created = eventbridge("Object Created", size=10, etag="e", **{"version-id": "v1"})
    deleted = eventbridge("Object Deleted", **{"deletion-type": "Delete Marker Created"})
    deleted["detail"]["deletion-type"] = "Delete Marker Created"

    [c] = list(parse_event(created))
    [d] = list(parse_event(deleted))

    assert detect_source(created) == "eventbridge"
    assert (c.kind, c.key, c.size, c.etag, c.version_id) == ("created", "docs/My Report€.pdf", 10, "e", "v1")
    assert (d.kind, d.is_delete_marker) == ("removed", True)


def test_other_eventbridge_events_are_ignored() -> None:
    assert list(parse_event(eventbridge("Object Restore Completed"))) == []


def test_eventbridge_event_forwarded_through_sqs_is_understood() -> None:
    [parsed] = parse_sqs_record(sqs(eventbridge("Object Created", size=1)))

    assert parsed.kind == "created"


@pytest.mark.parametrize("body", ["not json", "[1, 2]", json.dumps({"hello": "world"})])
def test_unrecognised_sqs_message_fails_loudly(body: str) -> None:
    with pytest.raises(UnrecognizedEventError):
        parse_sqs_record(sqs(body))


def test_unknown_event_shape_fails_loudly() -> None:
    with pytest.raises(UnrecognizedEventError):
        list(parse_event({"action": "backup"}))


def test_doc_id_is_stable_per_bucket_and_key() -> None:
    [a] = list(parse_event({"Records": [s3_record(key="docs/a.pdf")]}))
    [b] = list(parse_event({"Records": [s3_record("ObjectRemoved:Delete", key="docs/a.pdf")]}))

    assert a.doc_id == b.doc_id and len(a.doc_id) == 32
