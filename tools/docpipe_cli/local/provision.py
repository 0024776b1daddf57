"""Create in the emulator what template.yaml declares, derived from the template itself.

There is no second, hand-kept list of resources: the template is read with cfn-lint's decoder,
intrinsic functions are resolved with the parameter values (samconfig.toml's ``local`` environment
over the template defaults), and every resource is either created (S3 buckets with versioning and
queue notifications, SQS queues with their redrive policy, DynamoDB tables, the S3 Vectors bucket
and index, Secrets Manager secrets) or reported as not provisioned with the reason.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from docpipe.exceptions import ConfigError
from docpipe_cli.local.s3vectors.cloudformation import create_index_request

DEFAULT_ACCOUNT = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
DEFAULT_STACK = "docpipe-local"
NO_VALUE = object()  # Ref AWS::NoValue: the enclosing key disappears

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


@dataclass(frozen=True)
class NotProvisioned:
    """A template resource the local stack does not create, and why."""

    logical_id: str
    type: str
    why: str

    def __str__(self) -> str:
        return f"not provisioned: {self.logical_id} ({self.type}): {self.why}"


@dataclass
class LocalStack:
    """What was provisioned: LogicalId -> physical id (name, URL or ARN as ``Ref`` returns it)."""

    endpoint: str
    region: str
    account: str
    stack_name: str
    template_path: str
    parameters: dict[str, str]
    refs: dict[str, str]
    attributes: dict[str, dict[str, str]]
    types: dict[str, str]
    outputs: dict[str, str] = field(default_factory=dict)
    not_provisioned: list[NotProvisioned] = field(default_factory=list)
    # The warm Lambda Invoke API of `docpipe local up` (empty when nothing serves it).
    invoke_endpoint: str = ""

    def name(self, logical_id: str) -> str:
        """The plain name of a provisioned resource (bucket, queue, table, index, vector bucket)."""
        attrs = self.attributes.get(logical_id, {})
        return attrs.get("Name") or self.refs[logical_id]

    def queue_url(self, logical_id: str) -> str:
        return self.attributes[logical_id]["QueueUrl"]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LocalStack:
        data = json.loads(text)
        data["not_provisioned"] = [NotProvisioned(**n) for n in data.get("not_provisioned", [])]
        return cls(**data)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LocalStack:
        return cls.from_json(path.read_text(encoding="utf-8"))


def load_template(path: Path) -> dict[str, Any]:
    """Decode a CloudFormation/SAM template (short-form tags included) with cfn-lint's decoder."""
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    if template is None:
        problems = "; ".join(str(m) for m in matches) or "unreadable"
        raise ConfigError(f"cannot read template {path}: {problems}")
    return dict(template)


def samconfig_overrides(samconfig: Path, env: str = "local") -> dict[str, str]:
    """``parameter_overrides`` of one samconfig.toml environment (deploy, then global), as a dict."""
    if not samconfig.is_file():
        return {}
    data = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    section = data.get(env, {})
    raw: Any = None
    for command in ("deploy", "global", "build"):
        raw = section.get(command, {}).get("parameters", {}).get("parameter_overrides")
        if raw:
            break
    if not raw:
        return {}
    items = raw if isinstance(raw, list) else shlex.split(raw)
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if sep:
            result[key.strip()] = value.strip().strip('"')
    return result


class Resolver:
    """Minimal CloudFormation intrinsic-function evaluation for one set of parameter values.

    Enough for what docpipe's template uses: Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Join,
    Fn::Select, Fn::Split, Fn::Equals, Fn::Not/And/Or, Condition, Fn::FindInMap.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        region: str,
        account: str,
        stack_name: str,
        ref: Callable[[str], str],
        get_att: Callable[[str, str], str],
    ) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": "",
        }
        self._ref = ref
        self._get_att = get_att
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.template.get("Conditions", {})
            if name not in definitions:
                raise ConfigError(f"template condition {name!r} is not defined")
            self._conditions[name] = bool(self.resolve(definitions[name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._ref(name)

    def resolve(self, value: Any) -> Any:  # noqa: C901 - one branch per intrinsic, flat on purpose
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self._get_att(logical_id, self.resolve(attribute))
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::FindInMap":
                name, top, second = (self.resolve(a) for a in arg[:3])
                return self.template["Mappings"][name][top][second]
            if key == "Fn::GetAZs":
                return [f"{self.pseudo['AWS::Region']}{z}" for z in "abc"]
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg))
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


_NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3Vectors::VectorBucket": "VectorBucketName",
    "AWS::S3Vectors::Index": "IndexName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::IAM::Role": "RoleName",
    "AWS::SSM::Parameter": "Name",
}


class Stack:
    """A template bound to parameter values, a region, an account and a stack name."""

    def __init__(
        self,
        template_path: Path,
        *,
        parameters: Mapping[str, str] | None = None,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        stack_name: str = DEFAULT_STACK,
        endpoint: str = "",
    ) -> None:
        self.template_path = template_path
        self.template = load_template(template_path)
        self.region = region
        self.account = account
        self.stack_name = stack_name
        self.endpoint = endpoint
        self.resources: dict[str, dict[str, Any]] = dict(self.template.get("Resources", {}))
        declared = self.template.get("Parameters", {})
        unknown = set(parameters or {}) - set(declared)
        values = {k: str(v["Default"]) for k, v in declared.items() if "Default" in v}
        values.update({k: str(v) for k, v in (parameters or {}).items() if k in declared})
        missing = sorted(set(declared) - set(values))
        if missing:
            raise ConfigError(f"template parameters without a value: {', '.join(missing)}")
        self.ignored_parameters = sorted(unknown)
        self.parameters = values
        self.actual: dict[str, dict[str, str]] = {}  # filled while provisioning (queue URLs, secret ARNs)
        self.resolver = Resolver(
            self.template,
            values,
            region=region,
            account=account,
            stack_name=stack_name,
            ref=self.ref,
            get_att=self.get_att,
        )

    # -- names -----------------------------------------------------------------------------
    def enabled(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.resolver.condition(condition)

    def properties(self, logical_id: str) -> dict[str, Any]:
        resolved = self.resolver.resolve(self.resources[logical_id].get("Properties", {}))
        return dict(resolved)

    def name(self, logical_id: str) -> str:
        """The physical name: the declared one, or a CloudFormation-like generated one."""
        resource = self.resources.get(logical_id)
        if resource is None:
            raise ConfigError(f"template has no resource {logical_id!r}")
        rtype = resource["Type"]
        prop = _NAME_PROPERTY.get(rtype)
        declared = resource.get("Properties", {}).get(prop) if prop else None
        if declared is not None:
            value = self.resolver.resolve(declared)
            if value is not NO_VALUE:
                return str(value)
        suffix = hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).hexdigest()[:8]
        generated = f"{self.stack_name}-{logical_id}-{suffix}"
        if rtype in ("AWS::S3::Bucket", "AWS::S3Vectors::VectorBucket", "AWS::S3Vectors::Index"):
            generated = generated.lower()[:63]
        return generated

    def _vector_bucket_of(self, logical_id: str) -> str:
        props = self.resources[logical_id].get("Properties", {})
        if "VectorBucketName" in props:
            return str(self.resolver.resolve(props["VectorBucketName"]))
        arn = str(self.resolver.resolve(props.get("VectorBucketArn", "")))
        return arn.rsplit("bucket/", 1)[-1]

    def attributes(self, logical_id: str) -> dict[str, str]:
        """``Ref`` (under the key ``Ref``) and the attributes ``Fn::GetAtt`` can ask for."""
        rtype = self.resources[logical_id]["Type"]
        name = self.name(logical_id)
        region, account = self.region, self.account
        actual = self.actual.get(logical_id, {})
        if rtype == "AWS::S3::Bucket":
            return {
                "Ref": name,
                "Name": name,
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
            }
        if rtype == "AWS::SQS::Queue":
            url = actual.get("QueueUrl", f"{self.endpoint}/{account}/{name}")
            return {
                "Ref": url,
                "Name": name,
                "QueueUrl": url,
                "QueueName": name,
                "Arn": f"arn:aws:sqs:{region}:{account}:{name}",
            }
        if rtype == "AWS::DynamoDB::Table":
            arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
            return {"Ref": name, "Name": name, "Arn": arn, "StreamArn": f"{arn}/stream/local"}
        if rtype == "AWS::S3Vectors::VectorBucket":
            arn = f"arn:aws:s3vectors:{region}:{account}:bucket/{name}"
            return {"Ref": arn, "Name": name, "VectorBucketArn": arn, "Arn": arn}
        if rtype == "AWS::S3Vectors::Index":
            bucket = self._vector_bucket_of(logical_id)
            arn = f"arn:aws:s3vectors:{region}:{account}:bucket/{bucket}/index/{name}"
            return {"Ref": arn, "Name": name, "IndexArn": arn, "Arn": arn, "VectorBucketName": bucket}
        if rtype == "AWS::SecretsManager::Secret":
            arn = actual.get("Arn", f"arn:aws:secretsmanager:{region}:{account}:secret:{name}")
            return {"Ref": arn, "Name": name, "Arn": arn, "Id": arn}
        if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return {"Ref": name, "Name": name, "Arn": f"arn:aws:lambda:{region}:{account}:function:{name}"}
        if rtype in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            arn = f"arn:aws:lambda:{region}:{account}:layer:{name}:1"
            return {"Ref": arn, "Name": name, "Arn": arn}
        if rtype == "AWS::IAM::Role":
            return {"Ref": name, "Name": name, "Arn": f"arn:aws:iam::{account}:role/{name}"}
        service = rtype.split("::")[1].lower() if "::" in rtype else "local"
        return {"Ref": name, "Name": name, "Arn": f"arn:aws:{service}:{region}:{account}:{name}"}

    def ref(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            raise ConfigError(f"!Ref {logical_id}: no such parameter or resource in the template")
        return self.attributes(logical_id)["Ref"]

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources:
            raise ConfigError(f"!GetAtt {logical_id}.{attribute}: no such resource in the template")
        attrs = self.attributes(logical_id)
        if attribute not in attrs:
            raise ConfigError(f"!GetAtt {logical_id}.{attribute}: not known to the local stack")
        return attrs[attribute]

    def resolve(self, value: Any) -> Any:
        return self.resolver.resolve(value)

    # -- functions (for the runner and the poller) ----------------------------------------
    def function_ids(self) -> list[str]:
        return [
            lid
            for lid, r in self.resources.items()
            if r["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function") and self.enabled(lid)
        ]

    def function_property(self, logical_id: str, name: str, default: Any = None) -> Any:
        """A function property, falling back to ``Globals.Function`` as SAM does."""
        props = self.resources[logical_id].get("Properties", {})
        if name in props:
            return self.resolve(props[name])
        glob = self.template.get("Globals", {}).get("Function", {})
        if name in glob:
            return self.resolve(glob[name])
        return default

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Globals' variables overlaid with the function's own, references resolved."""
        glob = self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        own = self.resources[logical_id].get("Properties", {}).get("Environment", {})
        merged: dict[str, str] = {}
        for block in (glob, own):
            variables = self.resolve(block.get("Variables", {})) if block else {}
            merged.update({k: _env_str(v) for k, v in variables.items()})
        return merged

    def function_events(self, logical_id: str) -> dict[str, dict[str, Any]]:
        events = self.resources[logical_id].get("Properties", {}).get("Events", {}) or {}
        return {name: self.resolve(spec) for name, spec in events.items()}

    def outputs(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for name, spec in self.template.get("Outputs", {}).items():
            if "Condition" in spec and not self.resolver.condition(spec["Condition"]):
                continue
            try:
                result[name] = _env_str(self.resolve(spec["Value"]))
            except (ConfigError, KeyError):
                continue
        return result


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


# -- provisioning ---------------------------------------------------------------------------
_ORDER = (
    "AWS::SecretsManager::Secret",
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3Vectors::VectorBucket",
    "AWS::S3Vectors::Index",
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
) -> LocalStack:
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
        "AWS::SQS::Queue": _create_queue,
        "AWS::DynamoDB::Table": _create_table,
        "AWS::S3Vectors::VectorBucket": _create_vector_bucket,
        "AWS::S3Vectors::Index": _create_index,
        "AWS::S3::Bucket": _create_bucket,
        "AWS::SSM::Parameter": _create_parameter,
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
    return LocalStack(
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
            attributes[key] = _env_str(props[key])
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
