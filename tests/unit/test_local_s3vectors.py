"""The local S3 Vectors (docpipe_cli.local.s3vectors) answers as the service does, through plain boto3.

Every test talks to moto in-process (``mock_aws``) with the emulator installed (tests/conftest.py),
through an unmodified boto3 client: what a client sends and gets back is what is checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from docpipe_cli.local.s3vectors.api import BACKFILL_ENV, QUERY_PAGE_SIZE
from docpipe_cli.local.s3vectors.engine import RRF_K
from docpipe_cli.local.s3vectors.filters import MAX_FILTER_CONSTRAINTS

BUCKET = "local-vectors"
INDEX = "chunks"
DIMENSION = 8
TEXTS = [
    "The quick brown fox jumps over the lazy dog",
    "Error code E1234 means the disk is full",
    "Foxes are small omnivorous mammals",
    "Reciprocal rank fusion combines rankings",
    "The dog sleeps all day long",
    "Disk quotas limit what a user may store",
]


@pytest.fixture
def s3v() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3vectors", region_name="us-east-1")
        client.create_vector_bucket(vectorBucketName=BUCKET)
        yield client


def vec(seed: int) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).normal(size=DIMENSION)]


def make_index(client: Any, name: str = INDEX, *, searchable: bool = True, metric: str = "cosine") -> None:
    config: dict[str, Any] = {"nonFilterableMetadataKeys": ["text"]}
    if searchable:
        config["textSearchConfigurations"] = [{"metadataKey": "text", "language": "en"}]
    client.create_index(
        vectorBucketName=BUCKET,
        indexName=name,
        dataType="float32",
        dimension=DIMENSION,
        distanceMetric=metric,
        metadataConfiguration=config,
    )


def put(client: Any, name: str = INDEX, count: int = len(TEXTS)) -> list[dict[str, Any]]:
    vectors = [
        {
            "key": f"k{i}",
            "data": {"float32": vec(i)},
            "metadata": {
                "text": TEXTS[i % len(TEXTS)],
                "page": i,
                "path": f"docs/{'a' if i % 2 else 'b'}/{i}.pdf",
                "tags": ["even" if i % 2 == 0 else "odd", "all"],
                "draft": i == 1,
            },
        }
        for i in range(count)
    ]
    for start in range(0, len(vectors), 500):
        client.put_vectors(vectorBucketName=BUCKET, indexName=name, vectors=vectors[start : start + 500])
    return vectors


def query(client: Any, name: str = INDEX, **kwargs: Any) -> dict[str, Any]:
    response: dict[str, Any] = client.query_vectors(vectorBucketName=BUCKET, indexName=name, **kwargs)
    return response


def keys(response: dict[str, Any]) -> list[str]:
    return [v["key"] for v in response["vectors"]]


def error_of(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def brute_force(vectors: list[dict[str, Any]], q: list[float], metric: str) -> list[tuple[str, float]]:
    qv = np.asarray(q)
    scored = []
    for v in vectors:
        d = np.asarray(v["data"]["float32"])
        if metric == "cosine":
            dist = 1 - float(d @ qv / (np.linalg.norm(d) * np.linalg.norm(qv)))
        else:
            dist = float(np.linalg.norm(d - qv))
        scored.append((v["key"], dist))
    return sorted(scored, key=lambda kv: kv[1])


# -- QueryVectors: vectors ------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_a_vector_query_returns_the_exact_nearest_neighbours_with_their_distances(
    s3v: Any, metric: str
) -> None:
    make_index(s3v, metric=metric)
    vectors = put(s3v, count=40)

    response = query(s3v, topK=5, queryVector={"float32": vec(99)}, returnDistance=True)

    expected = brute_force(vectors, vec(99), metric)[:5]
    assert keys(response) == [k for k, _ in expected]
    assert [v["distance"] for v in response["vectors"]] == pytest.approx([d for _, d in expected], abs=1e-5)
    assert response["distanceMetric"] == metric
    assert "metadata" not in response["vectors"][0] and "scores" not in response["vectors"][0]


def test_metadata_is_returned_only_when_asked(s3v: Any) -> None:
    make_index(s3v)
    put(s3v)

    [hit] = query(s3v, topK=1, queryVector={"float32": vec(3)}, returnMetadata=True)["vectors"]

    assert hit["key"] == "k3" and hit["metadata"]["page"] == 3 and hit["metadata"]["text"] == TEXTS[3]


def test_overwritten_and_deleted_vectors_are_what_the_next_query_sees(s3v: Any) -> None:
    make_index(s3v)
    put(s3v)
    s3v.put_vectors(
        vectorBucketName=BUCKET, indexName=INDEX, vectors=[{"key": "k0", "data": {"float32": vec(5)}}]
    )
    s3v.delete_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["k5"])

    response = query(s3v, topK=2, queryVector={"float32": vec(5)}, returnMetadata=True)

    assert keys(response)[0] == "k0" and response["vectors"][0]["metadata"] == {}
    assert "k5" not in keys(query(s3v, topK=100, queryVector={"float32": vec(5)}))


# -- filters -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"page": 3}, {"k3"}),
        ({"page": {"$gte": 4}}, {"k4", "k5"}),
        ({"page": {"$gt": 1, "$lt": 4}}, {"k2", "k3"}),
        ({"page": {"$in": [0, 5, 9]}}, {"k0", "k5"}),
        ({"page": {"$nin": [0, 5]}}, {"k1", "k2", "k3", "k4"}),
        ({"page": {"$ne": 0}}, {"k1", "k2", "k3", "k4", "k5"}),
        ({"tags": "odd"}, {"k1", "k3", "k5"}),  # an array matches when any element does
        ({"draft": True}, {"k1"}),
        ({"draft": 1}, set()),  # a number is not a boolean
        ({"missing": {"$exists": False}}, {"k0", "k1", "k2", "k3", "k4", "k5"}),
        ({"missing": {"$ne": "x"}}, set()),  # a key a vector lacks matches nothing but $exists: false
        ({"$or": [{"page": 0}, {"$and": [{"tags": "odd"}, {"page": {"$lte": 1}}]}]}, {"k0", "k1"}),
        ({"path": {"$startsWith": "docs/a/"}}, {"k1", "k3", "k5"}),
    ],
)
def test_filters_select_what_s3_vectors_filters_select(
    s3v: Any, filter: dict[str, Any], expected: set[str]
) -> None:
    make_index(s3v)
    put(s3v)

    response = query(s3v, topK=100, queryVector={"float32": vec(0)}, filter=filter)

    assert set(keys(response)) == expected


def test_a_filter_sees_the_metadata_of_the_last_write(s3v: Any) -> None:
    make_index(s3v)
    put(s3v)
    query(s3v, topK=10, queryVector={"float32": vec(0)}, filter={"page": 3})  # the columns exist now
    s3v.put_vectors(
        vectorBucketName=BUCKET,
        indexName=INDEX,
        vectors=[{"key": "k3", "data": {"float32": vec(3)}, "metadata": {"page": 30, "tags": ["moved"]}}],
    )
    s3v.delete_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["k4"])

    def found(filter: dict[str, Any]) -> set[str]:
        return set(keys(query(s3v, topK=10, queryVector={"float32": vec(0)}, filter=filter)))

    assert found({"page": 3}) == set() and found({"page": {"$gte": 30}}) == {"k3"}
    assert found({"tags": "moved"}) == {"k3"} and "k3" not in found({"tags": "all"})
    assert found({"page": {"$in": [4, 5]}}) == {"k5"} and "k4" not in found({"missing": {"$exists": False}})


def test_a_filter_applies_before_the_ranking_so_a_selective_filter_still_fills_top_k(s3v: Any) -> None:
    make_index(s3v)
    put(s3v, count=300)

    response = query(s3v, topK=3, queryVector={"float32": vec(7)}, filter={"page": {"$gte": 297}})

    assert set(keys(response)) == {"k297", "k298", "k299"}


def test_starts_with_needs_an_enhanced_index_or_query_mode(s3v: Any) -> None:
    s3v.put_vector_bucket_default_index_mode(vectorBucketName=BUCKET, defaultIndexMode="CLASSIC")
    make_index(s3v, "classic", searchable=False)
    put(s3v, "classic")
    prefix = {"path": {"$startsWith": "docs/a/"}}

    code, status, message = error_of(
        lambda: query(s3v, "classic", topK=5, queryVector={"float32": vec(0)}, filter=prefix)
    )
    enhanced = query(
        s3v, "classic", topK=5, queryVector={"float32": vec(0)}, filter=prefix, queryMode="ENHANCED"
    )

    assert (
        (code, status) == ("ValidationException", 400) and "$startsWith" in message and "ENHANCED" in message
    )
    assert set(keys(enhanced)) == {"k1", "k3", "k5"}


def test_an_enhanced_query_takes_at_most_100_filter_constraints(s3v: Any) -> None:
    s3v.put_vector_bucket_default_index_mode(vectorBucketName=BUCKET, defaultIndexMode="CLASSIC")
    make_index(s3v, "classic", searchable=False)
    put(s3v, "classic")
    too_many = {"$or": [{"page": i} for i in range(MAX_FILTER_CONSTRAINTS + 1)]}
    enough = {"$or": [{"page": i} for i in range(MAX_FILTER_CONSTRAINTS)]}
    q = {"topK": 10, "queryVector": {"float32": vec(0)}}

    code, _, message = error_of(lambda: query(s3v, "classic", filter=too_many, queryMode="ENHANCED", **q))

    assert code == "ValidationException" and "101 constraints" in message
    assert len(keys(query(s3v, "classic", filter=enough, queryMode="ENHANCED", **q))) == 6
    assert len(keys(query(s3v, "classic", filter=too_many, **q))) == 6  # CLASSIC has no such limit


@pytest.mark.parametrize(
    ("filter", "named"),
    [
        ({"text": "fox"}, "non-filterable"),
        ({"page": {"$regex": "x"}}, "unknown operator"),
        ({"$not": [{"page": 1}]}, "unknown operator"),
        ({"page": {"$gt": "3"}}, "must be a number"),
        ({"page": {"$in": []}}, "non-empty array"),
        ({"$and": []}, "non-empty array"),
    ],
)
def test_a_bad_filter_is_a_validation_exception_naming_the_problem(s3v: Any, filter: Any, named: str) -> None:
    make_index(s3v)
    put(s3v)

    code, status, message = error_of(
        lambda: query(s3v, topK=3, queryVector={"float32": vec(0)}, filter=filter)
    )

    assert (code, status) == ("ValidationException", 400) and named in message


# -- paging --------------------------------------------------------------------------------------------


def test_top_k_above_the_page_size_is_paged_with_next_token_in_the_exact_order(s3v: Any) -> None:
    make_index(s3v)
    vectors = put(s3v, count=260)
    q = {"topK": 250, "queryVector": {"float32": vec(1000)}}

    pages = [query(s3v, **q)]
    while "nextToken" in pages[-1]:
        pages.append(query(s3v, nextToken=pages[-1]["nextToken"], **q))

    assert [len(p["vectors"]) for p in pages] == [QUERY_PAGE_SIZE, QUERY_PAGE_SIZE, 50]
    assert [k for p in pages for k in keys(p)] == [
        k for k, _ in brute_force(vectors, vec(1000), "cosine")[:250]
    ]


def test_the_sdk_paginator_gathers_every_page(s3v: Any) -> None:
    make_index(s3v)
    put(s3v, count=230)

    paginator = s3v.get_paginator("query_vectors")
    found = [
        v["key"]
        for page in paginator.paginate(
            vectorBucketName=BUCKET, indexName=INDEX, topK=230, queryVector={"float32": vec(2)}
        )
        for v in page["vectors"]
    ]

    assert sorted(found) == sorted(f"k{i}" for i in range(230))


def test_a_next_token_pages_the_query_it_came_from_only(s3v: Any) -> None:
    make_index(s3v)
    put(s3v, count=150)
    first = query(s3v, topK=150, queryVector={"float32": vec(1)})

    code, _, message = error_of(
        lambda: query(s3v, topK=150, queryVector={"float32": vec(2)}, nextToken=first["nextToken"])
    )

    assert code == "ValidationException" and "another query" in message


def test_top_k_is_limited_to_10000(s3v: Any) -> None:
    make_index(s3v)

    code, status, _ = error_of(lambda: query(s3v, topK=10_001, queryVector={"float32": vec(1)}))

    assert (code, status) == ("ValidationException", 400)


# -- full-text and hybrid ------------------------------------------------------------------------------


def test_a_text_query_ranks_by_bm25_and_reports_the_scores(s3v: Any) -> None:
    make_index(s3v)
    put(s3v)

    response = query(
        s3v, topK=10, queryTexts=[{"metadataKey": "text", "text": "E1234 disk"}], returnScores=True
    )

    assert keys(response)[0] == "k1"  # both terms; k5 has "disk" only, nobody else either
    assert set(keys(response)) == {"k1", "k5"}
    scores = [v["scores"]["bm25Scores"][0] for v in response["vectors"]]
    assert all(s["metadataKey"] == "text" for s in scores) and scores[0]["score"] > scores[1]["score"] > 0
    assert "fused" not in response["vectors"][0]["scores"] and "distance" not in response["vectors"][0]


def test_the_english_analyzer_stems_so_foxes_finds_fox(s3v: Any) -> None:
    make_index(s3v)
    put(s3v)

    response = query(s3v, topK=10, queryTexts=[{"metadataKey": "text", "text": "foxes"}])

    assert set(keys(response)) == {"k0", "k2"}


def test_a_hybrid_query_fuses_the_vector_and_text_rankings_by_reciprocal_rank(s3v: Any) -> None:
    make_index(s3v)
    put(s3v, count=60)
    top_k, q, text = 10, {"float32": vec(4)}, [{"metadataKey": "text", "text": "dog disk"}]
    vector_rank = {k: r for r, k in enumerate(keys(query(s3v, topK=top_k, queryVector=q)), 1)}
    text_rank = {k: r for r, k in enumerate(keys(query(s3v, topK=top_k, queryTexts=text)), 1)}
    expected = {
        k: sum(1 / (RRF_K + ranks[k]) for ranks in (vector_rank, text_rank) if k in ranks)
        for k in vector_rank.keys() | text_rank.keys()
    }

    response = query(s3v, topK=top_k, queryVector=q, queryTexts=text, returnScores=True, returnDistance=True)

    fused = {v["key"]: v["scores"]["fused"] for v in response["vectors"]}
    assert fused == pytest.approx({k: expected[k] for k in fused})
    assert list(fused.values()) == sorted(fused.values(), reverse=True)
    assert len(fused) == top_k and min(fused.values()) >= sorted(expected.values(), reverse=True)[top_k - 1]
    in_both = [v for v in response["vectors"] if v["key"] in vector_rank and v["key"] in text_rank]
    assert in_both and all("vectorDistance" in v["scores"] and v["scores"]["bm25Scores"] for v in in_both)


def test_a_text_query_honours_the_filter(s3v: Any) -> None:
    make_index(s3v)
    put(s3v)

    response = query(
        s3v,
        topK=10,
        queryTexts=[{"metadataKey": "text", "text": "dog"}],
        filter={"path": {"$startsWith": "docs/a/"}},
    )

    assert keys(response) == []  # k0 and k4 mention dogs; both are under docs/b/


@pytest.mark.parametrize(
    ("texts", "named"),
    [
        ([{"metadataKey": "path", "text": "docs"}], "not full-text searchable"),
        ([{"metadataKey": "text", "text": "a"}, {"metadataKey": "text", "text": "b"}], "more than one"),
        ([{"metadataKey": f"k{i}", "text": "x"} for i in range(11)], "at most 10"),
        ([{"metadataKey": "text", "text": "x" * 1025}], "1024"),
    ],
)
def test_a_bad_text_query_is_a_validation_exception(
    s3v: Any, texts: list[dict[str, str]], named: str
) -> None:
    make_index(s3v)

    code, status, message = error_of(lambda: query(s3v, topK=3, queryTexts=texts))

    assert (code, status) == ("ValidationException", 400) and named in message


def test_a_text_query_on_a_classic_index_is_refused(s3v: Any) -> None:
    s3v.put_vector_bucket_default_index_mode(vectorBucketName=BUCKET, defaultIndexMode="CLASSIC")
    make_index(s3v, "classic", searchable=False)

    code, _, message = error_of(
        lambda: query(s3v, "classic", topK=3, queryTexts=[{"metadataKey": "text", "text": "x"}])
    )

    assert code == "ValidationException" and "ENHANCED" in message


def test_a_query_vector_of_another_dimension_is_refused(s3v: Any) -> None:
    make_index(s3v)

    code, status, message = error_of(lambda: query(s3v, topK=3, queryVector={"float32": [1.0, 2.0]}))

    assert (code, status) == ("ValidationException", 400) and f"length {DIMENSION}" in message


def test_a_query_without_vector_or_text_is_refused(s3v: Any) -> None:
    make_index(s3v)

    code, _, _ = error_of(lambda: query(s3v, topK=3))

    assert code == "ValidationException"


# -- index configuration and modes ---------------------------------------------------------------------


def test_get_index_reports_creation_time_mode_and_metadata_configuration(s3v: Any) -> None:
    make_index(s3v)

    index = s3v.get_index(vectorBucketName=BUCKET, indexName=INDEX)["index"]

    assert index["indexMode"] == "ENHANCED" and index["creationTime"].year >= 2026
    assert index["metadataConfiguration"] == {
        "nonFilterableMetadataKeys": ["text"],
        "textSearchConfigurations": [{"metadataKey": "text", "language": "en", "status": "ACTIVE"}],
    }
    assert s3v.get_vector_bucket(vectorBucketName=BUCKET)["vectorBucket"]["defaultIndexMode"] == "ENHANCED"


def test_adding_text_search_backfills_the_vectors_already_there(s3v: Any) -> None:
    make_index(s3v, searchable=False)
    put(s3v)

    s3v.update_metadata_configuration(
        vectorBucketName=BUCKET, indexName=INDEX, add={"textSearchConfigurations": [{"metadataKey": "text"}]}
    )
    statuses = [
        s3v.get_index(vectorBucketName=BUCKET, indexName=INDEX)["index"]["metadataConfiguration"][
            "textSearchConfigurations"
        ][0]["status"]
        for _ in range(2)
    ]

    assert statuses == ["BUILDING", "ACTIVE"]
    assert keys(query(s3v, topK=3, queryTexts=[{"metadataKey": "text", "text": "E1234"}])) == ["k1"]


def test_a_key_whose_text_search_is_building_is_not_yet_served(
    s3v: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BACKFILL_ENV, "3600")
    make_index(s3v, searchable=False)
    s3v.update_metadata_configuration(
        vectorBucketName=BUCKET, indexName=INDEX, add={"textSearchConfigurations": [{"metadataKey": "text"}]}
    )

    code, _, message = error_of(lambda: query(s3v, topK=3, queryTexts=[{"metadataKey": "text", "text": "x"}]))

    assert code == "ValidationException" and "BUILDING" in message


def test_a_new_bucket_s_index_cannot_go_back_to_classic_but_a_classic_one_moves_to_enhanced(s3v: Any) -> None:
    make_index(s3v, "modern", searchable=False)
    s3v.put_vector_bucket_default_index_mode(vectorBucketName=BUCKET, defaultIndexMode="CLASSIC")
    make_index(s3v, "classic", searchable=False)

    code, _, _ = error_of(
        lambda: s3v.update_index_mode(vectorBucketName=BUCKET, indexName="modern", indexMode="CLASSIC")
    )
    s3v.update_index_mode(vectorBucketName=BUCKET, indexName="classic", indexMode="ENHANCED")

    assert code == "ValidationException"
    assert s3v.get_index(vectorBucketName=BUCKET, indexName="classic")["index"]["indexMode"] == "ENHANCED"
    assert s3v.get_index(vectorBucketName=BUCKET, indexName="modern")["index"]["indexMode"] == "ENHANCED"


def test_text_search_cannot_be_configured_on_a_classic_index(s3v: Any) -> None:
    s3v.put_vector_bucket_default_index_mode(vectorBucketName=BUCKET, defaultIndexMode="CLASSIC")

    code, _, _ = error_of(lambda: make_index(s3v, "classic", searchable=True))

    assert code == "ValidationException"


def test_creating_an_index_twice_is_a_conflict(s3v: Any) -> None:
    make_index(s3v)

    code, status, _ = error_of(lambda: make_index(s3v))

    assert (code, status) == ("ConflictException", 409)


def test_an_unknown_language_is_refused(s3v: Any) -> None:
    code, _, message = error_of(
        lambda: s3v.create_index(
            vectorBucketName=BUCKET,
            indexName="lang",
            dataType="float32",
            dimension=DIMENSION,
            distanceMetric="cosine",
            metadataConfiguration={"textSearchConfigurations": [{"metadataKey": "text", "language": "xx"}]},
        )
    )

    assert code == "ValidationException" and "language" in message
