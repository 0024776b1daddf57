"""PPT, PowerPoint 97-2003 (ppt2pptx, then the PPTX parser): each slide a page, title first, notes last.

ppt2pptx is a pure-Python converter that reads the PowerPoint binary record stream (slides in
show order, text boxes, tables, speaker notes) and writes the same deck as PresentationML;
``pptx.slide_page`` then reads each slide like any PPTX slide: its title first, then its text
boxes and tables (as Markdown) in order, then ``Notes:``. The converter writes placeholders as
plain text boxes, so each slide's title is read here from the binary deck itself: the text that
a ``TextHeaderAtom`` of type Title or CenterTitle introduces in the slide list
(``SlideListWithTextContainer``), matched to the slide's text box with the same words.

The compound file is opened and size-checked by ``olesafe`` first; a deck whose ``Current User``
stream carries the encryption token is ``encrypted``. The converter works on files, so the deck
passes through a private temporary directory, removed before this returns.
"""

from __future__ import annotations

import io
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

from docpipe.exceptions import CorruptDocumentError, EncryptedDocumentError, UnsupportedTypeError
from docpipe.parsers.base import PPT, OpenedDocument, ParseOptions
from docpipe.parsers.olesafe import check_sector_chains, open_ole

_ENCRYPTED_TOKEN = b"\xdf\xc4\xd1\xf3"  # CurrentUserAtom.headerToken of an encrypted deck
# Record types of the PowerPoint binary format ([MS-PPT] 2.13.24).
_DOCUMENT = 0x03E8
_SLIDE_LIST_WITH_TEXT = 0x0FF0
_SLIDE_PERSIST = 0x03F3
_TEXT_HEADER = 0x0F9F
_TEXT_CHARS = 0x0FA0
_TEXT_BYTES = 0x0FA8
_TITLE_TYPES = (0, 6)  # Tx_TYPE_TITLE, Tx_TYPE_CENTERTITLE
_SLIDE = 0x03EE
_USER_EDIT = 0x0FF5
_PERSIST_DIRECTORY = 0x1772
_DOCUMENT_PERSIST_ID = -1  # key under which _persist_directory returns the document's offset
_HEADER = struct.Struct("<HHI")


def open_ppt(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    ole = open_ole(data, key, kind="PPT", limit=options.max_inflated_bytes)
    try:
        check_sector_chains(ole, key, kind="PPT")
        if not ole.exists("PowerPoint Document"):
            raise CorruptDocumentError(f"{key}: a compound file without a PowerPoint Document stream")
        try:
            current_user = _read(ole, "Current User") if ole.exists("Current User") else b""
            document = _read(ole, "PowerPoint Document")
        except Exception as e:  # olefile: a sector chain that ends early or points outside the file
            raise CorruptDocumentError(f"{key}: a stream of the deck cannot be read ({e})") from e
    finally:
        ole.close()
    if current_user[12:16] == _ENCRYPTED_TOKEN:
        raise EncryptedDocumentError(f"{key}: password-protected PPT")
    slides = _convert(data, key, max_stream_bytes=options.max_inflated_bytes)
    titles = slide_titles(document, current_user)

    from docpipe.parsers.pptx import slide_pages

    # Titles are matched by position: when the counts differ, the slides keep their own.
    matched: list[str | None] | None = list(titles) if len(titles) == len(slides) else None
    return OpenedDocument(PPT, len(slides), lambda: slide_pages(slides, key, matched))


def _read(ole: object, name: str) -> bytes:
    with ole.openstream(name) as stream:  # type: ignore[attr-defined]
        return bytes(stream.read())


def _convert(data: bytes, key: str, *, max_stream_bytes: int) -> list[object]:
    """The deck's slides as python-pptx slides of the converted PPTX."""
    from ppt2pptx import convert
    from ppt2pptx.cfb import Limits
    from ppt2pptx.errors import EncryptedPresentationError, UnsupportedPptVersionError
    from pptx import Presentation

    limits = Limits(max_input_bytes=max(len(data), 512), max_stream_bytes=max_stream_bytes)
    with tempfile.TemporaryDirectory(prefix="docpipe-ppt-") as folder:
        source, target = Path(folder) / "in.ppt", Path(folder) / "out.pptx"
        source.write_bytes(data)
        try:
            convert(source, target, limits=limits)
        except EncryptedPresentationError as e:
            raise EncryptedDocumentError(f"{key}: password-protected PPT") from e
        except UnsupportedPptVersionError as e:
            raise UnsupportedTypeError(f"{key}: {e}") from e
        # The converter reports a broken deck as InvalidPpt, and a few malformed records as
        # IndexError, struct.error or ValueError: each means the same here.
        except Exception as e:
            raise CorruptDocumentError(f"{key}: not a readable PPT ({type(e).__name__}: {e})") from e
        converted = target.read_bytes()
    try:
        return list(Presentation(io.BytesIO(converted)).slides)
    except Exception as e:
        reason = f"{type(e).__name__}: {e}"
        raise CorruptDocumentError(f"{key}: the converted deck cannot be read ({reason})") from e


def slide_titles(document: bytes, current_user: bytes = b"") -> list[str | None]:
    """Each slide's title, in show order: the text a Title or CenterTitle ``TextHeaderAtom`` introduces.

    The slides are the ``SlidePersistAtom`` entries of the document's slide list; each names its
    ``SlideContainer`` through the persist directory (the newest edit's, found from the
    ``Current User`` stream). PowerPoint 2003 and later keep a slide's text in its drawing's text
    boxes; earlier versions kept placeholder text in the slide list itself: both are looked at.
    Best effort: a record that does not fit its parent ends that walk (the converter has already
    read the deck; without titles the slides still become pages).
    """
    persist = _persist_directory(document, current_user)
    container = None
    document_offset = persist.get(_DOCUMENT_PERSIST_ID) if persist else None
    if document_offset is not None:
        container = _record_at(document, document_offset, _DOCUMENT)
    if container is None:  # no usable directory: the last document record is the newest
        for kind, _instance, start, end in _records(document, 0, len(document)):
            if kind == _DOCUMENT:
                container = (start, end)
    if container is None:
        return []
    titles: list[str | None] = []
    for kind, instance, start, end in _records(document, *container):
        if kind != _SLIDE_LIST_WITH_TEXT or instance != 0:
            continue
        text_type = None
        for atom, _instance, atom_start, atom_end in _records(document, start, end):
            if atom == _SLIDE_PERSIST and atom_end - atom_start >= 4:
                (persist_id,) = struct.unpack_from("<I", document, atom_start)
                offset = persist.get(persist_id)
                slide = _record_at(document, offset, _SLIDE) if offset is not None else None
                titles.append(_drawing_title(document, *slide) if slide is not None else None)
            elif atom == _TEXT_HEADER and atom_end - atom_start >= 4:
                (text_type,) = struct.unpack_from("<I", document, atom_start)
            elif atom in (_TEXT_CHARS, _TEXT_BYTES) and titles and titles[-1] is None:
                if text_type in _TITLE_TYPES:
                    titles[-1] = _text(document, atom, atom_start, atom_end)
                text_type = None
    return titles


def _drawing_title(document: bytes, start: int, end: int) -> str | None:
    """The title text of a slide container's drawing: the first Title/CenterTitle text box."""
    stack = [(start, end)]
    text_type = None
    while stack:
        for kind, _instance, body, body_end in _records(document, *stack.pop()):
            if kind == _TEXT_HEADER and body_end - body >= 4:
                (text_type,) = struct.unpack_from("<I", document, body)
            elif kind in (_TEXT_CHARS, _TEXT_BYTES):
                if text_type in _TITLE_TYPES:
                    return _text(document, kind, body, body_end)
                text_type = None
            elif document[body - _HEADER.size] & 0x0F == 0x0F and body_end > body:  # a container
                stack.append((body, body_end))
    return None


def _text(document: bytes, kind: int, start: int, end: int) -> str | None:
    raw = document[start:end]
    text = raw.decode("utf-16-le", "replace") if kind == _TEXT_CHARS else raw.decode("latin-1")
    return " ".join(text.split()) or None


def _persist_directory(document: bytes, current_user: bytes) -> dict[int, int]:
    """Persist id -> stream offset, newest edit winning; empty when the chain cannot be followed."""
    if len(current_user) < 20:
        return {}
    (offset,) = struct.unpack_from("<I", current_user, 16)  # CurrentUserAtom.offsetToCurrentEdit
    directory: dict[int, int] = {}
    newest_document_id: int | None = None
    seen: set[int] = set()
    while offset and offset not in seen and len(seen) < 1_000:  # an edit chain that loops ends
        seen.add(offset)
        edit = _record_at(document, offset, _USER_EDIT)
        if edit is None or edit[1] - edit[0] < 20:
            break
        last_edit, directory_offset, document_id = struct.unpack_from("<III", document, edit[0] + 8)
        if newest_document_id is None:
            newest_document_id = document_id
        entries = _record_at(document, directory_offset, _PERSIST_DIRECTORY)
        if entries is not None:
            position, entries_end = entries
            while position + 4 <= entries_end:
                (word,) = struct.unpack_from("<I", document, position)
                first, count = word & 0xFFFFF, word >> 20
                position += 4
                for index in range(count):
                    if position + 4 > entries_end:
                        break
                    directory.setdefault(first + index, struct.unpack_from("<I", document, position)[0])
                    position += 4
        offset = last_edit
    if newest_document_id in directory:
        directory[_DOCUMENT_PERSIST_ID] = directory[newest_document_id]
    return directory


def _record_at(document: bytes, offset: int, kind: int) -> tuple[int, int] | None:
    """The body span of the record of type ``kind`` at ``offset``, or None if there is none."""
    if offset < 0 or offset + _HEADER.size > len(document):
        return None
    _version, found, length = _HEADER.unpack_from(document, offset)
    body = offset + _HEADER.size
    if found != kind or body + length > len(document):
        return None
    return body, body + length


def _records(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """``(type, instance, body start, body end)`` of each record directly inside ``[start, end)``."""
    position = start
    while position + _HEADER.size <= end:
        version_instance, kind, length = _HEADER.unpack_from(data, position)
        body = position + _HEADER.size
        if body + length > end:
            return
        yield kind, version_instance >> 4, body, body + length
        position = body + length
