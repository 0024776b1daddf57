"""A stack with AWS's latency, simulated: round trips, batches, the book
with Bedrock, the search path, and what it costs per 1,000 pages and documents.

The handler runs in its own process against ``aws_sim.LatencyProxy`` (in this process) in front of
a moto server (another process), Bedrock answered by the proxy. Embeddings are the AWS default:
Bedrock Titan V2 shape, 1,024 dimensions, ``EmbeddingConcurrency`` 8.
"""

from __future__ import annotations

import json
import math
import os
from functools import cache
from pathlib import Path
from typing import Any

from benchmarks import prices
from benchmarks.aws_sim import (
    DEFAULT_DELAY,
    DELAYS,
    Call,
    CpuQuota,
    LatencyProxy,
    MotoProcess,
    Worker,
    covered,
    create_stack,
    load,
    median,
    pointed_at,
    spread,
    sqs_event,
    verdict,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "pdf"
BOOK = "GeoTopo-komprimiert.pdf"
BOOK_PAGES = 117
ONE_PAGE = "minimal-document.pdf"
REPEATS = 5
BATCH = 10
BATCH_TARGET = 2.5
CONCURRENCY = 8
DIMENSION = 1024
CHARS_PER_TOKEN = 4.0  # assumption: Titan's tokenizer is not public
LAMBDA_VCPU_MB = 1769  # Lambda: 1,769 MB = one vCPU
MEMORY_SIZES = (256, 512, 768, 1024, 1536, 1769, 2048, 3008)
QUOTA_SIZES = (512, 1024, 1769)
WRITES = {"UpdateItem", "PutItem", "DeleteItem"}


@cache
def _template() -> dict[str, Any]:
    """template.yaml read once, by the reader the local stack and the tests use."""
    from docpipe_cli.template import load_template

    return load_template(ROOT / "template.yaml")


def _parameter_default(name: str) -> int:
    """A Number parameter's Default (IngestFunction's MemorySize is one)."""
    return int(_template()["Parameters"][name]["Default"])


def _template_memory() -> int:
    return _parameter_default("IngestMemorySize")


def _search_memory() -> int:
    """SearchFunction's MemorySize: the template's Globals (it sets none of its own)."""
    return int(_template()["Globals"]["Function"]["MemorySize"])


def _calls_of(proxy: LatencyProxy, result: dict[str, Any]) -> list[Call]:
    return proxy.between(result["start"], result["end"])


def _measure_in(
    worker: Worker,
    proxy: LatencyProxy,
    moto: MotoProcess,
    bucket: str,
    tag: str,
    repeats: int,
    book_repeats: int,
) -> dict[str, Any]:
    """Single small documents, batches of ``BATCH`` and the book through ``worker``."""
    out: dict[str, Any] = {"single": [], "batch": [], "book": []}

    def one(kind: str, keys: list[str]) -> None:
        before = moto.cpu_seconds()
        r = worker.run(events=[sqs_event(bucket, keys)])
        out[kind].append({**r, "calls": _calls_of(proxy, r), "moto_cpu": moto.cpu_seconds() - before})

    for run in range(repeats):
        one("single", [f"{tag}single{run}/{ONE_PAGE}"])
        one("batch", [f"{tag}batch{run}/{n}/{ONE_PAGE}" for n in range(BATCH)])
    for run in range(book_repeats):
        one("book", [f"{tag}book{run}/{BOOK}"])
    return out


def measure() -> dict[str, Any]:
    one_page, book = (CORPUS / ONE_PAGE).read_bytes(), (CORPUS / BOOK).read_bytes()
    # DOCPIPE_BENCH_QUOTA=0 skips the CPU-quota check runs (they take minutes at 512 MB).
    quota = CpuQuota.available() and os.environ.get("DOCPIPE_BENCH_QUOTA", "1") != "0"
    tags = ["", *(f"q{m}-" for m in QUOTA_SIZES)] if quota else [""]
    with MotoProcess() as moto:
        stack = create_stack(moto, provider="bedrock", dimension=DIMENSION, concurrency=CONCURRENCY)
        s3 = stack.client("s3")
        s3.put_object(Bucket=stack.bucket, Key="warmup/one.pdf", Body=one_page)
        for tag in tags:
            for run in range(REPEATS):
                s3.put_object(Bucket=stack.bucket, Key=f"{tag}single{run}/{ONE_PAGE}", Body=one_page)
                s3.put_object(Bucket=stack.bucket, Key=f"{tag}book{run}/{BOOK}", Body=book)
                for n in range(BATCH):
                    s3.put_object(Bucket=stack.bucket, Key=f"{tag}batch{run}/{n}/{ONE_PAGE}", Body=one_page)
        load_before = load()
        with LatencyProxy(moto.endpoint) as proxy:
            env = pointed_at(stack.env, proxy.endpoint)
            with Worker("handler", env) as worker:
                worker.run(events=[sqs_event(stack.bucket, ["warmup/one.pdf"])])
                data = _measure_in(worker, proxy, moto, stack.bucket, "", REPEATS, REPEATS)
            with Worker("search", env) as searcher:
                queries = [
                    "Topologie kompakter Räume",
                    "Homöomorphismus",
                    "stetige Abbildung",
                    "Übungsaufgaben",
                ]
                searcher.run(queries=queries[:1])
                data["search"] = [searcher.run(queries=[q]) for q in queries * 3]
            data["quota"] = {}
            for memory in QUOTA_SIZES if len(tags) > 1 else ():
                with (
                    CpuQuota(memory / LAMBDA_VCPU_MB) as quota,
                    Worker("handler", env, quota=quota) as worker,
                ):
                    worker.run(events=[sqs_event(stack.bucket, ["warmup/one.pdf"])])
                    data["quota"][memory] = _measure_in(
                        worker, proxy, moto, stack.bucket, f"q{memory}-", 3, 2
                    )
        data["vectors"] = _vector_sizes(stack)
        data["items"] = _item_sizes(stack)
    data["load_before"], data["load_after"] = load_before, load()
    # The memory floor is set by the largest document, not the book: a 1,000-page PDF, the Scale
    # section's, through the same Bedrock path (its own moto server and proxy).
    from benchmarks.bench_scale import big_document

    data["largest"] = big_document()
    return data


def _vector_sizes(stack: Any) -> dict[str, Any]:
    """Logical bytes per stored vector (float32 data + key + metadata), as S3 Vectors bills them."""
    client = stack.client("s3vectors")
    sizes: list[int] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {
            "vectorBucketName": stack.names.vector_bucket,
            "indexName": stack.names.vector_index,
            "returnMetadata": True,
            "maxResults": 500,
        }
        if token:
            kwargs["nextToken"] = token
        page = client.list_vectors(**kwargs)
        for v in page.get("vectors", []):
            sizes.append(4 * DIMENSION + len(v["key"]) + len(json.dumps(v.get("metadata") or {}).encode()))
        token = page.get("nextToken")
        if not token:
            break
    return {"count": len(sizes), "mean_bytes": sum(sizes) / max(1, len(sizes))}


def _item_sizes(stack: Any) -> list[int]:
    """Approximate DynamoDB item sizes (attribute names + values) of the registry."""
    items = stack.client("dynamodb").scan(TableName=stack.names.table)["Items"]
    return [len(json.dumps(item)) for item in items]


# --- report ----------------------------------------------------------------------------------


def _delay_table() -> str:
    rows = ["| service | operation | simulated round trip | source |", "| --- | --- | --- | --- |"]
    for (service, op), d in DELAYS.items():
        extra = f" + body at {d.bytes_per_s / 1e6:.0f} MB/s" if d.bytes_per_s else ""
        rows.append(f"| {service} | {op} | {d.base * 1000:.0f} ms{extra} | {d.source} |")
    rows.append(f"| any other | * | {DEFAULT_DELAY.base * 1000:.0f} ms | {DEFAULT_DELAY.source} |")
    return "\n".join(rows)


def _critical_path(run: dict[str, Any]) -> str:
    calls: list[Call] = sorted(run["calls"], key=lambda c: c.start)
    rows = [
        "| # | call | starts at (ms) | round trip (ms) | simulated (ms) | moto's own (ms) |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for n, c in enumerate(calls, 1):
        status = "" if c.status < 300 else f" ({c.status})"
        rows.append(
            f"| {n} | {c.service} {c.operation}{status} | {(c.start - run['start']) * 1000:.0f} | "
            f"{(c.end - c.start) * 1000:.0f} | {c.nominal * 1000:.0f} | {c.upstream * 1000:.0f} |"
        )
    return "\n".join(rows)


def _summary(runs: list[dict[str, Any]]) -> dict[str, list[float]]:
    return {
        "wall": [r["wall"] for r in runs],
        "cpu": [r["cpu"] for r in runs],
        "rq": [r["run_queue_wait"] for r in runs],
        "covered": [covered(r["calls"]) for r in runs],
        "nominal": [sum(c.nominal for c in r["calls"]) for r in runs],
        # moto (on this loaded machine) answering later than the simulated round trip: that much
        # of a call's time is the emulator's, not AWS's and not docpipe's.
        "excess": [sum(max(0.0, (c.end - c.start) - c.nominal) for c in r["calls"]) for r in runs],
        "moto_cpu": [r.get("moto_cpu", 0.0) for r in runs],
    }


def _model_duration(wall: float, cpu: float, rq: float, memory: int) -> float:
    """Lambda duration at ``memory`` from a run measured with up to 2 unthrottled cores.

    Off-CPU time (waiting on AWS) is ``wall - cpu - run-queue wait`` and does not stretch; CPU time
    stretches by 1 / (memory / 1,769 MB). Never shorter than the measured run without its
    run-queue wait (this machine had 2 cores: more vCPU than that cannot be credited).
    """
    share = memory / LAMBDA_VCPU_MB
    off_cpu = max(0.0, wall - cpu - rq)
    return max(wall - rq, off_cpu + cpu / share)


def _usd(value: float) -> str:
    return f"${value:.4f}" if value >= 0.001 or value == 0 else f"${value:.6f}"


def _lambda_cost(duration: float, memory: int, price: float) -> float:
    return math.ceil(duration * 1000) / 1000 * memory / 1024 * price


def run() -> str:
    data = measure()
    memory = _template_memory()
    single, batch, book = (_summary(data[k]) for k in ("single", "batch", "book"))
    median_single = min(data["single"], key=lambda r: abs(r["wall"] - median(single["wall"])))
    batch_ratio = median(batch["wall"]) / median(single["wall"])
    book_chunks = median([sum(1 for c in r["calls"] if c.operation == "InvokeModel") for r in data["book"]])
    ideal = book_chunks * DELAYS[("bedrock", "InvokeModel")].base / CONCURRENCY
    book_rate = BOOK_PAGES / median(book["wall"])

    lines = [
        "## Simulated AWS latency",
        "",
        "IngestFunction's handler in its own process (Bedrock provider, 1,024 dimensions, "
        f"`EmbeddingConcurrency` {CONCURRENCY}, tracing on), every AWS call through a loopback proxy "
        "that holds each response until the operation's round trip below has passed since the "
        "request arrived (`max(simulated, moto's own time)`), Bedrock answered by the proxy. The "
        "proxy names the service from the SigV4 credential scope and the operation from "
        "`X-Amz-Target` or method + path (`benchmarks/aws_sim.py`).",
        "",
        _delay_table(),
        "",
        "### One small document (one page)",
        "",
        "| figure | median (min, max) of 5 |",
        "| --- | ---: |",
        f"| handler wall time | {spread(single['wall'])} |",
        f"| time with at least one AWS call in flight (the critical path's round trips) | "
        f"{spread(single['covered'])} |",
        f"| sum of the simulated round trips of every call | {spread(single['nominal'])} |",
        f"| handler CPU | {spread(single['cpu'])} |",
        f"| handler runnable but waiting for a CPU (shared machine) | {spread(single['rq'])} |",
        f"| calls' time beyond their simulated round trip (moto slower than AWS), summed | "
        f"{spread(single['excess'])} |",
        "",
        f"The median run's calls, in order (wall {median_single['wall'] * 1000:.0f} ms):",
        "",
        _critical_path(median_single),
        "",
        "### A batch of 10 small documents",
        "",
        "| figure | median (min, max) of 5 | target | verdict |",
        "| --- | ---: | --- | --- |",
        f"| one record | {spread(single['wall'])} | | |",
        f"| {BATCH} records in one invocation | {spread(batch['wall'])} | | |",
        f"| ratio of medians | {batch_ratio:.2f}x | <= {BATCH_TARGET}x | "
        f"{verdict(batch_ratio <= BATCH_TARGET)} |",
        f"| batch: time with an AWS call in flight | {spread(batch['covered'])} | | |",
        f"| batch: handler CPU | {spread(batch['cpu'])} | | |",
        f"| batch: calls' time beyond their simulated round trip (moto slower than AWS), summed | "
        f"{spread(batch['excess'])} | | |",
        f"| batch: moto server's CPU in the same window | {spread(batch['moto_cpu'])} | | |",
        "",
        "### The book with Bedrock embeddings",
        "",
        "| figure | median (min, max) of 5 |",
        "| --- | ---: |",
        f"| wall time, {BOOK_PAGES} pages, {book_chunks:.0f} chunks (one InvokeModel each) | "
        f"{spread(book['wall'])} |",
        f"| pages/s (median) | {book_rate:,.1f} |",
        f"| ideal: every chunk's InvokeModel at full concurrency "
        f"({book_chunks:.0f} x 50 ms / {CONCURRENCY}), "
        f"all else free | {ideal * 1000:,.0f} ms |",
        f"| share of the ideal (ideal / median wall) | {ideal / median(book['wall']):.0%} |",
        f"| handler CPU | {spread(book['cpu'])} |",
        f"| calls' time beyond their simulated round trip (moto slower than AWS), summed | "
        f"{spread(book['excess'])} |",
        f"| peak RSS of the handler process | {max(r['vmhwm_kb'] for r in data['book']) / 1024:,.0f} MB |",
        "",
    ]
    lines += _cost_section(data, single, batch, book, book_chunks, memory)
    lines.append(
        f"\nLoad (1-min average) before / after: {data['load_before']} / {data['load_after']}. The "
        "round trips are simulated and moto's own time hides under them where it is shorter; "
        "where a call's round trip exceeds its simulated figure, moto (or this loaded machine) "
        "was slower than the table.\n"
    )
    return "\n".join(lines)


def _cost_section(
    data: dict[str, Any],
    single: dict[str, list[float]],
    batch: dict[str, list[float]],
    book: dict[str, list[float]],
    book_chunks: float,
    memory: int,
) -> list[str]:
    p = prices
    vec_bytes = data["vectors"]["mean_bytes"]
    item_wru = math.ceil(median([float(s) for s in data["items"]]) / 1024) if data["items"] else 1

    def per_run(runs: list[dict[str, Any]]) -> dict[str, float]:
        """Median counts per run: calls by operation, Bedrock characters."""
        ops: dict[str, list[float]] = {}
        for r in runs:
            counts: dict[str, float] = {}
            for c in r["calls"]:
                counts[c.operation] = counts.get(c.operation, 0) + 1
                counts["_chars"] = counts.get("_chars", 0) + c.input_chars
            for k in set(ops) | set(counts):
                ops.setdefault(k, []).append(counts.get(k, 0))
        return {k: median(v) for k, v in ops.items()}

    def costs(
        runs: list[dict[str, Any]], s: dict[str, list[float]], docs: int, scale: float
    ) -> dict[str, float]:
        """USD for ``scale`` x the work of one median run (``docs`` documents in one invocation)."""
        n = per_run(runs)
        vectors = n.get("InvokeModel", 0)
        puts = n.get("PutVectors", 0)
        put_bytes = max(puts * 128 * 1024, vectors * vec_bytes)
        duration = median(s["wall"])
        return {
            "Lambda duration x86_64": scale * _lambda_cost(duration, memory, p.LAMBDA_X86_GB_S.usd or 0),
            "Lambda duration arm64": scale * _lambda_cost(duration, memory, p.LAMBDA_ARM_GB_S.usd or 0),
            "Lambda requests": scale * (p.LAMBDA_REQUEST.usd or 0),
            "Bedrock tokens": scale
            * n.get("_chars", 0)
            / CHARS_PER_TOKEN
            / 1000
            * (p.TITAN_V2_PER_1K_TOKENS.usd or 0),
            "S3 Vectors PUT": scale * put_bytes / 1e9 * (p.S3V_PUT_PER_GB.usd or 0),
            "S3 Vectors storage, per month": scale
            * vectors
            * vec_bytes
            / 1e9
            * (p.S3V_STORAGE_GB_MONTH.usd or 0),
            "DynamoDB writes": scale
            * sum(n.get(op, 0) for op in WRITES)
            * item_wru
            * (p.DDB_WRITE_UNIT.usd or 0),
            "SQS (1 send per document, receive + delete per batch)": scale
            * (docs + 2)
            * (p.SQS_REQUEST.usd or 0),
        }

    book_scale = 1000 / BOOK_PAGES
    per_pages = costs(data["book"], book, 1, book_scale)
    per_docs = costs(data["batch"], batch, BATCH, 1000 / BATCH)
    rows = [
        "| item | per 1,000 pages (the book) | per 1,000 one-page documents (batches of 10) |",
        "| --- | ---: | ---: |",
    ]
    for key in per_pages:
        rows.append(f"| {key} | {_usd(per_pages[key])} | {_usd(per_docs[key])} |")
    total = {
        k: sum(v for name, v in d.items() if name != "Lambda duration arm64" and "storage" not in name)
        for k, d in (("pages", per_pages), ("docs", per_docs))
    }
    rows.append(
        f"| **total, x86_64, storage excluded** | **${total['pages']:.4f}** | **${total['docs']:.4f}** |"
    )
    rows.append(
        f"| Textract, only if every page were OCR'd (not on this path) | "
        f"${1000 * (p.TEXTRACT_PAGE.usd or 0):.2f} | ${1000 * (p.TEXTRACT_PAGE.usd or 0):.2f} |"
    )

    searches = data["search"]
    search_memory = _search_memory()
    search_wall = median([r["wall"] for r in searches])
    search_cost = 1000 * (
        _lambda_cost(search_wall, search_memory, p.LAMBDA_X86_GB_S.usd or 0)
        + (p.LAMBDA_REQUEST.usd or 0)
        + (p.S3V_QUERY_REQUEST.usd or 0)
        + 5 / 1000 * (p.TITAN_V2_PER_1K_TOKENS.usd or 0)
    )
    memory_rows, recommended = _memory_table(
        data, batch, book, memory, {"book": total["pages"], "docs": total["docs"]}
    )
    return [
        "### What it costs",
        "",
        f"AWS list prices, {p.REGION}, looked up {p.LOOKED_UP} (`benchmarks/prices.py`):",
        "",
        p.table(),
        "",
        f"From the simulated-latency runs above, at the template's MemorySize ({memory} MB); Lambda "
        "duration is the handler's median wall time rounded up to the ms (arm64: the same duration "
        "assumed, not measured); Bedrock tokens = characters sent / "
        f"{CHARS_PER_TOKEN:.0f} (an assumption: Titan's tokenizer is not public); S3 Vectors bytes are "
        f"the stored vectors' logical size ({vec_bytes:,.0f} bytes each: float32 data, key and "
        "metadata, read back from the index), PUT billed at least 128 KB per call; DynamoDB "
        f"writes are the calls counted by the proxy at {item_wru} WRU each (median registry item "
        "size); SQS counts S3's send plus the event source's receive and delete per batch, not its "
        "empty long polls.",
        "",
        *rows,
        "",
        f"Search path (embed the query with Bedrock, one QueryVectors, in its own process through the "
        f"proxy): {spread([r['wall'] for r in searches])} wall, "
        f"{spread([r['cpu'] for r in searches])} CPU per query; per 1,000 queries at "
        f"{search_memory} MB x86_64 "
        f"(Lambda duration and request, QueryVectors call, ~5 query tokens; query data processed not "
        f"priced, see above): **${search_cost:.4f}**. The figure is SearchFunction's critical path "
        "(embed the query, one QueryVectors, no rerank) in a worker process, not the function's "
        "whole invocation.",
        "",
        "#### MemorySize",
        "",
        *memory_rows,
        "",
        f"Recommended default `MemorySize`: **{recommended} MB** (see the reasoning above).",
    ]


def _memory_table(
    data: dict[str, Any],
    batch: dict[str, list[float]],
    book: dict[str, list[float]],
    memory: int,
    totals: dict[str, float],
) -> tuple[list[str], int]:
    """Cost per page by MemorySize, from the CPU-share model; checked against real CPU quotas."""
    price = prices.LAMBDA_X86_GB_S.usd or 0
    rss_mb = max(r["vmhwm_kb"] for r in data["book"]) / 1024 * 1.048576  # MiB -> MB
    largest_mb, warm_mb = data["largest"]["vmhwm_mb"], data["largest"]["warm_mb"]
    # IngestRecordConcurrency records of one batch run at once: as many large documents at a time.
    at_once = _parameter_default("IngestRecordConcurrency")
    needed = warm_mb + at_once * max(largest_mb - warm_mb, rss_mb - warm_mb, 0.0)
    floor = needed * 1.25

    def modelled(s: dict[str, list[float]], m: int) -> float:
        return _model_duration(median(s["wall"]), median(s["cpu"]), median(s["rq"]), m)

    rows = [
        "| MemorySize (MB) | vCPU share | book: modelled s | book $ per 1,000 pages | "
        "10-doc batch: modelled s | $ per 1,000 documents | holds a batch of the largest x 1.25 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    best_book = best_docs = None
    for m in MEMORY_SIZES:
        d_book, d_batch = modelled(book, m), modelled(batch, m)
        c_book = _lambda_cost(d_book, m, price) * 1000 / BOOK_PAGES
        c_docs = _lambda_cost(d_batch, m, price) * 1000 / BATCH
        fits = m >= floor
        if fits and (best_book is None or c_book < best_book[1]):
            best_book = (m, c_book)
        if fits and (best_docs is None or c_docs < best_docs[1]):
            best_docs = (m, c_docs)
        rows.append(
            f"| {m} | {m / LAMBDA_VCPU_MB:.2f} | {d_book:.2f} | ${c_book:.4f} | {d_batch:.3f} | "
            f"${c_docs:.4f} | {'yes' if fits else 'no'} |"
        )
    checks = []
    for m, runs in data.get("quota", {}).items():
        b, s = _summary(runs["book"]), _summary(runs["batch"])
        checks.append(
            f"| {m} | {m / LAMBDA_VCPU_MB:.2f} | {median(b['wall']):.2f} s (model {modelled(book, m):.2f}) | "
            f"{median(s['wall']):.3f} s (model {modelled(batch, m):.3f}) |"
        )
    assert best_book is not None and best_docs is not None
    # The cheapest size that holds the largest document, for the book and for small documents;
    # where the two differ, the larger (the other then pays a little more, never an OOM).
    recommended = max(best_book[0], best_docs[0])
    text = [
        "Lambda gives a function CPU in proportion to its memory (1,769 MB = one vCPU). This "
        "machine cannot be Lambda, so the duration at each size is modelled from the unthrottled "
        "runs above: the time spent waiting on AWS (wall - CPU - run-queue wait) stays, the CPU time "
        "stretches by 1 / (MemorySize / 1,769), and a size is never credited with less than the "
        "measured wall time (this machine had 2 cores). Cost = modelled duration x GB x the x86_64 "
        f"price. Peak RSS of the handler on the book: {rss_mb:,.0f} MB; on a 1,000-page PDF (the "
        f"Scale section's document, {data['largest']['pages']:,} pages, state "
        f"{data['largest']['state']}): {largest_mb:,.0f} MB ({warm_mb:,.0f} MB warm before it). "
        f"A batch runs IngestRecordConcurrency ({at_once}) records at once, so a batch of such "
        f"documents needs the warm process plus {at_once} times the document's share: "
        f"{needed:,.0f} MB, and with 25% headroom sizes under {floor:,.0f} MB are ruled out.",
        "",
        *rows,
        "",
        f"Cheapest that fits: book {best_book[0]} MB (${best_book[1]:.4f} per 1,000 pages), small "
        f"documents {best_docs[0]} MB (${best_docs[1]:.4f} per 1,000 documents). Below one vCPU a "
        "CPU-bound run costs the same GB-s at any size, while waiting on AWS costs more the larger "
        f"the size, so the cheapest size is the smallest that holds the largest document: "
        f"{recommended} MB. Lambda is a small part of the whole bill (the table above): a larger "
        "size buys speed, not savings.",
    ]
    if checks:
        text += [
            "",
            "Check of the model with a real CPU quota (a cgroup-v1 CFS quota of MemorySize / 1,769 "
            "CPUs on the handler process, as Lambda throttles; 2 book runs and 3 batches each):",
            "",
            "| MemorySize (MB) | quota (CPUs) | book wall, measured (model) | "
            "10-doc batch wall, measured (model) |",
            "| ---: | ---: | ---: | ---: |",
            *checks,
        ]
    return text, recommended


if __name__ == "__main__":
    print(run())
