"""``docpipe demo``: the whole pipeline on the embedded emulator, with every outcome checked.

Builds for the host, starts moto server, provisions from the template, starts the poller, uploads
the shared PDF corpus plus generated Markdown/HTML/DOCX files through the S3 API, and beside them a
scanned PDF, an image, a workbook and a deck made from the corpus, a real Outlook email with an
attached PDF and a real Word 97 file (``demo_files``), waits for the queue to drain, prints the
registry table and a search, finds each of those files by words only it holds (the scan and the
image read by the offline OCR engine: the local stack runs ``OcrProvider=rapidocr``; the email's
attachments as chunks of their own), then backs up, wipes the index, restores and verifies; runs
the same search through SearchFunction, invoked directly and with the Function URL event shape;
shows access control (the stack runs ``AccessControl=enforced`` with ``AccessDefault=everyone``):
two documents readable by one group each, the same question asked through the Function URL by two
mapped IAM callers who get different answers and by an unmapped one who gets 403; finally
deletes one document with a plain S3 delete, checks that it disappears, and runs a reconcile that
must report zero drift. Exits non-zero when a step fails or an outcome
differs from what is expected.

The encrypted corpus PDF (``libreoffice-writer-password.pdf``, password ``openpassword`` per the
corpus README) is indexed: the demo provisions a Secrets Manager secret mapping its key to the
password and passes it as ``PdfPasswordsSecretId``. ``--no-pdf-password`` shows the other outcome
(skipped, reason ``encrypted``).
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docpipe_cli.local.demo_files import DemoFile
from docpipe_cli.local.session import LocalSession

PASSWORD_SECRET = "docpipe/local/pdf-passwords"
ENCRYPTED_PDF = "libreoffice-writer-password.pdf"
# Neither PDFium nor pypdf can open it (broken /Pages tree and xref): a recorded skip, not a failure.
UNREADABLE_PDF = "unreadablemetadata.pdf"
CORPUS_PASSWORD = "openpassword"  # published in ../shared/corpus/README.md
SEARCH_QUESTION = "Here's to the crazy ones, the misfits, the rebels"
SEARCH_EXPECTED = "crazyones-pdfa.pdf"
TEXT_QUESTION = "misfits rebels troublemakers"  # words of that document, found by BM25 alone
DELETED_KEY = "generated/lighthouse.md"
DELETED_QUESTION = "How often does the fog horn of the lighthouse sound?"
# Access control: the demo's searches run as this reader (documents without a list are everyone's
# here, AccessDefault=everyone); two documents are readable by one group each.
READER = {"user": "demo@example.com", "groups": ["group:staff"]}
ACCOUNT = "123456789012"
CALLERS = {
    f"arn:aws:iam::{ACCOUNT}:role/search-client": ["group:staff"],  # events/search_function_url.json
    f"arn:aws:iam::{ACCOUNT}:role/finance-analyst": ["group:finance"],
    f"arn:aws:iam::{ACCOUNT}:role/hr-partner": ["group:hr"],
}
RESTRICTED = {
    "restricted/finance-outlook.md": (
        "group:finance",
        "# Finance outlook\n\nThe staffing budget for next year grows by four percent, "
        "mostly for the new warehouse in Porto.\n",
    ),
    "restricted/hr-outlook.md": (
        "group:hr",
        "# HR outlook\n\nThe staffing budget for next year funds twelve new hires and a "
        "mentoring programme for apprentices.\n",
    ),
}
ACCESS_QUESTION = "What does the staffing budget for next year pay for?"


@dataclass
class DemoReport:
    failures: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    first_searchable_seconds: float | None = None

    def check(self, ok: bool, what: str) -> bool:
        mark = "ok  " if ok else "FAIL"
        _say(f"  [{mark}] {what}")
        if not ok:
            self.failures.append(what)
        return ok


def _say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def generated_documents() -> dict[str, bytes]:
    """A few non-PDF documents, made here (the corpus has PDFs only)."""
    from docx import Document

    markdown = (
        "# Lighthouse maintenance log\n\nThe lamp of the northern lighthouse was replaced in spring.\n\n"
        "## Fog signals\n\nThe fog horn sounds twice every thirty seconds when visibility drops.\n"
    )
    html = (
        "<html><head><title>Orchard notes</title><style>p{color:red}</style>"
        "<script>var hidden = 'never indexed';</script></head><body><h1>Orchard notes</h1>"
        "<p>The pear trees in the orchard flower two weeks before the apple trees.</p></body></html>"
    )
    doc = Document()
    doc.add_heading("Beekeeping basics", level=1)
    doc.add_paragraph("A healthy hive keeps its brood nest near thirty-five degrees Celsius.")
    buffer = io.BytesIO()
    doc.save(buffer)
    return {
        "generated/lighthouse.md": markdown.encode(),
        "generated/orchard.html": html.encode(),
        "generated/beekeeping.docx": buffer.getvalue(),
    }


def expected_outcomes(keys: list[str], *, pdf_password: bool) -> dict[str, tuple[str, str | None]]:
    expected: dict[str, tuple[str, str | None]] = dict.fromkeys(keys, ("indexed", None))
    for key in keys:
        if key.endswith(ENCRYPTED_PDF) and not pdf_password:
            expected[key] = ("skipped", "encrypted")
        if key.endswith(UNREADABLE_PDF):
            expected[key] = ("skipped", "corrupt")
    return expected


def run_demo(
    root: Path,
    *,
    workers: int | None = None,
    corpus: Path | None = None,
    pdf_password: bool = True,
    on_first_searchable: Callable[[float], None] | None = None,
) -> int:
    """Run the demo; returns the process exit code (0 only when every check passed)."""
    started = time.monotonic()
    report = DemoReport()
    corpus_dir = corpus or root.parent / "shared" / "corpus" / "pdf"
    from docpipe.exceptions import ConfigError
    from docpipe_cli.local.demo_files import UPLOADED_AS_COPIES, corpus_files, real_files

    made_started = time.monotonic()
    try:
        made = corpus_files(corpus_dir)
    except ConfigError as exc:
        _say(f"error: {exc} (clone ../shared beside the repository)")
        return 1
    try:
        made += real_files(root)
    except ConfigError as exc:
        _say(f"error: {exc}")
        return 1
    report.timings["made files"] = time.monotonic() - made_started
    # The PDFs the scan and the image are made from go up only as those copies.
    pdfs = sorted(p for p in corpus_dir.glob("*.pdf") if p.name not in UPLOADED_AS_COPIES)
    if not pdfs:
        _say(f"error: no PDFs in {corpus_dir} (clone ../shared beside the repository)")
        return 1
    parameters = {"AccessControl": "enforced", "AccessDefault": "everyone"}
    if pdf_password:
        parameters["PdfPasswordsSecretId"] = PASSWORD_SECRET
    _say("==> starting the local stack")
    session = LocalSession(root, workers=workers, parameters=parameters, log=lambda line: _say(f"    {line}"))
    try:
        session.start()
        report.timings["stack ready"] = time.monotonic() - started
        _say(f"    stack ready after {report.timings['stack ready']:.1f} s")
        return _run(session, report, pdfs, made, pdf_password, started, on_first_searchable)
    except Exception as exc:
        _say(f"FAILED: {type(exc).__name__}: {exc}")
        return 1
    finally:
        session.stop()


def _run(
    session: LocalSession,
    report: DemoReport,
    pdfs: list[Path],
    made: list[DemoFile],
    pdf_password: bool,
    started: float,
    on_first_searchable: Callable[[float], None] | None,
) -> int:
    from docpipe_cli.queries import format_documents, search
    from docpipe_cli.target import Target

    assert session.local is not None and session.poller is not None and session.runner is not None
    local = session.local
    bucket = local.outputs["DocumentsBucketName"]
    s3 = session.client("s3")
    if pdf_password:
        session.client("secretsmanager").create_secret(
            Name=PASSWORD_SECRET, SecretString=json.dumps({f"corpus/{ENCRYPTED_PDF}": CORPUS_PASSWORD})
        )
        _say(f"    demo secret {PASSWORD_SECRET} maps corpus/{ENCRYPTED_PDF} to its published password")
    callers = {arn: {"principals": principals} for arn, principals in CALLERS.items()}
    session.client("ssm").put_parameter(
        Name=local.refs["AccessCallersParameter"],
        Value=json.dumps({"callers": callers}),
        Type="String",
        Overwrite=True,
    )
    _say(f"    caller mapping {local.refs['AccessCallersParameter']}: {len(callers)} IAM roles")
    target = Target(local.endpoint, local.region, None, {}, local, local.parameters)
    target.names.update(
        documents_table=local.outputs["DocumentsTableName"],
        vector_bucket=local.outputs["VectorBucketName"],
        vector_index=local.outputs["VectorIndexName"],
    )

    generated = generated_documents()
    _say(
        f"==> uploading {len(pdfs)} corpus PDFs, {len(generated)} generated documents and "
        f"{len(made)} files made from the corpus (in {report.timings['made files']:.2f} s) to s3://{bucket}/"
    )
    for made_file in made:
        _say(f"    {made_file.key} ({made_file.kind}, {len(made_file.body) // 1024} KiB): {made_file.source}")
    # The files that need OCR go first: their pages are read while the corpus is embedded.
    uploads: dict[str, bytes] = {made_file.key: made_file.body for made_file in made}
    uploads.update({f"corpus/{p.name}": p.read_bytes() for p in pdfs})
    uploads.update(generated)
    for key, (group, text) in RESTRICTED.items():  # each sidecar first: the document's ingest reads it
        sidecar = json.dumps({"access": [group]}).encode()
        s3.put_object(Bucket=bucket, Key=f"{key}.metadata.json", Body=sidecar)
        uploads[key] = text.encode()
    for key, body in uploads.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    expected = expected_outcomes(list(uploads), pdf_password=pdf_password)

    _say("==> waiting for the queue to drain")
    from docpipe_cli.queries import documents

    last_line = [""]

    def progress(visible: int, invisible: int) -> None:
        records = documents(target)
        settled = sum(1 for r in records if r.state != "processing")
        if report.first_searchable_seconds is None and any(r.state == "indexed" for r in records):
            report.first_searchable_seconds = time.monotonic() - started
            if on_first_searchable is not None:
                on_first_searchable(report.first_searchable_seconds)
        line = (
            f"    {settled}/{len(uploads)} documents settled; queue: {visible} waiting, {invisible} in flight"
        )
        if line != last_line[0]:  # print on change only: readable in a terminal and in CI logs
            last_line[0] = line
            _say(line)

    drained = session.poller.wait_until_drained(timeout=900, progress=progress)
    report.timings["ingest"] = time.monotonic() - started - report.timings["stack ready"]
    report.check(drained, "the queue drained")

    records = documents(target)
    _say("==> documents")
    for line in format_documents(records):
        _say(f"    {line}")
    by_key = {r.key: r for r in records}
    for key, (state, reason) in expected.items():
        record = by_key.get(key)
        got = (record.state, record.reason or None) if record else ("missing", None)
        report.check(got == (state, reason), f"{key}: {got[0]}{f' ({got[1]})' if got[1] else ''}")
    dlq = session.client("sqs").get_queue_attributes(
        QueueUrl=local.outputs["IngestDeadLetterQueueUrl"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    report.check(int(dlq) == 0, f"dead-letter queue is empty ({dlq})")

    _say(f'==> search (hybrid: the vector and full-text rankings, fused by the index): "{SEARCH_QUESTION}"')
    result = search(target, SEARCH_QUESTION, k=3, rerank="hybrid", on_behalf_of=READER)
    _say(f"    ranked by {result.ranked_by}; score: the store's fused score, higher first")
    _print_matches(result.matches, 160)
    top = result.matches[0].metadata.get("key", "") if result.matches else ""
    report.check(
        result.ranked_by == "hybrid" and str(top).endswith(SEARCH_EXPECTED),
        f"hybrid search ({result.text_search} text search): top match comes from {SEARCH_EXPECTED}",
    )
    _say(f'==> search (text: BM25 alone, for exact words): "{TEXT_QUESTION}"')
    words = search(target, TEXT_QUESTION, k=3, rerank="text", on_behalf_of=READER)
    _print_matches(words.matches, 160)
    top = words.matches[0].metadata.get("key", "") if words.matches else ""
    report.check(
        words.ranked_by == "text"
        and str(top).endswith(SEARCH_EXPECTED)
        and words.matches[0].placed_by == ("text",),
        f"text search: top match comes from {SEARCH_EXPECTED}, placed by the full-text ranking",
    )
    _find_made_files(session, report, target, made, by_key)
    vectors_before = _count_vectors(session, local)

    _say("==> backup, wipe the index, restore, verify")
    backup = session.invoke("BackupFunction", {"action": "backup"})
    report.check(backup.ok, f"backup: {_brief(backup.payload())}")
    wiped = _wipe_index(session, local)
    report.check(_count_vectors(session, local) == 0, f"index wiped ({wiped} vectors deleted)")
    restore = session.invoke("BackupFunction", {"action": "restore", "backup": "latest", "mode": "replace"})
    report.check(restore.ok, f"restore: {_brief(restore.payload())}")
    verify = session.invoke("BackupFunction", {"action": "verify", "backup": "latest", "compare_live": True})
    verified = verify.payload() if isinstance(verify.payload(), dict) else {}
    report.check(
        verify.ok and verified.get("ok") is True and verified.get("live_matches") is True,
        f"verify (archive ok, live index matches it): {_brief(verify.payload())}",
    )
    vectors_after = _count_vectors(session, local)
    report.check(
        vectors_after == vectors_before, f"{vectors_after} vectors after restore ({vectors_before} before)"
    )
    again = search(target, SEARCH_QUESTION, k=1, on_behalf_of=READER)
    top = again.matches[0].metadata.get("key", "") if again.matches else ""
    report.check(str(top).endswith(SEARCH_EXPECTED), "the same search finds the same document after restore")
    _search_function(session, report)
    _access_control(session, report)

    _delete_and_reconcile(session, report, target, bucket)

    total = time.monotonic() - started
    first = report.first_searchable_seconds
    _say(
        f"==> done in {total:.1f} s" + (f" (first searchable document after {first:.1f} s)" if first else "")
    )
    if report.failures:
        _say(f"{len(report.failures)} check(s) failed:")
        for failure in report.failures:
            _say(f"  - {failure}")
        return 1
    _say("every check passed")
    return 0


def _delete_and_reconcile(session: LocalSession, report: DemoReport, target: Any, bucket: str) -> None:
    """A plain S3 delete (a delete marker: the bucket is versioned) removes the document; then a
    reconcile run finds nothing to repair."""
    from docpipe import ids
    from docpipe_cli.queries import documents, search

    assert session.poller is not None and session.local is not None
    _say(f"==> delete s3://{bucket}/{DELETED_KEY} (plain DeleteObject: a delete marker)")
    before = search(target, DELETED_QUESTION, k=1, on_behalf_of=READER)
    found = before.matches[0].metadata.get("key") if before.matches else None
    report.check(found == DELETED_KEY, f"before the delete, the search finds {found}")
    session.client("s3").delete_object(Bucket=bucket, Key=DELETED_KEY)
    report.check(session.poller.wait_until_drained(timeout=120), "the delete's event was processed")
    record = {r.key: r for r in documents(target)}.get(DELETED_KEY)
    report.check(
        record is not None and record.state == "deleted", f"{DELETED_KEY}: {getattr(record, 'state', None)}"
    )
    prefix = ids.doc_id(bucket, DELETED_KEY) + "#"
    left = [k for k in _all_keys(session, session.local) if k.startswith(prefix)]
    report.check(not left, f"no vectors of {DELETED_KEY} remain ({len(left)})")
    after = search(target, DELETED_QUESTION, k=3, on_behalf_of=READER)
    hits = [m.metadata.get("key") for m in after.matches if m.metadata.get("key") == DELETED_KEY]
    report.check(not hits, "the search no longer returns it")

    _say("==> reconcile: bucket, registry and index compared")
    run = session.invoke("ReconcileFunction", {"dry_run": False})
    result = run.payload() if isinstance(run.payload(), dict) else {}
    _say(
        f"    {_brief(result.get('counts'))}; {result.get('objects_listed')} objects, "
        f"{result.get('registry_entries')} registry entries, {result.get('vectors_listed')} vectors"
    )
    report.check(
        run.ok and result.get("complete") is True and result.get("drift") == 0,
        f"reconcile: a complete pass with zero drift ({result.get('drift')})",
    )


def _find_made_files(
    session: LocalSession, report: DemoReport, target: Any, made: list[DemoFile], by_key: dict[str, Any]
) -> None:
    """Each made file is found first by a search for words no other indexed document holds."""
    from docpipe_cli.local.demo_files import query_for
    from docpipe_cli.queries import search

    assert session.local is not None
    chunks = _chunks_by_document(session, session.local)
    indexed = {key: "\n".join(str(m.get("text", "")) for m in found) for key, found in chunks.items()}
    _say(f"==> {', '.join(f'the {f.kind}' for f in made)}: each found by words only it holds")
    for made_file in made:
        record = by_key.get(made_file.key)
        mine = chunks.get(made_file.key, [])
        if made_file.ocr:
            pages, ocr_pages = getattr(record, "pages", 0), getattr(record, "ocr_pages", 0)
            tagged = sum(1 for m in mine if m.get("ocr") is True)
            report.check(
                bool(mine) and ocr_pages == pages and pages > 0 and tagged == len(mine),
                f"{made_file.key}: {ocr_pages} of {pages} page(s) OCR'd (registry ocr_pages); "
                f"{tagged} of {len(mine)} chunk(s) carry ocr: true",
            )
        if made_file.kind == "email":
            attached = sorted(
                {str(m.get("section", "")) for m in mine if "Attachment: " in str(m.get("section"))}
            )
            report.check(
                bool(attached),
                f"{made_file.key}: its attachments are chunks of their own ({'; '.join(attached)})",
            )
        query_words = query_for(made_file, indexed)
        if not query_words:
            report.check(False, f"{made_file.key}: no word of it is missing from every other document")
            continue
        question = " ".join(query_words)
        # Words in no other document: BM25.
        result = search(target, question, k=3, rerank="text", on_behalf_of=READER)
        keys = [str(m.metadata.get("key", "")) for m in result.matches]
        _print_matches(result.matches, 120)
        report.check(
            bool(keys) and keys[0] == made_file.key,
            f'the {made_file.kind} is the top match for "{question}" (words in no other document)',
        )


def _print_matches(matches: Any, width: int) -> None:
    for rank, match in enumerate(matches, 1):
        text = " ".join(match.text.split())[:width]
        where = f"{match.metadata.get('key')} p.{match.metadata.get('page')}"
        _say(f"    {rank}. [{match.score:.3f} {'+'.join(match.placed_by)}] {where}: {text}")


def _search_function(session: LocalSession, report: DemoReport) -> None:
    """The search again, through SearchFunction: invoked directly, then as its Function URL is."""
    _say(f'==> SearchFunction: "{SEARCH_QUESTION}" (direct invocation, then the Function URL event shape)')
    request: dict[str, Any] = {"query": SEARCH_QUESTION, "k": 3, "neighbours": 1}
    # Invoked directly a search carries no caller identity: it says on whose behalf it searches.
    direct = session.invoke("SearchFunction", {**request, "on_behalf_of": READER})
    answer = direct.payload() if isinstance(direct.payload(), dict) else {}
    for rank, match in enumerate(answer.get("matches", []), 1):
        text = " ".join(str(match.get("text", "")).split())[:120]
        where = f"{match.get('source_uri')} p.{match.get('page')}"
        _say(f"    {rank}. [{match.get('score', 0):.3f}] {where}: {text}")
    top = str((answer.get("matches") or [{}])[0].get("source_uri", ""))
    report.check(
        direct.ok and top.endswith(SEARCH_EXPECTED),
        f"SearchFunction (direct, rerank {answer.get('rerank')}, {answer.get('took_ms')} ms): top {top}",
    )
    event = json.loads((session.root / "events" / "search_function_url.json").read_text(encoding="utf-8"))
    event["body"] = json.dumps(request)
    url = session.invoke("SearchFunction", event)
    response = url.payload() if isinstance(url.payload(), dict) else {}
    body = json.loads(response.get("body") or "{}")
    same = [m.get("key") for m in body.get("matches", [])] == [
        m.get("key") for m in answer.get("matches", [])
    ]
    report.check(
        url.ok and response.get("statusCode") == 200 and same,
        f"SearchFunction (Function URL event): HTTP {response.get('statusCode')}, the same matches",
    )
    event["body"] = json.dumps({"query": SEARCH_QUESTION, "k": 0})
    bad = session.invoke("SearchFunction", event).payload()
    rejected = json.loads(bad.get("body") or "{}") if isinstance(bad, dict) else {}
    report.check(
        isinstance(bad, dict) and bad.get("statusCode") == 400 and rejected.get("field") == "k",
        f"SearchFunction refuses k=0 with HTTP {bad.get('statusCode') if isinstance(bad, dict) else '?'} "
        f"naming the field ({rejected.get('field')})",
    )


def _access_control(session: LocalSession, report: DemoReport) -> None:
    """One question through the Function URL by two mapped callers and an unmapped one."""
    _say(f'==> access control: "{ACCESS_QUESTION}" through the Function URL as three IAM callers')
    event = json.loads((session.root / "events" / "search_function_url.json").read_text(encoding="utf-8"))
    event["body"] = json.dumps({"query": ACCESS_QUESTION, "k": 3})
    answers: dict[str, set[str]] = {}
    for role in ("finance-analyst", "hr-partner", "contractor"):
        session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/demo"
        event["requestContext"]["authorizer"]["iam"]["userArn"] = session_arn
        payload = session.invoke("SearchFunction", event).payload()
        status = payload.get("statusCode") if isinstance(payload, dict) else None
        body = json.loads(payload.get("body") or "{}") if isinstance(payload, dict) else {}
        keys = [str(m.get("metadata", {}).get("key")) for m in body.get("matches", [])]
        answers[role] = {k for k in keys if k in RESTRICTED}
        _say(f"    {role}: HTTP {status}; " + (", ".join(keys) if keys else str(body.get("message", ""))))
        if role == "contractor":
            report.check(status == 403, f"an unmapped caller ({role}) gets HTTP {status}")
        else:
            group = "group:finance" if role == "finance-analyst" else "group:hr"
            own = {k for k, (g, _) in RESTRICTED.items() if g == group}
            report.check(
                status == 200 and answers[role] == own,
                f"{role} ({group}) finds only its own restricted document: {sorted(answers[role])}",
            )
    report.check(
        answers["finance-analyst"] != answers["hr-partner"],
        "the same question, two callers, different answers",
    )


def _brief(payload: Any) -> str:
    text = json.dumps(payload, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def _store(session: LocalSession, local: Any) -> Any:
    from docpipe.vectorstore import S3VectorStore

    return S3VectorStore(
        session.client("s3vectors"), local.outputs["VectorBucketName"], local.outputs["VectorIndexName"]
    )


def _all_keys(session: LocalSession, local: Any) -> list[str]:
    return [r.key for r in _store(session, local).iter_vectors(return_data=False, return_metadata=False)]


def _chunks_by_document(session: LocalSession, local: Any) -> dict[str, list[dict[str, Any]]]:
    """Every vector's metadata (chunk text included), grouped by the document's key."""
    found: dict[str, list[dict[str, Any]]] = {}
    for record in _store(session, local).iter_vectors(return_data=False, return_metadata=True):
        found.setdefault(str(record.metadata.get("key", "")), []).append(record.metadata)
    return found


def _count_vectors(session: LocalSession, local: Any) -> int:
    return len(_all_keys(session, local))


def _wipe_index(session: LocalSession, local: Any) -> int:
    keys = _all_keys(session, local)
    _store(session, local).delete(keys)
    return len(keys)
