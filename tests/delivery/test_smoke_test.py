"""scripts/smoke_test.py against moto server, with a stand-in for the deployed functions.

moto server does not run Lambda on S3 events, so a small thread plays the deployed pipeline: it
watches the documents bucket and writes the registry and the vector index the way IngestFunction
does (or skips, or never answers). The smoke test itself runs unchanged, as in deploy.yml.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from docpipe.ids import doc_id, vector_key
from scripts.smoke_test import SmokeTestError, StackConfigError, main, resolve_targets, run, stack_outputs

pytestmark = pytest.mark.integration

STACK_TEMPLATE = """\
Resources:
  DocumentsBucket:
    Type: AWS::S3::Bucket
  DocumentsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: doc_id, AttributeType: S}]
      KeySchema: [{AttributeName: doc_id, KeyType: HASH}]
Outputs:
  DocumentsBucket: {Value: !Ref DocumentsBucket}
  DocumentsTable: {Value: !Ref DocumentsTable}
  VectorBucketName: {Value: smoke-vectors}
  VectorIndexName: {Value: chunks}
"""


@dataclass
class Stack:
    name: str
    bucket: str
    table: str
    session: Any


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto server on a free loopback port; boto3 reaches it through AWS_ENDPOINT_URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    yield url
    # in-process servers share moto's global state: reset it so the next test starts empty
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
    server.stop()


@pytest.fixture
def stack(moto_endpoint: str) -> Stack:
    """A deployed-looking stack: bucket and table from CloudFormation, a vector bucket and index."""
    session = boto3.session.Session(region_name="us-east-1")
    cfn = session.client("cloudformation")
    cfn.create_stack(StackName="docpipe-smoke", TemplateBody=STACK_TEMPLATE)
    outputs = stack_outputs(cfn, "docpipe-smoke")
    vectors = session.client("s3vectors")
    vectors.create_vector_bucket(vectorBucketName="smoke-vectors")
    vectors.create_index(
        vectorBucketName="smoke-vectors",
        indexName="chunks",
        dataType="float32",
        dimension=4,
        distanceMetric="cosine",
    )
    # another document's vector, so the search has something to rank against
    vectors.put_vectors(
        vectorBucketName="smoke-vectors",
        indexName="chunks",
        vectors=[
            {"key": "other#0", "data": {"float32": [0.0, 0.0, 1.0, 0.0]}, "metadata": {"doc_id": "other"}}
        ],
    )
    return Stack("docpipe-smoke", outputs["DocumentsBucket"], outputs["DocumentsTable"], session)


class FakePipeline(threading.Thread):
    """Plays IngestFunction: registry states and vectors for objects that appear and disappear."""

    def __init__(self, stack: Stack, mode: str = "index") -> None:
        super().__init__(daemon=True)
        self.stack, self.mode = stack, mode
        self.stop_event = threading.Event()
        self.seen: set[str] = set()

    def run(self) -> None:
        s3 = self.stack.session.client("s3")
        vectors = self.stack.session.client("s3vectors")
        table = self.stack.session.resource("dynamodb").Table(self.stack.table)
        where = {"vectorBucketName": "smoke-vectors", "indexName": "chunks"}
        while not self.stop_event.wait(0.05):
            keys = {o["Key"] for o in s3.list_objects_v2(Bucket=self.stack.bucket).get("Contents", [])}
            for key in keys - self.seen:
                did = doc_id(self.stack.bucket, key)
                if self.mode == "skip":
                    table.put_item(
                        Item={"doc_id": did, "key": key, "state": "skipped", "reason": "empty_text"}
                    )
                elif self.mode == "index":
                    vectors.put_vectors(
                        **where,
                        vectors=[
                            {
                                "key": vector_key(did, 0),
                                "data": {"float32": [1.0, 0.1, 0.0, 0.0]},
                                "metadata": {"doc_id": did},
                            },
                        ],
                    )
                    table.put_item(Item={"doc_id": did, "key": key, "state": "indexed", "chunk_count": 1})
            for key in self.seen - keys:
                did = doc_id(self.stack.bucket, key)
                if self.mode == "index":
                    vectors.delete_vectors(**where, keys=[vector_key(did, 0)])
                    table.put_item(Item={"doc_id": did, "key": key, "state": "deleted", "chunk_count": 0})
            self.seen = keys

    def __enter__(self) -> FakePipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.join(timeout=5)


def _targets(stack: Stack) -> Any:
    return resolve_targets(stack_outputs(stack.session.client("cloudformation"), stack.name), {})


def test_the_smoke_test_passes_on_a_pipeline_that_indexes_and_forgets(stack: Stack) -> None:
    # Given a pipeline that indexes new documents and forgets deleted ones
    with FakePipeline(stack):
        # When the smoke test runs the way deploy.yml runs it (stack name only)
        code = main(["--stack-name", stack.name, "--timeout", "20", "--interval", "0.1"])

    # Then it passes, and leaves no document behind and the registry saying deleted
    assert code == 0
    assert stack.session.client("s3").list_objects_v2(Bucket=stack.bucket).get("KeyCount", 0) == 0
    items = stack.session.resource("dynamodb").Table(stack.table).scan()["Items"]
    assert [item["state"] for item in items] == ["deleted"]


def test_a_skipped_document_fails_the_smoke_test_with_its_reason(stack: Stack) -> None:
    # Given a pipeline that skips every document
    with FakePipeline(stack, mode="skip"), pytest.raises(SmokeTestError, match="skipped.*empty_text"):
        # When the smoke test runs / Then it fails fast with the recorded reason
        run(stack.session, _targets(stack), timeout=20, interval=0.1, run_id="skipme")

    # And the uploaded document is cleaned up
    assert stack.session.client("s3").list_objects_v2(Bucket=stack.bucket).get("KeyCount", 0) == 0


def test_a_pipeline_that_never_indexes_times_out_naming_the_document(stack: Stack) -> None:
    # Given a pipeline that does nothing (say, the S3 notification is missing)
    with FakePipeline(stack, mode="never"):
        # When the smoke test runs with a short timeout / Then it fails naming the document
        expected = doc_id(stack.bucket, "smoke-tests/stuck.md")
        with pytest.raises(SmokeTestError, match=rf"{expected} not indexed after 1 s \(no registry item\)"):
            run(stack.session, _targets(stack), timeout=1, interval=0.1, run_id="stuck")


def test_a_stack_without_the_needed_outputs_is_a_configuration_error(stack: Stack) -> None:
    # Given stack outputs that lack the vector index
    outputs = {"DocumentsBucket": "b", "DocumentsTable": "t", "VectorBucketName": "v"}

    # When the targets are resolved / Then the error names the missing output and the way around it
    with pytest.raises(StackConfigError, match="VectorIndexName or VectorIndex.*--vector-index"):
        resolve_targets(outputs, {})


def test_an_unknown_stack_exits_2(moto_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given no stack named docpipe-nope
    # When the smoke test runs against it
    code = main(["--stack-name", "docpipe-nope", "--region", "us-east-1"])

    # Then it exits 2 (configuration), not 1 (a failed check)
    assert code == 2
    assert "docpipe-nope" in capsys.readouterr().err
