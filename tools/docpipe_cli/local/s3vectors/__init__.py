"""A local Amazon S3 Vectors that answers the whole API, installed into moto: the emulator boundary.

moto 5.2 stores vectors but has no ``QueryVectors`` (a client gets HTTP 404), no index modes and no
full-text search. ``install()`` patches moto in this process, before a server serves or inside
``mock_aws``, so that any client (boto3, langchain-aws, docpipe's own store) gets the service's
answers: exact nearest neighbours with S3 Vectors filters, BM25 full-text and RRF hybrid queries,
index modes, text search configurations and their status, the service's validation errors.
docs/local.md says what it answers and where it differs from the service.

- ``filters``: the filter language, validated and evaluated as numpy masks;
- ``text``: BM25 per searchable key (bm25s) with per-language analyzers;
- ``engine``: an index's in-memory matrix, metadata columns and the ranking;
- ``api``: the operations, as handlers on moto's S3 Vectors response class.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["install"]

_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Patch moto's S3 Vectors in this process (idempotent): routes, handlers, write hooks."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.s3vectors import models, responses, urls

        from docpipe_cli.local.s3vectors import api

        for operation in api.ROUTES:
            urls.url_paths.setdefault(f"{{0}}/{operation}$", responses.S3VectorsResponse.dispatch)
        for name, handler in api.HANDLERS.items():
            setattr(responses.S3VectorsResponse, name, handler)
        backend = models.S3VectorsBackend
        backend.put_vectors = _after_put(backend.put_vectors)  # type: ignore[method-assign]
        backend.delete_vectors = _after_delete(backend.delete_vectors)  # type: ignore[method-assign]
        _installed = True


def _after_put(original: Callable[..., Any]) -> Callable[..., Any]:
    from docpipe_cli.local.s3vectors.api import extras

    @functools.wraps(original)
    def put_vectors(
        self: Any, vector_bucket_name: str, index_name: str, index_arn: str, vectors: Any
    ) -> None:
        original(self, vector_bucket_name, index_name, index_arn, vectors)  # validates, then stores
        index = self.get_index(vector_bucket_name, index_name=index_name, index_arn=index_arn)
        extras(index).state.put(vectors)

    return put_vectors


def _after_delete(original: Callable[..., Any]) -> Callable[..., Any]:
    from docpipe_cli.local.s3vectors.api import extras

    @functools.wraps(original)
    def delete_vectors(
        self: Any, vector_bucket_name: str, index_name: str, index_arn: str, keys: list[str]
    ) -> None:
        original(self, vector_bucket_name, index_name, index_arn, keys)
        index = self.get_index(vector_bucket_name, index_name=index_name, index_arn=index_arn)
        extras(index).state.delete(keys)

    return delete_vectors
