"""Ingest benchmarks: PDF engines, text quality, the LangChain baseline, embedding throughput, RSS.

``run()`` returns the "## Ingest" section of docs/benchmarks.md. Figures are wall-clock on the
machine named at the top of that page; each is one run (best of ``REPEATS`` for the short ones).
"""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "docpipe"))

from docpipe.chunking import chunk_document  # noqa: E402
from docpipe.exceptions import PermanentError  # noqa: E402
from docpipe.parsers import ParsedDocument, parse_document  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "pdf"
BOOK = "GeoTopo-komprimiert.pdf"
PASSWORDS = {"libreoffice-writer-password.pdf": "openpassword"}
ENGINES = ("pypdfium2", "pypdf")
CHUNK_SIZE, CHUNK_OVERLAP = 1000, 150
REPEATS = 3
BEDROCK_LATENCY = 0.05
_WORD = re.compile(r"\w+", re.UNICODE)


def _timed(fn: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.pdf"))


def _parse_corpus(engine: str) -> tuple[dict[str, ParsedDocument], dict[str, str]]:
    parsed: dict[str, ParsedDocument] = {}
    failed: dict[str, str] = {}
    for path in _corpus():
        try:
            parsed[path.name] = parse_document(
                path.read_bytes(), key=path.name, pdf_engine=engine, password=PASSWORDS.get(path.name)
            )
        except PermanentError as e:
            failed[path.name] = e.reason
    return parsed, failed


# --- PDF engines -----------------------------------------------------------------------------


def engine_section() -> tuple[str, dict[str, dict[str, ParsedDocument]]]:
    """Pages/s of each engine alone (parse_document, bytes already in memory)."""
    book = (CORPUS / BOOK).read_bytes()
    rows = [
        "| engine | book pages/s (117 p.) | book seconds | corpus pages/s | corpus pages | unreadable |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    parsed_by_engine: dict[str, dict[str, ParsedDocument]] = {}
    for engine in ENGINES:
        repeats = REPEATS if engine == "pypdfium2" else 1
        book_s, book_doc = _timed(lambda e=engine: parse_document(book, key=BOOK, pdf_engine=e), repeats)
        corpus_s, (parsed, failed) = _timed(lambda e=engine: _parse_corpus(e), repeats)
        pages = sum(d.page_count for d in parsed.values())
        parsed_by_engine[engine] = parsed
        rows.append(
            f"| {engine} | {book_doc.page_count / book_s:,.0f} | {book_s:.2f} | {pages / corpus_s:,.0f} | "
            f"{pages} | {', '.join(f'{k} ({v})' for k, v in failed.items()) or '-'} |"
        )
    return "\n".join(rows), parsed_by_engine


def quality_section(parsed_by_engine: dict[str, dict[str, ParsedDocument]]) -> str:
    """Compare the engines' text: words, characters, shared vocabulary, replacement characters."""
    a, b = (parsed_by_engine[e] for e in ENGINES)
    rows = [
        "| file | pages | words pdfium | words pypdf | chars pdfium | chars pypdf | word-set Jaccard | "
        "U+FFFD pdfium / pypdf |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    totals = [0, 0, 0, 0]
    for name in sorted(set(a) & set(b)):
        ta, tb = a[name].text, b[name].text
        wa, wb = _WORD.findall(ta), _WORD.findall(tb)
        sa, sb = set(wa), set(wb)
        jaccard = len(sa & sb) / len(sa | sb) if sa | sb else 1.0
        totals = [totals[0] + len(wa), totals[1] + len(wb), totals[2] + len(ta), totals[3] + len(tb)]
        rows.append(
            f"| {name} | {a[name].page_count} | {len(wa):,} | {len(wb):,} | {len(ta):,} | {len(tb):,} | "
            f"{jaccard:.2f} | {ta.count(chr(0xFFFD))} / {tb.count(chr(0xFFFD))} |"
        )
    rows.append(f"| **total** | | {totals[0]:,} | {totals[1]:,} | {totals[2]:,} | {totals[3]:,} | | |")
    return "\n".join(rows)


def _book_words(engine: str, doc: ParsedDocument) -> str:
    # German words with umlauts and hyphenated words joined back are where the engines differ.
    probes = ("Übungsaufgaben", "Widerspruchsbeweisen", "zusammenhängend", "Topologie", "Homöomorphismus")
    found = [p for p in probes if p in doc.text]
    return f"{engine}: {len(found)}/{len(probes)} probe words found ({', '.join(found) or 'none'})"


# --- LangChain baseline ----------------------------------------------------------------------


def langchain_baseline() -> tuple[str, float, float]:
    """PyPDFLoader-equivalent + RecursiveCharacterTextSplitter, pages/s on the book and corpus.

    ``langchain_community`` (home of ``PyPDFLoader``) is not installed here: it pulls in SQLAlchemy,
    aiohttp, numpy and more. ``PyPDFLoader.load()`` is pypdf's ``page.extract_text()`` per page
    into one ``Document`` each, so that is what the baseline does, then ``split_documents``.
    """
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from pypdf import PdfReader

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True
    )

    def load_and_split(path: Path) -> tuple[int, int]:
        reader = PdfReader(io.BytesIO(path.read_bytes()), password=PASSWORDS.get(path.name))
        docs = [
            Document(page_content=page.extract_text(), metadata={"source": str(path), "page": i})
            for i, page in enumerate(reader.pages)
        ]
        return len(docs), len(splitter.split_documents(docs))

    book_s, (book_pages, book_chunks) = _timed(lambda: load_and_split(CORPUS / BOOK))
    corpus_pages = 0
    start = time.perf_counter()
    for path in _corpus():
        try:
            corpus_pages += load_and_split(path)[0]
        except Exception:  # noqa: BLE001 - the baseline has no skip logic; unreadable files are left out
            continue
    corpus_s = time.perf_counter() - start
    line = (
        f"LangChain baseline (pypdf `extract_text` per page as `PyPDFLoader` does, then "
        f"`RecursiveCharacterTextSplitter({CHUNK_SIZE}, {CHUNK_OVERLAP})`): "
        f"book {book_pages / book_s:,.1f} pages/s "
        f"({book_chunks} chunks, {book_s:.2f} s); corpus {corpus_pages / corpus_s:,.1f} pages/s "
        f"({corpus_pages} pages)."
    )
    return line, book_pages / book_s, corpus_pages / corpus_s


# --- embeddings ------------------------------------------------------------------------------


def book_chunks() -> list[str]:
    doc = parse_document((CORPUS / BOOK).read_bytes(), key=BOOK)
    chunks = chunk_document(doc, chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, base_metadata={})
    return [c.text for c in chunks]


def offline_embedding(texts: Sequence[str]) -> str:
    from docpipe.embeddings.offline import OfflineEmbedder, load_model

    load_s, _ = _timed(load_model)
    embedder = OfflineEmbedder(dimension=256)
    seconds, _ = _timed(lambda: embedder.embed_documents(texts), REPEATS)
    return (
        f"Offline embedding (wordllama l2_supercat, 256 dimensions): {len(texts) / seconds:,.0f} chunks/s "
        f"({len(texts)} chunks of the book in {seconds:.2f} s; model load {load_s:.2f} s once per process)."
    )


class _SlowTitan:
    """bedrock-runtime stand-in answering every InvokeModel after ``BEDROCK_LATENCY`` seconds."""

    def __init__(self, dimension: int) -> None:
        self.body = json.dumps({"embedding": [0.0] * dimension}).encode()

    def invoke_model(self, **_: Any) -> dict[str, Any]:
        time.sleep(BEDROCK_LATENCY)
        return {"body": io.BytesIO(self.body)}


def bedrock_concurrency(texts: Sequence[str]) -> str:
    from docpipe.embeddings.bedrock import BedrockEmbedder

    rows = [
        f"| threads | chunks | chunks/s | ideal (threads / {BEDROCK_LATENCY} s) | share of ideal | target |",
        "| ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for threads in (8, 16, 32):
        sample = list(texts[: threads * 10])
        embedder = BedrockEmbedder(_SlowTitan(1024), dimension=1024, concurrency=threads)
        seconds, _ = _timed(lambda e=embedder, s=sample: e.embed_documents(s))
        rate, ideal = len(sample) / seconds, threads / BEDROCK_LATENCY
        rows.append(
            f"| {threads} | {len(sample)} | {rate:,.0f} | {ideal:,.0f} | {rate / ideal:.0%} | "
            f"{'met' if rate >= 0.7 * ideal else 'MISSED'} (>= 70%) |"
        )
    return "\n".join(rows)


# --- memory ----------------------------------------------------------------------------------

_RSS_SCRIPT = """
import sys
sys.path.insert(0, {layer!r})
from docpipe.parsers import parse_document
from docpipe.chunking import chunk_document
from docpipe.embeddings.offline import OfflineEmbedder
data = open({book!r}, "rb").read()
doc = parse_document(data, key="book.pdf", pdf_engine={engine!r})
chunks = chunk_document(doc, chunk_size={size}, chunk_overlap={overlap}, base_metadata={{}})
OfflineEmbedder(dimension=256).embed_documents([c.text for c in chunks])
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec.
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def peak_rss() -> str:
    """Peak RSS of a fresh interpreter that parses, chunks and embeds (offline) the book."""
    parts = []
    for engine in ENGINES:
        script = _RSS_SCRIPT.format(
            layer=str(ROOT / "layers" / "docpipe"),
            book=str(CORPUS / BOOK),
            engine=engine,
            size=CHUNK_SIZE,
            overlap=CHUNK_OVERLAP,
        )
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        parts.append(f"{engine} {int(out.stdout.strip().splitlines()[-1]) / 1024:.0f} MB")
    return (
        "Peak RSS, fresh interpreter, parse + chunk + offline-embed the 117-page book (target < 300 MB): "
        + "; ".join(parts)
        + "."
    )


# --- handler path (filled in by the ingest-handler work) -------------------------------------


def handler_path_section() -> str:
    """Full handler path: parse + chunk + offline embed + vector write to moto, import time, cold doc.

    TODO(handler path): measure pages/s of IngestService on the book and the corpus against moto
    in-process (target within 1.5x of the fastest engine's bare extraction time and >= 10x the
    LangChain baseline), the handler's import time in a fresh interpreter (< 400 ms) and one
    one-page document from cold (< 1.5 s). Return a Markdown fragment (no "##" heading).
    """
    return "_Handler-path figures: not measured yet._"


# --- section ---------------------------------------------------------------------------------


def run() -> str:
    """The "## Ingest" section of docs/benchmarks.md."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    engines, parsed = engine_section()
    quality = quality_section(parsed)
    probes = "; ".join(_book_words(e, parsed[e][BOOK]) for e in ENGINES)
    baseline, _, _ = langchain_baseline()
    texts = book_chunks()
    return (
        "\n\n".join(
            [
                "## Ingest",
                "### PDF engines alone\n\n`parse_document()` on bytes in memory; the encrypted "
                "corpus file is opened with its password.\n\n" + engines,
                "### Text quality, pypdfium2 vs pypdf\n\nSame corpus, same cleaning (`clean_text`). "
                "Jaccard = shared distinct words / all distinct words of the two extractions.\n\n"
                + quality
                + "\n\n"
                + probes,
                "### Baseline\n\n" + baseline,
                "### Embeddings\n\n"
                + offline_embedding(texts)
                + f"\n\nBedrock embedder, InvokeModel stubbed to answer after "
                f"{BEDROCK_LATENCY * 1000:.0f} ms:\n\n" + bedrock_concurrency(texts),
                "### Memory\n\n" + peak_rss(),
                "### Handler path\n\n" + handler_path_section(),
            ]
        )
        + "\n"
    )


if __name__ == "__main__":
    print(run())
