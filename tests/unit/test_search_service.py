"""SearchService on the store's own rankings, against the s3vectors model (botocore's Stubber).

The Stubber checks every request against botocore's s3vectors model (queryTexts, returnScores,
UpdateIndexMode, UpdateMetadataConfiguration are in it since botocore 1.44.4), so a parameter the
service would refuse fails here too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from docpipe.config import Settings
from docpipe.embeddings.base import Embedder
from docpipe.exceptions import ValidationError
from docpipe.search import SearchRequest, SearchService
from docpipe.search.service import TEXT_STATUS_MAX_AGE_SECONDS
from docpipe.vectorstore import MAX_QUERY_TEXT_CHARS, TEXT_SEARCH_KEYS, S3VectorStore

BUCKET, INDEX = "vectors", "chunks"
WHERE = {"vectorBucketName": BUCKET, "indexName": INDEX}


class FixedEmbedder(Embedder):
    provider, model_id, dimension = "test", "fixed", 3

    def __init__(self) -> None:
        self.queries: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.queries.extend(texts)
        return [[1.0, 0.0, 0.0] for _ in texts]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def index(
    mode: str | None = "ENHANCED", status: str | None = "ACTIVE", language: str = "en"
) -> dict[str, Any]:
    config: dict[str, Any] = {"nonFilterableMetadataKeys": ["text", "source_uri"]}
    if status is not None:
        config["textSearchConfigurations"] = [
            {"metadataKey": key, "language": language, "status": status} for key in TEXT_SEARCH_KEYS
        ]
    answer: dict[str, Any] = {
        "vectorBucketName": BUCKET,
        "indexName": INDEX,
        "indexArn": f"arn:aws:s3vectors:us-east-1:123456789012:bucket/{BUCKET}/index/{INDEX}",
        "creationTime": datetime(2026, 1, 1, tzinfo=UTC),
        "dataType": "float32",
        "dimension": 3,
        "distanceMetric": "cosine",
        "metadataConfiguration": config,
    }
    if mode is not None:
        answer["indexMode"] = mode
    return {"index": answer}


def chunk(doc: str, n: int, **scores: Any) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "key": f"{doc}#{n}",
        "metadata": {"doc_id": doc, "key": f"docs/{doc}.pdf", "chunk_no": n, "text": f"text of {doc}"},
    }
    if "distance" in scores:
        vector["distance"] = scores.pop("distance")
    if scores:
        vector["scores"] = scores
    return vector


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("s3vectors", region_name="us-east-1")
    stubber = Stubber(client)
    with stubber:
        yield client, stubber
    stubber.assert_no_pending_responses()


def service(client: Any, clock: Clock | None = None, **settings: Any) -> tuple[SearchService, FixedEmbedder]:
    embedder = FixedEmbedder()
    store = S3VectorStore(client, BUCKET, INDEX)
    built = SearchService(Settings(**settings), store=store, embedder=embedder, clock=clock or Clock())
    return built, embedder


def asked(text: str) -> list[dict[str, str]]:
    """The queryTexts a search sends: the query for each searchable key."""
    return [{"metadataKey": key, "text": text} for key in TEXT_SEARCH_KEYS]


def expect_query(stubber: Stubber, answer: list[dict[str, Any]], **params: Any) -> None:
    stubber.add_response(
        "query_vectors",
        {"vectors": answer, "distanceMetric": "cosine"},
        {**WHERE, "returnMetadata": True, "returnDistance": True, **params},
    )


def test_the_default_is_one_hybrid_query_ordered_by_the_stores_fused_score(stubbed: Any) -> None:
    # Given an ENHANCED index whose text search is ACTIVE
    client, stubber = stubbed
    stubber.add_response("get_index", index(), WHERE)
    both = chunk("a", 0, fused=0.032, vectorDistance=0.2, bm25Scores=[{"metadataKey": "text", "score": 7.5}])
    text_only = chunk("b", 3, fused=0.016, bm25Scores=[{"metadataKey": "text", "score": 9.1}])
    vector_only = chunk("c", 1, fused=0.015, vectorDistance=0.1)
    expect_query(
        stubber,
        [both, text_only, vector_only],
        topK=3,
        queryVector={"float32": [1.0, 0.0, 0.0]},
        queryTexts=asked("error E1234"),
        returnScores=True,
    )
    search, _ = service(client)

    # When the caller names no ranking
    response = search.search(SearchRequest("error E1234", k=3)).as_dict()

    # Then the store's fused score orders the matches and each says what placed it
    assert (response["rerank"], response["ranked_by"], response["text_search"]) == (
        "hybrid",
        "hybrid",
        "ACTIVE",
    )
    assert "notice" not in response
    matches = response["matches"]
    assert [m["score"] for m in matches] == [0.032, 0.016, 0.015]
    assert [m["placed_by"] for m in matches] == [["vector", "text"], ["text"], ["vector"]]
    assert matches[0]["similarity"] == pytest.approx(0.8) and "similarity" not in matches[1]
    assert matches[1]["bm25"] == {"text": 9.1} and "bm25" not in matches[2]


def test_a_match_names_its_document_key_and_keeps_the_deprecated_vector_key(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("get_index", index(), WHERE)
    expect_query(stubber, [chunk("a", 2, distance=0.25)], topK=1, queryVector=ANY)
    search, _ = service(client)

    [match] = search.search(SearchRequest("q", k=1, rerank="none")).as_dict()["matches"]

    assert match["document_key"] == "docs/a.pdf"
    assert match["vector_key"] == match["key"] == "a#2"


def test_text_ranks_by_bm25_alone_without_embedding_the_query(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("get_index", index(), WHERE)
    expect_query(
        stubber,
        [chunk("b", 0, bm25Scores=[{"metadataKey": "text", "score": 12.0}])],
        topK=2,
        queryTexts=asked("ERR_CONN_RESET"),
        returnScores=True,
    )
    search, embedder = service(client)

    response = search.search(SearchRequest("ERR_CONN_RESET", k=2, rerank="text")).as_dict()

    assert response["ranked_by"] == "text"
    assert [(m["score"], m["placed_by"]) for m in response["matches"]] == [(12.0, ["text"])]
    assert embedder.queries == []


def test_none_is_the_vector_search_alone_scored_by_similarity(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("get_index", index(), WHERE)
    expect_query(stubber, [chunk("a", 0, distance=0.1), chunk("b", 0, distance=0.3)], topK=2, queryVector=ANY)
    search, _ = service(client)

    response = search.search(SearchRequest("q", k=2, rerank="none")).as_dict()

    assert response["ranked_by"] == "dense"
    assert [m["score"] for m in response["matches"]] == pytest.approx([0.9, 0.7])
    assert [m["score"] for m in response["matches"]] == [m["similarity"] for m in response["matches"]]


def test_lexical_is_read_as_hybrid(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("get_index", index(), WHERE)
    expect_query(
        stubber,
        [],
        topK=1,
        queryVector=ANY,
        queryTexts=asked("q"),
        returnScores=True,
    )
    search, _ = service(client, search_rerank="lexical")

    assert search.search(SearchRequest("q", k=1)).rerank == "hybrid"


def test_while_text_search_builds_hybrid_answers_with_the_dense_ranking_and_says_so(stubbed: Any) -> None:
    # Given an index switched to ENHANCED whose text search is still backfilling
    client, stubber = stubbed
    stubber.add_response("get_index", index(status="BUILDING"), WHERE)
    expect_query(stubber, [chunk("a", 0, distance=0.1)], topK=1, queryVector=ANY)  # no queryTexts
    search, _ = service(client)

    # When a hybrid search runs
    response = search.search(SearchRequest("q", k=1)).as_dict()

    # Then the dense order answers, and the response says why
    assert (response["rerank"], response["ranked_by"], response["text_search"]) == (
        "hybrid",
        "dense",
        "BUILDING",
    )
    assert "BUILDING" in response["notice"] and "dense" in response["notice"]
    assert response["matches"][0]["placed_by"] == ["vector"]


def test_a_warm_service_notices_when_the_backfill_has_finished(stubbed: Any) -> None:
    client, stubber = stubbed
    clock = Clock()
    stubber.add_response("get_index", index(status="BUILDING"), WHERE)
    expect_query(stubber, [], topK=1, queryVector=ANY)
    search, _ = service(client, clock)
    search.search(SearchRequest("q", k=1))

    # A minute later GetIndex is asked again, says ACTIVE, and the query is hybrid
    clock.now += TEXT_STATUS_MAX_AGE_SECONDS
    stubber.add_response("get_index", index(status="ACTIVE"), WHERE)
    expect_query(
        stubber,
        [],
        topK=1,
        queryVector=ANY,
        queryTexts=asked("q"),
        returnScores=True,
    )

    assert search.search(SearchRequest("q", k=1)).ranked_by == "hybrid"


def test_text_on_a_classic_index_answers_dense_and_names_the_cause(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("get_index", index(mode="CLASSIC", status=None), WHERE)
    expect_query(stubber, [], topK=1, queryVector=ANY)
    search, _ = service(client)

    response = search.search(SearchRequest("q", k=1, rerank="text"))

    assert (response.ranked_by, response.text_search) == ("dense", "OFF")
    assert response.notice is not None and "not enabled" in response.notice


def test_starts_with_on_a_classic_index_is_the_callers_error_naming_the_field(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("get_index", index(mode="CLASSIC", status=None), WHERE)
    search, _ = service(client)
    request = SearchRequest("q", filter={"$or": [{"page": 1}, {"key": {"$startsWith": "docs/"}}]})

    with pytest.raises(ValidationError) as caught:
        search.search(request)

    assert caught.value.field == "filter.$or[1].key.$startsWith"
    assert "ENHANCED" in str(caught.value)


def test_starts_with_reaches_the_store_on_an_enhanced_index(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("get_index", index(), WHERE)
    wanted = {"key": {"$startsWith": "docs/"}}
    expect_query(stubber, [], topK=1, queryVector=ANY, filter=wanted, queryTexts=ANY, returnScores=True)
    search, _ = service(client)

    assert search.search(SearchRequest("q", k=1, filter=wanted)).matches == []


def test_a_long_query_is_embedded_whole_and_its_text_cut_at_the_api_limit(stubbed: Any) -> None:
    client, stubber = stubbed
    query = "word " * 400  # 2,000 characters
    stubber.add_response("get_index", index(), WHERE)
    seen: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.s3vectors.QueryVectors", lambda params, **_: seen.append(params)
    )
    expect_query(stubber, [], topK=1, queryVector=ANY, queryTexts=ANY, returnScores=True)
    search, embedder = service(client)

    search.search(SearchRequest(query, k=1))

    texts = seen[0]["queryTexts"]
    assert [t["metadataKey"] for t in texts] == list(TEXT_SEARCH_KEYS)
    for text in texts:
        assert len(text["text"]) <= MAX_QUERY_TEXT_CHARS and query.startswith(text["text"])
    assert embedder.queries == [query]


def test_enabling_text_search_switches_a_classic_index_in_place(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("get_index", index(mode="CLASSIC", status=None), WHERE)
    stubber.add_response("update_index_mode", {}, {**WHERE, "indexMode": "ENHANCED"})
    stubber.add_response(
        "update_metadata_configuration",
        {"indexArn": "arn:aws:s3vectors:us-east-1:123456789012:bucket/vectors/index/chunks"},
        {**WHERE, "add": {"textSearchConfigurations": [{"metadataKey": "text", "language": "fr"}]}},
    )
    store = S3VectorStore(client, BUCKET, INDEX)

    changed = store.enable_text_search(("text",), language="fr")

    assert changed == ["index mode CLASSIC -> ENHANCED", "text search on 'text' added (language fr)"]


def test_enabling_text_search_again_changes_nothing(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("get_index", index(language="en"), WHERE)

    assert S3VectorStore(client, BUCKET, INDEX).enable_text_search(("text",), language="en") == []


def test_a_new_language_deletes_the_key_then_adds_it_again(stubbed: Any) -> None:
    client, stubber = stubbed
    arn = {"indexArn": "arn:aws:s3vectors:us-east-1:123456789012:bucket/vectors/index/chunks"}
    stubber.add_response("get_index", index(language="en"), WHERE)
    stubber.add_response(
        "update_metadata_configuration",
        arn,
        {**WHERE, "delete": {"textSearchConfigurations": [{"metadataKey": "text"}]}},
    )
    stubber.add_response(
        "update_metadata_configuration",
        arn,
        {**WHERE, "add": {"textSearchConfigurations": [{"metadataKey": "text", "language": "de"}]}},
    )

    changed = S3VectorStore(client, BUCKET, INDEX).enable_text_search(("text",), language="de")

    assert len(changed) == 2
