"""Zip bombs: DOCX, XLSX and PPTX are checked for declared and actual inflated size before parsing."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from docpipe.exceptions import CorruptDocumentError, DocumentTooLargeError
from docpipe.parsers import parse_document
from docpipe.parsers.zipsafe import check_inflated_size
from tests.conftest import ROOT
from tests.office_files import make_docx, make_pptx, make_xlsx, understate_size, zip_bomb_docx

BOMB_INFLATED = 400 * 1024 * 1024


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return zip_bomb_docx(BOMB_INFLATED)


def test_the_bomb_is_small_and_really_inflates_to_400_mb(bomb: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        size = archive.getinfo("word/document.xml").file_size

    assert len(bomb) < 2 * 1024 * 1024 and size >= BOMB_INFLATED


def test_a_docx_bomb_is_too_large_naming_the_member_and_the_setting(bomb: bytes) -> None:
    with pytest.raises(DocumentTooLargeError, match=r"word/document\.xml.*MAX_INFLATED_BYTES") as caught:
        parse_document(bomb, key="bomb.docx")

    assert caught.value.reason == "too_large"


def test_a_docx_bomb_is_refused_with_little_memory(bomb: bytes, tmp_path: Path) -> None:
    # In a fresh interpreter with everything imported and the file read: what parsing adds to the
    # peak RSS (ru_maxrss, a high-water mark). Unchecked, python-docx grew to ~6 GB on this file.
    path = tmp_path / "bomb.docx"
    path.write_bytes(bomb)
    script = f"""
import resource, sys
sys.path[:0] = [{str(ROOT / "layers" / "docpipe")!r}]
import docx
from docpipe.parsers import parse_document
from docpipe.exceptions import DocumentTooLargeError
data = open({str(path)!r}, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    parse_document(data, key="bomb.docx")
    outcome = "parsed"
except DocumentTooLargeError as error:
    outcome = error.reason
print(outcome, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    outcome, grown_kib = result.stdout.split()

    assert outcome == "too_large"
    assert int(grown_kib) < 32 * 1024, f"refusing the bomb grew RSS by {int(grown_kib) // 1024} MiB"


def test_a_member_that_understates_its_size_is_corrupt_without_inflating_it(bomb: bytes) -> None:
    lying = understate_size(bomb, "word/document.xml", 20_000)

    with pytest.raises(CorruptDocumentError, match="document.xml"):
        parse_document(lying, key="liar.docx")


def test_the_actual_inflated_total_counts_against_the_cap() -> None:
    # Many members, each honest and small, that together exceed the cap: declared total catches
    # them; with the declared total understated too, the streamed count does.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(4):
            archive.writestr(f"part{n}.xml", b"x" * 300_000)

    with pytest.raises(DocumentTooLargeError, match="declare"):
        check_inflated_size(out.getvalue(), "many.zip", kind="DOCX", limit=1_000_000)
    check_inflated_size(out.getvalue(), "many.zip", kind="DOCX", limit=1_200_000)


CONTAINERS = {
    "w.xlsx": lambda: make_xlsx({"S": [["a"], ["b" * 5000]]}),
    "d.pptx": lambda: make_pptx([{"title": "T", "body": ["c" * 5000]}]),
    "l.docx": lambda: make_docx([("p", "d" * 5000)]),
}


@pytest.mark.parametrize("key", sorted(CONTAINERS))
def test_every_zip_container_obeys_the_cap(key: str) -> None:
    data = CONTAINERS[key]()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        inflated = sum(info.file_size for info in archive.infolist())

    assert parse_document(data, key=key, max_inflated_bytes=inflated).pages
    with pytest.raises(DocumentTooLargeError):
        parse_document(data, key=key, max_inflated_bytes=inflated - 1)


def test_a_directory_of_too_many_entries_is_refused_before_zipfile_reads_it() -> None:
    from docpipe.parsers.zipsafe import MAX_ZIP_ENTRIES

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("word/document.xml", b"<w:document/>")
        for n in range(MAX_ZIP_ENTRIES):
            archive.writestr(f"{n}", b"")

    with pytest.raises(DocumentTooLargeError, match=f"{MAX_ZIP_ENTRIES + 1} entries"):
        parse_document(out.getvalue(), key="many.docx")


def test_a_member_whose_deflate_stream_is_damaged_is_corrupt_not_a_crash() -> None:
    data = bytearray(make_docx([("p", "a paragraph " * 400)]))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("word/document.xml")
    # Past the local header (30 bytes, the name, the extra field) into the compressed bytes.
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 2
    data[start : start + 8] = b"\xff" * 8

    with pytest.raises(CorruptDocumentError, match="not a readable DOCX archive"):
        parse_document(bytes(data), key="damaged.docx")
