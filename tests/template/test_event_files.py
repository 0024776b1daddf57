"""events/*.json stay true to S3, SQS and the corpus: other tests and `sam local invoke -e` rely on them."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from typing import Any
from urllib.parse import unquote_plus

import pytest

from tests.conftest import EVENTS_DIR, PDF_CORPUS_DIR, ROOT, load_event

BUCKET = "docpipe-documents"
S3_EVENT_FILES = [
    "s3_put_pdf.json",
    "s3_delete.json",
    "s3_put_encoded_key.json",
    "s3_delete_marker.json",
    "s3_put_unsupported.json",
]
# decoded key -> corpus file whose bytes the event describes (size and eTag)
CORPUS_KEYS = {
    "docs/GeoTopo-komprimiert.pdf": "GeoTopo-komprimiert.pdf",
    "docs/Quarterly Report+Q3 Übersicht 100%.pdf": "minimal-document.pdf",
    "docs/pdflatex-4-pages.pdf": "pdflatex-4-pages.pdf",
}


def _s3_records(event: dict[str, Any]) -> list[dict[str, Any]]:
    records = []
    for record in event.get("Records", []):
        if record.get("eventSource") == "aws:sqs":
            body = json.loads(record["body"])
            records.extend(body.get("Records", []))
        elif record.get("eventSource") == "aws:s3":
            records.append(record)
    return records


def test_readme_documents_every_event_file_and_only_those() -> None:
    readme = (EVENTS_DIR / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z0-9_]+\.json)` \|", readme, flags=re.MULTILINE))

    assert documented == {p.name for p in EVENTS_DIR.glob("*.json")}


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS_DIR.glob("*.json")))
def test_every_s3_record_names_the_documents_bucket_with_a_version_and_sequencer(name: str) -> None:
    for record in _s3_records(load_event(name)):
        assert record["s3"]["bucket"]["name"] == BUCKET
        assert record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{BUCKET}"
        assert record["s3"]["object"]["sequencer"]
        assert record["s3"]["object"]["versionId"]


def test_encoded_key_decodes_to_spaces_plus_unicode_and_percent() -> None:
    (record,) = _s3_records(load_event("s3_put_encoded_key.json"))
    raw = record["s3"]["object"]["key"]

    assert " " not in raw
    assert unquote_plus(raw) == "docs/Quarterly Report+Q3 Übersicht 100%.pdf"


def test_sequencers_order_put_before_delete_before_delete_marker() -> None:
    def sequencer(name: str) -> str:
        (record,) = _s3_records(load_event(name))
        return str(record["s3"]["object"]["sequencer"])

    put, delete, marker = (
        sequencer(n) for n in ("s3_put_pdf.json", "s3_delete.json", "s3_delete_marker.json")
    )
    assert len({len(put), len(delete), len(marker)}) == 1
    assert put < delete < marker
    assert (
        _s3_records(load_event("s3_delete_marker.json"))[0]["eventName"]
        == "ObjectRemoved:DeleteMarkerCreated"
    )


@pytest.mark.parametrize(
    ("sqs_name", "s3_name"),
    [("sqs_s3_put.json", "s3_put_pdf.json"), ("sqs_s3_delete.json", "s3_delete.json")],
)
def test_sqs_events_wrap_the_matching_s3_notification(sqs_name: str, s3_name: str) -> None:
    (record,) = load_event(sqs_name)["Records"]

    assert json.loads(record["body"]) == load_event(s3_name)
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # SQS's own body checksum
    assert record["eventSourceARN"].endswith(":docpipe-IngestQueue")
    assert record["messageId"] and record["receiptHandle"]


def test_mixed_batch_holds_good_unsupported_corrupt_and_test_event() -> None:
    records = load_event("sqs_s3_batch_mixed.json")["Records"]
    bodies = [json.loads(r["body"]) for r in records]
    keys = [unquote_plus(b["Records"][0]["s3"]["object"]["key"]) for b in bodies if "Records" in b]

    assert keys == ["docs/pdflatex-4-pages.pdf", "docs/tools/installer.exe", "docs/corrupt.pdf"]
    assert bodies[-1]["Event"] == "s3:TestEvent"
    assert len({r["messageId"] for r in records}) == len(records)


def test_s3_test_event_has_the_shape_s3_sends() -> None:
    event = load_event("s3_test_event.json")

    assert (event["Event"], event["Service"], event["Bucket"]) == ("s3:TestEvent", "Amazon S3", BUCKET)


@pytest.mark.parametrize(
    ("name", "detail_type"),
    [
        ("eventbridge_object_created.json", "Object Created"),
        ("eventbridge_object_deleted.json", "Object Deleted"),
    ],
)
def test_eventbridge_events_come_from_s3_for_the_documents_bucket(name: str, detail_type: str) -> None:
    event = load_event(name)

    assert (event["source"], event["detail-type"]) == ("aws.s3", detail_type)
    assert event["detail"]["bucket"]["name"] == BUCKET
    assert event["detail"]["object"]["key"] == "docs/GeoTopo-komprimiert.pdf"


def test_event_sizes_and_etags_are_those_of_the_corpus_files_they_name() -> None:
    names = [*S3_EVENT_FILES, "sqs_s3_batch_mixed.json"]
    checked = 0
    for name in names:
        for record in _s3_records(load_event(name)):
            key = unquote_plus(record["s3"]["object"]["key"])
            if key in CORPUS_KEYS and "size" in record["s3"]["object"]:
                data = (PDF_CORPUS_DIR / CORPUS_KEYS[key]).read_bytes()
                assert record["s3"]["object"]["size"] == len(data)
                assert (
                    record["s3"]["object"]["eTag"] == hashlib.md5(data).hexdigest()
                )  # a single-part upload's ETag
                checked += 1

    assert checked >= 3


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("schedule_backup.json", {"action": "backup"}),
        ("backup_list.json", {"action": "list"}),
        ("backup_verify.json", {"action": "verify", "backup": "latest", "compare_live": True}),
        ("backup_restore.json", {"action": "restore", "backup": "latest", "target_index": "chunks-restored",
                                 "mode": "replace", "restore_registry": False}),
        ("backup_prune.json", {"action": "prune"}),
    ],
)  # fmt: skip
def test_backup_events_are_the_payloads_the_handler_receives(name: str, payload: dict[str, Any]) -> None:
    assert load_event(name) == payload


def test_sam_local_invoke_overrides_only_declared_variables_and_names_the_sample_bucket(
    template: dict[str, Any],
) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    env_file = ROOT / config["default"]["local_invoke"]["parameters"]["env_vars"]
    overrides = json.loads(env_file.read_text(encoding="utf-8"))

    def declared_in(properties: dict[str, Any]) -> set[str]:
        return set(properties.get("Environment", {}).get("Variables", {}))

    global_env = declared_in(template.get("Globals", {}).get("Function", {}))
    for function, variables in overrides.items():
        # sam local invoke only overrides variables the template declares for that function.
        declared = global_env | declared_in(template["Resources"][function]["Properties"])
        assert set(variables) <= declared, f"{function}: {set(variables) - declared} not in the template"
    assert overrides["IngestFunction"]["DOCUMENTS_BUCKET"] == BUCKET


@pytest.mark.parametrize("name", ["search_basic.json", "search_filtered.json", "search_on_behalf_of.json"])
def test_search_events_are_valid_search_requests(name: str) -> None:
    from docpipe.search import SearchRequest

    request = SearchRequest.from_dict(load_event(name))

    assert request.query.strip()


def test_function_url_event_carries_a_json_search_request_posted_to_the_root() -> None:
    from docpipe.search import SearchRequest
    from docpipe.search.http import is_function_url_event

    event = load_event("search_function_url.json")

    assert is_function_url_event(event)
    assert event["version"] == "2.0" and event["requestContext"]["http"]["method"] == "POST"
    assert event["rawPath"] == "/" and "iam" in event["requestContext"]["authorizer"]
    assert SearchRequest.from_dict(json.loads(event["body"])).k == 3
    assert not is_function_url_event(load_event("search_basic.json"))
