"""Plain text and Markdown: bytes of unknown encoding decoded to one page."""

from __future__ import annotations

from docpipe.parsers.base import (
    MARKDOWN,
    TEXT,
    OpenedDocument,
    PageText,
    ParseOptions,
    clean_text,
    single_page,
)


def decode_text(data: bytes) -> str:
    """Decode bytes of unknown encoding; never raises.

    A BOM decides first; otherwise charset-normalizer guesses; when it cannot, UTF-8 with
    replacement characters. Undecodable bytes become U+FFFD rather than failing the document.
    """
    return clean_text(decode_raw(data))


def decode_raw(data: bytes) -> str:
    """``decode_text`` without the cleaning (for formats whose layout is in the characters, CSV)."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    try:
        return data.decode("utf-8")  # the common case, and cheaper than guessing
    except UnicodeDecodeError:
        pass
    # UTF-8 with a few damaged bytes: guessing a single-byte codec would turn every "é" into
    # mojibake, so when valid multi-byte characters outnumber the bad bytes, stay with UTF-8.
    lenient = data.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    non_ascii = len(lenient) - len(lenient.encode("ascii", errors="ignore"))
    if non_ascii - bad >= bad:
        return lenient
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    encoding = best.encoding if best is not None else "utf-8"
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def open_plain(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    return single_page(TEXT, PageText(1, decode_text(data)))


def open_markdown(data: bytes, key: str, options: ParseOptions) -> OpenedDocument:
    from docpipe.parsers.sections import markdown_sections

    text = decode_text(data)
    return single_page(MARKDOWN, PageText(1, text, sections=markdown_sections(text)))
