"""Where reconcile learns which objects the bucket holds: the interface every source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from docpipe.s3 import ObjectInfo


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
