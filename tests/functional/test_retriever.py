"""DocpipeRetriever against a real index on moto: LangChain's standard retriever tests, and ``k`` per call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from docpipe.exceptions import ValidationError
from docpipe.retriever import DocpipeRetriever
from docpipe.search import SearchService
from tests.functional.conftest import Pipeline, s3_notification, sqs_batch
from tests.functional.test_search_handler import Search

# 4 pages, ~17 chunks: enough for k=3 from one document written by others.
DOCUMENT = "pdflatex-4-pages.pdf"
QUERY = "the proof of the theorem"


@pytest.fixture
def service(pipeline: Pipeline, corpus_bytes: Callable[[str], bytes]) -> SearchService:
    """SearchFunction's service over an index the real IngestFunction handler built."""
    pipeline.upload(f"docs/{DOCUMENT}", corpus_bytes(DOCUMENT))
    assert pipeline.invoke(sqs_batch(s3_notification(f"docs/{DOCUMENT}", sequencer="01"))) == {
        "batchItemFailures": []
    }
    service: SearchService = Search(pipeline).app.service
    return service


class TestDocpipeRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's own checks: ``k`` in the constructor and per call, invoke and ainvoke."""

    @pytest.fixture(autouse=True)
    def _index(self, service: SearchService) -> None:
        self._service = service

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return DocpipeRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"service": self._service}

    @property
    def retriever_query_example(self) -> str:
        return QUERY


def test_k_given_to_invoke_overrides_the_retrievers_own(service: SearchService) -> None:
    # Given a retriever built for 5 matches
    retriever = DocpipeRetriever(service=service, k=5)

    # When one call asks for 2 and the next for none in particular
    two = retriever.invoke(QUERY, k=2)
    default = retriever.invoke(QUERY)

    # Then the call's k wins for that call only
    assert len(two) == 2 and len(default) == 5
    assert all(isinstance(doc, Document) and doc.page_content for doc in two)


async def _ainvoke(retriever: DocpipeRetriever, **kwargs: Any) -> list[Document]:
    return await retriever.ainvoke(QUERY, **kwargs)


async def test_ainvoke_passes_the_calls_arguments_on(service: SearchService) -> None:
    # Given a retriever built for 5 matches, when the async path asks for 1 with a filter
    retriever = DocpipeRetriever(service=service, k=5)
    docs = await _ainvoke(retriever, k=1, filter={"key": f"docs/{DOCUMENT}"})

    # Then both reach the search
    assert len(docs) == 1 and docs[0].metadata["key"] == f"docs/{DOCUMENT}"


def test_an_argument_the_search_api_lacks_is_refused_naming_it(service: SearchService) -> None:
    retriever = DocpipeRetriever(service=service)

    with pytest.raises(ValidationError, match="top_k") as raised:
        retriever.invoke(QUERY, top_k=3)

    assert raised.value.field == "top_k"
