"""VectorIndexTextSearch's handler: a custom resource that makes VectorIndex ENHANCED with text searchable.

AWS::S3Vectors::Index cannot express an index mode or text search configurations yet (its newest
resource schema has neither), so the stack sets them here, declared as a resource with the keys
and language as properties (docs/search.md, "Index mode and text search"). Create and Update apply
them in place (UpdateIndexMode, UpdateMetadataConfiguration: no re-ingest; the store backfills);
Delete changes nothing, as VectorIndex itself is retained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from docpipe import aws
from docpipe.config import Settings
from docpipe.custom_resource import answer
from docpipe.vectorstore import S3VectorStore

logger = Logger()
# The index is the one every function is given (VECTOR_BUCKET, VECTOR_INDEX); the resource's
# properties name it too, so that a new index (a new name) is an Update that reaches this handler.
settings = Settings.from_env()


def apply(properties: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    settings.require("vector_bucket", "vector_index")
    store = S3VectorStore(aws.client("s3vectors"), settings.vector_bucket, settings.vector_index)
    changed = store.enable_text_search(
        tuple(properties["MetadataKeys"]), language=properties.get("Language") or None
    )
    logger.info("vector index text search", extra={"index": store.uri, "changed": changed})
    return f"{store.uri}/text-search", {"Changed": "; ".join(changed) or "nothing"}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    sent = answer(event, apply)
    logger.info("answered CloudFormation", extra={"status": sent["Status"], "reason": sent["Reason"]})
