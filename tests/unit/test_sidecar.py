"""Bedrock-format sidecars: every shape the format allows is read, every other one is invalid_sidecar."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docpipe.exceptions import InvalidSidecarError, PermanentError
from docpipe.ingest.sidecar import sidecar_attributes

KEY = "docs/report.pdf"


def parse(attributes: Any) -> dict[str, Any]:
    return sidecar_attributes(json.dumps({"metadataAttributes": attributes}).encode(), KEY)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("geo", "geo"),
        (2024, 2024),
        (2.5, 2.5),
        (True, True),
        (["a", "b"], ["a", "b"]),
        ({"value": {"type": "STRING", "stringValue": "geo"}}, "geo"),
        ({"value": {"type": "NUMBER", "numberValue": 7}}, 7),
        ({"value": {"type": "BOOLEAN", "booleanValue": False}}, False),
        ({"value": {"type": "STRING_LIST", "stringListValue": ["x"]}}, ["x"]),
        ({"value": {"type": "STRING", "stringValue": "geo"}, "includeForEmbedding": True}, "geo"),
        ({"value": {"numberValue": 3}}, 3),  # type implied by the one value field given
    ],
)
def test_the_shapes_bedrock_allows_are_read(value: Any, expected: Any) -> None:
    assert parse({"team": value}) == {"team": expected}


@pytest.mark.parametrize(
    "value",
    [
        {"value": 5},  # a bare value where the typed object belongs (once a TypeError)
        {"value": "geo"},
        {"value": None},
        {"value": [1, 2]},
        {"type": "STRING", "stringValue": "geo"},  # typed, but without its "value" wrapper
        {"value": {"type": "NUMBER", "numberValue": "7"}},
        {"value": {"type": "NUMBER", "numberValue": True}},
        {"value": {"type": "BOOLEAN", "booleanValue": "true"}},
        {"value": {"type": "STRING_LIST", "stringListValue": "x"}},
        {"value": {"type": "STRING_LIST", "stringListValue": ["x", 1]}},
        {"value": {"type": "DATE", "stringValue": "2024"}},
        {"value": {"type": "STRING"}},
        {"value": {"type": ["STRING"], "stringValue": "x"}},
        {"value": {"stringValue": "x", "numberValue": 1}},
        None,
        [1, 2],
        {"nested": {"deeper": 1}},
    ],
)
def test_other_shapes_are_an_invalid_sidecar_naming_it_and_the_attribute(value: Any) -> None:
    with pytest.raises(InvalidSidecarError) as caught:
        parse({"team": value})

    assert caught.value.reason == "invalid_sidecar"
    assert f"{KEY}.metadata.json" in str(caught.value) and "'team'" in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        b'{"other": {}}',
        b'{"metadataAttributes": [1]}',
        b"\xff\xfe\x00",
        b"[" * 100_000,
    ],
)
def test_a_sidecar_that_is_not_the_format_is_invalid(data: bytes) -> None:
    with pytest.raises(InvalidSidecarError, match=r"report\.pdf\.metadata\.json"):
        sidecar_attributes(data, KEY)


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(InvalidSidecarError):
        sidecar_attributes(b'{"metadataAttributes": {"score": NaN}}', KEY)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)
TYPED_KEYS = st.sampled_from(["type", "stringValue", "numberValue", "booleanValue", "stringListValue"])
TYPED = st.dictionaries(
    TYPED_KEYS, JSON | st.sampled_from(["STRING", "NUMBER", "BOOLEAN", "STRING_LIST"]), max_size=3
)
ATTRIBUTE = JSON | st.fixed_dictionaries({"value": TYPED | JSON})


@given(st.dictionaries(st.text(max_size=8), ATTRIBUTE, max_size=4))
def test_any_json_value_is_read_or_refused_as_permanent_never_a_crash(attributes: dict[str, Any]) -> None:
    try:
        result = parse(attributes)
    except PermanentError as error:
        assert error.reason == "invalid_sidecar"
        return
    for value in result.values():
        assert isinstance(value, str | int | float | bool) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
