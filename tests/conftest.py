"""Fixtures every test layer shares: fake credentials, the events/ loader, the shared corpus."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from docpipe_cli.local import s3vectors as _s3vectors

# Property tests: tens of examples by default; `make soak` (HYPOTHESIS_PROFILE=soak) runs thousands.
# No deadline: one example plays a whole history against moto, whose speed varies with the machine.
settings.register_profile(
    "default", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "soak", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# HTTP-level fault injection (tests.aws_faults): its no_backoff fixture serves every test folder.
pytest_plugins = ["tests.aws_faults"]

# The local S3 Vectors answers QueryVectors, full-text and hybrid search and the rest of the API in
# every moto of this suite, in-process (mock_aws) as in moto server: one call path, as on AWS.
_s3vectors.install()
# Powertools names a child logger (``Logger(child=True)``) after POWERTOOLS_SERVICE_NAME when its
# module is imported; a test module that imports docpipe.ingest at collection, before the fixture
# below sets the variable, would leave the ingest service's logger orphaned for every later test.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "docpipe")

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"
CORPUS_DIR = ROOT.parent / "shared" / "corpus"
PDF_CORPUS_DIR = CORPUS_DIR / "pdf"


NO_NETWORK_PRELUDE = """
import socket
def refuse(*a, **k):
    raise OSError("network disabled")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
"""
"""Python that makes every later socket connection in the interpreter fail (fresh-interpreter tests)."""


def load_event(name: str) -> dict[str, Any]:
    """Load ``events/<name>`` (the same file ``sam local invoke -e`` takes)."""
    path = EVENTS_DIR / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach real AWS: fake credentials and a fixed region for every test."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "docpipe")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "docpipe")


@pytest.fixture(autouse=True)
def _fresh_clients() -> Any:
    """Cached boto3 clients and an invocation's deadline must not leak between tests."""
    from docpipe.aws import clear_client_cache, set_deadline

    clear_client_cache()
    yield
    clear_client_cache()
    set_deadline(None)


@pytest.fixture
def pdf_corpus() -> Path:
    """The shared PDF corpus (../shared/corpus/pdf), written by others."""
    if not PDF_CORPUS_DIR.is_dir():
        pytest.fail(f"the shared corpus is missing at {PDF_CORPUS_DIR}: clone with ../shared beside the repo")
    return PDF_CORPUS_DIR


@pytest.fixture(scope="session")
def python313() -> Path:
    """The Lambda runtime's interpreter, found as the local stack finds it (PYTHON313, pyenv, PATH)."""
    from docpipe.exceptions import ConfigError
    from docpipe_cli.local.build import find_python313

    try:
        return Path(find_python313())
    except ConfigError as error:
        pytest.fail(str(error))


@pytest.fixture
def cli_ignores_local_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``docpipe`` commands run in-process take their names from the environment only.

    The CLI targets a running local stack through its state file (``.aws-sam/local-stack.json``);
    an integration module may be running one beside these tests.
    """
    from docpipe_cli import target

    monkeypatch.setattr(target, "root_or_cwd", lambda: tmp_path)
