"""Document parsing: bytes in, page-numbered text out, for PDF, text, Markdown, HTML and DOCX.

Heavy libraries (pypdfium2, pypdf, BeautifulSoup, python-docx, charset-normalizer) are imported
inside the function that needs them, so importing this module stays cheap for the handler's cold
start and a text-only document never loads a PDF engine.
"""

from __future__ import annotations

import io
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from types import TracebackType
from typing import IO, Any

from docpipe.exceptions import (
    CorruptDocumentError,
    EmptyTextError,
    EncryptedDocumentError,
    UnsupportedTypeError,
)

# pypdf logs a WARNING per unusual font (e.g. "fontTools is required ...") on real-world PDFs:
# hundreds of lines per book that say nothing about our document's outcome. Errors still pass.
logging.getLogger("pypdf").setLevel(logging.ERROR)

PDF = "application/pdf"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
HTML = "text/html"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CONTENT_TYPES: tuple[str, ...] = (PDF, TEXT, MARKDOWN, HTML, DOCX)
PDF_ENGINES: tuple[str, ...] = ("pypdfium2", "pypdf")

EXTENSIONS: dict[str, str] = {
    ".pdf": PDF,
    ".txt": TEXT,
    ".text": TEXT,
    ".log": TEXT,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".docx": DOCX,
}
_TEXT_TYPES = frozenset({TEXT, MARKDOWN, HTML})
SNIFF_BYTES = 8192
"""How many leading bytes detect_content_type() needs."""

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: legacy .doc, or an encrypted .docx
_HTML_PATTERN = re.compile(rb"<\s*(!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)
# C0 control characters other than tab and newline: PDF math fonts map glyphs to them.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


@dataclass(frozen=True)
class PageText:
    """Text of one page; ``number`` is 1-based (1 for formats without pages)."""

    number: int
    text: str


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


def detect_content_type(key: str, head: bytes) -> str:
    """Choose a document's type from its key's extension, confirmed by its first bytes.

    Policy: binary signatures win over the extension, because they cannot lie by accident.
    ``%PDF-`` is a PDF and a ZIP holding ``word/document.xml`` is DOCX whatever the key says.
    A key that claims a binary format the bytes do not match (a ``.pdf`` that is not a PDF) is
    ``CorruptDocumentError``: the owner meant a PDF and it is broken. A ZIP or Compound File
    that is not a DOCX is ``UnsupportedTypeError``, as is an unknown extension whose bytes are
    neither PDF, DOCX nor HTML. Text extensions stay text even when they contain tags (Markdown
    may embed HTML); HTML is only sniffed for keys without a known extension.

    Args:
        key: the S3 key (only its extension is used).
        head: the first bytes of the object; ``SNIFF_BYTES`` are enough, the whole file works.

    Raises:
        UnsupportedTypeError, CorruptDocumentError, EncryptedDocumentError (a ``.docx`` that is an
        OLE container: how Office stores password-protected files).
    """
    claimed = EXTENSIONS.get(PurePosixPath(key).suffix.lower())
    if head.startswith(b"%PDF-") or (claimed == PDF and b"%PDF-" in head[:1024]):
        return PDF  # readers accept up to 1 KiB of junk before the header; so do we
    if head.startswith(b"PK\x03\x04"):
        if _zip_is_docx(head):
            return DOCX
        if claimed == DOCX:
            raise CorruptDocumentError(f"{key}: a .docx archive without word/document.xml")
        raise UnsupportedTypeError(f"{key}: a ZIP archive that is not a Word document")
    if head.startswith(_OLE_MAGIC):
        if claimed == DOCX:
            raise EncryptedDocumentError(f"{key}: password-protected Word document (OLE container)")
        raise UnsupportedTypeError(f"{key}: legacy Office (OLE) files are not supported; save as .docx")
    if claimed in (PDF, DOCX):
        kind = "PDF" if claimed == PDF else "DOCX"
        raise CorruptDocumentError(f"{key}: named as {kind} but its bytes are not a {kind}")
    if claimed in _TEXT_TYPES:
        return claimed
    if _HTML_PATTERN.search(head[:SNIFF_BYTES]):
        return HTML
    suffix = PurePosixPath(key).suffix or "(none)"
    raise UnsupportedTypeError(f"{key}: unsupported file type (extension {suffix})")


def _zip_is_docx(head: bytes) -> bool:
    # The local file headers of a DOCX name its parts; word/document.xml is among the first few.
    # When only the head is available that is the cheap check; with the whole file, ask zipfile.
    if b"word/" in head:
        return True
    import zipfile  # only for ZIPs; keeps the module's import cheap

    try:
        with zipfile.ZipFile(io.BytesIO(head)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


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
        self._pages = pages
        self._close = close

    def pages(self) -> Iterator[PageText]:
        """The pages in order (call once)."""
        return self._pages()

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


def open_document(
    source: bytes | IO[bytes],
    *,
    key: str,
    pdf_engine: str = "pypdfium2",
    password: str | None = None,
) -> OpenedDocument:
    """Open a document for page-by-page extraction (see ``OpenedDocument``).

    Args and Raises: as ``parse_document``, except ``EmptyTextError``, which only the pages can tell.
    """
    data = source if isinstance(source, bytes) else _read_all(source)
    content_type = detect_content_type(key, data[:SNIFF_BYTES] if not data.startswith(b"PK") else data)
    if content_type == PDF:
        opener = _PDF_OPENERS.get(pdf_engine)
        if opener is None:
            raise ValueError(f"unknown pdf_engine {pdf_engine!r}; allowed: {', '.join(PDF_ENGINES)}")
        return opener(data, key, password)
    if content_type == DOCX:
        page = _parse_docx(data, key=key)
    elif content_type == HTML:
        page = _parse_html(data)
    else:  # plain text and Markdown
        page = PageText(1, decode_text(data))
    return OpenedDocument(content_type, 1, lambda: iter((page,)))


def parse_document(
    source: bytes | IO[bytes],
    *,
    key: str,
    pdf_engine: str = "pypdfium2",
    password: str | None = None,
) -> ParsedDocument:
    """Parse a document into page-numbered text.

    Args:
        source: the document's bytes or a seekable binary file (e.g. a downloaded S3 object).
        key: the S3 key; its extension chooses the type, content sniffing confirms it.
        pdf_engine: ``"pypdfium2"`` (default, ~20x faster) or ``"pypdf"``.
        password: for encrypted PDFs; ignored by other types.

    Raises:
        UnsupportedTypeError: not a type docpipe parses.
        EncryptedDocumentError: encrypted and no or a wrong password.
        CorruptDocumentError: the bytes do not parse as the detected type.
        EmptyTextError: parsed, but no page holds any text (e.g. a scanned PDF without OCR).
    """
    with open_document(source, key=key, pdf_engine=pdf_engine, password=password) as document:
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


def clean_text(text: str) -> str:
    """Normalise extracted text: newlines, PDF hyphenation marks, stray control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0c", "\n")
    # PDFium marks a word hyphenated across a line break with U+FFFE; join the word back.
    text = text.replace("\ufffe", "").replace("\ufeff", "")
    text = _CONTROL_CHARS.sub("", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


# --- PDF -------------------------------------------------------------------------------------


# pdfium is not thread-safe: one thread at a time may call into it, in the whole process.
_PDFIUM_LOCK = threading.Lock()
_END = object()


def _open_pdfium(data: bytes, key: str, password: str | None) -> OpenedDocument:
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data, password=password)
        except pdfium.PdfiumError as e:
            if getattr(e, "err_code", None) == 4:  # FPDF_ERR_PASSWORD
                raise EncryptedDocumentError(_encrypted_message(key, password)) from e
            raise CorruptDocumentError(f"{key}: not a readable PDF ({e})") from e
        page_count = len(pdf)

    def page_text(index: int) -> PageText:
        try:
            page = pdf[index]
            textpage = page.get_textpage()
        except pdfium.PdfiumError as e:
            raise CorruptDocumentError(f"{key}: PDF page {index + 1} could not be read ({e})") from e
        try:
            return PageText(index + 1, clean_text(textpage.get_text_range()))
        finally:
            textpage.close()
            page.close()

    stop = threading.Event()
    extracted: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def extract() -> None:
        with _PDFIUM_LOCK:
            try:
                for index in range(page_count):
                    if stop.is_set():
                        break
                    extracted.put(page_text(index))
            except BaseException as error:  # noqa: BLE001 - handed to the reading thread, raised there
                extracted.put(error)
            finally:
                extracted.put(_END)

    worker = threading.Thread(target=extract, name=f"pdfium {key}"[:60], daemon=True)

    def pages() -> Iterator[PageText]:
        if page_count < 2:  # nothing to overlap
            with _PDFIUM_LOCK:
                inline = [page_text(index) for index in range(page_count)]
            yield from inline  # never yield holding the lock: the caller may open another PDF
            return
        worker.start()
        while (item := extracted.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close() -> None:
        stop.set()
        if worker.is_alive():
            worker.join()
        with _PDFIUM_LOCK:
            pdf.close()

    return OpenedDocument(PDF, page_count, pages, close)


def _open_pypdf(data: bytes, key: str, password: str | None) -> OpenedDocument:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, PdfReadError, PyPdfError

    # pypdf surfaces malformed structures as a range of built-in errors, not only PdfReadError.
    malformed = (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError)

    def corrupt(error: Exception) -> CorruptDocumentError:
        return CorruptDocumentError(f"{key}: not a readable PDF ({type(error).__name__}: {error})")

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt(password or "") == PasswordType.NOT_DECRYPTED:
            raise EncryptedDocumentError(_encrypted_message(key, password))
        page_count = len(reader.pages)
    except DependencyError as e:
        raise EncryptedDocumentError(f"{key}: decrypting needs the 'cryptography' package ({e})") from e
    except malformed as e:
        raise corrupt(e) from e

    def pages() -> Iterator[PageText]:
        # Pure Python: a thread would only contend for the GIL, so pages are read as asked for.
        for index in range(page_count):
            try:
                text = reader.pages[index].extract_text() or ""
            except malformed as e:
                raise corrupt(e) from e
            yield PageText(index + 1, clean_text(text))

    return OpenedDocument(PDF, page_count, pages)


def _encrypted_message(key: str, password: str | None) -> str:
    if password is None:
        return f"{key}: the PDF is encrypted and no password is configured for it"
    return f"{key}: the PDF is encrypted and the configured password was rejected"


_PDF_OPENERS: dict[str, Callable[[bytes, str, str | None], OpenedDocument]] = {
    "pypdfium2": _open_pdfium,
    "pypdf": _open_pypdf,
}


# --- text, HTML, DOCX ------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """Decode bytes of unknown encoding; never raises.

    A BOM decides first; otherwise charset-normalizer guesses; when it cannot, UTF-8 with
    replacement characters. Undecodable bytes become U+FFFD rather than failing the document.
    """
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            return clean_text(data.decode(codec, errors="replace"))
    try:
        return clean_text(data.decode("utf-8"))  # the common case, and cheaper than guessing
    except UnicodeDecodeError:
        pass
    # UTF-8 with a few damaged bytes: guessing a single-byte codec would turn every "é" into
    # mojibake, so when valid multi-byte characters outnumber the bad bytes, stay with UTF-8.
    lenient = data.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    non_ascii = len(lenient) - len(lenient.encode("ascii", errors="ignore"))
    if non_ascii - bad >= bad:
        return clean_text(lenient)
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    encoding = best.encoding if best is not None else "utf-8"
    try:
        return clean_text(data.decode(encoding, errors="replace"))
    except LookupError:
        return clean_text(data.decode("utf-8", errors="replace"))


_INVISIBLE_TAGS = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")


def _parse_html(data: bytes) -> PageText:
    from bs4 import BeautifulSoup

    # BeautifulSoup honours a <meta charset> and falls back to its own detection for bytes.
    soup = BeautifulSoup(data, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_INVISIBLE_TAGS):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        tag.decompose()
    body = soup.get_text("\n", strip=True)
    text = f"{title}\n\n{body}" if title and not body.startswith(title) else body
    return PageText(1, clean_text(text))


def _is_hidden(tag: Any) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = str(attrs.get("style", "")).replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _parse_docx(data: bytes, *, key: str) -> PageText:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    # python-docx surfaces a bad package as BadZipFile, KeyError, lxml's XMLSyntaxError and more.
    except Exception as e:
        raise CorruptDocumentError(f"{key}: not a readable DOCX ({type(e).__name__}: {e})") from e
    blocks: list[str] = []
    # Body order matters for chunking: paragraphs and tables interleave as the author wrote them.
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            blocks.append(_table_text(block))
        elif block.text.strip():
            blocks.append(block.text)
    return PageText(1, clean_text("\n\n".join(b for b in blocks if b)))


def _table_text(table: Any) -> str:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = cell.text.strip()
            if not cells or cells[-1] != text:  # merged cells repeat their text in each grid cell
                cells.append(text)
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)
