"""Helpers for tests that read template.yaml or its `sam build` output.

Kept outside conftest.py so any test (template, local stack, delivery) can import them:
``from tests.build_support import load_template, Resolver``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

from docpipe_cli.local import build as _local_build

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
AWS_SAM = ROOT / ".aws-sam"
BUILD_DIR = AWS_SAM / "build"
# The host build is the local stack's own (docpipe_cli.local.build): the template tests and the
# integration tests share it, so `make test` runs one host build, not two.
HOST_BUILD_DIR = ROOT / _local_build.HOST_BUILD_DIR
HOST_TEMPLATE = ROOT / _local_build.HOST_TEMPLATE
RUNTIME_DEPS_DIR = AWS_SAM / "runtime-deps"  # docpipe_cli.local.build installs it
VENV_BIN = ROOT / ".venv" / "bin"

# What the python3.13 Lambda runtime itself ships besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")

# ELF e_machine values of the two Lambda architectures.
ELF_MACHINE = {"x86_64": 0x3E, "arm64": 0xB7}
# Lambda's hard limit: function code plus all its layers, unzipped.
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000

PSEUDO_PARAMETERS = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "AWS::StackName": "docpipe",
    "AWS::StackId": (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/docpipe/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    ),
    "AWS::URLSuffix": "amazonaws.com",
}
NO_VALUE = object()


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template, short-form tags (!Ref, !If, !Sub) included.

    cfn-lint's loader turns tags into their long form ({"Fn::If": [...]}), so the result is
    plain JSON-compatible data.
    """
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def resources_of_type(template: Mapping[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == type_name}


class Resolver:
    """Evaluates the intrinsic functions docpipe's template uses, for given parameter values.

    Resources resolve to stand-in names (``Ref`` -> ``<LogicalId>-name``), which is enough to
    check which variables a function gets and to start its code outside AWS.
    """

    def __init__(self, template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> None:
        self.template = template
        self.parameters = {
            name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()
        }
        self.parameters.update({k: str(v) for k, v in (overrides or {}).items()})
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.template["Resources"]:
            return f"{name}-name"
        raise KeyError(f"unresolvable Ref {name!r}")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                return f"{resource}-{attribute}"
            return str(self.ref(name))

        return re.sub(r"\$\{([A-Za-z0-9:._]+)\}", replace, text)

    def value(self, node: Any) -> Any:  # noqa: PLR0911 - one branch per intrinsic function
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.value(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.value(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::Or":
                return any(self.value(a) for a in arg)
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self._sub(arg, {})
                text, variables = arg
                return self._sub(text, {k: self.value(v) for k, v in variables.items()})
            if key == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"{resource}-{attribute}"
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(i) for i in self.value(items))
        resolved = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}


def function_environment(
    template: Mapping[str, Any], function_id: str, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment variables Lambda gives ``function_id`` (Globals merged, function wins)."""
    resolver = Resolver(template, overrides)
    global_vars = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    function = template["Resources"][function_id]["Properties"]
    own_vars = function.get("Environment", {}).get("Variables", {})
    merged = {**resolver.value(global_vars), **resolver.value(own_vars)}
    return {k: str(v) for k, v in merged.items()}


def declared_environment_names(template: Mapping[str, Any], function_id: str) -> set[str]:
    """Every variable name the template can set on ``function_id``, whatever the parameters."""
    global_vars = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][function_id]["Properties"].get("Environment", {}).get("Variables", {})
    return set(global_vars) | set(own)


def function_layers(
    template: Mapping[str, Any], function_id: str, overrides: Mapping[str, str] | None = None
) -> list[str]:
    """Logical ids of the layers attached to ``function_id`` for these parameter values."""
    resolver = Resolver(template, overrides)
    layers = template["Resources"][function_id]["Properties"].get("Layers", [])
    return [layer.removesuffix("-name") for layer in resolver.value(layers)]


def function_architecture(template: Mapping[str, Any], function_id: str) -> str:
    props = template["Resources"][function_id]["Properties"]
    global_arch = template.get("Globals", {}).get("Function", {}).get("Architectures", ["x86_64"])
    (arch,) = props.get("Architectures", global_arch)
    return str(arch)


def layer_architecture(template: Mapping[str, Any], layer_id: str) -> str:
    return str(template["Resources"][layer_id]["Metadata"]["BuildArchitecture"])


def iter_policy_statements(template: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource id, statement) for every IAM statement in the template, both branches of Fn::If."""

    def statements(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, list):
            for item in node:
                yield from statements(item)
        elif isinstance(node, dict):
            if "Fn::If" in node and len(node) == 1:
                yield from statements(node["Fn::If"][1])
                yield from statements(node["Fn::If"][2])
            elif "Effect" in node:
                yield node

    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::Serverless::Function":
            documents = [p for p in props.get("Policies", []) if isinstance(p, dict)]
        elif "PolicyDocument" in props:
            documents = [props["PolicyDocument"]]
        for document in documents:
            for statement in statements(document.get("Statement", [])):
                yield logical_id, statement


def statement_actions(statement: Mapping[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def host_architecture() -> str:
    machine = platform.machine().lower()
    return "arm64" if machine in ("aarch64", "arm64") else "x86_64"


def elf_machine(path: Path) -> int | None:
    """The ELF e_machine of ``path``, or None when it is not an ELF file."""
    with path.open("rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    byteorder = "little" if header[5] == 1 else "big"
    return int.from_bytes(header[18:20], byteorder)


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def find_python313() -> Path | None:
    """The runtime's interpreter: pyenv's 3.13 first, then python3.13 on PATH."""
    candidates = sorted(Path("/root/.pyenv/versions").glob("3.13.*/bin/python3.13"), reverse=True)
    home = Path.home() / ".pyenv" / "versions"
    candidates += sorted(home.glob("3.13.*/bin/python3.13"), reverse=True)
    on_path = shutil.which("python3.13")
    if on_path:
        candidates.append(Path(on_path))
    return next((c for c in candidates if c.exists()), None)


def sam_environment() -> dict[str, str]:
    """Environment for the SAM CLI: python3.13 on PATH (sam build's runtime check), no telemetry."""
    env = dict(os.environ)
    python313 = find_python313()
    path = [str(VENV_BIN)]
    if python313 is not None:
        path.append(str(python313.parent))
    env["PATH"] = os.pathsep.join([*path, env.get("PATH", "")])
    env["SAM_CLI_TELEMETRY"] = "0"
    # the host build's overrides (layers/docpipe/Makefile): the deployable build has neither
    env.pop("DOCPIPE_LAYER_ARCHITECTURE", None)
    env.pop("DOCPIPE_OCR_LAYERS", None)
    return env


def sam_build(
    template: Path, build_dir: Path, cache_dir: Path, *, workdir: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run ``sam build`` (cached, parallel) from ``workdir`` and return the finished process.

    Code paths resolve against the repository root (``--base-dir``) wherever the template is.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        str(VENV_BIN / "sam"),
        "build",
        "--template-file",
        str(template),
        "--build-dir",
        str(build_dir),
        "--base-dir",
        str(ROOT),
        "--cache-dir",
        str(cache_dir),
        "--cached",
        "--parallel",
    ]
    return subprocess.run(
        command, cwd=workdir, env=sam_environment(), capture_output=True, text=True, timeout=1800, check=False
    )
