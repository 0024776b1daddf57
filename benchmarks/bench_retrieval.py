"""Retrieval quality: recall@1/5/10 and MRR@10 at document level, on documents written by others.

The labelled set is built here, at bench time, from the HTML reference of Python that Debian's
``python3-doc`` installs (``/usr/share/doc/python3-doc/html``): each page's ``<h1>`` is its
one-line summary ("json — JSON encoder and decoder"). The query is that summary (the part after
" — " where the title names a module, so the query does not simply spell the module's name), and
the page is indexed with the ``<h1>`` and ``<title>`` removed: the only way to find it is by what
it says. Only the page's main body is kept (Sphinx's sidebars list the previous and next pages'
titles, which would plant other pages' queries in it), and chapter pages that are mostly a table
of contents are left out, as are titles shared by two pages.

Every page goes through the real IngestFunction handler (HTML parser, LangChain chunking, the
offline wordllama embedder, PutVectors) on moto in-process (``mock_aws``; resources from
template.yaml), once per chunk size. The index is then read back and queried exactly (every
vector scored, as S3 Vectors' exact fallback does) through ``docpipe.search.SearchService``, the
function's own search path, with an in-memory store: moto's ListVectors per query would make the
run hours long and measure moto, not ranking.

Rankings compared, all at document level (a document's rank is that of its best chunk):
- dense: the 100 nearest chunks, documents by first appearance;
- BM25: Okapi BM25 over every chunk of the collection (what a real lexical index would give);
- lexical: the ``rerank=lexical`` path (BM25 over the dense candidates, RRF with the dense order),
  with the candidates' own statistics and, beside it, with the whole collection's;
and, at the default chunk size, the same index built with ``EmbedSectionPath=false``, the candidate
pool's size, and the fusion constants tuned on one half of the queries and reported on the other.
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
CHUNK_SIZES = (500, 1000, 2000)
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


class MatrixStore:
    """The read side of S3VectorStore over vectors held in memory: exact cosine, as the fallback scores."""

    def __init__(self, records: Sequence[Any]) -> None:
        import numpy as np

        from docpipe.vectorstore import IndexInfo

        self.index_name = "bench-retrieval"
        self._records = list(records)
        self._by_key = {r.key: r for r in self._records}
        matrix = np.asarray([r.data for r in self._records], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self._matrix = matrix / np.where(norms == 0, 1.0, norms)
        self._info = IndexInfo(DIMENSION, "cosine", "float32", ("text", "source_uri"))

    def check_dimension(self, dimension: int, *, what: str = "the embedder") -> Any:
        assert dimension == self._info.dimension, (dimension, what)
        return self._info

    def query(self, vector: Sequence[float], *, k: int = 5, filter: Any = None) -> Any:
        import numpy as np

        from docpipe.vectorstore import QueryMatch, QueryResult

        q = np.asarray(vector, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        similarity = self._matrix @ q
        top = np.argsort(-similarity, kind="stable")[:k]
        matches = [
            QueryMatch(self._records[i].key, float(1.0 - similarity[i]), self._records[i].metadata)
            for i in top
        ]
        return QueryResult(matches=matches, exact_fallback=True)

    def get(self, keys: Sequence[str], **_: Any) -> list[Any]:
        return [self._by_key[k] for k in keys if k in self._by_key]

    def metadata(self, key: str) -> dict[str, Any]:
        return dict(self._by_key[key].metadata)


def _doc_order(doc_ids: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for d in doc_ids:
        seen.setdefault(d, None)
    return list(seen)


def _scores(
    ranked: Sequence[Sequence[str]], wanted: Sequence[str], subset: Sequence[int] | None = None
) -> dict[str, float]:
    """recall@n (the page is among the first n documents) and MRR@10, averaged over the queries."""
    result: dict[str, float] = {}
    chosen = range(len(wanted)) if subset is None else subset
    positions = [ranked[i].index(wanted[i]) + 1 if wanted[i] in ranked[i] else None for i in chosen]
    for n in CUTOFFS:
        result[f"recall@{n}"] = sum(1 for p in positions if p is not None and p <= n) / len(positions)
    result["MRR@10"] = sum(1.0 / p for p in positions if p is not None and p <= 10) / len(positions)
    return result


# Fusion constants tried on the tuning half (even positions in page order); the held-out half
# (odd positions) reports the choice. (RRF k, BM25 weight.)
FUSION_SWEEP = tuple((k, w) for k in (10, 20, 60) for w in (1.0, 2.0, 3.0, 4.0))
POOL_SIZES = (100, 300, 500, 1000)  # dense candidates the lexical rerank may over-fetch
METRICS = ("recall@1", "recall@5", "recall@10", "MRR@10")


def evaluate(pages: Sequence[Page], records: Sequence[Any], *, sweep: bool = False) -> dict[str, Any]:
    """The rankings' figures for one index, the median query time of each path and, with ``sweep``,
    the pool-size and fusion tables."""
    import json

    from docpipe.config import Settings
    from docpipe.embeddings.offline import OfflineEmbedder
    from docpipe.rerank import Candidate
    from docpipe.rerank.lexical import BM25, LEXICAL_WEIGHT, RRF_K, LexicalReranker, lexical_text, tokenize
    from docpipe.search import SearchRequest, SearchService
    from docpipe.search.service import RERANK_CANDIDATES

    settings = Settings(embedding_provider="offline", embedding_dimension=DIMENSION, search_rerank="lexical")
    store = MatrixStore(records)
    embedder = OfflineEmbedder(dimension=DIMENSION)
    # What BM25 scores: the same section path and text the reranker sees.
    texts = [
        lexical_text(str(r.metadata.get("text", "")), str(r.metadata.get("section") or "")) for r in records
    ]
    chunk_docs = [str(r.metadata["doc_id"]) for r in records]
    df = Counter(term for t in texts for term in set(tokenize(t)))
    collection = LexicalReranker(document_frequency=df, collection_size=len(texts))
    services = {
        "candidates": SearchService(settings, store=store, embedder=embedder),  # type: ignore[arg-type]
        "collection": SearchService(
            settings,
            store=store,
            embedder=embedder,
            rerankers=lambda m: collection if m == "lexical" else None,  # type: ignore[arg-type]
        ),
    }
    full_bm25 = BM25(texts)
    key_doc = {str(r.metadata["key"]): str(r.metadata["doc_id"]) for r in records}
    wanted = [key_doc[p.key] for p in pages]
    ranked: dict[str, list[list[str]]] = {
        name: [] for name in ("dense", "bm25", "lexical", "lexical_collection")
    }
    times: dict[str, list[float]] = {name: [] for name in ranked}
    pools: list[list[Any]] = []
    for page in pages:
        started = time.perf_counter()
        dense = services["candidates"].search(SearchRequest(page.query, k=100, rerank="none"))
        times["dense"].append(time.perf_counter() - started)
        ranked["dense"].append(_doc_order([str(m.metadata["doc_id"]) for m in dense.matches])[:10])
        started = time.perf_counter()
        scores = full_bm25.scores(page.query)
        times["bm25"].append(time.perf_counter() - started)
        best: dict[str, float] = {}
        for d, s in zip(chunk_docs, scores, strict=True):
            if s > best.get(d, 0.0):
                best[d] = s
        ranked["bm25"].append(sorted(best, key=lambda d: -best[d])[:10])
        for name, service in (
            ("lexical", services["candidates"]),
            ("lexical_collection", services["collection"]),
        ):
            started = time.perf_counter()
            response = service.search(SearchRequest(page.query, k=10, rerank="lexical"))
            times[name].append(time.perf_counter() - started)
            ranked[name].append(_doc_order([str(m.metadata["doc_id"]) for m in response.matches])[:10])
        if sweep:
            result = store.query(embedder.embed_query(page.query), k=max(POOL_SIZES))
            pools.append(
                [
                    Candidate(
                        m.key,
                        str(m.metadata["doc_id"]),
                        str(m.metadata.get("text", "")),
                        1.0 - m.distance,
                        str(m.metadata.get("section") or ""),
                    )
                    for m in result.matches
                ]
            )
    figures = {name: _scores(lists, wanted) for name, lists in ranked.items()}
    medians = {name: statistics.median(values) * 1000.0 for name, values in times.items()}
    out: dict[str, Any] = {"figures": figures, "medians": medians, "pool_rows": [], "fusion_rows": []}
    if not sweep:
        return out
    tune = [i for i in range(len(pages)) if i % 2 == 0]
    held = [i for i in range(len(pages)) if i % 2 == 1]
    out["halves"] = {
        name: (_scores(ranked[name], wanted, tune), _scores(ranked[name], wanted, held))
        for name in ("dense", "bm25", "lexical")
    }
    for size in POOL_SIZES:
        reranker = LexicalReranker()
        lists, seconds = [], []
        for page, pool in zip(pages, pools, strict=True):
            started = time.perf_counter()
            order = reranker.rerank(page.query, pool[:size], 10)
            seconds.append(time.perf_counter() - started)
            lists.append(_doc_order([pool[r.index].doc_id for r in order]))
        ceiling = sum(w in {c.doc_id for c in pool[:size]} for pool, w in zip(pools, wanted, strict=True))
        kib = (
            statistics.mean(
                len(json.dumps({"key": c.key, "distance": 0.5, "metadata": store.metadata(c.key)}).encode())
                for c in pools[0][:size]
            )
            * size
            / 1024
        )
        f = _scores(lists, wanted)
        out["pool_rows"].append(
            f"| {size}{' (default)' if size == RERANK_CANDIDATES else ''} | {ceiling / len(pages):.3f} | "
            + " | ".join(f"{f[m]:.3f}" for m in METRICS)
            + f" | {statistics.median(seconds) * 1000:.1f} | {kib:.0f} |"
        )
    for rrf_k, weight in FUSION_SWEEP:
        reranker = LexicalReranker(rrf_k=rrf_k, lexical_weight=weight)
        lists = [
            _doc_order([pool[r.index].doc_id for r in reranker.rerank(q.query, pool[:RERANK_CANDIDATES], 10)])
            for q, pool in zip(pages, pools, strict=True)
        ]
        t, h = _scores(lists, wanted, tune), _scores(lists, wanted, held)
        chosen = " (default)" if (rrf_k, weight) == (RRF_K, LEXICAL_WEIGHT) else ""
        out["fusion_rows"].append(
            f"| k={rrf_k}, BM25 weight {weight:g}{chosen} | {t['recall@5']:.3f} | {t['MRR@10']:.3f} | "
            f"{t['recall@5'] + t['MRR@10']:.3f} | {h['recall@5']:.3f} | {h['MRR@10']:.3f} |"
        )
    return out


def _row(size: int, label: str, f: dict[str, float]) -> str:
    return f"| {size} | {label} | " + " | ".join(f"{f[m]:.3f}" for m in METRICS) + " |"


def run(chunk_sizes: Sequence[int] = CHUNK_SIZES) -> str:
    if not DOCS.is_dir():
        return (
            "## Retrieval\n\nNot measured: the labelled set is built from Debian's `python3-doc` "
            f"({DOCS} is missing): `apt-get install python3-doc`, then "
            "`python -m benchmarks --only retrieval`.\n"
        )
    from docpipe.rerank.lexical import LEXICAL_WEIGHT, RRF_K
    from docpipe.search.service import RERANK_CANDIDATES

    labels = {
        "dense": "dense alone (wordllama 256, exact cosine)",
        "bm25": "BM25 alone (every chunk of the collection)",
        "lexical": f"**`lexical` hybrid** (BM25 over the {RERANK_CANDIDATES} candidates, their statistics; "
        f"RRF k {RRF_K}, weight {LEXICAL_WEIGHT:g})",
        "lexical_collection": "`lexical` hybrid, BM25 with collection statistics",
    }
    load_before = os.getloadavg()
    pages = collect_pages()
    rows: list[str] = []
    timing_rows: list[str] = []
    ingest: list[str] = []
    results: dict[int, dict[str, dict[str, float]]] = {}
    swept: dict[str, Any] = {}
    for size in chunk_sizes:
        print(f"    retrieval: chunk size {size}: indexing {len(pages)} pages", file=sys.stderr, flush=True)
        records, seconds = build_index(pages, size)
        ingest.append(f"{size}: {len(records)} chunks, {seconds:.0f} s")
        measured = evaluate(pages, records, sweep=size == DEFAULT_CHUNK_SIZE)
        if size == DEFAULT_CHUNK_SIZE:
            swept = measured
        results[size] = measured["figures"]
        rows.extend(_row(size, labels[name], f) for name, f in measured["figures"].items())
        medians = measured["medians"]
        timing_rows.append(
            f"| {size} | "
            + " | ".join(f"{medians[n]:.1f}" for n in ("dense", "bm25", "lexical", "lexical_collection"))
            + " |"
        )
    section_rows: list[str] = []
    if DEFAULT_CHUNK_SIZE in chunk_sizes:
        print("    retrieval: EmbedSectionPath=false at the default chunk size", file=sys.stderr, flush=True)
        records, _ = build_index(pages, DEFAULT_CHUNK_SIZE, embed_section=False)
        plain = evaluate(pages, records)["figures"]
        on = results[DEFAULT_CHUNK_SIZE]
        for name in ("dense", "lexical"):
            for flag, figures in (("true", on), ("false", plain)):
                label = f"{labels[name]}, EmbedSectionPath={flag}"
                section_rows.append(_row(DEFAULT_CHUNK_SIZE, label, figures[name]))
    default = results.get(DEFAULT_CHUNK_SIZE) or next(iter(results.values()))
    better = max(default["dense"]["recall@5"], default["bm25"]["recall@5"])
    better_mrr = max(default["dense"]["MRR@10"], default["bm25"]["MRR@10"])
    lex = default["lexical"]
    held = ""
    if "halves" in swept:
        h = {name: pair[1] for name, pair in swept["halves"].items()}
        held = (
            f" On the held-out half alone (the queries the fusion constants were not chosen on): dense "
            f"{h['dense']['recall@5']:.3f} / {h['dense']['MRR@10']:.3f}, BM25 {h['bm25']['recall@5']:.3f} / "
            f"{h['bm25']['MRR@10']:.3f}, `lexical` {h['lexical']['recall@5']:.3f} / "
            f"{h['lexical']['MRR@10']:.3f} (recall@5 / MRR@10)."
        )
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
            "RecursiveCharacterTextSplitter, offline wordllama embeddings of 256 dimensions with the "
            "section path embedded (`EmbedSectionPath=true`, the default), PutVectors) on moto in-process "
            "(`mock_aws`, resources from template.yaml), overlap "
            f"{int(OVERLAP_RATIO * 100)}% of the chunk size "
            f"({'; '.join(ingest)}). Queried through `docpipe.search.SearchService` (the function's path) "
            "over the index read back into memory and scored exactly (cosine, every vector). BM25, alone and "
            "in the hybrid, scores each chunk's section path and text. Document level: a page's rank is that "
            "of its best chunk; recall@n = share of queries whose page is among the first n documents; "
            "MRR@10 = mean of 1/rank (0 beyond 10).",
            "",
            "| chunk size | ranking | recall@1 | recall@5 | recall@10 | MRR@10 |",
            "| ---: | --- | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            f"At the default chunk size ({DEFAULT_CHUNK_SIZE}) the `lexical` hybrid has recall@5 "
            f"{lex['recall@5']:.3f} against {better:.3f} for the better of dense and BM25 alone "
            f"({lex['recall@5'] - better:+.3f}), and MRR@10 {lex['MRR@10']:.3f} against {better_mrr:.3f} "
            f"({lex['MRR@10'] - better_mrr:+.3f}).{held}",
            "",
            f"Embedding the section path (chunk size {DEFAULT_CHUNK_SIZE}; a second index built with "
            "`EmbedSectionPath=false`):",
            "",
            "| chunk size | ranking | recall@1 | recall@5 | recall@10 | MRR@10 |",
            "| ---: | --- | ---: | ---: | ---: | ---: |",
            *section_rows,
            "",
            f"Candidate pool (chunk size {DEFAULT_CHUNK_SIZE}, fusion defaults): how many dense candidates "
            "the `lexical` rerank over-fetches. The ceiling is the share of queries whose page has a "
            "chunk among them; rerank ms is its median time per query here (pure Python); KiB is the "
            "QueryVectors answer's JSON (keys, distances, metadata with the chunk text):",
            "",
            "| candidates | ceiling | recall@1 | recall@5 | recall@10 | MRR@10 | rerank ms | KiB |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *swept.get("pool_rows", []),
            "",
            f"Fusion constants (chunk size {DEFAULT_CHUNK_SIZE}, {RERANK_CANDIDATES} candidates, candidate "
            "statistics), chosen by recall@5 + MRR@10 on the tuning half (queries at even positions in page "
            "order) and reported on the held-out half (odd positions):",
            "",
            "| reciprocal-rank fusion | tune recall@5 | tune MRR@10 | tune sum | held-out recall@5 "
            "| held-out MRR@10 |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *swept.get("fusion_rows", []),
            "",
            "Median milliseconds per query on this machine (one query at a time; dense includes embedding "
            "the query and scoring every chunk in numpy; BM25 alone is pure Python over every chunk, which "
            "is why a deployment cannot do it per query without a lexical index):",
            "",
            "| chunk size | dense | BM25 alone | lexical, candidate statistics | lexical, collection stats |",
            "| ---: | ---: | ---: | ---: | ---: |",
            *timing_rows,
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
    sizes = tuple(int(s) for s in sys.argv[1:]) or CHUNK_SIZES
    print(run(sizes))
