"""The local stack announces what the scope holds, as S3 would for a stack deployed with that scope.

Provisioned from template.yaml with ``DocumentPrefix=docs/`` and ``DocumentSuffix=.pdf``: the
moto server (with docpipe's emulator boundary, which refuses overlapping filters as S3 does)
must accept both notification filters and announce PDFs under ``docs/`` and their sidecars only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import pytest

from docpipe_cli.local.provision import provision
from docpipe_cli.local.server import LocalServer
from docpipe_cli.local.session import emulator_client
from docpipe_cli.local.stack import Stack
from docpipe_cli.template import samconfig_overrides
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pdf_stack() -> Iterator[tuple[Any, Any]]:
    with LocalServer() as server:
        params = {
            **samconfig_overrides(ROOT / "samconfig.toml", "local"),
            "DocumentPrefix": "docs/",
            "DocumentSuffix": ".pdf",
        }
        stack = Stack(
            ROOT / "template.yaml", parameters=params, stack_name="docpipe", endpoint=server.endpoint
        )
        local = provision(stack, lambda s: emulator_client(s, server.endpoint), log=lambda _line: None)
        yield local, lambda service: emulator_client(service, server.endpoint)


def announced(sqs: Any, queue: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            for record in json.loads(message["Body"]).get("Records", []):
                found.append((record["eventName"].split(":")[0], unquote_plus(record["s3"]["object"]["key"])))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return sorted(found)


def test_only_documents_in_scope_and_their_sidecars_are_announced(pdf_stack: tuple[Any, Any]) -> None:
    local, client = pdf_stack
    s3, sqs = client("s3"), client("sqs")
    bucket, queue = local.outputs["DocumentsBucketName"], local.outputs["IngestQueueUrl"]
    sqs.purge_queue(QueueUrl=queue)  # the s3:TestEvent

    for key in ("docs/report.pdf", "docs/report.pdf.metadata.json", "docs/notes.txt", "other/x.pdf"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"%PDF-1.4 placeholder")
    s3.delete_object(Bucket=bucket, Key="docs/report.pdf.metadata.json")

    assert announced(sqs, queue) == [
        ("ObjectCreated", "docs/report.pdf"),
        ("ObjectCreated", "docs/report.pdf.metadata.json"),
        ("ObjectRemoved", "docs/report.pdf.metadata.json"),
    ]
