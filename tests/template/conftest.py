"""Session fixtures for template tests: the parsed template, and `sam build` runs made once."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.build_support import (
    AWS_SAM,
    BUILD_DIR,
    HOST_BUILD_DIR,
    HOST_DIR,
    ROOT,
    TEMPLATE,
    find_python313,
    load_template,
    sam_build,
    write_host_template,
)


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml with CloudFormation tags in their long form."""
    return load_template()


@pytest.fixture(scope="session")
def python313() -> Path:
    found = find_python313()
    if found is None:
        pytest.fail("Python 3.13 (the template's runtime) is needed: install it, e.g. 'pyenv install 3.13'")
    return found


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Two test sessions (or a session and `docpipe local`) must not write one build folder at once."""
    AWS_SAM.mkdir(exist_ok=True)
    with (AWS_SAM / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(
    template_path: Path, build_dir: Path, cache_dir: Path, label: str, *, workdir: Path = ROOT
) -> Path:
    started = time.monotonic()
    with _build_lock():
        result = sam_build(template_path, build_dir, cache_dir, workdir=workdir)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        pytest.fail(f"sam build ({label}) failed after {seconds:.0f}s:\n{output}")
    print(f"sam build ({label}) took {seconds:.0f}s")  # shown with -s / -rP: the build time is worth knowing
    return build_dir


@pytest.fixture(scope="session")
def deploy_build(python313: Path) -> Path:
    """`sam build` of template.yaml as declared, into .aws-sam/build (what `sam deploy` ships)."""
    return _build(TEMPLATE, BUILD_DIR, AWS_SAM / "cache", "deployable")


@pytest.fixture(scope="session")
def host_build(python313: Path) -> Path:
    """`sam build` of a copy with every architecture set to this machine's, into .aws-sam/host/build."""
    return _build(write_host_template(), HOST_BUILD_DIR, HOST_DIR / "cache", "host", workdir=HOST_DIR)


@pytest.fixture(scope="session")
def runtime_deps() -> Path:
    """boto3 and its dependencies only: what the Lambda runtime adds to the standard library."""
    from docpipe.local.build import ensure_runtime_deps

    return ensure_runtime_deps(ROOT)
