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
        *_office_samples(),
    ]


# Legacy Office, OpenDocument and RTF: tests/fixtures/office (its README says who wrote each file).
_OFFICE_ROWS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "Word documents of oletools and olefile",
        "doc",
        ("harmless-clean.doc", "embedded-simple-2007.doc", "embedded-unicode.doc", "test-ole-file.doc"),
        "oletools 0.60.2 and olefile 0.47 sdists (Word 2007/2016)",
    ),
    (
        "odfpy's API manual, saved as Word 97 by LibreOffice",
        "doc",
        ("api-for-odfpy.lo.doc",),
        "odfpy 1.4.1's api-for-odfpy.odt, exported by LibreOffice 7.4 (the long .doc of the set)",
    ),
    (
        "Excel workbooks of pyexcel-xls and oletools",
        "xls",
        ("date_field.xls", "hidden_sheets.xls", "complex_hidden_sheets.xls", "embedded-simple-2007.xls"),
        "pyexcel-xls 0.7.1 and oletools 0.60.2 sdists",
    ),
    (
        "PowerPoint decks of ppt2pptx and oletools",
        "ppt",
        ("visual_minimal.ppt", "visual_table.ppt", "embedded-simple-2007.ppt", "sample_with_lnk_file.ppt"),
        "ppt2pptx 0.4.2 (PowerPoint through COM) and oletools 0.60.2 sdists",
    ),
    (
        "odfpy's API manual and examples",
        "odt",
        ("api-for-odfpy.odt", "simpletable.odt", "twolevellist.odt"),
        "odfpy 1.4.1 sdist",
    ),
    ("odfpy's spreadsheets", "ods", ("chinese_spreadsheet.ods", "pythagoras.ods"), "odfpy 1.4.1 sdist"),
    ("odfpy's presentations", "odp", ("ol.odp", "cols.odp"), "odfpy 1.4.1 sdist"),
    (
        "odfpy's API manual, saved as RTF by LibreOffice",
        "rtf",
        ("api-for-odfpy.lo.rtf",),
        "odfpy 1.4.1's api-for-odfpy.odt, exported by LibreOffice 7.4",
    ),
)


def _office_samples() -> list[FormatSample]:
    from tests.office_files import office_reference, office_sample_paths

    cache = ROOT / ".docpipe" / "samples" / "office"
    return [
        FormatSample(
            label,
            kind,
            f".{kind}",
            lambda names=names: office_sample_paths(names, cache),
            lambda path: office_reference(path.name),
            f"{source}; reference: the file converted by LibreOffice 7.4 to DOCX/XLSX/PPTX, read by docpipe",
        )
        for label, kind, names, source in _OFFICE_ROWS
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


def _installed_size(requirement: str) -> str:
    """What one package (without its dependencies) installs, measured here with pip."""
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
                "--no-compile",  # as the layer's build installs (no .pyc)
                "--target",
                target,
                requirement,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            return f"not measured (pip could not install {requirement} here)"
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
    return [
        f"The deployable build (`make size-check`, built {when}), unzipped:",
        "",
        *table,
        "",
        *_office_share(build),
    ]


# What the legacy Office, OpenDocument and RTF parsers put in a docpipe layer: two packages and
# five modules (.doc reads through olefile, which the .msg reader brought; ODF through lxml).
_OFFICE_PACKAGES = ("xlrd", "ppt2pptx")
_OFFICE_MODULES = ("doc.py", "xls.py", "ppt.py", "opendocument.py", "rtf.py")


def _office_share(build: Path) -> list[str]:
    """Each docpipe layer's size with and without what the legacy Office parsers added (before/after)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from check_build_size import folder_size
    finally:
        sys.path.pop(0)
    lines = []
    for layer in sorted(build.glob("DocpipeLayer*")):
        python = layer / "python"
        added = sum(folder_size(path) for path in python.iterdir() if path.name.startswith(_OFFICE_PACKAGES))
        added += sum(folder_size(python / "docpipe" / "parsers" / name) for name in _OFFICE_MODULES)
        total = folder_size(layer)
        lines.append(
            f"- {layer.name}: {total / 2**20:.2f} MiB with the legacy Office, OpenDocument and RTF "
            f"parsers, {(total - added) / 2**20:.2f} MiB without them ({added / 1024:.0f} KiB: "
            f"{', '.join(_OFFICE_PACKAGES)} and their five modules)."
        )
    return lines


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
            "Email, Outlook and EPUB samples written by others (`make samples`), and the legacy Office, "
            "OpenDocument and RTF files of tests/fixtures/office, each row parsed by "
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
            "Layer: the `.msg` reader added one package, olefile "
            f"({_installed_size('olefile>=0.47,<1')} installed, no "
            "dependencies); extract-msg with its dependencies (RTFDE, oletools, msoffcrypto-tool, "
            "cryptography, ...) installs to about 33 MiB (measured with `pip install --target` while "
            "choosing), more than the layer has left under `make size-check`'s 100 MiB budget. "
            "`.eml` (the standard library) and `.epub` (zipfile, ElementTree, the HTML parser "
            "docpipe has) add nothing. The legacy Office parsers added xlrd "
            f"({_installed_size('xlrd>=2.0.1,<3')}) and ppt2pptx ({_installed_size('ppt2pptx>=0.4.2,<1')}), "
            "no dependencies; `.doc` (olefile), OpenDocument (lxml, which python-docx brings) and RTF "
            "(docpipe's own tokenizer) add nothing.",
            "",
            *_build_sizes(),
        ]
    )
