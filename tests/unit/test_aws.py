"""The client factory (one cached client per service) and ClientError translation."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)

from docpipe import aws
from docpipe.exceptions import (
    AccessDeniedError,
    AWSError,
    DeadlineExceededError,
    NotFoundError,
    PermanentError,
    ThrottledError,
    TransientAWSError,
    TransientError,
)


def _client_error(code: str | None, status: int = 400, operation: str = "GetObject") -> ClientError:
    response: dict[str, Any] = {"ResponseMetadata": {"HTTPStatusCode": status}}
    if code is not None:
        response["Error"] = {"Code": code, "Message": "details from AWS"}
    return ClientError(response, operation)  # type: ignore[arg-type]


# -- the client factory ----------------------------------------------------------------------


def test_one_client_is_cached_per_service() -> None:
    s3 = aws.client("s3")

    assert aws.client("s3") is s3
    assert aws.client("sqs") is not s3
    assert aws.client("sqs") is aws.client("sqs")


def test_threads_asking_at_once_share_one_client() -> None:
    seen: list[Any] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait()
        seen.append(aws.client("dynamodb"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(seen) == 8
    assert all(c is seen[0] for c in seen)


def test_a_different_region_or_endpoint_gets_its_own_client() -> None:
    default = aws.client("s3")

    assert aws.client("s3", region="eu-west-1") is not default
    assert aws.client("s3", region="eu-west-1").meta.region_name == "eu-west-1"
    assert aws.client("s3", endpoint_url="http://127.0.0.1:5000").meta.endpoint_url == "http://127.0.0.1:5000"


def test_clearing_the_cache_builds_a_new_client() -> None:
    first = aws.client("s3")

    aws.clear_client_cache()

    assert aws.client("s3") is not first


def test_clients_use_standard_retries_timeouts_and_a_pool_for_the_thread_pools() -> None:
    config = aws.client("bedrock-runtime").meta.config

    assert config.retries["mode"] == "standard"
    assert config.retries["total_max_attempts"] == aws.MAX_ATTEMPTS > 1
    assert (config.connect_timeout, config.read_timeout) == (5, 60)
    assert config.max_pool_connections == aws.MAX_POOL_CONNECTIONS >= 8


def test_the_s3_client_signs_presigned_urls_with_sigv4() -> None:
    assert aws.client("s3").meta.config.signature_version == "s3v4"
    assert aws.client("s3").meta.config.retries["mode"] == "standard"


def test_the_service_endpoint_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3VECTORS", "http://127.0.0.1:5055")

    assert aws.client("s3vectors").meta.endpoint_url == "http://127.0.0.1:5055"


def test_the_global_endpoint_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5056")

    assert aws.client("sqs").meta.endpoint_url == "http://127.0.0.1:5056"


# -- error translation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, NotFoundError),
        ("NoSuchBucket", 404, NotFoundError),
        ("404", 404, NotFoundError),
        ("ResourceNotFoundException", 400, NotFoundError),
        ("NotFoundException", 404, NotFoundError),
        ("AccessDenied", 403, AccessDeniedError),
        ("AccessDeniedException", 400, AccessDeniedError),
        ("403", 403, AccessDeniedError),
        ("SlowDown", 503, ThrottledError),
        ("ThrottlingException", 400, ThrottledError),
        ("ProvisionedThroughputExceededException", 400, ThrottledError),
        ("TooManyRequestsException", 429, ThrottledError),
        ("InternalError", 500, TransientAWSError),
        ("ServiceUnavailable", 503, TransientAWSError),
        ("SomethingNew", 502, TransientAWSError),
        ("ValidationException", 400, AWSError),
        ("InvalidObjectState", 403, AWSError),
    ],
)
def test_client_errors_map_to_the_docpipe_hierarchy(
    code: str, status: int, expected: type[Exception]
) -> None:
    error = _client_error(code, status)

    with pytest.raises(expected) as caught:
        aws.translate_client_error(error, "s3://bucket/key")

    assert type(caught.value) is expected
    assert str(caught.value) == f"s3://bucket/key: {code}"
    assert caught.value.__cause__ is error


def test_throttling_is_transient_and_not_found_is_not() -> None:
    assert issubclass(ThrottledError, TransientError)
    assert not issubclass(NotFoundError, (TransientError, PermanentError))


def test_an_error_without_a_code_is_named_by_its_http_status() -> None:
    error = _client_error(None, 404)

    assert aws.error_code(error) == "404"
    with pytest.raises(NotFoundError, match="thing: 404"):
        aws.translate_client_error(error, "thing")


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
        ConnectionClosedError(endpoint_url="https://s3.amazonaws.com"),
    ],
    ids=["connection", "read-timeout", "connection-closed"],
)
def test_connection_failures_and_timeouts_are_transient(error: Exception) -> None:
    with pytest.raises(TransientAWSError, match=f"s3://b/k: {type(error).__name__}") as caught:
        aws.translate_client_error(error, "s3://b/k")

    assert caught.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        NoCredentialsError(),
        NoRegionError(),
        ParamValidationError(report="SecretString: value 'hunter2' is invalid"),
    ],
    ids=["no-credentials", "no-region", "param-validation"],
)
def test_other_botocore_errors_become_the_docpipe_aws_error(error: Exception) -> None:
    with pytest.raises(AWSError) as caught:
        aws.translate_client_error(error, "s3://b/k")

    assert type(caught.value) is AWSError
    assert str(caught.value) == f"s3://b/k: {type(error).__name__}"
    assert caught.value.__cause__ is error


def test_a_botocore_error_message_is_not_copied_into_the_docpipe_error() -> None:
    error = ParamValidationError(report="SecretString: value 'hunter2' is invalid")

    with pytest.raises(AWSError) as caught:
        aws.translate_client_error(error, "secret 'pdf-passwords'")

    assert "hunter2" not in str(caught.value)


def test_an_error_that_is_not_from_aws_is_raised_unchanged() -> None:
    error = KeyError("not aws")

    with pytest.raises(KeyError) as caught:
        aws.translate_client_error(error, "s3://b/k")

    assert caught.value is error


# -- one retry policy -------------------------------------------------------------------------


@pytest.fixture
def throttled_put_vectors() -> Any:
    """A docpipe s3vectors client on moto whose every PutVectors attempt is throttled."""
    from moto import mock_aws

    from tests.aws_faults import fail_attempts

    with mock_aws():
        aws.clear_client_cache()
        client = aws.client("s3vectors", region="us-east-1")
        attempts = fail_attempts(client, "PutVectors", code="TooManyRequestsException", status=429)
        yield client, attempts
        aws.clear_client_cache()


@pytest.fixture(autouse=True)
def _no_deadline() -> Any:
    yield
    aws.set_deadline(None)


def _put_one(client: Any) -> None:
    client.put_vectors(
        vectorBucketName="vectors", indexName="chunks", vectors=[{"key": "k", "data": {"float32": [1.0]}}]
    )


def test_a_throttled_call_makes_max_attempts_then_raises_throttled_error(
    throttled_put_vectors: Any, no_backoff: list[float]
) -> None:
    client, attempts = throttled_put_vectors

    with pytest.raises(ClientError) as caught:
        _put_one(client)

    assert len(attempts) == aws.MAX_ATTEMPTS
    assert len(no_backoff) == aws.MAX_ATTEMPTS - 1  # botocore paused between attempts, nobody else
    with pytest.raises(ThrottledError):
        aws.translate_client_error(caught.value, "index")


def test_no_retry_starts_when_the_invocation_is_about_to_end(
    throttled_put_vectors: Any, no_backoff: list[float]
) -> None:
    client, attempts = throttled_put_vectors
    aws.set_deadline(aws.RETRY_TIME_MARGIN_SECONDS - 1)

    with pytest.raises(DeadlineExceededError, match="TooManyRequestsException") as caught:
        _put_one(client)

    assert len(attempts) == 1 and no_backoff == []
    assert isinstance(caught.value, TransientError)


def test_retries_go_on_while_the_invocation_has_time(
    throttled_put_vectors: Any, no_backoff: list[float]
) -> None:
    client, attempts = throttled_put_vectors
    aws.set_deadline(600)

    with pytest.raises(ClientError):
        _put_one(client)

    assert len(attempts) == aws.MAX_ATTEMPTS


def test_unprocessed_items_are_retried_a_bounded_number_of_times() -> None:
    calls: list[int] = []
    pauses: list[float] = []

    def write() -> dict[str, Any]:
        calls.append(1)
        return {"table": ["left over"]}

    with pytest.raises(TransientAWSError, match="unprocessed"):
        aws.retry_unprocessed(write, bool, what="DynamoDB table", sleep=pauses.append)

    assert len(calls) == aws.MAX_ATTEMPTS and len(pauses) == aws.MAX_ATTEMPTS - 1


def test_unprocessed_items_stop_being_retried_near_the_deadline() -> None:
    calls: list[int] = []
    aws.set_deadline(1.0)

    with pytest.raises(TransientAWSError):
        aws.retry_unprocessed(lambda: calls.append(1) or {"t": [1]}, bool, what="t", sleep=lambda _: None)

    assert len(calls) == 1


def test_a_batch_that_completes_is_returned_without_a_retry() -> None:
    results = iter([{"t": [1]}, {}])

    assert aws.retry_unprocessed(lambda: next(results), bool, what="t", sleep=lambda _: None) == {}


# -- one session, credentials at the first signature ----------------------------------------------


def test_clients_share_one_session_so_its_models_load_once() -> None:
    s3, dynamodb = aws.client("s3"), aws.client("dynamodb")

    assert len(aws._session) == 1
    assert s3._request_signer._credentials is dynamodb._request_signer._credentials


def test_building_clients_looks_no_credentials_up(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = aws.client("s3")
    assert aws.credentials_resolved() is False
    # Set only now, after the client was built: its first signature must find them.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFIRSTUSE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-use-secret")

    frozen = client._request_signer._credentials.get_frozen_credentials()

    assert (frozen.access_key, frozen.secret_key) == ("AKIAFIRSTUSE", "first-use-secret")
    assert aws.credentials_resolved() is True


def test_a_first_signature_without_credentials_is_a_no_credentials_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    client = aws.client("s3")

    with pytest.raises(NoCredentialsError):
        client._request_signer._credentials.get_frozen_credentials()
