"""The index the handler writes to: its declared non-filterable keys are the ones that count."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from docpipe.exceptions import IndexMismatchError
from tests.functional.conftest import Pipeline, s3_notification, sqs_batch

KEY = "docs/summary.txt"


def index_reports(pipeline: Pipeline, non_filterable_keys: list[str]) -> None:
    """Make moto's GetIndex answer like AWS's for the handler's client (moto 5.2 drops both members)."""

    def complete(parsed: dict[str, Any], **_: Any) -> None:
        index = parsed.get("index")
        if index is not None:
            index["creationTime"] = "2026-01-01T00:00:00Z"
            index["metadataConfiguration"] = {"nonFilterableMetadataKeys": non_filterable_keys}

    app = pipeline.app or pipeline.start()
    app.service.store.client.meta.events.register("after-call.s3vectors.GetIndex", complete)


def test_index_that_declares_text_filterable_fails_every_record_naming_index_and_key(
    pipeline: Pipeline,
) -> None:
    index_reports(pipeline, ["source_uri"])
    pipeline.upload(KEY, b"some text")

    with pytest.raises(BatchProcessingError, match="All records failed") as caught:
        pipeline.invoke(sqs_batch(s3_notification(KEY, sequencer="01")))

    [(_, error, _)] = caught.value.child_exceptions
    assert isinstance(error, IndexMismatchError)
    assert f"s3vectors://{pipeline.names.vector_bucket}/{pipeline.names.vector_index}" in str(error)
    assert "does not declare metadata key(s) text non-filterable" in str(error)
    assert pipeline.record(KEY) is None


def test_metadata_limits_use_the_keys_the_index_declares_non_filterable(pipeline: Pipeline) -> None:
    # A 3 KB attribute is over the 2 KB filterable limit unless the index declares it non-filterable.
    index_reports(pipeline, ["text", "source_uri", "summary"])
    pipeline.upload(KEY, b"some text")
    sidecar = {"metadataAttributes": {"summary": "s" * 3000}}
    pipeline.upload(KEY + ".metadata.json", json.dumps(sidecar).encode())

    response = pipeline.invoke(sqs_batch(s3_notification(KEY, sequencer="01")))

    assert response == {"batchItemFailures": []}
    record = pipeline.record(KEY)
    assert record is not None and record.state == "indexed", record
    [vector] = pipeline.vectors(KEY)
    assert vector.metadata["summary"] == "s" * 3000
