"""Bedrock-style metadata sidecars (``<key>.metadata.json``): parsed into chunk metadata attributes.

The format is Amazon Bedrock Knowledge Bases': ``{"metadataAttributes": {name: value}}`` where a
value is a plain JSON string, number, boolean or list of strings, or the typed form
``{"value": {"type": "STRING"|"NUMBER"|"BOOLEAN"|"STRING_LIST", "stringValue"|"numberValue"|
"booleanValue"|"stringListValue": ...}, "includeForEmbedding": ...}``. Anything else is the
uploader's permanent mistake: ``InvalidSidecarError`` (skip reason ``invalid_sidecar``), whose
message names the sidecar and the attribute, never a crash that would be retried.
"""

from __future__ import annotations

import json
import math
from typing import Any

from docpipe.exceptions import InvalidSidecarError
from docpipe.ids import SIDECAR_SUFFIX

TYPED_FIELDS: dict[str, str] = {
    "STRING": "stringValue",
    "NUMBER": "numberValue",
    "BOOLEAN": "booleanValue",
    "STRING_LIST": "stringListValue",
}
"""Bedrock's attribute types and the field that holds each one's value."""


def sidecar_attributes(data: bytes, key: str) -> dict[str, Any]:
    """The attributes of ``key``'s sidecar, as plain values (str, int/float, bool, list of str).

    Raises:
        InvalidSidecarError: not JSON, no ``metadataAttributes`` object, or an attribute whose
            shape or type the format does not allow (naming ``<key>.metadata.json`` and the attribute).
    """
    where = f"{key}{SIDECAR_SUFFIX}"
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise InvalidSidecarError(f"{where} is not valid JSON ({error})") from error
    attributes = document.get("metadataAttributes") if isinstance(document, dict) else None
    if not isinstance(attributes, dict):
        raise InvalidSidecarError(f"{where} has no metadataAttributes object")
    return {str(name): _attribute(value, where, str(name)) for name, value in attributes.items()}


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
