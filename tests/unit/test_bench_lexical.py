"""The retired lexical rerank, the benchmark's baseline: BM25 and reciprocal-rank fusion, checked by hand."""

from __future__ import annotations

import math

import pytest

from benchmarks.lexical_rerank import (
    BM25,
    LEXICAL_WEIGHT,
    RRF_K,
    LexicalReranker,
    document_ranks,
    lexical_text,
    ranks,
    rrf,
    tokenize,
)
from docpipe.rerank import Candidate


def candidates(*specs: tuple[str, str]) -> list[Candidate]:
    """(vector key, text) in dense order; the document is the key before '#'."""
    return [Candidate(key, key.split("#")[0], text, 1.0 - i / 10) for i, (key, text) in enumerate(specs)]


def test_tokens_are_lower_cased_words() -> None:
    assert tokenize("Hello, WORLD_1 don't") == ["hello", "world_1", "don", "t"]


def test_bm25_scores_a_tiny_collection_as_computed_by_hand() -> None:
    # N = 3, df(c) = 1: idf = ln(1 + 2.5 / 1.5); lengths 2, 3, 1 (mean 2); k1 = 1.2, b = 0.75.
    # "a c c": tf = 2, norm = 1.2 * (0.25 + 0.75 * 3 / 2) = 1.65, score = idf * 2 * 2.2 / 3.65.
    bm25 = BM25(["a b", "a c c", "d"])

    scores = bm25.scores("c")

    assert bm25.idf("c") == pytest.approx(math.log(1 + 2.5 / 1.5))
    assert scores == pytest.approx([0.0, math.log(1 + 2.5 / 1.5) * 4.4 / 3.65, 0.0])
    assert scores[1] == pytest.approx(1.182370, abs=1e-6)


def test_bm25_gives_a_rarer_term_more_weight_and_a_longer_text_less() -> None:
    bm25 = BM25(["apple banana", "apple cherry", "apple banana banana banana banana cherry"])

    by_rare = bm25.scores("cherry")
    by_common = bm25.scores("apple")

    assert by_rare[1] > by_rare[2] > 0  # same tf, longer text scores lower
    assert max(by_common) < max(by_rare)  # "apple" is in every text: small idf


def test_bm25_uses_collection_statistics_when_given() -> None:
    own = BM25(["zebra", "horse"]).idf("zebra")
    collection = BM25(["zebra", "horse"], document_frequency={"zebra": 900}, collection_size=1000).idf(
        "zebra"
    )

    assert collection < own  # common in the collection, rare among the candidates


def test_ranks_are_one_based_and_ties_keep_input_order() -> None:
    assert ranks([0.5, 2.0, 0.5, 1.0]) == [3, 1, 4, 2]


def test_reciprocal_rank_fusion_sums_one_over_k_plus_rank() -> None:
    fused = rrf({"x": 1, "y": 2}, {"y": 1, "z": 2}, k=60)

    assert fused == pytest.approx({"x": 1 / 61, "y": 1 / 62 + 1 / 61, "z": 1 / 62})
    assert sorted(fused, key=lambda item: -fused[item]) == ["y", "x", "z"]


def test_document_ranks_take_each_documents_best_chunk() -> None:
    pool = candidates(("A#0", ""), ("B#0", ""), ("A#1", ""))

    assert document_ranks(pool, [0.1, 0.5, 0.9]) == {"A": 1, "B": 2}


def test_lexical_rerank_lifts_the_document_bm25_finds() -> None:
    # Dense ranks A1 B2 C3 D4; BM25 ranks D1 (only it has "zebra"), then A2 B3 C4 (ties: dense order).
    # RRF (k 60): A 1/61+1/62 = .03252, D 1/64+1/61 = .03202, B 1/62+1/63 = .03200, C 1/63+1/64 = .03150.
    pool = candidates(("A#0", "alpha"), ("B#0", "beta"), ("C#0", "gamma"), ("D#0", "zebra stripes"))

    ranked = LexicalReranker(rrf_k=60, lexical_weight=1.0).rerank("zebra", pool, 4)

    assert [pool[r.index].doc_id for r in ranked] == ["A", "D", "B", "C"]
    assert ranked[1].score == pytest.approx(1 / 64 + 1 / 61)


def test_lexical_weight_lets_bm25_outvote_the_dense_rank() -> None:
    # Weight 3, k 60: D = 1/64 + 3/61 = .064805 now beats A = 1/61 + 3/62 = .064781.
    pool = candidates(("A#0", "alpha"), ("B#0", "beta"), ("C#0", "gamma"), ("D#0", "zebra stripes"))

    ranked = LexicalReranker(rrf_k=60, lexical_weight=3.0).rerank("zebra", pool, 4)

    assert [pool[r.index].doc_id for r in ranked][:2] == ["D", "A"]
    assert ranked[0].score == pytest.approx(1 / 64 + 3 / 61)


def test_lexical_rerank_scores_a_chunks_section_path_with_its_text() -> None:
    # Only D's section names "zebra"; its text does not. Default fusion (k 20, BM25 weight 3):
    # D = 1/24 + 3/21 = .18452 beats A = 1/21 + 3/22 = .18398 (A, B, C tie in BM25 at 0: dense order).
    pool = candidates(("A#0", "alpha"), ("B#0", "beta"), ("C#0", "gamma"))
    pool.append(Candidate("D#0", "D", "stripes and hooves", 0.6, section="Animals > Zebra"))

    ranked = LexicalReranker().rerank("zebra", pool, 4)

    assert (RRF_K, LEXICAL_WEIGHT) == (20, 3.0)
    assert [pool[r.index].doc_id for r in ranked][:2] == ["D", "A"]
    assert ranked[0].score == pytest.approx(1 / 24 + 3 / 21)
    assert lexical_text("stripes", "Animals > Zebra") == "Animals > Zebra\nstripes"
    assert lexical_text("stripes") == "stripes"


def test_lexical_rerank_gives_each_document_one_chunk_before_any_second() -> None:
    pool = candidates(("A#0", "alpha"), ("A#1", "alpha"), ("A#2", "alpha"), ("B#0", "beta"))

    ranked = LexicalReranker().rerank("alpha", pool, 3)

    assert [pool[r.index].key for r in ranked] == ["A#0", "B#0", "A#1"]
