"""HTML: the visible text of a page (BeautifulSoup), its title first, tables as Markdown."""

from __future__ import annotations

from typing import Any

from docpipe.parsers.base import HTML, OpenedDocument, PageText, ParseOptions, clean_text, single_page

_INVISIBLE_TAGS = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def open_html(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    return single_page(HTML, parse_html(data))


def parse_html(data: bytes | str) -> PageText:
    from bs4 import BeautifulSoup

    from docpipe.parsers.sections import locate

    # BeautifulSoup honours a <meta charset> and falls back to its own detection for bytes.
    soup = BeautifulSoup(data, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_INVISIBLE_TAGS):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        tag.decompose()
    # Permalink anchors ("¶" after every Sphinx or MkDocs heading) are not content.
    for tag in soup.find_all("a", class_="headerlink"):
        tag.decompose()
    # Innermost tables first: an outer table then holds its inner one as one Markdown cell.
    for table in reversed(soup.find_all("table")):
        table.replace_with(soup.new_string("\n" + _markdown(table) + "\n"))
    headings = [(int(tag.name[1]), tag.get_text(" ", strip=True)) for tag in soup.find_all(_HEADINGS)]
    body = soup.get_text("\n", strip=True)
    text = clean_text(f"{title}\n\n{body}" if title and not body.startswith(title) else body)
    return PageText(1, text, sections=locate(text, headings))


def _markdown(table: Any) -> str:
    from docpipe.parsers.tables import markdown_table

    rows = []
    for row in table.find_all("tr"):
        if row.find_parent("table") is not table:
            continue  # a row of a nested table (already Markdown text by now)
        rows.append([cell.get_text(" ", strip=True) for cell in row.find_all(("td", "th"), recursive=False)])
    return markdown_table(rows)


def _is_hidden(tag: Any) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = str(attrs.get("style", "")).replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style
