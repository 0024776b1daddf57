"""Content-type detection: a key's extension, confirmed (or overruled) by the first bytes."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from docpipe.exceptions import (
    CorruptDocumentError,
    DocumentTooLargeError,
    EncryptedDocumentError,
    UnsupportedTypeError,
)
from docpipe.parsers.base import (
    CSV,
    DOCX,
    EML,
    EPUB,
    HTML,
    IMAGE_TYPES,
    JPEG,
    MARKDOWN,
    MSG,
    PDF,
    PNG,
    PPTX,
    TEXT,
    TIFF,
    TSV,
    XLSX,
)
from docpipe.parsers.zipsafe import office_kind, zip_mimetype

EXTENSIONS: dict[str, str] = {
    ".pdf": PDF,
    ".txt": TEXT,
    ".text": TEXT,
    ".log": TEXT,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".docx": DOCX,
    ".xlsx": XLSX,
    ".xlsm": XLSX,
    ".pptx": PPTX,
    ".pptm": PPTX,
    ".csv": CSV,
    ".tsv": TSV,
    ".tab": TSV,
    # images (OCR'd page by page)
    ".png": PNG,
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".tif": TIFF,
    ".tiff": TIFF,
    # email and e-books
    ".eml": EML,
    ".msg": MSG,
    ".epub": EPUB,
}
# Image signatures: PNG, JPEG (SOI + a marker), TIFF little- and big-endian.
IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)
_TEXT_TYPES = frozenset({TEXT, MARKDOWN, HTML, CSV, TSV})
OFFICE_MAIN_PARTS: dict[str, str] = {
    DOCX: "word/document.xml",
    XLSX: "xl/workbook.xml",
    PPTX: "ppt/presentation.xml",
}
"""Each Office Open XML type and the part that makes a zip one."""
_KIND_NAMES = {PDF: "PDF", DOCX: "DOCX", XLSX: "XLSX", PPTX: "PPTX", MSG: "Outlook message", EPUB: "EPUB"}
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
SNIFF_BYTES = 8192
"""How many leading bytes detect_content_type() needs."""

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: legacy .doc, or an encrypted .docx
_HTML_PATTERN = re.compile(rb"<\s*(!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)
# RFC 822: a message starts with header fields (an mbox export with its "From " line first).
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
_MAIL_HEADERS = frozenset(
    (b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"received", b"return-path",
     b"mime-version", b"reply-to", b"sender", b"delivered-to", b"content-type")
)  # fmt: skip


def detect_content_type(key: str, head: bytes) -> str:
    """Choose a document's type from its key's extension, confirmed by its first bytes.

    Policy: binary signatures win over the extension, because they cannot lie by accident.
    ``%PDF-`` is a PDF and a ZIP holding ``word/document.xml`` (``xl/workbook.xml``,
    ``ppt/presentation.xml``) and ``[Content_Types].xml`` is DOCX (XLSX, PPTX) whatever the key
    says. A key that claims a binary format the bytes do not match (a ``.pdf`` that is not a PDF, an
    ``.xlsx`` that is a renamed PNG or a zip without a workbook) is ``CorruptDocumentError``: the
    owner meant that type and the file is broken; so is a ``.csv`` of binary bytes. A ZIP or
    Compound File that is not Office Open XML is ``UnsupportedTypeError``, as is an unknown
    extension whose bytes are neither PDF, Office nor HTML. Text extensions stay text even when
    they contain tags (Markdown may embed HTML); HTML is only sniffed for keys without a known
    extension. PNG, JPEG and TIFF signatures are images under an image extension (any of the
    three) or none; an image extension on other bytes is corrupt.

    Args:
        key: the S3 key (only its extension is used).
        head: the first bytes of the object; ``SNIFF_BYTES`` are enough, the whole file works
            (and a ZIP needs it: its directory is at the end).

    Raises:
        UnsupportedTypeError, CorruptDocumentError, EncryptedDocumentError (a ``.docx``, ``.xlsx``
        or ``.pptx`` that is an OLE container: how Office stores password-protected files).
    """
    claimed = EXTENSIONS.get(PurePosixPath(key).suffix.lower())
    if head.startswith(b"%PDF-") or (claimed == PDF and b"%PDF-" in head[:1024]):
        return PDF  # readers accept up to 1 KiB of junk before the header; so do we
    image = next((kind for magic, kind in IMAGE_MAGIC if head.startswith(magic)), None)
    if image is not None and (claimed is None or claimed in IMAGE_TYPES):
        return image  # a PNG named .jpg is still a PNG: Pillow reads either
    if claimed in IMAGE_TYPES:
        raise CorruptDocumentError(f"{key}: named as an image ({claimed}) but its bytes are not one")
    if head.startswith(b"PK\x03\x04"):
        try:
            kind = office_kind(head, OFFICE_MAIN_PARTS) or _epub(head, claimed)
        except CorruptDocumentError as e:
            raise CorruptDocumentError(f"{key}: {e}") from e
        except DocumentTooLargeError as e:
            raise DocumentTooLargeError(f"{key}: {e}") from e
        if kind is not None:
            return kind
        if claimed in OFFICE_MAIN_PARTS:
            part = OFFICE_MAIN_PARTS[claimed]
            raise CorruptDocumentError(f"{key}: a {_KIND_NAMES[claimed]} archive without {part}")
        if claimed == EPUB:
            raise CorruptDocumentError(
                f"{key}: an EPUB archive without its mimetype or META-INF/container.xml"
            )
        raise UnsupportedTypeError(f"{key}: a ZIP archive that is not a Word, Excel or PowerPoint file")
    if head.startswith(_OLE_MAGIC):
        if claimed == MSG:
            return MSG  # parsers/outlook.py confirms the message's property streams
        if claimed in OFFICE_MAIN_PARTS:
            raise EncryptedDocumentError(f"{key}: password-protected {_KIND_NAMES[claimed]} (OLE container)")
        raise UnsupportedTypeError(
            f"{key}: legacy Office (OLE) files are not supported; save as .docx, .xlsx or .pptx"
        )
    if claimed in _KIND_NAMES:
        kind_name = _KIND_NAMES[claimed]
        raise CorruptDocumentError(f"{key}: named as {kind_name} but its bytes are not a {kind_name}")
    if claimed in (CSV, TSV) and b"\x00" in head[:SNIFF_BYTES] and not head.startswith(_UTF16_32_BOMS):
        raise CorruptDocumentError(f"{key}: named as {claimed} but its bytes are binary, not text")
    if claimed == EML or claimed is None and _mail_headers(head) >= 2:
        if b"\x00" in head or _mail_headers(head) < 1:
            raise CorruptDocumentError(
                f"{key}: named as an email but its bytes do not start with RFC 822 headers"
            )
        return EML
    if claimed in _TEXT_TYPES:
        return claimed
    if _HTML_PATTERN.search(head[:SNIFF_BYTES]):
        return HTML
    suffix = PurePosixPath(key).suffix or "(none)"
    raise UnsupportedTypeError(f"{key}: unsupported file type (extension {suffix})")


def _epub(head: bytes, claimed: str | None) -> str | None:
    mimetype = zip_mimetype(head)
    if mimetype == EPUB or (claimed == EPUB and mimetype is None and b"META-INF/container.xml" in head):
        return EPUB
    return None


def _mail_headers(head: bytes) -> int:
    """How many well-known RFC 822 header names the first lines of ``head`` hold (0: not a message)."""
    names: set[bytes] = set()
    lines = head[:SNIFF_BYTES].lstrip(b"\r\n").split(b"\n")
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]  # an mbox export's envelope line
    for number, line in enumerate(lines[:200]):
        line = line.rstrip(b"\r")
        if not line:
            break  # the header block ends at the first empty line
        if line[:1] in (b" ", b"\t"):
            continue  # a folded header's continuation
        if not _HEADER_LINE.match(line):
            if names or number == len(lines) - 1:
                break  # body text without the blank line before it, or cut off where the sniff ends
            return 0
        names.add(line.split(b":", 1)[0].strip().lower())
    return len(names & _MAIL_HEADERS)
