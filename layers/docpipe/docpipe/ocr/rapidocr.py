"""Offline OCR with RapidOCR on onnxruntime: the PP-OCR models ship inside the ``rapidocr`` wheel.

The engine is given the bundled model files by path, so RapidOCR's resolver, which downloads any
model it does not find, never runs: nothing is fetched at run time (tests/unit/test_ocr.py runs it
with sockets refused). The package (with opencv and onnxruntime, ~315 MiB installed) is the ``ocr``
extra: too large for a Lambda zip layer, so the default AWS build uses Textract instead.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docpipe.exceptions import ConfigError
from docpipe.ocr.base import OcrEngine, OcrPage

if TYPE_CHECKING:
    from PIL.Image import Image

# rapidocr 3.x ships these three in rapidocr/models/ (its default PP-OCRv6 small pipeline,
# multilingual Latin + CJK recognition; the direction classifier turns upside-down lines).
MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
INSTALL_HINT = "OCR_PROVIDER=rapidocr needs the ocr extra (pip install 'docpipe[ocr]')"

_lock = threading.Lock()
_engine: Any = None  # one RapidOCR per process: its ONNX sessions hold ~200 MB


def bundled_models() -> dict[str, Path]:
    """Paths of the models inside the installed rapidocr package, by RapidOCR stage."""
    import importlib.util

    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(INSTALL_HINT)
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    return {stage: models / name for stage, name in MODEL_FILES.items()}


def load_engine() -> Any:
    """The process-wide RapidOCR, built once (thread-safe) from the bundled models."""
    global _engine
    if _engine is not None:
        return _engine
    with _lock:
        if _engine is None:
            _engine = _build_engine()
    return _engine


def _build_engine() -> Any:
    paths = bundled_models()
    for path in paths.values():
        if not path.is_file():
            raise ConfigError(f"rapidocr is installed without its bundled model {path}")
    try:
        from rapidocr import RapidOCR
    except ImportError as e:  # rapidocr without onnxruntime installs, then fails here
        raise ConfigError(f"{INSTALL_HINT}: {e}") from e
    params: dict[str, Any] = {"Global.log_level": "warning"}
    params.update({f"{stage}.model_path": str(path) for stage, path in paths.items()})
    return RapidOCR(params=params)


class RapidOcrEngine(OcrEngine):
    """RapidOCR's detection, direction and recognition models on CPU (onnxruntime).

    One page at a time: onnxruntime already spreads each model over every core.
    """

    provider = "rapidocr"
    concurrency = 1

    def recognize(self, image: Image) -> OcrPage:
        """Lines in RapidOCR's order (top to bottom), joined by newlines."""
        import numpy as np

        result = load_engine()(np.asarray(image if image.mode == "RGB" else image.convert("RGB")))
        texts = [t for t in (result.txts or ()) if t and t.strip()]
        scores = [float(s) for s in (result.scores or ())]
        return OcrPage(
            text="\n".join(texts),
            confidence=sum(scores) / len(scores) if scores else None,
            lines=len(texts),
        )
