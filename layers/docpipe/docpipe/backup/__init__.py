"""Backups of the vector index and document registry: one streamed, self-describing tar.gz in S3.

``BackupService`` runs the five actions of BackupFunction (backup, list, verify, restore, prune);
``BackupRequest`` parses its event. The modules, one job each:

- ``archive``: the archive format (member names, encodings, manifest, object metadata) and the
  writer, fed by parallel ListVectors segment readers.
- ``reader``: the untrusted-archive reader: path, type, size, decompression-ratio and manifest
  rules, checked in full before a restore writes anything.
- ``reports``: what each action returns, and the comparison of an archive with the live index.
- ``request``: the event's fields, checked whole before an action starts.
- ``service``: the orchestration of the actions over the S3 client, the vector store and the registry.
"""

from docpipe.backup.archive import ARCHIVE_SUFFIX, BACKUP_PREFIX, COMPRESS_LEVEL, FORMAT, FORMAT_VERSION
from docpipe.backup.reports import BackupInfo, BackupResult, PruneReport, RestoreReport, VerifyReport
from docpipe.backup.request import ACTIONS, RESTORE_MODES, BackupRequest
from docpipe.backup.service import BackupService

__all__ = [
    "ACTIONS",
    "ARCHIVE_SUFFIX",
    "BACKUP_PREFIX",
    "COMPRESS_LEVEL",
    "FORMAT",
    "FORMAT_VERSION",
    "RESTORE_MODES",
    "BackupInfo",
    "BackupRequest",
    "BackupResult",
    "BackupService",
    "PruneReport",
    "RestoreReport",
    "VerifyReport",
]
