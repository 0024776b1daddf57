"""The local stack's moto server notifies the way S3 does, for every write path a user has.

A versioned bucket notifies an SQS queue of ``s3:ObjectCreated:*`` and ``s3:ObjectRemoved:*``
(what the template subscribes); each test does one thing with the S3 API and reads the queue.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from docpipe.events import parse_body
from docpipe_cli.local.server import LocalServer
from docpipe_cli.local.session import emulator_client

pytestmark = pytest.mark.integration

BUCKET = "events-check"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


@pytest.fixture
def emulator(server: LocalServer) -> Iterator[dict[str, Any]]:
    server.reset()
    s3 = emulator_client("s3", server.endpoint)
    sqs = emulator_client("sqs", server.endpoint)
    queue_url = sqs.create_queue(QueueName="events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
            ]
        },
    )
    drain(sqs, queue_url)  # the s3:TestEvent
    yield {"s3": s3, "sqs": sqs, "queue_url": queue_url}


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return records
        for message in messages:
            records += json.loads(message["Body"]).get("Records", [])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def notified(emulator: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    records = drain(emulator["sqs"], emulator["queue_url"])
    return [(r["eventName"], r["s3"]["object"]["key"], r["s3"]["object"].get("versionId")) for r in records]


def test_a_plain_delete_on_a_versioned_bucket_notifies_delete_marker_created(
    emulator: dict[str, Any],
) -> None:
    s3 = emulator["s3"]
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"one")
    notified(emulator)

    response = s3.delete_object(Bucket=BUCKET, Key="a.txt")

    assert notified(emulator) == [("ObjectRemoved:DeleteMarkerCreated", "a.txt", response["VersionId"])]


def test_a_version_delete_notifies_delete_even_when_other_versions_remain(emulator: dict[str, Any]) -> None:
    s3 = emulator["s3"]
    first = s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"one")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"two")
    notified(emulator)

    s3.delete_object(Bucket=BUCKET, Key="a.txt", VersionId=first)

    assert notified(emulator) == [("ObjectRemoved:Delete", "a.txt", first)]


def test_delete_objects_notifies_each_key_as_a_single_delete_would(emulator: dict[str, Any]) -> None:
    s3 = emulator["s3"]
    versions = {k: s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())["VersionId"] for k in "xyz"}
    notified(emulator)

    response = s3.delete_objects(
        Bucket=BUCKET,
        Delete={"Objects": [{"Key": "x"}, {"Key": "y"}, {"Key": "z", "VersionId": versions["z"]}]},
    )

    markers = {d["Key"]: d.get("DeleteMarkerVersionId") for d in response["Deleted"]}
    assert sorted(notified(emulator)) == [
        ("ObjectRemoved:Delete", "z", versions["z"]),
        ("ObjectRemoved:DeleteMarkerCreated", "x", markers["x"]),
        ("ObjectRemoved:DeleteMarkerCreated", "y", markers["y"]),
    ]


def test_complete_multipart_upload_notifies_once(emulator: dict[str, Any]) -> None:
    s3 = emulator["s3"]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="big.bin", Tagging="team=docs")
    part = s3.upload_part(
        Bucket=BUCKET, Key="big.bin", UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024
    )

    done = s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="big.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )

    assert notified(emulator) == [("ObjectCreated:CompleteMultipartUpload", "big.bin", done["VersionId"])]


def test_copy_object_notifies_copy_with_the_new_version(emulator: dict[str, Any]) -> None:
    s3 = emulator["s3"]
    s3.put_object(Bucket=BUCKET, Key="src.txt", Body=b"content")
    notified(emulator)

    copy = s3.copy_object(Bucket=BUCKET, Key="dst.txt", CopySource={"Bucket": BUCKET, "Key": "src.txt"})

    assert notified(emulator) == [("ObjectCreated:Copy", "dst.txt", copy["VersionId"])]


def test_a_put_through_a_presigned_url_notifies_put(emulator: dict[str, Any]) -> None:
    url = emulator["s3"].generate_presigned_url(
        "put_object", Params={"Bucket": BUCKET, "Key": "up load.txt"}, ExpiresIn=60
    )

    request = urllib.request.Request(url, data=b"from a browser", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        version = response.headers["x-amz-version-id"]

    assert notified(emulator) == [("ObjectCreated:Put", "up+load.txt", version)]


def test_records_carry_increasing_sequencers_and_parse_as_s3_notifications(emulator: dict[str, Any]) -> None:
    s3 = emulator["s3"]
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"one")
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"two")
    s3.delete_object(Bucket=BUCKET, Key="a.txt")

    records = drain(emulator["sqs"], emulator["queue_url"])
    events = [e for r in records for e in parse_body({"Records": [r]})]

    assert [e.kind for e in events] == ["created", "created", "removed"]
    assert events[2].is_delete_marker
    sequencers = [e.sequencer or "" for e in events]
    assert all(sequencers) and sequencers == sorted(sequencers) and len(set(sequencers)) == 3
    assert "eTag" not in records[2]["s3"]["object"] and "size" not in records[2]["s3"]["object"]
