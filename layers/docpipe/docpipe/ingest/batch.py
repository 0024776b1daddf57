"""SQS batches processed concurrently: records of different documents in parallel, those of one
document one after another in S3's order.

A batch of small documents spends most of its time waiting on AWS round trips, so its records run
on a bounded thread pool (INGEST_RECORD_CONCURRENCY). Records are first grouped by the document
they change (a ``<key>.metadata.json`` sidecar belongs to ``<key>``); a group runs on one thread,
so two events of one object never race for its registry claim, and they run in ``sequencer``
order whatever order SQS delivered them in (a standard queue does not keep order).

Partial-batch semantics are Powertools' own: ``ConcurrentBatchProcessor`` is a ``BatchProcessor``
whose ``process()`` runs the groups on a pool and calls the processor's own per-record step,
which records each success or failure, so ``batchItemFailures`` names exactly the failed messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from docpipe.events import ObjectEvent, parse_sqs_record
from docpipe.ids import SIDECAR_SUFFIX, doc_id

Plan = Callable[[Sequence[Mapping[str, Any]]], list[list[int]]]


def document_of(event: ObjectEvent) -> str:
    """The registry id of the document an event changes (a sidecar's event changes its document's)."""
    return doc_id(event.bucket, event.key.removesuffix(SIDECAR_SUFFIX))


def plan_batch(records: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Indexes of ``records`` in groups that may run in parallel, each group in the order to apply.

    Records that change one document share a group (transitively: a message naming two documents
    joins their groups). Within a group, the records of each object take the places its records
    held, in ordering-token (``sequencer``) order; other records keep their arrival order. A record
    that does not parse is a group of its own: processing it raises, and it fails alone.
    """
    from docpipe.registry import ordering_token

    parent = list(range(len(records)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_of: dict[str, int] = {}  # document -> first record that changes it
    sort_key: list[tuple[tuple[str, str], str] | None] = []  # (object, token) of one-event records
    for i, record in enumerate(records):
        try:
            events = parse_sqs_record(record)
        except Exception:  # noqa: BLE001 - processing the record raises the same error, for it alone
            events = []
        for event in events:
            parent[root(i)] = root(first_of.setdefault(document_of(event), i))
        only = events[0] if len(events) == 1 else None
        sort_key.append(((only.bucket, only.key), ordering_token(only)) if only else None)
    groups: dict[int, list[int]] = {}
    for i in range(len(records)):
        groups.setdefault(root(i), []).append(i)
    return [_in_object_order(members, sort_key) for members in groups.values()]


def _in_object_order(members: list[int], sort_key: Sequence[tuple[tuple[str, str], str] | None]) -> list[int]:
    """Each object's records re-sorted by token within the positions they occupy."""
    slots: dict[tuple[str, str], list[int]] = {}
    for position, i in enumerate(members):
        key = sort_key[i]
        if key is not None:
            slots.setdefault(key[0], []).append(position)
    ordered = list(members)
    for positions in slots.values():
        by_token = sorted((members[p] for p in positions), key=lambda i: sort_key[i][1])  # type: ignore[index]
        for position, i in zip(positions, by_token, strict=True):
            ordered[position] = i
    return ordered


class ConcurrentBatchProcessor(BatchProcessor):
    """Powertools' ``BatchProcessor`` running the groups of ``plan`` on up to ``concurrency`` threads.

    Only ``process()`` changes (Powertools' own ``SqsFifoPartialProcessor`` extends
    ``BatchProcessor`` the same way): each record still goes through the parent's per-record step
    (the handler call, then its success or failure handler), and the response, the
    all-records-failed error and ``lambda_context`` injection are the parent's. With
    ``concurrency=1`` the records run one after another, in plan order.

    ``AsyncBatchProcessor`` was the other candidate; it gathers one coroutine per record on an event
    loop, unbounded and unordered. docpipe's record handler blocks (boto3, pdfium), so it would
    need a thread per record anyway, plus a semaphore, per-document locks and loop-bound state
    rebuilt per invocation.

    Args:
        event_type: as for ``BatchProcessor`` (docpipe uses ``EventType.SQS``).
        concurrency: most records processed at once (INGEST_RECORD_CONCURRENCY).
        plan: groups of record indexes (default ``plan_batch``); groups run in parallel, the
            records of a group one after another.
    """

    def __init__(
        self, event_type: EventType, *, concurrency: int, plan: Plan = plan_batch, **kwargs: Any
    ) -> None:
        super().__init__(event_type, **kwargs)
        self.concurrency = max(1, concurrency)
        self._plan = plan

    def process(self) -> list[tuple[Any, ...]]:
        records: list[dict[str, Any]] = self.records
        groups = self._plan(records)
        if sorted(i for group in groups for i in group) != list(range(len(records))):
            raise ValueError("a batch plan must name every record exactly once")
        results: list[tuple[Any, ...]] = [()] * len(records)

        def run(group: list[int]) -> None:
            for i in group:
                results[i] = self._process_record(records[i])

        workers = min(self.concurrency, len(groups))
        if workers <= 1:
            for group in groups:
                run(group)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sqs-record") as pool:
                for future in [pool.submit(run, group) for group in groups]:
                    future.result()
        # Threads finished in any order: report successes and failures in the batch's order.
        self.success_messages[:] = [entry[2] for entry in results if entry[0] == "success"]
        self.fail_messages[:] = [entry[2] for entry in results if entry[0] == "fail"]
        return results
