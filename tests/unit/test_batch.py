"""ConcurrentBatchProcessor and plan_batch: groups by document, sequencer order, partial failures."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import pytest
from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from docpipe.ingest.batch import ConcurrentBatchProcessor, plan_batch
from tests.functional.conftest import s3_notification, sqs_record

WAIT = 10.0  # seconds a barrier waits before it breaks: only a missing overlap ever reaches it


def record(key: str, sequencer: str, *, message_id: str, removed: bool = False) -> dict[str, Any]:
    name = "ObjectRemoved:Delete" if removed else "ObjectCreated:Put"
    return sqs_record(
        s3_notification(quote_plus(key), sequencer=sequencer, event_name=name), message_id=message_id
    )


def event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def key_of(sqs: SQSRecord) -> str:
    return unquote_plus(json.loads(sqs.body)["Records"][0]["s3"]["object"]["key"])


def sequencer_of(sqs: SQSRecord) -> str:
    return str(json.loads(sqs.body)["Records"][0]["s3"]["object"]["sequencer"])


def run(
    records: list[dict[str, Any]], handler: Callable[[SQSRecord], Any], *, concurrency: int = 4
) -> dict[str, Any]:
    processor = ConcurrentBatchProcessor(EventType.SQS, concurrency=concurrency)
    return dict(process_partial_response(event=event(*records), record_handler=handler, processor=processor))


# -- plan_batch -----------------------------------------------------------------------------------


def test_records_of_one_key_form_one_group_in_sequencer_order() -> None:
    records = [
        record("docs/a.txt", "0065A1B2C3D4E50003", message_id="m0"),
        record("docs/b.txt", "0065A1B2C3D4E50001", message_id="m1"),
        record("docs/a.txt", "0065A1B2C3D4E50001", message_id="m2"),
        record("docs/a.txt", "0065A1B2C3D4E50002", message_id="m3", removed=True),
    ]

    assert plan_batch(records) == [[2, 3, 0], [1]]


def test_sequencers_of_different_lengths_compare_as_s3_says() -> None:
    # AWS: pad the shorter sequencer with zeros on the right, then compare as strings.
    records = [
        record("docs/a.txt", "0065A1B2C3D4E5FF", message_id="m0"),
        record("docs/a.txt", "0065A1B2C3D4E50001", message_id="m1"),
    ]

    assert plan_batch(records) == [[1, 0]]


def test_a_sidecar_event_runs_in_its_documents_group() -> None:
    records = [
        record("docs/a.txt.metadata.json", "0065A1B2C3D4E50009", message_id="m0"),
        record("docs/b.txt", "0065A1B2C3D4E50001", message_id="m1"),
        record("docs/a.txt", "0065A1B2C3D4E50001", message_id="m2"),
    ]

    # Sequencers of different objects do not compare: the sidecar keeps its place before a.txt.
    assert plan_batch(records) == [[0, 2], [1]]


def test_a_message_that_does_not_parse_is_a_group_of_its_own() -> None:
    broken = sqs_record({"hello": "world"}, message_id="m1")
    broken["body"] = "not json"
    records = [
        record("docs/a.txt", "01", message_id="m0"),
        broken,
        record("docs/b.txt", "01", message_id="m2"),
    ]

    assert plan_batch(records) == [[0], [1], [2]]


# -- the processor ---------------------------------------------------------------------------------


def test_two_records_of_one_key_in_reversed_arrival_apply_in_sequencer_order() -> None:
    applied: list[str] = []
    records = [
        record("docs/a.txt", "0065A1B2C3D4E50002", message_id="newer", removed=True),
        record("docs/a.txt", "0065A1B2C3D4E50001", message_id="older"),
    ]

    response = run(records, lambda record: applied.append(record.message_id))

    assert response == {"batchItemFailures": []}
    assert applied == ["older", "newer"]


def test_records_of_different_keys_overlap_in_time() -> None:
    # Every handler waits until all four are inside it at once: one after another, the barrier breaks.
    inside = threading.Barrier(4, timeout=WAIT)
    records = [record(f"docs/{n}.txt", "01", message_id=f"m{n}") for n in range(4)]

    response = run(records, lambda record: inside.wait(), concurrency=4)

    assert response == {"batchItemFailures": []}
    assert not inside.broken


def test_records_of_one_key_never_overlap() -> None:
    busy: set[str] = set()
    overlapped: list[str] = []
    lock = threading.Lock()
    others = threading.Barrier(2, timeout=WAIT)  # b.txt and c.txt meet: the pool really is parallel

    def handler(record: SQSRecord) -> None:
        key = key_of(record)
        with lock:
            if key in busy:
                overlapped.append(key)
            busy.add(key)
        if key != "docs/a.txt":
            others.wait()
        with lock:
            busy.discard(key)

    records = [record("docs/a.txt", f"0{n}", message_id=f"a{n}") for n in range(1, 6)]
    records += [record("docs/b.txt", "01", message_id="b"), record("docs/c.txt", "01", message_id="c")]

    response = run(records, handler, concurrency=4)

    assert response == {"batchItemFailures": []}
    assert overlapped == []


def test_no_more_records_than_the_concurrency_run_at_once() -> None:
    running = peak = 0
    lock = threading.Lock()
    two_in = threading.Barrier(2, timeout=WAIT)

    def handler(record: SQSRecord) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        two_in.wait()  # pairs of records meet: the pool runs two at once, never a third
        with lock:
            running -= 1

    records = [record(f"docs/{n}.txt", "01", message_id=f"m{n}") for n in range(6)]

    response = run(records, handler, concurrency=2)

    assert response == {"batchItemFailures": []}
    assert peak == 2


def test_one_failing_record_among_ten_is_the_only_one_reported() -> None:
    done: list[str] = []

    def handler(record: SQSRecord) -> None:
        if record.message_id == "m6":
            raise RuntimeError("this record only")
        done.append(record.message_id)

    records = [record(f"docs/{n}.txt", "01", message_id=f"m{n}") for n in range(10)]

    response = run(records, handler)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m6"}]}
    assert sorted(done) == sorted(f"m{n}" for n in range(10) if n != 6)


def test_failures_are_reported_in_batch_order_whatever_order_threads_finish_in() -> None:
    release = threading.Event()

    def handler(record: SQSRecord) -> None:
        if record.message_id == "m0":
            release.wait(WAIT)  # m0 fails last
        if record.message_id == "m3":
            release.set()
        raise RuntimeError("every record fails but one")

    records = [record(f"docs/{n}.txt", "01", message_id=f"m{n}") for n in range(4)]
    records.append(record("docs/ok.txt", "01", message_id="ok"))

    response = run(records, lambda record: None if record.message_id == "ok" else handler(record))

    assert response == {"batchItemFailures": [{"itemIdentifier": f"m{n}"} for n in range(4)]}


def test_a_record_of_a_key_fails_without_stopping_the_later_records_of_that_key() -> None:
    applied: list[str] = []

    def handler(record: SQSRecord) -> None:
        if sequencer_of(record) == "02":
            raise RuntimeError("transient")
        applied.append(sequencer_of(record))

    records = [record("docs/a.txt", f"0{n}", message_id=f"m{n}") for n in (3, 2, 1)]

    response = run(records, handler)

    # SQS redelivers m2; the registry then finds it older than 03 and ignores it (stale).
    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert applied == ["01", "03"]


def test_a_plan_that_loses_a_record_is_refused() -> None:
    processor = ConcurrentBatchProcessor(EventType.SQS, concurrency=2, plan=lambda batch: [[0]])
    records = [record("docs/a.txt", "01", message_id="m0"), record("docs/b.txt", "01", message_id="m1")]

    with pytest.raises(ValueError, match="every record exactly once"):
        process_partial_response(event=event(*records), record_handler=lambda r: None, processor=processor)
