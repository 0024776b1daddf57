"""Reconcile: compare the bucket, the registry and the index, and repair what drifted.

One pass walks two sorted streams side by side, the objects under ``DocumentPrefix`` (an
``ObjectSource``: ListObjectsV2, or the newest S3 Inventory report) and the registry's documents
of the bucket (the ``ByKey`` index, the same key order; the whole bucket, as a prefix narrowed
since leaves documents outside the listing), then lists the index once. The scope
(``docpipe.scope``) judges every key first:

- an object outside the scope is ``ignored`` (counted by reason, never enqueued); a registry
  entry outside it that is indexed or skipped for another reason (``out_of_scope``: the scope
  changed) is enqueued as ``ObjectCreated``, so IngestFunction deletes its vectors and records
  it skipped with the reason, without reading it;
- an object with no registry entry (``missing``) or whose ETag differs from the applied one, or
  that the registry records as deleted or as outside a scope that now includes it (``changed``),
  is enqueued as ``ObjectCreated``;
- a registry entry (indexed or skipped) whose object is not listed (``gone``) as ``ObjectRemoved``;
- a ``processing`` claim past its lease (``stale_claims``) is enqueued again with its own sequencer;
- an indexed document whose stored access list is not what the prefix rules and its sidecar's
  list give now (``stale_access``) is enqueued as ``ObjectCreated`` marked as a re-label
  (``ACCESS_RELABEL_CONFIGURATION``): ingest finds the content unchanged and re-labels its chunks;
- vectors whose document has no live registry entry, or beyond its chunk count
  (``orphan_vectors``), are deleted under a registry claim, so a concurrent ingest waits.

Sequencers (docs/architecture.md, "Reconcile"): an enqueued event carries the sequencer of the
event the registry last applied plus one (in the 64-hex-digit form the registry compares), so it
sorts after what is recorded and before any later real S3 event of the key; an object the
registry has never seen gets the lowest sequencer. Synthetic events therefore never hide a real
one and never undo one.

Safety: removals are judged only for keys the listing has passed, held until the listing has
succeeded, and dropped with the rest of the run if it fails; a dry run sends, deletes and stores
nothing. A source that describes the past (an inventory report, ``as_of``) never decides about
a registry entry applied after it was taken, and a removal it suggests is confirmed with a
HeadObject first. When the invocation's time runs low the run stops cleanly and stores a cursor (the
reserved registry item ``#reconcile-cursor``); the next run continues from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from docpipe.access import AccessDocuments, PrefixRules, document_access
from docpipe.config import Settings
from docpipe.events import ACCESS_RELABEL_CONFIGURATION, EventKind, ObjectEvent, object_notification
from docpipe.exceptions import AccessListTooLargeError, DocpipeError, InvalidInputError
from docpipe.queue import BATCH_SIZE, MessageQueue
from docpipe.reconcile.inventory import InventorySource, NoInventoryError
from docpipe.reconcile.listing import ListingSource
from docpipe.reconcile.source import ObjectSource
from docpipe.registry import SEQUENCER_WIDTH, BusyError, DocumentRecord, DocumentRegistry
from docpipe.s3 import ObjectInfo, S3Client
from docpipe.scope import NOT_A_DOCUMENT_REASONS, OUT_OF_SCOPE_REASONS, Scope
from docpipe.timestamps import epoch_seconds, iso_timestamp
from docpipe.vectorstore import S3VectorStore

CATEGORIES = (
    "missing", "changed", "gone", "stale_claims", "stale_access", "orphan_vectors", "out_of_scope",
)  # fmt: skip
EXAMPLE_LIMIT = 100  # example keys per category in a report
# Stop this long before the invocation's end: enough to send what is held and store the cursor.
STOP_MARGIN_MS = 30_000
LOWEST_SEQUENCER = "0" * (SEQUENCER_WIDTH - 1) + "1"
# The claim reconcile takes on a document the registry does not know, to delete its orphan vectors:
# below every event, even a "missing" one this run enqueued for it (which must still apply).
_ORPHAN_CLAIM_SEQUENCER = "0" * SEQUENCER_WIDTH
_VECTOR_GROUP = 500  # vector keys classified (one BatchGetItem pass) at a time
_VERIFY_GROUP = 100  # drift judged on a dated source, checked against the registry (BatchGetItem's limit)

logger = Logger(child=True)


@dataclass
class ReconcileRequest:
    """What an invocation asks: ``{"dry_run": true}`` or ``{}``."""

    dry_run: bool = False

    @classmethod
    def from_event(cls, event: Any) -> ReconcileRequest:
        """Raises InvalidInputError naming the field for anything but a boolean ``dry_run``."""
        if event is None:
            return cls()
        if not isinstance(event, dict):
            raise InvalidInputError("the reconcile event must be a JSON object")
        unknown = sorted(set(event) - {"dry_run"})
        if unknown:
            raise InvalidInputError(f"unknown field {unknown[0]!r}; allowed: dry_run")
        dry_run = event.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise InvalidInputError("dry_run must be true or false")
        return cls(dry_run=dry_run)


@dataclass
class ReconcileReport:
    """Counts per category, up to ``EXAMPLE_LIMIT`` keys each, and how the run ended.

    ``ignored``: objects listed outside the scope, by reason (``outside_prefix``,
    ``outside_suffix``), with up to ``EXAMPLE_LIMIT`` keys each in ``ignored_examples``.
    """

    dry_run: bool
    complete: bool = False
    stopped: str | None = None  # "time", "listing_failed" or "no_inventory"
    error: str | None = None
    resumed_after: str = ""
    objects_listed: int = 0
    registry_entries: int = 0
    vectors_listed: int = 0
    in_sync: int = 0
    in_flight: int = 0
    enqueued: int = 0
    vectors_deleted: int = 0
    # Drift a dated source (an inventory report) suggested about entries applied after it was
    # taken, or removals of objects a HeadObject found: left alone (the next report decides).
    newer_than_source: int = 0
    source: dict[str, Any] = field(default_factory=lambda: {"source": "list", "source_as_of": None})
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    examples: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CATEGORIES})
    scope: dict[str, str] = field(default_factory=lambda: Scope().as_dict())
    ignored: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUT_OF_SCOPE_REASONS, 0))
    ignored_examples: dict[str, list[str]] = field(
        default_factory=lambda: {r: [] for r in OUT_OF_SCOPE_REASONS}
    )

    def note(self, category: str, key: str, count: int = 1) -> None:
        self.counts[category] += count
        if len(self.examples[category]) < EXAMPLE_LIMIT:
            self.examples[category].append(key)

    def ignore(self, reason: str, key: str) -> None:
        """A key outside the scope (``OUT_OF_SCOPE_REASONS``): nothing to do, said with its reason."""
        self.ignored[reason] += 1
        if len(self.ignored_examples[reason]) < EXAMPLE_LIMIT:
            self.ignored_examples[reason].append(key)

    @property
    def drift(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "complete": self.complete,
            "stopped": self.stopped,
            "error": self.error,
            "resumed_after": self.resumed_after,
            "drift": self.drift,
            "counts": dict(self.counts),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "objects_listed": self.objects_listed,
            "registry_entries": self.registry_entries,
            "vectors_listed": self.vectors_listed,
            "in_sync": self.in_sync,
            "in_flight": self.in_flight,
            "enqueued": self.enqueued,
            "vectors_deleted": self.vectors_deleted,
            "newer_than_source": self.newer_than_source,
            "scope": dict(self.scope),
            "ignored": dict(self.ignored),
            "ignored_examples": {k: list(v) for k, v in self.ignored_examples.items()},
            **self.source,
        }


class _ListingFailedError(DocpipeError):
    """The bucket listing failed part-way: nothing is judged gone on it."""


def make_object_source(settings: Settings, s3: S3Client) -> ObjectSource:
    """The object source ``RECONCILE_SOURCE`` names, reading the documents bucket with ``s3``."""
    if settings.reconcile_source == "inventory":
        return InventorySource(
            s3, settings.inventory_bucket, settings.inventory_prefix, source_bucket=settings.documents_bucket
        )
    return ListingSource(s3, settings.documents_bucket)


def sequencer_after(order_token: str | None) -> str | None:
    """The sequencer just after the one a registry ``order_token`` holds (None: time-ordered)."""
    if order_token is None:
        return LOWEST_SEQUENCER
    if not order_token.startswith("s:"):
        return None  # an emulator's time-ordered token: a fresh event time sorts after it
    return f"{int(order_token[2:], 16) + 1:0{SEQUENCER_WIDTH}X}"


def _claim_sequencer(record: DocumentRecord) -> str | None:
    """The sequencer of the event a claim holds (a redelivery of that same event)."""
    token = record.order_token or ""
    return token[2:] if token.startswith("s:") else None


class ReconcileService:
    """Find and repair drift between the documents bucket, the registry and the vector index.

    Args:
        s3: the documents bucket's client (its listing paginator; HeadObject for a dated source).
        registry: the document registry (the ``ByKey`` index, claims, the cursor item).
        store: the vector index (None: only ``enqueue_objects``, backfill's half, can run).
        queue: ``IngestQueue``; what reconcile enqueues is processed by IngestFunction.
        bucket: the documents bucket.
        prefix: ``DocumentPrefix``, when no ``scope`` is given (kept for callers that pass it).
        scope: which keys are documents (``Scope.from_settings``); default: all under ``prefix``.
        region: named in the notifications (as S3 names it).
        metrics: Powertools metrics (one count per category per run).
        clock: epoch seconds (the registry's claims and event times).
        source: where the objects come from (default: ListObjectsV2 of ``bucket`` with ``s3``).
        access: the prefix rules (``ACCESS_RULES_PARAMETER``), read afresh at the start of a run.
    """

    def __init__(
        self,
        *,
        s3: S3Client,
        registry: DocumentRegistry,
        store: S3VectorStore | None,
        queue: MessageQueue,
        bucket: str,
        prefix: str = "",
        region: str,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        source: ObjectSource | None = None,
        scope: Scope | None = None,
        access: AccessDocuments | None = None,
    ) -> None:
        if not bucket:
            raise InvalidInputError("reconcile needs the documents bucket")
        self.s3 = s3
        self.registry = registry
        self.store = store
        self.queue = queue
        self.bucket = bucket
        self.scope: Scope = scope or Scope(prefix)
        self.prefix = self.scope.prefix
        self.region = region
        self._metrics = metrics or Metrics()
        self._clock = clock
        self._remaining_ms: Callable[[], int] | None = None
        self.source: ObjectSource = source or ListingSource(s3, bucket)
        self.access = access or AccessDocuments()
        self._rules = PrefixRules()
        self._rules_read_at = 0.0
        # In-sync indexed entries whose access list is still to be compared with the rules.
        self._labels_to_check: list[tuple[DocumentRecord, ObjectInfo]] = []
        # Drift judged on a dated source, waiting for its registry check: (category, entry, event, into).
        self._unverified: list[tuple[str, DocumentRecord, dict[str, Any], list[dict[str, Any]]]] = []

    def run(
        self, request: ReconcileRequest | None = None, *, remaining_ms: Callable[[], int] | None = None
    ) -> dict[str, Any]:
        """One reconcile run (or its dry run): continues the stored pass, returns the report.

        ``remaining_ms`` is the invocation's ``context.get_remaining_time_in_millis``; the run
        stops ``STOP_MARGIN_MS`` before it reaches zero. Without it the run goes to the end.
        """
        if self.store is None:
            raise InvalidInputError("a reconcile run needs the vector index (store)")
        request = request or ReconcileRequest()
        report = ReconcileReport(dry_run=request.dry_run, scope=self.scope.as_dict())
        self._remaining_ms = remaining_ms
        self._read_rules()
        remaining = remaining_ms or (lambda: 10**12)
        cursor = self.registry.get_cursor()
        phase = str(cursor.get("phase") or "objects")
        after = str(cursor.get("after_key") or "") if phase == "objects" else ""
        report.resumed_after = after
        out_of_time = lambda: remaining() < STOP_MARGIN_MS  # noqa: E731
        try:
            if phase == "objects":
                last = self._objects(report, after, out_of_time)
                if report.stopped:
                    self._save({"phase": "objects", "after_key": last}, report)
                    return self._finish(report)
            if self._vectors(report, out_of_time, remaining):
                report.complete = True
                self._save({"phase": "objects", "after_key": "", "last_complete": iso_timestamp()}, report)
            else:
                self._save({"phase": "vectors", "after_key": ""}, report)
        except _ListingFailedError as error:
            report.stopped = (
                "no_inventory" if isinstance(error.__cause__, NoInventoryError) else "listing_failed"
            )
            report.error = str(error)
        return self._finish(report)

    # -- the bucket and the registry ----------------------------------------------------------

    def enqueue_objects(
        self,
        prefix: str | None = None,
        *,
        dry_run: bool = False,
        on_object: Callable[[ReconcileReport], None] | None = None,
    ) -> dict[str, Any]:
        """Reconcile's enqueue half (``docpipe backfill``): objects that are missing or changed.

        The same merge as a run, over ``prefix`` (default: ``DocumentPrefix``), without the
        removal side, the index or the cursor. ``on_object`` sees the report after each object.
        """
        report = ReconcileReport(dry_run=dry_run, scope=self.scope.as_dict())
        self._read_rules()
        self._objects(report, "", lambda: False, prefix=prefix, removals=False, on_object=on_object)
        report.complete = True
        return report.as_dict()

    def count_documents(self, prefix: str | None = None) -> int:
        """How many documents a pass over ``prefix`` lists (one listing; a progress bar's total)."""
        return sum(1 for _ in self._documents(self.prefix if prefix is None else prefix, ""))

    def _objects(
        self,
        report: ReconcileReport,
        after: str,
        out_of_time: Callable[[], bool],
        *,
        prefix: str | None = None,
        removals: bool = True,
        on_object: Callable[[ReconcileReport], None] | None = None,
    ) -> str:
        """Merge the listing with the registry from ``after``; returns the last key handled.

        A run (``removals``) merges the registry entries of the whole bucket, so the entries a
        narrowed ``DocumentPrefix`` left outside the listing are judged by the scope too.
        """
        prefix = self.prefix if prefix is None else prefix
        objects = self._documents(prefix, after, out_of_time)
        entries = self.registry.iter_by_key(self.bucket, "" if removals else prefix, after=after)
        created: list[dict[str, Any]] = []
        removed: list[dict[str, Any]] = []  # sent only once the listing has succeeded
        last = after
        obj = self._next_object(objects, report)
        entry = self._next_entry(entries, report)
        while obj is not None or entry is not None:
            if out_of_time():
                report.stopped = "time"
                break
            if entry is None or (obj is not None and obj.key < entry.key):
                assert obj is not None
                not_in_scope = self.scope.reason(obj.key, obj.size)
                if not_in_scope is not None:
                    report.ignore(not_in_scope, obj.key)
                else:
                    report.note("missing", obj.key)
                    created.append(self._event("created", obj.key, LOWEST_SEQUENCER, obj))
                last, obj = obj.key, self._next_object(objects, report, created)
            elif obj is None or entry.key < obj.key:
                if not entry.key.startswith(prefix):
                    # Outside the listing (a narrowed prefix): the scope alone judges it.
                    judged = self._judge_out_of_scope(entry, None, report) if removals else None
                    into = created
                else:
                    judged = self._judge_absent(entry, report) if removals else None
                    into = removed
                if judged is not None:
                    self._drift(*judged, entry, into, report)
                last, entry = entry.key, self._next_entry(entries, report)
            else:
                if self.scope.includes(obj.key, obj.size):
                    judged = self._judge_present(obj, entry, report)
                else:
                    judged = self._judge_out_of_scope(entry, obj, report)
                if judged is not None:
                    self._drift(*judged, entry, created, report)
                elif entry.state == "indexed" and self.access.rules_parameter:
                    self._labels_to_check.append((entry, obj))
                    if len(self._labels_to_check) >= _VERIFY_GROUP:
                        self._check_labels(report, created)
                last = obj.key
                obj = self._next_object(objects, report, created)
                entry = self._next_entry(entries, report)
            if len(created) >= BATCH_SIZE:
                self._send(created, report)
            if on_object is not None:
                on_object(report)
        report.source = self.source.describe()
        self._verify(report)
        self._check_labels(report, created)
        self._send(created, report)
        self._send(removed, report)
        return last

    def _documents(
        self, prefix: str, after: str, out_of_time: Callable[[], bool] | None = None
    ) -> Iterator[ObjectInfo]:
        for info in self.source.objects(prefix, after, stop=out_of_time):
            if self.scope.reason(info.key, info.size) in NOT_A_DOCUMENT_REASONS:
                continue  # sidecars and folder markers are no documents, whatever the scope
            yield info

    def _next_object(
        self,
        objects: Iterator[ObjectInfo],
        report: ReconcileReport,
        created: list[dict[str, Any]] | None = None,
    ) -> ObjectInfo | None:
        try:
            info = next(objects, None)
        except DocpipeError as error:
            # What was found to (re)create stays valid; what would be judged gone is dropped, and
            # so is drift still waiting for its check against the registry.
            self._unverified.clear()
            self._labels_to_check.clear()
            if created:
                self._send(created, report)
            report.source = self.source.describe()
            if self.source.name == "list":
                raise _ListingFailedError(f"listing s3://{self.bucket} failed part-way: {error}") from error
            raise _ListingFailedError(
                f"the {self.source.name} of s3://{self.bucket} is unusable: {error}"
            ) from error
        if info is not None:
            report.objects_listed += 1
        return info

    @staticmethod
    def _next_entry(entries: Iterator[DocumentRecord], report: ReconcileReport) -> DocumentRecord | None:
        entry = next(entries, None)
        if entry is not None:
            report.registry_entries += 1
        return entry

    def _judge_absent(
        self, entry: DocumentRecord, report: ReconcileReport
    ) -> tuple[str, dict[str, Any]] | None:
        """A registry entry whose object the listing has passed without seeing."""
        if entry.state == "deleted":
            report.in_sync += 1
            return None
        if entry.state == "processing":
            return self._judge_claim(entry, None, report)
        return "gone", self._event("removed", entry.key, sequencer_after(entry.order_token), None)

    def _judge_present(
        self, obj: ObjectInfo, entry: DocumentRecord, report: ReconcileReport
    ) -> tuple[str, dict[str, Any]] | None:
        """An object in scope and its registry entry."""
        if entry.state == "processing":
            return self._judge_claim(entry, obj, report)
        # An entry skipped outside a narrower scope holds no ETag: it is "changed" now.
        if entry.state in ("indexed", "skipped") and (entry.etag or "").strip('"') == obj.etag:
            report.in_sync += 1
            return None
        return "changed", self._event("created", obj.key, sequencer_after(entry.order_token), obj)

    def _read_rules(self) -> None:
        """The prefix rules as they are now (never a cached copy older than this run)."""
        self._rules_read_at = self._clock()
        self._rules = self.access.rules(fresh_after=self._rules_read_at)

    def _check_labels(self, report: ReconcileReport, created: list[dict[str, Any]]) -> None:
        """Enqueue a re-label of the in-sync documents whose stored access list is stale.

        The registry's ``ByKey`` index does not carry the lists, so they are read with one
        BatchGetItem per ``_VERIFY_GROUP`` documents (only with ``AccessControl=enforced``).
        """
        held, self._labels_to_check = self._labels_to_check, []
        if not held:
            return
        records = self.registry.get_many(entry.doc_id for entry, _ in held)
        for entry, obj in held:
            record = records.get(entry.doc_id)
            if record is None or record.state != "indexed" or not self._stale_access(record):
                continue
            report.in_sync -= 1
            report.note("stale_access", entry.key)
            created.append(
                self._event("created", obj.key, sequencer_after(record.order_token), obj, relabel=True)
            )

    def _stale_access(self, record: DocumentRecord) -> bool:
        """Whether an indexed document's stored list differs from what its rule and sidecar give now."""
        sidecar = tuple(record.sidecar_access) if record.sidecar_access is not None else None
        try:
            expected = list(document_access(record.key, sidecar, self._rules))
        except AccessListTooLargeError:
            return True  # ingest decides, and skips it as access_list_too_large
        return expected != (record.access or [])

    def _judge_out_of_scope(
        self, entry: DocumentRecord, obj: ObjectInfo | None, report: ReconcileReport
    ) -> tuple[str, dict[str, Any]] | None:
        """A registry entry whose key is outside the scope (``obj``: its object, when listed).

        Already recorded as outside (skipped without an ETag: IngestFunction never looked at
        its content; the ``ByKey`` index does not hold the reason) or deleted: ignored with the
        reason. Indexed, or skipped for another reason: ``out_of_scope``, enqueued as created so
        IngestFunction deletes its vectors and records it skipped with the reason, unread.
        """
        reason = self.scope.reason(entry.key, obj.size if obj is not None else 1)
        assert reason is not None
        if entry.state == "processing":
            return self._judge_claim(entry, obj, report)
        if entry.state == "deleted" or (entry.state == "skipped" and not entry.etag):
            report.ignore(reason, entry.key)
            return None
        return "out_of_scope", self._event("created", entry.key, sequencer_after(entry.order_token), obj)

    def _judge_claim(
        self, entry: DocumentRecord, obj: ObjectInfo | None, report: ReconcileReport
    ) -> tuple[str, dict[str, Any]] | None:
        if entry.lease_until >= int(self._clock()):
            report.in_flight += 1
            return None
        kind: EventKind = "created" if obj is not None else "removed"
        return "stale_claims", self._event(kind, entry.key, _claim_sequencer(entry), obj)

    def _drift(
        self,
        category: str,
        event: dict[str, Any],
        entry: DocumentRecord,
        into: list[dict[str, Any]],
        report: ReconcileReport,
    ) -> None:
        """Record drift of a registry entry and hold its event (after a check, on a dated source)."""
        if self.source.as_of is None:
            report.note(category, entry.key)
            into.append(event)
            return
        self._unverified.append((category, entry, event, into))
        if len(self._unverified) >= _VERIFY_GROUP:
            self._verify(report)

    def _verify(self, report: ReconcileReport) -> None:
        """Keep only the drift a dated source may decide: entries last written before it was taken,
        and, for a removal, an object that a HeadObject now confirms is gone."""
        held, self._unverified = self._unverified, []
        as_of = self.source.as_of
        if not held or as_of is None:
            return
        records = self.registry.get_many(entry.doc_id for _, entry, _, _ in held)
        for category, entry, event, into in held:
            record = records.get(entry.doc_id)
            written = epoch_seconds(record.updated_at) if record is not None else None
            if (
                written is None
                or written > as_of
                or (_is_removal(event) and self.s3.exists(self.bucket, entry.key))
            ):
                report.newer_than_source += 1
                continue
            report.note(category, entry.key)
            into.append(event)

    def _event(
        self,
        kind: EventKind,
        key: str,
        sequencer: str | None,
        obj: ObjectInfo | None,
        *,
        relabel: bool = False,
    ) -> dict[str, Any]:
        """An S3 notification for ``key``; a re-label is marked as such and dated when the rules
        were read, so ingest reads them again unless it already has since."""
        if relabel:
            return object_notification(
                kind, self.bucket, key, region=self.region, sequencer=sequencer,
                event_time=iso_timestamp(self._rules_read_at), etag=obj.etag if obj else None,
                size=obj.size if obj else None, version_id=obj.version_id if obj else None,
                configuration_id=ACCESS_RELABEL_CONFIGURATION,
            )  # fmt: skip
        return object_notification(
            kind,
            self.bucket,
            key,
            region=self.region,
            sequencer=sequencer,
            event_time=iso_timestamp(self._clock()),
            etag=obj.etag if obj else None,
            size=obj.size if obj else None,
            version_id=obj.version_id if obj else None,
        )

    def _send(self, events: list[dict[str, Any]], report: ReconcileReport) -> None:
        if events and not report.dry_run:
            report.enqueued += self.queue.send_json(events)
        events.clear()

    # -- the index ------------------------------------------------------------------------------

    def _vectors(
        self, report: ReconcileReport, out_of_time: Callable[[], bool], remaining: Callable[[], int]
    ) -> bool:
        """Delete orphan vectors; True when the whole index was listed in this run."""
        assert self.store is not None  # run() checked
        group: list[str] = []
        for record in self.store.iter_vectors(return_data=False, return_metadata=False):
            report.vectors_listed += 1
            group.append(record.key)
            if len(group) >= _VECTOR_GROUP:
                self._orphans(group, report, remaining)
                group = []
                if out_of_time():
                    report.stopped = "time"
                    return False
        if group:
            self._orphans(group, report, remaining)
        return True

    def _orphans(self, keys: list[str], report: ReconcileReport, remaining: Callable[[], int]) -> None:
        by_doc: dict[str, list[tuple[str, int]]] = {}
        for key in keys:
            doc_id, _, number = key.partition("#")
            by_doc.setdefault(doc_id, []).append((key, int(number) if number.isdigit() else -1))
        records = self.registry.get_many(by_doc)
        for doc_id, chunks in by_doc.items():
            record = records.get(doc_id)
            if record is not None and record.state == "processing":
                continue  # being written (or a stale claim, re-enqueued above)
            orphans = _orphan_keys(record, chunks)
            if not orphans:
                continue
            report.note("orphan_vectors", orphans[0], len(orphans))
            if not report.dry_run:
                report.vectors_deleted += self._delete_orphans(doc_id, record, chunks, remaining)

    def _delete_orphans(
        self,
        doc_id: str,
        record: DocumentRecord | None,
        chunks: list[tuple[str, int]],
        remaining: Callable[[], int],
    ) -> int:
        """Delete under a claim, so an ingest of the document that starts meanwhile waits for it."""
        assert self.store is not None
        # The claim ends with this invocation (or after the registry's default lease without one).
        deadline = self.registry.deadline_after(remaining()) if self._remaining_ms is not None else None
        if record is None:
            where = self._vector_source(chunks[0][0])
            if where is None:  # not docpipe's: no document can own it
                return self.store.delete(key for key, _ in chunks)
            event = ObjectEvent("removed", where[0], where[1], sequencer=_ORPHAN_CLAIM_SEQUENCER)
            if event.doc_id != doc_id:
                return self.store.delete(key for key, _ in chunks)
            decision = self.registry.begin(event, deadline=deadline)
            if not decision.apply:
                return 0
            orphans = _orphan_keys(decision.previous, chunks)
            deleted = self.store.delete(orphans)
            self.registry.mark_deleted(doc_id, decision.token)
            return deleted
        if not record.order_token:
            return 0
        try:
            decision = self.registry.reclaim(doc_id, record.order_token, deadline=deadline)
        except BusyError:
            return 0
        if not decision.apply or decision.previous is None:
            return 0
        orphans = _orphan_keys(decision.previous, chunks)  # as the registry is now, under the claim
        deleted = self.store.delete(orphans)
        self.registry.mark_unchanged(doc_id, decision.token, decision.previous)
        return deleted

    def _vector_source(self, key: str) -> tuple[str, str] | None:
        assert self.store is not None
        found = self.store.get([key], return_data=False, return_metadata=True)
        metadata = found[0].metadata if found else {}
        bucket, object_key = metadata.get("bucket"), metadata.get("key")
        if isinstance(bucket, str) and isinstance(object_key, str):
            return bucket, object_key
        return None

    # -- the end of a run ------------------------------------------------------------------------

    def _save(self, cursor: dict[str, Any], report: ReconcileReport) -> None:
        if not report.dry_run:
            self.registry.put_cursor(cursor)

    def _finish(self, report: ReconcileReport) -> dict[str, Any]:
        for category, count in report.counts.items():
            name = "Reconcile" + "".join(part.title() for part in category.split("_"))
            self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
        self._metrics.add_metric(name="ReconcileEnqueued", unit=MetricUnit.Count, value=report.enqueued)
        result = report.as_dict()
        logger.info("reconcile report", extra={"report": result})
        return result


def _orphan_keys(record: DocumentRecord | None, chunks: list[tuple[str, int]]) -> list[str]:
    """Vector keys no live registry entry accounts for: beyond an indexed document's chunks, or
    any of a document that is deleted, skipped or unknown."""
    if record is not None and record.state == "processing":
        return []
    live = record.vector_slots if record is not None and record.state == "indexed" else 0
    return [key for key, number in chunks if not 0 <= number < live]


def _is_removal(event: dict[str, Any]) -> bool:
    return str(event["Records"][0]["eventName"]).startswith("ObjectRemoved")
