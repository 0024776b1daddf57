"""Ingestion: S3 object events in, one recorded outcome per document out.

``IngestService`` applies one event (index, re-index, skip or delete); ``ConcurrentBatchProcessor``
runs an SQS batch's records on a bounded pool, grouped by document. The modules, one job each:

- ``service``: the outcome of one event, from the registry claim to the vectors written.
- ``batch``: the SQS batch's plan (records grouped by document, in ``sequencer`` order) and the
  Powertools ``BatchProcessor`` that runs it.
- ``sidecar``: Bedrock-format ``<key>.metadata.json`` sidecars read into chunk metadata.

The names are imported lazily (PEP 562), as ``docpipe``'s are: importing ``batch`` or ``sidecar``
does not import ``service``, whose child Logger must be created after the handler's own Logger.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "ConcurrentBatchProcessor": "docpipe.ingest.batch",
    "document_of": "docpipe.ingest.batch",
    "plan_batch": "docpipe.ingest.batch",
    "GROUP_CHUNKS": "docpipe.ingest.service",
    "MAX_SIDECAR_BYTES": "docpipe.ingest.service",
    "IngestService": "docpipe.ingest.service",
    "Outcome": "docpipe.ingest.service",
    "TYPED_FIELDS": "docpipe.ingest.sidecar",
    "sidecar_attributes": "docpipe.ingest.sidecar",
}

__all__ = [
    "GROUP_CHUNKS",
    "MAX_SIDECAR_BYTES",
    "TYPED_FIELDS",
    "ConcurrentBatchProcessor",
    "IngestService",
    "Outcome",
    "document_of",
    "plan_batch",
    "sidecar_attributes",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'docpipe.ingest' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from docpipe.ingest.batch import ConcurrentBatchProcessor, document_of, plan_batch
    from docpipe.ingest.service import GROUP_CHUNKS, MAX_SIDECAR_BYTES, IngestService, Outcome
    from docpipe.ingest.sidecar import TYPED_FIELDS, sidecar_attributes
