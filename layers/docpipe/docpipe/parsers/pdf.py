"""PDF: pypdfium2 (default; pages extracted on a background thread) or pypdf (pure Python).

Every PDF page's text is produced by one function per engine, ``pdfium_page`` and
``pypdf_page``: the place to decide, per page, whether its text layer is enough. The outline
(bookmarks) is read when the document is opened and mapped to the pages it points at; each page
then gets the sections that start on it (``with_outline``), found in its text where the title is.
A page whose text layer is negligible but which draws images is then rendered with
pypdfium2 (for either engine) and OCR'd (``scan``), outside PDFIUM_LOCK.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from docpipe.exceptions import CorruptDocumentError, EncryptedDocumentError
from docpipe.parsers.base import PDF, OpenedDocument, Opener, PageText, ParseOptions, clean_text
from docpipe.parsers.scan import MIN_IMAGE_COVERAGE, OcrPages, negligible, render_scale

if TYPE_CHECKING:
    from PIL.Image import Image

    from docpipe.ocr.base import OcrPage

# A page that is read: its text, or (number, text layer, the OCR of its image) for a page that
# needs OCR; ``OcrPages.ocr_page_text`` turns the latter into text in the reading thread.
_Pending = tuple[int, str, "Future[OcrPage]"]

# pypdf logs a WARNING per unusual font (e.g. "fontTools is required ...") on real-world PDFs:
# hundreds of lines per book that say nothing about our document's outcome. Errors still pass.
logging.getLogger("pypdf").setLevel(logging.ERROR)

# pdfium is not thread-safe: one thread at a time may call into it, in the whole process.
PDFIUM_LOCK = threading.Lock()
_END = object()
MAX_OUTLINE_ITEMS = 5000
"""Bookmarks read per PDF (a generated outline can have one per paragraph; metadata stays small)."""

Outline = Mapping[int, Sequence[tuple[int, str]]]
"""0-based page index -> the ``(level, title)`` of the bookmarks pointing at it, in outline order."""


def with_outline(pages: Iterator[PageText], outline: Outline) -> Iterator[PageText]:
    """The pages with the sections of their bookmarks (levels continue across pages)."""
    if not outline:
        yield from pages
        return
    from docpipe.parsers.sections import SectionPath, locate

    path = SectionPath()
    for page in pages:
        headings = outline.get(page.number - 1)
        if headings:
            page = replace(page, sections=locate(page.text, headings, path, keep_missing=True))
        yield page


def pdfium_outline(pdf: Any) -> Outline:
    """The bookmarks of an open ``pdfium.PdfDocument`` by page; hold PDFIUM_LOCK. Never raises."""
    outline: dict[int, list[tuple[int, str]]] = {}
    try:
        for count, bookmark in enumerate(pdf.get_toc()):
            if count >= MAX_OUTLINE_ITEMS:
                break
            dest = bookmark.get_dest()
            index = dest.get_index() if dest is not None else None
            title = bookmark.get_title() or ""
            if index is not None and title.strip():
                outline.setdefault(index, []).append((bookmark.level, title))
    except Exception:  # noqa: BLE001 - a broken outline costs the sections, not the document
        return outline
    return outline


def pypdf_outline(reader: Any) -> Outline:
    """The bookmarks of a ``pypdf.PdfReader`` by page. Never raises."""
    outline: dict[int, list[tuple[int, str]]] = {}
    count = 0

    def walk(items: Sequence[Any], level: int) -> None:
        nonlocal count
        for item in items:
            if count >= MAX_OUTLINE_ITEMS:
                return
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            count += 1
            index = reader.get_destination_page_number(item)
            title = str(getattr(item, "title", "") or "")
            if index is not None and index >= 0 and title.strip():
                outline.setdefault(index, []).append((level, title))

    try:
        walk(reader.outline, 0)
    except Exception:  # noqa: BLE001 - a broken outline costs the sections, not the document
        return outline
    return outline


def pdfium_page(pdf: Any, index: int, key: str) -> PageText:
    """The text of page ``index`` (0-based) of an open ``pdfium.PdfDocument``; hold PDFIUM_LOCK.

    Raises:
        CorruptDocumentError: PDFium cannot load the page or its text.
    """
    import pypdfium2 as pdfium

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


def open_pdfium(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data, password=options.password)
        except pdfium.PdfiumError as e:
            if getattr(e, "err_code", None) == 4:  # FPDF_ERR_PASSWORD
                raise EncryptedDocumentError(_encrypted_message(key, options.password)) from e
            raise CorruptDocumentError(f"{key}: not a readable PDF ({e})") from e
        page_count = len(pdf)
        outline = pdfium_outline(pdf)

    stop = threading.Event()
    extracted: queue.SimpleQueue[Any] = queue.SimpleQueue()
    ocr = OcrPages(key, options)
    scanner = PdfiumScanner(lambda: pdf, key)

    def read(index: int) -> PageText | _Pending:
        # PDFIUM_LOCK per page, not per document: an OCR'd page's engine call runs without it.
        with PDFIUM_LOCK:
            page = pdfium_page(pdf, index, key)
        return scanner.text_or_ocr(page, index, ocr)

    def extract() -> None:
        try:
            for index in range(page_count):
                if stop.is_set():
                    break
                extracted.put(read(index))
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread, raised there
            extracted.put(error)
        finally:
            extracted.put(_END)

    worker = threading.Thread(target=extract, name=f"pdfium {key}"[:60], daemon=True)

    def pages() -> Iterator[PageText]:
        if page_count < 2:  # nothing to overlap
            # read() never holds the lock while yielding: the caller may open another PDF.
            for index in range(page_count):
                yield _resolved(read(index), ocr)
            return
        worker.start()
        while (item := extracted.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield _resolved(item, ocr)

    def close() -> None:
        stop.set()
        ocr.cancel()
        if worker.is_alive():
            worker.join()
        with PDFIUM_LOCK:
            pdf.close()

    return OpenedDocument(PDF, page_count, lambda: with_outline(pages(), outline), close)


def pypdf_page(reader: Any, index: int, key: str) -> PageText:
    """The text of page ``index`` (0-based) of a ``pypdf.PdfReader``.

    Raises:
        CorruptDocumentError: pypdf cannot parse the page.
    """
    try:
        text = reader.pages[index].extract_text() or ""
    except _pypdf_malformed() as e:
        raise _pypdf_corrupt(key, e) from e
    return PageText(index + 1, clean_text(text))


def open_pypdf(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt(options.password or "") == PasswordType.NOT_DECRYPTED:
            raise EncryptedDocumentError(_encrypted_message(key, options.password))
        page_count = len(reader.pages)
        outline = pypdf_outline(reader)
    except DependencyError as e:
        raise EncryptedDocumentError(f"{key}: decrypting needs the 'cryptography' package ({e})") from e
    except _pypdf_malformed() as e:
        raise _pypdf_corrupt(key, e) from e

    ocr = OcrPages(key, options)
    opened: list[Any] = []  # pypdf cannot render: pdfium opens the PDF when a page needs OCR

    def pdfium_copy() -> Any:  # PdfiumScanner calls it with PDFIUM_LOCK held
        import pypdfium2 as pdfium

        if not opened:
            try:
                opened.append(pdfium.PdfDocument(data, password=options.password))
            except pdfium.PdfiumError as e:
                raise CorruptDocumentError(f"{key}: PDFium cannot open the PDF to OCR it ({e})") from e
        return opened[0]

    scanner = PdfiumScanner(pdfium_copy, key)

    def pages() -> Iterator[PageText]:
        # Pure Python: a thread would only contend for the GIL, so pages are read as asked for.
        for index in range(page_count):
            yield _resolved(scanner.text_or_ocr(pypdf_page(reader, index, key), index, ocr), ocr)

    def close() -> None:
        ocr.cancel()
        with PDFIUM_LOCK:
            for pdf in opened:
                pdf.close()

    return OpenedDocument(PDF, page_count, lambda: with_outline(pages(), outline), close)


class PdfiumScanner:
    """Finds the pages of one PDF that need OCR and renders them (pypdfium2, under PDFIUM_LOCK).

    Args:
        document: returns the open ``pdfium.PdfDocument`` (the pypdf engine opens one on demand);
            called with PDFIUM_LOCK held.
        key: the document's key (for messages).
    """

    def __init__(self, document: Callable[[], Any], key: str) -> None:
        self._document = document
        self._key = key

    def text_or_ocr(self, page: PageText, index: int, ocr: OcrPages) -> PageText | _Pending:
        """``page`` as extracted, or its OCR on its way when its text layer is not enough."""
        if not negligible(page.text) or not self.needs_ocr(index):
            return page
        # The first page that needs OCR: the rest of the document is counted before it is sent.
        later = index + 1
        ocr.admit(lambda: 1 + self.count_needing_ocr(later, stop_after=ocr.max_pages), first_page=index + 1)
        return (page.number, page.text, ocr.submit_page(lambda: self.render_page(index)))

    def needs_ocr(self, index: int) -> bool:
        """Whether images cover at least MIN_IMAGE_COVERAGE of the page (its text is negligible)."""
        import pypdfium2.raw as pdfium_c

        with PDFIUM_LOCK:
            page = self._document()[index]
            try:
                width, height = page.get_size()
                covered = 0.0
                for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4):
                    left, bottom, right, top = image.get_bounds()
                    covered += max(0.0, right - left) * max(0.0, top - bottom)
                    if covered >= MIN_IMAGE_COVERAGE * width * height:
                        return True
                return False
            finally:
                page.close()

    def count_needing_ocr(self, start: int, *, stop_after: int) -> int:
        """Pages from ``start`` on that need OCR (counting stops past ``stop_after``: enough to refuse)."""
        found = 0
        with PDFIUM_LOCK:
            pdf = self._document()
            total = len(pdf)
        for index in range(start, total):
            with PDFIUM_LOCK:
                text = pdfium_page(pdf, index, self._key).text
            if negligible(text) and self.needs_ocr(index):
                found += 1
                if found > stop_after:
                    break
        return found

    def render_page(self, index: int) -> Image:
        """The page as a greyscale image at RENDER_DPI (capped at MAX_RENDER_SIDE pixels a side)."""
        import pypdfium2 as pdfium

        with PDFIUM_LOCK:
            page = self._document()[index]
            try:
                scale = render_scale(*page.get_size())
                image: Image = page.render(scale=scale, grayscale=True).to_pil()
                return image
            except pdfium.PdfiumError as e:
                raise CorruptDocumentError(f"{self._key}: page {index + 1} cannot be rendered ({e})") from e
            finally:
                page.close()


def _resolved(item: PageText | _Pending, ocr: OcrPages) -> PageText:
    return item if isinstance(item, PageText) else ocr.ocr_page_text(item[0], item[2], item[1])


def _pypdf_malformed() -> tuple[type[Exception], ...]:
    from pypdf.errors import PdfReadError, PyPdfError

    # pypdf surfaces malformed structures as a range of built-in errors, not only PdfReadError.
    return (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError)


def _pypdf_corrupt(key: str, error: Exception) -> CorruptDocumentError:
    return CorruptDocumentError(f"{key}: not a readable PDF ({type(error).__name__}: {error})")


def _encrypted_message(key: str, password: str | None) -> str:
    if password is None:
        return f"{key}: the PDF is encrypted and no password is configured for it"
    return f"{key}: the PDF is encrypted and the configured password was rejected"


PDF_OPENERS: dict[str, Opener] = {"pypdfium2": open_pdfium, "pypdf": open_pypdf}
"""The PDF engines by name (``config.PDF_ENGINES``, the one owner, lists the same names)."""
