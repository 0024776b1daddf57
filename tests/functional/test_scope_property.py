"""The scope as a property: whatever the keys and however the scope changes, the index ends as it says.

Hypothesis draws the objects of a bucket, the scope a stack was deployed with (moto applies the
template's notification filters for it, as S3 would) and the scope it is redeployed with. The
objects are uploaded and what S3 announced is ingested under the first scope; then, under the
second, reconcile runs and what it enqueued is ingested. Afterwards exactly the documents of the
second scope are indexed, a key outside it that the pipeline had seen is recorded as skipped with
its reason, a key it never saw has no entry, and a second reconcile finds no drift.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from docpipe.ids import doc_id
from docpipe.scope import Scope
from tests.conftest import ROOT
from tests.functional.test_ingest_property import DIMENSION, HashEmbedder
from tests.moto_resources import create_stack_resources

KEYS = ("docs/a.txt", "docs/b.md", "other/c.txt", "other/d.md")
scopes = st.builds(Scope, prefix=st.sampled_from(["", "docs/"]), suffix=st.sampled_from(["", ".txt", ".md"]))


def text(key: str) -> bytes:
    return f"The document stored at {key}, with enough words to make a chunk of its own. ".encode() * 5


# A third of the profile's examples, at least 8 (each builds a stack in moto): 1,000 in `make soak`.
@settings(max_examples=max(8, settings().max_examples // 3))
@given(present=st.sets(st.sampled_from(KEYS), min_size=1), deployed=scopes, redeployed=scopes)
def test_after_a_scope_change_and_a_reconcile_the_index_holds_the_documents_of_the_new_scope(
    present: set[str], deployed: Scope, redeployed: Scope
) -> None:
    with mock_aws():
        names = create_stack_resources(
            ROOT / "template.yaml",
            parameters={
                "EmbeddingProvider": "offline",
                "EmbeddingDimension": DIMENSION,
                "DocumentPrefix": deployed.prefix,
                "DocumentSuffix": deployed.suffix,
            },
        )
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        sqs.purge_queue(QueueUrl=names.queue_url)  # the s3:TestEvent
        for key in sorted(present):
            s3.put_object(Bucket=names.documents_bucket, Key=key, Body=text(key))
        seen = ingest(names, deployed)  # what S3 announced under the first scope

        reconcile(names, redeployed)
        ingest(names, redeployed)  # what reconcile enqueued
        again = reconcile(names, redeployed)

        registry, store = clients(names)
        for key in KEYS:
            record = registry.get(doc_id(names.documents_bucket, key))
            vectors = [
                v for v in store.iter_vectors(return_data=False) if v.key.startswith(record_id(names, key))
            ]
            if key in present and redeployed.includes(key, 1):
                assert record is not None and record.state == "indexed" and vectors, (key, record)
            elif key in seen:
                assert record is not None and (record.state, record.reason) == (
                    "skipped",
                    redeployed.reason(key, 1),
                ), (key, record)
                assert vectors == [], key
            else:
                assert record is None and vectors == [], (key, record)
        assert again["drift"] == 0 and again["enqueued"] == 0, again


def record_id(names: Any, key: str) -> str:
    return doc_id(names.documents_bucket, key) + "#"


def clients(names: Any) -> tuple[Any, Any]:
    from docpipe.registry import DocumentRegistry
    from docpipe.vectorstore import S3VectorStore

    registry = DocumentRegistry(boto3.client("dynamodb", region_name="us-east-1"), names.table)
    store = S3VectorStore(
        boto3.client("s3vectors", region_name="us-east-1"), names.vector_bucket, names.vector_index
    )
    return registry, store


def ingest(names: Any, scope: Scope) -> set[str]:
    """Deliver IngestQueue to IngestService deployed with ``scope``; the keys it was given."""
    from aws_lambda_powertools import Logger

    Logger(service="docpipe", level="ERROR")  # the parent the handler module would create

    from docpipe.config import Settings
    from docpipe.events import parse_sqs_record
    from docpipe.ingest import IngestService
    from docpipe.s3 import S3Client
    from tests.functional.conftest import sqs_record

    registry, store = clients(names)
    settings = Settings(
        documents_bucket=names.documents_bucket,
        documents_table=names.table,
        vector_bucket=names.vector_bucket,
        vector_index=names.vector_index,
        embedding_provider="offline",
        embedding_dimension=DIMENSION,
        document_prefix=scope.prefix,
        document_suffix=scope.suffix,
    )
    service = IngestService(
        s3=S3Client(boto3.client("s3", region_name="us-east-1")),
        registry=registry,
        store=store,
        embedder=HashEmbedder(),
        settings=settings,
    )
    sqs = boto3.client("sqs", region_name="us-east-1")
    keys: set[str] = set()
    while messages := sqs.receive_message(QueueUrl=names.queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            record = sqs_record(json.loads(message["Body"]), message_id=message["MessageId"])
            keys |= {event.key for event in parse_sqs_record(record)}
            service.process_sqs_record(record)
            sqs.delete_message(QueueUrl=names.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return keys


def reconcile(names: Any, scope: Scope) -> dict[str, Any]:
    from docpipe.queue import MessageQueue
    from docpipe.reconcile import ReconcileService
    from docpipe.s3 import S3Client

    registry, store = clients(names)
    service = ReconcileService(
        s3=S3Client(boto3.client("s3", region_name="us-east-1")),
        registry=registry,
        store=store,
        queue=MessageQueue(boto3.client("sqs", region_name="us-east-1"), names.queue_url),
        bucket=names.documents_bucket,
        region="us-east-1",
        scope=scope,
    )
    report: dict[str, Any] = service.run()
    return report
