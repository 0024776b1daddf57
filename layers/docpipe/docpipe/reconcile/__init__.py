"""Reconcile: the documents bucket, the registry and the vector index compared, drift repaired.

``ReconcileService`` runs ReconcileFunction (and the enqueue half, ``docpipe backfill``);
``ReconcileRequest`` parses its event. Where the objects come from is an ``ObjectSource``; the
sources are siblings under that one base. The modules, one job each:

- ``service``: the merge of the bucket with the registry, the orphan-vector sweep, the cursor and
  the report.
- ``source``: ``ObjectSource``, the interface reconcile reads the bucket through.
- ``listing``: ``ListingSource``, ListObjectsV2 of the bucket (live).
- ``inventory``: ``InventorySource``, the newest S3 Inventory report (dated, checked whole).
"""

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
