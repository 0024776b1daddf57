"""What operators see: Powertools EMF metrics and JSON logs correlated by object and SQS message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functional.conftest import EVENTS_BUCKET, Pipeline, s3_notification, sqs_batch


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


def emf_metrics(lines: list[dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    """(metric name, dimensions) of every metric in the EMF blobs among ``lines``."""
    found = []
    for blob in lines:
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            dimensions = {d: blob[d] for group in directive["Dimensions"] for d in group}
            found.extend((metric["Name"], dimensions) for metric in directive["Metrics"])
    return found


def test_ingest_emits_its_metrics_and_correlates_logs_by_object_and_message(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.start()
    pipeline.upload("docs/notes.txt", b"Some words worth indexing.\n\nAnd a second paragraph.")
    pipeline.upload("docs/tools/installer.exe", b"MZ\x90\x00binary")
    capsys.readouterr()

    response = pipeline.invoke(
        sqs_batch(
            s3_notification("docs/notes.txt", sequencer="01"),
            s3_notification("docs/tools/installer.exe", sequencer="01"),
        )
    )

    assert response == {"batchItemFailures": []}
    lines = json_lines(capsys.readouterr().out)
    metrics = emf_metrics(lines)
    names = {name for name, _ in metrics}
    assert {"DocumentsIndexed", "ChunksWritten", "IngestSeconds", "DocumentsSkipped"} <= names
    assert ("DocumentsSkipped", {"service": "docpipe", "reason": "unsupported_type"}) in metrics
    outcomes = {
        line["correlation_id"]: line["outcome"]["state"]
        for line in lines
        if line.get("message") == "document outcome"
    }
    assert outcomes == {
        f"{EVENTS_BUCKET}/docs/notes.txt#msg-0": "indexed",
        f"{EVENTS_BUCKET}/docs/tools/installer.exe#msg-1": "skipped",
    }
    [skip_log] = [line for line in lines if line.get("message") == "document skipped"]
    assert skip_log["correlation_id"] == f"{EVENTS_BUCKET}/docs/tools/installer.exe#msg-1"
