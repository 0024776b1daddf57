"""Smoke test of a deployed docpipe stack: upload, wait for indexed, search, delete, wait for deleted.

Run after ``sam deploy`` (``make smoke STAGE=staging``): it reads the stack's outputs, uploads one
small Markdown document with a unique phrase, waits until the registry says ``indexed``, checks its
chunks are in the vector index and that a vector search returns them, deletes the object and waits
until the registry says ``deleted`` and its vectors are gone. It speaks plain boto3, so it works
against AWS, LocalStack or moto server alike: endpoints come from boto3's own ``AWS_ENDPOINT_URL``
and ``AWS_ENDPOINT_URL_<SERVICE>`` variables (S3 Vectors on moto server next to LocalStack, say).

Exit codes: 0 passed, 1 a check failed, 2 the stack or its outputs could not be read.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from docpipe.exceptions import ConfigError
from docpipe.ids import doc_id, vector_key
from docpipe_cli import target

# Output names the template may use for each resource; the first one present wins.
OUTPUT_NAMES: dict[str, tuple[str, ...]] = {
    "bucket": ("DocumentsBucketName", "DocumentsBucket"),
    "table": ("DocumentsTableName", "DocumentsTable"),
    "vector_bucket": ("VectorBucketName", "VectorBucket"),
    "vector_index": ("VectorIndexName", "VectorIndex"),
    "prefix": ("DocumentPrefix",),
}
REQUIRED = ("bucket", "table", "vector_bucket", "vector_index")


class SmokeTestError(Exception):
    """A check of the deployed pipeline failed; the message says which and what was seen."""


class StackConfigError(Exception):
    """The stack or one of its outputs could not be read."""


@dataclass(frozen=True)
class Targets:
    """The resources the smoke test touches, from the stack's outputs or the command line."""

    bucket: str
    table: str
    vector_bucket: str
    vector_index: str
    prefix: str = ""


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The ``OutputKey -> OutputValue`` map of a deployed stack (read as the ``docpipe`` command reads it)."""
    try:
        return target.stack_outputs(cloudformation, stack_name)
    except ConfigError as e:
        raise StackConfigError(str(e)) from e


def resolve_targets(outputs: Mapping[str, str], overrides: Mapping[str, str | None]) -> Targets:
    """Pick each resource from the command line first, else from the stack outputs.

    Raises:
        StackConfigError: naming the outputs that were looked for and the ones the stack has.
    """
    values: dict[str, str] = {}
    for field_name, names in OUTPUT_NAMES.items():
        override = overrides.get(field_name)
        if override is not None:
            values[field_name] = override
            continue
        found = next((outputs[n] for n in names if n in outputs), None)
        if found is not None:
            values[field_name] = found
        elif field_name in REQUIRED:
            raise StackConfigError(
                f"the stack has no output {' or '.join(names)} "
                f"(it has: {', '.join(sorted(outputs)) or 'none'}); pass --{field_name.replace('_', '-')}"
            )
    return Targets(**values)


def wait_for_state(
    table: Any,
    document_id: str,
    wanted: str,
    *,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll the registry until the document reaches ``wanted``; fail fast on ``skipped``."""
    deadline = clock() + timeout
    last: dict[str, Any] | None = None
    while True:
        item = table.get_item(Key={"doc_id": document_id}, ConsistentRead=True).get("Item")
        if item is not None:
            last = item
            state = item.get("state")
            if state == wanted:
                return dict(item)
            if state == "skipped":
                raise SmokeTestError(
                    f"document {document_id} was skipped (reason: {item.get('reason', 'none given')})"
                )
        if clock() >= deadline:
            seen = f"state {last.get('state')!r}" if last else "no registry item"
            raise SmokeTestError(f"document {document_id} not {wanted} after {timeout:.0f} s ({seen})")
        sleep(interval)


def search_keys(s3vectors: Any, targets: Targets, query: Sequence[float], top_k: int) -> list[str]:
    """Vector keys of the ``top_k`` nearest neighbours of ``query`` (QueryVectors, AWS or local)."""
    where = {"vectorBucketName": targets.vector_bucket, "indexName": targets.vector_index}
    response = s3vectors.query_vectors(**where, topK=top_k, queryVector={"float32": list(query)})
    return [v["key"] for v in response.get("vectors", [])]


def _log(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def run(
    session: Any,
    targets: Targets,
    *,
    timeout: float = 300.0,
    interval: float = 2.0,
    cli_search: bool = False,
    run_id: str | None = None,
) -> None:
    """Upload, wait for ``indexed``, search, delete, wait for ``deleted``.

    Raises:
        SmokeTestError: the first check that failed, with what was seen.
    """
    s3 = session.client("s3")
    s3vectors = session.client("s3vectors")
    table = session.resource("dynamodb").Table(targets.table)
    run_id = run_id or uuid.uuid4().hex[:12]
    phrase = f"docpipe smoke test {run_id}"
    key = f"{targets.prefix}smoke-tests/{run_id}.md"
    document_id = doc_id(targets.bucket, key)
    body = (
        f"# {phrase}\n\nThis document was uploaded by scripts/smoke_test.py to check that a deployed "
        f"docpipe stack indexes, searches and forgets documents. Unique phrase: {phrase}.\n"
    )

    uploaded = True
    s3.put_object(Bucket=targets.bucket, Key=key, Body=body.encode(), ContentType="text/markdown")
    _log(f"uploaded s3://{targets.bucket}/{key} (doc_id {document_id})")
    try:
        started = time.monotonic()
        item = wait_for_state(table, document_id, "indexed", timeout=timeout, interval=interval)
        chunks = int(item.get("chunk_count", 0))
        _log(f"indexed after {time.monotonic() - started:.1f} s with {chunks} chunk(s)")
        if chunks < 1:
            raise SmokeTestError(f"document {document_id} is indexed with chunk_count {chunks}")

        first = vector_key(document_id, 0)
        where = {"vectorBucketName": targets.vector_bucket, "indexName": targets.vector_index}
        found = s3vectors.get_vectors(**where, keys=[first], returnData=True, returnMetadata=True)["vectors"]
        if not found:
            raise SmokeTestError(f"registry says indexed but vector {first} is not in the index")
        if found[0].get("metadata", {}).get("doc_id") != document_id:
            raise SmokeTestError(
                f"vector {first} has metadata {found[0].get('metadata')}, not doc_id {document_id}"
            )
        hits = search_keys(s3vectors, targets, found[0]["data"]["float32"], top_k=5)
        if not any(hit.startswith(f"{document_id}#") for hit in hits):
            raise SmokeTestError(f"a search with the document's own vector did not return it (got {hits})")
        _log(f"search returned the document ({len(hits)} hit(s))")
        if cli_search:
            _cli_search(phrase, key)

        s3.delete_object(Bucket=targets.bucket, Key=key)
        uploaded = False
        started = time.monotonic()
        wait_for_state(table, document_id, "deleted", timeout=timeout, interval=interval)
        left = s3vectors.get_vectors(**where, keys=[first])["vectors"]
        if left:
            raise SmokeTestError(f"registry says deleted but vector {first} is still in the index")
        _log(f"deleted after {time.monotonic() - started:.1f} s; vectors removed")
    finally:
        if uploaded:  # leave no smoke-test documents behind when a check failed
            try:
                s3.delete_object(Bucket=targets.bucket, Key=key)
            except ClientError as e:  # the check's own failure is the one to report
                _log(f"could not remove s3://{targets.bucket}/{key}: {e}")


def _cli_search(phrase: str, key: str) -> None:
    """Search by text with the ``docpipe search`` CLI (embeds the query like users do)."""
    if shutil.which("docpipe") is None:
        raise SmokeTestError("--cli-search given but the docpipe command is not installed")
    result = subprocess.run(
        ["docpipe", "search", phrase, "--k", "5"], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0 or key not in result.stdout:
        raise SmokeTestError(
            f"`docpipe search` exited {result.returncode} without listing {key}: "
            f"{result.stderr.strip()[-500:]}"
        )
    _log("docpipe search found the document by text")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack-name", help="read resource names from this stack's outputs")
    parser.add_argument("--region", help="AWS region (default: the usual boto3 lookup)")
    parser.add_argument("--bucket", help="documents bucket (instead of the stack output)")
    parser.add_argument("--table", help="documents table (instead of the stack output)")
    parser.add_argument("--vector-bucket", help="vector bucket (instead of the stack output)")
    parser.add_argument("--vector-index", help="vector index (instead of the stack output)")
    parser.add_argument("--prefix", help="key prefix the pipeline watches (default: stack output or none)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each state")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between registry polls")
    parser.add_argument("--cli-search", action="store_true", help="also search by text with `docpipe search`")
    args = parser.parse_args(argv)

    session = boto3.session.Session(region_name=args.region)
    overrides = {name: getattr(args, name) for name in OUTPUT_NAMES}
    try:
        outputs = stack_outputs(session.client("cloudformation"), args.stack_name) if args.stack_name else {}
        targets = resolve_targets(outputs, overrides)
    except (StackConfigError, BotoCoreError) as e:
        print(f"smoke: {e}", file=sys.stderr)
        return 2
    try:
        run(session, targets, timeout=args.timeout, interval=args.interval, cli_search=args.cli_search)
    except (SmokeTestError, ClientError, BotoCoreError) as e:
        print(f"smoke: FAILED: {e}", file=sys.stderr)
        return 1
    _log("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
