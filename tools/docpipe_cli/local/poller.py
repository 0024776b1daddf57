"""The local twin of Lambda's SQS event source mapping, plus the backup schedule.

Workers (the template's ``ScalingConfig.MaximumConcurrency`` unless overridden) long-poll the queue,
gather up to ``BatchSize`` records within ``MaximumBatchingWindowInSeconds``, invoke the function
with an SQS event, and delete only the records the function did not report in
``batchItemFailures`` (all of them when the invocation itself failed). Nothing else touches a
failed record: it reappears after the queue's visibility timeout, and the queue's own redrive
policy moves it to the dead-letter queue after ``maxReceiveCount`` receives, as on AWS.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from docpipe.exceptions import ConfigError
from docpipe_cli.local.runner import Invocation
from docpipe_cli.local.stack import Stack
from docpipe_cli.local.state import LocalDeployment

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class Invoker(Protocol):
    def invoke(self, logical_id: str, event: Any, *, request_id: str | None = None) -> Invocation: ...


@dataclass(frozen=True)
class SqsSource:
    """One ``Type: SQS`` event of a function, resolved to the local queue."""

    function: str
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    batching_window: float = 0.0
    max_concurrency: int = 2
    report_batch_item_failures: bool = False


@dataclass(frozen=True)
class Schedule:
    """One ``Type: Schedule`` event: ``rate(...)`` expressions only (cron is listed, not played)."""

    function: str
    name: str
    every_seconds: float
    input: Any


@dataclass
class PollerStats:
    invocations: int = 0
    failed_invocations: int = 0
    records_deleted: int = 0
    records_failed: int = 0
    schedule_runs: int = 0
    errors: list[str] = field(default_factory=list)
    # message id -> invocations that carried it / that left it to be retried: what a
    # redrive policy counts, observable without receiving from the queue (which counts too).
    deliveries: dict[str, int] = field(default_factory=dict)
    failed_deliveries: dict[str, int] = field(default_factory=dict)


def parse_rate(expression: str) -> float:
    """Seconds between runs of an EventBridge ``rate(N unit)`` expression."""
    match = _RATE.match(expression.strip())
    if not match:
        raise ConfigError(f"schedule {expression!r}: only rate(N minutes|hours|days) is played locally")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def event_sources(stack: Stack, local: LocalDeployment) -> tuple[list[SqsSource], list[Schedule], list[str]]:
    """The SQS sources and schedules the template declares, and notes on events not played."""
    arn_to_queue = {
        attrs["Arn"]: lid
        for lid, attrs in local.attributes.items()
        if local.types.get(lid) == "AWS::SQS::Queue"
    }
    sources: list[SqsSource] = []
    schedules: list[Schedule] = []
    notes: list[str] = []
    for function in stack.function_ids():
        for name, spec in stack.function_events(function).items():
            props = spec.get("Properties", {})
            kind = spec.get("Type")
            if kind == "SQS":
                queue_id = arn_to_queue.get(str(props.get("Queue")))
                if queue_id is None:
                    notes.append(f"{function}.{name}: queue {props.get('Queue')} is not provisioned")
                    continue
                if str(props.get("Enabled", "true")).lower() == "false":
                    notes.append(f"{function}.{name}: disabled in the template")
                    continue
                sources.append(
                    SqsSource(
                        function=function,
                        queue_url=local.queue_url(queue_id),
                        queue_arn=local.attributes[queue_id]["Arn"],
                        batch_size=int(props.get("BatchSize", 10)),
                        batching_window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                        max_concurrency=int(props.get("ScalingConfig", {}).get("MaximumConcurrency", 2)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                    )
                )
            elif kind in ("Schedule", "ScheduleV2"):
                expression = str(props.get("Schedule") or props.get("ScheduleExpression", ""))
                raw_input = props.get("Input", "{}")
                try:
                    schedules.append(Schedule(function, name, parse_rate(expression), json.loads(raw_input)))
                except ConfigError as exc:
                    notes.append(f"{function}.{name}: {exc}")
            else:
                notes.append(f"{function}.{name}: {kind} events are not played locally")
    return sources, schedules, notes


def sqs_event(messages: list[dict[str, Any]], source: SqsSource, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping sends for ``messages``."""
    records = []
    for m in messages:
        attributes = m.get("Attributes", {})
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    k: attributes[k]
                    for k in (
                        "ApproximateReceiveCount",
                        "SentTimestamp",
                        "SenderId",
                        "ApproximateFirstReceiveTimestamp",
                    )
                    if k in attributes
                },
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": source.queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


class Poller:
    """Workers that feed queue batches to the runner; a scheduler thread for ``rate()`` schedules."""

    def __init__(
        self,
        invoker: Invoker,
        sqs: Any,
        sources: list[SqsSource],
        schedules: list[Schedule] | None = None,
        *,
        region: str,
        workers: int | None = None,
        poll_wait_seconds: int = 1,
        log: Callable[[str], None] = print,
    ) -> None:
        self.invoker = invoker
        self.sqs = sqs
        self.sources = sources
        self.schedules = schedules or []
        self.region = region
        self.workers = workers
        self.poll_wait_seconds = poll_wait_seconds
        self.log = log
        self.stats = PollerStats()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._in_flight = 0
        self._lock = threading.Lock()

    def start(self) -> Poller:
        for source in self.sources:
            count = self.workers or source.max_concurrency
            for n in range(count):
                thread = threading.Thread(
                    target=self._work, args=(source,), name=f"poller-{source.function}-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
            self.log(
                f"polling {source.queue_url.rsplit('/', 1)[-1]} -> {source.function} "
                f"({count} workers, batch {source.batch_size}, window {source.batching_window:g}s)"
            )
        if self.schedules:
            thread = threading.Thread(target=self._schedule_loop, name="poller-schedules", daemon=True)
            thread.start()
            self._threads.append(thread)
            for s in self.schedules:
                self.log(
                    f"schedule {s.function}.{s.name}: every {s.every_seconds:g}s with {json.dumps(s.input)}"
                )
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; in-flight invocations finish (their records are settled) first."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def run_schedule(self, name: str | None = None) -> list[Invocation]:
        """Run schedules now (all, or the one called ``name``), on demand."""
        chosen = [s for s in self.schedules if name is None or s.name == name]
        if not chosen:
            raise ConfigError(f"no schedule named {name!r}")
        return [self._fire(s) for s in chosen]

    def _fire(self, schedule: Schedule) -> Invocation:
        result = self.invoker.invoke(schedule.function, schedule.input)
        self.stats.schedule_runs += 1
        outcome = "ok" if result.ok else f"{(result.error or {}).get('errorType')}"
        self.log(f"schedule {schedule.function}.{schedule.name}: {outcome} in {result.duration_ms:.0f} ms")
        return result

    def _schedule_loop(self) -> None:
        next_run = {s.name: time.monotonic() + s.every_seconds for s in self.schedules}
        while not self._stop.wait(1.0):
            now = time.monotonic()
            for s in self.schedules:
                if now >= next_run[s.name]:
                    next_run[s.name] = now + s.every_seconds
                    self._fire(s)

    def _receive(self, source: SqsSource) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        window_ends = None
        while not self._stop.is_set() and len(messages) < source.batch_size:
            response = self.sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(10, source.batch_size - len(messages)),
                WaitTimeSeconds=self.poll_wait_seconds if not messages else 0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = response.get("Messages", [])
            messages.extend(got)
            if not messages:
                return []
            if window_ends is None:
                window_ends = time.monotonic() + source.batching_window
            if time.monotonic() >= window_ends:
                break
            if not got:
                time.sleep(min(0.2, max(0.0, window_ends - time.monotonic())))
        return messages

    def _work(self, source: SqsSource) -> None:
        while not self._stop.is_set():
            try:
                messages = self._receive(source)
                if not messages:
                    continue
                with self._lock:
                    self._in_flight += 1
                try:
                    self._deliver(source, messages)
                finally:
                    with self._lock:
                        self._in_flight -= 1
            except Exception as exc:  # a worker must survive a flaky emulator call
                self.stats.errors.append(f"{type(exc).__name__}: {exc}")
                self.log(f"poller error: {type(exc).__name__}: {exc}")
                time.sleep(1.0)

    def _deliver(self, source: SqsSource, messages: list[dict[str, Any]]) -> None:
        event = sqs_event(messages, source, self.region)
        result = self.invoker.invoke(source.function, event)
        by_id = {m["MessageId"]: m for m in messages}
        with self._lock:
            self.stats.invocations += 1
            for mid in by_id:
                self.stats.deliveries[mid] = self.stats.deliveries.get(mid, 0) + 1
        failed: set[str]
        if not result.ok:
            self.stats.failed_invocations += 1
            error = result.error or {}
            self.log(
                f"{source.function}: invocation failed ({error.get('errorType')}: "
                f"{str(error.get('errorMessage', ''))[:200]}); {len(messages)} records return to the queue"
            )
            failed = set(by_id)
        elif source.report_batch_item_failures:
            failed = self._reported_failures(source, result, by_id)
        else:
            failed = set()
        done = [m for mid, m in by_id.items() if mid not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        with self._lock:
            self.stats.records_deleted += len(done)
            self.stats.records_failed += len(failed)
            for mid in failed:
                self.stats.failed_deliveries[mid] = self.stats.failed_deliveries.get(mid, 0) + 1
        self.log(
            f"{source.function}: batch of {len(messages)} in {result.duration_ms:.0f} ms"
            f"{' (cold)' if result.cold else ''}: {len(done)} done, {len(failed)} to retry"
        )

    def _reported_failures(self, source: SqsSource, result: Invocation, by_id: dict[str, Any]) -> set[str]:
        """Lambda's rules: a malformed response or an unknown id fails the whole batch."""
        payload = result.result
        if payload is None or (isinstance(payload, dict) and not payload.get("batchItemFailures")):
            return set()
        failures = payload.get("batchItemFailures") if isinstance(payload, dict) else None
        if not isinstance(failures, list):
            self.log(f"{source.function}: malformed batchItemFailures; the whole batch is retried")
            return set(by_id)
        ids = {str(f.get("itemIdentifier", "")) for f in failures if isinstance(f, dict)}
        if len(ids) != len(failures) or not ids <= set(by_id):
            self.log(
                f"{source.function}: batchItemFailures names unknown records; the whole batch is retried"
            )
            return set(by_id)
        return ids

    def wait_until_drained(
        self,
        *,
        timeout: float = 600.0,
        settle: float = 2.0,
        progress: Callable[[int, int], None] | None = None,
    ) -> bool:
        """Block until every source queue is empty (visible and in flight) and no invocation runs."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            visible = invisible = 0
            for source in self.sources:
                attrs = self.sqs.get_queue_attributes(
                    QueueUrl=source.queue_url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
                visible += int(attrs.get("ApproximateNumberOfMessages", 0))
                invisible += int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
            if progress is not None:
                progress(visible, invisible)
            if visible == 0 and invisible == 0 and self.in_flight == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return True
            else:
                quiet_since = None
            time.sleep(0.5)
        return False
