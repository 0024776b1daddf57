"""BackupFunction: back up, list, verify, restore or prune the vector index, one action per event."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from docpipe import aws
from docpipe.backup import BackupRequest, BackupService
from docpipe.config import Settings
from docpipe.registry import DocumentRegistry
from docpipe.s3 import S3Client
from docpipe.vectorstore import S3VectorStore

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
# Fail the cold start naming the variable, not the first invocation with an opaque AWS error.
settings.require("documents_table", "backups_bucket", "vector_bucket", "vector_index")
service = BackupService(
    settings,
    s3=S3Client(aws.client("s3")),
    store=S3VectorStore(aws.client("s3vectors"), settings.vector_bucket, settings.vector_index),
    registry=DocumentRegistry(aws.client("dynamodb"), settings.documents_table),
    segment_count=settings.backup_segment_count,
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@aws.bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = BackupRequest.from_event(event)  # a bad event fails here, before any action starts
    logger.info("backup action", extra={"action": request.action, "backup": request.backup})
    return service.run(request)
