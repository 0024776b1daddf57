"""Access control: what enforcing it costs a search, and how fast a narrowed list stops matching.

Recall and latency: the retrieval benchmark's labelled pages (``bench_retrieval.collect_pages``,
indexed by the real ingest handler at the default chunk size) are spread over ten groups, page
``i`` readable by ``group:g<i mod 10>`` only. Each page's query is asked twice, side by side, through
``docpipe.search.SearchService`` and the real ``S3VectorStore`` against the local S3 Vectors
(``docpipe_cli.local.s3vectors``, an ENHANCED index: filters applied before the vector search):

- enforced: the whole index, ``AccessControl=enforced``, on behalf of a user in the page's group;
- alone: an index holding only that group's pages, no access control (what the caller could see).

No loss of recall@5 and under 10% more latency are the aims. Revocation: a corpus PDF is indexed
with a sidecar list of two groups, the list is narrowed to one, and the seconds of the one ingest
that re-labels it (and that it re-embeds nothing) are measured beside the seconds of its first index.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "docpipe"))
sys.path.insert(0, str(ROOT / "tools"))

GROUPS = 10
K = 5
REVOCATION_PDF = "GeoTopo-komprimiert.pdf"  # the corpus's largest readable PDF: many chunks to re-label


def _group(i: int) -> str:
    return f"group:g{i % GROUPS}"


def _store(records: Sequence[Any], index: str) -> Any:
    import boto3

    from docpipe.vectorstore import NON_FILTERABLE_METADATA_KEYS, S3VectorStore

    client = boto3.client("s3vectors", region_name="us-east-1")
    with contextlib.suppress(client.exceptions.ConflictException):
        client.create_vector_bucket(vectorBucketName="bench-access")
    store = S3VectorStore(client, "bench-access", index)
    store.create_index(len(records[0].data), "cosine", NON_FILTERABLE_METADATA_KEYS)
    store.put(records)
    return store


def _service(store: Any, *, enforced: bool) -> Any:
    from docpipe.config import Settings
    from docpipe.embeddings import make_embedder
    from docpipe.search import SearchService

    settings = Settings(
        vector_bucket="bench-access",
        vector_index=store.index_name,
        embedding_provider="offline",
        embedding_dimension=256,
        access_control="enforced" if enforced else "off",
    )
    return SearchService(settings, store=store, embedder=make_embedder(settings))


def measure_search(pages: Sequence[Any], records: Sequence[Any]) -> dict[str, Any]:
    """recall@5 and per-query latency, enforced over the whole index vs the group's pages alone."""
    from moto import mock_aws

    from benchmarks.bench_ingest import _environ
    from benchmarks.bench_retrieval import FAKE_AWS
    from docpipe.search import SearchRequest
    from docpipe.vectorstore import VectorRecord
    from docpipe_cli.local import s3vectors

    s3vectors.install()  # QueryVectors (filters, ENHANCED mode) for moto, as the tests have it
    group_of = {p.key: _group(i) for i, p in enumerate(pages)}
    labelled = [
        VectorRecord(r.key, r.data, {**r.metadata, "access": [group_of[str(r.metadata["key"])]]})
        for r in records
    ]
    hits = {"enforced": 0, "alone": 0}
    seconds: dict[str, list[float]] = {"enforced": [], "alone": []}
    with mock_aws(), _environ(FAKE_AWS), contextlib.redirect_stdout(io.StringIO()):
        whole = _service(_store(labelled, "whole"), enforced=True)
        for g in range(GROUPS):
            group = f"group:g{g}"
            mine = [r for r in labelled if r.metadata["access"] == [group]]
            alone = _service(_store(mine, f"alone-{g}"), enforced=False)
            for i, page in enumerate(pages):
                if _group(i) != group:
                    continue
                user = {"user": "u", "groups": [group]}
                asks = {
                    "enforced": (whole, SearchRequest(page.query, k=K, on_behalf_of=user)),  # type: ignore[arg-type]
                    "alone": (alone, SearchRequest(page.query, k=K)),
                }
                for name, (service, request) in asks.items():
                    started = time.perf_counter()
                    answer = service.search(request)
                    seconds[name].append(time.perf_counter() - started)
                    found = [str(m.metadata.get("key")) for m in answer.matches]
                    hits[name] += page.key in found
        mode = whole.mode_of(SearchRequest("x"))
    n = len(pages)
    return {"n": n, "rerank": mode, "recall": {k: v / n for k, v in hits.items()}, "seconds": seconds}


def measure_revocation() -> dict[str, Any]:
    """One PDF indexed with a two-group sidecar list, then narrowed: the relabel ingest's seconds."""
    import importlib.util

    import boto3
    from moto import mock_aws

    from benchmarks._worker import Context
    from benchmarks.bench_ingest import _environ
    from benchmarks.bench_retrieval import FAKE_AWS, STACK_PARAMETERS
    from docpipe.access.condition import access_condition, query_principals, readable
    from tests.functional.conftest import s3_notification
    from tests.moto_resources import create_stack_resources

    pdf = ROOT.parent / "shared" / "corpus" / "pdf" / REVOCATION_PDF
    key = f"docs/{REVOCATION_PDF}"
    with mock_aws(), _environ(FAKE_AWS), contextlib.redirect_stdout(io.StringIO()):
        names = create_stack_resources(
            ROOT / "template.yaml", parameters={**STACK_PARAMETERS, "AccessControl": "enforced"}
        )
        env = {k: v for k, v in names.env("IngestFunction").items() if v != ""}
        s3 = boto3.client("s3", region_name="us-east-1")
        with _environ(env):
            path = ROOT / "functions" / "ingest" / "app.py"
            spec = importlib.util.spec_from_file_location("ingest_app_access", path)
            assert spec is not None and spec.loader is not None
            app = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(app)
            calls = [0]
            embed = app.service.embedder.embed_documents

            def counted(texts: Sequence[str]) -> list[list[float]]:
                calls[0] += 1
                return list(embed(texts))

            app.service.embedder.embed_documents = counted

            def deliver(k: str, sequencer: str) -> float:
                event = s3_notification(k, sequencer=sequencer, bucket=names.documents_bucket)
                started = time.perf_counter()
                outcome = app.handler({"Records": event["Records"]}, Context())
                assert outcome["outcomes"][0]["state"] in ("indexed", "unchanged"), outcome
                return time.perf_counter() - started

            def sidecar(groups: list[str]) -> None:
                body = json.dumps({"access": groups}).encode()
                s3.put_object(Bucket=names.documents_bucket, Key=f"{key}.metadata.json", Body=body)

            sidecar(["group:finance", "group:hr"])
            s3.put_object(Bucket=names.documents_bucket, Key=key, Body=pdf.read_bytes())
            index_seconds = deliver(key, "01")
            embedded = calls[0]
            sidecar(["group:hr"])
            relabel_seconds = deliver(f"{key}.metadata.json", "02")
            store = app.service.store
            vectors = [v for v in store.iter_vectors() if v.metadata.get("key") == key]
            finance = query_principals(["group:finance"], "nobody")
            still = sum(readable(v.metadata, finance) for v in vectors)
            assert access_condition(finance)  # the same condition the search sends
    return {
        "chunks": len(vectors),
        "index_seconds": index_seconds,
        "relabel_seconds": relabel_seconds,
        "re_embedded": calls[0] - embedded,
        "still_readable": still,
    }


def run() -> str:
    from benchmarks.bench_retrieval import DEFAULT_CHUNK_SIZE, DOCS, build_index, collect_pages

    load_before = os.getloadavg()
    lines = ["## Access control", ""]
    if DOCS.is_dir():
        pages = collect_pages()
        print(f"    access: indexing {len(pages)} pages", file=sys.stderr, flush=True)
        records, _ = build_index(pages, DEFAULT_CHUNK_SIZE)
        print("    access: searching enforced and alone, side by side", file=sys.stderr, flush=True)
        m = measure_search(pages, records)
        ms = {k: [s * 1000 for s in v] for k, v in m["seconds"].items()}
        med = {k: statistics.median(v) for k, v in ms.items()}
        lines += [
            f"{m['n']} pages of the retrieval benchmark ({len(records)} chunks of {DEFAULT_CHUNK_SIZE} "
            f"characters), page i readable by `group:g<i mod {GROUPS}>` only. Each page's query asked "
            f"side by side through `SearchService` and `S3VectorStore` against the local S3 Vectors "
            f"(ENHANCED index, filters before the vector search; rerank `{m['rerank']}`): *enforced* = "
            "the whole index, `AccessControl=enforced`, on behalf of a user in the page's group; "
            "*alone* = an index of that group's pages only, no access control. Latency is the whole "
            "`search()` call (offline embedding included) on the emulator, not S3 Vectors'.",
            "",
            "| | recall@5 | latency median (min–max), ms |",
            "| --- | ---: | ---: |",
        ]
        for name in ("alone", "enforced"):
            spread = f"{med[name]:.1f} ({min(ms[name]):.1f}–{max(ms[name]):.1f})"
            lines.append(f"| {name} | {m['recall'][name]:.3f} | {spread} |")
        lines += [
            "",
            f"Enforced / alone: recall@5 {m['recall']['enforced'] - m['recall']['alone']:+.3f}, "
            f"median latency ×{med['enforced'] / med['alone']:.2f}.",
            "",
        ]
    else:
        lines += [f"Recall and latency not measured: {DOCS} is missing (`apt-get install python3-doc`).", ""]
    print("    access: revocation", file=sys.stderr, flush=True)
    r = measure_revocation()
    lines += [
        f"Revocation: `{REVOCATION_PDF}` ({r['chunks']} chunks) indexed with a sidecar list "
        "`[group:finance, group:hr]`, then the sidecar narrowed to `[group:hr]`: the one ingest of the "
        f"sidecar's event re-labelled it in {r['relabel_seconds']:.2f} s (its first index took "
        f"{r['index_seconds']:.2f} s), embedding {r['re_embedded']} batches; chunks finance can still "
        f"read after that ingest: {r['still_readable']}. Measured in-process on moto (`mock_aws`): "
        "GetVectors and PutVectors of the same data, no parsing, no embedding.",
        "",
        f"Load average (1, 5, 15 min) at the start {_load(load_before)} and the end "
        f"{_load(os.getloadavg())} of this section.",
    ]
    return "\n".join(lines) + "\n"


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    print(run())
