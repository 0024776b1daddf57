"""Principals (``group:hr``, ``user:ana@example.com``, ``tenant:acme``): one spelling for each.

Every principal docpipe stores or compares goes through ``normalise_principal`` once, wherever it
came from (a sidecar, a prefix rule, the caller mapping, a delegate's ``on_behalf_of``), so
``Group:HR `` and ``group:hr`` are the same principal and a full-width or decomposed letter cannot
make a second one that looks the same.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from docpipe.exceptions import InvalidInputError

ACCESS_KEY = "access"
"""The filterable metadata key that holds a chunk's access list (a list of principals)."""
EVERYONE = "everyone"
"""A principal every caller allowed to search holds: write it in a list to publish a document."""
UNLISTED = "unlisted"
"""Stored for a document that has no list from any source; ``AccessDefault`` decides at query
time whether callers hold it (``everyone``) or not (``nobody``)."""
RESERVED_PRINCIPALS: tuple[str, ...] = (EVERYONE, UNLISTED)
MAX_PRINCIPAL_BYTES = 256
"""A principal's UTF-8 length after normalisation."""
MAX_ACCESS_LIST_BYTES = 1024
"""A document's access list as stored (compact JSON): half of S3 Vectors' 2 KB filterable
metadata, the other half is docpipe's own keys (key, ids, page, section). Over it the document is
skipped as ``access_list_too_large``."""
MAX_CALLER_PRINCIPALS = 50
"""Principals one caller may search with (mapping or ``on_behalf_of``): they become one ``$in``."""

_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SPACE = re.compile(r"\s+")


def normalise_principal(value: Any, *, field: str = "principal") -> str:
    """The one spelling of a principal: ``kind:name``, or ``everyone``.

    Unicode NFKC (compatibility forms fold: a full-width ``ｇｒｏｕｐ`` is ``group``), case folded
    (``Group:HR`` is ``group:hr``; case folding, not lower(), so ``ß`` and ``ss`` meet), white space
    trimmed, runs of it inside a name made one space, none around the colon.

    Raises:
        InvalidInputError: naming ``field``: not a string, empty, no ``kind:`` (a kind is a-z,
            0-9, ``_`` or ``-``, starting with a letter), a control character, or too long.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{field}: a principal must be a string (got {type(value).__name__})")
    # NFKC, then case folding, then NFKC again: folding can leave a string outside NFKC.
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    text = _SPACE.sub(" ", text).strip()
    if not text:
        raise InvalidInputError(f"{field}: a principal must not be empty")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise InvalidInputError(f"{field}: {text!r} holds a control or format character")
    if text == EVERYONE:
        return text
    kind, colon, name = text.partition(":")
    kind, name = kind.strip(), name.strip()
    if not colon or not _KIND.match(kind) or not name:
        raise InvalidInputError(
            f"{field}: {text!r} is not a principal; write kind:name (group:hr, user:ana@example.com, "
            f"tenant:acme) or {EVERYONE}"
        )
    text = f"{kind}:{name}"
    if len(text.encode()) > MAX_PRINCIPAL_BYTES:
        raise InvalidInputError(f"{field}: a principal is at most {MAX_PRINCIPAL_BYTES} bytes")
    return text


def normalise_principals(values: Any, *, field: str, allow_empty: bool = False) -> tuple[str, ...]:
    """A list of principals, each normalised, without duplicates, sorted (one stored form).

    Raises:
        InvalidInputError: naming ``field[i]``: not a list, empty (unless ``allow_empty``), or an
            entry ``normalise_principal`` rejects.
    """
    if not isinstance(values, list):
        raise InvalidInputError(f"{field}: must be a list of principals (got {type(values).__name__})")
    if not values and not allow_empty:
        raise InvalidInputError(f"{field}: must list at least one principal")
    return tuple(sorted({normalise_principal(v, field=f"{field}[{i}]") for i, v in enumerate(values)}))


def access_list_size(principals: Iterable[str]) -> int:
    """Bytes of the list as S3 Vectors measures stored metadata (compact JSON, UTF-8)."""
    import orjson

    return len(orjson.dumps(list(principals)))
