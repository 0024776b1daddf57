"""Chunking with LangChain's RecursiveCharacterTextSplitter, and S3 Vectors' metadata limits.

The splitter runs once over the whole document (pages joined by a blank line) so chunks may cross
page boundaries like the text does; each chunk's character offsets are mapped back to the pages
they cover (``page`` .. ``page_end``), so nothing straddles pages silently.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from docpipe.exceptions import MetadataTooLargeError
from docpipe.parsers import MARKDOWN, ParsedDocument

PAGE_SEPARATOR = "\n\n"
CHUNK_KEYS: tuple[str, ...] = ("page", "page_end", "chunk_no", "start_index", "end_index", "text")
"""Keys chunk_document() sets on every chunk; base metadata may not use them."""

# S3 Vectors limits per vector (Amazon S3 User Guide, "Limitations and restrictions").
MAX_METADATA_BYTES = 40 * 1024
MAX_FILTERABLE_METADATA_BYTES = 2 * 1024
MAX_METADATA_KEYS = 50


@dataclass(frozen=True)
class Chunk:
    """One piece of a document to embed; ``metadata`` is everything stored with its vector."""

    chunk_no: int
    text: str
    metadata: dict[str, Any]


def chunk_document(
    doc: ParsedDocument,
    *,
    chunk_size: int,
    chunk_overlap: int,
    base_metadata: Mapping[str, Any],
) -> list[Chunk]:
    """Split a parsed document into overlapping chunks with per-chunk metadata.

    Args:
        doc: the parsed document.
        chunk_size: maximum characters per chunk.
        chunk_overlap: characters shared by neighbouring chunks.
        base_metadata: what every chunk carries (doc_id, bucket, key, version, content_hash,
            content_type, ingested_at, source_uri, sidecar attributes).

    Returns:
        Chunks numbered from 0; metadata adds ``page``, ``page_end``, ``chunk_no``,
        ``start_index``/``end_index`` (offsets in the joined document text) and ``text``.

    Raises:
        MetadataTooLargeError: ``base_metadata`` uses a key that chunking sets itself (a sidecar
            attribute named ``page`` would otherwise be overwritten without a word).
    """
    clashes = sorted(set(base_metadata) & set(CHUNK_KEYS))
    if clashes:
        raise MetadataTooLargeError(f"metadata keys {clashes} are reserved for chunk fields; rename them")
    # Imported here: langchain_text_splitters costs ~0.4 s to import, which the handler's cold
    # start pays only when a document is actually chunked.
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    if doc.content_type == MARKDOWN:
        # Same splitter, with Markdown's separators first: chunks break at headings and fences.
        splitter = RecursiveCharacterTextSplitter.from_language(
            Language.MARKDOWN, chunk_size=chunk_size, chunk_overlap=chunk_overlap, add_start_index=True
        )
    else:
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, add_start_index=True
        )
    starts: list[int] = []
    parts: list[str] = []
    offset = 0
    for page in doc.pages:
        starts.append(offset)
        parts.append(page.text)
        offset += len(page.text) + len(PAGE_SEPARATOR)
    full_text = PAGE_SEPARATOR.join(parts)
    numbers = [page.number for page in doc.pages]

    chunks: list[Chunk] = []
    for chunk_no, piece in enumerate(splitter.create_documents([full_text])):
        text = piece.page_content
        start = int(piece.metadata["start_index"])
        if start < 0:  # the splitter could not locate the piece; never guess silently
            start = full_text.find(text)
        end = start + len(text)
        metadata = dict(base_metadata)
        metadata.update(
            page=numbers[bisect.bisect_right(starts, start) - 1],
            page_end=numbers[bisect.bisect_right(starts, max(start, end - 1)) - 1],
            chunk_no=chunk_no,
            start_index=start,
            end_index=end,
            text=text,
        )
        chunks.append(Chunk(chunk_no=chunk_no, text=text, metadata=metadata))
    return chunks


def metadata_size(metadata: Mapping[str, Any]) -> int:
    """Bytes of ``metadata`` as JSON in UTF-8: how large it is on the wire to S3 Vectors."""
    return len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), default=str).encode())


def check_metadata_limits(metadata: Mapping[str, Any], non_filterable_keys: Collection[str]) -> None:
    """Fail before PutVectors when a vector's metadata breaks an S3 Vectors limit.

    The API would reject the whole batch with a ValidationException that does not say which
    document or key is at fault; this names both the limit and the largest offenders.

    Raises:
        MetadataTooLargeError: more than 50 keys, over 40 KB in total, over 2 KB filterable, or a
            value S3 Vectors cannot store (NaN/infinite numbers, None).
    """
    if len(metadata) > MAX_METADATA_KEYS:
        raise MetadataTooLargeError(f"{len(metadata)} metadata keys; S3 Vectors allows {MAX_METADATA_KEYS}")
    for name, value in metadata.items():
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            raise MetadataTooLargeError(
                f"metadata key {name!r} has value {value!r}, which S3 Vectors rejects"
            )
    total = metadata_size(metadata)
    if total > MAX_METADATA_BYTES:
        raise MetadataTooLargeError(
            f"metadata is {total} bytes; S3 Vectors allows {MAX_METADATA_BYTES} "
            f"(largest keys: {_largest(metadata)})"
        )
    filterable = {k: v for k, v in metadata.items() if k not in non_filterable_keys}
    size = metadata_size(filterable)
    if size > MAX_FILTERABLE_METADATA_BYTES:
        raise MetadataTooLargeError(
            f"filterable metadata is {size} bytes; S3 Vectors allows {MAX_FILTERABLE_METADATA_BYTES} "
            f"(largest keys: {_largest(filterable)}); shorten sidecar attributes or declare them "
            "non-filterable"
        )


def _largest(metadata: Mapping[str, Any], n: int = 3) -> str:
    sizes = sorted(((metadata_size({k: v}), k) for k, v in metadata.items()), reverse=True)[:n]
    return ", ".join(f"{k}={size}B" for size, k in sizes)
