"""boto3 clients built once per process, with one retry/timeout policy, and ClientError translation.

The retry policy (one owner, here): botocore's ``standard`` retry mode is the only retry layer for
AWS calls — at most ``MAX_ATTEMPTS`` attempts per call, with its exponential backoff — and no retry
starts when the invocation has less than ``RETRY_TIME_MARGIN_SECONDS`` left (``set_deadline``), so a
throttled service fails the record as transient and SQS redelivers it later. docpipe adds its own
loop in one place only, where botocore cannot see a failure: DynamoDB's ``UnprocessedItems``
(``retry_unprocessed``), bounded the same way.

boto3 and botocore are imported on first use, not with this module: importing them costs a
Lambda cold start ~0.3-0.5 s, which a handler should pay only when it makes its first AWS call.

Every client comes from one boto3 session: a session loads botocore's endpoint data and each
service model once (a session per client loaded them again, ~0.1 s a client at cold start). The
clients look their credentials up when they first sign a request, not when they are built, so a
process can build them ahead (at import, or before a SnapStart snapshot) holding no credentials.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from docpipe.exceptions import (
    AccessDeniedError,
    AWSError,
    DeadlineExceededError,
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
# Attempts per AWS call, the first included (botocore's total_max_attempts).
MAX_ATTEMPTS = 5
# No retry starts with less than this left of the invocation: the record must still fail cleanly.
RETRY_TIME_MARGIN_SECONDS = 5.0
T = TypeVar("T")
R = TypeVar("R")

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
        "RequestThrottledException",
        "ServiceQuotaExceededException",
        "BandwidthLimitExceeded",
        "LimitExceededException",
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
    {
        "InternalError",
        "InternalServerError",
        "InternalServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ModelNotReadyException",  # Bedrock: the model is loading; worth another try
        "503",
        "500",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_lock = threading.Lock()
_configs_lock = threading.Lock()  # not _lock: client() reads the configs while holding that one
_configs: dict[str, Any] = {}
_clients: dict[tuple[str, str | None, str | None], Any] = {}
_session: list[Any] = []  # the one boto3 session, built with the first client (under _lock)


def _build_configs() -> dict[str, Any]:
    from botocore.config import Config

    client_config = Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
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
                configs = _client_configs()
                # Typed Any: boto3-stubs only types clients for literal service names.
                session: Any = _shared_session()
                found = _clients[key] = session.client(
                    service,
                    region_name=region,
                    endpoint_url=endpoint_url,
                    config=configs["SERVICE_CONFIGS"].get(service, configs["CLIENT_CONFIG"]),
                )
                guard_retries(found)
    return found


# -- the invocation's deadline ------------------------------------------------------------------
_deadline: list[float | None] = [None]  # time.monotonic() at which the invocation ends; None: unbounded


def set_deadline(remaining_seconds: float | None) -> None:
    """Record how long the current invocation has left (``context.get_remaining_time_in_millis()``).

    Every thread of the invocation shares it: the records of a batch end with the invocation.
    """
    _deadline[0] = None if remaining_seconds is None else time.monotonic() + remaining_seconds


def bounded_by_invocation(handler: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]:
    """Decorate a Lambda handler so no AWS retry outlives the invocation it serves.

    Each invocation starts by setting the deadline from ``context.get_remaining_time_in_millis()``;
    every handler goes through this one place rather than repeating the call.
    """

    @functools.wraps(handler)
    def bounded(event: Any, context: Any) -> R:
        set_deadline(context.get_remaining_time_in_millis() / 1000)
        return handler(event, context)

    return bounded


def remaining_seconds() -> float | None:
    """Seconds left in the current invocation, or None when no deadline was set."""
    deadline = _deadline[0]
    return None if deadline is None else deadline - time.monotonic()


def _time_for_a_retry() -> bool:
    left = remaining_seconds()
    return left is None or left > RETRY_TIME_MARGIN_SECONDS


def _retry_within_deadline(
    response: Any = None, caught_exception: Exception | None = None, attempts: int = 0, **_: Any
) -> None:
    """``needs-retry`` hook: refuse a retry the invocation has no time left for.

    Registered first, it runs before botocore's own retry handler; it returns None (botocore
    decides) unless the call failed in a retryable way and the deadline is too close.
    """
    if _time_for_a_retry():
        return
    if caught_exception is not None:
        raise DeadlineExceededError(
            f"no time left to retry after {type(caught_exception).__name__} (attempt {attempts})"
        ) from caught_exception
    if response is None:
        return
    http, parsed = response
    status = getattr(http, "status_code", 200)
    code = str((parsed or {}).get("Error", {}).get("Code", ""))
    if status >= 500 or status == 429 or code in _THROTTLING_CODES or code in _TRANSIENT_CODES:
        raise DeadlineExceededError(f"no time left to retry after {code or status} (attempt {attempts})")


def guard_retries(boto_client: Any) -> Any:
    """Make ``boto_client``'s retries respect the invocation's deadline; returns the client."""
    boto_client.meta.events.register_first(
        "needs-retry", _retry_within_deadline, unique_id="docpipe-retry-deadline"
    )
    return boto_client


def retry_unprocessed(
    call: Callable[[], T],
    unprocessed: Callable[[T], bool],
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Repeat ``call`` while ``unprocessed(result)``: the one retry loop docpipe owns.

    A batch call that succeeds with items left over (DynamoDB ``UnprocessedItems``) is invisible to
    botocore's retries. Bounded like them: ``MAX_ATTEMPTS`` calls, full-jitter backoff, and no
    retry past the invocation's deadline margin.

    Raises:
        TransientAWSError: items were still unprocessed after the last attempt.
    """
    result = call()
    for attempt in range(1, MAX_ATTEMPTS):
        if not unprocessed(result):
            return result
        if not _time_for_a_retry():
            break
        sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter, not crypto
        result = call()
    if unprocessed(result):
        raise TransientAWSError(f"{what}: unprocessed items remained after retries")
    return result


def _shared_session() -> Any:
    """The process's boto3 session (callers hold ``_lock``: a session is not thread-safe)."""
    if not _session:
        import boto3
        import botocore.session

        core = botocore.session.get_session()
        resolver = core.get_component("credential_provider")
        core.register_component("credential_provider", _LookedUpOnFirstUse(resolver))
        _session.append(boto3.session.Session(botocore_session=core))
    return _session[0]


class _LookedUpOnFirstUse:
    """A credential resolver whose credentials are found when a request is first signed.

    botocore asks the session's ``credential_provider`` component for credentials when a client is
    built; this one answers with stand-in credentials that run botocore's own resolver chain
    (environment, container endpoint, ...) once, at the first signature.
    """

    def __init__(self, resolver: Any) -> None:
        self._resolver = resolver

    def load_credentials(self) -> Any:
        return _first_use_credentials(self._resolver)


def _first_use_credentials(resolver: Any) -> Any:
    from botocore.credentials import Credentials
    from botocore.exceptions import NoCredentialsError

    class _FirstUseCredentials(Credentials):
        """Stands for the resolver's credentials; resolves them on first use, then delegates."""

        def __init__(self) -> None:  # no super().__init__: nothing is known yet
            self.method = "docpipe-first-use"
            self._found: Any = None
            self._resolving = threading.Lock()

        def _credentials(self) -> Any:
            if self._found is None:
                with self._resolving:
                    if self._found is None:
                        found = resolver.load_credentials()
                        if found is None:
                            raise NoCredentialsError()
                        self._found = found
            return self._found

        @property
        def access_key(self) -> Any:  # type: ignore[override]
            return self._credentials().access_key

        @property
        def secret_key(self) -> Any:  # type: ignore[override]
            return self._credentials().secret_key

        @property
        def token(self) -> Any:  # type: ignore[override]
            return self._credentials().token

        @property
        def account_id(self) -> Any:
            return getattr(self._credentials(), "account_id", None)

        def get_frozen_credentials(self) -> Any:
            # Refreshable credentials (a container endpoint's) renew themselves in this call.
            return self._credentials().get_frozen_credentials()

    return _FirstUseCredentials()


def credentials_resolved() -> bool:
    """Whether any client has looked its credentials up yet (a SnapStart snapshot must hold none)."""
    with _lock:
        if not _session:
            return False
        held = _session[0]._session.get_credentials()  # the stand-in; looks nothing up
    return getattr(held, "_found", None) is not None


def clear_client_cache() -> None:
    """Forget cached clients and the session (tests that switch endpoints or credentials)."""
    with _lock:
        _session.clear()
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
