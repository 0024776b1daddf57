"""S3 Vectors metadata filters: the service's validation, evaluated as numpy masks over an index.

The language (Amazon S3 User Guide, "Metadata filtering"): a filter object is an implicit ``$and``
of its keys; a key maps to a value (``$eq``) or to an object of operators; ``$and`` / ``$or`` take
non-empty lists of filter objects. Operators on a key: ``$eq $ne`` (string, number, boolean),
``$gt $gte $lt $lte`` (number), ``$in $nin`` (non-empty list of those), ``$exists`` (boolean)
and, on an ``ENHANCED`` index only, ``$startsWith`` (string). An array-valued metadata key matches
a condition when any element does; a key a vector lacks matches nothing but ``$exists: false``.
A non-filterable key in a filter is a ``ValidationException``, and so is a filter of more than
``MAX_FILTER_CONSTRAINTS`` constraints on an ``ENHANCED`` index (one constraint is one operator
applied to one key).

Evaluation never walks the vectors per query: ``Columns`` (updated by every write) holds, per key,
the rows that have it, an inverted index value -> rows, and the numeric values with their rows, so
each condition is a few numpy operations.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from docpipe_cli.local.s3vectors.errors import ValidationException

Mask = npt.NDArray[np.bool_]

CLASSIC_OPERATORS: tuple[str, ...] = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists")
ENHANCED_ONLY_OPERATORS: tuple[str, ...] = ("$startsWith",)
LOGICAL_OPERATORS: tuple[str, ...] = ("$and", "$or")
# "Before you change an index [to ENHANCED], confirm that your queries use 100 or fewer filter constraints."
MAX_FILTER_CONSTRAINTS = 100
_ORDERED: dict[str, Callable[[Any, Any], Any]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def _kind(value: Any) -> str | None:
    """The filter language's type of a value: ``b``oolean, ``n``umber, ``s``tring, or None."""
    if isinstance(value, bool):
        return "b"
    if isinstance(value, (int, float)):
        return "n"
    if isinstance(value, str):
        return "s"
    return None


def _term(value: Any) -> tuple[str, Any]:
    """A hashable equality term; True and 1 differ in the filter language (not in Python)."""
    kind = _kind(value)
    return (kind or "?", float(value) if kind == "n" else value)


class Columns:
    """Per-key views of an index's metadata, updated row by row as vectors are written and deleted.

    For each key: the rows that have it, an inverted index term -> rows, and the numeric values by
    row (array elements included). The numpy arrays a query needs are made from these on first use
    after a write and cached until the next one.
    """

    def __init__(self) -> None:
        self.size = 0  # rows of the index (slots, free ones included); the engine sets it
        self._present: dict[str, set[int]] = defaultdict(set)
        self._terms: dict[str, dict[tuple[str, Any], set[int]]] = defaultdict(lambda: defaultdict(set))
        self._numbers: dict[str, dict[int, list[float]]] = defaultdict(dict)
        self._cache: dict[tuple[Any, ...], Any] = {}

    def add(self, row: int, metadata: Mapping[str, Any]) -> None:
        self._cache.clear()
        for name, stored in metadata.items():
            self._present[name].add(row)
            for value in stored if isinstance(stored, list) else (stored,):
                kind = _kind(value)
                if kind is None:
                    continue
                self._terms[name][_term(value)].add(row)
                if kind == "n":
                    self._numbers[name].setdefault(row, []).append(float(value))

    def remove(self, row: int, metadata: Mapping[str, Any]) -> None:
        self._cache.clear()
        for name, stored in metadata.items():
            self._present[name].discard(row)
            for value in stored if isinstance(stored, list) else (stored,):
                if _kind(value) is not None:
                    self._terms[name][_term(value)].discard(row)
            self._numbers[name].pop(row, None)

    def _rows(self, rows: set[int]) -> npt.NDArray[np.int64]:
        return np.fromiter(rows, dtype=np.int64, count=len(rows))

    def _rows_mask(self, parts: Sequence[set[int]]) -> Mask:
        mask = np.zeros(self.size, dtype=bool)
        for part in parts:
            if part:
                mask[self._rows(part)] = True
        return mask

    def has(self, name: str) -> Mask:
        cached = self._cache.get(("has", name, self.size))
        if cached is None:
            cached = self._rows_mask([self._present.get(name, set())])
            self._cache[("has", name, self.size)] = cached
        return np.array(cached, copy=True)

    def equal_any(self, name: str, values: Sequence[Any]) -> Mask:
        by_term = self._terms.get(name, {})
        return self._rows_mask([by_term[t] for t in map(_term, values) if t in by_term])

    def ordered(self, name: str, op: str, value: float) -> Mask:
        arrays = self._cache.get(("numbers", name))
        if arrays is None:
            by_row = self._numbers.get(name, {})
            rows = [row for row, values in by_row.items() for _ in values]
            numbers = [v for values in by_row.values() for v in values]
            arrays = (np.asarray(rows, dtype=np.int64), np.asarray(numbers, dtype=np.float64))
            self._cache[("numbers", name)] = arrays
        rows_array, values_array = arrays
        mask = np.zeros(self.size, dtype=bool)
        mask[rows_array[_ORDERED[op](values_array, float(value))]] = True
        return mask

    def starts_with(self, name: str, prefix: str) -> Mask:
        by_term = self._terms.get(name, {})
        return self._rows_mask([r for (k, v), r in by_term.items() if k == "s" and v.startswith(prefix)])


Predicate = Callable[[Columns], Mask]


@dataclass(frozen=True)
class CompiledFilter:
    """A validated filter: ``mask(columns)`` selects the rows it matches; ``constraints`` counts them."""

    evaluate: Predicate
    constraints: int

    def mask(self, columns: Columns) -> Mask:
        return self.evaluate(columns)


def compile_filter(spec: Any, *, enhanced: bool, non_filterable: Sequence[str] = ()) -> CompiledFilter:
    """Validate ``spec`` as the service does and compile it.

    Args:
        spec: the request's ``filter`` document.
        enhanced: the query runs in ``ENHANCED`` mode (``$startsWith`` allowed, 100-constraint limit).
        non_filterable: the index's non-filterable metadata keys.

    Raises:
        ValidationException: naming the part of the filter that is wrong.
    """
    compiler = _Compiler(enhanced=enhanced, non_filterable=frozenset(non_filterable))
    predicate = compiler.compile(spec, "filter")
    if enhanced and compiler.constraints > MAX_FILTER_CONSTRAINTS:
        raise ValidationException(
            f"Invalid query filter: the filter has {compiler.constraints} constraints; an ENHANCED index "
            f"accepts at most {MAX_FILTER_CONSTRAINTS}",
            path="filter",
        )
    return CompiledFilter(predicate, compiler.constraints)


class _Compiler:
    def __init__(self, *, enhanced: bool, non_filterable: frozenset[str]) -> None:
        self.enhanced = enhanced
        self.non_filterable = non_filterable
        self.constraints = 0

    def compile(self, spec: Any, path: str) -> Predicate:
        if not isinstance(spec, Mapping) or not spec:
            raise ValidationException(
                f"Invalid query filter at {path}: expected a non-empty object", path=path
            )
        clauses: list[Predicate] = []
        for name, condition in spec.items():
            where = f"{path}.{name}"
            if name in LOGICAL_OPERATORS:
                if not isinstance(condition, list) or not condition:
                    raise ValidationException(
                        f"Invalid query filter at {where}: {name} takes a non-empty array of filters",
                        path=where,
                    )
                parts = [self.compile(part, f"{where}[{i}]") for i, part in enumerate(condition)]
                clauses.append(_all(parts) if name == "$and" else _any(parts))
            elif name.startswith("$"):
                raise ValidationException(
                    f"Invalid query filter at {where}: unknown operator {name}", path=where
                )
            else:
                if name in self.non_filterable:
                    raise ValidationException(
                        f"Invalid query filter: metadata key '{name}' is non-filterable on this index",
                        path=where,
                    )
                if isinstance(condition, Mapping):
                    if not condition:
                        raise ValidationException(
                            f"Invalid query filter at {where}: expected an operator", path=where
                        )
                    clauses.extend(
                        self._leaf(name, op, value, f"{where}.{op}") for op, value in condition.items()
                    )
                else:
                    clauses.append(self._leaf(name, "$eq", condition, where))
        return _all(clauses)

    def _leaf(self, name: str, op: str, value: Any, where: str) -> Predicate:
        self.constraints += 1
        if op in ENHANCED_ONLY_OPERATORS and not self.enhanced:
            raise ValidationException(
                f"Invalid query filter at {where}: {op} is supported only on an index in ENHANCED mode",
                path=where,
            )
        if op not in CLASSIC_OPERATORS and op not in ENHANCED_ONLY_OPERATORS:
            raise ValidationException(f"Invalid query filter at {where}: unknown operator {op}", path=where)
        if op in ("$eq", "$ne"):
            _require(_kind(value) is not None, where, "a string, number or boolean")
            if op == "$eq":
                return lambda c: c.equal_any(name, [value])
            return lambda c: c.has(name) & ~c.equal_any(name, [value])
        if op in ("$in", "$nin"):
            ok = isinstance(value, list) and bool(value) and all(_kind(v) is not None for v in value)
            _require(ok, where, "a non-empty array of strings, numbers or booleans")
            if op == "$in":
                return lambda c: c.equal_any(name, value)
            return lambda c: c.has(name) & ~c.equal_any(name, value)
        if op == "$exists":
            _require(isinstance(value, bool), where, "a boolean")
            return (lambda c: c.has(name)) if value else (lambda c: ~c.has(name))
        if op == "$startsWith":
            _require(isinstance(value, str) and bool(value), where, "a non-empty string")
            return lambda c: c.starts_with(name, value)
        _require(_kind(value) == "n", where, "a number")
        return lambda c: c.ordered(name, op, value)


def _require(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise ValidationException(f"Invalid query filter at {where}: the value must be {what}", path=where)


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]

    def both(columns: Columns) -> Mask:
        mask = parts[0](columns)
        for part in parts[1:]:
            mask &= part(columns)
        return mask

    return both


def _any(parts: list[Predicate]) -> Predicate:
    def either(columns: Columns) -> Mask:
        mask = parts[0](columns)
        for part in parts[1:]:
            mask |= part(columns)
        return mask

    return either
