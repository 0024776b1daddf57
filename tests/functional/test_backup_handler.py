"""BackupFunction on the events/ files, after IngestFunction indexed real corpus PDFs (moto)."""

from __future__ import annotations

from array import array
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from docpipe import aws
from docpipe.exceptions import ConfigError, InvalidInputError
from docpipe.vectorstore import S3VectorStore
from tests.conftest import ROOT, load_event
from tests.functional.conftest import Pipeline, import_handler
from tests.lambda_context import LambdaContext

HANDLER_PATH = ROOT / "functions" / "backup" / "app.py"
PDFS = ("pdfkit.pdf", "reportlab-overlay.pdf")


def cold_start(pipeline: Pipeline, *, without: str | None = None, **env: str) -> ModuleType:
    """Import functions/backup/app.py fresh with BackupFunction's environment from template.yaml,
    plus ``env`` and minus the variable ``without``."""
    for key, value in {**pipeline.names.env("BackupFunction"), **env}.items():
        if value:
            pipeline.monkeypatch.setenv(key, value)
    if without is not None:
        pipeline.monkeypatch.delenv(without, raising=False)
    return import_handler(HANDLER_PATH, "backup_app_under_test")


@pytest.fixture(autouse=True)
def _no_deadline_after_the_test() -> Any:
    """The handler records the invocation's deadline process-wide; later tests must not inherit it."""
    yield
    aws.set_deadline(None)


def snapshot(store: S3VectorStore) -> dict[str, tuple[bytes, dict[str, Any]]]:
    return {r.key: (array("f", r.data).tobytes(), r.metadata) for r in store.iter_vectors()}


@pytest.fixture
def indexed(pipeline: Pipeline, corpus_bytes: Callable[[str], bytes]) -> Pipeline:
    """Two corpus PDFs ingested through S3 notifications and IngestFunction."""
    for name in PDFS:
        pipeline.upload(f"docs/{name}", corpus_bytes(name))
    assert pipeline.invoke({"Records": pipeline.drain_queue()}) == {"batchItemFailures": []}
    return pipeline


def test_ingested_corpus_survives_backup_wipe_and_restore(indexed: Pipeline) -> None:
    # Given an index and registry filled by the ingest function
    app = cold_start(indexed)
    store = indexed.store
    vectors = snapshot(store)
    items = sorted(indexed.registry.scan_items(), key=lambda i: i["doc_id"])
    assert len(items) == 2 and len(vectors) >= 2
    # When the schedule backs it up, then the index and registry are wiped and restored
    backup = app.handler(load_event("schedule_backup"), LambdaContext())
    store.delete(list(vectors))
    indexed.registry.delete_all()
    restored = app.handler({"action": "restore", "backup": "latest", "mode": "replace"}, LambdaContext())
    # Then vectors (exact float32), metadata and registry items are back
    assert (
        backup["action"] == "backup"
        and backup["vector_count"] == len(vectors)
        and backup["document_count"] == 2
    )
    assert restored["vectors_restored"] == len(vectors) and restored["documents_restored"] == 2
    assert snapshot(store) == vectors
    assert sorted(indexed.registry.scan_items(), key=lambda i: i["doc_id"]) == items


def test_list_verify_restore_and_prune_events(indexed: Pipeline) -> None:
    app = cold_start(indexed)
    vectors = snapshot(indexed.store)
    app.handler(load_event("schedule_backup"), LambdaContext())

    listed = app.handler(load_event("backup_list"), LambdaContext())
    verified = app.handler(load_event("backup_verify"), LambdaContext())
    restored = app.handler(load_event("backup_restore"), LambdaContext())
    pruned = app.handler(load_event("backup_prune"), LambdaContext())

    [entry] = listed["backups"]
    assert entry["vector_count"] == len(vectors) and entry["index"] == indexed.names.vector_index
    assert entry["embedding_provider"] == "offline" and entry["dimension"] == 256
    assert verified["ok"] and verified["live_matches"]
    target = load_event("backup_restore")["target_index"]
    assert restored["target_index"] == target and restored["created_index"]
    copy = S3VectorStore(indexed.store.client, indexed.names.vector_bucket, target)
    assert snapshot(copy) == vectors
    assert pruned["kept"] == [entry["key"]] and pruned["deleted"] == []


def test_a_raw_scheduled_event_without_input_runs_a_backup(indexed: Pipeline) -> None:
    app = cold_start(indexed)
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}

    result = app.handler(event, LambdaContext())

    assert result["action"] == "backup" and result["document_count"] == 2


def test_unknown_action_is_a_clear_error(pipeline: Pipeline) -> None:
    app = cold_start(pipeline)

    with pytest.raises(InvalidInputError, match="unknown action 'snapshot'; expected one of backup, list"):
        app.handler({"action": "snapshot"}, LambdaContext())


def registry_state(pipeline: Pipeline) -> list[dict[str, Any]]:
    return sorted(pipeline.registry.scan_items(), key=lambda i: i["doc_id"])


def test_restore_event_into_a_new_index_leaves_the_live_registry_unchanged(indexed: Pipeline) -> None:
    # Given a backup, then a registry that moved on (one document added since)
    app = cold_start(indexed)
    app.handler(load_event("schedule_backup"), LambdaContext())
    indexed.registry.put_items([{"doc_id": "f" * 32, "state": "indexed", "key": "docs/later.pdf"}])
    items = registry_state(indexed)
    event = {k: v for k, v in load_event("backup_restore").items() if k != "restore_registry"}
    # When the backup is restored beside the live index without saying anything about the registry
    restored = app.handler(event, LambdaContext())
    # Then the copy is made and the live registry is left as it was
    assert restored["created_index"] and restored["vectors_restored"] > 0
    assert not restored["registry_restored"] and restored["documents_restored"] == 0
    assert registry_state(indexed) == items


def test_restore_registry_given_as_the_string_false_is_honoured(indexed: Pipeline) -> None:
    app = cold_start(indexed)
    app.handler(load_event("schedule_backup"), LambdaContext())
    indexed.registry.delete_all()

    restored = app.handler(
        {"action": "restore", "mode": "replace", "restore_registry": "false"}, LambdaContext()
    )

    assert not restored["registry_restored"] and restored["vectors_restored"] > 0
    assert registry_state(indexed) == []


@pytest.mark.parametrize("value", ["no", 0, "", [False]], ids=["no", "zero", "empty", "list"])
def test_a_restore_flag_that_is_not_a_boolean_is_rejected_before_anything_is_written(
    indexed: Pipeline, value: Any
) -> None:
    app = cold_start(indexed)
    app.handler(load_event("schedule_backup"), LambdaContext())
    vectors, items = snapshot(indexed.store), registry_state(indexed)

    with pytest.raises(InvalidInputError, match="restore_registry must be true or false"):
        app.handler({"action": "restore", "mode": "replace", "restore_registry": value}, LambdaContext())

    assert snapshot(indexed.store) == vectors and registry_state(indexed) == items


@pytest.mark.parametrize("variable", ["DOCUMENTS_TABLE", "BACKUPS_BUCKET", "VECTOR_BUCKET", "VECTOR_INDEX"])
def test_cold_start_without_a_required_setting_names_the_variable(pipeline: Pipeline, variable: str) -> None:
    with pytest.raises(ConfigError, match=f"{variable} is required"):
        cold_start(pipeline, without=variable)


def test_cold_start_passes_the_configured_segment_count_to_the_service(pipeline: Pipeline) -> None:
    app = cold_start(pipeline, BACKUP_SEGMENT_COUNT="5")

    assert app.service.segment_count == 5


def test_the_handler_bounds_aws_retries_by_the_invocations_remaining_time(pipeline: Pipeline) -> None:
    app = cold_start(pipeline)
    aws.set_deadline(None)  # whatever an earlier test's invocation left behind

    app.handler(load_event("backup_list"), LambdaContext())

    left = aws.remaining_seconds()
    assert left is not None and 170 < left <= LambdaContext().get_remaining_time_in_millis() / 1000
