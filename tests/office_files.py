"""Office files: generated at test time by the libraries real files come from (openpyxl, python-pptx,
...), the real legacy Office / OpenDocument / RTF files under ``tests/fixtures/office``, and hostile
variants of those (a looping sector chain, an OpenDocument zip bomb).
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from docpipe_cli.local.samples import Rows, make_pptx, make_xlsx

# make_xlsx and make_pptx live in docpipe_cli.local.samples: docpipe demo builds its workbook and deck
# with them too.
__all__ = [
    "OFFICE_FIXTURES",
    "OFFICE_REFERENCES",
    "Rows",
    "loop_sector_chain",
    "make_big_xlsx",
    "make_docx",
    "make_pptx",
    "make_xlsx",
    "office_reference",
    "office_sample_paths",
    "real_office_file",
    "understate_size",
    "zip_bomb_docx",
    "zip_bomb_odt",
]

OFFICE_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "office"
"""Real .doc/.xls/.ppt/.odt/.ods/.odp/.rtf files written by others (see its README.md)."""


OFFICE_REFERENCES = {
    "harmless-clean.doc": "harmless-clean.docx",
    "embedded-simple-2007.doc": "embedded-simple-2007.docx",
    "embedded-unicode.doc": "embedded-unicode.docx",
    "test-ole-file.doc": "test-ole-file.docx",
    "api-for-odfpy.lo.doc": "api-for-odfpy.docx",
    "embedded-simple-2007.xls": "embedded-simple-2007.xlsx",
    "date_field.xls": "date_field.xlsx",
    "hidden_sheets.xls": "hidden_sheets.xlsx",
    "complex_hidden_sheets.xls": "complex_hidden_sheets.xlsx",
    "embedded-simple-2007.ppt": "embedded-simple-2007.pptx",
    "sample_with_lnk_file.ppt": "sample_with_lnk_file.pptx",
    "visual_minimal.ppt": "visual_minimal.pptx",
    "visual_table.ppt": "visual_table.pptx",
    "api-for-odfpy.odt": "api-for-odfpy.docx",
    "simpletable.odt": "simpletable.docx",
    "twolevellist.odt": "twolevellist.docx",
    "chinese_spreadsheet.ods": "chinese_spreadsheet.xlsx",
    "pythagoras.ods": "pythagoras.xlsx",
    "ol.odp": "ol.pptx",
    "cols.odp": "cols.pptx",
    "api-for-odfpy.lo.rtf": "api-for-odfpy.docx",
}
"""Each real file and its LibreOffice conversion under ``reference/`` (a format docpipe read before).
The ``.lo.doc`` and ``.lo.rtf`` are LibreOffice's own Word 97 and RTF exports of odfpy's manual."""


def office_reference(name: str) -> str:
    """The reference text of a real file: docpipe's text of its LibreOffice conversion."""
    from docpipe.parsers import parse_document

    reference = OFFICE_REFERENCES[name]
    return parse_document((OFFICE_FIXTURES / "reference" / reference).read_bytes(), key=reference).text


def office_sample_paths(names: Sequence[str], cache: Path) -> list[Path]:
    """Paths of the named fixtures; a ``.gz`` one is unpacked into ``cache`` first (for the benchmarks)."""
    paths = []
    for name in names:
        path = OFFICE_FIXTURES / name
        if not path.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            path = cache / name
            if not path.is_file():
                path.write_bytes(real_office_file(name))
        paths.append(path)
    return paths


def real_office_file(name: str) -> bytes:
    """A file of ``tests/fixtures/office`` by name (``api-for-odfpy.lo.doc`` reads the ``.gz``).

    ``make demo`` and the benchmarks read them through this too: the Word 97 document for the demo
    is ``real_office_file("harmless-clean.doc")`` (Word 2016, German; "harmless", "ünicöde-ßtringß").
    """
    path = OFFICE_FIXTURES / name
    if path.is_file():
        return path.read_bytes()
    return gzip.decompress((OFFICE_FIXTURES / f"{name}.gz").read_bytes())


def loop_sector_chain(data: bytes, stream: str) -> bytes:
    """The compound file with ``stream``'s second sector pointing back to its first (a loop).

    The FAT entry is patched in place, in the FAT sector the header's DIFAT names; the stream
    must be at least three sectors long and stored in the FAT (not the mini stream).
    """
    import olefile

    with olefile.OleFileIO(data) as ole:
        entry = next(e for e in ole.direntries if e is not None and e.name == stream)
        assert entry.size >= ole.minisectorcutoff and entry.size > 2 * ole.sectorsize, entry.size
        first, sector_size = entry.isectStart, ole.sectorsize
        second = ole.fat[first]
    per_sector = sector_size // 4
    difat = struct.unpack_from("<109I", data, 76)
    fat_sector = difat[second // per_sector]
    at = (fat_sector + 1) * sector_size + (second % per_sector) * 4
    patched = bytearray(data)
    struct.pack_into("<I", patched, at, first)
    return bytes(patched)


@cache
def zip_bomb_odt(inflated_bytes: int) -> bytes:
    """A valid ODT (mimetype first, stored; a manifest) whose content.xml inflates to ``inflated_bytes``.

    Built as ``zip_bomb_docx``: one compressed block of paragraphs repeated after full flushes.
    """
    head = (
        b'<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        b"<office:body><office:text>"
    )
    tail = b"</office:text></office:body></office:document-content>"
    block = (b"<text:p>" + b"A" * 4000 + b"</text:p>") * 256
    stream, crc, size = _repeated_deflate(head, block, tail, inflated_bytes)
    manifest = (
        b'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        b'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        b'<manifest:file-entry manifest:full-path="/" '
        b'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        b"</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr(
            zipfile.ZipInfo("mimetype"),
            b"application/vnd.oasis.opendocument.text",
            compress_type=zipfile.ZIP_STORED,
        )
        bomb.writestr("META-INF/manifest.xml", manifest)
        bomb.writestr(zipfile.ZipInfo("content.xml"), stream, compress_type=zipfile.ZIP_STORED)
    return _patch_member(out.getvalue(), "content.xml", method=8, crc=crc, size=size)


def make_big_xlsx(rows: int) -> bytes:
    """One sheet ``Orders`` of ``rows`` data rows, written with openpyxl's streaming write-only mode."""
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Orders")
    sheet.append(["Order", "Region", "Amount"])
    regions = ("EMEA", "APAC", "AMER")
    for n in range(1, rows + 1):
        sheet.append([f"ORD-{n:06d}", regions[n % 3], n * 7 % 1000])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def make_docx(blocks: Sequence[tuple[str, Any]]) -> bytes:
    """A DOCX of ``("heading", (level, text))``, ``("p", text)`` and ``("table", rows)`` blocks."""
    import docx

    document = docx.Document()
    for kind, value in blocks:
        if kind == "heading":
            document.add_heading(value[1], level=value[0])
        elif kind == "table":
            table = document.add_table(rows=len(value), cols=len(value[0]))
            for r, row in enumerate(value):
                for c, text in enumerate(row):
                    table.cell(r, c).text = text
        else:
            document.add_paragraph(value)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@cache
def zip_bomb_docx(inflated_bytes: int) -> bytes:
    """A valid DOCX whose ``word/document.xml`` inflates to about ``inflated_bytes``.

    The deflate stream is built from one compressed block repeated: after a full flush the
    compressor starts afresh, so the same paragraphs compress to the same bytes every time, and
    the stream never exists inflated (nor needs 400 MB of compressing). It is stored through
    zipfile as a placeholder member, then that member's method, CRC and size are set to what the
    stream really is. About 1000:1.
    """
    base = make_docx([("p", "cover page")])
    with zipfile.ZipFile(io.BytesIO(base)) as source:
        xml = source.read("word/document.xml")
        others = [(info.filename, source.read(info)) for info in source.infolist()]
    head, tail = xml.split(b"<w:body>", 1)
    head += b"<w:body>"
    block = (b"<w:p><w:r><w:t>" + b"A" * 4000 + b"</w:t></w:r></w:p>") * 256
    stream, crc, size = _repeated_deflate(head, block, tail, inflated_bytes)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for name, payload in others:
            if name == "word/document.xml":
                bomb.writestr(zipfile.ZipInfo(name), stream, compress_type=zipfile.ZIP_STORED)
            else:
                bomb.writestr(name, payload)
    return _patch_member(out.getvalue(), "word/document.xml", method=8, crc=crc, size=size)


def _repeated_deflate(head: bytes, block: bytes, tail: bytes, inflated_bytes: int) -> tuple[bytes, int, int]:
    """A raw deflate stream of ``head``, ``block`` repeated to at least ``inflated_bytes``, ``tail``.

    After a full flush the compressor starts afresh, so the block compresses to the same bytes
    every time and the stream is built without ever holding it inflated. Returns the stream, the
    inflated CRC-32 and the inflated size (for ``_patch_member``).
    """
    repeats = max(1, -(-inflated_bytes // len(block)))
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)
    repeated = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    stream = start + repeated * repeats + deflate.compress(tail) + deflate.flush()
    crc = zlib.crc32(head)
    for _ in range(repeats):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    return stream, crc, len(head) + repeats * len(block) + len(tail)


def understate_size(archive: bytes, member: str, declared: int) -> bytes:
    """The archive with ``member``'s uncompressed size rewritten to ``declared`` (a lying bomb)."""
    return _patch_member(archive, member, size=declared)


def _patch_member(
    archive: bytes, member: str, *, size: int, method: int | None = None, crc: int | None = None
) -> bytes:
    """Rewrite a member's compression method, CRC and uncompressed size in both of its headers."""
    data = bytearray(archive)
    with zipfile.ZipFile(io.BytesIO(archive)) as parsed:
        info = parsed.getinfo(member)
        central = parsed.start_dir
    name = member.encode()
    at = data.index(b"PK\x01\x02", central)
    while data[at + 46 : at + 46 + len(name)] != name:
        at = data.index(b"PK\x01\x02", at + 4)
    local = info.header_offset
    for header, offsets in ((at, (10, 16, 24)), (local, (8, 14, 22))):
        method_at, crc_at, size_at = (header + o for o in offsets)
        if method is not None:
            struct.pack_into("<H", data, method_at, method)
        if crc is not None:
            struct.pack_into("<I", data, crc_at, crc)
        struct.pack_into("<I", data, size_at, size)
    return bytes(data)
