"""Formats beyond PDF and Office Open XML (email, Outlook, EPUB, ...): speed, memory and word recall.

Each sample is a real file written by others (``make samples`` installs them; tests/format_samples.py
says where each comes from and what its reference text is). Every sample is parsed in a fresh
interpreter: ``parse_document`` runs ``RUNS`` times after one warm-up, so its seconds are
median (min, max); peak RSS is that interpreter's VmHWM, next to its RSS after the imports.
Word recall is the share of the reference's words, with repetition, that docpipe's text holds
(tests/scans.py's ``word_recall``): the tests require 0.9.

Other formats join by adding a ``FormatSample`` to ``format_samples()``: a label, the type's short
name, the files, and the function (in tests/format_samples.py) that gives each file's reference.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("DOCPIPE_BENCH_FORMAT_RUNS", "5"))


@dataclass(frozen=True)
class FormatSample:
    """One row: ``files()`` parsed as ``suffix`` keys; ``reference(path)``: a file's reference text."""

    label: str
    kind: str
    suffix: str
    files: Callable[[], list[Path]]
    reference: Callable[[Path], str] | None
    source: str


def format_samples() -> list[FormatSample]:
    """Every row of the table, in order (a function: tests/ must be importable, from the repository root)."""
    from tests import format_samples as fs

    return [
        FormatSample(
            "CPython's email test messages",
            "eml",
            ".eml",
            fs.cpython_messages,
            lambda p: (
                fs.message_reference(p.read_text("latin-1"))
                if fs.readable_as_written(p.read_text("latin-1"))
                else ""
            ),
            "Debian libpython3.*-testsuite, test/test_email/data/msg_*.txt; recall over the "
            "messages without transfer encoding or HTML, against their text as written",
        ),
        *(
            FormatSample(
                f"msg-parser's {name}",
                "msg",
                ".msg",
                lambda name=name: [fs.MSG_FILES_DIR / name] if (fs.MSG_FILES_DIR / name).exists() else [],
                fs.msg_reference,
                "msg-parser 1.2.0 sdist, tests/files; reference: extract-msg's plain bodies",
            )
            for name in fs.MSG_FILES
        ),
        FormatSample(
            "Live Systems Manual (English)",
            "epub",
            ".epub",
            lambda: [fs.LIVE_MANUAL_EPUB] if fs.LIVE_MANUAL_EPUB.exists() else [],
            lambda p: fs.live_manual_html_text(),
            "Debian live-manual-epub; reference: the same book from live-manual-html",
        ),
    ]


_SCRIPT = """
import json, time
from benchmarks.bench_formats import measure
print("BENCH " + json.dumps(measure({index}, {runs})))
"""


def _rss_kb(field: str) -> int:
    with Path("/proc/self/status").open() as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))


def measure(index: int, runs: int) -> dict[str, Any]:
    """In a fresh interpreter: parse sample ``index``'s files ``runs`` times (after one warm-up)."""
    import time

    from docpipe.exceptions import PermanentError
    from docpipe.parsers import parse_document
    from tests.scans import word_recall

    sample = format_samples()[index]
    files = sample.files()
    datas = [(path, path.read_bytes()) for path in files]
    baseline = _rss_kb("VmRSS:")
    times: list[float] = []
    pages = skipped = 0
    texts: dict[Path, str] = {}
    for run in range(runs + 1):
        started = time.perf_counter()
        pages = skipped = 0
        for path, data in datas:
            try:
                doc = parse_document(data, key=f"bench/{path.stem}{sample.suffix}")
            except PermanentError:
                skipped += 1
                continue
            pages += doc.page_count
            texts[path] = doc.text
        if run:  # the first run warms the imports of each parser
            times.append(time.perf_counter() - started)
    hwm = _rss_kb("VmHWM:")
    recalls = []
    if sample.reference is not None:
        for path, text in texts.items():
            reference = sample.reference(path)
            if reference.strip():
                recalls.append(word_recall(reference, text))
    return {
        "files": len(files),
        "bytes": sum(len(d) for _, d in datas),
        "pages": pages,
        "skipped": skipped,
        "times": times,
        "baseline_kb": baseline,
        "hwm_kb": hwm,
        "recalls": recalls,
    }


def _fresh(index: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'docpipe'}"}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(index=index, runs=RUNS)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=3600,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("BENCH ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"fresh interpreter failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("BENCH ") :])
    return result


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _olefile_size() -> str:
    """What olefile (the one package the .msg reader added to the layer) installs, measured here."""
    import tempfile

    with tempfile.TemporaryDirectory() as target:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--target",
                target,
                "olefile>=0.47,<1",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            return "not measured (pip could not install olefile here)"
        size = sum(f.stat().st_size for f in Path(target).rglob("*") if f.is_file())
    return f"{size / 1024:.0f} KiB"


def _build_sizes() -> list[str]:
    """``scripts/check_build_size.py``'s table for the last ``make size-check`` build, if there is one."""
    build = ROOT / ".aws-sam" / "build"
    if not (build / "template.yaml").is_file():
        return ["No deployable build here: `make size-check` builds one and prints the same table."]
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_build_size.py"), "--build-dir", str(build)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    table = [line for line in done.stdout.splitlines() if line.startswith("|")]
    built = (build / "template.yaml").stat().st_mtime
    when = dt.datetime.fromtimestamp(built, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [f"The deployable build (`make size-check`, built {when}), unzipped:", "", *table]


def run() -> str:
    """Measure and return the "## Formats" Markdown section."""
    load_before = os.getloadavg()
    rows = [
        "| type | sample | files | pages | MB | seconds (median, min–max) | pages/s | peak RSS MB "
        "(after imports) | word recall (lowest) |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | --- | ---: |",
    ]
    notes = []
    for index, sample in enumerate(format_samples()):
        if not sample.files():
            rows.append(f"| {sample.kind} | {sample.label} | not installed (`make samples`) | | | | | | |")
            continue
        result = _fresh(index)
        times = result["times"]
        median = _median(times)
        recall = f"{min(result['recalls']):.3f} (n={len(result['recalls'])})" if result["recalls"] else "—"
        skipped = f" ({result['skipped']} skipped)" if result["skipped"] else ""
        rows.append(
            f"| {sample.kind} | {sample.label} | {result['files']}{skipped} | {result['pages']} | "
            f"{result['bytes'] / 1e6:.2f} | {median:.3f} ({min(times):.3f}–{max(times):.3f}) | "
            f"{result['pages'] / median:.1f} | {result['hwm_kb'] / 1024:.0f} "
            f"({result['baseline_kb'] / 1024:.0f}) | {recall} |"
        )
        notes.append(f"- {sample.label}: {sample.source}.")
    load_after = os.getloadavg()
    return "\n".join(
        [
            "## Formats",
            "",
            "Email, Outlook and EPUB samples written by others (`make samples`), each parsed by "
            f"`parse_document` in a fresh interpreter, {RUNS} timed runs after one warm-up; a row's "
            "seconds cover all its files once. Pages are docpipe's: an email's message and each "
            "attachment's own pages (an attached PDF counts its pages), an EPUB's chapters. Peak RSS "
            "is the interpreter's VmHWM, with its RSS after the imports in brackets. Word recall: "
            "share of the reference text's words that docpipe's text holds (the tests require 0.9). "
            f"Load (1-min average) before / after: {load_before[0]:.1f} / {load_after[0]:.1f} on "
            f"{os.cpu_count()} cores.",
            "",
            *rows,
            "",
            *notes,
            "",
            f"Layer: the `.msg` reader added one package, olefile ({_olefile_size()} installed, no "
            "dependencies); extract-msg with its dependencies (RTFDE, oletools, msoffcrypto-tool, "
            "cryptography, ...) installs to about 33 MiB (measured with `pip install --target` while "
            "choosing), more than the layer has left under `make size-check`'s 100 MiB budget. "
            "`.eml` (the standard library) and `.epub` (zipfile, ElementTree, the HTML parser "
            "docpipe has) add nothing.",
            "",
            *_build_sizes(),
        ]
    )
