"""HTML: the visible text of a page (BeautifulSoup), its title first."""

from __future__ import annotations

from typing import Any

from docpipe.parsers.base import HTML, OpenedDocument, PageText, ParseOptions, clean_text, single_page

_INVISIBLE_TAGS = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")


def open_html(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    return single_page(HTML, parse_html(data))


def parse_html(data: bytes) -> PageText:
    from bs4 import BeautifulSoup

    # BeautifulSoup honours a <meta charset> and falls back to its own detection for bytes.
    soup = BeautifulSoup(data, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_INVISIBLE_TAGS):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        tag.decompose()
    body = soup.get_text("\n", strip=True)
    text = f"{title}\n\n{body}" if title and not body.startswith(title) else body
    return PageText(1, clean_text(text))


def _is_hidden(tag: Any) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = str(attrs.get("style", "")).replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style
