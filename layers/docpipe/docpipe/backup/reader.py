"""The untrusted-archive reader: every rule a restore or verify applies before it trusts a byte.

A restore treats the archive as untrusted. The manifest comes last (checksums are only known once
every shard is written), so a restore makes two passes over the same object version: pass 1
(``validate``) streams the whole archive, enforcing the size, ratio and path rules as it goes and
comparing every member with the manifest at the end, and writes nothing; pass 2 (``replay``)
re-reads the pinned version and hands its records to the caller. Either the whole archive is
accepted or nothing is written. A broken rule raises ``ArchiveRejectedError`` naming the rule and
the member.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import math
import re
import tarfile
import tempfile
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from pathlib import PurePosixPath
from typing import IO, Any

from docpipe.backup.archive import (
    FORMAT,
    INDEX_NAME,
    INDEX_NAME_RULE,
    MANIFEST_NAME,
    REG_JSONL,
    SUPPORTED_FORMAT_VERSIONS,
    VEC_F32,
    VEC_JSONL,
    MiB,
    f32_values,
)
from docpipe.exceptions import ArchiveRejectedError, BackupError
from docpipe.s3 import S3Client
from docpipe.vectorstore import DISTANCE_METRICS, VectorRecord

READ_CHUNK = 1 * MiB
# Records handed to the callbacks per call in pass 2 (one PutVectors / registry batch).
PUT_BATCH_SIZE = 500
# Our writer never exceeds these, so anything larger is hostile or corrupt.
MAX_JSONL_MEMBER_BYTES = 64 * MiB
MAX_MANIFEST_BYTES = 16 * MiB
# S3 Vectors metadata is at most 40 KB per vector and a DynamoDB item 400 KB: a longer line is not ours.
MAX_LINE_BYTES = 1 * MiB
MAX_COMPRESSION_RATIO = 200
# Tiny archives are mostly tar padding (zeros) and legitimately compress far beyond 200:1.
RATIO_FLOOR_BYTES = 1 * MiB
MAX_VECTOR_KEY_CHARS = 1024
MAX_DIMENSION = 4096
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


@dataclass(frozen=True)
class ArchiveRef:
    """One archive object, pinned: both passes read this version (or fail if the ETag changed)."""

    key: str
    size: int
    version_id: str | None
    etag: str


@dataclass
class MemberFacts:
    name: str
    size: int
    sha256: str
    lines: int = 0


@dataclass(frozen=True)
class Validated:
    """What pass 1 proved: the manifest and every member's size, checksum and line count."""

    manifest: dict[str, Any]
    members: dict[str, MemberFacts]

    @property
    def dimension(self) -> int:
        return int(self.manifest["index"]["dimension"])


class ArchiveReader:
    """Reads archives from the backups bucket under the untrusted-input rules.

    Args:
        s3: S3 client for the backups bucket.
        bucket: the backups bucket.
        max_restore_bytes: cap on the decompressed size of one archive (``BACKUP_MAX_RESTORE_BYTES``).
    """

    def __init__(self, s3: S3Client, bucket: str, *, max_restore_bytes: int) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._max_restore_bytes = max_restore_bytes

    @contextlib.contextmanager
    def _open(self, ref: ArchiveRef) -> Iterator[_BoundedReader]:
        """Stream the pinned object version (so pass 2 reads exactly what pass 1 accepted)."""
        with self._s3.stream(self._bucket, ref.key, version_id=ref.version_id, etag=ref.etag) as (info, body):
            compressed_size = info.size or ref.size
            cap = self._max_restore_bytes
            ratio_limit = max(MAX_COMPRESSION_RATIO * compressed_size, RATIO_FLOOR_BYTES)
            limit, rule = (cap, "total_size") if cap <= ratio_limit else (ratio_limit, "compression_ratio")
            with gzip.GzipFile(fileobj=_CountingReader(body), mode="rb") as raw:  # type: ignore[call-overload]
                yield _BoundedReader(raw, limit=limit, rule=rule)

    def validate(self, ref: ArchiveRef) -> Validated:
        """Pass 1: every rule, every checksum, every count; nothing is written."""
        facts: dict[str, MemberFacts] = {}
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
                if VEC_F32.match(name):
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
                    facts[name] = _scan_jsonl(name, read, vectors=bool(VEC_JSONL.match(name)))
                previous = name
        if manifest is None:
            raise _reject("archive has no manifest", member=MANIFEST_NAME, rule="missing_manifest")
        _compare_with_manifest(manifest, facts)
        return Validated(manifest=manifest, members=facts)

    def replay(
        self,
        ref: ArchiveRef,
        validated: Validated,
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
                    if VEC_JSONL.match(name):
                        keys = tempfile.SpooledTemporaryFile(max_size=8 * MiB)  # noqa: SIM115 (closed below)
                        _copy_checked(read, keys, validated.members[name])
                        keys.seek(0)
                    elif VEC_F32.match(name):
                        assert keys is not None  # pass 1 proved the layout
                        _replay_f32(name, read, keys, stride, validated.members[name], on_vectors)
                        keys.close()
                        keys = None
                    elif REG_JSONL.match(name):
                        _replay_items(name, read, validated.members[name], on_items)
        finally:
            if keys is not None:
                keys.close()


# --------------------------------------------------------------------------------------------------
# Streams and members


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
    if name != MANIFEST_NAME and not (VEC_JSONL.match(name) or VEC_F32.match(name) or REG_JSONL.match(name)):
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
    if not isinstance(name, str) or not INDEX_NAME.match(name):
        raise bad(f"index name {name!r:.80} is not a valid index name ({INDEX_NAME_RULE})")
    dimension = index.get("dimension")
    if not isinstance(dimension, int) or isinstance(dimension, bool) or not 1 <= dimension <= MAX_DIMENSION:
        raise bad(f"dimension {dimension!r} is not 1..{MAX_DIMENSION}")
    if index.get("data_type") != "float32":
        raise bad(f"data type {index.get('data_type')!r} is not float32")
    if index.get("distance_metric") not in DISTANCE_METRICS:
        raise bad(f"distance metric {index.get('distance_metric')!r} is not one of {DISTANCE_METRICS}")
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


def _replay_f32(
    name: str,
    read: Callable[[int], bytes],
    keys: IO[bytes],
    stride: int,
    fact: MemberFacts,
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
            data = f32_values(chunk[offset : offset + stride])
            batch.append(VectorRecord(key=key, data=data, metadata=metadata))
        on_vectors(batch)
    _check_digest(digest, fact)


def _replay_items(
    name: str,
    read: Callable[[int], bytes],
    fact: MemberFacts,
    on_items: Callable[[list[dict[str, Any]]], None] | None,
) -> None:
    """One registry member, spooled and checked whole before its first item is written."""
    with tempfile.SpooledTemporaryFile(max_size=8 * MiB) as spool:
        _copy_checked(read, spool, fact)
        spool.seek(0)
        if on_items is not None:
            for lines in _batched(spool, PUT_BATCH_SIZE):
                on_items([_validate_item_line(line, name) for line in lines])


def _read_all(read: Callable[[int], bytes]) -> bytes:
    parts = []
    while chunk := read(READ_CHUNK):
        parts.append(chunk)
    return b"".join(parts)


def _scan_f32(name: str, read: Callable[[int], bytes]) -> MemberFacts:
    digest = hashlib.sha256()
    size = 0
    while chunk := read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
        usable = len(chunk) - len(chunk) % 4
        # sum() over a float array is a C loop; it is NaN or infinite iff some value is.
        if usable and not math.isfinite(sum(array("f", chunk[:usable]))):
            raise _reject("vector data holds NaN or infinity", member=name, rule="non_finite_vector")
    return MemberFacts(name=name, size=size, sha256=digest.hexdigest())


def _scan_jsonl(name: str, read: Callable[[int], bytes], *, vectors: bool) -> MemberFacts:
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
    return MemberFacts(name=name, size=size, sha256=digest.hexdigest(), lines=lines)


def _compare_with_manifest(manifest: dict[str, Any], facts: dict[str, MemberFacts]) -> None:
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
        if VEC_JSONL.match(name):
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
        elif REG_JSONL.match(name):
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


def _copy_checked(read: Callable[[int], bytes], out: IO[bytes], fact: MemberFacts) -> None:
    digest = hashlib.sha256()
    while chunk := read(READ_CHUNK):
        digest.update(chunk)
        out.write(chunk)
    _check_digest(digest, fact)


def _check_digest(digest: Any, fact: MemberFacts) -> None:
    if digest.hexdigest() != fact.sha256:
        # Only possible if the pinned object version changed under us; stop before writing more.
        raise BackupError(f"member {fact.name!r} changed between the validation and the restore pass")


def _batched(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    iterator = iter(lines)
    while batch := list(islice(iterator, size)):
        yield batch
