"""Backups of the vector index and document registry: one streamed, self-describing tar.gz in S3.

S3 Vectors has no snapshot or export API, so ``BackupService`` exports the index with ListVectors
(parallel segments for large indexes) and the registry with a DynamoDB scan, and streams both into
one ``tar.gz`` uploaded with a low-level multipart upload. Memory stays bounded whatever the index
size: vectors travel in shards of at most ``shard_max_bytes``, a bounded queue sits between the
segment readers and the archive writer, and at most two upload parts are in flight.

Archive layout (format version 1)::

    vectors/shard-00000.jsonl   one {"key", "metadata"} object per line
    vectors/shard-00000.f32     the same vectors, raw little-endian float32, in line order
    ...
    registry/items-00000.jsonl  one registry item per line
    manifest.json               written last: index config, embedding model, counts,
                                per-member size, sha256 and record count

A restore treats the archive as untrusted. The manifest comes last (checksums are only known once
every shard is written), so the restore makes two passes over the same object version: pass 1
streams the whole archive, enforcing the size, ratio and path rules as it goes and comparing every
member with the manifest at the end, and writes nothing; pass 2 re-reads the pinned version and
writes. Either the whole archive is accepted or nothing is written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import math
import queue
import re
import sqlite3
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from array import array
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from docpipe import aws
from docpipe.config import Settings
from docpipe.exceptions import (
    ArchiveRejectedError,
    BackupError,
    IndexMismatchError,
    InvalidInputError,
    NotFoundError,
)
from docpipe.registry import DocumentRegistry
from docpipe.s3 import ObjectInfo, S3Client, s3_uri
from docpipe.vectorstore import S3VectorStore, VectorRecord

logger = logging.getLogger(__name__)

FORMAT = "docpipe-backup"
FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = frozenset({1})
MANIFEST_NAME = "manifest.json"
BACKUP_PREFIX = "backups/"
ARCHIVE_SUFFIX = ".tar.gz"
CONTENT_TYPE = "application/gzip"
STATUS_COMPLETE = "complete"

MiB = 1024 * 1024
# Random-looking float32 data barely compresses; level 1 buys most of the gain on metadata text
# for a fraction of the CPU of level 6+, which keeps the backup near ListVectors speed.
COMPRESS_LEVEL = 1
# One shard holds at most this many bytes of float32 data and of JSON lines (512 vectors at 1024
# dimensions): small enough that every segment reader plus the queue stays well under 100 MiB.
SHARD_MAX_BYTES = 2 * MiB
# S3 parts must be >= 5 MiB (except the last); 8 MiB parts allow archives up to 80 GB (10,000 parts).
PART_SIZE = 8 * MiB
MAX_PARTS_IN_FLIGHT = 2
SHARD_QUEUE_DEPTH = 4
# Two segments overlap one page's network wait with the other's parsing; on a 1-2 vCPU Lambda more
# segments mostly add memory (measured: benchmarks/bench_backup.py). Up to 16 via ``segment_count``.
DEFAULT_SEGMENT_COUNT = 2
MAX_SEGMENT_COUNT = 16
PROBE_PAGE_SIZE = 1000
# ListVectors page size with data: 100,000 floats (97 vectors at 1,024 dimensions) per page whatever
# the dimension, so a page's JSON and its Python floats stay a few MB per segment reader.
PAGE_FLOATS = 100_000
PUT_BATCH_SIZE = 500
# One PutVectors in flight while the next batch is decoded: a second one bought nothing but memory
# (each in-flight batch of 500 x 1,024 floats is ~50 MB as Python lists plus its JSON request).
PUTS_IN_FLIGHT = 1
CLEAR_ROUND_KEYS = 10_000
READ_CHUNK = 1 * MiB
# Restore-side limits: our writer never exceeds these, so anything larger is hostile or corrupt.
MAX_JSONL_MEMBER_BYTES = 64 * MiB
MAX_MANIFEST_BYTES = 16 * MiB
# S3 Vectors metadata is at most 40 KB per vector and a DynamoDB item 400 KB: a longer line is not ours.
MAX_LINE_BYTES = 1 * MiB
MAX_COMPRESSION_RATIO = 200
# Tiny archives are mostly tar padding (zeros) and legitimately compress far beyond 200:1.
RATIO_FLOOR_BYTES = 1 * MiB
MAX_VECTOR_KEY_CHARS = 1024
# Objects without the "complete" marker and multipart uploads older than this are debris of
# failed backups; prune removes them (a running backup never takes this long).
INCOMPLETE_GRACE = dt.timedelta(days=1)
LIVE_DIFF_SAMPLE = 100

META = "docpipe-"
_VEC_JSONL = re.compile(r"^vectors/shard-(\d{5,9})\.jsonl$")
_VEC_F32 = re.compile(r"^vectors/shard-(\d{5,9})\.f32$")
_REG_JSONL = re.compile(r"^registry/items-(\d{5,9})\.jsonl$")
_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_EXTENDED_TYPES = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.GNUTYPE_SPARSE,
    }
)
_METRICS = ("cosine", "euclidean")


# --------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class BackupInfo:
    """One complete backup as ``list`` shows it: everything comes from the object's metadata."""

    key: str
    size: int
    created_at: dt.datetime
    index: str
    format_version: int
    vector_count: int
    document_count: int
    dimension: int
    distance_metric: str
    embedding_provider: str
    embedding_model: str
    age_seconds: float
    version_id: str | None = None
    etag: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = _iso(self.created_at)
        return data


@dataclass(frozen=True)
class BackupResult:
    """What a backup wrote."""

    key: str
    size: int
    vector_count: int
    document_count: int
    vector_shards: int
    uncompressed_bytes: int
    segments: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VerifyReport:
    """Verification of one archive; ``ok`` is about the archive, ``live_*`` about the live index."""

    key: str
    ok: bool
    vector_count: int = 0
    document_count: int = 0
    members: int = 0
    rule: str | None = None
    member: str | None = None
    problem: str | None = None
    live_compared: bool = False
    live_missing: int = 0
    live_extra: int = 0
    live_changed: int = 0
    missing_keys: list[str] = field(default_factory=list)
    extra_keys: list[str] = field(default_factory=list)
    changed_keys: list[str] = field(default_factory=list)

    @property
    def live_matches(self) -> bool:
        return self.live_compared and not (self.live_missing or self.live_extra or self.live_changed)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["live_matches"] = self.live_matches
        return data


@dataclass(frozen=True)
class RestoreReport:
    """Counts of one restore."""

    key: str
    target_index: str
    mode: str
    created_index: bool
    vectors_deleted: int
    vectors_restored: int
    documents_restored: int
    registry_restored: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PruneReport:
    """What prune kept and removed."""

    kept: list[str]
    deleted: list[str]
    incomplete_deleted: list[str]
    uploads_aborted: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------------
# Writing


@dataclass
class _Shard:
    """One shard's two members, built in memory (bounded by ``shard_max_bytes``) before tarring."""

    jsonl: bytearray = field(default_factory=bytearray)
    f32: bytearray = field(default_factory=bytearray)
    count: int = 0


class _MultipartWriter:
    """A write-only file object that streams into one S3 multipart upload.

    Parts are uploaded in the background, at most ``MAX_PARTS_IN_FLIGHT`` at a time, so memory is
    about ``(MAX_PARTS_IN_FLIGHT + 1) * part_size``. The object only exists once ``complete()``
    succeeds; ``abort()`` discards every uploaded part.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        *,
        metadata: Mapping[str, str],
        part_size: int = PART_SIZE,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._part_size = part_size
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._in_flight: deque[Future[dict[str, Any]]] = deque()
        self._pool = ThreadPoolExecutor(max_workers=MAX_PARTS_IN_FLIGHT, thread_name_prefix="backup-part")
        self.size = 0
        try:
            response = client.create_multipart_upload(
                Bucket=bucket, Key=key, ContentType=CONTENT_TYPE, Metadata=dict(metadata)
            )
        except (ClientError, BotoCoreError) as error:
            self._pool.shutdown()
            aws.translate_client_error(error, s3_uri(bucket, key))
        self.upload_id: str = response["UploadId"]

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buffer += data
        self.size += len(data)
        while len(self._buffer) >= self._part_size:
            part = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self._submit(part)
        return len(data)

    def flush(self) -> None:
        """Parts are flushed by size; an explicit flush has nothing to do."""

    def _submit(self, body: bytes) -> None:
        while len(self._in_flight) >= MAX_PARTS_IN_FLIGHT:
            self._parts.append(self._in_flight.popleft().result())
        number = len(self._parts) + len(self._in_flight) + 1
        self._in_flight.append(self._pool.submit(self._upload_part, number, body))

    def _upload_part(self, number: int, body: bytes) -> dict[str, Any]:
        try:
            response = self._client.upload_part(
                Bucket=self._bucket, Key=self._key, UploadId=self.upload_id, PartNumber=number, Body=body
            )
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, f"{s3_uri(self._bucket, self._key)} part {number}")
        return {"PartNumber": number, "ETag": response["ETag"]}

    def complete(self) -> dict[str, Any]:
        """Upload the last part and publish the object."""
        if self._buffer or not (self._parts or self._in_flight):
            self._submit(bytes(self._buffer))
            self._buffer.clear()
        while self._in_flight:
            self._parts.append(self._in_flight.popleft().result())
        self._pool.shutdown()
        try:
            response: dict[str, Any] = self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": sorted(self._parts, key=lambda p: p["PartNumber"])},
            )
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, s3_uri(self._bucket, self._key))
        return response

    def abort(self) -> None:
        """Discard every part (called on any failure, so no half backup lingers as an upload)."""
        for future in self._in_flight:
            future.cancel()
        self._pool.shutdown(wait=True)
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self.upload_id)
        except (ClientError, BotoCoreError):
            # The original failure matters more; prune aborts stale uploads as a backstop.
            logger.exception("could not abort multipart upload of %s", s3_uri(self._bucket, self._key))


class _Cancelled(Exception):
    """The archive writer failed; segment readers stop."""


# --------------------------------------------------------------------------------------------------
# Reading (untrusted input)


def _reject(message: str, *, member: str | None, rule: str) -> ArchiveRejectedError:
    return ArchiveRejectedError(message, member=member, rule=rule)


class _CountingReader:
    """Counts the compressed bytes read from S3 (for the compression-ratio rule)."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._body.read(size)
        self.count += len(data)
        return data


class _BoundedReader:
    """Decompressed bytes with hard limits enforced before any read, so a bomb never inflates."""

    def __init__(self, raw: IO[bytes], *, limit: int, rule: str) -> None:
        self._raw = raw
        self._limit = limit
        self._rule = rule
        self.total = 0

    def read_exact(self, size: int, member: str | None) -> bytes:
        if self.total + size > self._limit:
            raise _reject(f"archive expands past {self._limit} bytes", member=member, rule=self._rule)
        try:
            data = self._raw.read(size)
        except (OSError, EOFError, zlib.error) as error:
            raise _reject(
                f"archive is not a valid gzip stream: {error}", member=member, rule="corrupt_archive"
            ) from None
        self.total += len(data)
        if len(data) != size:
            if not data and member is None:
                return b""
            raise _reject("archive ends in the middle of a member", member=member, rule="truncated_archive")
        return data


@dataclass
class _MemberFacts:
    name: str
    size: int
    sha256: str
    lines: int = 0


@dataclass(frozen=True)
class _ArchiveRef:
    key: str
    size: int
    version_id: str | None
    etag: str


@dataclass(frozen=True)
class _Validated:
    manifest: dict[str, Any]
    members: dict[str, _MemberFacts]

    @property
    def dimension(self) -> int:
        return int(self.manifest["index"]["dimension"])


def _check_member_header(info: tarfile.TarInfo) -> None:
    """Path and type rules, applied from the header before a single data byte is read."""
    name = info.name
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise _reject("absolute path", member=name, rule="absolute_path")
    if ".." in PurePosixPath(name).parts or ".." in name.split("\\"):
        raise _reject("path escapes the archive with '..'", member=name, rule="parent_traversal")
    if info.type in _EXTENDED_TYPES:
        raise _reject(
            "extended (pax/GNU) headers are not part of the format", member=name, rule="extended_header"
        )
    if info.issym():
        raise _reject("symbolic link", member=name, rule="symlink")
    if info.islnk():
        raise _reject("hard link", member=name, rule="hardlink")
    if info.ischr() or info.isblk():
        raise _reject("device file", member=name, rule="device")
    if info.isfifo():
        raise _reject("FIFO", member=name, rule="fifo")
    if not info.isreg():
        raise _reject("not a regular file", member=name, rule="not_regular_file")
    if name != MANIFEST_NAME and not (
        _VEC_JSONL.match(name) or _VEC_F32.match(name) or _REG_JSONL.match(name)
    ):
        raise _reject("name is not one the backup format uses", member=name, rule="unexpected_member")


def _iter_members(reader: _BoundedReader) -> Iterator[tuple[tarfile.TarInfo, Callable[[int], bytes]]]:
    """A minimal ustar reader: docpipe writes nothing else, and refusing every extension keeps
    header parsing (where tarfile would buffer pax payloads of any size) out of an attacker's hands.

    Yields each member's header and a ``read(n)`` bound to its remaining data; whatever the caller
    leaves unread is skipped (and still counted against the limits).
    """
    while True:
        block = reader.read_exact(tarfile.BLOCKSIZE, None)
        if not block:
            raise _reject("archive ends without the tar end marker", member=None, rule="truncated_archive")
        if block == tarfile.NUL * tarfile.BLOCKSIZE:
            return
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "strict")
        except (tarfile.HeaderError, UnicodeDecodeError) as error:
            raise _reject(f"invalid tar header: {error}", member=None, rule="corrupt_archive") from None
        _check_member_header(info)
        if info.size < 0:
            raise _reject("negative member size", member=info.name, rule="corrupt_archive")
        remaining = info.size
        name = info.name

        def read(size: int, _name: str = name) -> bytes:
            nonlocal remaining
            size = min(size, remaining)
            if size <= 0:
                return b""
            data = reader.read_exact(size, _name)
            remaining -= size
            return data

        yield info, read
        while remaining > 0:
            read(READ_CHUNK)
        padding = -info.size % tarfile.BLOCKSIZE
        if padding:
            reader.read_exact(padding, name)


def _validate_vector_line(line: bytes, member: str) -> tuple[str, dict[str, Any]]:
    try:
        record = json.loads(line)
    except ValueError:
        raise _reject("a line is not valid JSON", member=member, rule="invalid_record") from None
    if not isinstance(record, dict) or set(record) != {"key", "metadata"}:
        raise _reject("a line is not a {key, metadata} object", member=member, rule="invalid_record")
    key, metadata = record["key"], record["metadata"]
    if not isinstance(key, str) or not 0 < len(key) <= MAX_VECTOR_KEY_CHARS:
        raise _reject("a vector key is not a 1-1024 character string", member=member, rule="invalid_record")
    if not isinstance(metadata, dict):
        raise _reject(f"metadata of {key!r} is not an object", member=member, rule="invalid_record")
    return key, metadata


def _validate_item_line(line: bytes, member: str) -> dict[str, Any]:
    try:
        item = json.loads(line, parse_float=Decimal)
    except ValueError:
        raise _reject("a line is not valid JSON", member=member, rule="invalid_record") from None
    if not isinstance(item, dict) or not isinstance(item.get("doc_id"), str) or not item["doc_id"]:
        raise _reject("a registry line is not an item with a doc_id", member=member, rule="invalid_record")
    return item


def _validate_manifest(manifest: Any) -> dict[str, Any]:
    """Structural rules of the manifest itself; the member comparison happens afterwards."""

    def bad(message: str, rule: str = "invalid_manifest") -> ArchiveRejectedError:
        return _reject(message, member=MANIFEST_NAME, rule=rule)

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise bad(f"not a {FORMAT} manifest")
    if manifest.get("format_version") not in SUPPORTED_FORMAT_VERSIONS:
        raise bad(
            f"format version {manifest.get('format_version')!r} is not one of "
            f"{sorted(SUPPORTED_FORMAT_VERSIONS)}",
            "unknown_format_version",
        )
    index = manifest.get("index")
    if not isinstance(index, dict):
        raise bad("no index section")
    name = index.get("name")
    # verify with compare_live opens the index the manifest names: only a well-formed name may.
    if not isinstance(name, str) or not _INDEX_NAME.match(name):
        raise bad(f"index name {name!r:.80} is not a valid index name (3-63 of a-z, 0-9, '.', '-')")
    dimension = index.get("dimension")
    if not isinstance(dimension, int) or isinstance(dimension, bool) or not 1 <= dimension <= 4096:
        raise bad(f"dimension {dimension!r} is not 1..4096")
    if index.get("data_type") != "float32":
        raise bad(f"data type {index.get('data_type')!r} is not float32")
    if index.get("distance_metric") not in _METRICS:
        raise bad(f"distance metric {index.get('distance_metric')!r} is not one of {_METRICS}")
    keys = index.get("non_filterable_keys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise bad("non_filterable_keys is not a list of strings")
    counts = manifest.get("counts")
    if not isinstance(counts, dict) or not all(
        isinstance(counts.get(k), int) and counts[k] >= 0 for k in ("vectors", "documents")
    ):
        raise bad("counts are missing")
    members = manifest.get("members")
    if not isinstance(members, list):
        raise bad("members list is missing")
    names: set[str] = set()
    for entry in members:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not isinstance(entry.get("size"), int)
            or not isinstance(entry.get("sha256"), str)
            or not isinstance(entry.get("count"), int)
        ):
            raise bad("a member entry lacks name, size, sha256 or count")
        if entry["name"] in names:
            raise bad(f"member {entry['name']!r} is listed twice")
        names.add(entry["name"])
    return manifest


# --------------------------------------------------------------------------------------------------
# The service


ACTIONS = ("backup", "list", "verify", "restore", "prune")
_FLAG_STRINGS = {"true": True, "false": False}


@dataclass(frozen=True)
class BackupRequest:
    """One BackupFunction event, checked whole before any action starts."""

    action: str
    backup: str = "latest"
    index: str | None = None
    target_index: str | None = None
    mode: str = "replace"
    compare_live: bool = False
    # None: the registry is restored only when the target is the live index.
    restore_registry: bool | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> BackupRequest:
        """``{"action": ..., ...}``, or EventBridge's raw "Scheduled Event" (a rule without Input).

        Raises:
            InvalidInputError: an unknown action, or a flag that is not a boolean.
        """
        if "action" not in event and event.get("detail-type") == "Scheduled Event":
            return cls(action="backup")
        action = event.get("action")
        if action not in ACTIONS:
            raise InvalidInputError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        return cls(
            action=str(action),
            backup=_text(event, "backup") or "latest",
            index=_text(event, "index"),
            target_index=_text(event, "target_index"),
            mode=_text(event, "mode") or "replace",
            compare_live=bool(_flag(event, "compare_live")),
            restore_registry=_flag(event, "restore_registry"),
        )


def _text(event: Mapping[str, Any], name: str) -> str | None:
    value = event.get(name)
    if value is None or isinstance(value, str):
        return value
    raise InvalidInputError(f"{name} must be a string, not {type(value).__name__}")


def _flag(event: Mapping[str, Any], name: str) -> bool | None:
    """A boolean field: JSON true/false or the strings "true"/"false" (``bool("false")`` is True)."""
    value = event.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _FLAG_STRINGS:
        return _FLAG_STRINGS[value.strip().lower()]
    raise InvalidInputError(f"{name} must be true or false, not {str(value)[:40]!r}")


class BackupService:
    """Back up, list, verify, restore and prune archives of one vector index and its registry.

    Args:
        settings: names of the stack, buckets, index and table; retention and restore limits; the
            embedding provider and model recorded in each manifest.
        s3: S3 client for the backups bucket.
        vectors_client: boto3 ``s3vectors`` client (stores for other index names are built on it).
        registry: the document registry (DynamoDB).
        segment_count: ListVectors segments read in parallel for indexes of more than one
            ListVectors page (1-16).
        now: clock, injectable for retention tests.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        s3: S3Client,
        vectors_client: Any,
        registry: DocumentRegistry,
        segment_count: int = DEFAULT_SEGMENT_COUNT,
        shard_max_bytes: int = SHARD_MAX_BYTES,
        part_size: int = PART_SIZE,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        settings.require("backups_bucket", "vector_bucket", "vector_index")
        if not 1 <= segment_count <= MAX_SEGMENT_COUNT:
            raise InvalidInputError(f"segment_count must be 1..{MAX_SEGMENT_COUNT} (got {segment_count})")
        self._settings = settings
        self._s3 = s3
        self._vectors_client = vectors_client
        self._registry = registry
        self._segment_count = segment_count
        self._shard_max_bytes = shard_max_bytes
        self._part_size = part_size
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._bucket = settings.backups_bucket

    @property
    def segment_count(self) -> int:
        """ListVectors segments a backup reads in parallel once the index exceeds one page."""
        return self._segment_count

    # ---------------------------------------------------------------------------------- backup

    def store(self, index_name: str | None = None) -> S3VectorStore:
        """The vector store of ``index_name`` (default: the configured index) in the vector bucket."""
        name = index_name or self._settings.vector_index
        return S3VectorStore(self._vectors_client, self._settings.vector_bucket, name)

    def backup(self) -> BackupResult:
        """Export the index and registry into ``backups/<index>/<UTC timestamp>.tar.gz``.

        The archive is published (multipart upload completed) only after the manifest is written,
        then marked complete in its object metadata; any failure aborts the upload, so ``list``
        never shows a partial backup.
        """
        started = time.monotonic()
        index = self._settings.vector_index
        store = self.store()
        info = store.describe()
        created_at = self._now()
        key = self._new_key(index, created_at)
        segments = self._choose_segments(store)
        base_metadata = {f"{META}status": "writing", f"{META}index": index}
        writer = _MultipartWriter(
            self._s3.client, self._bucket, key, metadata=base_metadata, part_size=self._part_size
        )
        members: list[dict[str, Any]] = []
        vector_count = document_count = shards = uncompressed = 0
        try:
            gz = gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0)
            with gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
                mtime = int(created_at.timestamp())
                shard_stream = self._vector_shards(store, info.dimension, segments)
                with contextlib.closing(shard_stream) as shard_iter:
                    for shard in shard_iter:
                        stem = f"vectors/shard-{shards:05d}"
                        members.append(_add_member(tar, f"{stem}.jsonl", shard.jsonl, shard.count, mtime))
                        members.append(_add_member(tar, f"{stem}.f32", shard.f32, shard.count, mtime))
                        vector_count += shard.count
                        shards += 1
                for number, (chunk, count) in enumerate(self._registry_chunks()):
                    name = f"registry/items-{number:05d}.jsonl"
                    members.append(_add_member(tar, name, chunk, count, mtime))
                    document_count += count
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "created_at": _iso(created_at),
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
                    "counts": {"vectors": vector_count, "documents": document_count},
                    "members": members,
                }
                manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True).encode()
                _add_member(tar, MANIFEST_NAME, manifest_bytes, 0, mtime)
                uncompressed = sum(m["size"] for m in members) + len(manifest_bytes)
            completed = writer.complete()
        except BaseException:
            writer.abort()
            raise
        metadata = {
            f"{META}status": STATUS_COMPLETE,
            f"{META}format-version": str(FORMAT_VERSION),
            f"{META}index": index,
            f"{META}dimension": str(info.dimension),
            f"{META}distance-metric": info.distance_metric,
            f"{META}vector-count": str(vector_count),
            f"{META}document-count": str(document_count),
            f"{META}embedding-provider": self._settings.embedding_provider,
            f"{META}embedding-model": self._settings.embedding_model_id,
            f"{META}created-at": _iso(created_at),
            f"{META}stage": self._settings.stage,
            f"{META}uncompressed-bytes": str(uncompressed),
            f"{META}manifest-sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        }
        self._mark_complete(key, metadata, completed.get("VersionId"))
        result = BackupResult(
            key=key,
            size=writer.size,
            vector_count=vector_count,
            document_count=document_count,
            vector_shards=shards,
            uncompressed_bytes=uncompressed,
            segments=segments,
            seconds=round(time.monotonic() - started, 3),
        )
        logger.info("backup written", extra=result.to_dict())
        return result

    def _new_key(self, index: str, created_at: dt.datetime) -> str:
        stamp = created_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        key = f"{BACKUP_PREFIX}{index}/{stamp}{ARCHIVE_SUFFIX}"
        suffix = 1
        # Two backups in the same microsecond (a fixed test clock) must not overwrite each other.
        while self._s3.exists(self._bucket, key):
            suffix += 1
            key = f"{BACKUP_PREFIX}{index}/{stamp}-{suffix}{ARCHIVE_SUFFIX}"
        return key

    def _mark_complete(self, key: str, metadata: dict[str, str], old_version: str | None) -> None:
        """Stamp the summary metadata (counts are only known at the end) with a server-side copy.

        Until this succeeds the object carries ``status=writing`` and ``list`` ignores it. In a
        versioned bucket the pre-copy version is deleted so the archive is not stored twice.
        """
        client = self._s3.client
        try:
            client.copy(
                {"Bucket": self._bucket, "Key": key},
                self._bucket,
                key,
                ExtraArgs={"Metadata": metadata, "MetadataDirective": "REPLACE", "ContentType": CONTENT_TYPE},
            )
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, s3_uri(self._bucket, key))
        # Unversioned (or suspended) buckets report no id or "null": the copy replaced the object
        # in place, and deleting "null" would delete the archive itself.
        current = self._s3.head(self._bucket, key).version_id
        if old_version and old_version != "null" and current and current != old_version:
            try:
                client.delete_object(Bucket=self._bucket, Key=key, VersionId=old_version)
            except (ClientError, BotoCoreError) as error:
                aws.translate_client_error(error, s3_uri(self._bucket, key))

    def _choose_segments(self, store: S3VectorStore) -> int:
        """One segment for indexes of at most one page, ``segment_count`` parallel segments beyond.

        The probe is one keys-only ListVectors page. An endpoint that returns more than the page
        size (moto 5.2 ignores ``maxResults`` and ``segmentCount``) would hand every segment the
        whole index, so it gets a single segment too.
        """
        if self._segment_count == 1:
            return 1
        try:
            response = store.client.list_vectors(
                vectorBucketName=store.vector_bucket,
                indexName=store.index_name,
                maxResults=PROBE_PAGE_SIZE,
                returnData=False,
                returnMetadata=False,
            )
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, store.uri)
        vectors = response.get("vectors", [])
        if len(vectors) > PROBE_PAGE_SIZE or not response.get("nextToken"):
            return 1
        return self._segment_count

    def _vector_shards(self, store: S3VectorStore, dimension: int, segments: int) -> Generator[_Shard]:
        """Shards from ``segments`` parallel readers, through a bounded queue (flat memory)."""
        shards: queue.Queue[_Shard | BaseException | None] = queue.Queue(maxsize=SHARD_QUEUE_DEPTH)
        stop = threading.Event()

        def offer(item: _Shard | BaseException | None) -> None:
            while True:
                if stop.is_set():
                    raise _Cancelled
                try:
                    shards.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def read_segment(segment: int) -> None:
            try:
                kwargs: dict[str, Any] = {}
                if segments > 1:
                    kwargs = {"segment_count": segments, "segment_index": segment}
                shard = _Shard()
                page_size = max(10, min(1000, PAGE_FLOATS // dimension))
                records = store.iter_vectors(
                    return_data=True, return_metadata=True, page_size=page_size, **kwargs
                )
                for record in records:
                    _append_vector(shard, record, dimension)
                    if len(shard.f32) >= self._shard_max_bytes or len(shard.jsonl) >= self._shard_max_bytes:
                        offer(shard)
                        shard = _Shard()
                if shard.count:
                    offer(shard)
                offer(None)
            except _Cancelled:
                return
            except BaseException as error:
                with contextlib.suppress(_Cancelled):
                    offer(error)

        with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="backup-segment") as pool:
            for segment in range(segments):
                pool.submit(read_segment, segment)
            finished = 0
            try:
                while finished < segments:
                    item = shards.get()
                    if item is None:
                        finished += 1
                    elif isinstance(item, BaseException):
                        raise item
                    else:
                        yield item
            finally:
                stop.set()

    def _registry_chunks(self) -> Iterator[tuple[bytes, int]]:
        chunk = bytearray()
        count = 0
        for item in self._registry.scan_items():
            chunk += _json_line(item)
            count += 1
            if len(chunk) >= self._shard_max_bytes:
                yield bytes(chunk), count
                chunk, count = bytearray(), 0
        if count:
            yield bytes(chunk), count

    # ------------------------------------------------------------------------------------ list

    def list_backups(self, index: str | None = None) -> list[BackupInfo]:
        """Complete backups of ``index`` (default: the configured one), newest first.

        Reads object metadata only (one HeadObject per archive), never the archives. Objects
        without the complete marker (a failed metadata stamp) are not backups and are skipped.
        """
        index = index or self._settings.vector_index
        now = self._now()
        found: list[BackupInfo] = []
        for obj in self._s3.list_objects(
            self._bucket, prefix=f"{BACKUP_PREFIX}{index}/", suffix=ARCHIVE_SUFFIX
        ):
            head = self._s3.head(self._bucket, obj.key)
            info = _backup_info(head, now)
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
        if not backup.startswith(BACKUP_PREFIX) or not backup.endswith(ARCHIVE_SUFFIX):
            raise InvalidInputError(
                f"backup must be 'latest' or a key backups/<index>/<time>.tar.gz, not {backup!r}"
            )
        info = _backup_info(self._s3.head(self._bucket, backup), self._now())
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
        ref = _ArchiveRef(info.key, info.size, info.version_id, info.etag)
        try:
            validated = self._validate(ref)
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
        missing, extra, changed = self._compare_live(ref, validated)
        return replace(
            report,
            live_compared=True,
            live_missing=missing[0],
            missing_keys=missing[1],
            live_extra=extra[0],
            extra_keys=extra[1],
            live_changed=changed[0],
            changed_keys=changed[1],
        )

    def _compare_live(
        self, ref: _ArchiveRef, validated: _Validated
    ) -> tuple[tuple[int, list[str]], tuple[int, list[str]], tuple[int, list[str]]]:
        index_name = validated.manifest["index"]["name"]
        with tempfile.TemporaryDirectory(prefix="docpipe-verify-") as tmp:
            db = sqlite3.connect(str(Path(tmp) / "keys.sqlite"))
            try:
                db.execute("CREATE TABLE archive (key TEXT PRIMARY KEY, digest BLOB, seen INTEGER DEFAULT 0)")

                def on_vectors(batch: list[VectorRecord]) -> None:
                    db.executemany(
                        "INSERT OR REPLACE INTO archive (key, digest) VALUES (?, ?)",
                        [(r.key, _digest(r.data, r.metadata)) for r in batch],
                    )

                self._replay(ref, validated, on_vectors=on_vectors, on_items=None)
                extra_count = changed_count = 0
                extra_keys: list[str] = []
                changed_keys: list[str] = []
                for record in self.store(index_name).iter_vectors(return_data=True, return_metadata=True):
                    row = db.execute("SELECT digest FROM archive WHERE key = ?", (record.key,)).fetchone()
                    if row is None:
                        extra_count += 1
                        if len(extra_keys) < LIVE_DIFF_SAMPLE:
                            extra_keys.append(record.key)
                        continue
                    db.execute("UPDATE archive SET seen = 1 WHERE key = ?", (record.key,))
                    if row[0] != _digest(record.data, record.metadata):
                        changed_count += 1
                        if len(changed_keys) < LIVE_DIFF_SAMPLE:
                            changed_keys.append(record.key)
                missing_count = db.execute("SELECT COUNT(*) FROM archive WHERE seen = 0").fetchone()[0]
                missing_keys = [
                    r[0]
                    for r in db.execute(
                        "SELECT key FROM archive WHERE seen = 0 ORDER BY key LIMIT ?", (LIVE_DIFF_SAMPLE,)
                    )
                ]
            finally:
                db.close()
        return (missing_count, missing_keys), (extra_count, extra_keys), (changed_count, changed_keys)

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
        if mode not in ("replace", "merge"):
            raise InvalidInputError(f"mode must be 'replace' or 'merge', not {mode!r}")
        target = target_index or self._settings.vector_index
        if not _INDEX_NAME.match(target):
            raise InvalidInputError(
                f"target_index {target!r} is not a valid index name (3-63 of a-z, 0-9, '.', '-')"
            )
        if restore_registry is None:
            restore_registry = target == self._settings.vector_index
        started = time.monotonic()
        info = self.resolve(backup)
        ref = _ArchiveRef(info.key, info.size, info.version_id, info.etag)
        validated = self._validate(ref)  # pass 1: reads everything, writes nothing
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
                deleted = _clear_index(store)
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
                self._replay(
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
        prefix = f"{BACKUP_PREFIX}{index}/"
        for obj in self._s3.list_objects(self._bucket, prefix=prefix, suffix=ARCHIVE_SUFFIX):
            if obj.key in complete or obj.last_modified is None or now - obj.last_modified < INCOMPLETE_GRACE:
                continue
            head = self._s3.head(self._bucket, obj.key)
            if head.metadata.get(f"{META}status") != STATUS_COMPLETE:
                self._s3.delete(self._bucket, obj.key)
                incomplete.append(obj.key)
        aborted = self._abort_stale_uploads(prefix, now)
        report = PruneReport(
            kept=kept, deleted=deleted, incomplete_deleted=incomplete, uploads_aborted=aborted
        )
        logger.info("backups pruned", extra={"kept": len(kept), "deleted": len(deleted)})
        return report

    def _abort_stale_uploads(self, prefix: str, now: dt.datetime) -> list[str]:
        client = self._s3.client
        aborted: list[str] = []
        try:
            for page in client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self._bucket, Prefix=prefix
            ):
                for upload in page.get("Uploads", ()):
                    if now - upload["Initiated"] < INCOMPLETE_GRACE:
                        continue
                    client.abort_multipart_upload(
                        Bucket=self._bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted.append(upload["Key"])
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, s3_uri(self._bucket, prefix))
        return aborted

    # ----------------------------------------------------------------------- archive reading

    @contextlib.contextmanager
    def _open(self, ref: _ArchiveRef) -> Iterator[_BoundedReader]:
        """Stream the pinned object version (so pass 2 reads exactly what pass 1 accepted)."""
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Key": ref.key}
        if ref.version_id:
            kwargs["VersionId"] = ref.version_id
        elif ref.etag:
            kwargs["IfMatch"] = f'"{ref.etag}"'
        try:
            response = self._s3.client.get_object(**kwargs)
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, s3_uri(self._bucket, ref.key))
        body = response["Body"]
        compressed_size = int(response.get("ContentLength", ref.size))
        cap = self._settings.backup_max_restore_bytes
        ratio_limit = max(MAX_COMPRESSION_RATIO * compressed_size, RATIO_FLOOR_BYTES)
        limit, rule = (cap, "total_size") if cap <= ratio_limit else (ratio_limit, "compression_ratio")
        try:
            with gzip.GzipFile(fileobj=_CountingReader(body), mode="rb") as raw:  # type: ignore[call-overload]
                yield _BoundedReader(raw, limit=limit, rule=rule)
        finally:
            body.close()

    def _validate(self, ref: _ArchiveRef) -> _Validated:
        """Pass 1: every rule, every checksum, every count; nothing is written."""
        facts: dict[str, _MemberFacts] = {}
        manifest: dict[str, Any] | None = None
        previous: str | None = None
        with self._open(ref) as reader:
            for info, read in _iter_members(reader):
                name = info.name
                if manifest is not None:
                    raise _reject("member after the manifest", member=name, rule="manifest_not_last")
                if name in facts:
                    raise _reject("member appears twice", member=name, rule="duplicate_member")
                if name == MANIFEST_NAME:
                    if info.size > MAX_MANIFEST_BYTES:
                        raise _reject(
                            f"manifest over {MAX_MANIFEST_BYTES} bytes", member=name, rule="member_too_large"
                        )
                    data = _read_all(read)
                    try:
                        parsed = json.loads(data)
                    except ValueError:
                        raise _reject("manifest is not JSON", member=name, rule="invalid_manifest") from None
                    manifest = _validate_manifest(parsed)
                    continue
                if _VEC_F32.match(name):
                    jsonl = name[: -len(".f32")] + ".jsonl"
                    if previous != jsonl:
                        raise _reject(
                            "float32 shard does not follow its keys", member=name, rule="shard_layout"
                        )
                    facts[name] = _scan_f32(name, read)
                else:
                    if info.size > MAX_JSONL_MEMBER_BYTES:
                        raise _reject(
                            f"member is {info.size} bytes; limit {MAX_JSONL_MEMBER_BYTES}",
                            member=name,
                            rule="member_too_large",
                        )
                    facts[name] = _scan_jsonl(name, read, vectors=bool(_VEC_JSONL.match(name)))
                previous = name
        if manifest is None:
            raise _reject("archive has no manifest", member=MANIFEST_NAME, rule="missing_manifest")
        _compare_with_manifest(manifest, facts)
        return _Validated(manifest=manifest, members=facts)

    def _replay(
        self,
        ref: _ArchiveRef,
        validated: _Validated,
        *,
        on_vectors: Callable[[list[VectorRecord]], None] | None,
        on_items: Callable[[list[dict[str, Any]]], None] | None,
    ) -> None:
        """Pass 2: stream the validated archive again and hand records to the callbacks in batches."""
        stride = 4 * validated.dimension
        # The keys of the shard being replayed; its float32 member follows. Closed in ``finally``
        # too, so a failed put or a changed object never leaks the spool (memory or a /tmp file).
        keys: IO[bytes] | None = None
        try:
            with self._open(ref) as reader:
                for info, read in _iter_members(reader):
                    name = info.name
                    if name == MANIFEST_NAME:
                        continue
                    if _VEC_JSONL.match(name):
                        keys = tempfile.SpooledTemporaryFile(max_size=8 * MiB)  # noqa: SIM115 (closed below)
                        _copy_checked(read, keys, validated.members[name])
                        keys.seek(0)
                    elif _VEC_F32.match(name):
                        assert keys is not None  # pass 1 proved the layout
                        _replay_f32(name, read, keys, stride, validated.members[name], on_vectors)
                        keys.close()
                        keys = None
                    elif _REG_JSONL.match(name):
                        _replay_items(name, read, validated.members[name], on_items)
        finally:
            if keys is not None:
                keys.close()


# --------------------------------------------------------------------------------------------------
# Helpers


def _replay_f32(
    name: str,
    read: Callable[[int], bytes],
    keys: IO[bytes],
    stride: int,
    fact: _MemberFacts,
    on_vectors: Callable[[list[VectorRecord]], None] | None,
) -> None:
    """One float32 shard, paired line by line with its spooled keys, in put-sized batches."""
    digest = hashlib.sha256()
    while chunk := read(PUT_BATCH_SIZE * stride):
        digest.update(chunk)
        if on_vectors is None:
            continue
        batch = []
        for offset in range(0, len(chunk), stride):
            key, metadata = _validate_vector_line(keys.readline(), name)
            data = _f32_values(chunk[offset : offset + stride])
            batch.append(VectorRecord(key=key, data=data, metadata=metadata))
        on_vectors(batch)
    _check_digest(digest, fact)


def _replay_items(
    name: str,
    read: Callable[[int], bytes],
    fact: _MemberFacts,
    on_items: Callable[[list[dict[str, Any]]], None] | None,
) -> None:
    """One registry member, spooled and checked whole before its first item is written."""
    with tempfile.SpooledTemporaryFile(max_size=8 * MiB) as spool:
        _copy_checked(read, spool, fact)
        spool.seek(0)
        if on_items is not None:
            for lines in _batched(spool, PUT_BATCH_SIZE):
                on_items([_validate_item_line(line, name) for line in lines])


def _add_member(
    tar: tarfile.TarFile, name: str, data: bytes | bytearray, count: int, mtime: int
) -> dict[str, Any]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
    return {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "count": count}


def _append_vector(shard: _Shard, record: VectorRecord, dimension: int) -> None:
    if len(record.data) != dimension:
        raise BackupError(
            f"vector {record.key!r} has {len(record.data)} dimensions; the index has {dimension}"
        )
    shard.f32 += _f32_bytes(record.data)
    shard.jsonl += _json_line({"key": record.key, "metadata": record.metadata or {}})
    shard.count += 1


def _f32_bytes(values: Iterable[float]) -> bytes:
    """Little-endian float32, the archive's byte order on any host."""
    data = array("f", values)
    if sys.byteorder != "little":
        data.byteswap()
    return data.tobytes()


def _f32_values(raw: bytes) -> list[float]:
    data = array("f")
    data.frombytes(raw)
    if sys.byteorder != "little":
        data.byteswap()
    return data.tolist()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json_line(value: Any) -> bytes:
    return (
        json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default)
        + "\n"
    ).encode("utf-8")


def _digest(data: list[float], metadata: Mapping[str, Any] | None) -> bytes:
    """Per-vector fingerprint: exact float32 bytes plus canonical metadata JSON."""
    h = hashlib.sha256(_f32_bytes(data))
    h.update(
        json.dumps(metadata or {}, sort_keys=True, separators=(",", ":"), default=_json_default).encode()
    )
    return h.digest()[:16]


def _read_all(read: Callable[[int], bytes]) -> bytes:
    parts = []
    while chunk := read(READ_CHUNK):
        parts.append(chunk)
    return b"".join(parts)


def _scan_f32(name: str, read: Callable[[int], bytes]) -> _MemberFacts:
    digest = hashlib.sha256()
    size = 0
    while chunk := read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
        usable = len(chunk) - len(chunk) % 4
        # sum() over a float array is a C loop; it is NaN or infinite iff some value is.
        if usable and not math.isfinite(sum(array("f", chunk[:usable]))):
            raise _reject("vector data holds NaN or infinity", member=name, rule="non_finite_vector")
    return _MemberFacts(name=name, size=size, sha256=digest.hexdigest())


def _scan_jsonl(name: str, read: Callable[[int], bytes], *, vectors: bool) -> _MemberFacts:
    digest = hashlib.sha256()
    size = lines = 0
    pending = b""
    while chunk := read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
        pending += chunk
        *complete, pending = pending.split(b"\n")
        if len(pending) > MAX_LINE_BYTES:
            raise _reject(f"a line is longer than {MAX_LINE_BYTES} bytes", member=name, rule="invalid_record")
        for line in complete:
            if vectors:
                _validate_vector_line(line, name)
            else:
                _validate_item_line(line, name)
            lines += 1
    if pending:
        raise _reject("last line has no newline", member=name, rule="invalid_record")
    return _MemberFacts(name=name, size=size, sha256=digest.hexdigest(), lines=lines)


def _compare_with_manifest(manifest: dict[str, Any], facts: dict[str, _MemberFacts]) -> None:
    listed = {entry["name"]: entry for entry in manifest["members"]}
    for name in sorted(set(facts) - set(listed)):
        raise _reject("member is not listed in the manifest", member=name, rule="unlisted_member")
    for name in sorted(set(listed) - set(facts)):
        raise _reject("manifest lists a member the archive lacks", member=name, rule="missing_member")
    for name, fact in facts.items():
        entry = listed[name]
        if fact.size != entry["size"]:
            relation = "larger" if fact.size > entry["size"] else "smaller"
            raise _reject(
                f"member is {fact.size} bytes, {relation} than the {entry['size']} the manifest says",
                member=name,
                rule="size_mismatch",
            )
        if fact.sha256 != entry["sha256"]:
            raise _reject("sha256 differs from the manifest", member=name, rule="checksum_mismatch")
    stride = 4 * int(manifest["index"]["dimension"])
    vectors = documents = 0
    for name, fact in facts.items():
        if _VEC_JSONL.match(name):
            f32 = name[: -len(".jsonl")] + ".f32"
            if f32 not in facts:
                raise _reject("keys without their float32 shard", member=name, rule="shard_layout")
            size = facts[f32].size
            if size % stride or size // stride != fact.lines:
                raise _reject(
                    f"{size} bytes of float32 are not {fact.lines} vectors of dimension {stride // 4}",
                    member=f32,
                    rule="dimension_mismatch",
                )
            for member in (name, f32):
                if listed[member]["count"] != fact.lines:
                    raise _reject(
                        "record count differs from the manifest", member=member, rule="count_mismatch"
                    )
            vectors += fact.lines
        elif _REG_JSONL.match(name):
            if listed[name]["count"] != fact.lines:
                raise _reject("record count differs from the manifest", member=name, rule="count_mismatch")
            documents += fact.lines
    if vectors != manifest["counts"]["vectors"] or documents != manifest["counts"]["documents"]:
        raise _reject(
            f"archive holds {vectors} vectors and {documents} documents; the manifest says "
            f"{manifest['counts']['vectors']} and {manifest['counts']['documents']}",
            member=MANIFEST_NAME,
            rule="count_mismatch",
        )


def _copy_checked(read: Callable[[int], bytes], out: IO[bytes], fact: _MemberFacts) -> None:
    digest = hashlib.sha256()
    while chunk := read(READ_CHUNK):
        digest.update(chunk)
        out.write(chunk)
    _check_digest(digest, fact)


def _check_digest(digest: Any, fact: _MemberFacts) -> None:
    if digest.hexdigest() != fact.sha256:
        # Only possible if the pinned object version changed under us; stop before writing more.
        raise BackupError(f"member {fact.name!r} changed between the validation and the restore pass")


def _batched(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    iterator = iter(lines)
    while batch := list(islice(iterator, size)):
        yield batch


def _clear_index(store: S3VectorStore) -> int:
    """Delete every vector, a bounded round of keys at a time (never the whole key list in memory)."""
    deleted = 0
    while True:
        keys = [
            r.key
            for r in islice(store.iter_vectors(return_data=False, return_metadata=False), CLEAR_ROUND_KEYS)
        ]
        if not keys:
            return deleted
        deleted += store.delete(keys)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _parse_iso(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _backup_info(head: ObjectInfo, now: dt.datetime) -> BackupInfo | None:
    """A ``BackupInfo`` from object metadata, or None when the object is not a complete backup."""
    meta = head.metadata
    if meta.get(f"{META}status") != STATUS_COMPLETE:
        return None
    try:
        created_at = _parse_iso(meta[f"{META}created-at"])
        return BackupInfo(
            key=head.key,
            size=head.size,
            created_at=created_at,
            index=meta[f"{META}index"],
            format_version=int(meta[f"{META}format-version"]),
            vector_count=int(meta[f"{META}vector-count"]),
            document_count=int(meta[f"{META}document-count"]),
            dimension=int(meta[f"{META}dimension"]),
            distance_metric=meta[f"{META}distance-metric"],
            embedding_provider=meta.get(f"{META}embedding-provider", ""),
            embedding_model=meta.get(f"{META}embedding-model", ""),
            age_seconds=round((now - created_at).total_seconds(), 3),
            version_id=head.version_id,
            etag=head.etag,
        )
    except (KeyError, ValueError):
        logger.warning("ignoring %s: incomplete backup metadata", head.key)
        return None
