"""Runs inside the function's own interpreter (python3.13 -I -S): the local twin of Lambda's runtime loop.

Standard library only: nothing from the host virtualenv may leak into the function's view. The
parent passes the import path (function folder, layers' python/ folders, the runtime's boto3) as
arguments; requests and responses are JSON lines on a private copy of stdout, while fd 1 is pointed
at stderr so prints, logs and EMF metrics never corrupt the protocol.
"""

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The attributes and method handlers use from Lambda's context object."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.function_name = info["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = info["invoked_function_arn"]
        self.memory_limit_in_mb = int(info["memory_limit_in_mb"])
        self.aws_request_id = info["aws_request_id"]
        self.log_group_name = "/aws/lambda/" + self.function_name
        self.log_stream_name = "local/" + info["sandbox_id"]
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline_ms = int(info["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[1:],
    }


def main() -> int:
    handler_spec, paths = sys.argv[1], sys.argv[2:]
    stdlib = [p for p in sys.path if "site-packages" not in p]
    # Lambda's order: /var/task, /opt/python..., the standard library, then the runtime's boto3 (last).
    runtime_deps = paths[-1]
    sys.path[:] = [*paths[:-1], *stdlib, runtime_deps]
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", closefd=False)
    requests = sys.stdin

    module_name, _, function_name = handler_spec.rpartition(".")
    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except ImportError as exc:
        init = {"ok": False, **_error(exc, "Runtime.ImportModuleError")}
        init["errorMessage"] = f"Unable to import module '{module_name}': {exc}"
        init["stackTrace"] = []
    except AttributeError as exc:
        init = {"ok": False, **_error(exc, "Runtime.HandlerNotFound")}
        init["errorMessage"] = f"Handler '{function_name}' missing on module '{module_name}'"
    except Exception as exc:
        init = {
            "ok": False,
            **_error(exc, "Runtime.UserCodeSyntaxError" if isinstance(exc, SyntaxError) else None),
        }
    else:
        init = {"ok": True}
    init["init_ms"] = round((time.perf_counter() - started) * 1000, 1)
    protocol.write(json.dumps(init) + "\n")
    if not init["ok"]:
        return 1

    for line in requests:
        request = json.loads(line)
        context = LambdaContext(request["context"])
        started = time.perf_counter()
        try:
            result = handler(request["event"], context)
            response = {"ok": True, "result": result}
        except Exception as exc:
            sys.stderr.write(
                json.dumps({"level": "ERROR", "message": "unhandled error", **_error(exc)}) + "\n"
            )
            response = {"ok": False, **_error(exc)}
        response["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        try:
            text = json.dumps(response, default=str)
        except (TypeError, ValueError) as exc:
            text = json.dumps({"ok": False, **_error(exc, "Runtime.MarshalError")})
        protocol.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
