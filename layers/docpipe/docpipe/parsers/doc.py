"""DOC, Word 97-2003: the text through the piece table, headings from the paragraph styles ([MS-DOC]).

The compound file is opened, size-checked and its sector chains walked by ``olesafe``; then:

- the File Information Block (``WordDocument``) says which table stream holds the document's
  tables, how many characters each story has, and whether the document is encrypted
  (``fEncrypted``: a password to open, ``encrypted``);
- the piece table (``Clx`` in the table stream) maps character positions to the bytes that hold
  them: 8-bit cp1252 or UTF-16 runs anywhere in ``WordDocument`` (Word saves edits as new pieces);
- the main story comes first, then footnotes, endnotes and text boxes (headers, footers and
  comments are left out: they repeat on every page or are not the document's text);
- fields keep their result and drop their instructions (``\\x13`` code ``\\x14`` result
  ``\\x15``); a table cell ends in a tab, a table row in a line break;
- each paragraph's style comes from the paragraph property pages (``PlcBtePapx``, the FKPs):
  the built-in ``heading 1`` .. ``heading 9`` styles (by their style identifier, whatever the
  language of their names) and an explicit outline level give the headings, and so the sections.

msdoc2docx (a pure-Python .doc to .docx converter) was measured first: its character formatting
lookup is quadratic, 69 s for a 1.7 MB, 29,000-word document, so it was left out; this reader
takes 0.4 s for the same file (docs/formats.md). Word 6 and Word 95 files (an older FIB) are
``unsupported_type``.
"""

from __future__ import annotations

import bisect
import struct
from typing import Any

from docpipe.exceptions import CorruptDocumentError, EncryptedDocumentError, UnsupportedTypeError
from docpipe.parsers.base import DOC, OpenedDocument, PageText, ParseOptions, clean_text, single_page
from docpipe.parsers.olesafe import check_sector_chains, open_ole

_WORD_IDENT = 0xA5EC  # FibBase.wIdent of every Word document since Word 6
_MIN_NFIB = 0x00C0  # Word 97's FIB; Word 6/95 (0x0065..0x0069) lay the FIB out otherwise
_F_WHICH_TABLE = 0x0200  # FibBase flags: the table stream is 1Table (else 0Table)
_F_ENCRYPTED = 0x0100
_CCP_TEXT, _CCP_FTN, _CCP_HDD, _CCP_ATN, _CCP_EDN, _CCP_TXBX = 0x4C, 0x50, 0x54, 0x5C, 0x60, 0x64
_FC_STSHF, _FC_PLCF_BTE_PAPX, _FC_CLX = 0xA2, 0x102, 0x1A2  # FibRgFcLcb97 (fc, lcb) pairs
_FKP_SIZE = 512
_SPRM_OUTLINE_LEVEL = 0x2640  # sprmPOutLvl: the paragraph's outline level (0-8; 9 is body text)
_SPRM_TABLE_ROW_END = 0x2417  # sprmPFTtp: this paragraph mark ends a table row
_HEADING_STIS = range(1, 10)  # style identifiers of the built-in heading 1 .. heading 9
# Characters of the text stream that are marks, not text ([MS-DOC] 2.8.25 and 2.4.x).
_FIELD_BEGIN, _FIELD_SEPARATOR, _FIELD_END = "\x13", "\x14", "\x15"
# A section or page break (\x0c) ends the paragraph before it, as a paragraph mark does.
_PARAGRAPH_END, _CELL_END, _SECTION_END = "\r", "\x07", "\x0c"
_REPLACEMENTS = str.maketrans(
    {
        "\x0b": "\n",  # line break
        "\x0c": "\n\n",  # page or section break
        "\x0e": "\n",  # column break
        "\x1e": "-",  # non-breaking hyphen
        "\x1f": None,  # optional hyphen
        "\x01": None,  # inline picture
        "\x08": None,  # drawn object anchor
        "\x02": None,  # automatic footnote number
        "\x05": None,  # comment reference
        "\xa0": " ",
    }
)


def open_doc(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    ole = open_ole(data, key, kind="DOC", limit=options.max_inflated_bytes)
    try:
        check_sector_chains(ole, key, kind="DOC")
        word = _stream(ole, "WordDocument", key)
        fib = _Fib(word, key)
        table = _stream(ole, fib.table_stream, key)
    finally:
        ole.close()
    return single_page(DOC, parse_doc(word, table, fib, key=key))


def _stream(ole: Any, name: str, key: str) -> bytes:
    if not ole.exists(name):
        raise CorruptDocumentError(f"{key}: a Word document without its {name} stream")
    try:
        with ole.openstream(name) as stream:
            return bytes(stream.read())
    except Exception as e:  # olefile: a chain that ends early or points outside the file
        reason = f"{type(e).__name__}: {e}"
        raise CorruptDocumentError(f"{key}: the {name} stream cannot be read ({reason})") from e


class _Fib:
    """The File Information Block fields this reader needs."""

    def __init__(self, word: bytes, key: str) -> None:
        if len(word) < _FC_CLX + 8:
            raise CorruptDocumentError(f"{key}: the WordDocument stream is too short for a Word 97 FIB")
        ident, n_fib = struct.unpack_from("<HH", word, 0)
        (flags,) = struct.unpack_from("<H", word, 0x0A)
        if ident != _WORD_IDENT:
            raise CorruptDocumentError(f"{key}: the WordDocument stream is not a Word document")
        if flags & _F_ENCRYPTED:
            raise EncryptedDocumentError(f"{key}: password-protected DOC")
        if n_fib < _MIN_NFIB:
            raise UnsupportedTypeError(f"{key}: a Word 6 or Word 95 document (FIB {n_fib:#x}); save as .docx")
        self.table_stream = "1Table" if flags & _F_WHICH_TABLE else "0Table"
        self.stories = [
            max(0, struct.unpack_from("<i", word, at)[0])
            for at in (_CCP_TEXT, _CCP_FTN, _CCP_HDD, _CCP_ATN, _CCP_EDN, _CCP_TXBX)
        ]
        self.stshf = struct.unpack_from("<II", word, _FC_STSHF)
        self.bte_papx = struct.unpack_from("<II", word, _FC_PLCF_BTE_PAPX)
        self.clx = struct.unpack_from("<II", word, _FC_CLX)


def parse_doc(word: bytes, table: bytes, fib: _Fib, *, key: str) -> PageText:
    """The document's text (main story, then footnotes, endnotes, text boxes) and its headings."""
    from docpipe.parsers.sections import locate

    pieces = _Pieces(word, _plc_pcd(table, *fib.clx, key=key), key=key)
    ccp_text, ccp_ftn, ccp_hdd, ccp_atn, ccp_edn, ccp_txbx = fib.stories
    # The stories follow one another in character positions: main, footnotes, headers, comments,
    # endnotes, text boxes.
    ranges = [(0, ccp_text), (ccp_text, ccp_text + ccp_ftn)]
    endnotes = ccp_text + ccp_ftn + ccp_hdd + ccp_atn
    ranges += [(endnotes, endnotes + ccp_edn), (endnotes + ccp_edn, endnotes + ccp_edn + ccp_txbx)]
    paragraphs = _ParagraphProperties(word, table, fib, key=key)
    headings_of_style = _heading_styles(table, *fib.stshf)
    blocks: list[str] = []
    headings: list[tuple[int, str]] = []
    for start, end in ranges:
        if end <= start:
            continue
        paragraph: list[str] = []
        fields: list[bool] = []  # per open field: still in its instructions
        for _cp, char, fc in pieces.characters(start, end):
            if char == _FIELD_BEGIN:
                fields.append(True)
            elif char == _FIELD_SEPARATOR:
                if fields:
                    fields[-1] = False
            elif char == _FIELD_END:
                if fields:
                    fields.pop()
            elif any(fields):
                continue
            elif char in (_PARAGRAPH_END, _CELL_END, _SECTION_END):
                istd, outline, row_end = paragraphs.at(fc)
                text = "".join(paragraph).translate(_REPLACEMENTS)
                paragraph = []
                if char == _CELL_END:
                    blocks.append(text + ("\n" if row_end else "\t"))
                    continue
                level = headings_of_style.get(istd) or (outline + 1 if outline is not None else None)
                if level is not None and text.strip():
                    headings.append((level, text))
                blocks.append(text + "\n\n")
            else:
                paragraph.append(char)
        if paragraph:
            blocks.append("".join(paragraph).translate(_REPLACEMENTS) + "\n\n")
    text = clean_text("".join(blocks))
    return PageText(1, text, sections=locate(text, headings))


def _plc_pcd(table: bytes, fc: int, lcb: int, *, key: str) -> bytes:
    """The piece table (``PlcPcd``) from the ``Clx``: skip the ``Prc`` property runs before it."""
    position, end = fc, fc + lcb
    if lcb == 0 or end > len(table):
        raise CorruptDocumentError(f"{key}: the piece table lies outside the table stream")
    while position < end:
        kind = table[position]
        if kind == 0x01 and position + 3 <= end:  # Prc: grpprl of piece properties
            (size,) = struct.unpack_from("<H", table, position + 1)
            position += 3 + size
        elif kind == 0x02 and position + 5 <= end:  # Pcdt: the piece table itself
            (size,) = struct.unpack_from("<I", table, position + 1)
            if position + 5 + size > end or size < 16 or (size - 4) % 12:
                break
            return table[position + 5 : position + 5 + size]
        else:
            break
    raise CorruptDocumentError(f"{key}: the piece table (Clx) is malformed")


class _Pieces:
    """Character positions to text: each piece's CP range and where its bytes are."""

    def __init__(self, word: bytes, plc: bytes, *, key: str) -> None:
        count = (len(plc) - 4) // 12
        cps = struct.unpack_from(f"<{count + 1}I", plc, 0)
        self._word = word
        self._key = key
        self._starts: list[int] = []
        self._pieces: list[tuple[int, int, int, bool]] = []  # cp start, cp end, byte offset, 8-bit
        for index in range(count):
            (fc_value,) = struct.unpack_from("<I", plc, 4 * (count + 1) + 8 * index + 2)
            compressed = bool(fc_value & 0x40000000)
            offset = (fc_value & 0x3FFFFFFF) // 2 if compressed else fc_value & 0x3FFFFFFF
            start, end = cps[index], cps[index + 1]
            if end < start:
                raise CorruptDocumentError(f"{key}: the piece table's positions go backwards")
            if offset + (end - start) * (1 if compressed else 2) > len(word):
                raise CorruptDocumentError(f"{key}: a piece of text lies outside the WordDocument stream")
            self._starts.append(start)
            self._pieces.append((start, end, offset, compressed))

    def characters(self, start: int, end: int) -> Any:
        """``(cp, character, byte offset)`` for each character in ``[start, end)``."""
        index = max(0, bisect.bisect_right(self._starts, start) - 1)
        for piece_start, piece_end, offset, compressed in self._pieces[index:]:
            if piece_start >= end:
                break
            low, high = max(start, piece_start), min(end, piece_end)
            if low >= high:
                continue
            width = 1 if compressed else 2
            first = offset + (low - piece_start) * width
            raw = self._word[first : first + (high - low) * width]
            text = raw.decode("cp1252", "replace") if compressed else raw.decode("utf-16-le", "replace")
            for position, char in enumerate(text):
                yield low + position, char, first + position * width


class _ParagraphProperties:
    """Byte offset of a paragraph mark -> (style index, outline level, ends a table row), from the FKPs."""

    def __init__(self, word: bytes, table: bytes, fib: _Fib, *, key: str) -> None:
        self._starts: list[int] = []
        self._runs: list[tuple[int, int, int, int | None, bool]] = []
        fc, lcb = fib.bte_papx
        if lcb < 12 or fc + lcb > len(table):
            return  # no paragraph properties: the text still reads, without headings
        count = (lcb - 4) // 8
        pages = struct.unpack_from(f"<{count}I", table, fc + 4 * (count + 1))
        runs = []
        for page_number in pages[:10_000]:
            at = (page_number & 0x3FFFFF) * _FKP_SIZE
            if at + _FKP_SIZE > len(word):
                continue
            runs.extend(_papx_runs(word[at : at + _FKP_SIZE]))
        runs.sort()
        self._runs = runs
        self._starts = [run[0] for run in runs]

    def at(self, fc: int) -> tuple[int, int | None, bool]:
        index = bisect.bisect_right(self._starts, fc) - 1
        if index >= 0:
            start, end, istd, outline, row_end = self._runs[index]
            if start <= fc < end:
                return istd, outline, row_end
        return 0, None, False


def _papx_runs(page: bytes) -> list[tuple[int, int, int, int | None, bool]]:
    """One PapxFkp: each run's byte range, style index, outline level and row-end flag."""
    count = page[_FKP_SIZE - 1]
    if 4 * (count + 1) + 13 * count > _FKP_SIZE - 1:
        return []
    fcs = struct.unpack_from(f"<{count + 1}I", page, 0)
    runs: list[tuple[int, int, int, int | None, bool]] = []
    for index in range(count):
        offset = page[4 * (count + 1) + 13 * index] * 2
        if offset == 0 or offset >= _FKP_SIZE - 1:
            runs.append((fcs[index], fcs[index + 1], 0, None, False))
            continue
        size = page[offset]
        if size:
            start, length = offset + 1, 2 * size - 1
        else:
            start, length = offset + 2, 2 * page[offset + 1]
        grpprl = page[start : min(start + length, _FKP_SIZE - 1)]
        if len(grpprl) < 2:
            continue
        (istd,) = struct.unpack_from("<H", grpprl, 0)
        outline, row_end = _paragraph_sprms(grpprl[2:])
        runs.append((fcs[index], fcs[index + 1], istd, outline, row_end))
    return runs


def _paragraph_sprms(grpprl: bytes) -> tuple[int | None, bool]:
    """The outline level (when 0-8) and the row-end flag among a paragraph's property modifiers."""
    outline: int | None = None
    row_end = False
    position = 0
    while position + 2 <= len(grpprl):
        (sprm,) = struct.unpack_from("<H", grpprl, position)
        position += 2
        size = _SPRM_OPERAND_SIZES[sprm >> 13]
        if size is None:  # variable: a length byte first (sprmTDefTable's is two bytes)
            if position >= len(grpprl):
                break
            if sprm in (0xD608, 0xD606):
                if position + 2 > len(grpprl):
                    break
                size = struct.unpack_from("<H", grpprl, position)[0] + 1
            else:
                size = grpprl[position] + 1
        if position + size > len(grpprl):
            break
        if sprm == _SPRM_OUTLINE_LEVEL and grpprl[position] < 9:
            outline = grpprl[position]
        elif sprm == _SPRM_TABLE_ROW_END and grpprl[position]:
            row_end = True
        position += size
    return outline, row_end


# Operand size by a sprm's spra (its top three bits): 1, 1, 2, 4, 2, 2, variable, 3 bytes.
_SPRM_OPERAND_SIZES: tuple[int | None, ...] = (1, 1, 2, 4, 2, 2, None, 3)


def _heading_styles(table: bytes, fc: int, lcb: int) -> dict[int, int]:
    """Style index -> heading level for the built-in heading styles in the style sheet (STSH)."""
    if lcb < 4 or fc + lcb > len(table):
        return {}
    sheet = table[fc : fc + lcb]
    (stshi_size,) = struct.unpack_from("<H", sheet, 0)
    if stshi_size < 2 or 2 + stshi_size > len(sheet):
        return {}
    (count,) = struct.unpack_from("<H", sheet, 2)
    levels: dict[int, int] = {}
    position = 2 + stshi_size
    for index in range(min(count, 4_096)):
        if position + 2 > len(sheet):
            break
        (size,) = struct.unpack_from("<H", sheet, position)
        if size >= 2 and position + 2 + size <= len(sheet):
            sti = struct.unpack_from("<H", sheet, position + 2)[0] & 0x0FFF
            if sti in _HEADING_STIS:
                levels[index] = sti
        position += 2 + size
    return levels
