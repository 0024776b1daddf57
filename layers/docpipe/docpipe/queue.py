"""``MessageQueue``: SendMessageBatch in tens, failed entries retried, errors translated."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from docpipe import aws
from docpipe.exceptions import InvalidInputError, TransientError

BATCH_SIZE = 10  # SendMessageBatch's limit


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

        Entries SQS fails as batch members on its side (``SenderFault`` false) are sent again
        (``aws.retry_unprocessed``, the one loop docpipe owns for partial batches); a refusal of
        ours, or retries running out, raise ``TransientError``, so the caller stops before it
        moves its cursor.
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
        pending = [{str(n): body for n, body in enumerate(messages)}]

        def send() -> dict[str, str]:
            entries = [{"Id": n, "MessageBody": body} for n, body in pending[0].items()]
            try:
                response = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as error:
                aws.translate_client_error(error, self.queue_url)
            failed = response.get("Failed") or []
            refused = [f for f in failed if f.get("SenderFault")]
            if refused:
                first = refused[0]
                raise TransientError(
                    f"{self.queue_url}: {len(refused)} messages refused: {first.get('Code')}: "
                    f"{first.get('Message')}"
                )
            pending[0] = {f["Id"]: pending[0][f["Id"]] for f in failed}
            return pending[0]

        aws.retry_unprocessed(send, bool, what=f"SQS {self.queue_url} SendMessageBatch")
        return len(messages)
