"""Office files generated at test time by the libraries real files come from (openpyxl, python-pptx, ...)."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

Rows = Sequence[Sequence[Any]]


def make_xlsx(sheets: dict[str, Rows], *, hidden: Iterable[str] = ()) -> bytes:
    """A workbook with one worksheet per entry (in order); ``hidden`` names sheets to hide."""
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
        if name in set(hidden):
            sheet.sheet_state = "hidden"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


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


def make_pptx(slides: Sequence[dict[str, Any]]) -> bytes:
    """A deck: each slide dict may have ``title``, ``body`` (lines), ``table`` (rows), ``notes``."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for spec in slides:
        layout = deck.slide_layouts[1] if "title" in spec else deck.slide_layouts[6]
        slide = deck.slides.add_slide(layout)
        if "title" in spec:
            slide.shapes.title.text = spec["title"]
            slide.placeholders[1].text = "\n".join(spec.get("body", []))
        elif spec.get("body"):
            box = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(2))
            box.text_frame.text = "\n".join(spec["body"])
        if "table" in spec:
            rows = spec["table"]
            shape = slide.shapes.add_table(
                len(rows), len(rows[0]), Inches(1), Inches(4), Inches(6), Inches(2)
            )
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    shape.table.cell(r, c).text = str(value)
        if "notes" in spec:
            slide.notes_slide.notes_text_frame.text = spec["notes"]
    out = io.BytesIO()
    deck.save(out)
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


def zip_bomb_docx(inflated_bytes: int) -> bytes:
    """A valid DOCX whose ``word/document.xml`` inflates to about ``inflated_bytes``.

    Written with zipfile's streaming writer, a block at a time, so building it needs no more
    memory than one block; the paragraphs compress about 1000:1.
    """
    base = make_docx([("p", "cover page")])
    paragraph = b"<w:p><w:r><w:t>" + b"A" * 4000 + b"</w:t></w:r></w:p>"
    block = paragraph * 256
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(base)) as source,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as bomb,
    ):
        for info in source.infolist():
            if info.filename != "word/document.xml":
                bomb.writestr(info.filename, source.read(info))
                continue
            xml = source.read(info)
            head, tail = xml.split(b"<w:body>", 1)
            with bomb.open("word/document.xml", "w") as member:
                member.write(head + b"<w:body>")
                written = 0
                while written < inflated_bytes:
                    member.write(block)
                    written += len(block)
                member.write(tail)
    return out.getvalue()


def understate_size(archive: bytes, member: str, declared: int) -> bytes:
    """The archive with ``member``'s uncompressed size rewritten to ``declared`` (a lying bomb)."""
    data = bytearray(archive)
    with zipfile.ZipFile(io.BytesIO(archive)) as parsed:
        info = parsed.getinfo(member)
        central = parsed.start_dir
    name = member.encode()
    at = data.index(b"PK\x01\x02" + b"", central)
    while data[at + 46 : at + 46 + len(name)] != name:
        at = data.index(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", data, at + 24, declared)  # central directory: uncompressed size
    local = info.header_offset
    if not info.flag_bits & 0x08:  # no data descriptor: the local header carries the size too
        struct.pack_into("<I", data, local + 22, declared)
    return bytes(data)
