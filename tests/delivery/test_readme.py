"""The README's configuration reference, checked against template.yaml and docpipe.config.

A parameter or variable added to the code without a README row fails here, so the reference a
newcomer reads cannot drift from what the stack actually takes.
"""

from __future__ import annotations

import re
from pathlib import Path

from docpipe.config import ENV_VARS
from tests.build_support import load_template

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The longest AWS region names (ap-southeast-1, ap-northeast-1, ...) have 14 characters.
LONGEST_REGION = "ap-southeast-1"
ACCOUNT_ID = "123456789012"
S3_BUCKET_NAME_MAX = 63


def _configuration_rows() -> list[list[str]]:
    """The cells of each row of the table under `## Configuration`."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows[0].split("|")[1].strip() == "parameter", "the configuration table has moved or changed"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([A-Za-z0-9_]+)`", cell))


def test_every_template_parameter_has_a_row_in_the_configuration_table() -> None:
    # Given the template's parameters and the README table's parameter column
    parameters = set(load_template()["Parameters"])
    documented = {name for row in _configuration_rows() for name in _names(row[0])}

    # Then every parameter is documented, and nothing documented is a parameter that is gone
    assert parameters - documented == set(), "parameters missing from README.md"
    assert documented - parameters == set(), "README.md documents parameters the template lacks"


def test_every_settings_variable_has_a_row_in_the_configuration_table() -> None:
    # Given every variable docpipe.config reads and the README table's env var column
    documented = {name for row in _configuration_rows() for name in _names(row[1])}

    # Then each one is there
    assert set(ENV_VARS) - documented == set(), "env vars missing from README.md"


def _stack_name_limits() -> dict[str, int]:
    """The longest stack name each stack-named bucket allows, in the longest region name."""
    limits: dict[str, int] = {}
    for logical_id, resource in load_template()["Resources"].items():
        properties = resource.get("Properties", {})
        name = properties.get("BucketName") or properties.get("VectorBucketName")
        pattern = name.get("Fn::Sub") if isinstance(name, dict) else None
        if isinstance(pattern, str) and "${AWS::StackName}" in pattern:
            fixed = pattern.replace("${AWS::AccountId}", ACCOUNT_ID).replace("${AWS::Region}", LONGEST_REGION)
            limits[logical_id] = S3_BUCKET_NAME_MAX - len(fixed.replace("${AWS::StackName}", ""))
    return limits


def test_the_readme_states_the_stack_name_limit_the_bucket_names_imply() -> None:
    # Given the buckets named from the stack name
    limits = _stack_name_limits()

    # When the README's limit is read
    stated = re.search(r"\*\*at most (\d+)\*\* in the longest region names", README.read_text("utf-8"))

    # Then it is the tightest of them (the documents bucket carries account id and region)
    assert {"DocumentsBucket", "VectorBucket"} <= set(limits)
    assert stated, "README.md does not state the stack name limit"
    assert int(stated.group(1)) == min(limits.values()), limits
