"""Bedrock-style metadata sidecars (``<key>.metadata.json``): parsed into chunk metadata attributes.

The format is Amazon Bedrock Knowledge Bases': ``{"metadataAttributes": {name: value}}`` where a
value is a plain JSON string, number, boolean or list of strings, or the typed form
``{"value": {"type": "STRING"|"NUMBER"|"BOOLEAN"|"STRING_LIST", "stringValue"|"numberValue"|
"booleanValue"|"stringListValue": ...}, "includeForEmbedding": ...}``. Anything else is the
uploader's permanent mistake: ``InvalidSidecarError`` (skip reason ``invalid_sidecar``), whose
message names the sidecar and the attribute, never a crash that would be retried.

Beside ``metadataAttributes`` a sidecar may hold ``access``, the document's access list
(``["group:finance", "user:ana@example.com"]``, docs/access-control.md); either field may be
missing, not both. ``access`` is not an attribute: one named so in ``metadataAttributes`` is refused,
so an attribute can never pose as the list the search filters on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from docpipe.access.principals import ACCESS_KEY, normalise_principals
from docpipe.exceptions import InvalidInputError, InvalidSidecarError
from docpipe.ids import SIDECAR_SUFFIX

SIDECAR_FIELDS = ("metadataAttributes", ACCESS_KEY)

TYPED_FIELDS: dict[str, str] = {
    "STRING": "stringValue",
    "NUMBER": "numberValue",
    "BOOLEAN": "booleanValue",
    "STRING_LIST": "stringListValue",
}
"""Bedrock's attribute types and the field that holds each one's value."""


@dataclass(frozen=True)
class Sidecar:
    """A parsed sidecar: its attributes (plain values) and its access list (None: not given)."""

    attributes: dict[str, Any] = field(default_factory=dict)
    access: tuple[str, ...] | None = None


def parse_sidecar(data: bytes, key: str) -> Sidecar:
    """The attributes and the access list of ``key``'s sidecar.

    Raises:
        InvalidSidecarError: not JSON, neither a ``metadataAttributes`` object nor an ``access``
            list, an attribute whose shape or type the format does not allow, an attribute named
            ``access``, or an access list that is empty or holds something not a principal
            (naming ``<key>.metadata.json`` and the field).
    """
    where = f"{key}{SIDECAR_SUFFIX}"
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise InvalidSidecarError(f"{where} is not valid JSON ({error})") from error
    if not isinstance(document, dict) or not any(name in document for name in SIDECAR_FIELDS):
        raise InvalidSidecarError(f"{where} has no metadataAttributes object (nor an access list)")
    attributes = document.get("metadataAttributes", {})
    if not isinstance(attributes, dict):
        raise InvalidSidecarError(f"{where} has no metadataAttributes object")
    if ACCESS_KEY in attributes:
        raise InvalidSidecarError(
            f"{where}: attribute {ACCESS_KEY!r} is reserved; put the access list in the sidecar's "
            f"top-level {ACCESS_KEY!r} field"
        )
    access = None
    if ACCESS_KEY in document:
        try:
            access = normalise_principals(document[ACCESS_KEY], field=ACCESS_KEY)
        except InvalidInputError as error:
            raise InvalidSidecarError(f"{where}: {error}") from None
    return Sidecar(
        {str(name): _attribute(value, where, str(name)) for name, value in attributes.items()}, access
    )


def sidecar_attributes(data: bytes, key: str) -> dict[str, Any]:
    """The attributes of ``key``'s sidecar, as plain values (str, int/float, bool, list of str).

    Raises:
        InvalidSidecarError: as ``parse_sidecar``.
    """
    return parse_sidecar(data, key).attributes


def _attribute(value: Any, where: str, name: str) -> Any:
    if isinstance(value, dict):
        if "value" not in value:
            raise InvalidSidecarError(f"{where}: attribute {name!r} is an object without a 'value'")
        return _typed(value["value"], where, name)
    if not _plain(value):
        raise InvalidSidecarError(
            f"{where}: attribute {name!r} must be a string, number, boolean or list of strings, "
            f"or {{'value': {{'type': ..., ...}}}} (got {type(value).__name__})"
        )
    return value


def _typed(typed: Any, where: str, name: str) -> Any:
    allowed = ", ".join(TYPED_FIELDS)
    if not isinstance(typed, dict):
        raise InvalidSidecarError(
            f"{where}: attribute {name!r} has 'value' {type(typed).__name__}; expected an object "
            f"with 'type' ({allowed}) and its field"
        )
    kind = typed.get("type")
    if kind is None:  # lenient: the type is implied by whichever single value field is present
        present = [k for k in TYPED_FIELDS.values() if k in typed]
        if len(present) != 1:
            raise InvalidSidecarError(f"{where}: attribute {name!r} needs 'type' ({allowed})")
        kind = next(t for t, f in TYPED_FIELDS.items() if f == present[0])
    field = TYPED_FIELDS.get(kind) if isinstance(kind, str) else None
    if field is None:
        raise InvalidSidecarError(f"{where}: attribute {name!r} has type {kind!r}; allowed: {allowed}")
    if field not in typed:
        raise InvalidSidecarError(f"{where}: attribute {name!r} of type {kind} has no {field!r}")
    value = typed[field]
    valid = {
        "STRING": isinstance(value, str),
        "NUMBER": _number(value),
        "BOOLEAN": isinstance(value, bool),
        "STRING_LIST": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[kind]
    if not valid:
        raise InvalidSidecarError(
            f"{where}: attribute {name!r} of type {kind} has {field} {type(value).__name__}"
        )
    return value


def _number(value: Any) -> bool:
    # bool is an int in Python; NaN and infinities parse from JSON but S3 Vectors rejects them.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _plain(value: Any) -> bool:
    if isinstance(value, (str, bool)) or _number(value):
        return True
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
