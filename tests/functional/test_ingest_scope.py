"""The scope (DocumentPrefix, DocumentSuffix) decides on every way a key reaches IngestFunction.

S3's notification filters spare the queue most keys outside the scope, but direct invocations,
EventBridge rules and a scope narrowed after documents were indexed bypass them: IngestFunction
asks ``docpipe.scope`` itself. On a stack deployed with ``DocumentSuffix=.pdf`` (moto applies the
template's filters, and notifies as S3 does through ``docpipe_cli.local.s3_events``), the
sidecars of PDFs still reach the queue through the second filter.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import pytest

from docpipe.ids import SIDECAR_SUFFIX
from tests.conftest import load_event
from tests.functional.conftest import Pipeline, s3_notification, sqs_batch

TEXT = b"Field notes about the river gauge, written every morning. " * 30
NOTES = "docs/notes.txt"
REPORT = "docs/report.pdf"
PDF_STACK = pytest.mark.parametrize("pipeline", [{"DocumentSuffix": ".pdf"}], indirect=True)


@pytest.fixture(scope="module", autouse=True)
def _s3_notifies_as_s3() -> None:
    """moto's S3 sends nothing for a delete on a versioned bucket; the emulator boundary fixes it."""
    from docpipe_cli.local import s3_events

    s3_events.install()


def deliver(pipeline: Pipeline) -> list[dict[str, Any]]:
    """What S3 notified IngestQueue of went through the handler; returns the records delivered."""
    records = pipeline.drain_queue()
    if records:
        assert pipeline.invoke({"Records": records}) == {"batchItemFailures": []}
    return records


def eventbridge_created(key: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("eventbridge_object_created"))
    event["detail"]["object"]["key"] = key
    return event


@PDF_STACK
def test_an_sqs_s3_event_for_a_key_without_the_suffix_is_skipped_unread(pipeline: Pipeline) -> None:
    pipeline.upload(NOTES, TEXT)

    response = pipeline.invoke(sqs_batch(s3_notification(quote_plus(NOTES), sequencer="01")))

    assert response == {"batchItemFailures": []}
    record = pipeline.record(NOTES)
    assert record is not None and (record.state, record.reason) == ("skipped", "outside_suffix")
    assert pipeline.vectors(NOTES) == []
    assert pipeline.embedder is not None and pipeline.embedder.calls == 0


@PDF_STACK
def test_a_direct_s3_invocation_for_a_key_without_the_suffix_is_skipped(pipeline: Pipeline) -> None:
    pipeline.upload(NOTES, TEXT)

    [outcome] = pipeline.invoke(s3_notification(quote_plus(NOTES), sequencer="01"))["outcomes"]

    assert (outcome["state"], outcome["reason"]) == ("skipped", "outside_suffix")
    assert pipeline.vectors(NOTES) == []


@PDF_STACK
def test_an_eventbridge_event_for_a_key_without_the_suffix_is_skipped(pipeline: Pipeline) -> None:
    # EventBridge gets every object event of the bucket: no notification filter applies to it.
    pipeline.upload(NOTES, TEXT)

    [outcome] = pipeline.invoke(eventbridge_created(NOTES))["outcomes"]

    assert (outcome["state"], outcome["reason"]) == ("skipped", "outside_suffix")
    assert pipeline.vectors(NOTES) == []


def test_a_key_outside_the_prefix_is_skipped_with_its_reason(pipeline: Pipeline) -> None:
    pipeline.start(DOCUMENT_PREFIX="docs/")
    pipeline.upload("private/x.txt", b"secret notes " * 50)

    response = pipeline.invoke(sqs_batch(s3_notification(quote_plus("private/x.txt"), sequencer="01")))

    assert response == {"batchItemFailures": []}
    record = pipeline.record("private/x.txt")
    assert record is not None and (record.state, record.reason) == ("skipped", "outside_prefix")
    assert pipeline.vectors("private/x.txt") == []


def test_a_document_indexed_before_the_suffix_was_set_loses_its_vectors(pipeline: Pipeline) -> None:
    pipeline.upload(NOTES, TEXT)
    pipeline.invoke(sqs_batch(s3_notification(quote_plus(NOTES), sequencer="01")))
    assert pipeline.vectors(NOTES)
    pipeline.start(DOCUMENT_SUFFIX=".pdf")  # redeployed with a narrower scope

    pipeline.invoke(sqs_batch(s3_notification(quote_plus(NOTES), sequencer="02")))

    record = pipeline.record(NOTES)
    assert record is not None and (record.state, record.reason) == ("skipped", "outside_suffix")
    assert pipeline.vectors(NOTES) == []


@PDF_STACK
def test_a_sidecar_reaches_the_chunks_of_its_pdf_on_a_pdf_only_stack(
    pipeline: Pipeline, corpus_bytes: Callable[[str], bytes]
) -> None:
    pipeline.start()
    pipeline.drain_queue()  # the s3:TestEvent
    pipeline.upload(REPORT, corpus_bytes("minimal-document.pdf"))
    deliver(pipeline)
    assert pipeline.vectors(REPORT)

    pipeline.upload(REPORT + SIDECAR_SUFFIX, b'{"metadataAttributes": {"team": "hydro"}}')
    delivered = deliver(pipeline)

    assert len(delivered) == 1  # S3 announced the sidecar (the second notification filter)
    assert {v.metadata.get("team") for v in pipeline.vectors(REPORT)} == {"hydro"}


@PDF_STACK
def test_a_deleted_sidecar_takes_its_attributes_off_the_pdf_on_a_pdf_only_stack(
    pipeline: Pipeline, corpus_bytes: Callable[[str], bytes]
) -> None:
    pipeline.start()
    pipeline.drain_queue()
    pipeline.upload(REPORT, corpus_bytes("minimal-document.pdf"))
    pipeline.upload(REPORT + SIDECAR_SUFFIX, b'{"metadataAttributes": {"team": "hydro"}}')
    deliver(pipeline)
    assert {v.metadata.get("team") for v in pipeline.vectors(REPORT)} == {"hydro"}

    pipeline.delete_object(REPORT + SIDECAR_SUFFIX)
    delivered = deliver(pipeline)

    assert len(delivered) == 1
    assert {v.metadata.get("team") for v in pipeline.vectors(REPORT)} == {None}


@PDF_STACK
def test_the_sidecar_of_a_key_outside_the_scope_is_ignored(pipeline: Pipeline) -> None:
    pipeline.start()
    pipeline.drain_queue()
    pipeline.upload(NOTES, TEXT)
    pipeline.upload(NOTES + SIDECAR_SUFFIX, b'{"metadataAttributes": {"team": "hydro"}}')

    [record] = pipeline.drain_queue()  # the sidecar's; S3 does not announce docs/notes.txt
    [outcome] = pipeline.invoke(json.loads(record["body"]))["outcomes"]  # S3's notification, direct

    assert (outcome["key"], outcome["state"], outcome["reason"]) == (
        NOTES + SIDECAR_SUFFIX,
        "ignored",
        "outside_suffix",
    )
    assert pipeline.record(NOTES) is None
    assert pipeline.record(NOTES + SIDECAR_SUFFIX) is None
    assert pipeline.embedder is not None and pipeline.embedder.calls == 0


@PDF_STACK
def test_docpipe_status_shows_a_key_outside_the_scope_with_its_reason_and_the_scope(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str], cli_ignores_local_stack: None
) -> None:
    from docpipe_cli import cli

    pipeline.upload(NOTES, TEXT)
    pipeline.invoke(sqs_batch(s3_notification(quote_plus(NOTES), sequencer="01")))
    capsys.readouterr()

    assert cli.main(["status"]) == 0  # the names and the scope from the environment

    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith(NOTES))
    assert row.split()[1:3] == ["skipped", "outside_suffix"]
    assert "scope: keys under '' ending with '.pdf'" in out
