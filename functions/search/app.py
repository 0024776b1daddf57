"""SearchFunction: a question in, the index's best chunks out (Function URL or direct invocation)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from docpipe import aws, snapstart
from docpipe.config import Settings
from docpipe.search import build_search_service
from docpipe.search.http import function_url_app, is_function_url_event, search_direct

logger = Logger()
tracer = Tracer(auto_patch=False)

# Cold start: a bad setting fails here naming the variable; clients, the embedder (the offline
# model loads on the first query) and the HTTP routes are built once per process. The Bedrock
# reranking client is built only when a request asks for it (and the stack allows it).
settings = Settings.from_env()
service = build_search_service(settings)
app = function_url_app(service)
# EnableSnapStart: the snapshot holds the imports and the offline model, never credentials.
snapstart.register(settings)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@aws.bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_function_url_event(event):
        return app.resolve(event, context)
    # Direct invocation: lambda invoke, sam local invoke -e events/search_basic.json, docpipe invoke.
    return search_direct(service, event)
