"""The local S3 Vectors: QueryVectors latency through moto server, and the BM25 library it keeps.

Chunks are documents written by others: the pages of Python's HTML reference (Debian's
``python3-doc``, as the Retrieval section uses) split by LangChain's RecursiveCharacterTextSplitter
at 1,000 characters, repeated under distinct keys where a size needs more chunks than the pages
give; without python3-doc, the shared PDF corpus' text. Vectors are random (256 dimensions): an
exact scan costs the same whatever the numbers are, and embedding is not what is measured.

Latency: the emulator's moto server (``LocalServer``) on loopback, an index in ENHANCED mode with
``text`` full-text searchable, queried through a plain boto3 client (HTTP included) with topK 10:
a vector query, a text query, a hybrid query, and a hybrid query with a ``$startsWith`` and an
``$eq`` filter. Median, min and max of ``QUERIES`` queries each, after one query that builds the
lazy structures (reported apart: it is what the first query after a write pays).

Library: bm25s and tantivy over the same chunks in a fresh interpreter each (resident memory is
the process' growth while indexing): index build, one batch of 500 more chunks (bm25s rebuilds,
tantivy adds and commits), and a query that scores every chunk as the emulator needs (bm25s: the
dense score array; tantivy: every hit mapped back to its row).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = Path("/usr/share/doc/python3-doc/html")
PDF_CORPUS = ROOT.parent / "shared" / "corpus" / "pdf"
SIZES = (1_000, 10_000, 50_000)
LIBRARY_SIZES = (10_000, 50_000)
DIMENSION = 256
QUERIES = 30
TOP_K = 10
QUERY_TEXTS = (
    "json encoder decoder",
    "how do I read a file line by line",
    "TypeError unhashable type",
    "asyncio event loop run_until_complete",
    "regular expression named groups",
)


def chunk_texts(limit: int) -> tuple[list[str], str]:
    """At least ``limit`` chunk texts (repeated if the corpus is smaller) and where they came from."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=150)
    texts: list[str] = []
    if DOCS.is_dir():
        from bs4 import BeautifulSoup

        source = "Python's HTML reference (python3-doc)"
        for path in sorted(DOCS.glob("*/*.html")):
            soup = BeautifulSoup(path.read_bytes(), "html.parser")
            body = soup.find("div", attrs={"role": "main"}) or soup.body
            if body is not None:
                texts.extend(splitter.split_text(body.get_text(" ", strip=True)))
            if len(texts) >= limit:
                break
    else:
        from pypdf import PdfReader

        source = "the shared PDF corpus (python3-doc is not installed)"
        for path in sorted(PDF_CORPUS.glob("*.pdf")):
            try:
                text = " ".join(page.extract_text() or "" for page in PdfReader(path).pages)
            except Exception:  # an encrypted or broken PDF of the corpus says nothing here
                continue
            texts.extend(splitter.split_text(text))
    distinct = len(texts)
    while len(texts) < limit:
        texts.extend(texts[: limit - len(texts)])
    return texts[:limit], f"{source}, {distinct:,} distinct chunks"


def _timed(call: Callable[[], Any], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _fmt(samples: Sequence[float]) -> str:
    return f"{statistics.median(samples):.1f} ({min(samples):.1f}–{max(samples):.1f})"


def latency(sizes: Sequence[int] = SIZES) -> list[str]:
    """One table row per size: query latency through the emulator's moto server."""
    import numpy as np

    texts, source = chunk_texts(max(sizes))
    rng = np.random.default_rng(7)
    rows = [
        f"Chunks: {source}. topK {TOP_K}; milliseconds, median (min–max) of {QUERIES} queries through "
        "boto3 and HTTP; *first* is the first query after the writes (it builds the filter columns and "
        "the BM25 index).",
        "",
        "| chunks | put (s) | first hybrid | vector | text | hybrid | hybrid + filter |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in sizes:
        rows.append(_latency_row(size, texts, rng))
    return rows


def _latency_row(size: int, texts: Sequence[str], rng: Any) -> str:
    """One row: put ``size`` chunks into a fresh server, then time each kind of query."""
    import boto3
    import numpy as np

    from docpipe_cli.local.server import LocalServer

    with LocalServer() as server:
        client = boto3.client(
            "s3vectors",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",  # noqa: S106 - emulator
        )
        client.create_vector_bucket(vectorBucketName="bench-vectors")
        client.create_index(
            vectorBucketName="bench-vectors",
            indexName="chunks",
            dataType="float32",
            dimension=DIMENSION,
            distanceMetric="cosine",
            metadataConfiguration={
                "nonFilterableMetadataKeys": ["text", "source_uri"],
                "textSearchConfigurations": [{"metadataKey": "text", "language": "en"}],
            },
        )
        where = {"vectorBucketName": "bench-vectors", "indexName": "chunks"}
        started = time.perf_counter()
        for start in range(0, size, 500):
            batch = [
                {
                    "key": f"doc{i // 20}#{i % 20}",
                    "data": {"float32": rng.normal(size=DIMENSION).astype(np.float32).tolist()},
                    "metadata": {
                        "text": texts[i],
                        "key": f"docs/{'guide' if i % 3 else 'api'}/{i // 20}.html",
                        "page": i % 20,
                    },
                }
                for i in range(start, min(start + 500, size))
            ]
            client.put_vectors(**where, vectors=batch)
        put_seconds = time.perf_counter() - started
        query_vector = {"float32": rng.normal(size=DIMENSION).astype(np.float32).tolist()}
        text_cycle = iter(QUERY_TEXTS * QUERIES)

        def texts_query() -> list[dict[str, str]]:
            return [{"metadataKey": "text", "text": next(text_cycle)}]

        def hybrid() -> Any:
            return client.query_vectors(
                **where, topK=TOP_K, queryVector=query_vector, queryTexts=texts_query()
            )

        first = _timed(hybrid, 1)[0]
        vector = _timed(lambda: client.query_vectors(**where, topK=TOP_K, queryVector=query_vector), QUERIES)
        text = _timed(lambda: client.query_vectors(**where, topK=TOP_K, queryTexts=texts_query()), QUERIES)
        fused = _timed(hybrid, QUERIES)
        filtered = _timed(
            lambda: client.query_vectors(
                **where,
                topK=TOP_K,
                queryVector=query_vector,
                queryTexts=texts_query(),
                filter={"key": {"$startsWith": "docs/guide/"}, "page": {"$lte": 10}},
                returnMetadata=True,
            ),
            QUERIES,
        )
    return (
        f"| {size:,} | {put_seconds:.1f} | {first:.0f} | {_fmt(vector)} | {_fmt(text)} | {_fmt(fused)} | "
        f"{_fmt(filtered)} |"
    )


_LIBRARY_PROBE = r"""
import json, sys, time
import numpy as np

def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

library, path = sys.argv[1], sys.argv[2]
texts = json.load(open(path))
extra = [t + " appendix" for t in texts[:500]]
queries = json.loads(sys.argv[3])
before = rss_mib()
if library == "bm25s":
    from docpipe_cli.local.s3vectors.text import TextIndex
    start = time.perf_counter(); index = TextIndex(texts, "en"); build = time.perf_counter() - start
    start = time.perf_counter(); TextIndex(texts + extra, "en"); update = time.perf_counter() - start
    def score(q):
        return index.scores(q)
else:
    import tantivy
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("row", stored=True, indexed=True, fast=True)
    builder.add_text_field("text", stored=False, tokenizer_name="en_stem")
    schema = builder.build()
    index = tantivy.Index(schema)
    writer = index.writer(heap_size=100_000_000, num_threads=1)
    start = time.perf_counter()
    for row, text in enumerate(texts):
        writer.add_document(tantivy.Document(row=row, text=text))
    writer.commit(); index.reload()
    build = time.perf_counter() - start
    start = time.perf_counter()
    for row, text in enumerate(extra, len(texts)):
        writer.add_document(tantivy.Document(row=row, text=text))
    writer.commit(); index.reload()
    update = time.perf_counter() - start
    searcher = index.searcher()
    size = len(texts) + len(extra)
    def score(q):
        out = np.zeros(size, dtype=np.float32)
        hits = searcher.search(index.parse_query(q, ["text"]), limit=size).hits
        for value, address in hits:
            out[searcher.doc(address)["row"][0]] = value
        return out
built = rss_mib()
samples = []
for q in queries * 6:
    start = time.perf_counter(); score(q); samples.append((time.perf_counter() - start) * 1000)
print(json.dumps({"build": build, "update": update, "rss": built - before, "query": samples}))
"""


def libraries(sizes: Sequence[int] = LIBRARY_SIZES) -> list[str]:
    """bm25s against tantivy, each in a fresh interpreter."""
    import tempfile

    rows = [
        "| chunks | library | index build (s) | +500 chunks (s) | RSS growth (MiB) | query (ms) |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for size in sizes:
        texts, _ = chunk_texts(size)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(texts, f)
        try:
            for library in ("bm25s", "tantivy"):
                done = subprocess.run(
                    [sys.executable, "-c", _LIBRARY_PROBE, library, f.name, json.dumps(QUERY_TEXTS)],
                    capture_output=True,
                    text=True,
                    check=False,
                    env={**os.environ, "PYTHONPATH": str(ROOT / "tools")},
                )
                if done.returncode != 0:
                    rows.append(
                        f"| {size:,} | {library} | not measured: {done.stderr.strip().splitlines()[-1]} |||"
                    )
                    continue
                r = json.loads(done.stdout)
                rows.append(
                    f"| {size:,} | {library} | {r['build']:.2f} | {r['update']:.2f} | {r['rss']:.0f} | "
                    f"{_fmt(r['query'])} |"
                )
        finally:
            Path(f.name).unlink()
    return rows


def run() -> str:
    lines = [
        "## Local S3 Vectors",
        "",
        "The emulator's QueryVectors (`docpipe_cli.local.s3vectors`, docs/local.md) answered by moto server "
        "on loopback.",
        "",
        *latency(),
        "",
        "### Its BM25 library",
        "",
        *libraries(),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
