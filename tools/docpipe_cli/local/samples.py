"""Documents made from real ones: scans of PDF pages (pypdfium2), workbooks (openpyxl), decks (python-pptx).

``docpipe demo`` uploads them beside the corpus, and the tests (tests/scans.py,
tests/office_files.py) build their inputs with the same functions, so what the demo shows is what
the tests check. Each builder takes its text or page from the caller: the words come from
documents written by others, never from here.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

SCAN_DPI = 200  # a common office-scanner resolution
Rows = Sequence[Sequence[Any]]


def text_layer(pdf_path: Path, index: int) -> str:
    """What PDFium extracts from page ``index`` (0-based) of a PDF: the words the page shows."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(pdf_path)
    try:
        page = pdf[index]
        textpage = page.get_textpage()
        try:
            return str(textpage.get_text_range())
        finally:
            textpage.close()
            page.close()
    finally:
        pdf.close()


def render_page(pdf_path: Path, index: int, *, dpi: int = SCAN_DPI) -> Image:
    """Page ``index`` of a PDF as a greyscale PIL image, as a scanner would produce it."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(pdf_path)
    try:
        page = pdf[index]
        try:
            image: Image = page.render(scale=dpi / 72, grayscale=True).to_pil().copy()
            return image
        finally:
            page.close()
    finally:
        pdf.close()


def image_only_pdf(images: Sequence[Image], *, dpi: int = SCAN_DPI, hidden_text: str | None = None) -> bytes:
    """A PDF whose pages are only the given images, stored losslessly (pypdfium2): a scan.

    ``hidden_text``: also draw this text in invisible render mode on every page, like the stray
    text layer some scanners leave ("Background").
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pdf = pdfium.PdfDocument.new()
    try:
        for image in images:
            width, height = image.width * 72 / dpi, image.height * 72 / dpi
            page = pdf.new_page(width, height)
            picture = pdfium.PdfImage.new(pdf)
            picture.set_bitmap(pdfium.PdfBitmap.from_pil(image))
            picture.set_matrix(pdfium.PdfMatrix().scale(width, height))
            page.insert_obj(picture)
            if hidden_text is not None:
                text = pdfium_c.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", 12.0)
                chars = (hidden_text + "\x00").encode("utf-16-le")
                pdfium_c.FPDFText_SetText(
                    text, (pdfium_c.FPDF_WCHAR * (len(chars) // 2)).from_buffer_copy(chars)
                )
                pdfium_c.FPDFTextObj_SetTextRenderMode(text, pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE)
                pdfium_c.FPDFPageObj_Transform(text, 1, 0, 0, 1, 20, 20)
                pdfium_c.FPDFPage_InsertObject(page.raw, text)
            page.gen_content()
            page.close()
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()
    finally:
        pdf.close()


def encoded(image: Image, kind: str = "PNG", **params: Any) -> bytes:
    """The image as a file of ``kind`` (PNG, JPEG, TIFF) in memory."""
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **params)
    return buffer.getvalue()


def make_xlsx(sheets: dict[str, Rows], *, hidden: Iterable[str] = ()) -> bytes:
    """A workbook with one worksheet per entry (in order); ``hidden`` names sheets to hide."""
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    hidden_names = set(hidden)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
        if name in hidden_names:
            sheet.sheet_state = "hidden"
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
