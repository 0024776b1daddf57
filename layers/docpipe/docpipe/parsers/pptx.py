"""PPTX (python-pptx): each slide is a page, its title first, then text frames, tables, notes.

Shapes are read in the slide's order (groups recursed); tables become Markdown tables; speaker
notes follow the slide's text after ``Notes:``. The slide's title is its section (a slide
without one is still a section of its own: chunks never join two slides). Hidden slides are read
too; a slide with no text gives no page. Page numbers are slide numbers.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from docpipe.exceptions import CorruptDocumentError
from docpipe.parsers.base import PPTX, OpenedDocument, PageText, ParseOptions, Section, clean_text
from docpipe.parsers.zipsafe import check_inflated_size


def open_pptx(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    check_inflated_size(data, key, kind="PPTX", limit=options.max_inflated_bytes)
    from pptx import Presentation

    try:
        slides = list(Presentation(io.BytesIO(data)).slides)
    # python-pptx surfaces a bad package as BadZipFile, KeyError, lxml errors and more.
    except Exception as e:
        raise CorruptDocumentError(f"{key}: not a readable PPTX ({type(e).__name__}: {e})") from e

    return OpenedDocument(PPTX, len(slides), lambda: slide_pages(slides, key))


def slide_pages(slides: list[Any], key: str, titles: list[str | None] | None = None) -> Iterator[PageText]:
    """The deck's pages, a slide each (PPTX, and PPT after conversion); a slide with no text gives none.

    ``titles`` (one per slide, read from a PPT's binary deck) name the title of a slide that has no
    title placeholder.
    """
    for number, slide in enumerate(slides, 1):
        try:
            page = slide_page(slide, number, title=titles[number - 1] if titles else None)
        except Exception as e:
            raise CorruptDocumentError(
                f"{key}: slide {number} could not be read ({type(e).__name__}: {e})"
            ) from e
        if page.text:
            yield page


def slide_page(slide: Any, number: int, *, title: str | None = None) -> PageText:
    """One slide's text: title, shapes in order, then its speaker notes.

    ``title``: for a slide without a title placeholder (a converted PPT), the title's words; the
    text box that holds just those words is the title shape.
    """
    from docpipe.parsers.sections import short_title

    title_shape = slide.shapes.title
    if title_shape is None and title:
        title_shape = next(
            (
                shape
                for shape in slide.shapes
                if getattr(shape, "has_text_frame", False)
                and shape.has_text_frame
                and " ".join(shape.text_frame.text.split()) == title
            ),
            None,
        )
    title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
    blocks = [title] if title else []
    title_id = title_shape.shape_id if title_shape is not None else None
    blocks.extend(_shape_texts(shape for shape in slide.shapes if shape.shape_id != title_id))
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            blocks.append(f"Notes: {notes.text}")
    text = clean_text("\n\n".join(block for block in blocks if block.strip()))
    return PageText(number, text, sections=(Section(0, (short_title(title),) if title else ()),))


def _shape_texts(shapes: Iterable[Any]) -> Iterator[str]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    from docpipe.parsers.tables import markdown_table

    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_table", False) and shape.has_table:
            yield markdown_table([[cell.text for cell in row.cells] for row in shape.table.rows])
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            yield shape.text_frame.text
