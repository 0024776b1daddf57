"""OLE compound files (Outlook ``.msg``): opened with olefile, refused when their streams declare too much.

A compound file's directory declares each stream's size; olefile reads exactly that many bytes,
following the sector chain for at most as many sectors (so a chain that loops back on itself is
read as repeated sectors, never forever, and a chain that ends early is an error). Streams can
share sectors, so their declared sizes can add up to far more than the file: they are summed
against ``MAX_INFLATED_BYTES`` before any stream is read, as zipsafe sums a zip's members.
"""

from __future__ import annotations

from typing import Any

from docpipe.exceptions import CorruptDocumentError, DocumentTooLargeError
from docpipe.parsers.zipsafe import INFLATED_LIMIT_SETTING


def open_ole(data: bytes, key: str, *, kind: str, limit: int) -> Any:
    """An ``olefile.OleFileIO`` over ``data`` whose streams declare at most ``limit`` bytes in all.

    Raises:
        CorruptDocumentError: not a readable compound file (truncated, a broken directory or FAT).
        DocumentTooLargeError: its streams declare more than ``limit`` bytes.
    """
    import olefile

    try:
        # DEFECT_INCORRECT: a sector past the end of the file (a truncated copy) or a broken chain
        # is an error, not a stream silently cut short.
        ole = olefile.OleFileIO(data, raise_defects=olefile.DEFECT_INCORRECT)
    # olefile reports a bad header, FAT or directory as OSError (NotOleFileError) or, for some
    # malformed structures, IndexError, ValueError or struct.error, and a directory whose entries
    # point at each other as RecursionError.
    except Exception as e:  # noqa: BLE001 - any of them means the same: not a readable file
        raise CorruptDocumentError(f"{key}: not a readable {kind} ({type(e).__name__}: {e})") from e
    try:
        declared = sum(
            entry.size
            for entry in ole.direntries
            if entry is not None and entry.entry_type == olefile.STGTY_STREAM
        )
    except Exception:
        ole.close()
        raise
    if declared > limit:
        ole.close()
        raise DocumentTooLargeError(
            f"{key}: {kind} streams declare {declared} bytes; the limit is {limit} ({INFLATED_LIMIT_SETTING})"
        )
    return ole
