"""Fixtures for tests that talk to a real endpoint: moto server on a free loopback port, the host build."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="session")
def runtime_deps() -> Path:
    """What the Lambda runtime ships besides the build (boto3 and friends), installed once."""
    from docpipe_cli.local.build import ensure_runtime_deps

    return ensure_runtime_deps(ROOT)
