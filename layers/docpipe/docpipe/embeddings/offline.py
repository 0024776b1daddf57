"""Offline embeddings with wordllama: the model ships inside the wheel and loads with no network.

``WordLlama.load()`` looks for the tokenizer under ``wordllama/tokenizer/`` while the wheel ships
it in ``wordllama/tokenizers/``, so it falls through to a Hugging Face download. We skip the
resolver and read the two bundled files directly.

A wordllama embedding is the mean of the text's token vectors. ``WordLlamaInference.embed`` pads
each batch to its longest text and multiplies by the attention mask; summing each text's own
token rows gives the same numbers (tests/unit/test_embeddings.py compares the two) in 40% of the
time and without the batch x tokens x 256 temporary. ``wordllama.inference`` is not imported at
all: it costs ~0.3 s of a cold start and calls ``logging.basicConfig``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docpipe.config import DIMENSIONS_BY_PROVIDER
from docpipe.embeddings.base import Embedder
from docpipe.exceptions import ConfigError

MODEL_CONFIG = "l2_supercat"
WEIGHTS_FILE = "weights/l2_supercat_256.safetensors"
TOKENIZER_FILE = "tokenizers/l2_supercat_tokenizer_config.json"
TENSOR_KEY = "embedding.weight"
FULL_DIMENSION = 256
DIMENSIONS: tuple[int, ...] = DIMENSIONS_BY_PROVIDER["offline"]  # matryoshka prefixes of 256

_lock = threading.Lock()
_model: OfflineModel | None = None  # one per process, shared by every OfflineEmbedder


@dataclass(frozen=True)
class OfflineModel:
    """The bundled model: a token embedding matrix (float32) and its tokenizer (no padding)."""

    embedding: Any  # numpy.ndarray, vocabulary x FULL_DIMENSION
    tokenizer: Any  # tokenizers.Tokenizer

    def embed(self, texts: Sequence[str]) -> Any:
        """Mean token vector of each text, unnormalised (numpy, len(texts) x FULL_DIMENSION)."""
        import numpy as np

        table = self.embedding
        last_id = table.shape[0] - 1
        vectors = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
        for row, encoding in enumerate(self.tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            ids = np.asarray(encoding.ids, dtype=np.intp)
            if ids.size:
                np.minimum(ids, last_id, out=ids)  # as wordllama clamps ids beyond the table
                vectors[row] = table[ids].sum(axis=0, dtype=np.float32) / np.float32(ids.size)
        return vectors


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


def load_model() -> OfflineModel:
    """Load the bundled model once per process (thread-safe); later calls return the same one."""
    global _model
    if _model is not None:
        return _model
    with _lock:
        if _model is None:
            _model = _build_model()
    return _model


def _build_model() -> OfflineModel:
    weights, tokenizer_file = bundled_files()
    for path in (weights, tokenizer_file):
        if not path.is_file():
            raise ConfigError(f"wordllama is installed without its bundled file {path}")
    import numpy as np
    from safetensors import safe_open
    from tokenizers import Tokenizer

    with safe_open(str(weights), framework="np", device="cpu") as f:
        embedding = np.ascontiguousarray(f.get_tensor(TENSOR_KEY), dtype=np.float32)  # stored float16
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return OfflineModel(embedding, tokenizer)


class OfflineEmbedder(Embedder):
    """wordllama ``l2_supercat`` (256 dimensions, trained matryoshka-style).

    Smaller dimensions are prefixes of the 256-dimensional vector, re-normalised, which is how the
    model was trained to be truncated. Good enough for local runs and tests; not a Titan substitute.
    """

    provider = "offline"

    def __init__(self, *, dimension: int = 256, normalize: bool = True) -> None:
        if dimension not in DIMENSIONS:
            raise ConfigError(
                f"EMBEDDING_DIMENSION={dimension} is not produced by the offline provider; "
                f"allowed: {', '.join(map(str, DIMENSIONS))}"
            )
        self.model_id = f"wordllama/{MODEL_CONFIG}"
        self.dimension = dimension
        self.normalize = normalize

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` with numpy (no network, no threads needed)."""
        if not texts:
            return []
        import numpy as np

        vectors = np.ascontiguousarray(load_model().embed(texts)[:, : self.dimension])
        if self.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)  # all-unknown: zero
        # S3 Vectors stores float32: each value as the shortest decimal that is the same float32
        # (orjson's numpy output) keeps the PutVectors body ~45% smaller than float64 repr does.
        import orjson

        result: list[list[float]] = orjson.loads(orjson.dumps(vectors, option=orjson.OPT_SERIALIZE_NUMPY))
        if result:
            self._check_dimension(result[0])
        return result
