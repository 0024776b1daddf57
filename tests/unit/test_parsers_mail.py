"""Email (.eml, .msg) and EPUB: real files written by others, and the hostile cases' defined outcomes."""

from __future__ import annotations

import base64
import io
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docpipe.exceptions import (
    SKIP_REASONS,
    CorruptDocumentError,
    DocumentTooLargeError,
    EncryptedDocumentError,
    PermanentError,
)
from docpipe.ocr.base import OcrEngine, OcrPage
from docpipe.parsers import EML, EPUB, MSG, detect_content_type, parse_document
from tests.format_samples import (
    CPYTHON_EMAIL_DIR,
    LIVE_MANUAL_EPUB,
    LIVE_MANUAL_HTML,
    MSG_FILES,
    MSG_FILES_DIR,
    cpython_messages,
    cpython_readable_messages,
    live_manual_html_text,
    message_reference,
    missing,
    msg_reference,
)
from tests.scans import word_recall

MIN_RECALL = 0.9


def _sample(path: Path) -> Path:
    if not path.exists():
        pytest.skip(missing(path))
    return path


# --- real files: CPython's email test messages -------------------------------------------------


def test_every_cpython_test_message_is_indexed_or_a_recorded_skip_never_a_crash() -> None:
    messages = cpython_messages() or pytest.skip(missing(CPYTHON_EMAIL_DIR))
    outcomes: dict[str, str] = {}
    for path in messages:
        try:
            parse_document(path.read_bytes(), key=f"mail/{path.stem}.eml")
            outcomes[path.name] = "indexed"
        except PermanentError as error:
            outcomes[path.name] = error.reason

    skipped = {name: reason for name, reason in outcomes.items() if reason != "indexed"}
    # msg_18 is headers with no body and msg_19 is a mailing-list digest's text, not a message.
    assert skipped == {"msg_18.txt": "empty_text", "msg_19.txt": "corrupt"}
    assert len(outcomes) >= 40


def test_cpython_test_messages_keep_their_words() -> None:
    messages = cpython_readable_messages()
    if not messages:
        pytest.skip(missing(CPYTHON_EMAIL_DIR))
    recalls = {}
    for path in messages:
        raw = path.read_bytes()
        try:
            text = parse_document(raw, key=f"{path.stem}.eml").text
        except PermanentError:
            continue  # the two skips above
        recalls[path.name] = word_recall(message_reference(raw.decode("latin-1")), text)

    assert len(recalls) >= 25
    assert min(recalls.values()) >= MIN_RECALL, {k: round(v, 3) for k, v in recalls.items() if v < MIN_RECALL}


def test_a_message_gives_its_headers_as_metadata_and_an_attachment_its_own_section() -> None:
    path = _sample(CPYTHON_EMAIL_DIR / "msg_07.txt")  # "Here is your dingus fish", a GIF attached

    doc = parse_document(path.read_bytes(), key="mail/fish.eml")

    first = doc.pages[0]
    assert doc.content_type == EML
    assert first.metadata["subject"] == "Here is your dingus fish"
    assert first.metadata["from"] == "Barry <barry@digicool.com>"
    assert first.metadata["date"] == "2001-04-20T23:35:02Z"  # Fri, 20 Apr 2001 19:35:02 -0400 in UTC
    assert "Attachments: dingusfish.gif" in first.text
    # The GIF is no type docpipe reads: it is named, with the reason, not dropped.
    gif = doc.pages[1]
    assert gif.sections[0].path == ("Attachment: dingusfish.gif",)
    assert "dingusfish.gif: not read (unsupported_type)" in gif.text
    assert gif.metadata["subject"] == "Here is your dingus fish"


def test_a_forwarded_message_is_read_under_its_attachment_section() -> None:
    path = _sample(CPYTHON_EMAIL_DIR / "msg_16.txt")  # a bounce: the report and the returned message

    doc = parse_document(path.read_bytes(), key="mail/bounce.eml")

    paths = [s.path for page in doc.pages for s in page.sections]
    assert ("Attachment: [scr] yeah for Ians!!.eml",) in paths
    section = ("Attachment: [scr] yeah for Ians!!.eml",)
    returned = next(p for p in doc.pages if section in [s.path for s in p.sections])
    assert "I always love to find more Ian's" in returned.text
    # Every page carries the outer message's metadata: the S3 object is the bounce.
    assert returned.metadata["subject"] == "Delivery Notification: Delivery has failed"


# --- real files: Outlook .msg (msg-parser's test files) -----------------------------------------


def test_an_outlook_message_inside_an_outlook_message_is_its_attachment() -> None:
    path = _sample(MSG_FILES_DIR / "outer.msg")

    doc = parse_document(path.read_bytes(), key="mail/outer.msg")

    assert doc.content_type == MSG
    assert [p.text.split("\n\n")[-1] for p in doc.pages] == ["Outer body", "body"]
    assert doc.pages[1].sections[0].path == ("Attachment: test",)
    assert doc.pages[1].metadata["subject"] == "outer subject"
    assert "Subject: test" in doc.pages[1].text


def test_a_pdf_attached_to_an_outlook_message_is_read_like_any_pdf() -> None:
    import olefile

    path = _sample(MSG_FILES_DIR / "other.msg")
    data = path.read_bytes()
    # The PDF's bytes, taken out of the compound file here without docpipe's reader.
    with olefile.OleFileIO(data) as ole:
        streams = ["/".join(p) for p in ole.listdir() if p[-1].upper() == "__SUBSTG1.0_37010102"]
        pdfs = [ole.openstream(s).read() for s in streams]
    pdf = next(b for b in pdfs if b.startswith(b"%PDF-"))
    alone = parse_document(pdf, key="alone.pdf")

    doc = parse_document(data, key="mail/other.msg")

    section = next(s.path for p in doc.pages for s in p.sections if s.path[-1].endswith(".pdf"))
    first = next(i for i, p in enumerate(doc.pages) if section in [s.path for s in p.sections])
    attached = doc.pages[first : first + alone.page_count]
    assert [p.text for p in attached] == [p.text for p in alone.pages]
    assert section[-1].startswith("Attachment: ")


@pytest.mark.parametrize("name", MSG_FILES)
def test_outlook_messages_keep_the_words_extract_msg_reads(name: str) -> None:
    pytest.importorskip("extract_msg", reason="extract-msg (the dev extra) is the reference reader")
    path = _sample(MSG_FILES_DIR / name)

    doc = parse_document(path.read_bytes(), key=f"mail/{name}")

    assert word_recall(msg_reference(path), doc.text) >= MIN_RECALL


# --- real files: EPUB --------------------------------------------------------------------------


def test_an_epub_is_a_page_per_chapter_with_the_book_s_title_and_author() -> None:
    path = _sample(LIVE_MANUAL_EPUB)

    doc = parse_document(path.read_bytes(), key="books/live-manual.epub")

    assert doc.content_type == EPUB
    assert doc.page_count == len(_spine_files(path))
    assert {p.metadata["title"] for p in doc.pages} == {"Live Systems Manual"}
    assert doc.pages[0].metadata["author"].startswith("Live Systems Project")
    # Each chapter opens with its name from the book's table of contents.
    opening = [p.sections[0].path for p in doc.pages[4:6]]
    assert opening == [("1. About this manual",), ("About the Live Systems Project",)]


def _spine_files(path: Path) -> list[str]:
    """The distinct files the EPUB's spine names, in order (its spine names most of them 4 times)."""
    import xml.etree.ElementTree as ET

    with zipfile.ZipFile(path) as archive:
        opf = next(n for n in archive.namelist() if n.endswith(".opf"))
        root = ET.fromstring(archive.read(opf))
    hrefs = {e.get("id"): e.get("href", "").split("#")[0] for e in root.iter() if e.tag.endswith("}item")}
    files = [hrefs[e.get("idref")] for e in root.iter() if e.tag.endswith("}itemref")]
    return list(dict.fromkeys(files))


def test_an_epub_keeps_the_words_of_the_same_book_in_html() -> None:
    path = _sample(LIVE_MANUAL_EPUB)
    _sample(LIVE_MANUAL_HTML)

    doc = parse_document(path.read_bytes(), key="books/live-manual.epub")

    assert word_recall(live_manual_html_text(), doc.text) >= MIN_RECALL


def test_an_epub_whose_spine_names_missing_files_is_corrupt() -> None:
    path = _sample(LIVE_MANUAL_EPUB)
    chapters = ["OEBPS/" + name for name in _spine_files(path)]
    with zipfile.ZipFile(path) as archive:
        kept = io.BytesIO()
        with zipfile.ZipFile(kept, "w") as out:
            for info in archive.infolist():
                if info.filename not in chapters[3:6]:
                    out.writestr(info, archive.read(info))

    with pytest.raises(CorruptDocumentError, match="spine names 3 file"):
        parse_document(kept.getvalue(), key="books/broken.epub")


def test_an_epub_whose_chapters_are_encrypted_is_encrypted_and_obfuscated_fonts_are_not() -> None:
    path = _sample(LIVE_MANUAL_EPUB)
    chapter = "OEBPS/" + _spine_files(path)[2]

    def with_encryption(algorithm: str, uri: str) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(path) as archive, zipfile.ZipFile(out, "w") as copy:
            for info in archive.infolist():
                copy.writestr(info, archive.read(info))
            copy.writestr(
                "META-INF/encryption.xml",
                '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
                f'<enc:EncryptionMethod Algorithm="{algorithm}"/><enc:CipherData>'
                f'<enc:CipherReference URI="{uri}"/></enc:CipherData></enc:EncryptedData></encryption>',
            )
        return out.getvalue()

    aes = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
    with pytest.raises(EncryptedDocumentError, match="DRM"):
        parse_document(with_encryption(aes, chapter), key="books/drm.epub")
    fonts = with_encryption("http://www.idpf.org/2008/embedding", "OEBPS/fonts/a.otf")
    assert parse_document(fonts, key="books/fonts.epub").page_count == len(_spine_files(path))


# --- sniffing ----------------------------------------------------------------------------------


def test_an_email_is_sniffed_by_its_headers_and_a_renamed_file_is_corrupt() -> None:
    head = b"Received: from x\r\nFrom: a@b.c\r\nSubject: hi\r\n\r\nbody"
    assert detect_content_type("inbox/12345", head) == EML
    with pytest.raises(CorruptDocumentError, match="RFC 822"):
        detect_content_type("mail/a.eml", b"\x00\x01binary junk")
    with pytest.raises(CorruptDocumentError, match="Outlook message"):
        detect_content_type("mail/a.msg", b"From: a@b.c\r\n\r\nnot a compound file")


def test_a_truncated_outlook_message_is_corrupt() -> None:
    data = _sample(MSG_FILES_DIR / "outer.msg").read_bytes()

    with pytest.raises(CorruptDocumentError):
        parse_document(data[: len(data) // 3], key="mail/cut.msg")


# --- hostile cases (generated) -----------------------------------------------------------------


def _message(subject: str = "hostile", body: str = "the body") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "a@example.com"
    message["To"] = "b@example.com"
    message["Subject"] = subject
    message.set_content(body)
    return message


def test_a_message_nested_fifty_deep_is_too_large() -> None:
    message = _message("level 0")
    for level in range(1, 51):
        outer = _message(f"level {level}")
        outer.add_attachment(message)
        message = outer

    with pytest.raises(DocumentTooLargeError, match="nested more than 10 deep"):
        parse_document(message.as_bytes(), key="mail/deep.eml")


def test_a_message_with_ten_thousand_attachments_is_too_large() -> None:
    part = (
        "--B\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment; filename={n}.bin\r\n\r\nx\r\n"
    )
    raw = (
        "From: a@example.com\r\nSubject: many\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nthe body\r\n"
        + "".join(part.format(n=n) for n in range(10_000))
        + "--B--\r\n"
    )

    with pytest.raises(DocumentTooLargeError, match="more than 1000 attachments"):
        parse_document(raw.encode(), key="mail/many.eml")


def test_an_attachment_that_decodes_past_max_document_bytes_is_too_large() -> None:
    message = _message()
    message.add_attachment(b"a" * 300_000, maintype="text", subtype="plain", filename="big.txt")
    raw = message.as_bytes()
    assert b"Content-Transfer-Encoding: base64" in raw

    with pytest.raises(DocumentTooLargeError, match="MAX_DOCUMENT_BYTES"):
        parse_document(raw, key="mail/big.eml", max_document_bytes=200_000)


def test_a_zip_bomb_attached_to_a_message_is_too_large() -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * 50_000_000)
    message = _message()
    message.add_attachment(bomb.getvalue(), maintype="application", subtype="octet-stream", filename="r.docx")
    assert len(message.as_bytes()) < 200_000

    with pytest.raises(DocumentTooLargeError, match="inflates to 50000"):
        parse_document(message.as_bytes(), key="mail/bomb.eml", max_inflated_bytes=10_000_000)


def test_an_s_mime_encrypted_message_is_encrypted() -> None:
    message = EmailMessage()
    message["From"] = "a@example.com"
    message["Subject"] = "secret"
    message.set_content(
        base64.b64decode("MIAGCSqGSIb3DQEHA6CAMIACAQA="),
        maintype="application",
        subtype="pkcs7-mime",
        params={"smime-type": "enveloped-data", "name": "smime.p7m"},
        filename="smime.p7m",
    )

    with pytest.raises(EncryptedDocumentError):
        parse_document(message.as_bytes(), key="mail/secret.eml")


class _CountingEngine(OcrEngine):
    """Reads every image as the same words and counts the pages it was given (no real OCR)."""

    provider = "counting"

    def recognize(self, image: Any) -> OcrPage:
        return OcrPage(text=f"recognised {image.width}x{image.height}", confidence=0.9, lines=1)


def test_the_message_s_ocr_page_budget_is_shared_by_its_attachments() -> None:
    png = _sample(CPYTHON_EMAIL_DIR / "python.png").read_bytes()
    message = _message()
    for name in ("first.png", "second.png"):
        message.add_attachment(png, maintype="image", subtype="png", filename=name)

    doc = parse_document(message.as_bytes(), key="mail/scans.eml", ocr=_CountingEngine(), ocr_max_pages=1)

    assert doc.pages[1].text.startswith("recognised") and doc.pages[1].metadata["ocr"] is True
    assert doc.pages[2].text.startswith("second.png: not read (ocr_page_limit)")


def test_an_image_attached_while_ocr_is_off_is_named_with_the_reason() -> None:
    png = _sample(CPYTHON_EMAIL_DIR / "python.png").read_bytes()
    message = _message()
    message.add_attachment(png, maintype="image", subtype="png", filename="logo.png")

    doc = parse_document(message.as_bytes(), key="mail/logo.eml")

    assert doc.pages[1].text.startswith("logo.png: not read (needs_ocr)")


def test_the_images_an_html_body_shows_are_listed_not_read() -> None:
    # Structure only (no quality claim): the two ways a body's pictures arrive, as mail clients write them.
    png = _sample(CPYTHON_EMAIL_DIR / "python.png").read_bytes()
    message = _message()
    message.add_alternative(
        "<html><body><p>See the logo</p><img src='cid:logo'></body></html>", subtype="html"
    )
    message.get_payload()[1].add_related(
        png, maintype="image", subtype="png", cid="<logo>", filename="logo.png"
    )
    message.add_attachment(png, maintype="image", subtype="png", filename="photo.png")

    doc = parse_document(message.as_bytes(), key="mail/newsletter.eml", ocr=_CountingEngine())

    assert "Attachments: photo.png" in doc.pages[0].text
    assert "Inline images (part of the body, not read): logo.png" in doc.pages[0].text
    assert [s.path for p in doc.pages for s in p.sections] == [("Attachment: photo.png",)]


# --- damaged real files ------------------------------------------------------------------------

DAMAGED_SOURCES = {
    "outer.msg": MSG_FILES_DIR / "outer.msg",
    "bounce.eml": CPYTHON_EMAIL_DIR / "msg_16.txt",
    "book.epub": LIVE_MANUAL_EPUB,
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(DAMAGED_SOURCES)),
    cut=st.floats(min_value=0.0, max_value=1.0),
    flips=st.lists(st.tuples(st.floats(min_value=0.0, max_value=0.999), st.integers(1, 255)), max_size=8),
)
def test_a_damaged_email_or_book_parses_or_is_a_permanent_skip_never_a_crash(
    name: str, cut: float, flips: list[tuple[float, int]]
) -> None:
    source = DAMAGED_SOURCES[name]
    if not source.exists():
        pytest.skip(missing(source))
    data = bytearray(source.read_bytes())
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    damaged = bytes(data[: max(1, int(cut * len(data)))]) if cut < 1.0 else bytes(data)

    try:
        doc = parse_document(damaged, key=f"damaged/{name}")
    except PermanentError as error:
        assert error.reason in SKIP_REASONS
    else:
        assert all(isinstance(page.text, str) for page in doc.pages)


def test_compressed_rtf_bodies_decompress_as_the_compressed_rtf_library_does() -> None:
    import olefile

    compressed_rtf = pytest.importorskip(
        "compressed_rtf", reason="compressed-rtf (extract-msg's) is the reference"
    )
    from docpipe.parsers.outlook import decompress_rtf

    compared = 0
    for name in MSG_FILES:
        path = _sample(MSG_FILES_DIR / name)
        with olefile.OleFileIO(str(path)) as ole:
            streams = [
                ole.openstream(p).read() for p in ole.listdir() if p[-1].upper() == "__SUBSTG1.0_10090102"
            ]
        for data in streams:
            try:
                expected = compressed_rtf.decompress(data)
            except Exception:  # noqa: BLE001 - a stream the reference refuses: so must docpipe
                with pytest.raises(CorruptDocumentError):
                    decompress_rtf(data, limit=10_000_000)
                continue
            assert decompress_rtf(data, limit=10_000_000) == expected
            compared += 1
    assert compared >= 10


def test_a_compressed_rtf_body_that_declares_more_than_max_document_bytes_is_too_large() -> None:
    import struct

    from docpipe.parsers.outlook import decompress_rtf

    header = struct.pack("<IIII", 12, 2_000_000_000, 0x75465A4C, 0)
    with pytest.raises(DocumentTooLargeError):
        decompress_rtf(header + b"\x00" * 8, limit=50_000_000)


def test_an_outlook_message_whose_sector_chain_loops_is_corrupt() -> None:
    from tests.office_files import loop_sector_chain

    data = _sample(MSG_FILES_DIR / "other.msg").read_bytes()
    looped = loop_sector_chain(data, "__substg1.0_37010102")  # the attached PDF's bytes

    with pytest.raises(CorruptDocumentError):
        parse_document(looped, key="hostile/looped.msg")
