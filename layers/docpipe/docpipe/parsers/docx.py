"""DOCX (python-docx): paragraphs and tables (as Markdown) in body order, as one page.

Headings are paragraphs styled ``Heading 1`` .. ``Heading 9`` (or ``Title``, level 0); they give
the chunks' ``section`` paths. The archive's inflated size is checked first (``zipsafe``).
"""

from __future__ import annotations

import io
import re
from typing import Any

from docpipe.exceptions import CorruptDocumentError
from docpipe.parsers.base import DOCX, OpenedDocument, PageText, ParseOptions, clean_text, single_page
from docpipe.parsers.zipsafe import check_inflated_size

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


def open_docx(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    check_inflated_size(data, key, kind="DOCX", limit=options.max_inflated_bytes)
    return single_page(DOCX, parse_docx(data, key=key))


def parse_docx(data: bytes, *, key: str) -> PageText:
    import docx
    from docx.table import Table

    from docpipe.parsers.sections import locate

    try:
        document = docx.Document(io.BytesIO(data))
    # python-docx surfaces a bad package as BadZipFile, KeyError, lxml's XMLSyntaxError and more.
    except Exception as e:
        raise CorruptDocumentError(f"{key}: not a readable DOCX ({type(e).__name__}: {e})") from e
    blocks: list[str] = []
    headings: list[tuple[int, str]] = []
    # Body order matters for chunking: paragraphs and tables interleave as the author wrote them.
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            blocks.append(_table_text(block))
        elif block.text.strip():
            blocks.append(block.text)
            level = _heading_level(block)
            if level is not None:
                headings.append((level, block.text))
    text = clean_text("\n\n".join(b for b in blocks if b))
    return PageText(1, text, sections=locate(text, headings))


def _heading_level(paragraph: Any) -> int | None:
    try:
        style = paragraph.style
        name = style.name if style is not None else ""
    except (KeyError, AttributeError, ValueError):  # a style id the styles part does not define
        return None
    if name.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(name or "")
    if match:
        return int(match.group(1))
    return _outline_level(paragraph._p, style)


def _outline_level(element: Any, style: Any) -> int | None:
    """The heading level a paragraph's outline level gives it (1-9), from itself or its style chain.

    Word writes built-in heading styles under their English names, but other writers keep the
    localised ones (``Überschrift 1``, ``Titre 1``): the ``w:outlineLvl`` they carry says the same
    in any language (0 is level 1; 9 is body text).
    """
    from docx.oxml.ns import qn

    for candidate in (element, *_style_chain(style)):
        p_pr = candidate.find(qn("w:pPr")) if candidate is not None else None
        level = p_pr.find(qn("w:outlineLvl")) if p_pr is not None else None
        if level is not None:
            try:
                value = int(level.get(qn("w:val"), "9"))
            except ValueError:
                return None
            return value + 1 if 0 <= value < 9 else None
    return None


def _style_chain(style: Any) -> list[Any]:
    """The style's element and those of the styles it is based on (at most 16: a loop ends it)."""
    chain: list[Any] = []
    while style is not None and len(chain) < 16:
        chain.append(style.element)
        try:
            style = style.base_style
        except (KeyError, AttributeError, ValueError):
            break
    return chain


def _table_text(table: Any) -> str:
    from docpipe.parsers.tables import markdown_table

    rows = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # A merged cell is the same <w:tc> in each grid cell it spans: its text once, then blanks.
            cells.append("" if cell._tc is previous else cell.text)
            previous = cell._tc
        rows.append(cells)
    return markdown_table(rows)
