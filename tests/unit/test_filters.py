"""The S3 Vectors filter language: validation names the field before any call to the store."""

from __future__ import annotations

from typing import Any

import pytest

from docpipe.exceptions import ValidationError
from docpipe.filters import (
    FILTER_OPERATORS,
    MAX_FILTER_CONSTRAINTS,
    count_constraints,
    validate_filter,
)
from docpipe.vectorstore import NON_FILTERABLE_METADATA_KEYS

NON_FILTERABLE = NON_FILTERABLE_METADATA_KEYS


def test_the_language_has_exactly_the_documented_operators() -> None:
    assert set(FILTER_OPERATORS) == {
        "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$startsWith", "$and", "$or",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"page": {"$regex": "1"}}, "filter.page.$regex"),
        ({"$not": [{"page": 1}]}, "filter.$not"),
        ({"text": {"$eq": "x"}}, "filter.text"),
        ({"$and": [{"key": "a"}, {"source_uri": "s3://b/a"}]}, "filter.$and[1].source_uri"),
        ({"page": {"$gt": "2"}}, "filter.page.$gt"),
        ({"key": {"$in": []}}, "filter.key.$in"),
        ({"key": {"$exists": "yes"}}, "filter.key.$exists"),
        ({"$or": {"key": "a"}}, "filter.$or"),
        ({"key": {"a": 1}}, "filter.key.a"),
        ({"key": [1, 2]}, "filter.key"),
        ({"page": {}}, "filter.page"),
        ({"key": {"$startsWith": 3}}, "filter.key.$startsWith"),
        ({"key": {"$startsWith": ""}}, "filter.key.$startsWith"),
        ({"$or": [{"page": i} for i in range(MAX_FILTER_CONSTRAINTS + 1)]}, "filter"),
    ],
)
def test_a_bad_filter_names_the_offending_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_filter(spec, non_filterable=NON_FILTERABLE)

    assert caught.value.field == field


def test_a_filter_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValidationError, match="JSON object"):
        validate_filter(["page", 1], non_filterable=NON_FILTERABLE)


def test_a_prefix_filter_is_accepted() -> None:
    spec = {"key": {"$startsWith": "reports/2026/"}}

    assert validate_filter(spec, non_filterable=NON_FILTERABLE) == spec


def test_a_filter_of_exactly_the_constraint_limit_is_accepted() -> None:
    # Given 100 constraints: 98 keys of one operator, one key of two operators
    spec = {"$and": [{f"k{i}": i} for i in range(98)] + [{"page": {"$gte": 1, "$lte": 9}}]}

    assert count_constraints(spec) == MAX_FILTER_CONSTRAINTS
    assert validate_filter(spec, non_filterable=NON_FILTERABLE) == spec


def test_a_valid_filter_passes_unchanged() -> None:
    spec = {"$or": [{"page": {"$gte": 2, "$lt": 5}}, {"department": {"$in": ["hr", "it"]}}], "lang": "en"}

    assert validate_filter(spec, non_filterable=NON_FILTERABLE) == spec
