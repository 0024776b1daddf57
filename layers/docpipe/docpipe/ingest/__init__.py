"""Ingestion: S3 object events in, one recorded outcome per document out.

``IngestService`` applies one event (index, re-index, skip or delete); ``ConcurrentBatchProcessor``
runs an SQS batch's records on a bounded pool, grouped by document. The modules, one job each:

- ``service``: the outcome of one event, from the registry claim to the vectors written.
- ``batch``: the SQS batch's plan (records grouped by document, in ``sequencer`` order) and the
  Powertools ``BatchProcessor`` that runs it.
- ``sidecar``: Bedrock-format ``<key>.metadata.json`` sidecars read into chunk metadata.
"""

from docpipe.ingest.batch import ConcurrentBatchProcessor, document_of, plan_batch
from docpipe.ingest.service import GROUP_CHUNKS, MAX_SIDECAR_BYTES, IngestService, Outcome
from docpipe.ingest.sidecar import TYPED_FIELDS, sidecar_attributes

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
