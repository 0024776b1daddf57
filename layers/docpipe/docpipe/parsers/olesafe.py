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


def ole_streams(data: bytes) -> frozenset[str] | None:
    """The lower-cased names of a compound file's top-level streams, or None if it cannot be read.

    What content sniffing needs (``WordDocument``, ``Workbook``, ``PowerPoint Document``,
    ``EncryptedPackage``): only the header, FAT and directory are read, no stream.
    """
    import olefile

    try:
        with olefile.OleFileIO(data) as ole:
            paths = ole.listdir(streams=True, storages=False)
            return frozenset(path[0].lower() for path in paths if len(path) == 1)
    except Exception:  # noqa: BLE001 - as in open_ole: every failure means an unreadable file
        return None


def check_sector_chains(ole: Any, key: str, *, kind: str) -> None:
    """Refuse a compound file in which a stream's sector chain loops or leaves the file.

    olefile reads a stream by following its chain for as many sectors as the stream declares, so a
    chain that loops back on itself would be read as the same sectors over again: garbage that a
    parser may half-read. Every stream's chain (and the mini stream's, and the mini FAT's for
    small streams) is walked here first, over the sectors the stream needs, with each sector
    visited once; nothing is read.

    Raises:
        CorruptDocumentError: a chain that loops, ends early or points past the file.
    """
    import olefile

    sector, mini = ole.sectorsize, ole.minisectorsize
    root = ole.direntries[0] if ole.direntries else None
    mini_sectors = -(-root.size // mini) if root is not None else 0
    # A sector past the file's end (a truncated download) is as broken as one past the FAT's.
    sectors = min(len(ole.fat), ole.nb_sect)
    try:
        if root is not None and root.size:
            _walk(ole.fat, root.isectStart, -(-root.size // sector), "the mini stream", sectors)
        minifat = None
        for entry in ole.direntries:
            if entry is None or entry.entry_type != olefile.STGTY_STREAM or entry.size == 0:
                continue
            if entry.size < ole.minisectorcutoff:
                if minifat is None:
                    ole.loadminifat()
                    minifat = ole.minifat
                needed = -(-entry.size // mini)
                _walk(minifat, entry.isectStart, needed, entry.name, min(len(minifat), mini_sectors))
            else:
                _walk(ole.fat, entry.isectStart, -(-entry.size // sector), entry.name, sectors)
    except _ChainError as e:
        raise CorruptDocumentError(f"{key}: a broken {kind} compound file ({e})") from e
    except Exception as e:  # noqa: BLE001 - olefile's own checks of the mini FAT
        raise CorruptDocumentError(f"{key}: a broken {kind} compound file ({type(e).__name__}: {e})") from e


class _ChainError(Exception):
    pass


def _walk(table: Any, start: int, needed: int, name: str, limit: int) -> None:
    seen: set[int] = set()
    current = start
    for _ in range(needed):
        if current >= limit:
            raise _ChainError(f"the sector chain of {name!r} points past the file or ends early")
        if current in seen:
            raise _ChainError(f"the sector chain of {name!r} loops back to sector {current}")
        seen.add(current)
        current = table[current]
