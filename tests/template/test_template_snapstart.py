"""EnableSnapStart: the template as CloudFormation expands it (AWS::LanguageExtensions, then SAM).

The language extensions are resolved with the SAM CLI's own implementation of that transform, the
SAM transform with aws-sam-translator, both offline.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.build_support import VENV_BIN
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


# Runs in sam's own virtualenv (the Makefile's .venv/sam-cli): the SAM CLI is not importable beside
# docpipe's packages, which need a newer boto3 than it pins.
_EXPAND = """
import json, sys
from samcli.lib.cfn_language_extensions.api import process_template
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template_path, values = sys.argv[1], json.loads(sys.argv[2])
with open(template_path, encoding="utf-8") as f:
    template = yaml_parse(f.read())
assert template["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
for resource in template["Resources"].values():  # what sam package puts there
    props = resource.get("Properties", {})
    for uri in ("CodeUri", "ContentUri"):
        if uri in props:
            props[uri] = "s3://artifacts/code.zip"
template = process_template(template, parameter_values=values)
template["Transform"] = "AWS::Serverless-2016-10-31"

class NoManagedPolicies:
    def load(self):
        return {}

print(json.dumps(transform(template, values, NoManagedPolicies())["Resources"], default=str))
"""


def sam_python() -> Path:
    """The Python of the virtualenv ``sam`` runs from (``.venv/bin/sam`` links into it)."""
    sam = VENV_BIN / "sam"
    if not sam.exists():
        pytest.fail(f"{sam} is missing: run make setup (it installs sam into .venv/sam-cli)")
    return sam.resolve().parent / "python"


def expanded(**parameters: Any) -> dict[str, Any]:
    """Resources of template.yaml after both transforms, for these parameter values."""
    values = {name: str(value) for name, value in parameters.items()}
    done = subprocess.run(
        [str(sam_python()), "-c", _EXPAND, str(ROOT / "template.yaml"), json.dumps(values)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    resources: dict[str, Any] = json.loads(done.stdout)
    return resources


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {lid: r for lid, r in resources.items() if r["Type"] == kind}


def test_snapstart_is_off_by_default_with_no_version_or_alias() -> None:
    resources = expanded()

    assert "SnapStart" not in resources["IngestFunction"]["Properties"]
    assert of_type(resources, "AWS::Lambda::Alias") == {}
    assert of_type(resources, "AWS::Lambda::Version") == {}
    [mapping] = of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionName"] == {"Ref": "IngestFunction"}


def test_snapstart_on_publishes_versions_behind_the_alias_the_queue_invokes() -> None:
    resources = expanded(EnableSnapStart="true")

    assert resources["IngestFunction"]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    aliases = sorted(of_type(resources, "AWS::Lambda::Alias"))
    assert aliases == ["IngestFunctionAliaslive", "SearchFunctionAliaslive"]
    versions = of_type(resources, "AWS::Lambda::Version").values()
    assert len(versions) == 2
    assert all(v["DeletionPolicy"] == "Delete" for v in versions)  # no old snapshot stays cached
    [mapping] = of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionName"] == {"Ref": "IngestFunctionAliaslive"}


def test_snapstart_on_serves_the_search_function_url_from_its_alias() -> None:
    resources = expanded(EnableSnapStart="true")

    assert resources["SearchFunction"]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    url = resources["SearchFunctionUrl"]["Properties"]
    assert url["TargetFunctionArn"] == {"Ref": "SearchFunctionAliaslive"}
    off = expanded()
    assert "SnapStart" not in off["SearchFunction"]["Properties"]
    assert off["SearchFunctionUrl"]["Properties"]["TargetFunctionArn"] == {"Ref": "SearchFunction"}


def ingest_versions(resources: dict[str, Any]) -> set[str]:
    return {lid for lid in of_type(resources, "AWS::Lambda::Version") if lid.startswith("IngestFunction")}


@pytest.mark.parametrize(("parameter", "value"), [("ChunkSize", 500), ("IngestMemorySize", 2048)])
def test_a_changed_parameter_publishes_a_new_version(parameter: str, value: int) -> None:
    before = ingest_versions(expanded(EnableSnapStart="true"))

    after = ingest_versions(expanded(EnableSnapStart="true", **{parameter: value}))

    assert before.isdisjoint(after)


def test_memory_size_is_the_ingest_memory_parameter() -> None:
    resources = expanded(IngestMemorySize=2048)

    assert int(resources["IngestFunction"]["Properties"]["MemorySize"]) == 2048
