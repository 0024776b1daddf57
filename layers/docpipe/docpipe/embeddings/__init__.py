"""Embedding providers behind one interface; ``make_embedder`` picks one from settings."""

from __future__ import annotations

from typing import Any

from docpipe.config import EMBEDDING_MODEL_ID, Settings
from docpipe.embeddings.base import Embedder
from docpipe.exceptions import ConfigError

__all__ = ["Embedder", "make_embedder"]

_TITAN_V2 = "amazon.titan-embed-text-v2"


def make_embedder(settings: Settings, *, bedrock_client: Any = None) -> Embedder:
    """Build the configured embedder; called once per cold start.

    Provider modules are imported here, not at package import: the offline one pulls in numpy
    and tokenizers, which a Bedrock deployment neither ships nor pays for.

    Args:
        settings: provider, model id, dimension, normalisation, concurrency.
        bedrock_client: a ``bedrock-runtime`` client (tests pass a stubbed one); the cached
            process-wide client by default.

    The dimension is the provider's by construction: ``Settings`` (``config.DIMENSIONS_BY_PROVIDER``,
    the one owner of that rule) refuses any other at cold start.

    Raises:
        ConfigError: the model id does not belong to the provider, so the mismatch fails at cold
            start and not per document.
    """
    if settings.embedding_provider == "bedrock":
        if _TITAN_V2 not in settings.embedding_model_id:
            raise ConfigError(
                f"{EMBEDDING_MODEL_ID}={settings.embedding_model_id!r} is not supported; the bedrock "
                f"provider speaks Titan Text Embeddings V2 ({_TITAN_V2}:0)"
            )
        from docpipe.embeddings.bedrock import BedrockEmbedder

        if bedrock_client is None:
            from docpipe.aws import client

            bedrock_client = client("bedrock-runtime")
        return BedrockEmbedder(
            bedrock_client,
            model_id=settings.embedding_model_id,
            dimension=settings.embedding_dimension,
            normalize=settings.embedding_normalize,
            concurrency=settings.embedding_concurrency,
        )
    if settings.embedding_provider == "offline":
        from docpipe.embeddings.offline import OfflineEmbedder

        return OfflineEmbedder(dimension=settings.embedding_dimension, normalize=settings.embedding_normalize)
    raise ConfigError(f"unknown embedding provider {settings.embedding_provider!r}")
