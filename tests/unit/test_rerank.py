"""The rerankers: only Bedrock reranks in docpipe (the store ranks hybrid, text and dense itself)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from docpipe.config import Settings
from docpipe.exceptions import ThrottledError
from docpipe.rerank import Candidate, make_reranker
from docpipe.rerank.bedrock import BedrockReranker


def candidates(*specs: tuple[str, str]) -> list[Candidate]:
    """(vector key, text) in the store's order; the document is the key before '#'."""
    return [Candidate(key, key.split("#")[0], text, 1.0 - i / 10) for i, (key, text) in enumerate(specs)]


def test_the_store_ranks_every_mode_but_bedrock() -> None:
    settings = Settings()

    assert [make_reranker(mode, settings) for mode in ("hybrid", "text", "none")] == [None, None, None]
    assert isinstance(
        make_reranker("bedrock", settings, bedrock_agent_client=_stubbed_agent_runtime()[0]), BedrockReranker
    )


def _stubbed_agent_runtime() -> tuple[object, Stubber]:
    client = boto3.client("bedrock-agent-runtime", region_name="us-east-1")
    return client, Stubber(client)


def test_bedrock_rerank_sends_every_candidate_and_orders_by_relevance() -> None:
    client, stubber = _stubbed_agent_runtime()
    pool = candidates(("A#0", "first text"), ("B#0", "second text"), ("C#0", "third text"))
    stubber.add_response(
        "rerank",
        {"results": [{"index": 2, "relevanceScore": 0.9}, {"index": 0, "relevanceScore": 0.4}]},
        {
            "queries": [{"type": "TEXT", "textQuery": {"text": "which one"}}],
            "sources": [
                {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": t}}}
                for t in ("first text", "second text", "third text")
            ],
            "rerankingConfiguration": {
                "type": "BEDROCK_RERANKING_MODEL",
                "bedrockRerankingConfiguration": {
                    "numberOfResults": 3,
                    "modelConfiguration": {
                        "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.rerank-v1:0"
                    },
                },
            },
        },
    )

    with stubber:
        ranked = BedrockReranker(client, model_id="amazon.rerank-v1:0").rerank("which one", pool, 3)

    assert [pool[r.index].key for r in ranked] == ["C#0", "A#0", "B#0"]
    assert [r.score for r in ranked] == [0.9, 0.4, 0.0]  # B was left out by the model: last


def test_bedrock_rerank_throttling_is_a_transient_error() -> None:
    client, stubber = _stubbed_agent_runtime()
    stubber.add_client_error("rerank", service_error_code="ThrottlingException", http_status_code=429)

    with stubber, pytest.raises(ThrottledError, match="bedrock rerank:amazon.rerank-v1:0"):
        BedrockReranker(client, model_id="amazon.rerank-v1:0").rerank("q", candidates(("A#0", "a")), 1)
