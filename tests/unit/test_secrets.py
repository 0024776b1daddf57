"""SecretsClient against moto (mock_aws): caching, rotation, fallbacks, and no value in any log."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from docpipe import aws
from docpipe.exceptions import (
    AccessDeniedError,
    ConfigError,
    NotFoundError,
    SecretNotFoundError,
    ThrottledError,
    TransientAWSError,
)
from docpipe.secrets import SecretsClient

NAME = "docpipe/test/db"
PASSWORD = "hunter2-S3KR1T-value"
ROTATED = "correct-horse-battery-staple"


class Calls:
    """Counts GetSecretValue calls that reach (moto's) Secrets Manager."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._seen)

    def _seen(self, **_: Any) -> None:
        self.count += 1


@pytest.fixture
def sm() -> Iterator[Any]:
    """The process-wide secretsmanager client inside moto, with one JSON secret."""
    with mock_aws():
        client = aws.client("secretsmanager")
        client.create_secret(Name=NAME, SecretString=json.dumps({"username": "app", "password": PASSWORD}))
        yield client


@pytest.fixture
def calls(sm: Any) -> Calls:
    return Calls(sm)


def _rotate(sm: Any, password: str) -> None:
    sm.put_secret_value(SecretId=NAME, SecretString=json.dumps({"username": "app", "password": password}))


# -- caching ---------------------------------------------------------------------------------


def test_a_secret_is_fetched_once_within_its_ttl(sm: Any, calls: Calls) -> None:
    secrets = SecretsClient(ttl_seconds=300)

    values = [secrets.get(NAME, field="password") for _ in range(3)]

    assert values == [PASSWORD] * 3
    assert calls.count == 1


def test_a_secret_is_fetched_again_after_its_ttl(sm: Any, calls: Calls) -> None:
    # Given a one-second TTL and a secret rotated after the first read
    secrets = SecretsClient(ttl_seconds=1)
    assert secrets.get(NAME, field="password") == PASSWORD
    _rotate(sm, ROTATED)

    # When the TTL runs out
    time.sleep(1.1)

    # Then the next read goes to Secrets Manager and sees the new value
    assert secrets.get(NAME, field="password") == ROTATED
    assert calls.count == 2


def test_a_zero_ttl_turns_caching_off(sm: Any, calls: Calls) -> None:
    secrets = SecretsClient(ttl_seconds=0)

    secrets.get(NAME)
    secrets.get(NAME)

    assert calls.count == 2


def test_a_negative_ttl_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="TTL"):
        SecretsClient(provider=object(), ttl_seconds=-1)  # type: ignore[arg-type]


# -- rotation --------------------------------------------------------------------------------


def test_a_rotated_secret_is_served_from_cache_until_invalidated(sm: Any, calls: Calls) -> None:
    # Given a cached secret that is then rotated
    secrets = SecretsClient(ttl_seconds=300)
    assert secrets.get(NAME, field="password") == PASSWORD
    _rotate(sm, ROTATED)

    # When nothing has failed yet, the cache still answers
    assert secrets.get(NAME, field="password") == PASSWORD

    # Then an auth failure forces exactly one refetch
    secrets.on_auth_failure(NAME)
    assert secrets.get(NAME, field="password") == ROTATED
    assert secrets.get(NAME, field="password") == ROTATED
    assert calls.count == 2


def test_invalidate_also_refreshes_the_raw_string_and_get_json(sm: Any, calls: Calls) -> None:
    secrets = SecretsClient()
    secrets.get(NAME)
    secrets.get_json(NAME)
    _rotate(sm, ROTATED)

    secrets.invalidate(NAME)

    assert ROTATED in secrets.get(NAME)
    assert secrets.get_json(NAME)["password"] == ROTATED


class LoginRejectedError(Exception):
    """Stands in for a driver's authentication error."""


def _login_with(current: dict[str, str]) -> Any:
    attempts: list[str] = []

    def login(password: str) -> str:
        attempts.append(password)
        if password != current["password"]:
            raise LoginRejectedError("authentication failed")
        return "session"

    login.attempts = attempts  # type: ignore[attr-defined]
    return login


def test_rotation_retry_refetches_once_after_an_auth_failure_and_succeeds(sm: Any, calls: Calls) -> None:
    # Given a cached password, then the secret and the server rotate together
    secrets = SecretsClient()
    secrets.get(NAME, field="password")
    _rotate(sm, ROTATED)
    login = _login_with({"password": ROTATED})

    # When we log in with rotation retry
    result = secrets.with_rotation_retry(NAME, login, auth_errors=(LoginRejectedError,), field="password")

    # Then the stale password failed once, the fresh one worked, and Secrets Manager was asked once more
    assert result == "session"
    assert login.attempts == [PASSWORD, ROTATED]
    assert calls.count == 2


def test_rotation_retry_gives_up_after_one_refetch(sm: Any, calls: Calls) -> None:
    secrets = SecretsClient()
    login = _login_with({"password": "something-else"})

    with pytest.raises(LoginRejectedError):
        secrets.with_rotation_retry(NAME, login, auth_errors=(LoginRejectedError,), field="password")

    assert len(login.attempts) == 2
    assert calls.count == 2


def test_rotation_retry_does_not_retry_other_errors(sm: Any, calls: Calls) -> None:
    secrets = SecretsClient()

    def broken(_: str) -> None:
        raise RuntimeError("not an auth problem")

    with pytest.raises(RuntimeError):
        secrets.with_rotation_retry(NAME, broken, auth_errors=(LoginRejectedError,))
    assert calls.count == 1


# -- precedence: Secrets Manager -> env var -> default ---------------------------------------


def test_secrets_manager_wins_over_the_env_var(sm: Any) -> None:
    secrets = SecretsClient(environ={"DB_PASSWORD": "from-env"})

    assert secrets.get(NAME, field="password", env_var="DB_PASSWORD") == PASSWORD


def test_a_missing_secret_falls_back_to_the_env_var(sm: Any) -> None:
    secrets = SecretsClient(environ={"DB_PASSWORD": "from-env"})

    assert secrets.get("docpipe/missing", env_var="DB_PASSWORD", default="dflt") == "from-env"


def test_a_missing_secret_reads_the_process_environment_by_default(
    sm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASSWORD", "from-os-env")

    assert SecretsClient().get("docpipe/missing", env_var="DB_PASSWORD") == "from-os-env"


def test_a_missing_secret_with_an_unset_env_var_falls_back_to_the_default(sm: Any) -> None:
    secrets = SecretsClient(environ={"DB_PASSWORD": ""})

    assert secrets.get("docpipe/missing", env_var="DB_PASSWORD", default="dflt") == "dflt"


def test_a_missing_secret_without_fallback_raises_secret_not_found(sm: Any) -> None:
    secrets = SecretsClient(environ={})

    with pytest.raises(
        SecretNotFoundError, match="'docpipe/missing' does not exist and DB_PASSWORD"
    ) as caught:
        secrets.get("docpipe/missing", env_var="DB_PASSWORD")

    assert isinstance(caught.value, NotFoundError)


def test_an_empty_secret_name_means_use_the_fallbacks(sm: Any, calls: Calls) -> None:
    secrets = SecretsClient(environ={"DB_PASSWORD": "from-env"})

    assert secrets.get("", env_var="DB_PASSWORD") == "from-env"
    assert calls.count == 0


def test_access_denied_is_raised_not_replaced_by_the_env_fallback() -> None:
    client = aws.client("secretsmanager")
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "AccessDeniedException", http_status_code=400)
        secrets = SecretsClient(environ={"DB_PASSWORD": "from-env"})

        with pytest.raises(AccessDeniedError, match=f"secret '{NAME}': AccessDeniedException") as caught:
            secrets.get(NAME, env_var="DB_PASSWORD")

    assert isinstance(caught.value.__cause__, ClientError)


def test_throttling_is_a_transient_error() -> None:
    client = aws.client("secretsmanager")
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "ThrottlingException", http_status_code=400)

        with pytest.raises(ThrottledError) as caught:
            SecretsClient().get(NAME)

    assert isinstance(caught.value, TransientAWSError)


# -- JSON ------------------------------------------------------------------------------------


def test_get_json_returns_the_whole_object(sm: Any) -> None:
    assert SecretsClient().get_json(NAME) == {"username": "app", "password": PASSWORD}


def test_get_json_returns_a_copy_callers_cannot_corrupt(sm: Any) -> None:
    secrets = SecretsClient()
    secrets.get_json(NAME)["password"] = "tampered"

    assert secrets.get(NAME, field="password") == PASSWORD


def test_a_missing_field_names_the_secret_and_field_but_not_the_value(sm: Any) -> None:
    with pytest.raises(ConfigError, match=f"secret '{NAME}' has no field 'token'") as caught:
        SecretsClient().get(NAME, field="token")

    assert PASSWORD not in str(caught.value)


def test_a_non_string_field_is_refused_without_its_value(sm: Any) -> None:
    sm.create_secret(Name="numbers", SecretString=json.dumps({"pin": 918273}))

    with pytest.raises(ConfigError, match="field 'pin' of secret 'numbers' is a int") as caught:
        SecretsClient().get("numbers", field="pin")

    assert "918273" not in str(caught.value)


def test_a_field_of_a_non_json_secret_is_a_config_error_without_the_value(sm: Any) -> None:
    sm.create_secret(Name="plain", SecretString=PASSWORD)

    with pytest.raises(ConfigError, match="secret 'plain' is not valid JSON") as caught:
        SecretsClient().get("plain", field="password")

    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_json_array_secret_is_not_a_json_object(sm: Any) -> None:
    sm.create_secret(Name="array", SecretString=json.dumps([PASSWORD]))

    with pytest.raises(ConfigError, match="secret 'array' is not a JSON object"):
        SecretsClient().get_json("array")


def test_a_binary_secret_is_returned_as_text(sm: Any) -> None:
    sm.create_secret(Name="binary", SecretBinary=b"bin-secret")

    assert SecretsClient().get("binary") == "bin-secret"


# -- PDF passwords ---------------------------------------------------------------------------


@pytest.fixture
def pdf_passwords(sm: Any) -> str:
    sm.create_secret(
        Name="docpipe/pdf-passwords",
        SecretString=json.dumps({"": "catch-all", "finance/": "fin", "finance/2024/": "fin-2024"}),
    )
    return "docpipe/pdf-passwords"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("finance/2024/q1.pdf", "fin-2024"),
        ("finance/2023/q1.pdf", "fin"),
        ("hr/contract.pdf", "catch-all"),
    ],
)
def test_the_longest_matching_prefix_gives_the_pdf_password(
    pdf_passwords: str, key: str, expected: str
) -> None:
    assert SecretsClient().pdf_password_for(key, pdf_passwords) == expected


def test_no_matching_prefix_gives_no_pdf_password(sm: Any) -> None:
    sm.create_secret(Name="pw", SecretString=json.dumps({"finance/": "fin"}))

    assert SecretsClient().pdf_password_for("hr/contract.pdf", "pw") is None


def test_no_configured_secret_gives_no_pdf_password_without_a_call(sm: Any, calls: Calls) -> None:
    assert SecretsClient().pdf_password_for("finance/a.pdf", "") is None
    assert calls.count == 0


def test_a_configured_but_missing_pdf_password_secret_is_an_error(sm: Any) -> None:
    with pytest.raises(SecretNotFoundError, match="docpipe/absent"):
        SecretsClient().pdf_password_for("a.pdf", "docpipe/absent")


# -- no value in any log or message ----------------------------------------------------------


@pytest.fixture
def debug_everything(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Powertools and botocore at DEBUG, botocore also printing to stderr (boto3.set_stream_logger)."""
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("POWERTOOLS_DEBUG", "true")
    handler = logging.StreamHandler(sys.stderr)  # sys.stderr is capsys's capture here
    loggers = [logging.getLogger(n) for n in ("botocore", "boto3", "aws_lambda_powertools", "docpipe")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    logging.getLogger("botocore").addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger("botocore").removeHandler(handler)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def test_no_secret_value_appears_in_logs_or_errors_even_at_debug(
    sm: Any, debug_everything: None, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given every logger at DEBUG and secrets that will be read, rotated, misused and missed
    sm.create_secret(Name="plain", SecretString=PASSWORD)
    caplog.set_level(logging.DEBUG)
    secrets = SecretsClient(environ={})
    messages: list[str] = []

    # When the client is used in every way, including its error paths
    assert secrets.get(NAME, field="password") == PASSWORD
    _rotate(sm, ROTATED)
    secrets.invalidate(NAME)
    assert secrets.get(NAME, field="password") == ROTATED
    for bad in (
        lambda: secrets.get(NAME, field="token"),
        lambda: secrets.get("plain", field="password"),
        lambda: secrets.get("docpipe/missing"),
        lambda: secrets.with_rotation_retry(
            NAME, _login_with({"password": "x"}), auth_errors=(LoginRejectedError,), field="password"
        ),
    ):
        with pytest.raises(Exception) as caught:  # noqa: PT011 - any error; its text is what matters
            bad()
        messages.extend([str(caught.value), repr(caught.value)])

    # Then botocore really did log the GetSecretValue response, redacted...
    captured = capsys.readouterr()
    everything = "\n".join([caplog.text, captured.out, captured.err, *messages])
    assert "GetSecretValue" in caplog.text
    assert "redacted" in caplog.text
    # ...and neither value appears anywhere
    assert PASSWORD not in everything
    assert ROTATED not in everything
