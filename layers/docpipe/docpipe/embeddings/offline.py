"""Offline embeddings with wordllama: the model ships inside the wheel and loads with no network.

``WordLlama.load()`` looks for the tokenizer under ``wordllama/tokenizer/`` while the wheel ships
it in ``wordllama/tokenizers/``, so it falls through to a Hugging Face download. We skip the
resolver and build ``WordLlamaInference`` from the two bundled files directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docpipe.embeddings.base import Embedder
from docpipe.exceptions import ConfigError

MODEL_CONFIG = "l2_supercat"
WEIGHTS_FILE = "weights/l2_supercat_256.safetensors"
TOKENIZER_FILE = "tokenizers/l2_supercat_tokenizer_config.json"
TENSOR_KEY = "embedding.weight"
FULL_DIMENSION = 256
DIMENSIONS: tuple[int, ...] = (64, 128, 256)

_lock = threading.Lock()
_model: Any = None  # one WordLlamaInference per process, shared by every OfflineEmbedder


def bundled_files() -> tuple[Path, Path]:
    """Paths of the weights and tokenizer inside the installed wordllama package."""
    import importlib.util

    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "EMBEDDING_PROVIDER=offline needs the wordllama package (pip install 'docpipe[offline]'; "
            "on AWS, the OfflineEmbeddings layer)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / WEIGHTS_FILE, root / TOKENIZER_FILE


def load_model() -> Any:
    """Load the bundled model once per process (thread-safe); later calls return the same one."""
    global _model
    if _model is not None:
        return _model
    with _lock:
        if _model is None:
            _model = _build_model()
    return _model


def _build_model() -> Any:
    weights, tokenizer_file = bundled_files()
    for path in (weights, tokenizer_file):
        if not path.is_file():
            raise ConfigError(f"wordllama is installed without its bundled file {path}")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference

    # wordllama calls logging.basicConfig(level=INFO) on import; undo it so the host's logging
    # (Powertools in Lambda, pytest locally) is not changed behind its back.
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)

    with safe_open(str(weights), framework="np", device="cpu") as f:
        embedding = f.get_tensor(TENSOR_KEY)
    return WordLlamaInference(embedding, Tokenizer.from_file(str(tokenizer_file)))


class OfflineEmbedder(Embedder):
    """wordllama ``l2_supercat`` (256 dimensions, trained matryoshka-style).

    Smaller dimensions are prefixes of the 256-dimensional vector, re-normalised, which is how the
    model was trained to be truncated. Good enough for local runs and tests; not a Titan substitute.
    """

    provider = "offline"

    def __init__(self, *, dimension: int = 256, normalize: bool = True, batch_size: int = 16) -> None:
        if dimension not in DIMENSIONS:
            raise ConfigError(
                f"EMBEDDING_DIMENSION={dimension} is not produced by the offline provider; "
                f"allowed: {', '.join(map(str, DIMENSIONS))}"
            )
        self.model_id = f"wordllama/{MODEL_CONFIG}"
        self.dimension = dimension
        self.normalize = normalize
        # wordllama pads each batch to its longest text, so memory grows with batch x tokens x 256;
        # 16 keeps the 117-page book ~65 MB lower at peak than 64, for ~10% less throughput.
        self.batch_size = batch_size

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` in one batched numpy pass (no network, no threads needed)."""
        if not texts:
            return []
        import numpy as np

        model = load_model()
        vectors = model.embed(list(texts), norm=False, return_np=True, batch_size=self.batch_size)
        vectors = np.ascontiguousarray(vectors[:, : self.dimension], dtype=np.float32)
        if self.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.where(norms == 0, 1.0, norms)  # an all-unknown text stays zero
        result: list[list[float]] = vectors.tolist()
        if result:
            self._check_dimension(result[0])
        return result
