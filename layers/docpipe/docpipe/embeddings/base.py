"""The one interface every embedding provider implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from docpipe.exceptions import IndexMismatchError


class Embedder(ABC):
    """Turns texts into vectors of a fixed ``dimension``; order of outputs matches inputs."""

    provider: str
    model_id: str
    dimension: int

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed chunks for storage, one vector per text, in input order."""

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query (same space as documents for both providers)."""
        return self.embed_documents([text])[0]

    def _check_dimension(self, vector: Sequence[float]) -> None:
        # The index was created for ``dimension``; a vector of another size would be rejected
        # by PutVectors for the whole batch, so name the cause here.
        if len(vector) != self.dimension:
            raise IndexMismatchError(
                f"{self.provider} model {self.model_id!r} returned a {len(vector)}-dimensional vector; "
                f"the index expects {self.dimension} (EMBEDDING_DIMENSION)"
            )
