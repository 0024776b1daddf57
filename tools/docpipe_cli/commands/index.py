"""``docpipe index``: the vector index's mode and text search status; switching it in place."""

from __future__ import annotations

import argparse
from typing import Any

from docpipe.config import TEXT_SEARCH_LANGUAGES
from docpipe_cli.console import out
from docpipe_cli.queries import enable_text_search, index_status
from docpipe_cli.target import resolve_target


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("index", parents=[common], help="the vector index: its mode and text search status")
    p.add_argument(
        "--enable-text-search",
        action="store_true",
        help="make the index ENHANCED and its chunk text searchable, in place (what the stack's "
        "VectorIndexTextSearch does; for an index the stack does not create)",
    )
    p.add_argument("--language", choices=TEXT_SEARCH_LANGUAGES, default="en", help="text analyzer language")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    if args.enable_text_search:
        for line in enable_text_search(target, language=args.language) or ["nothing to change"]:
            out(f"changed: {line}")
    for line in index_status(target):
        out(line)
    return 0
