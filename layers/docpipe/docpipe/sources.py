"""Where reconcile learns which objects the bucket holds: the interface and the live listing."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from docpipe.s3 import ObjectInfo, S3Client


class ObjectSource(ABC):
    """The objects of a bucket under a prefix, in S3's key order (UTF-8 binary).

    ``as_of`` is None for a live listing, or the epoch seconds a snapshot describes (an S3
    Inventory report): reconcile does not trust what such a source says about registry entries
    written after it was taken. Failures raise a ``DocpipeError`` from the iterator.
    """

    name: str = ""

    @property
    def as_of(self) -> float | None:
        return None

    @abstractmethod
    def objects(
        self, prefix: str, after: str = "", *, stop: Callable[[], bool] | None = None
    ) -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix`` and sorts after ``after``, in key order.

        ``stop`` says when the invocation is out of time, for a source that works before its
        first object (the caller checks it between objects anyway).
        """

    def describe(self) -> dict[str, Any]:
        """What a reconcile report says about the source (``source``, ``source_as_of``)."""
        return {"source": self.name, "source_as_of": None}


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
