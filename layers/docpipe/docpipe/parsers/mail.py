"""Email (``.eml``: the standard library's ``email``; ``.msg``: ``outlook``): the message and its attachments.

The message is a page: its headers (subject, from, to, cc, date, the attachments' names) above
its body; an HTML-only body goes through the HTML parser. Each attachment follows as its own
pages, opened by docpipe's own parser for its type (``parsers.open_bytes``: a PDF is read like any
PDF, OCR included), under a section ``Attachment: <name>``; a message attached to the message is
read the same way, its own attachments under its section. Every page carries the message's
``from``, ``to``, ``cc``, ``subject``, ``date`` and ``message_id`` as metadata.

Limits, all checked on the message's structure before anything is decoded, each a ``too_large``
skip of the whole message (a bomb is refused, not partly indexed): messages nested deeper than
``max_message_depth``, more than ``max_attachments`` attachments in all, an attachment that
decodes past ``max_document_bytes`` (the limit it would meet on its own), attachments that decode,
in all, past ``max_inflated_bytes``; a zip container attached (DOCX, XLSX, EPUB, ...) may inflate
only into what is left of that budget. An attachment docpipe cannot read (an unsupported type, a
corrupt or encrypted file, a scan while OCR is off, the message's OCR page budget spent) is not
dropped: its section holds a line that names it and says why. An S/MIME- or PGP-encrypted message
is ``encrypted``; a message with no header at all is ``corrupt``. The images an HTML body shows (a
multipart/related image with a Content-ID or an inline disposition; Outlook's hidden attachments)
are the body's own pictures, mostly logos and signatures: they are listed on the message's page,
not read with OCR, so a mailbox of HTML mail does not pay for an OCR call per logo.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from docpipe.exceptions import (
    CorruptDocumentError,
    DocumentTooLargeError,
    EncryptedDocumentError,
    PermanentError,
)
from docpipe.parsers.base import (
    EML,
    OpenedDocument,
    Opener,
    PageText,
    ParseOptions,
    Section,
    clean_text,
    metadata_value,
)

if TYPE_CHECKING:
    from email.message import EmailMessage

STDLIB_PARSE_ERRORS = (ValueError, TypeError, IndexError, AttributeError, LookupError, AssertionError)
"""What the standard library's email package raises on malformed input it did not expect."""
HEADER_KEYS: tuple[str, ...] = ("from", "to", "cc", "subject", "date", "message_id")
"""The message's metadata on every page of it (each cut to ``MAX_METADATA_VALUE_BYTES``)."""
ATTACHMENT_TITLE = "Attachment: {name}"
_ENCRYPTED_SMIME = ("enveloped-data", "authenveloped-data")


@dataclass
class Attachment:
    """One attachment: a file (``load`` gives its decoded bytes) or a message (``message``).

    ``size`` is what the file decodes to, known (or, for base64, bounded) before it is decoded.
    """

    name: str
    size: int = 0
    load: Callable[[], bytes] | None = None
    message: Mail | None = None
    inline: bool = False
    """An image the HTML body shows (a logo, a signature): listed on the message's page, not read."""


@dataclass
class Mail:
    """A message read far enough to check its limits: headers, body, attachments not yet decoded."""

    headers: dict[str, str]
    body: PageText
    attachments: list[Attachment] = field(default_factory=list)
    encrypted: bool = False


class Limits:
    """Counts attachments and nesting while a message is read; raises once a limit is passed."""

    def __init__(self, key: str, options: ParseOptions) -> None:
        self.key = key
        self.options = options
        self.attachments = 0
        self.decoded = 0

    def enter(self, depth: int) -> None:
        """A message at ``depth`` (1: the document itself) is about to be read."""
        if depth > self.options.max_message_depth:
            raise DocumentTooLargeError(
                f"{self.key}: messages nested more than {self.options.max_message_depth} deep "
                "(a message attached to a message ...)"
            )

    def count(self) -> None:
        """One more attachment (a file or a message)."""
        self.attachments += 1
        if self.attachments > self.options.max_attachments:
            raise DocumentTooLargeError(f"{self.key}: more than {self.options.max_attachments} attachments")

    def add(self, attachment: Attachment) -> Attachment:
        """Count a file ``attachment`` against the message's limits, before it is decoded."""
        self.count()
        if attachment.message is None:
            if attachment.size > self.options.max_document_bytes:
                raise DocumentTooLargeError(
                    f"{self.key}: attachment {attachment.name!r} decodes to {attachment.size} bytes; "
                    f"the limit is {self.options.max_document_bytes} (MAX_DOCUMENT_BYTES)"
                )
            self.decoded += attachment.size
            if self.decoded > self.options.max_inflated_bytes:
                raise DocumentTooLargeError(
                    f"{self.key}: attachments decode to more than {self.options.max_inflated_bytes} "
                    "bytes in all (MAX_INFLATED_BYTES)"
                )
        return attachment


def open_eml(data: bytes, key: str, options: ParseOptions, *, open_attachment: Opener) -> OpenedDocument:
    """Open an ``.eml``; ``open_attachment`` opens each attachment (``parsers.open_bytes``, passed in
    by the registry, which imports this module)."""
    import email
    import email.policy

    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
    except RecursionError as e:  # the standard library's parser recurses into nested parts
        raise DocumentTooLargeError(f"{key}: MIME parts nested too deep to read") from e
    if not message.keys():
        raise CorruptDocumentError(f"{key}: no RFC 822 header fields: not an email message")
    limits = Limits(key, options)
    try:
        mail = read_eml(message, limits, depth=1)
    except STDLIB_PARSE_ERRORS as e:
        raise CorruptDocumentError(
            f"{key}: the message's structure cannot be read ({type(e).__name__}: {e})"
        ) from e
    return mail_document(EML, mail, key, options, limits, open_attachment)


def mail_document(
    content_type: str,
    mail: Mail,
    key: str,
    options: ParseOptions,
    limits: Limits,
    open_attachment: Opener,
    close: Callable[[], None] | None = None,
) -> OpenedDocument:
    """The pages of a message read by ``read_eml`` or ``read_outlook`` (see the module docstring).

    Raises:
        EncryptedDocumentError: the message is encrypted.
    """
    if mail.encrypted:
        raise EncryptedDocumentError(f"{key}: the message is encrypted (S/MIME or PGP)")
    metadata = {name: metadata_value(mail.headers[name]) for name in HEADER_KEYS if mail.headers.get(name)}
    budget = _Budget(
        inflated=options.max_inflated_bytes - limits.decoded,
        ocr_pages=options.ocr_max_pages,
        open=open_attachment,
    )
    document = OpenedDocument(content_type, 1 + limits.attachments, lambda: pages(), close)

    def pages() -> Iterator[PageText]:
        number = 0
        for page in _message_pages(mail, (), key, options, budget):
            number += 1
            yield replace(page, number=number, metadata={**page.metadata, **metadata})
        document.page_count = number  # attachments of several pages: known once they are read

    return document


@dataclass
class _Budget:
    """What the attachments still to be read may use (inflated bytes, pages to OCR), and their opener."""

    inflated: int
    ocr_pages: int
    open: Opener


def _message_pages(
    mail: Mail, path: tuple[str, ...], key: str, options: ParseOptions, budget: _Budget
) -> Iterator[PageText]:
    body = mail.body
    sections = ((Section(0, path),) if path else ()) + _under(path, body.sections)
    yield replace(body, sections=sections)
    for attachment in mail.attachments:
        if attachment.inline:
            continue  # named on the message's page; its pixels are the body's, not a document
        inner = (*path, ATTACHMENT_TITLE.format(name=attachment.name))
        if attachment.message is not None:
            if attachment.message.encrypted:
                yield _note(inner, f"{attachment.name}: not read: the message is encrypted")
            else:
                yield from _message_pages(attachment.message, inner, key, options, budget)
            continue
        yield from _attachment_pages(attachment, inner, key, options, budget)


def _attachment_pages(
    attachment: Attachment, path: tuple[str, ...], key: str, options: ParseOptions, budget: _Budget
) -> Iterator[PageText]:
    assert attachment.load is not None
    try:
        data = attachment.load()
    except CorruptDocumentError as e:
        yield _note(path, f"{attachment.name}: not read ({e.reason}): {e}")
        return
    where = f"{key}: attachment {attachment.name!r}"
    if len(data) > options.max_document_bytes:  # the estimate before decoding was a bound, not a size
        raise DocumentTooLargeError(
            f"{where} decodes to {len(data)} bytes; the limit is {options.max_document_bytes}"
        )
    inflated = _declared_inflated_size(data)
    if inflated > budget.inflated:
        raise DocumentTooLargeError(
            f"{where} inflates to {inflated} bytes, past what is left of the message's "
            f"{options.max_inflated_bytes} (MAX_INFLATED_BYTES)"
        )
    budget.inflated -= inflated
    first = True
    try:
        with budget.open(
            data,
            attachment.name,
            replace(
                options, max_inflated_bytes=max(budget.inflated + inflated, 0), ocr_max_pages=budget.ocr_pages
            ),
        ) as document:
            try:
                for page in document.pages():
                    opening = (Section(0, path),) if first else ()
                    first = False
                    yield replace(page, sections=opening + _under(path, page.sections))
            finally:
                budget.ocr_pages -= document.ocr_pages
    except DocumentTooLargeError as e:
        raise DocumentTooLargeError(f"{where}: {e}") from e
    except PermanentError as e:
        # Not the message's fault: the attachment is named, with the reason, and the rest is read.
        reason = str(e).removeprefix(f"{attachment.name}: ")  # its parser names it first; the page does
        yield _note(path if first else (), f"{attachment.name}: not read ({e.reason}): {reason}")
        return
    if first:
        yield _note(path, f"{attachment.name}: no text")


def _note(path: tuple[str, ...], text: str) -> PageText:
    return PageText(1, text, sections=(Section(0, path),) if path else ())


def _under(path: tuple[str, ...], sections: tuple[Section, ...]) -> tuple[Section, ...]:
    return tuple(Section(s.offset, (*path, *s.path)) for s in sections) if path else sections


def _declared_inflated_size(data: bytes) -> int:
    """What a zip attachment's members declare they inflate to (zipsafe checks they do not lie)."""
    if not data.startswith(b"PK\x03\x04"):
        return 0
    import io
    import zipfile

    from docpipe.parsers.zipsafe import check_entry_count

    check_entry_count(data, "the attachment")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError, EOFError):
        return 0  # unreadable: its parser says corrupt


# -- .eml ---------------------------------------------------------------------------------------


def read_eml(message: EmailMessage, limits: Limits, *, depth: int) -> Mail:
    """A parsed message (``email.policy.default``) as a ``Mail``; nested messages count against ``limits``."""
    limits.enter(depth)
    headers = eml_headers(message)
    if _encrypted(message):
        return Mail(headers, PageText(1, ""), encrypted=True)
    body_part = message.get_body(preferencelist=("plain", "html"))
    if body_part is not None:
        body = _body_text(body_part)
    elif isinstance(message.get_payload(), str) and message.get_content_maintype() != "application":
        # A multipart without its boundary (the parser keeps the text as it came) or a text/* the
        # body search skips (text/enriched, text/x-*): its text is still the message's.
        body = PageText(1, _decoded_text(message))
    else:
        body = PageText(1, "")
    attachments: list[Attachment] = []
    for number, (part, inline) in enumerate(_attachment_parts(message, body_part), 1):
        name = _part_name(part, number)
        if inline:
            limits.count()
            attachments.append(Attachment(name, inline=True))
            continue
        if part.get_content_type() == "message/rfc822" and part.is_multipart():
            nested = part.get_payload(0)
            limits.count()  # before it is read: a chain of messages is counted as it is entered
            attachments.append(Attachment(name, message=read_eml(nested, limits, depth=depth + 1)))
            continue
        attachments.append(limits.add(Attachment(name, _encoded_size(part), _loader(part, limits.key, name))))
    return Mail(headers, with_header_block(headers, body, attachments), attachments)


def eml_headers(message: Any) -> dict[str, str]:
    """The ``HEADER_KEYS`` a message has, as metadata values (``date`` in ISO 8601, UTC)."""
    headers: dict[str, str] = {}
    for name, field_name in (
        ("from", "from"),
        ("to", "to"),
        ("cc", "cc"),
        ("subject", "subject"),
        ("message_id", "message-id"),
    ):
        value = _header(message, field_name)
        if value:
            headers[name] = value
    date = _header(message, "date")
    if date:
        headers["date"] = iso_date(date)
    return headers


def iso_date(value: str) -> str:
    """An RFC 822 date as ISO 8601 in UTC (``2024-03-01T09:30:00Z``); the text as given if unreadable."""
    from email.utils import parsedate_to_datetime

    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return value.strip()
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def filetime_iso(value: int) -> str | None:
    """A Windows FILETIME (100 ns since 1601) as ISO 8601 UTC; None for 0 or out of range."""
    if value <= 0:
        return None
    try:
        moment = datetime(1601, 1, 1, tzinfo=UTC).timestamp() + value / 10_000_000
        return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def _header(message: Any, name: str) -> str:
    try:
        values = message.get_all(name) or []
        return ", ".join(str(value) for value in values).strip()
    except STDLIB_PARSE_ERRORS:  # a header the policy cannot parse: its text as it came
        raw = [value for field, value in message.raw_items() if field.lower() == name]
        return " ".join(", ".join(str(value) for value in raw).split())


def _encrypted(message: Any) -> bool:
    content_type = message.get_content_type()
    if content_type == "multipart/encrypted":
        return True  # PGP/MIME (RFC 3156)
    if content_type in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        smime = str(message.get_param("smime-type", "") or "").lower()
        return smime in _ENCRYPTED_SMIME or (not smime and str(message.get_filename() or "").endswith(".p7m"))
    return False


def _decoded_text(part: Any) -> str:
    from docpipe.parsers.text import decode_text

    try:
        return clean_text(str(part.get_content()))
    except (*STDLIB_PARSE_ERRORS, UnicodeError):
        payload = part.get_payload(decode=True)
        return decode_text(payload if isinstance(payload, bytes) else b"")


def _body_text(part: Any) -> PageText:
    from docpipe.parsers.html import parse_html
    from docpipe.parsers.text import decode_text

    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError):  # an unknown or lying charset
        content = decode_text(part.get_payload(decode=True) or b"")
    if part.get_content_subtype() == "html":
        return parse_html(content)
    return PageText(1, clean_text(str(content)))


def _attachment_parts(message: Any, body: Any) -> Iterator[tuple[Any, bool]]:
    """The message's parts other than its body, in order, each with whether it is an inline image.

    Parts of a nested multipart each count. An inline image is an image inside a multipart/related
    with a Content-ID or an inline disposition (the HTML body's own pictures): the standard
    library hides those of a body nested in multipart/mixed and shows those of a top-level
    multipart/related, so both are found here, the same way.
    """
    if not message.is_multipart():
        return
    if message.get_content_type() == "message/rfc822":
        yield message, False  # the whole message is a forwarded one: that is its attachment
        return
    seen: set[int] = set()
    stack = [(part, message) for part in reversed(list(message.iter_attachments()))]
    while stack:
        part, parent = stack.pop()
        if part is body:
            continue
        if part.get_content_maintype() == "multipart":
            if part.get_content_subtype() == "alternative":
                best = part.get_body(preferencelist=("plain", "html"))
                stack.extend([(best, part)] if best is not None else [])
            else:
                stack.extend((child, part) for child in reversed(list(part.iter_parts())))
            continue
        seen.add(id(part))
        yield part, _inline_image(part, parent)
    for part, parent in _related_parts(message):
        if id(part) not in seen and part is not body and _inline_image(part, parent):
            yield part, True


def _related_parts(message: Any) -> Iterator[tuple[Any, Any]]:
    """Every leaf of the message's own MIME tree with its parent (not inside attached messages)."""
    stack = [message]
    while stack:
        node = stack.pop()
        if node.get_content_maintype() != "multipart":
            continue
        for child in node.iter_parts():
            if child.get_content_maintype() == "multipart":
                stack.append(child)
            else:
                yield child, node


def _inline_image(part: Any, parent: Any) -> bool:
    return (
        part.get_content_maintype() == "image"
        and parent.get_content_type() == "multipart/related"
        and (bool(part.get("content-id")) or part.get_content_disposition() == "inline")
    )


def _part_name(part: Any, number: int) -> str:
    try:
        name = part.get_filename()
    except (ValueError, TypeError, LookupError):
        name = None
    if name:
        return str(name).replace("/", "_").replace("\\", "_").strip() or f"part-{number}"
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        subject = _header(part.get_payload(0), "subject") if part.is_multipart() else ""
        return f"{subject or f'message-{number}'}.eml".replace("/", "_")
    textual = part.get_content_maintype() in ("text", "message") and content_type != "text/html"
    extension = ".txt" if textual else None  # message/delivery-status and the like are text too
    extension = extension or mimetypes.guess_extension(content_type) or ""
    return f"part-{number}{extension}"


def _encoded_size(part: Any) -> int:
    payload = part.get_payload()
    size = len(payload) if isinstance(payload, str | bytes) else 0
    if str(part.get("content-transfer-encoding", "")).strip().lower() == "base64":
        return size * 3 // 4  # a bound: line breaks and padding decode to nothing
    return size


def _loader(part: Any, key: str, name: str) -> Callable[[], bytes]:
    def load() -> bytes:
        try:
            return _decoded(part)
        except STDLIB_PARSE_ERRORS as e:
            raise CorruptDocumentError(
                f"{key}: attachment {name!r} cannot be decoded ({type(e).__name__}: {e})"
            ) from e

    return load


def _decoded(part: Any) -> bytes:
    if part.get_content_maintype() == "text" and part.get_content_subtype() not in ("html", "xml"):
        try:
            # Decoded with its declared charset, so the text parser need not guess it.
            return str(part.get_content()).encode("utf-8")
        except (LookupError, UnicodeError, ValueError, AssertionError):
            pass
    payload = part.get_payload()
    if isinstance(payload, list):  # message/delivery-status: blocks of fields, as written
        return "\n\n".join(block.as_string() for block in payload).encode("utf-8", errors="replace")
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def with_header_block(headers: dict[str, str], body: PageText, attachments: list[Attachment]) -> PageText:
    """The message's page: its headers and the attachments' names, then its body (offsets shifted)."""
    lines = [
        f"{label}: {headers[name]}"
        for label, name in (
            ("Subject", "subject"),
            ("From", "from"),
            ("To", "to"),
            ("Cc", "cc"),
            ("Date", "date"),
        )
        if headers.get(name)
    ]
    files = [a.name for a in attachments if not a.inline]
    inline = [a.name for a in attachments if a.inline]
    if files:
        lines.append("Attachments: " + ", ".join(files))
    if inline:
        lines.append("Inline images (part of the body, not read): " + ", ".join(inline))
    block = "\n".join(lines)
    if not block:
        return body
    shift = len(block) + 2
    text = f"{block}\n\n{body.text}" if body.text else block
    return replace(body, text=text, sections=tuple(Section(s.offset + shift, s.path) for s in body.sections))
