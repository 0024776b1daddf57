"""Zip containers (DOCX, XLSX, PPTX): what they are, and a cap on what their members inflate to.

``MaxDocumentBytes`` caps the compressed object; a zip bomb is small compressed and huge
inflated (a 1 MB DOCX whose ``word/document.xml`` inflates to 400 MB drove a parse to 6 GB of
memory). ``check_inflated_size`` runs before any parser touches the archive:

- declared: the central directory's uncompressed sizes, summed, against the cap; nothing is
  inflated, so a bomb that declares its size (as every zip writer does) costs nothing to refuse;
- actual: every member inflated in ``_BLOCK``-sized pieces, counted and thrown away, against the
  cap and against its own declared size. Python's zipfile never inflates a member past its
  declared size (it truncates there and fails the CRC check), so a member that lies about its size
  is ``corrupt`` here, and the parsers, which read members through the same zipfile, can never see
  more bytes than were checked while they parse.

Memory stays at a few blocks whatever the archive holds. One more bomb is a directory of a
million tiny entries (zipfile builds an object per entry before anything can be counted): the
entry count in the end-of-central-directory record is read first, against ``MAX_ZIP_ENTRIES``.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping

from docpipe.exceptions import CorruptDocumentError, DocumentTooLargeError

_BLOCK = 1024 * 1024
_MAX_CONTENT_TYPES_BYTES = 1024 * 1024  # [Content_Types].xml is a few KB in every real package
INFLATED_LIMIT_SETTING = "MAX_INFLATED_BYTES"
MAX_ZIP_ENTRIES = 50_000
"""Members a zip container may have (real DOCX/XLSX/PPTX have hundreds, a large workbook thousands)."""
_EOCD = b"PK\x05\x06"
_EOCD_SEARCH = 22 + 0xFFFF  # the record, after a comment of at most 64 KiB


def zip_errors() -> tuple[type[Exception], ...]:
    """What reading a damaged zip raises: each means ``corrupt`` (zipfile imported only for zips)."""
    import zipfile

    # zlib.error: a damaged deflate stream, raised while a member is read.
    return (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError, EOFError, zlib.error)


def check_entry_count(data: bytes, key: str) -> None:
    """Refuse a zip whose directory declares more than ``MAX_ZIP_ENTRIES`` members, before zipfile reads it.

    Raises:
        DocumentTooLargeError: too many entries (``too_large``).
    """
    at = data.rfind(_EOCD, max(0, len(data) - _EOCD_SEARCH))
    if at < 0 or at + 22 > len(data):
        return  # not a readable zip: zipfile says so, with its own words
    (entries,) = struct.unpack_from("<H", data, at + 10)
    if entries == 0xFFFF and at >= 20 and data[at - 20 : at - 16] == b"PK\x06\x07":  # Zip64
        (record,) = struct.unpack_from("<Q", data, at - 20 + 8)
        if record + 40 <= len(data) and data[record : record + 4] == b"PK\x06\x06":
            (entries,) = struct.unpack_from("<Q", data, record + 32)
    if entries > MAX_ZIP_ENTRIES:
        raise DocumentTooLargeError(f"{key}: a zip of {entries} entries; the limit is {MAX_ZIP_ENTRIES}")


def zip_members(data: bytes) -> tuple[list[str], bytes] | None:
    """The member names of a zip and its ``[Content_Types].xml`` (empty if absent); None if unreadable."""
    import zipfile  # only for zips: keeps the package's import cheap

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "[Content_Types].xml" not in names:
                return names, b""
            with archive.open("[Content_Types].xml") as member:
                return names, member.read(_MAX_CONTENT_TYPES_BYTES)
    except zip_errors():
        return None


def zip_mimetype(data: bytes) -> str | None:
    """The text of a zip's ``mimetype`` member (EPUB, OpenDocument), or None without one.

    The packaging rules of both put it first and stored, so a truncated archive still shows it
    right after its local header: that is read when the archive cannot be.
    """
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "mimetype" not in archive.namelist():
                return None
            with archive.open("mimetype") as member:
                return member.read(256).decode("ascii", errors="replace").strip()
    except zip_errors():
        if data[30:38] != b"mimetype":
            return None
        return data[38:128].split(b"PK", 1)[0].decode("ascii", errors="replace").strip() or None


def office_kind(data: bytes, main_parts: Mapping[str, str]) -> str | None:
    """Which Office Open XML type a zip is (a key of ``main_parts``: type -> main part), or None.

    A type is confirmed by its main part (``word/document.xml``, ``xl/workbook.xml``, ...) and the
    ``[Content_Types].xml`` every Open Packaging Conventions archive has. When the archive cannot
    be read at all, the names in the first local headers decide, so a truncated DOCX is a broken
    DOCX (``corrupt``), not an unknown file.

    Raises:
        CorruptDocumentError: the main part is there but ``[Content_Types].xml`` is missing.
        DocumentTooLargeError: more than ``MAX_ZIP_ENTRIES`` entries.
    """
    check_entry_count(data, "the archive")
    listing = zip_members(data)
    if listing is None:
        head = data[:8192]
        return next((kind for kind, part in main_parts.items() if part.encode() in head), None)
    names, content_types = listing
    for kind, part in main_parts.items():
        if part in names:
            if not content_types.strip():
                raise CorruptDocumentError(f"a {part} without [Content_Types].xml")
            return kind
    return None


def check_inflated_size(data: bytes, key: str, *, kind: str, limit: int) -> None:
    """Refuse a zip container whose members inflate past ``limit`` bytes (see the module docstring).

    Raises:
        DocumentTooLargeError: declared or actual inflated size over ``limit`` (``too_large``).
        CorruptDocumentError: not a readable zip, or a member inflates to other than it declares.
    """
    import zipfile

    check_entry_count(data, key)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            declared = sum(info.file_size for info in members)
            if declared > limit:
                largest = max(members, key=lambda info: info.file_size)
                raise DocumentTooLargeError(
                    f"{key}: {kind} members declare {declared} bytes inflated ({largest.filename}: "
                    f"{largest.file_size}); the limit is {limit} ({INFLATED_LIMIT_SETTING})"
                )
            total = 0
            for info in members:
                size = 0
                with archive.open(info) as member:
                    while block := member.read(_BLOCK):
                        size += len(block)
                        total += len(block)
                        if total > limit:
                            raise DocumentTooLargeError(
                                f"{key}: {kind} members inflate past {limit} bytes "
                                f"({INFLATED_LIMIT_SETTING}) at {info.filename}"
                            )
                if size != info.file_size:
                    raise CorruptDocumentError(
                        f"{key}: {info.filename} inflates to {size} bytes but declares {info.file_size}"
                    )
    except zip_errors() as e:
        raise CorruptDocumentError(f"{key}: not a readable {kind} archive ({type(e).__name__}: {e})") from e
