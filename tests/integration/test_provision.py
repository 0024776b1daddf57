"""Provisioning reads template.yaml itself: each resource is created in moto server or listed, with why."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import unquote_plus

import pytest

from docpipe_cli.local.provision import provision
from docpipe_cli.local.server import LocalServer
from docpipe_cli.local.session import emulator_client
from docpipe_cli.local.stack import Stack
from docpipe_cli.template import samconfig_overrides
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def provisioned():
    with LocalServer() as server:
        params = {**samconfig_overrides(ROOT / "samconfig.toml", "local"), "MaxReceiveCount": "2"}
        stack = Stack(
            ROOT / "template.yaml", parameters=params, stack_name="docpipe", endpoint=server.endpoint
        )
        local = provision(stack, lambda s: emulator_client(s, server.endpoint), log=lambda _line: None)
        yield stack, local, lambda service: emulator_client(service, server.endpoint)


def test_every_template_resource_is_provisioned_or_listed_with_a_reason(provisioned) -> None:
    stack, local, _ = provisioned
    listed = {n.logical_id for n in local.not_provisioned}
    created = {
        "DocumentsBucket",
        "BackupsBucket",
        "IngestQueue",
        "IngestDeadLetterQueue",
        "DocumentsTable",
        "VectorBucket",
        "VectorIndex",
        "VectorIndexTextSearch",  # the custom resource: its change applied to the index
    }

    assert created.isdisjoint(listed)
    assert set(stack.resources) == created | (listed & set(stack.resources))
    assert all(n.why for n in local.not_provisioned)
    assert "IngestFunction.Events.IngestQueueEvent" in listed  # event sources are accounted for too


def test_an_upload_notifies_the_queue_and_failed_receives_end_in_the_dead_letter_queue(provisioned) -> None:
    _, local, client = provisioned
    s3, sqs = client("s3"), client("sqs")
    queue, dlq = local.outputs["IngestQueueUrl"], local.outputs["IngestDeadLetterQueueUrl"]
    sqs.purge_queue(QueueUrl=queue)  # the s3:TestEvent sent when the notification was configured

    s3.put_object(Bucket=local.outputs["DocumentsBucketName"], Key="docs/a b.txt", Body=b"hello")
    receives = 0
    for _ in range(4):  # never deleted: like a record that keeps failing
        got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, VisibilityTimeout=1).get("Messages", [])
        receives += len(got)
        time.sleep(1.1)

    assert receives == 2  # MaxReceiveCount=2 from the parameter override
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    record = json.loads(dead[0]["Body"])["Records"][0]
    assert record["eventName"].startswith("ObjectCreated")
    assert unquote_plus(record["s3"]["object"]["key"]) == "docs/a b.txt"


def test_the_vector_index_gets_the_templates_dimension_and_metric(provisioned) -> None:
    _, local, client = provisioned

    index = client("s3vectors").get_index(
        vectorBucketName=local.outputs["VectorBucketName"], indexName=local.outputs["VectorIndexName"]
    )["index"]

    # moto accepts but does not keep metadataConfiguration (NonFilterableMetadataKeys): not checkable here.
    assert index["dimension"] == 256 and index["distanceMetric"] == "cosine"


def test_the_function_environment_resolves_references_to_local_names(provisioned) -> None:
    stack, local, _ = provisioned

    env = stack.function_environment("IngestFunction")

    assert env["DOCUMENTS_BUCKET"] == local.outputs["DocumentsBucketName"]
    assert env["DOCUMENTS_TABLE"] == local.outputs["DocumentsTableName"]
    assert env["VECTOR_INDEX"] == local.outputs["VectorIndexName"] == "chunks-offline-256-cosine"
    assert env["EMBEDDING_PROVIDER"] == "offline" and env["PDF_PASSWORDS_SECRET_ID"] == ""


def test_a_state_directory_survives_a_restart(tmp_path: Path) -> None:
    with LocalServer(state_dir=tmp_path) as server:
        s3 = emulator_client("s3", server.endpoint)
        s3.create_bucket(Bucket="kept")
        s3.put_object(Bucket="kept", Key="k", Body=b"v")

    with LocalServer(state_dir=tmp_path) as server:
        body = emulator_client("s3", server.endpoint).get_object(Bucket="kept", Key="k")["Body"].read()

    assert body == b"v"
    assert server.replayed_requests >= 2
