"""S3 Inventory reports written the way S3 delivers them (moto generates none).

Layout and manifest as the Amazon S3 User Guide documents them ("Locating your inventory list"):
``<prefix>/<YYYY-MM-DDTHH-MMZ>/manifest.json`` + ``manifest.checksum`` (MD5 of the manifest), and
gzip'd CSV data files under ``<prefix>/data/``, every field quoted, keys URL-encoded. Rows are
shuffled and spread over several files: a report is not sorted by key.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

CURRENT_SCHEMA = ("Bucket", "Key", "Size", "LastModifiedDate", "ETag")


def bucket_rows(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """The current objects of ``bucket`` as an inventory scan sees them."""
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", ()):
            rows.append(
                {
                    "Bucket": bucket,
                    "Key": item["Key"],
                    "Size": item["Size"],
                    "LastModifiedDate": item["LastModified"]
                    .astimezone(UTC)
                    .strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "ETag": item["ETag"].strip('"'),
                }
            )
    return rows


def write_report(
    s3: Any,
    *,
    source_bucket: str,
    destination_bucket: str,
    prefix: str,
    rows: Iterable[dict[str, Any]] | None = None,
    created: float | None = None,
    schema: Sequence[str] = CURRENT_SCHEMA,
    file_count: int = 2,
    file_format: str = "CSV",
    seed: int = 7,
) -> dict[str, Any]:
    """Write one report (default: the bucket as it is now, taken now); returns its manifest."""
    created = time.time() if created is None else created
    items = list(bucket_rows(s3, source_bucket) if rows is None else rows)
    random.Random(seed).shuffle(items)
    files = []
    for n in range(file_count):
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for item in items[n::file_count]:
            writer.writerow([quote_plus(str(item[c])) if c == "Key" else item.get(c, "") for c in schema])
        body = gzip.compress(buffer.getvalue().encode("utf-8"))
        key = f"{prefix}data/{uuid.uuid4()}.csv.gz"
        s3.put_object(Bucket=destination_bucket, Key=key, Body=body)
        files.append({"key": key, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()})
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
        "version": "2016-11-30",
        "creationTimestamp": str(int(created * 1000)),
        "fileFormat": file_format,
        "fileSchema": ", ".join(schema),
        "files": files,
    }
    folder = f"{prefix}{datetime.fromtimestamp(created, UTC).strftime('%Y-%m-%dT%H-%MZ')}/"
    raw = json.dumps(manifest, indent=2).encode("utf-8")
    s3.put_object(Bucket=destination_bucket, Key=folder + "manifest.json", Body=raw)
    s3.put_object(
        Bucket=destination_bucket, Key=folder + "manifest.checksum", Body=hashlib.md5(raw).hexdigest()
    )
    return {**manifest, "manifest_key": folder + "manifest.json"}
