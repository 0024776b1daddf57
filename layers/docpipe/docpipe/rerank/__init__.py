"""Rerankers behind one interface; ``make_reranker`` picks one for a request's ``rerank`` mode.

Only ``bedrock`` reranks in docpipe: ``hybrid``, ``text`` and ``none`` are rankings the store
computes itself (QueryVectors), so they have no reranker.
"""

from __future__ import annotations

from typing import Any

from docpipe.config import RERANK_MODES, Settings
from docpipe.rerank.base import Candidate, Ranked, Reranker

__all__ = ["RERANK_MODES", "Candidate", "Ranked", "Reranker", "make_reranker"]


def make_reranker(mode: str, settings: Settings, *, bedrock_agent_client: Any = None) -> Reranker | None:
    """The reranker for ``mode`` (None where the store's own order stands).

    Args:
        mode: one of ``RERANK_MODES`` (the request parser has checked it, and that ``bedrock``
            is enabled).
        settings: the rerank model id.
        bedrock_agent_client: a ``bedrock-agent-runtime`` client; the cached process-wide one by
            default, built only when Bedrock reranking is asked for.
    """
    if mode in ("hybrid", "text", "none"):
        return None
    if mode == "bedrock":
        from docpipe.rerank.bedrock import BedrockReranker

        if bedrock_agent_client is None:
            from docpipe.aws import client

            bedrock_agent_client = client("bedrock-agent-runtime")
        return BedrockReranker(bedrock_agent_client, model_id=settings.rerank_model_id)
    raise ValueError(f"unknown rerank mode {mode!r}; allowed: {', '.join(RERANK_MODES)}")
