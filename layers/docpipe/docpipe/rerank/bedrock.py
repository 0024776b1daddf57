"""Amazon Bedrock reranking: the Rerank API (bedrock-agent-runtime) over the store's hybrid candidates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from docpipe.aws import translate_client_error
from docpipe.rerank.base import Candidate, Ranked, Reranker

# Rerank takes up to 1000 sources; Bedrock bills a query per 100 of them (docs/search.md, "Cost per query").
MAX_SOURCES = 1000


class BedrockReranker(Reranker):
    """One Rerank call per search, every candidate inline as text.

    Args:
        client: a ``bedrock-agent-runtime`` client (tests pass one wrapped in botocore's Stubber).
        model_id: a reranking model, e.g. ``amazon.rerank-v1:0`` (the ARN is built from the
            client's region, as the template's IAM grant is).
    """

    name = "bedrock"

    def __init__(self, client: Any, *, model_id: str) -> None:
        self._client = client
        self.model_id = model_id

    @property
    def model_arn(self) -> str:
        region = self._client.meta.region_name
        partition = self._client.meta.partition
        return f"arn:{partition}:bedrock:{region}::foundation-model/{self.model_id}"

    def rerank(self, query: str, candidates: Sequence[Candidate], k: int) -> list[Ranked]:
        if not candidates:
            return []
        pool = candidates[:MAX_SOURCES]
        try:
            response: dict[str, Any] = self._client.rerank(
                queries=[{"type": "TEXT", "textQuery": {"text": query}}],
                sources=[
                    {
                        "type": "INLINE",
                        "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": c.text}},
                    }
                    for c in pool
                ],
                rerankingConfiguration={
                    "type": "BEDROCK_RERANKING_MODEL",
                    "bedrockRerankingConfiguration": {
                        "numberOfResults": len(pool),
                        "modelConfiguration": {"modelArn": self.model_arn},
                    },
                },
            )
        except (ClientError, BotoCoreError) as error:
            translate_client_error(error, f"bedrock rerank:{self.model_id}")
        relevance = [0.0] * len(pool)  # a source the model left out ranks last
        for result in response.get("results", []):
            relevance[int(result["index"])] = float(result["relevanceScore"])
        order = sorted(range(len(pool)), key=lambda i: (-relevance[i], i))
        return [Ranked(i, relevance[i]) for i in order[:k]]
