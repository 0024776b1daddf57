"""HTTP-level fault injection for boto3 clients, below botocore's retry loop.

Registered on ``before-send``, unlike Stubber: each HTTP attempt, retries included, meets the
injected answer, so what is tested is the client's own retry policy (``docpipe.aws``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders


class _RawBody(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


def _json_error(code: str) -> tuple[bytes, dict[str, str]]:
    return json.dumps({"message": code}).encode(), {"x-amzn-ErrorType": code}


def _xml_error(code: str) -> tuple[bytes, dict[str, str]]:
    return f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode(), {}


def fail_attempts(
    client: Any, operation: str, *, code: str, status: int, failures: int = 10**6, xml: bool = False
) -> list[int]:
    """Answer the first ``failures`` HTTP attempts of ``operation`` with ``status``/``code``.

    Later attempts go on to the endpoint (moto). Returns a list that grows by one per attempt.
    """
    attempts: list[int] = []
    service = client.meta.service_model.service_id.hyphenize()

    def answer(request: Any, **_: Any) -> AWSResponse | None:
        attempts.append(1)
        if len(attempts) > failures:
            return None
        body, extra = (_xml_error if xml else _json_error)(code)
        headers = HTTPHeaders()
        for name, value in extra.items():
            headers[name] = value
        return AWSResponse(request.url, status, headers, _RawBody(body))

    client.meta.events.register_first(f"before-send.{service}.{operation}", answer)
    return attempts


def answer_json(client: Any, operation: str, body: dict[str, Any]) -> None:
    """Answer every attempt of ``operation`` with 200 and ``body`` (services moto does not serve)."""
    service = client.meta.service_model.service_id.hyphenize()

    def answer(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, HTTPHeaders(), _RawBody(json.dumps(body).encode()))

    client.meta.events.register(f"before-send.{service}.{operation}", answer)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's retry pauses, recorded instead of slept (its backoff is up to 1+2+4+8 s)."""
    import botocore.endpoint

    pauses: list[float] = []
    monkeypatch.setattr(botocore.endpoint.time, "sleep", pauses.append)
    return pauses
