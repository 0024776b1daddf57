"""OCR on the local stack: an image-only PDF uploaded through the S3 API is read by the offline engine.

The stack runs as ``docpipe local up`` and ``make demo`` run it (samconfig.toml's ``local``
parameters, ``OcrProvider=rapidocr``), from the host build, whose IngestFunction layer carries the
``ocr`` requirements (docpipe_cli.local.build). Nothing here imports the engine: it runs in the
function's sandbox, with only what the built layers hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from docpipe_cli import cli
from docpipe_cli.local.session import LocalSession
from tests.conftest import PDF_CORPUS_DIR, ROOT
from tests.scans import image_only_pdf, render, text_layer, words

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.ocr, pytest.mark.timeout(600)]

SCANNED = "google-doc-document.pdf"  # one page: the Zen of Python, exported from Google Docs
SCAN_KEY = "scans/zen-of-python.pdf"
OTHER = "crazyones-pdfa.pdf"  # a text PDF beside it, so the search has a choice
# "Namespaces are one honking great idea": on the scanned page, not in OTHER
OCR_WORDS = ("honking", "namespaces")


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    session = LocalSession(ROOT, workers=2, log=lambda _line: None)
    session.start()
    try:
        assert session.local is not None and session.poller is not None
        local = session.local
        bucket = local.outputs["DocumentsBucketName"]
        s3 = session.client("s3")
        s3.put_object(Bucket=bucket, Key=SCAN_KEY, Body=image_only_pdf([render(SCANNED, 0)]))
        s3.put_object(Bucket=bucket, Key=f"docs/{OTHER}", Body=(PDF_CORPUS_DIR / OTHER).read_bytes())
        drained = session.poller.wait_until_drained(timeout=420)
        target = cli.Target(local.endpoint, local.region, None, {}, local, local.parameters)
        target.names.update(
            documents_table=local.outputs["DocumentsTableName"],
            vector_bucket=local.outputs["VectorBucketName"],
            vector_index=local.outputs["VectorIndexName"],
        )
        yield {"session": session, "local": local, "target": target, "drained": drained}
    finally:
        session.stop()


def _chunks_of(stack: dict[str, Any], key: str) -> list[dict[str, Any]]:
    client = stack["session"].client("s3vectors")
    kwargs: dict[str, Any] = {
        "vectorBucketName": stack["local"].outputs["VectorBucketName"],
        "indexName": stack["local"].outputs["VectorIndexName"],
        "returnMetadata": True,
    }
    found: list[dict[str, Any]] = []
    while True:
        page = client.list_vectors(**kwargs)
        found += [v["metadata"] for v in page.get("vectors", []) if v["metadata"].get("key") == key]
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]


def test_the_local_stack_runs_the_offline_ocr_engine(stack: dict[str, Any]) -> None:
    assert stack["local"].parameters["OcrProvider"] == "rapidocr"


def test_an_image_only_pdf_uploaded_through_s3_is_indexed_from_its_ocrd_page(stack: dict[str, Any]) -> None:
    assert stack["drained"]
    record = {r.key: r for r in cli.documents(stack["target"])}[SCAN_KEY]
    chunks = _chunks_of(stack, SCAN_KEY)

    assert (record.state, record.reason or None) == ("indexed", None)
    assert (record.pages, record.ocr_pages) == (1, 1)
    assert chunks and all(chunk.get("ocr") is True for chunk in chunks)
    assert set(OCR_WORDS) <= set(words(" ".join(str(chunk["text"]) for chunk in chunks)))  # read by OCR


def test_a_word_only_the_scan_holds_finds_it_first(stack: dict[str, Any]) -> None:
    # Given words of the scanned page's text layer that the other document lacks
    assert set(OCR_WORDS) <= set(words(text_layer(SCANNED, 0)))
    assert not set(OCR_WORDS) & set(words(text_layer(OTHER, 0)))

    # When the index is searched for them
    result = cli.search(stack["target"], " ".join(OCR_WORDS), k=2)

    # Then the scan, whose only text is what the OCR read, is the top match
    assert result.matches[0].metadata["key"] == SCAN_KEY
