"""The Lambda Invoke API on loopback, served by warm sandboxes, as ``sam local start-lambda`` serves it.

``docpipe local up`` serves it so that ``docpipe invoke``, ``aws lambda invoke --endpoint-url`` and
boto3 reach the stack's warm sandboxes instead of starting a cold one per call. It answers
``POST /2015-03-31/functions/<name>/invocations`` (name: logical id, function name or ARN) with
Lambda's status codes and headers (``X-Amz-Function-Error`` when the handler failed), and
``GET /2015-03-31/functions/`` with the functions it serves. ``X-Docpipe-*`` headers add what the
REPORT line needs (sandbox, cold start, durations).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

from docpipe_cli.local.runner import FunctionRunner, FunctionSpec, Invocation
from docpipe_cli.local.server import LOOPBACK

PREFIX = "/2015-03-31/functions/"
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024  # Lambda's limit for a synchronous request


def invocation_headers(result: Invocation) -> dict[str, str]:
    """Lambda's response headers for ``result``, plus the runner's details under ``X-Docpipe-``."""
    headers = {
        "X-Amzn-RequestId": result.request_id,
        "X-Amz-Executed-Version": "$LATEST",
        "X-Docpipe-Sandbox-Id": result.sandbox_id,
        "X-Docpipe-Cold": "true" if result.cold else "false",
        "X-Docpipe-Duration-Ms": f"{result.duration_ms:.3f}",
    }
    if result.init_ms is not None:
        headers["X-Docpipe-Init-Ms"] = f"{result.init_ms:.3f}"
    if not result.ok:
        headers["X-Amz-Function-Error"] = "Unhandled"
    return headers


class InvokeServer:
    """A threaded HTTP server on loopback; concurrent invokes get more sandboxes, as Lambda scales."""

    def __init__(self, runner: FunctionRunner, *, port: int = 0, host: str = LOOPBACK) -> None:
        self.runner = runner
        self._httpd = ThreadingHTTPServer((host, port), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def spec_for(self, name: str) -> FunctionSpec | None:
        """The function called ``name``: logical id, physical name or (possibly qualified) ARN."""
        for spec in self.runner.specs.values():
            if name in (spec.logical_id, spec.function_name, spec.arn, f"{spec.arn}:$LATEST"):
                return spec
        return None

    def start(self) -> InvokeServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="invoke-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> InvokeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass  # the sandboxes' own logs are what a user reads

            def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, error_type: str, message: str) -> None:
                body = json.dumps({"Type": "User", "message": message}).encode()
                self._reply(status, body, {"x-amzn-ErrorType": error_type})

            def do_GET(self) -> None:
                if urlparse(self.path).path.rstrip("/") != PREFIX.rstrip("/"):
                    self._error(404, "ResourceNotFoundException", f"no such route: {self.path}")
                    return
                functions = [
                    {
                        "FunctionName": s.function_name,
                        "FunctionArn": s.arn,
                        "Runtime": "python3.13",
                        "Handler": s.handler,
                        "Timeout": s.timeout,
                        "MemorySize": s.memory_mb,
                        "Version": "$LATEST",
                    }
                    for s in api.runner.specs.values()
                ]
                self._reply(200, json.dumps({"Functions": functions}).encode())

            def do_POST(self) -> None:
                path = urlparse(self.path).path
                if not (path.startswith(PREFIX) and path.endswith("/invocations")):
                    self._error(404, "ResourceNotFoundException", f"no such route: {path}")
                    return
                name = unquote(path[len(PREFIX) : -len("/invocations")])
                spec = api.spec_for(name)
                if spec is None:
                    known = ", ".join(sorted(api.runner.specs))
                    message = f"Function not found: {name} (known: {known})"
                    self._error(404, "ResourceNotFoundException", message)
                    return
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0:  # read(-1) would wait for the client to close the connection
                    self._error(400, "InvalidRequestContentException", "Content-Length must be a byte count")
                    return
                if length > MAX_SYNC_PAYLOAD:
                    self._error(413, "RequestTooLargeException", "Request must be smaller than 6291456 bytes")
                    return
                raw = self.rfile.read(length)
                try:
                    event = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    message = "Could not parse request body into json"
                    self._error(400, "InvalidRequestContentException", message)
                    return
                kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
                if kind == "DryRun":
                    self._reply(204, b"")
                    return
                if kind == "Event":
                    threading.Thread(
                        target=api.runner.invoke, args=(spec.logical_id, event), daemon=True
                    ).start()
                    self._reply(202, b"")
                    return
                result = api.runner.invoke(spec.logical_id, event)
                body = json.dumps(result.payload(), default=str).encode()
                self._reply(200, body, invocation_headers(result))

        return Handler
