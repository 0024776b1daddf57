"""Real email, Outlook and EPUB files written by others, and the reference texts they are measured against.

``make samples`` installs them (``.ci/run`` and ``make bench`` run it): Debian's CPython test
suite (the email package's own test messages), the Live Systems Manual as EPUB and as HTML (the
same book in a format docpipe already reads: the EPUB's reference), and the ``.msg`` files that
ship in the ``msg-parser`` source distribution (BSD), unpacked under ``.docpipe/samples``.
Tests that need one skip, naming the missing path and ``make samples``, where it is absent.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

CPYTHON_EMAIL_DIRS = sorted(Path("/usr/lib").glob("python3*/test/test_email/data"), reverse=True)
CPYTHON_EMAIL_DIR = (
    CPYTHON_EMAIL_DIRS[0] if CPYTHON_EMAIL_DIRS else Path("/usr/lib/python3/test/test_email/data")
)
LIVE_MANUAL_EPUB = Path("/usr/share/doc/live-manual/epub/live-manual.en.epub")
LIVE_MANUAL_HTML = Path("/usr/share/doc/live-manual/html/live-manual")
SAMPLES_DIR = ROOT / ".docpipe" / "samples"
MSG_FILES_DIR = SAMPLES_DIR / "msg_parser-1.2.0" / "tests" / "files"
MSG_FILES = ("outer.msg", "other.msg", "complete.msg")

_HEADER = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:")
_BOUNDARY = re.compile(r'boundary="?([^";\s]+)"?', re.IGNORECASE)
_TYPE = re.compile(r"^content-type:\s*([a-z0-9.+-]+/[a-z0-9.+-]+)", re.IGNORECASE | re.MULTILINE)
_ENCODED = re.compile(
    r"^content-transfer-encoding:\s*(base64|quoted-printable)", re.IGNORECASE | re.MULTILINE
)


def missing(path: Path) -> str:
    """The skip reason for a sample that is not installed."""
    return f"{path} is not installed: run `make samples` (it installs the real files these tests read)"


def cpython_messages() -> list[Path]:
    """CPython's email test messages (``msg_NN.txt``), in name order."""
    return sorted(CPYTHON_EMAIL_DIR.glob("msg_*.txt"))


def readable_as_written(raw: str) -> bool:
    """Whether a message's text can be read from its raw form: no base64 or quoted-printable, no HTML."""
    return not _ENCODED.search(raw) and "text/html" not in raw.lower()


def message_reference(raw: str) -> str:
    """The text a reader sees in a message written without transfer encoding, taken from its raw form.

    Every line of every text part and nested message as written, leaving out what RFC 2046 says
    is not content: header blocks (the message's, each part's, each forwarded message's), MIME
    boundaries, a multipart's preamble and epilogue, and the parts that are not text (a PGP
    signature's armour). Independent of any MIME parser: only line rules.
    """
    boundaries = set(_BOUNDARY.findall(raw))
    out: list[str] = []
    in_header, header_lines, skipping = True, [], False
    default = "text/plain"  # a part without Content-Type; message/rfc822 in a multipart/digest
    for line in raw.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if stripped.startswith("--") and stripped.strip("-") in boundaries:
            in_header, header_lines = True, []
            skipping = stripped.endswith("--")  # the epilogue after a closing boundary
            continue
        if in_header:
            if not stripped:
                if not header_lines and default == "message/rfc822":
                    continue  # a digest's part: its blank line, then the message's own headers
                in_header = False
                block = "\n".join(header_lines)
                found = _TYPE.search(block)
                kind = found.group(1).lower() if found else default
                if kind.startswith("multipart/"):
                    default = "message/rfc822" if kind == "multipart/digest" else "text/plain"
                # A multipart's preamble runs to its first boundary; a part that is not text (a
                # signature, a reference to an external body) is not read.
                skipping = (
                    kind.startswith("multipart/")
                    or kind == "message/external-body"
                    or not (kind.startswith(("text/", "message/")))
                )
                if kind == "message/rfc822":
                    in_header, header_lines = True, []  # the forwarded message's own headers follow
            else:
                header_lines.append(line)
            continue
        if not skipping:
            out.append(line)
    return "\n".join(out)


def live_manual_html_text() -> str:
    """The Live Systems Manual's English HTML pages, each through docpipe's HTML parser, joined."""
    from docpipe.parsers import parse_document

    pages = sorted(LIVE_MANUAL_HTML.glob("*.en.html"))
    return "\n\n".join(parse_document(p.read_bytes(), key=p.name).text for p in pages)


def msg_reference(path: Path) -> str:
    """The plain bodies of an Outlook message and of every message attached to it, as extract-msg reads them.

    extract-msg (the dev extra) is an independent reader of the same format: docpipe's own reader
    (parsers/outlook.py) shares no code with it.
    """
    import extract_msg

    message = extract_msg.openMsg(str(path))
    try:
        return _extract_msg_bodies(message)
    finally:
        message.close()


def _extract_msg_bodies(message: object) -> str:
    bodies = [str(getattr(message, "body", "") or "")]
    for attachment in getattr(message, "attachments", []):
        inner = getattr(attachment, "data", None)
        if hasattr(inner, "body"):
            bodies.append(_extract_msg_bodies(inner))
    return "\n".join(bodies)


def cpython_readable_messages() -> list[Path]:
    """The CPython test messages whose text can be read from their raw form (``readable_as_written``)."""
    return [p for p in cpython_messages() if readable_as_written(p.read_text("latin-1"))]
