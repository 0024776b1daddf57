"""Amazon Bedrock Titan Text Embeddings V2: one InvokeModel per text, run on a bounded thread pool."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from docpipe.aws import translate_client_error
from docpipe.embeddings.base import Embedder


class BedrockEmbedder(Embedder):
    """Titan V2 takes one text per request, so throughput comes from concurrent calls.

    The pool is bounded by ``concurrency`` (EMBEDDING_CONCURRENCY, per function instance) to stay
    inside the account's Bedrock quota. Throttled calls are retried by the client's botocore retry
    mode (the one retry layer, ``docpipe.aws``); once its attempts are spent the document fails
    with ``ThrottledError`` so SQS retries it later.
    """

    provider = "bedrock"

    def __init__(
        self,
        client: Any,
        *,
        model_id: str = "amazon.titan-embed-text-v2:0",
        dimension: int = 1024,
        normalize: bool = True,
        concurrency: int = 8,
    ) -> None:
        self._client = client
        self.model_id = model_id
        self.dimension = dimension
        self.normalize = normalize
        self.concurrency = max(1, concurrency)
        self._pool: ThreadPoolExecutor | None = None  # built on the first call, then kept
        self._pool_lock = threading.Lock()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` concurrently; results come back in input order.

        Every call shares one pool of ``concurrency`` threads, so documents embedded side by side
        (the records of a batch) together keep at most that many requests in flight: the
        Bedrock quota and the client's connection pool see one bound, not one per document.
        """
        if not texts:
            return []
        pool = self._shared_pool()
        futures: list[Future[list[float]]] = [pool.submit(self._embed_one, text) for text in texts]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:  # one failure fails the document: do not keep paying
                future.cancel()
            raise

    def _shared_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        max_workers=self.concurrency, thread_name_prefix="bedrock-embed"
                    )
        return self._pool

    def _embed_one(self, text: str) -> list[float]:
        body = json.dumps({"inputText": text, "dimensions": self.dimension, "normalize": self.normalize})
        try:
            response = self._client.invoke_model(
                modelId=self.model_id, body=body, contentType="application/json", accept="application/json"
            )
        except (ClientError, BotoCoreError) as e:
            translate_client_error(e, f"bedrock:{self.model_id}")
        payload = json.loads(response["body"].read())
        vector = [float(x) for x in payload["embedding"]]
        self._check_dimension(vector)
        return vector
