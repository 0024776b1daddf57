"""The whole promise, as a property: whatever the delivery, the index ends as the bucket is.

Hypothesis draws a history of S3 operations on a few keys (puts of new content, identical
re-uploads, overwrites, deletes) and plays it against moto (in process, ``mock_aws``), whose S3
notifies as real S3 does (``docpipe_cli.local.s3_events``: sequencers, delete markers). The
notifications are then duplicated, shuffled and split into random SQS batches, and delivered to
``IngestService`` while faults are injected at the AWS boundary (botocore ``before-call`` hooks,
no patched internals): a transient error from any AWS call, and a crash between the vector write
and the registry update (the finishing UpdateItem and the release after it both fail, so the
claim stays until its lease runs out). Failed records are redelivered, as SQS does, after the
visibility timeout (a fake clock jumps past the lease). After everything is delivered, each
key's registry entry and vectors must be exactly what its last operation left in the bucket.

``HYPOTHESIS_PROFILE=soak`` (``make soak``) runs thousands of histories; the default, tens.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import event, given
from hypothesis import strategies as st
from moto import mock_aws

from docpipe.embeddings.base import Embedder
from docpipe.ids import doc_id
from tests.conftest import ROOT
from tests.moto_resources import create_stack_resources

KEYS = ("docs/alpha.txt", "docs/beta.txt", "docs/gamma.txt")
# Contents of different lengths, so overwrites change the chunk count both ways.
CONTENTS = tuple(
    (f"Version {n} of a document about {topic}. " * repeat).encode()
    for n, (topic, repeat) in enumerate((("tides", 3), ("glaciers", 40), ("orchards", 90), ("bees", 12)))
)
DIMENSION = 64
LEASE_SECONDS = 200  # IngestFunction's 180 s plus the margin: the claim of a crashed invocation


class HashEmbedder(Embedder):
    """Deterministic vectors from a text's hash: the property is about state, not meaning."""

    provider = "offline"
    model_id = "hash"
    dimension = DIMENSION

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            digest = hashlib.sha256(text.encode()).digest() * 2
            vectors.append([(b + 1) / 256 for b in digest[:DIMENSION]])
        return vectors


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Faults:
    """Decides, call by call, which AWS calls fail (botocore hooks on the service's clients).

    ``lost_requests``: the call fails before it reaches the service; ``lost_responses``: the
    service applied it but the caller sees an error (the harder case for idempotency).
    """

    lost_requests: set[int]
    lost_responses: set[int]
    crash_finishes: set[int]
    calls: int = 0
    finishes: int = 0
    crashing: bool = False
    injected: list[str] = field(default_factory=list)

    def before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls += 1
        operation = model.name
        expression = str(params.get("UpdateExpression", "")) if operation == "UpdateItem" else ""
        if self.crashing and "lease_until = :zero" in expression:
            self.crashing = False  # the release after a crash: the process is gone, it never happens
            raise _error("InternalServerError", operation)
        if "#chunk_count = :chunk_count" in expression:  # finishing a claim: after the vector writes
            self.finishes += 1
            if self.finishes in self.crash_finishes:
                self.crashing = True
                self.injected.append(f"crash before finish {self.finishes}")
                raise _error("InternalServerError", operation)
        if self.calls in self.lost_requests:
            self.injected.append(f"lost request {operation}")
            raise _error(
                "SlowDown" if model.service_model.service_name == "s3" else "ThrottlingException", operation
            )

    def after(self, model: Any, **_: Any) -> None:
        if self.calls in self.lost_responses:
            self.injected.append(f"lost response {model.name}")
            raise _error("InternalServerError", model.name)


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {}}, operation)


operation = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(KEYS), st.integers(0, len(CONTENTS) - 1)),
    st.tuples(st.just("reupload"), st.sampled_from(KEYS), st.just(0)),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just(0)),
)


@dataclass
class Delivery:
    seed: int
    duplicate_every: int
    batch_sizes: list[int]
    lost_requests: set[int]
    lost_responses: set[int]
    crash_finishes: set[int]


delivery = st.builds(
    Delivery,
    seed=st.integers(0, 2**32 - 1),
    duplicate_every=st.integers(1, 4),
    batch_sizes=st.lists(st.integers(1, 10), min_size=1, max_size=6),
    lost_requests=st.sets(st.integers(1, 300), max_size=5),
    lost_responses=st.sets(st.integers(1, 300), max_size=5),
    crash_finishes=st.sets(st.integers(1, 8), max_size=2),
)


@pytest.fixture(scope="module", autouse=True)
def _s3_notifies_as_s3() -> None:
    from docpipe_cli.local import s3_events

    s3_events.install()


@given(history=st.lists(operation, min_size=1, max_size=12), plan=delivery)
def test_after_every_delivery_the_index_is_what_the_bucket_last_held(
    history: list[tuple[str, str, int]], plan: Delivery
) -> None:
    with mock_aws():
        names = create_stack_resources(
            ROOT / "template.yaml",
            parameters={"EmbeddingProvider": "offline", "EmbeddingDimension": DIMENSION},
        )
        bucket = names.documents_bucket
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        current: dict[str, bytes | None] = dict.fromkeys(KEYS)
        drain(sqs, names.queue_url)  # the s3:TestEvent
        for op, key, content in history:
            if op == "delete":
                s3.delete_object(Bucket=bucket, Key=key)
                current[key] = None
                continue
            body = current[key] if op == "reupload" and current[key] is not None else CONTENTS[content]
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            current[key] = body
        records = drain(sqs, names.queue_url)

        faults = Faults(plan.lost_requests, plan.lost_responses, plan.crash_finishes)
        clock = Clock()
        service, store, registry = build_service(names, faults, clock)
        deliver(service, records, plan, clock)
        event("faults injected" if faults.injected else "no fault injected")
        event(f"crashes: {sum(i.startswith('crash') for i in faults.injected)}")

        for key, body in current.items():
            record = registry.get(doc_id(bucket, key))
            vectors = sorted(
                (
                    v
                    for v in store.iter_vectors(return_data=False)
                    if v.key.startswith(doc_id(bucket, key) + "#")
                ),
                key=lambda v: int(v.key.split("#")[1]),
            )
            if body is None:
                assert record is None or record.state == "deleted", (key, record, faults.injected)
                assert vectors == [], (key, faults.injected)
                continue
            assert record is not None and record.state == "indexed", (key, record, faults.injected)
            assert record.content_hash == hashlib.sha256(body).hexdigest(), (key, faults.injected)
            assert [v.key for v in vectors] == [f"{record.doc_id}#{n}" for n in range(record.chunk_count)]
            assert {v.metadata["content_hash"] for v in vectors} == {record.content_hash}


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue as Lambda's SQS records (the S3 notifications, in order)."""
    from tests.functional.conftest import sqs_record

    records: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            records.append(sqs_record(json.loads(message["Body"]), message_id=message["MessageId"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return records


def build_service(names: Any, faults: Faults, clock: Clock) -> tuple[Any, Any, Any]:
    from aws_lambda_powertools import Logger
    from botocore.config import Config

    Logger(service="docpipe", level="ERROR")  # the parent the handler module would create

    from docpipe.config import Settings
    from docpipe.ingest import IngestService
    from docpipe.registry import DocumentRegistry
    from docpipe.s3 import S3Client
    from docpipe.vectorstore import S3VectorStore

    # No botocore retries: every injected error reaches docpipe (the worst case for it).
    config = Config(retries={"total_max_attempts": 1})
    clients = {
        name: boto3.client(name, region_name="us-east-1", config=config)
        for name in ("s3", "dynamodb", "s3vectors")
    }
    for client in clients.values():
        client.meta.events.register("before-parameter-build", faults.before)
        client.meta.events.register("after-call", faults.after)
    registry = DocumentRegistry(clients["dynamodb"], names.table, lease_seconds=LEASE_SECONDS, clock=clock)
    store = S3VectorStore(clients["s3vectors"], names.vector_bucket, names.vector_index)
    settings = Settings(
        documents_bucket=names.documents_bucket,
        documents_table=names.table,
        vector_bucket=names.vector_bucket,
        vector_index=names.vector_index,
        embedding_provider="offline",
        embedding_dimension=DIMENSION,
        chunk_size=400,
        chunk_overlap=40,
    )
    service = IngestService(
        s3=S3Client(clients["s3"]), registry=registry, store=store, embedder=HashEmbedder(), settings=settings
    )
    # The checks read through clients without faults.
    reader_store = S3VectorStore(
        boto3.client("s3vectors", region_name="us-east-1"), names.vector_bucket, names.vector_index
    )
    reader_registry = DocumentRegistry(boto3.client("dynamodb", region_name="us-east-1"), names.table)
    return service, reader_store, reader_registry


def deliver(service: Any, records: list[dict[str, Any]], plan: Delivery, clock: Clock) -> None:
    """At-least-once delivery: duplicates, any order, random batches; failures come back later."""
    rng = random.Random(plan.seed)
    pending = records + records[:: plan.duplicate_every]
    for _round in range(60):
        if not pending:
            return
        rng.shuffle(pending)
        failed: list[dict[str, Any]] = []
        position = batch_no = 0
        while position < len(pending):
            size = plan.batch_sizes[batch_no % len(plan.batch_sizes)]
            batch = pending[position : position + size]
            position, batch_no = position + size, batch_no + 1
            for record in batch:  # one invocation: each record fails alone (partial batch response)
                try:
                    service.process_sqs_record(record, remaining_ms=180_000)
                except Exception:  # noqa: BLE001 - the record fails; SQS delivers it again
                    failed.append(record)
        pending = failed
        clock.now += LEASE_SECONDS + 1  # the visibility timeout passes; crashed claims expire
    raise AssertionError(f"{len(pending)} records still failing after 60 redeliveries")
