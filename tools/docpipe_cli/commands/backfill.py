"""``docpipe backfill s3://bucket/prefix``: reconcile's enqueue half, run from the command line."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlparse

from docpipe.exceptions import ConfigError, InvalidInputError
from docpipe_cli.console import out
from docpipe_cli.target import Target, resolve_target


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "backfill", parents=[common], help="enqueue objects the registry lacks (reconcile's enqueue half)"
    )
    p.add_argument("uri", help="s3://bucket/prefix")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    total = backfill(resolve_target(args), args.uri, progress=not args.no_progress)
    out(f"enqueued {total} objects; `docpipe status` shows them as they are indexed")
    return 0


def reconcile_service(target: Target, bucket: str | None = None) -> Any:
    """A ReconcileService for ``backfill``, reconcile's enqueue half (no vector index needed)."""
    from docpipe.queue import MessageQueue
    from docpipe.reconcile import ReconcileService
    from docpipe.registry import DocumentRegistry
    from docpipe.s3 import S3Client

    s3 = target.client("s3")
    region = target.local_state.region if target.local_state else s3.meta.region_name
    if not region:
        raise ConfigError("no AWS region: pass --region or set AWS_REGION (the events name the region)")
    return ReconcileService(
        s3=S3Client(s3),
        registry=DocumentRegistry(
            target.client("dynamodb"), target.name("documents_table", "--documents-table")
        ),
        store=None,  # the enqueue half reads the bucket and the registry only
        queue=MessageQueue(target.client("sqs"), target.name("queue_url", "--queue-url")),
        bucket=bucket or target.name("documents_bucket", "--documents-bucket"),
        region=region,
        scope=target.scope(),  # the stack's: backfill enqueues no key IngestFunction would skip
    )


def backfill(target: Target, uri: str, *, progress: bool = True) -> int:
    """Enqueue the objects under ``s3://bucket/prefix`` the registry lacks or has another ETag for.

    Reconcile's enqueue half: the same merge of the listing with the registry and the same
    S3-shaped ``ObjectCreated`` messages (docs/architecture.md, "Reconcile"); objects already
    indexed as they are cost nothing. With ``progress`` a bar shows the objects listed and those
    enqueued against the total (a first listing counts them).
    """
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidInputError(f"{uri!r}: expected s3://bucket/prefix")
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    service = reconcile_service(target, bucket)
    if not progress:
        return int(service.enqueue_objects(prefix)["enqueued"])
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    total = service.count_documents(prefix)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("enqueued {task.fields[enqueued]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(f"s3://{bucket}/{prefix}", total=total, enqueued=0)

        def seen(report: Any) -> None:
            bar.update(task, completed=report.objects_listed, enqueued=report.enqueued)

        result = service.enqueue_objects(prefix, on_object=seen)
        bar.update(task, completed=result["objects_listed"], enqueued=result["enqueued"])
    return int(result["enqueued"])
