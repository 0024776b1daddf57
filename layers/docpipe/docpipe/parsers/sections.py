"""Headings to section paths: Markdown ``#``; headings found in extracted text (HTML, DOCX, PDF).

A format's parser lists its headings as ``(level, title)`` in reading order; ``SectionPath``
turns levels into paths (a heading closes every open heading of its level or deeper), and
``locate`` finds each title in the page's final text, so offsets are those of the text chunked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from docpipe.parsers.base import Section

MAX_TITLE_CHARS = 120
"""A heading's title is cut to this many characters in a section path (metadata stays small)."""
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def short_title(title: str) -> str:
    """A heading's title on one line, cut to ``MAX_TITLE_CHARS``."""
    text = " ".join(title.split())
    return text if len(text) <= MAX_TITLE_CHARS else text[: MAX_TITLE_CHARS - 1].rstrip() + "…"


class SectionPath:
    """The open headings while a document is read; ``enter`` gives the path under a new heading."""

    def __init__(self) -> None:
        self._open: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> tuple[str, ...]:
        while self._open and self._open[-1][0] >= level:
            self._open.pop()
        self._open.append((level, short_title(title)))
        return tuple(name for _, name in self._open)


def locate(
    text: str,
    headings: Iterable[tuple[int, str]],
    path: SectionPath | None = None,
    *,
    keep_missing: bool = False,
) -> tuple[Section, ...]:
    """Sections for ``headings`` found, in order, in ``text``.

    Each title is searched from where the previous one was found. A title not in the text is
    left out, or with ``keep_missing`` (a PDF bookmark names its page, not always its words)
    starts where the previous one was found (the page's start for the first).
    """
    path = path or SectionPath()
    found: list[Section] = []
    position = 0
    for level, title in headings:
        words = title.split()
        if not words:
            continue
        # Any white space between the words: HTML's text puts each inline element (a Sphinx
        # heading's "¶" anchor, a <code> name) on its own line, while its heading reads as one.
        match = re.compile(r"\s+".join(map(re.escape, words))).search(text, position)
        if match is None:
            if keep_missing:
                found.append(Section(position, path.enter(level, title)))
            continue
        found.append(Section(match.start(), path.enter(level, title)))
        position = match.end()
    return tuple(found)


def markdown_sections(text: str) -> tuple[Section, ...]:
    """ATX headings (``#`` .. ``######``) outside fenced code blocks, at their line's offset."""
    path = SectionPath()
    found: list[Section] = []
    fence: str | None = None
    offset = 0
    for line in text.split("\n"):
        marker = _FENCE.match(line)
        if marker is not None:
            token = marker.group(1)
            if fence is None:
                fence = token[0] * 3
            elif token.startswith(fence):
                fence = None
        elif fence is None and (heading := _ATX_HEADING.match(line)) is not None:
            found.append(Section(offset, path.enter(len(heading.group(1)), heading.group(2))))
        offset += len(line) + 1
    return tuple(found)
