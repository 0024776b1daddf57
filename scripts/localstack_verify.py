#!/usr/bin/env python3
"""Check that a deployed docpipe stack (LocalStack, or AWS) is wired as template.yaml declares.

Lists the stack's resources, then checks: the documents bucket (versioning, notifications of
ObjectCreated/ObjectRemoved to IngestQueue), the queue (redrive to the DLQ with the stack's
MaxReceiveCount, visibility timeout at least 6x the ingest timeout), the registry table, the
backups bucket, both functions and the SQS event source mapping (batch size, partial batch
responses), and the vector index (on S3 Vectors, or on moto server through
AWS_ENDPOINT_URL_S3VECTORS when the stack uses an external vector store).

Usage:
    AWS_ENDPOINT_URL=http://localhost:4566 AWS_ENDPOINT_URL_S3VECTORS=http://127.0.0.1:5000 \\
        python scripts/localstack_verify.py --stack-name docpipe
Exit status: 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import boto3

from docpipe_cli.target import describe_stack, outputs_of

FAILURES: list[str] = []


def check(ok: bool, what: str) -> bool:
    print(f"  [{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        FAILURES.append(what)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack-name", default="docpipe")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    args = parser.parse_args()
    session = boto3.session.Session(region_name=args.region)
    if "AWS_ENDPOINT_URL" in os.environ and "AWS_ACCESS_KEY_ID" not in os.environ:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")  # LocalStack accepts any credentials
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
        session = boto3.session.Session(region_name=args.region)

    cfn = session.client("cloudformation")
    stack = describe_stack(cfn, args.stack_name)
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    outputs = outputs_of(stack)
    print(f"stack {args.stack_name}: {stack['StackStatus']}")
    check(stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), "stack deployed")

    resources: dict[str, dict[str, Any]] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=args.stack_name):
        for r in page["StackResourceSummaries"]:
            resources[r["LogicalResourceId"]] = r
    print("resources:")
    for lid, r in sorted(resources.items()):
        print(f"  {lid:32} {r['ResourceType']:36} {r.get('PhysicalResourceId', '')} {r['ResourceStatus']}")
    for lid, r in resources.items():
        check(r["ResourceStatus"].endswith("_COMPLETE"), f"{lid} is {r['ResourceStatus']}")

    def physical(lid: str) -> str:
        return str(resources[lid]["PhysicalResourceId"])

    s3, sqs = session.client("s3"), session.client("sqs")
    print("documents bucket and queue:")
    bucket = physical("DocumentsBucket")
    check(s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled", f"{bucket}: versioning on")
    queue_url = physical("IngestQueue")
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    queue_arn = attrs["QueueArn"]
    notif = s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", [])
    events = {e for q in notif if q["QueueArn"] == queue_arn for e in q["Events"]}
    check({"s3:ObjectCreated:*", "s3:ObjectRemoved:*"} <= events, f"{bucket} notifies IngestQueue ({events})")
    redrive = json.loads(attrs.get("RedrivePolicy", "{}"))
    dlq_url = physical("IngestDeadLetterQueue")
    dlq_attrs = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
    dlq_arn = dlq_attrs["QueueArn"]
    check(redrive.get("deadLetterTargetArn") == dlq_arn, "IngestQueue redrives to IngestDeadLetterQueue")
    wanted_receives = int(params.get("MaxReceiveCount", "5"))
    check(int(redrive.get("maxReceiveCount", -1)) == wanted_receives, f"maxReceiveCount = {wanted_receives}")

    print("functions:")
    lam = session.client("lambda")
    ingest = lam.get_function_configuration(FunctionName=physical("IngestFunction"))
    backup = lam.get_function_configuration(FunctionName=physical("BackupFunction"))
    check(ingest["Runtime"] == "python3.13" and backup["Runtime"] == "python3.13", "runtime python3.13")
    visibility = int(attrs.get("VisibilityTimeout", 0))
    check(visibility >= 6 * int(ingest["Timeout"]), f"visibility {visibility}s >= 6 x ingest timeout")
    env = ingest.get("Environment", {}).get("Variables", {})
    for var in ("DOCUMENTS_BUCKET", "DOCUMENTS_TABLE", "VECTOR_BUCKET", "VECTOR_INDEX", "EMBEDDING_PROVIDER"):
        check(bool(env.get(var)), f"IngestFunction has {var}={env.get(var, '')}")
    mappings = lam.list_event_source_mappings(FunctionName=physical("IngestFunction"))["EventSourceMappings"]
    mapping = next((m for m in mappings if m["EventSourceArn"] == queue_arn), None)
    if check(mapping is not None, "IngestQueue -> IngestFunction event source mapping"):
        assert mapping is not None
        partial = "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", [])
        check(partial, "partial batch responses on")
        size = mapping["BatchSize"]
        check(size == int(params.get("IngestBatchSize", "5")), f"batch size {size}")

    print("registry, backups, vectors:")
    table = session.client("dynamodb").describe_table(TableName=physical("DocumentsTable"))["Table"]
    check(table["TableStatus"] == "ACTIVE", f"{table['TableName']} is ACTIVE")
    check(table["KeySchema"] == [{"AttributeName": "doc_id", "KeyType": "HASH"}], "registry key is doc_id")
    s3.head_bucket(Bucket=physical("BackupsBucket"))
    check(True, f"{physical('BackupsBucket')} exists")
    vectors = session.client("s3vectors")  # AWS_ENDPOINT_URL_S3VECTORS wins for this client
    bucket_name, index_name = outputs.get("VectorBucketName", ""), outputs.get("VectorIndexName", "")
    try:
        index = vectors.get_index(vectorBucketName=bucket_name, indexName=index_name)["index"]
        check(
            int(index["dimension"]) == int(params.get("EmbeddingDimension", "1024")),
            f"vector index {bucket_name}/{index_name}: {index['dimension']} dims, {index['distanceMetric']}",
        )
    except Exception as exc:  # a missing external store is a finding, not a crash
        check(False, f"vector index {bucket_name}/{index_name}: {type(exc).__name__}: {exc}")

    print(f"{len(FAILURES)} check(s) failed" if FAILURES else "every check passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
