"""LangChain loaders over S3 (moto), parsing with docpipe's parsers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from langchain_core.documents import Document
from moto import mock_aws

from docpipe.exceptions import EncryptedDocumentError, OutOfScopeError, UnsupportedTypeError
from docpipe.loaders import S3DirectoryLoader, S3FileLoader
from docpipe.s3 import S3Client
from docpipe.scope import Scope

BUCKET = "notebook-docs"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put(s3: Any, key: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def test_file_loader_yields_one_document_per_pdf_page(s3: Any, pdf_corpus: Path) -> None:
    put(s3, "papers/four pages.pdf", (pdf_corpus / "pdflatex-4-pages.pdf").read_bytes())

    docs = list(S3FileLoader(BUCKET, "papers/four pages.pdf", s3=S3Client(s3)).lazy_load())

    assert [d.metadata["page"] for d in docs] == [1, 2, 3, 4]
    assert all(isinstance(d, Document) and d.page_content for d in docs)
    assert docs[0].metadata["source"] == f"s3://{BUCKET}/papers/four pages.pdf"
    assert docs[0].metadata["total_pages"] == 4


def test_file_loader_works_with_the_default_client_and_load(s3: Any) -> None:
    put(s3, "notes.md", b"# Notes\n\nSome text.")

    docs = S3FileLoader(BUCKET, "notes.md").load()

    assert len(docs) == 1 and docs[0].page_content.startswith("# Notes")
    assert docs[0].metadata["content_type"] == "text/markdown"


def test_file_loader_is_lazy(s3: Any) -> None:
    loader = S3FileLoader(BUCKET, "does-not-exist-yet.txt", s3=S3Client(s3))
    iterator = loader.lazy_load()  # nothing downloaded yet
    put(s3, "does-not-exist-yet.txt", b"created after the loader")

    assert next(iterator).page_content == "created after the loader"


def test_file_loader_raises_for_an_encrypted_pdf_without_password(s3: Any, pdf_corpus: Path) -> None:
    put(s3, "locked.pdf", (pdf_corpus / "libreoffice-writer-password.pdf").read_bytes())

    with pytest.raises(EncryptedDocumentError):
        S3FileLoader(BUCKET, "locked.pdf", s3=S3Client(s3)).load()


def test_file_loader_opens_an_encrypted_pdf_with_its_password(s3: Any, pdf_corpus: Path) -> None:
    put(s3, "locked.pdf", (pdf_corpus / "libreoffice-writer-password.pdf").read_bytes())

    docs = S3FileLoader(BUCKET, "locked.pdf", s3=S3Client(s3), password="openpassword").load()

    assert "Lorem ipsum" in docs[0].page_content


def test_directory_loader_loads_matching_files_and_skips_unusable_ones(
    s3: Any, pdf_corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a prefix with a PDF, a text file, an image, an encrypted PDF, a sidecar and a neighbour
    put(s3, "team/a.pdf", (pdf_corpus / "minimal-document.pdf").read_bytes())
    put(s3, "team/sub/b.txt", b"plain text in a subfolder")
    put(s3, "team/logo.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 32)  # images but PNG/JPEG/TIFF
    put(s3, "team/locked.pdf", (pdf_corpus / "libreoffice-writer-password.pdf").read_bytes())
    put(s3, "team/a.pdf.metadata.json", b'{"metadataAttributes": {"team": "x"}}')
    put(s3, "other/c.txt", b"outside the prefix")
    loader = S3DirectoryLoader(BUCKET, prefix="team/", s3=S3Client(s3))
    caplog.set_level(logging.WARNING, logger="docpipe.loaders")

    # When everything is loaded
    docs = loader.load()

    # Then the usable files come back, the others are reported, nothing outside the prefix
    assert sorted(d.metadata["key"] for d in docs) == ["team/a.pdf", "team/sub/b.txt"]
    assert sorted(loader.skipped) == [
        ("team/locked.pdf", "encrypted"),
        ("team/logo.webp", "unsupported_type"),
    ]
    assert "team/logo.webp" in caplog.text and "unsupported_type" in caplog.text


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("**/*", ["a.txt", "deep/er/c.txt", "sub/b.md"]),
        ("*.txt", ["a.txt"]),
        ("**/*.txt", ["a.txt", "deep/er/c.txt"]),
        ("sub/*", ["sub/b.md"]),
    ],
)
def test_directory_loader_glob_follows_pathlib_rules(s3: Any, glob: str, expected: list[str]) -> None:
    for key in ("root/a.txt", "root/sub/b.md", "root/deep/er/c.txt"):
        put(s3, key, key.encode())

    docs = S3DirectoryLoader(BUCKET, prefix="root/", glob=glob, s3=S3Client(s3)).load()

    assert sorted(d.metadata["key"].removeprefix("root/") for d in docs) == expected


def test_directory_loader_is_lazy_per_file(s3: Any) -> None:
    for i in range(3):
        put(s3, f"many/{i}.txt", f"file {i}".encode())
    calls: list[str] = []

    class CountingS3(S3Client):
        def download(self, bucket: str, key: str, **kwargs: Any) -> Any:
            calls.append(key)
            return super().download(bucket, key, **kwargs)

    first = next(S3DirectoryLoader(BUCKET, prefix="many/", s3=CountingS3(s3)).lazy_load())

    assert first.page_content == "file 0"
    assert calls == ["many/0.txt"]


def test_single_file_loader_does_not_swallow_unsupported_types(s3: Any) -> None:
    put(s3, "x.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ")

    with pytest.raises(UnsupportedTypeError):
        S3FileLoader(BUCKET, "x.webp", s3=S3Client(s3)).load()


def test_loaders_ocr_scans_with_the_engine_given_and_skip_them_as_needs_ocr_without(s3: Any) -> None:
    from tests.scans import image_only_pdf, render
    from tests.unit.test_ocr import RecordingEngine

    scan = image_only_pdf([render("crazyones-pdfa.pdf", 0, dpi=60)], dpi=60)
    s3.put_object(Bucket=BUCKET, Key="scans/a.pdf", Body=scan)
    engine = RecordingEngine()

    [page] = S3FileLoader(BUCKET, "scans/a.pdf", ocr=engine).load()
    without = S3DirectoryLoader(BUCKET, "scans/")
    assert list(without.lazy_load()) == []

    assert page.metadata["ocr"] is True and page.page_content.startswith("recognised")
    assert without.skipped == [("scans/a.pdf", "needs_ocr")]


def test_file_loader_refuses_a_key_outside_its_scope_before_downloading(s3: Any) -> None:
    # docs/notes.txt does not exist: a download would raise NotFoundError instead.
    loader = S3FileLoader(BUCKET, "docs/notes.txt", s3=S3Client(s3), scope=Scope("docs/", ".pdf"))

    with pytest.raises(OutOfScopeError) as refused:
        loader.load()

    assert refused.value.reason == "outside_suffix"


def test_file_loader_takes_the_scope_from_the_environment_and_an_argument_beats_it(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(s3, "docs/notes.txt", b"plain notes")
    monkeypatch.setenv("DOCUMENT_SUFFIX", ".pdf")

    with pytest.raises(OutOfScopeError):
        S3FileLoader(BUCKET, "docs/notes.txt", s3=S3Client(s3)).load()
    docs = S3FileLoader(BUCKET, "docs/notes.txt", s3=S3Client(s3), scope=Scope()).load()

    assert docs[0].page_content == "plain notes"


def test_directory_loader_skips_files_outside_its_scope_with_their_reason(s3: Any, pdf_corpus: Path) -> None:
    put(s3, "docs/a.pdf", (pdf_corpus / "minimal-document.pdf").read_bytes())
    put(s3, "docs/b.txt", b"plain text the scope leaves out")
    put(s3, "docs/a.pdf.metadata.json", b'{"metadataAttributes": {"team": "x"}}')
    put(s3, "docs/empty-folder/", b"")
    loader = S3DirectoryLoader(BUCKET, prefix="docs/", s3=S3Client(s3), scope=Scope(suffix=".pdf"))

    docs = loader.load()

    assert {d.metadata["key"] for d in docs} == {"docs/a.pdf"}
    assert loader.skipped == [("docs/b.txt", "outside_suffix")]
