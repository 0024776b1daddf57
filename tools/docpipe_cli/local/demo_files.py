"""The files ``docpipe demo`` makes from the corpus (a scanned PDF, an image, a workbook and a deck),
and the real files written by others it uploads beside them (an email with an attached document, a
Word 97 file).

Their words are others': the scan and the image are corpus pages rendered with pypdfium2 (the two
PDFs they come from are uploaded only as these copies, so their words stay in one file each), and
the workbook and the deck hold sections of the corpus's licence text (Creative Commons'
CC-BY-SA 4.0, which the demo does not upload otherwise). Which words find each file is decided at
demo time, against the text of every other document in the index (:func:`unique_words`).

The email is an Outlook message from the ``msg-parser`` source distribution's tests (BSD; `make
samples` unpacks it under ``.docpipe/samples``): a delivery-failure notice whose returned message
carries a PDF. The words that find it are the PDF's, read here without docpipe's email reader
(olefile, the standard library's ``email``, PDFium), so finding it proves the attachment was read.
The Word 97 file is oletools' ``harmless-clean.doc`` (BSD-2-Clause, ``tests/fixtures/office``); its
words are those of LibreOffice's conversion of it to DOCX beside it (``reference/``), read with
python-docx, not with docpipe's ``.doc`` reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from docpipe.exceptions import ConfigError
from docpipe_cli.local import samples

SCAN_SOURCE = "google-doc-document.pdf"  # one page: the Zen of Python, exported from Google Docs
IMAGE_SOURCE = "annotated_pdf.pdf"  # one page: fpdf2's annotations sample (text, highlight, comment)
PROSE_SOURCE = "LICENSE-CC-BY-SA-4.0.txt"  # the corpus's licence, by Creative Commons
# Corpus PDFs the demo uploads only as the copies made here: their words stay in one file each.
UPLOADED_AS_COPIES = (SCAN_SOURCE, IMAGE_SOURCE)
# The ingest renders a scanned PDF page at 200 DPI whatever the scan's resolution (parsers/scan.py),
# so the scan is made at that resolution too. An image is OCR'd at its own size: at 100 DPI the
# engine still reads every word of IMAGE_SOURCE's page (body-size text), in about a
# third of the time it takes at 150 DPI and a fifth of 200 DPI (measured on a shared 2-core
# machine: 1.5 s, 4.4 s, 7.9 s a page at load average 2-3).
SCAN_DPI = 200
IMAGE_DPI = 100
WORKBOOK_SECTION = 1  # the definitions, one row per term
DECK_SECTIONS = (6, 7, 8)  # one slide per section
QUERY_WORDS = 5
SAMPLES_DIR = Path(".docpipe") / "samples"
"""Where `make samples` unpacks real files written by others, under the repository."""
MSG_SAMPLES = SAMPLES_DIR / "msg_parser-1.2.0" / "tests" / "files"
EMAIL_SAMPLE = "other.msg"
OFFICE_FIXTURES = Path("tests") / "fixtures" / "office"
"""Real legacy Office files written by others, kept in the repository (their README names each source)."""
WORD97_SAMPLE = "harmless-clean.doc"  # oletools' test data: Word (2016) saved as Word 97-2003
_WORD = re.compile(r"[^\W\d_]+")
MIN_WORD_LETTERS = 5  # shorter words are mostly function words
_SECTION = re.compile(r"^Section (\d+) -- (.+?)\.?$", re.M)
_ITEM = re.compile(r"^  ([a-z])\. ", re.M)  # a top-level item of a section (two spaces in)


@dataclass(frozen=True)
class DemoFile:
    """One made file: where it goes, its bytes, where its words come from, and those words."""

    key: str
    body: bytes
    kind: str  # "scanned PDF", "image", "workbook", "deck"
    source: str
    text: str  # what the file says (for a scan: the text layer of the page it was rendered from)
    ocr: bool


def corpus_files(corpus_dir: Path) -> list[DemoFile]:
    """The four files, built from ``corpus_dir`` (../shared/corpus/pdf).

    Raises:
        ConfigError: a source file is missing from the corpus.
    """
    for name in (SCAN_SOURCE, IMAGE_SOURCE, PROSE_SOURCE):
        if not (corpus_dir / name).is_file():
            raise ConfigError(f"the demo builds its scan, image, workbook and deck from {corpus_dir / name}")
    scan_pdf = corpus_dir / SCAN_SOURCE
    image_pdf = corpus_dir / IMAGE_SOURCE
    sections = licence_sections((corpus_dir / PROSE_SOURCE).read_text(encoding="utf-8"))
    definitions = [_definition(item) for item in sections[WORKBOOK_SECTION][1]]
    slides = [
        {"title": f"Section {number} -- {sections[number][0]}", "body": sections[number][1]}
        for number in DECK_SECTIONS
    ]
    workbook_rows = [("Term", "Definition"), *definitions]
    stem = Path(SCAN_SOURCE).stem
    return [
        DemoFile(
            key=f"generated/scan-of-{stem}.pdf",
            body=samples.image_only_pdf([samples.render_page(scan_pdf, 0, dpi=SCAN_DPI)], dpi=SCAN_DPI),
            kind="scanned PDF",
            source=f"{SCAN_SOURCE} p.1 rendered at {SCAN_DPI} DPI, image only",
            text=samples.text_layer(scan_pdf, 0),
            ocr=True,
        ),
        DemoFile(
            key=f"generated/{Path(IMAGE_SOURCE).stem}.png",
            body=samples.encoded(samples.render_page(image_pdf, 0, dpi=IMAGE_DPI)),
            kind="image",
            source=f"{IMAGE_SOURCE} p.1 rendered at {IMAGE_DPI} DPI",
            text=samples.text_layer(image_pdf, 0),
            ocr=True,
        ),
        DemoFile(
            key="generated/cc-by-sa-definitions.xlsx",
            body=samples.make_xlsx({"Definitions": workbook_rows}),
            kind="workbook",
            source=f"{PROSE_SOURCE} Section {WORKBOOK_SECTION}, a row per term",
            text="\n".join(f"{term} {meaning}" for term, meaning in definitions),
            ocr=False,
        ),
        DemoFile(
            key="generated/cc-by-sa-terms.pptx",
            body=samples.make_pptx(slides),
            kind="deck",
            source=f"{PROSE_SOURCE} Sections {', '.join(map(str, DECK_SECTIONS))}, a slide each",
            text="\n".join(f"{s['title']}\n" + "\n".join(s["body"]) for s in slides),
            ocr=False,
        ),
    ]


def licence_sections(text: str) -> dict[int, tuple[str, list[str]]]:
    """The licence's numbered sections: number -> (title, top-level items as one line each)."""
    found: dict[int, tuple[str, list[str]]] = {}
    heads = list(_SECTION.finditer(text))
    for head, following in zip(heads, [*heads[1:], None], strict=True):
        body = text[head.end() : following.start() if following else len(text)]
        starts = list(_ITEM.finditer(body))
        items = [
            " ".join(body[item.end() : after.start() if after else len(body)].split())
            for item, after in zip(starts, [*starts[1:], None], strict=True)
        ]
        found[int(head.group(1))] = (head.group(2), items)
    missing = [n for n in (WORKBOOK_SECTION, *DECK_SECTIONS) if not found.get(n, ("", []))[1]]
    if missing:
        raise ConfigError(f"{PROSE_SOURCE}: no items found in section(s) {missing}")
    return found


def _definition(item: str) -> tuple[str, str]:
    term, _, meaning = item.partition(" means ")
    return (term, meaning) if meaning else ("", item)


def words(text: str) -> list[str]:
    """The words of ``text`` (letters only, at least MIN_WORD_LETTERS), case-folded, in order."""
    return [w.casefold() for w in _WORD.findall(text) if len(w) >= MIN_WORD_LETTERS]


def unique_words(text: str, others: Iterable[str], *, limit: int = QUERY_WORDS) -> list[str]:
    """Up to ``limit`` words of ``text`` that none of ``others`` holds, in the order ``text`` has them."""
    elsewhere: set[str] = set()
    for other in others:
        elsewhere.update(words(other))
    chosen: list[str] = []
    for word in words(text):
        if word not in elsewhere and word not in chosen:
            chosen.append(word)
            if len(chosen) == limit:
                break
    return chosen


def query_for(file: DemoFile, indexed: Mapping[str, str]) -> list[str]:
    """The words that find ``file``: in its text and in no other indexed document (key -> its text)."""
    return unique_words(file.text, (text for key, text in indexed.items() if key != file.key))


def real_files(root: Path) -> list[DemoFile]:
    """The real files written by others the demo uploads (``make samples`` installs them).

    Raises:
        ConfigError: a sample is missing.
    """
    email_path = root / MSG_SAMPLES / EMAIL_SAMPLE
    if not email_path.is_file():
        raise ConfigError(f"the demo uploads {email_path}: run `make samples`")
    body = email_path.read_bytes()
    name, text = attached_pdf_text(body)
    word_path = root / OFFICE_FIXTURES / WORD97_SAMPLE
    reference = root / OFFICE_FIXTURES / "reference" / Path(WORD97_SAMPLE).with_suffix(".docx").name
    if not word_path.is_file() or not reference.is_file():
        raise ConfigError(f"the demo uploads {word_path} and reads its words from {reference}")
    import docx

    word_text = "\n".join(paragraph.text for paragraph in docx.Document(str(reference)).paragraphs)
    return [
        DemoFile(
            key=f"mail/{EMAIL_SAMPLE}",
            body=body,
            kind="email",
            source=f"msg-parser 1.2.0's tests/files/{EMAIL_SAMPLE}: an Outlook bounce whose returned message "
            f"carries {name}",
            text=text,
            ocr=False,
        ),
        DemoFile(
            key=f"office/{WORD97_SAMPLE}",
            body=word_path.read_bytes(),
            kind="Word 97 document",
            source=f"oletools 0.60.2's tests/test-data/{WORD97_SAMPLE} (Word 97-2003 format)",
            text=word_text,
            ocr=False,
        ),
    ]


def attached_pdf_text(msg: bytes) -> tuple[str, str]:
    """The name and text of the first PDF inside an Outlook message's attachments (one level of .eml too).

    Read with olefile, the standard library's ``email`` and PDFium, not with docpipe's readers.
    """
    import email
    import email.policy

    import olefile
    import pypdfium2 as pdfium

    blobs: list[tuple[str, bytes]] = []
    with olefile.OleFileIO(msg) as ole:
        for path in ole.listdir():
            if path[-1].upper() == "__SUBSTG1.0_37010102":  # an attachment's bytes; its long name beside them
                long_name = [*path[:-1], "__substg1.0_3707001F"]
                exists = ole.exists(long_name)
                title = ole.openstream(long_name).read().decode("utf-16-le") if exists else "a PDF"
                blobs.append((title.rstrip("\x00"), ole.openstream(path).read()))
    for title, blob in blobs:
        found: list[tuple[str, bytes]] = [(title, blob)] if blob.startswith(b"%PDF-") else []
        if not found:
            message = email.message_from_bytes(blob, policy=email.policy.default)
            for part in message.walk():
                payload = part.get_payload(decode=True)
                if part.get_content_type() == "application/pdf" and isinstance(payload, bytes):
                    found.append((str(part.get_filename() or "a PDF"), payload))
        for name, pdf in found:
            document = pdfium.PdfDocument(pdf)
            try:
                pages = [document[i].get_textpage().get_text_range() for i in range(len(document))]
            finally:
                document.close()
            return name, "\n".join(pages)
    raise ConfigError("the demo's email sample holds no PDF")
