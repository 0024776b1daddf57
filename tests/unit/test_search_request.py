"""The search request parser: every bad input gets a ValidationError that names its field."""

from __future__ import annotations

from typing import Any

import pytest

from docpipe.exceptions import ValidationError
from docpipe.search import SearchRequest


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   \n"}, "query"),
        ({"query": "x" * 10_001}, "query"),
        ({"query": 42}, "query"),
        ({"query": None}, "query"),
        ({}, "query"),
        ({"query": "q", "k": 0}, "k"),
        ({"query": "q", "k": 101}, "k"),
        ({"query": "q", "k": "5"}, "k"),
        ({"query": "q", "k": True}, "k"),
        ({"query": "q", "k": 2.5}, "k"),
        ({"query": "q", "neighbours": 3}, "neighbours"),
        ({"query": "q", "neighbours": -1}, "neighbours"),
        ({"query": "q", "rerank": "cohere"}, "rerank"),
        ({"query": "q", "filter": {"page": {"$like": 1}}}, "filter.page.$like"),
        ({"query": "q", "filter": {"text": "secret words"}}, "filter.text"),
        ({"query": "q", "filter": "page=1"}, "filter"),
        ({"query": "q", "top_k": 3}, "top_k"),
    ],
)
def test_each_bad_input_names_its_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SearchRequest.from_dict(body)

    assert caught.value.field == field
    assert caught.value.as_dict() == {
        "error": "ValidationError",
        "field": field,
        "message": caught.value.message,
    }


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        SearchRequest.from_dict(["query"])

    assert caught.value.field == "body"


def test_defaults_and_limits() -> None:
    request = SearchRequest.from_dict({"query": "x" * 10_000, "k": 100, "neighbours": 2, "filter": {}})

    assert (request.k, request.neighbours, request.rerank, request.filter) == (100, 2, None, None)
    assert SearchRequest.from_dict({"query": "q"}).k == 5
