"""A process under test: reads JSON commands on stdin, answers each with its own wall and CPU time.

Run as ``python -I _worker.py <mode> <sys.path prefix as JSON>`` (benchmarks.aws_sim.Worker):
- ``handler``: imports functions/ingest/app.py (the layer on sys.path, as Lambda does) and runs
  ``handler(event)`` for each event of a command;
- ``bare``: ``docpipe.parsers.parse_document`` (pypdfium2) on each file of a command;
- ``langchain``: ``PyPDFLoader(path).load()`` + ``RecursiveCharacterTextSplitter(1000, 150)``;
- ``search``: embeds a query with the configured embedder and queries the index (the search path).

CPU is ``time.process_time()`` of this process (every thread: pdfium's extraction thread, the
embedding pool), wall is ``time.perf_counter()``; both around the work only. Logs the handler
writes go to /dev/null: the protocol owns the real stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

PASSWORDS = {"libreoffice-writer-password.pdf": "openpassword"}


class Context:
    """Lambda's context for the handler. Not tests.lambda_context's: this process runs ``python -I``
    with only the layer on its path, as Lambda does, so it cannot import the repository's modules."""

    function_name = "IngestFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IngestFunction"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def vmhwm_kb() -> int:
    with Path("/proc/self/status").open() as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def run_queue_wait() -> float:
    """Seconds the main thread spent runnable but waiting for a CPU (the machine's contention)."""
    return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9


def main() -> int:
    mode, paths = sys.argv[1], json.loads(sys.argv[2])
    sys.path[:0] = paths
    proto = os.fdopen(os.dup(1), "w")
    sys.stdout = Path(os.devnull).open("w")  # noqa: SIM115 - the handler's JSON logs and EMF metrics
    started = time.perf_counter()
    work = _setup(mode)
    proto.write(json.dumps({"import_s": time.perf_counter() - started, "pid": os.getpid()}) + "\n")
    proto.flush()
    for line in sys.stdin:
        command = json.loads(line)
        start_mono, wall, cpu, waited = (
            time.monotonic(),
            time.perf_counter(),
            time.process_time(),
            run_queue_wait(),
        )
        try:
            result = work(command)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
            proto.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
            proto.flush()
            continue
        out = {
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu,
            "run_queue_wait": max(0.0, run_queue_wait() - waited),
            "start": start_mono,
            "end": time.monotonic(),
            "vmhwm_kb": vmhwm_kb(),
            "result": result,
        }
        proto.write(json.dumps(out) + "\n")
        proto.flush()
    return 0


def _setup(mode: str) -> Any:
    if mode == "handler":
        import app

        def handle(command: dict[str, Any]) -> Any:
            each = []
            for event in command["events"]:
                w, c = time.perf_counter(), time.process_time()
                response = app.handler(event, Context())
                each.append({"wall": time.perf_counter() - w, "cpu": time.process_time() - c})
                if response.get("batchItemFailures"):
                    raise RuntimeError(f"handler reported failures: {response}")
            return each

        return handle
    if mode == "bare":
        from docpipe.exceptions import PermanentError
        from docpipe.parsers import parse_document

        def bare(command: dict[str, Any]) -> Any:
            pages = 0
            for path in command["files"]:
                name = Path(path).name
                data = Path(path).read_bytes()
                with contextlib.suppress(PermanentError):
                    pages += parse_document(
                        data, key=name, pdf_engine="pypdfium2", password=PASSWORDS.get(name)
                    ).page_count
            return {"pages": pages}

        return bare
    if mode == "langchain":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.document_loaders import PyPDFLoader
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=150, add_start_index=True)

        def baseline(command: dict[str, Any]) -> Any:
            pages = chunks = 0
            for path in command["files"]:
                try:  # the baseline has no skip logic: files it cannot read are left out
                    docs = PyPDFLoader(path, password=PASSWORDS.get(Path(path).name)).load()
                except Exception:  # noqa: BLE001
                    continue
                pages += len(docs)
                chunks += len(splitter.split_documents(docs))
            return {"pages": pages, "chunks": chunks}

        return baseline
    if mode == "search":
        from docpipe import aws
        from docpipe.config import Settings
        from docpipe.embeddings import make_embedder
        from docpipe.vectorstore import S3VectorStore

        settings = Settings.from_env()
        embedder = make_embedder(settings)
        store = S3VectorStore(aws.client("s3vectors"), settings.vector_bucket, settings.vector_index)

        def search(command: dict[str, Any]) -> Any:
            hits = 0
            for query in command["queries"]:
                hits += len(store.query(embedder.embed_query(query), k=5).matches)
            return {"hits": hits}

        return search
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    raise SystemExit(main())
