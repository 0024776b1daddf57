"""The local emulator's S3 judges notification filters as S3 does (docpipe_cli.local.s3_events).

moto filters by prefix and suffix already; what it lacks is S3's refusal of configurations whose
filters overlap for a common event type, which would let a template that cannot deploy pass
locally.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from docpipe_cli.local.s3_events import OVERLAP_MESSAGE, overlapping_filters

CREATED = ["s3:ObjectCreated:*"]


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ((CREATED, "docs/", ".pdf"), (CREATED, "docs/", ".metadata.json"), False),
        ((CREATED, "docs/", ""), (CREATED, "docs/", ".metadata.json"), True),
        ((CREATED, "docs/", ".json"), (CREATED, "docs/", ".metadata.json"), True),
        ((CREATED, "docs/", ".pdf"), (CREATED, "other/", ".pdf"), False),
        ((CREATED, "", ".pdf"), (CREATED, "docs/", ".pdf"), True),
        ((CREATED, "docs/", ".pdf"), (["s3:ObjectRemoved:*"], "docs/", ".pdf"), False),
        ((CREATED, "docs/", ".pdf"), (["s3:ObjectCreated:Put"], "docs/", ".pdf"), True),
    ],
)
def test_filters_overlap_when_a_key_and_an_event_could_match_both(
    a: tuple[list[str], str, str], b: tuple[list[str], str, str], overlap: bool
) -> None:
    assert overlapping_filters([a, b]) is overlap
    assert overlapping_filters([b, a]) is overlap


@pytest.fixture
def bucket_and_queue() -> Iterator[tuple[Any, str]]:
    from docpipe_cli.local import s3_events

    s3_events.install()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.create_bucket(Bucket="scope-filters")
        yield s3, arn


def queue(arn: str, suffix: str) -> dict[str, Any]:
    return {
        "QueueArn": arn,
        "Events": CREATED,
        "Filter": {
            "Key": {
                "FilterRules": [{"Name": "prefix", "Value": "docs/"}, {"Name": "suffix", "Value": suffix}]
            }
        },
    }


def test_the_emulator_refuses_overlapping_filters_as_s3_does(bucket_and_queue: tuple[Any, str]) -> None:
    s3, arn = bucket_and_queue

    with pytest.raises(ClientError) as refused:
        s3.put_bucket_notification_configuration(
            Bucket="scope-filters",
            NotificationConfiguration={
                "QueueConfigurations": [queue(arn, ".json"), queue(arn, ".metadata.json")]
            },
        )

    assert refused.value.response["Error"]["Code"] == "InvalidArgument"
    assert refused.value.response["Error"]["Message"] == OVERLAP_MESSAGE


def test_the_emulator_accepts_filters_that_do_not_overlap(bucket_and_queue: tuple[Any, str]) -> None:
    s3, arn = bucket_and_queue

    s3.put_bucket_notification_configuration(
        Bucket="scope-filters",
        NotificationConfiguration={"QueueConfigurations": [queue(arn, ".pdf"), queue(arn, ".metadata.json")]},
    )

    assert len(s3.get_bucket_notification_configuration(Bucket="scope-filters")["QueueConfigurations"]) == 2
