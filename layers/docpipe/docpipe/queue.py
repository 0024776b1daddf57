"""``MessageQueue``: SendMessageBatch in tens, failed entries retried, errors translated."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from docpipe import aws
from docpipe.exceptions import InvalidInputError, TransientError

BATCH_SIZE = 10  # SendMessageBatch's limit
_ATTEMPTS = 5


class MessageQueue:
    """The ingest queue as reconcile and backfill write to it.

    Args:
        client: a boto3 ``sqs`` client (retries per botocore's retry mode).
        queue_url: the queue (``IngestQueue``).
    """

    def __init__(self, client: Any, queue_url: str) -> None:
        if not queue_url:
            raise InvalidInputError("a queue URL is required")
        self._client = client
        self.queue_url = queue_url

    def send_json(self, bodies: Iterable[Mapping[str, Any]]) -> int:
        """Send every body as one JSON message, ``BATCH_SIZE`` per call; returns the count sent.

        Entries SQS refuses as a batch member (``SenderFault`` false: throttling, internal errors)
        are sent again with backoff; a permanent refusal or retries running out raise
        ``TransientError`` naming the first failure, so the caller stops before moving its cursor.
        """
        sent = 0
        batch: list[str] = []
        for body in bodies:
            batch.append(json.dumps(body, separators=(",", ":")))
            if len(batch) == BATCH_SIZE:
                sent += self._send(batch)
                batch = []
        if batch:
            sent += self._send(batch)
        return sent

    def _send(self, messages: list[str]) -> int:
        pending = {str(n): body for n, body in enumerate(messages)}
        for attempt in range(_ATTEMPTS):
            entries = [{"Id": n, "MessageBody": body} for n, body in pending.items()]
            try:
                response = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as error:
                aws.translate_client_error(error, self.queue_url)
            failed = response.get("Failed") or []
            if not failed:
                return len(messages)
            permanent = [f for f in failed if f.get("SenderFault")]
            if permanent:
                first = permanent[0]
                raise TransientError(
                    f"{self.queue_url}: {len(permanent)} messages refused: {first.get('Code')}: "
                    f"{first.get('Message')}"
                )
            pending = {f["Id"]: pending[f["Id"]] for f in failed}
            time.sleep(min(0.1 * 2**attempt, 2.0))
        raise TransientError(f"{self.queue_url}: {len(pending)} messages not accepted after retries")
