"""``docpipe search``: the index searched on the path SearchFunction runs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from docpipe.config import DEPRECATED_RERANK_MODES, RERANK_MODES
from docpipe.exceptions import ValidationError
from docpipe_cli.console import err, out
from docpipe_cli.queries import search
from docpipe_cli.target import resolve_target

# What a response's ``score`` is, by what ranked it (docs/search.md, "Scores").
SCORE_MEANING = {
    "hybrid": "score: the store's reciprocal-rank fusion, higher first",
    "text": "score: BM25, higher first",
    "dense": "score: similarity, higher first",
    "bedrock": "score: Bedrock's relevance, higher first",
}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("search", parents=[common], help="search the index (the path SearchFunction runs)")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=5, help="matches to return (1-100)")
    p.add_argument(
        "--filter",
        metavar="JSON",
        help='S3 Vectors filter, e.g. \'{"key": {"$eq": "docs/a.pdf"}, "page": {"$gte": 2}}\'',
    )
    p.add_argument(
        "--rerank",
        choices=(*RERANK_MODES, *DEPRECATED_RERANK_MODES),
        help="hybrid, none, text or bedrock (default: the stack's SEARCH_RERANK; lexical = hybrid)",
    )
    p.add_argument("--neighbours", type=int, default=0, help="also print 0-2 chunks around each match")
    add_on_behalf_of_options(p, "search as this user")
    p.add_argument(
        "--json",
        action="store_true",
        default=False,
        help="print SearchFunction's JSON response (a mistake: its ValidationError object, exit 1)",
    )
    p.set_defaults(func=run)


def add_on_behalf_of_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--on-behalf-of USER`` and ``--group PRINCIPAL`` (repeatable): the request's ``on_behalf_of``."""
    p.add_argument(
        "--on-behalf-of",
        metavar="USER",
        help=f"{what} (needed where AccessControl=enforced; docs/access-control.md)",
    )
    p.add_argument(
        "--group",
        action="append",
        metavar="PRINCIPAL",
        help="a principal of that user, e.g. group:finance or tenant:acme (repeat for more)",
    )


def on_behalf_of(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--on-behalf-of USER [--group PRINCIPAL ...]`` as the request's ``on_behalf_of``."""
    user = getattr(args, "on_behalf_of", None)
    groups = list(getattr(args, "group", None) or [])
    if user is None:
        if groups:
            raise ValidationError("on_behalf_of", "--group needs --on-behalf-of USER")
        return None
    return {"user": user, "groups": groups}


def parse_filter(text: str | None) -> dict[str, Any] | None:
    """``--filter`` is a JSON object in S3 Vectors filter syntax (the request's ``filter``)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        example = '{"page": {"$gte": 2}}'
        raise ValidationError("filter", f"--filter is not JSON ({error.msg}); e.g. '{example}'") from None
    if not isinstance(value, dict):
        raise ValidationError("filter", "--filter must be a JSON object")
    return value


def run(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    try:
        response = search(
            target,
            args.question,
            k=args.k,
            filter=parse_filter(args.filter),
            rerank=args.rerank,
            neighbours=args.neighbours,
            on_behalf_of=on_behalf_of(args),
        )
    except ValidationError as error:
        if not args.json:
            raise
        out(json.dumps(error.as_dict()))  # what SearchFunction answers a caller's mistake with
        return 1
    if args.json:  # SearchFunction's response, for scripts
        out(json.dumps(response.as_dict(), indent=2, ensure_ascii=False))
        return 0
    if response.notice:
        err(f"({response.notice})")
    if not response.matches:
        out("no matches")
        return 0
    out(f"ranked by {response.ranked_by} ({SCORE_MEANING[response.ranked_by]}); {response.took_ms:.0f} ms")
    for rank, match in enumerate(response.matches, 1):
        meta = match.metadata
        page, page_end, section = meta.get("page"), meta.get("page_end"), meta.get("section")
        where = str(meta.get("source_uri") or meta.get("key"))
        if page is not None:
            where += f" p.{page}" + (f"-{page_end}" if page_end not in (None, page) else "")
        if section:
            where += f" | {section}"
        text = " ".join(match.text.split())
        out(f"{rank}. score {match.score:.4f} [{'+'.join(match.placed_by)}]  {where}")
        out(f"   {text[:300]}{'...' if len(text) > 300 else ''}")
        for entry in match.context or ():
            out(f"   [context chunk {entry.get('chunk_no')}] {' '.join(entry['text'].split())[:160]}")
    return 0
