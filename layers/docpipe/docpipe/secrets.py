"""Secrets for docpipe on Powertools Parameters: cached, rotation-aware, and never logged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from docpipe import aws
from docpipe.config import environment
from docpipe.exceptions import (
    AccessDeniedError,
    ConfigError,
    DocpipeError,
    NotFoundError,
    SecretNotFoundError,
    TransientAWSError,
)

if TYPE_CHECKING:  # Powertools Parameters is imported on first use (about 20 ms at cold start).
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

T = TypeVar("T")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
_Transform = Literal["json"] | None
_TRANSFORMS: tuple[_Transform, ...] = (None, "json")
_REDACTED = "[docpipe redacted a log record carrying secret material]"
# botocore logs request and response bodies at DEBUG; a GetSecretValue response holds the secret.
_SECRET_MARKERS = ("SecretString", "SecretBinary")
_BOTOCORE_BODY_LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.awsrequest")


class _RedactSecretMaterial(logging.Filter):
    """Replace botocore DEBUG records that carry a Secrets Manager body with a fixed message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix; let logging report it
            return True
        if any(marker in message for marker in _SECRET_MARKERS):
            record.msg = _REDACTED
            record.args = ()
        return True


_redaction_filter = _RedactSecretMaterial()


def install_log_redaction() -> None:
    """Keep secret values out of botocore's DEBUG logs (idempotent; SecretsClient calls it)."""
    for name in _BOTOCORE_BODY_LOGGERS:
        logger = logging.getLogger(name)
        if _redaction_filter not in logger.filters:
            logger.addFilter(_redaction_filter)


# At import too: the first secret may be fetched (or created, in tests) before any SecretsClient exists.
install_log_redaction()


class SecretsClient:
    """Read secrets with precedence Secrets Manager -> environment variable -> default.

    Values are cached by Powertools for ``ttl_seconds`` (0 turns caching off). After a
    credential read from a secret is rejected (the secret was rotated), ``invalidate`` or
    ``with_rotation_retry`` forces the next read to go to Secrets Manager.

    No method puts a secret value in a log record or an exception message: errors name the
    secret and, where relevant, the field.
    """

    def __init__(
        self,
        provider: SecretsProvider | None = None,
        *,
        ttl_seconds: int = 300,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Use ``provider`` (default: a ``SecretsProvider`` on the shared ``secretsmanager`` client)."""
        if ttl_seconds < 0:
            raise ConfigError(f"secrets cache TTL must be >= 0 seconds (got {ttl_seconds})")
        if provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            provider = SecretsProvider(boto3_client=aws.client("secretsmanager"))
        self._provider = provider
        self._ttl = ttl_seconds
        self._environ = environ
        self._stale: set[tuple[str, _Transform]] = set()
        self._lock = threading.Lock()
        install_log_redaction()

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    def get(
        self,
        name: str,
        *,
        field: str | None = None,
        env_var: str | None = None,
        default: str = _MISSING,
        force_fetch: bool = False,
    ) -> str:
        """The secret ``name`` (or one ``field`` of its JSON) as a string.

        Precedence: Secrets Manager, then ``env_var`` (when the secret does not exist), then
        ``default``. Access denied and throttling are raised, not papered over with a fallback:
        they mean a broken policy or a busy service, not a missing secret.

        Raises:
            SecretNotFoundError: no secret, no set env var and no default.
            ConfigError: the secret is not JSON, or lacks ``field``, or the field is not a string.
            AccessDeniedError, TransientAWSError: from Secrets Manager.
        """
        try:
            if field is None:
                return self._fetch_str(name, force_fetch=force_fetch)
            return _field(self._fetch_json(name, force_fetch=force_fetch), name, field)
        except SecretNotFoundError:
            env = environment() if self._environ is None else self._environ
            if env_var and env.get(env_var):
                return env[env_var]
            if default is not _MISSING:
                return default
            where = f" and {env_var} is not set" if env_var else ""
            raise SecretNotFoundError(f"secret {name!r} does not exist{where}") from None

    def get_json(self, name: str, *, force_fetch: bool = False) -> dict[str, Any]:
        """The secret ``name`` parsed as a JSON object (a shallow copy of the cached value).

        Raises:
            SecretNotFoundError, AccessDeniedError, TransientAWSError: from Secrets Manager.
            ConfigError: the secret is not a JSON object.
        """
        return dict(self._fetch_json(name, force_fetch=force_fetch))

    def invalidate(self, name: str) -> None:
        """Make the next read of ``name`` go to Secrets Manager, whatever the TTL says."""
        with self._lock:
            self._stale.update((name, transform) for transform in _TRANSFORMS)

    on_auth_failure = invalidate
    """Call when a credential from ``name`` was rejected: it was probably rotated."""

    def with_rotation_retry(
        self,
        name: str,
        use: Callable[[str], T],
        *,
        auth_errors: tuple[type[BaseException], ...],
        field: str | None = None,
    ) -> T:
        """Call ``use(secret)``; if it raises one of ``auth_errors``, refetch once and retry.

        A rotated secret makes the cached value wrong until the TTL runs out; this turns the
        first rejected attempt into one forced refetch instead of a TTL's worth of failures.
        A second rejection with the fresh value propagates (the credential really is wrong).
        """
        try:
            return use(self.get(name, field=field))
        except auth_errors:
            self.on_auth_failure(name)
        return use(self.get(name, field=field))

    def pdf_password_for(self, key: str, secret_id: str, *, force_fetch: bool = False) -> str | None:
        """The password for the PDF at ``key``, from a secret mapping key prefixes to passwords.

        The longest matching prefix wins (``""`` is a catch-all). Returns None when
        ``secret_id`` is empty or no prefix matches.

        Raises:
            SecretNotFoundError: ``secret_id`` is set but the secret does not exist.
            ConfigError: the secret is not a JSON object of strings.
        """
        if not secret_id:
            return None
        mapping = self._fetch_json(secret_id, force_fetch=force_fetch)
        best: str | None = None
        for prefix in mapping:
            if key.startswith(prefix) and (best is None or len(prefix) > len(best)):
                best = prefix
        if best is None:
            return None
        return _field(mapping, secret_id, best)

    # -- internals ---------------------------------------------------------------------------

    def _fetch_str(self, name: str, *, force_fetch: bool) -> str:
        value = self._fetch(name, None, force_fetch=force_fetch)
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigError(f"secret {name!r} is binary and not UTF-8 text") from None
        if not isinstance(value, str):
            raise ConfigError(f"secret {name!r} has an unexpected type {type(value).__name__}")
        return value

    def _fetch_json(self, name: str, *, force_fetch: bool) -> Mapping[str, Any]:
        value = self._fetch(name, "json", force_fetch=force_fetch)
        if not isinstance(value, dict):
            raise ConfigError(f"secret {name!r} is not a JSON object")
        return value

    def _fetch(self, name: str, transform: _Transform, *, force_fetch: bool) -> Any:
        if not name:
            # No secret configured: callers fall through to their env var or default.
            raise SecretNotFoundError("no secret name was given")
        from aws_lambda_powertools.utilities.parameters.exceptions import (
            GetParameterError,
            TransformParameterError,
        )

        with self._lock:
            stale = (name, transform) in self._stale
            self._stale.discard((name, transform))
        try:
            return self._provider.get(
                name, max_age=self._ttl, transform=transform, force_fetch=force_fetch or stale
            )
        except TransformParameterError:
            # Powertools' message quotes the parser's error, which may quote the value: say less.
            raise ConfigError(f"secret {name!r} is not valid JSON") from None
        except GetParameterError as error:
            if stale:
                with self._lock:
                    self._stale.add((name, transform))
            _raise_fetch_error(name, error.__context__)


def _field(mapping: Mapping[str, Any], name: str, field: str) -> str:
    if field not in mapping:
        raise ConfigError(f"secret {name!r} has no field {field!r}")
    value = mapping[field]
    if not isinstance(value, str):
        raise ConfigError(f"field {field!r} of secret {name!r} is a {type(value).__name__}, not a string")
    return value


def _raise_fetch_error(name: str, cause: BaseException | None) -> NoReturn:
    """Translate what SecretsProvider wrapped; messages name the secret, never a value."""
    what = f"secret {name!r}"
    if isinstance(cause, (ClientError, BotoCoreError)):
        try:
            aws.translate_client_error(cause, what)
        except NotFoundError as error:
            raise SecretNotFoundError(str(error)) from cause
        except DocpipeError:
            raise
    if isinstance(cause, (AccessDeniedError, TransientAWSError)):
        raise cause
    # Anything else (a custom provider's error) may carry anything: keep only its type.
    raise DocpipeError(f"{what}: could not be read ({type(cause).__name__})") from None
