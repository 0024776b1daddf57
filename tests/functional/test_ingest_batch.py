"""Batches: one bad record never fails the others; only transient failures are reported for retry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import quote_plus

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from docpipe import aws
from docpipe.exceptions import ConfigError, IndexMismatchError, ThrottledError
from tests.aws_faults import fail_attempts
from tests.conftest import load_event
from tests.functional.conftest import Pipeline, import_handler, s3_notification, sqs_batch


class PoisonEmbedder:
    """Fails (like Bedrock under sustained throttling) for texts containing a marker."""

    def __init__(self, inner: object, error: Exception) -> None:
        self.inner = inner
        self.error = error
        self.dimension = inner.dimension  # type: ignore[attr-defined]
        self.provider = inner.provider  # type: ignore[attr-defined]
        self.model_id = inner.model_id  # type: ignore[attr-defined]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if any("POISON" in t for t in texts):
            raise self.error
        return self.inner.embed_documents(texts)  # type: ignore[attr-defined, no-any-return]


def test_mixed_batch_indexes_the_good_and_records_the_skips(
    pipeline: Pipeline, corpus_bytes: Callable[[str], bytes]
) -> None:
    pipeline.upload("docs/pdflatex-4-pages.pdf", corpus_bytes("pdflatex-4-pages.pdf"))
    pipeline.upload("docs/tools/installer.exe", b"MZ\x90\x00" + b"\x00" * 256)
    pipeline.upload("docs/corrupt.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 200)

    response = pipeline.invoke(load_event("sqs_s3_batch_mixed"))

    assert response == {"batchItemFailures": []}
    good = pipeline.record("docs/pdflatex-4-pages.pdf")
    assert good is not None and (good.state, good.pages) == ("indexed", 4)
    assert len(pipeline.vectors("docs/pdflatex-4-pages.pdf")) == good.chunk_count > 0
    for key, reason in (("docs/tools/installer.exe", "unsupported_type"), ("docs/corrupt.pdf", "corrupt")):
        record = pipeline.record(key)
        assert record is not None and (record.state, record.reason) == ("skipped", reason)
        assert pipeline.vectors(key) == []


@pytest.mark.parametrize(
    "error",
    [ThrottledError("bedrock: ThrottlingException"), RuntimeError("bug")],
    ids=["transient", "unexpected"],
)
def test_poison_record_fails_alone_and_succeeds_on_retry(pipeline: Pipeline, error: Exception) -> None:
    pipeline.start()
    assert pipeline.app is not None
    real = pipeline.app.service.embedder
    pipeline.app.service.embedder = PoisonEmbedder(real, error)
    pipeline.upload("docs/good.txt", b"rivers and lakes")
    pipeline.upload("docs/poison.txt", b"POISON pill")
    pipeline.upload("docs/other.txt", b"mountains and valleys")
    batch = sqs_batch(
        *(
            s3_notification(quote_plus(k), sequencer="01")
            for k in ("docs/good.txt", "docs/poison.txt", "docs/other.txt")
        )
    )

    response = pipeline.invoke(batch)

    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    assert pipeline.record("docs/good.txt").state == "indexed"  # type: ignore[union-attr]
    assert pipeline.record("docs/other.txt").state == "indexed"  # type: ignore[union-attr]
    assert pipeline.record("docs/poison.txt").state == "processing"  # type: ignore[union-attr]
    # SQS redelivers only the failed message; once the cause is gone it is indexed.
    pipeline.app.service.embedder = real
    retry = {"Records": [batch["Records"][1]]}
    assert pipeline.invoke(retry) == {"batchItemFailures": []}
    assert pipeline.record("docs/poison.txt").state == "indexed"  # type: ignore[union-attr]


def test_unrecognised_message_is_reported_for_retry_and_dead_letter(pipeline: Pipeline) -> None:
    event = sqs_batch({"hello": "world"}, s3_notification("docs/missing.txt", sequencer="01"))

    response = pipeline.invoke(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}


def test_document_over_the_size_limit_is_skipped_without_download(pipeline: Pipeline) -> None:
    pipeline.start(MAX_DOCUMENT_BYTES="1000")
    pipeline.upload("docs/big.txt", b"x" * 5000)

    response = pipeline.invoke(sqs_batch(s3_notification("docs/big.txt", sequencer="01", size=5000)))

    assert response == {"batchItemFailures": []}
    record = pipeline.record("docs/big.txt")
    assert record is not None and (record.state, record.reason) == ("skipped", "too_large")


def test_cold_start_with_a_bad_setting_names_the_variable(pipeline: Pipeline) -> None:
    pipeline.monkeypatch.setenv("CHUNK_SIZE", "5")

    with pytest.raises(ConfigError, match="CHUNK_SIZE"):
        import_handler()


def test_cold_start_without_a_required_setting_names_the_variable(pipeline: Pipeline) -> None:
    pipeline.monkeypatch.delenv("DOCUMENTS_TABLE")

    with pytest.raises(ConfigError, match="DOCUMENTS_TABLE"):
        import_handler()


def test_index_of_another_dimension_fails_every_record_clearly(pipeline: Pipeline) -> None:
    pipeline.start(EMBEDDING_DIMENSION="128")
    pipeline.upload("docs/a.txt", b"text")

    # Every record fails, so Powertools fails the whole invocation: SQS retries, then dead-letters.
    with pytest.raises(BatchProcessingError, match="All records failed") as caught:
        pipeline.invoke(sqs_batch(s3_notification("docs/a.txt", sequencer="01")))

    [(_, error, _)] = caught.value.child_exceptions
    assert isinstance(error, IndexMismatchError)
    assert "has dimension 256 but offline embeddings produces 128" in str(error)
    assert pipeline.record("docs/a.txt") is None


def test_a_throttled_put_vectors_makes_bounded_attempts_then_fails_its_record_as_transient(
    pipeline: Pipeline, no_backoff: list[float]
) -> None:
    # Given S3 Vectors throttles every PutVectors attempt of the deployed handler's client
    app = pipeline.start()
    attempts = fail_attempts(
        app.service.store.client, "PutVectors", code="TooManyRequestsException", status=429
    )
    pipeline.upload("docs/throttled.txt", b"a document that meets a throttled index")
    pipeline.upload("docs/tool.exe", b"MZ\x90\x00" + b"\x00" * 64)  # skipped: writes no vectors
    batch = sqs_batch(
        s3_notification(quote_plus("docs/throttled.txt"), sequencer="01"),
        s3_notification(quote_plus("docs/tool.exe"), sequencer="01"),
    )

    # When the batch is handled
    response = pipeline.invoke(batch)

    # Then botocore made its bounded attempts (no second retry loop above it) and the record failed
    # as transient: SQS will redeliver it, and the claim was released for that retry
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    assert len(attempts) == aws.MAX_ATTEMPTS
    record = pipeline.record("docs/throttled.txt")
    assert record is not None and record.state != "indexed"
