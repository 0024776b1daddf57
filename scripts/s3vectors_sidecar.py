"""Start the local S3 Vectors as the sidecar for LocalStack and create the vector bucket and index.

The server is moto server with docpipe's emulator boundary installed (``python -m
docpipe_cli.local.server``): the whole S3 Vectors API, QueryVectors with full-text and hybrid
search included, which plain ``moto_server`` lacks. LocalStack has no S3 Vectors; the
``localstack`` samconfig environment deploys with ``CreateVectorStore=false`` and points at an
existing vector bucket and index. This starts the server in the background (unless something
already answers on the port) and creates them there, idempotently. ``make localstack-deploy``
runs it before ``samlocal deploy``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import boto3
from botocore.exceptions import ClientError


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


def start(host: str, port: int, log: Path, wait: float = 30.0) -> str:
    """The emulator's moto server on ``host:port`` in its own session (it outlives this script); its URL."""
    url = f"http://127.0.0.1:{port}"
    if _up(url):
        return url
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "docpipe_cli.local.server", "-H", host, "-p", str(port)]
    with log.open("ab") as out:
        subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if _up(url):
            return url
        time.sleep(0.5)
    raise SystemExit(f"moto server did not answer on {url} within {wait:.0f} s (log: {log})")


def ensure_index(url: str, bucket: str, index: str, dimension: int, metric: str) -> None:
    """Create the vector bucket and index unless they exist."""
    # moto accepts any credentials; fixed ones keep real ones out of an emulator's requests
    client = boto3.client(
        "s3vectors",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - emulator
    )
    try:
        client.create_vector_bucket(vectorBucketName=bucket)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "ConflictException":
            raise
    try:
        client.create_index(
            vectorBucketName=bucket,
            indexName=index,
            dataType="float32",
            dimension=dimension,
            distanceMetric=metric,
        )
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "ConflictException":
            raise


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--host", default="127.0.0.1", help="bind address (0.0.0.0 so Lambda containers reach it)"
    )
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--bucket", default="docpipe-vectors")
    parser.add_argument("--index", default="docpipe-chunks")
    parser.add_argument("--dimension", type=int, default=256)
    parser.add_argument("--metric", default="cosine", choices=["cosine", "euclidean"])
    parser.add_argument("--log", type=Path, default=Path(".docpipe/s3vectors-sidecar.log"))
    args = parser.parse_args(argv)
    url = start(args.host, args.port, args.log)
    ensure_index(url, args.bucket, args.index, args.dimension, args.metric)
    print(
        f"S3 Vectors sidecar on {url}: "
        f"s3vectors://{args.bucket}/{args.index} ({args.dimension}, {args.metric})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
