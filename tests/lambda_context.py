"""The Lambda context a handler gets, for calling handlers in-process (tests, in-process benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LambdaContext:
    """The attributes and the method docpipe's handlers and Powertools read from Lambda's context.

    ``remaining_ms`` is what ``get_remaining_time_in_millis`` answers, fixed: a handler's deadline
    (AWS retries, registry claims) is then the same in every run.
    """

    function_name: str = "IngestFunction"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = "req-1"
    remaining_ms: int = 180_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
