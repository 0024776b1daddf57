"""IngestFunction on moto: resources from template.yaml, the handler imported fresh per test."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from docpipe.ids import doc_id
from docpipe.registry import DocumentRecord, DocumentRegistry
from docpipe.vectorstore import S3VectorStore, VectorRecord
from tests.conftest import ROOT
from tests.lambda_context import LambdaContext
from tests.moto_resources import StackNames, create_stack_resources

EVENTS_BUCKET = "docpipe-documents"  # the bucket every events/ file names (events/README.md)
HANDLER_PATH = ROOT / "functions" / "ingest" / "app.py"


def import_handler(path: Path = HANDLER_PATH, name: str = "ingest_app_under_test") -> ModuleType:
    """Import a handler (functions/ingest/app.py by default) as a fresh module: every call is a cold start."""
    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class CountingEmbedder:
    """Wraps the real embedder and counts calls: proves when embedding was (not) done."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0
        self.texts = 0
        self.dimension = inner.dimension
        self.provider = inner.provider
        self.model_id = inner.model_id

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        self.texts += len(texts)
        return list(self.inner.embed_documents(texts))

    def embed_query(self, text: str) -> list[float]:
        return list(self.inner.embed_query(text))


@dataclass
class Pipeline:
    """What a functional test needs: the stack, the handler and ways to look inside."""

    names: StackNames
    monkeypatch: pytest.MonkeyPatch
    s3: Any
    app: ModuleType | None = None
    embedder: CountingEmbedder | None = None
    streams: dict[logging.StreamHandler[Any], Any] = field(default_factory=dict)

    def start(self, **env: str) -> ModuleType:
        """Cold-start the handler with the template's environment plus ``env``."""
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)
        self.app = import_handler()
        # Powertools keeps the "docpipe" logger's first handler, with the sys.stdout of the test
        # that created it (closed by now, maybe); point it at this test's, so capsys sees the JSON
        # log lines. Assigned, not setStream(): that would flush the old, closed stream first.
        handler = self.app.logger.registered_handler
        if isinstance(handler, logging.StreamHandler):
            self.streams.setdefault(handler, handler.stream)  # put back by the fixture
            handler.stream = sys.stdout
        self.embedder = CountingEmbedder(self.app.service.embedder)
        self.app.service.embedder = self.embedder
        return self.app

    def invoke(self, event: dict[str, Any]) -> Any:
        app = self.app or self.start()
        return app.handler(event, LambdaContext())

    def upload(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.names.documents_bucket, Key=key, Body=data)

    def delete_object(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.names.documents_bucket, Key=key)

    @property
    def registry(self) -> DocumentRegistry:
        return DocumentRegistry(boto3.client("dynamodb", region_name="us-east-1"), self.names.table)

    @property
    def store(self) -> S3VectorStore:
        client = boto3.client("s3vectors", region_name="us-east-1")
        return S3VectorStore(client, self.names.vector_bucket, self.names.vector_index)

    def record(self, key: str) -> DocumentRecord | None:
        return self.registry.get(doc_id(self.names.documents_bucket, key))

    def vectors(self, key: str) -> list[VectorRecord]:
        prefix = doc_id(self.names.documents_bucket, key) + "#"
        return sorted(
            (v for v in self.store.iter_vectors() if v.key.startswith(prefix)),
            key=lambda v: int(v.key.split("#")[1]),
        )

    def drain_queue(self) -> list[dict[str, Any]]:
        """Messages moto's S3 notifications put on IngestQueue, as Lambda's SQS records."""
        sqs = boto3.client("sqs", region_name="us-east-1")
        records: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.names.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return records
            for message in messages:
                records.append(sqs_record(json.loads(message["Body"]), message_id=message["MessageId"]))
                sqs.delete_message(QueueUrl=self.names.queue_url, ReceiptHandle=message["ReceiptHandle"])


def sqs_record(body: dict[str, Any], *, message_id: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1767225600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1767225600001",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:docpipe-IngestQueue",
        "awsRegion": "us-east-1",
    }


def sqs_batch(*bodies: dict[str, Any]) -> dict[str, Any]:
    """An SQS event whose records carry the given S3 notification bodies."""
    return {"Records": [sqs_record(body, message_id=f"msg-{i}") for i, body in enumerate(bodies)]}


def s3_notification(
    key_encoded: str,
    *,
    event_name: str = "ObjectCreated:Put",
    sequencer: str,
    size: int | None = None,
    bucket: str = EVENTS_BUCKET,
) -> dict[str, Any]:
    """A notification like S3 sends (key URL-encoded by the caller, as S3 does)."""
    obj: dict[str, Any] = {"key": key_encoded, "sequencer": sequencer, "eTag": f"etag-{sequencer}"}
    if size is not None:
        obj["size"] = size
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-01-01T00:00:00.000Z",
                "eventName": event_name,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "docpipe",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": obj,
                },
            }
        ]
    }


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Pipeline]:
    """Moto with the template's resources (offline embeddings, 256 dimensions) and its environment.

    Parametrize it indirectly with a dict of further template parameters (``{"ReconcileSource":
    "inventory"}``) to build the stack those parameters make.
    """
    extra: dict[str, Any] = getattr(request, "param", None) or {}
    with mock_aws():
        names = create_stack_resources(
            ROOT / "template.yaml",
            parameters={"EmbeddingProvider": "offline", "EmbeddingDimension": 256, **extra},
            names={"DocumentsBucket": EVENTS_BUCKET},
        )
        for key, value in names.env("IngestFunction").items():
            if value == "":
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        s3 = boto3.client("s3", region_name="us-east-1")
        pipeline = Pipeline(names=names, monkeypatch=monkeypatch, s3=s3)
        yield pipeline
        for handler, stream in pipeline.streams.items():
            handler.stream = stream


@pytest.fixture
def corpus_bytes(pdf_corpus: Path) -> Callable[[str], bytes]:
    return lambda name: (pdf_corpus / name).read_bytes()
