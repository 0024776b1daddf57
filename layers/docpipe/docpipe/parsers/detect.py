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
    DOC,
    DOCX,
    EML,
    EPUB,
    HTML,
    IMAGE_TYPES,
    JPEG,
    MARKDOWN,
    MSG,
    ODP,
    ODS,
    ODT,
    PDF,
    PNG,
    PPT,
    PPTX,
    RTF,
    TEXT,
    TIFF,
    TSV,
    XLS,
    XLSX,
)
from docpipe.parsers.olesafe import ole_streams
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
    # legacy Office, OpenDocument, RTF
    ".doc": DOC,
    ".dot": DOC,
    ".xls": XLS,
    ".xlt": XLS,
    ".ppt": PPT,
    ".pps": PPT,
    ".pot": PPT,
    ".odt": ODT,
    ".ods": ODS,
    ".odp": ODP,
    ".rtf": RTF,
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
OLE_MAIN_STREAMS: dict[str, tuple[str, ...]] = {
    DOC: ("WordDocument",),
    XLS: ("Workbook", "Book"),  # "Book": Excel 5/95 (BIFF5), which xlrd reads too
    PPT: ("PowerPoint Document",),
    MSG: ("__properties_version1.0",),
}
"""Each compound-file type and the top-level streams (any one) that make an OLE file one."""
ODF_MIMETYPES: dict[str, str] = {ODT: ODT, ODS: ODS, ODP: ODP}
"""The ``mimetype`` member of each OpenDocument zip: the type itself."""
_KIND_NAMES = {
    PDF: "PDF",
    DOCX: "DOCX",
    XLSX: "XLSX",
    PPTX: "PPTX",
    DOC: "Word 97-2003 document",
    XLS: "Excel 97-2003 workbook",
    PPT: "PowerPoint 97-2003 presentation",
    ODT: "OpenDocument text",
    ODS: "OpenDocument spreadsheet",
    ODP: "OpenDocument presentation",
    RTF: "RTF document",
    MSG: "Outlook message",
    EPUB: "EPUB",
}
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
SNIFF_BYTES = 8192
"""How many leading bytes detect_content_type() needs."""

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: legacy .doc, or an encrypted .docx
_RTF_MAGIC = b"{\\rtf"
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
    owner meant that type and the file is broken; so is a ``.csv`` of binary bytes. A ZIP whose
    ``mimetype`` member names an OpenDocument type is that type; an OLE2 compound file is DOC, XLS
    or PPT by the stream it holds (``OLE_MAIN_STREAMS``), whatever the key says; ``{\\rtf`` starts
    an RTF. A ZIP or compound file that is none of these is ``UnsupportedTypeError``, as is an
    unknown extension whose bytes are neither PDF, Office nor HTML. Text extensions stay text even when
    they contain tags (Markdown may embed HTML); HTML is only sniffed for keys without a known
    extension. PNG, JPEG and TIFF signatures are images under an image extension (any of the
    three) or none; an image extension on other bytes is corrupt.

    Args:
        key: the S3 key (only its extension is used).
        head: the first bytes of the object; ``SNIFF_BYTES`` are enough, the whole file works
            (and a ZIP or a compound file needs it: their directories can be anywhere).

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
        mimetype = zip_mimetype(head)
        if mimetype in ODF_MIMETYPES:
            return ODF_MIMETYPES[mimetype]
        if claimed in ODF_MIMETYPES:
            raise CorruptDocumentError(f"{key}: an {_KIND_NAMES[claimed]} archive without its mimetype")
        if claimed in OFFICE_MAIN_PARTS:
            part = OFFICE_MAIN_PARTS[claimed]
            raise CorruptDocumentError(f"{key}: a {_KIND_NAMES[claimed]} archive without {part}")
        if claimed == EPUB:
            raise CorruptDocumentError(
                f"{key}: an EPUB archive without its mimetype or META-INF/container.xml"
            )
        raise UnsupportedTypeError(
            f"{key}: a ZIP archive that is not a Word, Excel, PowerPoint or OpenDocument file"
        )
    if head.startswith(_OLE_MAGIC):
        return _ole_kind(key, head, claimed)
    if head.lstrip(b"\xef\xbb\xbf\r\n\t ").startswith(_RTF_MAGIC):
        return RTF
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


def _ole_kind(key: str, data: bytes, claimed: str | None) -> str:
    """The legacy Office type of a compound file, by the streams it holds (``OLE_MAIN_STREAMS``).

    A compound file holding ``EncryptedPackage`` is how Office stores a password-protected DOCX,
    XLSX or PPTX: ``encrypted`` under any Office extension. One that cannot be read at all is
    ``corrupt`` when its key names a legacy type (a truncated .doc), ``encrypted`` when it names an
    Office Open XML type (as before this module read the directory), else unsupported.
    """
    if claimed == MSG:
        return MSG  # parsers/outlook.py confirms the message's property streams
    streams = ole_streams(data)
    if streams is None:
        if claimed in OFFICE_MAIN_PARTS:
            raise EncryptedDocumentError(f"{key}: password-protected {_KIND_NAMES[claimed]} (OLE container)")
        if claimed in OLE_MAIN_STREAMS:
            kind_name = _KIND_NAMES[claimed]
            raise CorruptDocumentError(f"{key}: named as {kind_name} but its compound file cannot be read")
        raise UnsupportedTypeError(f"{key}: an unreadable OLE compound file")
    if "encryptedpackage" in streams:
        if claimed in OFFICE_MAIN_PARTS or claimed in OLE_MAIN_STREAMS:
            raise EncryptedDocumentError(f"{key}: password-protected {_KIND_NAMES[claimed]} (OLE container)")
        raise UnsupportedTypeError(f"{key}: an encrypted Office package of unknown type")
    for kind, names in OLE_MAIN_STREAMS.items():
        if any(name.lower() in streams for name in names):
            return kind
    if claimed in OLE_MAIN_STREAMS or claimed in OFFICE_MAIN_PARTS:
        raise CorruptDocumentError(f"{key}: named as {_KIND_NAMES[claimed]} but its compound file is not one")
    raise UnsupportedTypeError(f"{key}: an OLE compound file that is not a Word, Excel or PowerPoint file")


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
