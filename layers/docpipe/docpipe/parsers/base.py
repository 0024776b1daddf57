"""The parsers' shared types: content types, a page's text, an opened or parsed document."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docpipe.ocr.base import OcrEngine

from docpipe.config import (
    DEFAULT_MAX_DOCUMENT_BYTES,
    DEFAULT_MAX_INFLATED_BYTES,
    DEFAULT_OCR_MAX_PAGES,
    MAX_ATTACHMENTS,
    MAX_MESSAGE_DEPTH,
)

PDF = "application/pdf"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
HTML = "text/html"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
CSV = "text/csv"
TSV = "text/tab-separated-values"
CONTENT_TYPES: tuple[str, ...] = (PDF, TEXT, MARKDOWN, HTML, DOCX, XLSX, PPTX, CSV, TSV)
# Image files: every page is OCR'd (parsers/image.py).
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
IMAGE_TYPES: tuple[str, ...] = (PNG, JPEG, TIFF)
CONTENT_TYPES += IMAGE_TYPES
# Legacy Office (OLE2 compound files), OpenDocument (zip with a mimetype member) and RTF
# (parsers/doc.py, xls.py, ppt.py, opendocument.py, rtf.py).
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
RTF = "application/rtf"
CONTENT_TYPES += (DOC, XLS, PPT, ODT, ODS, ODP, RTF)
# Email (parsers/mail.py, parsers/outlook.py) and e-books (parsers/epub.py).
EML = "message/rfc822"
MSG = "application/vnd.ms-outlook"
EPUB = "application/epub+zip"
CONTENT_TYPES += (EML, MSG, EPUB)
MAX_METADATA_VALUE_BYTES = 200
"""A parser's metadata value (an email's ``to``, a book's ``title``) is cut to this many UTF-8 bytes:
they count against S3 Vectors' 2 KB of filterable metadata; the whole value stays in the page's text."""

# C0 control characters other than tab and newline: PDF math fonts map glyphs to them.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_NO_METADATA: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Section:
    """From ``offset`` (in its page's text) on, the text is under the headings ``path``.

    ``path`` runs from the top-level heading down (``("Intro", "Setup")``); it holds until the
    next Section, on this page or a later one. A path of one heading (or none: a slide without a
    title) starts a top-level section, which chunks do not straddle.
    """

    offset: int
    path: tuple[str, ...]


@dataclass(frozen=True)
class PageText:
    """Text of one page; ``number`` is 1-based (1 for formats without pages).

    ``metadata`` is what every chunk starting on this page carries besides the page number (a
    parser sets only the keys that apply to the page: a sheet's name, an OCR'd page's
    ``{"ocr": True}``). ``sections`` are the headings that start on this page, in order.
    ``rows`` are ``(offset, row number)`` of each row of a sheet or CSV, in order.
    """

    number: int
    text: str
    metadata: Mapping[str, Any] = field(default=_NO_METADATA, hash=False)
    sections: tuple[Section, ...] = ()
    rows: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class ParsedDocument:
    """A document's text split by page, with the content type that was parsed."""

    content_type: str
    pages: tuple[PageText, ...]

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def text(self) -> str:
        """All pages joined by blank lines (for callers that do not care about pages)."""
        return "\n\n".join(page.text for page in self.pages)


@dataclass(frozen=True)
class ParseOptions:
    """What an opener may need besides the bytes and the key (one object, so options can grow)."""

    pdf_engine: str = "pypdfium2"
    password: str | None = None
    # Zip containers (DOCX, XLSX, PPTX): most bytes their members may inflate to (zipsafe).
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES
    # OCR: the engine for pages without a text layer (None: such a document is a needs_ocr skip)
    # and the per-document cost guard (more pages needing OCR: an ocr_page_limit skip).
    ocr: OcrEngine | None = None
    ocr_max_pages: int = DEFAULT_OCR_MAX_PAGES
    # Email: an attachment decoding past max_document_bytes, more than max_attachments, or
    # messages nested deeper than max_message_depth make the message too_large.
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    max_attachments: int = MAX_ATTACHMENTS
    max_message_depth: int = MAX_MESSAGE_DEPTH


class OpenedDocument:
    """A document whose type is known and whose pages are extracted on demand, in order.

    Opening reads the bytes, detects the type, decrypts a PDF and counts its pages, so the
    document-level errors (unsupported, encrypted, corrupt) come first. ``pages()`` then yields
    each page's text; a page that cannot be read raises ``CorruptDocumentError`` there. With
    pypdfium2 the pages of a multi-page PDF are extracted on a background thread while the caller
    works on the pages it already has: pdfium runs in C without the GIL, so chunking, embedding
    and writing overlap the extraction. Use as a context manager: ``close()`` stops that thread.
    """

    def __init__(
        self,
        content_type: str,
        page_count: int,
        pages: Callable[[], Iterator[PageText]],
        close: Callable[[], None] | None = None,
    ) -> None:
        self.content_type = content_type
        self.page_count = page_count
        self.ocr_pages = 0
        """Pages read so far whose text came from OCR (their metadata says ``ocr``)."""
        self._pages = pages
        self._close = close

    def pages(self) -> Iterator[PageText]:
        """The pages in order (call once)."""
        for page in self._pages():
            if page.metadata.get("ocr"):
                self.ocr_pages += 1
            yield page

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()

    def __enter__(self) -> OpenedDocument:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


Opener = Callable[[bytes, str, ParseOptions], OpenedDocument]
"""How a format opens a document: ``opener(data, key, options)``; registered in ``parsers``."""


def single_page(content_type: str, page: PageText) -> OpenedDocument:
    """An opened document of one page that is already extracted (text, HTML, DOCX)."""
    return OpenedDocument(content_type, 1, lambda: iter((page,)))


def metadata_value(value: str) -> str:
    """``value`` on one line, cut to ``MAX_METADATA_VALUE_BYTES`` of UTF-8 (an ellipsis marks a cut)."""
    text = " ".join(value.split())
    encoded = text.encode()
    if len(encoded) <= MAX_METADATA_VALUE_BYTES:
        return text
    return encoded[: MAX_METADATA_VALUE_BYTES - 3].decode(errors="ignore") + "…"


def clean_text(text: str) -> str:
    """Normalise extracted text: newlines, PDF hyphenation marks, stray control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0c", "\n")
    # PDFium marks a word hyphenated across a line break with U+FFFE; join the word back.
    text = text.replace("\ufffe", "").replace("\ufeff", "")
    text = _CONTROL_CHARS.sub("", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()
