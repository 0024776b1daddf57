"""OCR engines behind one interface; ``make_ocr_engine`` picks one from settings.

Nothing here imports an engine, Pillow or boto3: a document that needs no OCR never pays for them.
"""

from __future__ import annotations

from typing import Any

from docpipe.config import OCR_PROVIDER, OCR_PROVIDERS, Settings
from docpipe.exceptions import ConfigError
from docpipe.ocr.base import OcrEngine, OcrPage

__all__ = ["OCR_PROVIDERS", "OcrEngine", "OcrPage", "make_ocr_engine"]


def make_ocr_engine(settings: Settings, *, textract_client: Any = None) -> OcrEngine | None:
    """The configured engine, or None for ``OCR_PROVIDER=none`` (pages that need OCR are then a
    ``needs_ocr`` skip). Called once per cold start; the engine's own imports wait for its first page.

    Args:
        settings: ``ocr_provider``.
        textract_client: a ``textract`` client (tests pass a stubbed one); the cached
            process-wide ``docpipe.aws`` client by default.

    Raises:
        ConfigError: an unknown provider, or ``rapidocr`` without the ``ocr`` extra installed.
    """
    provider = settings.ocr_provider
    if provider == "none":
        return None
    if provider == "textract":
        from docpipe.ocr.textract import TextractEngine

        if textract_client is None:
            from docpipe.aws import client

            textract_client = client("textract")
        return TextractEngine(textract_client)
    if provider == "rapidocr":
        from docpipe.ocr.rapidocr import RapidOcrEngine, bundled_models

        bundled_models()  # fail the cold start, not the first scanned page, without the extra
        return RapidOcrEngine()
    raise ConfigError(f"{OCR_PROVIDER}={provider!r} is invalid; allowed: {', '.join(OCR_PROVIDERS)}")
