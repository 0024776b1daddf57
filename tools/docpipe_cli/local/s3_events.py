"""Make moto's S3 send the notifications real S3 sends: the emulator boundary of the local stack.

moto 5.x (checked against 5.2.5) gets these wrong, and docpipe's ingest path cannot tell:

- ``DeleteObject`` without a version id on a versioned bucket creates a delete marker and sends
  nothing; S3 sends ``ObjectRemoved:DeleteMarkerCreated``. The same inside ``DeleteObjects``.
- ``DeleteObject`` with a version id sends ``ObjectRemoved:Delete`` only when the last version
  goes; S3 sends it for every version delete.
- ``CompleteMultipartUpload`` sends ``ObjectCreated:Put`` and ``ObjectTagging:Put`` before its
  own ``ObjectCreated:CompleteMultipartUpload``; S3 sends only the last.
- Records carry no ``versionId`` and no ``sequencer``; S3 sends both (``versionId`` on versioned
  buckets). Without a sequencer docpipe orders events by their millisecond ``eventTime``.
- Removal records carry the old object's ``size`` and ``eTag``; S3's carry neither.
- ``PutBucketNotificationConfiguration`` accepts configurations whose key filters overlap for a
  common event type; S3 refuses them (``InvalidArgument``), so a template whose filters overlap
  must fail locally as it would fail to deploy (``overlapping_filters``).

moto applies the prefix and suffix filters as S3 does (both must match, case-sensitive), sends a
notification per matching configuration, and sends every event to EventBridge unfiltered, as S3
does: those need no patch.

``CopyObject`` (one ``ObjectCreated:Copy``) and a put through a presigned URL (one
``ObjectCreated:Put``, the same backend call as a signed put) are right apart from the record
shape. ``install()`` patches moto's S3 backend and record builder in this process, before the
server serves; ``docs/architecture.md`` lists the checks and the tests that pin them.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote_plus

_state = threading.local()
_sequencer_lock = threading.Lock()
_last_sequencer = 0
_installed = False


def next_sequencer() -> str:
    """A sequencer larger than every earlier one of this process (and of earlier runs: clock-based).

    S3's sequencers are hex strings that only order events of one key; one increasing counter for
    the whole emulator is a valid choice of them. 16 hex digits of nanoseconds last until 2554.
    """
    global _last_sequencer
    with _sequencer_lock:
        _last_sequencer = max(_last_sequencer + 1, time.time_ns())
        return f"{_last_sequencer:016X}"


@contextmanager
def _muted() -> Iterator[None]:
    """moto's own notifications are dropped inside (the patched call sends the right ones)."""
    depth = getattr(_state, "muted", 0)
    _state.muted = depth + 1
    try:
        yield
    finally:
        _state.muted = depth


def s3_record(event_name: str, bucket: Any, obj: Any, notification_id: str) -> dict[str, Any]:
    """One notification document the way S3 writes it (notification-content-structure, version 2.1)."""
    from moto.core.utils import iso_8601_datetime_with_milliseconds

    name = event_name.removeprefix("s3:")
    described: dict[str, Any] = {"key": quote_plus(obj.name)}
    if name.startswith("ObjectCreated:"):
        described["size"] = obj.size
        described["eTag"] = obj.etag.replace('"', "")
    version = getattr(obj, "version_id", None)
    if bucket.is_versioned and version and version != "null":
        described["versionId"] = str(version)
    described["sequencer"] = next_sequencer()
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": bucket.region_name,
                "eventTime": iso_8601_datetime_with_milliseconds(),
                "eventName": name,
                "userIdentity": {"principalId": "AWS:local"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "local", "x-amz-id-2": "local"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": notification_id,
                    "bucket": {
                        "name": bucket.name,
                        "ownerIdentity": {"principalId": "local"},
                        "arn": bucket.arn,
                    },
                    "object": described,
                },
            }
        ]
    }


# S3's own words (InvalidArgument) for key filters that overlap.
OVERLAP_MESSAGE = (
    "Configuration is ambiguously defined. Cannot have overlapping suffixes in two rules if the "
    "prefixes are overlapping for the same event type."
)


def overlapping_filters(configurations: list[tuple[list[str], str, str]]) -> bool:
    """Whether two notification configurations ``(events, prefix, suffix)`` overlap as S3 judges.

    They overlap when they share an event type (``s3:ObjectCreated:*`` covers
    ``s3:ObjectCreated:Put``) and some key matches both filters: one prefix starts the other and
    one suffix ends the other (an empty one matches every key).
    """
    for i, (events_a, prefix_a, suffix_a) in enumerate(configurations):
        for events_b, prefix_b, suffix_b in configurations[i + 1 :]:
            if (
                _events_overlap(events_a, events_b)
                and (prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a))
                and (suffix_a.endswith(suffix_b) or suffix_b.endswith(suffix_a))
            ):
                return True
    return False


def _events_overlap(a: list[str], b: list[str]) -> bool:
    def covers(general: str, specific: str) -> bool:
        return general == specific or (general.endswith(":*") and specific.startswith(general[:-1]))

    return any(covers(x, y) or covers(y, x) for x in a for y in b)


def _filter_rules(configuration: dict[str, Any]) -> tuple[str, str]:
    """(prefix, suffix) of one configuration as moto parsed it from the request."""
    rules = ((configuration.get("Filter") or {}).get("S3Key") or {}).get("FilterRule") or []
    values = {rule["Name"].lower(): rule["Value"] for rule in rules}
    return values.get("prefix", ""), values.get("suffix", "")


def install() -> None:
    """Patch moto's S3 notifications in this process (idempotent); call before the server serves."""
    global _installed
    if _installed:
        return
    from moto.s3 import models, notifications

    original_send = notifications.send_event

    @functools.wraps(original_send)
    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        if getattr(_state, "muted", 0) or key is None:
            return
        original_send(account_id, event_name, bucket, key)

    notifications.send_event = send_event
    notifications._get_s3_event = s3_record  # type: ignore[assignment]
    backend = models.S3Backend
    backend.delete_object = _delete_object(backend.delete_object)  # type: ignore[method-assign]
    backend.complete_multipart_upload = _complete_multipart(  # type: ignore[method-assign]
        backend.complete_multipart_upload
    )
    backend.put_bucket_notification_configuration = _refuse_overlaps(  # type: ignore[method-assign]
        backend.put_bucket_notification_configuration
    )
    _installed = True


def _delete_object(original: Callable[..., Any]) -> Callable[..., Any]:
    """DeleteObject (and each object of DeleteObjects, which calls it) notifies as S3 does."""
    from moto.s3 import notifications
    from moto.s3.models import FakeDeleteMarker

    Event = notifications.S3NotificationEvent

    @functools.wraps(original)
    def delete_object(
        self: Any, bucket_name: str, key_name: str, version_id: str | None = None, bypass: bool = False
    ) -> tuple[bool, dict[str, Any]]:
        bucket = self.get_bucket(bucket_name)
        if not getattr(bucket, "is_versioned", False):  # moto is right here (one Delete when it existed)
            result: tuple[bool, dict[str, Any]] = original(
                self, bucket_name, key_name, version_id=version_id, bypass=bypass
            )
            return result
        versions = {str(k.version_id) for k in bucket.keys.getlist(key_name, [])}
        with _muted():
            deleted, meta = original(self, bucket_name, key_name, version_id=version_id, bypass=bypass)
        if not deleted:
            return deleted, meta
        if version_id is None:
            marker = bucket.keys.get(key_name)
            if isinstance(marker, FakeDeleteMarker):
                event = Event.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT
                notifications.send_event(self.account_id, event, bucket, marker)
        elif str(version_id) in versions:
            removed = _Removed(key_name, str(version_id))
            notifications.send_event(self.account_id, Event.OBJECT_REMOVED_DELETE_EVENT, bucket, removed)
        return deleted, meta

    return delete_object


def _complete_multipart(original: Callable[..., Any]) -> Callable[..., Any]:
    """CompleteMultipartUpload sends only ``ObjectCreated:CompleteMultipartUpload``, as S3 does."""
    from moto.s3 import notifications

    Event = notifications.S3NotificationEvent

    @functools.wraps(original)
    def complete_multipart_upload(self: Any, bucket_name: str, multipart_id: str, body: Any) -> Any:
        with _muted():
            key = original(self, bucket_name, multipart_id, body)
        if key is not None:
            bucket = self.get_bucket(bucket_name)
            event = Event.OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD_EVENT
            notifications.send_event(self.account_id, event, bucket, key)
        return key

    return complete_multipart_upload


def _refuse_overlaps(original: Callable[..., Any]) -> Callable[..., Any]:
    """PutBucketNotificationConfiguration refuses overlapping key filters, as S3 does."""
    from moto.s3.exceptions import InvalidArgumentError

    @functools.wraps(original)
    def put_bucket_notification_configuration(
        self: Any, bucket_name: str, notification_config: dict[str, Any]
    ) -> None:
        configurations = [
            (list(item.get("Event") or []), *_filter_rules(item))
            for kind in ("QueueConfiguration", "TopicConfiguration", "CloudFunctionConfiguration")
            for item in (notification_config or {}).get(kind) or []
        ]
        if overlapping_filters(configurations):
            raise InvalidArgumentError(OVERLAP_MESSAGE, "FilterRule", "overlapping")
        original(self, bucket_name, notification_config)

    return put_bucket_notification_configuration


class _Removed:
    """What a removal record names: the key and the version that was deleted."""

    def __init__(self, name: str, version_id: str) -> None:
        self.name = name
        self.version_id = version_id
