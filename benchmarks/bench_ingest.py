"""Ingest benchmarks: PDF engines, text quality, the LangChain baseline, embedding throughput, RSS.

``run()`` returns the "## Ingest" section of docs/benchmarks.md. Figures are wall-clock on the
machine named at the top of that page; each is one run (best of ``REPEATS`` for the short ones).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "docpipe"))

from benchmarks.aws_sim import FAKE_AWS, PASSWORDS, median, spread, sqs_event  # noqa: E402
from docpipe.chunking import chunk_document  # noqa: E402
from docpipe.exceptions import PermanentError  # noqa: E402
from docpipe.parsers import ParsedDocument, parse_document  # noqa: E402
from tests.lambda_context import LambdaContext  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "pdf"
BOOK = "GeoTopo-komprimiert.pdf"
BOOK_PAGES = 117
ENGINES = ("pypdfium2", "pypdf")
CHUNK_SIZE, CHUNK_OVERLAP = 1000, 150
REPEATS = 3
HANDLER_REPEATS = 5  # the ratios compare two best times on a shared machine: more runs, less noise
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


def engine_section() -> tuple[str, dict[str, dict[str, ParsedDocument]], dict[str, Any]]:
    """Pages/s of each engine alone (parse_document, bytes already in memory).

    Returns the table, each engine's parsed corpus, and the fastest engine's times (``engine``,
    ``book_s``, ``corpus_s``, ``corpus_pages``); the handler path re-times that engine alongside itself.
    """
    book = (CORPUS / BOOK).read_bytes()
    rows = [
        "| engine | book pages/s (117 p.) | book seconds | corpus pages/s | corpus pages | unreadable |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    parsed_by_engine: dict[str, dict[str, ParsedDocument]] = {}
    fastest: dict[str, Any] = {}
    for engine in ENGINES:
        repeats = REPEATS if engine == "pypdfium2" else 1
        book_s, book_doc = _timed(lambda e=engine: parse_document(book, key=BOOK, pdf_engine=e), repeats)
        corpus_s, (parsed, failed) = _timed(lambda e=engine: _parse_corpus(e), repeats)
        pages = sum(d.page_count for d in parsed.values())
        parsed_by_engine[engine] = parsed
        if not fastest or corpus_s / pages < fastest["corpus_s"] / fastest["corpus_pages"]:
            fastest = {"engine": engine, "book_s": book_s, "corpus_s": corpus_s, "corpus_pages": pages}
        rows.append(
            f"| {engine} | {book_doc.page_count / book_s:,.0f} | {book_s:.2f} | {pages / corpus_s:,.0f} | "
            f"{pages} | {', '.join(f'{k} ({v})' for k, v in failed.items()) or '-'} |"
        )
    return "\n".join(rows), parsed_by_engine, fastest


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


def _langchain_splitter() -> Any:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True
    )


def _pypdf_loader() -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community's sunset notice
        from langchain_community.document_loaders import PyPDFLoader
    return PyPDFLoader


def _langchain_load_and_split(path: Path, splitter: Any) -> tuple[int, int]:
    """LangChain's own ``PyPDFLoader(path).load()`` + ``split_documents``: (pages, chunks)."""
    docs = _pypdf_loader()(str(path), password=PASSWORDS.get(path.name)).load()
    return len(docs), len(splitter.split_documents(docs))


def langchain_baseline() -> tuple[str, float, float]:
    """``PyPDFLoader`` + ``RecursiveCharacterTextSplitter``, pages/s on the book and corpus.

    ``langchain-community`` (home of ``PyPDFLoader``) is a benchmark-only dependency (the ``bench``
    extra that ``make bench`` installs): it pulls in SQLAlchemy, aiohttp and numpy.
    """
    splitter = _langchain_splitter()
    _pypdf_loader()  # imported before the clock starts, as the engines' modules are

    def load_and_split(path: Path) -> tuple[int, int]:
        return _langchain_load_and_split(path, splitter)

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
        f"LangChain baseline (`langchain_community` `PyPDFLoader(...).load()`, then "
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


# --- handler path ----------------------------------------------------------------------------

ONE_PAGE = "minimal-document.pdf"
COLD_RUNS = 5
HANDLER_DIR = ROOT / "functions" / "ingest"
PASSWORD_SECRET = "docpipe/bench/pdf-passwords"
STACK_PARAMETERS = {"EmbeddingProvider": "offline", "EmbeddingDimension": 256}
# What the Lambda runtime sets: the X-Ray SDK uses its local sampler (not a centralized-sampling
# botocore client) and Powertools Tracer is enabled, as with Tracing: Active. Nothing listens on the
# daemon's UDP port here, so segments are sent nowhere, but the tracing work is done.
LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": str(HANDLER_DIR),
    "AWS_LAMBDA_FUNCTION_NAME": "IngestFunction",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    "_X_AMZN_TRACE_ID": "Root=1-67890abc-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1",
}


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _sqs_event(bucket: str, key: str) -> dict[str, Any]:
    """One SQS record wrapping an S3 ObjectCreated notification, as IngestQueue delivers it."""
    return sqs_event(bucket, [key])


def _create_stack(endpoint_url: str | None = None) -> tuple[Any, dict[str, str]]:
    """The template's data resources (offline embeddings, 256 dimensions) and the function's env."""
    import boto3

    if str(ROOT) not in sys.path:  # tests.moto_resources: the same template reader the tests use
        sys.path.insert(0, str(ROOT))
    from tests.moto_resources import create_stack_resources

    names = create_stack_resources(
        ROOT / "template.yaml", parameters=STACK_PARAMETERS, endpoint_url=endpoint_url
    )
    kwargs = {"region_name": "us-east-1", "endpoint_url": endpoint_url}
    boto3.client("secretsmanager", **kwargs).create_secret(
        Name=PASSWORD_SECRET, SecretString=json.dumps({"": PASSWORDS[next(iter(PASSWORDS))]})
    )
    env = {k: v for k, v in names.env("IngestFunction").items() if v != ""}
    env["PDF_PASSWORDS_SECRET_ID"] = PASSWORD_SECRET
    return names, env


@contextlib.contextmanager
def _environ(*updates: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``updates`` applied, restored afterwards (the handler reads it at import)."""
    saved = dict(os.environ)
    try:
        for update in updates:
            os.environ.update(update)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _import_handler(name: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, HANDLER_DIR / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _index(app: Any, bucket: str, key: str) -> dict[str, Any]:
    response = app.handler(
        _sqs_event(bucket, key), LambdaContext(aws_request_id="bench", remaining_ms=900_000)
    )
    if response.get("batchItemFailures"):
        raise RuntimeError(f"{key}: the handler reported a failure: {response}")
    return dict(response)


class _PhaseClock:
    """Stands in for the service's Tracer: times its subsegments (download, parse, chunk, embed, write)."""

    def __init__(self) -> None:
        self.provider = self
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def in_subsegment(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield None
        finally:
            phase = name.removeprefix("## ")
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start


class _AwsCallClock:
    """Times every AWS call a boto3 client makes (``BaseClient._make_api_call``) while ``on``:
    serialisation, moto's handling and parsing the response, per operation name."""

    def __init__(self) -> None:
        self.on = False
        self.seconds: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from unittest import mock

        import botocore.client

        real = botocore.client.BaseClient._make_api_call
        clock = self

        def timed(client: Any, operation: str, params: Any) -> Any:
            if not clock.on:
                return real(client, operation, params)
            start = time.perf_counter()
            try:
                return real(client, operation, params)
            finally:
                clock.seconds.setdefault(operation, []).append(time.perf_counter() - start)

        with mock.patch.object(botocore.client.BaseClient, "_make_api_call", timed):
            yield


def warm_handler_path(engine: str) -> dict[str, Any]:
    """Book and corpus through the handler (SQS event -> S3 download -> parse -> chunk -> offline
    embed -> S3 Vectors + registry writes), moto in-process, after one warm-up invocation.

    Each document's bare ``engine`` extraction and its LangChain baseline run right after it, so
    the ratios compare times taken under the same machine load (this machine is shared).

    Every run indexes new keys (``run<n>/...``): a re-sent key with unchanged content would be
    short-cut as ``unchanged`` and measure nothing.
    """
    import boto3
    from moto import mock_aws

    from docpipe.ids import doc_id

    sink = io.StringIO()  # the handler's JSON logs and EMF metrics; not the report's business
    files = _corpus()
    book_s = corpus_s = float("inf")
    outcomes: dict[str, str] = {}
    pages = chunks = book_pages = book_chunks = 0
    book_phases: dict[str, float] = {}
    bare_book_s = bare_corpus_s = lc_book_s = lc_corpus_s = float("inf")
    bare_pages = lc_pages = 0
    small_s = small_bare_s = float("inf")  # every document but the book, summed per run
    small_aws_calls: dict[str, list[float]] = {}
    aws_calls = _AwsCallClock()
    splitter = _langchain_splitter()
    with mock_aws(), contextlib.redirect_stdout(sink), _environ(FAKE_AWS), aws_calls.installed():
        names, env = _create_stack()
        bucket = names.documents_bucket
        s3 = boto3.client("s3", region_name="us-east-1")
        for run in range(HANDLER_REPEATS):
            for path in files:
                s3.put_object(Bucket=bucket, Key=f"run{run}/{path.name}", Body=path.read_bytes())
        s3.put_object(Bucket=bucket, Key="warmup/one.pdf", Body=(CORPUS / ONE_PAGE).read_bytes())
        with _environ(env):
            app = _import_handler("ingest_app_bench")
            try:
                _index(app, bucket, "warmup/one.pdf")  # clients, model, LangChain: once per process
                for run in range(HANDLER_REPEATS):
                    run_s, run_pages, run_chunks = 0.0, 0, 0
                    run_bare_s, run_bare_pages, run_lc_s, run_lc_pages = 0.0, 0, 0.0, 0
                    run_small_s = run_small_bare_s = 0.0
                    aws_calls.seconds = {}
                    for path in files:
                        key = f"run{run}/{path.name}"
                        clock = _PhaseClock()
                        app.service._tracer = clock  # the handler's Tracer is disabled outside Lambda
                        aws_calls.on = path.name != BOOK
                        start = time.perf_counter()
                        _index(app, bucket, key)
                        seconds = time.perf_counter() - start
                        aws_calls.on = False
                        run_s += seconds
                        if path.name != BOOK:
                            run_small_s += seconds
                        record = app.service.registry.get(doc_id(bucket, key))
                        if record is None:
                            raise RuntimeError(f"{key}: no registry record after the handler ran")
                        outcomes[path.name] = (
                            "indexed" if record.state == "indexed" else f"{record.state} ({record.reason})"
                        )
                        run_pages += record.pages
                        run_chunks += record.chunk_count
                        if path.name == BOOK and seconds < book_s:
                            book_s, book_pages, book_chunks = seconds, record.pages, record.chunk_count
                            book_phases = clock.seconds
                        data = path.read_bytes()
                        start = time.perf_counter()
                        try:
                            parsed = parse_document(
                                data, key=path.name, pdf_engine=engine, password=PASSWORDS.get(path.name)
                            )
                            run_bare_pages += parsed.page_count
                        except PermanentError:
                            pass
                        seconds = time.perf_counter() - start
                        run_bare_s += seconds
                        if path.name == BOOK:
                            bare_book_s = min(bare_book_s, seconds)
                        else:
                            run_small_bare_s += seconds
                        start = time.perf_counter()
                        # As in langchain_baseline(): files the baseline cannot read are left out.
                        with contextlib.suppress(Exception):
                            run_lc_pages += _langchain_load_and_split(path, splitter)[0]
                        seconds = time.perf_counter() - start
                        run_lc_s += seconds
                        if path.name == BOOK:
                            lc_book_s = min(lc_book_s, seconds)
                    corpus_s = min(corpus_s, run_s)
                    if run_small_s < small_s:  # the calls of the run whose handler time is reported
                        small_s, small_aws_calls = run_small_s, aws_calls.seconds
                    small_bare_s = min(small_bare_s, run_small_bare_s)
                    bare_corpus_s, bare_pages = min(bare_corpus_s, run_bare_s), run_bare_pages
                    lc_corpus_s, lc_pages = min(lc_corpus_s, run_lc_s), run_lc_pages
                    pages, chunks = run_pages, run_chunks
            finally:
                sys.modules.pop("ingest_app_bench", None)
    return {
        "book_s": book_s,
        "book_pages": book_pages,
        "book_chunks": book_chunks,
        "book_phases": book_phases,
        "bare": {
            "engine": engine,
            "book_s": bare_book_s,
            "corpus_s": bare_corpus_s,
            "corpus_pages": bare_pages,
        },
        "baseline_book": BOOK_PAGES / lc_book_s,
        "baseline_corpus": lc_pages / lc_corpus_s,
        "corpus_s": corpus_s,
        "small": {
            "documents": len(files) - 1,
            "handler_s": small_s,
            "bare_s": small_bare_s,
            "aws_calls": small_aws_calls,
            "runs": HANDLER_REPEATS,
        },
        "corpus_pages": pages,
        "corpus_chunks": chunks,
        "outcomes": outcomes,
    }


# Runs in a fresh interpreter (`python -I`) with only what the Lambda layer gives on sys.path.
_COLD_SCRIPT = """
import json, os, sys, time
start = time.perf_counter()
sys.path[:0] = {paths!r}
mode = {mode!r}
if mode == "model":
    from docpipe.embeddings.offline import load_model
    load_model()
    print("BENCH " + json.dumps({{"model_s": time.perf_counter() - start}}), flush=True)
    raise SystemExit(0)
import app
imported = time.perf_counter()
imported_cpu = time.process_time()
class Context:
    function_name = "IngestFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IngestFunction"
    aws_request_id = "cold"
    @staticmethod
    def get_remaining_time_in_millis():
        return 900000
response = {{}}
if mode != "import":
    response = app.handler(json.loads(os.environ["BENCH_EVENT"]), Context())
done = time.perf_counter()
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
heavy = [m for m in ("boto3", "botocore.client", "langchain_core", "numpy", "pypdfium2", "pypdf")
         if m in sys.modules]
print("BENCH " + json.dumps({{"import_s": imported - start, "total_s": done - start, "vmhwm_kb": hwm,
                             "import_cpu_s": imported_cpu, "total_cpu_s": time.process_time(),
                             "response": response, "heavy_at_import": heavy if mode == "import" else []}}),
      flush=True)
"""


def _fresh_interpreter(mode: str, env: dict[str, str], event: dict[str, Any] | None = None) -> dict[str, Any]:
    import sysconfig

    paths = [str(ROOT / "layers" / "docpipe"), str(HANDLER_DIR), sysconfig.get_paths()["purelib"]]
    child_env = {"PATH": "/usr/bin:/bin", **FAKE_AWS, **env}
    if event is not None:
        child_env["BENCH_EVENT"] = json.dumps(event)
    out = subprocess.run(
        [sys.executable, "-I", "-c", _COLD_SCRIPT.format(paths=paths, mode=mode)],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=300,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("BENCH ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"fresh interpreter ({mode}) failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("BENCH ") :])
    if result.get("response", {}).get("batchItemFailures"):
        raise RuntimeError(f"fresh interpreter ({mode}) reported a failure: {result['response']}")
    return result


def cold_start() -> dict[str, Any]:
    """Fresh interpreters against a moto server (as a Lambda talks to a remote AWS): import time,
    the offline model load alone and peak RSS on the book (the bench_cold section times a first
    document from cold)."""
    import boto3
    from moto.server import ThreadedMotoServer

    with _environ(FAKE_AWS):  # the parent's clients create the stack; children get their own env
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            names, env = _create_stack(endpoint)
            env = {**env, "AWS_ENDPOINT_URL": endpoint}
            s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
            bucket = names.documents_bucket
            results: dict[str, Any] = {
                "import_lambda": [],
                "import_local": [],
                "import_bedrock": [],
            }
            for _ in range(COLD_RUNS):
                results["import_lambda"].append(_fresh_interpreter("import", {**env, **LAMBDA_ENV}))
                results["import_local"].append(_fresh_interpreter("import", env))
                bedrock = {
                    **env,
                    **LAMBDA_ENV,
                    "EMBEDDING_PROVIDER": "bedrock",
                    "EMBEDDING_DIMENSION": "1024",
                }
                results["import_bedrock"].append(_fresh_interpreter("import", bedrock))
            results["model"] = [_fresh_interpreter("model", env)["model_s"] for _ in range(3)]
            book_key = f"rss/{BOOK}"
            s3.put_object(Bucket=bucket, Key=book_key, Body=(CORPUS / BOOK).read_bytes())
            results["rss"] = _fresh_interpreter("index", {**env, **LAMBDA_ENV}, _sqs_event(bucket, book_key))
        finally:
            server.stop()
    return results


_HEAVY = "boto3, botocore.client, langchain_core, numpy, pypdfium2, pypdf"


def small_documents_section(warm: Mapping[str, Any]) -> str:
    """Where the small documents' handler time goes: the AWS calls (moto in-process) per document."""
    small = warm["small"]
    n, runs = small["documents"], small["runs"]
    calls: dict[str, list[float]] = small["aws_calls"]  # those of the fastest run
    per_doc = {op: sum(v) / n for op, v in calls.items()}
    rows = [
        "| AWS call (moto in-process) | calls per document | median ms per call | ms per document |",
        "| --- | ---: | ---: | ---: |",
    ]
    for op, seconds in sorted(calls.items(), key=lambda kv: -per_doc[kv[0]]):
        rows.append(
            f"| {op} | {len(seconds) / n:.2f} | {median(seconds) * 1000:.1f} | {per_doc[op] * 1000:.1f} |"
        )
    aws_ms = sum(per_doc.values()) * 1000
    rows.append(f"| **all AWS calls** | | | **{aws_ms:.1f}** |")
    return (
        "\n".join(rows) + f"\n\nThe {n} corpus documents other than the book, in the fastest of "
        f"{runs} runs: {small['handler_s'] / n * 1000:.1f} ms each through the handler, of which the "
        f"AWS calls above (that run's) take {aws_ms:.1f} ms; their bare extraction (best run) "
        f"takes {small['bare_s'] / n * 1000:.1f} ms each. Each document needs at least the claim and "
        f"the finish in the registry, its download, the sidecar lookup and one `PutVectors`."
    )


def handler_path_section(engine: str) -> str:
    """Full handler path against moto in-process, import times and the handler's peak RSS.

    The secondary, in-process view: the ingest speed and cold start targets are judged once, in the
    process and cold sections (separate processes, a moto server apart); here only peak RSS has one.

    Args:
        engine: the fastest PDF engine in ``engine_section``; its bare extraction is the yardstick.
    """
    load_before = os.getloadavg()[0]
    warm = warm_handler_path(engine)
    cold = cold_start()
    load_after = os.getloadavg()[0]
    book_rate = warm["book_pages"] / warm["book_s"]
    corpus_rate = warm["corpus_pages"] / warm["corpus_s"]
    imports = [r["import_s"] for r in cold["import_lambda"]]
    imports_local = [r["import_s"] for r in cold["import_local"]]
    imports_bedrock = [r["import_s"] for r in cold["import_bedrock"]]
    model_s = min(cold["model"])
    rss_mb = cold["rss"]["vmhwm_kb"] / 1024
    heavy = sorted({m for r in cold["import_lambda"] for m in r["heavy_at_import"]})

    rows = [
        "| figure | measured | target | verdict |",
        "| --- | ---: | --- | --- |",
        f"| handler path, book ({warm['book_pages']} p., {warm['book_chunks']} chunks) | "
        f"{book_rate:,.0f} pages/s ({warm['book_s']:.2f} s) | | |",
        f"| handler path, corpus ({warm['corpus_pages']} p., {warm['corpus_chunks']} chunks) | "
        f"{corpus_rate:,.0f} pages/s ({warm['corpus_s']:.2f} s) | | |",
        f"| peak RSS (VmHWM), fresh interpreter, book through the handler | {rss_mb:,.0f} MB | < 300 MB | "
        f"{_verdict(rss_mb < 300)} |",
        f"| handler import, Lambda environment, offline provider (median of {COLD_RUNS}) | "
        f"{spread(imports)} | | |",
        f"| handler import, Lambda environment, bedrock provider (the AWS default) | "
        f"{spread(imports_bedrock)} | | |",
        f"| offline model load alone (fresh interpreter, best of 3) | {model_s * 1000:,.0f} ms | | |",
        f"| handler import outside a Lambda environment (no `LAMBDA_TASK_ROOT`) | "
        f"{spread(imports_local)} | | |",
    ]
    # Imported here: docpipe.ingest's child Logger must come after the handler's (warm_handler_path).
    from docpipe.ingest import GROUP_CHUNKS as group

    phases = ", ".join(f"{name} {sec:.2f} s" for name, sec in warm["book_phases"].items())
    rest = warm["book_s"] - sum(warm["book_phases"].values())
    skipped = {k: v for k, v in warm["outcomes"].items() if v != "indexed"}
    notes = (
        "The in-process view: the ingest speed and cold start targets are judged once, in docpipe's own "
        "cost and the cold start sections (separate processes, a moto server apart).\n\n"
        f"Handler path: `functions/ingest/app.py` `handler()` on one SQS-wrapped S3 event per document, "
        f"moto in-process (`mock_aws`, resources from template.yaml, offline embeddings, 256 dimensions); "
        f"best of {HANDLER_REPEATS} runs, each on new keys, after one warm-up invocation (clients, model and "
        f"LangChain loaded). The encrypted file's password "
        f"comes from a Secrets Manager secret "
        f"(`PDF_PASSWORDS_SECRET_ID`). Not indexed: "
        f"{', '.join(f'{k} ({v})' for k, v in skipped.items()) or 'none'}. Where the book's "
        f"{warm['book_s']:.2f} s went on the handler's thread (the service's tracing subsegments, "
        f"summed): {phases}, other (registry, events, logging) {rest:.2f} s. The pages are "
        f"extracted on a background thread while the handler chunks, embeds and writes the "
        f"chunks already final, {group} at a time (`IngestService._write_chunks`), so "
        f"parse is opening the PDF plus the time the handler waited for pages, not the "
        f"extraction itself; write = registry chunk-count note + one `PutVectors` per group "
        f"(body by orjson, see `vectorstore._install_fast_put_vectors`; moto parsing and storing "
        f"the floats).\n\n"
        f"Cold figures: `python -I` with sys.path = layers/docpipe + functions/ingest + site-packages, "
        f"the function's environment from template.yaml plus what Lambda sets (`LAMBDA_TASK_ROOT`, "
        f"`_X_AMZN_TRACE_ID`: tracing active), AWS on a moto server in the parent process. Modules "
        f"already loaded after the import: {', '.join(heavy) or 'none of ' + _HEAVY}. "
        f"Outside Lambda the X-Ray SDK builds a botocore client for centralized sampling when it is "
        f"imported (Powertools Tracer imports it even when tracing is disabled), hence the last row. "
        f"1-minute load average before / after these measurements: {load_before:.1f} / {load_after:.1f} "
        f"on {os.cpu_count()} cores; on a shared machine the cold figures move by a factor of two "
        f"between runs, so read the medians with their min and max."
    )
    return "\n".join(rows) + "\n\n" + notes + "\n\n#### Small documents\n\n" + small_documents_section(warm)


# --- section ---------------------------------------------------------------------------------


def run() -> str:
    """The "## Ingest" section of docs/benchmarks.md."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    engines, parsed, fastest = engine_section()
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
                "### Handler path\n\n" + handler_path_section(fastest["engine"]),
            ]
        )
        + "\n"
    )


if __name__ == "__main__":
    print(run())
