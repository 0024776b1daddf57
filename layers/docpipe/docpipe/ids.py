"""Deterministic identifiers: the same object key always maps to the same document and vector keys."""

from __future__ import annotations

import hashlib

# ``<key>.metadata.json`` beside a document holds its attributes (Bedrock Knowledge Bases' format);
# such an object is never a document itself.
SIDECAR_SUFFIX = ".metadata.json"


def sidecar_key(key: str) -> str:
    """Key of the metadata sidecar of the document at ``key``."""
    return key + SIDECAR_SUFFIX


def doc_id(bucket: str, key: str) -> str:
    """Stable id of the document stored at ``s3://bucket/key`` (32 hex characters)."""
    return hashlib.sha256(f"s3://{bucket}/{key}".encode()).hexdigest()[:32]


def vector_key(document_id: str, chunk_no: int) -> str:
    """Key of one chunk's vector: ``<doc_id>#<chunk_no>``, so a re-upload overwrites in place."""
    return f"{document_id}#{chunk_no}"


def content_hash(data: bytes) -> str:
    """sha256 of a document's bytes: identical re-uploads are recognised and skip re-embedding."""
    return hashlib.sha256(data).hexdigest()
