"""The one interface every reranker implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """One candidate to rerank: its vector key, document, chunk text, the store's score, section path."""

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
    """Reorders the store's candidates (given best first) and keeps the best ``k``."""

    name: str

    @abstractmethod
    def rerank(self, query: str, candidates: Sequence[Candidate], k: int) -> list[Ranked]:
        """The best ``k`` candidates, best first by the reranker's score (ties keep the store's order)."""
