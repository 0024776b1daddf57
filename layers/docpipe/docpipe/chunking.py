"""Chunking with LangChain's RecursiveCharacterTextSplitter, and S3 Vectors' metadata limits.

The chunks are those of one splitter pass over each top-level section of the document (pages
joined by a blank line; a document without headings is one section), so they may cross page
boundaries like the text does but never a top-level heading, a sheet or a slide; each chunk's
character offsets are mapped back to the pages it covers (``page`` .. ``page_end``), the headings
it starts under (``section``) and, for sheets, the rows it holds (``row_start`` .. ``row_end``).
``ChunkStream`` hands those same chunks out while later pages are still being extracted.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from docpipe.exceptions import MetadataTooLargeError
from docpipe.parsers import MARKDOWN, PageText, ParsedDocument

PAGE_SEPARATOR = "\n\n"
SECTION_SEPARATOR = " > "
CHUNK_KEYS: tuple[str, ...] = (
    "page",
    "page_end",
    "chunk_no",
    "start_index",
    "end_index",
    "text",
    # Set only where they apply: headings, a sheet's name and rows, an OCR'd page.
    "section",
    "sheet",
    "row_start",
    "row_end",
    "ocr",
)
"""Keys ChunkStream sets on chunks; base metadata (sidecar attributes) may not use them."""
MAX_SECTION_BYTES = 256
"""A chunk's ``section`` is cut to this many UTF-8 bytes (it counts against the 2 KB filterable)."""

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


class ChunkStream:
    """A document's chunks, computed as its pages arrive and handed out once they are final.

    Feed pages in order with ``add()``; ``take()`` returns the chunks that no later page can
    change, ``take(final=True)`` the rest. Together they are exactly what one
    ``RecursiveCharacterTextSplitter`` pass over the joined text gives (tests/unit/test_chunking.py
    compares the two on the corpus and on generated documents): same texts, numbers, offsets.
    With sections, that holds per top-level section: the text from one top-level heading (a
    ``Section`` whose path has at most one title: a sheet, a slide, a ``#`` heading, an outline
    chapter) to the next is one splitter pass of its own (tests/unit/test_sections.py), so no
    chunk straddles two of them; chunk numbers and offsets still run through the whole document.

    Why that holds: the splitter cuts the text at its first separator that occurs (``"\\n\\n"``,
    which joins pages, so any multi-page text has it), merges the pieces greedily, and sends a
    piece of ``chunk_size`` characters or more through its own recursive split after flushing
    what it had merged. After such a piece it holds nothing, so the text up to that piece's end is
    chunked exactly as inside the whole text, and the rest starts with ``"\\n\\n"`` again.
    Markdown's regex separators (headings first) are not streamed: its chunks wait for
    ``final``, which for a one-page format costs nothing. A top-level section's start is a cut
    too: the splitter's state starts afresh there, as on that section's text alone.

    Args:
        content_type: Markdown gets LangChain's Markdown separators; everything else the default.
        chunk_size: maximum characters per chunk.
        chunk_overlap: characters shared by neighbouring chunks.
        base_metadata: what every chunk carries (doc_id, bucket, key, version, content_hash,
            content_type, ingested_at, source_uri, sidecar attributes). Chunks add ``page``,
            ``page_end``, ``chunk_no``, ``start_index``/``end_index`` (offsets in the joined
            text) and ``text``; where they apply, ``section`` (the heading path at the chunk's
            start), ``row_start``/``row_end`` (rows of a sheet or CSV) and the keys of the pages'
            own ``metadata`` (``sheet``, ``ocr``; from the first covered page that sets each).
        default_metadata: keys a chunk carries unless ``base_metadata`` or a covered page sets
            them (the document's ``title`` from its file name).

    Raises:
        MetadataTooLargeError: ``base_metadata`` uses a key that chunking sets itself (a sidecar
            attribute named ``page`` would otherwise be overwritten without a word).
    """

    def __init__(
        self,
        *,
        content_type: str,
        chunk_size: int,
        chunk_overlap: int,
        base_metadata: Mapping[str, Any],
        default_metadata: Mapping[str, Any] | None = None,
    ) -> None:
        clashes = sorted(set(base_metadata) & set(CHUNK_KEYS))
        if clashes:
            raise MetadataTooLargeError(f"metadata keys {clashes} are reserved for chunk fields; rename them")
        # Imported here: langchain_text_splitters costs ~0.4 s to import, which the handler's cold
        # start pays only when a document is actually chunked.
        from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

        if content_type == MARKDOWN:
            # Same splitter, with Markdown's separators first: chunks break at headings and fences.
            self._splitter = RecursiveCharacterTextSplitter.from_language(
                Language.MARKDOWN, chunk_size=chunk_size, chunk_overlap=chunk_overlap
            )
        else:
            self._splitter = RecursiveCharacterTextSplitter(
                chunk_size=chunk_size, chunk_overlap=chunk_overlap
            )
        self._streamed = content_type != MARKDOWN
        self._size = chunk_size
        self._overlap = chunk_overlap
        self._base_metadata = dict(base_metadata)
        self._default_metadata = dict(default_metadata or {})
        # Offsets are absolute in the joined text; only text[_base:] is kept (see _trim).
        self._text = ""
        self._base = 0
        self._page_starts: list[int] = []
        self._page_numbers: list[int] = []
        self._page_metadata: list[Mapping[str, Any]] = []
        self._page_has_rows: list[bool] = []
        self._row_starts: list[int] = []
        self._row_numbers: list[int] = []
        self._section_starts: list[int] = []
        self._section_values: list[str | None] = []
        # Where top-level sections start: each is chunked by its own splitter pass.
        self._boundaries: list[int] = []
        self._boundaries_scanned = 0  # how many of them _find_cut has passed
        self._floor = 0  # start_index searches never look before the current section's start
        self._pending = 0  # where the text not yet chunked starts
        self._split_start = 0  # where the splitter's current piece starts (at a separator)
        self._scan = 0  # where the search for the next separator resumes
        self._cut = 0  # where the text that can be chunked now ends
        # create_documents' start_index search: index = text.find(chunk, index + previous - overlap)
        self._index = 0
        self._previous_len = 0
        self._chunk_no = 0

    @property
    def ready(self) -> int:
        """Characters that ``take()`` would chunk now."""
        return self._cut - self._pending

    def add(self, page: PageText) -> None:
        """Append the next page (pages are joined by ``PAGE_SEPARATOR``)."""
        if self._page_starts:
            self._text += PAGE_SEPARATOR
        start = self._base + len(self._text)
        self._page_starts.append(start)
        self._page_numbers.append(page.number)
        self._page_metadata.append(page.metadata)
        self._page_has_rows.append(bool(page.rows))
        for offset, row in page.rows:
            self._row_starts.append(start + offset)
            self._row_numbers.append(row)
        for section in page.sections:
            at = start + section.offset
            if self._section_starts and at < self._section_starts[-1]:
                continue  # out of order: a parser's slip must not break the bisects
            self._section_starts.append(at)
            self._section_values.append(section_value(section.path))
            if len(section.path) <= 1 and at > 0 and (not self._boundaries or at > self._boundaries[-1]):
                self._boundaries.append(at)
        self._text += page.text
        if self._streamed:
            self._find_cut()

    def take(self, *, final: bool = False) -> list[Chunk]:
        """The chunks that are final now (``final``: every page has been added: all the rest)."""
        end = self._base + len(self._text) if final else self._cut
        if end <= self._pending:
            return []
        chunks: list[Chunk] = []
        first = bisect.bisect_right(self._boundaries, self._pending)
        last = bisect.bisect_left(self._boundaries, end)
        for stop in [*self._boundaries[first:last], end]:
            if self._starts_section(self._pending):
                # A top-level section starts here: the splitter starts afresh, as on its own text.
                self._index, self._previous_len, self._floor = self._pending, 0, self._pending
            segment = self._text[self._pending - self._base : stop - self._base]
            self._pending = stop
            chunks.extend(self._chunk(piece) for piece in self._splitter.split_text(segment))
        self._trim()
        return chunks

    def _starts_section(self, at: int) -> bool:
        index = bisect.bisect_left(self._boundaries, at)
        return index < len(self._boundaries) and self._boundaries[index] == at

    def _find_cut(self) -> None:
        # The separator matches the splitter's re.split would find: leftmost, non-overlapping.
        # A top-level section's start is a cut too, after which its own splitter pass begins.
        text, base = self._text, self._base
        while True:
            found = text.find(PAGE_SEPARATOR, self._scan - base)
            match = found + base if found != -1 else None
            if self._boundaries_scanned < len(self._boundaries):
                boundary = self._boundaries[self._boundaries_scanned]
                if match is None or boundary <= match:
                    self._cut = self._split_start = self._scan = boundary
                    self._boundaries_scanned += 1
                    continue
            if match is None:
                return
            if match - self._split_start >= self._size:
                self._cut = match  # the piece before this separator is split on its own
            self._split_start = match
            self._scan = match + len(PAGE_SEPARATOR)

    def _chunk(self, text: str) -> Chunk:
        start = self._find(text, max(self._floor, self._index + self._previous_len - self._overlap))
        if start < 0:  # every chunk lies at or after that offset, so this cannot happen
            raise RuntimeError(f"chunk {self._chunk_no} not found in the text it was split from")
        self._index, self._previous_len = start, len(text)
        end = start + len(text)
        metadata = dict(self._base_metadata)
        first = bisect.bisect_right(self._page_starts, start) - 1
        last = bisect.bisect_right(self._page_starts, max(start, end - 1)) - 1
        for page_metadata in self._page_metadata[first : last + 1]:
            for name, value in page_metadata.items():
                metadata.setdefault(name, value)  # the first covered page that sets a key gives it
        for name, value in self._default_metadata.items():
            metadata.setdefault(name, value)
        section = bisect.bisect_right(self._section_starts, start) - 1
        if section >= 0 and self._section_values[section] is not None:
            metadata["section"] = self._section_values[section]
        if self._page_has_rows[first]:
            metadata["row_start"] = self._row_numbers[
                max(0, bisect.bisect_right(self._row_starts, start) - 1)
            ]
            metadata["row_end"] = self._row_numbers[
                max(0, bisect.bisect_right(self._row_starts, max(start, end - 1)) - 1)
            ]
        metadata.update(
            page=self._page_numbers[first],
            page_end=self._page_numbers[last],
            chunk_no=self._chunk_no,
            start_index=start,
            end_index=end,
            text=text,
        )
        self._chunk_no += 1
        return Chunk(chunk_no=metadata["chunk_no"], text=text, metadata=metadata)

    def _find(self, text: str, start: int) -> int:
        found = self._text.find(text, max(start, self._base) - self._base)
        return found + self._base if found >= 0 else -1

    def _trim(self) -> None:
        # Keep what later searches can reach: the next start_index search begins at
        # index + previous - overlap, and every later chunk lies after _pending.
        keep = min(self._pending, self._index + self._previous_len - self._overlap)
        if keep > self._base:
            self._text = self._text[keep - self._base :]
            self._base = keep


def chunk_document(
    doc: ParsedDocument,
    *,
    chunk_size: int,
    chunk_overlap: int,
    base_metadata: Mapping[str, Any],
) -> list[Chunk]:
    """All chunks of a parsed document, numbered from 0 (see ``ChunkStream``)."""
    stream = ChunkStream(
        content_type=doc.content_type,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        base_metadata=base_metadata,
    )
    for page in doc.pages:
        stream.add(page)
    return stream.take(final=True)


def section_value(path: tuple[str, ...]) -> str | None:
    """A section path as chunk metadata (``"Intro > Setup"``), cut to ``MAX_SECTION_BYTES``."""
    if not path:
        return None
    value = SECTION_SEPARATOR.join(path)
    encoded = value.encode()
    if len(encoded) <= MAX_SECTION_BYTES:
        return value
    return encoded[: MAX_SECTION_BYTES - 3].decode(errors="ignore") + "…"


def embedding_text(chunk: Chunk, *, with_section: bool) -> str:
    """What is embedded for a chunk: its text, after its section path when ``with_section``.

    The stored ``text`` stays the chunk's own; only the vector sees the headings above it
    (``EMBED_SECTION``).
    """
    section = chunk.metadata.get("section") if with_section else None
    return f"{section}\n\n{chunk.text}" if section else chunk.text


def metadata_size(metadata: Mapping[str, Any]) -> int:
    """Bytes of ``metadata`` as compact JSON in UTF-8: how large it is on the wire to S3 Vectors."""
    import orjson

    return len(orjson.dumps(metadata, default=str))


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
