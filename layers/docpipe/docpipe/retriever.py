"""``DocpipeRetriever``: the search API as a LangChain retriever, for notebooks and chains.

It calls ``SearchService.search``, the path SearchFunction runs, and returns one ``Document`` per
match whose metadata has the keys ``S3FileLoader`` gives a page (``source``, ``bucket``, ``key``,
``page``, ``content_type``) plus the chunk's own (``page_end``, ``chunk_no``, ``section`` when
known, ``score``, ``vector_key``, sidecar attributes) and ``context`` when neighbours were asked
for. ``k``, ``filter``, ``rerank`` and ``neighbours`` are set on the retriever and can be
overridden per call (``retriever.invoke(query, k=3)``), as LangChain's standard retriever tests
expect. Needs the ``docpipe[langchain]`` extra.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict

from docpipe.config import Settings
from docpipe.search import SearchMatch, SearchRequest, SearchService, build_search_service
from docpipe.search.request import DEFAULT_K


class DocpipeRetriever(BaseRetriever):
    """Retrieve chunks from a docpipe index.

    Attributes:
        service: the search service (``DocpipeRetriever.from_settings()`` builds one from the
            environment the functions read: VECTOR_BUCKET, VECTOR_INDEX, EMBEDDING_*).
        k, filter, rerank, neighbours: as in a SearchFunction request; checked when the
            retriever is created, not at the first query.
        on_behalf_of: the user (and groups) searched for, ``{"user": ..., "groups": [...]}``;
            required where ``ACCESS_CONTROL=enforced`` (docs/access-control.md).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    service: SearchService
    k: int = DEFAULT_K
    filter: dict[str, Any] | None = None
    rerank: str | None = None
    neighbours: int = 0
    on_behalf_of: dict[str, Any] | None = None

    def model_post_init(self, context: Any, /) -> None:
        self._request("probe")  # a bad k, filter or rerank fails here, naming the field

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> DocpipeRetriever:
        """A retriever over the index ``settings`` (the environment by default) names."""
        return cls(service=build_search_service(settings or Settings.from_env()), **kwargs)

    def _request(self, query: str, **overrides: Any) -> SearchRequest:
        """The request for ``query``: the retriever's fields, then the call's ``overrides``.

        Parsed by ``SearchRequest.from_dict``, the API's own parser: an override the API does not
        have (``top_k``) or a bad value fails with the ``ValidationError`` that names the field.
        """
        fields = {
            "k": self.k,
            "filter": self.filter,
            "rerank": self.rerank,
            "neighbours": self.neighbours,
            "on_behalf_of": self.on_behalf_of,
        }
        return SearchRequest.from_dict({**fields, **overrides, "query": query})

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **overrides: Any
    ) -> list[Document]:
        response = self.service.search(self._request(query, **overrides))
        return [match_document(m) for m in response.matches]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **overrides: Any
    ) -> list[Document]:
        # LangChain's default runs the sync path without the call's keyword arguments; pass them on.
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), **overrides
        )


def match_document(match: SearchMatch) -> Document:
    """One match as a Document: the chunk text, and metadata shaped like the loaders'."""
    stored = {k: v for k, v in match.metadata.items() if k not in ("text", "source_uri")}
    metadata: dict[str, Any] = {
        "source": match.metadata.get("source_uri", ""),
        **stored,
        "vector_key": match.key,
        "score": match.score,
    }
    if match.rerank_score is not None:
        metadata["rerank_score"] = match.rerank_score
    if match.context is not None:
        metadata["context"] = match.context
    return Document(page_content=match.text, metadata=metadata)
