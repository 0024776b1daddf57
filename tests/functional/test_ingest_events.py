"""IngestFunction on the events/ files (the same ones `sam local invoke -e` takes)."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import load_event
from tests.functional.conftest import Pipeline

BOOK = "docs/GeoTopo-komprimiert.pdf"


def test_raw_s3_put_of_a_pdf_indexes_every_page(
    pipeline: Pipeline, corpus_bytes: Callable[[str], bytes]
) -> None:
    pipeline.upload(BOOK, corpus_bytes("GeoTopo-komprimiert.pdf"))

    response = pipeline.invoke(load_event("s3_put_pdf"))

    [outcome] = response["outcomes"]
    record = pipeline.record(BOOK)
    vectors = pipeline.vectors(BOOK)
    assert outcome["state"] == "indexed" and outcome["pages"] == 117
    assert record is not None and record.state == "indexed" and record.pages == 117
    assert record.chunk_count == len(vectors) == outcome["chunk_count"] > 117
    covered = set().union(*(range(v.metadata["page"], v.metadata["page_end"] + 1) for v in vectors))
    assert covered == set(range(1, 118))  # every page's text is in some chunk
    first = vectors[0].metadata
    assert first["key"] == BOOK and first["source_uri"] == f"s3://docpipe-documents/{BOOK}"
    assert first["content_type"] == "application/pdf" and first["chunk_no"] == 0 and first["text"]
    assert len(vectors[0].data) == 256


def test_sqs_wrapped_put_indexes_and_reports_no_failures(
    pipeline: Pipeline, corpus_bytes: Callable[[str], bytes]
) -> None:
    pipeline.upload(BOOK, corpus_bytes("GeoTopo-komprimiert.pdf"))

    response = pipeline.invoke(load_event("sqs_s3_put"))

    assert response == {"batchItemFailures": []}
    assert pipeline.record(BOOK).state == "indexed"  # type: ignore[union-attr]


def test_delete_removes_every_vector_of_the_document(
    pipeline: Pipeline, corpus_bytes: Callable[[str], bytes]
) -> None:
    pipeline.upload(BOOK, corpus_bytes("GeoTopo-komprimiert.pdf"))
    pipeline.invoke(load_event("sqs_s3_put"))
    assert pipeline.vectors(BOOK)
    pipeline.delete_object(BOOK)

    response = pipeline.invoke(load_event("sqs_s3_delete"))

    assert response == {"batchItemFailures": []}
    assert pipeline.vectors(BOOK) == []
    record = pipeline.record(BOOK)
    assert record is not None and (record.state, record.chunk_count) == ("deleted", 0)


def test_delete_marker_removes_the_document(pipeline: Pipeline, corpus_bytes: Callable[[str], bytes]) -> None:
    pipeline.upload(BOOK, corpus_bytes("GeoTopo-komprimiert.pdf"))
    pipeline.invoke(load_event("s3_put_pdf"))
    pipeline.delete_object(BOOK)  # versioned bucket: this creates a delete marker

    [outcome] = pipeline.invoke(load_event("s3_delete_marker"))["outcomes"]

    assert outcome["state"] == "deleted"
    assert pipeline.vectors(BOOK) == []


def test_eventbridge_created_and_deleted_events(
    pipeline: Pipeline, corpus_bytes: Callable[[str], bytes]
) -> None:
    pipeline.upload(BOOK, corpus_bytes("GeoTopo-komprimiert.pdf"))

    created = pipeline.invoke(load_event("eventbridge_object_created"))
    indexed = len(pipeline.vectors(BOOK))
    pipeline.delete_object(BOOK)
    deleted = pipeline.invoke(load_event("eventbridge_object_deleted"))

    assert created["outcomes"][0]["state"] == "indexed" and indexed > 0
    assert deleted["outcomes"][0]["state"] == "deleted"
    assert pipeline.vectors(BOOK) == []


def test_url_encoded_key_is_decoded_before_download(
    pipeline: Pipeline, corpus_bytes: Callable[[str], bytes]
) -> None:
    key = "docs/Quarterly Report+Q3 Übersicht 100%.pdf"
    pipeline.upload(key, corpus_bytes("minimal-document.pdf"))

    [outcome] = pipeline.invoke(load_event("s3_put_encoded_key"))["outcomes"]

    assert (outcome["key"], outcome["state"]) == (key, "indexed")
    assert pipeline.vectors(key)[0].metadata["key"] == key


def test_unsupported_type_is_recorded_as_skipped(pipeline: Pipeline) -> None:
    pipeline.upload("docs/tools/installer.exe", b"MZ\x90\x00" + b"\x00" * 512)

    [outcome] = pipeline.invoke(load_event("s3_put_unsupported"))["outcomes"]

    assert (outcome["state"], outcome["reason"]) == ("skipped", "unsupported_type")
    record = pipeline.record("docs/tools/installer.exe")
    assert record is not None and (record.state, record.reason) == ("skipped", "unsupported_type")
    assert pipeline.embedder is not None and pipeline.embedder.calls == 0


def test_s3_test_event_is_ignored(pipeline: Pipeline) -> None:
    response = pipeline.invoke(load_event("s3_test_event"))

    assert response == {"processed": 0, "outcomes": []}
    assert list(pipeline.registry.scan_items()) == []


def test_notifications_from_moto_s3_drive_the_handler_end_to_end(pipeline: Pipeline) -> None:
    # The template's notification configuration puts real (moto) S3 events on IngestQueue:
    # no sequencer there, so ordering falls back to event time.
    pipeline.upload("notes/a b.md", b"# Title\n\nSome *markdown* text about rivers and lakes.\n")
    pipeline.delete_object("notes/a b.md")
    pipeline.upload("notes/c.txt", b"plain text that stays")
    records = pipeline.drain_queue()

    response = pipeline.invoke({"Records": records})

    assert response == {"batchItemFailures": []}
    assert pipeline.record("notes/a b.md").state == "deleted"  # type: ignore[union-attr]
    assert pipeline.vectors("notes/a b.md") == []
    assert pipeline.record("notes/c.txt").state == "indexed"  # type: ignore[union-attr]
