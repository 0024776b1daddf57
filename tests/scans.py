"""Scanned inputs made at test time from the real corpus: rendered pages, image-only PDFs, PNGs.

Also the word-recall measure the OCR tests and ``make bench`` report. Words are the runs of
Unicode letters and digits (``\\w+``), case-folded; a word split by a hyphen at a line break is
joined first (the PDF text layer holds it whole). Recall is the share of the reference's words
(counted with repetition) that the OCR text also holds: |ref ∩ ocr| / |ref| over the multisets,
so every occurrence must be read, and extra words (noise) do not raise it.
"""

from __future__ import annotations

import importlib.util
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PDF_CORPUS_DIR

SCAN_DPI = 200  # a common office-scanner resolution
# Pages with running text written by others, for the 90% recall check (file, 0-based page).
RECALL_PAGES: tuple[tuple[str, int], ...] = (
    ("crazyones-pdfa.pdf", 0),  # Apple's "Here's to the crazy ones"
    ("google-doc-document.pdf", 0),  # the Zen of Python, exported from Google Docs
    ("pdflatex-outline.pdf", 3),  # pdfLaTeX filler prose
)

HAS_RAPIDOCR = (
    importlib.util.find_spec("rapidocr") is not None and importlib.util.find_spec("onnxruntime") is not None
)
needs_rapidocr = pytest.mark.skipif(
    not HAS_RAPIDOCR,
    reason="the offline OCR engine is the ocr extra: pip install -e '.[ocr]' (make setup does)",
)

_HYPHEN_BREAK = re.compile(r"(\w)-\s*\n\s*(\w)")
_WORD = re.compile(r"\w+")


def words(text: str) -> Counter[str]:
    """The multiset of words of ``text`` (see the module docstring)."""
    return Counter(w.casefold() for w in _WORD.findall(_HYPHEN_BREAK.sub(r"\1\2", text)))


def word_recall(reference: str, ocr: str) -> float:
    """Share of the reference's words the OCR text holds (multiset intersection over |reference|)."""
    ref = words(reference)
    total = sum(ref.values())
    return sum((ref & words(ocr)).values()) / total if total else 1.0


def text_layer(name: str, index: int) -> str:
    """What PDFium extracts from the corpus page (the reference the OCR is measured against)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(PDF_CORPUS_DIR / name)
    try:
        page = pdf[index]
        textpage = page.get_textpage()
        try:
            return str(textpage.get_text_range())
        finally:
            textpage.close()
            page.close()
    finally:
        pdf.close()


def render(name: str, index: int, *, dpi: int = SCAN_DPI) -> Any:
    """The corpus page as a greyscale PIL image, as a scanner would produce it."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(PDF_CORPUS_DIR / name)
    try:
        page = pdf[index]
        try:
            return page.render(scale=dpi / 72, grayscale=True).to_pil().copy()
        finally:
            page.close()
    finally:
        pdf.close()


def image_only_pdf(images: list[Any], *, dpi: int = SCAN_DPI, hidden_text: str | None = None) -> bytes:
    """A PDF whose pages are only the given images, stored losslessly (pypdfium2): a scan.

    ``hidden_text``: also draw this text in invisible render mode on every page, like the stray
    text layer some scanners leave ("Background").
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pdf = pdfium.PdfDocument.new()
    try:
        for image in images:
            width, height = image.width * 72 / dpi, image.height * 72 / dpi
            page = pdf.new_page(width, height)
            picture = pdfium.PdfImage.new(pdf)
            picture.set_bitmap(pdfium.PdfBitmap.from_pil(image))
            picture.set_matrix(pdfium.PdfMatrix().scale(width, height))
            page.insert_obj(picture)
            if hidden_text is not None:
                text = pdfium_c.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", 12.0)
                chars = (hidden_text + "\x00").encode("utf-16-le")
                pdfium_c.FPDFText_SetText(
                    text, (pdfium_c.FPDF_WCHAR * (len(chars) // 2)).from_buffer_copy(chars)
                )
                pdfium_c.FPDFTextObj_SetTextRenderMode(text, pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE)
                pdfium_c.FPDFPageObj_Transform(text, 1, 0, 0, 1, 20, 20)
                pdfium_c.FPDFPage_InsertObject(page.raw, text)
            page.gen_content()
            page.close()
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()
    finally:
        pdf.close()


def jpeg_scan_pdf(image: Any, *, dpi: int = SCAN_DPI, quality: int = 75) -> bytes:
    """A one-page scan whose image is JPEG-compressed (Pillow's PDF writer; 75 is its default)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PDF", resolution=dpi, quality=quality)
    return buffer.getvalue()


def encoded(image: Any, kind: str = "PNG", **params: Any) -> bytes:
    """The image as a file of ``kind`` (PNG, JPEG, TIFF) in memory."""
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **params)
    return buffer.getvalue()


def corpus_pdf(name: str) -> Path:
    return PDF_CORPUS_DIR / name
