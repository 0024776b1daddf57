"""docpipe's timestamps: UTC ISO 8601 with a ``Z``, as S3 writes an event's ``eventTime``.

The registry's ``updated_at``, the events reconcile enqueues and a chunk's ``ingested_at`` are all
written here, and read back with ``epoch_seconds``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso_timestamp(epoch: float | None = None, *, timespec: str = "milliseconds") -> str:
    """``2026-01-01T00:00:00.000Z`` for ``epoch`` (default: now)."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, UTC)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def epoch_seconds(iso: str | None) -> float | None:
    """An ISO 8601 timestamp (``Z`` or an offset) as epoch seconds; None when empty or unreadable."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
