"""ReconcileFunction: find and repair drift between the documents bucket, the registry and the index."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from docpipe import aws
from docpipe.access import AccessDocuments
from docpipe.config import Settings
from docpipe.queue import MessageQueue
from docpipe.reconcile import ReconcileRequest, ReconcileService, make_object_source
from docpipe.registry import DocumentRegistry
from docpipe.s3 import S3Client
from docpipe.scope import Scope
from docpipe.vectorstore import S3VectorStore

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = Settings.from_env()
# Fail the cold start naming the variable, not the first run with an opaque AWS error.
settings.require("documents_bucket", "documents_table", "vector_bucket", "vector_index", "ingest_queue_url")
sqs = aws.client("sqs")
s3 = S3Client(aws.client("s3"))
service = ReconcileService(
    s3=s3,
    registry=DocumentRegistry(aws.client("dynamodb"), settings.documents_table),
    store=S3VectorStore(aws.client("s3vectors"), settings.vector_bucket, settings.vector_index),
    queue=MessageQueue(sqs, settings.ingest_queue_url),
    bucket=settings.documents_bucket,
    scope=Scope.from_settings(settings),  # DOCUMENT_PREFIX, DOCUMENT_SUFFIX: which keys are documents
    region=sqs.meta.region_name,
    metrics=metrics,
    source=make_object_source(settings, s3),  # RECONCILE_SOURCE: ListObjectsV2 or the S3 Inventory report
    # AccessControl=enforced: documents whose access list the prefix rules no longer give are re-labelled.
    access=AccessDocuments(
        rules_parameter=settings.access_rules_parameter, max_age=settings.access_cache_seconds
    ),
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@aws.bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ReconcileRequest.from_event(event)  # a bad event fails here, before anything is read
    return service.run(request, remaining_ms=context.get_remaining_time_in_millis)
