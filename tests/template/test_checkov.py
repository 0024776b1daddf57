"""checkov (IaC security scan) on template.yaml: no failed check, every suppression justified."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.build_support import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
CHECKOV = Path(sys.executable).with_name("checkov")


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    """checkov's JSON report for the template (--skip-download: no network, no platform mapping)."""
    result = subprocess.run(
        [
            str(CHECKOV),
            "--quiet",
            "--skip-download",
            "--framework",
            "cloudformation",
            "-f",
            str(TEMPLATE),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert result.stdout.strip(), f"checkov printed no report:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_finds_no_failed_check_in_the_template(checkov_report: dict[str, Any]) -> None:
    # Given checkov's report on template.yaml
    failed = checkov_report["results"].get("failed_checks", [])

    # Then nothing failed (fix it in the template, or suppress it there with a reason)
    assert failed == [], "\n".join(
        f"{c['check_id']} {c['resource']}: {c['check_name']} (lines {c['file_line_range']})" for c in failed
    )
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert checkov_report["summary"]["passed"] > 0


def test_every_checkov_suppression_has_a_one_line_justification(checkov_report: dict[str, Any]) -> None:
    # Given the template's checkov suppressions (Metadata: checkov: skip: [{id, comment}])
    skips = [
        (logical_id, skip)
        for logical_id, resource in load_template()["Resources"].items()
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    ]

    # Then each names a check and says why in one line
    for logical_id, skip in skips:
        assert str(skip.get("id", "")).startswith("CKV"), f"{logical_id}: {skip}"
        comment = str(skip.get("comment", "")).strip()
        assert comment and "\n" not in comment, (
            f"{logical_id} skips {skip.get('id')} without a one-line reason"
        )
