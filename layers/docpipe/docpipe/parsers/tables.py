"""Tables as Markdown (``| a | b |``), so a chunk of a table reads as one and not as cell soup."""

from __future__ import annotations

from collections.abc import Sequence


def cell_text(value: object) -> str:
    """One cell's text on one line, with ``|`` escaped (it would end the cell)."""
    text = " ".join(str(value).split())
    return text.replace("|", "\\|")


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """The rows as a GitHub-flavoured Markdown table, the first row as its header.

    Rows are padded to the widest; rows with no text at all are dropped; a table of one row is
    still a table (a header with an empty body). Empty string for no rows.
    """
    cleaned = [[cell_text(cell) for cell in row] for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return ""
    width = max(len(row) for row in cleaned)
    padded = [row + [""] * (width - len(row)) for row in cleaned]
    lines = ["| " + " | ".join(padded[0]) + " |", "|" + "---|" * width]
    lines.extend("| " + " | ".join(row) + " |" for row in padded[1:])
    return "\n".join(lines)


def column_letter(index: int) -> str:
    """Spreadsheet column name of 0-based ``index``: A .. Z, AA, ..."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def value_text(value: object) -> str:
    """A cell value as text: integral floats without ``.0``, dates in ISO form, None as empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    text = str(value)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())


class SheetText:
    """The rows of a sheet (or CSV) as lines that carry their header: ``Region: EMEA, Revenue: 12``.

    The first row with any value is the header; each later row becomes one line naming each
    non-empty value by its column's header (or its column letter when the header cell is empty),
    so any run of lines is readable on its own. A sheet with only a header keeps it as one line.
    Lines are joined by ``\\n``: the splitter cuts between rows before it cuts inside one.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._rows: list[tuple[int, int]] = []
        self._length = 0
        self._header: list[str] | None = None
        self._header_row = 0

    def add(self, number: int, values: Sequence[object]) -> None:
        """Row ``number`` (1-based, as the sheet shows it) with its cell values."""
        cells = [value_text(value) for value in values]
        if not any(cells):
            return
        if self._header is None:
            self._header = cells
            self._header_row = number
            return
        header = self._header
        named = (
            f"{header[i] if i < len(header) and header[i] else column_letter(i)}: {cell}"
            for i, cell in enumerate(cells)
            if cell
        )
        self._append(number, ", ".join(named))

    def _append(self, number: int, line: str) -> None:
        if self._lines:
            self._length += 1
        self._rows.append((self._length, number))
        self._lines.append(line)
        self._length += len(line)

    def text_and_rows(self) -> tuple[str, tuple[tuple[int, int], ...]]:
        """The sheet's text and each line's ``(offset, row number)``; empty for an empty sheet."""
        if not self._lines and self._header is not None:
            self._append(self._header_row, ", ".join(cell for cell in self._header if cell))
        return "\n".join(self._lines), tuple(self._rows)
