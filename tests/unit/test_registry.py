"""DocumentRegistry: conditional transitions give ordering and idempotency (moto DynamoDB)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from docpipe.events import ObjectEvent
from docpipe.registry import (
    CLAIM_SLOTS,
    DEFAULT_LEASE_SECONDS,
    LEASE_MARGIN_SECONDS,
    BusyError,
    DocumentRegistry,
    ordering_token,
)

TABLE = "docpipe-documents-test"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "doc_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "doc_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(dynamodb: Any, clock: Clock) -> DocumentRegistry:
    return DocumentRegistry(dynamodb, TABLE, lease_seconds=60, clock=clock)


def put(
    sequencer: str | None, *, key: str = "docs/a.pdf", etag: str = "e1", time: str | None = None
) -> ObjectEvent:
    return ObjectEvent(
        kind="created", bucket="docs-bucket", key=key, etag=etag, sequencer=sequencer, event_time=time
    )


def delete(sequencer: str, *, key: str = "docs/a.pdf") -> ObjectEvent:
    return ObjectEvent(kind="removed", bucket="docs-bucket", key=key, sequencer=sequencer)


def index(registry: DocumentRegistry, event: ObjectEvent, chunks: int = 3) -> None:
    decision = registry.begin(event)
    assert decision.apply
    assert registry.mark_indexed(
        event.doc_id,
        decision.token,
        chunk_count=chunks,
        content_hash="h",
        sidecar_hash=None,
        content_type="application/pdf",
        pages=1,
        seconds=0.5,
    )


def test_sequencers_of_different_length_compare_after_right_padding() -> None:
    # AWS: pad the shorter sequencer with zeros, then compare lexicographically.
    assert ordering_token(put("0055AED6DCD90281E5")) < ordering_token(put("0055AED6DCD90281E6"))
    assert ordering_token(put("0055AED6DCD90281E5")) < ordering_token(put("0055AED6DCD90281E501"))
    assert ordering_token(put("0a")) == ordering_token(put("0A"))


def test_first_event_of_a_document_is_applied(registry: DocumentRegistry) -> None:
    decision = registry.begin(put("0055AED6DCD90281E5"))

    assert decision.apply
    assert decision.previous is None
    record = registry.get(put("0").doc_id)
    assert record is not None and record.state == "processing" and record.key == "docs/a.pdf"


def test_indexed_document_is_recorded_with_plain_values(registry: DocumentRegistry) -> None:
    event = put("0055AED6DCD90281E5")
    index(registry, event, chunks=7)

    record = registry.get(event.doc_id)
    assert record is not None
    assert (record.state, record.chunk_count, record.content_hash, record.seconds) == ("indexed", 7, "h", 0.5)
    item = next(registry.scan_items())
    assert type(item["chunk_count"]) is int and type(item["seconds"]) is float


def test_redelivered_event_after_it_was_applied_is_a_duplicate(registry: DocumentRegistry) -> None:
    event = put("0055AED6DCD90281E5")
    index(registry, event)

    decision = registry.begin(event)

    assert decision.verdict == "duplicate"
    assert registry.get(event.doc_id).state == "indexed"  # type: ignore[union-attr]


def test_older_event_after_a_newer_one_is_stale(registry: DocumentRegistry) -> None:
    index(registry, put("0055AED6DCD90281E6", etag="new"))

    decision = registry.begin(put("0055AED6DCD90281E5", etag="old"))

    assert decision.verdict == "stale"
    assert registry.get(put("0").doc_id).etag == "new"  # type: ignore[union-attr]


def test_newer_event_replaces_and_returns_the_previous_record(registry: DocumentRegistry) -> None:
    index(registry, put("0055AED6DCD90281E5"), chunks=4)

    decision = registry.begin(delete("0055AED6DCD90281E7"))

    assert decision.apply
    assert decision.previous is not None and decision.previous.chunk_count == 4
    assert registry.mark_deleted(decision.previous.doc_id, decision.token)
    assert registry.get(decision.previous.doc_id).state == "deleted"  # type: ignore[union-attr]


def test_concurrent_duplicate_cannot_claim_while_the_first_holds_the_lease(
    registry: DocumentRegistry,
) -> None:
    event = put("0055AED6DCD90281E5")
    assert registry.begin(event).apply

    assert registry.begin(event).verdict == "duplicate"


def test_newer_event_waits_while_an_older_one_is_in_flight(registry: DocumentRegistry) -> None:
    assert registry.begin(put("0055AED6DCD90281E5")).apply

    with pytest.raises(BusyError):
        registry.begin(put("0055AED6DCD90281E6"))


def test_released_claim_can_be_retried_at_once(registry: DocumentRegistry) -> None:
    event = put("0055AED6DCD90281E5")
    first = registry.begin(event)
    registry.release(event.doc_id, first.token)

    assert registry.begin(event).apply


def test_claim_of_a_crashed_worker_expires_with_its_lease(registry: DocumentRegistry, clock: Clock) -> None:
    event = put("0055AED6DCD90281E5")
    assert registry.begin(event).apply
    clock.now += 61

    assert registry.begin(event).apply


def test_completion_fails_when_the_claim_was_taken_over(registry: DocumentRegistry, clock: Clock) -> None:
    old = registry.begin(put("0055AED6DCD90281E5"))
    clock.now += 61
    assert registry.begin(put("0055AED6DCD90281E6")).apply

    assert not registry.mark_skipped(put("0").doc_id, old.token, "corrupt")
    assert registry.get(put("0").doc_id).state == "processing"  # type: ignore[union-attr]


def test_events_without_sequencer_are_ordered_by_event_time(registry: DocumentRegistry) -> None:
    index(registry, put(None, time="2026-01-02T00:00:00.000Z", etag="b"))

    assert registry.begin(put(None, time="2026-01-01T00:00:00.000Z", etag="a")).verdict == "stale"
    assert registry.begin(put(None, time="2026-01-02T00:00:00.000Z", etag="b")).verdict == "duplicate"
    assert registry.begin(put(None, time="2026-01-03T00:00:00.000Z", etag="c")).apply


def test_skip_records_the_reason_and_clears_the_content(registry: DocumentRegistry) -> None:
    event = put("0055AED6DCD90281E5")
    index(registry, event)
    decision = registry.begin(put("0055AED6DCD90281E6"))

    assert registry.mark_skipped(event.doc_id, decision.token, "encrypted")

    record = registry.get(event.doc_id)
    assert record is not None
    assert (record.state, record.reason, record.chunk_count, record.content_hash) == (
        "skipped",
        "encrypted",
        0,
        None,
    )


def test_note_chunks_only_raises_the_high_water_mark(registry: DocumentRegistry) -> None:
    event = put("0055AED6DCD90281E5")
    decision = registry.begin(event)

    registry.note_chunks(event.doc_id, decision.token, 9)
    registry.note_chunks(event.doc_id, decision.token, 4)

    assert registry.get(event.doc_id).max_chunk_count == 9  # type: ignore[union-attr]


def test_an_unfinished_claim_covers_the_keys_it_may_write_unnoted(registry: DocumentRegistry) -> None:
    event = put("0055AED6DCD90281E5")
    decision = registry.begin(event)
    claimed = registry.get(event.doc_id)
    assert claimed is not None and claimed.vector_slots == CLAIM_SLOTS  # nothing noted yet

    registry.note_chunks(event.doc_id, decision.token, CLAIM_SLOTS + 8)
    assert registry.get(event.doc_id).vector_slots == CLAIM_SLOTS + 8  # type: ignore[union-attr]

    registry.mark_indexed(
        event.doc_id, decision.token, chunk_count=3, content_hash="h", sidecar_hash=None,
        content_type="application/pdf", pages=1, seconds=0.1,
    )  # fmt: skip
    assert registry.get(event.doc_id).vector_slots == 3  # type: ignore[union-attr]  # exact once finished


def test_reclaim_reopens_a_finished_document_for_the_same_event(registry: DocumentRegistry) -> None:
    event = put("0055AED6DCD90281E5")
    index(registry, event)
    token = registry.get(event.doc_id).order_token  # type: ignore[union-attr]

    decision = registry.reclaim(event.doc_id, token)  # type: ignore[arg-type]

    assert decision.apply and decision.previous is not None and decision.previous.state == "indexed"
    with pytest.raises(BusyError):
        registry.reclaim(event.doc_id, token)  # type: ignore[arg-type]


def test_list_filters_by_prefix_and_put_items_round_trips(registry: DocumentRegistry) -> None:
    index(registry, put("01", key="docs/a.pdf"))
    index(registry, put("01", key="other/b.pdf"))
    items = list(registry.scan_items())

    assert [r.key for r in registry.list("docs/")] == ["docs/a.pdf"]
    assert registry.delete_all() == 2
    assert list(registry.scan_items()) == []
    assert registry.put_items(items) == 2
    assert sorted(i["key"] for i in registry.scan_items()) == ["docs/a.pdf", "other/b.pdf"]


def test_a_crashed_claim_frees_itself_once_its_invocation_could_no_longer_run(
    dynamodb: Any, clock: Clock
) -> None:
    # Given the default lease (the longest a Lambda can run) and a claim made by an invocation
    # with 180 s left (IngestFunction's timeout) that then crashed without releasing it.
    registry = DocumentRegistry(dynamodb, TABLE, clock=clock)
    crashed = registry.begin(put("0001"), deadline=registry.deadline_after(180_000))
    assert crashed.apply
    newer = put("0002", etag="e2")

    # While that invocation could still be running, a newer event of the document waits ...
    clock.now += 180 + LEASE_MARGIN_SECONDS
    with pytest.raises(BusyError):
        registry.begin(newer)

    # ... and once it cannot be (its deadline and the margin have passed), the newer event applies,
    # long before the 900 s default lease would have let it.
    clock.now += 1
    assert registry.begin(newer).apply
    assert 180 + LEASE_MARGIN_SECONDS + 1 < DEFAULT_LEASE_SECONDS


def test_the_same_event_redelivered_after_a_crash_reclaims_once_the_deadline_passed(
    registry: DocumentRegistry, clock: Clock
) -> None:
    event = put("0001")
    registry.begin(event, deadline=registry.deadline_after(30_000))

    clock.now += 30 + LEASE_MARGIN_SECONDS
    assert registry.begin(event).verdict == "duplicate"  # still possibly running
    clock.now += 1
    assert registry.begin(event).apply
