"""XLS, Excel 97-2003 (xlrd): each worksheet is a page, rows with their headers, as for XLSX.

The compound file is opened and size-checked by ``olesafe`` (its streams' declared sizes against
``MAX_INFLATED_BYTES``); xlrd then reads the ``Workbook`` stream (``Book`` for Excel 5/95) as raw
BIFF, so one reader walks the container. Sheets are loaded one at a time (``on_demand``) and
unloaded after their page is made. Every worksheet is read, hidden ones too; a sheet with no
values gives no page; page numbers are worksheet positions (1-based). Dates become ISO text by
the workbook's date system; a password-protected workbook (a ``FILEPASS`` record) is
``encrypted``.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

from docpipe.exceptions import CorruptDocumentError, EncryptedDocumentError
from docpipe.parsers.base import XLS, OpenedDocument, PageText, ParseOptions, Section
from docpipe.parsers.olesafe import check_sector_chains, open_ole
from docpipe.parsers.tables import SheetText

_WORKBOOK_STREAMS = ("Workbook", "Book")


def open_xls(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    import xlrd

    ole = open_ole(data, key, kind="XLS", limit=options.max_inflated_bytes)
    try:
        check_sector_chains(ole, key, kind="XLS")
        name = next((name for name in _WORKBOOK_STREAMS if ole.exists(name)), None)
        if name is None:
            raise CorruptDocumentError(f"{key}: a compound file without a Workbook stream")
        stream = _read_stream(ole, name, key)
    finally:
        ole.close()
    try:
        # xlrd writes its warnings to logfile (stdout by default): keep them out of the logs.
        book = xlrd.open_workbook(file_contents=stream, on_demand=True, logfile=io.StringIO())
    except xlrd.XLRDError as e:
        if "encrypted" in str(e).lower():
            raise EncryptedDocumentError(f"{key}: password-protected XLS") from e
        raise CorruptDocumentError(f"{key}: not a readable XLS ({e})") from e
    # xlrd surfaces a broken BIFF stream as struct.error, IndexError, KeyError, AssertionError...
    except Exception as e:
        raise CorruptDocumentError(f"{key}: not a readable XLS ({type(e).__name__}: {e})") from e
    names = book.sheet_names()

    def pages() -> Iterator[PageText]:
        try:
            for index, title in enumerate(names):
                try:
                    sheet = book.sheet_by_index(index)
                    rows = SheetText()
                    for row in range(sheet.nrows):
                        rows.add(row + 1, [_value(cell, book.datemode) for cell in sheet.row(row)])
                    book.unload_sheet(index)
                except Exception as e:
                    raise CorruptDocumentError(
                        f"{key}: sheet {title!r} could not be read ({type(e).__name__}: {e})"
                    ) from e
                text, offsets = rows.text_and_rows()
                if text:
                    yield PageText(
                        index + 1,
                        text,
                        metadata={"sheet": title},
                        sections=(Section(0, (title,)),),
                        rows=offsets,
                    )
        finally:
            book.release_resources()

    return OpenedDocument(XLS, len(names), pages, book.release_resources)


def _read_stream(ole: Any, name: str, key: str) -> bytes:
    try:
        with ole.openstream(name) as stream:
            return bytes(stream.read())
    except Exception as e:  # olefile: a sector chain that ends early or points outside the file
        reason = f"{type(e).__name__}: {e}"
        raise CorruptDocumentError(f"{key}: the {name} stream cannot be read ({reason})") from e


def _value(cell: Any, datemode: int) -> object:
    """A cell's value as ``value_text`` expects it: dates as date/time objects, errors as their code."""
    import xlrd

    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            year, month, day, hour, minute, second = xlrd.xldate_as_tuple(cell.value, datemode)
        except (xlrd.XLDateError, ValueError, OverflowError):
            return cell.value  # a number Excel could not show as a date either
        if (year, month, day) == (0, 0, 0):
            return dt.time(hour, minute, second)
        return dt.datetime(year, month, day, hour, minute, second)
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(cell.value, "#ERR")
    return cell.value
