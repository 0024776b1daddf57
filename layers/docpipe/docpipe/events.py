"""Turn S3 notifications (SQS-wrapped, SNS-in-SQS, raw, EventBridge) into one typed ``ObjectEvent``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote_plus, unquote_plus

from aws_lambda_powertools.utilities.data_classes import (
    EventBridgeEvent,
    S3Event,
    SQSEvent,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from docpipe.exceptions import DocpipeError
from docpipe.ids import doc_id

EventKind = Literal["created", "removed"]
EventSource = Literal["sqs", "s3", "eventbridge", "unknown"]

TEST_EVENT = "s3:TestEvent"
ACCESS_RELABEL_CONFIGURATION = "docpipe-access-relabel"
"""``configurationId`` of the events reconcile enqueues for documents whose access list is stale:
ingest reads the prefix rules afresh for them (unless it read them after the event's time)."""
_EVENTBRIDGE_KINDS: dict[str, EventKind] = {"Object Created": "created", "Object Deleted": "removed"}


class UnrecognizedEventError(DocpipeError):
    """A message is not an S3 notification docpipe understands.

    Raised (not skipped) on purpose: the SQS record fails, is retried and finally lands in the
    dead-letter queue where an operator sees it, instead of vanishing.
    """


@dataclass(frozen=True)
class ObjectEvent:
    """One change to one S3 object, whatever envelope it arrived in.

    ``key`` is already decoded (S3 URL-encodes keys in notifications: ``+`` for spaces, ``%XX``).
    ``sequencer`` orders events of the same key; it is None when an emulator omits it.
    """

    kind: EventKind
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    sequencer: str | None = None
    event_time: str | None = None
    event_name: str = ""
    is_delete_marker: bool = False
    configuration_id: str = ""

    @property
    def is_version_delete(self) -> bool:
        """A removal of one version by its id (S3's ``ObjectRemoved:Delete`` with a ``versionId``).

        S3 sends it for a noncurrent version, a delete marker or the current version alike, so it
        does not say whether the object is gone: an older version or the object may be current.
        """
        return self.kind == "removed" and not self.is_delete_marker and bool(self.version_id)

    @property
    def doc_id(self) -> str:
        """The registry id of the document this event is about."""
        return doc_id(self.bucket, self.key)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def detect_source(event: Mapping[str, Any]) -> EventSource:
    """Which envelope a Lambda event is: SQS batch, raw S3 notification or EventBridge event."""
    records = event.get("Records")
    if isinstance(records, list) and records:
        first = records[0] if isinstance(records[0], Mapping) else {}
        source = first.get("eventSource") or first.get("EventSource")
        if source == "aws:sqs":
            return "sqs"
        if source == "aws:s3" or "s3" in first:
            return "s3"
    if "detail-type" in event and "detail" in event:
        return "eventbridge"
    if event.get("Event") == TEST_EVENT:
        return "s3"
    return "unknown"


def parse_s3_notification(body: Mapping[str, Any]) -> list[ObjectEvent]:
    """Events of an S3 notification document (``{"Records": [...]}``); a test event yields none.

    Records of other event types (restore, replication, lifecycle transition) are ignored: they
    do not change an object's content.
    """
    if body.get("Event") == TEST_EVENT:
        return []
    if "Records" not in body:
        raise UnrecognizedEventError(f"not an S3 notification (keys: {sorted(body)[:8]})")
    events: list[ObjectEvent] = []
    for record in S3Event(dict(body)).records:
        kind = _kind_of_s3_event_name(record.event_name)
        if kind is None:
            continue
        obj = record.s3.get_object
        raw = obj.raw_event
        size = raw.get("size")
        events.append(
            ObjectEvent(
                kind=kind,
                bucket=record.s3.bucket.name,
                # Powertools' S3Object.key is not decoded (only S3Event.object_key is).
                key=unquote_plus(obj.key),
                version_id=obj.version_id or None,
                etag=raw.get("eTag") or None,
                size=int(size) if size is not None else None,
                sequencer=raw.get("sequencer") or None,
                event_time=record.get("eventTime"),
                event_name=record.event_name,
                is_delete_marker=record.event_name.endswith("DeleteMarkerCreated"),
                configuration_id=str(record.s3.raw_event.get("configurationId") or ""),
            )
        )
    return events


def parse_eventbridge(event: Mapping[str, Any]) -> list[ObjectEvent]:
    """The event of an S3 EventBridge "Object Created"/"Object Deleted" event (others: none)."""
    from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventBridgeNotificationEvent

    wrapped = EventBridgeEvent(dict(event))
    kind = _EVENTBRIDGE_KINDS.get(wrapped.detail_type)
    if wrapped.source != "aws.s3" or kind is None:
        return []
    s3_event = S3EventBridgeNotificationEvent(dict(event))
    detail = s3_event.detail
    obj = detail.object
    raw = obj.raw_event
    size = raw.get("size")
    return [
        ObjectEvent(
            kind=kind,
            bucket=detail.bucket.name,
            key=obj.key,  # Powertools decodes this one with unquote_plus
            version_id=raw.get("version-id") or None,
            etag=raw.get("etag") or None,
            size=int(size) if size is not None else None,
            sequencer=raw.get("sequencer") or None,
            event_time=wrapped.time,
            event_name=wrapped.detail_type,
            is_delete_marker=detail.deletion_type == "Delete Marker Created",
        )
    ]


def parse_sqs_record(record: SQSRecord | Mapping[str, Any]) -> list[ObjectEvent]:
    """Events in one SQS message: an S3 notification, one wrapped by SNS, or an EventBridge event.

    Raises:
        UnrecognizedEventError: the body is not JSON or not one of those shapes.
    """
    sqs_record = record if isinstance(record, SQSRecord) else SQSRecord(dict(record))
    try:
        body = json.loads(sqs_record.body)
    except (TypeError, ValueError) as error:
        raise UnrecognizedEventError(f"SQS message {sqs_record.message_id} is not JSON") from error
    if not isinstance(body, dict):
        raise UnrecognizedEventError(f"SQS message {sqs_record.message_id} is not a JSON object")
    return parse_body(body)


def parse_body(body: Mapping[str, Any]) -> list[ObjectEvent]:
    """Events of a decoded message body of any supported shape (SNS envelopes unwrapped)."""
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        try:
            inner = json.loads(body["Message"])
        except ValueError as error:
            raise UnrecognizedEventError("SNS message does not carry JSON") from error
        if not isinstance(inner, dict):
            raise UnrecognizedEventError("SNS message does not carry a JSON object")
        return parse_body(inner)
    if "detail-type" in body and "detail" in body:
        return parse_eventbridge(body)
    return parse_s3_notification(body)


def parse_event(event: Mapping[str, Any]) -> Iterator[ObjectEvent]:
    """Every object event of a raw S3 notification, an EventBridge event or an SQS batch.

    The SQS handler path uses ``parse_sqs_record`` per record instead, so one bad message fails
    alone; this is for the direct-invoke paths (``sam local invoke -e events/s3_put_pdf.json``).
    """
    source = detect_source(event)
    if source == "sqs":
        for record in SQSEvent(dict(event)).records:
            yield from parse_sqs_record(record)
    elif source == "s3":
        yield from parse_s3_notification(event)
    elif source == "eventbridge":
        yield from parse_eventbridge(event)
    else:
        raise UnrecognizedEventError(f"unrecognised event shape (keys: {sorted(event)[:8]})")


def _kind_of_s3_event_name(name: str) -> EventKind | None:
    # eventName has no "s3:" prefix in notifications ("ObjectCreated:Put"); accept either.
    bare = name.removeprefix("s3:")
    if bare.startswith("ObjectCreated:"):
        return "created"
    if bare.startswith("ObjectRemoved:") or bare.startswith("LifecycleExpiration:"):
        return "removed"
    return None


def object_notification(
    kind: EventKind,
    bucket: str,
    key: str,
    *,
    region: str,
    sequencer: str | None,
    event_time: str,
    etag: str | None = None,
    size: int | None = None,
    version_id: str | None = None,
    configuration_id: str = "docpipe-reconcile",
) -> dict[str, Any]:
    """An S3 notification document for one object, shaped exactly as S3 writes it.

    Reconcile and backfill enqueue these on IngestQueue so the normal ingest path (ordering by
    ``sequencer``, idempotency by content hash) does the work; ``configurationId`` and
    ``principalId`` say who wrote it. Removals carry no size or ETag, as S3's do not.
    """
    described: dict[str, Any] = {"key": quote_plus(key)}
    if kind == "created":
        described["size"] = size or 0
        described["eTag"] = (etag or "").strip('"')
    if version_id:
        described["versionId"] = version_id
    if sequencer:
        described["sequencer"] = sequencer
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": event_time,
                "eventName": "ObjectCreated:Put" if kind == "created" else "ObjectRemoved:Delete",
                "userIdentity": {"principalId": configuration_id},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": configuration_id,
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": described,
                },
            }
        ]
    }
