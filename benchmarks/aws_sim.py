"""A simulated AWS for the benchmarks: moto server in its own process, a latency-injecting proxy with
a fake Bedrock, handler processes that time themselves, and a CPU quota like Lambda's.

- ``MotoProcess``: ``docpipe_cli.local.server.LocalServer`` in a child process, so moto's request
  handling is not charged to the process under test (its CPU is read from /proc separately).
- ``LatencyProxy``: a loopback HTTP proxy (stdlib ``http.server``, one thread per connection, at
  most ``MAX_CONNECTIONS`` at once) in front of moto. It names each request's service from the
  SigV4 credential scope (the service botocore signed for; one endpoint serves them all, as moto
  does) and its operation from ``X-Amz-Target`` (DynamoDB, SQS, Secrets Manager, Textract...) or
  from method + path (S3, S3 Vectors, Bedrock). A response is held until at least the table's delay
  after the request arrived (``max(delay, moto's own time)``) and every request is logged.
- Bedrock, which moto does not serve, is answered by the proxy itself: deterministic unit-length
  embeddings of the requested dimension after the InvokeModel delay (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``).
- ``Worker``: a fresh ``python -I`` running ``benchmarks/_worker.py`` (the handler with the layer on
  sys.path, bare extraction, or the LangChain baseline) that reports its own wall and CPU time.
- ``CpuQuota``: a cgroup-v1 CFS quota (when this machine allows it) to run a worker at the vCPU
  share Lambda gives a MemorySize (1,769 MB = one vCPU).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import math
import os
import re
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
MAX_CONNECTIONS = 64
MB = 1_000_000


@dataclass(frozen=True)
class Delay:
    """One operation's simulated round trip: ``base`` seconds plus the body at ``bytes_per_s``."""

    base: float
    bytes_per_s: float | None = None
    source: str = ""

    def seconds(self, body_bytes: int) -> float:
        return self.base + (body_bytes / self.bytes_per_s if self.bytes_per_s else 0.0)


_S3_WP = (
    "AWS whitepaper *Best Practices Design Patterns: Optimizing Amazon S3 Performance*: small "
    "requests (< 512 KB) have median latencies 'in the tens of milliseconds'; 50 MB/s per stream "
    "is an assumption"
)
_DDB = (
    "AWS Knowledge Center *DynamoDB high latency*: GetItem/PutItem average latency is single-digit "
    "ms; the value is an assumption within that"
)
_S3V = (
    "S3 Vectors GA (Dec 2025) as summarised by third parties: ~100 ms for frequent queries, under "
    "1 s for infrequent; the write figures are assumptions"
)
ASSUMED = "assumption (no published figure found)"

# (service signing name, operation) -> delay, each with its source.
DELAYS: dict[tuple[str, str], Delay] = {
    ("s3", "GetObject"): Delay(0.020, 50 * MB, _S3_WP),
    ("s3", "HeadObject"): Delay(0.020, None, _S3_WP),
    ("s3", "PutObject"): Delay(0.030, 50 * MB, ASSUMED),
    ("s3", "ListObjectsV2"): Delay(0.030, None, ASSUMED),
    ("dynamodb", "UpdateItem"): Delay(0.006, None, _DDB),
    ("dynamodb", "PutItem"): Delay(0.006, None, _DDB),
    ("dynamodb", "DeleteItem"): Delay(0.006, None, _DDB),
    ("dynamodb", "GetItem"): Delay(0.004, None, _DDB),
    ("dynamodb", "Query"): Delay(0.008, None, ASSUMED),
    ("s3vectors", "PutVectors"): Delay(0.040, None, _S3V),
    ("s3vectors", "DeleteVectors"): Delay(0.030, None, _S3V),
    ("s3vectors", "GetVectors"): Delay(0.030, None, _S3V),
    ("s3vectors", "ListVectors"): Delay(0.040, None, _S3V),
    ("s3vectors", "QueryVectors"): Delay(0.080, None, _S3V),
    ("bedrock", "InvokeModel"): Delay(0.050, None, ASSUMED + "; the targets' figure for Titan V2"),
    ("textract", "DetectDocumentText"): Delay(0.900, None, ASSUMED + "; per page, the targets' figure"),
    ("sqs", "*"): Delay(0.010, None, ASSUMED),
    ("secretsmanager", "GetSecretValue"): Delay(0.015, None, ASSUMED),
    ("events", "PutEvents"): Delay(0.015, None, ASSUMED),
}
DEFAULT_DELAY = Delay(0.010, None, ASSUMED)

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


def delay_for(service: str, operation: str) -> Delay:
    return DELAYS.get((service, operation)) or DELAYS.get((service, "*")) or DEFAULT_DELAY


def operation_of(service: str, method: str, path: str, headers: Mapping[str, str]) -> str:
    """The API operation a request calls, from what is on the wire."""
    target = headers.get("X-Amz-Target") or headers.get("x-amz-target")
    if target:  # JSON protocols: DynamoDB_20120810.UpdateItem, AmazonSQS.SendMessage, ...
        return target.rsplit(".", 1)[-1]
    parts = urlsplit(path)
    segments = [s for s in parts.path.split("/") if s]
    if service == "s3vectors":
        return segments[0] if segments else "?"
    if service == "bedrock":
        return "InvokeModel" if segments[-1:] == ["invoke"] else "?"
    if service == "s3":
        has_key = len(segments) >= 2
        if method == "GET":
            return "GetObject" if has_key else "ListObjectsV2"
        if method == "HEAD":
            return "HeadObject" if has_key else "HeadBucket"
        if method == "PUT":
            return "PutObject" if has_key else "PutBucket"
        if method == "DELETE":
            return "DeleteObject" if has_key else "DeleteBucket"
        if method == "POST" and "delete" in parts.query:
            return "DeleteObjects"
    return f"{method} {parts.path[:40]}"


def fake_embedding(text: str, dimension: int) -> list[float]:
    """A deterministic unit-length vector for ``text`` (same text, same vector)."""
    raw = hashlib.shake_256(text.encode()).digest(2 * dimension)
    values = [v - 32767.5 for v in struct.unpack(f"<{dimension}H", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


@dataclass
class Call:
    service: str
    operation: str
    start: float  # time.monotonic(), comparable across processes on Linux
    end: float
    nominal: float  # the table's delay for this request
    upstream: float  # moto's own time (0 for the fake Bedrock)
    status: int
    request_bytes: int
    response_bytes: int
    input_chars: int = 0  # Bedrock: characters of inputText


class LatencyProxy:
    """Loopback proxy in front of ``upstream`` (moto server) that adds ``DELAYS`` and answers Bedrock.

    ``scale`` multiplies every delay (0 = no injected latency, still the fake Bedrock).
    """

    def __init__(self, upstream: str, *, scale: float = 1.0) -> None:
        self.upstream = urlsplit(upstream)
        self.scale = scale
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> LatencyProxy:
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="latency-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def between(self, start: float, end: float) -> list[Call]:
        """Calls that began inside [start, end] (monotonic clock)."""
        with self._lock:
            return [c for c in self.calls if start <= c.start <= end]

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: LatencyProxy
    protocol_version = "HTTP/1.1"  # keep-alive: botocore pools its connections
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's
    # delayed ACK of the headers (40 ms on Linux), a stall AWS's endpoints do not add.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        owner = self.owner
        with owner._slots:
            start = time.monotonic()
            body = self._body()
            match = _SCOPE.search(self.headers.get("Authorization", ""))
            service = match.group(1) if match else "?"
            operation = operation_of(service, self.command, self.path, self.headers)
            chars = 0
            if service == "bedrock":
                status, headers, payload, upstream, chars = self._bedrock(body)
            else:
                status, headers, payload, upstream = self._forward(self.command, self.path, body)
            nominal = delay_for(service, operation).seconds(len(payload)) * owner.scale
            wait = start + nominal - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.send_response_only(status)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()
            owner.record(
                Call(
                    service,
                    operation,
                    start,
                    time.monotonic(),
                    nominal,
                    upstream,
                    status,
                    len(body),
                    len(payload),
                    chars,
                )
            )

    def _forward(
        self, method: str, path: str, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes, float]:
        local = _UPSTREAM.__dict__
        conn: http.client.HTTPConnection | None = local.get("conn")
        if conn is None or local.get("netloc") != self.owner.upstream.netloc:
            conn = http.client.HTTPConnection(
                self.owner.upstream.hostname, self.owner.upstream.port, timeout=300
            )
            local.update(conn=conn, netloc=self.owner.upstream.netloc)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        headers.pop("Transfer-Encoding", None)
        begun = time.monotonic()
        for attempt in (1, 2):  # a kept-alive connection moto closed: reconnect once
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                if attempt == 2:
                    raise
        return response.status, response.getheaders(), payload, time.monotonic() - begun

    def _bedrock(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes, float, int]:
        request = json.loads(body or b"{}")
        text = str(request.get("inputText", ""))
        dimension = int(request.get("dimensions", 1024))
        payload = json.dumps(
            {"embedding": fake_embedding(text, dimension), "inputTextTokenCount": max(1, len(text) // 4)}
        ).encode()
        return 200, [("Content-Type", "application/json")], payload, 0.0, len(text)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


_UPSTREAM = threading.local()  # one kept-alive connection to moto per proxy thread


def covered(calls: list[Call]) -> float:
    """Seconds during which at least one of ``calls`` was in flight (their union on the clock)."""
    total, until = 0.0, -math.inf
    for call in sorted(calls, key=lambda c: c.start):
        if call.end > until:
            total += call.end - max(call.start, until)
            until = call.end
    return total


# --- moto server in a separate process -------------------------------------------------------

_MOTO_SCRIPT = """
import sys
from docpipe_cli.local.server import LocalServer
server = LocalServer().start()
print(server.endpoint, flush=True)
sys.stdin.read()
server.stop()
"""


class MotoProcess:
    """``LocalServer`` (moto server) in a child process; ``cpu_seconds()`` reads its CPU from /proc."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def start(self) -> MotoProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _MOTO_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        self.endpoint = self.process.stdout.readline().strip()
        if not self.endpoint.startswith("http"):
            raise RuntimeError("moto server did not start")
        return self

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return process_cpu(self.process.pid)

    def reset(self) -> None:
        import urllib.request

        with urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")):
            pass

    def stop(self) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def __enter__(self) -> MotoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- processes under test --------------------------------------------------------------------

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def layer_paths() -> list[str]:
    """What Lambda puts on sys.path: the layer, the function's code, then the packages."""
    return [
        str(ROOT / "layers" / "docpipe"),
        str(ROOT / "functions" / "ingest"),
        sysconfig.get_paths()["purelib"],
    ]


class Worker:
    """A fresh interpreter running ``_worker.py`` in ``mode``; ``run(cmd)`` returns its own timing.

    The handler's logs go to /dev/null in the child (written, as on Lambda, but not read here).
    """

    def __init__(self, mode: str, env: Mapping[str, str], *, quota: CpuQuota | None = None) -> None:
        child_env = {"PATH": "/usr/bin:/bin", **FAKE_AWS, **env}
        # stderr to a file: a pipe nobody reads fills up and blocks the child's warnings.
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(ROOT / "benchmarks" / "_worker.py"), mode, json.dumps(layer_paths())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=child_env,
        )
        if quota is not None:
            quota.add(self.process.pid)
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.stderr.seek(0)
            raise RuntimeError(f"worker died: {self.stderr.read()[-3000:]}")
        result: dict[str, Any] = json.loads(line)
        if "error" in result:
            raise RuntimeError(f"worker failed: {result['error']}")
        return result

    def run(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stderr.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CpuQuota:
    """A cgroup-v1 CFS quota of ``vcpus`` CPUs for the processes ``add``-ed (Lambda's CPU share model).

    ``available()`` says whether this machine lets us create one (root, cgroup v1 cpu controller).
    """

    BASE = Path("/sys/fs/cgroup/cpu")
    PERIOD_US = 100_000

    def __init__(self, vcpus: float) -> None:
        self.path = self.BASE / f"docpipe-bench-{os.getpid()}-{int(vcpus * 1000)}"
        self.path.mkdir()
        (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
        (self.path / "cpu.cfs_quota_us").write_text(str(max(1000, int(vcpus * self.PERIOD_US))))

    @classmethod
    def available(cls) -> bool:
        probe = cls.BASE / f"docpipe-bench-probe-{os.getpid()}"
        try:
            probe.mkdir()
            probe.rmdir()
            return True
        except OSError:
            return False

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.rmdir()

    def __enter__(self) -> CpuQuota:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


# --- the stack's resources and the functions' environment ------------------------------------

LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "IngestFunction",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    "_X_AMZN_TRACE_ID": "Root=1-67890abc-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1",
    "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "ingest"),
}
PASSWORD_SECRET = "docpipe/bench/pdf-passwords"
PASSWORDS = {"libreoffice-writer-password.pdf": "openpassword"}


@dataclass
class SimStack:
    """Resources created on moto, and the environment IngestFunction gets pointed at ``endpoint``."""

    names: Any
    env: dict[str, str]
    moto: str

    @property
    def bucket(self) -> str:
        return str(self.names.documents_bucket)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name="us-east-1", endpoint_url=self.moto, **_keys())


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "aws_session_token": "testing",
    }


@contextlib.contextmanager
def _fake_credentials() -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(FAKE_AWS)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def create_stack(moto: MotoProcess, *, provider: str, dimension: int, concurrency: int = 8) -> SimStack:
    """Reset moto and create the template's data resources for ``provider`` (and the PDF secret)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.moto_resources import create_stack_resources

    moto.reset()
    with _fake_credentials():
        names = create_stack_resources(
            ROOT / "template.yaml",
            parameters={
                "EmbeddingProvider": provider,
                "EmbeddingDimension": dimension,
                "EmbeddingConcurrency": concurrency,
                # e.g. DOCPIPE_BENCH_PARAMETERS='{"IngestRecordConcurrency": 8}' to compare settings
                **json.loads(os.environ.get("DOCPIPE_BENCH_PARAMETERS") or "{}"),
            },
            endpoint_url=moto.endpoint,
        )
    stack = SimStack(names, {}, moto.endpoint)
    stack.client("secretsmanager").create_secret(
        Name=PASSWORD_SECRET, SecretString=json.dumps({"": next(iter(PASSWORDS.values()))})
    )
    env = {k: v for k, v in names.env("IngestFunction").items() if v != ""}
    env["PDF_PASSWORDS_SECRET_ID"] = PASSWORD_SECRET
    stack.env = {**env, **LAMBDA_ENV}
    return stack


def pointed_at(env: Mapping[str, str], endpoint: str, bedrock: str | None = None) -> dict[str, str]:
    """``env`` with every AWS client sent to ``endpoint`` (Bedrock to ``bedrock``, default the same)."""
    return {**env, "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock or endpoint}


def sqs_event(bucket: str, keys: list[str]) -> dict[str, Any]:
    """One SQS batch of S3 ObjectCreated notifications, one record per key, as IngestQueue delivers."""
    from urllib.parse import quote_plus

    records = []
    for n, key in enumerate(keys):
        notification = {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-1",
                    "eventTime": "2026-01-01T00:00:00.000Z",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                        "object": {"key": quote_plus(key), "sequencer": f"{n + 1:016X}"},
                    },
                }
            ]
        }
        records.append(
            {
                "messageId": f"bench-{n}-{key}",
                "receiptHandle": "bench",
                "body": json.dumps(notification),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:docpipe-IngestQueue",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def spread(values: Sequence[float], scale: float = 1000.0, unit: str = "ms", digits: int = 0) -> str:
    """``median (min .., max ..) unit`` of ``values`` scaled (seconds to ms by default): how every
    benchmark quotes a measurement."""
    f = f"{{:,.{digits}f}}"
    return (
        f"{f.format(median(values) * scale)} {unit} "
        f"(min {f.format(min(values) * scale)}, max {f.format(max(values) * scale)})"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (5-min {five:.1f}) on {os.cpu_count()} cores"
