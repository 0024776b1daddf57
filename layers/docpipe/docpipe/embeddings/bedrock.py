"""Amazon Bedrock Titan Text Embeddings V2: one InvokeModel per text, run on a bounded thread pool."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from docpipe.aws import error_code, translate_client_error
from docpipe.embeddings.base import Embedder
from docpipe.exceptions import ThrottledError

# Bedrock answers overload with these; each is worth another try after a pause.
_RETRYABLE = frozenset({"ThrottlingException", "ServiceUnavailableException", "ModelNotReadyException"})


class BedrockEmbedder(Embedder):
    """Titan V2 takes one text per request, so throughput comes from concurrent calls.

    The pool is bounded by ``concurrency`` (EMBEDDING_CONCURRENCY, per function instance) to stay
    inside the account's Bedrock quota; throttled calls back off exponentially with full jitter, and once the attempts
    are spent the document fails with ``ThrottledError`` so SQS retries it later.
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
        max_attempts: int = 6,
        base_delay: float = 0.25,
        max_delay: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.model_id = model_id
        self.dimension = dimension
        self.normalize = normalize
        self.concurrency = max(1, concurrency)
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
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
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._client.invoke_model(
                    modelId=self.model_id,
                    body=body,
                    contentType="application/json",
                    accept="application/json",
                )
                break
            except ClientError as e:
                if error_code(e) not in _RETRYABLE:
                    translate_client_error(e, f"bedrock:{self.model_id}")
                if attempt == self.max_attempts:
                    raise ThrottledError(
                        f"bedrock:{self.model_id}: still {error_code(e)} after {attempt} attempts"
                    ) from e
            except (ConnectionError, ReadTimeoutError) as e:
                translate_client_error(e, f"bedrock:{self.model_id}")
            # Full jitter: concurrent workers that were throttled together do not retry together.
            self._sleep(random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1))))
        payload = json.loads(response["body"].read())
        vector = [float(x) for x in payload["embedding"]]
        self._check_dimension(vector)
        return vector
