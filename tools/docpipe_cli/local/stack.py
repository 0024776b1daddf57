"""The stack model: template.yaml bound to parameter values, a region, an account and a stack name.

``Stack`` answers what CloudFormation would: each resource's physical name, what its ``Ref`` and
``Fn::GetAtt`` return, which resources its conditions enable, and the functions' properties,
environment, events and the outputs. ``docpipe_cli.local.provision`` creates what it describes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docpipe.exceptions import ConfigError
from docpipe_cli.template import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    NO_VALUE,
    Resolver,
    env_str,
    function_environment,
    function_property,
    load_template,
    parameter_values,
)

DEFAULT_STACK = "docpipe-local"

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
        values, self.ignored_parameters = parameter_values(self.template, parameters)
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
        value = function_property(self.template, logical_id, name, NO_VALUE)
        return default if value is NO_VALUE else self.resolve(value)

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Globals' variables overlaid with the function's own, references resolved."""
        return function_environment(self.template, logical_id, self.resolver)

    def function_events(self, logical_id: str) -> dict[str, dict[str, Any]]:
        events = self.resources[logical_id].get("Properties", {}).get("Events", {}) or {}
        return {name: self.resolve(spec) for name, spec in events.items()}

    def outputs(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for name, spec in self.template.get("Outputs", {}).items():
            if "Condition" in spec and not self.resolver.condition(spec["Condition"]):
                continue
            try:
                result[name] = env_str(self.resolve(spec["Value"]))
            except (ConfigError, KeyError):
                continue
        return result
