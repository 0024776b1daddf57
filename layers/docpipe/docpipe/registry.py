"""The document registry (DynamoDB): one item per S3 object, changed only by conditional writes.

Ordering and idempotency live here. Each item holds ``order_token``, the ordering token of the
last event claimed for the object. ``begin(event)`` claims an event with a conditional update
that succeeds only when the event is newer than that token (or retries an unfinished claim of
the same event whose lease ran out), so an older or re-delivered event is a no-op and two
concurrent deliveries of one event cannot both proceed. Completion (``mark_*``) is conditional
on still holding the claim, so a slow worker never overwrites what a newer event recorded.

Uses the low-level ``dynamodb`` client (not the resource API): items come back as plain Python
values (ints, floats, strings; never ``Decimal``), which the backup and CLI helpers serialise.
"""

from __future__ import annotations

import builtins
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from docpipe import aws
from docpipe.events import ObjectEvent
from docpipe.exceptions import InvalidInputError, TransientError
from docpipe.timestamps import iso_timestamp

State = Literal["indexed", "skipped", "deleted", "processing"]
Verdict = Literal["apply", "stale", "duplicate", "busy"]

# Sequencers are hex strings of varying length. AWS: to compare two, pad the shorter with
# zeros on the right, then compare lexicographically. Padding every one to a fixed width lets
# DynamoDB compare them in a ConditionExpression.
SEQUENCER_WIDTH = 64
# A claim's lease ends when the invocation that holds it can no longer be running: its deadline
# (``context.get_remaining_time_in_millis()``) plus a margin for clock skew between the Lambda
# host and DynamoDB's view of time. Without a deadline (direct calls, tools) the longest a
# Lambda can run.
DEFAULT_LEASE_SECONDS = 900
LEASE_MARGIN_SECONDS = 10
# A claim may write this many chunk keys without raising ``max_chunk_count`` first: a document
# of that many chunks costs two registry writes (claim, finish), not three. Deletes after an
# unfinished claim therefore cover at least this many keys.
CLAIM_SLOTS = 32
# Items whose doc_id starts with this are not documents (doc ids are hex): the reconcile cursor.
# Listings, backups and restores skip them.
RESERVED_PREFIX = "#"
RECONCILE_CURSOR_ID = "#reconcile-cursor"
# The sparse index of document items by (bucket, key), in S3's key order (template: DocumentsTable).
BY_KEY_INDEX = "ByKey"
# The access labels of an indexed document (``DocumentRecord``): gone when it is skipped or deleted.
LABEL_FIELDS = ("access", "sidecar_access", "attributes_hash")
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class BusyError(TransientError):
    """An older event of the same object is still being processed; retry this one later."""


@dataclass(frozen=True)
class DocumentRecord:
    """One registry item (see docs/architecture.md for the fields)."""

    doc_id: str
    bucket: str = ""
    key: str = ""
    state: str = "processing"
    reason: str | None = None
    version_id: str | None = None
    etag: str | None = None
    sequencer: str | None = None
    order_token: str | None = None
    content_hash: str | None = None
    sidecar_hash: str | None = None
    # The access list on the document's chunks, the sidecar's own list (None: it gives none) and
    # a hash of the sidecar's attributes: reconcile compares the first with what the rules and the
    # second give now; ingest re-labels without re-embedding when only the list changed.
    access: list[str] | None = None
    sidecar_access: list[str] | None = None
    attributes_hash: str | None = None
    content_type: str | None = None
    chunk_count: int = 0
    # Highest number of chunk vectors that may exist for this document (a failed attempt may
    # have written more than ``chunk_count``); see ``vector_slots``.
    max_chunk_count: int = 0
    pages: int = 0
    # Pages whose text came from OCR (scanned PDF pages, image files).
    ocr_pages: int = 0
    seconds: float = 0.0
    lease_until: int = 0
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> DocumentRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in item.items() if k in known and v is not None}
        for name in ("chunk_count", "max_chunk_count", "pages", "ocr_pages", "lease_until"):
            if name in values:
                values[name] = int(values[name])
        if "seconds" in values:
            values["seconds"] = float(values["seconds"])
        return cls(**values)

    def to_item(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def vector_slots(self) -> int:
        """How many chunk keys may hold vectors (deletes must cover all of them).

        Exact once a claim finished; while one is unfinished (``processing``: running, or
        crashed) at least ``CLAIM_SLOTS``, which a claim may write without noting them.
        """
        slots = max(self.chunk_count, self.max_chunk_count)
        return max(slots, CLAIM_SLOTS) if self.state == "processing" else slots


@dataclass(frozen=True)
class Decision:
    """What ``begin`` decided: ``apply`` (the caller holds the claim) or why not."""

    verdict: Verdict
    token: str
    previous: DocumentRecord | None = None

    @property
    def apply(self) -> bool:
        return self.verdict == "apply"


def ordering_token(event: ObjectEvent) -> str:
    """A string that sorts like the events of one key happened.

    The S3 ``sequencer`` when present; otherwise (emulators) the event time, then the ETag or
    version so two different events in the same millisecond still differ. Prefixes keep the
    two kinds apart; one deployment only ever sees one kind.
    """
    if event.sequencer:
        return "s:" + event.sequencer.upper().ljust(SEQUENCER_WIDTH, "0")
    tail = event.etag or event.version_id or ""
    return f"t:{event.event_time or ''}|{event.kind}|{tail}"


def _to_plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, set):
        return sorted(_to_plain(v) for v in value)
    return value


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _to_plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _update_expression(
    updates: Mapping[str, Any], *, extra_sets: Iterable[str] = ()
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """SET the non-None values and REMOVE the None ones, every name aliased (many are reserved)."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = list(extra_sets)
    removes: list[str] = []
    for name, value in updates.items():
        alias = f"#{name}"
        names[alias] = name
        if value is None:
            removes.append(alias)
        else:
            values[f":{name}"] = _serializer.serialize(_to_dynamo(value))
            sets.append(f"{alias} = :{name}")
    expression = "SET " + ", ".join(sets)
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    return expression, names, values


class DocumentRegistry:
    """Conditional state transitions of documents in ``DocumentsTable``.

    Args:
        client: a boto3 low-level ``dynamodb`` client.
        table_name: the table (partition key ``doc_id``, string).
        lease_seconds: how long a claim blocks re-processing of the same event.
        clock: epoch seconds, injectable for tests.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        clock: Any = time.time,
    ) -> None:
        if not table_name:
            raise InvalidInputError("a registry table name is required")
        self._client = client
        self.table_name = table_name
        self._lease_seconds = lease_seconds
        self._clock = clock

    @property
    def client(self) -> Any:
        return self._client

    # -- reads ----------------------------------------------------------------------------------

    def get(self, doc_id: str) -> DocumentRecord | None:
        response = self._call("get_item", Key={"doc_id": {"S": doc_id}}, ConsistentRead=True)
        item = response.get("Item")
        return DocumentRecord.from_item(_deserialize(item)) if item else None

    def scan_items(self) -> Iterator[dict[str, Any]]:
        """Every document item as plain Python values (for backups); reserved items are skipped."""
        kwargs: dict[str, Any] = {"TableName": self.table_name}
        while True:
            response = self._call_raw("scan", **kwargs)
            for item in response.get("Items", []):
                if item.get("doc_id", {}).get("S", "").startswith(RESERVED_PREFIX):
                    continue
                yield _deserialize(item)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def list(self, prefix: str = "") -> Iterator[DocumentRecord]:
        """Documents whose key starts with ``prefix``, in key order."""
        records = [DocumentRecord.from_item(item) for item in self.scan_items()]
        for record in sorted(records, key=lambda r: (r.bucket, r.key)):
            if record.key.startswith(prefix):
                yield record

    def get_many(self, doc_ids: Iterable[str]) -> dict[str, DocumentRecord]:
        """The records of ``doc_ids`` that exist (BatchGetItem, 100 at a time, consistent reads)."""
        wanted = sorted(set(doc_ids))
        found: dict[str, DocumentRecord] = {}
        for start in range(0, len(wanted), 100):
            pending: dict[str, Any] = {
                self.table_name: {
                    "Keys": [{"doc_id": {"S": d}} for d in wanted[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            found.update(self._batch_get(pending))
        return found

    def _batch_get(self, request: dict[str, Any]) -> dict[str, DocumentRecord]:
        pending = [request]
        found: dict[str, DocumentRecord] = {}

        def read() -> dict[str, Any]:
            response: dict[str, Any] = self._call_raw("batch_get_item", RequestItems=pending[0])
            for item in response.get("Responses", {}).get(self.table_name, []):
                record = DocumentRecord.from_item(_deserialize(item))
                found[record.doc_id] = record
            pending[0] = response.get("UnprocessedKeys") or {}
            return pending[0]

        aws.retry_unprocessed(read, bool, what=f"DynamoDB {self.table_name} BatchGetItem")
        return found

    def iter_by_key(self, bucket: str, prefix: str = "", *, after: str = "") -> Iterator[DocumentRecord]:
        """Documents of ``bucket`` under ``prefix`` in key order (S3's order), after ``after``.

        Reads the ``ByKey`` index (eventually consistent: a write of the last second may be
        missing, which reconcile tolerates: what it enqueues goes through the ordering checks).
        """
        names = {"#bucket": "bucket", "#key": "key"}
        values: dict[str, Any] = {":bucket": {"S": bucket}}
        if after:
            condition = "#bucket = :bucket AND #key > :after"
            values[":after"] = {"S": after}
        elif prefix:
            condition = "#bucket = :bucket AND #key >= :prefix"
            values[":prefix"] = {"S": prefix}
        else:
            condition = "#bucket = :bucket"
            del names["#key"]  # DynamoDB refuses names an expression does not use
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": BY_KEY_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        while True:
            response = self._call_raw("query", **kwargs)
            for item in response.get("Items", []):
                record = DocumentRecord.from_item(_deserialize(item))
                if not record.key.startswith(prefix):
                    return  # past the prefix: keys are sorted
                yield record
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def get_cursor(self) -> dict[str, Any]:
        """The reconcile cursor (empty when a pass starts from the beginning)."""
        response = self._call("get_item", Key={"doc_id": {"S": RECONCILE_CURSOR_ID}}, ConsistentRead=True)
        item = _deserialize(response.get("Item") or {})
        item.pop("doc_id", None)
        return item

    def put_cursor(self, cursor: Mapping[str, Any]) -> None:
        """Store the reconcile cursor (the one reserved item reconcile writes)."""
        item = {**cursor, "doc_id": RECONCILE_CURSOR_ID, "updated_at": iso_timestamp()}
        self._call("put_item", Item=_serialize(item))

    # -- bulk writes (restore) ------------------------------------------------------------------

    def put_items(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Write items as they are (BatchWriteItem, unprocessed items retried); returns the count."""
        count = 0
        batch: list[dict[str, Any]] = []
        for item in items:
            if "doc_id" not in item:
                raise InvalidInputError("every registry item needs a doc_id")
            batch.append({"PutRequest": {"Item": _serialize(item)}})
            if len(batch) == 25:
                count += self._batch_write(batch)
                batch = []
        if batch:
            count += self._batch_write(batch)
        return count

    def delete_all(self) -> int:
        """Delete every item (restore replaces the registry); returns the count."""
        count = 0
        batch: list[dict[str, Any]] = []
        for item in self.scan_items():
            batch.append({"DeleteRequest": {"Key": {"doc_id": {"S": item["doc_id"]}}}})
            if len(batch) == 25:
                count += self._batch_write(batch)
                batch = []
        if batch:
            count += self._batch_write(batch)
        return count

    def _batch_write(self, requests: builtins.list[dict[str, Any]]) -> int:
        pending: list[dict[str, Any]] = [{self.table_name: requests}]

        def write() -> dict[str, Any]:
            response: dict[str, Any] = self._call_raw("batch_write_item", RequestItems=pending[0])
            pending[0] = response.get("UnprocessedItems") or {}
            return pending[0]

        aws.retry_unprocessed(write, bool, what=f"DynamoDB {self.table_name} BatchWriteItem")
        return len(requests)

    # -- transitions ----------------------------------------------------------------------------

    def deadline_after(self, remaining_ms: int) -> float:
        """The epoch time (this registry's clock) at which an invocation with ``remaining_ms`` ends."""
        return float(self._clock()) + max(remaining_ms, 0) / 1000

    def _lease_until(self, now: int, deadline: float | None) -> int:
        if deadline is None:
            return now + self._lease_seconds
        return math.ceil(deadline) + LEASE_MARGIN_SECONDS

    def begin(self, event: ObjectEvent, *, deadline: float | None = None) -> Decision:
        """Claim ``event`` for processing if it is newer than what the registry has applied.

        ``deadline`` (epoch seconds, see ``deadline_after``) is when the calling invocation is
        stopped at the latest: the claim's lease ends ``LEASE_MARGIN_SECONDS`` after it, so a
        crashed claim blocks newer events of the document no longer than the invocation could run.

        Returns:
            ``apply`` with the previous record (its ``chunk_count``/``content_hash`` tell the
            caller what to replace); ``stale`` (an older event), ``duplicate`` (this event was
            already applied, or is being applied right now by another worker).

        Raises:
            BusyError: an *older* event of this object is still being processed; SQS retries
                this one after the visibility timeout, by when the older one has finished.
        """
        token = ordering_token(event)
        now = int(self._clock())
        stamp = iso_timestamp()
        expression, names, values = _update_expression(
            {
                "order_token": token,
                "state": "processing",
                "lease_until": self._lease_until(now, deadline),
                "bucket": event.bucket,
                "key": event.key,
                "updated_at": stamp,
                "sequencer": event.sequencer,
                "version_id": event.version_id,
                "etag": event.etag,
            },
            extra_sets=["#created_at = if_not_exists(#created_at, :stamp)"],
        )
        names.update(
            {"#created_at": "created_at", "#order_token": "order_token", "#lease_until": "lease_until"}
        )
        values.update(_serialize({":tok": token, ":processing": "processing", ":now": now, ":stamp": stamp}))
        condition = (
            "attribute_not_exists(doc_id)"
            " OR (#order_token < :tok AND (#state <> :processing OR #lease_until < :now))"
            " OR (#order_token = :tok AND #state = :processing AND #lease_until < :now)"
        )
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key={"doc_id": {"S": event.doc_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if aws.error_code(error) != "ConditionalCheckFailedException":
                aws.translate_client_error(error, f"dynamodb:{self.table_name}")
            old: Mapping[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
            current = DocumentRecord.from_item(_deserialize(old)) if old else self.get(event.doc_id)
            return Decision(self._refusal(current, token), token, current)
        except BotoCoreError as error:
            aws.translate_client_error(error, f"dynamodb:{self.table_name}")
        old_item = response.get("Attributes")
        previous = DocumentRecord.from_item(_deserialize(old_item)) if old_item else None
        return Decision("apply", token, previous)

    def reclaim(self, doc_id: str, token: str, *, deadline: float | None = None) -> Decision:
        """Claim a document again for the event it last applied (a sidecar changed).

        Returns ``apply`` with the current record, or ``stale`` when a newer event of the
        document took over meanwhile (that one reads the sidecar itself).

        Raises:
            BusyError: the document is being processed right now.
        """
        now = int(self._clock())
        expression, names, values = _update_expression(
            {
                "state": "processing",
                "lease_until": self._lease_until(now, deadline),
                "updated_at": iso_timestamp(),
            }
        )
        names["#order_token"] = "order_token"
        values.update(_serialize({":tok": token, ":processing": "processing", ":now": now}))
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key={"doc_id": {"S": doc_id}},
                UpdateExpression=expression,
                ConditionExpression="#order_token = :tok AND (#state <> :processing OR #lease_until < :now)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if aws.error_code(error) != "ConditionalCheckFailedException":
                aws.translate_client_error(error, f"dynamodb:{self.table_name}")
            current = self.get(doc_id)
            if current is not None and current.order_token == token:
                raise BusyError(
                    f"document {doc_id} is being processed; the sidecar change will be retried"
                ) from error
            return Decision("stale", token, current)
        old = response.get("Attributes")
        return Decision("apply", token, DocumentRecord.from_item(_deserialize(old)) if old else None)

    def _refusal(self, current: DocumentRecord | None, token: str) -> Verdict:
        if current is None or current.order_token is None:  # deleted between the calls: retry
            raise BusyError("registry item changed while claiming; retrying")
        if current.order_token > token:
            return "stale"
        if current.order_token == token:
            return "duplicate"
        raise BusyError(
            f"document {current.doc_id} is being processed for an older event (lease until "
            f"{current.lease_until}); this newer event will be retried"
        )

    def note_chunks(self, doc_id: str, token: str, count: int) -> None:
        """Record, before writing, that up to ``count`` chunk vectors may exist for the document."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"doc_id": {"S": doc_id}},
                UpdateExpression="SET max_chunk_count = :n",
                ConditionExpression=(
                    "order_token = :tok AND (attribute_not_exists(max_chunk_count) OR max_chunk_count < :n)"
                ),
                ExpressionAttributeValues=_serialize({":n": count, ":tok": token}),
            )
        except ClientError as error:
            if aws.error_code(error) != "ConditionalCheckFailedException":
                aws.translate_client_error(error, f"dynamodb:{self.table_name}")
            # Already at least ``count``, or no longer ours (then mark_* will say so).

    def mark_indexed(
        self,
        doc_id: str,
        token: str,
        *,
        chunk_count: int,
        content_hash: str,
        sidecar_hash: str | None,
        content_type: str,
        pages: int,
        seconds: float,
        ocr_pages: int = 0,
        access: Iterable[str] | None = None,
        sidecar_access: Iterable[str] | None = None,
        attributes_hash: str | None = None,
    ) -> bool:
        """Finish a claim as ``indexed``; False when a newer event took the document meanwhile."""
        labels = {
            "access": None if access is None else list(access),
            "sidecar_access": None if sidecar_access is None else list(sidecar_access),
            "attributes_hash": attributes_hash,
        }
        return self._finish(
            doc_id,
            token,
            {
                "state": "indexed",
                "chunk_count": chunk_count,
                "max_chunk_count": chunk_count,
                "content_hash": content_hash,
                "sidecar_hash": sidecar_hash,
                "content_type": content_type,
                "pages": pages,
                "ocr_pages": ocr_pages,
                "seconds": round(seconds, 3),
                **{k: v for k, v in labels.items() if v is not None},
            },
            remove=("reason",)
            + (("sidecar_hash",) if sidecar_hash is None else ())
            + tuple(k for k, v in labels.items() if v is None),
        )

    def mark_unchanged(self, doc_id: str, token: str, previous: DocumentRecord) -> bool:
        """Finish a claim whose content equals what is indexed: restore the previous state."""
        return self._finish(doc_id, token, {"state": previous.state}, remove=())

    def mark_skipped(
        self,
        doc_id: str,
        token: str,
        reason: str,
        *,
        content_type: str | None = None,
        content_hash: str | None = None,
        seconds: float = 0.0,
        chunk_count: int = 0,
    ) -> bool:
        """Finish a claim as ``skipped`` with a reason code (no vectors remain for it)."""
        return self._finish(
            doc_id,
            token,
            {
                "state": "skipped",
                "reason": reason,
                "content_type": content_type,
                "content_hash": content_hash,
                "chunk_count": chunk_count,
                "max_chunk_count": chunk_count,
                "seconds": round(seconds, 3),
            },
            remove=("sidecar_hash", "ocr_pages", *LABEL_FIELDS)
            + (("content_type",) if content_type is None else ())
            + (("content_hash",) if content_hash is None else ()),
        )

    def mark_deleted(self, doc_id: str, token: str, *, seconds: float = 0.0) -> bool:
        """Finish a claim as ``deleted``: the item stays as a tombstone so late events stay stale."""
        return self._finish(
            doc_id,
            token,
            {"state": "deleted", "chunk_count": 0, "max_chunk_count": 0, "seconds": round(seconds, 3)},
            remove=(
                "reason",
                "content_hash",
                "sidecar_hash",
                "content_type",
                "pages",
                "ocr_pages",
                *LABEL_FIELDS,
            ),  # fmt: skip
        )

    def release(self, doc_id: str, token: str) -> None:
        """Give up a claim after a transient failure, so the SQS retry may claim it at once."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"doc_id": {"S": doc_id}},
                UpdateExpression="SET lease_until = :zero",
                ConditionExpression="order_token = :tok AND #state = :processing",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=_serialize(
                    {":zero": 0, ":tok": token, ":processing": "processing"}
                ),
            )
        except ClientError as error:
            if aws.error_code(error) != "ConditionalCheckFailedException":
                aws.translate_client_error(error, f"dynamodb:{self.table_name}")

    def _finish(self, doc_id: str, token: str, values: Mapping[str, Any], *, remove: Iterable[str]) -> bool:
        updates: dict[str, Any] = dict.fromkeys(remove)
        updates.update(values)
        updates.update({"updated_at": iso_timestamp(), "lease_until": 0})
        expression, names, attrs = _update_expression(updates)
        names.update({"#order_token": "order_token", "#state": "state"})
        attrs.update(_serialize({":tok": token, ":processing": "processing"}))
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"doc_id": {"S": doc_id}},
                UpdateExpression=expression,
                ConditionExpression="#order_token = :tok AND #state = :processing",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attrs,
            )
        except ClientError as error:
            if aws.error_code(error) == "ConditionalCheckFailedException":
                return False
            aws.translate_client_error(error, f"dynamodb:{self.table_name}")
        except BotoCoreError as error:
            aws.translate_client_error(error, f"dynamodb:{self.table_name}")
        return True

    # -- plumbing -------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> Any:
        return self._call_raw(operation, TableName=self.table_name, **kwargs)

    def _call_raw(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, f"dynamodb:{self.table_name}")
