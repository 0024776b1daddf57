"""Embedding providers: Bedrock Titan V2 through botocore's Stubber, the offline wordllama model."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from docpipe.config import Settings
from docpipe.embeddings import make_embedder
from docpipe.embeddings.bedrock import BedrockEmbedder
from docpipe.exceptions import AccessDeniedError, ConfigError, IndexMismatchError, ThrottledError
from tests.aws_faults import answer_json, fail_attempts
from tests.conftest import NO_NETWORK_PRELUDE

ROOT = Path(__file__).resolve().parents[2]
MODEL = "amazon.titan-embed-text-v2:0"


def titan_response(vector: list[float]) -> dict[str, Any]:
    raw = json.dumps({"embedding": vector, "inputTextTokenCount": 3}).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def expected_request(text: str, dimension: int = 256) -> dict[str, Any]:
    return {
        "modelId": MODEL,
        "body": json.dumps({"inputText": text, "dimensions": dimension, "normalize": True}),
        "contentType": "application/json",
        "accept": "application/json",
    }


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def no_sleep(_: float) -> None:
    return None


# --- Bedrock ---------------------------------------------------------------------------------


def test_bedrock_sends_titan_v2_body_and_returns_the_vector(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    stubber.add_response("invoke_model", titan_response([0.5] * 256), expected_request("hello"))
    embedder = BedrockEmbedder(client, model_id=MODEL, dimension=256)

    assert embedder.embed_query("hello") == [0.5] * 256


@pytest.fixture
def bedrock_http() -> Any:
    """A bedrock-runtime client with docpipe's retry policy; tests answer its HTTP attempts."""
    from docpipe import aws

    return boto3.client("bedrock-runtime", region_name="us-east-1", config=aws.CLIENT_CONFIG)


def test_bedrock_throttling_is_retried_by_the_client_then_succeeds(
    bedrock_http: Any, no_backoff: list[float]
) -> None:
    # Given Bedrock throttles two attempts, then answers (the faults sit below botocore's retries)
    answer_json(bedrock_http, "InvokeModel", {"embedding": [0.1] * 256, "inputTextTokenCount": 1})
    attempts = fail_attempts(bedrock_http, "InvokeModel", code="ThrottlingException", status=429, failures=2)
    embedder = BedrockEmbedder(bedrock_http, model_id=MODEL, dimension=256, concurrency=1)

    vectors = embedder.embed_documents(["chunk"])

    # Then botocore's retries, the one retry layer, made the third attempt succeed
    assert vectors == [[0.1] * 256]
    assert len(attempts) == 3 and len(no_backoff) == 2


def test_bedrock_gives_up_with_throttled_error_after_the_clients_attempts(
    bedrock_http: Any, no_backoff: list[float]
) -> None:
    from docpipe import aws

    attempts = fail_attempts(bedrock_http, "InvokeModel", code="ThrottlingException", status=429)
    embedder = BedrockEmbedder(bedrock_http, model_id=MODEL, dimension=256)

    with pytest.raises(ThrottledError, match="ThrottlingException"):
        embedder.embed_documents(["chunk"])

    assert len(attempts) == aws.MAX_ATTEMPTS


def test_bedrock_wrong_dimension_response_is_an_index_mismatch(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    stubber.add_response("invoke_model", titan_response([0.1] * 1024), expected_request("x"))
    embedder = BedrockEmbedder(client, model_id=MODEL, dimension=256)

    with pytest.raises(IndexMismatchError, match="1024-dimensional.*expects 256"):
        embedder.embed_documents(["x"])


def test_bedrock_access_denied_is_not_retried(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    stubber.add_client_error("invoke_model", "AccessDeniedException", http_status_code=403)
    embedder = BedrockEmbedder(client, model_id=MODEL, dimension=256)

    with pytest.raises(AccessDeniedError):
        embedder.embed_documents(["x"])


class SlowTitan:
    """A bedrock-runtime stand-in: answers after ``delay`` with a vector derived from the text."""

    def __init__(self, delay: float, dimension: int = 256) -> None:
        self.delay = delay
        self.dimension = dimension
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def invoke_model(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        with self._lock:
            self.active -= 1
        number = int(json.loads(kwargs["body"])["inputText"].split()[-1])
        return titan_response([float(number)] * self.dimension)


def test_bedrock_runs_calls_concurrently_bounded_and_in_order() -> None:
    fake = SlowTitan(delay=0.02)
    embedder = BedrockEmbedder(fake, model_id=MODEL, dimension=256, concurrency=4)
    texts = [f"chunk {i}" for i in range(24)]

    vectors = embedder.embed_documents(texts)

    assert [v[0] for v in vectors] == [float(i) for i in range(24)]
    assert fake.peak == 4


def test_make_embedder_builds_bedrock_from_settings(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    stubber.add_response(
        "invoke_model",
        titan_response([0.0] * 512),
        {"modelId": MODEL, "body": ANY, "contentType": "application/json", "accept": "application/json"},
    )
    settings = Settings(embedding_provider="bedrock", embedding_dimension=512, embedding_concurrency=3)

    embedder = make_embedder(settings, bedrock_client=client)

    assert (embedder.provider, embedder.model_id, embedder.dimension) == ("bedrock", MODEL, 512)
    assert len(embedder.embed_query("q")) == 512


@pytest.mark.parametrize(("provider", "dimension"), [("bedrock", 64), ("offline", 1024)])
def test_a_dimension_the_provider_cannot_produce_fails_at_settings(provider: str, dimension: int) -> None:
    # config.DIMENSIONS_BY_PROVIDER is the one owner of this rule: no embedder is ever built with it.
    with pytest.raises(ConfigError, match=f"EMBEDDING_DIMENSION={dimension}"):
        Settings(embedding_provider=provider, embedding_dimension=dimension)


def test_make_embedder_refuses_a_non_titan_v2_model_for_bedrock() -> None:
    settings = Settings(embedding_provider="bedrock", embedding_model_id="cohere.embed-english-v3")

    with pytest.raises(ConfigError, match="EMBEDDING_MODEL_ID"):
        make_embedder(settings, bedrock_client=object())


# --- offline (wordllama) ---------------------------------------------------------------------


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_offline_vectors_have_the_configured_dimension_and_unit_length() -> None:
    for dimension in (64, 128, 256):
        embedder = make_embedder(Settings(embedding_provider="offline", embedding_dimension=dimension))

        vectors = embedder.embed_documents(["a short sentence", "another one"])

        assert [len(v) for v in vectors] == [dimension, dimension]
        assert all(math.isclose(math.sqrt(cosine(v, v)), 1.0, rel_tol=1e-5) for v in vectors)


def test_offline_smaller_dimensions_are_prefixes_of_the_full_vector() -> None:
    full = make_embedder(Settings(embedding_provider="offline", embedding_dimension=256))
    small = make_embedder(Settings(embedding_provider="offline", embedding_dimension=64))
    raw = make_embedder(
        Settings(embedding_provider="offline", embedding_dimension=256, embedding_normalize=False)
    )
    text = "matryoshka embeddings nest"

    prefix = raw.embed_query(text)[:64]
    norm = math.sqrt(sum(x * x for x in prefix))

    assert small.embed_query(text) == pytest.approx([x / norm for x in prefix], rel=1e-5)
    assert full.embed_query(text) != pytest.approx(small.embed_query(text) + [0.0] * 192)


def test_offline_close_sentences_score_higher_than_unrelated_ones() -> None:
    embedder = make_embedder(Settings(embedding_provider="offline", embedding_dimension=256))
    cat, kitten, taxes = embedder.embed_documents(
        [
            "The cat sat on the mat.",
            "A kitten is resting on the rug.",
            "Quarterly tax revenue rose four percent.",
        ]
    )

    assert cosine(cat, kitten) > cosine(cat, taxes) + 0.2
    assert cosine(kitten, cat) > cosine(kitten, taxes) + 0.2


def test_offline_vectors_are_wordllamas_own_embeddings() -> None:
    """Our unpadded pooling must give what WordLlamaInference.embed gives for the same model."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from wordllama.inference import WordLlamaInference  # calls logging.basicConfig on import

    root.handlers[:], root.level = handlers, level
    from docpipe.embeddings.offline import OfflineEmbedder, load_model

    model = load_model()
    tokenizer = model.tokenizer.__class__.from_str(model.tokenizer.to_str())
    reference = WordLlamaInference(model.embedding, tokenizer)
    texts = ["alpha beta", "", "gamma delta " * 200, "Übungsaufgaben zu Homöomorphismen", "x"]

    expected = reference.embed(texts, norm=False, batch_size=2)
    raw = OfflineEmbedder(dimension=256, normalize=False).embed_documents(texts)

    assert raw == [pytest.approx(want.tolist(), abs=1e-6) for want in expected]
    assert raw[1] == [0.0] * 256  # no tokens: the zero vector, as wordllama returns


def test_offline_values_are_float32s_in_their_shortest_decimal_form() -> None:
    import numpy as np

    from docpipe.embeddings.offline import OfflineEmbedder, load_model

    texts = ["Topologie und Homöomorphismen", "a second, longer sentence about compact spaces"]
    vectors = OfflineEmbedder(dimension=256, normalize=False).embed_documents(texts)

    as_float32 = np.asarray(vectors, dtype=np.float32)
    assert np.array_equal(as_float32, load_model().embed(texts))  # the very same float32 values
    assert len(json.dumps(vectors)) < 0.7 * len(json.dumps(as_float32.tolist()))  # not float64 repr


def test_offline_embeddings_do_not_depend_on_the_other_texts() -> None:
    from docpipe.embeddings.offline import OfflineEmbedder

    embedder = OfflineEmbedder(dimension=64)
    texts = ["alpha beta", "gamma delta", "epsilon", "zeta eta theta " * 50, "iota"]

    together = embedder.embed_documents(texts)

    assert together == [pytest.approx(embedder.embed_query(t), abs=1e-6) for t in texts]


def test_offline_model_loads_once_per_process() -> None:
    from docpipe.embeddings.offline import load_model

    assert load_model() is load_model()


def _refuse(*args: object, **kwargs: object) -> None:
    raise OSError("network disabled by the test")


def test_offline_model_loads_and_embeds_with_the_network_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    import docpipe.embeddings.offline as offline

    # Given no way to open a connection, and the process-wide model forgotten
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    monkeypatch.setattr(offline, "_model", None)

    # When the model is loaded and used
    vector = offline.OfflineEmbedder(dimension=128).embed_query("no network needed")

    # Then it worked from the files in the wheel
    assert len(vector) == 128
    assert offline._model is not None


def test_offline_provider_needs_no_network_in_a_fresh_interpreter(tmp_path: Path) -> None:
    # A fresh process proves that importing wordllama, loading and embedding touch no socket,
    # and an empty HOME proves no ~/.cache/wordllama download is being reused.
    script = (
        NO_NETWORK_PRELUDE
        + """
from docpipe.config import Settings
from docpipe.embeddings import make_embedder
vector = make_embedder(Settings(embedding_provider="offline", embedding_dimension=64)).embed_query("hi")
print(len(vector))
"""
    )
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "layers" / "docpipe")}

    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "64"
    assert not (tmp_path / ".cache").exists()


def test_importing_the_embeddings_package_does_not_import_wordllama_or_numpy() -> None:
    script = "import sys, docpipe.embeddings; print('wordllama' in sys.modules, 'numpy' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "docpipe")}

    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.stdout.strip() == "False False", result.stderr
