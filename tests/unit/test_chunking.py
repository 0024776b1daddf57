"""chunk_document, ChunkStream (streamed = one splitter pass) and the S3 Vectors metadata limits."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from docpipe.chunking import (
    MAX_FILTERABLE_METADATA_BYTES,
    PAGE_SEPARATOR,
    Chunk,
    ChunkStream,
    check_metadata_limits,
    chunk_document,
    metadata_size,
)
from docpipe.exceptions import MetadataTooLargeError, PermanentError
from docpipe.parsers import MARKDOWN, PDF, TEXT, PageText, ParsedDocument, parse_document

NON_FILTERABLE = ("text", "source_uri", "start_index", "end_index", "version")
BASE = {
    "doc_id": "0123456789abcdef0123456789abcdef",
    "bucket": "docs",
    "key": "a/b.pdf",
    "version": "v1",
    "content_hash": "f" * 64,
    "content_type": PDF,
    "ingested_at": "2025-01-01T00:00:00Z",
    "source_uri": "s3://docs/a/b.pdf",
}


def pages(*texts: str) -> ParsedDocument:
    return ParsedDocument(PDF, tuple(PageText(i, t) for i, t in enumerate(texts, start=1)))


def words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def test_every_chunk_carries_base_metadata_and_its_own_fields() -> None:
    doc = pages(words("alpha", 200))

    chunks = chunk_document(doc, chunk_size=300, chunk_overlap=50, base_metadata=BASE)

    assert len(chunks) > 3
    assert [c.chunk_no for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert {k: chunk.metadata[k] for k in BASE} == BASE
        assert chunk.metadata["chunk_no"] == chunk.chunk_no
        assert chunk.metadata["text"] == chunk.text
        assert len(chunk.text) <= 300


def test_offsets_point_at_the_chunk_in_the_joined_text() -> None:
    doc = pages(words("p1w", 120), words("p2w", 120), words("p3w", 120))
    full = PAGE_SEPARATOR.join(p.text for p in doc.pages)

    chunks = chunk_document(doc, chunk_size=250, chunk_overlap=40, base_metadata={})

    for chunk in chunks:
        assert full[chunk.metadata["start_index"] : chunk.metadata["end_index"]] == chunk.text


def test_neighbouring_chunks_overlap() -> None:
    chunks = chunk_document(pages(words("w", 400)), chunk_size=200, chunk_overlap=60, base_metadata={})

    for first, second in zip(chunks, chunks[1:], strict=False):
        assert second.metadata["start_index"] < first.metadata["end_index"]


def test_pages_are_recorded_and_a_chunk_spanning_pages_names_the_first_and_last() -> None:
    # Given short pages, so one chunk must span page boundaries
    doc = pages("one " * 20, "two " * 20, "three " * 20)

    chunks = chunk_document(doc, chunk_size=1000, chunk_overlap=0, base_metadata={})

    assert len(chunks) == 1
    assert (chunks[0].metadata["page"], chunks[0].metadata["page_end"]) == (1, 3)


def test_chunks_within_one_page_have_equal_page_and_page_end() -> None:
    doc = pages(words("first", 100), words("second", 100))

    chunks = chunk_document(doc, chunk_size=120, chunk_overlap=0, base_metadata={})

    first_page = [c for c in chunks if "first" in c.text and "second" not in c.text]
    second_page = [c for c in chunks if "second" in c.text and "first" not in c.text]
    assert first_page and second_page
    assert all(c.metadata["page"] == c.metadata["page_end"] == 1 for c in first_page)
    assert all(c.metadata["page"] == c.metadata["page_end"] == 2 for c in second_page)


def test_empty_pages_keep_later_page_numbers_right() -> None:
    doc = pages(words("a", 50), "", words("c", 50))

    chunks = chunk_document(doc, chunk_size=100, chunk_overlap=0, base_metadata={})

    assert all(c.metadata["page"] == 3 for c in chunks if c.text.startswith("c"))
    assert all(c.metadata["page"] != 2 for c in chunks)


def test_the_real_book_chunks_with_pages_in_order(pdf_corpus: Path) -> None:
    doc = parse_document((pdf_corpus / "GeoTopo-komprimiert.pdf").read_bytes(), key="b.pdf")

    chunks = chunk_document(doc, chunk_size=1000, chunk_overlap=150, base_metadata=BASE)

    page_starts = [c.metadata["page"] for c in chunks]
    assert page_starts == sorted(page_starts)
    assert page_starts[0] == 1 and chunks[-1].metadata["page_end"] == 117
    for chunk in chunks:
        check_metadata_limits(chunk.metadata, NON_FILTERABLE)


def test_markdown_breaks_at_headings() -> None:
    section = "para " * 30
    text = f"# One\n\n{section}\n\n# Two\n\n{section}\n\n# Three\n\n{section}"
    doc = ParsedDocument(MARKDOWN, (PageText(1, text),))

    chunks = chunk_document(doc, chunk_size=200, chunk_overlap=0, base_metadata={})

    assert [c.text.split("\n")[0] for c in chunks] == ["# One", "# Two", "# Three"]


def test_a_base_key_that_collides_with_a_chunk_field_is_refused() -> None:
    doc = ParsedDocument(TEXT, (PageText(1, "hello"),))

    with pytest.raises(MetadataTooLargeError, match="reserved"):
        chunk_document(doc, chunk_size=100, chunk_overlap=0, base_metadata={"page": "cover"})


# --- metadata limits --------------------------------------------------------------------------


def test_metadata_within_limits_passes() -> None:
    check_metadata_limits({**BASE, "text": "x" * 30_000, "page": 1}, NON_FILTERABLE)


def test_more_than_50_keys_is_too_many() -> None:
    metadata = {f"k{i}": i for i in range(51)}

    with pytest.raises(MetadataTooLargeError, match="51 metadata keys") as caught:
        check_metadata_limits(metadata, NON_FILTERABLE)

    assert caught.value.reason == "metadata_too_large"


def test_total_metadata_over_40_kb_is_refused_naming_the_largest_key() -> None:
    metadata = {**BASE, "text": "é" * 21_000}  # 42 000 bytes in UTF-8, under 40 000 characters

    with pytest.raises(MetadataTooLargeError, match="text="):
        check_metadata_limits(metadata, NON_FILTERABLE)


def test_filterable_metadata_over_2_kb_is_refused() -> None:
    metadata = {**BASE, "department": "d" * MAX_FILTERABLE_METADATA_BYTES}

    with pytest.raises(MetadataTooLargeError, match="filterable metadata"):
        check_metadata_limits(metadata, NON_FILTERABLE)


def test_the_same_large_attribute_is_fine_when_declared_non_filterable() -> None:
    metadata = {**BASE, "summary": "s" * 3000}

    check_metadata_limits(metadata, (*NON_FILTERABLE, "summary"))


def test_none_values_are_refused_before_the_api_sees_them() -> None:
    with pytest.raises(MetadataTooLargeError, match="owner"):
        check_metadata_limits({"owner": None}, NON_FILTERABLE)


def test_metadata_size_counts_utf8_bytes() -> None:
    assert metadata_size({"a": "é"}) == len('{"a":"é"}'.encode())


# -- ChunkStream: the chunks of one splitter pass, handed out page by page --------------------


def one_pass(texts: list[str], size: int, overlap: int) -> list[tuple[str, int]]:
    """What LangChain gives for the whole joined text: the reference ChunkStream must equal."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, add_start_index=True)
    return [
        (d.page_content, d.metadata["start_index"])
        for d in splitter.create_documents([PAGE_SEPARATOR.join(texts)])
    ]


def streamed(texts: list[str], size: int, overlap: int) -> tuple[list[tuple[str, int]], int]:
    """ChunkStream fed page by page: its chunks, and how many it handed out before the last page."""
    stream = ChunkStream(content_type=PDF, chunk_size=size, chunk_overlap=overlap, base_metadata={})
    chunks: list[Chunk] = []
    early = 0
    for number, text in enumerate(texts, start=1):
        stream.add(PageText(number, text))
        chunks += stream.take()
        if number == len(texts) - 1:
            early = len(chunks)
    chunks += stream.take(final=True)
    assert [c.chunk_no for c in chunks] == list(range(len(chunks)))
    return [(c.text, c.metadata["start_index"]) for c in chunks], early


@pytest.mark.parametrize(("size", "overlap"), [(1000, 150), (300, 50), (2000, 0)])
def test_streamed_chunks_are_one_passes_chunks_on_the_corpus(
    pdf_corpus: Path, size: int, overlap: int
) -> None:
    for path in sorted(pdf_corpus.glob("*.pdf")):
        try:
            doc = parse_document(path.read_bytes(), key=path.name, password="openpassword")
        except PermanentError:
            continue
        texts = [p.text for p in doc.pages]

        chunks, _ = streamed(texts, size, overlap)

        assert chunks == one_pass(texts, size, overlap), path.name


def test_the_book_is_chunked_while_its_pages_arrive(pdf_corpus: Path) -> None:
    doc = parse_document((pdf_corpus / "GeoTopo-komprimiert.pdf").read_bytes(), key="book.pdf")
    texts = [p.text for p in doc.pages]

    chunks, early = streamed(texts, 1000, 150)

    assert chunks == one_pass(texts, 1000, 150)
    assert early >= 0.9 * len(chunks)  # streamed, not everything held back for the last page


def generated_pages(rng: random.Random) -> list[str]:
    """Pages of paragraphs around the chunk size: long ones, blank lines, repeats, empty pages."""
    vocabulary = ["a", "bb", "ccc", "dddd", "topologie", "Übung", "x" * 40, "\n", "\n\n", "  "]
    phrase = " ".join(rng.choice(vocabulary) for _ in range(30))
    pages = []
    for _ in range(rng.randint(1, 12)):
        paragraphs = []
        for _ in range(rng.randint(0, 6)):
            length = rng.choice([5, 60, 140, 290, 310, 700, 1500])
            if rng.random() < 0.2:
                paragraphs.append((phrase * (length // len(phrase) + 1))[:length])  # repeated text
            else:
                paragraphs.append(" ".join(rng.choice(vocabulary) for _ in range(length // 4)))
        pages.append(rng.choice(["\n\n", "\n", " "]).join(paragraphs).strip())
    return pages


def test_streamed_chunks_are_one_passes_chunks_on_generated_documents() -> None:
    rng = random.Random(20261201)
    for case in range(400):
        texts = generated_pages(rng)
        size = rng.choice([50, 120, 300, 1000])
        overlap = rng.choice([0, 10, size // 5, size // 2])

        chunks, _ = streamed(texts, size, overlap)

        assert chunks == one_pass(texts, size, overlap), (case, size, overlap)


def test_markdown_chunks_wait_for_the_last_page_and_use_markdown_separators() -> None:
    text = "# Title\n\n" + words("intro", 80) + "\n\n## Part\n\n" + words("body", 80)
    stream = ChunkStream(content_type=MARKDOWN, chunk_size=200, chunk_overlap=20, base_metadata={})

    stream.add(PageText(1, text))

    assert stream.take() == []
    chunks = stream.take(final=True)
    assert any(c.text.startswith("## Part") for c in chunks)


def test_a_default_key_yields_to_the_base_and_to_a_page_that_sets_it() -> None:
    from docpipe.chunking import ChunkStream

    def titles(base: dict[str, object], page_metadata: dict[str, object]) -> set[object]:
        stream = ChunkStream(
            content_type=TEXT,
            chunk_size=200,
            chunk_overlap=0,
            base_metadata={**BASE, **base},
            default_metadata={"title": "file-name"},
        )
        stream.add(PageText(1, words("w", 60), metadata=page_metadata))
        return {c.metadata["title"] for c in stream.take(final=True)}

    assert titles({}, {}) == {"file-name"}
    assert titles({}, {"title": "The Book"}) == {"The Book"}  # an EPUB's dc:title
    assert titles({"title": "From the sidecar"}, {"title": "The Book"}) == {"From the sidecar"}


@pytest.mark.parametrize(
    ("key", "title"),
    [
        ("reports/2026/Q3_board-minutes.final.pdf", "Q3 board-minutes.final"),
        ("json.html", "json"),
        ("notes/README", "README"),
        ("a/" + "x" * 300 + ".pdf", "x" * 200),
    ],
)
def test_a_documents_title_is_its_file_name_without_the_extension(key: str, title: str) -> None:
    from docpipe.vectorstore import document_title

    assert document_title(key) == title
