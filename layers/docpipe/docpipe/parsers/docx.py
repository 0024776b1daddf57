"""DOCX (python-docx): paragraphs and tables in body order, as one page."""

from __future__ import annotations

import io
from typing import Any

from docpipe.exceptions import CorruptDocumentError
from docpipe.parsers.base import DOCX, OpenedDocument, PageText, ParseOptions, clean_text, single_page


def open_docx(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    return single_page(DOCX, parse_docx(data, key=key))


def parse_docx(data: bytes, *, key: str) -> PageText:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    # python-docx surfaces a bad package as BadZipFile, KeyError, lxml's XMLSyntaxError and more.
    except Exception as e:
        raise CorruptDocumentError(f"{key}: not a readable DOCX ({type(e).__name__}: {e})") from e
    blocks: list[str] = []
    # Body order matters for chunking: paragraphs and tables interleave as the author wrote them.
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            blocks.append(_table_text(block))
        elif block.text.strip():
            blocks.append(block.text)
    return PageText(1, clean_text("\n\n".join(b for b in blocks if b)))


def _table_text(table: Any) -> str:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = cell.text.strip()
            if not cells or cells[-1] != text:  # merged cells repeat their text in each grid cell
                cells.append(text)
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)
