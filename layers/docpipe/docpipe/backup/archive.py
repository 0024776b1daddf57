"""The backup archive, format version 1: member names, encodings, manifest, object metadata, writer.

Layout of one ``tar.gz`` (plain ustar members, nothing else)::

    vectors/shard-00000.jsonl   one {"key", "metadata"} object per line
    vectors/shard-00000.f32     the same vectors, raw little-endian float32, in line order
    ...
    registry/items-00000.jsonl  one registry item per line
    manifest.json               written last: index config, embedding model, counts,
                                per-member size, sha256 and record count

The manifest comes last because checksums are only known once every shard is written. A complete
archive also carries a summary in its S3 object metadata (``docpipe-*`` keys), so listing backups
never opens one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import io
import json
import queue
import re
import sys
import tarfile
import threading
from array import array
from collections.abc import Generator, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from docpipe.exceptions import BackupError
from docpipe.registry import DocumentRegistry
from docpipe.vectorstore import S3VectorStore, VectorRecord

FORMAT = "docpipe-backup"
FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = frozenset({1})
MANIFEST_NAME = "manifest.json"
BACKUP_PREFIX = "backups/"
ARCHIVE_SUFFIX = ".tar.gz"
CONTENT_TYPE = "application/gzip"
# Object metadata: ``docpipe-status`` is "writing" until the summary is stamped, then "complete".
META = "docpipe-"
STATUS_WRITING = "writing"
STATUS_COMPLETE = "complete"

MiB = 1024 * 1024
# Random-looking float32 data barely compresses; level 1 buys most of the gain on metadata text
# for a fraction of the CPU of level 6+, which keeps the backup near ListVectors speed.
COMPRESS_LEVEL = 1
# One shard holds at most this many bytes of float32 data and of JSON lines (512 vectors at 1024
# dimensions): small enough that every segment reader plus the queue stays well under 100 MiB.
SHARD_MAX_BYTES = 2 * MiB
SHARD_QUEUE_DEPTH = 4
# ListVectors page size with data: 100,000 floats (97 vectors at 1,024 dimensions) per page whatever
# the dimension, so a page's JSON and its Python floats stay a few MB per segment reader.
PAGE_FLOATS = 100_000

VEC_JSONL = re.compile(r"^vectors/shard-(\d{5,9})\.jsonl$")
VEC_F32 = re.compile(r"^vectors/shard-(\d{5,9})\.f32$")
REG_JSONL = re.compile(r"^registry/items-(\d{5,9})\.jsonl$")
# S3 Vectors index names; a manifest's index name and a restore's target must be one.
INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
INDEX_NAME_RULE = "3-63 of a-z, 0-9, '.', '-'"


def index_prefix(index: str) -> str:
    """The key prefix under which the backups of ``index`` live."""
    return f"{BACKUP_PREFIX}{index}/"


def archive_key(index: str, created_at: dt.datetime, attempt: int = 1) -> str:
    """``backups/<index>/<UTC timestamp>.tar.gz``; ``attempt`` > 1 adds ``-<attempt>`` (same instant)."""
    stamp = created_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    suffix = f"-{attempt}" if attempt > 1 else ""
    return f"{index_prefix(index)}{stamp}{suffix}{ARCHIVE_SUFFIX}"


def is_archive_key(key: str) -> bool:
    return key.startswith(BACKUP_PREFIX) and key.endswith(ARCHIVE_SUFFIX)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_iso(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------------------------------
# Encodings


def f32_bytes(values: Iterable[float]) -> bytes:
    """Little-endian float32, the archive's byte order on any host."""
    data = array("f", values)
    if sys.byteorder != "little":
        data.byteswap()
    return data.tobytes()


def f32_values(raw: bytes) -> list[float]:
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


def json_line(value: Any) -> bytes:
    return (
        json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default)
        + "\n"
    ).encode("utf-8")


def vector_digest(data: list[float], metadata: Mapping[str, Any] | None) -> bytes:
    """Per-vector fingerprint: exact float32 bytes plus canonical metadata JSON."""
    h = hashlib.sha256(f32_bytes(data))
    h.update(
        json.dumps(metadata or {}, sort_keys=True, separators=(",", ":"), default=_json_default).encode()
    )
    return h.digest()[:16]


# --------------------------------------------------------------------------------------------------
# Shards: the live index and registry, read into members


@dataclass
class Shard:
    """One shard's two members, built in memory (bounded by ``shard_max_bytes``) before tarring."""

    jsonl: bytearray = field(default_factory=bytearray)
    f32: bytearray = field(default_factory=bytearray)
    count: int = 0

    def append(self, record: VectorRecord, dimension: int) -> None:
        if len(record.data) != dimension:
            raise BackupError(
                f"vector {record.key!r} has {len(record.data)} dimensions; the index has {dimension}"
            )
        self.f32 += f32_bytes(record.data)
        self.jsonl += json_line({"key": record.key, "metadata": record.metadata or {}})
        self.count += 1


class _Cancelled(Exception):
    """The archive writer stopped (failed or closed); segment readers stop."""


def vector_shards(
    store: S3VectorStore, dimension: int, segments: int, *, shard_max_bytes: int = SHARD_MAX_BYTES
) -> Generator[Shard]:
    """Shards from ``segments`` parallel ListVectors readers, through a bounded queue (flat memory).

    Closing the generator (the writer failed) stops every reader.
    """
    shards: queue.Queue[Shard | BaseException | None] = queue.Queue(maxsize=SHARD_QUEUE_DEPTH)
    stop = threading.Event()

    def offer(item: Shard | BaseException | None) -> None:
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
            shard = Shard()
            page_size = max(10, min(1000, PAGE_FLOATS // dimension))
            records = store.iter_vectors(
                return_data=True, return_metadata=True, page_size=page_size, **kwargs
            )
            for record in records:
                shard.append(record, dimension)
                if len(shard.f32) >= shard_max_bytes or len(shard.jsonl) >= shard_max_bytes:
                    offer(shard)
                    shard = Shard()
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


def registry_chunks(
    registry: DocumentRegistry, *, shard_max_bytes: int = SHARD_MAX_BYTES
) -> Iterator[tuple[bytes, int]]:
    """Registry items as JSON lines, in members of about ``shard_max_bytes``, with their counts."""
    chunk = bytearray()
    count = 0
    for item in registry.scan_items():
        chunk += json_line(item)
        count += 1
        if len(chunk) >= shard_max_bytes:
            yield bytes(chunk), count
            chunk, count = bytearray(), 0
    if count:
        yield bytes(chunk), count


# --------------------------------------------------------------------------------------------------
# Writing


class _Sink:
    """Where gzip writes: the compressed bytes so far, handed out (and forgotten) by ``drain``."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buffer += data
        return len(data)

    def flush(self) -> None:
        """Nothing is held below gzip: ``drain`` takes what was written."""

    def drain(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


class ArchiveWriter:
    """Writes one archive as a stream of compressed chunks, for an upload to pull as it goes.

    ``chunks()`` yields gzip bytes after each member; once it is exhausted the counts, the member
    list and the manifest's bytes describe what was written.

    Args:
        header: the manifest's descriptive sections (``created_at``, ``index``, ``embedding``,
            ``registry``, ``stack``); the writer adds the format, counts and members.
        mtime: modification time of every member (the backup's creation time).
    """

    def __init__(self, header: Mapping[str, Any], *, mtime: int) -> None:
        self._header = dict(header)
        self._mtime = mtime
        self.members: list[dict[str, Any]] = []
        self.vector_count = 0
        self.document_count = 0
        self.vector_shards = 0
        self.manifest_bytes = b""
        self.uncompressed_bytes = 0
        self.compressed_bytes = 0

    def chunks(self, shards: Generator[Shard], registry: Iterable[tuple[bytes, int]]) -> Generator[bytes]:
        """The archive: vector shards, then registry members, then the manifest (last).

        Closing this generator early (the upload failed) closes ``shards``, so its readers stop.
        """
        sink = _Sink()
        gz = gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0)
        with gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            with contextlib.closing(shards) as shard_iter:
                for shard in shard_iter:
                    stem = f"vectors/shard-{self.vector_shards:05d}"
                    self._add(tar, f"{stem}.jsonl", shard.jsonl, shard.count)
                    self._add(tar, f"{stem}.f32", shard.f32, shard.count)
                    self.vector_count += shard.count
                    self.vector_shards += 1
                    yield self._drained(sink)
            for number, (chunk, count) in enumerate(registry):
                self._add(tar, f"registry/items-{number:05d}.jsonl", chunk, count)
                self.document_count += count
                yield self._drained(sink)
            manifest = {
                **self._header,
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "counts": {"vectors": self.vector_count, "documents": self.document_count},
                "members": self.members,
            }
            self.manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True).encode()
            _add_member(tar, MANIFEST_NAME, self.manifest_bytes, 0, self._mtime)
            self.uncompressed_bytes = sum(m["size"] for m in self.members) + len(self.manifest_bytes)
        yield self._drained(sink)

    def _add(self, tar: tarfile.TarFile, name: str, data: bytes | bytearray, count: int) -> None:
        self.members.append(_add_member(tar, name, data, count, self._mtime))

    def _drained(self, sink: _Sink) -> bytes:
        data = sink.drain()
        self.compressed_bytes += len(data)
        return data

    def summary_metadata(self, fields: Mapping[str, str]) -> dict[str, str]:
        """The object metadata of the complete archive: ``fields`` plus counts, sizes and checksum.

        ``fields`` are the descriptive keys without the ``docpipe-`` prefix (``index``,
        ``dimension``, ``created-at``, ...); ``list`` reads everything it shows from these.
        """
        return {
            f"{META}status": STATUS_COMPLETE,
            f"{META}format-version": str(FORMAT_VERSION),
            **{f"{META}{name}": value for name, value in fields.items()},
            f"{META}vector-count": str(self.vector_count),
            f"{META}document-count": str(self.document_count),
            f"{META}uncompressed-bytes": str(self.uncompressed_bytes),
            f"{META}manifest-sha256": hashlib.sha256(self.manifest_bytes).hexdigest(),
        }


def _add_member(
    tar: tarfile.TarFile, name: str, data: bytes | bytearray, count: int, mtime: int
) -> dict[str, Any]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
    return {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "count": count}
