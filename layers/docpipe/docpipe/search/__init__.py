"""The search API: one request parser, one service, two doors (Function URL and direct invocation)."""

from __future__ import annotations

from docpipe.search.request import MAX_NEIGHBOURS, MAX_QUERY_CHARS, SearchRequest
from docpipe.search.service import (
    SearchMatch,
    SearchResponse,
    SearchService,
    build_search_service,
    similarity,
)

__all__ = [
    "MAX_NEIGHBOURS",
    "MAX_QUERY_CHARS",
    "SearchMatch",
    "SearchRequest",
    "SearchResponse",
    "SearchService",
    "build_search_service",
    "similarity",
]
