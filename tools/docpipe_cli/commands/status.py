"""``docpipe status``: the documents the registry knows and their states."""

from __future__ import annotations

import argparse
from typing import Any

from docpipe_cli.console import out
from docpipe_cli.queries import documents, format_documents
from docpipe_cli.target import resolve_target


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common], help="documents and their states")
    p.add_argument("prefix", nargs="?", default="")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    for line in format_documents(documents(target, args.prefix or ""), target.scope()):
        out(line)
    return 0
