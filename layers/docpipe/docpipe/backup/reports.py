"""What the backup actions return (JSON-ready shapes) and the comparison of an archive with the live index."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from docpipe.backup.archive import META, STATUS_COMPLETE, iso, parse_iso, vector_digest
from docpipe.s3 import ObjectInfo
from docpipe.vectorstore import VectorRecord

logger = logging.getLogger(__name__)

# Keys of each kind (missing, extra, changed) a verify report names; the counts are always exact.
LIVE_DIFF_SAMPLE = 100


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
        data["created_at"] = iso(self.created_at)
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

    def with_live(self, diff: LiveDiff) -> VerifyReport:
        """This report with the comparison against the live index filled in."""
        return replace(
            self,
            live_compared=True,
            live_missing=diff.missing,
            missing_keys=diff.missing_keys,
            live_extra=diff.extra,
            extra_keys=diff.extra_keys,
            live_changed=diff.changed,
            changed_keys=diff.changed_keys,
        )

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


def backup_info(head: ObjectInfo, now: dt.datetime) -> BackupInfo | None:
    """A ``BackupInfo`` from object metadata, or None when the object is not a complete backup."""
    meta = head.metadata
    if meta.get(f"{META}status") != STATUS_COMPLETE:
        return None
    try:
        created_at = parse_iso(meta[f"{META}created-at"])
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


@dataclass(frozen=True)
class LiveDiff:
    """How the live index differs from an archive: exact counts and the first keys of each kind."""

    missing: int = 0
    extra: int = 0
    changed: int = 0
    missing_keys: list[str] = field(default_factory=list)
    extra_keys: list[str] = field(default_factory=list)
    changed_keys: list[str] = field(default_factory=list)


def compare_with_live(
    replay: Callable[[Callable[[list[VectorRecord]], None]], None], live: Iterable[VectorRecord]
) -> LiveDiff:
    """Compare an archive's vectors with the live index key by key (data and metadata).

    ``replay`` feeds the archive's vectors, in batches, to the callback it is given; their per-key
    digests go to a temporary SQLite file, so memory stays flat whatever the index size. Then
    ``live`` is read once against it.
    """
    with tempfile.TemporaryDirectory(prefix="docpipe-verify-") as tmp:
        db = sqlite3.connect(str(Path(tmp) / "keys.sqlite"))
        try:
            db.execute("CREATE TABLE archive (key TEXT PRIMARY KEY, digest BLOB, seen INTEGER DEFAULT 0)")

            def on_vectors(batch: list[VectorRecord]) -> None:
                db.executemany(
                    "INSERT OR REPLACE INTO archive (key, digest) VALUES (?, ?)",
                    [(r.key, vector_digest(r.data, r.metadata)) for r in batch],
                )

            replay(on_vectors)
            extra_count = changed_count = 0
            extra_keys: list[str] = []
            changed_keys: list[str] = []
            for record in live:
                row = db.execute("SELECT digest FROM archive WHERE key = ?", (record.key,)).fetchone()
                if row is None:
                    extra_count += 1
                    if len(extra_keys) < LIVE_DIFF_SAMPLE:
                        extra_keys.append(record.key)
                    continue
                db.execute("UPDATE archive SET seen = 1 WHERE key = ?", (record.key,))
                if row[0] != vector_digest(record.data, record.metadata):
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
    return LiveDiff(
        missing=missing_count,
        extra=extra_count,
        changed=changed_count,
        missing_keys=missing_keys,
        extra_keys=extra_keys,
        changed_keys=changed_keys,
    )
