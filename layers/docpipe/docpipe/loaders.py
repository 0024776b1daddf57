"""LangChain document loaders over S3 that parse with docpipe's own parsers (one Document per page).

For notebook users: the same text the pipeline indexes, as ``langchain_core`` Documents. Needs
the ``docpipe[langchain]`` extra; nothing else in docpipe imports this module.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING

from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

from docpipe.config import Settings
from docpipe.exceptions import OutOfScopeError, PermanentError
from docpipe.parsers import parse_document
from docpipe.s3 import S3Client
from docpipe.s3_names import s3_uri
from docpipe.scope import NOT_A_DOCUMENT_REASONS, Scope

if TYPE_CHECKING:
    from docpipe.ocr.base import OcrEngine

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


def _scope_or_settings(scope: Scope | None) -> Scope:
    """The scope given, or the one the environment sets (``DOCUMENT_PREFIX``, ``DOCUMENT_SUFFIX``)."""
    return scope if scope is not None else Scope.from_settings(Settings.from_env())


class S3FileLoader(BaseLoader):
    """Load ``s3://bucket/key`` into one Document per page (``metadata``: source, page, ...).

    Pages are numbered from 1, as in the vector metadata docpipe writes (LangChain's
    ``PyPDFLoader`` counts from 0). Errors are raised: a single file that cannot be read is news.
    ``ocr``: an engine for scanned pages and images (``make_ocr_engine``, e.g. rapidocr from the
    ``ocr`` extra); without one such a file is ``NeedsOcrError``. OCR'd pages say ``ocr: True``.
    ``scope``: which keys are documents (``docpipe.scope``; default: the environment's
    ``DOCUMENT_PREFIX`` and ``DOCUMENT_SUFFIX``, the whole bucket when unset); a key outside it
    raises ``OutOfScopeError`` before anything is downloaded, as the pipeline would skip it.
    """

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        s3: S3Client | None = None,
        pdf_engine: str = "pypdfium2",
        password: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ocr: OcrEngine | None = None,
        scope: Scope | None = None,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.s3 = s3
        self.pdf_engine = pdf_engine
        self.password = password
        self.max_bytes = max_bytes
        self.ocr = ocr
        self.scope = _scope_or_settings(scope)

    def lazy_load(self) -> Iterator[Document]:
        """Download, parse and yield the pages one by one.

        Raises:
            PermanentError subclasses (outside the scope, unsupported type, encrypted, corrupt,
            empty, too large) and AWS errors from ``S3Client``.
        """
        not_in_scope = self.scope.reason(self.key, 1)
        if not_in_scope is not None:
            uri = s3_uri(self.bucket, self.key)
            raise OutOfScopeError(f"{uri} is outside the scope {self.scope.as_dict()}", reason=not_in_scope)
        s3 = self.s3 or S3Client()
        with s3.download(self.bucket, self.key, max_bytes=self.max_bytes) as body:
            parsed = parse_document(
                body, key=self.key, pdf_engine=self.pdf_engine, password=self.password, ocr=self.ocr
            )
        source = s3_uri(self.bucket, self.key)
        for page in parsed.pages:
            yield Document(
                page_content=page.text,
                metadata={
                    **page.metadata,  # e.g. a worksheet's "sheet"
                    "source": source,
                    "bucket": self.bucket,
                    "key": self.key,
                    "page": page.number,
                    "total_pages": parsed.page_count,
                    "content_type": parsed.content_type,
                },
            )


class S3DirectoryLoader(BaseLoader):
    """Load every object under ``prefix`` whose path below the prefix matches ``glob``.

    ``glob`` follows pathlib rules: ``*`` stays within one folder, ``**/`` spans any number of
    folders (``"**/*.pdf"`` = every PDF at any depth). Folder markers and sidecars are passed
    over; files outside the ``scope`` (see ``S3FileLoader``) or that docpipe cannot use
    (unsupported, encrypted, corrupt, empty, too large) are logged with their reason and skipped,
    neither downloaded; the list of ``(key, reason)`` is kept in ``skipped``. AWS errors are raised.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        glob: str = "**/*",
        *,
        s3: S3Client | None = None,
        pdf_engine: str = "pypdfium2",
        max_bytes: int = DEFAULT_MAX_BYTES,
        ocr: OcrEngine | None = None,
        scope: Scope | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.glob = glob
        self.s3 = s3
        self.pdf_engine = pdf_engine
        self.max_bytes = max_bytes
        self.ocr = ocr
        self.scope = _scope_or_settings(scope)
        self.skipped: list[tuple[str, str]] = []

    def lazy_load(self) -> Iterator[Document]:
        """List lazily, then load each matching file with ``S3FileLoader``."""
        s3 = self.s3 or S3Client()
        pattern = _glob_regex(self.glob)
        self.skipped = []
        for info in s3.list_objects(self.bucket, self.prefix):
            relative = info.key[len(self.prefix) :].lstrip("/")
            if self.scope.reason(info.key, info.size) in NOT_A_DOCUMENT_REASONS:
                continue  # folder markers and Bedrock-style sidecars are not documents
            if not pattern.match(relative):
                continue
            loader = S3FileLoader(
                self.bucket,
                info.key,
                s3=s3,
                pdf_engine=self.pdf_engine,
                max_bytes=self.max_bytes,
                ocr=self.ocr,
                scope=self.scope,
            )
            try:
                pages = list(loader.lazy_load())
            except PermanentError as e:
                self.skipped.append((info.key, e.reason))
                logger.warning("skipped %s: %s (%s)", s3_uri(self.bucket, info.key), e.reason, e)
                continue
            yield from pages


@cache
def _glob_regex(glob: str) -> re.Pattern[str]:
    """Translate a pathlib-style glob (``*``, ``?``, ``**``) to a regex over ``/``-separated keys."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")
