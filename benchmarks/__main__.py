"""Run every benchmark and write docs/benchmarks.md with the machine and the date."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("benchmarks.bench_ingest", "benchmarks.bench_backup", "benchmarks.bench_local")


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", help="run only these sections (ingest, backup, local)")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    parts = [
        "# Benchmarks\n",
        f"Machine: {machine()}  \nDate: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  \n"
        "Produced by `make bench`; figures are from one run on the machine above.\n",
    ]
    failed = False
    for name in SECTIONS:
        short = name.rsplit("_", 1)[-1]
        if args.only and short not in args.only:
            continue
        print(f"==> {name}", file=sys.stderr, flush=True)
        module = importlib.import_module(name)
        try:
            parts.append(module.run())
        except Exception as exc:  # a broken section is reported, the others still run
            failed = True
            parts.append(f"## {short}\n\nFAILED: {type(exc).__name__}: {exc}\n")
    Path(args.output).write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
