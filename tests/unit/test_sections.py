"""Section paths from headings (Markdown, HTML, DOCX, PDF outline) and chunks that keep to them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from docpipe.chunking import (
    MAX_FILTERABLE_METADATA_BYTES,
    MAX_SECTION_BYTES,
    PAGE_SEPARATOR,
    Chunk,
    ChunkStream,
    chunk_document,
    embedding_text,
    metadata_size,
    section_value,
)
from docpipe.parsers import MARKDOWN, PDF, PPTX, XLSX, PageText, ParsedDocument, Section, parse_document
from tests.office_files import make_docx, make_pptx, make_xlsx
from tests.unit.test_chunking import BASE, generated_pages

# --- headings to paths -------------------------------------------------------------------------


def test_markdown_headings_give_paths_and_fenced_code_is_not_a_heading() -> None:
    text = "# Intro\ntext\n## Setup\nmore\n```sh\n# a comment\n```\n### Linux\nx\n# Usage\ny"

    page = parse_document(text.encode(), key="README.md").pages[0]

    assert [(s.offset, s.path) for s in page.sections] == [
        (0, ("Intro",)),
        (text.index("## Setup"), ("Intro", "Setup")),
        (text.index("### Linux"), ("Intro", "Setup", "Linux")),
        (text.index("# Usage"), ("Usage",)),
    ]


def test_html_h1_to_h6_give_paths_at_their_text() -> None:
    html = b"<html><body><h1>Guide</h1><p>a</p><h3>Deep</h3><p>b</p><h2>Wide</h2><p>c</p></body></html>"

    page = parse_document(html, key="guide.html").pages[0]

    assert [s.path for s in page.sections] == [("Guide",), ("Guide", "Deep"), ("Guide", "Wide")]
    assert all(page.text[s.offset :].startswith(s.path[-1]) for s in page.sections)


def test_html_headings_with_inline_markup_and_permalinks_are_found() -> None:
    # Sphinx's shape (the Python docs): a <code> name and a "¶" permalink inside each heading.
    html = (
        b'<html><body><h2>Basic Usage<a class="headerlink" href="#u">\xc2\xb6</a></h2><p>a</p>'
        b'<h3>The <code>dumps</code> function<a class="headerlink" href="#d">\xc2\xb6</a></h3><p>b</p>'
        b"</body></html>"
    )

    page = parse_document(html, key="json.html").pages[0]

    assert [s.path for s in page.sections] == [("Basic Usage",), ("Basic Usage", "The dumps function")]
    assert "\u00b6" not in page.text
    assert page.text[page.sections[1].offset :].startswith("The\ndumps\nfunction")


def test_docx_heading_styles_give_paths() -> None:
    data = make_docx(
        [
            ("heading", (1, "Scope")),
            ("p", "what"),
            ("heading", (2, "Limits")),
            ("p", "x"),
            ("heading", (1, "Terms")),
        ]
    )

    page = parse_document(data, key="contract.docx").pages[0]

    assert [s.path for s in page.sections] == [("Scope",), ("Scope", "Limits"), ("Terms",)]
    assert page.text[page.sections[1].offset :].startswith("Limits")


@pytest.mark.parametrize("engine", ["pypdfium2", "pypdf"])
def test_the_pdf_outline_gives_sections_on_the_pages_its_bookmarks_point_at(
    pdf_corpus: Path, engine: str
) -> None:
    import pypdfium2 as pdfium

    path = pdf_corpus / "GeoTopo-komprimiert.pdf"
    pdf = pdfium.PdfDocument(path.read_bytes())
    bookmarks = [(b.get_title(), b.get_dest().get_index()) for b in pdf.get_toc()]
    pdf.close()

    doc = parse_document(path.read_bytes(), key="book.pdf", pdf_engine=engine)

    found = [(s.path[-1], page.number - 1) for page in doc.pages for s in page.sections]
    assert found == bookmarks
    by_title = {s.path[-1]: s.path for page in doc.pages for s in page.sections}
    assert by_title["1.2 Metrische Räume"] == ("1 Topologische Grundbegriffe", "1.2 Metrische Räume")


def test_a_pdf_without_an_outline_has_no_sections(pdf_corpus: Path) -> None:
    doc = parse_document((pdf_corpus / "pdflatex-4-pages.pdf").read_bytes(), key="p.pdf")

    assert all(not page.sections for page in doc.pages)


# --- chunks and sections -----------------------------------------------------------------------


def per_section(pages: list[PageText], size: int, overlap: int) -> list[tuple[str, int]]:
    """The reference: LangChain's splitter on each top-level section's text on its own."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, add_start_index=True)
    text, starts, position = "", [], 0
    for number, page in enumerate(pages):
        if number:
            text += PAGE_SEPARATOR
        starts += [len(text) + s.offset for s in page.sections if len(s.path) <= 1]
        text += page.text
    cuts = sorted({0, *(at for at in starts if at > 0), len(text)})
    chunks = []
    for begin, end in zip(cuts, cuts[1:], strict=False):
        for document in splitter.create_documents([text[begin:end]]):
            chunks.append((document.page_content, begin + document.metadata["start_index"]))
        position = end
    assert position == len(text)
    return chunks


def streamed(pages: list[PageText], size: int, overlap: int, content_type: str = PDF) -> list[Chunk]:
    stream = ChunkStream(content_type=content_type, chunk_size=size, chunk_overlap=overlap, base_metadata={})
    chunks: list[Chunk] = []
    for page in pages:
        stream.add(page)
        chunks += stream.take()
    chunks += stream.take(final=True)
    assert [c.chunk_no for c in chunks] == list(range(len(chunks)))
    return chunks


def with_random_sections(rng: random.Random, texts: list[str]) -> list[PageText]:
    pages = []
    for number, text in enumerate(texts, 1):
        offsets = sorted(rng.sample(range(len(text) + 1), k=min(len(text) + 1, rng.randint(0, 3))))
        sections = tuple(Section(at, ("T",) if rng.random() < 0.5 else ("T", "sub")) for at in offsets)
        pages.append(PageText(number, text, sections=sections))
    return pages


def test_streamed_chunks_are_each_sections_own_splitter_pass_on_generated_documents() -> None:
    rng = random.Random(13)
    for case in range(300):
        pages = with_random_sections(rng, generated_pages(rng))
        size = rng.choice([50, 120, 300, 1000])
        overlap = rng.choice([0, 10, size // 5, size // 2])

        chunks = streamed(pages, size, overlap)

        assert [(c.text, c.metadata["start_index"]) for c in chunks] == per_section(pages, size, overlap), (
            case
        )


def test_the_book_chunks_per_chapter_and_each_chunk_names_its_section(pdf_corpus: Path) -> None:
    doc = parse_document((pdf_corpus / "GeoTopo-komprimiert.pdf").read_bytes(), key="book.pdf")
    pages = list(doc.pages)

    chunks = streamed(pages, 1000, 150)

    assert [(c.text, c.metadata["start_index"]) for c in chunks] == per_section(pages, 1000, 150)
    chapters = [c.metadata.get("section", "").split(" > ")[0] for c in chunks]
    assert {"1 Topologische Grundbegriffe", "2 Mannigfaltigkeiten und Simplizialkomplexe"} <= set(chapters)
    # No chunk starts in one chapter and holds the next one's title.
    for chunk in chunks:
        later = [t for t in set(chapters) if t and t != chapters[chunk.chunk_no]]
        assert not any(chunk.text.startswith(t) for t in later)


def test_markdown_chunks_do_not_straddle_top_level_headings() -> None:
    text = "# One\n\nshort intro\n\n# Two\n\nshort body"
    doc = ParsedDocument(
        MARKDOWN, (PageText(1, text, sections=parse_document(text.encode(), key="a.md").pages[0].sections),)
    )

    chunks = chunk_document(doc, chunk_size=1000, chunk_overlap=0, base_metadata={})

    assert [(c.text, c.metadata["section"]) for c in chunks] == [
        ("# One\n\nshort intro", "One"),
        ("# Two\n\nshort body", "Two"),
    ]


def test_subsections_share_a_chunk_and_it_names_where_it_starts() -> None:
    text = "# Guide\n\nintro\n\n## Setup\n\nsteps"
    page = parse_document(text.encode(), key="g.md").pages[0]

    chunks = chunk_document(
        ParsedDocument(MARKDOWN, (page,)), chunk_size=1000, chunk_overlap=0, base_metadata={}
    )

    assert [(c.text, c.metadata["section"]) for c in chunks] == [(text, "Guide")]


def test_sheet_chunks_carry_sheet_section_and_row_range() -> None:
    rows = [["Region", "Revenue"]] + [[f"R{n}", n] for n in range(1, 301)]
    doc = parse_document(make_xlsx({"Sales": rows, "Notes": [["Note"], ["done"]]}), key="w.xlsx")

    chunks = chunk_document(doc, chunk_size=500, chunk_overlap=0, base_metadata={})

    sales = [c for c in chunks if c.metadata["sheet"] == "Sales"]
    assert doc.content_type == XLSX and len(sales) > 3
    assert sales[0].metadata["row_start"] == 2 and sales[-1].metadata["row_end"] == 301
    for chunk in sales:
        lines = chunk.text.split("\n")
        first, last = chunk.metadata["row_start"], chunk.metadata["row_end"]
        assert lines[0] == f"Region: R{first - 1}, Revenue: {first - 1}"  # rows kept whole
        assert lines[-1] == f"Region: R{last - 1}, Revenue: {last - 1}"
        assert chunk.metadata["section"] == "Sales"
    notes = [c for c in chunks if c.metadata["sheet"] == "Notes"]
    assert [(c.text, c.metadata["page"], c.metadata["row_start"]) for c in notes] == [("Note: done", 2, 2)]


def test_slides_are_never_joined_in_one_chunk() -> None:
    doc = parse_document(
        make_pptx([{"title": "Alpha", "body": ["a"]}, {"title": "Beta", "body": ["b"]}]), key="d.pptx"
    )

    chunks = chunk_document(doc, chunk_size=1000, chunk_overlap=0, base_metadata={})

    assert doc.content_type == PPTX
    assert [(c.text, c.metadata["page"], c.metadata["section"]) for c in chunks] == [
        ("Alpha\n\na", 1, "Alpha"),
        ("Beta\n\nb", 2, "Beta"),
    ]


def test_page_metadata_goes_to_the_chunks_of_that_page() -> None:
    pages = (PageText(1, "plain words"), PageText(2, "scanned words", metadata={"ocr": True}))

    chunks = chunk_document(ParsedDocument(PDF, pages), chunk_size=12, chunk_overlap=0, base_metadata={})

    assert [(c.text, c.metadata.get("ocr")) for c in chunks] == [
        ("plain words", None),
        ("scanned", True),
        ("words", True),
    ]


# --- what is embedded, and the metadata limits -------------------------------------------------


def test_the_section_path_is_embedded_only_when_asked_and_never_stored_in_text() -> None:
    page = parse_document(b"# Billing\n\n## Refunds\n\nWithin 30 days.", key="faq.md").pages[0]
    chunk = chunk_document(
        ParsedDocument(MARKDOWN, (page,)), chunk_size=18, chunk_overlap=0, base_metadata={}
    )[-1]

    assert chunk.text == "Within 30 days."
    assert embedding_text(chunk, with_section=False) == "Within 30 days."
    assert embedding_text(chunk, with_section=True) == "Billing > Refunds\n\nWithin 30 days."
    assert chunk.metadata["text"] == "Within 30 days."


def test_a_long_section_path_is_cut_to_its_byte_budget() -> None:
    value = section_value(("Ü" * 100, "ß" * 100, "é" * 100))

    assert value is not None and len(value.encode()) <= MAX_SECTION_BYTES
    assert value.startswith("Ü" * 100 + " > ")


def test_new_keys_at_their_largest_leave_filterable_metadata_within_the_limit() -> None:
    metadata = {
        **BASE,
        "key": "k" * 200,
        "content_type": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "page": 10_000,
        "page_end": 10_000,
        "chunk_no": 100_000,
        "start_index": 10**9,
        "end_index": 10**9,
        "section": section_value(("字" * 200, "x" * 200)),
        "sheet": "s" * 31,  # Excel's limit for a sheet name
        "row_start": 1_048_576,  # Excel's last row
        "row_end": 1_048_576,
        "ocr": True,
    }
    filterable = {k: v for k, v in metadata.items() if k not in ("text", "source_uri")}

    assert metadata_size(filterable) <= MAX_FILTERABLE_METADATA_BYTES
