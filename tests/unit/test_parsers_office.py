"""Legacy Office (.doc .xls .ppt), OpenDocument (.odt .ods .odp) and RTF on real files, and hostile ones.

The real files are others' (tests/fixtures/office/README.md); each one's words are checked against
the same document as LibreOffice converts it into DOCX, XLSX or PPTX, read by docpipe's parsers
for those. Generated files appear only as hostile inputs: a looping sector chain, a zip bomb,
deeply nested RTF groups, truncated and renamed files.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docpipe.exceptions import (
    CorruptDocumentError,
    DocumentTooLargeError,
    EncryptedDocumentError,
    PermanentError,
    UnsupportedTypeError,
)
from docpipe.parsers import (
    DOC,
    DOCX,
    ODP,
    ODS,
    ODT,
    PPT,
    RTF,
    XLS,
    ParsedDocument,
    detect_content_type,
    parse_document,
)
from docpipe.parsers.rtf import MAX_GROUP_DEPTH
from tests.office_files import (
    OFFICE_FIXTURES,
    OFFICE_REFERENCES,
    loop_sector_chain,
    make_docx,
    real_office_file,
    zip_bomb_odt,
)
from tests.scans import word_recall

REFERENCES = OFFICE_REFERENCES


def parse(name: str) -> ParsedDocument:
    return parse_document(real_office_file(name), key=f"share/{name}")


def reference(name: str) -> ParsedDocument:
    return parse_document((OFFICE_FIXTURES / "reference" / name).read_bytes(), key=name)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_a_real_file_keeps_the_words_libreoffice_reads_in_it(name: str) -> None:
    document = parse(name)

    recall = word_recall(reference(REFERENCES[name]).text, document.text)

    assert recall >= 0.9, (name, recall)


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("harmless-clean.doc", DOC), ("date_field.xls", XLS), ("visual_minimal.ppt", PPT), ("ol.odp", ODP)]
    + [("api-for-odfpy.odt", ODT), ("pythagoras.ods", ODS), ("api-for-odfpy.lo.rtf", RTF)],
)
def test_each_type_is_recognised_by_its_bytes(name: str, content_type: str) -> None:
    assert parse(name).content_type == content_type


# --- DOC ---------------------------------------------------------------------------------------


def test_doc_headings_become_sections_whatever_the_language_of_their_style_names() -> None:
    # A German Word's "Überschrift 1" is the built-in heading 1 style.
    (page,) = parse("harmless-clean.doc").pages

    assert [section.path for section in page.sections] == [("Test",)]
    assert page.text.startswith("Test\n\nThis is a harmless test document.")
    assert "ünicöde-ßtringß" in page.text


def test_a_long_doc_has_the_heading_tree_of_the_document_it_was_saved_from() -> None:
    doc_sections = [s.path for s in parse("api-for-odfpy.lo.doc").pages[0].sections]
    odt_sections = [s.path for s in parse("api-for-odfpy.odt").pages[0].sections]

    assert len(odt_sections) > 20
    assert doc_sections == odt_sections


# --- XLS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["date_field.xls", "hidden_sheets.xls", "complex_hidden_sheets.xls"])
def test_an_xls_reads_sheet_by_sheet_as_its_xlsx_conversion_does(name: str) -> None:
    xls, xlsx = parse(name), reference(REFERENCES[name])

    assert [(p.number, p.metadata["sheet"], p.text, p.rows) for p in xls.pages] == [
        (p.number, p.metadata["sheet"], p.text, p.rows) for p in xlsx.pages
    ]


def test_xls_dates_are_iso_text_and_rows_carry_their_headers() -> None:
    (page,) = parse("date_field.xls").pages

    assert page.metadata == {"sheet": "Sheet1"}
    assert page.text.split("\n")[0] == "Date: 2014-12-25T00:00:00, Time: 11:11:11"
    assert [row for _, row in page.rows] == [2, 3, 4, 5]


# --- PPT ---------------------------------------------------------------------------------------


def test_a_ppt_slide_starts_with_its_title_which_is_its_section() -> None:
    (page,) = parse("embedded-simple-2007.ppt").pages

    assert page.sections[0].path == ("Embedded Objects",)
    assert page.text.split("\n\n")[0] == "Embedded Objects"
    assert "It is a simple harmless ASCII text file" in page.text


def test_ppt_speaker_notes_follow_the_slide_after_notes() -> None:
    pages = parse("visual_minimal.ppt").pages

    assert [p.number for p in pages] == [1, 2]
    assert pages[1].text == "second slide\n\nNotes: visual fixture speaker note"


def test_a_ppt_table_is_a_markdown_table() -> None:
    (page,) = parse("visual_table.ppt").pages

    assert "| R1C1 | R1C2 | R1C3 |\n|---|---|---|\n| R2C1 | R2C2 | R2C3 |" in page.text


# --- OpenDocument ------------------------------------------------------------------------------


def test_odt_headings_nest_by_outline_level() -> None:
    (page,) = parse("api-for-odfpy.odt").pages
    paths = [section.path for section in page.sections]

    assert paths[:3] == [("Introduction",), ("Introduction", "About OpenDocument"), ("Creating a document",)]
    assert page.text[page.sections[1].offset :].startswith("About OpenDocument")


def test_an_odt_table_is_a_markdown_table() -> None:
    (page,) = parse("simpletable.odt").pages

    assert page.text == "| Cell 1 | Cell 2 |\n|---|---|\n| Cell 3 (bold) | Cell 4 (italic) |"


def test_each_ods_sheet_is_a_page_named_by_its_sheet() -> None:
    (page,) = parse("chinese_spreadsheet.ods").pages

    assert page.metadata == {"sheet": "工作表1"}
    assert page.sections[0].path == ("工作表1",)


def test_odp_slides_are_pages_with_their_titles_as_sections() -> None:
    pages = parse("ol.odp").pages

    assert pages[0].sections[0].path == ("OL",)
    assert pages[0].text.startswith("OL\n\nEins\n\nTsvey")


def test_a_repeated_empty_ods_row_costs_nothing_and_keeps_row_numbers() -> None:
    # LibreOffice writes a sheet's unused rows as one row repeated a million times.
    content = _ods_content(
        '<table:table-row><table:table-cell office:value-type="string"><text:p>Name</text:p>'
        "</table:table-cell></table:table-row>"
        '<table:table-row table:number-rows-repeated="1048570"><table:table-cell '
        'table:number-columns-repeated="16384"/></table:table-row>'
        '<table:table-row><table:table-cell office:value-type="float" office:value="7"/></table:table-row>'
    )

    (page,) = parse_document(_odf(ODS, content), key="big.ods").pages

    assert page.text == "Name: 7"
    assert page.rows == ((0, 1048572),)


# --- RTF ---------------------------------------------------------------------------------------


def test_rtf_unicode_escapes_code_pages_and_fields_read_as_text() -> None:
    rtf = (
        rb"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Arial;}}{\*\generator x;}"
        rb"Caf\'e9 \u8364?5 {\field{\*\fldinst HYPERLINK x}{\fldrslt link}}\par{\pict 0a0b}Next\par}"
    )

    (page,) = parse_document(rtf, key="letter.rtf").pages

    assert page.text == "Café €5 link\n\nNext"


def test_rtf_hidden_text_is_left_out_until_plain_resets_it() -> None:
    rtf = rb"{\rtf1 shown \v secret \plain again {\v hidden}end\par}"

    assert parse_document(rtf, key="a.rtf").text == "shown again end"


def test_rtf_groups_nested_to_the_limit_still_parse() -> None:
    depth = MAX_GROUP_DEPTH - 1
    rtf = b"{\\rtf1 " + b"{" * depth + b"deep" + b"}" * depth + b"}"

    assert parse_document(rtf, key="deep.rtf").text == "deep"


# --- encrypted, hostile, broken ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["encrypted.doc", "encrypted.xls", "encrypted.ppt"])
def test_a_password_protected_ole_file_is_encrypted(name: str) -> None:
    with pytest.raises(EncryptedDocumentError) as caught:
        parse(name)

    assert caught.value.reason == "encrypted"


def test_a_password_protected_odf_package_is_encrypted() -> None:
    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x"/>'
        "</manifest:file-entry></manifest:manifest>"
    )

    with pytest.raises(EncryptedDocumentError):
        parse_document(_odf(ODT, "<office:text/>", manifest=manifest), key="secret.odt")


@pytest.mark.parametrize(
    ("name", "stream"),
    [
        ("harmless-clean.doc", "WordDocument"),
        ("embedded-simple-2007.xls", "Workbook"),
        ("embedded-simple-2007.ppt", "PowerPoint Document"),
    ],
)
def test_an_ole_file_whose_sector_chain_loops_is_corrupt(name: str, stream: str) -> None:
    looped = loop_sector_chain(real_office_file(name), stream)

    with pytest.raises(CorruptDocumentError, match="loops"):
        parse_document(looped, key=name)


@pytest.mark.parametrize("name", ["harmless-clean.doc", "date_field.xls", "visual_minimal.ppt"])
def test_a_compound_file_whose_streams_declare_more_than_the_limit_is_too_large(name: str) -> None:
    with pytest.raises(DocumentTooLargeError, match="MAX_INFLATED_BYTES"):
        parse_document(real_office_file(name), key=name, max_inflated_bytes=2_000)


def test_an_odt_zip_bomb_is_too_large_before_it_is_inflated() -> None:
    with pytest.raises(DocumentTooLargeError) as caught:
        parse_document(zip_bomb_odt(200 * 1024 * 1024), key="bomb.odt")

    assert "MAX_INFLATED_BYTES" in str(caught.value)


def test_an_odf_member_past_the_inflated_limit_is_too_large() -> None:
    data = real_office_file("api-for-odfpy.odt")

    with pytest.raises(DocumentTooLargeError):
        parse_document(data, key="manual.odt", max_inflated_bytes=100_000)


def test_rtf_groups_nested_past_the_limit_are_corrupt() -> None:
    depth = 100_000
    rtf = b"{\\rtf1 " + b"{" * depth + b"x" + b"}" * depth + b"}"

    with pytest.raises(CorruptDocumentError, match="nested deeper"):
        parse_document(rtf, key="bomb.rtf")


# An .xls whose tail is unused sectors can lose them and stay whole: one cut where data is.
@pytest.mark.parametrize(
    "name", [n for n in sorted(REFERENCES) if not n.endswith(".xls")] + ["hidden_sheets.xls"]
)
def test_a_file_cut_in_half_is_corrupt(name: str) -> None:
    data = real_office_file(name)

    with pytest.raises(CorruptDocumentError):
        parse_document(data[: len(data) // 2], key=name)


@pytest.mark.parametrize("suffix", [".doc", ".xls", ".ppt", ".odt", ".ods", ".odp", ".rtf"])
def test_other_bytes_named_as_a_new_type_are_corrupt(suffix: str) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200

    with pytest.raises(CorruptDocumentError):
        detect_content_type(f"renamed{suffix}", b"%not a document at all" + png)


def test_a_renamed_legacy_file_is_read_as_what_its_bytes_are() -> None:
    data = real_office_file("harmless-clean.doc")

    assert parse_document(data, key="letter.xls").content_type == DOC
    assert parse_document(data, key="letter").content_type == DOC
    assert parse_document(make_docx([("p", "new")]), key="letter.doc").content_type == DOCX


def test_a_compound_file_that_is_no_office_document_is_unsupported() -> None:
    import olefile

    assert olefile.isOleFile(data=real_office_file("harmless-clean.doc"))
    # The same container with its streams renamed: a compound file nothing here reads.
    renamed = "Contents1234".encode("utf-16-le")
    data = real_office_file("harmless-clean.doc").replace("WordDocument".encode("utf-16-le"), renamed)

    with pytest.raises(UnsupportedTypeError):
        parse_document(data, key="thing.bin")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(
        ["harmless-clean.doc", "date_field.xls", "sample_with_lnk_file.ppt", "ol.odp", "issue_251.rtf"]
    ),
    at=st.integers(min_value=0, max_value=2**31),
    values=st.binary(min_size=1, max_size=8),
)
def test_damaged_bytes_give_a_skip_reason_never_a_crash(name: str, at: int, values: bytes) -> None:
    data = bytearray(real_office_file(name))
    position = at % len(data)
    data[position : position + len(values)] = values

    try:
        parse_document(bytes(data), key=name)
    except PermanentError as e:
        assert e.reason in ("corrupt", "empty_text", "unsupported_type", "too_large", "encrypted")


# --- helpers -----------------------------------------------------------------------------------


def _ods_content(rows: str) -> str:
    return f'<office:spreadsheet><table:table table:name="Data">{rows}</table:table></office:spreadsheet>'


_NAMESPACES = " ".join(
    f'xmlns:{prefix}="urn:oasis:names:tc:opendocument:xmlns:{prefix}:1.0"'
    for prefix in ("office", "text", "table", "manifest")
)


def _odf(kind: str, body: str, *, manifest: str | None = None) -> bytes:
    """A minimal package of ``kind``: mimetype first and stored, a manifest, ``office:body``'s XML."""
    import io
    import zipfile

    content = (
        f"<office:document-content {_NAMESPACES}><office:body>{body}</office:body></office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), kind, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", manifest or f"<manifest:manifest {_NAMESPACES}/>")
        archive.writestr("content.xml", content)
    return out.getvalue()
