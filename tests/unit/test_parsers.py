"""parse_document / detect_content_type on the real PDF corpus and on generated text, HTML, DOCX."""

from __future__ import annotations

import io
import json
import logging
import random
import threading
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from docpipe.exceptions import (
    CorruptDocumentError,
    EmptyTextError,
    EncryptedDocumentError,
    UnsupportedTypeError,
)
from docpipe.parsers import (
    DOCX,
    HTML,
    MARKDOWN,
    PDF,
    TEXT,
    PageText,
    ParsedDocument,
    clean_text,
    detect_content_type,
    open_document,
    parse_document,
)

ENGINES = ("pypdfium2", "pypdf")
ENCRYPTED = "libreoffice-writer-password.pdf"
# Neither PDFium nor pypdf can open it (broken /Pages tree and xref; files.json still says 4 pages).
UNREADABLE = "unreadablemetadata.pdf"
PASSWORD = "openpassword"


@cache
def parse_corpus_file(path: Path, engine: str) -> ParsedDocument:
    """Parsed once per engine for the whole module: pypdf needs ~5 s for the 117-page book."""
    return parse_document(path.read_bytes(), key=path.name, pdf_engine=engine)


def corpus_files(pdf_corpus: Path) -> list[dict[str, object]]:
    return json.loads((pdf_corpus / "files.json").read_text())["files"]


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    document.add_paragraph("After the table.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- PDF on the real corpus --------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_every_unencrypted_corpus_pdf_parses_with_its_recorded_page_count(
    pdf_corpus: Path, engine: str
) -> None:
    for entry in corpus_files(pdf_corpus):
        if entry["encrypted"] or entry["file"] == UNREADABLE:
            continue
        doc = parse_corpus_file(pdf_corpus / str(entry["file"]), engine)

        assert doc.content_type == PDF
        assert doc.page_count == entry["pages"], entry["file"]
        assert [p.number for p in doc.pages] == list(range(1, doc.page_count + 1))


@pytest.mark.parametrize("engine", ENGINES)
def test_the_corpus_pdf_with_a_broken_page_tree_is_corrupt_for_both_engines(
    pdf_corpus: Path, engine: str
) -> None:
    data = (pdf_corpus / UNREADABLE).read_bytes()

    with pytest.raises(CorruptDocumentError, match="not a readable PDF") as caught:
        parse_document(data, key=UNREADABLE, pdf_engine=engine)

    assert caught.value.reason == "corrupt"


@pytest.mark.parametrize("engine", ENGINES)
def test_the_117_page_book_keeps_its_page_numbers_and_text(pdf_corpus: Path, engine: str) -> None:
    doc = parse_corpus_file(pdf_corpus / "GeoTopo-komprimiert.pdf", engine)

    assert doc.page_count == 117
    assert "METRISCHE RÄUME" in doc.pages[9].text  # page 10 of the book
    assert "Topologie" in doc.text


@pytest.mark.parametrize("engine", ENGINES)
def test_encrypted_pdf_without_password_is_an_encrypted_skip(pdf_corpus: Path, engine: str) -> None:
    data = (pdf_corpus / ENCRYPTED).read_bytes()

    with pytest.raises(EncryptedDocumentError, match="no password") as caught:
        parse_document(data, key=ENCRYPTED, pdf_engine=engine)

    assert caught.value.reason == "encrypted"


@pytest.mark.parametrize("engine", ENGINES)
def test_encrypted_pdf_with_a_wrong_password_says_the_password_was_rejected(
    pdf_corpus: Path, engine: str
) -> None:
    data = (pdf_corpus / ENCRYPTED).read_bytes()

    with pytest.raises(EncryptedDocumentError, match="rejected"):
        parse_document(data, key=ENCRYPTED, pdf_engine=engine, password="not-it")


@pytest.mark.parametrize("engine", ENGINES)
def test_encrypted_pdf_opens_with_its_user_password(pdf_corpus: Path, engine: str) -> None:
    data = (pdf_corpus / ENCRYPTED).read_bytes()

    doc = parse_document(data, key=ENCRYPTED, pdf_engine=engine, password=PASSWORD)

    assert doc.page_count == 1
    assert "Lorem ipsum" in doc.pages[0].text


@pytest.mark.parametrize("engine", ENGINES)
def test_garbage_after_a_pdf_header_is_corrupt(engine: str) -> None:
    with pytest.raises(CorruptDocumentError) as caught:
        parse_document(b"%PDF-1.7\n" + bytes(range(256)) * 10, key="x.pdf", pdf_engine=engine)

    assert caught.value.reason == "corrupt"


@pytest.mark.parametrize("engine", ENGINES)
def test_truncated_pdf_is_corrupt_not_a_crash(pdf_corpus: Path, engine: str) -> None:
    data = (pdf_corpus / "pdflatex-4-pages.pdf").read_bytes()[:600]

    with pytest.raises((CorruptDocumentError, EmptyTextError)):
        parse_document(data, key="cut.pdf", pdf_engine=engine)


def test_pypdf_font_warnings_are_silenced(pdf_corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given a PDF/A whose fonts make pypdf log warnings (the book logs ~1400 of them)
    data = (pdf_corpus / "crazyones-pdfa.pdf").read_bytes()
    caplog.set_level(logging.WARNING)

    # When it is parsed with the pypdf engine
    parse_document(data, key="crazyones-pdfa.pdf", pdf_engine="pypdf")

    # Then no pypdf record reaches the logs, while pypdf errors would still pass
    assert [r for r in caplog.records if r.name.startswith("pypdf")] == []
    assert logging.getLogger("pypdf").getEffectiveLevel() == logging.ERROR


def test_pypdf_would_warn_about_those_fonts_if_not_silenced(
    pdf_corpus: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The previous test only means something if the book really triggers pypdf warnings.
    monkeypatch.setattr(logging.getLogger("pypdf"), "level", logging.WARNING)
    caplog.set_level(logging.WARNING)

    parse_document((pdf_corpus / "crazyones-pdfa.pdf").read_bytes(), key="c.pdf", pdf_engine="pypdf")

    assert any(r.name.startswith("pypdf") for r in caplog.records)


def test_unknown_pdf_engine_is_rejected(pdf_corpus: Path) -> None:
    with pytest.raises(ValueError, match="pdf_engine"):
        parse_document((pdf_corpus / "minimal-document.pdf").read_bytes(), key="a.pdf", pdf_engine="tika")


def test_a_file_object_parses_like_bytes(pdf_corpus: Path) -> None:
    path = pdf_corpus / "pdflatex-4-pages.pdf"

    with path.open("rb") as handle:
        from_file = parse_document(handle, key="a.pdf")

    assert from_file == parse_document(path.read_bytes(), key="a.pdf")


def test_pdfium_joins_words_hyphenated_across_lines(pdf_corpus: Path) -> None:
    doc = parse_corpus_file(pdf_corpus / "GeoTopo-komprimiert.pdf", "pypdfium2")

    assert "\ufffe" not in doc.text and "\r" not in doc.text
    assert "Übungsaufgaben" in doc.text


# --- plain text and Markdown -------------------------------------------------------------------


def test_latin1_text_is_decoded_with_its_accents() -> None:
    data = "Grüße aus Köln, déjà vu, façade. Ein schöner Tag für Bücher.".encode("latin-1")

    doc = parse_document(data, key="notes.txt")

    assert doc.content_type == TEXT
    assert "Grüße aus Köln" in doc.pages[0].text


def test_utf16_with_bom_is_decoded() -> None:
    data = "Hello, 世界 — utf-16 text".encode("utf-16")  # Python writes the BOM

    doc = parse_document(data, key="notes.txt")

    assert doc.pages[0].text == "Hello, 世界 — utf-16 text"


def test_random_bytes_named_txt_decode_without_crashing() -> None:
    data = random.Random(7).randbytes(4096)

    doc = parse_document(data, key="noise.txt")

    assert doc.content_type == TEXT
    assert isinstance(doc.pages[0].text, str)
    assert "\x00" not in doc.pages[0].text


def test_stray_invalid_bytes_in_utf8_text_are_replaced_and_the_rest_stays_utf8() -> None:
    data = "Grüße aus Köln, déjà vu, café.".encode() + b" \xff\xfe broken " + "naïve".encode()

    doc = parse_document(data, key="a.txt")

    assert doc.pages[0].text == "Grüße aus Köln, déjà vu, café. \ufffd\ufffd broken naïve"


def test_cp1252_text_is_not_mistaken_for_damaged_utf8() -> None:
    data = "Ein schöner Tag für Bücher – „Anführungszeichen“ und Grüße.".encode("cp1252")

    doc = parse_document(data, key="a.txt")

    assert "schöner Tag für Bücher" in doc.text and "Grüße" in doc.text


def test_whitespace_only_text_is_empty_text() -> None:
    with pytest.raises(EmptyTextError) as caught:
        parse_document(b"  \n\t \r\n", key="blank.txt")

    assert caught.value.reason == "empty_text"


def test_markdown_keeps_its_source_text() -> None:
    # Markdown is kept as written: headings and lists carry meaning for the embedding, and the
    # chunk offsets then point into the file the user uploaded.
    source = "# Title\n\nSome *emphasis* and a [link](https://example.com).\n\n- item one\n- item two\n"

    doc = parse_document(source.encode(), key="readme.md")

    assert doc.content_type == MARKDOWN
    assert [page.text for page in doc.pages] == [source.strip()]


# --- HTML --------------------------------------------------------------------------------------


def test_html_yields_only_visible_text() -> None:
    page = b"""<!doctype html><html><head><title>Docs home</title><style>p{color:red}</style>
    <script>var secret = "tracking";</script></head>
    <body><h1>Welcome</h1><p>Visible paragraph.</p>
    <noscript>Enable JS</noscript><template><p>Template only</p></template>
    <div hidden>hidden div</div><span style="display: none">invisible span</span>
    <!-- a comment --><script type="application/ld+json">{"a": 1}</script></body></html>"""

    doc = parse_document(page, key="site/index.html")

    text = doc.pages[0].text
    assert doc.content_type == HTML
    assert "Welcome" in text and "Visible paragraph." in text and "Docs home" in text
    for hidden in (
        "tracking",
        "color:red",
        "Enable JS",
        "Template only",
        "hidden div",
        "invisible",
        "comment",
    ):
        assert hidden not in text


def test_html_declared_charset_is_honoured() -> None:
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Straße</p></body></html>'

    doc = parse_document(page.encode("latin-1"), key="a.htm")

    assert "Straße" in doc.text


# --- DOCX --------------------------------------------------------------------------------------


def test_docx_paragraphs_and_tables_in_document_order() -> None:
    data = make_docx(["First paragraph.", "Second paragraph."], table=[["Name", "Value"], ["alpha", "1"]])

    doc = parse_document(data, key="report.docx")

    text = doc.pages[0].text
    assert doc.content_type == DOCX
    assert doc.page_count == 1
    assert "Name | Value" in text and "alpha | 1" in text
    assert text.index("Second paragraph.") < text.index("alpha | 1") < text.index("After the table.")


def test_docx_with_broken_xml_is_corrupt() -> None:
    good = make_docx(["text"])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            payload = b"<w:document" if item.filename == "word/document.xml" else src.read(item)
            dst.writestr(item, payload)

    with pytest.raises(CorruptDocumentError):
        parse_document(out.getvalue(), key="broken.docx")


# --- type detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "head", "expected"),
    [
        ("a.pdf", b"%PDF-1.7\n", PDF),
        ("a.PDF", b"%PDF-1.4\n", PDF),
        ("notes.txt", b"plain words", TEXT),
        ("README.markdown", b"# Title", MARKDOWN),
        ("page.htm", b"<p>hi</p>", HTML),
        ("no-extension", b"<!DOCTYPE html><html><body>x</body></html>", HTML),
        ("misnamed.txt", b"%PDF-1.5\n", PDF),
        ("notes.md", b"<html><body>inline html in markdown</body></html>", MARKDOWN),
    ],
)
def test_content_type_comes_from_extension_confirmed_by_sniffing(
    key: str, head: bytes, expected: str
) -> None:
    assert detect_content_type(key, head) == expected


def test_a_pdf_named_docx_is_parsed_as_the_pdf_it_is(pdf_corpus: Path) -> None:
    # Binary signatures win over the extension: they do not lie by accident.
    doc = parse_document((pdf_corpus / "minimal-document.pdf").read_bytes(), key="wrong.docx")

    assert doc.content_type == PDF


def test_a_docx_named_pdf_is_parsed_as_docx() -> None:
    doc = parse_document(make_docx(["zip inside"]), key="lying.pdf")

    assert doc.content_type == DOCX
    assert "zip inside" in doc.text


def test_a_pdf_key_holding_text_is_corrupt() -> None:
    with pytest.raises(CorruptDocumentError, match="not a PDF"):
        detect_content_type("report.pdf", b"just some words, no PDF header")


def test_a_plain_zip_is_unsupported_whatever_its_name() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")

    with pytest.raises(UnsupportedTypeError):
        parse_document(out.getvalue(), key="data.pdf")


def test_ole_container_named_docx_is_encrypted_and_an_unreadable_one_named_doc_is_corrupt() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100

    with pytest.raises(EncryptedDocumentError):
        detect_content_type("secret.docx", ole)
    with pytest.raises(CorruptDocumentError, match="compound file cannot be read"):
        detect_content_type("old.doc", ole)


@pytest.mark.parametrize("key", ["photo.webp", "archive.tar.gz", "binary", "drawing.odg"])
def test_unknown_types_are_unsupported_with_the_extension_named(key: str) -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        detect_content_type(key, b"\x1f\x8b\x08\x00\x00\x00")  # gzip

    assert caught.value.reason == "unsupported_type"


def test_parsed_document_reports_its_page_count() -> None:
    doc = ParsedDocument(content_type=TEXT, pages=(PageText(1, "a"), PageText(2, "b")))

    assert doc.page_count == 2


# --- pages on a background thread (pypdfium2) --------------------------------------------------


def pdfium_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pdfium")]


def direct_pdfium_text(data: bytes) -> list[str]:
    """What pypdfium2 itself extracts, page by page, with docpipe's cleaning."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    texts = []
    for index in range(len(pdf)):
        page = pdf[index]
        textpage = page.get_textpage()
        texts.append(clean_text(textpage.get_text_range()))
        textpage.close()
        page.close()
    pdf.close()
    return texts


def test_pdf_pages_come_from_a_background_thread_and_are_pdfiums_text(pdf_corpus: Path) -> None:
    data = (pdf_corpus / "GeoTopo-komprimiert.pdf").read_bytes()

    with open_document(data, key="book.pdf") as document:
        pages = document.pages()
        first = next(pages)
        assert pdfium_threads()  # extraction goes on while the caller holds page 1
        texts = [first.text] + [page.text for page in pages]

    assert document.page_count == len(texts) == 117
    assert texts == direct_pdfium_text(data)
    assert not pdfium_threads()


def test_closing_a_document_part_read_stops_its_extraction_thread(pdf_corpus: Path) -> None:
    document = open_document((pdf_corpus / "GeoTopo-komprimiert.pdf").read_bytes(), key="book.pdf")
    pages = document.pages()
    next(pages)

    document.close()

    assert not pdfium_threads()


def test_a_page_pdfium_cannot_load_is_corrupt_naming_the_page(
    pdf_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pypdfium2 as pdfium

    real = pdfium.PdfDocument.__getitem__

    def broken_page_six(self: Any, index: int) -> Any:
        if index == 5:
            raise pdfium.PdfiumError("Failed to load page.")
        return real(self, index)

    monkeypatch.setattr(pdfium.PdfDocument, "__getitem__", broken_page_six)

    with open_document((pdf_corpus / "GeoTopo-komprimiert.pdf").read_bytes(), key="book.pdf") as document:
        pages = document.pages()
        assert [next(pages).number for _ in range(5)] == [1, 2, 3, 4, 5]
        with pytest.raises(CorruptDocumentError, match="book.pdf: PDF page 6 could not be read"):
            next(pages)
    assert not pdfium_threads()


def test_pdfs_parsed_on_several_threads_at_once_get_what_one_thread_gets(pdf_corpus: Path) -> None:
    names = ["GeoTopo-komprimiert.pdf", "pdflatex-4-pages.pdf", "pdflatex-outline.pdf"] * 2
    blobs = {name: (pdf_corpus / name).read_bytes() for name in names}
    alone = {name: parse_document(data, key=name) for name, data in blobs.items()}
    results: dict[int, ParsedDocument] = {}
    errors: list[BaseException] = []

    def parse(i: int, name: str) -> None:
        try:
            results[i] = parse_document(blobs[name], key=name)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=parse, args=(i, n)) for i, n in enumerate(names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [results[i] for i in range(len(names))] == [alone[n] for n in names]
