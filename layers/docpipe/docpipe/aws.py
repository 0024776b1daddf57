"""boto3 clients built once per process, with one retry/timeout policy, and ClientError translation."""

from __future__ import annotations

import threading
from typing import Any, NoReturn

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from docpipe.exceptions import (
    AccessDeniedError,
    AWSError,
    NotFoundError,
    ThrottledError,
    TransientAWSError,
)

# Sized for the widest thread pool that shares a client (embedding, parallel ListVectors segments).
MAX_POOL_CONNECTIONS = 32
CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=60,
    max_pool_connections=MAX_POOL_CONNECTIONS,
)
# S3 presigned URLs default to SigV2 in regions that still accept it; SigV4 signs every parameter.
SERVICE_CONFIGS: dict[str, Config] = {"s3": CLIENT_CONFIG.merge(Config(signature_version="s3v4"))}

_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "ServiceQuotaExceededException",
    }
)
_NOT_FOUND_CODES = frozenset(
    {
        "404",
        "NoSuchKey",
        "NoSuchBucket",
        "NotFound",
        "NotFoundException",
        "ResourceNotFoundException",
        "NoSuchVersion",
    }
)
_ACCESS_CODES = frozenset({"403", "AccessDenied", "AccessDeniedException", "Forbidden"})
_TRANSIENT_CODES = frozenset(
    {"InternalError", "InternalServerError", "ServiceUnavailable", "503", "500", "RequestTimeout"}
)
_lock = threading.Lock()


_clients: dict[tuple[str, str | None, str | None], Any] = {}


def client(service: str, *, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """Return the process-wide client for ``service``.

    Endpoints come from boto3's own ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``
    variables unless ``endpoint_url`` is given, so LocalStack and moto server need no code path.
    """
    key = (service, region, endpoint_url)
    found = _clients.get(key)
    if found is None:
        # Checked again under the lock: threads that miss together must still share one client
        # (functools.cache would let each of them build its own).
        with _lock:
            found = _clients.get(key)
            if found is None:
                # Typed Any: boto3-stubs only types clients for literal service names.
                session: Any = boto3.session.Session()
                found = _clients[key] = session.client(
                    service,
                    region_name=region,
                    endpoint_url=endpoint_url,
                    config=SERVICE_CONFIGS.get(service, CLIENT_CONFIG),
                )
    return found


def clear_client_cache() -> None:
    """Forget cached clients (tests that switch endpoints or credentials)."""
    with _lock:
        _clients.clear()


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError, or the HTTP status when there is none."""
    code = error.response.get("Error", {}).get("Code")
    if code:
        return str(code)
    return str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def translate_client_error(error: Exception, what: str) -> NoReturn:
    """Raise the docpipe error that matches ``error``, chained ``from`` it.

    Args:
        error: a botocore ClientError or connection/timeout error.
        what: the resource in words (``"s3://bucket/key"``), for the message.
    """
    if isinstance(error, (ConnectionError, ReadTimeoutError)):
        raise TransientAWSError(f"{what}: {type(error).__name__}") from error
    if not isinstance(error, ClientError):
        raise error
    code = error_code(error)
    message = f"{what}: {code}"
    if code in _THROTTLING_CODES:
        raise ThrottledError(message) from error
    if code in _NOT_FOUND_CODES:
        raise NotFoundError(message) from error
    if code in _ACCESS_CODES:
        raise AccessDeniedError(message) from error
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _TRANSIENT_CODES or (isinstance(status, int) and status >= 500):
        raise TransientAWSError(message) from error
    raise AWSError(message) from error
