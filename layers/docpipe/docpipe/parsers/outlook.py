"""Outlook ``.msg`` ([MS-OXMSG]) read with olefile: headers, body and attachments as a ``mail.Mail``.

A ``.msg`` is a compound file whose properties are streams named ``__substg1.0_<id><type>``
(strings, binaries) plus one ``__properties_version1.0`` stream of fixed-size values (dates,
numbers); each attachment is a storage ``__attach_version1.0_#<n>`` of the same kind, and an
attached message is a storage inside it laid out like the whole file. Only what docpipe indexes
is read: the transport headers (when the message came from the Internet they hold From, To, Cc,
Date and Message-ID as sent), else the sender and recipient properties; the plain-text body, else
the HTML body, else the compressed-RTF body (decompressed here, read by the RTF parser); the
attachments' names, sizes and bytes (read only when their page is reached).
Why not extract-msg: with its dependencies (RTFDE, oletools, msoffcrypto-tool, cryptography) it
adds about 30 MiB to the layer, which has about 2 MiB left under ``make size-check``'s budget;
olefile alone is about 0.5 MiB (docs/formats.md has the measurement).
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from typing import Any

from docpipe.exceptions import CorruptDocumentError, DocumentTooLargeError
from docpipe.parsers.base import MSG, OpenedDocument, Opener, PageText, ParseOptions, clean_text
from docpipe.parsers.mail import (
    STDLIB_PARSE_ERRORS,
    Attachment,
    Limits,
    Mail,
    eml_headers,
    filetime_iso,
    mail_document,
    read_eml,
    with_header_block,
)
from docpipe.parsers.olesafe import check_sector_chains, open_ole

# Property ids ([MS-OXPROPS]).
_SUBJECT = 0x0037
_TRANSPORT_HEADERS = 0x007D
_MESSAGE_CLASS = 0x001A
_SENT_REPRESENTING_NAME = 0x0042
_SENT_REPRESENTING_SMTP = 0x5D02
_SENDER_NAME = 0x0C1A
_SENDER_EMAIL = 0x0C1F
_SENDER_SMTP = 0x5D01
_DISPLAY_TO = 0x0E04
_DISPLAY_CC = 0x0E03
_CLIENT_SUBMIT_TIME = 0x0039
_DELIVERY_TIME = 0x0E06
_MESSAGE_ID = 0x1035
_BODY = 0x1000
_HTML = 0x1013
_RTF_COMPRESSED = 0x1009
_CODEPAGE = 0x3FFD
_INTERNET_CPID = 0x3FDE
_RECIPIENT_TYPE = 0x0C15
_DISPLAY_NAME = 0x3001
_EMAIL_ADDRESS = 0x3003
_SMTP_ADDRESS = 0x39FE
_ATTACH_DATA = 0x3701
_ATTACH_FILENAME = 0x3704
_ATTACH_LONG_FILENAME = 0x3707
_ATTACH_METHOD = 0x3705
_ATTACH_MIME_TAG = 0x370E
_ATTACH_CONTENT_ID = 0x3712
_ATTACHMENT_HIDDEN = 0x7FFE
_EMBEDDED_MESSAGE = 5  # afEmbeddedMessage
# Property types.
_UNICODE = 0x001F
_STRING8 = 0x001E
_BINARY = 0x0102
_OBJECT = 0x000D
_LONG = 0x0003
_BOOLEAN = 0x000B
_SYSTIME = 0x0040
_PROPERTIES = "__PROPERTIES_VERSION1.0"
_ATTACH_PREFIX = "__ATTACH_VERSION1.0_#"
_RECIP_PREFIX = "__RECIP_VERSION1.0_#"
_CODEPAGES = {65001: "utf-8", 20127: "ascii", 1200: "utf-16-le", 50220: "iso2022_jp", 51932: "euc_jp"}
_KIND = "Outlook message"
# [MS-OXRTFCP]: the dictionary of compressed RTF starts with these 207 bytes.
_RTF_PREFIX = (
    b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern "
    b"\\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0"
    b"\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
)
_LZFU = 0x75465A4C
_MELA = 0x414C454D  # stored without compression


def open_msg(data: bytes, key: str, options: ParseOptions, *, open_attachment: Opener) -> OpenedDocument:
    """Open a ``.msg``; ``open_attachment`` opens each attachment (see ``mail.open_eml``)."""
    limits = Limits(key, options)
    mail, close = read_outlook(data, key, limits)
    try:
        return mail_document(MSG, mail, key, options, limits, open_attachment, close)
    except BaseException:
        close()
        raise


def read_outlook(data: bytes, key: str, limits: Limits) -> tuple[Mail, Callable[[], None]]:
    """The message in ``data`` and the function that closes the compound file once its pages are read.

    Raises:
        CorruptDocumentError: not a compound file, or one that is not an Outlook message.
        DocumentTooLargeError: its streams declare more than ``max_inflated_bytes``; or a limit
            of ``limits`` (nesting, attachments, sizes).
    """
    ole = open_ole(data, key, kind=_KIND, limit=limits.options.max_inflated_bytes)
    try:
        check_sector_chains(ole, key, kind=_KIND)  # a chain that loops back is corrupt, not re-read
        reader = _Reader(ole, limits.options.max_document_bytes)
        if not reader.is_message(()):
            raise CorruptDocumentError(f"{key}: an OLE compound file that is not an Outlook message")
        return reader.message((), limits, depth=1), ole.close
    except CorruptDocumentError:
        ole.close()
        raise
    except (OSError, struct.error, *STDLIB_PARSE_ERRORS) as e:  # olefile's, and email's on its MIME
        ole.close()
        raise CorruptDocumentError(f"{key}: not a readable {_KIND} ({type(e).__name__}: {e})") from e
    except BaseException:
        ole.close()
        raise


class _Reader:
    """Reads property streams of the storages of one open compound file."""

    def __init__(self, ole: Any, limit: int) -> None:
        self._ole = ole
        self._limit = limit  # what a body may decompress to (MAX_DOCUMENT_BYTES)
        self._children: dict[tuple[str, ...], dict[str, list[str]]] = {}
        for path in ole.listdir(streams=True, storages=True):
            upper = tuple(name.upper() for name in path)
            self._children.setdefault(upper[:-1], {})[upper[-1]] = path

    def is_message(self, storage: tuple[str, ...]) -> bool:
        names = self._children.get(storage, {})
        return _PROPERTIES in names and any(name.startswith("__SUBSTG1.0_") for name in names)

    def message(self, storage: tuple[str, ...], limits: Limits, *, depth: int) -> Mail:
        limits.enter(depth)
        fixed = self._fixed(storage, header=32 if not storage else 24)
        codepage = _codec(fixed.get(_INTERNET_CPID) or fixed.get(_CODEPAGE))

        def text(prop: int) -> str:
            return self.string(storage, prop, codepage)

        headers = self._headers(storage, text, fixed)
        message_class = text(_MESSAGE_CLASS).lower()
        if message_class == "ipm.note.smime":
            return Mail(headers, PageText(1, ""), encrypted=True)
        if message_class.startswith("ipm.note.smime.multipartsigned"):
            signed = self._signed_content(storage, limits, depth)
            if signed is not None:
                return Mail(
                    headers, with_header_block(headers, signed.body, signed.attachments), signed.attachments
                )
        body = self._body(storage, text, codepage)
        attachments = [
            self._attachment(path, limits, depth) for path in self._storages(storage, _ATTACH_PREFIX)
        ]
        return Mail(headers, with_header_block(headers, body, attachments), attachments)

    def _headers(
        self, storage: tuple[str, ...], text: Callable[[int], str], fixed: dict[int, int]
    ) -> dict[str, str]:
        headers: dict[str, str] = {}
        transport = text(_TRANSPORT_HEADERS)
        if transport.strip():
            import email.parser
            import email.policy

            parsed = email.parser.HeaderParser(policy=email.policy.default).parsestr(transport)
            headers = {name: value for name, value in eml_headers(parsed).items() if value}
        headers.setdefault("subject", text(_SUBJECT))
        name = text(_SENT_REPRESENTING_NAME) or text(_SENDER_NAME)
        address = text(_SENT_REPRESENTING_SMTP) or text(_SENDER_SMTP) or _smtp(text(_SENDER_EMAIL))
        headers.setdefault("from", _address(name, address))
        to, cc = self._recipients(storage)
        headers.setdefault("to", to or text(_DISPLAY_TO))
        headers.setdefault("cc", cc or text(_DISPLAY_CC))
        date = filetime_iso(fixed.get(_CLIENT_SUBMIT_TIME, 0)) or filetime_iso(fixed.get(_DELIVERY_TIME, 0))
        headers.setdefault("date", date or "")
        headers.setdefault("message_id", text(_MESSAGE_ID))
        return {name: value.strip() for name, value in headers.items() if value and value.strip()}

    def _recipients(self, storage: tuple[str, ...]) -> tuple[str, str]:
        kinds: dict[int, list[str]] = {1: [], 2: []}  # MAPI_TO, MAPI_CC (MAPI_BCC is not shown)
        for path in self._storages(storage, _RECIP_PREFIX):
            fixed = self._fixed(path, header=8)
            kind = fixed.get(_RECIPIENT_TYPE, 0) & 0x0F
            if kind in kinds:
                address = self.string(path, _SMTP_ADDRESS) or _smtp(self.string(path, _EMAIL_ADDRESS))
                kinds[kind].append(_address(self.string(path, _DISPLAY_NAME), address))
        return ", ".join(filter(None, kinds[1])), ", ".join(filter(None, kinds[2]))

    def _body(self, storage: tuple[str, ...], text: Callable[[int], str], codepage: str) -> PageText:
        plain = text(_BODY)
        if plain.strip():
            return PageText(1, clean_text(plain))
        html = self.binary(storage, _HTML)
        if html is None:
            html_text = text(_HTML)
            html = html_text.encode("utf-8") if html_text else None
        if html:
            from docpipe.parsers.html import parse_html

            return parse_html(html)
        rtf = self.binary(storage, _RTF_COMPRESSED)
        if rtf is not None:  # a message saved in rich text only (older Outlook, some Exchange stores)
            from docpipe.parsers.rtf import rtf_text

            return PageText(
                1, clean_text(rtf_text(decompress_rtf(rtf, limit=self._limit), key="the RTF body"))
            )
        return PageText(1, "")

    def _attachment(self, storage: tuple[str, ...], limits: Limits, depth: int) -> Attachment:
        fixed = self._fixed(storage, header=8)
        name = (
            (
                self.string(storage, _ATTACH_LONG_FILENAME)
                or self.string(storage, _ATTACH_FILENAME)
                or self.string(storage, _DISPLAY_NAME)
                or f"attachment-{storage[-1][-8:]}"
            )
            .replace("/", "_")
            .replace("\\", "_")
        )
        embedded = (*storage, f"__SUBSTG1.0_{_ATTACH_DATA:04X}{_OBJECT:04X}")
        if fixed.get(_ATTACH_METHOD) == _EMBEDDED_MESSAGE and self.is_message(embedded):
            limits.count()
            return Attachment(name, message=self.message(embedded, limits, depth=depth + 1))
        mime = self.string(storage, _ATTACH_MIME_TAG).lower()
        if (
            fixed.get(_ATTACHMENT_HIDDEN)
            and self.string(storage, _ATTACH_CONTENT_ID)
            and mime.startswith("image/")
        ):
            limits.count()  # a picture the HTML body shows (see parsers/mail.py)
            return Attachment(name, inline=True)
        path = self._stream(storage, _ATTACH_DATA, _BINARY)
        if path is None:  # an OLE object or a link: no file bytes to read
            return limits.add(Attachment(name, 0, lambda: b""))
        size = int(self._ole.get_size(path))
        key = limits.key

        def load() -> bytes:
            try:
                return bytes(self._ole.openstream(path).read())
            # Read when its page is reached: a broken sector chain there breaks the whole file.
            except Exception as e:  # noqa: BLE001 - olefile's errors (OleFileError, OSError, IndexError, ...)
                raise CorruptDocumentError(
                    f"{key}: attachment {name!r} cannot be read from the compound file ({type(e).__name__})"
                ) from e

        return limits.add(Attachment(name, size, load))

    def _signed_content(self, storage: tuple[str, ...], limits: Limits, depth: int) -> Mail | None:
        """A clear-signed message keeps its MIME (multipart/signed) in its one attachment."""
        import email
        import email.policy

        for path in self._storages(storage, _ATTACH_PREFIX):
            stream = self._stream(path, _ATTACH_DATA, _BINARY)
            if stream is not None:
                message = email.message_from_bytes(
                    self._ole.openstream(stream).read(), policy=email.policy.default
                )
                return read_eml(message, limits, depth=depth)
        return None

    def _storages(self, storage: tuple[str, ...], prefix: str) -> list[tuple[str, ...]]:
        names = self._children.get(storage, {})
        return [(*storage, name) for name in sorted(names) if name.startswith(prefix)]

    def _stream(self, storage: tuple[str, ...], prop: int, kind: int) -> list[str] | None:
        path = self._children.get(storage, {}).get(f"__SUBSTG1.0_{prop:04X}{kind:04X}")
        if path is None or self._ole.get_type(path) != 2:  # STGTY_STREAM
            return None
        return path

    def string(self, storage: tuple[str, ...], prop: int, codepage: str = "cp1252") -> str:
        """A string property (Unicode, else 8-bit in ``codepage``); empty when absent."""
        path = self._stream(storage, prop, _UNICODE)
        if path is not None:
            return str(self._ole.openstream(path).read().decode("utf-16-le", errors="replace")).rstrip("\x00")
        path = self._stream(storage, prop, _STRING8)
        if path is not None:
            return str(self._ole.openstream(path).read().decode(codepage, errors="replace")).rstrip("\x00")
        return ""

    def binary(self, storage: tuple[str, ...], prop: int) -> bytes | None:
        path = self._stream(storage, prop, _BINARY)
        return bytes(self._ole.openstream(path).read()) if path is not None else None

    def _fixed(self, storage: tuple[str, ...], *, header: int) -> dict[int, int]:
        """The fixed-size properties of a storage: id -> the value's 8 bytes as an integer."""
        path = self._children.get(storage, {}).get(_PROPERTIES)
        if path is None:
            return {}
        data = self._ole.openstream(path).read()
        values: dict[int, int] = {}
        for at in range(header, len(data) - 15, 16):
            kind, prop, _flags, value = struct.unpack_from("<HHIQ", data, at)
            if kind == _LONG:
                values[prop] = value & 0xFFFFFFFF
            elif kind == _BOOLEAN:
                values[prop] = value & 0xFF
            elif kind == _SYSTIME:
                values[prop] = value
        return values


def decompress_rtf(data: bytes, *, limit: int) -> bytes:
    """A compressed-RTF property ([MS-OXRTFCP] LZFu, or stored as is) as RTF bytes.

    Raises:
        DocumentTooLargeError: it declares or decompresses to more than ``limit`` bytes.
        CorruptDocumentError: not compressed RTF.
    """
    if len(data) < 16:
        raise CorruptDocumentError("the compressed RTF body is shorter than its header")
    compressed_size, raw_size, kind, _crc = struct.unpack_from("<IIII", data)
    if raw_size > limit:
        raise DocumentTooLargeError(f"the RTF body declares {raw_size} bytes; the limit is {limit}")
    if kind == _MELA:
        return data[16 : 16 + raw_size]
    if kind != _LZFU:
        raise CorruptDocumentError(f"the RTF body's compression {kind:#x} is neither LZFu nor stored")
    window = bytearray(_RTF_PREFIX.ljust(4096, b" "))
    write = len(_RTF_PREFIX)
    out = bytearray()
    at, end = 16, min(len(data), 4 + compressed_size)
    while at < end:
        control = data[at]
        at += 1
        for bit in range(8):
            if at >= end:
                break
            if control & (1 << bit):  # a reference into the window: 12-bit offset, 4-bit length
                if at + 1 >= end:
                    raise CorruptDocumentError("the compressed RTF body ends inside a reference")
                word = (data[at] << 8) | data[at + 1]
                at += 2
                offset, length = word >> 4, (word & 0x0F) + 2
                if offset == write:
                    return bytes(out)  # the end marker
                for i in range(length):
                    byte = window[(offset + i) % 4096]
                    out.append(byte)
                    window[write] = byte
                    write = (write + 1) % 4096
            else:
                out.append(data[at])
                window[write] = data[at]
                write = (write + 1) % 4096
                at += 1
        if len(out) > raw_size:
            raise CorruptDocumentError(
                f"the compressed RTF body inflates past the {raw_size} bytes it declares"
            )
    return bytes(out)


def _codec(codepage: int | None) -> str:
    if not codepage:
        return "cp1252"
    name = _CODEPAGES.get(codepage) or (f"iso8859_{codepage - 28590}" if 28591 <= codepage <= 28606 else None)
    for candidate in (name, f"cp{codepage}"):
        if candidate:
            try:
                return codecs.lookup(candidate).name
            except LookupError:
                continue
    return "cp1252"


def _smtp(address: str) -> str:
    return address if "@" in address else ""  # an Exchange DN (/O=.../CN=...) is no address


def _address(name: str, address: str) -> str:
    name, address = name.strip(), address.strip()
    if name and address and name != address:
        return f"{name} <{address}>"
    return name or address
