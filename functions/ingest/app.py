"""IngestFunction: S3 object events (via SQS, direct S3 or EventBridge) -> chunks in S3 Vectors."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from docpipe import aws, snapstart
from docpipe.config import Settings
from docpipe.embeddings import make_embedder
from docpipe.events import detect_source
from docpipe.ingest import ConcurrentBatchProcessor, IngestService
from docpipe.ocr import make_ocr_engine
from docpipe.registry import DocumentRegistry
from docpipe.s3 import S3Client
from docpipe.secrets import SecretsClient
from docpipe.vectorstore import S3VectorStore

logger = Logger()
# Patching imports what it patches (botocore, requests, httpx...: ~0.3 s); trace_aws_calls() does it.
tracer = Tracer(auto_patch=False)
metrics = Metrics()

# Cold start: a bad setting fails here with a ConfigError naming the variable; clients are built once.
settings = Settings.from_env()
settings.require("documents_table", "vector_bucket", "vector_index")
service = IngestService(
    s3=S3Client(aws.client("s3")),
    registry=DocumentRegistry(aws.client("dynamodb"), settings.documents_table),
    store=S3VectorStore(aws.client("s3vectors"), settings.vector_bucket, settings.vector_index),
    embedder=make_embedder(settings),
    settings=settings,
    secrets=SecretsClient(ttl_seconds=settings.secrets_cache_ttl_seconds)
    if settings.pdf_passwords_secret_id
    else None,
    ocr=make_ocr_engine(settings),  # None unless OCR_PROVIDER chooses an engine
    metrics=metrics,
    tracer=tracer,
)
# Records of different documents run side by side; those of one document in sequencer order.
processor = ConcurrentBatchProcessor(EventType.SQS, concurrency=settings.ingest_record_concurrency)


@cache
def trace_aws_calls() -> None:
    """X-Ray subsegments for every AWS call; the only outbound calls the handler makes."""
    tracer.patch(modules=("botocore",))


# With EnableSnapStart: imports, model and patching in the snapshot; no credentials, no connections.
snapstart.register(settings, also=(trace_aws_calls,))


@tracer.capture_method
def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> list[dict[str, Any]]:
    """One SQS message; an exception marks only this message failed (retried, then dead-lettered)."""
    remaining_ms = lambda_context.get_remaining_time_in_millis()  # the registry's claims end with it
    return [o.as_dict() for o in service.process_sqs_record(record, remaining_ms=remaining_ms)]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@aws.bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    trace_aws_calls()
    if detect_source(event) == "sqs":
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    # Direct invocation (sam local invoke -e events/s3_put_pdf.json, S3 or EventBridge targets).
    return service.process_event(event, remaining_ms=context.get_remaining_time_in_millis())
