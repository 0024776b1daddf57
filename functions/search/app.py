"""SearchFunction: a question in, the index's best chunks out (Function URL or direct invocation)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from docpipe import aws, snapstart
from docpipe.config import Settings
from docpipe.embeddings import make_embedder
from docpipe.rerank import make_reranker
from docpipe.search.http import function_url_app, is_function_url_event, search_direct
from docpipe.search.service import SearchService
from docpipe.vectorstore import S3VectorStore

logger = Logger()
tracer = Tracer(auto_patch=False)

# Cold start: a bad setting fails here naming the variable; clients, the embedder (the offline
# model loads on the first query) and the HTTP routes are built once per process. The Bedrock
# reranking client is built only when a request asks for it (and the stack allows it).
settings = Settings.from_env()
settings.require("vector_bucket", "vector_index")
service = SearchService(
    settings,
    store=S3VectorStore(aws.client("s3vectors"), settings.vector_bucket, settings.vector_index),
    embedder=make_embedder(settings),
    rerankers=lambda mode: make_reranker(mode, settings),
)
app = function_url_app(service)
# EnableSnapStart: the snapshot holds the imports and the offline model, never credentials.
snapstart.register(settings)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    aws.set_deadline(context.get_remaining_time_in_millis() / 1000)  # no AWS retry outlives it
    if is_function_url_event(event):
        return app.resolve(event, context)
    # Direct invocation: lambda invoke, sam local invoke -e events/search_basic.json, docpipe invoke.
    return search_direct(service, event)
