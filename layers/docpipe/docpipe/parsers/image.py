"""Image files (PNG, JPEG, TIFF with any number of pages): every page is OCR'd, in order, with Pillow.

The policy is checked when the file is opened, before anything is sent: no engine is a
``needs_ocr`` skip, more pages than ``ocr_max_pages`` an ``ocr_page_limit`` skip. Each frame is
decoded only when the engine has a free slot, so a long TIFF holds ``concurrency`` pages at most.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING, Any

from docpipe.exceptions import CorruptDocumentError, DocumentTooLargeError
from docpipe.parsers.base import JPEG, PNG, TIFF, OpenedDocument, PageText, ParseOptions
from docpipe.parsers.scan import OcrPages

if TYPE_CHECKING:
    from PIL.Image import Image

    from docpipe.ocr.base import OcrPage

# A page larger than this is a decompression bomb, not a scan: 50 megapixels is an A4 page at
# 720 DPI; decoded in greyscale it is 50 MB, well inside the function's memory.
MAX_IMAGE_PIXELS = 50_000_000


def open_png(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    return open_image(PNG, data, key, options)


def open_jpeg(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    return open_image(JPEG, data, key, options)


def open_tiff(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    return open_image(TIFF, data, key, options)


def open_image(content_type: str, data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    """Open an image file as a document of one page per frame (a multi-page TIFF has several).

    Raises:
        CorruptDocumentError: Pillow cannot read the file.
        DocumentTooLargeError: a frame is over MAX_IMAGE_PIXELS.
        NeedsOcrError, OcrPageLimitError: see the module docstring.
    """
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        image = PILImage.open(io.BytesIO(data))
        frames = getattr(image, "n_frames", 1) if content_type == TIFF else 1
    except PILImage.DecompressionBombError as e:  # Pillow's own guard, far above ours
        raise DocumentTooLargeError(f"{key}: {e}") from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise CorruptDocumentError(f"{key}: not a readable image ({type(e).__name__}: {e})") from e
    _check_size(image, key, 1)  # before the policy: a bomb is too_large whatever the provider
    ocr = OcrPages(key, options)
    ocr.admit(lambda: frames, first_page=1)

    def frame(index: int) -> Image:
        try:
            image.seek(index)
            _check_size(image, key, index + 1)
            return _greyscale(image)
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise CorruptDocumentError(f"{key}: page {index + 1} cannot be decoded ({e})") from e

    # admit() passed, so there is an engine: decode only as many frames as it works on at once.
    lookahead = ocr.engine.concurrency if ocr.engine is not None else 1

    def pages() -> Iterator[PageText]:
        waiting: deque[tuple[int, Future[OcrPage]]] = deque()
        for index in range(frames):
            if len(waiting) >= lookahead:
                yield ocr.ocr_page_text(*waiting.popleft())
            waiting.append((index + 1, ocr.submit_page(partial(frame, index))))
        while waiting:
            yield ocr.ocr_page_text(*waiting.popleft())

    def close() -> None:
        ocr.cancel()
        image.close()

    return OpenedDocument(content_type, frames, pages, close)


def _check_size(image: Any, key: str, number: int) -> None:
    if image.width * image.height > MAX_IMAGE_PIXELS:
        raise DocumentTooLargeError(
            f"{key}: page {number} is {image.width}x{image.height} pixels; "
            f"the limit is {MAX_IMAGE_PIXELS} pixels a page"
        )


def _greyscale(image: Any) -> Image:
    # Palette, 16-bit, CMYK and alpha frames all become plain 8-bit grey (what OCR reads); a
    # transparent background is white, as a viewer shows it.
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        from PIL import Image as PILImage

        rgba = image.convert("RGBA")
        background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(background, rgba).convert("L")
    if image.mode.startswith("I;16") or image.mode == "I":  # 16-bit scans: 0..65535 down to 0..255
        grey: Image = image.convert("I").point(lambda v: v / 256).convert("L")
        return grey
    result: Image = image.convert("L")
    return result
