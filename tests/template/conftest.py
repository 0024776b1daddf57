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
    ROOT,
    TEMPLATE,
    load_template,
    sam_build,
)


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml with CloudFormation tags in their long form."""
    return load_template()


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Two test sessions (or a session and `docpipe local`) must not write one build folder at once."""
    AWS_SAM.mkdir(exist_ok=True)
    with (AWS_SAM / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(template_path: Path, build_dir: Path, cache_dir: Path, label: str) -> Path:
    from docpipe_cli.local.build import sources_digest

    started = time.monotonic()
    # Each test worker process asks for the build once; sam build empties the build folder before it
    # fills it again, so a second worker rebuilding unchanged sources would pull the files from under
    # the tests of the first. The stamp lets it use the finished build instead.
    stamp = build_dir / ".docpipe-test-build-stamp"
    with _build_lock():
        digest = sources_digest(ROOT, template_path)
        if stamp.is_file() and stamp.read_text() == digest and (build_dir / "template.yaml").is_file():
            print(f"sam build ({label}): unchanged sources, built by another test worker")
            return build_dir
        stamp.unlink(missing_ok=True)
        result = sam_build(template_path, build_dir, cache_dir)
        if result.returncode == 0:
            stamp.write_text(digest)
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
    """The local stack's build for this machine's architecture (docpipe_cli.local.build), folder returned.

    The same build `docpipe local`, `make demo` and the integration tests run from: it is rebuilt
    only when the template or the sources change, so one host build serves every test layer.
    """
    from docpipe.exceptions import ConfigError
    from docpipe_cli.local.build import build_for_host

    started = time.monotonic()
    try:
        built_template = build_for_host(ROOT, log=False)
    except ConfigError as exc:
        pytest.fail(f"sam build (host) failed after {time.monotonic() - started:.0f}s: {exc}")
    print(f"sam build (host) took {time.monotonic() - started:.0f}s")
    return built_template.parent


@pytest.fixture(scope="session")
def runtime_deps() -> Path:
    """boto3 and its dependencies only: what the Lambda runtime adds to the standard library."""
    from docpipe_cli.local.build import ensure_runtime_deps

    return ensure_runtime_deps(ROOT)
