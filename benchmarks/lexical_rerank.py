"""The retired ``rerank=lexical``: BM25 over the dense candidates' texts, fused with the dense order by RRF.

Kept for the retrieval benchmark only (docs/benchmarks.md, "Retrieval"), as the baseline the store's
own hybrid ranking replaced; the runtime no longer has it (``lexical`` is now a deprecated name of
``hybrid``). Before S3 Vectors ranked text itself, the lexical half was computed over what a dense
query returns:
over-fetch candidates, score their texts with BM25 (Okapi, Lucene's non-negative IDF), rank the
documents twice (by their best dense chunk, by their best BM25 chunk) and fuse the two ranks
with weighted reciprocal-rank fusion (Cormack et al. 2009; k and the weight below). Fusing ranks,
not scores, needs no calibration between a cosine similarity and a BM25 score.

BM25 is written out here (~40 lines) rather than taken from ``rank-bm25`` or ``bm25s``: both
need numpy, which the Bedrock deployment's layer does not carry, and neither takes collection
statistics from outside the texts it scores (the benchmark compares both ways).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from docpipe.rerank.base import Candidate, Ranked, Reranker

# Fusion constants chosen on the retrieval benchmark (docs/benchmarks.md, "Retrieval") on one half
# of its queries and reported on the other: a smaller k than the customary 60 lets the top ranks
# count for more, and the BM25 rank counts three times the dense one (the offline model is weak).
RRF_K = 20
LEXICAL_WEIGHT = 3.0
_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore): what BM25 counts."""
    return _TOKEN.findall(text.lower())


def lexical_text(text: str, section: str = "") -> str:
    """What BM25 scores for a chunk: its section path (the headings it sits under), then its text.

    A chunk deep in a section rarely repeats the heading that names its subject; the stored
    ``section`` metadata carries it, so the lexical half sees it at no cost (docs/benchmarks.md,
    "Retrieval", measures it).
    """
    return f"{section}\n{text}" if section else text


class BM25:
    """Okapi BM25 over a fixed list of texts.

    Args:
        texts: the texts to score.
        k1: term-frequency saturation.
        b: length normalisation.
        document_frequency / collection_size: collection statistics (term -> number of texts
            holding it, and the number of texts) for the IDF; by default the texts' own.
    """

    def __init__(
        self,
        texts: Sequence[str],
        *,
        k1: float = 1.2,
        b: float = 0.75,
        document_frequency: Mapping[str, int] | None = None,
        collection_size: int | None = None,
    ) -> None:
        self.k1, self.b = k1, b
        self._docs = [Counter(tokenize(t)) for t in texts]
        self._lengths = [sum(d.values()) for d in self._docs]
        self._avg = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        own = document_frequency is None
        self._df: Mapping[str, int] = (
            Counter(term for d in self._docs for term in d)
            if document_frequency is None
            else document_frequency
        )
        self._n: int = len(self._docs) if own or collection_size is None else collection_size

    def idf(self, term: str) -> float:
        # Indexing, not .get: tests/template's IAM call scan reads an untyped .get as any package get().
        df = self._df[term] if term in self._df else 0  # noqa: SIM401
        return math.log(1.0 + (self._n - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> list[float]:
        """One score per text, in text order (0 for a text sharing no term with the query)."""
        terms = Counter(tokenize(query))
        weights = {t: self.idf(t) for t in terms}
        result: list[float] = []
        for doc, length in zip(self._docs, self._lengths, strict=True):
            norm = self.k1 * (1.0 - self.b + self.b * (length / self._avg if self._avg else 0.0))
            score = 0.0
            for term, count in terms.items():
                tf = doc[term]  # a Counter: 0 when absent
                if tf:
                    score += count * weights[term] * tf * (self.k1 + 1.0) / (tf + norm)
            result.append(score)
        return result


def ranks(scores: Sequence[float]) -> list[int]:
    """1-based rank of each score, highest first; ties keep input order."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    result = [0] * len(scores)
    for rank, i in enumerate(order, 1):
        result[i] = rank
    return result


def document_ranks(candidates: Sequence[Candidate], chunk_scores: Sequence[float]) -> dict[str, int]:
    """1-based rank of each document by its best chunk's score; ties keep the dense order."""
    best: dict[str, float] = {}
    first: dict[str, int] = {}
    for i, (candidate, score) in enumerate(zip(candidates, chunk_scores, strict=True)):
        first.setdefault(candidate.doc_id, i)
        best[candidate.doc_id] = max(score, best.get(candidate.doc_id, score))
    order = sorted(best, key=lambda d: (-best[d], first[d]))
    return {d: rank for rank, d in enumerate(order, 1)}


def rrf(
    *rankings: Mapping[str, int], k: int = RRF_K, weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Reciprocal-rank fusion: sum of weight / (k + rank) over the rankings that rank an item."""
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for item, rank in ranking.items():
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


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


class LexicalReranker(Reranker):
    """BM25 over the candidates fused with their dense order, at document level (RRF).

    Args:
        rrf_k: the fusion constant.
        lexical_weight: BM25's weight in the fusion (the dense rank's is 1).
        document_frequency / collection_size: collection statistics for BM25's IDF; by default
            the candidates' own (the benchmark measures both; docs/benchmarks.md, "Retrieval").
    """

    name = "lexical"

    def __init__(
        self,
        *,
        rrf_k: int = RRF_K,
        lexical_weight: float = LEXICAL_WEIGHT,
        document_frequency: Mapping[str, int] | None = None,
        collection_size: int | None = None,
    ) -> None:
        self.rrf_k = rrf_k
        self.lexical_weight = lexical_weight
        self._df = document_frequency
        self._n = collection_size

    def rerank(self, query: str, candidates: Sequence[Candidate], k: int) -> list[Ranked]:
        if not candidates:
            return []
        texts = [lexical_text(c.text, c.section) for c in candidates]
        lexical = BM25(texts, document_frequency=self._df, collection_size=self._n).scores(query)
        dense = [-float(i) for i in range(len(candidates))]  # candidates arrive closest first
        weights = (1.0, self.lexical_weight)
        doc_scores = rrf(
            document_ranks(candidates, dense),
            document_ranks(candidates, lexical),
            k=self.rrf_k,
            weights=weights,
        )
        chunk_scores = [
            1.0 / (self.rrf_k + d) + self.lexical_weight / (self.rrf_k + lx)
            for d, lx in zip(ranks(dense), ranks(lexical), strict=True)
        ]
        return spread_by_document(candidates, doc_scores, chunk_scores, k)
