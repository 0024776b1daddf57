"""Retrieval quality and cost: the store's own rankings against docpipe's old Python rerank.

The labelled set is built here, at bench time, from the HTML reference of Python that Debian's
``python3-doc`` installs (``/usr/share/doc/python3-doc/html``): each page's ``<h1>`` is its
one-line summary ("json — JSON encoder and decoder"). The query is that summary (the part after
" — " where the title names a module, so the query does not simply spell the module's name), and
the page is indexed with the ``<h1>`` and ``<title>`` removed: the only way to find it is by what
it says. Only the page's main body is kept (Sphinx's sidebars list the previous and next pages'
titles, which would plant other pages' queries in it), and chapter pages that are mostly a table
of contents are left out, as are titles shared by two pages.

Every page goes through the real IngestFunction handler (HTML parser, LangChain chunking, the
offline wordllama embedder, PutVectors) on moto in-process (``mock_aws``, resources from
template.yaml, the local S3 Vectors installed). The vectors are then written to a local S3 Vectors
in its own process (``python -m docpipe_cli.local.server``: moto server with the emulator), made
ENHANCED with ``text`` (and, as levers, ``section`` and a ``title`` key) full-text searchable, and
queried through ``docpipe.search.SearchService``, the function's own path. The store running in
another process is what lets this process's CPU time be docpipe's alone (plus botocore's).

Rankings compared, at document level (a document's rank is that of its best chunk; 100 chunks
asked, documents by first appearance):
- ``hybrid``: one QueryVectors with the query vector and the query text (the store's RRF);
- the same with ``section`` / ``title`` searchable keys of their own (levers);
- ``text``: the store's BM25 alone; ``none``: the vector search alone;
- the old ``lexical``: BM25 in Python over the 300 nearest chunks, RRF with the dense order
  (k 20, BM25 weight 3; ``benchmarks/lexical_rerank.py``);
- a weighted fusion of the store's two rankings (one text query, one vector query, each over the
  whole collection), with the old constants.
Bytes are the QueryVectors answers' bodies as received; docpipe CPU is this process's CPU time for
one search minus the time spent embedding the query.
"""

from __future__ import annotations

import contextlib
import html
import io
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "docpipe"))

DOCS = Path("/usr/share/doc/python3-doc/html")
FOLDERS = ("library", "howto", "c-api", "reference", "tutorial", "extending", "using", "faq")
OVERLAP_RATIO = 0.15  # 150 for the default 1000
DEFAULT_CHUNK_SIZE = 1000
DIMENSION = 256
CUTOFFS = (1, 5, 10)
STACK_PARAMETERS = {"EmbeddingProvider": "offline", "EmbeddingDimension": DIMENSION}
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "docpipe",
    "POWERTOOLS_SERVICE_NAME": "docpipe",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}
_H1 = re.compile(r"<h1>(.*?)</h1>", re.S)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Page:
    key: str
    query: str
    html: bytes


def collect_pages(root: Path = DOCS) -> list[Page]:
    """The labelled set: (page without its summary line, the summary as the query)."""
    from bs4 import BeautifulSoup

    found: list[Page] = []
    for folder in FOLDERS:
        for path in sorted((root / folder).glob("*.html")):
            if path.name in ("index.html", "genindex.html"):
                continue
            soup = BeautifulSoup(path.read_bytes(), "html.parser")
            body = soup.find("div", attrs={"role": "main"}) or soup.find("div", class_="body")
            h1 = body.find("h1") if body is not None else None
            if body is None or h1 is None:
                continue
            if body.find("div", class_="toctree-wrapper") is not None:
                continue  # a chapter page: its text is mostly other pages' titles
            for link in h1.find_all("a", class_="headerlink"):
                link.decompose()
            title = " ".join(h1.get_text(" ", strip=True).split())
            query = title.split(" — ", 1)[1] if " — " in title else title
            h1.decompose()
            if len(query.split()) < 2 or len(body.get_text(" ", strip=True)) < 400:
                continue  # one-word titles ("Glossary") say too little to be a query
            document = f"<html><body>{body}</body></html>".encode()
            found.append(Page(f"pydoc/{folder}/{path.name}", html.unescape(query), document))
    counts = Counter(p.query.lower() for p in found)
    return [p for p in found if counts[p.query.lower()] == 1]


def build_index(
    pages: Sequence[Page], chunk_size: int, *, embed_section: bool = True
) -> tuple[list[Any], float]:
    """Index ``pages`` through the real ingest handler; return the stored vectors and the seconds."""
    import importlib.util

    import boto3
    from moto import mock_aws

    from docpipe.vectorstore import S3VectorStore
    from docpipe_cli.local import s3vectors

    s3vectors.install()  # the template's index is made text searchable, as on AWS
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.bench_ingest import _environ
    from tests.functional.conftest import s3_notification
    from tests.lambda_context import LambdaContext
    from tests.moto_resources import create_stack_resources

    sink = io.StringIO()
    with mock_aws(), contextlib.redirect_stdout(sink), _environ(FAKE_AWS):
        parameters = {**STACK_PARAMETERS, "EmbedSectionPath": str(embed_section).lower()}
        names = create_stack_resources(ROOT / "template.yaml", parameters=parameters)
        env = {k: v for k, v in names.env("IngestFunction").items() if v != ""}
        env.update(
            CHUNK_SIZE=str(chunk_size),
            CHUNK_OVERLAP=str(int(chunk_size * OVERLAP_RATIO)),
            EMBED_SECTION=str(embed_section).lower(),
        )
        s3 = boto3.client("s3", region_name="us-east-1")
        for page in pages:
            s3.put_object(Bucket=names.documents_bucket, Key=page.key, Body=page.html)
        with _environ(env):
            spec = importlib.util.spec_from_file_location(
                f"ingest_app_retrieval_{chunk_size}_{embed_section}", ROOT / "functions" / "ingest" / "app.py"
            )
            assert spec is not None and spec.loader is not None
            app = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(app)
            started = time.perf_counter()
            for i in range(0, len(pages), 10):  # the handler takes direct S3 events of many records
                batch = [
                    s3_notification(p.key, sequencer=f"{n:08X}", bucket=names.documents_bucket)["Records"][0]
                    for n, p in enumerate(pages[i : i + 10], i + 1)
                ]
                outcomes = app.handler(
                    {"Records": batch}, LambdaContext(aws_request_id="bench", remaining_ms=900_000)
                )
                bad = [o for o in outcomes["outcomes"] if o["state"] != "indexed"]
                if bad:
                    raise RuntimeError(f"ingest did not index every page: {bad[:3]}")
            seconds = time.perf_counter() - started
        store = S3VectorStore(
            boto3.client("s3vectors", region_name="us-east-1"), names.vector_bucket, names.vector_index
        )
        records = list(store.iter_vectors(return_data=True, return_metadata=True))
    return records, seconds


from docpipe.vectorstore import TEXT_SEARCH_KEYS, TITLE_KEY  # noqa: E402 (after the sys.path line above)

TOP_CHUNKS = 100  # chunks asked per ranking; documents by first appearance
LEXICAL_CANDIDATES = 300  # what the old lexical rerank over-fetched
METRICS = ("recall@1", "recall@5", "recall@10", "MRR@10")
# Searchable key sets of the store's hybrid: the default (TEXT_SEARCH_KEYS: text and the title) and
# the levers measured beside it.
KEY_SETS: dict[str, tuple[str, ...]] = {
    "hybrid": TEXT_SEARCH_KEYS,
    "hybrid_text": ("text",),
    "hybrid_section": ("text", "section"),
    "hybrid_section_title": ("text", "section", TITLE_KEY),
}


class MeasuredStore:
    """An S3VectorStore that keeps the bytes of the last QueryVectors answer it received."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from docpipe.vectorstore import S3VectorStore

        class _Measured(S3VectorStore):
            last_bytes = 0

            def query(self, *a: Any, **k: Any) -> Any:
                result = super().query(*a, **k)
                self.last_bytes = result.response_bytes
                return result

        return _Measured(*args, **kwargs)


class CpuEmbedder:
    """The offline embedder, counting the CPU seconds its queries take (subtracted from a search's)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.provider, self.model_id, self.dimension = inner.provider, inner.model_id, inner.dimension
        self.seconds = 0.0

    def embed_query(self, text: str) -> list[float]:
        started = time.process_time()
        try:
            return list(self.inner.embed_query(text))
        finally:
            self.seconds += time.process_time() - started

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [list(v) for v in self.inner.embed_documents(texts)]


@contextlib.contextmanager
def local_store(records: Sequence[Any]) -> Any:
    """The records in a local S3 Vectors of its own process, text search on every lever key, ACTIVE."""
    import socket
    import subprocess

    import boto3

    from docpipe.vectorstore import NON_FILTERABLE_METADATA_KEYS, S3VectorStore

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        **FAKE_AWS,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "docpipe"), str(ROOT / "tools")]),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "docpipe_cli.local.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client(
            "s3vectors",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for _ in range(200):
            try:
                client.list_vector_buckets()
                break
            except Exception:  # noqa: BLE001 (the server is still starting)
                time.sleep(0.1)
        client.create_vector_bucket(vectorBucketName="bench")
        store = S3VectorStore(client, "bench", "chunks")
        store.create_index(DIMENSION, "cosine", NON_FILTERABLE_METADATA_KEYS)
        store.put(records)  # ingest stored each chunk's title (its file name without the extension)
        searchable = ("text", TITLE_KEY, "section")
        store.enable_text_search(searchable, language="en")
        info = store.wait_for_text_search(searchable, poll=0.5, timeout=120)
        assert info.text_search_ready(searchable), info
        yield client
    finally:
        server.terminate()
        server.wait(timeout=30)


def _doc_order(doc_ids: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for d in doc_ids:
        seen.setdefault(d, None)
    return list(seen)


def _scores(ranked: Sequence[Sequence[str]], wanted: Sequence[str]) -> dict[str, float]:
    """recall@n (the page is among the first n documents) and MRR@10, averaged over the queries."""
    positions = [r.index(w) + 1 if w in r else None for r, w in zip(ranked, wanted, strict=True)]
    result = {
        f"recall@{n}": sum(1 for p in positions if p is not None and p <= n) / len(positions) for n in CUTOFFS
    }
    result["MRR@10"] = sum(1.0 / p for p in positions if p is not None and p <= 10) / len(positions)
    return result


def _fused_documents(
    text_docs: Sequence[str], dense_docs: Sequence[str], *, k: int, weight: float
) -> list[str]:
    """Documents of two rankings fused by weighted reciprocal rank (the text rank counts ``weight`` times)."""
    from benchmarks.lexical_rerank import rrf

    ranks = [{d: i for i, d in enumerate(docs, 1)} for docs in (dense_docs, text_docs)]
    fused = rrf(*ranks, k=k, weights=(1.0, weight))
    return sorted(fused, key=lambda d: -fused[d])


def evaluate(pages: Sequence[Page], records: Sequence[Any]) -> dict[str, Any]:
    """Figures per ranking, bytes per query and docpipe CPU per query, on one local store."""
    from benchmarks.lexical_rerank import LEXICAL_WEIGHT, RRF_K, LexicalReranker
    from docpipe.config import Settings
    from docpipe.embeddings.offline import OfflineEmbedder
    from docpipe.rerank import Candidate
    from docpipe.search import SearchRequest, SearchService

    settings = Settings(embedding_provider="offline", embedding_dimension=DIMENSION)
    embedder = CpuEmbedder(OfflineEmbedder(dimension=DIMENSION))
    key_doc = {str(r.metadata["key"]): str(r.metadata["doc_id"]) for r in records}
    wanted = [key_doc[p.key] for p in pages]
    names = (*KEY_SETS, "text", "dense", "lexical", "fusion_store")
    ranked: dict[str, list[list[str]]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in ("hybrid", "lexical")}
    sent: dict[str, list[int]] = {n: [] for n in ("hybrid_k5", "hybrid_k10", "lexical", "fusion_store")}
    lexical = LexicalReranker()
    with local_store(records) as client:
        store = MeasuredStore(client, "bench", "chunks")
        services = {
            name: SearchService(settings, store=store, embedder=embedder, text_keys=keys)  # type: ignore[arg-type]
            for name, keys in KEY_SETS.items()
        }
        plain = services["hybrid"]
        for page in pages:
            for name, service in services.items():
                response = service.search(SearchRequest(page.query, k=TOP_CHUNKS))
                assert response.ranked_by == "hybrid", response.notice
                ranked[name].append(_doc_order([str(m.metadata["doc_id"]) for m in response.matches])[:10])
            for name, mode in (("text", "text"), ("dense", "none")):
                response = plain.search(SearchRequest(page.query, k=TOP_CHUNKS, rerank=mode))
                ranked[name].append(_doc_order([str(m.metadata["doc_id"]) for m in response.matches])[:10])
            # What a caller gets at the API's sizes: bytes and docpipe CPU of one hybrid search.
            for k in (5, 10):
                embedded = embedder.seconds
                started = time.process_time()
                plain.search(SearchRequest(page.query, k=k))
                if k == 10:
                    cpu["hybrid"].append(time.process_time() - started - (embedder.seconds - embedded))
                sent[f"hybrid_k{k}"].append(store.last_bytes)
            # The old lexical: 300 nearest chunks with their text, BM25 in Python, RRF with the dense order.
            embedded = embedder.seconds
            started = time.process_time()
            result = store.query(embedder.embed_query(page.query), k=LEXICAL_CANDIDATES)
            pool = [
                Candidate(
                    m.key,
                    str(m.metadata["doc_id"]),
                    str(m.metadata.get("text", "")),
                    1.0 - (m.distance or 0.0),
                    str(m.metadata.get("section") or ""),
                )
                for m in result.matches
            ]
            order = lexical.rerank(page.query, pool, 10)
            cpu["lexical"].append(time.process_time() - started - (embedder.seconds - embedded))
            sent["lexical"].append(store.last_bytes)
            ranked["lexical"].append(_doc_order([pool[r.index].doc_id for r in order])[:10])
            # The store's two rankings over the whole collection, fused by docpipe with the old weights.
            text_hits = store.query(None, k=TOP_CHUNKS, texts=dict.fromkeys(TEXT_SEARCH_KEYS, page.query))
            text_bytes = store.last_bytes
            dense_hits = store.query(embedder.embed_query(page.query), k=TOP_CHUNKS)
            sent["fusion_store"].append(text_bytes + store.last_bytes)
            ranked["fusion_store"].append(
                _fused_documents(
                    _doc_order([str(m.metadata["doc_id"]) for m in text_hits.matches]),
                    _doc_order([str(m.metadata["doc_id"]) for m in dense_hits.matches]),
                    k=RRF_K,
                    weight=LEXICAL_WEIGHT,
                )[:10]
            )
    return {
        "figures": {name: _scores(lists, wanted) for name, lists in ranked.items()},
        "cpu_ms": {name: [v * 1000.0 for v in values] for name, values in cpu.items()},
        "kib": {name: [v / 1024 for v in values] for name, values in sent.items()},
    }


def _spread(values: Sequence[float], digits: int = 1) -> str:
    return (
        f"{statistics.median(values):.{digits}f} (min {min(values):.{digits}f}, max {max(values):.{digits}f})"
    )


def _row(label: str, f: dict[str, float]) -> str:
    return f"| {label} | " + " | ".join(f"{f[m]:.3f}" for m in METRICS) + " |"


def run() -> str:
    if not DOCS.is_dir():
        return (
            "## Retrieval\n\nNot measured: the labelled set is built from Debian's `python3-doc` "
            f"({DOCS} is missing): `apt-get install python3-doc`, then "
            "`python -m benchmarks --only retrieval`.\n"
        )
    from benchmarks.lexical_rerank import LEXICAL_WEIGHT, RRF_K

    load_before = os.getloadavg()
    pages = collect_pages()
    print(f"    retrieval: indexing {len(pages)} pages", file=sys.stderr, flush=True)
    records, seconds = build_index(pages, DEFAULT_CHUNK_SIZE)
    print(f"    retrieval: {len(records)} chunks; querying", file=sys.stderr, flush=True)
    measured = evaluate(pages, records)
    f = measured["figures"]
    labels = {
        "hybrid": "**`hybrid`**, the default (the store's: one QueryVectors, the vector search and BM25 of "
        "`text` and of `title`, RRF)",
        "hybrid_text": "`hybrid` with `text` the only searchable key",
        "hybrid_section": "`hybrid` with `text` and `section` searchable",
        "hybrid_section_title": "`hybrid` with `text`, `section` and `title` searchable",
        "text": "`text` (the store's BM25 alone, of `text` and `title`)",
        "dense": "`none` (the vector search alone; wordllama 256, exact)",
        "lexical": f"old `lexical` (Python BM25 over the {LEXICAL_CANDIDATES} nearest chunks, RRF k {RRF_K}, "
        f"weight {LEXICAL_WEIGHT:g})",
        "fusion_store": f"the store's text and vector rankings fused by docpipe (RRF k {RRF_K}, BM25 weight "
        f"{LEXICAL_WEIGHT:g})",
    }
    hybrid, lexical = f["hybrid"], f["lexical"]
    kib, cpu = measured["kib"], measured["cpu_ms"]
    ratio = statistics.median(kib["lexical"]) / statistics.median(kib["hybrid_k10"])
    best = max(KEY_SETS, key=lambda n: f[n]["recall@5"] + f[n]["MRR@10"])
    text_only = f["hybrid_text"]
    return "\n".join(
        [
            "## Retrieval",
            "",
            f"{len(pages)} pages of the Python {_python_doc_version()} HTML reference (Debian `python3-doc`: "
            f"{', '.join(FOLDERS)}), each queried by its own one-line summary (its `<h1>`, the part after "
            '" — " for module pages), removed from the page before indexing; chapter pages (tables of '
            "contents) and titles of fewer than two words or shared by two pages are left out. Built at "
            "bench time by `benchmarks/bench_retrieval.py`; nothing is committed.",
            "",
            "Indexed through the real IngestFunction handler (HTML parser with section paths, "
            f"RecursiveCharacterTextSplitter at the default chunk size {DEFAULT_CHUNK_SIZE} with "
            f"{int(OVERLAP_RATIO * 100)}% overlap, offline wordllama embeddings of {DIMENSION} "
            f"dimensions with the section path embedded, PutVectors): {len(records)} chunks in "
            f"{seconds:.0f} s. Then "
            "written to the **local S3 Vectors** (`python -m docpipe_cli.local.server`, in its own process), "
            "made ENHANCED with `text`, `title` (ingest's: the file name without its extension) and "
            "`section` full-text searchable in `en`, and queried through `docpipe.search.SearchService`. "
            f"Document level: {TOP_CHUNKS} chunks asked, a page's rank is that of its best chunk; "
            "recall@n = share of queries whose page is among the first n documents; "
            "MRR@10 = mean of 1/rank (0 beyond 10).",
            "",
            "**The emulator's BM25 is not the service's analyzer.** The store's hybrid here is the local "
            "S3 Vectors' (exact nearest neighbours, its own BM25 and English analyzer, RRF k 60), which "
            "follows the service's documentation where it has one; tokenizing, stemming, stop words, BM25 "
            "parameters and the fusion constant of Amazon S3 Vectors may differ ([Local stack](local.md)), "
            "and its vector search is approximate where this one is exact. Re-measure on AWS before "
            "relying on a difference of a few queries.",
            "",
            "| ranking | recall@1 | recall@5 | recall@10 | MRR@10 |",
            "| --- | ---: | ---: | ---: | ---: |",
            *(_row(labels[name], f[name]) for name in labels),
            "",
            f"`hybrid` against the old `lexical`: recall@5 {hybrid['recall@5']:.3f} vs "
            f"{lexical['recall@5']:.3f} ({hybrid['recall@5'] - lexical['recall@5']:+.3f}), "
            f"MRR@10 {hybrid['MRR@10']:.3f} vs "
            f"{lexical['MRR@10']:.3f} ({hybrid['MRR@10'] - lexical['MRR@10']:+.3f}). Docpipe's own fusion "
            f"of the store's two rankings: recall@5 {f['fusion_store']['recall@5']:.3f}, MRR@10 "
            f"{f['fusion_store']['MRR@10']:.3f}. With `text` the only searchable key the store's hybrid has "
            f"{text_only['recall@5']:.3f} / {text_only['MRR@10']:.3f}. Best of the key sets by recall@5 + "
            f"MRR@10: `{best}`.",
            "",
            "Per query, median (min, max) over the queries (the store in another process):",
            "",
            "| ranking | KiB the store returned | docpipe CPU ms beyond embedding the query |",
            "| --- | ---: | ---: |",
            f"| `hybrid`, k=5 | {_spread(kib['hybrid_k5'])} | |",
            f"| `hybrid`, k=10 | {_spread(kib['hybrid_k10'])} | {_spread(cpu['hybrid'], 2)} |",
            f"| old `lexical` ({LEXICAL_CANDIDATES} candidates, any k) | {_spread(kib['lexical'])} | "
            f"{_spread(cpu['lexical'], 2)} |",
            f"| docpipe fusion of the store's two rankings ({TOP_CHUNKS} each) | "
            f"{_spread(kib['fusion_store'])} | |",
            "",
            f"At k=10 `hybrid` brings back 1/{ratio:.0f} of the old `lexical`'s bytes. Docpipe CPU is "
            "this process's CPU time for one `SearchService.search` (request parsing, botocore's "
            "serialising and parsing, shaping the answer) less the query's embedding; the old `lexical` "
            "row is its QueryVectors of 300 chunks plus the Python BM25 and fusion.",
            "",
            "`bedrock` reranking is not measured: it needs Amazon Bedrock, and the bench runs offline.",
            "",
            f"Load average (1, 5, 15 min) at the start {_load(load_before)} and the end "
            f"{_load(os.getloadavg())} of this section (the machine is shared: timings move with it, "
            "the quality figures do not).",
        ]
    )


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def _python_doc_version() -> str:
    try:
        return (DOCS.resolve().parent.name.removeprefix("python").removesuffix("-doc")) or "3"
    except OSError:
        return "3"


if __name__ == "__main__":
    print(run())
