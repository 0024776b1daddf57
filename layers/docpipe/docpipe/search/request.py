"""The search request: one parser for the Function URL body, a direct event, the CLI and the retriever."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from docpipe.access.caller import OnBehalfOf
from docpipe.access.condition import reject_access_key
from docpipe.config import DEPRECATED_RERANK_MODES, RERANK_MODES
from docpipe.exceptions import ValidationError
from docpipe.filters import validate_filter
from docpipe.vectorstore import NON_FILTERABLE_METADATA_KEYS

MAX_QUERY_CHARS = 10_000
DEFAULT_K = 5
MAX_K = 100  # matches a caller may ask for (Bedrock rerank candidates are fetched beyond it)
MAX_NEIGHBOURS = 2


@dataclass(frozen=True)
class SearchRequest:
    """What a caller asks for; invalid values fail at construction with a ``ValidationError``.

    Attributes:
        query: the question, 1 to 10,000 characters (not only white space).
        k: matches to return, 1..100.
        filter: S3 Vectors filter over filterable metadata (``docpipe.filters``), or None.
        rerank: ``hybrid``, ``none``, ``text`` or ``bedrock``; None means the stack's default
            (SEARCH_RERANK). The deprecated ``lexical`` is read as ``hybrid``.
        neighbours: 0..2 chunks before and after each match to return as its ``context``.
        on_behalf_of: the user (and groups) a delegate or a direct caller searches for
            (``{"user": ..., "groups": [...]}``, docs/access-control.md); parsed to ``OnBehalfOf``.
    """

    query: str
    k: int = DEFAULT_K
    filter: dict[str, Any] | None = None
    rerank: str | None = None
    neighbours: int = 0
    on_behalf_of: OnBehalfOf | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.query, str):
            raise ValidationError("query", "must be a string")
        if not self.query.strip():
            raise ValidationError("query", "must not be empty")
        if len(self.query) > MAX_QUERY_CHARS:
            raise ValidationError("query", f"is {len(self.query)} characters; at most {MAX_QUERY_CHARS}")
        _whole_number("k", self.k, 1, MAX_K)
        _whole_number("neighbours", self.neighbours, 0, MAX_NEIGHBOURS)
        if self.rerank in DEPRECATED_RERANK_MODES:
            object.__setattr__(self, "rerank", DEPRECATED_RERANK_MODES[self.rerank])
        if self.rerank is not None and self.rerank not in RERANK_MODES:
            raise ValidationError("rerank", f"{self.rerank!r} is not one of: {', '.join(RERANK_MODES)}")
        if self.filter is not None:
            checked = validate_filter(self.filter, non_filterable=NON_FILTERABLE_METADATA_KEYS)
            reject_access_key(checked)  # the server sets the access condition, never the caller
            object.__setattr__(self, "filter", checked or None)  # {} filters nothing
        if self.on_behalf_of is not None:
            object.__setattr__(self, "on_behalf_of", OnBehalfOf.parse(self.on_behalf_of))

    @classmethod
    def from_dict(cls, data: Any) -> SearchRequest:
        """Parse a JSON object (a Function URL body or a direct invocation's event).

        Raises:
            ValidationError: the body is not an object, names a field the API does not have
                (a misspelt ``top_k`` must not be ignored), or a value breaks its rule.
        """
        if not isinstance(data, Mapping):
            raise ValidationError("body", "must be a JSON object with at least a query")
        known = [f.name for f in fields(cls)]
        for name in data:
            if name not in known:
                raise ValidationError(str(name), f"unknown field; allowed: {', '.join(known)}")
        if "query" not in data:
            raise ValidationError("query", "is required")
        present = {n: data[n] for n in known if n in data and (n == "query" or data[n] is not None)}
        return cls(**present)


def _whole_number(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(name, f"must be a whole number {low}..{high}")
    if not low <= value <= high:
        raise ValidationError(name, f"is {value}; allowed: {low}..{high}")
