"""Create in the emulator what template.yaml declares, derived from the template itself.

There is no second, hand-kept list of resources: ``Stack`` (the template bound to its parameter
values, samconfig.toml's ``local`` environment over the template defaults) says what each resource
is, and every resource is either created here (S3 buckets with versioning and queue notifications,
SQS queues with their redrive policy, DynamoDB tables, the S3 Vectors bucket and index, Secrets
Manager secrets) or reported as not provisioned with the reason.
"""

from __future__ import annotations

import contextlib
import difflib
import json
from collections.abc import Callable, Mapping
from typing import Any

from docpipe_cli.local.s3vectors.cloudformation import create_index_request
from docpipe_cli.local.stack import Stack
from docpipe_cli.local.state import LocalDeployment, NotProvisioned
from docpipe_cli.template import env_str

# Why a resource type is not created in the emulator, shown to the user instead of dropping it.
NOT_PROVISIONED_WHY: dict[str, str] = {
    "AWS::Serverless::Function": "run from the sam build output by docpipe_cli.local.runner",
    "AWS::Lambda::Function": "run from the sam build output by docpipe_cli.local.runner",
    "AWS::Serverless::LayerVersion": "the runner puts the built layer's python/ on the import path",
    "AWS::Lambda::LayerVersion": "the runner puts the built layer's python/ on the import path",
    "AWS::Lambda::EventSourceMapping": "played by docpipe_cli.local.poller",
    "AWS::IAM::Role": "IAM is not enforced locally; functions run with fake credentials",
    "AWS::IAM::Policy": "IAM is not enforced locally",
    "AWS::IAM::ManagedPolicy": "IAM is not enforced locally",
    "AWS::SQS::QueuePolicy": "resource policies are not enforced locally",
    "AWS::S3::BucketPolicy": "resource policies are not enforced locally",
    "AWS::S3Vectors::VectorBucketPolicy": "resource policies are not enforced locally",
    "AWS::CloudWatch::Alarm": "no alarms locally; `docpipe status` and the DLQ show failures",
    "AWS::Logs::LogGroup": "function logs go to the console",
    "AWS::Events::Rule": "schedules are played by docpipe_cli.local.poller",
    "AWS::Scheduler::Schedule": "schedules are played by docpipe_cli.local.poller",
    "AWS::Lambda::Permission": "invocation permissions are not enforced locally",
    "AWS::KMS::Key": "the emulator's default encryption is used",
    "AWS::SNS::Topic": "alarm notifications are not emulated",
}
FUNCTION_URL_WHY = (
    "no HTTP endpoint locally: invoke the function with a Function URL event "
    "(docpipe invoke SearchFunction --event events/search_function_url.json)"
)
EVENT_WHY: dict[str, str] = {
    "SQS": "played by docpipe_cli.local.poller (batch size, concurrency and partial failures as declared)",
    "Schedule": "played by docpipe_cli.local.poller on its rate",
    "ScheduleV2": "played by docpipe_cli.local.poller on its rate",
}


# -- provisioning ---------------------------------------------------------------------------
_ORDER = (
    "AWS::SecretsManager::Secret",
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3Vectors::VectorBucket",
    "AWS::S3Vectors::Index",
    "Custom::VectorIndexTextSearch",
    "AWS::S3::Bucket",
)


def ignored_parameter_lines(stack: Stack) -> list[str]:
    """One line per override the template does not declare: a misspelling must not pass silently."""
    declared = sorted(stack.template.get("Parameters", {}))
    lines = []
    for name in stack.ignored_parameters:
        close = difflib.get_close_matches(name, declared, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        lines.append(f"ignored parameter override: {name} is not a template parameter{hint}")
    return lines


def provision(
    stack: Stack, clients: Callable[[str], Any], *, log: Callable[[str], None] = print
) -> LocalDeployment:
    """Create every resource of ``stack`` the emulator can model; list the others with the reason.

    Args:
        stack: the template bound to parameters (its ``endpoint`` is the emulator's).
        clients: ``service name -> boto3 client`` pointed at the emulator.
        log: where progress lines go.
    """
    for line in ignored_parameter_lines(stack):
        log(line)
    not_provisioned: list[NotProvisioned] = []
    creators: dict[str, Callable[[Stack, str, Callable[[str], Any]], str]] = {
        "AWS::SecretsManager::Secret": _create_secret,
        "AWS::SSM::Parameter": _create_parameter,
        "AWS::SQS::Queue": _create_queue,
        "AWS::DynamoDB::Table": _create_table,
        "AWS::S3Vectors::VectorBucket": _create_vector_bucket,
        "AWS::S3Vectors::Index": _create_index,
        "Custom::VectorIndexTextSearch": _apply_text_search,
        "AWS::S3::Bucket": _create_bucket,
    }
    ordered = sorted(
        stack.resources,
        key=lambda lid: (
            _ORDER.index(t) if (t := stack.resources[lid]["Type"]) in _ORDER else 99,
            _dlq_first(stack, lid),
        ),
    )
    for lid in ordered:
        rtype = stack.resources[lid]["Type"]
        if not stack.enabled(lid):
            cond = stack.resources[lid]["Condition"]
            not_provisioned.append(NotProvisioned(lid, rtype, f"condition {cond} is false"))
            continue
        creator = creators.get(rtype)
        if creator is None:
            why = NOT_PROVISIONED_WHY.get(rtype, "the local stack has no emulation for this type")
            not_provisioned.append(NotProvisioned(lid, rtype, why))
            for event_name, spec in stack.function_events(lid).items() if rtype.endswith("Function") else ():
                event_type = str(spec.get("Type", "?"))
                why = EVENT_WHY.get(event_type, "this event source is not emulated")
                not_provisioned.append(NotProvisioned(f"{lid}.Events.{event_name}", event_type, why))
            if rtype.endswith("Function") and stack.resources[lid].get("Properties", {}).get(
                "FunctionUrlConfig"
            ):
                not_provisioned.append(
                    NotProvisioned(f"{lid}.FunctionUrlConfig", "AWS::Lambda::Url", FUNCTION_URL_WHY)
                )
            continue
        detail = creator(stack, lid, clients)
        log(f"provisioned: {lid} ({rtype}): {detail}")
    for item in not_provisioned:
        log(str(item))
    refs = {lid: stack.ref(lid) for lid in stack.resources if stack.enabled(lid)}
    attributes = {lid: stack.attributes(lid) for lid in stack.resources if stack.enabled(lid)}
    return LocalDeployment(
        endpoint=stack.endpoint,
        region=stack.region,
        account=stack.account,
        stack_name=stack.stack_name,
        template_path=str(stack.template_path),
        parameters=dict(stack.parameters),
        refs=refs,
        attributes=attributes,
        types={lid: r["Type"] for lid, r in stack.resources.items()},
        outputs=stack.outputs(),
        not_provisioned=not_provisioned,
    )


def _dlq_first(stack: Stack, logical_id: str) -> int:
    """Queues that others redrive to are created first, so the redrive target exists."""
    props = stack.resources[logical_id].get("Properties", {})
    return 1 if "RedrivePolicy" in props else 0


def _create_parameter(stack: Stack, lid: str, clients: Callable[[str], Any]) -> str:
    """An SSM parameter with the template's value (AccessControl=enforced: the access documents)."""
    props = stack.properties(lid)
    name = stack.name(lid)
    clients("ssm").put_parameter(
        Name=name, Value=str(props["Value"]), Type=str(props.get("Type", "String")), Overwrite=True
    )
    return name


def _create_secret(stack: Stack, lid: str, clients: Callable[[str], Any]) -> str:
    props = stack.properties(lid)
    sm = clients("secretsmanager")
    name = stack.name(lid)
    secret = props.get("SecretString")
    if secret is None and "GenerateSecretString" in props:
        gen = props["GenerateSecretString"]
        options = {
            k: gen[k]
            for k in ("PasswordLength", "ExcludeCharacters", "ExcludePunctuation", "ExcludeNumbers")
            if k in gen
        }
        password = sm.get_random_password(**options)["RandomPassword"]
        if "SecretStringTemplate" in gen:
            body = json.loads(gen["SecretStringTemplate"])
            body[gen.get("GenerateStringKey", "password")] = password
            secret = json.dumps(body)
        else:
            secret = password
    kwargs: dict[str, Any] = {"Name": name}
    if secret is not None:
        kwargs["SecretString"] = str(secret)
    if props.get("Description"):
        kwargs["Description"] = props["Description"]
    try:
        arn = sm.create_secret(**kwargs)["ARN"]
    except sm.exceptions.ResourceExistsException:
        arn = sm.describe_secret(SecretId=name)["ARN"]
    stack.actual[lid] = {"Arn": arn}
    return name  # never the value


def _create_queue(stack: Stack, lid: str, clients: Callable[[str], Any]) -> str:
    props = stack.properties(lid)
    sqs = clients("sqs")
    attributes: dict[str, str] = {}
    simple = (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
        "MaximumMessageSize",
        "FifoQueue",
        "ContentBasedDeduplication",
        "SqsManagedSseEnabled",
    )
    for key in simple:
        if key in props:
            attributes[key] = env_str(props[key])
    if "RedrivePolicy" in props:
        policy = props["RedrivePolicy"]
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": policy["deadLetterTargetArn"],
                "maxReceiveCount": int(policy["maxReceiveCount"]),
            }
        )
    name = stack.name(lid)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    stack.actual[lid] = {"QueueUrl": url}
    shown = {k: v for k, v in attributes.items() if k in ("VisibilityTimeout", "RedrivePolicy")}
    return f"{url} {shown}" if shown else url


def _create_table(stack: Stack, lid: str, clients: Callable[[str], Any]) -> str:
    props = stack.properties(lid)
    ddb = clients("dynamodb")
    name = stack.name(lid)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
    }
    if props.get("ProvisionedThroughput"):
        kwargs["ProvisionedThroughput"] = {k: int(v) for k, v in props["ProvisionedThroughput"].items()}
    else:
        kwargs["BillingMode"] = "PAY_PER_REQUEST"
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection")}
            for index in props["GlobalSecondaryIndexes"]
        ]
    if props.get("StreamSpecification"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    try:
        ddb.create_table(**kwargs)
    except ddb.exceptions.ResourceInUseException:
        return f"{name} (exists)"
    return name


def _create_vector_bucket(stack: Stack, lid: str, clients: Callable[[str], Any]) -> str:
    name = stack.name(lid)
    s3v = clients("s3vectors")
    try:
        s3v.create_vector_bucket(vectorBucketName=name)
    except s3v.exceptions.ConflictException:
        return f"{name} (exists)"
    return name


def _create_index(stack: Stack, lid: str, clients: Callable[[str], Any]) -> str:
    props = stack.properties(lid)
    s3v = clients("s3vectors")
    attrs = stack.attributes(lid)
    kwargs = create_index_request(props, bucket=attrs["VectorBucketName"], name=attrs["Name"])
    try:
        s3v.create_index(**kwargs)
    except s3v.exceptions.ConflictException:
        return f"{attrs['VectorBucketName']}/{attrs['Name']} (exists)"
    where = f"{attrs['VectorBucketName']}/{attrs['Name']}"
    return f"{where} dimension={kwargs['dimension']} {kwargs['distanceMetric']}"


def _apply_text_search(stack: Stack, lid: str, clients: Callable[[str], Any]) -> str:
    """The custom resource VectorIndexTextSearch, as its function applies it on AWS (same code)."""
    from docpipe.vectorstore import S3VectorStore

    props = stack.properties(lid)
    keys = tuple(props["MetadataKeys"])
    store = S3VectorStore(clients("s3vectors"), props["VectorBucketName"], props["IndexName"])
    changed = store.enable_text_search(keys, language=props.get("Language") or None)
    info = store.wait_for_text_search(keys, poll=0.5, timeout=30.0)
    states = ", ".join(f"{k} {info.text_search[k].status}" for k in keys if k in info.text_search)
    return f"{store.uri}: {'; '.join(changed) or 'already so'} ({states})"


def _create_bucket(stack: Stack, lid: str, clients: Callable[[str], Any]) -> str:
    props = stack.properties(lid)
    s3 = clients("s3")
    name = stack.name(lid)
    kwargs: dict[str, Any] = {"Bucket": name}
    if stack.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": stack.region}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(**kwargs)
    notes = [name]
    status = props.get("VersioningConfiguration", {}).get("Status")
    if status:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
        notes.append(f"versioning={status}")
    notification = props.get("NotificationConfiguration")
    if notification:
        config = _notification_configuration(notification)
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
        for queue in config.get("QueueConfigurations", []):
            notes.append(f"{','.join(queue['Events'])} -> {queue['QueueArn'].rsplit(':', 1)[-1]}")
    return " ".join(notes)


def _notification_configuration(cfn: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration shape -> the S3 API's."""

    def filters(item: Mapping[str, Any]) -> dict[str, Any]:
        rules = item.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        if not rules:
            return {}
        return {"Filter": {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}}

    config: dict[str, Any] = {}
    queues = [
        {"QueueArn": q["Queue"], "Events": [q["Event"]], **filters(q)}
        for q in cfn.get("QueueConfigurations", [])
    ]
    if queues:
        config["QueueConfigurations"] = queues
    topics = [
        {"TopicArn": t["Topic"], "Events": [t["Event"]], **filters(t)}
        for t in cfn.get("TopicConfigurations", [])
    ]
    if topics:
        config["TopicConfigurations"] = topics
    if "EventBridgeConfiguration" in cfn:
        config["EventBridgeConfiguration"] = {}
    return config
