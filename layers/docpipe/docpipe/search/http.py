"""SearchFunction's two doors: a Lambda Function URL (HTTP, Powertools resolver) and direct invocation.

Both parse with ``SearchRequest.from_dict`` and answer a caller's mistake with the same JSON,
``{"error": "ValidationError", "field": ..., "message": ...}``: HTTP 400 at the Function URL, the
result itself when invoked directly. Failures that are not the caller's become 503 (worth a retry:
throttling, timeouts) or 502 (an AWS error), with the error class only: no message text, no stack
trace.

Access control (``AccessControl=enforced``): a Function URL request's caller is the IAM identity
in its request context; a refused caller gets 403 ``{"error": "Forbidden", "message": ...}``
(a direct invocation gets that object as its result). docs/access-control.md.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types

from docpipe.access.caller import Caller
from docpipe.exceptions import DocpipeError, ForbiddenError, TransientError, ValidationError
from docpipe.search.request import SearchRequest
from docpipe.search.service import SearchService

logger = Logger(child=True)


def is_function_url_event(event: Any) -> bool:
    """A Function URL (payload format 2.0) event, as opposed to a direct invocation's request."""
    return (
        isinstance(event, dict)
        and isinstance(event.get("requestContext"), dict)
        and ("http" in event["requestContext"])
    )


def search_direct(service: SearchService, event: Any) -> dict[str, Any]:
    """Direct invocation: the response, or the ValidationError result (not a function error)."""
    try:
        return service.search(SearchRequest.from_dict(event)).as_dict()
    except ValidationError as error:
        logger.info("rejected search request", extra={"field": error.field})
        return error.as_dict()
    except ForbiddenError as error:
        return error.as_dict()


def function_url_app(service: SearchService) -> LambdaFunctionUrlResolver:
    """The HTTP app: ``POST /`` with a JSON body searches; anything else is 404/405 JSON."""
    app = LambdaFunctionUrlResolver()

    @app.post("/")
    def search() -> Response[str]:
        body = app.current_event.body
        try:
            data = json.loads(body) if body else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValidationError("body", "is not valid JSON") from None
        event: dict[str, Any] = app.current_event.raw_event
        caller = Caller.from_request_context(event["requestContext"])
        return _json(200, service.search(SearchRequest.from_dict(data), caller).as_dict())

    @app.route("/", method=["GET", "PUT", "PATCH", "DELETE"])
    def wrong_method() -> Response[str]:
        return _json(405, {"error": "MethodNotAllowed", "message": "POST a JSON body to /"})

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        return _json(404, {"error": "NotFound", "message": "POST a JSON body to /"})

    def invalid(error: ValidationError) -> Response[str]:
        logger.info("rejected search request", extra={"field": error.field})
        return _json(400, error.as_dict())

    def forbidden(error: ForbiddenError) -> Response[str]:
        return _json(403, error.as_dict())

    def failed(error: DocpipeError) -> Response[str]:
        # Logged with the traceback for the operator; the caller gets the class name only.
        logger.exception("search failed")
        status = 503 if isinstance(error, TransientError) else 502
        return _json(status, {"error": type(error).__name__, "message": "the search could not be completed"})

    # Registered by call, not as decorators: Powertools' exception_handler is untyped (mypy strict).
    app.exception_handler(ValidationError)(invalid)
    app.exception_handler(ForbiddenError)(forbidden)
    app.exception_handler(DocpipeError)(failed)
    return app


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))
