"""Reconcile finds every kind of drift, repairs it through the normal ingest path, and is safe.

The stack comes from template.yaml (moto, mock_aws). Drift is made the way it happens: events
that never arrive (the queue drained and dropped), a vector written by hand, a claim whose worker
died. "Repaired" means: after the enqueued messages went through IngestFunction, a second run
reports no drift and the index says what the bucket says.

Tests marked ``BOTH_SOURCES`` run twice: on ListObjectsV2 and on an S3 Inventory report
(``ReconcileSource=inventory``; each run reads a report of the bucket taken just before it, as
S3 would deliver it, see tests/inventory_reports.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from docpipe.events import ObjectEvent, parse_body
from docpipe.queue import MessageQueue
from docpipe.registry import RECONCILE_CURSOR_ID
from docpipe.s3 import S3Client
from docpipe.scope import Scope
from docpipe.vectorstore import VectorRecord
from docpipe_cli.commands.backfill import backfill
from docpipe_cli.target import Target
from tests.functional.conftest import Pipeline
from tests.inventory_reports import write_report

# docpipe.reconcile (and docpipe.ingest, which it imports) are imported in the tests, after the
# pipeline fixture set POWERTOOLS_SERVICE_NAME: Powertools names child loggers at import.
STOP_MARGIN_MS = 30_000

TEXT = "Reconcile keeps the index honest about the bucket. " * 20
BOTH_SOURCES = pytest.mark.parametrize(
    "pipeline", [{}, {"ReconcileSource": "inventory"}], indirect=True, ids=["list", "inventory"]
)


def service(pipeline: Pipeline, s3_client: Any = None, *, scope: Scope | None = None) -> Any:
    """The reconcile service of the stack; on an inventory stack, a report of the bucket is taken first.

    ``scope``: the stack redeployed with another DocumentPrefix / DocumentSuffix (default: the
    template's, as ReconcileFunction reads it).
    """
    from docpipe.config import Settings
    from docpipe.reconcile import STOP_MARGIN_MS as margin
    from docpipe.reconcile import ReconcileService, make_object_source

    assert margin == STOP_MARGIN_MS
    names = pipeline.names
    s3 = S3Client(s3_client or boto3.client("s3", region_name="us-east-1"))
    settings = Settings.from_env(pipeline.names.env("ReconcileFunction"))
    if settings.reconcile_source == "inventory":
        write_report(
            pipeline.s3,
            source_bucket=names.documents_bucket,
            destination_bucket=settings.inventory_bucket,
            prefix=settings.inventory_prefix,
        )
    return ReconcileService(
        s3=s3,
        registry=pipeline.registry,
        store=pipeline.store,
        queue=MessageQueue(boto3.client("sqs", region_name="us-east-1"), names.queue_url),
        bucket=names.documents_bucket,
        region="us-east-1",
        source=make_object_source(settings, s3),
        scope=scope or Scope.from_settings(settings),
    )


def request(**fields: Any) -> Any:
    from docpipe.reconcile import ReconcileRequest

    return ReconcileRequest(**fields)


def ingest_queue(pipeline: Pipeline) -> int:
    """Deliver what is on IngestQueue to the handler until it is empty; returns the count."""
    delivered = 0
    while records := pipeline.drain_queue():
        response = pipeline.invoke({"Records": records})
        assert response["batchItemFailures"] == []
        delivered += len(records)
    return delivered


def lose_events(pipeline: Pipeline) -> None:
    pipeline.drain_queue()  # notifications that never reach the function


@pytest.fixture
def indexed(pipeline: Pipeline) -> Pipeline:
    """Three text documents indexed through their S3 events."""
    pipeline.start()
    lose_events(pipeline)  # the s3:TestEvent
    for name in ("a", "b", "c"):
        pipeline.upload(f"docs/{name}.txt", (TEXT + name).encode())
    assert ingest_queue(pipeline) == 3
    return pipeline


def make_drift(pipeline: Pipeline) -> None:
    pipeline.upload("docs/new.txt", (TEXT + "new").encode())  # missing
    pipeline.upload("docs/b.txt", (TEXT + "b, second version").encode())  # changed
    pipeline.delete_object("docs/c.txt")  # gone
    lose_events(pipeline)
    stray = ObjectEvent("created", pipeline.names.documents_bucket, "docs/stray.txt").doc_id
    pipeline.store.put([VectorRecord(f"{stray}#0", [0.1] * pipeline.names.dimension, {"doc_id": stray})])


@BOTH_SOURCES
def test_every_kind_of_drift_is_reported_and_repaired(indexed: Pipeline) -> None:
    make_drift(indexed)

    report = service(indexed).run()
    ingest_queue(indexed)
    again = service(indexed).run()

    assert report["complete"] and report["stopped"] is None
    assert report["counts"] == {
        "missing": 1, "changed": 1, "gone": 1, "stale_claims": 0, "stale_access": 0, "orphan_vectors": 1,
        "out_of_scope": 0,
    }  # fmt: skip
    assert report["examples"]["missing"] == ["docs/new.txt"]
    assert report["examples"]["changed"] == ["docs/b.txt"]
    assert report["examples"]["gone"] == ["docs/c.txt"]
    assert report["enqueued"] == 3 and report["vectors_deleted"] == 1
    assert again["drift"] == 0 and again["enqueued"] == 0
    assert indexed.record("docs/new.txt").state == "indexed"  # type: ignore[union-attr]
    assert indexed.record("docs/c.txt").state == "deleted"  # type: ignore[union-attr]
    assert indexed.vectors("docs/c.txt") == []
    b_text = " ".join(str(v.metadata["text"]) for v in indexed.vectors("docs/b.txt"))
    assert "second version" in b_text


@BOTH_SOURCES
def test_a_dry_run_reports_the_same_counts_and_changes_nothing(indexed: Pipeline) -> None:
    make_drift(indexed)

    dry = service(indexed).run(request(dry_run=True))
    real = service(indexed).run()

    assert dry["counts"] == real["counts"] and dry["drift"] == 4
    assert (dry["enqueued"], dry["vectors_deleted"]) == (0, 0)
    assert (real["enqueued"], real["vectors_deleted"]) == (3, 1)


@BOTH_SOURCES
def test_a_dry_run_leaves_queue_registry_index_and_cursor_untouched(indexed: Pipeline) -> None:
    make_drift(indexed)
    registry_before = sorted(map(str, indexed.registry.scan_items()))
    vectors_before = sorted(v.key for v in indexed.store.iter_vectors(return_data=False))

    service(indexed).run(request(dry_run=True))

    assert indexed.drain_queue() == []
    assert sorted(map(str, indexed.registry.scan_items())) == registry_before
    assert sorted(v.key for v in indexed.store.iter_vectors(return_data=False)) == vectors_before
    assert indexed.registry.get_cursor() == {}


def test_a_listing_that_fails_part_way_removes_nothing(indexed: Pipeline) -> None:
    # Given docs/a.txt deleted with its event lost, and a listing (one key a page) that fails on
    # its second page: the first page (docs/b.txt) has passed docs/a.txt without seeing it.
    indexed.delete_object("docs/a.txt")
    lose_events(indexed)
    s3 = boto3.client("s3", region_name="us-east-1")
    calls = itertools.count()

    def fail_second_page(**_: Any) -> None:
        if next(calls) == 1:
            raise EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")

    s3.meta.events.register("before-call.s3.ListObjectsV2", fail_second_page)
    reconcile = service(indexed, s3)
    reconcile.s3.list_page_size = 1  # type: ignore[attr-defined]

    report = reconcile.run()

    assert report["stopped"] == "listing_failed" and not report["complete"]
    assert "failed part-way" in (report["error"] or "")
    assert report["objects_listed"] == 1
    assert indexed.drain_queue() == []  # nothing is judged gone on a partial listing
    assert indexed.record("docs/a.txt").state == "indexed"  # type: ignore[union-attr]
    assert indexed.registry.get_cursor() == {}  # the next run repeats this one


def remaining_after(calls: int) -> Callable[[], int]:
    """An invocation's remaining time that runs out after ``calls`` looks at it."""
    counter = itertools.count()
    return lambda: 10**9 if next(counter) < calls else STOP_MARGIN_MS - 1


@BOTH_SOURCES
def test_a_run_out_of_time_stops_cleanly_and_the_next_continues_from_its_cursor(
    indexed: Pipeline,
) -> None:
    for n in range(6):
        indexed.upload(f"docs/later-{n}.txt", (TEXT + str(n)).encode())
    lose_events(indexed)

    first = service(indexed).run(remaining_ms=remaining_after(4))
    cursor = indexed.registry.get_cursor()
    second = service(indexed).run(remaining_ms=remaining_after(10**6))
    enqueued = indexed.drain_queue()

    assert first["stopped"] == "time" and not first["complete"]
    assert cursor["phase"] == "objects" and cursor["after_key"].startswith("docs/")
    assert second["resumed_after"] == cursor["after_key"] and second["complete"]
    assert first["counts"]["missing"] + second["counts"]["missing"] == 6
    assert first["enqueued"] + second["enqueued"] == len(enqueued) == 6
    assert indexed.registry.get_cursor()["after_key"] == ""  # the pass ended: the next starts over


def test_the_cursor_item_is_not_a_document(indexed: Pipeline) -> None:
    service(indexed).run(remaining_ms=remaining_after(2))

    keys = [r.key for r in indexed.registry.list()]
    ids = [item["doc_id"] for item in indexed.registry.scan_items()]

    assert indexed.registry.get_cursor()  # stored
    assert RECONCILE_CURSOR_ID not in ids and "" not in keys and len(keys) == 3


@BOTH_SOURCES
def test_a_claim_past_its_lease_is_enqueued_again_and_finishes(indexed: Pipeline) -> None:
    registry = indexed.registry
    indexed.upload("docs/crashed.txt", (TEXT + "crashed").encode())
    (record,) = indexed.drain_queue()
    from docpipe.events import parse_sqs_record

    (event,) = parse_sqs_record(record)
    registry.begin(event, deadline=registry.deadline_after(0) - 60)  # its worker died a minute ago

    report = service(indexed).run()
    ingest_queue(indexed)

    assert report["counts"]["stale_claims"] == 1
    assert report["examples"]["stale_claims"] == ["docs/crashed.txt"]
    assert indexed.record("docs/crashed.txt").state == "indexed"  # type: ignore[union-attr]


@BOTH_SOURCES
def test_a_claim_still_within_its_lease_is_left_alone(indexed: Pipeline) -> None:
    registry = indexed.registry
    indexed.upload("docs/busy.txt", (TEXT + "busy").encode())
    (record,) = indexed.drain_queue()
    from docpipe.events import parse_sqs_record

    (event,) = parse_sqs_record(record)
    registry.begin(event, deadline=registry.deadline_after(120_000))

    report = service(indexed).run()

    assert report["in_flight"] == 1 and report["drift"] == 0
    assert indexed.drain_queue() == []


@BOTH_SOURCES
def test_vectors_beyond_an_indexed_documents_chunks_are_orphans(indexed: Pipeline) -> None:
    record = indexed.record("docs/a.txt")
    assert record is not None
    extra = f"{record.doc_id}#{record.chunk_count + 3}"
    indexed.store.put([VectorRecord(extra, [0.2] * indexed.names.dimension, {"doc_id": record.doc_id})])
    kept = sorted(v.key for v in indexed.vectors("docs/a.txt") if v.key != extra)

    report = service(indexed).run()

    assert report["counts"]["orphan_vectors"] == 1 and report["examples"]["orphan_vectors"] == [extra]
    assert sorted(v.key for v in indexed.vectors("docs/a.txt")) == kept
    assert indexed.record("docs/a.txt").state == "indexed"  # type: ignore[union-attr]


def test_the_handler_runs_the_event_files(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import sys

    from tests.conftest import ROOT, load_event
    from tests.lambda_context import LambdaContext

    for key, value in pipeline.names.env("ReconcileFunction").items():
        monkeypatch.setenv(key, value) if value else monkeypatch.delenv(key, raising=False)
    pipeline.upload("docs/unseen.txt", TEXT.encode())
    lose_events(pipeline)
    spec = importlib.util.spec_from_file_location("reconcile_app", ROOT / "functions/reconcile/app.py")
    assert spec is not None and spec.loader is not None
    app = importlib.util.module_from_spec(spec)
    sys.modules["reconcile_app"] = app
    spec.loader.exec_module(app)

    dry = app.handler(load_event("reconcile_dry_run.json"), LambdaContext())
    real = app.handler(load_event("reconcile.json"), LambdaContext())

    assert (dry["dry_run"], dry["counts"]["missing"], dry["enqueued"]) == (True, 1, 0)
    assert (real["dry_run"], real["counts"]["missing"], real["enqueued"]) == (False, 1, 1)
    with pytest.raises(Exception, match="dry_run"):
        app.handler({"dry_run": "yes"}, LambdaContext())


def test_the_enqueue_half_sends_what_is_missing_or_changed_and_nothing_else(indexed: Pipeline) -> None:
    make_drift(indexed)  # docs/new.txt missing, docs/b.txt changed, docs/c.txt gone, one orphan vector
    seen: list[int] = []

    result = service(indexed).enqueue_objects(
        "docs/", on_object=lambda report: seen.append(report.objects_listed)
    )
    keys = sorted(json.loads(r["body"])["Records"][0]["s3"]["object"]["key"] for r in indexed.drain_queue())

    assert keys == ["docs%2Fb.txt", "docs%2Fnew.txt"] and result["enqueued"] == 2
    assert result["counts"]["gone"] == 0 and result["counts"]["orphan_vectors"] == 0
    assert seen[-1] == result["objects_listed"] == 3
    assert indexed.registry.get_cursor() == {}
    assert (
        len(
            indexed.store.get(
                [f"{ObjectEvent('created', indexed.names.documents_bucket, 'docs/stray.txt').doc_id}#0"]
            )
        )
        == 1
    )


@BOTH_SOURCES
def test_an_object_whose_registry_entry_was_lost_is_indexed_again_in_one_run(indexed: Pipeline) -> None:
    # Given docs/a.txt indexed, then its registry item lost (say, a restore from an older backup).
    lost = indexed.record("docs/a.txt")
    assert lost is not None and lost.chunk_count > 0
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.delete_item(TableName=indexed.names.table, Key={"doc_id": {"S": lost.doc_id}})

    report = service(indexed).run()
    ingest_queue(indexed)
    again = service(indexed).run()

    # Its vectors were orphans (deleted under a claim below every event), and the "missing" event
    # enqueued in the same run still applied after that claim.
    assert report["counts"]["missing"] == 1 and report["counts"]["orphan_vectors"] == lost.chunk_count
    record = indexed.record("docs/a.txt")
    assert record is not None and record.state == "indexed"
    assert [v.key for v in indexed.vectors("docs/a.txt")] == [
        f"{lost.doc_id}#{n}" for n in range(record.chunk_count)
    ]
    assert again["drift"] == 0


# ---------------------------------------------------------------- the scope (docpipe.scope)

PDF_STACK = pytest.mark.parametrize("pipeline", [{"DocumentSuffix": ".pdf"}], indirect=True)
PDF_STACK_BOTH_SOURCES = pytest.mark.parametrize(
    "pipeline",
    [{"DocumentSuffix": ".pdf"}, {"DocumentSuffix": ".pdf", "ReconcileSource": "inventory"}],
    indirect=True,
    ids=["list", "inventory"],
)


@PDF_STACK_BOTH_SOURCES
def test_a_file_outside_the_suffix_is_ignored_with_its_reason_and_never_enqueued(pipeline: Pipeline) -> None:
    # Given a DocumentSuffix=.pdf stack and a text file S3 (rightly) did not announce
    pipeline.start()
    lose_events(pipeline)
    pipeline.upload("docs/notes.txt", TEXT.encode())
    assert pipeline.drain_queue() == []

    report = service(pipeline).run()

    assert report["drift"] == 0 and report["enqueued"] == 0
    assert report["ignored"] == {"outside_prefix": 0, "outside_suffix": 1}
    assert report["ignored_examples"]["outside_suffix"] == ["docs/notes.txt"]
    assert report["scope"] == {"prefix": "", "suffix": ".pdf"}
    assert pipeline.drain_queue() == []
    assert pipeline.record("docs/notes.txt") is None


@BOTH_SOURCES
def test_documents_indexed_before_the_suffix_was_set_are_removed_and_counted(indexed: Pipeline) -> None:
    # Given three text documents indexed, then the stack redeployed with DocumentSuffix=.pdf
    indexed.start(DOCUMENT_SUFFIX=".pdf")
    narrowed = Scope(suffix=".pdf")

    report = service(indexed, scope=narrowed).run()
    ingest_queue(indexed)
    again = service(indexed, scope=narrowed).run()

    keys = ["docs/a.txt", "docs/b.txt", "docs/c.txt"]
    assert report["counts"]["out_of_scope"] == 3 and report["drift"] == 3 and report["enqueued"] == 3
    assert sorted(report["examples"]["out_of_scope"]) == keys
    for key in keys:
        record = indexed.record(key)
        assert record is not None and (record.state, record.reason) == ("skipped", "outside_suffix")
        assert indexed.vectors(key) == []
    assert again["drift"] == 0 and again["enqueued"] == 0
    assert again["ignored"]["outside_suffix"] == 3


@BOTH_SOURCES
def test_documents_outside_a_narrowed_prefix_are_removed_though_no_longer_listed(indexed: Pipeline) -> None:
    indexed.upload("archive/old.txt", (TEXT + "archived").encode())
    ingest_queue(indexed)
    assert indexed.vectors("archive/old.txt")
    indexed.start(DOCUMENT_PREFIX="docs/")  # redeployed with DocumentPrefix=docs/

    report = service(indexed, scope=Scope(prefix="docs/")).run()
    ingest_queue(indexed)

    assert report["counts"]["out_of_scope"] == 1 and report["drift"] == 1
    assert report["examples"]["out_of_scope"] == ["archive/old.txt"]
    record = indexed.record("archive/old.txt")
    assert record is not None and (record.state, record.reason) == ("skipped", "outside_prefix")
    assert indexed.vectors("archive/old.txt") == []
    assert indexed.record("docs/a.txt").state == "indexed"  # type: ignore[union-attr]


@BOTH_SOURCES
def test_a_document_skipped_outside_the_scope_is_indexed_once_the_scope_includes_it(
    pipeline: Pipeline,
) -> None:
    pipeline.start(DOCUMENT_SUFFIX=".pdf")
    lose_events(pipeline)
    pipeline.upload("docs/notes.txt", TEXT.encode())
    ingest_queue(pipeline)
    assert pipeline.record("docs/notes.txt").reason == "outside_suffix"  # type: ignore[union-attr]
    pipeline.start(DOCUMENT_SUFFIX="")  # redeployed without a suffix

    report = service(pipeline).run()
    ingest_queue(pipeline)

    assert report["counts"]["changed"] == 1 and report["examples"]["changed"] == ["docs/notes.txt"]
    assert pipeline.record("docs/notes.txt").state == "indexed"  # type: ignore[union-attr]
    assert pipeline.vectors("docs/notes.txt")


@PDF_STACK
def test_backfill_enqueues_only_the_documents_in_the_stacks_scope(pipeline: Pipeline) -> None:
    pipeline.start()
    lose_events(pipeline)
    pipeline.upload("docs/report.pdf", b"%PDF-1.4 stand-in")
    pipeline.upload("docs/notes.txt", TEXT.encode())
    lose_events(pipeline)

    names = pipeline.names
    target = Target(None, "us-east-1", None, {
        "documents_table": names.table, "queue_url": names.queue_url,
        "document_prefix": "", "document_suffix": ".pdf",  # the stack's outputs
    })  # fmt: skip

    enqueued = backfill(target, f"s3://{names.documents_bucket}/docs/", progress=False)

    assert enqueued == 1
    [record] = pipeline.drain_queue()
    [event] = parse_body(json.loads(record["body"]))
    assert event.key == "docs/report.pdf"


@PDF_STACK
def test_the_reconcile_summary_line_names_what_the_scope_left_out(pipeline: Pipeline) -> None:
    from docpipe_cli.commands.reconcile import reconcile_summary

    pipeline.start()
    lose_events(pipeline)
    pipeline.upload("docs/notes.txt", TEXT.encode())

    line = reconcile_summary(service(pipeline).run(request(dry_run=True)))

    assert "outside the scope, ignored: outside_suffix 1;" in line
