"""template.yaml read as data: names, wiring, settings and policies checked against the code (fast)."""

from __future__ import annotations

import ast
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from docpipe import config
from docpipe.config import Settings
from tests.build_support import (
    ROOT,
    SAMCONFIG,
    Resolver,
    declared_environment_names,
    function_architecture,
    function_environment,
    function_layers,
    iter_policy_statements,
    layer_architecture,
    statement_actions,
)
from tests.conftest import load_event

PACKAGE_DIR = ROOT / "layers" / "docpipe" / "docpipe"
FUNCTIONS = {"IngestFunction": ROOT / "functions" / "ingest", "BackupFunction": ROOT / "functions" / "backup"}

PUBLIC_LOGICAL_IDS = {
    "DocumentsBucket": "AWS::S3::Bucket",
    "IngestQueue": "AWS::SQS::Queue",
    "IngestDeadLetterQueue": "AWS::SQS::Queue",
    "DocumentsTable": "AWS::DynamoDB::Table",
    "VectorBucket": "AWS::S3Vectors::VectorBucket",
    "VectorIndex": "AWS::S3Vectors::Index",
    "BackupsBucket": "AWS::S3::Bucket",
    "IngestFunction": "AWS::Serverless::Function",
    "BackupFunction": "AWS::Serverless::Function",
    "DocpipeLayer": "AWS::Serverless::LayerVersion",
    "DocpipeLayerArm64": "AWS::Serverless::LayerVersion",
    "OfflineEmbeddingsLayer": "AWS::Serverless::LayerVersion",
}

# Parameters the issues name (issue 2 section 2 and the template brief).
REQUIRED_PARAMETERS = {
    "Stage", "EmbeddingProvider", "EmbeddingModelId", "EmbeddingDimension", "DistanceMetric",
    "ChunkSize", "ChunkOverlap", "MaxDocumentBytes", "DocumentPrefix", "DocumentSuffix", "PdfEngine",
    "PdfPasswordsSecretId", "BackupSchedule", "BackupRetentionCount", "BackupRetentionDays",
    "IngestMaxConcurrency", "IngestBatchSize", "IngestBatchWindowSeconds", "MaxReceiveCount",
    "CreateVectorStore", "ExternalVectorBucketName", "ExternalVectorIndexName", "LogLevel",
}  # fmt: skip

# Variables each function must receive from the template (docs/architecture.md, "set by template.yaml").
NEEDED_VARIABLES = {
    "IngestFunction": {
        config.STAGE, config.DOCUMENTS_BUCKET, config.DOCUMENTS_TABLE, config.VECTOR_BUCKET,
        config.VECTOR_INDEX, config.EMBEDDING_PROVIDER, config.EMBEDDING_MODEL_ID,
        config.EMBEDDING_DIMENSION, config.CHUNK_SIZE, config.CHUNK_OVERLAP, config.MAX_DOCUMENT_BYTES,
        config.DOCUMENT_PREFIX, config.PDF_ENGINE, config.PDF_PASSWORDS_SECRET_ID,
    },
    "BackupFunction": {
        config.STAGE, config.DOCUMENTS_TABLE, config.VECTOR_BUCKET, config.VECTOR_INDEX,
        config.BACKUPS_BUCKET, config.EMBEDDING_PROVIDER, config.EMBEDDING_MODEL_ID,
        config.EMBEDDING_DIMENSION, config.BACKUP_RETENTION_COUNT, config.BACKUP_RETENTION_DAYS,
    },
}  # fmt: skip

# IAM actions whose boto3 call is not simply the snake_case of the action name.
CALLS_GRANTED_BY = {
    "s3:GetObject": {"get_object", "head_object", "download_file", "download_fileobj", "copy", "copy_object",
                     "generate_presigned_url"},
    "s3:GetObjectVersion": {"get_object", "head_object", "download_fileobj"},
    "s3:ListBucket": {"list_objects_v2", "list_objects", "list_object_versions"},
    "s3:PutObject": {"put_object", "upload_file", "upload_fileobj", "create_multipart_upload", "upload_part",
                     "complete_multipart_upload", "copy", "copy_object"},
    "s3:AbortMultipartUpload": {"abort_multipart_upload", "upload_file", "upload_fileobj"},
    "s3:ListMultipartUploadParts": {"list_parts"},
    "s3:ListBucketMultipartUploads": {"list_multipart_uploads"},
    "s3:DeleteObject": {"delete_object", "delete_objects"},
    "s3:DeleteObjectVersion": {"delete_object", "delete_objects"},
    "secretsmanager:GetSecretValue": {"get_secret_value", "SecretsProvider"},
    "dynamodb:BatchWriteItem": {"batch_write_item", "batch_writer"},
}  # fmt: skip


# The AWS calls a function's own service module makes directly, and what each needs granted.
OWN_MODULES = {
    "IngestFunction": ["ingest.py", "embeddings/bedrock.py"],
    "BackupFunction": ["backup.py"],
}
ACTIONS_FOR_CALL = {
    "put_vectors": {"s3vectors:PutVectors"},
    "delete_vectors": {"s3vectors:DeleteVectors"},
    "get_vectors": {"s3vectors:GetVectors"},
    "list_vectors": {"s3vectors:ListVectors"},
    "query_vectors": {"s3vectors:QueryVectors"},
    "get_index": {"s3vectors:GetIndex"},
    "create_index": {"s3vectors:CreateIndex"},
    "delete_index": {"s3vectors:DeleteIndex"},
    "list_indexes": {"s3vectors:ListIndexes"},
    "get_item": {"dynamodb:GetItem"},
    "put_item": {"dynamodb:PutItem"},
    "update_item": {"dynamodb:UpdateItem"},
    "delete_item": {"dynamodb:DeleteItem"},
    "scan": {"dynamodb:Scan"},
    "batch_write_item": {"dynamodb:BatchWriteItem"},
    "describe_table": {"dynamodb:DescribeTable"},
    "get_object": {"s3:GetObject"},
    "head_object": {"s3:GetObject"},
    "put_object": {"s3:PutObject"},
    "create_multipart_upload": {"s3:PutObject"},
    "upload_part": {"s3:PutObject"},
    "complete_multipart_upload": {"s3:PutObject"},
    "abort_multipart_upload": {"s3:AbortMultipartUpload"},
    "list_multipart_uploads": {"s3:ListBucketMultipartUploads"},
    "list_parts": {"s3:ListMultipartUploadParts"},
    "delete_object": {"s3:DeleteObject"},
    "list_objects_v2": {"s3:ListBucket"},
    "invoke_model": {"bedrock:InvokeModel"},
    "get_secret_value": {"secretsmanager:GetSecretValue"},
}


def _snake(action_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action_name).lower()


def _calls_in(paths: list[Path]) -> set[str]:
    """boto3 operations a file calls: `.op(`, `"op"` (getattr, _call, get_paginator), SecretsProvider."""
    found: set[str] = set()
    for path in paths:
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r"\.([a-z][a-z0-9_]*)\(", text))
        found |= set(re.findall(r"[\"']([a-z][a-z0-9_]*)[\"']", text))
        found |= set(re.findall(r"\b(SecretsProvider)\b", text))
    return found


def _module_file(module: str) -> Path | None:
    parts = module.split(".")
    base = PACKAGE_DIR.parent.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """All nodes except those under `if TYPE_CHECKING:` (imports that never run)."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        nodes.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def _reachable_files(entry: Path) -> list[Path]:
    """entry plus every docpipe module it imports, transitively (lazy imports inside functions too)."""
    seen: dict[Path, None] = {}
    pending = [entry]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen[path] = None
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for module in modules:
                if module == "docpipe" or module.startswith("docpipe."):
                    parts = module.split(".")
                    for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b too
                        found = _module_file(".".join(parts[:i]))
                        if found is not None:
                            pending.append(found)
    return list(seen)


def _function_policy_actions(template: dict[str, Any], function_id: str) -> set[str]:
    return {
        action
        for logical_id, statement in iter_policy_statements(template)
        if logical_id == function_id
        for action in statement_actions(statement)
    }


def _samconfig_overrides(environment: str) -> dict[str, str]:
    data = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    raw = data[environment]["deploy"]["parameters"].get("parameter_overrides", "")
    return dict(item.split("=", 1) for item in shlex.split(raw))


# ---------------------------------------------------------------- names and parameters


def test_template_declares_the_public_logical_ids_with_their_types(template: dict[str, Any]) -> None:
    types = {logical_id: template["Resources"][logical_id]["Type"] for logical_id in PUBLIC_LOGICAL_IDS}

    assert types == PUBLIC_LOGICAL_IDS


def test_template_declares_every_parameter_the_issues_name(template: dict[str, Any]) -> None:
    missing = REQUIRED_PARAMETERS - set(template["Parameters"])

    assert not missing


def test_template_defaults_give_settings_docpipe_accepts(template: dict[str, Any]) -> None:
    for function_id in FUNCTIONS:
        Settings.from_env(function_environment(template, function_id))


@pytest.mark.parametrize("environment", ["default", "localstack", "local"])
def test_each_samconfig_environment_gives_settings_docpipe_accepts(
    template: dict[str, Any], environment: str
) -> None:
    overrides = _samconfig_overrides(environment)
    assert set(overrides) <= set(template["Parameters"]), "an override names no template parameter"

    for function_id in FUNCTIONS:
        settings = Settings.from_env(function_environment(template, function_id, overrides))
        assert settings.vector_bucket and settings.vector_index


def test_localstack_environment_uses_an_external_vector_store(template: dict[str, Any]) -> None:
    overrides = _samconfig_overrides("localstack")
    resolver = Resolver(template, overrides)

    assert not resolver.condition("ShouldCreateVectorStore")
    env = function_environment(template, "IngestFunction", overrides)
    assert env[config.VECTOR_BUCKET] == overrides["ExternalVectorBucketName"]
    assert env[config.VECTOR_INDEX] == overrides["ExternalVectorIndexName"]


# ---------------------------------------------------------------- environment variables


def test_every_variable_the_template_sets_is_one_docpipe_or_powertools_reads(
    template: dict[str, Any],
) -> None:
    known = set(config.ENV_VARS)
    for function_id in FUNCTIONS:
        names = declared_environment_names(template, function_id)
        unknown = {n for n in names - known if not n.startswith(("POWERTOOLS_", "AWS_"))}
        assert not unknown, f"{function_id} sets variables nothing reads: {sorted(unknown)}"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_each_function_gets_every_variable_it_needs(template: dict[str, Any], function_id: str) -> None:
    missing = NEEDED_VARIABLES[function_id] - declared_environment_names(template, function_id)

    assert not missing


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_settings_a_function_requires_in_code_are_set_by_the_template(
    template: dict[str, Any], function_id: str
) -> None:
    app = FUNCTIONS[function_id] / "app.py"
    if not app.is_file():
        pytest.fail(f"{app.relative_to(ROOT)} is missing")
    required: set[str] = set()
    for path in _reachable_files(app):
        for args in re.findall(r"\.require\(([^)]*)\)", path.read_text(encoding="utf-8")):
            required |= set(re.findall(r"[\"'](\w+)[\"']", args))
    variables = {config._ENV_BY_FIELD[name] for name in required if name in config._ENV_BY_FIELD}

    env = function_environment(template, function_id)
    assert not {v for v in variables if not env.get(v)}


def test_every_variable_the_contract_says_the_template_sets_is_set(template: dict[str, Any]) -> None:
    contract = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", contract, flags=re.MULTILINE)
    from_template = {name for name, source in rows if source.strip() not in ("—", "-", "")}
    from_template -= {"AWS_ENDPOINT_URL"}
    declared = set().union(*(declared_environment_names(template, f) for f in FUNCTIONS))

    assert from_template, "docs/architecture.md lists no variables set by the template"
    assert not from_template - declared


# ---------------------------------------------------------------- policies


def test_no_allow_statement_grants_a_wildcard_action(template: dict[str, Any]) -> None:
    wildcard = [
        (logical_id, action)
        for logical_id, statement in iter_policy_statements(template)
        if statement.get("Effect") == "Allow"
        for action in statement_actions(statement)
        if "*" in action
    ]

    assert not wildcard


def test_function_policies_are_scoped_to_named_resources(template: dict[str, Any]) -> None:
    for function_id in FUNCTIONS:
        for logical_id, statement in iter_policy_statements(template):
            if logical_id == function_id:
                resource = statement.get("Resource")
                assert resource not in (None, "*", ["*"]), f"{function_id}: {statement.get('Sid')}"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_action_a_function_is_granted_is_one_its_code_calls(
    template: dict[str, Any], function_id: str
) -> None:
    app = FUNCTIONS[function_id] / "app.py"
    if not app.is_file():
        pytest.fail(f"{app.relative_to(ROOT)} is missing")
    calls = _calls_in(_reachable_files(app))
    granted = _function_policy_actions(template, function_id)

    uncalled = {
        action
        for action in granted
        if not (CALLS_GRANTED_BY.get(action, set()) | {_snake(action.split(":", 1)[1])}) & calls
    }
    assert granted
    assert not uncalled, f"{function_id} is granted actions its code never calls: {sorted(uncalled)}"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_call_a_function_module_makes_is_granted(template: dict[str, Any], function_id: str) -> None:
    paths = [PACKAGE_DIR / name for name in OWN_MODULES[function_id]]
    missing_modules = [p.name for p in paths if not p.is_file()]
    if missing_modules:
        pytest.fail(f"modules not written yet: {missing_modules}")
    granted = _function_policy_actions(template, function_id)
    needed = set().union(*(ACTIONS_FOR_CALL.get(call, set()) for call in _calls_in(paths)))

    assert not needed - granted


def test_bedrock_is_granted_only_for_the_configured_model_and_only_with_bedrock(
    template: dict[str, Any],
) -> None:
    statements = template["Resources"]["IngestFunction"]["Properties"]["Policies"][0]["Statement"]
    (bedrock,) = [s for s in statements if "Fn::If" in s and s["Fn::If"][0] == "UseBedrock"]
    when_bedrock, when_offline = bedrock["Fn::If"][1], bedrock["Fn::If"][2]

    assert when_bedrock["Action"] == "bedrock:InvokeModel"
    assert when_bedrock["Resource"]["Fn::Sub"].endswith("::foundation-model/${EmbeddingModelId}")
    assert when_offline == {"Ref": "AWS::NoValue"}


def test_pdf_password_secret_is_granted_only_when_one_is_configured(template: dict[str, Any]) -> None:
    statements = template["Resources"]["IngestFunction"]["Properties"]["Policies"][0]["Statement"]
    (secret,) = [s for s in statements if "Fn::If" in s and s["Fn::If"][0] == "HasPdfPasswordsSecret"]

    assert secret["Fn::If"][1]["Action"] == "secretsmanager:GetSecretValue"
    assert "${PdfPasswordsSecretId}-??????" in secret["Fn::If"][1]["Resource"]["Fn::Sub"]
    assert not Resolver(template).condition("HasPdfPasswordsSecret")


# ---------------------------------------------------------------- wiring


def test_documents_bucket_sends_created_and_removed_events_to_the_ingest_queue(
    template: dict[str, Any],
) -> None:
    configs = template["Resources"]["DocumentsBucket"]["Properties"]["NotificationConfiguration"][
        "QueueConfigurations"
    ]

    assert {c["Event"] for c in configs} == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    assert all(c["Queue"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]} for c in configs)


@pytest.mark.parametrize(
    ("prefix", "suffix", "expected"),
    [
        ("", "", None),
        ("docs/", "", [{"Name": "prefix", "Value": "docs/"}]),
        ("", ".pdf", [{"Name": "suffix", "Value": ".pdf"}]),
        ("docs/", ".pdf", [{"Name": "prefix", "Value": "docs/"}, {"Name": "suffix", "Value": ".pdf"}]),
    ],
)
def test_notification_filter_follows_prefix_and_suffix_parameters(
    template: dict[str, Any], prefix: str, suffix: str, expected: list[dict[str, str]] | None
) -> None:
    resolver = Resolver(template, {"DocumentPrefix": prefix, "DocumentSuffix": suffix})
    props = resolver.value(template["Resources"]["DocumentsBucket"]["Properties"])

    for queue_config in props["NotificationConfiguration"]["QueueConfigurations"]:
        rules = queue_config.get("Filter", {}).get("S3Key", {}).get("Rules")
        assert rules == expected


def test_queue_policy_admits_exactly_the_documents_bucket(template: dict[str, Any]) -> None:
    resolver = Resolver(template)
    bucket_name = resolver.value(template["Resources"]["DocumentsBucket"]["Properties"]["BucketName"])
    (statement,) = resolver.value(
        template["Resources"]["IngestQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    )

    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == f"arn:aws:s3:::{bucket_name}"
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    assert template["Resources"]["DocumentsBucket"]["DependsOn"] == "IngestQueuePolicy"


def test_queue_visibility_timeout_is_at_least_six_times_the_ingest_timeout(template: dict[str, Any]) -> None:
    visibility = template["Resources"]["IngestQueue"]["Properties"]["VisibilityTimeout"]
    timeout = template["Resources"]["IngestFunction"]["Properties"]["Timeout"]

    assert visibility >= 6 * timeout


def test_ingest_queue_dead_letters_after_max_receive_count(template: dict[str, Any]) -> None:
    redrive = template["Resources"]["IngestQueue"]["Properties"]["RedrivePolicy"]

    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert template["Parameters"]["MaxReceiveCount"]["Default"] == 5


def test_dead_letter_alarm_fires_on_any_visible_message(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["IngestDeadLetterQueueAlarm"]["Properties"]

    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["IngestDeadLetterQueue", "QueueName"]}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_ingest_reads_the_queue_with_partial_batch_responses(template: dict[str, Any]) -> None:
    (event,) = template["Resources"]["IngestFunction"]["Properties"]["Events"].values()
    props = event["Properties"]

    assert event["Type"] == "SQS"
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == {"Ref": "IngestBatchSize"}
    assert props["MaximumBatchingWindowInSeconds"] == {"Ref": "IngestBatchWindowSeconds"}
    assert props["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "IngestMaxConcurrency"}
    assert template["Parameters"]["IngestMaxConcurrency"]["MinValue"] == 2


def test_backup_schedule_sends_what_schedule_backup_json_holds(template: dict[str, Any]) -> None:
    (event,) = template["Resources"]["BackupFunction"]["Properties"]["Events"].values()

    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == {"Ref": "BackupSchedule"}
    assert json.loads(event["Properties"]["Input"]) == load_event("schedule_backup.json")
    assert template["Parameters"]["BackupSchedule"]["Default"] == "rate(1 day)"


def test_documents_table_is_keyed_by_doc_id_on_demand_with_recovery(template: dict[str, Any]) -> None:
    props = template["Resources"]["DocumentsTable"]["Properties"]

    assert props["KeySchema"] == [{"AttributeName": "doc_id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "doc_id", "AttributeType": "S"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


@pytest.mark.parametrize("bucket_id", ["DocumentsBucket", "BackupsBucket"])
def test_buckets_are_versioned_encrypted_private_and_tls_only(
    template: dict[str, Any], bucket_id: str
) -> None:
    props = template["Resources"][bucket_id]["Properties"]
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]

    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    (statements,) = policies
    (deny,) = statements
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_backups_expire_by_lifecycle_only_as_a_backstop(template: dict[str, Any]) -> None:
    (rule,) = template["Resources"]["BackupsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]

    assert rule["ExpirationInDays"] == {"Ref": "BackupExpirationDays"}
    assert template["Parameters"]["BackupExpirationDays"]["Default"] >= 30
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0


def test_vector_index_matches_the_parameters_and_the_package(template: dict[str, Any]) -> None:
    from docpipe import vectorstore

    props = template["Resources"]["VectorIndex"]["Properties"]

    assert props["DataType"] == "float32"
    assert props["Dimension"] == {"Ref": "EmbeddingDimension"}
    assert props["DistanceMetric"] == {"Ref": "DistanceMetric"}
    assert template["Parameters"]["DistanceMetric"]["Default"] == "cosine"
    keys = props["MetadataConfiguration"]["NonFilterableMetadataKeys"]
    assert tuple(keys) == tuple(vectorstore.NON_FILTERABLE_METADATA_KEYS)


def test_functions_receive_the_vector_index_the_template_creates(template: dict[str, Any]) -> None:
    resolver = Resolver(template)
    index = resolver.value(template["Resources"]["VectorIndex"]["Properties"]["IndexName"])
    bucket = resolver.value(template["Resources"]["VectorBucket"]["Properties"]["VectorBucketName"])

    for function_id in FUNCTIONS:
        env = function_environment(template, function_id)
        assert (env[config.VECTOR_BUCKET], env[config.VECTOR_INDEX]) == (bucket, index)


def test_vector_store_resources_exist_only_when_created(template: dict[str, Any]) -> None:
    for logical_id in ("VectorBucket", "VectorIndex"):
        assert template["Resources"][logical_id]["Condition"] == "ShouldCreateVectorStore"


# ---------------------------------------------------------------- architectures and layers


def test_offline_layer_exists_and_is_attached_only_for_the_offline_provider(template: dict[str, Any]) -> None:
    assert template["Resources"]["OfflineEmbeddingsLayer"]["Condition"] == "UseOfflineEmbeddings"

    assert function_layers(template, "IngestFunction", {"EmbeddingProvider": "bedrock"}) == ["DocpipeLayer"]
    assert function_layers(
        template, "IngestFunction", {"EmbeddingProvider": "offline", "EmbeddingDimension": "256"}
    ) == ["DocpipeLayer", "OfflineEmbeddingsLayer"]
    assert function_layers(template, "BackupFunction", {"EmbeddingProvider": "offline"}) == [
        "DocpipeLayerArm64"
    ]


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_layer_of_a_function_is_built_for_its_architecture(
    template: dict[str, Any], function_id: str
) -> None:
    architecture = function_architecture(template, function_id)
    for provider, dimension in (("bedrock", "1024"), ("offline", "256")):
        overrides = {"EmbeddingProvider": provider, "EmbeddingDimension": dimension}
        for layer_id in function_layers(template, function_id, overrides):
            layer = template["Resources"][layer_id]
            assert layer_architecture(template, layer_id) == architecture
            assert layer["Properties"]["CompatibleArchitectures"] == [architecture]
            assert layer["Metadata"]["BuildMethod"] == "python3.13"


def test_ingest_is_x86_64_for_wordllama_and_backup_is_arm64(template: dict[str, Any]) -> None:
    assert function_architecture(template, "IngestFunction") == "x86_64"
    assert function_architecture(template, "BackupFunction") == "arm64"
    assert template["Resources"]["OfflineEmbeddingsLayer"]["Metadata"]["BuildArchitecture"] == "x86_64"


def test_globals_set_runtime_tracing_and_powertools(template: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    variables = function_globals["Environment"]["Variables"]

    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Tracing"] == "Active"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "docpipe"
    assert variables["POWERTOOLS_SERVICE_NAME"]
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


def test_handlers_are_app_handler(template: dict[str, Any]) -> None:
    for function_id, folder in FUNCTIONS.items():
        props = template["Resources"][function_id]["Properties"]
        assert (props["Handler"], props["CodeUri"]) == ("app.handler", str(folder.relative_to(ROOT)))


def test_outputs_name_everything_a_user_needs(template: dict[str, Any]) -> None:
    outputs = set(template["Outputs"])

    assert {
        "DocumentsBucketName", "IngestQueueUrl", "IngestDeadLetterQueueUrl", "IngestDeadLetterQueueAlarmName",
        "DocumentsTableName", "VectorBucketName", "VectorIndexName", "BackupsBucketName",
        "IngestFunctionName", "BackupFunctionName",
    } <= outputs  # fmt: skip
