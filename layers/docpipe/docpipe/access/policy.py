"""The operator's two access documents: prefix rules (who may read a key) and the caller mapping.

Prefix rules (``ACCESS_RULES_PARAMETER``, read by ingest and reconcile)::

    {"rules": {"hr/": ["group:hr"], "customers/acme/": ["tenant:acme"], "public/": ["everyone"]}}

The longest prefix that matches a key applies (``hr/exec/`` can narrow ``hr/``); a document's list
is that rule's list united with its sidecar's ``access`` list (docs/access-control.md says why).

Caller mapping (``ACCESS_CALLERS_PARAMETER``, read by SearchFunction)::

    {"callers": {"arn:aws:iam::123456789012:role/hr-portal": {"principals": ["group:hr"],
                                                            "delegate": true}}}

Keys are IAM role or user ARNs; a role's path is dropped and the ARN compared case-insensitively,
as the identity in a Function URL request names an assumed role without its path
(``caller_arn``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from docpipe.access.principals import (
    EVERYONE,
    MAX_ACCESS_LIST_BYTES,
    MAX_CALLER_PRINCIPALS,
    UNLISTED,
    access_list_size,
    normalise_principals,
)
from docpipe.exceptions import ConfigError, InvalidInputError

# arn:<partition>:sts::<account>:assumed-role/<role name>/<session>
_ASSUMED_ROLE = re.compile(r"^arn:([a-z0-9-]+):sts::(\d{12}):assumed-role/([^/]+)/.+$")
# arn:<partition>:iam::<account>:role/<path/><role name>
_ROLE = re.compile(r"^arn:([a-z0-9-]+):iam::(\d{12}):role/(?:.*/)?([^/]+)$")


def caller_arn(arn: str) -> str:
    """One form of an IAM identity for the mapping: the role ARN of an assumed role (no path).

    ``arn:aws:sts::123456789012:assumed-role/app/session-1`` and
    ``arn:aws:iam::123456789012:role/service/app`` both become
    ``arn:aws:iam::123456789012:role/app``; user and other ARNs are kept. NFC, trimmed and case
    folded: IAM names are unique regardless of case.
    """
    text = unicodedata.normalize("NFC", arn).strip()
    match = _ASSUMED_ROLE.match(text) or _ROLE.match(text)
    if match:
        partition, account, role = match.groups()
        text = f"arn:{partition}:iam::{account}:role/{role}"
    return text.casefold()


@dataclass(frozen=True)
class PrefixRules:
    """Prefix -> principals, longest prefix first."""

    rules: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, raw: str | bytes | None, *, source: str = "the access rules") -> PrefixRules:
        """Parse and check the rules document (None or empty: no rules).

        Raises:
            ConfigError: naming ``source`` and the field at fault (``rules["hr/"][1]``).
        """
        if raw is None or not str(raw if isinstance(raw, str) else raw.decode()).strip():
            return cls()
        document = _load(raw, source)
        rules = document.get("rules", {})
        unknown = sorted(set(document) - {"rules"})
        if unknown:
            raise ConfigError(f"{source}: unknown field {unknown[0]!r}; allowed: rules")
        if not isinstance(rules, Mapping):
            raise ConfigError(f"{source}: rules must be an object of prefix -> list of principals")
        parsed: list[tuple[str, tuple[str, ...]]] = []
        for prefix, principals in rules.items():
            field = f"rules[{prefix!r}]"
            try:
                listed = normalise_principals(principals, field=field)
            except InvalidInputError as error:
                raise ConfigError(f"{source}: {error}") from None
            _check_size(listed, f"{source}: {field}", ConfigError)
            parsed.append((str(prefix), listed))
        parsed.sort(key=lambda rule: len(rule[0]), reverse=True)
        return cls(tuple(parsed))

    def for_key(self, key: str) -> tuple[str, ...] | None:
        """The list of the longest prefix that ``key`` starts with; None when no rule matches."""
        for prefix, principals in self.rules:
            if key.startswith(prefix):
                return principals
        return None


def document_access(key: str, sidecar: tuple[str, ...] | None, rules: PrefixRules) -> tuple[str, ...]:
    """The access list stored on every chunk of ``key``: the rule's list united with the sidecar's.

    A document with neither gets ``(UNLISTED,)``: whether callers hold it is ``AccessDefault``'s
    decision at query time, so changing that parameter needs no re-labelling.

    Raises:
        AccessListTooLargeError: the united list is over ``MAX_ACCESS_LIST_BYTES``.
    """
    from docpipe.exceptions import AccessListTooLargeError

    ruled = rules.for_key(key)
    if ruled is None and sidecar is None:
        return (UNLISTED,)
    united = tuple(sorted(set(ruled or ()) | set(sidecar or ())))
    _check_size(united, f"the access list of {key}", AccessListTooLargeError)
    return united


def _check_size(principals: tuple[str, ...], where: str, error: type[Exception]) -> None:
    size = access_list_size(principals)
    if size > MAX_ACCESS_LIST_BYTES:
        raise error(
            f"{where} is {size} bytes ({len(principals)} principals); at most {MAX_ACCESS_LIST_BYTES} "
            "fit beside docpipe's own keys in S3 Vectors' 2 KB of filterable metadata: use groups"
        )


@dataclass(frozen=True)
class MappedCaller:
    """What the mapping says about one IAM identity."""

    principals: tuple[str, ...]
    delegate: bool = False


@dataclass(frozen=True)
class CallerMap:
    """Normalised IAM ARN -> principals (and whether it may search on behalf of its users)."""

    callers: Mapping[str, MappedCaller]

    @classmethod
    def parse(cls, raw: str | bytes | None, *, source: str = "the caller mapping") -> CallerMap:
        """Parse and check the mapping document (None or empty: nobody is mapped).

        Raises:
            ConfigError: naming ``source`` and the field at fault (``callers["arn:..."].delegate``).
        """
        if raw is None or not str(raw if isinstance(raw, str) else raw.decode()).strip():
            return cls({})
        document = _load(raw, source)
        unknown = sorted(set(document) - {"callers"})
        if unknown:
            raise ConfigError(f"{source}: unknown field {unknown[0]!r}; allowed: callers")
        entries = document.get("callers", {})
        if not isinstance(entries, Mapping):
            raise ConfigError(f"{source}: callers must be an object of IAM ARN -> {{principals, delegate}}")
        callers: dict[str, MappedCaller] = {}
        for arn, entry in entries.items():
            field = f"callers[{arn!r}]"
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{source}: {field} must be an object with principals (and delegate)")
            extra = sorted(set(entry) - {"principals", "delegate"})
            if extra:
                raise ConfigError(f"{source}: {field}.{extra[0]} is unknown; allowed: principals, delegate")
            delegate = entry.get("delegate", False)
            if not isinstance(delegate, bool):
                raise ConfigError(f"{source}: {field}.delegate must be true or false")
            try:
                principals = normalise_principals(
                    entry.get("principals", []), field=f"{field}.principals", allow_empty=delegate
                )
            except InvalidInputError as error:
                raise ConfigError(f"{source}: {error}") from None
            if EVERYONE in principals:
                raise ConfigError(
                    f"{source}: {field}.principals names {EVERYONE!r}, which every caller holds already"
                )
            if len(principals) > MAX_CALLER_PRINCIPALS:
                raise ConfigError(f"{source}: {field}.principals lists over {MAX_CALLER_PRINCIPALS}")
            callers[caller_arn(str(arn))] = MappedCaller(principals, delegate)
        return cls(callers)

    def get(self, arn: str) -> MappedCaller | None:
        return self.callers.get(caller_arn(arn))


def _load(raw: str | bytes, source: str) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise ConfigError(f"{source} is not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{source} must be a JSON object")
    return document
