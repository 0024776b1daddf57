"""A long PDF is chunked, embedded and written group by group while its pages are still extracted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from docpipe import parsers
from docpipe.chunking import chunk_document
from docpipe.exceptions import CorruptDocumentError
from docpipe.ids import doc_id
from docpipe.parsers import PageText, parse_document
from docpipe.registry import CLAIM_SLOTS
from tests.functional.conftest import EVENTS_BUCKET, Pipeline, s3_notification, sqs_batch

BOOK = "GeoTopo-komprimiert.pdf"
KEY = "docs/book.pdf"


def spy_writes(pipeline: Pipeline) -> list[tuple[str, Any]]:
    """Record, in order, the registry's chunk-count notes and the store's puts (with the keys put)."""
    service = pipeline.app.service  # type: ignore[union-attr]
    # Real objects on the same table and index, in place of the service's lazily built ones.
    pipeline.monkeypatch.setattr(service, "registry", pipeline.registry)
    pipeline.monkeypatch.setattr(service, "store", pipeline.store)
    calls: list[tuple[str, Any]] = []
    real_note, real_put = service.registry.note_chunks, service.store.put

    def note(document_id: str, token: str, count: int) -> None:
        calls.append(("note", count))
        real_note(document_id, token, count)

    def put(records: Any) -> int:
        records = list(records)
        extracting = any(t.name.startswith("pdfium") for t in threading.enumerate())
        calls.append(("put", ([r.key for r in records], extracting)))
        return int(real_put(records))

    pipeline.monkeypatch.setattr(service.registry, "note_chunks", note)
    pipeline.monkeypatch.setattr(service.store, "put", put)
    return calls


def test_the_book_is_written_in_groups_while_its_pages_are_extracted(
    pipeline: Pipeline, corpus_bytes: Any
) -> None:
    data = corpus_bytes(BOOK)
    pipeline.upload(KEY, data)
    pipeline.start()
    calls = spy_writes(pipeline)

    assert pipeline.invoke(sqs_batch(s3_notification(KEY, sequencer="01"))) == {"batchItemFailures": []}

    expected = chunk_document(
        parse_document(data, key=KEY), chunk_size=1000, chunk_overlap=150, base_metadata={}
    )
    vectors = pipeline.vectors(KEY)
    assert [v.metadata["text"] for v in vectors] == [c.text for c in expected]
    assert [v.metadata["start_index"] for v in vectors] == [c.metadata["start_index"] for c in expected]
    puts = [payload for kind, payload in calls if kind == "put"]
    assert len(puts) > 3  # groups, not one write at the end
    assert puts[0][1]  # the first group was written while pages were still being extracted
    # Every key was covered by the registry before it was written (the claim covers the first ones).
    covered = CLAIM_SLOTS
    for kind, payload in calls:
        if kind == "note":
            covered = max(covered, payload)
        else:
            assert max(int(key.split("#")[1]) for key in payload[0]) < covered
    record = pipeline.record(KEY)
    assert record is not None
    assert record.chunk_count == record.max_chunk_count == len(expected)


def test_a_short_document_is_written_without_a_chunk_count_note(
    pipeline: Pipeline, corpus_bytes: Any
) -> None:
    pipeline.upload(KEY, corpus_bytes("pdflatex-4-pages.pdf"))
    pipeline.start()
    calls = spy_writes(pipeline)

    assert pipeline.invoke(sqs_batch(s3_notification(KEY, sequencer="01"))) == {"batchItemFailures": []}

    record = pipeline.record(KEY)
    assert record is not None and 1 < record.chunk_count <= CLAIM_SLOTS
    assert [kind for kind, _ in calls] == ["put"]  # claim + finish: two registry writes


def test_vectors_of_a_claim_that_died_before_finishing_are_deleted_by_the_next_event(
    pipeline: Pipeline, corpus_bytes: Any
) -> None:
    # Given a short document whose vectors were written, but whose claim never finished
    pipeline.upload(KEY, corpus_bytes("pdflatex-4-pages.pdf"))
    pipeline.start()
    service = pipeline.app.service  # type: ignore[union-attr]
    pipeline.monkeypatch.setattr(service, "registry", pipeline.registry)
    real_mark_indexed = service.registry.mark_indexed

    def timed_out(*_: Any, **__: Any) -> bool:
        raise TimeoutError("DynamoDB did not answer")

    pipeline.monkeypatch.setattr(service.registry, "mark_indexed", timed_out)
    with pytest.raises(BatchProcessingError, match="All records failed"):
        pipeline.invoke(sqs_batch(s3_notification(KEY, sequencer="01")))
    written = len(pipeline.vectors(KEY))
    record = pipeline.record(KEY)
    assert record is not None and record.state == "processing" and record.max_chunk_count == 0
    assert 1 < written <= CLAIM_SLOTS
    pipeline.monkeypatch.setattr(service.registry, "mark_indexed", real_mark_indexed)
    # When the key is overwritten by a one-page document
    pipeline.upload(KEY, corpus_bytes("minimal-document.pdf"))

    assert pipeline.invoke(sqs_batch(s3_notification(KEY, sequencer="02"))) == {"batchItemFailures": []}

    # Then only the new document's vector is left
    record = pipeline.record(KEY)
    assert record is not None and (record.state, record.chunk_count) == ("indexed", 1)
    assert [v.key for v in pipeline.vectors(KEY)] == [f"{doc_id(EVENTS_BUCKET, KEY)}#0"]


def failing_after(pages_before_failure: int) -> Any:
    """open_document whose PDFs raise CorruptDocumentError after ``pages_before_failure`` pages."""
    real = parsers.open_document

    def open_document(*args: Any, **kwargs: Any) -> parsers.OpenedDocument:
        document = real(*args, **kwargs)
        pages = document.pages

        def failing() -> Iterator[PageText]:
            for page in pages():
                if page.number > pages_before_failure:
                    raise CorruptDocumentError(f"page {page.number} could not be read")
                yield page

        document.pages = failing  # type: ignore[method-assign]
        return document

    return open_document


def test_a_page_failing_mid_document_leaves_no_vector_of_either_version(
    pipeline: Pipeline, corpus_bytes: Any
) -> None:
    # Given an indexed earlier version of the key
    pipeline.upload(KEY, corpus_bytes("pdflatex-4-pages.pdf"))
    assert pipeline.invoke(sqs_batch(s3_notification(KEY, sequencer="01"))) == {"batchItemFailures": []}
    assert pipeline.vectors(KEY)
    # When the new version fails on page 80, after several groups were written
    pipeline.upload(KEY, corpus_bytes(BOOK))
    pipeline.monkeypatch.setattr(parsers, "open_document", failing_after(79))
    calls = spy_writes(pipeline)

    response = pipeline.invoke(sqs_batch(s3_notification(KEY, sequencer="02")))

    # Then it is a recorded skip, and neither the old nor the partly written new vectors remain
    assert response == {"batchItemFailures": []}
    assert len([kind for kind, _ in calls if kind == "put"]) > 1
    record = pipeline.record(KEY)
    assert record is not None
    assert (record.state, record.reason) == ("skipped", "corrupt")
    assert pipeline.vectors(KEY) == []


def test_a_transient_failure_mid_document_fails_the_record_with_its_keys_covered(
    pipeline: Pipeline, corpus_bytes: Any
) -> None:
    pipeline.upload(KEY, corpus_bytes(BOOK))
    pipeline.start()
    embedder = pipeline.app.service.embedder  # type: ignore[union-attr]
    real = embedder.embed_documents
    groups = iter(range(100))

    def throttled_on_the_fourth_group(texts: Any) -> Any:
        if next(groups) == 3:
            raise TimeoutError("Bedrock did not answer")
        return real(texts)

    pipeline.monkeypatch.setattr(embedder, "embed_documents", throttled_on_the_fourth_group)

    with pytest.raises(BatchProcessingError, match="All records failed"):  # SQS retries it
        pipeline.invoke(sqs_batch(s3_notification(KEY, sequencer="01")))

    written = pipeline.vectors(KEY)
    record = pipeline.registry.get(doc_id(EVENTS_BUCKET, KEY))
    assert record is not None and written
    assert record.max_chunk_count >= len(written)  # the retry (or a delete) will find every key
    # The retry converges to the document's full, exact chunk list.
    pipeline.monkeypatch.setattr(embedder, "embed_documents", real)
    assert pipeline.invoke(sqs_batch(s3_notification(KEY, sequencer="01"))) == {"batchItemFailures": []}
    record = pipeline.record(KEY)
    assert record is not None and record.state == "indexed"
    assert len(pipeline.vectors(KEY)) == record.chunk_count


@pytest.mark.parametrize("engine", ["pypdf"])
def test_the_pure_python_engine_takes_the_same_path(
    pipeline: Pipeline, corpus_bytes: Any, engine: str
) -> None:
    pipeline.upload(KEY, corpus_bytes("pdflatex-4-pages.pdf"))
    pipeline.start(PDF_ENGINE=engine)

    assert pipeline.invoke(sqs_batch(s3_notification(KEY, sequencer="01"))) == {"batchItemFailures": []}

    record = pipeline.record(KEY)
    assert record is not None and (record.state, record.pages) == ("indexed", 4)
    assert len(pipeline.vectors(KEY)) == record.chunk_count
