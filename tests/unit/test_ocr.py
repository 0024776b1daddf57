"""OCR: the engines (Textract through botocore's Stubber, RapidOCR offline) and which pages reach them."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import ANY, Stubber
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from docpipe import aws
from docpipe.config import Settings
from docpipe.exceptions import (
    ConfigError,
    CorruptDocumentError,
    DocumentTooLargeError,
    NeedsOcrError,
    OcrPageLimitError,
    ThrottledError,
)
from docpipe.ocr import make_ocr_engine
from docpipe.ocr.base import OcrEngine, OcrPage
from docpipe.ocr.textract import MAX_IMAGE_SIDE, TextractEngine, encode_page
from docpipe.parsers import JPEG, PDF, PNG, TIFF, detect_content_type, open_document, parse_document
from docpipe.parsers.scan import NEGLIGIBLE_TEXT_CHARS, negligible
from tests.conftest import NO_NETWORK_PRELUDE, ROOT
from tests.scans import (
    RECALL_PAGES,
    encoded,
    image_only_pdf,
    needs_rapidocr,
    render,
    text_layer,
    word_recall,
)

LOW_DPI = 60  # routing tests only look at which pages reach the engine: small images suffice


class RecordingEngine(OcrEngine):
    """An engine that reports the size of each image it was given (routing tests, no real OCR)."""

    provider = "recording"

    def __init__(self, concurrency: int = 2, fail_on: int | None = None) -> None:
        super().__init__()
        self.concurrency = concurrency
        self.seen: list[tuple[int, int]] = []
        self._fail_on = fail_on
        self._lock = threading.Lock()

    def recognize(self, image: Any) -> OcrPage:
        with self._lock:
            self.seen.append(image.size)
            call = len(self.seen)
        if call == self._fail_on:
            raise CorruptDocumentError("engine cannot read the page image (test)")
        return OcrPage(text=f"recognised {image.width}x{image.height}", confidence=0.9, lines=1)


def _textract_client() -> Any:
    return botocore.session.get_session().create_client("textract", region_name="us-east-1")


def _lines(*texts: str) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"BlockType": "PAGE", "Id": "p"}]
    for n, text in enumerate(texts):
        blocks.append({"BlockType": "LINE", "Id": f"l{n}", "Text": text, "Confidence": 90.0 + n})
        blocks += [{"BlockType": "WORD", "Id": f"w{n}{i}", "Text": w} for i, w in enumerate(text.split())]
    return {"Blocks": blocks, "DocumentMetadata": {"Pages": 1}}


# ---------------------------------------------------------------- Textract


def test_textract_reads_the_lines_of_a_page_in_order() -> None:
    client = _textract_client()
    page = render("crazyones-pdfa.pdf", 0, dpi=LOW_DPI)
    with Stubber(client) as stub:
        stub.add_response("detect_document_text", _lines("Here's to the crazy ones.", "The misfits."),
                          {"Document": {"Bytes": ANY}})  # fmt: skip

        result = TextractEngine(client).recognize(page)

        stub.assert_no_pending_responses()
    assert result.text == "Here's to the crazy ones.\nThe misfits."
    assert result.lines == 2
    assert result.confidence == pytest.approx(0.905)


def test_textract_throttled_past_the_retry_mode_is_transient_and_the_next_attempt_succeeds() -> None:
    # The Stubber answers before botocore's retry loop: this is the state after the retry mode
    # gave up. The page fails as transient (the SQS record is retried); the retry then succeeds.
    client = _textract_client()
    engine = TextractEngine(client)
    page = render("crazyones-pdfa.pdf", 0, dpi=LOW_DPI)
    with Stubber(client) as stub:
        stub.add_client_error("detect_document_text", "ThrottlingException", http_status_code=400)
        stub.add_response("detect_document_text", _lines("The round pegs in the square holes."))

        with pytest.raises(ThrottledError):
            engine.recognize(page)
        assert engine.recognize(page).text == "The round pegs in the square holes."


def test_textract_throttling_is_retried_by_the_clients_retry_mode() -> None:
    # docpipe.aws's client (adaptive retry mode): two throttled answers, then the page.
    client = aws.client("textract", region="us-east-1")
    answers = [_http(400, b'{"__type": "ThrottlingException", "message": "slow down"}')] * 2
    answers.append(_http(200, b'{"Blocks": [{"BlockType": "LINE", "Text": "ok", "Confidence": 99.0}]}'))
    sent: list[int] = []

    def send(request: Any, **_: Any) -> AWSResponse:
        sent.append(1)
        return answers[len(sent) - 1]

    client.meta.events.register("before-send.textract.DetectDocumentText", send)

    result = TextractEngine(client).recognize(Image.new("L", (40, 40), 255))

    assert result.text == "ok"
    assert len(sent) == 3


def _http(status: int, body: bytes) -> AWSResponse:
    raw = _Raw(body)
    return AWSResponse("https://textract.us-east-1.amazonaws.com/", status, {}, raw)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = io.BytesIO(body)

    def stream(self, **_: Any) -> Any:
        yield self._body.read()


@pytest.mark.parametrize("code", ["UnsupportedDocumentException", "BadDocumentException"])
def test_textract_unreadable_page_is_a_permanent_corrupt_skip(code: str) -> None:
    client = _textract_client()
    with Stubber(client) as stub:
        stub.add_client_error("detect_document_text", code, http_status_code=400)

        with pytest.raises(CorruptDocumentError, match=code) as caught:
            TextractEngine(client).recognize(Image.new("L", (40, 40), 255))

    assert caught.value.reason == "corrupt"


def test_textract_pages_go_as_png_under_the_sync_size_limit() -> None:
    # A noisy colour photo does not compress: it must still arrive under the limit given.
    noise = Image.frombytes("RGB", (900, 900), os.urandom(900 * 900 * 3))

    data = encode_page(noise, max_bytes=200_000)
    small = encode_page(render("crazyones-pdfa.pdf", 0, dpi=LOW_DPI))

    assert len(data) <= 200_000
    assert small.startswith(b"\x89PNG")


def test_textract_pages_larger_than_its_pixel_limit_are_scaled_down() -> None:
    wide = Image.new("L", (MAX_IMAGE_SIDE + 2000, 50), 255)

    with Image.open(io.BytesIO(encode_page(wide))) as sent:
        assert max(sent.size) <= MAX_IMAGE_SIDE


# ---------------------------------------------------------------- engine choice


def test_ocr_is_off_unless_chosen() -> None:
    assert Settings().ocr_provider == "none"
    assert make_ocr_engine(Settings()) is None


def test_textract_and_rapidocr_providers_build_their_engines() -> None:
    textract = make_ocr_engine(Settings(ocr_provider="textract"), textract_client=_textract_client())

    assert isinstance(textract, TextractEngine)
    if not _has_rapidocr():
        pytest.skip("the ocr extra is not installed")
    assert make_ocr_engine(Settings(ocr_provider="rapidocr")).provider == "rapidocr"  # type: ignore[union-attr]


def test_an_unknown_provider_or_page_limit_fails_naming_the_variable() -> None:
    with pytest.raises(
        ConfigError, match="^OCR_PROVIDER='tesseract' is invalid; allowed: textract, rapidocr, none"
    ):
        Settings.from_env({"OCR_PROVIDER": "tesseract"})
    with pytest.raises(ConfigError, match="^OCR_MAX_PAGES=0"):
        Settings.from_env({"OCR_MAX_PAGES": "0"})


def _has_rapidocr() -> bool:
    from tests.scans import HAS_RAPIDOCR

    return HAS_RAPIDOCR


# ---------------------------------------------------------------- which pages are OCR'd


def _mixed_pdf() -> bytes:
    """Page 1 of crazyones with its text layer, then the same page as an image only."""
    import pypdfium2 as pdfium

    text = pdfium.PdfDocument(ROOT.parent / "shared" / "corpus" / "pdf" / "crazyones-pdfa.pdf")
    scan = pdfium.PdfDocument(image_only_pdf([render("crazyones-pdfa.pdf", 0, dpi=LOW_DPI)], dpi=LOW_DPI))
    try:
        text.import_pages(scan)
        out = io.BytesIO()
        text.save(out)
        return out.getvalue()
    finally:
        scan.close()
        text.close()


@pytest.mark.parametrize("engine_name", ["pypdfium2", "pypdf"])
def test_a_mixed_pdf_keeps_its_text_pages_and_ocrs_only_the_scanned_one(engine_name: str) -> None:
    engine = RecordingEngine()

    doc = parse_document(_mixed_pdf(), key="mixed.pdf", pdf_engine=engine_name, ocr=engine)

    first, second = doc.pages
    assert "crazy ones" in first.text and "ocr" not in first.metadata
    assert second.text.startswith("recognised") and second.metadata == {"ocr": True}
    assert len(engine.seen) == 1


def test_a_scanned_page_with_a_stray_hidden_word_is_still_ocrd() -> None:
    scan = image_only_pdf(
        [render("crazyones-pdfa.pdf", 0, dpi=LOW_DPI)], dpi=LOW_DPI, hidden_text="Background"
    )
    engine = RecordingEngine()

    (page,) = parse_document(scan, key="scan.pdf", ocr=engine).pages

    assert page.text.startswith("recognised") and page.metadata["ocr"] is True


def test_scanned_pages_are_rendered_at_scan_resolution() -> None:
    scan = image_only_pdf([render("crazyones-pdfa.pdf", 0, dpi=LOW_DPI)], dpi=LOW_DPI)
    engine = RecordingEngine()

    parse_document(scan, key="scan.pdf", ocr=engine)

    (size,) = engine.seen
    assert size == pytest.approx((1700, 2200), abs=2)  # US Letter at 200 DPI


def test_a_scan_without_an_ocr_engine_is_needs_ocr_not_empty_text() -> None:
    scan = image_only_pdf(
        [render("crazyones-pdfa.pdf", 0, dpi=LOW_DPI)], dpi=LOW_DPI, hidden_text="Background"
    )

    with pytest.raises(NeedsOcrError, match="page 1") as caught:
        parse_document(scan, key="scan.pdf")

    assert caught.value.reason == "needs_ocr"


@pytest.mark.parametrize("engine_name", ["pypdfium2", "pypdf"])
def test_more_scanned_pages_than_the_limit_are_refused_before_any_is_sent(engine_name: str) -> None:
    image = render("crazyones-pdfa.pdf", 0, dpi=LOW_DPI)
    scan = image_only_pdf([image, image, image], dpi=LOW_DPI)
    engine = RecordingEngine()

    with pytest.raises(OcrPageLimitError, match="3 pages need OCR; OCR_MAX_PAGES allows 2") as caught:
        parse_document(scan, key="scan.pdf", pdf_engine=engine_name, ocr=engine, ocr_max_pages=2)

    assert caught.value.reason == "ocr_page_limit"
    assert engine.seen == []


def test_a_page_the_engine_cannot_read_fails_the_document_naming_the_page() -> None:
    image = render("crazyones-pdfa.pdf", 0, dpi=LOW_DPI)
    scan = image_only_pdf([image, image, image], dpi=LOW_DPI)

    with pytest.raises(CorruptDocumentError, match="scan.pdf: page 2: engine cannot read"):
        parse_document(scan, key="scan.pdf", ocr=RecordingEngine(concurrency=1, fail_on=2))


def test_text_pdfs_never_reach_the_engine(pdf_corpus: Path) -> None:
    engine = RecordingEngine()
    for path in sorted(pdf_corpus.glob("*.pdf")):
        if path.name in ("libreoffice-writer-password.pdf", "unreadablemetadata.pdf"):
            continue
        parse_document(path.read_bytes(), key=path.name, ocr=engine)

    assert engine.seen == []


# ---------------------------------------------------------------- image files


@pytest.mark.parametrize(("kind", "suffix", "content_type"), [("PNG", ".png", PNG), ("JPEG", ".jpg", JPEG)])
def test_an_image_file_is_one_ocrd_page(kind: str, suffix: str, content_type: str) -> None:
    data = encoded(render("crazyones-pdfa.pdf", 0, dpi=LOW_DPI).convert("RGB"), kind)
    engine = RecordingEngine()

    doc = parse_document(data, key=f"photo{suffix}", ocr=engine)

    assert doc.content_type == content_type
    (page,) = doc.pages
    assert page.metadata == {"ocr": True} and page.text.startswith("recognised")


def test_a_multi_page_tiff_is_ocrd_page_by_page_in_order() -> None:
    sizes = [(300, 400), (310, 410), (320, 420)]
    frames = [Image.new("L", size, 255) for size in sizes]
    data = encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    engine = RecordingEngine(concurrency=2)

    doc = parse_document(data, key="fax.tiff", ocr=engine)

    assert doc.content_type == TIFF and doc.page_count == 3
    assert [p.text for p in doc.pages] == [f"recognised {w}x{h}" for w, h in sizes]
    assert [p.number for p in doc.pages] == [1, 2, 3]


def test_an_image_needs_an_engine_and_respects_the_page_limit() -> None:
    frames = [Image.new("L", (50, 50), 255)] * 3
    tiff = encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:])

    with pytest.raises(NeedsOcrError):
        open_document(encoded(frames[0], "PNG"), key="a.png")
    with pytest.raises(OcrPageLimitError):
        open_document(tiff, key="a.tif", ocr=RecordingEngine(), ocr_max_pages=2)


def test_image_types_are_sniffed_from_their_bytes() -> None:
    png = encoded(Image.new("L", (8, 8)), "PNG")

    assert detect_content_type("scan", png) == PNG
    assert detect_content_type("scan.tiff", encoded(Image.new("L", (8, 8)), "JPEG")) == JPEG
    assert detect_content_type("renamed.jpg", png) == PNG
    assert detect_content_type("scan.png", b"%PDF-1.7\n") == PDF
    with pytest.raises(CorruptDocumentError, match="named as an image"):
        detect_content_type("photo.png", b"not an image at all")


def test_a_truncated_image_is_corrupt_and_a_huge_one_too_large() -> None:
    png = encoded(render("crazyones-pdfa.pdf", 0, dpi=LOW_DPI), "PNG")
    # A valid header that declares 20,000 x 20,000 pixels (400 megapixels).
    bomb = encoded(Image.new("1", (20_000, 20_000)), "PNG")

    with pytest.raises(CorruptDocumentError):
        parse_document(png[: len(png) // 2], key="cut.png", ocr=RecordingEngine())
    with pytest.raises(DocumentTooLargeError):
        parse_document(bomb, key="bomb.png", ocr=RecordingEngine())


# ---------------------------------------------------------------- imports stay lazy


def test_a_text_pdf_does_not_import_the_ocr_stack(pdf_corpus: Path) -> None:
    script = f"""
import sys
from docpipe.config import Settings
from docpipe.ocr import make_ocr_engine
from docpipe.parsers import parse_document
engine = make_ocr_engine(Settings(ocr_provider="rapidocr"))
parse_document(open({str(pdf_corpus / "pdflatex-4-pages.pdf")!r}, "rb").read(), key="t.pdf", ocr=engine)
print(sorted(m for m in ("PIL", "rapidocr", "onnxruntime", "cv2", "numpy") if m in sys.modules))
"""
    if not _has_rapidocr():
        pytest.skip("the ocr extra is not installed")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "docpipe")}

    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- RapidOCR, offline


def _refuse(*_: Any, **__: Any) -> Any:
    raise OSError("network disabled for this test")


@pytest.mark.ocr
@needs_rapidocr
def test_offline_ocr_recovers_nine_in_ten_words_of_scanned_corpus_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import docpipe.ocr.rapidocr as rapid

    # Given no way to open a connection, and the process-wide engine forgotten
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    monkeypatch.setattr(rapid, "_engine", None)
    engine = make_ocr_engine(Settings(ocr_provider="rapidocr"))

    # When each page, rendered at scan resolution, is saved as an image-only PDF and parsed
    recalls = {}
    for name, index in RECALL_PAGES:
        scan = image_only_pdf([render(name, index)])
        (page,) = parse_document(scan, key=f"{name}.scan.pdf", ocr=engine).pages
        assert page.metadata == {"ocr": True}
        recalls[(name, index + 1)] = word_recall(text_layer(name, index), page.text)

    # Then at least 90% of each page's words are read, from the models in the wheel
    assert min(recalls.values()) >= 0.9, recalls
    assert rapid._engine is not None


@pytest.mark.ocr
@needs_rapidocr
def test_offline_ocr_needs_no_network_in_a_fresh_interpreter(tmp_path: Path) -> None:
    # A fresh process with an empty HOME: no model cached anywhere else is used, no socket opened.
    crop = render("crazyones-pdfa.pdf", 0).crop((0, 0, 1700, 420))
    image_file = tmp_path / "title.png"
    crop.save(image_file)
    script = (
        NO_NETWORK_PRELUDE
        + f"""
from docpipe.config import Settings
from docpipe.ocr import make_ocr_engine
from docpipe.parsers import parse_document
engine = make_ocr_engine(Settings(ocr_provider="rapidocr"))
print(parse_document(open({str(image_file)!r}, "rb").read(), key="title.png", ocr=engine).text)
"""
    )
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "layers" / "docpipe")}

    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stderr
    reference = text_layer("crazyones-pdfa.pdf", 0).split("\n")[0]  # the title line is in the crop
    assert word_recall(reference, result.stdout) >= 0.9, (reference, result.stdout)


@given(st.text(alphabet=st.sampled_from(" \t\n\u00a0\u2003\u3000xÄ.7"), max_size=60))
def test_a_negligible_page_is_one_with_fewer_than_sixteen_visible_characters(text: str) -> None:
    visible = sum(1 for c in text if not c.isspace())
    assert negligible(text) is (visible < NEGLIGIBLE_TEXT_CHARS)
