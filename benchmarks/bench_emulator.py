"""The local S3 Vectors: QueryVectors latency through moto server, and the BM25 library it keeps.

Chunks are documents written by others: the pages of Python's HTML reference (Debian's
``python3-doc``, as the Retrieval section uses) split by LangChain's RecursiveCharacterTextSplitter
at 1,000 characters, repeated under distinct keys where a size needs more chunks than the pages
give; without python3-doc, the shared PDF corpus' text. Vectors are random (256 dimensions): an
exact scan costs the same whatever the numbers are, and embedding is not what is measured.

Latency: the emulator's moto server (``LocalServer``) on loopback, an index in ENHANCED mode with
``text`` full-text searchable, queried through a plain boto3 client (HTTP included) with topK 10:
a vector query, a text query, a hybrid query, and a hybrid query with a ``$startsWith`` and a
``$lte`` filter. Median, min and max of ``QUERIES`` queries each, after one query that builds the
structures it reads (reported apart: it is what the first query after a write pays).

Library: tantivy (as the emulator uses it, ``text.TextIndex``) and bm25s over the same chunks,
each in a fresh interpreter (resident memory is the process' growth while indexing), both with
English stop words and Snowball stemming: index build, one write of 500 more chunks (tantivy adds
and commits; bm25s has no update, so it rebuilds), and a query that scores every chunk (the
worst case; the emulator's filtered and unfiltered text queries read only the best hits).
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
        "boto3 and HTTP; *first* is the first query after the writes (a filtered hybrid one: it commits the "
        "BM25 index's writes and makes the filter's arrays). *put* includes indexing the text and the "
        "filter columns.",
        "",
        "| chunks | put (s) | first | vector | text | hybrid | hybrid + filter |",
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

        def filtered_hybrid() -> Any:
            return client.query_vectors(
                **where,
                topK=TOP_K,
                queryVector=query_vector,
                queryTexts=texts_query(),
                filter={"key": {"$startsWith": "docs/guide/"}, "page": {"$lte": 10}},
                returnMetadata=True,
            )

        first = _timed(filtered_hybrid, 1)[0]  # commits the BM25 writes, makes the filter's arrays
        vector = _timed(lambda: client.query_vectors(**where, topK=TOP_K, queryVector=query_vector), QUERIES)
        text = _timed(lambda: client.query_vectors(**where, topK=TOP_K, queryTexts=texts_query()), QUERIES)
        fused = _timed(hybrid, QUERIES)
        filtered = _timed(filtered_hybrid, QUERIES)
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
size = len(texts) + len(extra)
before = rss_mib()
if library == "bm25s":  # no incremental update: a write means a rebuild over every chunk
    import bm25s, Stemmer
    stemmer = Stemmer.Stemmer("english")
    def build(corpus):
        tokens = bm25s.tokenize(corpus, stopwords="en", stemmer=stemmer, show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return retriever
    start = time.perf_counter(); retriever = build(texts); built_s = time.perf_counter() - start
    start = time.perf_counter(); retriever = build(texts + extra); update = time.perf_counter() - start
    def score(q):
        ids = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False, return_ids=False)[0]
        known = [t for t in ids if t in retriever.vocab_dict]
        return retriever.get_scores(known) if known else np.zeros(size)
else:  # the emulator's own index (docpipe_cli.local.s3vectors.text)
    from docpipe_cli.local.s3vectors.text import TextIndex
    index = TextIndex("en")
    def write(rows):  # a query commits what was written
        start = time.perf_counter(); index.set(rows); index.ranked("x", np.ones(1, bool), 1)
        return time.perf_counter() - start
    built_s = write(enumerate(texts))
    update = write(enumerate(extra, len(texts)))
    def score(q):
        return index.scores(q, size)
built = rss_mib()
samples = []
for q in queries * 6:
    start = time.perf_counter(); score(q); samples.append((time.perf_counter() - start) * 1000)
print(json.dumps({"build": built_s, "update": update, "rss": built - before, "query": samples}))
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
            for library in ("tantivy", "bm25s"):
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


LIBRARY_CHOICE = (
    "The emulator keeps tantivy: it takes writes incrementally (the *+500 chunks* column), where bm25s "
    "has no update and rebuilds over every chunk, which the first query after each PutVectors would "
    "pay; it builds faster and has Snowball stemmers and stop words for the seven languages. bm25s "
    "scores a whole collection faster (the *query* column scores every chunk), but the emulator's text "
    "queries read only the best hits."
)


def run() -> str:
    load_before = os.getloadavg()[0]
    table = latency()
    library = libraries()
    lines = [
        "## Local S3 Vectors",
        "",
        "The emulator's QueryVectors (`docpipe_cli.local.s3vectors`, "
        "[Local stack](local.md#the-local-s3-vectors)) answered by moto server on loopback."
        f" Machine load (1-minute average) {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores.",
        "",
        *table,
        "",
        "### Its BM25 library",
        "",
        *library,
        "",
        LIBRARY_CHOICE,
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
