"""``docpipe demo``: the whole pipeline on the embedded emulator, checked."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from docpipe_cli.target import root_or_cwd


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common], help="the whole pipeline on the embedded emulator, checked")
    p.add_argument("--workers", type=int)
    p.add_argument("--corpus", help="folder of PDFs (default ../shared/corpus/pdf)")
    p.add_argument(
        "--no-pdf-password",
        action="store_true",
        help="do not provision the demo password secret: the encrypted PDF is skipped",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from docpipe_cli.local.demo import run_demo

    return run_demo(
        root_or_cwd(),
        workers=args.workers,
        corpus=Path(args.corpus) if args.corpus else None,
        pdf_password=not args.no_pdf_password,
    )
