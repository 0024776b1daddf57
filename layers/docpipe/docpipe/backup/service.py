"""``BackupService``: back up, list, verify, restore and prune archives of one index and its registry.

S3 Vectors has no snapshot or export API, so a backup exports the index with ListVectors
(parallel segments for large indexes) and the registry with a DynamoDB scan, and streams both
into one ``tar.gz`` that the S3 client's transfer manager uploads as it is written. Memory stays
bounded whatever the index size: vectors travel in shards of at most ``shard_max_bytes``, a
bounded queue sits between the segment readers and the archive writer, and at most
``MAX_PARTS_IN_FLIGHT`` upload parts are in flight (plus the one being filled).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from docpipe.backup.archive import (
    ARCHIVE_SUFFIX,
    CONTENT_TYPE,
    INDEX_NAME,
    INDEX_NAME_RULE,
    META,
    SHARD_MAX_BYTES,
    STATUS_COMPLETE,
    STATUS_WRITING,
    ArchiveWriter,
    archive_key,
    index_prefix,
    is_archive_key,
    iso,
    registry_chunks,
    vector_shards,
)
from docpipe.backup.reader import ArchiveReader, ArchiveRef
from docpipe.backup.reports import (
    BackupInfo,
    BackupResult,
    PruneReport,
    RestoreReport,
    VerifyReport,
    backup_info,
    compare_with_live,
)
from docpipe.backup.request import RESTORE_MODES, BackupRequest
from docpipe.config import Settings
from docpipe.exceptions import (
    ArchiveRejectedError,
    BackupError,
    IndexMismatchError,
    InvalidInputError,
    NotFoundError,
)
from docpipe.registry import DocumentRegistry
from docpipe.s3 import MiB, S3Client
from docpipe.s3_names import s3_uri
from docpipe.vectorstore import MAX_SEGMENTS, S3VectorStore, VectorRecord

logger = logging.getLogger(__name__)

# S3 parts must be >= 5 MiB (except the last); 8 MiB parts allow archives up to 80 GB (10,000 parts).
PART_SIZE = 8 * MiB
MAX_PARTS_IN_FLIGHT = 2
# Two segments overlap one page's network wait with the other's parsing; on a 1-2 vCPU Lambda more
# segments mostly add memory (measured: benchmarks/bench_backup.py). Up to 16 via ``segment_count``.
DEFAULT_SEGMENT_COUNT = 2
# An index of at most one keys-only ListVectors page of this size is read as one segment.
PROBE_PAGE_SIZE = 1000
# One PutVectors in flight while the next batch is decoded: a second one bought nothing but memory
# (each in-flight batch of 500 x 1,024 floats is ~50 MB as Python lists plus its JSON request).
PUTS_IN_FLIGHT = 1
# Objects without the "complete" marker and multipart uploads older than this are debris of
# failed backups; prune removes them (a running backup never takes this long).
INCOMPLETE_GRACE = dt.timedelta(days=1)


class BackupService:
    """Back up, list, verify, restore and prune archives of one vector index and its registry.

    Args:
        settings: names of the stack, buckets, index and table; retention and restore limits; the
            embedding provider and model recorded in each manifest.
        s3: S3 client for the backups bucket.
        store: the configured index (``settings.vector_index``); stores of other indexes in the
            same vector bucket (restore targets) are derived from it.
        registry: the document registry (DynamoDB).
        segment_count: ListVectors segments read in parallel for indexes of more than one
            ListVectors page (1-16).
        shard_max_bytes: bytes of float32 (and of JSON lines) per archive shard.
        part_size: bytes per upload part (at least 5 MiB).
        now: clock, injectable for retention tests.

    Raises:
        ConfigError: a required setting is missing.
        InvalidInputError: ``segment_count`` out of range, or ``store`` is not the configured index.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        s3: S3Client,
        store: S3VectorStore,
        registry: DocumentRegistry,
        segment_count: int = DEFAULT_SEGMENT_COUNT,
        shard_max_bytes: int = SHARD_MAX_BYTES,
        part_size: int = PART_SIZE,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        settings.require("backups_bucket", "vector_bucket", "vector_index")
        if not 1 <= segment_count <= MAX_SEGMENTS:
            raise InvalidInputError(f"segment_count must be 1..{MAX_SEGMENTS} (got {segment_count})")
        if (store.vector_bucket, store.index_name) != (settings.vector_bucket, settings.vector_index):
            raise InvalidInputError(
                f"store {store.uri} is not the configured index "
                f"{settings.vector_bucket}/{settings.vector_index}"
            )
        self._settings = settings
        self._s3 = s3
        self._store = store
        self._registry = registry
        self._segment_count = segment_count
        self._shard_max_bytes = shard_max_bytes
        self._part_size = part_size
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._bucket = settings.backups_bucket
        self._reader = ArchiveReader(s3, self._bucket, max_restore_bytes=settings.backup_max_restore_bytes)

    @property
    def segment_count(self) -> int:
        """ListVectors segments a backup reads in parallel once the index exceeds one page."""
        return self._segment_count

    def store(self, index_name: str | None = None) -> S3VectorStore:
        """The vector store of ``index_name`` (default: the configured index) in the vector bucket."""
        return self._store.for_index(index_name or self._settings.vector_index)

    def run(self, request: BackupRequest) -> dict[str, Any]:
        """Carry out one request; the result is JSON-ready, with the action named."""
        if request.action == "backup":
            result = self.backup().to_dict()
        elif request.action == "list":
            result = {"backups": [b.to_dict() for b in self.list_backups(request.index)]}
        elif request.action == "verify":
            result = self.verify(request.backup, compare_live=request.compare_live).to_dict()
        elif request.action == "restore":
            result = self.restore(
                request.backup,
                target_index=request.target_index,
                mode=request.mode,
                restore_registry=request.restore_registry,
            ).to_dict()
        else:
            result = self.prune(request.index).to_dict()
        return {"action": request.action, **result}

    # ---------------------------------------------------------------------------------- backup

    def backup(self) -> BackupResult:
        """Export the index and registry into ``backups/<index>/<UTC timestamp>.tar.gz``.

        The archive is uploaded as it is written and published only once the manifest (its last
        member) is in; then its summary is stamped into the object metadata, which marks it
        complete. Any failure before that aborts the upload, so ``list`` never shows a partial
        backup.
        """
        started = time.monotonic()
        index = self._settings.vector_index
        store = self.store()
        info = store.describe(refresh=True)
        created_at = self._now()
        key = self._new_key(index, created_at)
        segments = self._choose_segments(store)
        writer = ArchiveWriter(
            {
                "created_at": iso(created_at),
                "index": {
                    "vector_bucket": self._settings.vector_bucket,
                    "name": index,
                    "dimension": info.dimension,
                    "data_type": info.data_type,
                    "distance_metric": info.distance_metric,
                    "non_filterable_keys": sorted(info.non_filterable_keys),
                },
                "embedding": {
                    "provider": self._settings.embedding_provider,
                    "model_id": self._settings.embedding_model_id,
                    "dimension": self._settings.embedding_dimension,
                    "normalize": self._settings.embedding_normalize,
                },
                "registry": {"table": self._settings.documents_table},
                "stack": {"name": self._settings.stack_name, "stage": self._settings.stage},
            },
            mtime=int(created_at.timestamp()),
        )
        shards = vector_shards(store, info.dimension, segments, shard_max_bytes=self._shard_max_bytes)
        chunks = writer.chunks(shards, registry_chunks(self._registry, shard_max_bytes=self._shard_max_bytes))
        uploaded = self._s3.upload_stream(
            chunks,
            self._bucket,
            key,
            metadata={f"{META}status": STATUS_WRITING, f"{META}index": index},
            content_type=CONTENT_TYPE,
            part_size=self._part_size,
            max_concurrency=MAX_PARTS_IN_FLIGHT,
        )
        metadata = writer.summary_metadata(
            {
                "index": index,
                "dimension": str(info.dimension),
                "distance-metric": info.distance_metric,
                "embedding-provider": self._settings.embedding_provider,
                "embedding-model": self._settings.embedding_model_id,
                "created-at": iso(created_at),
                "stage": self._settings.stage,
            }
        )
        self._mark_complete(key, metadata, uploaded.version_id)
        result = BackupResult(
            key=key,
            size=writer.compressed_bytes,
            vector_count=writer.vector_count,
            document_count=writer.document_count,
            vector_shards=writer.vector_shards,
            uncompressed_bytes=writer.uncompressed_bytes,
            segments=segments,
            seconds=round(time.monotonic() - started, 3),
        )
        logger.info("backup written", extra=result.to_dict())
        return result

    def _new_key(self, index: str, created_at: dt.datetime) -> str:
        attempt = 1
        key = archive_key(index, created_at)
        # Two backups in the same microsecond (a fixed test clock) must not overwrite each other.
        while self._s3.exists(self._bucket, key):
            attempt += 1
            key = archive_key(index, created_at, attempt)
        return key

    def _mark_complete(self, key: str, metadata: dict[str, str], old_version: str | None) -> None:
        """Stamp the summary metadata (counts are only known at the end) with a server-side copy.

        Until this succeeds the object carries ``status=writing`` and ``list`` ignores it. In a
        versioned bucket the pre-copy version is deleted so the archive is not stored twice.
        """
        self._s3.copy(self._bucket, key, self._bucket, key, metadata=metadata, content_type=CONTENT_TYPE)
        # Unversioned (or suspended) buckets report no id or "null": the copy replaced the object
        # in place, and deleting "null" would delete the archive itself.
        current = self._s3.head(self._bucket, key).version_id
        if old_version and old_version != "null" and current and current != old_version:
            self._s3.delete(self._bucket, key, version_id=old_version)

    def _choose_segments(self, store: S3VectorStore) -> int:
        """One segment for indexes of at most one page, ``segment_count`` parallel segments beyond."""
        if self._segment_count == 1 or not store.spans_pages(PROBE_PAGE_SIZE):
            return 1
        return self._segment_count

    # ------------------------------------------------------------------------------------ list

    def list_backups(self, index: str | None = None) -> list[BackupInfo]:
        """Complete backups of ``index`` (default: the configured one), newest first.

        Reads object metadata only (one HeadObject per archive), never the archives. Objects
        without the complete marker (a failed metadata stamp) are not backups and are skipped.
        """
        index = index or self._settings.vector_index
        now = self._now()
        found: list[BackupInfo] = []
        for obj in self._s3.list_objects(self._bucket, prefix=index_prefix(index), suffix=ARCHIVE_SUFFIX):
            info = backup_info(self._s3.head(self._bucket, obj.key), now)
            if info is not None:
                found.append(info)
        found.sort(key=lambda b: (b.created_at, b.key), reverse=True)
        return found

    def resolve(self, backup: str = "latest", index: str | None = None) -> BackupInfo:
        """The backup named by ``backup``: ``"latest"`` or an object key of a complete backup."""
        if backup == "latest":
            backups = self.list_backups(index)
            if not backups:
                raise NotFoundError(f"no complete backup of index {index or self._settings.vector_index!r}")
            return backups[0]
        if not is_archive_key(backup):
            raise InvalidInputError(
                f"backup must be 'latest' or a key backups/<index>/<time>.tar.gz, not {backup!r}"
            )
        info = backup_info(self._s3.head(self._bucket, backup), self._now())
        if info is None:
            raise BackupError(f"{s3_uri(self._bucket, backup)} is not a complete backup")
        return info

    # ---------------------------------------------------------------------------------- verify

    def verify(self, backup: str = "latest", *, compare_live: bool = False) -> VerifyReport:
        """Check every member's size and sha256 and every count against the manifest.

        With ``compare_live`` the archive's vectors are also compared key by key with the live
        index (data and metadata); the per-key digests go to a temporary SQLite file so memory
        stays flat whatever the index size.
        """
        info = self.resolve(backup)
        ref = _ref(info)
        try:
            validated = self._reader.validate(ref)
        except ArchiveRejectedError as error:
            return VerifyReport(
                key=info.key, ok=False, rule=error.rule, member=error.member, problem=str(error)
            )
        counts = validated.manifest["counts"]
        report = VerifyReport(
            key=info.key,
            ok=True,
            vector_count=counts["vectors"],
            document_count=counts["documents"],
            members=len(validated.members) + 1,
        )
        if not compare_live:
            return report
        live = self.store(validated.manifest["index"]["name"])
        diff = compare_with_live(
            lambda on_vectors: self._reader.replay(ref, validated, on_vectors=on_vectors, on_items=None),
            live.iter_vectors(return_data=True, return_metadata=True),
        )
        return report.with_live(diff)

    # --------------------------------------------------------------------------------- restore

    def restore(
        self,
        backup: str = "latest",
        *,
        target_index: str | None = None,
        mode: str = "replace",
        restore_registry: bool | None = None,
    ) -> RestoreReport:
        """Restore a backup into ``target_index`` (default: the configured index).

        ``replace`` empties the index (and the registry) first; ``merge`` overwrites the archived
        keys and keeps the others. Both are idempotent. Every safety check (archive rules, index
        compatibility) passes before the first write; a transient failure after that (throttling,
        a timeout) leaves a ``replace`` restore part-way, and running the same restore again
        completes it.

        Args:
            backup: ``"latest"`` or the key of a complete backup.
            target_index: index to restore into; created with the manifest's dimension and metric
                when missing.
            mode: ``"replace"`` or ``"merge"``.
            restore_registry: whether the registry is restored too. ``None`` (the default) restores
                it only when the target is the live index: the registry describes the live index,
                so a copy restored beside it must not overwrite it.

        Raises:
            ArchiveRejectedError: the archive broke a safety rule (nothing was written).
            IndexMismatchError: the target index exists with another dimension or metric.
        """
        if mode not in RESTORE_MODES:
            raise InvalidInputError(f"mode must be 'replace' or 'merge', not {mode!r}")
        target = target_index or self._settings.vector_index
        if not INDEX_NAME.match(target):
            raise InvalidInputError(f"target_index {target!r} is not a valid index name ({INDEX_NAME_RULE})")
        if restore_registry is None:
            restore_registry = target == self._settings.vector_index
        started = time.monotonic()
        info = self.resolve(backup)
        ref = _ref(info)
        validated = self._reader.validate(ref)  # pass 1: reads everything, writes nothing
        wanted = validated.manifest["index"]
        store = self.store(target)
        exists = store.index_exists()
        if exists:
            live = store.describe()
            if live.dimension != wanted["dimension"] or live.distance_metric != wanted["distance_metric"]:
                raise IndexMismatchError(
                    f"index {target!r} has dimension {live.dimension} and metric {live.distance_metric!r}; "
                    f"the backup holds dimension {wanted['dimension']} "
                    f"and metric {wanted['distance_metric']!r}"
                )
        else:
            store.create_index(
                dimension=wanted["dimension"],
                distance_metric=wanted["distance_metric"],
                non_filterable_keys=tuple(wanted["non_filterable_keys"]),
            )
        deleted = 0
        if mode == "replace":
            if exists:
                deleted = store.clear()
            if restore_registry:
                self._registry.delete_all()
        counts = {"vectors": 0, "documents": 0}
        with ThreadPoolExecutor(max_workers=PUTS_IN_FLIGHT, thread_name_prefix="restore-put") as pool:
            in_flight: deque[Future[int]] = deque()

            def on_vectors(batch: list[VectorRecord]) -> None:
                while len(in_flight) >= PUTS_IN_FLIGHT:
                    counts["vectors"] += in_flight.popleft().result()
                in_flight.append(pool.submit(store.put, batch))

            def on_items(batch: list[dict[str, Any]]) -> None:
                self._registry.put_items(batch)
                counts["documents"] += len(batch)

            try:
                self._reader.replay(
                    ref, validated, on_vectors=on_vectors, on_items=on_items if restore_registry else None
                )
            finally:
                while in_flight:
                    counts["vectors"] += in_flight.popleft().result()
        report = RestoreReport(
            key=info.key,
            target_index=target,
            mode=mode,
            created_index=not exists,
            vectors_deleted=deleted,
            vectors_restored=counts["vectors"],
            documents_restored=counts["documents"],
            registry_restored=restore_registry,
            seconds=round(time.monotonic() - started, 3),
        )
        logger.info("backup restored", extra=report.to_dict())
        return report

    # ----------------------------------------------------------------------------------- prune

    def prune(self, index: str | None = None) -> PruneReport:
        """Delete backups beyond the retention rules; never the newest complete backup.

        Kept: the newest ``backup_retention_count`` backups, plus, when ``backup_retention_days``
        is above 0, every backup younger than that many days (the template's BackupRetentionDays).
        Debris of failed backups (unmarked objects, pending multipart uploads) older than a day is
        removed too. The bucket's lifecycle rule is only a backstop.
        """
        index = index or self._settings.vector_index
        now = self._now()
        backups = self.list_backups(index)
        keep_count = self._settings.backup_retention_count
        keep_days = self._settings.backup_retention_days
        kept: list[str] = []
        deleted: list[str] = []
        for position, backup in enumerate(backups):
            young = keep_days > 0 and now - backup.created_at <= dt.timedelta(days=keep_days)
            if position == 0 or position < keep_count or young:
                kept.append(backup.key)
            else:
                self._s3.delete(self._bucket, backup.key)
                deleted.append(backup.key)
        complete = {b.key for b in backups}
        incomplete: list[str] = []
        prefix = index_prefix(index)
        for obj in self._s3.list_objects(self._bucket, prefix=prefix, suffix=ARCHIVE_SUFFIX):
            if obj.key in complete or obj.last_modified is None or now - obj.last_modified < INCOMPLETE_GRACE:
                continue
            head = self._s3.head(self._bucket, obj.key)
            if head.metadata.get(f"{META}status") != STATUS_COMPLETE:
                self._s3.delete(self._bucket, obj.key)
                incomplete.append(obj.key)
        aborted: list[str] = []
        for upload in self._s3.list_multipart_uploads(self._bucket, prefix):
            if now - upload.initiated >= INCOMPLETE_GRACE:
                self._s3.abort_multipart_upload(self._bucket, upload.key, upload.upload_id)
                aborted.append(upload.key)
        report = PruneReport(
            kept=kept, deleted=deleted, incomplete_deleted=incomplete, uploads_aborted=aborted
        )
        logger.info("backups pruned", extra={"kept": len(kept), "deleted": len(deleted)})
        return report


def _ref(info: BackupInfo) -> ArchiveRef:
    return ArchiveRef(info.key, info.size, info.version_id, info.etag)
