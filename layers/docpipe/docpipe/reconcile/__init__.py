"""Reconcile: the documents bucket, the registry and the vector index compared, drift repaired.

``ReconcileService`` runs ReconcileFunction (and the enqueue half, ``docpipe backfill``);
``ReconcileRequest`` parses its event. Where the objects come from is an ``ObjectSource``; the
sources are siblings under that one base. The modules, one job each:

- ``service``: the merge of the bucket with the registry, the orphan-vector sweep, the cursor and
  the report.
- ``source``: ``ObjectSource``, the interface reconcile reads the bucket through.
- ``listing``: ``ListingSource``, ListObjectsV2 of the bucket (live).
- ``inventory``: ``InventorySource``, the newest S3 Inventory report (dated, checked whole).

The names are imported lazily (PEP 562): importing a source does not import ``service``, whose
child Logger must be created after the handler's own Logger.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "InventoryError": "docpipe.reconcile.inventory",
    "InventorySource": "docpipe.reconcile.inventory",
    "NoInventoryError": "docpipe.reconcile.inventory",
    "ListingSource": "docpipe.reconcile.listing",
    "CATEGORIES": "docpipe.reconcile.service",
    "LOWEST_SEQUENCER": "docpipe.reconcile.service",
    "STOP_MARGIN_MS": "docpipe.reconcile.service",
    "ReconcileReport": "docpipe.reconcile.service",
    "ReconcileRequest": "docpipe.reconcile.service",
    "ReconcileService": "docpipe.reconcile.service",
    "make_object_source": "docpipe.reconcile.service",
    "sequencer_after": "docpipe.reconcile.service",
    "ObjectSource": "docpipe.reconcile.source",
}

__all__ = [
    "CATEGORIES",
    "LOWEST_SEQUENCER",
    "STOP_MARGIN_MS",
    "InventoryError",
    "InventorySource",
    "ListingSource",
    "NoInventoryError",
    "ObjectSource",
    "ReconcileReport",
    "ReconcileRequest",
    "ReconcileService",
    "make_object_source",
    "sequencer_after",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'docpipe.reconcile' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from docpipe.reconcile.inventory import InventoryError, InventorySource, NoInventoryError
    from docpipe.reconcile.listing import ListingSource
    from docpipe.reconcile.service import (
        CATEGORIES,
        LOWEST_SEQUENCER,
        STOP_MARGIN_MS,
        ReconcileReport,
        ReconcileRequest,
        ReconcileService,
        make_object_source,
        sequencer_after,
    )
    from docpipe.reconcile.source import ObjectSource
