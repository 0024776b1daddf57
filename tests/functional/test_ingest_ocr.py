"""Scans and images through IngestFunction on moto: OCR'd (RapidOCR, stubbed Textract) or skipped."""

from __future__ import annotations

import json

import botocore.session
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.stub import Stubber

from docpipe.ocr.textract import TextractEngine
from tests.functional.conftest import Pipeline, s3_notification, sqs_batch
from tests.scans import encoded, image_only_pdf, needs_rapidocr, render, text_layer, word_recall

SCAN = "scans/crazyones-scan.pdf"
PHOTO = "scans/zen-of-python.png"


TOP = (0, 0, 1700, 760)  # the top third of the page (title and first lines): a cheap page to OCR


def _scan(pages: int = 1) -> bytes:
    image = render("crazyones-pdfa.pdf", 0).crop(TOP)
    return image_only_pdf([image] * pages)


def _top_lines(count: int = 4) -> str:
    return "\n".join(text_layer("crazyones-pdfa.pdf", 0).splitlines()[:count])


def _put(pipeline: Pipeline, key: str, data: bytes, sequencer: str = "0066000000000000A1") -> dict:
    pipeline.upload(key, data)
    return pipeline.invoke(s3_notification(key, sequencer=sequencer, size=len(data)))


@pytest.mark.ocr
@needs_rapidocr
def test_a_scanned_pdf_is_indexed_from_offline_ocr_with_ocr_chunks(pipeline: Pipeline) -> None:
    pipeline.start(OCR_PROVIDER="rapidocr")

    response = _put(pipeline, SCAN, _scan())

    [outcome] = response["outcomes"]
    assert (outcome["state"], outcome["ocr_pages"]) == ("indexed", 1)
    record = pipeline.record(SCAN)
    assert record is not None and (record.state, record.ocr_pages) == ("indexed", 1)
    vectors = pipeline.vectors(SCAN)
    assert vectors and all(v.metadata["ocr"] is True for v in vectors)
    text = "\n".join(v.metadata["text"] for v in vectors)
    assert word_recall(_top_lines(), text) >= 0.9


@pytest.mark.ocr
@needs_rapidocr
def test_a_png_is_indexed_from_offline_ocr(pipeline: Pipeline) -> None:
    # The top of the page (title and first lines) keeps the CPU cost of this test small.
    crop = render("google-doc-document.pdf", 0).crop((0, 0, 1654, 700))
    pipeline.start(OCR_PROVIDER="rapidocr")

    response = _put(pipeline, PHOTO, encoded(crop, "PNG"))

    [outcome] = response["outcomes"]
    assert outcome["state"] == "indexed" and outcome["ocr_pages"] == 1
    [vector] = pipeline.vectors(PHOTO)
    assert vector.metadata["ocr"] is True and vector.metadata["content_type"] == "image/png"
    assert "beautiful is better than ugly" in vector.metadata["text"].lower()


def test_a_scanned_pdf_without_an_ocr_provider_is_skipped_as_needs_ocr(pipeline: Pipeline) -> None:
    pipeline.start(OCR_PROVIDER="none")

    response = _put(pipeline, SCAN, _scan())

    [outcome] = response["outcomes"]
    assert (outcome["state"], outcome["reason"]) == ("skipped", "needs_ocr")
    record = pipeline.record(SCAN)
    assert record is not None and (record.state, record.reason) == ("skipped", "needs_ocr")
    assert pipeline.vectors(SCAN) == []


def test_more_scanned_pages_than_ocr_max_pages_are_skipped_before_any_ocr(pipeline: Pipeline) -> None:
    app = pipeline.start(OCR_PROVIDER="textract", OCR_MAX_PAGES="1")
    client = botocore.session.get_session().create_client("textract", region_name="us-east-1")
    app.service.ocr = TextractEngine(client)

    with Stubber(client) as stub:  # no response queued: any Textract call would fail the test
        response = _put(pipeline, SCAN, _scan(pages=2))
        stub.assert_no_pending_responses()

    [outcome] = response["outcomes"]
    assert (outcome["state"], outcome["reason"]) == ("skipped", "ocr_page_limit")
    assert pipeline.vectors(SCAN) == []


def _textract_lines(text: str) -> dict:
    lines = [line for line in text.splitlines() if line.strip()]
    return {"Blocks": [{"BlockType": "LINE", "Text": line, "Confidence": 99.0} for line in lines]}


def test_textract_throttling_fails_the_record_and_its_redelivery_indexes_it(pipeline: Pipeline) -> None:
    app = pipeline.start(OCR_PROVIDER="textract")
    client = botocore.session.get_session().create_client("textract", region_name="us-east-1")
    app.service.ocr = TextractEngine(client)
    data = _scan()
    pipeline.upload(SCAN, data)
    batch = sqs_batch(s3_notification(SCAN, sequencer="0066000000000000A1", size=len(data)))
    page_text = _top_lines()

    with Stubber(client) as stub:
        stub.add_client_error(
            "detect_document_text", "ProvisionedThroughputExceededException", http_status_code=400
        )
        stub.add_response("detect_document_text", _textract_lines(page_text))

        # Every record of the batch failed: Powertools raises, so Lambda retries the batch.
        with pytest.raises(BatchProcessingError, match="All records failed"):
            pipeline.invoke(batch)
        assert pipeline.record(SCAN).state != "indexed"  # type: ignore[union-attr]
        second = pipeline.invoke(batch)

    assert second == {"batchItemFailures": []}
    record = pipeline.record(SCAN)
    assert record is not None and (record.state, record.ocr_pages) == ("indexed", 1)
    vectors = pipeline.vectors(SCAN)
    assert all(v.metadata["ocr"] for v in vectors)
    assert "to the crazy ones" in vectors[0].metadata["text"]


def test_a_page_textract_cannot_read_skips_the_document_with_its_reason(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    app = pipeline.start(OCR_PROVIDER="textract")
    client = botocore.session.get_session().create_client("textract", region_name="us-east-1")
    app.service.ocr = TextractEngine(client)

    with Stubber(client) as stub:
        stub.add_client_error("detect_document_text", "UnsupportedDocumentException", http_status_code=400)
        response = _put(pipeline, SCAN, _scan())

    [outcome] = response["outcomes"]
    assert (outcome["state"], outcome["reason"]) == ("skipped", "corrupt")
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    skip = next(entry for entry in logged if entry.get("message") == "document skipped")
    assert "page 1" in skip["detail"] and "UnsupportedDocumentException" in skip["detail"]
