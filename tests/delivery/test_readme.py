"""The documented configuration reference, checked against template.yaml and docpipe.config.

A parameter or variable added to the code without a row in docs/configuration.md fails here, so
the reference a newcomer reads cannot drift from what the stack actually takes; the stack name
limit docs/deploy.md states is the one the bucket names imply.
"""

from __future__ import annotations

import re
from pathlib import Path

from docpipe.config import ENV_VARS
from tests.build_support import load_template

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = ROOT / "docs" / "configuration.md"
DEPLOY = ROOT / "docs" / "deploy.md"
# The longest AWS region names (ap-southeast-1, ap-northeast-1, ...) have 14 characters.
LONGEST_REGION = "ap-southeast-1"
ACCOUNT_ID = "123456789012"
S3_BUCKET_NAME_MAX = 63


def _configuration_rows() -> list[list[str]]:
    """The cells of each row of the configuration page's table (the one headed `parameter`)."""
    text = CONFIGURATION.read_text(encoding="utf-8")
    start = text.find("\n| parameter |")
    assert start >= 0, "the configuration table has moved or changed"
    rows = []
    for line in text[start + 1 :].splitlines():
        if not line.startswith("|"):
            break
        rows.append(line)
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([A-Za-z0-9_]+)`", cell))


def test_every_template_parameter_has_a_row_in_the_configuration_table() -> None:
    # Given the template's parameters and the configuration table's parameter column
    parameters = set(load_template()["Parameters"])
    documented = {name for row in _configuration_rows() for name in _names(row[0])}

    # Then every parameter is documented, and nothing documented is a parameter that is gone
    assert parameters - documented == set(), "parameters missing from docs/configuration.md"
    assert documented - parameters == set(), "docs/configuration.md documents parameters the template lacks"


def test_every_settings_variable_has_a_row_in_the_configuration_table() -> None:
    # Given every variable docpipe.config reads and the configuration table's env var column
    documented = {name for row in _configuration_rows() for name in _names(row[1])}

    # Then each one is there
    assert set(ENV_VARS) - documented == set(), "env vars missing from docs/configuration.md"


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


def test_the_deploy_page_states_the_stack_name_limit_the_bucket_names_imply() -> None:
    # Given the buckets named from the stack name
    limits = _stack_name_limits()

    # When the deploy page's limit is read
    stated = re.search(r"\*\*at most (\d+)\*\* in the longest region names", DEPLOY.read_text("utf-8"))

    # Then it is the tightest of them (the documents bucket carries account id and region)
    assert {"DocumentsBucket", "VectorBucket"} <= set(limits)
    assert stated, "docs/deploy.md does not state the stack name limit"
    assert int(stated.group(1)) == min(limits.values()), limits
