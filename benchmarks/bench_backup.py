"""Backup benchmark: back up and restore synthetic 1,024-dimensional indexes against moto server.

Moto server runs in its own process (so the index it holds in memory does not count against the
backup's RSS), with ListVectors patched to page and segment as S3 Vectors does: moto 5.2 returns
the whole index in one response, which no real endpoint does. Each backup and restore runs in a
fresh child process that reports its own peak RSS. Raw ``list_vectors``/``put_vectors`` throughput
is measured in the same run against the same server, with the same number of ListVectors segments
as the backup used, so ratios compare like with like. The report states every target and whether
this run met it.

Sizes: ``DOCPIPE_BENCH_BACKUP_SIZES`` (comma-separated, default ``10000,100000``); a smoke run that
proves the code works in a minute: ``DOCPIPE_BENCH_BACKUP_SIZES=300,1500``. Segments:
``BACKUP_SEGMENT_COUNT`` (as in the function; default from ``Settings``).
Run alone: ``python -m benchmarks --only backup``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DIMENSION = 1024
VECTOR_BUCKET = "bench-vectors"
BACKUPS_BUCKET = "bench-backups"
TABLE = "bench-documents"
REGION = "us-east-1"
RAW_PAGE = 1000  # the largest ListVectors page: the most favourable raw baseline
# The raw ListVectors baseline reads at most this many vectors (moto server manages ~200/s here).
RAW_LIST_SAMPLE = int(os.environ.get("DOCPIPE_BENCH_RAW_LIST_SAMPLE", "20000"))
# The backup targets.
RATE_TARGET = 0.7  # backup / raw list and restore / raw put
RSS_TARGET_MB = 256.0  # peak RSS at 100k vectors
RSS_TARGET_SIZE = 100_000
# "Flat between 10k and 100k": the largest size's peak RSS may exceed the smallest's by at most this.
RSS_FLAT_DELTA_MB = 32.0
WORDS = [
    "river",
    "lake",
    "basin",
    "delta",
    "tide",
    "erosion",
    "sediment",
    "granite",
    "basalt",
    "valley",
    "glacier",
    "moraine",
    "plateau",
    "contour",
    "survey",
    "gradient",
    "aquifer",
    "rainfall",
    "runoff",
    "catchment",
    "estuary",
    "meander",
    "floodplain",
    "terrace",
    "limestone",
    "karst",
    "cave",
    "spring",
    "fault",
    "fold",
    "strata",
    "outcrop",
    "summit",
    "ridge",
    "saddle",
    "col",
    "cirque",
    "tarn",
]


def _paginated_list_vectors(self: Any) -> Any:
    """ListVectors with ``maxResults``, ``nextToken`` and ``segmentCount``/``segmentIndex``.

    moto 5.2 returns the whole index in one response and ignores segments; S3 Vectors pages (at
    most 1,000 vectors) and splits the key space into disjoint segments. Segment ``i`` of ``n``
    here is the ``i``-th contiguous slice of the index's insertion order; the token is an offset.
    """
    from moto.core.responses import ActionResult

    bucket = self._get_param("vectorBucketName")
    index_arn = self._get_param("indexArn")
    index_name = self._get_param("indexName")
    self._validate_index_params(index_arn, index_name, bucket)
    return_data = self._get_bool_param("returnData", False)
    return_metadata = self._get_bool_param("returnMetadata", False)
    max_results = int(self._get_param("maxResults") or 500)
    count = int(self._get_param("segmentCount") or 1)
    segment = int(self._get_param("segmentIndex") or 0)
    offset = int(self._get_param("nextToken") or 0)
    vectors = list(
        self.s3vectors_backend.list_vectors(
            vector_bucket_name=bucket, index_arn=index_arn, index_name=index_name
        )
    )
    low, high = len(vectors) * segment // count, len(vectors) * (segment + 1) // count
    start = low + offset
    end = min(start + max_results, high)
    result: dict[str, Any] = {
        "vectors": [
            {
                "key": v.key,
                "data": v.data if return_data else None,
                "metadata": v.metadata if return_metadata else None,
            }
            for v in vectors[start:end]
        ]
    }
    if end < high:
        result["nextToken"] = str(end - low)
    return ActionResult(result)


@contextlib.contextmanager
def paginated_moto_list_vectors() -> Iterator[None]:
    """Make moto's ListVectors page and segment like S3 Vectors while the context is open."""
    from moto.s3vectors.responses import S3VectorsResponse

    original = S3VectorsResponse.list_vectors
    S3VectorsResponse.list_vectors = _paginated_list_vectors  # type: ignore[method-assign]
    try:
        yield
    finally:
        S3VectorsResponse.list_vectors = original  # type: ignore[method-assign]


# --------------------------------------------------------------------------------------------------
# moto server (child process)


def _serve(port: int) -> None:
    """Entry point of the server process: patched ListVectors, then serve until killed."""
    from moto.server import ThreadedMotoServer

    with paginated_moto_list_vectors():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        print("ready", flush=True)
        while True:
            time.sleep(3600)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child_env(endpoint: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        PYTHONPATH=os.pathsep.join([str(ROOT / "layers" / "docpipe"), str(ROOT)]),
    )
    env.pop("AWS_PROFILE", None)
    return env


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_backup", "serve", str(port)],
        cwd=ROOT,
        env=_child_env(endpoint),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("moto server did not start")
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)


# --------------------------------------------------------------------------------------------------
# seeding and raw baselines (parent process)


def _clients(endpoint: str) -> tuple[Any, Any, Any]:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "adaptive", "max_attempts": 8}, read_timeout=300, max_pool_connections=32
    )
    kwargs: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "bench",
        "aws_secret_access_key": "bench",
        "config": config,
    }
    return (
        boto3.client("s3", **kwargs),
        boto3.client("s3vectors", **kwargs),
        boto3.client("dynamodb", **kwargs),
    )


def _synthetic_vectors(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """Embedding-like vectors (full float32 mantissas) with chunk-sized metadata."""
    rng = random.Random(seed)
    rnd = rng.random
    for n in range(count):
        doc = f"{n // 20:032x}"
        data = array("f", [(rnd() * 2 - 1) * 0.0625 for _ in range(DIMENSION)]).tolist()
        text = " ".join(rng.choices(WORDS, k=150))
        yield {
            "key": f"{doc}#{n % 20}",
            "data": {"float32": data},
            "metadata": {
                "doc_id": doc,
                "bucket": "bench-docs",
                "key": f"docs/{n // 20}.pdf",
                "page": 1 + (n % 20) // 2,
                "page_end": 1 + (n % 20) // 2,
                "chunk_no": n % 20,
                "content_type": "application/pdf",
                "text": text[:1000],
                "source_uri": f"s3://bench-docs/docs/{n // 20}.pdf",
            },
        }


def _seed(vectors: Any, dynamodb: Any, index: str, count: int) -> float:
    """Create and fill the index with raw put_vectors (500 per call); returns the raw put rate."""
    vectors.create_index(
        vectorBucketName=VECTOR_BUCKET,
        indexName=index,
        dataType="float32",
        dimension=DIMENSION,
        distanceMetric="cosine",
        metadataConfiguration={"nonFilterableMetadataKeys": ["text", "source_uri"]},
    )
    put_seconds = 0.0
    batch: list[dict[str, Any]] = []
    for record in _synthetic_vectors(count, seed=count):
        batch.append(record)
        if len(batch) == 500:
            started = time.perf_counter()
            vectors.put_vectors(vectorBucketName=VECTOR_BUCKET, indexName=index, vectors=batch)
            put_seconds += time.perf_counter() - started
            batch = []
    if batch:
        started = time.perf_counter()
        vectors.put_vectors(vectorBucketName=VECTOR_BUCKET, indexName=index, vectors=batch)
        put_seconds += time.perf_counter() - started
    for start in range(0, count // 20, 25):
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "doc_id": {"S": f"{n:032x}"},
                        "bucket": {"S": "bench-docs"},
                        "key": {"S": f"docs/{n}.pdf"},
                        "state": {"S": "indexed"},
                        "chunk_count": {"N": "20"},
                        "pages": {"N": "10"},
                        "seconds": {"N": "1.5"},
                    }
                }
            }
            for n in range(start, min(start + 25, count // 20))
        ]
        dynamodb.batch_write_item(RequestItems={TABLE: requests})
    return count / put_seconds


def _raw_list_rate(vectors: Any, index: str, segments: int = 1) -> float:
    """ListVectors with data and metadata, largest pages, nothing else done, over ``segments``
    parallel segments (one thread each, as the backup reads them). Reads at most
    ``RAW_LIST_SAMPLE`` vectors in all: the rate does not depend on the index size."""
    quota = max(1, RAW_LIST_SAMPLE // segments)

    def read_segment(segment: int) -> int:
        seen = 0
        kwargs: dict[str, Any] = {
            "vectorBucketName": VECTOR_BUCKET,
            "indexName": index,
            "returnData": True,
            "returnMetadata": True,
            "maxResults": RAW_PAGE,
        }
        if segments > 1:
            kwargs.update(segmentCount=segments, segmentIndex=segment)
        while True:
            response = vectors.list_vectors(**kwargs)
            seen += len(response["vectors"])
            token = response.get("nextToken")
            if not token or seen >= quota:
                return seen
            kwargs["nextToken"] = token

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=segments) as pool:
        seen = sum(pool.map(read_segment, range(segments)))
    return seen / (time.perf_counter() - started)


def _configured_segments() -> int:
    """The segment count BackupFunction would use here (``BACKUP_SEGMENT_COUNT`` or the default)."""
    from docpipe.config import BACKUP_SEGMENT_COUNT, Settings

    raw = os.environ.get(BACKUP_SEGMENT_COUNT, "")
    return Settings.from_env({BACKUP_SEGMENT_COUNT: raw}).backup_segment_count


# --------------------------------------------------------------------------------------------------
# measured cases (each in its own child process)


def _status_mb(field: str) -> float:
    """VmHWM/VmRSS of this process in MB (10^6 bytes, the unit of the target). Unlike ru_maxrss,
    VmHWM starts afresh at exec: the parent's memory, which a forked child briefly shares, does
    not count."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024 / 1e6


def _case(action: str, index: str, key: str) -> dict[str, Any]:
    """Run one backup or restore in this (fresh) process and report time and peak RSS."""
    from docpipe import aws
    from docpipe.backup import BackupService
    from docpipe.config import Settings
    from docpipe.registry import DocumentRegistry
    from docpipe.s3 import S3Client
    from docpipe.vectorstore import S3VectorStore

    settings = Settings(
        stack_name="bench",
        documents_table=TABLE,
        vector_bucket=VECTOR_BUCKET,
        vector_index=index,
        backups_bucket=BACKUPS_BUCKET,
        embedding_dimension=DIMENSION,
        backup_segment_count=_configured_segments(),
    )
    service = BackupService(  # built as functions/backup/app.py builds it
        settings,
        s3=S3Client(aws.client("s3")),
        store=S3VectorStore(aws.client("s3vectors"), VECTOR_BUCKET, index),
        registry=DocumentRegistry(aws.client("dynamodb"), TABLE),
        segment_count=settings.backup_segment_count,
    )
    baseline = _status_mb("VmRSS")
    started = time.perf_counter()
    if action == "backup":
        result: dict[str, Any] = service.backup().to_dict()
    else:
        result = service.restore(key, mode="replace").to_dict()
    seconds = time.perf_counter() - started
    return {
        **result,
        "wall_seconds": seconds,
        "peak_rss_mb": _status_mb("VmHWM"),
        "baseline_rss_mb": baseline,
    }


def _run_case(endpoint: str, action: str, index: str, key: str = "") -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_backup", "case", action, index, key],
        cwd=ROOT,
        env=_child_env(endpoint),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{action} of {index} failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _measure(endpoint: str, count: int) -> dict[str, Any]:
    s3, vectors, dynamodb = _clients(endpoint)
    index = f"bench-{count}"
    print(f"   seeding {count} vectors", file=sys.stderr, flush=True)
    put_rate = _seed(vectors, dynamodb, index, count)
    single_list_rate = _raw_list_rate(vectors, index)
    print(f"   backup of {count}", file=sys.stderr, flush=True)
    backup = _run_case(endpoint, "backup", index)
    # The baseline reads with as many segments as the backup actually used (one for a one-page index).
    segments = int(backup["segments"])
    list_rate = single_list_rate if segments == 1 else _raw_list_rate(vectors, index, segments)
    # Wipe (as after a bad re-embedding) and restore into the same name: one copy in moto's memory.
    vectors.delete_index(vectorBucketName=VECTOR_BUCKET, indexName=index)
    print(f"   restore of {count}", file=sys.stderr, flush=True)
    restore = _run_case(endpoint, "restore", index, backup["key"])
    listed = vectors.list_vectors(vectorBucketName=VECTOR_BUCKET, indexName=index, maxResults=1)
    assert listed["vectors"], "restore left the index empty"
    return {
        "count": count,
        "segments": segments,
        "raw_list_rate": list_rate,
        "raw_list_rate_single": single_list_rate,
        "raw_put_rate": put_rate,
        "backup": backup,
        "restore": restore,
        "backup_rate": count / backup["wall_seconds"],
        "restore_rate": count / restore["wall_seconds"],
    }


def _sizes() -> list[int]:
    raw = os.environ.get("DOCPIPE_BENCH_BACKUP_SIZES", "10000,100000")
    return [int(part) for part in raw.split(",") if part.strip()]


def run() -> str:
    """Measure every size and return the "## Backup" Markdown section."""
    from docpipe import backup as backup_module

    results = []
    with moto_server() as endpoint:
        s3, vectors, dynamodb = _clients(endpoint)
        s3.create_bucket(Bucket=BACKUPS_BUCKET)
        vectors.create_vector_bucket(vectorBucketName=VECTOR_BUCKET)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "doc_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "doc_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for count in _sizes():
            results.append(_measure(endpoint, count))
    return _report(results, backup_module.COMPRESS_LEVEL, _configured_segments())


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _targets(results: list[dict[str, Any]]) -> list[str]:
    """One row per target: what was measured and whether this run met it."""
    rows = ["| target | measured | met |", "| --- | --- | :---: |"]
    for r in results:
        n = f"{r['count']:,}"
        backup_ratio = r["backup_rate"] / r["raw_list_rate"]
        restore_ratio = r["restore_rate"] / r["raw_put_rate"]
        rows.append(
            f"| backup ≥ {RATE_TARGET} × raw `list_vectors` ({r['segments']} segment(s)), {n} vectors "
            f"| {r['backup_rate']:,.0f} / {r['raw_list_rate']:,.0f} v/s = {backup_ratio:.2f} "
            f"| {_met(backup_ratio >= RATE_TARGET)} |"
        )
        rows.append(
            f"| restore ≥ {RATE_TARGET} × raw `put_vectors`, {n} vectors "
            f"| {r['restore_rate']:,.0f} / {r['raw_put_rate']:,.0f} v/s = {restore_ratio:.2f} "
            f"| {_met(restore_ratio >= RATE_TARGET)} |"
        )
        per_vector = r["backup"]["size"] / r["count"]
        rows.append(
            f"| archive bytes per vector vs raw float32 ({4 * DIMENSION:,} B), {n} vectors "
            f"| {per_vector:,.0f} B = {per_vector / (4 * DIMENSION):.2f} × raw | no target: reported |"
        )
    smallest, largest = results[0], results[-1]
    for r in results:
        peak = max(r["backup"]["peak_rss_mb"], r["restore"]["peak_rss_mb"])
        verdict = _met(peak < RSS_TARGET_MB)
        if r is largest and r["count"] < RSS_TARGET_SIZE:
            verdict += f" (target is set at {RSS_TARGET_SIZE:,}; not measured there)"
        rows.append(
            f"| peak RSS < {RSS_TARGET_MB:.0f} MB, {r['count']:,} vectors "
            f"| backup {r['backup']['peak_rss_mb']:.0f} MB, restore {r['restore']['peak_rss_mb']:.0f} MB "
            f"| {verdict} |"
        )
    if len(results) > 1:
        deltas = {
            action: largest[action]["peak_rss_mb"] - smallest[action]["peak_rss_mb"]
            for action in ("backup", "restore")
        }
        rows.append(
            f"| flat peak RSS: {largest['count']:,} − {smallest['count']:,} vectors ≤ "
            f"{RSS_FLAT_DELTA_MB:.0f} MB "
            f"| backup {deltas['backup']:+.0f} MB, restore {deltas['restore']:+.0f} MB "
            f"| {_met(max(deltas.values()) <= RSS_FLAT_DELTA_MB)} |"
        )
    else:
        rows.append("| flat peak RSS between sizes | one size only | not measured |")
    return rows


def _report(results: list[dict[str, Any]], level: int, segments: int) -> str:
    results = sorted(results, key=lambda r: r["count"])
    raw_bytes = 4 * DIMENSION
    lines = [
        "## Backup",
        "",
        f"Synthetic indexes of {DIMENSION}-dimensional float32 vectors (full-precision random values, "
        "about 1,000 characters of chunk text and 8 other metadata keys each, one registry item per 20 "
        "vectors) on moto server in a separate process, its ListVectors patched to page and segment like "
        f"S3 Vectors. gzip level {level}; `BACKUP_SEGMENT_COUNT` {segments} (an index of one page is "
        "read as one segment). Backup and restore each run in a fresh process; peak RSS is that "
        "process's VmHWM in MB (10^6 bytes; the baseline is the same process after imports, before "
        "the action). Raw rates: `list_vectors` with data and metadata "
        f"({RAW_PAGE} per page, first {RAW_LIST_SAMPLE:,} vectors), with as many parallel segments "
        "as the backup used (the ratio's baseline) and single-stream (for reference); `put_vectors` "
        "of 500 per call, one call at a time, while seeding (restore also keeps one in flight).",
        "",
        "| vectors | segments | raw list v/s (same segments) | raw list v/s (1 stream) | backup v/s "
        "| backup / raw | raw put v/s | restore v/s | restore / raw | archive MB "
        f"| bytes/vector (raw f32 {raw_bytes:,}) | peak RSS backup MB | peak RSS restore MB "
        "| baseline MB |",
        "|" + " ---: |" * 14,
    ]
    for r in results:
        backup, restore = r["backup"], r["restore"]
        lines.append(
            f"| {r['count']:,} | {r['segments']} | {r['raw_list_rate']:,.0f} "
            f"| {r['raw_list_rate_single']:,.0f} | {r['backup_rate']:,.0f} "
            f"| {r['backup_rate'] / r['raw_list_rate']:.2f} | {r['raw_put_rate']:,.0f} "
            f"| {r['restore_rate']:,.0f} | {r['restore_rate'] / r['raw_put_rate']:.2f} "
            f"| {backup['size'] / 1e6:,.1f} | {backup['size'] / r['count']:,.0f} "
            f"| {backup['peak_rss_mb']:.0f} | {restore['peak_rss_mb']:.0f} "
            f"| {backup['baseline_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "### Targets",
        "",
        *_targets(results),
        "",
        "Restore time includes its validation pass (the whole archive is streamed and checked once "
        "before anything is written) and the registry. Bytes per vector count the whole archive: "
        "the gzip-compressed float32 plus the metadata (the chunk text) and the registry, against "
        f"{raw_bytes:,} bytes of raw float32 alone. "
        f'"Flat" means the largest size\'s peak RSS is at most {RSS_FLAT_DELTA_MB:.0f} '
        "MB above the smallest's.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        _serve(int(argv[1]))
        return 0
    if argv[:1] == ["case"]:
        print(json.dumps(_case(argv[1], argv[2], argv[3] if len(argv) > 3 else "")))
        return 0
    print(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
