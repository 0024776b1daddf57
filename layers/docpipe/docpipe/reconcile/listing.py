"""The live listing as reconcile's object source: ListObjectsV2 of the documents bucket."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from docpipe.reconcile.source import ObjectSource
from docpipe.s3 import ObjectInfo, S3Client


class ListingSource(ObjectSource):
    """ListObjectsV2 of one bucket: live, one request per 1,000 objects."""

    name = "list"

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def objects(
        self, prefix: str, after: str = "", *, stop: Callable[[], bool] | None = None
    ) -> Iterator[ObjectInfo]:
        page_size = getattr(self.s3, "list_page_size", None)  # tests page one key at a time
        return self.s3.list_objects(self.bucket, prefix, start_after=after, page_size=page_size)
