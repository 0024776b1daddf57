"""SearchFunction on the events/ files, against an index the real ingest handler built from the corpus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from docpipe.ids import doc_id
from docpipe.rerank.bedrock import BedrockReranker
from tests.conftest import ROOT, load_event
from tests.functional.conftest import (
    EVENTS_BUCKET,
    Pipeline,
    import_handler,
    s3_notification,
    sqs_batch,
)
from tests.lambda_context import LambdaContext

CORPUS = ("crazyones-pdfa.pdf", "pdflatex-4-pages.pdf", "pdflatex-outline.pdf", "google-doc-document.pdf")
HANDLER_PATH = ROOT / "functions" / "search" / "app.py"


class Search:
    """The search handler over the pipeline's index (QueryVectors of the local S3 Vectors)."""

    def __init__(self, pipeline: Pipeline, **env: str) -> None:
        self.pipeline = pipeline
        for key, value in {**pipeline.names.env("SearchFunction"), **env}.items():
            pipeline.monkeypatch.setenv(key, value) if value else pipeline.monkeypatch.delenv(
                key, raising=False
            )
        self.app = import_handler(HANDLER_PATH, "search_app_under_test")

    def __call__(self, event: Any) -> Any:
        return self.app.handler(event, LambdaContext())

    def url(self, body: Any, *, method: str = "POST", raw: str | None = None) -> tuple[int, dict[str, Any]]:
        event = load_event("search_function_url")
        event["body"] = raw if raw is not None else json.dumps(body)
        event["requestContext"]["http"]["method"] = method
        response = self(event)
        return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def indexed(pipeline: Pipeline, corpus_bytes: Any) -> Iterator[Pipeline]:
    """The corpus documents indexed under docs/ by the real IngestFunction handler."""
    for name in CORPUS:
        pipeline.upload(f"docs/{name}", corpus_bytes(name))
    bodies = [s3_notification(f"docs/{name}", sequencer=f"0{i}") for i, name in enumerate(CORPUS)]
    assert pipeline.invoke(sqs_batch(*bodies)) == {"batchItemFailures": []}
    yield pipeline


@pytest.fixture
def search(indexed: Pipeline) -> Search:
    return Search(indexed)


@pytest.fixture
def unindexed(pipeline: Pipeline) -> Search:
    """The handler over an empty index: requests are judged before any AWS call."""
    return Search(pipeline)


def test_basic_event_finds_the_document_with_similarity_scores_in_descending_order(search: Search) -> None:
    response = search({**load_event("search_basic"), "rerank": "none", "k": 5})

    scores = [m["score"] for m in response["matches"]]
    assert response["matches"][0]["source_uri"] == "s3://docpipe-documents/docs/crazyones-pdfa.pdf"
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in scores) and scores[0] > 0.3  # cosine similarity, not distance
    assert response["index"] == search.pipeline.names.vector_index
    assert response["model"] == "wordllama/l2_supercat"
    assert "exact_fallback" not in response and response["took_ms"] > 0


def test_a_match_carries_its_place_text_and_metadata(search: Search) -> None:
    [match] = search({"query": "Beautiful is better than ugly", "k": 1, "rerank": "none"})["matches"]

    assert match["key"] == f"{doc_id('docpipe-documents', 'docs/google-doc-document.pdf')}#0"
    assert (match["page"], match["page_end"], match["chunk_no"]) == (1, 1, 0)
    assert "Beautiful is better than ugly" in match["text"]
    assert match["metadata"]["content_type"] == "application/pdf" and "text" not in match["metadata"]
    assert "context" not in match


def test_default_ranking_is_the_stores_hybrid_and_score_orders_the_matches(search: Search) -> None:
    # Given the stack's index, made ENHANCED with text searchable as VectorIndexTextSearch does
    # When a search names no ranking
    response = search({"query": "text that shows what a printed text will look like", "k": 8})

    # Then one hybrid QueryVectors ranked it: the store's fused score orders the list
    assert (response["rerank"], response["ranked_by"], response["text_search"]) == (
        "hybrid",
        "hybrid",
        "ACTIVE",
    )
    assert "notice" not in response
    scores = [m["score"] for m in response["matches"]]
    assert len(scores) == 8 and scores == sorted(scores, reverse=True)
    placed = [tuple(m["placed_by"]) for m in response["matches"]]
    assert ("vector", "text") in placed  # found by both rankings
    for match in response["matches"]:
        assert "similarity" in match or "vector" not in match["placed_by"]
        assert ("bm25" in match) == ("text" in match["placed_by"])


def test_text_ranking_finds_a_rare_word_by_bm25_alone(search: Search) -> None:
    # "misfits" is in one corpus document only
    response = search({"query": "misfits", "k": 3, "rerank": "text"})

    assert response["ranked_by"] == "text"
    first = response["matches"][0]
    assert first["document_key"] == "docs/crazyones-pdfa.pdf"
    assert first["placed_by"] == ["text"] and first["score"] == first["bm25"]["text"] > 0


def test_while_text_search_builds_search_ranks_dense_and_says_so(
    indexed: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an index whose text search was just added again and is backfilling (an hour, locally)
    from docpipe_cli.local.s3vectors.api import BACKFILL_ENV

    monkeypatch.setenv(BACKFILL_ENV, "3600")
    store = indexed.store
    store.client.update_metadata_configuration(
        vectorBucketName=store.vector_bucket,
        indexName=store.index_name,
        delete={"textSearchConfigurations": [{"metadataKey": "text"}]},
    )
    store.enable_text_search(("text",), language="en")
    search = Search(indexed)

    # When a hybrid search runs
    response = search({"query": "Here's to the crazy ones", "k": 3})

    # Then it answers with the dense ranking and says why; the document is still found
    assert (response["rerank"], response["ranked_by"], response["text_search"]) == (
        "hybrid",
        "dense",
        "BUILDING",
    )
    assert "BUILDING" in response["notice"]
    assert response["matches"][0]["document_key"] == "docs/crazyones-pdfa.pdf"


def test_filtered_event_returns_only_what_the_filter_allows(search: Search) -> None:
    event = {**load_event("search_filtered"), "k": 30}
    unfiltered = search({k: v for k, v in event.items() if k != "filter"})

    response = search(event)

    def places(answer: dict[str, Any]) -> set[tuple[str, int]]:
        return {(m["metadata"]["key"], m["page"]) for m in answer["matches"]}

    outside = {p for p in places(unfiltered) if p[0] != "docs/pdflatex-4-pages.pdf" or p[1] < 2}
    assert outside  # without the filter, other documents and page 1 match too
    assert places(response) and not places(response) & outside
    assert all(key == "docs/pdflatex-4-pages.pdf" and page >= 2 for key, page in places(response))


def test_neighbours_returns_the_adjacent_chunks_as_context(search: Search) -> None:
    [match] = search({**load_event("search_filtered"), "k": 1, "neighbours": 2})["matches"]

    n = match["chunk_no"]
    document = doc_id("docpipe-documents", "docs/pdflatex-4-pages.pdf")
    expected = [i for i in range(n - 2, n + 3) if i != n and i >= 0]
    stored = {v.key: v.metadata for v in search.pipeline.vectors("docs/pdflatex-4-pages.pdf")}
    expected = [i for i in expected if f"{document}#{i}" in stored]
    assert [c["chunk_no"] for c in match["context"]] == expected and expected
    for entry in match["context"]:
        assert entry["key"] == f"{document}#{entry['chunk_no']}"
        assert entry["text"] == stored[entry["key"]]["text"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "x" * 10_001}, "query"),
        ({"k": 0}, "k"),
        ({"k": 101}, "k"),
        ({"filter": {"page": {"$near": 1}}}, "filter.page.$near"),
        ({"filter": {"text": "crazy"}}, "filter.text"),
        ({"rerank": "semantic"}, "rerank"),
        ({"rerank": "bedrock"}, "rerank"),  # not enabled on this stack
        ({"neighbours": 5}, "neighbours"),
    ],
)
def test_each_bad_input_gets_its_named_error_at_both_doors(
    unindexed: Search, change: dict[str, Any], field: str
) -> None:
    body = {**load_event("search_basic"), **change}

    direct = unindexed(body)
    status, answer = unindexed.url(body)

    assert direct["error"] == "ValidationError" and direct["field"] == field
    assert status == 400 and answer == direct
    assert "Traceback" not in answer["message"]


def test_function_url_event_is_answered_with_200_and_the_matches(search: Search) -> None:
    response = search(load_event("search_function_url"))

    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert body["matches"][0]["source_uri"].endswith("crazyones-pdfa.pdf")


def test_function_url_refuses_a_body_that_is_not_json_an_empty_one_and_other_methods(
    unindexed: Search,
) -> None:
    bad_json = unindexed.url(None, raw="{query: crazy")
    empty = unindexed.url(None, raw="")
    wrong_method = unindexed.url({"query": "q"}, method="GET")

    assert bad_json == (400, {"error": "ValidationError", "field": "body", "message": "is not valid JSON"})
    assert empty[0] == 400 and empty[1]["field"] == "body"
    assert wrong_method[0] == 405


def test_an_aws_failure_is_a_503_without_details(unindexed: Search) -> None:
    search = unindexed

    class Unreachable:
        index_name = "chunks"

        def check_dimension(self, *_: Any, **__: Any) -> Any:
            from docpipe.exceptions import TransientAWSError

            raise TransientAWSError("s3vectors://secret-bucket/chunks: EndpointConnectionError")

    search.app.service.store = Unreachable()

    status, body = search.url(load_event("search_basic"))

    assert status == 503
    assert body == {"error": "TransientAWSError", "message": "the search could not be completed"}


def test_bedrock_rerank_when_enabled_reorders_by_relevance(indexed: Pipeline) -> None:
    search = Search(indexed, BEDROCK_RERANK_ENABLED="true")
    client = boto3.client("bedrock-agent-runtime", region_name="us-east-1")
    stubber = Stubber(client)
    search.app.service._cache["bedrock"] = BedrockReranker(client, model_id="amazon.rerank-v1:0")
    dense = search({"query": "crazy ones misfits rebels", "k": 100, "rerank": "none"})["matches"]
    last = len(dense) - 1  # the dense order's last candidate: the reranker puts it first
    stubber.add_response("rerank", {"results": [{"index": last, "relevanceScore": 0.97}]})

    with stubber:
        response = search({"query": "crazy ones misfits rebels", "k": 1, "rerank": "bedrock"})

    assert response["rerank"] == "bedrock"
    assert response["matches"][0]["key"] == dense[last]["key"]
    assert response["matches"][0]["rerank_score"] == 0.97


def test_retriever_returns_documents_with_the_loaders_metadata(search: Search) -> None:
    from docpipe.loaders import S3FileLoader
    from docpipe.retriever import DocpipeRetriever
    from docpipe.s3 import S3Client

    retriever = DocpipeRetriever(service=search.app.service, k=2, rerank="none")
    page = next(
        S3FileLoader(EVENTS_BUCKET, "docs/crazyones-pdfa.pdf", s3=S3Client(search.pipeline.s3)).lazy_load()
    )

    [first, _] = retriever.invoke("Here's to the crazy ones, the misfits, the rebels")

    shared = {k: v for k, v in page.metadata.items() if k != "total_pages"}  # a chunk is not a page count
    assert {k: first.metadata[k] for k in shared} == shared
    assert first.page_content.startswith("The Crazy Ones")
    assert first.metadata["score"] > 0 and first.metadata["vector_key"].endswith("#0")


def test_retriever_refuses_a_bad_setting_when_created(unindexed: Search) -> None:
    import pydantic

    from docpipe.retriever import DocpipeRetriever

    # pydantic wraps the ValueError raised while the model is built; the message is ours.
    with pytest.raises(pydantic.ValidationError, match=r"k: is 500; allowed: 1\.\.100"):
        DocpipeRetriever(service=unindexed.app.service, k=500)
