"""VectorIndexTextSearch: the custom resource's handler answers CloudFormation and changes the index in place.

CloudFormation's side is real enough: the handler PUTs its answer to the event's ResponseURL, here a
local HTTP server that records it. The index's side is botocore's Stubber on the handler's own
s3vectors client (every request is checked against the s3vectors model).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from botocore.stub import Stubber

from docpipe import aws
from tests.conftest import ROOT
from tests.functional.conftest import LambdaContext, import_handler

HANDLER = ROOT / "functions" / "index_text_search" / "app.py"
BUCKET, INDEX = "docpipe-dev-vectors-123456789012", "chunks-offline-256-cosine"
WHERE = {"vectorBucketName": BUCKET, "indexName": INDEX}
ARN = f"arn:aws:s3vectors:us-east-1:123456789012:bucket/{BUCKET}/index/{INDEX}"


@pytest.fixture
def cloudformation() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A ResponseURL and the answers PUT to it."""
    answers: list[dict[str, Any]] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # noqa: N802 (http.server's naming)
            answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/response", answers
    server.shutdown()


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("VECTOR_BUCKET", BUCKET)
    monkeypatch.setenv("VECTOR_INDEX", INDEX)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    aws.clear_client_cache()
    stubber = Stubber(aws.client("s3vectors"))
    with stubber:
        yield import_handler(HANDLER, "index_text_search_app_under_test"), stubber
    aws.clear_client_cache()


def event(request_type: str, url: str, **properties: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/docpipe-dev/1",
        "RequestId": "r-1",
        "ResourceType": "Custom::VectorIndexTextSearch",
        "LogicalResourceId": "VectorIndexTextSearch",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "VectorBucketName": BUCKET,
            "IndexName": INDEX,
            "MetadataKeys": ["text"],
            "Language": "en",
            **properties,
        },
    }


def index(mode: str, configs: list[dict[str, str]]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"nonFilterableMetadataKeys": ["text", "source_uri"]}
    if configs:
        metadata["textSearchConfigurations"] = configs
    return {
        "index": {
            "vectorBucketName": BUCKET,
            "indexName": INDEX,
            "indexArn": ARN,
            "creationTime": datetime(2026, 1, 1, tzinfo=UTC),
            "dataType": "float32",
            "dimension": 256,
            "distanceMetric": "cosine",
            "metadataConfiguration": metadata,
            "indexMode": mode,
        }
    }


def test_an_update_switches_a_classic_index_that_holds_vectors_in_place(
    handler: tuple[Any, Stubber], cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given a stack created before text search: its index is CLASSIC with nothing searchable
    app, stubber = handler
    url, answers = cloudformation
    stubber.add_response("get_index", index("CLASSIC", []), WHERE)
    stubber.add_response("update_index_mode", {}, {**WHERE, "indexMode": "ENHANCED"})
    stubber.add_response(
        "update_metadata_configuration",
        {"indexArn": ARN},
        {**WHERE, "add": {"textSearchConfigurations": [{"metadataKey": "text", "language": "en"}]}},
    )

    # When CloudFormation updates the stack (the resource is new to it: a Create)
    app.handler(event("Create", url), LambdaContext())

    # Then the index was changed in place (no CreateIndex, no re-ingest) and CloudFormation told so
    [answer] = answers
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == f"s3vectors://{BUCKET}/{INDEX}/text-search"
    assert "ENHANCED" in answer["Data"]["Changed"] and "'text' added" in answer["Data"]["Changed"]


def test_a_failure_is_reported_to_cloudformation_with_its_reason(
    handler: tuple[Any, Stubber], cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    app, stubber = handler
    url, answers = cloudformation
    stubber.add_client_error("get_index", service_error_code="AccessDeniedException", http_status_code=403)

    app.handler(event("Update", url, Language="de"), LambdaContext())

    [answer] = answers
    assert answer["Status"] == "FAILED" and "s3vectors" in answer["Reason"]


def test_delete_leaves_the_retained_index_alone(
    handler: tuple[Any, Stubber], cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    app, _ = handler  # the Stubber has no responses queued: any call would fail the test
    url, answers = cloudformation
    delete = {**event("Delete", url), "PhysicalResourceId": f"s3vectors://{BUCKET}/{INDEX}/text-search"}

    app.handler(delete, LambdaContext())

    assert [a["Status"] for a in answers] == ["SUCCESS"]
