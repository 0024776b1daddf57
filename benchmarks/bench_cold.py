"""Cold start of the AWS default: handler import + the first one-page document.

The method of the Ingest section's import figures (``bench_ingest._fresh_interpreter``: a fresh
``python -I`` with the layer and functions/ingest on sys.path, the function's environment from
template.yaml plus what Lambda sets), here against a moto server in its own process. The Bedrock
path sends InvokeModel to the fake Bedrock of ``aws_sim.LatencyProxy`` with no injected latency,
so both paths measure this machine's work, not simulated network time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.aws_sim import (
    LatencyProxy,
    MotoProcess,
    create_stack,
    load,
    median,
    pointed_at,
    spread,
    verdict,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "pdf"
ONE_PAGE = "minimal-document.pdf"
RUNS = 5
TARGETS = {"bedrock": 1.0, "offline": 1.5}


def measure() -> dict[str, Any]:
    from benchmarks.bench_ingest import _fresh_interpreter, _sqs_event

    body = (CORPUS / ONE_PAGE).read_bytes()
    results: dict[str, list[dict[str, Any]]] = {}
    with MotoProcess() as moto, LatencyProxy(moto.endpoint, scale=0.0) as bedrock:
        for provider, dimension in (("bedrock", 1024), ("offline", 256)):
            stack = create_stack(moto, provider=provider, dimension=dimension)
            env = pointed_at(stack.env, moto.endpoint, bedrock.endpoint)
            s3 = stack.client("s3")
            for run in range(RUNS):
                key = f"cold/{provider}/{run}/{ONE_PAGE}"
                s3.put_object(Bucket=stack.bucket, Key=key, Body=body)
                results.setdefault(provider, []).append(
                    _fresh_interpreter("index", env, _sqs_event(stack.bucket, key))
                )
    return results


def run() -> str:
    before = load()
    results = measure()
    rows = [
        "| path | import (median, min, max of 5) | import + first one-page document | target | verdict | "
        "CPU of the process: to the end of the import / to the end of the document |",
        "| --- | ---: | ---: | --- | --- | ---: |",
    ]
    for provider, limit in TARGETS.items():
        imports = [r["import_s"] for r in results[provider]]
        totals = [r["total_s"] for r in results[provider]]
        rows.append(
            f"| {provider} | {spread(imports)} | {spread(totals)} | < {limit:.1f} s | "
            f"{verdict(median(totals) < limit)} | {spread([r['import_cpu_s'] for r in results[provider]])} / "
            f"{spread([r['total_cpu_s'] for r in results[provider]])} |"
        )
    return (
        "## Cold start (AWS on a moto server process)\n\n"
        + "\n".join(rows)
        + "\n\nFresh `python -I` per run: sys.path = layers/docpipe + functions/ingest + site-packages, "
        "the function's environment from template.yaml plus `LAMBDA_TASK_ROOT` and `_X_AMZN_TRACE_ID` "
        "(tracing active), AWS on a moto server in a separate process, Bedrock (1,024 dimensions) "
        "answered by the benchmark's fake endpoint without injected latency. On Lambda the import "
        "is INIT; the first document adds the clients' first connections and, offline, the model "
        "load. The CPU column is the interpreter's own CPU time from its start (interpreter start-up "
        "included, as Lambda's INIT includes it): on an idle machine the wall time is close to it "
        "plus the round trips; on this shared machine the wall time also holds the wait for a CPU. "
        f"Load (1-min average) before / after: {before} / {load()}.\n"
    )


if __name__ == "__main__":
    print(run())
