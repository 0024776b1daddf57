"""SnapStart hooks: registered by the handler, they load what a document needs and keep credentials out.

The Lambda runtime's ``snapshot_restore_py`` is not installed here: a fake one records the hooks.
The handler is imported in a fresh interpreter, as a SnapStart init would, so what the snapshot
would hold is exactly what that process holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from docpipe import aws, snapstart
from docpipe.config import Settings
from tests.conftest import ROOT

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzSNAPSTARTKEY"

FAKE_RUNTIME = """
before, after = [], []
def register_before_snapshot(func, *args, **kwargs):
    before.append((func, args, kwargs))
    return func
def register_after_restore(func, *args, **kwargs):
    after.append((func, args, kwargs))
    return func
"""

CHILD = """
import gc, json, sys
sys.path[:0] = {paths!r}
import app
import snapshot_restore_py as runtime
from docpipe import aws
imported_before = "langchain_text_splitters" in sys.modules

def holds(roots, secret):
    seen, todo = set(), list(roots)
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type(sys)):
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            if secret in obj:
                return True
            continue
        todo.extend(gc.get_referents(obj))
    return False

for func, args, kwargs in reversed(runtime.before):  # the runtime runs them in reverse order
    func(*args, **kwargs)
roots = [app.service, app.processor, aws._clients, aws._session]
result = {{
    "before": len(runtime.before), "after": len(runtime.after),
    "imported_before": imported_before,
    "imported_after": all(m in sys.modules for m in ("langchain_text_splitters", "pypdfium2")),
    "resolved": aws.credentials_resolved(),
    "secret_held": holds(roots, {secret!r}),
}}
if {force!r}:  # a client that signs once holds the credentials: the search must then find them
    aws.client("s3")._request_signer._credentials.get_frozen_credentials()
    result["secret_held_after_lookup"] = holds(roots, {secret!r})
print("RESULT " + json.dumps(result))
"""


def snapshot_init(tmp_path: Path, *, force_lookup: bool = False) -> dict[str, Any]:
    """Import the handler in a fresh interpreter with the fake runtime and run the before-snapshot hooks."""
    (tmp_path / "snapshot_restore_py.py").write_text(FAKE_RUNTIME)
    paths = [str(tmp_path), str(ROOT / "layers" / "docpipe"), str(ROOT / "functions" / "ingest")]
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "AKIASNAPSTARTTEST",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "docpipe",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "DOCUMENTS_TABLE": "docpipe-documents",
        "VECTOR_BUCKET": "docpipe-vectors",
        "VECTOR_INDEX": "chunks-bedrock-1024-cosine",
        "DOCUMENTS_BUCKET": "docpipe-documents",
    }
    script = CHILD.format(paths=paths, secret=SECRET, force=force_lookup)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, env=env, timeout=300
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def test_the_handler_registers_hooks_that_import_what_a_document_needs(tmp_path: Path) -> None:
    result = snapshot_init(tmp_path)

    assert (result["before"], result["after"]) == (1, 1)
    assert not result["imported_before"]  # the handler's import alone leaves LangChain for later
    assert result["imported_after"]


def test_objects_built_before_the_snapshot_hold_no_credentials(tmp_path: Path) -> None:
    result = snapshot_init(tmp_path, force_lookup=True)

    assert result["resolved"] is False
    assert result["secret_held"] is False
    assert result["secret_held_after_lookup"] is True  # the search does find credentials once held


def test_prepare_refuses_a_snapshot_once_credentials_were_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    client = aws.client("s3")
    assert aws.credentials_resolved() is False
    client._request_signer._credentials.get_frozen_credentials()  # what the first request does

    with pytest.raises(snapstart.SnapshotStateError, match="credentials"):
        snapstart.prepare(Settings(embedding_provider="bedrock"))


def test_restored_environments_draw_their_own_random_numbers() -> None:
    import random

    random.seed(7)
    snapshot_draw = random.random()
    random.seed(7)  # the state every environment restored from one snapshot starts with

    snapstart.renew()

    assert random.random() != snapshot_draw


def test_without_the_lambda_runtime_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as off Lambda

    assert snapstart.register(Settings()) is False


def test_with_the_lambda_runtime_both_hooks_are_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("snapshot_restore_py")
    exec(FAKE_RUNTIME, fake.__dict__)  # noqa: S102 - the fake runtime's two functions
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    settings = Settings()

    assert snapstart.register(settings) is True
    assert fake.before == [(snapstart.prepare, (settings, ()), {})]
    assert fake.after == [(snapstart.renew, (), {})]


def test_prepare_runs_the_handlers_own_steps_too() -> None:
    ran: list[str] = []

    snapstart.prepare(Settings(embedding_provider="bedrock"), also=(lambda: ran.append("patched"),))

    assert ran == ["patched"]
