"""Create the stack's data resources in moto FROM template.yaml, so tests cannot drift from the template.

Small and test-focused: it creates the resources the ingest path touches (DocumentsBucket with its
notification configuration, IngestQueue + dead-letter queue, DocumentsTable, VectorBucket +
VectorIndex, BackupsBucket) in the in-process ``mock_aws``. The template is read and resolved by
``docpipe_cli.template``, the reader the local stack's provisioner uses too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from docpipe.vectorstore import S3VectorStore
from docpipe_cli.local.s3vectors.cloudformation import create_index_request
from docpipe_cli.template import Resolver, function_environment, load_template, parameter_values

ACCOUNT_ID = "123456789012"  # moto's default account


@dataclass(frozen=True)
class StackNames:
    """Physical names of the created resources, plus the functions' environment from the template."""

    documents_bucket: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str
    table: str
    vector_bucket: str
    vector_index: str
    backups_bucket: str
    dimension: int
    distance_metric: str
    inventory_bucket: str = ""  # only with ReconcileSource=inventory
    function_env: dict[str, dict[str, str]] = field(default_factory=dict)

    def env(self, function: str = "IngestFunction") -> dict[str, str]:
        """The environment variables ``function`` gets from template.yaml (Globals + its own)."""
        return dict(self.function_env[function])


def _arn(template: Mapping[str, Any], physical: Mapping[str, str], region: str, resource: str) -> str:
    """The ARN moto gives a created resource (what ``Fn::GetAtt <Resource>.Arn`` returns)."""
    name = physical[resource]
    kind = template["Resources"][resource]["Type"]
    if kind == "AWS::SQS::Queue":
        return f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}"
    if kind == "AWS::S3::Bucket":
        return f"arn:aws:s3:::{name}"
    if kind == "AWS::DynamoDB::Table":
        return f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"
    if kind == "AWS::S3Vectors::VectorBucket":
        return f"arn:aws:s3vectors:{region}:{ACCOUNT_ID}:bucket/{name}"
    raise KeyError(f"cannot resolve GetAtt {resource}.Arn")


def create_stack_resources(
    template_path: str | Path,
    *,
    region: str = "us-east-1",
    stack_name: str = "docpipe",
    parameters: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
    endpoint_url: str | None = None,
) -> StackNames:
    """Create the template's data resources in the active moto (``mock_aws`` or a moto server).

    Args:
        template_path: template.yaml.
        region: where to create them.
        stack_name: stands in for ``AWS::StackName``.
        parameters: template parameter overrides (defaults come from the template).
        names: physical-name overrides by logical id, e.g. ``{"DocumentsBucket": "docpipe-documents"}``
            (the bucket the events/ files name).
        endpoint_url: a moto server; None for the in-process ``mock_aws``.
    """
    template = load_template(Path(template_path))
    params, unknown = parameter_values(template, parameters)
    if unknown:
        raise KeyError(f"overrides name no template parameter: {', '.join(unknown)}")
    resources = template["Resources"]
    physical: dict[str, str] = {}  # logical id -> physical name, filled as resources are created

    def ref(logical: str) -> str:
        if logical not in physical:
            raise KeyError(f"cannot resolve Ref {logical}")
        return physical[logical]

    def get_att(resource: str, attribute: str) -> str:
        if attribute == "QueueName":
            return physical[resource]
        return _arn(template, physical, region, resource)

    r = Resolver(
        template, params, region=region, account=ACCOUNT_ID, stack_name=stack_name, ref=ref, get_att=get_att
    )

    def name_of(logical: str, prop: str | None, default: str) -> str:
        if names and logical in names:
            return names[logical]
        props = resources[logical].get("Properties", {})
        if prop and prop in props:
            return str(r.resolve(props[prop]))
        return default

    def props(logical: str) -> dict[str, Any]:
        return dict(r.resolve(resources[logical].get("Properties", {})))

    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    s3 = boto3.client("s3", **kwargs)
    sqs = boto3.client("sqs", **kwargs)
    dynamodb = boto3.client("dynamodb", **kwargs)
    s3vectors = boto3.client("s3vectors", **kwargs)

    # Queues first: the bucket's notification configuration points at the queue.
    physical["IngestDeadLetterQueue"] = name_of(
        "IngestDeadLetterQueue", "QueueName", f"{stack_name}-IngestDLQ"
    )
    physical["IngestQueue"] = name_of("IngestQueue", "QueueName", f"{stack_name}-IngestQueue")
    dlq_url = sqs.create_queue(QueueName=physical["IngestDeadLetterQueue"])["QueueUrl"]
    queue_props = props("IngestQueue")
    attributes = {"VisibilityTimeout": str(queue_props.get("VisibilityTimeout", 30))}
    if "RedrivePolicy" in queue_props:
        import json

        redrive = queue_props["RedrivePolicy"]
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                "maxReceiveCount": int(redrive["maxReceiveCount"]),
            }
        )
    queue_url = sqs.create_queue(QueueName=physical["IngestQueue"], Attributes=attributes)["QueueUrl"]

    physical["DocumentsTable"] = name_of("DocumentsTable", "TableName", f"{stack_name}-DocumentsTable")
    table_props = props("DocumentsTable")
    table_args: dict[str, Any] = {}
    if table_props.get("GlobalSecondaryIndexes"):
        table_args["GlobalSecondaryIndexes"] = table_props["GlobalSecondaryIndexes"]
    dynamodb.create_table(
        TableName=physical["DocumentsTable"],
        AttributeDefinitions=table_props["AttributeDefinitions"],
        KeySchema=table_props["KeySchema"],
        BillingMode=table_props.get("BillingMode", "PAY_PER_REQUEST"),
        **table_args,
    )

    physical["DocumentsBucket"] = name_of("DocumentsBucket", "BucketName", f"{stack_name}-documents")
    physical["BackupsBucket"] = name_of("BackupsBucket", "BucketName", f"{stack_name}-backups-bucket")
    buckets = ["DocumentsBucket", "BackupsBucket"]
    if r.condition(resources["InventoryBucket"]["Condition"]):
        physical["InventoryBucket"] = name_of(
            "InventoryBucket", "BucketName", f"{stack_name}-inventory-bucket"
        )
        buckets.append("InventoryBucket")
    for logical in buckets:
        bucket = physical[logical]
        create: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**create)
        bucket_props = props(logical)
        status = bucket_props.get("VersioningConfiguration", {}).get("Status")
        if status:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
    notification = props("DocumentsBucket").get("NotificationConfiguration", {})
    queue_configs = [
        {
            "QueueArn": qc["Queue"],
            "Events": [qc["Event"]],
            **(
                {"Filter": {"Key": {"FilterRules": qc["Filter"]["S3Key"]["Rules"]}}}
                if qc.get("Filter")
                else {}
            ),
        }
        for qc in notification.get("QueueConfigurations", [])
    ]
    if queue_configs:
        s3.put_bucket_notification_configuration(
            Bucket=physical["DocumentsBucket"],
            NotificationConfiguration={"QueueConfigurations": queue_configs},
        )

    # AccessControl=enforced: the access documents, with the template's initial values.
    ssm = boto3.client("ssm", **kwargs)
    for logical, resource in resources.items():
        if resource.get("Type") != "AWS::SSM::Parameter":
            continue
        if "Condition" in resource and not r.condition(resource["Condition"]):
            continue
        parameter = props(logical)
        physical[logical] = str(parameter["Name"])
        value = str(parameter["Value"])
        ssm.put_parameter(Name=physical[logical], Value=value, Type="String", Overwrite=True)

    vector_bucket = vector_index = ""
    dimension = int(params["EmbeddingDimension"])
    metric = params.get("DistanceMetric", "cosine")
    if r.condition("ShouldCreateVectorStore"):
        physical["VectorBucket"] = name_of("VectorBucket", "VectorBucketName", f"{stack_name}-vectors")
        vector_bucket = physical["VectorBucket"]
        s3vectors.create_vector_bucket(vectorBucketName=vector_bucket)
        index_props = props("VectorIndex")
        vector_index = names["VectorIndex"] if names and "VectorIndex" in names else index_props["IndexName"]
        dimension = int(index_props["Dimension"])
        metric = index_props["DistanceMetric"]
        s3vectors.create_index(**create_index_request(index_props, bucket=vector_bucket, name=vector_index))
        if "VectorIndexTextSearch" in resources:  # the custom resource, as its handler applies it
            declared = resources["VectorIndexTextSearch"]["Properties"]
            keys = tuple(r.resolve(declared["MetadataKeys"]))
            store = S3VectorStore(s3vectors, vector_bucket, vector_index)
            store.enable_text_search(keys, language=r.resolve(declared.get("Language")) or None)
            store.wait_for_text_search(keys, poll=0.0)

    function_env: dict[str, dict[str, str]] = {}
    for logical, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        env = function_environment(template, logical, r)
        if vector_bucket:  # the env derives these by formula; keep them equal to what was created
            env["VECTOR_BUCKET"], env["VECTOR_INDEX"] = vector_bucket, vector_index
        function_env[logical] = env

    return StackNames(
        documents_bucket=physical["DocumentsBucket"],
        queue_url=queue_url,
        queue_arn=get_att("IngestQueue", "Arn"),
        dead_letter_queue_url=dlq_url,
        table=physical["DocumentsTable"],
        vector_bucket=vector_bucket,
        vector_index=vector_index,
        backups_bucket=physical["BackupsBucket"],
        dimension=dimension,
        distance_metric=metric,
        inventory_bucket=physical.get("InventoryBucket", ""),
        function_env=function_env,
    )
