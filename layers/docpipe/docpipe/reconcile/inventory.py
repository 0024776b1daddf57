"""S3 Inventory reports as reconcile's object source: the newest report's objects, in key order.

S3 publishes a report under ``<destination-prefix>/<source-bucket>/<config-id>/``: a dated folder
``YYYY-MM-DDTHH-MMZ/`` per report holding ``manifest.json`` (``creationTimestamp``,
``fileFormat``, ``fileSchema``, ``files[]`` with ``key``, ``size``, ``MD5checksum``) and
``manifest.checksum`` (the MD5 of ``manifest.json``), and gzip'd CSV data files under ``data/``
(Amazon S3 User Guide, "Locating your inventory list"). In CSV reports the keys are URL-encoded.

A report is a rolling snapshot, not sorted by key, and up to a day old. This module checks it
whole (the manifest's checksum, format and schema; every data file's size and MD5) while it
streams the rows into an SQLite file in a temporary directory, and only then hands out the rows
in S3's key order (SQLite's BINARY collation compares UTF-8 bytes, as S3 sorts). So a report
with a missing or damaged file fails before reconcile judges anything, and memory holds one
batch of rows, not the report.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import json
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from urllib.parse import unquote_plus

from docpipe.exceptions import DocpipeError
from docpipe.reconcile.source import ObjectSource
from docpipe.s3 import ObjectInfo, S3Client
from docpipe.timestamps import iso_timestamp

MANIFEST_NAME = "manifest.json"
CHECKSUM_NAME = "manifest.checksum"
# The dated folder of one report: the time S3 began scanning the bucket, e.g. 2016-11-06T21-32Z.
_REPORT_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z$")
# Columns reconcile compares (Bucket and Key are always in a report; the others are optional
# fields the inventory configuration must include).
REQUIRED_COLUMNS = ("Bucket", "Key", "Size", "ETag")
MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # a manifest names files, not objects: megabytes at most
_INSERT_BATCH = 5_000  # rows per executemany
_READ_BATCH = 1_000  # rows per fetchmany


class InventoryError(DocpipeError):
    """The inventory report cannot be used (incomplete, damaged or not the format docpipe reads)."""


class NoInventoryError(InventoryError):
    """No inventory report has been delivered yet under the configured location."""


@dataclass(frozen=True)
class InventoryFile:
    key: str
    size: int
    md5: str


@dataclass(frozen=True)
class InventoryReport:
    """One delivered report, as its manifest describes it."""

    manifest_key: str
    created: float  # epoch seconds: when S3 began scanning the bucket for this report
    columns: tuple[str, ...]
    files: tuple[InventoryFile, ...]

    @property
    def created_iso(self) -> str:
        return iso_timestamp(self.created)


class InventorySource(ObjectSource):
    """The objects of the newest S3 Inventory report of ``source_bucket``, in key order.

    Args:
        s3: a client that may list ``bucket`` under ``prefix`` and read the report's objects.
        bucket: the inventory's destination bucket.
        prefix: where one configuration's reports lie,
            ``<destination-prefix>/<source-bucket>/<config-id>/``.
        source_bucket: the bucket the report lists (the manifest must name it).
        workdir: where the sorted rows are spooled (default: the system's temporary directory).
    """

    name = "inventory"

    def __init__(
        self, s3: S3Client, bucket: str, prefix: str, *, source_bucket: str, workdir: str | None = None
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.source_bucket = source_bucket
        self.workdir = workdir
        self.report: InventoryReport | None = None
        self._stop: Callable[[], bool] = lambda: False
        self._rows_read = 0

    @property
    def as_of(self) -> float | None:
        """When the report in use was taken (None until ``objects`` has read one)."""
        return self.report.created if self.report is not None else None

    def describe(self) -> dict[str, Any]:
        """What the run's report says about its source."""
        report = self.report
        return {
            "source": self.name,
            "source_as_of": report.created_iso if report else None,
            "inventory_manifest": f"s3://{self.bucket}/{report.manifest_key}" if report else None,
        }

    def objects(
        self, prefix: str, after: str = "", *, stop: Callable[[], bool] | None = None
    ) -> Iterator[ObjectInfo]:
        """Objects under ``prefix`` whose key sorts after ``after``, in S3's key order.

        The whole report is read and checked before the first object is returned; ``stop`` is
        asked between batches of rows, so a report too large for the invocation fails cleanly.

        Raises:
            NoInventoryError: no report has been delivered yet.
            InventoryError: the report is incomplete, damaged, not CSV with the needed fields, or
                ``stop`` said the time ran out before it was read.
        """
        self._stop = stop or (lambda: False)
        self._rows_read = 0
        self.report = self.latest()
        with tempfile.TemporaryDirectory(prefix="docpipe-inventory-", dir=self.workdir) as directory:
            connection = sqlite3.connect(f"{directory}/objects.sqlite3")
            try:
                _prepare(connection)
                for file in self.report.files:
                    self._load(connection, self.report, file, prefix, after)
                yield from _sorted_objects(connection, self.source_bucket)
            finally:
                connection.close()

    # -- the manifest ---------------------------------------------------------------------------

    def latest(self) -> InventoryReport:
        """The newest report whose manifest is complete (manifest.json and its checksum)."""
        folders: dict[str, set[str]] = {}
        for info in self.s3.list_objects(self.bucket, self.prefix):
            folder, _, name = info.key[len(self.prefix) :].partition("/")
            if not folder[:1].isdigit():
                break  # "data/" and "hive/" sort after every dated folder: the reports are all seen
            if _REPORT_FOLDER.match(folder) and name in (MANIFEST_NAME, CHECKSUM_NAME):
                folders.setdefault(folder, set()).add(name)
        complete = sorted(f for f, names in folders.items() if names == {MANIFEST_NAME, CHECKSUM_NAME})
        if not complete:
            raise NoInventoryError(
                f"no S3 Inventory report under s3://{self.bucket}/{self.prefix} yet "
                "(S3 delivers the first within 48 hours of the configuration)"
            )
        return self._read_manifest(f"{self.prefix}{complete[-1]}/")

    def _read_manifest(self, folder: str) -> InventoryReport:
        key = folder + MANIFEST_NAME
        raw = self.s3.read_bytes(self.bucket, key, max_bytes=MAX_MANIFEST_BYTES)
        checksum = self.s3.read_bytes(self.bucket, folder + CHECKSUM_NAME, max_bytes=1024)
        where = f"s3://{self.bucket}/{key}"
        if (
            hashlib.md5(raw, usedforsecurity=False).hexdigest()
            != checksum.decode("ascii", "replace").strip().lower()
        ):
            raise InventoryError(f"{where} does not match its manifest.checksum")
        try:
            manifest = json.loads(raw)
            source, file_format = manifest["sourceBucket"], manifest["fileFormat"]
            created = int(manifest["creationTimestamp"]) / 1000
            columns = tuple(c.strip() for c in str(manifest["fileSchema"]).split(","))
            files = tuple(
                InventoryFile(str(f["key"]), int(f["size"]), str(f["MD5checksum"]).lower())
                for f in manifest["files"]
            )
        except (ValueError, KeyError, TypeError) as error:
            raise InventoryError(f"{where} is not an S3 Inventory manifest: {error!r}") from error
        if source != self.source_bucket:
            raise InventoryError(f"{where} lists bucket {source!r}, not {self.source_bucket!r}")
        if file_format != "CSV":
            raise InventoryError(f"{where} is a {file_format} report; docpipe reads CSV reports")
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise InventoryError(
                f"{where} has no {', '.join(missing)} column (fileSchema: {', '.join(columns)})"
            )
        return InventoryReport(key, created, columns, files)

    # -- the data files -------------------------------------------------------------------------

    def _load(
        self,
        connection: sqlite3.Connection,
        report: InventoryReport,
        file: InventoryFile,
        prefix: str,
        after: str,
    ) -> None:
        where = f"s3://{self.bucket}/{file.key}"
        index = {name: n for n, name in enumerate(report.columns)}
        key_at, size_at, etag_at, bucket_at = index["Key"], index["Size"], index["ETag"], index["Bucket"]
        modified_at = index.get("LastModifiedDate")
        latest_at, marker_at = index.get("IsLatest"), index.get("IsDeleteMarker")
        batch: list[tuple[str, int, str, str | None]] = []
        try:
            with self.s3.stream(self.bucket, file.key) as (_, body):
                digest = _DigestReader(body)
                text = io.TextIOWrapper(gzip.GzipFile(fileobj=digest), encoding="utf-8", newline="")
                for line, row in enumerate(csv.reader(text), start=1):
                    self._rows_read += 1
                    if self._rows_read % _INSERT_BATCH == 0 and self._stop():
                        raise InventoryError(
                            f"the invocation ran out of time reading {report.manifest_key} after "
                            f"{self._rows_read} rows: the report is larger than one run can read"
                        )
                    if len(row) != len(report.columns):
                        raise InventoryError(
                            f"{where} line {line}: {len(row)} fields, the schema has {len(report.columns)}"
                        )
                    if row[bucket_at] != self.source_bucket:
                        continue
                    if (latest_at is not None and row[latest_at].lower() != "true") or (
                        marker_at is not None and row[marker_at].lower() == "true"
                    ):
                        continue  # a noncurrent version or a delete marker (an "All versions" report)
                    key = unquote_plus(row[key_at])  # URL-encoded in CSV reports (Athena: url_decode)
                    if not key.startswith(prefix) or key <= after:
                        continue
                    modified = row[modified_at] if modified_at is not None else None
                    batch.append((key, int(row[size_at] or 0), row[etag_at].strip('"'), modified or None))
                    if len(batch) >= _INSERT_BATCH:
                        _insert(connection, batch)
                        batch = []
                _insert(connection, batch)
                digest.drain()
        except InventoryError:
            raise
        except DocpipeError as error:
            raise InventoryError(
                f"data file {where} of {report.manifest_key} is unreadable: {error}"
            ) from error
        except (OSError, EOFError, UnicodeDecodeError, csv.Error, ValueError) as error:
            raise InventoryError(f"data file {where} is damaged: {error!r}") from error
        if digest.size != file.size or digest.hexdigest() != file.md5:
            raise InventoryError(
                f"data file {where} is not the one the manifest names "
                f"({digest.size} bytes, MD5 {digest.hexdigest()}; expected {file.size}, {file.md5})"
            )


class _DigestReader(io.RawIOBase):
    """Counts and MD5-hashes the compressed bytes as gzip reads them."""

    def __init__(self, body: IO[bytes]) -> None:
        self._body = body
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        self._md5.update(data)
        self.size += len(data)
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read what gzip left unread (trailing bytes), so the size and digest cover the file."""
        while self.readinto(bytearray(64 * 1024)):
            pass

    def hexdigest(self) -> str:
        return self._md5.hexdigest()


def _prepare(connection: sqlite3.Connection) -> None:
    # A scratch file: no journal, no fsync. Keys are TEXT in BINARY collation (UTF-8 byte order).
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute(
        "CREATE TABLE objects (key TEXT PRIMARY KEY, size INTEGER, etag TEXT, modified TEXT) WITHOUT ROWID"
    )


def _insert(connection: sqlite3.Connection, rows: list[tuple[str, int, str, str | None]]) -> None:
    if rows:
        with connection:
            connection.executemany("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", rows)


def _sorted_objects(connection: sqlite3.Connection, bucket: str) -> Iterator[ObjectInfo]:
    with contextlib.closing(
        connection.execute("SELECT key, size, etag, modified FROM objects ORDER BY key")
    ) as rows:
        while batch := rows.fetchmany(_READ_BATCH):
            for key, size, etag, modified in batch:
                yield ObjectInfo(
                    bucket=bucket, key=key, size=size, etag=etag, last_modified=_parse_time(modified)
                )


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
