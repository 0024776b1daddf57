"""Content-type detection: a key's extension, confirmed (or overruled) by the first bytes."""

from __future__ import annotations

import io
import re
from pathlib import PurePosixPath

from docpipe.exceptions import CorruptDocumentError, EncryptedDocumentError, UnsupportedTypeError
from docpipe.parsers.base import DOCX, HTML, IMAGE_TYPES, JPEG, MARKDOWN, PDF, PNG, TEXT, TIFF

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
    # images (OCR'd page by page)
    ".png": PNG,
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".tif": TIFF,
    ".tiff": TIFF,
}
# Image signatures: PNG, JPEG (SOI + a marker), TIFF little- and big-endian.
IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)
_TEXT_TYPES = frozenset({TEXT, MARKDOWN, HTML})
SNIFF_BYTES = 8192
"""How many leading bytes detect_content_type() needs."""

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: legacy .doc, or an encrypted .docx
_HTML_PATTERN = re.compile(rb"<\s*(!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)


def detect_content_type(key: str, head: bytes) -> str:
    """Choose a document's type from its key's extension, confirmed by its first bytes.

    Policy: binary signatures win over the extension, because they cannot lie by accident.
    ``%PDF-`` is a PDF and a ZIP holding ``word/document.xml`` is DOCX whatever the key says.
    A key that claims a binary format the bytes do not match (a ``.pdf`` that is not a PDF) is
    ``CorruptDocumentError``: the owner meant a PDF and it is broken. A ZIP or Compound File
    that is not a DOCX is ``UnsupportedTypeError``, as is an unknown extension whose bytes are
    neither PDF, DOCX nor HTML. Text extensions stay text even when they contain tags (Markdown
    may embed HTML); HTML is only sniffed for keys without a known extension. PNG, JPEG and TIFF
    signatures are images whatever the key says; an image extension on other bytes is corrupt.

    Args:
        key: the S3 key (only its extension is used).
        head: the first bytes of the object; ``SNIFF_BYTES`` are enough, the whole file works.

    Raises:
        UnsupportedTypeError, CorruptDocumentError, EncryptedDocumentError (a ``.docx`` that is an
        OLE container: how Office stores password-protected files).
    """
    claimed = EXTENSIONS.get(PurePosixPath(key).suffix.lower())
    if head.startswith(b"%PDF-") or (claimed == PDF and b"%PDF-" in head[:1024]):
        return PDF  # readers accept up to 1 KiB of junk before the header; so do we
    image = next((kind for magic, kind in IMAGE_MAGIC if head.startswith(magic)), None)
    if image is not None:
        return image  # a PNG named .jpg is still a PNG: Pillow reads either
    if claimed in IMAGE_TYPES:
        raise CorruptDocumentError(f"{key}: named as an image ({claimed}) but its bytes are not one")
    if head.startswith(b"PK\x03\x04"):
        if _zip_is_docx(head):
            return DOCX
        if claimed == DOCX:
            raise CorruptDocumentError(f"{key}: a .docx archive without word/document.xml")
        raise UnsupportedTypeError(f"{key}: a ZIP archive that is not a Word document")
    if head.startswith(_OLE_MAGIC):
        if claimed == DOCX:
            raise EncryptedDocumentError(f"{key}: password-protected Word document (OLE container)")
        raise UnsupportedTypeError(f"{key}: legacy Office (OLE) files are not supported; save as .docx")
    if claimed in (PDF, DOCX):
        kind = "PDF" if claimed == PDF else "DOCX"
        raise CorruptDocumentError(f"{key}: named as {kind} but its bytes are not a {kind}")
    if claimed in _TEXT_TYPES:
        return claimed
    if _HTML_PATTERN.search(head[:SNIFF_BYTES]):
        return HTML
    suffix = PurePosixPath(key).suffix or "(none)"
    raise UnsupportedTypeError(f"{key}: unsupported file type (extension {suffix})")


def _zip_is_docx(head: bytes) -> bool:
    # The local file headers of a DOCX name its parts; word/document.xml is among the first few.
    # When only the head is available that is the cheap check; with the whole file, ask zipfile.
    if b"word/" in head:
        return True
    import zipfile  # only for ZIPs; keeps the module's import cheap

    try:
        with zipfile.ZipFile(io.BytesIO(head)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
