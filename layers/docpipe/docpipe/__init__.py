"""docpipe: S3 documents in, searchable chunks in Amazon S3 Vectors out.

The public names below are imported lazily (PEP 562): ``import docpipe`` costs almost nothing,
and a handler pays for parsers, LangChain or an embedding model only when it uses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from docpipe.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # config and errors
    "Settings": "docpipe.config",
    "DocpipeError": "docpipe.exceptions",
    "ConfigError": "docpipe.exceptions",
    "PermanentError": "docpipe.exceptions",
    "TransientError": "docpipe.exceptions",
    "IndexMismatchError": "docpipe.exceptions",
    "ValidationError": "docpipe.exceptions",
    "SKIP_REASONS": "docpipe.exceptions",
    # the pipeline's scope (which keys are documents)
    "Scope": "docpipe.scope",
    # ids
    "doc_id": "docpipe.ids",
    "vector_key": "docpipe.ids",
    "content_hash": "docpipe.ids",
    # events
    "ObjectEvent": "docpipe.events",
    "UnrecognizedEventError": "docpipe.events",
    "parse_event": "docpipe.events",
    "parse_sqs_record": "docpipe.events",
    # clients and stores
    "S3Client": "docpipe.s3",
    "SecretsClient": "docpipe.secrets",
    "S3VectorStore": "docpipe.vectorstore",
    "VectorRecord": "docpipe.vectorstore",
    "QueryResult": "docpipe.vectorstore",
    "QueryMatch": "docpipe.vectorstore",
    "IndexInfo": "docpipe.vectorstore",
    "NON_FILTERABLE_METADATA_KEYS": "docpipe.vectorstore",
    "DocumentRegistry": "docpipe.registry",
    "DocumentRecord": "docpipe.registry",
    # pipeline steps
    "parse_document": "docpipe.parsers",
    "ParsedDocument": "docpipe.parsers",
    "chunk_document": "docpipe.chunking",
    "Chunk": "docpipe.chunking",
    "Embedder": "docpipe.embeddings",
    "make_embedder": "docpipe.embeddings",
    "OcrEngine": "docpipe.ocr",
    "make_ocr_engine": "docpipe.ocr",
    "IngestService": "docpipe.ingest",
    "Outcome": "docpipe.ingest",
    "SearchRequest": "docpipe.search",
    "SearchResponse": "docpipe.search",
    "SearchService": "docpipe.search",
    "build_search_service": "docpipe.search",
    # notebooks
    "S3FileLoader": "docpipe.loaders",
    "S3DirectoryLoader": "docpipe.loaders",
    "DocpipeRetriever": "docpipe.retriever",
}

__all__ = [
    "Chunk",
    "ConfigError",
    "DocpipeError",
    "DocpipeRetriever",
    "DocumentRecord",
    "DocumentRegistry",
    "Embedder",
    "IndexInfo",
    "IndexMismatchError",
    "IngestService",
    "NON_FILTERABLE_METADATA_KEYS",
    "ObjectEvent",
    "OcrEngine",
    "Outcome",
    "ParsedDocument",
    "PermanentError",
    "QueryMatch",
    "QueryResult",
    "S3Client",
    "S3DirectoryLoader",
    "S3FileLoader",
    "S3VectorStore",
    "SKIP_REASONS",
    "Scope",
    "SearchRequest",
    "SearchResponse",
    "SearchService",
    "SecretsClient",
    "Settings",
    "TransientError",
    "UnrecognizedEventError",
    "ValidationError",
    "VectorRecord",
    "build_search_service",
    "chunk_document",
    "content_hash",
    "doc_id",
    "make_embedder",
    "make_ocr_engine",
    "parse_document",
    "parse_event",
    "parse_sqs_record",
    "vector_key",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from docpipe.chunking import Chunk, chunk_document
    from docpipe.config import Settings
    from docpipe.embeddings import Embedder, make_embedder
    from docpipe.events import ObjectEvent, UnrecognizedEventError, parse_event, parse_sqs_record
    from docpipe.exceptions import (
        SKIP_REASONS,
        ConfigError,
        DocpipeError,
        IndexMismatchError,
        PermanentError,
        TransientError,
        ValidationError,
    )
    from docpipe.ids import content_hash, doc_id, vector_key
    from docpipe.ingest import IngestService, Outcome
    from docpipe.loaders import S3DirectoryLoader, S3FileLoader
    from docpipe.ocr import OcrEngine, make_ocr_engine
    from docpipe.parsers import ParsedDocument, parse_document
    from docpipe.registry import DocumentRecord, DocumentRegistry
    from docpipe.retriever import DocpipeRetriever
    from docpipe.s3 import S3Client
    from docpipe.scope import Scope
    from docpipe.search import SearchRequest, SearchResponse, SearchService, build_search_service
    from docpipe.secrets import SecretsClient
    from docpipe.vectorstore import (
        NON_FILTERABLE_METADATA_KEYS,
        IndexInfo,
        QueryMatch,
        QueryResult,
        S3VectorStore,
        VectorRecord,
    )
