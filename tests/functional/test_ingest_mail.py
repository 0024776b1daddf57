"""Email and EPUB through the ingest handler on moto: real files indexed, hostile ones skipped."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from tests.format_samples import LIVE_MANUAL_EPUB, MSG_FILES_DIR, missing
from tests.functional.conftest import Pipeline, s3_notification, sqs_batch


def ingest(pipeline: Pipeline, key: str, data: bytes) -> tuple[str, str | None]:
    pipeline.upload(key, data)
    event: dict[str, Any] = sqs_batch(s3_notification(quote_plus(key), sequencer="0065A1B2C3D4E50001"))
    assert pipeline.invoke(event) == {"batchItemFailures": []}
    record = pipeline.record(key)
    assert record is not None
    return record.state, record.reason


def _sample(path: Path) -> bytes:
    if not path.exists():
        pytest.skip(missing(path))
    return path.read_bytes()


def test_an_outlook_message_and_its_attached_pdf_are_chunks_with_the_message_s_metadata(
    pipeline: Pipeline,
) -> None:
    data = _sample(MSG_FILES_DIR / "other.msg")

    assert ingest(pipeline, "mail/bounce.msg", data) == ("indexed", None)

    vectors = [v.metadata for v in pipeline.vectors("mail/bounce.msg")]
    assert {m["subject"] for m in vectors} == {"投递状态通知 (Failure Notice)"}
    assert {m["from"] for m in vectors} == {"Mail Delivery Subsystem <mailer-daemon@tjdpf.org.cn>"}
    assert {m["date"] for m in vectors} == {"2017-11-27T09:44:30Z"}
    sections = {m.get("section", "") for m in vectors}
    pdf = [s for s in sections if s.startswith("Attachment: default_attachment.eml > Attachment: ")]
    assert pdf and pdf[0].endswith(".pdf")
    assert pipeline.record("mail/bounce.msg").content_type == "application/vnd.ms-outlook"  # type: ignore[union-attr]


def test_an_epub_is_indexed_chapter_by_chapter_with_title_and_author(pipeline: Pipeline) -> None:
    data = _sample(LIVE_MANUAL_EPUB)

    assert ingest(pipeline, "books/live-manual.epub", data) == ("indexed", None)

    vectors = [v.metadata for v in pipeline.vectors("books/live-manual.epub")]
    assert {m["title"] for m in vectors} == {"Live Systems Manual"}
    assert any(m.get("section", "").startswith("1. About this manual") for m in vectors)
    assert max(m["page_end"] for m in vectors) == pipeline.record("books/live-manual.epub").pages  # type: ignore[union-attr]


def _message(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "a@example.com"
    message["Subject"] = subject
    message.set_content("A body long enough to be a chunk of its own. " * 40)
    return message


def test_a_zip_bomb_attached_to_an_email_is_too_large_with_nothing_written(pipeline: Pipeline) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * 400 * 1024 * 1024)
    message = _message("the report")
    message.add_attachment(bomb.getvalue(), maintype="application", subtype="octet-stream", filename="r.docx")

    assert ingest(pipeline, "hostile/bomb.eml", message.as_bytes()) == ("skipped", "too_large")

    assert pipeline.vectors("hostile/bomb.eml") == []


def test_a_message_nested_fifty_deep_is_too_large_with_nothing_written(pipeline: Pipeline) -> None:
    message = _message("level 0")
    for level in range(1, 51):
        outer = _message(f"level {level}")
        outer.add_attachment(message)
        message = outer

    assert ingest(pipeline, "hostile/deep.eml", message.as_bytes()) == ("skipped", "too_large")

    assert pipeline.vectors("hostile/deep.eml") == []
    assert pipeline.embedder is not None and pipeline.embedder.calls == 0
