"""Every relative link in the README and the docs/ pages reaches a file, and its #anchor a heading.

The README is a front door that sends readers to one page per feature; a page renamed or a heading
reworded must not leave a link pointing nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# [text](target) outside code; images and absolute URLs are not checked.
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces to hyphens."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    slugs: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n = 1
        candidate = slug
        while candidate in slugs:  # repeated headings get -1, -2, ...
            candidate = f"{slug}-{n}"
            n += 1
        slugs.add(candidate)
    return slugs


def relative_links(page: Path) -> list[str]:
    text = CODE_SPAN.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_a_heading(page: Path) -> None:
    # Given the page's relative links
    broken = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        # When each is resolved from the page's own folder
        dest = (page.parent / path_part).resolve() if path_part else page
        # Then the file exists and, for a Markdown page, the anchor is one of its headings
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert broken == [], f"{page.relative_to(ROOT)}: {broken}"


def test_the_readme_links_every_feature_page() -> None:
    # Given the README and the feature pages under docs/
    readme_links = {t.partition("#")[0] for t in relative_links(ROOT / "README.md")}
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")} - {"docs/localstack.md"}

    # Then the front door leads to each of them
    assert pages - readme_links == set()
