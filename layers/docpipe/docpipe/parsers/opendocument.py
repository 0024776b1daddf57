"""OpenDocument (ODT, ODS, ODP): the package's ``content.xml`` read with lxml, no ODF library.

- ODT: one page; paragraphs, lists and tables (as Markdown) in body order; ``text:h`` headings,
  by their outline level, give the sections.
- ODS: each sheet (``table:table``) is a page, rows with their headers as for XLSX (``sheet``,
  ``row_start``/``row_end``); a cell's value is its typed value (a float, an ISO date), its text
  otherwise. Repeated rows and cells (``number-rows-repeated``) count in the row numbers; an
  empty repeat is skipped without being expanded, and a repeated value is expanded at most up to
  ``MAX_COLUMNS`` columns, so a sheet that declares a million empty rows costs nothing.
- ODP: each slide (``draw:page``) is a page: the title frame first, then the other frames'
  text and tables in order, then the speaker notes after ``Notes:``; the title is the section.

The archive's inflated size is checked first (``zipsafe``); a package whose manifest lists
encrypted members is ``encrypted``. The XML is parsed without network access, DTDs or entity
expansion; libxml2's nesting limit (256) bounds the element depth the walk below recurses into.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from docpipe.exceptions import CorruptDocumentError, EncryptedDocumentError
from docpipe.parsers.base import (
    ODP,
    ODS,
    ODT,
    OpenedDocument,
    PageText,
    ParseOptions,
    Section,
    clean_text,
    single_page,
)
from docpipe.parsers.tables import SheetText
from docpipe.parsers.zipsafe import check_inflated_size, zip_errors

_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
    "manifest": "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0",
}
_KIND_NAMES = {ODT: "ODT", ODS: "ODS", ODP: "ODP"}
MAX_COLUMNS = 16_384
"""Columns of a sheet that are read (Excel's own limit): a value repeated past it is cut there."""


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{_NS[prefix]}}}{local}"


_P, _H, _SPAN, _A = _q("text:p"), _q("text:h"), _q("text:span"), _q("text:a")
_S, _TAB, _BREAK = _q("text:s"), _q("text:tab"), _q("text:line-break")
_LIST, _LIST_ITEM, _LIST_HEADER = _q("text:list"), _q("text:list-item"), _q("text:list-header")
_TABLE, _ROW, _CELL, _COVERED = (
    _q("table:table"),
    _q("table:table-row"),
    _q("table:table-cell"),
    _q("table:covered-table-cell"),
)
_FRAME, _PAGE, _NOTES = _q("draw:frame"), _q("draw:page"), _q("presentation:notes")
# Inline elements whose text is not the paragraph's: a footnote's number, a deleted change, a
# comment, an index's or a shape's alternative text.
_SKIPPED = frozenset(
    _q(name)
    for name in (
        "text:note-citation",
        "text:tracked-changes",
        "office:annotation",
        "text:sequence-decls",
        "text:variable-decls",
        "text:user-field-decls",
        "office:forms",
    )
) | frozenset(
    (
        "{urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0}title",
        "{urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0}desc",
    )
)


def open_odt(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    body = _body(data, key, ODT, options, "office:text")
    blocks: list[str] = []
    headings: list[tuple[int, str]] = []
    _text_blocks(body, blocks, headings)
    from docpipe.parsers.sections import locate

    text = clean_text("\n\n".join(block for block in blocks if block.strip()))
    return single_page(ODT, PageText(1, text, sections=locate(text, headings)))


def open_ods(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    body = _body(data, key, ODS, options, "office:spreadsheet")
    sheets = [child for child in body if child.tag == _TABLE]

    def pages() -> Iterator[PageText]:
        for number, sheet in enumerate(sheets, 1):
            name = sheet.get(_q("table:name")) or f"Sheet{number}"
            rows = SheetText()
            for row_number, values in _sheet_rows(sheet):
                rows.add(row_number, values)
            text, offsets = rows.text_and_rows()
            if text:
                yield PageText(
                    number, text, metadata={"sheet": name}, sections=(Section(0, (name,)),), rows=offsets
                )

    return OpenedDocument(ODS, len(sheets), pages)


def open_odp(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    body = _body(data, key, ODP, options, "office:presentation")
    slides = [child for child in body if child.tag == _PAGE]

    def pages() -> Iterator[PageText]:
        from docpipe.parsers.sections import short_title

        for number, slide in enumerate(slides, 1):
            title = ""
            blocks: list[str] = []
            notes: list[str] = []
            for child in slide:
                if child.tag == _NOTES:
                    _shape_blocks(child, notes)
                elif child.tag == _FRAME and child.get(_q("presentation:class")) == "title" and not title:
                    title = " ".join(_inline(child).split())
                else:
                    _shape_blocks(child, blocks)
            parts = [title, *blocks]
            note_text = "\n".join(note for note in notes if note.strip())
            if note_text.strip():
                parts.append(f"Notes: {note_text}")
            text = clean_text("\n\n".join(part for part in parts if part.strip()))
            if text:
                yield PageText(number, text, sections=(Section(0, (short_title(title),) if title else ()),))

    return OpenedDocument(ODP, len(slides), pages)


def _body(data: bytes, key: str, kind: str, options: ParseOptions, body_tag: str) -> Any:
    """``office:body``'s child ``body_tag`` of the package's content.xml (checked, decrypted-or-refused)."""
    import zipfile

    from lxml import etree

    name = _KIND_NAMES[kind]
    check_inflated_size(data, key, kind=name, limit=options.max_inflated_bytes)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            manifest = archive.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in names else b""
            if b"encryption-data" in manifest:
                raise EncryptedDocumentError(f"{key}: password-protected {name}")
            if "content.xml" not in names:
                raise CorruptDocumentError(f"{key}: an {name} package without content.xml")
            content = archive.read("content.xml")
    except zip_errors() as e:
        raise CorruptDocumentError(f"{key}: not a readable {name} archive ({type(e).__name__}: {e})") from e
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as e:
        raise CorruptDocumentError(f"{key}: the {name}'s content.xml is not well-formed XML ({e})") from e
    body = root.find(f"{_q('office:body')}/{_q(body_tag)}")
    if body is None:
        raise CorruptDocumentError(f"{key}: the {name}'s content.xml has no {body_tag}")
    return body


def _inline(element: Any) -> str:
    """The text of a paragraph-like element: spans, links, spaces (``text:s``), tabs and line breaks."""
    parts: list[str] = []
    _collect(element, parts)
    return "".join(parts)


def _collect(element: Any, parts: list[str]) -> None:
    if element.text:
        parts.append(element.text)
    for child in element:
        tag = child.tag
        if tag == _S:
            try:
                count = int(child.get(_q("text:c"), "1"))
            except ValueError:
                count = 1
            parts.append(" " * max(1, min(count, 100)))
        elif tag == _TAB:
            parts.append("\t")
        elif tag == _BREAK:
            parts.append("\n")
        elif tag in (_P, _H):
            parts.append("\n")  # a paragraph inside a frame or a note: on its own line
            _collect(child, parts)
        elif tag not in _SKIPPED and isinstance(tag, str):
            _collect(child, parts)
        if child.tail:
            parts.append(child.tail)


def _text_blocks(element: Any, blocks: list[str], headings: list[tuple[int, str]]) -> None:
    """ODT body order: headings, paragraphs, list items and tables, each a block."""
    for child in element:
        tag = child.tag
        if tag == _H:
            text = _inline(child)
            blocks.append(text)
            try:
                level = int(child.get(_q("text:outline-level"), "1"))
            except ValueError:
                level = 1
            if text.strip():
                headings.append((max(1, min(level, 10)), text))
        elif tag == _P:
            blocks.append(_inline(child))
        elif tag == _TABLE:
            blocks.append(_markdown(child))
        elif tag not in _SKIPPED and isinstance(tag, str):
            _text_blocks(child, blocks, headings)  # lists, sections, frames, indexes


def _shape_blocks(element: Any, blocks: list[str]) -> None:
    """A slide's (or its notes') shapes in order: each text box's text, each table as Markdown."""
    for child in element:
        tag = child.tag
        if tag == _TABLE:
            blocks.append(_markdown(child))
        elif tag in (_P, _H):
            blocks.append(_inline(child))
        elif tag in (_LIST, _LIST_ITEM, _LIST_HEADER):
            _shape_blocks(child, blocks)
        elif tag not in _SKIPPED and isinstance(tag, str):
            _shape_blocks(child, blocks)  # frames, text boxes, groups, custom shapes


def _markdown(table: Any) -> str:
    from docpipe.parsers.tables import markdown_table

    rows = [[" ".join(_cell_text(cell).split()) for cell in cells] for _, cells in _rows(table)]
    return markdown_table(rows[:10_000])


def _rows(table: Any) -> Iterator[tuple[int, list[Any]]]:
    """``(repeat count, cells)`` of each row, header rows and row groups included, in order."""
    for child in table:
        if child.tag == _ROW:
            try:
                repeat = int(child.get(_q("table:number-rows-repeated"), "1"))
            except ValueError:
                repeat = 1
            yield max(1, repeat), [cell for cell in child if cell.tag in (_CELL, _COVERED)]
        elif child.tag in (
            _q("table:table-header-rows"),
            _q("table:table-rows"),
            _q("table:table-row-group"),
        ):
            yield from _rows(child)


def _cell_text(cell: Any) -> str:
    return "\n".join(_inline(paragraph) for paragraph in cell if paragraph.tag in (_P, _H))


def _sheet_rows(sheet: Any) -> Iterator[tuple[int, list[object]]]:
    """Each row with a value: its 1-based number and its cells' values (repeats expanded, bounded)."""
    number = 0
    for repeat, cells in _rows(sheet):
        values = _row_values(cells)
        if not any(value not in (None, "") for value in values):
            number += repeat
            continue
        for _ in range(min(repeat, 1_000)):  # a repeated row of values: real sheets repeat a few
            number += 1
            yield number, values
        number += max(0, repeat - 1_000)


def _row_values(cells: Iterable[Any]) -> list[object]:
    values: list[object] = []
    width = 0
    for cell in cells:
        try:
            repeat = int(cell.get(_q("table:number-columns-repeated"), "1"))
        except ValueError:
            repeat = 1
        value = _cell_value(cell)
        if value in (None, ""):
            width += max(1, repeat)
            continue
        values.extend([None] * (min(width, MAX_COLUMNS) - len(values)))
        values.extend([value] * max(0, min(repeat, MAX_COLUMNS - len(values))))
        width = len(values)
        if width >= MAX_COLUMNS:
            break
    return values


def _cell_value(cell: Any) -> object:
    kind = cell.get(_q("office:value-type"))
    if kind in ("float", "percentage", "currency"):
        try:
            return float(cell.get(_q("office:value"), ""))
        except ValueError:
            pass
    elif kind == "date" and cell.get(_q("office:date-value")):
        return cell.get(_q("office:date-value"))
    elif kind == "boolean" and cell.get(_q("office:boolean-value")):
        return cell.get(_q("office:boolean-value")) == "true"
    text = _cell_text(cell).strip()
    return text or None
