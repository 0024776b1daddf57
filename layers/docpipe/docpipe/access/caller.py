"""Who is asking a search, and which principals it searches with.

A Function URL request names its caller's IAM identity (SigV4, ``AuthType: AWS_IAM``); the
operator's caller mapping turns it into principals. A caller the mapping marks as a delegate (an
app backend that authenticated its own user) may instead search ``on_behalf_of`` one user for one
request. Direct invocation and in-process callers (the CLI, the retriever) carry no identity: the
IAM grant that let them in is the trust boundary, and with access control enforced they must say
on whose behalf they search.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from docpipe.access.policy import CallerMap, caller_arn
from docpipe.access.principals import MAX_CALLER_PRINCIPALS, normalise_principal
from docpipe.exceptions import ForbiddenError, InvalidInputError, ValidationError

USER_KIND = "user"


@dataclass(frozen=True)
class OnBehalfOf:
    """An end user a delegate (or a direct/in-process caller) searches for: ``user:<id>`` + groups.

    ``{"user": "ana@example.com", "groups": ["group:finance", "tenant:acme"]}``: ``user`` is the
    user's id (``user:`` is added when missing), ``groups`` are principals as access lists write
    them.
    """

    user: str
    groups: tuple[str, ...] = ()

    @property
    def principals(self) -> tuple[str, ...]:
        return tuple(sorted({self.user, *self.groups}))

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user.partition(":")[2], "groups": list(self.groups)}

    @classmethod
    def parse(cls, value: Any, *, field: str = "on_behalf_of") -> OnBehalfOf:
        """Check a request's ``on_behalf_of``.

        Raises:
            ValidationError: naming the part: not an object, an unknown member, no ``user``, a
                ``groups`` entry that is not a principal, or more than ``MAX_CALLER_PRINCIPALS``.
        """
        if isinstance(value, OnBehalfOf):
            return value
        if not isinstance(value, Mapping):
            raise ValidationError(field, 'must be an object: {"user": "...", "groups": ["group:..."]}')
        unknown = sorted(set(value) - {"user", "groups"})
        if unknown:
            raise ValidationError(f"{field}.{unknown[0]}", "unknown field; allowed: user, groups")
        given: Mapping[str, Any] = value
        user = given.get("user")
        if not isinstance(user, str) or not user.strip():
            raise ValidationError(f"{field}.user", "is required: the id of the user searched for")
        try:
            principal = normalise_principal(
                user if user.strip().casefold().startswith(f"{USER_KIND}:") else f"{USER_KIND}:{user}",
                field=f"{field}.user",
            )
        except InvalidInputError as error:
            raise ValidationError(f"{field}.user", str(error).partition(": ")[2]) from None
        groups = given.get("groups", [])
        if not isinstance(groups, list):
            raise ValidationError(f"{field}.groups", "must be a list of principals (group:finance)")
        if len(groups) >= MAX_CALLER_PRINCIPALS:
            raise ValidationError(
                f"{field}.groups", f"lists {len(groups)}; at most {MAX_CALLER_PRINCIPALS - 1}"
            )
        normalised: set[str] = set()
        for i, group in enumerate(groups):
            where = f"{field}.groups[{i}]"
            try:
                normalised.add(normalise_principal(group, field=where))
            except InvalidInputError as error:
                raise ValidationError(where, str(error).partition(": ")[2]) from None
        return cls(principal, tuple(sorted(normalised)))


@dataclass(frozen=True)
class Caller:
    """The identity a request arrived with: an IAM ARN (Function URL), or None (no identity)."""

    arn: str | None = None

    @classmethod
    def from_request_context(cls, context: Any) -> Caller:
        """The caller of a Function URL request (``requestContext.authorizer.iam.userArn``).

        A request without one (a URL with ``AuthType: NONE``, an emulator) is ``Caller("")``:
        an identity that no mapping holds, so it is refused, never treated as direct invocation.
        """
        arn = _member(_member(_member(context, "authorizer"), "iam"), "userArn")
        return cls(arn if isinstance(arn, str) else "")

    @property
    def label(self) -> str:
        if self.arn is None:
            return "direct"
        return caller_arn(self.arn) if self.arn else "anonymous"


def _member(container: Any, name: str) -> Any:
    """``container[name]`` when ``container`` is an object that has it; otherwise None."""
    return container[name] if isinstance(container, Mapping) and name in container else None


@dataclass(frozen=True)
class Grant:
    """The principals one search runs with, and whom they came from (for the log)."""

    caller: str
    principals: tuple[str, ...]
    on_behalf_of: str | None = None


def resolve_principals(caller: Caller, on_behalf_of: OnBehalfOf | None, callers: CallerMap) -> Grant:
    """The principals ``caller`` searches with when access control is enforced.

    Raises:
        ValidationError: no identity (direct invocation, in-process) and no ``on_behalf_of``.
        ForbiddenError: an identity the mapping does not hold (``unmapped``), or ``on_behalf_of``
            from a caller that is not a delegate (``not_delegate``).
    """
    if caller.arn is None:
        if on_behalf_of is None:
            raise ValidationError(
                "on_behalf_of",
                "is required when AccessControl=enforced: a direct invocation carries no caller "
                "identity, so say whom the search is for",
            )
        return Grant(caller.label, on_behalf_of.principals, on_behalf_of.user)
    mapped = callers.get(caller.arn) if caller.arn else None
    if mapped is None:
        raise ForbiddenError(f"caller {caller.label} is not mapped to any principals", reason="unmapped")
    if on_behalf_of is not None:
        if not mapped.delegate:
            raise ForbiddenError(
                f"caller {caller.label} may not search on_behalf_of others (not a delegate)",
                reason="not_delegate",
            )
        return Grant(caller.label, on_behalf_of.principals, on_behalf_of.user)
    return Grant(caller.label, mapped.principals)
