"""What the ``docpipe`` command reads from a stack: search results, the index and the documents' states."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from docpipe import config
from docpipe_cli.target import Target


def _settings_for(target: Target) -> Any:
    """Embedding settings: the environment, completed by the local stack's parameters."""
    env = dict(os.environ)
    params = target.parameters or {}
    for var, param in (
        (config.EMBEDDING_PROVIDER, "EmbeddingProvider"),
        (config.EMBEDDING_DIMENSION, "EmbeddingDimension"),
        (config.EMBEDDING_MODEL_ID, "EmbeddingModelId"),
        # A stack with AccessControl=enforced is searched as it enforces it (docs/access-control.md).
        (config.ACCESS_CONTROL, "AccessControl"),
        (config.ACCESS_DEFAULT, "AccessDefault"),
    ):
        if not env.get(var) and params.get(param):
            env[var] = params[param]
    if not env.get(config.EMBEDDING_PROVIDER) and target.names.get("embedding_provider"):
        env[config.EMBEDDING_PROVIDER] = target.names["embedding_provider"]
    return config.Settings.from_env(env)


def search_service(target: Target) -> Any:
    """The target's ``SearchService``, built as SearchFunction builds its own (``build_search_service``)."""
    from docpipe.search import build_search_service

    settings = _settings_for(target).with_overrides(
        vector_bucket=target.name("vector_bucket", "--vector-bucket"),
        vector_index=target.name("vector_index", "--vector-index"),
    )
    return build_search_service(settings, clients=target.client)


def search(
    target: Target,
    question: str,
    *,
    k: int = 5,
    filter: dict[str, Any] | None = None,
    rerank: str | None = None,
    neighbours: int = 0,
    on_behalf_of: dict[str, Any] | None = None,
) -> Any:
    """Search the target's index through ``docpipe.search``, the path SearchFunction runs.

    ``on_behalf_of`` (``{"user": ..., "groups": [...]}``): whom the search is for; required on a
    stack with ``AccessControl=enforced``. The CLI's own credentials read the index anyway: IAM on
    the index is the outer wall, this only makes the CLI answer as the API would.

    Raises:
        ValidationError: a bad question, ``k``, filter, rerank mode or ``on_behalf_of``, naming
            the field (``on_behalf_of`` missing on an enforced stack too).
    """
    from docpipe.search import SearchRequest

    fields: dict[str, Any] = {"query": question, "k": k, "filter": filter, "rerank": rerank}
    fields.update(neighbours=neighbours, on_behalf_of=on_behalf_of)
    request = SearchRequest.from_dict(fields)
    return search_service(target).search(request)


def registry(target: Target) -> Any:
    """The target's document registry (``DocumentRegistry`` on its table)."""
    from docpipe.registry import DocumentRegistry

    return DocumentRegistry(target.client("dynamodb"), target.name("documents_table", "--documents-table"))


def _store(target: Target) -> Any:
    from docpipe.vectorstore import S3VectorStore

    return S3VectorStore(
        target.client("s3vectors"),
        target.name("vector_bucket", "--vector-bucket"),
        target.name("vector_index", "--vector-index"),
    )


def index_status(target: Target) -> list[str]:
    """The index's shape, mode and text search status, and which rankings it can run now."""
    from docpipe.search.service import text_search_state
    from docpipe.vectorstore import TEXT_SEARCH_KEYS

    store = _store(target)
    info = store.describe(refresh=True)
    lines = [
        f"index {store.uri}: dimension {info.dimension}, {info.distance_metric}, "
        f"mode {info.index_mode or 'not reported'}"
    ]
    for key, searchable in sorted(info.text_search.items()):
        language = searchable.language or "standard"
        lines.append(f"text search on {key!r}: {searchable.status} (language {language})")
    if not info.text_search:
        lines.append("text search: none configured")
    state = text_search_state(info, TEXT_SEARCH_KEYS)
    lines.append(
        {
            "ACTIVE": "rankings: hybrid, text, none and bedrock run as asked",
            "BUILDING": "rankings: hybrid and text answer with the dense ranking until text search is ACTIVE",
            "OFF": "rankings: hybrid and text answer with the dense ranking "
            "(docpipe index --enable-text-search)",
        }[state]
    )
    return lines


def enable_text_search(target: Target, *, language: str) -> list[str]:
    """Make the index ENHANCED with docpipe's searchable keys, in place; what changed."""
    from docpipe.vectorstore import TEXT_SEARCH_KEYS

    return list(_store(target).enable_text_search(TEXT_SEARCH_KEYS, language=language))


def documents(target: Target, prefix: str = "") -> list[Any]:
    return sorted(registry(target).list(prefix=prefix), key=lambda r: str(getattr(r, "key", "")))


def format_documents(records: Sequence[Any], scope: Any = None) -> list[str]:
    """The status table (document, state, reason, pages, chunks, seconds) and totals.

    ``scope``: the stack's ``docpipe.scope.Scope``; when it leaves keys out, a last line says
    which, as no registry entry exists for a key outside it that nothing delivered.
    """
    rows = [
        (
            str(getattr(r, "key", "")),
            str(getattr(r, "state", "")),
            str(getattr(r, "reason", "") or ""),
            str(getattr(r, "pages", "") or ""),
            str(getattr(r, "chunk_count", "") or ""),
            f"{float(getattr(r, 'seconds', 0) or 0):.2f}",
        )
        for r in records
    ]
    header = ("document", "state", "reason", "pages", "chunks", "seconds")
    widths = [
        max(len(header[i]), *(len(row[i]) for row in rows)) if rows else len(header[i]) for i in range(6)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    states: dict[str, int] = {}
    for r in records:
        states[str(getattr(r, "state", ""))] = states.get(str(getattr(r, "state", "")), 0) + 1
    pages = sum(int(getattr(r, "pages", 0) or 0) for r in records)
    chunks = sum(int(getattr(r, "chunk_count", 0) or 0) for r in records)
    seconds = sum(float(getattr(r, "seconds", 0) or 0) for r in records)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    lines.append(
        f"total: {len(records)} documents ({summary}); {pages} pages, {chunks} chunks, {seconds:.1f} s"
    )
    if scope is not None and (scope.prefix or scope.suffix):
        lines.append(
            f"scope: keys under {scope.prefix!r} ending with {scope.suffix!r}; others are skipped as "
            "outside_prefix / outside_suffix (`docpipe reconcile --dry-run` lists them as ignored)"
        )
    return lines
