"""CSV and TSV: one page of rows with headers (as a sheet), encoding detected as for text.

The delimiter of a ``.csv`` is sniffed (``csv.Sniffer`` over the first lines, among ``,;|`` and
tab), falling back to a comma; a ``.tsv`` is tab-separated. Row numbers count records from 1,
the header being row 1, as a spreadsheet shows the file.
"""

from __future__ import annotations

import io

from docpipe.exceptions import CorruptDocumentError
from docpipe.parsers.base import CSV, TSV, OpenedDocument, PageText, ParseOptions, single_page
from docpipe.parsers.tables import SheetText
from docpipe.parsers.text import decode_raw

_SNIFF_CHARS = 64 * 1024
_DELIMITERS = ",;\t|"


def open_csv(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    return single_page(CSV, parse_delimited(data, key=key, tab=False))


def open_tsv(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    return single_page(TSV, parse_delimited(data, key=key, tab=True))


def parse_delimited(data: bytes, *, key: str, tab: bool) -> PageText:
    import csv

    text = decode_raw(data).lstrip("\ufeff")
    delimiter = "\t" if tab else _sniff_delimiter(text[:_SNIFF_CHARS])
    rows = SheetText()
    try:
        for number, values in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), 1):
            rows.add(number, values)
    except csv.Error as e:  # a field over csv.field_size_limit(), a NUL byte, ...
        raise CorruptDocumentError(f"{key}: not a readable delimited file ({e})") from e
    body, offsets = rows.text_and_rows()
    return PageText(1, body, rows=offsets)


def _sniff_delimiter(sample: str) -> str:
    import csv

    # A sample cut inside a line (or a quoted field) would mislead the sniffer: whole lines only.
    if len(sample) == _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","
