"""Document parsing: bytes in, page-numbered text out (PDF, text, Markdown, HTML, Office, OpenDocument,
RTF, CSV, email, EPUB).

One module per format family (``pdf``, ``text``, ``html``, ``docx``, ``xlsx``, ``pptx``, ``csv``,
``doc``, ``xls``, ``ppt``, ``opendocument``, ``rtf``), the shared types in ``base``, type
detection in ``detect``, zip-bomb checks in ``zipsafe``, compound-file checks in ``olesafe``,
headings in ``sections``, Markdown tables and header-carrying rows in ``tables``; ``OPENERS``
maps each content type to its opener. Heavy libraries (pypdfium2, pypdf, BeautifulSoup,
python-docx, openpyxl, python-pptx, xlrd, olefile, ppt2pptx, charset-normalizer) are imported
inside the function that needs them, so importing this package stays cheap for the handler's cold
start and a text-only document never loads a PDF engine.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from docpipe.config import (
    DEFAULT_MAX_DOCUMENT_BYTES,
    DEFAULT_MAX_INFLATED_BYTES,
    DEFAULT_OCR_MAX_PAGES,
    PDF_ENGINES,
)
from docpipe.exceptions import EmptyTextError
from docpipe.parsers.base import (
    CONTENT_TYPES,
    CSV,
    DOC,
    DOCX,
    EML,
    EPUB,
    HTML,
    IMAGE_TYPES,
    JPEG,
    MARKDOWN,
    MSG,
    ODP,
    ODS,
    ODT,
    PDF,
    PNG,
    PPT,
    PPTX,
    RTF,
    TEXT,
    TIFF,
    TSV,
    XLS,
    XLSX,
    OpenedDocument,
    Opener,
    PageText,
    ParsedDocument,
    ParseOptions,
    Section,
    clean_text,
)
from docpipe.parsers.csv import open_csv, open_tsv
from docpipe.parsers.detect import EXTENSIONS, SNIFF_BYTES, detect_content_type
from docpipe.parsers.doc import open_doc
from docpipe.parsers.docx import open_docx
from docpipe.parsers.epub import open_epub
from docpipe.parsers.html import open_html
from docpipe.parsers.image import open_jpeg, open_png, open_tiff
from docpipe.parsers.mail import open_eml
from docpipe.parsers.opendocument import open_odp, open_ods, open_odt
from docpipe.parsers.outlook import open_msg
from docpipe.parsers.pdf import PDF_OPENERS
from docpipe.parsers.ppt import open_ppt
from docpipe.parsers.pptx import open_pptx
from docpipe.parsers.rtf import open_rtf
from docpipe.parsers.text import decode_text, open_markdown, open_plain
from docpipe.parsers.xls import open_xls
from docpipe.parsers.xlsx import open_xlsx

if TYPE_CHECKING:
    from docpipe.ocr.base import OcrEngine

__all__ = [
    "CONTENT_TYPES",
    "CSV",
    "DOC",
    "DOCX",
    "EML",
    "EPUB",
    "EXTENSIONS",
    "HTML",
    "IMAGE_TYPES",
    "JPEG",
    "MARKDOWN",
    "MSG",
    "ODP",
    "ODS",
    "ODT",
    "OPENERS",
    "PDF",
    "PDF_ENGINES",
    "PNG",
    "PPT",
    "PPTX",
    "RTF",
    "SNIFF_BYTES",
    "TEXT",
    "TIFF",
    "TSV",
    "XLS",
    "XLSX",
    "OpenedDocument",
    "PageText",
    "ParseOptions",
    "ParsedDocument",
    "Section",
    "clean_text",
    "decode_text",
    "detect_content_type",
    "no_text_error",
    "open_bytes",
    "open_document",
    "parse_document",
]

OPENERS: dict[str, Opener] = {
    TEXT: open_plain,
    MARKDOWN: open_markdown,
    HTML: open_html,
    DOCX: open_docx,
    PNG: open_png,
    JPEG: open_jpeg,
    TIFF: open_tiff,
    XLSX: open_xlsx,
    PPTX: open_pptx,
    CSV: open_csv,
    TSV: open_tsv,
    DOC: open_doc,
    XLS: open_xls,
    PPT: open_ppt,
    ODT: open_odt,
    ODS: open_ods,
    ODP: open_odp,
    RTF: open_rtf,
    EML: lambda data, key, options: open_eml(data, key, options, open_attachment=open_bytes),
    MSG: lambda data, key, options: open_msg(data, key, options, open_attachment=open_bytes),
    EPUB: open_epub,
}
"""The opener of each content type but PDF, whose opener is chosen by engine (``PDF_OPENERS``)."""


def open_document(
    source: bytes | IO[bytes],
    *,
    key: str,
    pdf_engine: str = "pypdfium2",
    password: str | None = None,
    ocr: OcrEngine | None = None,
    ocr_max_pages: int = DEFAULT_OCR_MAX_PAGES,
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
) -> OpenedDocument:
    """Open a document for page-by-page extraction (see ``OpenedDocument``).

    Args and Raises: as ``parse_document``, except ``EmptyTextError``, which only the pages can tell.
    """
    data = source if isinstance(source, bytes) else _read_all(source)
    options = ParseOptions(
        pdf_engine=pdf_engine,
        password=password,
        max_inflated_bytes=max_inflated_bytes,
        ocr=ocr,
        ocr_max_pages=ocr_max_pages,
        max_document_bytes=max_document_bytes,
    )
    return open_bytes(data, key, options)


def open_bytes(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    """``open_document`` for bytes and options at hand (an email opens each attachment with it)."""
    # A zip's directory is at its end and a compound file's anywhere: those are sniffed whole.
    whole = data.startswith((b"PK", b"\xd0\xcf\x11\xe0"))
    content_type = detect_content_type(key, data if whole else data[:SNIFF_BYTES])
    pdf_engine = options.pdf_engine
    if content_type == PDF:
        opener = PDF_OPENERS.get(pdf_engine)
        if opener is None:
            raise ValueError(f"unknown pdf_engine {pdf_engine!r}; allowed: {', '.join(PDF_ENGINES)}")
    else:
        opener = OPENERS[content_type]
    return opener(data, key, options)


def parse_document(
    source: bytes | IO[bytes],
    *,
    key: str,
    pdf_engine: str = "pypdfium2",
    password: str | None = None,
    ocr: OcrEngine | None = None,
    ocr_max_pages: int = DEFAULT_OCR_MAX_PAGES,
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
) -> ParsedDocument:
    """Parse a document into page-numbered text.

    Args:
        source: the document's bytes or a seekable binary file (e.g. a downloaded S3 object).
        key: the S3 key; its extension chooses the type, content sniffing confirms it.
        pdf_engine: ``"pypdfium2"`` (default, ~20x faster) or ``"pypdf"``.
        password: for encrypted PDFs; ignored by other types.
        max_inflated_bytes: zip containers (DOCX, XLSX, PPTX, ODT, ODS, ODP, EPUB) whose members
            inflate past this, and compound files (DOC, XLS, PPT, MSG) whose streams declare more,
            are ``too_large`` (``MAX_INFLATED_BYTES``; a zip bomb is refused before it is parsed);
            an email's attachments, decoded and inflated, share it.
        max_document_bytes: an email attachment that decodes past this is ``too_large``, as it
            would be on its own (``MAX_DOCUMENT_BYTES``).
        ocr: the engine for scanned PDF pages and image files (``docpipe.ocr.make_ocr_engine``);
            None: a document with such pages is ``NeedsOcrError``.
        ocr_max_pages: a document with more pages that need OCR is ``OcrPageLimitError``.

    Raises:
        UnsupportedTypeError: not a type docpipe parses.
        DocumentTooLargeError: a zip container that inflates past ``max_inflated_bytes``.
        EncryptedDocumentError: encrypted and no or a wrong password.
        CorruptDocumentError: the bytes do not parse as the detected type.
        EmptyTextError: parsed, but no page holds any text.
        NeedsOcrError, OcrPageLimitError: see ``ocr`` and ``ocr_max_pages``.
    """
    with open_document(
        source,
        key=key,
        pdf_engine=pdf_engine,
        password=password,
        max_inflated_bytes=max_inflated_bytes,
        ocr=ocr,
        ocr_max_pages=ocr_max_pages,
        max_document_bytes=max_document_bytes,
    ) as document:
        pages = tuple(document.pages())
    if not any(page.text.strip() for page in pages):
        raise no_text_error(key, document)
    return ParsedDocument(content_type=document.content_type, pages=pages)


def no_text_error(key: str, document: OpenedDocument) -> EmptyTextError:
    """The ``empty_text`` skip for a document none of whose pages holds text."""
    return EmptyTextError(
        f"{key}: no extractable text ({document.content_type}, {document.page_count} page(s))"
    )


def _read_all(source: IO[bytes]) -> bytes:
    if hasattr(source, "seek"):
        source.seek(0)
    return source.read()
