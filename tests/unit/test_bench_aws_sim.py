"""The benchmarks' simulated AWS: operations named from the wire, delays held, the union of calls."""

from __future__ import annotations

import math
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import boto3
import pytest
from botocore.config import Config

from benchmarks.aws_sim import Call, LatencyProxy, covered, delay_for, fake_embedding, operation_of


@pytest.mark.parametrize(
    ("service", "method", "path", "headers", "expected"),
    [
        ("dynamodb", "POST", "/", {"X-Amz-Target": "DynamoDB_20120810.UpdateItem"}, "UpdateItem"),
        ("sqs", "POST", "/", {"X-Amz-Target": "AmazonSQS.SendMessage"}, "SendMessage"),
        ("s3", "GET", "/bucket/a/b.pdf", {}, "GetObject"),
        ("s3", "GET", "/bucket?list-type=2", {}, "ListObjectsV2"),
        ("s3", "HEAD", "/bucket/a.pdf", {}, "HeadObject"),
        ("s3", "PUT", "/bucket/a.pdf", {}, "PutObject"),
        ("s3", "POST", "/bucket?delete", {}, "DeleteObjects"),
        ("s3vectors", "POST", "/PutVectors", {}, "PutVectors"),
        ("s3vectors", "POST", "/QueryVectors", {}, "QueryVectors"),
        ("bedrock", "POST", "/model/amazon.titan-embed-text-v2%3A0/invoke", {}, "InvokeModel"),
    ],
)
def test_operation_is_named_from_the_request(
    service: str, method: str, path: str, headers: dict[str, str], expected: str
) -> None:
    assert operation_of(service, method, path, headers) == expected


def test_get_object_delay_grows_with_the_body() -> None:
    delay = delay_for("s3", "GetObject")
    assert delay.seconds(0) == pytest.approx(0.020)
    assert delay.seconds(50_000_000) == pytest.approx(1.020)
    assert delay_for("sqs", "DeleteMessageBatch").base == delay_for("sqs", "SendMessage").base


def _call(start: float, end: float) -> Call:
    return Call("s3", "GetObject", start, end, 0.0, 0.0, 200, 0, 0)


def test_covered_is_the_union_of_overlapping_calls() -> None:
    calls = [_call(0.0, 1.0), _call(0.5, 1.5), _call(3.0, 4.0), _call(3.2, 3.4)]
    assert covered(calls) == pytest.approx(2.5)
    assert covered([]) == 0.0


def test_fake_embedding_is_deterministic_and_unit_length() -> None:
    a, b = fake_embedding("Topologie", 1024), fake_embedding("Topologie", 1024)
    assert a == b and len(a) == 1024
    assert math.sqrt(sum(x * x for x in a)) == pytest.approx(1.0, abs=1e-3)
    assert fake_embedding("Homöomorphismus", 1024) != a


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"TableNames": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_proxy_holds_each_response_for_its_delay_and_answers_bedrock() -> None:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        with LatencyProxy(f"http://127.0.0.1:{upstream.server_address[1]}", scale=5.0) as proxy:
            keys = {"aws_access_key_id": "x", "aws_secret_access_key": "y", "region_name": "us-east-1"}
            config = Config(retries={"max_attempts": 1, "mode": "standard"})
            ddb = boto3.client("dynamodb", endpoint_url=proxy.endpoint, config=config, **keys)
            started = time.monotonic()
            assert ddb.list_tables()["TableNames"] == []
            assert time.monotonic() - started >= 5 * delay_for("dynamodb", "ListTables").base
            bedrock = boto3.client("bedrock-runtime", endpoint_url=proxy.endpoint, config=config, **keys)
            response = bedrock.invoke_model(
                modelId="amazon.titan-embed-text-v2:0", body=b'{"inputText": "Satz", "dimensions": 256}'
            )
            import json

            assert len(json.loads(response["body"].read())["embedding"]) == 256
        assert [(c.service, c.operation) for c in proxy.calls] == [
            ("dynamodb", "ListTables"),
            ("bedrock", "InvokeModel"),
        ]
        assert proxy.calls[1].input_chars == 4
    finally:
        upstream.shutdown()
        upstream.server_close()
