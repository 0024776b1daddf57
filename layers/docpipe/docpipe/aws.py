"""boto3 clients built once per process, with one retry/timeout policy, and ClientError translation.

boto3 and botocore are imported on first use, not with this module: importing them costs a
Lambda cold start ~0.3-0.5 s, which a handler should pay only when it makes its first AWS call.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, NoReturn

from docpipe.exceptions import (
    AccessDeniedError,
    AWSError,
    NotFoundError,
    ThrottledError,
    TransientAWSError,
)

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.exceptions import ClientError

    # Built on first access by __getattr__ below (botocore.config imports most of botocore).
    CLIENT_CONFIG: Config
    SERVICE_CONFIGS: dict[str, Config]

# Sized for the widest thread pool that shares a client (embedding, parallel ListVectors segments).
MAX_POOL_CONNECTIONS = 32

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
_configs_lock = threading.Lock()  # not _lock: client() reads the configs while holding that one
_configs: dict[str, Any] = {}
_clients: dict[tuple[str, str | None, str | None], Any] = {}


def _build_configs() -> dict[str, Any]:
    from botocore.config import Config

    client_config = Config(
        retries={"mode": "adaptive", "max_attempts": 8},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=MAX_POOL_CONNECTIONS,
    )
    return {
        "CLIENT_CONFIG": client_config,
        # S3 presigned URLs default to SigV2 in regions that still accept it; SigV4 signs every parameter.
        "SERVICE_CONFIGS": {"s3": client_config.merge(Config(signature_version="s3v4"))},
    }


def _client_configs() -> dict[str, Any]:
    if not _configs:
        with _configs_lock:
            if not _configs:
                _configs.update(_build_configs())
    return _configs


def __getattr__(name: str) -> Any:
    """``CLIENT_CONFIG`` and ``SERVICE_CONFIGS``, built once on first access (PEP 562)."""
    if name in ("CLIENT_CONFIG", "SERVICE_CONFIGS"):
        return _client_configs()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
                import boto3

                configs = _client_configs()
                # Typed Any: boto3-stubs only types clients for literal service names.
                session: Any = boto3.session.Session()
                found = _clients[key] = session.client(
                    service,
                    region_name=region,
                    endpoint_url=endpoint_url,
                    config=configs["SERVICE_CONFIGS"].get(service, configs["CLIENT_CONFIG"]),
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

    Connection failures, timeouts and broken response streams are transient; any other
    ``BotoCoreError`` (no credentials, no region, invalid parameters) is an ``AWSError``, so
    callers need to catch docpipe errors only. Messages name the error type, not its text:
    a parameter validation report can quote the values sent.

    Args:
        error: a botocore ClientError or BotoCoreError; anything else is re-raised unchanged.
        what: the resource in words (``"s3://bucket/key"``), for the message.
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        HTTPClientError,
        IncompleteReadError,
    )

    # HTTPClientError covers ReadTimeoutError, ConnectionClosedError and ResponseStreamingError.
    if isinstance(error, (ConnectionError, HTTPClientError, IncompleteReadError)):
        raise TransientAWSError(f"{what}: {type(error).__name__}") from error
    if isinstance(error, BotoCoreError):
        raise AWSError(f"{what}: {type(error).__name__}") from error
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
