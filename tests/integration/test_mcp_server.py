"""``docpipe mcp`` through the MCP SDK's own stdio client, and ``docpipe search --json``, on moto server.

One stack on the emulator's moto server (resources from template.yaml), two corpus documents
ingested by the real IngestFunction handler. The MCP client spawns ``docpipe mcp`` as an MCP client
application would, with the names on its command line.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from docpipe.config import Settings
from docpipe.search import SearchRequest, build_search_service
from docpipe_cli import cli
from docpipe_cli.local.server import LocalServer
from docpipe_cli.local.session import emulator_client
from tests.conftest import PDF_CORPUS_DIR, ROOT
from tests.functional.conftest import LambdaContext, import_handler, s3_notification, sqs_batch
from tests.moto_resources import create_stack_resources

pytestmark = pytest.mark.integration

mcp = pytest.importorskip("mcp", reason="the MCP SDK is the [mcp] extra (make setup installs it)")

DOCUMENTS = ("crazyones-pdfa.pdf", "pdflatex-4-pages.pdf")
UNSUPPORTED = "docs/tools/installer.exe"
QUESTION = "Here's to the crazy ones, the misfits, the rebels"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
EMBEDDINGS = {"EMBEDDING_PROVIDER": "offline", "EMBEDDING_DIMENSION": "256"}


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    """A moto server holding the stack's resources, the documents indexed, one skipped."""
    with LocalServer() as server, pytest.MonkeyPatch.context() as env:
        for name, value in FAKE_AWS.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        names = create_stack_resources(
            ROOT / "template.yaml",
            parameters={"EmbeddingProvider": "offline", "EmbeddingDimension": 256},
            endpoint_url=server.endpoint,
        )
        for name, value in {**names.env("IngestFunction"), "AWS_ENDPOINT_URL": server.endpoint}.items():
            env.setenv(name, value) if value else env.delenv(name, raising=False)
        s3 = emulator_client("s3", server.endpoint)
        keys = [f"docs/{name}" for name in DOCUMENTS]
        for name, key in zip(DOCUMENTS, keys, strict=True):
            s3.put_object(Bucket=names.documents_bucket, Key=key, Body=(PDF_CORPUS_DIR / name).read_bytes())
        s3.put_object(Bucket=names.documents_bucket, Key=UNSUPPORTED, Body=b"MZ\x90\x00 not a document")
        events = [
            s3_notification(key, sequencer=f"0{i}", bucket=names.documents_bucket)
            for i, key in enumerate([*keys, UNSUPPORTED])
        ]
        app = import_handler(name="ingest_app_for_mcp")
        assert app.handler(sqs_batch(*events), LambdaContext()) == {"batchItemFailures": []}
        options = [
            "--endpoint-url",
            server.endpoint,
            "--region",
            "us-east-1",
            "--documents-bucket",
            names.documents_bucket,
            "--documents-table",
            names.table,
            "--vector-bucket",
            names.vector_bucket,
            "--vector-index",
            names.vector_index,
        ]
        yield {"server": server, "names": names, "options": options}


def _server_parameters(options: list[str]) -> Any:
    from mcp import StdioServerParameters

    env = {
        **FAKE_AWS,
        **EMBEDDINGS,
        # The code of this checkout, whatever the installed copy.
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/docpipe", "tools")),
    }
    return StdioServerParameters(command=sys.executable, args=["-m", "docpipe_cli", "mcp", *options], env=env)


async def _call(options: list[str], *calls: tuple[str, dict[str, Any]]) -> tuple[list[str], list[Any]]:
    """Spawn ``docpipe mcp``, list its tools, then make each call in turn."""
    from mcp import ClientSession, stdio_client

    async with (
        stdio_client(_server_parameters(options)) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = [tool.name for tool in (await session.list_tools()).tools]
        results = [await session.call_tool(name, arguments) for name, arguments in calls]
    return tools, results


def _body(result: Any) -> Any:
    """The tool's JSON answer, from its text content (what every MCP client reads)."""
    return json.loads(result.content[0].text)


async def test_an_mcp_client_searches_and_reads_document_states(stack: dict[str, Any]) -> None:
    # Given docpipe mcp spawned by the SDK's stdio client
    tools, (found, indexed, skipped, unknown, sidecar) = await _call(
        stack["options"],
        ("search_documents", {"query": QUESTION, "k": 3, "filter": {"key": "docs/crazyones-pdfa.pdf"}}),
        ("document_status", {"key": "docs/pdflatex-4-pages.pdf"}),
        ("document_status", {"key": UNSUPPORTED}),
        ("document_status", {"key": "docs/never-uploaded.pdf"}),
        ("document_status", {"key": "docs/crazyones-pdfa.pdf.metadata.json"}),
    )

    # Then it offers the two tools, finds the document the question comes from, and reads the registry
    assert set(tools) == {"search_documents", "document_status"}
    assert not found.is_error
    matches = _body(found)["matches"]
    assert matches and {m["document_key"] for m in matches} == {"docs/crazyones-pdfa.pdf"}
    assert matches[0]["text"].startswith("The Crazy Ones")
    assert found.structured_content["matches"][0]["document_key"] == matches[0]["document_key"]
    assert _body(indexed)["state"] == "indexed" and _body(indexed)["chunk_count"] > 0
    assert (_body(skipped)["state"], _body(skipped)["reason"]) == ("skipped", "unsupported_type")
    assert _body(unknown)["state"] is None and "reason" not in _body(unknown)
    assert (_body(sidecar)["state"], _body(sidecar)["reason"]) == (None, "sidecar")  # the scope's rule


async def test_a_bad_search_gets_the_apis_validation_error_naming_the_field(stack: dict[str, Any]) -> None:
    # When the client asks for too many matches, an unknown rerank mode and an unfilterable key
    _, (too_many, bad_rerank, bad_filter) = await _call(
        stack["options"],
        ("search_documents", {"query": QUESTION, "k": 500}),
        ("search_documents", {"query": QUESTION, "rerank": "best"}),
        ("search_documents", {"query": QUESTION, "filter": {"text": "crazy"}}),
    )

    # Then each is an error result carrying the search API's own ValidationError object
    for result, field in ((too_many, "k"), (bad_rerank, "rerank"), (bad_filter, "filter.text")):
        assert result.is_error
        assert _body(result)["error"] == "ValidationError" and _body(result)["field"] == field


def test_search_json_prints_what_search_function_returns(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the function's own service over the same index
    for name, value in {**EMBEDDINGS, "AWS_ENDPOINT_URL": stack["server"].endpoint}.items():
        monkeypatch.setenv(name, value)
    names = stack["names"]
    settings = Settings.from_env().with_overrides(
        vector_bucket=names.vector_bucket, vector_index=names.vector_index
    )
    expected = build_search_service(settings).search(SearchRequest(QUESTION, k=2, rerank="none")).as_dict()

    # When the CLI searches with --json
    code = cli.main(["search", QUESTION, "--k", "2", "--rerank", "none", "--json", *stack["options"]])

    # Then stdout is that response, field for field (only the timing differs)
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {**printed, "took_ms": None} == {**expected, "took_ms": None}


def test_search_json_prints_the_validation_error_and_exits_non_zero(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in EMBEDDINGS.items():
        monkeypatch.setenv(name, value)

    code = cli.main(["search", QUESTION, "--k", "500", "--json", *stack["options"]])

    assert code == 1
    assert json.loads(capsys.readouterr().out) == {
        "error": "ValidationError",
        "field": "k",
        "message": "is 500; allowed: 1..100",
    }
