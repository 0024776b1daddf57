"""The one interface every reranker implements, and the document-level ordering they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """One dense match to rerank: its vector key, document, chunk text, dense similarity, section path."""

    key: str
    doc_id: str
    text: str
    similarity: float
    section: str = ""


@dataclass(frozen=True)
class Ranked:
    """A candidate's place after reranking: its index in the candidate list and the reranker's score."""

    index: int
    score: float


class Reranker(ABC):
    """Reorders dense candidates (given closest first) and keeps the best ``k``."""

    name: str

    @abstractmethod
    def rerank(self, query: str, candidates: Sequence[Candidate], k: int) -> list[Ranked]:
        """The best ``k`` candidates, best first, one chunk per document before any second one."""


def spread_by_document(
    candidates: Sequence[Candidate],
    doc_scores: Mapping[str, float],
    chunk_scores: Sequence[float],
    k: int,
) -> list[Ranked]:
    """Documents best first, each document's best chunk before any document's second chunk.

    Reranking is judged per document (a long document's many chunks must not crowd the list), so
    the ``k`` slots go round by round: round one takes each document's best chunk in document
    order, round two each document's second best, and so on. Ties keep the dense order. A
    chunk's reported score is its document's score: that is what placed it.

    Args:
        candidates: dense order, closest first.
        doc_scores: doc_id -> the document's score (higher is better).
        chunk_scores: one per candidate, for the order within a document (higher is better).
        k: how many to keep.
    """
    by_doc: dict[str, list[int]] = {}
    for i, candidate in enumerate(candidates):
        by_doc.setdefault(candidate.doc_id, []).append(i)
    doc_order = sorted(by_doc, key=lambda d: (-doc_scores[d], by_doc[d][0]))
    chunks = {d: sorted(by_doc[d], key=lambda i: (-chunk_scores[i], i)) for d in doc_order}
    ranked: list[Ranked] = []
    depth = 0
    while len(ranked) < k and any(depth < len(c) for c in chunks.values()):
        for d in doc_order:
            if depth < len(chunks[d]) and len(ranked) < k:
                ranked.append(Ranked(chunks[d][depth], doc_scores[d]))
        depth += 1
    return ranked
