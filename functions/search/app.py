"""SearchFunction: a question in, the index's best chunks out (Function URL or direct invocation)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from docpipe.config import Settings
from docpipe.search.http import function_url_app, is_function_url_event, search_direct
from docpipe.search.service import build_search_service

logger = Logger()
tracer = Tracer(auto_patch=False)

# Cold start: a bad setting fails here naming the variable; clients, the embedder (the offline
# model is loaded on the first query) and the HTTP routes are built once per process.
service = build_search_service(Settings.from_env())
app = function_url_app(service)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_function_url_event(event):
        return app.resolve(event, context)
    # Direct invocation: lambda invoke, sam local invoke -e events/search_basic.json, the CLI.
    return search_direct(service, event)
