"""Amazon Textract ``DetectDocumentText``: one rendered page per synchronous call, pages on a bounded pool.

Throttling is retried by the client's botocore retry mode (``docpipe.aws`` owns that policy);
once its attempts are spent the page fails with ``ThrottledError`` and the SQS record is retried.
There is no retry loop here.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from docpipe.aws import error_code, translate_client_error
from docpipe.exceptions import CorruptDocumentError
from docpipe.ocr.base import OcrEngine, OcrPage

if TYPE_CHECKING:
    from PIL.Image import Image

# Amazon Textract Developer Guide, "Set Quotas in Amazon Textract": synchronous operations take
# JPEG, PNG, PDF and TIFF files of at most 10 MB, and images of at most 10,000 pixels a side.
MAX_IMAGE_BYTES = 10 * 1000 * 1000  # "10 MB": the decimal reading, the stricter one
MAX_IMAGE_SIDE = 10_000
# DetectDocumentText's default quota is 10 requests per second in the larger regions (fewer in
# some): a few pages in flight per document, with the retry mode absorbing the rest.
TEXTRACT_CONCURRENCY = 4
# Textract's answers for an image it cannot read: retrying will not help, the document is skipped.
# (Textract has no InvalidImageFormat code; that one is Rekognition's.)
UNREADABLE_CODES = frozenset(
    {"UnsupportedDocumentException", "BadDocumentException", "DocumentTooLargeException"}
)
_JPEG_QUALITY = 85
_SHRINK = 0.75


class TextractEngine(OcrEngine):
    """OCR with Amazon Textract's synchronous ``DetectDocumentText`` (LINE blocks, in their order).

    Args:
        client: a ``textract`` client (``docpipe.aws.client("textract")``; tests pass a stubbed one).
        concurrency: pages in flight at once.
    """

    provider = "textract"

    def __init__(self, client: Any, *, concurrency: int = TEXTRACT_CONCURRENCY) -> None:
        super().__init__()
        self._client = client
        self.concurrency = max(1, concurrency)

    def recognize(self, image: Image) -> OcrPage:
        """Send one page image; its LINE blocks joined by newlines are the page's text."""
        from botocore.exceptions import BotoCoreError, ClientError

        what = "textract:DetectDocumentText"
        try:
            response = self._client.detect_document_text(Document={"Bytes": encode_page(image)})
        except ClientError as e:
            code = error_code(e)
            if code in UNREADABLE_CODES:
                raise CorruptDocumentError(f"Textract cannot read the page image ({code})") from e
            translate_client_error(e, what)
        except BotoCoreError as e:
            translate_client_error(e, what)
        lines = [b for b in response.get("Blocks", ()) if b.get("BlockType") == "LINE" and b.get("Text")]
        confidences = [float(b["Confidence"]) / 100 for b in lines if "Confidence" in b]
        return OcrPage(
            text="\n".join(b["Text"] for b in lines),
            confidence=sum(confidences) / len(confidences) if confidences else None,
            lines=len(lines),
        )


def encode_page(image: Image, *, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The page as PNG (grey, lossless: text pages compress well), else JPEG, under the sync limits.

    A page over ``MAX_IMAGE_SIDE`` pixels, or one whose JPEG is still over ``max_bytes`` (a
    large colour photograph), is scaled down by a quarter at a time until it fits.
    """
    grey = image if image.mode == "L" else image.convert("L")
    if max(grey.size) > MAX_IMAGE_SIDE:
        grey = _scaled(grey, MAX_IMAGE_SIDE / max(grey.size))
    data = _save(grey, "PNG")
    while len(data) > max_bytes:
        data = _save(grey, "JPEG")
        if len(data) <= max_bytes:
            break
        grey = _scaled(grey, _SHRINK)
        data = _save(grey, "PNG")
    return data


def _scaled(image: Image, factor: float) -> Image:
    from PIL import Image as PILImage

    size = (max(1, int(image.width * factor)), max(1, int(image.height * factor)))
    return image.resize(size, PILImage.Resampling.LANCZOS)


def _save(image: Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    if kind == "JPEG":
        image.save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()
