"""Lambda SnapStart runtime hooks: a snapshot holds the imports, clients and model, never credentials.

With ``EnableSnapStart`` Lambda runs the handler's initialisation once, when a version is
published, and restores each new execution environment from a snapshot of it. Before the
snapshot, ``prepare`` imports what a document needs (LangChain's splitter, pdfium, the parsers,
the registry and store) and loads the offline model, so a restored environment does none of it.
The clients were built by the handler at import; they look credentials up at their first request
(``docpipe.aws``), after the restore, and open no connection before it. After a restore,
``renew`` reseeds ``random``: every environment restored from one snapshot would otherwise draw
the same retry jitter.

``snapshot_restore_py`` ships with Lambda's Python runtimes; elsewhere (local runs, tests)
``register`` finds no such module and registers nothing.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from docpipe import aws

if TYPE_CHECKING:
    from docpipe.config import Settings

# What the first document imports on its way (the cold start's largest costs are the first two).
HEAVY_MODULES = (
    "langchain_text_splitters",
    "docpipe.chunking",
    "docpipe.parsers",
    "pypdfium2",
    "pypdf",
    "orjson",
    "docpipe.registry",
    "docpipe.vectorstore",
    "docpipe.s3",
)


class SnapshotStateError(RuntimeError):
    """Something the snapshot must not hold was built before it (publishing the version fails)."""


def prepare(settings: Settings, also: Sequence[Callable[[], object]] = ()) -> None:
    """Before the snapshot: import and load what a document needs, make no AWS call.

    ``also``: the handler's own one-time steps (X-Ray's botocore patching), run here too.

    Raises:
        SnapshotStateError: a client already looked its credentials up, so the snapshot would
            carry them into every environment restored from it.
    """
    for name in HEAVY_MODULES:
        importlib.import_module(name)
    if settings.embedding_provider == "offline":
        from docpipe.embeddings.offline import load_model

        load_model()
    for step in also:
        step()
    if aws.credentials_resolved():
        raise SnapshotStateError("AWS credentials were looked up before the SnapStart snapshot")


def renew() -> None:
    """After a restore: fresh randomness for this environment."""
    random.seed()


def register(settings: Settings, also: Sequence[Callable[[], object]] = ()) -> bool:
    """Register ``prepare`` (with ``also``) and ``renew``; False where there is no SnapStart."""
    try:
        from snapshot_restore_py import (
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(prepare, settings, tuple(also))
    register_after_restore(renew)
    return True
