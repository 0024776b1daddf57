"""EPUB (2 and 3): a page per chapter in spine order, each XHTML file through the HTML parser.

The package document (OPF, found through ``META-INF/container.xml``) gives the book's title and
author (``dc:title``, ``dc:creator``: every page's ``title`` and ``author`` metadata) and the
spine, the chapters in reading order. A chapter's section is its name in the table of contents
(the EPUB 3 navigation document, else the EPUB 2 NCX), else its first heading, else its file
name; its own headings nest under it. The archive's inflated size is checked first (``zipsafe``).
A spine that names files the archive does not hold is ``corrupt``: the book is broken, and
indexing what is left would hide that chapters are missing. A book whose chapters
``META-INF/encryption.xml`` lists as encrypted (DRM, not the font obfuscation many books carry)
is ``encrypted``. Why not ebooklib: it reads the same
OPF and XHTML, but loads every item of the book into memory at once and adds lxml-based code
docpipe already has in BeautifulSoup; the standard library's zipfile and ElementTree are enough.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urldefrag

from docpipe.exceptions import CorruptDocumentError, EncryptedDocumentError
from docpipe.parsers.base import EPUB, OpenedDocument, PageText, ParseOptions, Section, metadata_value
from docpipe.parsers.zipsafe import check_inflated_size

_CONTAINER = "META-INF/container.xml"
_ENCRYPTION = "META-INF/encryption.xml"
# Font obfuscation (IDPF, Adobe) scrambles embedded fonts only: the text stays readable.
_FONT_OBFUSCATION = ("http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC")
_XHTML_TYPES = ("application/xhtml+xml", "text/html", "application/x-dtbook+xml")


def open_epub(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    check_inflated_size(data, key, kind="EPUB", limit=options.max_inflated_bytes)
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        book = _Book(archive, key)
    except (CorruptDocumentError, EncryptedDocumentError):
        raise
    # zipfile and ElementTree report a broken package as BadZipFile, KeyError, ParseError, ...
    except Exception as e:
        raise CorruptDocumentError(f"{key}: not a readable EPUB ({type(e).__name__}: {e})") from e
    metadata = {
        name: metadata_value(value)
        for name, value in (("title", book.title), ("author", book.author))
        if value
    }

    def pages() -> Iterator[PageText]:
        from docpipe.parsers.html import parse_html

        for number, path in enumerate(book.chapters, 1):
            try:
                page = parse_html(archive.read(path))
            except Exception as e:  # a member that does not inflate: the archive is broken
                raise CorruptDocumentError(
                    f"{key}: chapter {path} could not be read ({type(e).__name__}: {e})"
                ) from e
            title = (
                book.toc.get(path)
                or (page.sections[0].path[-1] if page.sections else "")
                or posixpath.basename(path)
            )
            nested = (
                Section(s.offset, s.path if s.path[0] == title else (title, *s.path)) for s in page.sections
            )
            own = tuple(s for s in nested if s.path != (title,))
            yield PageText(number, page.text, metadata=metadata, sections=(Section(0, (title,)), *own))

    return OpenedDocument(EPUB, len(book.chapters), pages, archive.close)


class _Book:
    """The package document of an open EPUB: title, author, spine and table of contents."""

    def __init__(self, archive: Any, key: str) -> None:
        import xml.etree.ElementTree as ET

        names = set(archive.namelist())
        if _CONTAINER not in names:
            raise CorruptDocumentError(f"{key}: an EPUB without {_CONTAINER}")
        container = ET.fromstring(archive.read(_CONTAINER))
        rootfile = next((e.get("full-path") for e in container.iter() if _local(e.tag) == "rootfile"), None)
        if not rootfile or rootfile not in names:
            raise CorruptDocumentError(f"{key}: {_CONTAINER} names no package document the archive holds")
        opf = ET.fromstring(archive.read(rootfile))
        base = posixpath.dirname(rootfile)
        self.title = _text(opf, "title")
        self.author = ", ".join(_texts(opf, "creator"))
        manifest: dict[str, tuple[str, str, str]] = {}
        for item in opf.iter():
            if _local(item.tag) == "item" and item.get("id") and item.get("href"):
                href = _resolve(base, item.get("href", ""))
                manifest[item.get("id", "")] = (href, item.get("media-type", ""), item.get("properties", ""))
        spine = next((e for e in opf.iter() if _local(e.tag) == "spine"), None)
        if spine is None:
            raise CorruptDocumentError(f"{key}: the EPUB's package document has no spine")
        chapters: list[str] = []
        missing: list[str] = []
        for ref in spine:
            if _local(ref.tag) != "itemref":
                continue
            entry = manifest.get(ref.get("idref", ""))
            if entry is None:
                missing.append(f"#{ref.get('idref', '')} (not in the manifest)")
            elif entry[0] not in names:
                if entry[0] not in missing:
                    missing.append(entry[0])
            elif entry[0] not in chapters and (not entry[1] or entry[1] in _XHTML_TYPES):
                chapters.append(entry[0])
        if missing:
            raise CorruptDocumentError(
                f"{key}: the EPUB's spine names {len(missing)} file(s) the archive does not hold: "
                + ", ".join(missing[:5])
            )
        self.chapters = chapters
        locked = _encrypted(archive, names) & set(chapters)
        if locked:
            raise EncryptedDocumentError(
                f"{key}: the EPUB's chapters are encrypted (DRM; {_ENCRYPTION} names {len(locked)} of them)"
            )
        self.toc = _toc(archive, names, manifest, spine.get("toc"))


def _encrypted(archive: Any, names: set[str]) -> set[str]:
    """The files ``META-INF/encryption.xml`` says are encrypted with more than font obfuscation."""
    import xml.etree.ElementTree as ET

    if _ENCRYPTION not in names:
        return set()
    locked: set[str] = set()
    for data in ET.fromstring(archive.read(_ENCRYPTION)).iter():
        if _local(data.tag) != "EncryptedData":
            continue
        method = next(
            (e.get("Algorithm", "") for e in data.iter() if _local(e.tag) == "EncryptionMethod"), ""
        )
        uri = next((e.get("URI", "") for e in data.iter() if _local(e.tag) == "CipherReference"), "")
        if uri and method not in _FONT_OBFUSCATION:
            locked.add(_resolve("", uri))
    return locked


def _toc(
    archive: Any, names: set[str], manifest: dict[str, tuple[str, str, str]], ncx_id: str | None
) -> dict[str, str]:
    """Chapter file -> its first name in the table of contents (EPUB 3 nav, else EPUB 2 NCX)."""
    import xml.etree.ElementTree as ET

    toc: dict[str, str] = {}
    nav = next((href for href, _, props in manifest.values() if "nav" in props.split()), None)
    ncx = manifest.get(ncx_id or "", ("", "", ""))[0] or next(
        (href for href, kind, _ in manifest.values() if kind == "application/x-dtbncx+xml"), None
    )
    try:
        if nav and nav in names:
            for link in ET.fromstring(archive.read(nav)).iter():
                if _local(link.tag) == "a" and link.get("href"):
                    target = _resolve(posixpath.dirname(nav), link.get("href", ""))
                    label = " ".join("".join(link.itertext()).split())
                    if label:
                        toc.setdefault(target, label)
        elif ncx and ncx in names:
            for point in ET.fromstring(archive.read(ncx)).iter():
                if _local(point.tag) != "navPoint":
                    continue
                label = next(
                    (
                        " ".join("".join(e.itertext()).split())
                        for e in point.iter()
                        if _local(e.tag) == "text"
                    ),
                    "",
                )
                content = next((e.get("src", "") for e in point.iter() if _local(e.tag) == "content"), "")
                if label and content:
                    toc.setdefault(_resolve(posixpath.dirname(ncx), content), label)
    except ET.ParseError:
        return {}  # a broken table of contents costs the chapter names, not the book
    return toc


def _resolve(base: str, href: str) -> str:
    path = unquote(urldefrag(href)[0])
    return posixpath.normpath(posixpath.join(base, path)) if base else posixpath.normpath(path)


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _texts(root: Any, name: str) -> list[str]:
    found = []
    for element in root.iter():
        if _local(element.tag) == name:
            text = " ".join("".join(element.itertext()).split())
            if text:
                found.append(text)
    return found


def _text(root: Any, name: str) -> str:
    texts = _texts(root, name)
    return texts[0] if texts else ""
