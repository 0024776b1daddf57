"""Every corpus PDF through the handler ends in the state the corpus README leads us to expect."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import boto3
import pytest

from tests.functional.conftest import Pipeline, s3_notification, sqs_batch

ENCRYPTED = "libreoffice-writer-password.pdf"
# Neither PDFium nor pypdf can open it (broken /Pages tree): a recorded skip, not a failure.
UNREADABLE = "unreadablemetadata.pdf"
PASSWORD_SECRET = "docpipe/test/pdf-passwords"


def corpus_files(pdf_corpus: Path) -> list[dict[str, object]]:
    listing = json.loads((pdf_corpus / "files.json").read_text(encoding="utf-8"))["files"]
    assert len(listing) == 13
    return listing  # type: ignore[no-any-return]


def ingest_all(pipeline: Pipeline, pdf_corpus: Path) -> dict[str, dict[str, object]]:
    files = corpus_files(pdf_corpus)
    bodies = []
    for i, entry in enumerate(files):
        key = f"docs/corpus/{entry['file']}"
        pipeline.upload(key, (pdf_corpus / str(entry["file"])).read_bytes())
        bodies.append(s3_notification(quote_plus(key), sequencer=f"0065A1B2C3D4E5{i:04X}"))
    # SQS delivers at most 10 records per batch; IngestBatchSize defaults to 5.
    for start in range(0, len(bodies), 5):
        assert pipeline.invoke(sqs_batch(*bodies[start : start + 5])) == {"batchItemFailures": []}
    return {str(f["file"]): f for f in files}


def test_every_corpus_file_ends_in_its_expected_state(pipeline: Pipeline, pdf_corpus: Path) -> None:
    files = ingest_all(pipeline, pdf_corpus)

    for name, entry in files.items():
        key = f"docs/corpus/{name}"
        record = pipeline.record(key)
        assert record is not None, name
        if name == ENCRYPTED:
            assert (record.state, record.reason) == ("skipped", "encrypted")
        elif name == UNREADABLE:
            assert (record.state, record.reason) == ("skipped", "corrupt")
        else:
            assert record.state == "indexed", (name, record.reason)
            assert record.pages == entry["pages"], name
            assert len(pipeline.vectors(key)) == record.chunk_count > 0, name
    skipped = [r for r in pipeline.registry.list("docs/corpus/") if r.state == "skipped"]
    assert all(pipeline.vectors(r.key) == [] for r in skipped)


def test_encrypted_pdf_is_indexed_when_its_password_is_configured(
    pipeline: Pipeline, pdf_corpus: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name=PASSWORD_SECRET, SecretString=json.dumps({"docs/locked/": "openpassword"}))
    pipeline.start(PDF_PASSWORDS_SECRET_ID=PASSWORD_SECRET)
    key = f"docs/locked/{ENCRYPTED}"
    pipeline.upload(key, (pdf_corpus / ENCRYPTED).read_bytes())
    pipeline.upload(f"docs/open/{ENCRYPTED}", (pdf_corpus / ENCRYPTED).read_bytes())

    response = pipeline.invoke(
        sqs_batch(
            s3_notification(quote_plus(key), sequencer="01"),
            s3_notification(quote_plus(f"docs/open/{ENCRYPTED}"), sequencer="01"),
        )
    )

    assert response == {"batchItemFailures": []}
    record = pipeline.record(key)
    assert record is not None and (record.state, record.pages) == ("indexed", 1)
    assert pipeline.vectors(key)
    # No prefix of the secret matches docs/open/: still skipped, and the password never logged.
    other = pipeline.record(f"docs/open/{ENCRYPTED}")
    assert other is not None and (other.state, other.reason) == ("skipped", "encrypted")
    assert "openpassword" not in capsys.readouterr().out + caplog.text


def test_encrypted_pdf_is_indexed_after_its_password_rotates_within_the_cache_ttl(
    pipeline: Pipeline, pdf_corpus: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a cached password that the PDFs no longer open with (read by the first document)...
    retired, current = "retired-pass-1234", "openpassword"
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name=PASSWORD_SECRET, SecretString=json.dumps({"docs/locked/": retired}))
    pipeline.start(PDF_PASSWORDS_SECRET_ID=PASSWORD_SECRET)
    first, second = f"docs/locked/{ENCRYPTED}", f"docs/locked/again-{ENCRYPTED}"
    for key in (first, second):
        pipeline.upload(key, (pdf_corpus / ENCRYPTED).read_bytes())
    assert pipeline.invoke(sqs_batch(s3_notification(quote_plus(first), sequencer="01"))) == {
        "batchItemFailures": []
    }
    skipped = pipeline.record(first)
    assert skipped is not None and (skipped.state, skipped.reason) == ("skipped", "encrypted")
    # ...when the secret is rotated (the 300 s cache still holds the retired value)
    secrets.put_secret_value(SecretId=PASSWORD_SECRET, SecretString=json.dumps({"docs/locked/": current}))

    response = pipeline.invoke(sqs_batch(s3_notification(quote_plus(second), sequencer="01")))

    # then the rejected password makes one refetch, and the document is indexed with the new one
    assert response == {"batchItemFailures": []}
    record = pipeline.record(second)
    assert record is not None and (record.state, record.pages) == ("indexed", 1)
    assert pipeline.vectors(second)
    output = capsys.readouterr()
    seen = output.out + output.err + caplog.text
    assert retired not in seen and current not in seen
