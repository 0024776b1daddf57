"""Concurrency on moto: a batch's records side by side, and the round trips taken off a document's path.

Overlap is shown with barriers (each party waits for the other; one after another they never
meet and the barrier breaks), never with timings.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote_plus

from docpipe.events import ObjectEvent
from docpipe.ids import SIDECAR_SUFFIX
from docpipe.registry import Decision
from tests.functional.conftest import Pipeline, s3_notification, sqs_batch

WAIT = 10.0  # seconds a barrier waits before it breaks: only a missing overlap ever reaches it
KEY = "docs/notes.txt"
# docpipe.ingest.MAX_SIDECAR_BYTES. The module is not imported here: its child logger must be
# created after the test environment names the service (as the handler does).
MAX_SIDECAR_BYTES = 64 * 1024


def put(key: str, sequencer: str) -> dict[str, Any]:
    return s3_notification(quote_plus(key), sequencer=sequencer)


class Delegate:
    """Forwards everything to ``inner``; subclasses override the calls a test watches."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class RecordingRegistry(Delegate):
    def __init__(self, inner: Any, meet: threading.Barrier | None = None) -> None:
        super().__init__(inner)
        self.meet = meet
        self.claims: list[tuple[str | None, str]] = []
        self.claimed = threading.Event()

    def begin(self, event: ObjectEvent, *, deadline: float | None = None) -> Decision:
        if self.meet is not None:
            self.meet.wait()
        decision: Decision = self.inner.begin(event, deadline=deadline)
        self.claims.append((event.sequencer, decision.verdict))
        self.claimed.set()
        return decision


class WatchedS3(Delegate):
    """Meets ``download_meets`` inside the document download and ``sidecar_meets`` inside the lookup."""

    def __init__(
        self,
        inner: Any,
        *,
        download_meets: Sequence[threading.Barrier] = (),
        sidecar_meets: Sequence[threading.Barrier] = (),
    ) -> None:
        super().__init__(inner)
        self.download_meets = download_meets
        self.sidecar_meets = sidecar_meets
        self.calls: list[str] = []
        self.sidecar_after_claim: list[bool] = []
        self.claimed: threading.Event | None = None

    def download_with_info(self, bucket: str, key: str, **kwargs: Any) -> Any:
        self.calls.append(f"download {key}")
        for barrier in self.download_meets:
            barrier.wait()
        return self.inner.download_with_info(bucket, key, **kwargs)

    def read_bytes(self, bucket: str, key: str, **kwargs: Any) -> bytes:
        self.calls.append(f"sidecar {key}")
        if self.claimed is not None:
            self.sidecar_after_claim.append(self.claimed.is_set())
        for barrier in self.sidecar_meets:
            barrier.wait()
        data: bytes = self.inner.read_bytes(bucket, key, **kwargs)
        return data


class BarrierEmbedder(Delegate):
    """Every embedding call waits until ``parties`` documents are being embedded at once."""

    def __init__(self, inner: Any, parties: int) -> None:
        super().__init__(inner)
        self.together = threading.Barrier(parties, timeout=WAIT)
        self.dimension, self.provider, self.model_id = inner.dimension, inner.provider, inner.model_id

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.together.wait()
        return list(self.inner.embed_documents(texts))


class PoisonEmbedder(Delegate):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.dimension, self.provider, self.model_id = inner.dimension, inner.provider, inner.model_id

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if any("POISON" in text for text in texts):
            raise RuntimeError("this document only")
        return list(self.inner.embed_documents(texts))


# -- the records of a batch -----------------------------------------------------------------------


def test_two_uploads_of_one_key_in_reversed_arrival_apply_in_sequencer_order(pipeline: Pipeline) -> None:
    app = pipeline.start()
    registry = RecordingRegistry(app.service.registry)
    app.service.registry = registry
    pipeline.upload(KEY, b"the second version of the notes")
    batch = sqs_batch(put(KEY, "0065A1B2C3D4E50002"), put(KEY, "0065A1B2C3D4E50001"))

    response = pipeline.invoke(batch)

    assert response == {"batchItemFailures": []}
    # One after another the other way round, the older event would have been ignored as stale.
    assert registry.claims == [("0065A1B2C3D4E50001", "apply"), ("0065A1B2C3D4E50002", "apply")]
    record = pipeline.record(KEY)
    assert record is not None and (record.state, record.sequencer) == ("indexed", "0065A1B2C3D4E50002")
    assert [v.metadata["text"] for v in pipeline.vectors(KEY)] == ["the second version of the notes"]


def test_one_failing_record_among_ten_is_the_only_one_reported(pipeline: Pipeline) -> None:
    app = pipeline.start()
    app.service.embedder = PoisonEmbedder(app.service.embedder)
    keys = [f"docs/{n}.txt" for n in range(10)]
    for n, key in enumerate(keys):
        pipeline.upload(key, b"POISON pill" if n == 7 else f"document number {n} about rivers".encode())

    response = pipeline.invoke(sqs_batch(*(put(key, "01") for key in keys)))

    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-7"}]}
    states = {key: pipeline.record(key).state for key in keys}  # type: ignore[union-attr]
    assert states == {key: "processing" if key == "docs/7.txt" else "indexed" for key in keys}


def test_documents_of_a_batch_are_embedded_at_the_same_time(pipeline: Pipeline) -> None:
    app = pipeline.start(INGEST_RECORD_CONCURRENCY="4")
    embedder = BarrierEmbedder(app.service.embedder, parties=4)
    app.service.embedder = embedder
    keys = [f"docs/{n}.txt" for n in range(4)]
    for key in keys:
        pipeline.upload(key, f"the text of {key}".encode())

    response = pipeline.invoke(sqs_batch(*(put(key, "01") for key in keys)))

    assert response == {"batchItemFailures": []}
    assert not embedder.together.broken
    assert all(pipeline.record(key).state == "indexed" for key in keys)  # type: ignore[union-attr]


def test_the_record_concurrency_setting_bounds_the_handlers_processor(pipeline: Pipeline) -> None:
    default = pipeline.start()
    assert default.processor.concurrency == default.settings.ingest_record_concurrency == 10

    one = pipeline.start(INGEST_RECORD_CONCURRENCY="1")

    assert one.processor.concurrency == 1


# -- round trips off a document's critical path ---------------------------------------------------


def test_the_download_runs_beside_the_claim(pipeline: Pipeline) -> None:
    app = pipeline.start()
    meet = threading.Barrier(2, timeout=WAIT)
    app.service.registry = RecordingRegistry(app.service.registry, meet=meet)
    app.service.s3 = WatchedS3(app.service.s3, download_meets=[meet])
    pipeline.upload(KEY, b"rivers and lakes")

    response = pipeline.invoke(sqs_batch(put(KEY, "01")))

    assert response == {"batchItemFailures": []}
    assert not meet.broken
    assert pipeline.record(KEY).state == "indexed"  # type: ignore[union-attr]


def test_the_sidecar_lookup_runs_beside_the_download_once_the_claim_is_held(pipeline: Pipeline) -> None:
    app = pipeline.start()
    meet = threading.Barrier(2, timeout=WAIT)
    registry = RecordingRegistry(app.service.registry)
    s3 = WatchedS3(app.service.s3, download_meets=[meet], sidecar_meets=[meet])
    s3.claimed = registry.claimed
    app.service.registry, app.service.s3 = registry, s3
    pipeline.upload(KEY, b"rivers and lakes")
    pipeline.upload(KEY + SIDECAR_SUFFIX, b'{"metadataAttributes": {"team": "hydro"}}')

    response = pipeline.invoke(sqs_batch(put(KEY, "01")))

    assert response == {"batchItemFailures": []}
    assert not meet.broken
    assert sorted(s3.calls) == [f"download {KEY}", f"sidecar {KEY}{SIDECAR_SUFFIX}"]
    assert s3.sidecar_after_claim == [True]
    assert {v.metadata["team"] for v in pipeline.vectors(KEY)} == {"hydro"}


def test_a_stale_event_downloads_but_changes_nothing(pipeline: Pipeline) -> None:
    app = pipeline.start()
    s3 = WatchedS3(app.service.s3)
    app.service.s3 = s3
    pipeline.upload(KEY, b"rivers and lakes")
    pipeline.invoke(sqs_batch(put(KEY, "0065A1B2C3D4E50002")))
    before = pipeline.record(KEY)
    s3.calls.clear()

    response = pipeline.invoke(sqs_batch(put(KEY, "0065A1B2C3D4E50001")))

    assert response == {"batchItemFailures": []}
    assert s3.calls == [f"download {KEY}"]  # started beside the claim, then dropped; no sidecar lookup
    assert pipeline.record(KEY) == before


def test_a_document_gone_before_its_download_is_removed_whatever_its_sidecar_holds(
    pipeline: Pipeline,
) -> None:
    pipeline.upload(KEY + SIDECAR_SUFFIX, b"x" * (MAX_SIDECAR_BYTES + 1))  # would be metadata_too_large

    response = pipeline.invoke(sqs_batch(put(KEY, "01")))

    assert response == {"batchItemFailures": []}
    record = pipeline.record(KEY)
    assert record is not None and record.state == "deleted"


def test_an_oversized_sidecar_skips_its_document(pipeline: Pipeline) -> None:
    pipeline.upload(KEY, b"rivers and lakes")
    pipeline.upload(KEY + SIDECAR_SUFFIX, b"x" * (MAX_SIDECAR_BYTES + 1))

    response = pipeline.invoke(sqs_batch(put(KEY, "01")))

    assert response == {"batchItemFailures": []}
    record = pipeline.record(KEY)
    assert record is not None and (record.state, record.reason) == ("skipped", "metadata_too_large")
    assert pipeline.vectors(KEY) == []
