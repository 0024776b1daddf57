"""S3VectorStore against moto's S3 Vectors: batching, retries, listing, exact-scoring query fallback."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from moto import mock_aws

from docpipe import aws, vectorstore
from docpipe.exceptions import IndexMismatchError, InvalidInputError, NotFoundError, ThrottledError
from docpipe.vectorstore import (
    MAX_VECTORS_PER_WRITE,
    NON_FILTERABLE_METADATA_KEYS,
    S3VectorStore,
    VectorRecord,
)
from tests.aws_faults import fail_attempts

BUCKET = "docpipe-vectors-test"
INDEX = "chunks"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class Recording:
    """Delegates to a real (moto) client, counting calls and injecting scripted errors."""

    def __init__(self, client: Any, failures: dict[str, list[ClientError]] | None = None) -> None:
        self._client = client
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self._failures = failures or {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            self.calls.setdefault(name, []).append(kwargs)
            pending = self._failures.get(name)
            if pending:
                raise pending.pop(0)
            return target(**kwargs)

        return call


def client_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


@pytest.fixture
def s3vectors() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3vectors", region_name="us-east-1")
        client.create_vector_bucket(vectorBucketName=BUCKET)
        yield client


def make_store(client: Any, *, metric: str = "cosine", dimension: int = 3, **kwargs: Any) -> S3VectorStore:
    store = S3VectorStore(client, BUCKET, INDEX, **kwargs)
    if not store.index_exists():
        store.create_index(dimension, metric)
    return store


def records(n: int, *, doc: str = "d", text: str = "t") -> list[VectorRecord]:
    return [
        VectorRecord(f"{doc}#{i}", [1.0, float(i), 0.0], {"doc_id": doc, "text": text, "chunk_no": i})
        for i in range(n)
    ]


def test_non_filterable_keys_match_the_template() -> None:
    from docpipe_cli.template import load_template

    template = load_template(TEMPLATE)
    declared = template["Resources"]["VectorIndex"]["Properties"]["MetadataConfiguration"][
        "NonFilterableMetadataKeys"
    ]

    assert tuple(declared) == NON_FILTERABLE_METADATA_KEYS


def test_put_writes_in_batches_of_at_most_500(s3vectors: Any) -> None:
    client = Recording(s3vectors)
    store = make_store(client)

    assert store.put(records(1201)) == 1201

    sizes = [len(call["vectors"]) for call in client.calls["put_vectors"]]
    assert sizes == [MAX_VECTORS_PER_WRITE, MAX_VECTORS_PER_WRITE, 201]
    assert sum(1 for _ in store.iter_vectors(return_data=False)) == 1201


def test_put_splits_requests_that_would_exceed_20_mib(s3vectors: Any) -> None:
    client = Recording(s3vectors)
    store = make_store(client)

    store.put(records(700, text="x" * 35_000))  # ~24 MB of metadata in total

    sizes = [len(call["vectors"]) for call in client.calls["put_vectors"]]
    assert len(sizes) == 2 and sum(sizes) == 700 and max(sizes) < 600


def test_put_is_retried_by_the_client_after_throttling_then_succeeds(
    s3vectors: Any, no_backoff: list[float]
) -> None:
    # Given a client with docpipe's retry policy whose first two PutVectors attempts are refused
    client = boto3.client("s3vectors", region_name="us-east-1", config=aws.CLIENT_CONFIG)
    attempts = fail_attempts(client, "PutVectors", code="TooManyRequestsException", status=429, failures=2)
    store = make_store(client)

    # When three vectors are written
    assert store.put(records(3)) == 3

    # Then botocore's retries (the only retry layer) got them through on the third attempt
    assert len(attempts) == 3
    assert len(store.get(["d#0", "d#1", "d#2"])) == 3


def test_put_gives_up_with_throttled_error_after_the_clients_attempts(
    s3vectors: Any, no_backoff: list[float]
) -> None:
    client = boto3.client("s3vectors", region_name="us-east-1", config=aws.CLIENT_CONFIG)
    store = make_store(client)
    attempts = fail_attempts(client, "PutVectors", code="TooManyRequestsException", status=429)

    with pytest.raises(ThrottledError):
        store.put(records(1))

    assert len(attempts) == aws.MAX_ATTEMPTS


def test_delete_removes_keys_in_batches_and_ignores_absent_ones(s3vectors: Any) -> None:
    client = Recording(s3vectors)
    store = make_store(client)
    store.put(records(600))

    assert store.delete(f"d#{i}" for i in range(550)) == 550
    store.delete(["absent#1"])

    assert [len(c["keys"]) for c in client.calls["delete_vectors"]] == [500, 50, 1]
    assert sorted(r.key for r in store.iter_vectors()) == sorted(f"d#{i}" for i in range(550, 600))


def test_get_returns_data_and_metadata(s3vectors: Any) -> None:
    store = make_store(s3vectors)
    store.put(records(2))

    [found] = store.get(["d#1", "missing"])

    assert found == VectorRecord("d#1", [1.0, 1.0, 0.0], {"doc_id": "d", "text": "t", "chunk_no": 1})


def test_describe_reports_the_index_settings(s3vectors: Any) -> None:
    store = make_store(s3vectors, metric="euclidean", dimension=4)

    info = store.describe()

    assert (info.dimension, info.distance_metric, info.data_type) == (4, "euclidean", "float32")


def test_dimension_mismatch_is_named(s3vectors: Any) -> None:
    store = make_store(s3vectors, dimension=3)

    with pytest.raises(IndexMismatchError, match="dimension 3 .* produces 256"):
        store.check_dimension(256)


def test_missing_index_is_reported_and_can_be_created_and_deleted(s3vectors: Any) -> None:
    store = S3VectorStore(s3vectors, BUCKET, "absent-index")

    assert not store.index_exists()
    with pytest.raises(NotFoundError):
        store.describe()
    store.create_index(8)
    assert store.describe().dimension == 8
    store.delete_index()
    assert not store.index_exists()


def test_query_uses_the_service_when_it_answers() -> None:
    class Answering:
        def query_vectors(self, **kwargs: Any) -> dict[str, Any]:
            assert kwargs["topK"] == 2 and kwargs["filter"] == {"doc_id": "a"}
            return {"vectors": [{"key": "a#0", "distance": 0.1, "metadata": {"doc_id": "a"}}]}

    result = S3VectorStore(Answering(), BUCKET, INDEX).query([1.0], k=2, filter={"doc_id": "a"})

    assert result.matches[0].key == "a#0" and result.matches[0].distance == 0.1


def test_query_follows_next_tokens_until_it_has_k_matches() -> None:
    # QueryVectors pages a topK beyond what one answer holds (up to 10,000 since June 2026).
    class Paged:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def query_vectors(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(kwargs)
            page = len(self.calls) - 1
            vectors = [{"key": f"a#{page * 2 + i}", "distance": 0.1 * (page * 2 + i)} for i in range(2)]
            return {"vectors": vectors, "nextToken": f"t{page + 1}"}

    client = Paged()
    result = S3VectorStore(client, BUCKET, INDEX).query([1.0], k=5)

    assert [m.key for m in result.matches] == ["a#0", "a#1", "a#2", "a#3", "a#4"]
    assert [c.get("nextToken") for c in client.calls] == [None, "t1", "t2"]
    assert all(c["topK"] == 5 for c in client.calls)


def test_query_refuses_a_top_k_beyond_the_service_limit(s3vectors: Any) -> None:
    with pytest.raises(InvalidInputError, match="10000"):
        make_store(s3vectors).query([1.0, 0.0, 0.0], k=10_001)


def test_other_query_errors_are_not_mistaken_for_a_missing_operation(s3vectors: Any) -> None:
    client = Recording(s3vectors, {"query_vectors": [client_error("ValidationException", "QueryVectors")]})
    store = make_store(client)

    with pytest.raises(Exception, match="ValidationException"):
        store.query([1.0, 0.0, 0.0])


def test_segmented_listing_validates_its_arguments(s3vectors: Any) -> None:
    store = make_store(s3vectors)

    with pytest.raises(InvalidInputError):
        list(store.iter_vectors(segment_count=17))
    with pytest.raises(InvalidInputError):
        list(store.iter_vectors(segment_count=2, segment_index=2))


def test_listing_follows_next_tokens_across_pages() -> None:
    class Paged:
        def __init__(self) -> None:
            self.tokens: list[str | None] = []

        def list_vectors(self, **kwargs: Any) -> dict[str, Any]:
            token = kwargs.get("nextToken")
            self.tokens.append(token)
            if token is None:
                return {"vectors": [{"key": "a#0"}, {"key": "a#1"}], "nextToken": "t1"}
            return {"vectors": [{"key": "a#2", "data": {"float32": [0.5]}, "metadata": {"x": 1}}]}

    client = Paged()

    listed = list(S3VectorStore(client, BUCKET, INDEX).iter_vectors(segment_count=4, segment_index=3))

    assert [r.key for r in listed] == ["a#0", "a#1", "a#2"]
    assert listed[2] == VectorRecord("a#2", [0.5], {"x": 1})
    assert client.tokens == [None, "t1"]


def test_package_exports_resolve_lazily() -> None:
    import docpipe

    assert docpipe.__all__ == sorted(docpipe._EXPORTS)
    assert docpipe.S3VectorStore is S3VectorStore


def drop_metadata_configuration(client: Any) -> None:
    """Make GetIndex answer as moto 5.2 alone did: no ``metadataConfiguration``, no ``creationTime``.

    The local S3 Vectors (installed for every test) reports both, as AWS does.
    """

    def strip(parsed: dict[str, Any], **_: Any) -> None:
        index = parsed.get("index")
        if index is not None:
            index.pop("creationTime", None)
            index.pop("metadataConfiguration", None)

    client.meta.events.register("after-call.s3vectors.GetIndex", strip)


def test_index_without_text_declared_non_filterable_is_named_with_the_missing_key(s3vectors: Any) -> None:
    store = S3VectorStore(s3vectors, BUCKET, "filterable-text")
    store.create_index(3, non_filterable_keys=("source_uri",))

    with pytest.raises(IndexMismatchError, match=r"s3vectors://.*/filterable-text does not declare .*text"):
        store.check_non_filterable(("text",))


def test_index_created_without_metadata_configuration_fails_the_check(s3vectors: Any) -> None:
    store = S3VectorStore(s3vectors, BUCKET, "no-config")
    store.create_index(3, non_filterable_keys=())

    with pytest.raises(IndexMismatchError, match=r"no-config does not declare .*text.*it declares: none"):
        store.check_non_filterable(("text",))


def test_index_declaring_the_required_keys_passes_the_check_and_reports_them(s3vectors: Any) -> None:
    store = make_store(s3vectors)

    info = store.check_non_filterable(("text",))

    assert info.non_filterable_keys == NON_FILTERABLE_METADATA_KEYS
    assert info.reports_metadata_configuration


def test_an_endpoint_that_does_not_report_the_configuration_is_not_failed(s3vectors: Any) -> None:
    drop_metadata_configuration(s3vectors)
    store = make_store(s3vectors)

    info = store.check_non_filterable(("text",))

    assert not info.reports_metadata_configuration


# -- the fast PutVectors body: what goes on the wire, captured before it is sent -------------------

FAST_METADATA: list[dict[str, Any]] = [
    {"text": "Übersicht — naïve café, 日本語 ✓", "tags": ["α", "b"], "draft": True, "n": 3},
    {"text": "plain", "nested": {"a": {"b": [1, 2.5, "ü"]}}, "ok": False, "ratio": 0.125},
    {"text": "", "empty_list": [], "source_uri": "s3://docpipe-documents/docs/Grüße.pdf"},
]


class Wire:
    """A real s3vectors client (fake credentials) whose PutVectors requests never leave the process.

    A ``before-send`` handler records each request body and answers PutVectors' empty 200;
    ``serialised`` records what botocore's serialiser produced, before the store's body swap.
    """

    def __init__(self) -> None:
        from botocore.awsrequest import AWSResponse

        self.client = boto3.client(
            "s3vectors",
            region_name="us-east-1",
            aws_access_key_id="fake",
            aws_secret_access_key="fake",
            aws_session_token="fake",
        )
        self.sent: list[bytes] = []
        self.serialised: list[bytes] = []

        def answer(request: Any, **_: Any) -> Any:
            body = request.body
            self.sent.append(body if isinstance(body, bytes) else body.read())
            response = AWSResponse(request.url, 200, {"Content-Type": "application/json"}, None)
            response._content = b"{}"
            return response

        def before_swap(params: dict[str, Any], **_: Any) -> None:
            self.serialised.append(params["body"])

        self.client.meta.events.register("before-send.s3vectors.PutVectors", answer)
        self.client.meta.events.register_first("before-call.s3vectors.PutVectors", before_swap)

    def botocore_body(self, vectors: list[dict[str, Any]]) -> bytes:
        """What botocore alone sends for ``vectors`` (a fresh client the store never saw)."""
        reference = Wire()
        reference.client.put_vectors(vectorBucketName=BUCKET, indexName=INDEX, vectors=vectors)
        return reference.sent[0]


def fast_records(data: list[list[float]]) -> list[VectorRecord]:
    return [VectorRecord(f"doc#{i}", d, FAST_METADATA[i % 3]) for i, d in enumerate(data)]


def plain_payload(batch: list[VectorRecord]) -> list[dict[str, Any]]:
    return [{"key": r.key, "data": {"float32": r.data}, "metadata": r.metadata} for r in batch]


def test_fast_put_body_is_the_json_botocore_would_send() -> None:
    wire = Wire()
    store = S3VectorStore(wire.client, BUCKET, INDEX)
    batch = fast_records([[0.1, -2.5e-08, 3.0], [1.0, 0.0, -1.0], [1 / 3, 2.0, 1e30], [0.5, 0.25, 0.125]])

    assert store.put(batch) == 4

    (sent,) = wire.sent
    reference = wire.botocore_body(plain_payload(batch))
    assert sent != reference  # spelt by orjson, not by botocore's json.dumps
    assert json.loads(sent) == json.loads(reference)  # floats compare exactly: both round-trip
    assert "Übersicht".encode() in sent
    # botocore itself serialised one vector only: the fast path, not a coincidence, built the body.
    assert len(json.loads(wire.serialised[0])["vectors"]) == 1


def test_a_nan_in_metadata_sends_the_put_through_botocores_own_serialiser() -> None:
    wire = Wire()
    store = S3VectorStore(wire.client, BUCKET, INDEX)
    batch = [
        VectorRecord("doc#0", [0.1, 0.2], {"text": "a"}),
        VectorRecord("doc#1", [0.3, 0.4], {"x": [1.0, math.inf]}),
    ]

    store.put(batch)

    assert wire.sent == [wire.botocore_body(plain_payload(batch))]
    assert len(json.loads(wire.serialised[0])["vectors"]) == 2


def test_a_nan_sends_the_put_through_botocores_own_serialiser() -> None:
    wire = Wire()
    store = S3VectorStore(wire.client, BUCKET, INDEX)
    batch = fast_records([[0.1, 0.2, 0.3], [math.nan, 1.0, 2.0]])

    store.put(batch)

    assert wire.sent == [wire.botocore_body(plain_payload(batch))]
    assert b'"NaN"' in wire.sent[0]  # botocore's spelling; json.dumps would have written a bare NaN
    assert len(json.loads(wire.serialised[0])["vectors"]) == 2


def test_other_callers_of_the_same_client_keep_botocores_validation_and_body() -> None:
    wire = Wire()
    S3VectorStore(wire.client, BUCKET, INDEX)  # installs the fast path on wire.client
    vectors = plain_payload(fast_records([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]))

    wire.client.put_vectors(vectorBucketName=BUCKET, indexName=INDEX, vectors=vectors)
    with pytest.raises(ParamValidationError, match="vectors\\[1\\]"):
        wire.client.put_vectors(
            vectorBucketName=BUCKET, indexName=INDEX, vectors=[vectors[0], {"key": "no-data"}]
        )

    assert wire.sent == [wire.botocore_body(vectors)]
    assert len(json.loads(wire.serialised[0])["vectors"]) == 2


# -- index-wide operations (backup and restore use them) ------------------------------------


def test_a_store_for_another_index_shares_the_client_and_writes_only_there(s3vectors: Any) -> None:
    client = Recording(s3vectors)
    store = make_store(client)
    other = store.for_index("chunks-copy")
    other.create_index(3)

    other.put(records(2))

    assert other is not store and (other.vector_bucket, other.index_name) == (BUCKET, "chunks-copy")
    assert store.for_index(INDEX) is store
    assert [r.key for r in other.iter_vectors()] == ["d#0", "d#1"]
    assert list(store.iter_vectors()) == []
    assert all(call["indexName"] == "chunks-copy" for call in client.calls["put_vectors"])


def test_clear_deletes_every_vector_in_bounded_rounds_and_keeps_the_index(
    s3vectors: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 25 vectors and rounds of 10 keys
    monkeypatch.setattr(vectorstore, "CLEAR_ROUND_KEYS", 10)
    client = Recording(s3vectors)
    store = make_store(client, metric="euclidean")
    store.put(records(25))

    # When the index is cleared
    deleted = store.clear()

    # Then every key went, no DeleteVectors call carried more than a round, and the index is intact
    assert deleted == 25 and list(store.iter_vectors()) == []
    assert [len(call["keys"]) for call in client.calls["delete_vectors"]] == [10, 10, 5]
    info = store.describe(refresh=True)
    assert (info.dimension, info.distance_metric) == (3, "euclidean")


def test_an_index_of_more_than_one_page_spans_pages(s3vectors: Any) -> None:
    from benchmarks.bench_backup import paginated_moto_list_vectors

    store = make_store(s3vectors)
    store.put(records(30))

    with paginated_moto_list_vectors():
        assert store.spans_pages(10)
        assert not store.spans_pages(30)
        assert not store.spans_pages(1000)


def test_an_endpoint_that_ignores_the_page_size_counts_as_one_page(s3vectors: Any) -> None:
    # moto 5.2 answers every ListVectors with the whole index and no nextToken
    store = make_store(s3vectors)
    store.put(records(30))

    assert not store.spans_pages(10)


def test_a_page_larger_than_asked_for_counts_as_one_page() -> None:
    class Oversized:
        def list_vectors(self, **kwargs: Any) -> dict[str, Any]:
            return {"vectors": [{"key": f"a#{n}"} for n in range(kwargs["maxResults"] + 1)], "nextToken": "t"}

    assert not S3VectorStore(Oversized(), BUCKET, INDEX).spans_pages(10)
