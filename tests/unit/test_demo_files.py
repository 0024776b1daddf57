"""The files docpipe demo makes from the corpus, and the words it searches each one by."""

from __future__ import annotations

from pathlib import Path

import pytest

from docpipe.exceptions import ConfigError
from docpipe.parsers import parse_document
from docpipe_cli.local import demo_files
from docpipe_cli.local.demo_files import corpus_files, licence_sections, unique_words
from tests.conftest import PDF_CORPUS_DIR


@pytest.fixture(scope="module")
def made() -> dict[str, demo_files.DemoFile]:
    return {f.kind: f for f in corpus_files(PDF_CORPUS_DIR)}


def test_the_licence_is_read_into_its_numbered_sections_and_their_items() -> None:
    sections = licence_sections((PDF_CORPUS_DIR / demo_files.PROSE_SOURCE).read_text(encoding="utf-8"))

    assert sorted(sections) == list(range(1, 9))
    title, definitions = sections[1]
    assert title == "Definitions"
    assert len(definitions) == 13  # a. Adapted Material ... m. You
    assert definitions[0].startswith("Adapted Material means material subject to Copyright")


def test_the_workbook_has_a_row_per_defined_term_that_reads_on_its_own(
    made: dict[str, demo_files.DemoFile],
) -> None:
    document = parse_document(made["workbook"].body, key=made["workbook"].key)
    text = " ".join(page.text for page in document.pages)

    assert "Term: Licensor, Definition: the individual(s) or entity(ies) granting rights" in " ".join(
        text.split()
    )


def test_the_deck_has_a_slide_per_section_titled_by_it(made: dict[str, demo_files.DemoFile]) -> None:
    document = parse_document(made["deck"].body, key=made["deck"].key)

    assert len(document.pages) == len(demo_files.DECK_SECTIONS)
    assert document.pages[-1].text.startswith("Section 8 -- Interpretation")


def test_the_scan_and_the_image_hold_no_text_layer_only_pixels(made: dict[str, demo_files.DemoFile]) -> None:
    from docpipe.exceptions import NeedsOcrError

    for kind in ("scanned PDF", "image"):
        with pytest.raises(NeedsOcrError):
            parse_document(made[kind].body, key=made[kind].key)  # no OCR engine given
        assert made[kind].ocr


def test_search_words_are_those_no_other_document_holds_in_the_files_order() -> None:
    text = "Namespaces are one honking great idea, let us do more of those namespaces"
    others = ["Great ideas need namespaces", "honking geese"]

    assert unique_words(text, others) == ["those"]
    assert unique_words(text, []) == ["namespaces", "honking", "great", "those"]


def test_a_missing_source_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=demo_files.SCAN_SOURCE):
        corpus_files(tmp_path)


def test_the_demo_s_email_is_real_and_its_attached_pdf_is_read_under_its_section() -> None:
    from tests.conftest import ROOT
    from tests.format_samples import missing
    from tests.scans import word_recall

    sample = ROOT / demo_files.MSG_SAMPLES / demo_files.EMAIL_SAMPLE
    if not sample.is_file():
        pytest.skip(missing(sample))
    email, _ = demo_files.real_files(ROOT)

    document = parse_document(email.body, key=email.key)

    attached = [
        page
        for page in document.pages
        if any(s.path[-1].startswith("Attachment: ") and s.path[-1].endswith(".pdf") for s in page.sections)
    ]
    assert attached, "no page opens the attached PDF's section"
    start = document.pages.index(attached[0])
    assert word_recall(email.text, "\n".join(p.text for p in document.pages[start:])) >= 0.9


def test_the_demo_s_word_97_file_is_real_and_read_by_docpipe_with_its_reference_words() -> None:
    from tests.conftest import ROOT
    from tests.format_samples import MSG_FILES_DIR, missing
    from tests.scans import word_recall

    if not (MSG_FILES_DIR / demo_files.EMAIL_SAMPLE).is_file():
        pytest.skip(missing(MSG_FILES_DIR / demo_files.EMAIL_SAMPLE))
    _, word = demo_files.real_files(ROOT)

    assert word.body.startswith(b"\xd0\xcf\x11\xe0")  # an OLE compound file: Word 97-2003
    assert word_recall(word.text, parse_document(word.body, key=word.key).text) >= 0.9
