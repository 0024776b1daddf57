"""Where the ``docpipe`` command talks to: AWS, LocalStack or the local stack, and the names it uses there."""

from __future__ import annotations

import argparse
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docpipe import config
from docpipe.exceptions import ConfigError

# Stack output -> what the CLI needs it for.
OUTPUTS = {
    "documents_bucket": "DocumentsBucketName",
    "documents_table": "DocumentsTableName",
    "vector_bucket": "VectorBucketName",
    "vector_index": "VectorIndexName",
    "backups_bucket": "BackupsBucketName",
    "queue_url": "IngestQueueUrl",
    "backup_function": "BackupFunctionName",
    "reconcile_function": "ReconcileFunctionName",
    "embedding_provider": "EmbeddingProvider",
    "document_prefix": "DocumentPrefix",
    "document_suffix": "DocumentSuffix",
}
ENV = {
    "documents_bucket": config.DOCUMENTS_BUCKET,
    "documents_table": config.DOCUMENTS_TABLE,
    "vector_bucket": config.VECTOR_BUCKET,
    "vector_index": config.VECTOR_INDEX,
    "backups_bucket": config.BACKUPS_BUCKET,
    "queue_url": "DOCPIPE_QUEUE_URL",
    "backup_function": "DOCPIPE_BACKUP_FUNCTION",
    "reconcile_function": "DOCPIPE_RECONCILE_FUNCTION",
    "embedding_provider": config.EMBEDDING_PROVIDER,
    "document_prefix": config.DOCUMENT_PREFIX,
    "document_suffix": config.DOCUMENT_SUFFIX,
}


@dataclass
class Target:
    """Where the CLI talks to, and the names it uses there."""

    endpoint: str | None
    region: str | None
    profile: str | None
    names: dict[str, str]
    local_state: Any = None  # docpipe_cli.local.state.LocalDeployment when talking to the local stack
    parameters: dict[str, str] | None = None

    def client(self, service: str) -> Any:
        import boto3

        from docpipe.aws import CLIENT_CONFIG

        if self.local_state is not None:
            from docpipe_cli.local.session import emulator_client

            return emulator_client(service, self.local_state.endpoint, self.local_state.region)
        session: Any = boto3.session.Session(profile_name=self.profile, region_name=self.region)
        return session.client(service, endpoint_url=self.endpoint, config=CLIENT_CONFIG)

    def scope(self) -> Any:
        """The stack's scope (``docpipe.scope.Scope``: its DocumentPrefix and DocumentSuffix)."""
        from docpipe.scope import Scope

        return Scope(self.names.get("document_prefix", ""), self.names.get("document_suffix", ""))

    def name(self, what: str, option: str) -> str:
        value = self.names.get(what)
        if not value:
            raise ConfigError(
                f"no {what.replace('_', ' ')}: pass {option}, set {ENV[what]}, pass --stack-name, "
                "or start the local stack (docpipe local up)"
            )
        return value


def answers(url: str) -> bool:
    """Whether an HTTP GET of ``url`` gets any answer within 2 s (a local endpoint is up)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def describe_stack(cloudformation: Any, stack_name: str) -> dict[str, Any]:
    """A deployed stack as DescribeStacks returns it (status, parameters, outputs).

    Raises:
        ConfigError: naming the stack, when CloudFormation does not have it or refuses the call.
    """
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as e:
        raise ConfigError(f"cannot describe stack {stack_name}: {e}") from e
    if not stacks:
        raise ConfigError(f"stack {stack_name} not found")
    stack: dict[str, Any] = stacks[0]
    return stack


def outputs_of(stack: Mapping[str, Any]) -> dict[str, str]:
    """The ``OutputKey -> OutputValue`` map of a DescribeStacks record."""
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The ``OutputKey -> OutputValue`` map of a deployed stack (``describe_stack``'s errors)."""
    return outputs_of(describe_stack(cloudformation, stack_name))


def resolve_target(args: argparse.Namespace) -> Target:
    names: dict[str, str] = {}
    parameters: dict[str, str] | None = None
    local_state = None
    # Lowest precedence first; later sources overwrite.
    state_path = root_or_cwd() / ".aws-sam" / "local-stack.json"
    explicit_remote = bool(args.endpoint_url or args.stack_name or args.profile)
    if not explicit_remote and state_path.is_file():
        from docpipe_cli.local.state import LocalDeployment

        state = LocalDeployment.load(state_path)
        if answers(f"{state.endpoint}/moto-api/"):
            local_state = state
            parameters = state.parameters
            names.update({k: state.outputs[v] for k, v in OUTPUTS.items() if v in state.outputs})
    if args.stack_name:
        target = Target(args.endpoint_url, args.region, args.profile, {})
        outputs = stack_outputs(target.client("cloudformation"), args.stack_name)
        names.update({k: outputs[v] for k, v in OUTPUTS.items() if v in outputs})
    for what, var in ENV.items():
        if os.environ.get(var):
            names[what] = os.environ[var]
    for what in OUTPUTS:
        value = getattr(args, what, None)
        if value:
            names[what] = value
    return Target(args.endpoint_url, args.region, args.profile, names, local_state, parameters)


def root_or_cwd() -> Path:
    from docpipe_cli.local.session import repo_root

    try:
        return repo_root()
    except ConfigError:
        return Path.cwd()
