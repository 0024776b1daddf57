"""OCR benchmarks: offline (RapidOCR) pages per second and peak RSS, word recall on scanned corpus
pages, and the cold-start cost of the OCR stack (and proof that a text PDF never imports it).

Every figure comes from fresh interpreters, so model loading and imports are not hidden by an
earlier run. The scanned pages are made as the tests make them (tests/scans.py): corpus pages
rendered at 200 DPI and saved as image-only PDFs (lossless), plus the same pages as JPEG scans at
Pillow's default quality (75), the compression many scanners use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.aws_sim import median, spread

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "pdf"
RUNS = int(os.environ.get("DOCPIPE_BENCH_OCR_RUNS", "2"))  # each run OCRs the three pages again
IMPORT_RUNS = 3
_HEAVY = ("PIL", "rapidocr", "onnxruntime", "cv2", "numpy")

_PAGES_SCRIPT = """
import json, sys, time
from tests.scans import RECALL_PAGES, image_only_pdf, jpeg_scan_pdf, render, text_layer, word_recall
from docpipe.config import Settings
from docpipe.ocr import make_ocr_engine
from docpipe.parsers import parse_document
scans = [(n, i, image_only_pdf([render(n, i)]), jpeg_scan_pdf(render(n, i))) for n, i in RECALL_PAGES]
engine = make_ocr_engine(Settings(ocr_provider="rapidocr"))
started = time.perf_counter()
from docpipe.ocr.rapidocr import load_engine
load_engine()
load_s = time.perf_counter() - started
pages, recall, recall_jpeg = [], {{}}, {{}}
for run in range({runs}):
    for name, index, lossless, jpeg in scans:
        t = time.perf_counter()
        (page,) = parse_document(lossless, key="scan.pdf", ocr=engine).pages
        pages.append(time.perf_counter() - t)
        recall[f"{{name}} p.{{index + 1}}"] = word_recall(text_layer(name, index), page.text)
for name, index, lossless, jpeg in scans:
    (page,) = parse_document(jpeg, key="scan.pdf", ocr=engine).pages
    recall_jpeg[f"{{name}} p.{{index + 1}}"] = word_recall(text_layer(name, index), page.text)
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("BENCH " + json.dumps({{"load_s": load_s, "pages_s": pages, "recall": recall,
                             "recall_jpeg": recall_jpeg, "vmhwm_kb": hwm}}))
"""

_IMPORT_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import docpipe.ocr
t1 = time.perf_counter()
import rapidocr, onnxruntime
t2 = time.perf_counter()
from docpipe.ocr.rapidocr import load_engine
load_engine()
t3 = time.perf_counter()
print("BENCH " + json.dumps({"package_s": t1 - t0, "import_s": t2 - t1, "engine_s": t3 - t2}))
"""

_TEXT_PDF_SCRIPT = """
import json, sys
from docpipe.config import Settings
from docpipe.ocr import make_ocr_engine
from docpipe.parsers import parse_document
engine = make_ocr_engine(Settings(ocr_provider="rapidocr"))
doc = parse_document(open({path!r}, "rb").read(), key="book.pdf", ocr=engine)
ocr_pages = sum(1 for p in doc.pages if p.metadata.get("ocr"))
heavy = [m for m in {heavy!r} if m in sys.modules]
print("BENCH " + json.dumps({{"pages": doc.page_count, "ocr_pages": ocr_pages, "heavy": heavy}}))
"""


def _fresh(script: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'docpipe'}"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=3600
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("BENCH ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"fresh interpreter failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("BENCH ") :])
    return result


def _spread(values: Sequence[float], unit: str = "s") -> str:
    return f"{spread(values, scale=1.0, unit=unit, digits=2)}, n={len(values)}"


def run() -> str:
    """Measure and return the "## OCR" Markdown section."""
    pages = _fresh(_PAGES_SCRIPT.format(runs=RUNS))
    imports = [_fresh(_IMPORT_SCRIPT) for _ in range(IMPORT_RUNS)]
    text_pdf = _fresh(_TEXT_PDF_SCRIPT.format(path=str(CORPUS / "GeoTopo-komprimiert.pdf"), heavy=_HEAVY))
    per_page = pages["pages_s"]
    rows = [
        "| page (corpus file, page) | words in text layer recalled: lossless scan | JPEG scan (quality 75) |",
        "| --- | ---: | ---: |",
    ]
    for name, value in pages["recall"].items():
        rows.append(f"| {name} | {value:.1%} | {pages['recall_jpeg'][name]:.1%} |")
    lowest = min(pages["recall"].values())
    return "\n".join(
        [
            "## OCR",
            "",
            "Offline OCR (`OCR_PROVIDER=rapidocr`: RapidOCR's PP-OCRv6 small models on onnxruntime, CPU) "
            "on corpus pages rendered at 200 DPI and saved as image-only PDFs, parsed by "
            "`parse_document` (the page is found to need OCR, rendered again at 200 DPI and read). "
            "Each figure is from a fresh interpreter; the machine is shared, so times vary with "
            "its load.",
            "",
            f"- Seconds per page: {_spread(per_page)}, i.e. **{1 / median(per_page):.3f} pages/s** "
            f"(median); {RUNS} runs over the three pages below.",
            "- Peak RSS of that interpreter (VmHWM: the models and onnxruntime's buffers for "
            f"200-DPI pages): "
            f"**{pages['vmhwm_kb'] / 1024:.0f} MB**.",
            f"- Model load (`load_engine`, first call): {pages['load_s']:.2f} s.",
            f"- Word recall (tests/scans.py: share of the text layer's words, with repetition, "
            f"that the OCR text holds): lowest **{lowest:.1%}** on lossless scans "
            f"(the test requires 90%).",
            "",
            *rows,
            "",
            "Cold start of the OCR stack, fresh interpreters:",
            "",
            "- `import docpipe.ocr` (what `make_ocr_engine` needs; most of it is `docpipe.config` "
            f"and the parsers it imports): "
            f"{_spread([r['package_s'] * 1000 for r in imports], 'ms')}.",
            f"- `import rapidocr, onnxruntime` (paid on the first page that needs OCR): "
            f"{_spread([r['import_s'] for r in imports])}.",
            f"- Building the engine from the bundled models: {_spread([r['engine_s'] for r in imports])}.",
            f"- A text PDF ({text_pdf['pages']} pages of GeoTopo-komprimiert.pdf) parsed with the "
            f"rapidocr engine configured: {text_pdf['ocr_pages']} pages OCR'd; of "
            f"{', '.join(_HEAVY)} it imported "
            f"{', '.join(text_pdf['heavy']) or '**none**'}.",
            "",
            "Textract (`OCR_PROVIDER=textract`) is not measured here: it needs AWS. Its cost is "
            "per page (DetectDocumentText), bounded per document by `OcrMaxPages`.",
        ]
    )
