"""Run the benchmarks and write docs/benchmarks.md with the machine and the date.

``--only backup`` re-runs just that section: the other sections of the existing file are kept as
they are (each carries the date it was measured), so one slow section need not be re-run to
refresh another. ``scale`` (tens of minutes) runs only when named.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
    "benchmarks.bench_process",
    "benchmarks.bench_latency",
    "benchmarks.bench_cold",
    "benchmarks.bench_ingest",
    "benchmarks.bench_backup",
    "benchmarks.bench_local",
    "benchmarks.bench_ocr",
    "benchmarks.bench_formats",
    "benchmarks.bench_retrieval",
    "benchmarks.bench_access",
    "benchmarks.bench_emulator",
    "benchmarks.bench_scale",
)
SHORT = tuple(name.rsplit("_", 1)[-1] for name in SECTIONS)
# Long sections run only when named (--only scale); otherwise their last figures are kept.
OPT_IN = ("scale",)
# Each section sits between markers, so a partial run can find and replace it.
_SECTION = re.compile(r"<!-- section: (\w+)(?: [^>]*)? -->\n(.*?)<!-- /section: \1 -->\n?", re.S)


def machine() -> str:
    """One line naming the machine, so a figure can be compared only with its peers."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def existing_sections(text: str) -> dict[str, str]:
    """The marked sections of an earlier docs/benchmarks.md, markers included, by short name."""
    return {m.group(1): m.group(0).rstrip("\n") + "\n" for m in _SECTION.finditer(text)}


def marked(short: str, body: str, when: str) -> str:
    return (
        f"<!-- section: {short} measured {when} -->\n{body.rstrip()}\n\n"
        f"_Section measured {when}._\n<!-- /section: {short} -->\n"
    )


def render(sections: dict[str, str], ran: list[str], when: str) -> str:
    """The whole file: a fresh header, then every known section in the usual order."""
    partial = [s for s in SHORT if s in sections and s not in ran]
    note = (
        f"This run re-measured {', '.join(ran) or 'nothing'}; {', '.join(partial)} "
        "come from earlier runs (each section says when it was measured), possibly on another machine.\n"
        if partial
        else "Figures are from one run on the machine above.\n"
    )
    header = (
        "# Benchmarks\n\n"
        f"Machine: {machine()}  \nDate: {when}  \nProduced by `make bench` "
        f"(`python -m benchmarks --only <{'|'.join(SHORT)}>` re-runs one section). {note}"
    )
    return "\n".join([header, *(sections[s] for s in SHORT if s in sections)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=SHORT, help="run only these sections")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    output = Path(args.output)
    when = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    sections: dict[str, str] = {}
    if (args.only or OPT_IN) and output.is_file():
        sections = existing_sections(output.read_text(encoding="utf-8"))
        if not sections and output.read_text(encoding="utf-8").strip():
            print(f"{output} has no section markers: run all sections once first", file=sys.stderr)
            return 2
    failed = False
    ran: list[str] = []
    for name, short in zip(SECTIONS, SHORT, strict=True):
        if (args.only and short not in args.only) or (not args.only and short in OPT_IN):
            continue
        print(f"==> {name}", file=sys.stderr, flush=True)
        module = importlib.import_module(name)
        try:
            body = module.run()
        except Exception as exc:  # a broken section is reported, the others still run
            failed = True
            body = f"## {short}\n\nFAILED: {type(exc).__name__}: {exc}\n"
        sections[short] = marked(short, body, when)
        ran.append(short)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(sections, ran, when), encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
