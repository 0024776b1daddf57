"""The whole local stack end to end: moto server, provisioning from the built template, runner, poller.

The poison message is a real transient failure, not a hook in the package: the functions reach
S3 Vectors through a small proxy (AWS_ENDPOINT_URL_S3VECTORS, the variable LocalStack users set)
that answers PutVectors for the poison document with S3 Vectors' ServiceQuotaExceededException,
every time. docpipe treats that as throttling (transient), so the record fails, comes back after
the visibility timeout, and the queue's redrive policy dead-letters it after MaxReceiveCount.
The template has no parameter for the queue's visibility timeout (1080 s, 6x the function
timeout), so the test shortens it on the emulator's queue after provisioning.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from docpipe import ids
from docpipe.vectorstore import S3VectorStore
from docpipe_cli import cli, queries
from docpipe_cli.commands.backfill import backfill
from docpipe_cli.local.server import free_port
from docpipe_cli.local.session import LocalSession
from docpipe_cli.target import Target
from tests.conftest import PDF_CORPUS_DIR, ROOT, load_event
from tests.scans import image_only_pdf, render, text_layer, words

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(600)]

GOOD_PDFS = ("crazyones-pdfa.pdf", "pdflatex-4-pages.pdf", "minimal-document.pdf")
ENCRYPTED_PDF = "libreoffice-writer-password.pdf"
POISON_KEY = "poison/always-over-quota.txt"
VISIBILITY_TIMEOUT = 20
MAX_RECEIVE_COUNT = 2


class QuotaProxy:
    """Forwards S3 Vectors calls to moto; PutVectors for one document gets ServiceQuotaExceeded."""

    def __init__(self, upstream_port: int, poisoned_doc_id: str) -> None:
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.endswith("/PutVectors") and poisoned_doc_id.encode() in body:
                    proxy.refused += 1
                    payload = json.dumps({"message": "vector write quota exceeded (test proxy)"}).encode()
                    self.send_response(402)
                    self.send_header("x-amzn-ErrorType", "ServiceQuotaExceededException")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    """The stack after the uploads have been processed and the queue has drained."""
    port = free_port()
    bucket_name = "docpipe-documents-123456789012-us-east-1"  # from the template's BucketName
    proxy = QuotaProxy(port, ids.doc_id(bucket_name, POISON_KEY))
    session = LocalSession(
        ROOT,
        port=port,
        workers=2,
        parameters={"MaxReceiveCount": str(MAX_RECEIVE_COUNT)},
        extra_env={"AWS_ENDPOINT_URL_S3VECTORS": proxy.url},
        poll=False,
        serve_invoke=True,
        log=lambda _line: None,
    )
    session.start()
    try:
        assert session.local is not None and session.poller is not None
        local = session.local
        assert local.outputs["DocumentsBucketName"] == bucket_name
        sqs = session.client("sqs")
        sqs.set_queue_attributes(
            QueueUrl=local.outputs["IngestQueueUrl"],
            Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT)},
        )
        session.poller.start()
        s3 = session.client("s3")
        uploads = {
            f"docs/{name}": (PDF_CORPUS_DIR / name).read_bytes() for name in (*GOOD_PDFS, ENCRYPTED_PDF)
        }
        uploads["docs/broken.pdf"] = b"%PDF-1.7\nthis is not really a PDF\n%%EOF\n"
        # WebP: an image type docpipe does not read (PNG, JPEG and TIFF are OCR'd).
        uploads["docs/picture.webp"] = b"RIFF\x24\0\0\0WEBPVP8 " + b"\0" * 64
        uploads[POISON_KEY] = b"A perfectly readable text whose vectors the store refuses to take.\n"
        for key, body in uploads.items():
            s3.put_object(Bucket=bucket_name, Key=key, Body=body)
        drained = session.poller.wait_until_drained(timeout=420)
        target = Target(local.endpoint, local.region, None, {}, local, local.parameters)
        target.names.update(
            documents_table=local.outputs["DocumentsTableName"],
            vector_bucket=local.outputs["VectorBucketName"],
            vector_index=local.outputs["VectorIndexName"],
            queue_url=local.outputs["IngestQueueUrl"],
        )
        yield {
            "session": session,
            "local": local,
            "drained": drained,
            "proxy": proxy,
            "target": target,
            "bucket": bucket_name,
            "sqs": sqs,
        }
    finally:
        session.stop()
        proxy.close()


def registry(stack: dict[str, Any]) -> dict[str, Any]:
    return {r.key: r for r in queries.documents(stack["target"])}


def vector_keys(stack: dict[str, Any]) -> list[str]:
    local = stack["local"]
    store = S3VectorStore(
        stack["session"].client("s3vectors"),
        local.outputs["VectorBucketName"],
        local.outputs["VectorIndexName"],
    )
    return [record.key for record in store.iter_vectors(return_data=False, return_metadata=False)]


def test_the_queue_drains_with_two_workers(stack: dict[str, Any]) -> None:
    assert stack["drained"]
    assert stack["session"].runner.sandboxes("IngestFunction") <= 2


def test_every_good_document_is_indexed_exactly_once(stack: dict[str, Any]) -> None:
    docs = registry(stack)
    keys = vector_keys(stack)

    assert len(keys) == len(set(keys))
    for name in GOOD_PDFS:
        record = docs[f"docs/{name}"]
        assert record.state == "indexed", (name, record)
        assert record.chunk_count > 0
        doc_id = ids.doc_id(stack["bucket"], f"docs/{name}")
        mine = sorted(k for k in keys if k.startswith(f"{doc_id}#"))
        assert mine == sorted(ids.vector_key(doc_id, n) for n in range(record.chunk_count))
    indexed_chunks = sum(r.chunk_count for r in docs.values() if r.state == "indexed")
    assert len(keys) == indexed_chunks  # nothing stale, nothing from skipped or failed documents


def test_skips_are_recorded_with_their_reasons(stack: dict[str, Any]) -> None:
    docs = registry(stack)

    assert (docs[f"docs/{ENCRYPTED_PDF}"].state, docs[f"docs/{ENCRYPTED_PDF}"].reason) == (
        "skipped",
        "encrypted",
    )
    assert (docs["docs/broken.pdf"].state, docs["docs/broken.pdf"].reason) == ("skipped", "corrupt")
    assert (docs["docs/picture.webp"].state, docs["docs/picture.webp"].reason) == (
        "skipped",
        "unsupported_type",
    )


def test_the_poison_message_is_dead_lettered_after_max_receive_count(stack: dict[str, Any]) -> None:
    local = stack["local"]
    messages = (
        stack["sqs"]
        .receive_message(
            QueueUrl=local.outputs["IngestDeadLetterQueueUrl"], MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        .get("Messages", [])
    )

    bodies = [json.loads(m["Body"]) for m in messages]
    keys = [r["s3"]["object"]["key"] for b in bodies for r in b.get("Records", [])]
    assert keys == [POISON_KEY.replace("/", "%2F")] or keys == [POISON_KEY]
    # The redrive policy the template gave the queue, as provisioned (not the test's constant).
    policy = stack["sqs"].get_queue_attributes(
        QueueUrl=local.outputs["IngestQueueUrl"], AttributeNames=["RedrivePolicy"]
    )["Attributes"]["RedrivePolicy"]
    max_receive_count = int(json.loads(policy)["maxReceiveCount"])
    stats = stack["session"].poller.stats
    poison_id = messages[0]["MessageId"]  # SQS keeps the message id when it dead-letters a message
    assert max_receive_count == MAX_RECEIVE_COUNT
    assert stats.deliveries[poison_id] == max_receive_count  # invoked once per receive, no more
    assert stats.failed_deliveries[poison_id] == max_receive_count
    assert registry(stack).get(POISON_KEY) is None or registry(stack)[POISON_KEY].state != "indexed"


def test_search_finds_the_document_a_question_is_taken_from(stack: dict[str, Any]) -> None:
    result = queries.search(stack["target"], "Here's to the crazy ones. The misfits. The rebels.", k=3)

    assert result.matches[0].metadata["key"] == "docs/crazyones-pdfa.pdf"


def test_search_function_answers_the_events_files_in_its_sandbox(stack: dict[str, Any]) -> None:
    session = stack["session"]

    direct = session.invoke("SearchFunction", load_event("search_basic"))
    url = session.invoke("SearchFunction", load_event("search_function_url"))

    assert direct.ok, direct.payload()
    assert direct.result["matches"][0]["metadata"]["key"] == "docs/crazyones-pdfa.pdf"
    assert direct.result["ranked_by"] == "hybrid"  # the local S3 Vectors answers hybrid QueryVectors
    assert url.ok and url.result["statusCode"] == 200, url.payload()
    assert json.loads(url.result["body"])["matches"][0]["key"] == direct.result["matches"][0]["key"]


def test_backfill_of_indexed_documents_changes_nothing(stack: dict[str, Any]) -> None:
    before = {k: (r.state, r.chunk_count, r.content_hash) for k, r in registry(stack).items()}
    keys_before = sorted(vector_keys(stack))

    enqueued = backfill(stack["target"], f"s3://{stack['bucket']}/docs/", progress=False)

    assert enqueued == 0  # every object under docs/ is recorded with its ETag: nothing to enqueue
    assert stack["session"].poller.wait_until_drained(timeout=120)
    after = {k: (r.state, r.chunk_count, r.content_hash) for k, r in registry(stack).items()}
    assert after == before
    assert sorted(vector_keys(stack)) == keys_before


def test_backup_and_restore_round_trip_the_index(stack: dict[str, Any]) -> None:
    session = stack["session"]
    keys_before = sorted(vector_keys(stack))
    backup = session.invoke("BackupFunction", {"action": "backup"})
    assert backup.ok, backup.error
    from docpipe.vectorstore import S3VectorStore

    local = stack["local"]
    store = S3VectorStore(
        session.client("s3vectors"), local.outputs["VectorBucketName"], local.outputs["VectorIndexName"]
    )
    store.delete(keys_before)
    assert vector_keys(stack) == []

    restore = session.invoke("BackupFunction", {"action": "restore", "backup": "latest", "mode": "replace"})
    verify = session.invoke("BackupFunction", {"action": "verify", "backup": "latest", "compare_live": True})

    assert restore.ok, restore.error
    assert verify.ok and verify.result["ok"], verify.payload()
    assert verify.result["live_compared"] and verify.result["live_matches"], verify.payload()
    assert sorted(vector_keys(stack)) == keys_before
    result = queries.search(stack["target"], "Here's to the crazy ones. The misfits. The rebels.", k=1)
    assert result.matches[0].metadata["key"] == "docs/crazyones-pdfa.pdf"


def test_docpipe_invoke_reuses_the_warm_sandbox_of_the_running_stack(
    stack: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "list.json"
    event.write_text(json.dumps({"action": "list"}))
    assert stack["local"].invoke_endpoint  # recorded in the state file the CLI reads

    codes = [cli.main(["invoke", "BackupFunction", "--event", str(event)]) for _ in range(2)]

    reports = [line for line in capsys.readouterr().err.splitlines() if line.startswith("REPORT")]
    sandboxes = [line.split("Sandbox: ")[1].split()[0] for line in reports]
    assert codes == [0, 0]
    assert len(sandboxes) == 2 and sandboxes[0] == sandboxes[1]
    assert reports[1].endswith("(warm)")


def test_backup_verify_fails_the_command_when_the_live_index_differs(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["backup", "create"]) == 0
    session, local = stack["session"], stack["local"]
    from docpipe.vectorstore import S3VectorStore

    store = S3VectorStore(
        session.client("s3vectors"), local.outputs["VectorBucketName"], local.outputs["VectorIndexName"]
    )
    store.delete(vector_keys(stack)[:1])  # the live index now lacks one backed-up vector

    code = cli.main(["backup", "verify", "--backup", "latest", "--compare-live"])

    assert code == 1
    assert "1 missing" in capsys.readouterr().err


# -- deletes through the S3 API a user has (the emulator notifies as S3 does) -----------------------

DELETE_TEXT = "The {name} ledger records every shipment that left the {name} harbour at dawn.\n" * 8


def upload_and_settle(stack: dict[str, Any], names: list[str], prefix: str = "deletes/") -> list[str]:
    s3 = stack["session"].client("s3")
    keys = [f"{prefix}{name}.txt" for name in names]
    for key, name in zip(keys, names, strict=True):
        s3.put_object(Bucket=stack["bucket"], Key=key, Body=DELETE_TEXT.format(name=name).encode())
    assert stack["session"].poller.wait_until_drained(timeout=120)
    return keys


def assert_gone(stack: dict[str, Any], key: str, question: str) -> None:
    assert stack["session"].poller.wait_until_drained(timeout=120)
    record = registry(stack)[key]
    doc_id = ids.doc_id(stack["bucket"], key)
    assert record.state == "deleted", record
    assert [k for k in vector_keys(stack) if k.startswith(f"{doc_id}#")] == []
    hits = [m.metadata.get("key") for m in queries.search(stack["target"], question, k=10).matches]
    assert key not in hits


def test_a_plain_delete_removes_the_document(stack: dict[str, Any]) -> None:
    (key,) = upload_and_settle(stack, ["walrus"])
    assert registry(stack)[key].state == "indexed"

    stack["session"].client("s3").delete_object(Bucket=stack["bucket"], Key=key)

    assert_gone(stack, key, "the walrus ledger of shipments")


def test_a_batch_delete_removes_every_document_in_it(stack: dict[str, Any]) -> None:
    keys = upload_and_settle(stack, ["heron", "otter", "badger"])
    assert {registry(stack)[k].state for k in keys} == {"indexed"}

    stack["session"].client("s3").delete_objects(
        Bucket=stack["bucket"], Delete={"Objects": [{"Key": k} for k in keys]}
    )

    for key, name in zip(keys, ["heron", "otter", "badger"], strict=True):
        assert_gone(stack, key, f"the {name} ledger of shipments")


def test_an_overwritten_document_deleted_afterwards_leaves_nothing(stack: dict[str, Any]) -> None:
    (key,) = upload_and_settle(stack, ["puffin"])
    s3 = stack["session"].client("s3")
    s3.put_object(Bucket=stack["bucket"], Key=key, Body=(DELETE_TEXT.format(name="gannet") * 3).encode())
    assert stack["session"].poller.wait_until_drained(timeout=120)
    assert "gannet" in queries.search(stack["target"], "the gannet ledger", k=1).matches[0].metadata["text"]

    s3.delete_object(Bucket=stack["bucket"], Key=key)

    assert_gone(stack, key, "the gannet ledger of shipments")


def test_a_skipped_document_deleted_is_recorded_deleted(stack: dict[str, Any]) -> None:
    s3 = stack["session"].client("s3")
    key = "deletes/setup.exe"  # no parser for it: skipped as unsupported_type
    s3.put_object(Bucket=stack["bucket"], Key=key, Body=b"MZ\x90\x00" + b"\0" * 64)
    assert stack["session"].poller.wait_until_drained(timeout=120)
    assert (registry(stack)[key].state, registry(stack)[key].reason) == ("skipped", "unsupported_type")

    s3.delete_object(Bucket=stack["bucket"], Key=key)

    assert_gone(stack, key, "setup")


def test_reconcile_dry_run_through_the_cli_reports_the_dead_lettered_claim(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # The poison document's claim was released after each failure and never finished: a claim past
    # its lease, which a real run would enqueue again. The dry run reports it and changes nothing.
    code = cli.main(["reconcile", "--dry-run"])

    out = capsys.readouterr()
    report = json.loads(out.out)
    assert code == 0 and report["dry_run"] and report["complete"], out.err
    assert POISON_KEY in report["examples"]["stale_claims"]
    assert report["enqueued"] == 0 and report["vectors_deleted"] == 0
    assert "drift" in out.err


# The stack runs with samconfig.toml's local parameters (OcrProvider=rapidocr): the engine runs in
# IngestFunction's sandbox from the host build's layer (docpipe_cli.local.build), nothing else.
SCANNED = "google-doc-document.pdf"  # one page: the Zen of Python, exported from Google Docs
SCAN_KEY = "scans/zen-of-python.pdf"
OCR_WORDS = ("honking", "namespaces")  # "Namespaces are one honking great idea"


def _chunk_metadata(stack: dict[str, Any]) -> list[dict[str, Any]]:
    client = stack["session"].client("s3vectors")
    kwargs: dict[str, Any] = {
        "vectorBucketName": stack["local"].outputs["VectorBucketName"],
        "indexName": stack["local"].outputs["VectorIndexName"],
        "returnMetadata": True,
    }
    found: list[dict[str, Any]] = []
    while True:
        page = client.list_vectors(**kwargs)
        found += [v["metadata"] for v in page.get("vectors", [])]
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]


@pytest.mark.ocr
def test_an_image_only_pdf_put_through_s3_is_ocrd_and_found_by_a_word_only_it_holds(
    stack: dict[str, Any],
) -> None:
    # Given a scan of a corpus page holding words that no indexed document holds
    assert stack["local"].parameters["OcrProvider"] == "rapidocr"
    assert set(OCR_WORDS) <= set(words(text_layer(SCANNED, 0)))
    elsewhere = words(" ".join(str(m.get("text", "")) for m in _chunk_metadata(stack)))
    assert not set(OCR_WORDS) & set(elsewhere)

    # When it is put through the S3 API and the queue drains
    s3 = stack["session"].client("s3")
    s3.put_object(Bucket=stack["bucket"], Key=SCAN_KEY, Body=image_only_pdf([render(SCANNED, 0)]))
    assert stack["session"].poller.wait_until_drained(timeout=300)

    # Then it is indexed from its OCR'd page, and a search for those words finds it first
    record = registry(stack)[SCAN_KEY]
    chunks = [m for m in _chunk_metadata(stack) if m.get("key") == SCAN_KEY]
    assert (record.state, record.reason or None, record.pages, record.ocr_pages) == ("indexed", None, 1, 1)
    assert chunks and all(chunk.get("ocr") is True for chunk in chunks)
    assert set(OCR_WORDS) <= set(words(" ".join(str(chunk["text"]) for chunk in chunks)))  # read by OCR
    # BM25 alone ranks it first; the hybrid keeps it among the first three (with the offline model
    # its vector may miss the dense candidates, and a text-only first place then ties on the fused
    # score with the dense first place: reciprocal-rank fusion gives both 1/61).
    question = " ".join(OCR_WORDS)
    by_text = queries.search(stack["target"], question, k=3, rerank="text")
    assert by_text.matches[0].metadata["key"] == SCAN_KEY
    hybrid = queries.search(stack["target"], question, k=3)
    ranked = [(m.metadata["key"], m.placed_by, round(m.score, 4)) for m in hybrid.matches]
    assert SCAN_KEY in [key for key, _, _ in ranked], (hybrid.ranked_by, hybrid.text_search, ranked)


async def test_an_mcp_client_configured_with_no_options_finds_the_running_stack(
    stack: dict[str, Any],
) -> None:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    # Given `docpipe mcp` started in the clone, as a client whose configuration names no stack
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "docpipe_cli", "mcp"],
        cwd=ROOT,
        env={"PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/docpipe", "tools"))},
    )
    question = {"query": "Here's to the crazy ones. The misfits. The rebels.", "k": 3}

    # When it searches and asks for a skipped document's state
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        found = await session.call_tool("search_documents", question)
        skipped = await session.call_tool("document_status", {"key": f"docs/{ENCRYPTED_PDF}"})

    # Then it answered from the local stack's index and registry
    assert not found.is_error
    assert json.loads(found.content[0].text)["matches"][0]["document_key"] == "docs/crazyones-pdfa.pdf"
    status = json.loads(skipped.content[0].text)
    assert (status["state"], status["reason"]) == ("skipped", "encrypted")
