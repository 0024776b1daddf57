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

from docpipe_cli.local import samples
from docpipe_cli.local.samples import SCAN_DPI, encoded, image_only_pdf
from tests.conftest import PDF_CORPUS_DIR

# The builders live in docpipe_cli.local.samples (docpipe demo makes its scans with them too).
__all__ = [
    "HAS_RAPIDOCR",
    "RECALL_PAGES",
    "SCAN_DPI",
    "corpus_pdf",
    "encoded",
    "image_only_pdf",
    "jpeg_scan_pdf",
    "needs_rapidocr",
    "render",
    "text_layer",
    "word_recall",
    "words",
]

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
    return samples.text_layer(PDF_CORPUS_DIR / name, index)


def render(name: str, index: int, *, dpi: int = SCAN_DPI) -> Any:
    """The corpus page as a greyscale PIL image, as a scanner would produce it."""
    return samples.render_page(PDF_CORPUS_DIR / name, index, dpi=dpi)


def jpeg_scan_pdf(image: Any, *, dpi: int = SCAN_DPI, quality: int = 75) -> bytes:
    """A one-page scan whose image is JPEG-compressed (Pillow's PDF writer; 75 is its default)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PDF", resolution=dpi, quality=quality)
    return buffer.getvalue()


def corpus_pdf(name: str) -> Path:
    return PDF_CORPUS_DIR / name
