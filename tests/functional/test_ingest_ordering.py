"""Ordering and idempotency: duplicates, stale events, identical and shorter re-uploads."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

import pytest

from docpipe import parsers
from tests.conftest import load_event
from tests.functional.conftest import Pipeline, s3_notification, sqs_batch

KEY = "docs/notes.txt"


def paragraphs(n: int) -> bytes:
    return "\n\n".join(f"Paragraph {i}: " + "lorem ipsum dolor sit amet " * 30 for i in range(n)).encode()


def put(sequencer: str, key: str = KEY) -> dict:  # type: ignore[type-arg]
    return sqs_batch(s3_notification(quote_plus(key), sequencer=sequencer))


def remove(sequencer: str, key: str = KEY) -> dict:  # type: ignore[type-arg]
    return sqs_batch(s3_notification(quote_plus(key), event_name="ObjectRemoved:Delete", sequencer=sequencer))


def test_reupload_with_fewer_chunks_leaves_no_stale_vectors(pipeline: Pipeline) -> None:
    pipeline.upload(KEY, paragraphs(40))
    pipeline.invoke(put("0065A1B2C3D4E50001"))
    before = len(pipeline.vectors(KEY))
    pipeline.upload(KEY, paragraphs(5))

    response = pipeline.invoke(put("0065A1B2C3D4E50002"))

    vectors = pipeline.vectors(KEY)
    assert response == {"batchItemFailures": []}
    assert before > len(vectors) > 0
    assert [int(v.key.split("#")[1]) for v in vectors] == list(range(len(vectors)))
    assert all("Paragraph 39" not in v.metadata["text"] for v in vectors)
    assert pipeline.record(KEY).chunk_count == len(vectors)  # type: ignore[union-attr]


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Wrap docpipe.parsers.open_document (the service imports it per call): the keys it opened."""
    parsed: list[str] = []
    real = parsers.open_document

    def counting(*args: Any, **kwargs: Any) -> Any:
        parsed.append(kwargs.get("key", ""))
        return real(*args, **kwargs)

    monkeypatch.setattr(parsers, "open_document", counting)
    return parsed


def test_identical_reupload_skips_parsing_and_embedding(pipeline: Pipeline) -> None:
    parsed = count_parses(pipeline.monkeypatch)
    pipeline.upload(KEY, paragraphs(10))
    pipeline.invoke(put("0065A1B2C3D4E50001"))
    assert pipeline.embedder is not None
    calls = pipeline.embedder.calls
    assert parsed == [KEY]
    pipeline.upload(KEY, paragraphs(10))

    response = pipeline.invoke(put("0065A1B2C3D4E50002"))

    assert response == {"batchItemFailures": []}
    assert parsed == [KEY]  # not parsed again
    assert pipeline.embedder.calls == calls  # nor embedded
    record = pipeline.record(KEY)
    assert record is not None and record.state == "indexed" and record.sequencer == "0065A1B2C3D4E50002"


def test_identical_reupload_points_the_vectors_at_the_new_object_version(pipeline: Pipeline) -> None:
    pipeline.upload(KEY, paragraphs(10))
    pipeline.invoke(put("0065A1B2C3D4E50001"))
    before = pipeline.vectors(KEY)
    pipeline.upload(KEY, paragraphs(10))
    current = pipeline.s3.head_object(Bucket=pipeline.names.documents_bucket, Key=KEY)["VersionId"]

    pipeline.invoke(put("0065A1B2C3D4E50002"))

    after = pipeline.vectors(KEY)
    assert {v.metadata["version"] for v in before} != {current}
    assert {v.metadata["version"] for v in after} == {current}
    assert [(v.key, v.data, v.metadata["text"]) for v in after] == [
        (v.key, v.data, v.metadata["text"]) for v in before
    ]


def test_duplicate_delivery_changes_nothing(pipeline: Pipeline) -> None:
    pipeline.upload(KEY, paragraphs(10))
    pipeline.invoke(put("0065A1B2C3D4E50001"))
    assert pipeline.embedder is not None
    calls, record = pipeline.embedder.calls, pipeline.record(KEY)

    response = pipeline.invoke(put("0065A1B2C3D4E50001"))

    assert response == {"batchItemFailures": []}
    assert pipeline.embedder.calls == calls
    assert pipeline.record(KEY) == record


def test_stale_put_after_a_newer_delete_changes_nothing(pipeline: Pipeline) -> None:
    pipeline.upload(KEY, paragraphs(10))
    pipeline.invoke(remove("0065A1B2C3D4E50009"))

    response = pipeline.invoke(put("0065A1B2C3D4E50001"))

    assert response == {"batchItemFailures": []}
    assert pipeline.record(KEY).state == "deleted"  # type: ignore[union-attr]
    assert pipeline.vectors(KEY) == []
    assert pipeline.embedder is not None and pipeline.embedder.calls == 0


def test_stale_events_files_replayed_out_of_order_change_nothing(pipeline: Pipeline, pdf_corpus) -> None:  # type: ignore[no-untyped-def]
    book = "docs/GeoTopo-komprimiert.pdf"
    pipeline.upload(book, (pdf_corpus / "GeoTopo-komprimiert.pdf").read_bytes())
    pipeline.invoke(load_event("s3_put_pdf"))
    pipeline.invoke(load_event("s3_delete_marker"))  # newest

    late_delete = pipeline.invoke(load_event("s3_delete"))["outcomes"]
    late_put = pipeline.invoke(load_event("s3_put_pdf"))["outcomes"]

    assert [o["reason"] for o in late_delete + late_put] == ["stale", "stale"]
    assert pipeline.record(book).state == "deleted"  # type: ignore[union-attr]
    assert pipeline.vectors(book) == []


def test_newer_upload_after_a_delete_is_indexed_again(pipeline: Pipeline) -> None:
    pipeline.upload(KEY, paragraphs(3))
    pipeline.invoke(put("0065A1B2C3D4E50001"))
    pipeline.invoke(remove("0065A1B2C3D4E50002"))

    pipeline.invoke(put("0065A1B2C3D4E50003"))

    assert pipeline.record(KEY).state == "indexed"  # type: ignore[union-attr]
    assert pipeline.vectors(KEY)


def test_sidecar_metadata_is_attached_and_its_upload_reindexes(pipeline: Pipeline) -> None:
    pipeline.upload(KEY, paragraphs(3))
    pipeline.upload(KEY + ".metadata.json", b'{"metadataAttributes": {"team": "geo", "year": 2024}}')
    pipeline.invoke(put("0065A1B2C3D4E50001"))
    assert {v.metadata["team"] for v in pipeline.vectors(KEY)} == {"geo"}
    pipeline.upload(KEY + ".metadata.json", b'{"metadataAttributes": {"team": "hydro"}}')

    sidecar_event = sqs_batch(s3_notification(quote_plus(KEY + ".metadata.json"), sequencer="01"))
    response = pipeline.invoke(sidecar_event)

    assert response == {"batchItemFailures": []}
    vectors = pipeline.vectors(KEY)
    assert {v.metadata["team"] for v in vectors} == {"hydro"}
    assert all("year" not in v.metadata for v in vectors)
    assert pipeline.record(KEY + ".metadata.json") is None  # a sidecar is not a document
