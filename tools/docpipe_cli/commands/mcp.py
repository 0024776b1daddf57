"""``docpipe mcp``: an MCP server on stdio with the search and document-status tools (``mcp_server``)."""

from __future__ import annotations

import argparse
from typing import Any

from docpipe.exceptions import ConfigError
from docpipe_cli.commands.search import add_on_behalf_of_options, on_behalf_of
from docpipe_cli.target import resolve_target


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "mcp", parents=[common], help="an MCP server on stdio: search_documents and document_status tools"
    )
    add_on_behalf_of_options(p, "every search of this server is for this user")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from docpipe_cli.mcp_server import serve
    except ImportError as error:
        raise ConfigError(f"docpipe mcp needs the MCP SDK: pip install 'docpipe[mcp]' ({error})") from None
    serve(resolve_target(args), on_behalf_of(args))
    return 0
