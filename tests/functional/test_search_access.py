"""Access control on the real search path: SearchService and its Function URL door over moto.

Chunks are written straight into a moto S3 Vectors index with their access lists (ingest's
labelling is tested with ingest); the caller mapping lives in a moto SSM parameter read through
Powertools Parameters, as SearchFunction reads it. Every hostile request of the issue is here with
the status it gets, and a property test checks that no answer ever holds a chunk of a document
the caller may not read, whatever the documents, callers, filters and options.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from docpipe.access import EVERYONE, UNLISTED, AccessDocuments, Caller
from docpipe.config import RERANK_MODES, Settings
from docpipe.embeddings.base import Embedder
from docpipe.exceptions import ForbiddenError, ValidationError
from docpipe.search import SearchRequest, SearchService
from docpipe.search.http import function_url_app, search_direct
from docpipe.vectorstore import NON_FILTERABLE_METADATA_KEYS, S3VectorStore, VectorRecord
from tests.conftest import load_event
from tests.functional.conftest import LambdaContext

BUCKET, INDEX, DIMENSION = "access-vectors", "chunks", 64
CALLERS_PARAMETER = "/docpipe/test/access-callers"
HR_APP = "arn:aws:iam::123456789012:role/hr-portal"
FINANCE_USER = "arn:aws:iam::123456789012:user/finance/ana"
PORTAL = "arn:aws:iam::123456789012:role/customer-portal"
MAPPING = {
    "callers": {
        HR_APP: {"principals": ["group:hr"]},
        FINANCE_USER: {"principals": ["Group:Finance "]},
        PORTAL: {"principals": [], "delegate": True},
    }
}
POOL = ("group:hr", "group:finance", "tenant:acme", "tenant:globex", "user:ana@example.com")
SEARCH_MODES = tuple(m for m in RERANK_MODES if m != "bedrock")  # bedrock needs a stubbed client


class HashEmbedder(Embedder):
    """Deterministic 64-d vectors from the words of a text: near texts share words."""

    provider, model_id, dimension = "offline", "hash-words", DIMENSION

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * DIMENSION
        for word in text.lower().split():
            digest = hashlib.sha256(word.encode()).digest()
            vector[digest[0] % DIMENSION] += 1.0
            vector[digest[1] % DIMENSION] += 0.5
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]


@dataclass(frozen=True)
class Doc:
    doc_id: str
    access: tuple[str, ...] | None  # None: written without an access key (before access control)
    chunks: int
    topic: str


@contextmanager
def world(docs: Sequence[Doc], mapping: dict[str, Any] = MAPPING) -> Iterator[tuple[Any, Any]]:
    """moto S3 Vectors with ``docs`` indexed and SSM with the caller mapping."""
    with mock_aws():
        s3v = boto3.client("s3vectors", region_name="us-east-1")
        ssm = boto3.client("ssm", region_name="us-east-1")
        s3v.create_vector_bucket(vectorBucketName=BUCKET)
        store = S3VectorStore(s3v, BUCKET, INDEX)
        store.create_index(DIMENSION, "cosine", NON_FILTERABLE_METADATA_KEYS)
        ssm.put_parameter(Name=CALLERS_PARAMETER, Value=json.dumps(mapping), Type="String")
        embedder = HashEmbedder()
        records = []
        for doc in docs:
            for n in range(doc.chunks):
                text = f"quarterly report {doc.topic} page {n} revenue"
                metadata: dict[str, Any] = {
                    "doc_id": doc.doc_id, "key": f"docs/{doc.doc_id}.pdf", "page": n + 1,
                    "chunk_no": n, "topic": doc.topic, "text": text,
                }  # fmt: skip
                if doc.access is not None:
                    metadata["access"] = list(doc.access)
                records.append(VectorRecord(f"{doc.doc_id}#{n}", embedder.embed_query(text), metadata))
        store.put(records)
        yield store, ssm


def service(store: Any, ssm: Any, *, default: str = "nobody", control: str = "enforced") -> SearchService:
    settings = Settings(
        vector_bucket=BUCKET, vector_index=INDEX, embedding_provider="offline", embedding_dimension=DIMENSION,
        search_rerank="none", access_control=control, access_default=default,
        access_callers_parameter=CALLERS_PARAMETER,
    )  # fmt: skip
    access = AccessDocuments(client=ssm, callers_parameter=CALLERS_PARAMETER, max_age=0)
    return SearchService(settings, store=store, embedder=HashEmbedder(), access=access)


def url_event(body: Any, arn: str | None) -> dict[str, Any]:
    event = load_event("search_function_url")
    event["body"] = json.dumps(body)
    if arn is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"]["iam"]["userArn"] = arn
    return event


def call_url(svc: SearchService, body: Any, arn: str | None) -> tuple[int, dict[str, Any]]:
    response = function_url_app(svc).resolve(url_event(body, arn), LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def docs_of(answer: dict[str, Any]) -> set[str]:
    return {m["key"].rpartition("#")[0] for m in answer["matches"]}


DOCS = (
    Doc("hr1", ("group:hr",), 3, "salaries"),
    Doc("fin1", ("group:finance",), 3, "salaries"),
    Doc("both", ("group:finance", "group:hr"), 2, "salaries"),
    Doc("pub", (EVERYONE,), 2, "salaries"),
    Doc("acme", ("tenant:acme",), 2, "salaries"),
    Doc("nolist", (UNLISTED,), 2, "salaries"),
    Doc("legacy", None, 2, "salaries"),
)


@pytest.fixture
def stack() -> Iterator[tuple[Any, Any]]:
    with world(DOCS) as made:
        yield made


# -- two callers, one query -------------------------------------------------------------------------


def test_two_mapped_callers_get_different_results_for_the_same_query(stack: tuple[Any, Any]) -> None:
    svc = service(*stack)
    body = {"query": "quarterly salaries report", "k": 50}

    hr_status, hr = call_url(svc, body, "arn:aws:sts::123456789012:assumed-role/hr-portal/s-1")
    fin_status, fin = call_url(svc, body, FINANCE_USER)

    assert (hr_status, fin_status) == (200, 200)
    assert docs_of(hr) == {"hr1", "both", "pub"}
    assert docs_of(fin) == {"fin1", "both", "pub"}
    assert hr["access_control"] == "enforced"
    assert all("access" not in m["metadata"] for m in hr["matches"])  # other readers are not shown


def test_with_access_control_off_every_chunk_is_found(stack: tuple[Any, Any]) -> None:
    status, answer = call_url(service(*stack, control="off"), {"query": "quarterly salaries", "k": 50}, None)

    assert status == 200 and docs_of(answer) == {d.doc_id for d in DOCS}
    assert answer["access_control"] == "off"


def test_unlisted_documents_follow_access_default_and_unlabelled_chunks_never_match(
    stack: tuple[Any, Any],
) -> None:
    body = {"query": "quarterly salaries", "k": 50}

    _, closed = call_url(service(*stack, default="nobody"), body, HR_APP)
    _, opened = call_url(service(*stack, default="everyone"), body, HR_APP)

    assert "nolist" not in docs_of(closed) and "nolist" in docs_of(opened)
    assert "legacy" not in docs_of(closed) | docs_of(opened)


# -- hostile requests, each with its status -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body_filter", "field"),
    [
        ({"access": "group:finance"}, "filter.access"),
        ({"access": {"$in": ["group:finance"]}}, "filter.access"),
        ({"access": {"$exists": False}}, "filter.access"),
        ({"$or": [{"topic": "salaries"}, {"access": {"$ne": "group:nobody"}}]}, "filter.$or[1].access"),
        (
            {"$and": [{"topic": "salaries"}, {"$or": [{"access": {"$nin": ["x:y"]}}]}]},
            "filter.$and[1].$or[0].access",
        ),
    ],
)
def test_a_filter_on_the_access_key_is_a_400_naming_it(
    stack: tuple[Any, Any], body_filter: dict[str, Any], field: str
) -> None:
    status, answer = call_url(service(*stack), {"query": "q", "filter": body_filter}, HR_APP)

    assert status == 400 and answer["error"] == "ValidationError" and answer["field"] == field


def test_not_is_no_operator_of_the_filter_language(stack: tuple[Any, Any]) -> None:
    status, answer = call_url(service(*stack), {"query": "q", "filter": {"$not": {"topic": "x"}}}, HR_APP)

    assert status == 400 and answer["field"] == "filter.$not"


@pytest.mark.parametrize(
    "widening",
    [
        {"$or": [{"topic": "salaries"}, {"topic": {"$ne": "salaries"}}]},
        {"$or": [{"topic": {"$exists": True}}, {"topic": {"$exists": False}}]},
        {"topic": {"$nin": ["nothing"]}},
        {"page": {"$gte": 0}},
    ],
)
def test_or_ne_nin_and_exists_in_a_filter_cannot_widen_what_a_caller_sees(
    stack: tuple[Any, Any], widening: dict[str, Any]
) -> None:
    svc = service(*stack)

    status, answer = call_url(svc, {"query": "quarterly salaries", "k": 50, "filter": widening}, HR_APP)

    assert status == 200 and docs_of(answer) == {"hr1", "both", "pub"}


def test_an_unmapped_iam_caller_is_a_403(stack: tuple[Any, Any]) -> None:
    status, answer = call_url(service(*stack), {"query": "q"}, "arn:aws:iam::123456789012:user/mallory")

    assert status == 403 and answer["error"] == "Forbidden"


def test_a_url_request_without_an_identity_is_a_403_not_a_direct_call(stack: tuple[Any, Any]) -> None:
    body = {"query": "q", "on_behalf_of": {"user": "ana@example.com", "groups": ["group:hr"]}}

    status, _ = call_url(service(*stack), body, None)

    assert status == 403


def test_on_behalf_of_from_a_non_delegate_is_a_403(stack: tuple[Any, Any]) -> None:
    body = {"query": "q", "on_behalf_of": {"user": "ana@example.com", "groups": ["group:finance"]}}

    status, answer = call_url(service(*stack), body, HR_APP)

    assert status == 403 and "delegate" in answer["message"]


def test_a_delegate_searches_with_its_users_principals_only(stack: tuple[Any, Any]) -> None:
    body = {
        "query": "quarterly salaries",
        "k": 50,
        "on_behalf_of": {"user": "bob", "groups": ["Tenant:ACME"]},
    }

    status, answer = call_url(service(*stack), body, PORTAL)
    _, own = call_url(service(*stack), {"query": "quarterly salaries", "k": 50}, PORTAL)

    assert status == 200 and docs_of(answer) == {"acme", "pub"}
    assert docs_of(own) == {"pub"}  # the delegate's own (empty) principals, not its users'


@pytest.mark.parametrize(
    ("on_behalf_of", "field"),
    [
        ({}, "on_behalf_of.user"),
        ({"user": ""}, "on_behalf_of.user"),
        ({"user": "bob", "groups": [f"group:g{i}" for i in range(200)]}, "on_behalf_of.groups"),
        ({"user": "bob", "groups": ["acme"]}, "on_behalf_of.groups[0]"),
        ({"user": "bob", "groups": ["everyone", 3]}, "on_behalf_of.groups[1]"),
    ],
)
def test_empty_or_oversized_principal_lists_are_a_400_naming_the_field(
    stack: tuple[Any, Any], on_behalf_of: dict[str, Any], field: str
) -> None:
    status, answer = call_url(service(*stack), {"query": "q", "on_behalf_of": on_behalf_of}, PORTAL)

    assert status == 400 and answer["field"] == field


def test_principals_that_differ_in_case_unicode_form_or_space_find_the_same_chunks(
    stack: tuple[Any, Any],
) -> None:
    svc = service(*stack)
    spellings = ["tenant:acme", "  TENANT:Acme ", "ｔｅｎａｎｔ:ａｃｍｅ", "tenant :\tacme"]

    answers = [
        call_url(svc, {"query": "quarterly", "k": 50, "on_behalf_of": {"user": "bob", "groups": [g]}}, PORTAL)
        for g in spellings
    ]

    assert {frozenset(docs_of(a)) for _, a in answers} == {frozenset({"acme", "pub"})}


def test_neighbours_of_a_visible_chunk_are_only_chunks_the_caller_may_read() -> None:
    # A document re-labelled half-way (its first chunk narrowed, the rest not yet): a neighbour
    # comes from GetVectors, which takes no filter, so the service checks each one itself.
    docs = [Doc("mixed", ("group:hr",), 3, "salaries")]
    with world(docs) as (store, ssm):
        store.put([VectorRecord("mixed#1", HashEmbedder().embed_query("x"), {
            "doc_id": "mixed", "chunk_no": 1, "text": "secret", "access": ["group:finance"]})])  # fmt: skip
        status, answer = call_url(
            service(store, ssm), {"query": "quarterly salaries page 0", "k": 1, "neighbours": 2}, HR_APP
        )

    [match] = answer["matches"]
    assert status == 200 and match["key"] == "mixed#0"
    assert [c["key"] for c in match["context"]] == ["mixed#2"]


def test_k_100_with_a_selective_access_list_returns_every_readable_chunk() -> None:
    docs = [Doc(f"other{i}", ("group:other",), 10, "salaries") for i in range(30)]
    docs.append(Doc("rare", ("user:ana@example.com",), 4, "salaries"))
    with world(docs) as (store, ssm):
        answer = service(store, ssm).search(
            SearchRequest("quarterly salaries", k=100, on_behalf_of={"user": "ana@example.com"})
        )

    assert sorted(m.key for m in answer.matches) == [f"rare#{n}" for n in range(4)]


def test_direct_invocation_must_pass_on_behalf_of_when_enforced(stack: tuple[Any, Any]) -> None:
    svc = service(*stack)

    refused = search_direct(svc, {"query": "quarterly salaries"})
    allowed = search_direct(
        svc, {"query": "quarterly salaries", "k": 50, "on_behalf_of": {"user": "x", "groups": ["group:hr"]}}
    )

    assert refused["error"] == "ValidationError" and refused["field"] == "on_behalf_of"
    assert docs_of(allowed) == {"hr1", "both", "pub"}


def test_the_search_function_event_for_on_behalf_of_is_accepted(stack: tuple[Any, Any]) -> None:
    answer = search_direct(service(*stack), load_event("search_on_behalf_of"))

    assert "matches" in answer and docs_of(answer) <= {"fin1", "both", "pub"}


def test_a_denied_search_is_counted_by_reason(
    stack: tuple[Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    svc = service(*stack)

    call_url(svc, {"query": "q"}, "arn:aws:iam::123456789012:user/mallory")

    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    denied = [m for m in metrics if "SearchRequestsDenied" in m]
    assert denied and denied[0]["reason"] == "unmapped" and denied[0]["SearchRequestsDenied"] == [1.0]


def test_the_search_log_names_caller_principals_and_count_never_the_query(
    stack: tuple[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")

    call_url(service(*stack), {"query": "zebra-unique-question salaries", "k": 3}, HR_APP)

    [record] = [r for r in caplog.records if r.getMessage() == "search"]
    assert record.caller == HR_APP and record.principals == ["everyone", "group:hr"]  # type: ignore[attr-defined]
    assert record.matches == 3  # type: ignore[attr-defined]
    assert not any("zebra-unique-question" in str(r.__dict__) for r in caplog.records)


def test_a_changed_mapping_takes_effect_after_the_cache(stack: tuple[Any, Any]) -> None:
    store, ssm = stack
    svc = service(store, ssm)  # max_age 0: every request reads the parameter
    assert call_url(svc, {"query": "q"}, HR_APP)[0] == 200

    ssm.put_parameter(
        Name=CALLERS_PARAMETER, Value=json.dumps({"callers": {}}), Type="String", Overwrite=True
    )

    assert call_url(svc, {"query": "q"}, HR_APP)[0] == 403


# -- the property -------------------------------------------------------------------------------------

principal_lists = st.one_of(
    st.none(),
    st.just((UNLISTED,)),
    st.lists(st.sampled_from((*POOL, EVERYONE)), min_size=1, max_size=3, unique=True).map(tuple),
)
documents = st.lists(
    st.builds(
        Doc,
        doc_id=st.just(""),
        access=principal_lists,
        chunks=st.integers(1, 3),
        topic=st.sampled_from(("salaries", "contracts", "tickets")),
    ),  # fmt: skip
    min_size=1,
    max_size=6,
).map(lambda ds: [Doc(f"d{i}", d.access, d.chunks, d.topic) for i, d in enumerate(ds)])
leaf_filters = st.one_of(
    st.builds(lambda t: {"topic": t}, st.sampled_from(("salaries", "contracts", "tickets"))),
    st.builds(lambda t: {"topic": {"$ne": t}}, st.sampled_from(("salaries", "contracts"))),
    st.builds(lambda b: {"topic": {"$exists": b}}, st.booleans()),
    st.builds(lambda p: {"page": {"$gte": p}}, st.integers(0, 3)),
    st.builds(lambda ts: {"topic": {"$nin": ts}}, st.lists(st.sampled_from(("x", "tickets")), min_size=1)),
)
filters = st.one_of(
    st.none(),
    leaf_filters,
    st.builds(lambda a, b: {"$or": [a, b]}, leaf_filters, leaf_filters),
    st.builds(lambda a, b: {"$and": [a, {"$or": [b, a]}]}, leaf_filters, leaf_filters),
)


def _readable(doc: Doc, principals: set[str], default: str) -> bool:
    held = principals | {EVERYONE} | ({UNLISTED} if default == "everyone" else set())
    return doc.access is not None and bool(set(doc.access) & held)


@given(
    docs=documents,
    groups=st.lists(st.sampled_from(POOL), max_size=3, unique=True),
    default=st.sampled_from(("nobody", "everyone")),
    caller_filter=filters,
    k=st.integers(1, 25),
    neighbours=st.integers(0, 2),
    rerank=st.sampled_from(SEARCH_MODES),
)
def test_no_answer_holds_a_chunk_of_a_document_the_caller_may_not_read(
    docs: list[Doc],
    groups: list[str],
    default: str,
    caller_filter: dict[str, Any] | None,
    k: int,
    neighbours: int,
    rerank: str,
) -> None:
    principals = {"user:zed", *groups}
    on_behalf_of = {"user": "zed", "groups": [g for g in groups if not g.startswith("user:")]}
    principals = {"user:zed", *on_behalf_of["groups"]}
    with world(docs) as (store, ssm):
        svc = service(store, ssm, default=default)
        request = SearchRequest(
            "quarterly report revenue", k=k, filter=caller_filter, rerank=rerank, neighbours=neighbours,
            on_behalf_of=on_behalf_of,
        )  # fmt: skip
        answer = svc.search(request)
        everything = service(store, ssm, control="off").search(
            SearchRequest("quarterly report revenue", k=100, filter=caller_filter, rerank="none")
        )

    by_id = {d.doc_id: d for d in docs}
    seen = {m.key.rpartition("#")[0] for m in answer.matches}
    seen |= {c["key"].rpartition("#")[0] for m in answer.matches for c in (m.context or [])}
    assert all(_readable(by_id[d], principals, default) for d in seen)
    # ...and nothing readable that passes the caller's filter is withheld when k covers it.
    allowed = [
        m.key for m in everything.matches if _readable(by_id[m.key.rpartition("#")[0]], principals, default)
    ]
    assert len(answer.matches) == min(k, len(allowed))


def test_the_service_refuses_an_in_process_caller_without_on_behalf_of(stack: tuple[Any, Any]) -> None:
    with pytest.raises(ValidationError):
        service(*stack).search(SearchRequest("q"))
    with pytest.raises(ForbiddenError):
        service(*stack).search(SearchRequest("q"), Caller("arn:aws:iam::1:user/x"))
