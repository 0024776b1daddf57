"""XLSX (openpyxl, read-only, cached formula values): each worksheet is a page, rows with headers.

Read-only mode streams each sheet's rows from the archive instead of building every cell, so a
50,000-row sheet costs its text, not its cell objects. ``data_only`` gives a formula's value as
Excel last saved it (a workbook never opened in Excel after a formula was written has none: the
cell is empty). Every worksheet is read, hidden and very hidden ones too (their cells are still
the workbook's content; a search should find them); a sheet with no values gives no page; chart
sheets hold no cells and are not pages. Page numbers are worksheet positions (1-based).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from docpipe.exceptions import CorruptDocumentError
from docpipe.parsers.base import XLSX, OpenedDocument, PageText, ParseOptions, Section
from docpipe.parsers.tables import SheetText
from docpipe.parsers.zipsafe import check_inflated_size


def open_xlsx(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    check_inflated_size(data, key, kind="XLSX", limit=options.max_inflated_bytes)
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheets = list(workbook.worksheets)
    # openpyxl surfaces a bad package as BadZipFile, KeyError, lxml errors, ValueError and more.
    except Exception as e:
        raise CorruptDocumentError(f"{key}: not a readable XLSX ({type(e).__name__}: {e})") from e

    def pages() -> Iterator[PageText]:
        for number, sheet in enumerate(sheets, 1):
            rows = SheetText()
            try:
                sheet.reset_dimensions()  # other writers' <dimension> can be wrong: read every row
                for row_number, values in enumerate(sheet.iter_rows(values_only=True), 1):
                    rows.add(row_number, values)
            except Exception as e:
                raise CorruptDocumentError(
                    f"{key}: sheet {sheet.title!r} could not be read ({type(e).__name__}: {e})"
                ) from e
            text, offsets = rows.text_and_rows()
            if text:
                yield PageText(
                    number,
                    text,
                    metadata={"sheet": sheet.title},
                    sections=(Section(0, (sheet.title,)),),
                    rows=offsets,
                )

    return OpenedDocument(XLSX, len(sheets), pages, workbook.close)
