"""The template passes the linters AWS ships: `sam validate --lint` and cfn-lint."""

from __future__ import annotations

import subprocess

import pytest

from tests.build_support import ROOT, TEMPLATE, VENV_BIN, sam_environment

pytestmark = pytest.mark.build


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env=sam_environment(), capture_output=True, text=True, timeout=300, check=False
    )


def test_sam_validate_with_lint_accepts_the_template() -> None:
    result = _run(
        str(VENV_BIN / "sam"), "validate", "--lint", "--template-file", str(TEMPLATE), "--region", "us-east-1"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_cfn_lint_reports_nothing() -> None:
    result = _run(str(VENV_BIN / "cfn-lint"), "--format", "parseable", str(TEMPLATE))

    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stdout + result.stderr
