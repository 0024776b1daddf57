"""Scale on one machine. Long: run only when named (``--only scale``).

- A 1,000-page PDF built here from corpus pages (pypdfium2 page import) through one invocation of
  the handler in its own process, AWS default path (Bedrock, 1,024 dimensions) on the simulated
  latency of ``aws_sim``: time, peak RSS against the function's MemorySize, chunks written.
- ``DOCPIPE_BENCH_SCALE_DOCS`` (default 10,000) one-page documents through the local stack with 2
  workers (``docpipe local up``'s path), then every document checked: its final state, and exactly
  its own vectors (keys ``<doc_id>#0..chunk_count-1``, each carrying its own ``doc_id``), none
  missing, none extra.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.aws_sim import (
    LatencyProxy,
    MotoProcess,
    Worker,
    create_stack,
    load,
    pointed_at,
    sqs_event,
    verdict,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "pdf"
BIG_PAGES = 1000
WORKERS = 2
SMALL = (
    "002-trivial-libre-office-writer.pdf",
    "annotated_pdf.pdf",
    "crazyones-pdfa.pdf",
    "google-doc-document.pdf",
    "minimal-document.pdf",
    "pdfkit.pdf",
    "reportlab-overlay.pdf",
    "with-attachment.pdf",
)
SKIP_SOURCES = {"unreadablemetadata.pdf", "libreoffice-writer-password.pdf"}  # corrupt / encrypted


def thousand_page_pdf() -> bytes:
    """``BIG_PAGES`` pages imported from the readable corpus PDFs, in turn, into one new PDF."""
    import pypdfium2 as pdfium

    sources = [pdfium.PdfDocument(str(p)) for p in sorted(CORPUS.glob("*.pdf")) if p.name not in SKIP_SOURCES]
    out = pdfium.PdfDocument.new()
    try:
        while len(out) < BIG_PAGES:
            for src in sources:
                take = min(len(src), BIG_PAGES - len(out))
                if take <= 0:
                    break
                out.import_pages(src, pages=list(range(take)))
        buffer = io.BytesIO()
        out.save(buffer)
        return buffer.getvalue()
    finally:
        out.close()
        for src in sources:
            src.close()


def big_document() -> dict[str, Any]:
    data = thousand_page_pdf()
    with MotoProcess() as moto:
        stack = create_stack(moto, provider="bedrock", dimension=1024)
        s3 = stack.client("s3")
        s3.put_object(
            Bucket=stack.bucket, Key="warmup/one.pdf", Body=(CORPUS / "minimal-document.pdf").read_bytes()
        )
        s3.put_object(Bucket=stack.bucket, Key="big/thousand.pdf", Body=data)
        with (
            LatencyProxy(moto.endpoint) as proxy,
            Worker("handler", pointed_at(stack.env, proxy.endpoint)) as worker,
        ):
            worker.run(events=[sqs_event(stack.bucket, ["warmup/one.pdf"])])
            before = worker.run(events=[])["vmhwm_kb"]
            result = worker.run(events=[sqs_event(stack.bucket, ["big/thousand.pdf"])])
            calls = proxy.between(result["start"], result["end"])
        from docpipe.ids import doc_id

        item = stack.client("dynamodb").get_item(
            TableName=stack.names.table, Key={"doc_id": {"S": doc_id(stack.bucket, "big/thousand.pdf")}}
        )["Item"]
    return {
        "bytes": len(data),
        "wall": result["wall"],
        "cpu": result["cpu"],
        "vmhwm_mb": result["vmhwm_kb"] / 1024 * 1.048576,
        "warm_mb": before / 1024 * 1.048576,
        "state": item["state"]["S"],
        "pages": int(item.get("pages", {}).get("N", 0)),
        "chunks": int(item.get("chunk_count", {}).get("N", 0)),
        "put_vectors": sum(1 for c in calls if c.operation == "PutVectors"),
        "invokes": sum(1 for c in calls if c.operation == "InvokeModel"),
        "memory_mb": int(stack.env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")),
        "timeout_s": 180,
    }


def _quiet(_line: str) -> None:
    pass


def _paged(call: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token_in, token_out = (
        ("ExclusiveStartKey", "LastEvaluatedKey") if key == "Items" else ("nextToken", "nextToken")
    )
    while True:
        page = call(**kwargs)
        out.extend(page.get(key, []))
        token = page.get(token_out)
        if not token:
            return out
        kwargs[token_in] = token


def many_documents(total: int) -> dict[str, Any]:
    from docpipe.ids import doc_id
    from docpipe_cli.local.session import LocalSession

    bodies = [(CORPUS / name).read_bytes() for name in SMALL]
    with LocalSession(ROOT, workers=WORKERS, poll=False, log=_quiet) as session:
        assert session.local is not None and session.poller is not None
        out = session.local.outputs
        bucket, table = out["DocumentsBucketName"], out["DocumentsTableName"]
        s3 = session.client("s3")
        session.poller.start()
        started = time.monotonic()
        keys = []
        for n in range(total):
            key = f"scale/{n // 1000:02d}/{n:05d}-{SMALL[n % len(SMALL)]}"
            s3.put_object(Bucket=bucket, Key=key, Body=bodies[n % len(bodies)])
            keys.append(key)
        uploaded = time.monotonic() - started
        drained = session.poller.wait_until_drained(timeout=4 * 3600, settle=2.0)
        elapsed = time.monotonic() - started - 2.0
        items = _paged(session.client("dynamodb").scan, "Items", TableName=table)
        vectors = _paged(
            session.client("s3vectors").list_vectors,
            "vectors",
            vectorBucketName=out["VectorBucketName"],
            indexName=out["VectorIndexName"],
            returnMetadata=True,
            maxResults=1000,
        )
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for v in vectors:
        by_doc.setdefault(v["key"].split("#", 1)[0], []).append(v)
    states: dict[str, int] = {}
    problems: list[str] = []
    expected = {doc_id(bucket, k): k for k in keys}
    seen = set()
    for item in items:
        did = item["doc_id"]["S"]
        if did not in expected:
            continue
        seen.add(did)
        state = item.get("state", {}).get("S", "?")
        states[state] = states.get(state, 0) + 1
        count = int(item.get("chunk_count", {}).get("N", 0)) if state == "indexed" else 0
        own = by_doc.get(did, [])
        numbers = sorted(int(v["key"].split("#", 1)[1]) for v in own)
        if state not in ("indexed", "skipped"):
            problems.append(f"{expected[did]}: state {state}")
        if numbers != list(range(count)):
            problems.append(f"{expected[did]}: vectors {numbers[:5]}... for {count} chunks")
        if any((v.get("metadata") or {}).get("doc_id") != did for v in own):
            problems.append(f"{expected[did]}: a vector carries another doc_id")
    missing = [k for d, k in expected.items() if d not in seen]
    strays = [d for d in by_doc if d not in expected]
    return {
        "total": total,
        "uploaded_s": uploaded,
        "seconds": elapsed,
        "drained": drained,
        "states": states,
        "problems": problems,
        "missing": missing,
        "strays": strays,
        "vectors": len(vectors),
    }


def run() -> str:
    before = load()
    big = big_document()
    total = int(os.environ.get("DOCPIPE_BENCH_SCALE_DOCS", "10000"))
    many = many_documents(total)
    ok = not many["problems"] and not many["missing"] and not many["strays"] and many["drained"]
    states = ", ".join(f"{n:,} {s}" for s, n in sorted(many["states"].items()))
    rows = [
        "| figure | measured | limit | verdict |",
        "| --- | ---: | --- | --- |",
        f"| 1,000-page PDF ({big['bytes'] / 1e6:.1f} MB, {big['pages']:,} pages, state {big['state']}): "
        f"one invocation | {big['wall']:.1f} s wall, {big['cpu']:.1f} s CPU | Timeout {big['timeout_s']} s | "
        f"{verdict(big['wall'] < big['timeout_s'])} |",
        f"| its peak RSS (VmHWM of the handler process; {big['warm_mb']:,.0f} MB after the warm-up) | "
        f"{big['vmhwm_mb']:,.0f} MB | MemorySize {big['memory_mb']} MB | "
        f"{verdict(big['vmhwm_mb'] < big['memory_mb'])} |",
        f"| chunks written | {big['chunks']:,} ({big['put_vectors']} PutVectors, "
        f"{big['invokes']:,} InvokeModel) | | |",
        f"| {total:,} one-page documents, local stack, {WORKERS} workers | "
        f"{total / many['seconds']:.2f} documents/s ({many['seconds']:,.0f} s; uploads done after "
        f"{many['uploaded_s']:,.0f} s) | | |",
        f"| afterwards: final states | {states} | every one indexed or skipped | "
        f"{verdict(sum(many['states'].values()) == total and not many['missing'])} |",
        f"| afterwards: each exactly its own vectors ({many['vectors']:,} in the index) | "
        f"{len(many['problems'])} documents wrong, {len(many['missing'])} missing, {len(many['strays'])} "
        f"stray doc ids | none | {verdict(ok)} |",
    ]
    detail = "; ".join((many["problems"] + many["missing"])[:5])
    return (
        "## Scale (one machine)\n\n"
        + "\n".join(rows)
        + f"\n\nThe 1,000-page PDF is built at bench time by importing the readable corpus PDFs' pages "
        f"in turn (pypdfium2) and indexed through the Bedrock path on the simulated latency (see "
        f"the latency section), 1,024 dimensions. The {total:,} documents cycle through "
        f"{len(SMALL)} one-page corpus PDFs under distinct keys, uploaded to the local stack's "
        f"bucket while its poller runs ({WORKERS} sandboxed IngestFunction workers, the template's "
        "`local` parameters); the check scans the whole registry and lists the whole index."
        + (f" First problems: {detail}." if detail else "")
        + f" Load (1-min average) before / after: {before} / {load()}.\n"
    )


if __name__ == "__main__":
    print(run())
