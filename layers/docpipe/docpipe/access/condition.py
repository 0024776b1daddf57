"""The access condition a search adds to the store's filter, and the same test in Python.

The condition is composed server-side and ANDed outside whatever the caller filtered on:
``{"$and": [{"access": {"$in": principals}}, <caller's filter>]}``. The caller's filter may not
name the access key at all (a 400), so no ``$or``, ``$ne``, ``$nin`` or ``$exists`` inside it can
reach the access list, and nothing inside an ``$and`` operand can undo the other operand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from docpipe.access.principals import ACCESS_KEY, EVERYONE, UNLISTED
from docpipe.config import ACCESS_DEFAULTS
from docpipe.exceptions import ValidationError

__all__ = [
    "ACCESS_DEFAULTS",
    "access_condition",
    "compose_filter",
    "query_principals",
    "readable",
    "reject_access_key",
]


def query_principals(principals: Iterable[str], access_default: str) -> tuple[str, ...]:
    """What a caller's chunks may hold: its principals, ``everyone``, and ``unlisted`` only when
    ``AccessDefault=everyone`` (with ``nobody`` a document without a list matches no one)."""
    held = set(principals) | {EVERYONE}
    if access_default == "everyone":
        held.add(UNLISTED)
    return tuple(sorted(held))


def access_condition(principals: Iterable[str]) -> dict[str, Any]:
    return {ACCESS_KEY: {"$in": list(principals)}}


def compose_filter(condition: Mapping[str, Any], caller_filter: Mapping[str, Any] | None) -> dict[str, Any]:
    """The store filter: the access condition ANDed outside the caller's (already checked) filter."""
    if not caller_filter:
        return dict(condition)
    return {"$and": [dict(condition), dict(caller_filter)]}


def reject_access_key(spec: Any, *, field: str = "filter") -> None:
    """Refuse a caller's filter that names the access key anywhere (under ``$and``/``$or`` too).

    Raises:
        ValidationError: naming the path, e.g. ``filter.$or[1].access``.
    """
    if not isinstance(spec, Mapping):
        return
    for name, condition in spec.items():
        where = f"{field}.{name}"
        if name == ACCESS_KEY:
            raise ValidationError(
                where, "the access list is applied by the server from who is asking; a filter may not name it"
            )
        if isinstance(name, str) and name.startswith("$") and isinstance(condition, list):
            for i, part in enumerate(condition):
                reject_access_key(part, field=f"{where}[{i}]")


def readable(metadata: Mapping[str, Any], principals: Iterable[str]) -> bool:
    """Whether a chunk's stored access list shares a principal with ``principals`` (the same test
    the store applies; a chunk without a list is readable by no one)."""
    stored = metadata.get(ACCESS_KEY)
    values = stored if isinstance(stored, list) else [stored] if isinstance(stored, str) else []
    held = set(principals)
    return any(v in held for v in values)
