"""Pages without a text layer (scans, photos): which need OCR, and reading them with the OCR engine.

A PDF page needs OCR when its text layer is negligible (fewer than ``NEGLIGIBLE_TEXT_CHARS``
characters that are not white space: empty, or a stray hidden word such as "Background") and
images cover at least ``MIN_IMAGE_COVERAGE`` of it. Pages with real text keep their text layer,
so a mixed document stays mixed. Every page of an image file needs OCR.

``OcrPages`` applies the policy for one document before any page is sent: no engine
(``OCR_PROVIDER=none``) is a ``needs_ocr`` skip, more pages than ``ocr_max_pages`` an
``ocr_page_limit`` skip, so the cost guard holds before the first billed call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from itertools import islice
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from docpipe.exceptions import CorruptDocumentError, NeedsOcrError, OcrPageLimitError
from docpipe.parsers.base import PageText, ParseOptions, clean_text

if TYPE_CHECKING:
    from PIL.Image import Image

    from docpipe.ocr.base import OcrPage

NEGLIGIBLE_TEXT_CHARS = 16
MIN_IMAGE_COVERAGE = 0.10
# Pages are rendered at a common scanning resolution, capped so a poster-sized page stays a
# bounded image (Textract takes at most 10,000 pixels a side; RapidOCR scales to 2,000 anyway).
RENDER_DPI = 200
MAX_RENDER_SIDE = 5000
_NON_SPACE = re.compile(r"\S")
OCR_METADATA: Mapping[str, Any] = MappingProxyType({"ocr": True})
"""PageText.metadata of an OCR'd page: its chunks say ``ocr: true``."""


def negligible(text: str) -> bool:
    """Whether a page's text layer says next to nothing (see the module docstring)."""
    # Stops at the threshold: a page of real text costs a few characters, not a pass over all.
    found = islice(_NON_SPACE.finditer(text), NEGLIGIBLE_TEXT_CHARS)
    return sum(1 for _ in found) < NEGLIGIBLE_TEXT_CHARS


def render_scale(width_points: float, height_points: float) -> float:
    """pdfium's render scale for a page: RENDER_DPI, or less if a side would pass MAX_RENDER_SIDE."""
    scale = RENDER_DPI / 72
    longest = max(width_points, height_points, 1.0) * scale
    return scale * min(1.0, MAX_RENDER_SIDE / longest)


class OcrPages:
    """One document's pages that need OCR: admitted against the policy, sent, and read back in order.

    Args:
        key: the document's key (for messages).
        options: the engine (None: OCR_PROVIDER=none) and ``ocr_max_pages``.
    """

    def __init__(self, key: str, options: ParseOptions) -> None:
        self.key = key
        self.engine = options.ocr
        self.max_pages = options.ocr_max_pages
        self.admitted = False
        self._pending: list[Future[OcrPage]] = []

    def admit(self, count: Callable[[], int], *, first_page: int) -> None:
        """Check the policy once, at the first page that needs OCR, before anything is sent.

        Args:
            count: how many pages of the document need OCR (called only when an engine is set).
            first_page: the 1-based number of the first such page (for the message).

        Raises:
            NeedsOcrError: there is no engine.
            OcrPageLimitError: ``count()`` is over ``max_pages``.
        """
        if self.admitted:
            return
        if self.engine is None:
            raise NeedsOcrError(
                f"{self.key}: page {first_page} has no text layer, only images, and OCR_PROVIDER is none"
            )
        needed = count()
        if needed > self.max_pages:
            raise OcrPageLimitError(
                f"{self.key}: {needed} pages need OCR; OCR_MAX_PAGES allows {self.max_pages} per document"
            )
        self.admitted = True

    def submit_page(self, render: Callable[[], Image]) -> Future[OcrPage]:
        """Send one admitted page to the engine (``render`` runs on this thread, the OCR on its pool)."""
        if self.engine is None or not self.admitted:
            raise RuntimeError("OcrPages.submit_page before admit")
        future = self.engine.submit_page(render)
        self._pending.append(future)
        return future

    def ocr_page_text(self, number: int, future: Future[OcrPage], text_layer: str = "") -> PageText:
        """The OCR'd page's text (its text layer when the engine found nothing), marked ``ocr``.

        Raises:
            CorruptDocumentError: the engine could not read the image, naming the page.
        """
        try:
            result = future.result()
        except CorruptDocumentError as e:
            raise CorruptDocumentError(f"{self.key}: page {number}: {e}") from e
        finally:
            if future in self._pending:
                self._pending.remove(future)
        return PageText(number, clean_text(result.text) or text_layer, metadata=OCR_METADATA)

    def cancel(self) -> None:
        """Drop pages not started yet (the document failed or was closed early)."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
