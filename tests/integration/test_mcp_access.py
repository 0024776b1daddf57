"""``docpipe mcp`` where AccessControl=enforced: every search is for the user the server was started
for (``--on-behalf-of``), never one the agent picks; without one, the API's own error.

Spawned through the MCP SDK's stdio client over the stack of tests/integration/test_mcp_server.py
(its documents carry no access list: they are ``unlisted``, so AccessDefault decides).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.integration.test_mcp_server import EMBEDDINGS, FAKE_AWS, QUESTION, _body, stack

pytestmark = pytest.mark.integration
pytest.importorskip("mcp", reason="the MCP SDK is the [mcp] extra (make setup installs it)")
__all__ = ["stack"]  # the module-scoped fixture: a moto server with the documents indexed


async def _search(options: list[str], access_default: str, *extra: str) -> Any:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    env = {
        **FAKE_AWS,
        **EMBEDDINGS,
        "ACCESS_CONTROL": "enforced",
        "ACCESS_DEFAULT": access_default,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/docpipe", "tools")),
    }
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "docpipe_cli", "mcp", *options, *extra], env=env
    )
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return await session.call_tool("search_documents", {"query": QUESTION, "k": 3})


async def test_without_on_behalf_of_the_search_is_refused_naming_it(stack: dict[str, Any]) -> None:
    result = await _search(stack["options"], "everyone")

    assert result.is_error and _body(result)["field"] == "on_behalf_of"


async def test_the_servers_user_finds_only_what_it_may_read(stack: dict[str, Any]) -> None:
    user = ("--on-behalf-of", "ana@example.com", "--group", "group:finance")

    closed = await _search(stack["options"], "nobody", *user)
    opened = await _search(stack["options"], "everyone", *user)

    assert not closed.is_error and _body(closed)["matches"] == []  # unlisted documents, nobody's
    keys = [m["metadata"]["key"] for m in _body(opened)["matches"]]
    assert keys and keys[0] == "docs/crazyones-pdfa.pdf"
    assert _body(opened)["access_control"] == "enforced"
