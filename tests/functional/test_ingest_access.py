"""Access lists on the ingest path (moto, template resources with AccessControl=enforced).

Documents get their list from the sidecar's ``access`` field united with the operator's prefix
rule; a change of either re-labels the chunks without re-embedding them, within one ingest of the
change (the sidecar's own event; for a rule, the reconcile run the rule's change starts). Backup
and restore keep the lists.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from docpipe.access import UNLISTED
from docpipe.access.condition import query_principals, readable
from docpipe.queue import MessageQueue
from docpipe.s3 import S3Client
from tests.functional.conftest import Pipeline

TEXT = "Access lists travel with every chunk of a document. " * 60
ENFORCED = pytest.mark.parametrize(
    "pipeline", [{"AccessControl": "enforced"}], indirect=True, ids=["enforced"]
)


def ingest_queue(pipeline: Pipeline) -> None:
    """Deliver what is on IngestQueue to the handler until it is empty, every record succeeding."""
    while records := pipeline.drain_queue():
        response = pipeline.invoke({"Records": records})
        assert response["batchItemFailures"] == []


def sidecar(access: Any = None, **attributes: Any) -> bytes:
    body: dict[str, Any] = {"metadataAttributes": attributes} if attributes else {}
    if access is not None:
        body["access"] = access
    return json.dumps(body).encode()


def set_rules(pipeline: Pipeline, rules: dict[str, list[str]]) -> None:
    name = pipeline.names.env("IngestFunction")["ACCESS_RULES_PARAMETER"]
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=name, Value=json.dumps({"rules": rules}), Type="String", Overwrite=True
    )


def stored_lists(pipeline: Pipeline, key: str) -> set[tuple[str, ...]]:
    return {tuple(v.metadata.get("access", ())) for v in pipeline.vectors(key)}


def readable_by(pipeline: Pipeline, key: str, *principals: str) -> bool:
    """Whether a search by ``principals`` (AccessDefault=nobody) would match the key's chunks."""
    held = query_principals(principals, "nobody")
    return any(readable(v.metadata, held) for v in pipeline.vectors(key))


def reconcile(pipeline: Pipeline) -> dict[str, Any]:
    from docpipe.access import AccessDocuments
    from docpipe.config import Settings
    from docpipe.reconcile import ReconcileService

    settings = Settings.from_env(pipeline.names.env("ReconcileFunction"))
    return ReconcileService(
        s3=S3Client(boto3.client("s3", region_name="us-east-1")),
        registry=pipeline.registry,
        store=pipeline.store,
        queue=MessageQueue(boto3.client("sqs", region_name="us-east-1"), pipeline.names.queue_url),
        bucket=pipeline.names.documents_bucket,
        region="us-east-1",
        access=AccessDocuments(rules_parameter=settings.access_rules_parameter, max_age=3600),
    ).run()


@ENFORCED
def test_every_chunk_carries_the_rule_united_with_the_sidecar_list(pipeline: Pipeline) -> None:
    pipeline.start()
    set_rules(pipeline, {"hr/": ["group:hr"]})
    pipeline.upload("hr/pay.txt.metadata.json", sidecar([" User:Ana@Example.com", "group:HR"], team="pay"))
    pipeline.upload("hr/pay.txt", TEXT.encode())
    pipeline.upload("misc/a.txt", TEXT.encode())

    ingest_queue(pipeline)

    assert stored_lists(pipeline, "hr/pay.txt") == {("group:hr", "user:ana@example.com")}
    assert stored_lists(pipeline, "misc/a.txt") == {(UNLISTED,)}
    record = pipeline.record("hr/pay.txt")
    assert record is not None and record.access == ["group:hr", "user:ana@example.com"]
    assert record.sidecar_access == ["group:hr", "user:ana@example.com"]
    assert len(pipeline.vectors("hr/pay.txt")) > 1


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (sidecar(["hr"]), "access[0]"),
        (sidecar([]), "access"),
        (sidecar("group:hr"), "access"),
        (json.dumps({"metadataAttributes": {"access": ["group:x"]}}).encode(), "'access' is reserved"),
    ],
)
def test_a_bad_access_list_in_a_sidecar_is_invalid_sidecar_naming_the_field(
    pipeline: Pipeline, body: bytes, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline.start()
    pipeline.upload("a.txt.metadata.json", body)
    pipeline.upload("a.txt", TEXT.encode())

    ingest_queue(pipeline)

    record = pipeline.record("a.txt")
    assert record is not None and (record.state, record.reason) == ("skipped", "invalid_sidecar")
    assert pipeline.vectors("a.txt") == []
    assert any(named in str(getattr(r, "detail", "")) for r in caplog.records)


def test_a_list_too_large_for_the_filterable_budget_is_skipped_with_its_reason(pipeline: Pipeline) -> None:
    pipeline.start()
    many = [f"user:person-{i:04d}@example.com" for i in range(60)]
    pipeline.upload("a.txt.metadata.json", sidecar(many))
    pipeline.upload("a.txt", TEXT.encode())

    ingest_queue(pipeline)

    record = pipeline.record("a.txt")
    assert record is not None and (record.state, record.reason) == ("skipped", "access_list_too_large")


def test_a_narrowed_sidecar_list_relabels_without_embedding_within_one_ingest(pipeline: Pipeline) -> None:
    pipeline.start()
    pipeline.upload("a.txt.metadata.json", sidecar(["group:hr", "group:finance"], team="pay"))
    pipeline.upload("a.txt", TEXT.encode())
    ingest_queue(pipeline)
    before = {v.key: v.data for v in pipeline.vectors("a.txt")}
    assert pipeline.embedder is not None
    embedded = pipeline.embedder.calls
    assert readable_by(pipeline, "a.txt", "group:finance")

    pipeline.upload("a.txt.metadata.json", sidecar(["group:hr"], team="pay"))  # finance revoked
    ingest_queue(pipeline)  # the one ingest of the sidecar's event

    assert not readable_by(pipeline, "a.txt", "group:finance")
    assert readable_by(pipeline, "a.txt", "group:hr")
    assert pipeline.embedder.calls == embedded  # nothing re-embedded
    after = {v.key: v.data for v in pipeline.vectors("a.txt")}
    assert after == before and stored_lists(pipeline, "a.txt") == {("group:hr",)}
    assert pipeline.vectors("a.txt")[0].metadata["team"] == "pay"


def test_a_sidecar_whose_attributes_change_is_indexed_again(pipeline: Pipeline) -> None:
    pipeline.start()
    pipeline.upload("a.txt.metadata.json", sidecar(["group:hr"], team="pay"))
    pipeline.upload("a.txt", TEXT.encode())
    ingest_queue(pipeline)

    pipeline.upload("a.txt.metadata.json", sidecar(["group:hr"], team="payroll"))
    ingest_queue(pipeline)

    assert {v.metadata["team"] for v in pipeline.vectors("a.txt")} == {"payroll"}


@ENFORCED
def test_a_narrowed_rule_is_found_by_reconcile_and_relabelled_within_one_ingest(pipeline: Pipeline) -> None:
    # Given a document readable by finance through a rule, and ingest's rule cache warm.
    pipeline.start(ACCESS_CACHE_SECONDS="3600")
    set_rules(pipeline, {"reports/": ["group:finance", "group:hr"]})
    pipeline.upload("reports/q3.txt", TEXT.encode())
    pipeline.upload("other/x.txt", TEXT.encode())
    ingest_queue(pipeline)
    assert readable_by(pipeline, "reports/q3.txt", "group:finance")
    embedded = pipeline.embedder.calls if pipeline.embedder else 0

    # When the rule is narrowed and reconcile runs (the template runs it on the parameter's change)
    set_rules(pipeline, {"reports/": ["group:hr"]})
    report = reconcile(pipeline)
    ingest_queue(pipeline)

    # Then the one relabel ingest revokes finance, despite ingest's cached copy of the old rule
    assert report["counts"]["stale_access"] == 1 and report["examples"]["stale_access"] == ["reports/q3.txt"]
    assert not readable_by(pipeline, "reports/q3.txt", "group:finance")
    assert readable_by(pipeline, "reports/q3.txt", "group:hr")
    assert pipeline.embedder is not None and pipeline.embedder.calls == embedded
    assert reconcile(pipeline)["counts"]["stale_access"] == 0


@ENFORCED
def test_documents_indexed_before_access_control_are_labelled_by_reconcile(pipeline: Pipeline) -> None:
    pipeline.start()
    pipeline.upload("a.txt", TEXT.encode())
    ingest_queue(pipeline)
    # As an older docpipe left it: no list on the chunks, none in the registry.
    store = pipeline.store
    store.put(
        type(v)(v.key, v.data, {k: x for k, x in v.metadata.items() if k != "access"})
        for v in pipeline.vectors("a.txt")
    )
    pipeline.registry.client.update_item(
        TableName=pipeline.names.table,
        Key={"doc_id": {"S": pipeline.record("a.txt").doc_id}},  # type: ignore[union-attr]
        UpdateExpression="REMOVE #a",
        ExpressionAttributeNames={"#a": "access"},
    )
    assert stored_lists(pipeline, "a.txt") == {()}

    assert reconcile(pipeline)["counts"]["stale_access"] == 1
    ingest_queue(pipeline)

    assert stored_lists(pipeline, "a.txt") == {(UNLISTED,)}


def test_backup_and_restore_keep_the_access_lists(pipeline: Pipeline) -> None:
    from tests.conftest import ROOT, load_event
    from tests.functional.conftest import LambdaContext, import_handler

    pipeline.start()
    pipeline.upload("a.txt.metadata.json", sidecar(["tenant:acme"]))
    pipeline.upload("a.txt", TEXT.encode())
    ingest_queue(pipeline)
    before = {v.key: v.metadata["access"] for v in pipeline.vectors("a.txt")}
    for key, value in pipeline.names.env("BackupFunction").items():
        if value:
            pipeline.monkeypatch.setenv(key, value)
    backup = import_handler(ROOT / "functions" / "backup" / "app.py", "backup_app_for_access")

    backup.handler(load_event("schedule_backup"), LambdaContext())
    pipeline.registry.delete_all()  # the registry is lost too: its copy must come from the archive
    restore = {**load_event("backup_restore"), "restore_registry": True}
    restored = backup.handler(restore, LambdaContext())

    target = pipeline.store.for_index(restored["target_index"])
    after = {v.key: v.metadata.get("access") for v in target.iter_vectors()}
    assert after == before and {tuple(a) for a in after.values()} == {("tenant:acme",)}
    record = pipeline.record("a.txt")
    assert record is not None
    assert record.access == ["tenant:acme"] and record.sidecar_access == ["tenant:acme"]
