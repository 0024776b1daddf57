"""The in-memory search structures of one vector index and the QueryVectors ranking over them.

``IndexState`` keeps the vectors as one float32 matrix (unit rows for ``cosine``), updated in place
on every PutVectors / DeleteVectors, and the metadata row for row; the filter columns
(``filters.Columns``) and a BM25 index per searchable key (``text``) take the same writes
incrementally. A query never re-reads the index: it is one matrix-vector product, a few numpy
masks, a partial sort and, for text, one BM25 search per key.

Ranking, as the service documents it (Amazon S3 User Guide, "Querying with full-text and vector
search"): a ``queryVector`` alone ranks by distance (exact here: every vector that passes the
filter is scored); ``queryTexts`` alone rank by BM25; both run a vector search and a full-text
search per query text, each its own ranked list of ``topK``, and fuse them with Reciprocal Rank
Fusion, score = sum over lists of 1 / (``RRF_K`` + rank), ranks from 1. Where the documentation is
silent the emulator chooses, and docs/local.md says so: several query texts without a vector rank
by the sum of their BM25 scores; ties keep the index's order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from docpipe_cli.local.s3vectors.filters import Columns, CompiledFilter
from docpipe_cli.local.s3vectors.text import TextIndex

RRF_K = 60  # the rank constant of Reciprocal Rank Fusion (Cormack et al.), the customary value
_GROWTH = 1024


@dataclass(frozen=True)
class TextQuery:
    key: str
    text: str
    language: str | None


@dataclass(frozen=True)
class Hit:
    """One ranked result: the slot, and what ``returnDistance`` / ``returnScores`` may report."""

    row: int
    key: str
    metadata: dict[str, Any]
    distance: float | None = None
    fused: float | None = None
    bm25: tuple[tuple[str, float], ...] = ()
    vector_rank: int | None = None


@dataclass
class IndexState:
    """Vectors, metadata and derived search structures of one index."""

    dimension: int
    metric: str
    _keys: list[str | None] = field(default_factory=list)
    _slots: dict[str, int] = field(default_factory=dict)
    _free: list[int] = field(default_factory=list)
    _metadata: list[dict[str, Any] | None] = field(default_factory=list)
    _alive: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    _matrix: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    _columns: Columns = field(default_factory=Columns)
    _text: dict[tuple[str, str | None], TextIndex] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._matrix = np.zeros((0, self.dimension), dtype=np.float32)

    # -- writes ---------------------------------------------------------------------------------

    def put(self, vectors: Iterable[Mapping[str, Any]]) -> None:
        """Insert or overwrite vectors (``{"key", "data": {"float32": [...]}, "metadata"}``)."""
        with self._lock:
            touched: list[int] = []
            for vector in vectors:
                key = str(vector["key"])
                row = self._slots.get(key)
                if row is None:
                    row = self._allocate()
                    self._slots[key] = row
                    self._keys[row] = key
                old = self._metadata[row]
                if old:
                    self._columns.remove(row, old)
                data = np.asarray(vector["data"]["float32"], dtype=np.float32)
                if self.metric == "cosine":
                    norm = float(np.linalg.norm(data))
                    data = data / norm if norm else data
                self._matrix[row] = data
                self._metadata[row] = dict(vector.get("metadata") or {})
                self._columns.add(row, self._metadata[row] or {})
                self._alive[row] = True
                touched.append(row)
            for (name, _), text in self._text.items():
                text.set((row, (self._metadata[row] or {}).get(name)) for row in touched)

    def delete(self, keys: Iterable[str]) -> None:
        with self._lock:
            removed: list[int] = []
            for key in keys:
                row = self._slots.pop(key, None)
                if row is None:
                    continue
                self._keys[row] = None
                self._columns.remove(row, self._metadata[row] or {})
                self._metadata[row] = None
                self._alive[row] = False
                self._matrix[row] = 0.0
                self._free.append(row)
                removed.append(row)
            for text in self._text.values():
                text.remove(removed)

    def _allocate(self) -> int:
        if self._free:
            return self._free.pop()
        row = len(self._keys)
        if row >= self._matrix.shape[0]:
            grow = max(_GROWTH, self._matrix.shape[0])
            self._matrix = np.vstack([self._matrix, np.zeros((grow, self.dimension), dtype=np.float32)])
            self._alive = np.concatenate([self._alive, np.zeros(grow, dtype=bool)])
        self._keys.append(None)
        self._metadata.append(None)
        return row

    # -- derived structures ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def rows(self) -> int:
        return len(self._keys)

    def columns(self) -> Columns:
        self._columns.size = self.rows
        return self._columns

    def text_index(self, key: str, language: str | None) -> TextIndex:
        """The BM25 index of ``key``: built from the rows when first asked for (CreateIndex and
        UpdateMetadataConfiguration ask), then kept up to date by every write."""
        with self._lock:
            found = self._text.get((key, language))
            if found is None:
                found = TextIndex(language)
                found.set((row, md.get(key)) for row, md in enumerate(self._metadata) if md)
                self._text[(key, language)] = found
            return found

    def drop_text_index(self, key: str) -> None:
        with self._lock:
            for cached in [k for k in self._text if k[0] == key]:
                del self._text[cached]

    def distances(self, query: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Distance of every slot to ``query`` (cosine: 1 - similarity; euclidean: L2)."""
        matrix = self._matrix[: self.rows]
        # einsum, not matmul: a matrix-vector product is too small to gain from BLAS threads, and on a
        # busy machine their contention made it ten times slower (docs/benchmarks.md, Local S3 Vectors).
        if self.metric == "cosine":
            norm = float(np.linalg.norm(query))
            unit = query / norm if norm else query
            return np.asarray(1.0 - np.einsum("ij,j->i", matrix, unit), dtype=np.float32)
        diff = matrix - query
        return np.asarray(np.sqrt(np.einsum("ij,ij->i", diff, diff)), dtype=np.float32)

    # -- query ----------------------------------------------------------------------------------

    def query(
        self,
        *,
        top_k: int,
        vector: Sequence[float] | None,
        texts: Sequence[TextQuery],
        filter: CompiledFilter | None,
    ) -> list[Hit]:
        """The ``top_k`` best rows, best first (see the module docstring for the ranking)."""
        with self._lock:
            size = self.rows
            mask = self._alive[:size].copy()
            if filter is not None:
                mask &= filter.mask(self.columns())
            distances = None
            vector_ranked: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
            if vector is not None:
                distances = self.distances(np.asarray(vector, dtype=np.float32))
                vector_ranked = _top(np.where(mask, -distances, -np.inf), mask, top_k)
            if not texts:
                assert distances is not None
                return [self._hit(int(r), distance=float(distances[r])) for r in vector_ranked]
            indexes = [(q, self.text_index(q.key, q.language)) for q in texts]
            if vector is None and len(texts) == 1:
                ((query, index),) = indexes
                rows, scores = index.ranked(query.text, mask, top_k)
                return [
                    self._hit(int(r), bm25=((query.key, float(s)),))
                    for r, s in zip(rows, scores, strict=True)
                ]
            if vector is None:  # several keys: ranked by the sum of their BM25 scores
                per_key = [(q.key, index.scores(q.text, size)) for q, index in indexes]
                total = np.sum([scores for _, scores in per_key], axis=0)
                matched = mask & (total > 0)
                ranked = _top(np.where(matched, total, -np.inf), matched, top_k)
                return [
                    self._hit(int(r), bm25=tuple((k, float(s[r])) for k, s in per_key if s[r] > 0))
                    for r in ranked
                ]
            assert distances is not None
            fused = np.zeros(size, dtype=np.float64)
            vector_rank = {int(r): i + 1 for i, r in enumerate(vector_ranked)}
            fused[vector_ranked] += 1.0 / (RRF_K + np.arange(1, len(vector_ranked) + 1))
            bm25: dict[int, list[tuple[str, float]]] = {}
            for query, index in indexes:
                rows, scores = index.ranked(query.text, mask, top_k)
                fused[rows] += 1.0 / (RRF_K + np.arange(1, len(rows) + 1))
                for r, score in zip(rows.tolist(), scores.tolist(), strict=True):
                    bm25.setdefault(r, []).append((query.key, score))
            in_any = fused > 0
            ranked = _top(np.where(in_any, fused, -np.inf), in_any, top_k)
            return [
                self._hit(
                    int(r),
                    distance=float(distances[r]),
                    fused=float(fused[r]),
                    bm25=tuple(bm25.get(int(r), ())),
                    vector_rank=vector_rank.get(int(r)),
                )
                for r in ranked
            ]

    def _hit(self, row: int, **scores: Any) -> Hit:
        key = self._keys[row]
        assert key is not None
        return Hit(row=row, key=key, metadata=dict(self._metadata[row] or {}), **scores)


def _top(score: npt.NDArray[Any], eligible: npt.NDArray[np.bool_], k: int) -> npt.NDArray[np.int64]:
    """Indices of the ``k`` highest ``score`` among ``eligible`` rows, best first (ties: lower row first)."""
    count = min(k, int(eligible.sum()))
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    # Ineligible rows score -inf, so the ``count`` best all are eligible.
    part = np.argpartition(-score, count - 1)[:count] if count < len(score) else np.arange(len(score))
    part = part[eligible[part]]
    order = np.lexsort((part, -score[part]))
    return np.asarray(part[order][:count], dtype=np.int64)
