"""Helpers for tests that read template.yaml or its `sam build` output.

Kept outside conftest.py so any test (template, local stack, delivery) can import them:
``from tests.build_support import load_template, Resolver``. The template itself is read and
resolved by ``docpipe_cli.template``, as the local stack reads it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from docpipe.exceptions import ConfigError
from docpipe_cli import template as template_reader
from docpipe_cli.local import build as _local_build
from docpipe_cli.template import Resolver as TemplateResolver

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

STACK_NAME = "docpipe"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml (or a build's) as plain data, read by the one template reader of docpipe_cli."""
    return template_reader.load_template(path)


def resources_of_type(template: Mapping[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == type_name}


def Resolver(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> TemplateResolver:  # noqa: N802
    """The template's resolver for these parameter values, resources standing in by name.

    ``Ref`` of a resource is ``<LogicalId>-name`` and ``Fn::GetAtt`` is ``<LogicalId>-<Attribute>``:
    enough to check which variables a function gets and to start its code outside AWS.
    """
    values, unknown = template_reader.parameter_values(template, overrides)
    if unknown:
        raise KeyError(f"overrides name no template parameter: {', '.join(unknown)}")

    def ref(name: str) -> str:
        if name not in template["Resources"]:
            raise KeyError(f"unresolvable Ref {name!r}")
        return f"{name}-name"

    return TemplateResolver(
        template,
        values,
        stack_name=STACK_NAME,
        ref=ref,
        get_att=lambda resource, attribute: f"{resource}-{attribute}",
    )


def function_environment(
    template: Mapping[str, Any], function_id: str, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment variables Lambda gives ``function_id`` (Globals merged, function wins)."""
    return template_reader.function_environment(template, function_id, Resolver(template, overrides))


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
    layers = template_reader.function_property(template, function_id, "Layers", [])
    return [layer.removesuffix("-name") for layer in resolver.resolve(layers)]


def function_architecture(template: Mapping[str, Any], function_id: str) -> str:
    (arch,) = template_reader.function_property(template, function_id, "Architectures", ["x86_64"])
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


def sam_environment() -> dict[str, str]:
    """Environment for the SAM CLI: python3.13 on PATH (sam build's runtime check), no telemetry."""
    env = dict(os.environ)
    path = [str(VENV_BIN)]
    with contextlib.suppress(ConfigError):  # sam build's own check then names what is missing
        path.append(str(Path(_local_build.find_python313()).parent))
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
