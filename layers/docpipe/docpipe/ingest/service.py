"""The ingest service: one S3 object event in, one recorded outcome out (indexed, skipped or deleted).

Failure policy: a ``PermanentError`` (unsupported, encrypted, corrupt, too large, empty, metadata
too large) is recorded as a skip with its reason and never retried. Everything else (throttling,
timeouts, and unexpected exceptions) propagates, so the SQS record fails, is retried and finally
dead-letters: no document is silently lost.

Sidecars: ``<key>.metadata.json`` (Bedrock Knowledge Bases format, ``{"metadataAttributes":
{...}}``) is not a document. Its attributes are attached to every chunk of ``<key>``, and an
upload or delete of the sidecar re-indexes ``<key>`` (when it is indexed or skipped), reading
whatever sidecar exists at that moment, so out-of-order sidecar events still converge.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, replace
from typing import IO, TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from docpipe.access import ACCESS_KEY, AccessDocuments, PrefixRules, document_access
from docpipe.config import Settings
from docpipe.embeddings.base import Embedder
from docpipe.events import ACCESS_RELABEL_CONFIGURATION, ObjectEvent, parse_event, parse_sqs_record
from docpipe.exceptions import (
    AccessListTooLargeError,
    DocumentTooLargeError,
    EncryptedDocumentError,
    MetadataTooLargeError,
    NotFoundError,
    OutOfScopeError,
    PermanentError,
)
from docpipe.ids import SIDECAR_SUFFIX, vector_key
from docpipe.ids import doc_id as make_doc_id
from docpipe.ingest.sidecar import Sidecar, parse_sidecar
from docpipe.scope import FOLDER, SIDECAR, Scope
from docpipe.timestamps import epoch_seconds, iso_timestamp

if TYPE_CHECKING:
    # Imported where used: both modules import boto3, which a cold start pays for only when the
    # first AWS call is made.
    from tempfile import SpooledTemporaryFile

    from docpipe.ocr.base import OcrEngine
    from docpipe.parsers import OpenedDocument
    from docpipe.registry import Decision, DocumentRecord, DocumentRegistry
    from docpipe.s3 import ObjectInfo, S3Client
    from docpipe.secrets import SecretsClient
    from docpipe.vectorstore import S3VectorStore

MAX_SIDECAR_BYTES = 64 * 1024
T = TypeVar("T")
_HASH_BLOCK = 1024 * 1024
# Chunks embedded and written together while the extraction goes on: enough to keep Bedrock's
# thread pool busy and PutVectors calls few, small enough that little waits for the last page.
GROUP_CHUNKS = 32

logger = Logger(child=True)


@dataclass(frozen=True)
class Outcome:
    """What happened to one event's document.

    ``state``: ``indexed``, ``skipped`` (``reason`` = a skip code, ``outside_prefix`` and
    ``outside_suffix`` for a key outside the scope), ``deleted``, ``unchanged`` (identical content,
    nothing re-embedded) or ``ignored`` (``reason`` = ``stale``, ``duplicate``, ``other_bucket``,
    ``sidecar``, ``folder``; ``outside_prefix`` or ``outside_suffix`` for the sidecar of a key
    outside the scope).
    """

    doc_id: str
    bucket: str
    key: str
    state: str
    reason: str | None = None
    chunk_count: int = 0
    pages: int = 0
    seconds: float = 0.0
    ocr_pages: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class IngestService:
    """Index, re-index, skip or delete documents as their S3 events arrive.

    Args:
        s3: ``docpipe.s3.S3Client``.
        registry: the document registry (ordering, idempotency, outcomes).
        store: the vector index.
        embedder: produces vectors of the index's dimension.
        settings: chunk size/overlap, size cap, scope (prefix, suffix), PDF engine, password secret.
        secrets: ``docpipe.secrets.SecretsClient``; needed only when PDF_PASSWORDS_SECRET_ID is set.
        ocr: reads scanned pages and image files (``docpipe.ocr.make_ocr_engine``); None
            (OCR_PROVIDER=none): documents that need it are skipped as ``needs_ocr``.
        metrics, tracer: Powertools objects (the handler passes its own).
        access: the prefix rules (``ACCESS_RULES_PARAMETER``; none when it is not set).
    """

    def __init__(
        self,
        *,
        s3: S3Client,
        registry: DocumentRegistry,
        store: S3VectorStore,
        embedder: Embedder,
        settings: Settings,
        secrets: SecretsClient | None = None,
        ocr: OcrEngine | None = None,
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
        clock: Callable[[], float] = time.perf_counter,
        access: AccessDocuments | None = None,
    ) -> None:
        self.s3 = s3
        self.access = access or AccessDocuments(
            rules_parameter=settings.access_rules_parameter, max_age=settings.access_cache_seconds
        )
        self.registry = registry
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.scope = Scope.from_settings(settings)
        self.secrets = secrets
        self.ocr = ocr
        self._metrics = metrics or Metrics()
        self._tracer = tracer
        self._clock = clock
        self._index_checked = False
        # The records of a batch may run on several threads (``batch``): what they share is
        # guarded here. Powertools' Metrics.add_metric is a read-modify-write of one dict.
        self._lock = threading.Lock()
        self._io: ThreadPoolExecutor | None = None

    # -- entry points -------------------------------------------------------------------------

    def process_sqs_record(self, record: Any, *, remaining_ms: int | None = None) -> list[Outcome]:
        """Every event of one SQS message (usually one); raises to fail the message.

        ``remaining_ms``: the invocation's remaining time; the registry's claims end with it.
        """
        message_id = record.get("messageId", "") if isinstance(record, Mapping) else record.message_id
        deadline = self._deadline(remaining_ms)
        return [self._process_logged(event, message_id, deadline) for event in parse_sqs_record(record)]

    def _deadline(self, remaining_ms: int | None) -> float | None:
        return None if remaining_ms is None else self.registry.deadline_after(remaining_ms)

    def process_event(self, event: Mapping[str, Any], *, remaining_ms: int | None = None) -> dict[str, Any]:
        """Process a raw S3 notification or EventBridge event (direct invocation).

        Every record is processed even when one fails; afterwards the first failure is raised,
        so an asynchronous invocation is retried (records already done are no-ops then).
        """
        outcomes: list[Outcome] = []
        failures: list[BaseException] = []
        deadline = self._deadline(remaining_ms)
        for object_event in parse_event(event):
            try:
                outcomes.append(self._process_logged(object_event, "", deadline))
            except Exception as error:  # noqa: BLE001 - re-raised below after the other records
                logger.exception("record failed", extra={"s3_uri": object_event.uri})
                failures.append(error)
        if failures:
            raise failures[0]
        return {"processed": len(outcomes), "outcomes": [o.as_dict() for o in outcomes]}

    def _process_logged(self, event: ObjectEvent, message_id: str, deadline: float | None) -> Outcome:
        correlation = f"{event.bucket}/{event.key}" + (f"#{message_id}" if message_id else "")
        # This thread's key only: records of one batch may be processed side by side.
        logger.thread_safe_append_keys(correlation_id=correlation)
        try:
            outcome = self.process(event, deadline=deadline)
            logger.info(
                "document outcome",
                extra={
                    "outcome": outcome.as_dict(),
                    "event_name": event.event_name,
                    "message_id": message_id,
                },
            )
        finally:
            logger.thread_safe_remove_keys(["correlation_id"])
        return outcome

    def process(self, event: ObjectEvent, *, deadline: float | None = None) -> Outcome:
        """Apply one object event; see the module docstring for the failure policy.

        ``deadline``: when the invocation ends at the latest (epoch seconds); claims expire with it.
        """
        started = self._clock()
        document_id = event.doc_id
        settings = self.settings
        if settings.documents_bucket and event.bucket != settings.documents_bucket:
            return self._ignored(event, "other_bucket")
        # The scope decides, not the envelope: S3's notification filters do not cover direct
        # invocations, EventBridge rules or a scope changed since the events were sent.
        not_in_scope = self.scope.reason(event.key, event.size)
        if not_in_scope == FOLDER:
            return self._ignored(event, FOLDER)
        if not_in_scope == SIDECAR:
            return self._sidecar_changed(event, started, deadline)
        self._check_index()
        if event.is_version_delete and self.s3.exists(event.bucket, event.key):
            # A noncurrent version or a delete marker went (or the current version, and an older one
            # is current now): the document is what the bucket holds now, not gone. Indexed as a
            # change at the delete's place in the order; unchanged content costs only the GET.
            event = replace(event, kind="created", version_id=None, etag=None, size=None)
        if not_in_scope is not None and event.kind == "created":
            # Recorded without an ETag: its content is never judged, so reconcile knows the entry
            # as outside the scope, and as changed once a wider scope includes the key.
            event = replace(event, etag=None)
        # The download needs no claim, so it runs beside it (one round trip off the critical path);
        # a stale or duplicate event wastes only that GET.
        cap = settings.max_document_bytes
        download = None
        if not_in_scope is None and event.kind == "created" and (event.size is None or event.size <= cap):
            download = self._submit(
                lambda: self.s3.download_with_info(event.bucket, event.key, max_bytes=cap)
            )
        try:
            decision = self.registry.begin(event, deadline=deadline)
        except BaseException:
            _abandon(download)
            raise
        if not decision.apply:
            _abandon(download)
            return self._ignored(event, decision.verdict)
        try:
            if event.kind == "removed":
                return self._remove(event, decision, started)
            if not_in_scope is not None:
                # Skipped with the reason (its vectors from a wider scope deleted), never read.
                raise OutOfScopeError(
                    f"{event.uri} is outside the scope {self.scope.as_dict()}", reason=not_in_scope
                )
            return self._index(
                event.bucket, event.key, decision, started, declared_size=event.size, download=download,
                rules_after=_rules_read_after(event),
            )  # fmt: skip
        except PermanentError as error:
            return self._skip(event.bucket, event.key, document_id, decision, error, started)
        except BaseException:
            self.registry.release(document_id, decision.token)
            raise

    # -- created --------------------------------------------------------------------------------

    def _index(
        self,
        bucket: str,
        key: str,
        decision: Decision,
        started: float,
        *,
        declared_size: int | None,
        download: Future[tuple[ObjectInfo, SpooledTemporaryFile[bytes]]] | None = None,
        rules_after: float | None = None,
    ) -> Outcome:
        document_id = make_doc_id(bucket, key)
        previous = decision.previous
        cap = self.settings.max_document_bytes
        if declared_size is not None and declared_size > cap:
            raise DocumentTooLargeError(f"s3://{bucket}/{key} is {declared_size} bytes; the limit is {cap}")
        # The sidecar lookup (usually a 404) runs beside the download, but only once the claim is
        # held: a sidecar event that finds the document claimed waits (BusyError) and re-reads it
        # afterwards, so a lookup after the claim can never miss a change.
        sidecar_read = self._submit(lambda: self._read_sidecar(bucket, key))
        if download is None:
            download = self._submit(lambda: self.s3.download_with_info(bucket, key, max_bytes=cap))
        try:
            with self._segment("download"):
                info, body = download.result()
        except NotFoundError:
            _abandon(sidecar_read)
            # Deleted (or overwritten by a delete marker) before we got here; its removal event is
            # newer and follows. The index must not keep the old content meanwhile.
            return self._remove_vectors(bucket, key, decision, started, reason="object_gone")
        except BaseException:
            _abandon(sidecar_read)
            raise
        with body:
            content_hash = _hash_file(body)
            with self._segment("download"):
                sidecar = sidecar_read.result()
            sidecar_hash = hashlib.sha256(sidecar).hexdigest() if sidecar is not None else None
            parsed = parse_sidecar(sidecar, key) if sidecar is not None else Sidecar()
            attributes = parsed.attributes
            attributes_hash = _attributes_hash(attributes)
            access = document_access(key, parsed.access, self._rules(rules_after))
            if (
                previous is not None
                and previous.state == "indexed"
                and previous.content_hash == content_hash
                and (
                    previous.sidecar_hash == sidecar_hash
                    or (previous.attributes_hash is not None and previous.attributes_hash == attributes_hash)
                )
            ):
                # Same content, same attributes: nothing to embed. The chunks get the access list
                # (and the object version) that is current, GetVectors + PutVectors of the same data.
                version = _version_of(info)
                with self._segment("write"):
                    self._restamp(document_id, previous.chunk_count, version, access)
                if list(access) == (previous.access or []) and previous.sidecar_hash == sidecar_hash:
                    self.registry.mark_unchanged(document_id, decision.token, previous)
                    self._count("DocumentsUnchanged")
                    reason = "identical_content"
                else:
                    self.registry.mark_indexed(
                        document_id, decision.token, chunk_count=previous.chunk_count,
                        content_hash=content_hash, sidecar_hash=sidecar_hash,
                        content_type=previous.content_type or "", pages=previous.pages,
                        seconds=self._elapsed(started), ocr_pages=previous.ocr_pages, access=access,
                        sidecar_access=parsed.access, attributes_hash=attributes_hash,
                    )  # fmt: skip
                    self._count("DocumentsRelabelled")
                    reason = "relabelled"
                return Outcome(
                    document_id, bucket, key, "unchanged", reason,
                    previous.chunk_count, previous.pages, self._elapsed(started),
                )  # fmt: skip
            with self._segment("parse"):
                document = self._open(body, key)
        with document:
            base_metadata: dict[str, Any] = {
                "doc_id": document_id,
                "bucket": bucket,
                "key": key,
                "version": _version_of(info),
                "content_hash": content_hash,
                "content_type": document.content_type,
                "ingested_at": iso_timestamp(timespec="seconds"),
                "source_uri": f"s3://{bucket}/{key}",
                ACCESS_KEY: list(access),
            }
            for name, value in attributes.items():
                if name in base_metadata:
                    raise MetadataTooLargeError(
                        f"sidecar attribute {name!r} clashes with a docpipe metadata key"
                    )
                base_metadata[name] = value
            chunk_count = self._write_chunks(document, base_metadata, decision)
        seconds = self._elapsed(started)
        if not self.registry.mark_indexed(
            document_id,
            decision.token,
            chunk_count=chunk_count,
            content_hash=content_hash,
            sidecar_hash=sidecar_hash,
            content_type=document.content_type,
            pages=document.page_count,
            seconds=seconds,
            ocr_pages=document.ocr_pages,
            access=access,
            sidecar_access=parsed.access,
            attributes_hash=attributes_hash,
        ):
            logger.warning("a newer event took over this document while it was indexed", extra={"key": key})
        self._count("DocumentsIndexed")
        self._count("ChunksWritten", chunk_count)
        self._count("IngestSeconds", seconds, MetricUnit.Seconds)
        if document.ocr_pages:
            self._count("PagesOcrd", document.ocr_pages)
        return Outcome(
            document_id, bucket, key, "indexed", None, chunk_count, document.page_count, seconds,
            document.ocr_pages,
        )  # fmt: skip

    def _write_chunks(
        self, document: OpenedDocument, base_metadata: dict[str, Any], decision: Decision
    ) -> int:
        """Chunk, embed and write the document group by group while its pages are extracted.

        Chunks are taken as soon as ``ChunkStream`` says they are final, about ``GROUP_CHUNKS``
        at a time, so embedding and writing overlap the PDF extraction (a background thread).
        Before a write reaches a chunk key the registry does not yet cover (the claim covers the
        first ``CLAIM_SLOTS``), ``max_chunk_count`` is raised (to a bound extrapolated from the
        pages read so far): whatever happens next, a later event deletes every key this attempt
        wrote. Keys past the new count are deleted at the end; on a permanent error this
        attempt's keys go before the skip is recorded.

        Returns:
            The number of chunks written.
        """
        from docpipe.chunking import ChunkStream, embedding_text
        from docpipe.parsers import no_text_error
        from docpipe.registry import CLAIM_SLOTS
        from docpipe.vectorstore import TITLE_KEY, VectorRecord, document_title

        document_id = base_metadata["doc_id"]
        non_filterable = self._non_filterable()
        size = self.settings.chunk_size
        stream = ChunkStream(
            content_type=document.content_type,
            chunk_size=size,
            chunk_overlap=self.settings.chunk_overlap,
            base_metadata=base_metadata,
            # Full-text searchable beside the text (TEXT_SEARCH_KEYS); a sidecar's or the parser's
            # own title (an EPUB's) wins over the file name.
            default_metadata={TITLE_KEY: document_title(str(base_metadata["key"]))},
        )
        previous_slots = _vector_slots(decision.previous)
        # Chunk keys a later event already deletes: the previous version's, and the claim's own.
        covered = max(previous_slots, CLAIM_SLOTS)
        written = pages_read = 0
        pages = document.pages()
        try:
            finished = False
            while not finished:
                with self._segment("parse"):  # waiting for the extraction thread's pages
                    while stream.ready < GROUP_CHUNKS * size:
                        page = next(pages, None)
                        if page is None:
                            finished = True
                            break
                        stream.add(page)
                        pages_read += 1
                with self._segment("chunk"):
                    chunks = stream.take(final=finished)
                    for chunk in chunks:
                        _check_limits(chunk.metadata, non_filterable)
                if not chunks:
                    continue
                with self._segment("embed"):
                    with_section = self.settings.embed_section
                    vectors = self.embedder.embed_documents(
                        [embedding_text(chunk, with_section=with_section) for chunk in chunks]
                    )
                if len(vectors) != len(chunks):
                    raise RuntimeError(f"embedder returned {len(vectors)} vectors for {len(chunks)} chunks")
                with self._segment("write"):
                    needed = written + len(chunks)
                    if needed > covered:
                        covered = _chunk_bound(needed, pages_read, document.page_count)
                        self.registry.note_chunks(document_id, decision.token, covered)
                    self.store.put(
                        VectorRecord(vector_key(document_id, c.chunk_no), v, c.metadata)
                        for c, v in zip(chunks, vectors, strict=True)
                    )
                written = needed
            if not written:
                raise no_text_error(base_metadata["key"], document)
            if previous_slots > written:
                with self._segment("write"):
                    self.store.delete(vector_key(document_id, n) for n in range(written, previous_slots))
        except PermanentError:
            # _skip deletes the previous version's keys; the keys beyond them are this attempt's.
            if written > previous_slots:
                self.store.delete(vector_key(document_id, n) for n in range(previous_slots, written))
            raise
        return written

    def _restamp(self, document_id: str, chunk_count: int, version: str, access: tuple[str, ...]) -> None:
        """Point an unchanged document's vectors at the current object version and access list.

        Identical bytes need no new embeddings, but the version the vectors name becomes
        noncurrent (and the bucket's lifecycle expires noncurrent versions): a citation by
        version must name one that exists. A changed access list (the sidecar's, or a prefix
        rule's) re-labels the chunks. S3 Vectors has no metadata-only update: PutVectors of the
        same data with the new metadata overwrites each vector; no parsing or embedding.

        Raises:
            AccessListTooLargeError: the new list does not fit a chunk's filterable metadata.
        """
        from docpipe.vectorstore import VectorRecord

        labelled = list(access)
        stored = self.store.get(vector_key(document_id, n) for n in range(chunk_count))
        stale = [
            VectorRecord(r.key, r.data, {**r.metadata, "version": version, ACCESS_KEY: labelled})
            for r in stored
            if r.metadata.get("version") != version or r.metadata.get(ACCESS_KEY) != labelled
        ]
        if stale:
            non_filterable = self._non_filterable()
            for record in stale:
                _check_limits(record.metadata, non_filterable)
            self.store.put(stale)

    def _non_filterable(self) -> tuple[str, ...]:
        """What the index really declares non-filterable (GetIndex, cached by the store); an
        emulator that does not report it is assumed to match the template."""
        from docpipe.vectorstore import NON_FILTERABLE_METADATA_KEYS

        index_info = self.store.describe()
        if index_info.reports_metadata_configuration:
            return index_info.non_filterable_keys
        return NON_FILTERABLE_METADATA_KEYS

    def _rules(self, read_after: float | None) -> PrefixRules:
        """The prefix rules; read afresh unless read after ``read_after`` (a relabel event's time)."""
        return self.access.rules(fresh_after=read_after)

    def _open(self, body: IO[bytes], key: str) -> OpenedDocument:
        from docpipe.parsers import open_document

        settings = self.settings
        options: dict[str, Any] = {
            "key": key,
            "pdf_engine": settings.pdf_engine,
            "max_inflated_bytes": settings.max_inflated_bytes,
            "max_document_bytes": settings.max_document_bytes,
            "ocr": self.ocr,
            "ocr_max_pages": settings.ocr_max_pages,
        }
        try:
            return open_document(body, **options)
        except EncryptedDocumentError:
            password = self._password_for(key)
            if password is None:
                raise
        body.seek(0)
        try:
            return open_document(body, password=password, **options)
        except EncryptedDocumentError:
            # The cached password may predate a rotation: refetch once, retry once if it changed.
            # A second rejection (or an unchanged password) is the `encrypted` skip.
            fresh = self._password_for(key, rejected=True)
            if fresh is None or fresh == password:
                raise
        body.seek(0)
        return open_document(body, password=fresh, **options)

    def _password_for(self, key: str, *, rejected: bool = False) -> str | None:
        """The configured password for ``key``; ``rejected``: the cached one failed, ask Secrets Manager."""
        secret_id = self.settings.pdf_passwords_secret_id
        if not secret_id or self.secrets is None:
            return None
        if rejected:
            self.secrets.on_auth_failure(secret_id)
        password: str | None = self.secrets.pdf_password_for(key, secret_id)
        return password

    def _read_sidecar(self, bucket: str, key: str) -> bytes | None:
        try:
            data: bytes = self.s3.read_bytes(bucket, key + SIDECAR_SUFFIX, max_bytes=MAX_SIDECAR_BYTES)
        except NotFoundError:
            return None
        except DocumentTooLargeError as error:
            raise MetadataTooLargeError(f"{key}{SIDECAR_SUFFIX} is over {MAX_SIDECAR_BYTES} bytes") from error
        return data

    def _sidecar_changed(self, event: ObjectEvent, started: float, deadline: float | None) -> Outcome:
        """Re-index the sidecar's document (if it has been processed) with the sidecar as it is now."""
        not_in_scope = self.scope.sidecar_reason(event.key)
        if not_in_scope is not None:
            return self._ignored(event, not_in_scope)  # the sidecar of no document in scope
        document_key = event.key.removesuffix(SIDECAR_SUFFIX)
        document_id = make_doc_id(event.bucket, document_key)
        current = self.registry.get(document_id)
        if current is None or current.state not in ("indexed", "skipped") or not current.order_token:
            return self._ignored(event, "sidecar")
        self._check_index()
        decision = self.registry.reclaim(document_id, current.order_token, deadline=deadline)
        if not decision.apply:
            return self._ignored(event, "sidecar")
        try:
            return self._index(event.bucket, document_key, decision, started, declared_size=None)
        except PermanentError as error:
            return self._skip(event.bucket, document_key, document_id, decision, error, started)
        except BaseException:
            self.registry.release(document_id, decision.token)
            raise

    # -- removed and skipped --------------------------------------------------------------------

    def _remove(self, event: ObjectEvent, decision: Decision, started: float) -> Outcome:
        return self._remove_vectors(event.bucket, event.key, decision, started, reason=None)

    def _remove_vectors(
        self, bucket: str, key: str, decision: Decision, started: float, *, reason: str | None
    ) -> Outcome:
        document_id = make_doc_id(bucket, key)
        with self._segment("write"):
            slots = _vector_slots(decision.previous)
            if slots:
                self.store.delete(vector_key(document_id, n) for n in range(slots))
        seconds = self._elapsed(started)
        self.registry.mark_deleted(document_id, decision.token, seconds=seconds)
        self._count("DocumentsDeleted")
        return Outcome(document_id, bucket, key, "deleted", reason, 0, 0, seconds)

    def _skip(
        self,
        bucket: str,
        key: str,
        document_id: str,
        decision: Decision,
        error: PermanentError,
        started: float,
    ) -> Outcome:
        # The object's current content cannot be indexed: vectors of an older version must go too.
        slots = _vector_slots(decision.previous)
        if slots:
            self.store.delete(vector_key(document_id, n) for n in range(slots))
        seconds = self._elapsed(started)
        self.registry.mark_skipped(document_id, decision.token, error.reason, seconds=seconds)
        logger.warning("document skipped", extra={"reason": error.reason, "detail": str(error)})
        with single_metric(
            name="DocumentsSkipped",
            unit=MetricUnit.Count,
            value=1,
            namespace=self._metrics.namespace,
        ) as metric:
            metric.add_dimension(name="reason", value=error.reason)
        return Outcome(document_id, bucket, key, "skipped", error.reason, 0, 0, seconds)

    def _ignored(self, event: ObjectEvent, reason: str) -> Outcome:
        self._count("EventsIgnored")
        return Outcome(event.doc_id, event.bucket, event.key, "ignored", reason)

    # -- plumbing -------------------------------------------------------------------------------

    def _check_index(self) -> None:
        # Once per container: a dimension mismatch would otherwise fail every PutVectors batch
        # with a vague validation error.
        if self._index_checked:
            return
        with self._lock:
            if self._index_checked:
                return
            self.store.check_dimension(self.embedder.dimension, what=f"{self.embedder.provider} embeddings")
            # Chunk text in a filterable key would break the 2 KB filterable limit on every chunk.
            info = self.store.check_non_filterable(("text",))
            if not info.reports_metadata_configuration:
                logger.warning(
                    "the vector index does not report its non-filterable keys; assuming the template's",
                    extra={"index": self.store.uri},
                )
            self._index_checked = True

    def _count(self, name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
        with self._lock:
            self._metrics.add_metric(name=name, unit=unit, value=value)

    def _submit(self, lookup: Callable[[], T]) -> Future[T]:
        """Run an S3 lookup on the service's I/O threads, beside the calling thread's own call."""
        if self._io is None:
            with self._lock:
                if self._io is None:
                    # Each record in flight has at most two lookups running (download and sidecar).
                    workers = 2 * self.settings.ingest_record_concurrency
                    self._io = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-io")
        return self._io.submit(lookup)

    def _segment(self, name: str) -> AbstractContextManager[Any]:
        if self._tracer is None:
            return _nullcontext()
        return self._tracer.provider.in_subsegment(f"## {name}")

    def _elapsed(self, started: float) -> float:
        return round(self._clock() - started, 3)


@contextmanager
def _nullcontext() -> Iterator[None]:
    yield None


def _abandon(lookup: Future[Any] | None) -> None:
    """Wait for a lookup whose answer is no longer needed: close what it opened, drop its error."""
    if lookup is None:
        return
    try:
        result = lookup.result()
    except Exception:  # noqa: BLE001 - the event's outcome does not depend on this lookup
        return
    if isinstance(result, tuple):  # a download: (info, body)
        result[1].close()


def _vector_slots(record: DocumentRecord | None) -> int:
    """How many chunk keys may hold vectors for a document (deletes must cover all of them)."""
    return 0 if record is None else record.vector_slots


def _chunk_bound(needed: int, pages_read: int, page_count: int) -> int:
    """How many chunk keys to let the registry cover: ``needed``, or a quarter more than the
    chunks per page so far predict for the whole document (one DynamoDB update, not one a group)."""
    if pages_read >= page_count:
        return needed
    return max(needed, math.ceil(needed * page_count / max(pages_read, 1) * 1.25))


def _rules_read_after(event: ObjectEvent) -> float | None:
    """For reconcile's access-relabel events, the time they were decided: rules read before it
    are read again, so a narrowed rule takes effect with the relabel it caused."""
    if event.configuration_id != ACCESS_RELABEL_CONFIGURATION:
        return None
    return epoch_seconds(event.event_time)


def _attributes_hash(attributes: Mapping[str, Any]) -> str:
    """A hash of a sidecar's attributes (not its access list, not its spelling): when it is the
    same, a changed sidecar needs a re-label at most, never a re-embedding."""
    import orjson

    return hashlib.sha256(orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _check_limits(metadata: Mapping[str, Any], non_filterable: Collection[str]) -> None:
    """S3 Vectors' per-vector limits, blaming the access list when it is what does not fit."""
    from docpipe.chunking import check_metadata_limits

    try:
        check_metadata_limits(metadata, non_filterable)
    except MetadataTooLargeError as error:
        if ACCESS_KEY in metadata:
            without = {k: v for k, v in metadata.items() if k != ACCESS_KEY}
            try:
                check_metadata_limits(without, non_filterable)
            except MetadataTooLargeError:
                raise error from None
            raise AccessListTooLargeError(
                f"the access list ({len(metadata[ACCESS_KEY])} principals) does not fit beside the "
                f"chunk's other metadata: {error}"
            ) from None
        raise


def _version_of(info: Any) -> str:
    """The S3 version id, or the ETag where the bucket is not versioned."""
    return str(info.version_id or (info.etag or "").strip('"'))


def _hash_file(body: IO[bytes]) -> str:
    digest = hashlib.sha256()
    body.seek(0)
    while block := body.read(_HASH_BLOCK):
        digest.update(block)
    body.seek(0)
    return digest.hexdigest()
