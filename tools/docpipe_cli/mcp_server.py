"""``docpipe mcp``: the search API and the document registry as tools of an MCP server on stdio.

Agents and MCP clients (Claude Desktop, IDEs, the MCP Python SDK) start it as a subprocess and call
two tools:

- ``search_documents``: the search API (``SearchRequest``, ``SearchService``: the code SearchFunction
  runs), answering with SearchFunction's response, or with its ``ValidationError`` object naming
  the field when the request breaks a rule.
- ``document_status``: one document's state in the registry (``indexed``, ``skipped`` with its
  reason, ``deleted``, ``processing``), the answer ``docpipe status`` prints.

The server talks to the stack the other ``docpipe`` commands do (the local stack, ``--stack-name``,
``--endpoint-url``, the names' options and environment variables); it reads and never writes.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from docpipe.config import RERANK_MODES
from docpipe.exceptions import DocpipeError, ForbiddenError, TransientError, ValidationError
from docpipe.ids import doc_id
from docpipe.registry import DocumentRegistry
from docpipe.scope import Scope
from docpipe.search import SearchRequest, SearchService
from docpipe.search.request import DEFAULT_K
from docpipe_cli.target import Target

SERVER_NAME = "docpipe"
INSTRUCTIONS = (
    "Search the documents docpipe indexed (search_documents) and ask why a document is or is not "
    "searchable (document_status). Matches carry the document key, page range and section to cite."
)
# What the registry record says about a document, under the names `docpipe status` prints.
STATUS_FIELDS = ("state", "reason", "pages", "chunk_count", "ocr_pages", "content_type", "updated_at")


def search_fields(
    query: str,
    k: int,
    filter: dict[str, Any] | None,
    rerank: str | None,
    on_behalf_of: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The search request's fields from the tool's arguments: the one place they are passed through.

    ``SearchRequest.from_dict`` parses the result, so a field added to the request (and here) is
    validated by the API's own rules. ``on_behalf_of`` is the server's, set when it starts
    (``docpipe mcp --on-behalf-of``), never a tool argument: the agent does not choose whom it
    searches as (docs/access-control.md).
    """
    return {"query": query, "k": k, "filter": filter, "rerank": rerank, "on_behalf_of": on_behalf_of}


@dataclass
class DocpipeTools:
    """The two tools over one stack: the search service, the registry and the scope the CLI uses."""

    service: SearchService
    registry: DocumentRegistry
    bucket: str
    scope: Scope = Scope()
    # Whom every search is for, where AccessControl=enforced ({"user": ..., "groups": [...]}).
    on_behalf_of: dict[str, Any] | None = None

    @classmethod
    def for_target(cls, target: Target, on_behalf_of: dict[str, Any] | None = None) -> DocpipeTools:
        """Built once, at start: a missing name or a bad setting fails before the client connects."""
        from docpipe_cli.queries import registry, search_service

        return cls(
            service=search_service(target),
            registry=registry(target),
            bucket=target.name("documents_bucket", "--documents-bucket"),
            scope=target.scope(),
            on_behalf_of=on_behalf_of,
        )

    def search_documents(
        self,
        query: Annotated[str, Field(description="the question or the words to find")],
        k: Annotated[int, Field(description="how many matches to return (1 to 100)")] = DEFAULT_K,
        filter: Annotated[
            dict[str, Any] | None,
            Field(
                description="S3 Vectors metadata filter, e.g. "
                '{"key": "docs/report.pdf", "page": {"$gte": 2}}; sidecar attributes are filterable'
            ),
        ] = None,
        rerank: Annotated[
            str | None,
            Field(description=f"ranking: one of {', '.join(RERANK_MODES)}; default: the stack's"),
        ] = None,
    ) -> dict[str, Any]:
        """Search the indexed documents; each match has its text, document key, pages, section and score."""
        try:
            request = SearchRequest.from_dict(search_fields(query, k, filter, rerank, self.on_behalf_of))
            return self.service.search(request).as_dict()
        except ValidationError as error:  # the caller's mistake: the API's 400 body, naming the field
            raise ToolFailure(error.as_dict()) from error
        except ForbiddenError as error:  # access control refused it: the API's 403 body
            raise ToolFailure(error.as_dict()) from error
        except DocpipeError as error:  # not the caller's: the class only, as SearchFunction answers
            raise ToolFailure(
                {
                    "error": type(error).__name__,
                    "message": "the search could not be completed",
                    "retryable": isinstance(error, TransientError),
                }
            ) from error

    def document_status(
        self, key: Annotated[str, Field(description="the document's S3 object key, e.g. docs/report.pdf")]
    ) -> dict[str, Any]:
        """A document's state in docpipe's registry (indexed, skipped with a reason, deleted, processing)."""
        if not key or not key.strip():
            raise ToolFailure({"error": "ValidationError", "field": "key", "message": "must not be empty"})
        record = self.registry.get(doc_id(self.bucket, key))
        if record is None:
            unknown: dict[str, Any] = {"key": key, "bucket": self.bucket, "state": None}
            outside = self.scope.reason(key, 1)  # the one rule of what a document is
            if outside is not None:
                return {
                    **unknown,
                    "reason": outside,
                    "message": f"not a document docpipe indexes (scope {self.scope.as_dict()})",
                }
            return {**unknown, "message": "docpipe has no record of this key: not uploaded, or not processed"}
        found = {name: getattr(record, name) for name in STATUS_FIELDS}
        return {"key": record.key, "bucket": record.bucket, **found}


class ToolFailure(Exception):
    """A tool's answer that is an error: the client receives ``body`` as JSON with ``isError``."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.body = body


def build_server(tools: DocpipeTools) -> Any:
    """The MCP server with the two tools; a failure reaches the client as the API's JSON object."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import CallToolResult, TextContent

    server = MCPServer(name=SERVER_NAME, instructions=INSTRUCTIONS)

    def as_tool(method: Any) -> Any:
        def call(**arguments: Any) -> Any:
            try:
                return method(**arguments)
            except ToolFailure as failure:  # isError, the body as both text and structured content
                text = TextContent(type="text", text=json.dumps(failure.body))
                return CallToolResult(content=[text], structured_content=failure.body, is_error=True)

        call.__name__ = method.__name__
        call.__doc__ = method.__doc__
        call.__signature__ = inspect.signature(method, eval_str=True)  # type: ignore[attr-defined]
        return call

    for method in (tools.search_documents, tools.document_status):
        server.add_tool(as_tool(method), name=method.__name__, structured_output=True)
    return server


def serve(target: Target, on_behalf_of: dict[str, Any] | None = None) -> None:
    """Serve the tools on stdin/stdout until the client closes them."""
    # stdout is the protocol's channel: Powertools metrics (a refused search's SearchRequestsDenied)
    # print EMF lines there, which the client would read as a broken message.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    build_server(DocpipeTools.for_target(target, on_behalf_of)).run("stdio")
