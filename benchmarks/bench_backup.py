"""Backup benchmark (placeholder while the patch below is developed)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def _paginated_list_vectors(self: Any) -> Any:
    """ListVectors with ``maxResults``, ``nextToken`` and ``segmentCount``/``segmentIndex``.

    moto 5.2 returns the whole index in one response and ignores segments; S3 Vectors pages (at
    most 1,000 vectors) and splits the key space into disjoint segments. Segment ``i`` of ``n``
    here is the ``i``-th contiguous slice of the index's insertion order; the token is an offset.
    """
    from moto.core.responses import ActionResult

    bucket = self._get_param("vectorBucketName")
    index_arn = self._get_param("indexArn")
    index_name = self._get_param("indexName")
    self._validate_index_params(index_arn, index_name, bucket)
    return_data = self._get_bool_param("returnData", False)
    return_metadata = self._get_bool_param("returnMetadata", False)
    max_results = int(self._get_param("maxResults") or 500)
    count = int(self._get_param("segmentCount") or 1)
    segment = int(self._get_param("segmentIndex") or 0)
    offset = int(self._get_param("nextToken") or 0)
    vectors = list(
        self.s3vectors_backend.list_vectors(vector_bucket_name=bucket, index_arn=index_arn, index_name=index_name)
    )
    low, high = len(vectors) * segment // count, len(vectors) * (segment + 1) // count
    start = low + offset
    end = min(start + max_results, high)
    result: dict[str, Any] = {
        "vectors": [
            {
                "key": v.key,
                "data": v.data if return_data else None,
                "metadata": v.metadata if return_metadata else None,
            }
            for v in vectors[start:end]
        ]
    }
    if end < high:
        result["nextToken"] = str(end - low)
    return ActionResult(result)


@contextlib.contextmanager
def paginated_moto_list_vectors() -> Iterator[None]:
    """Make moto's ListVectors page and segment like S3 Vectors while the context is open."""
    from moto.s3vectors.responses import S3VectorsResponse

    original = S3VectorsResponse.list_vectors
    S3VectorsResponse.list_vectors = _paginated_list_vectors  # type: ignore[method-assign]
    try:
        yield
    finally:
        S3VectorsResponse.list_vectors = original  # type: ignore[method-assign]
