"""S3Client against moto (mock_aws), with botocore's Stubber for errors moto cannot produce."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from docpipe import aws
from docpipe.exceptions import (
    AccessDeniedError,
    AWSError,
    DocumentTooLargeError,
    InvalidInputError,
    NotFoundError,
    PermanentError,
    ThrottledError,
)
from docpipe.s3 import MiB, ObjectInfo, S3Client
from tests.aws_faults import fail_attempts

BUCKET = "docpipe-documents-test"
KEY = "reports/2024 Q1+final ü.pdf"


@pytest.fixture
def s3() -> Iterator[S3Client]:
    """An S3Client on the process-wide client, inside moto, with one versioned bucket."""
    with mock_aws():
        raw = aws.client("s3")
        raw.create_bucket(Bucket=BUCKET)
        raw.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield S3Client()


@pytest.fixture(scope="module")
def twelve_mib() -> bytes:
    """Random bytes over the 8 MiB multipart threshold (random, so gzip cannot shrink them)."""
    return os.urandom(12 * MiB)


class CountingBody:
    """Wraps a response body and counts the bytes the client actually pulled from it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.bytes_read = 0
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        data: bytes = self.inner.read(amt)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self.closed = True
        self.inner.close()


def _spy_on_get_object(client: Any, *, lie_content_length: int | None = None) -> list[CountingBody]:
    """Swap every GetObject body for a CountingBody (optionally lying about ContentLength)."""
    bodies: list[CountingBody] = []

    def wrap(parsed: dict[str, Any], **_: Any) -> None:
        if "Body" in parsed:
            parsed["Body"] = CountingBody(parsed["Body"])
            bodies.append(parsed["Body"])
            if lie_content_length is not None:
                parsed["ContentLength"] = lie_content_length

    client.meta.events.register("after-call.s3.GetObject", wrap)
    return bodies


def _count_calls(client: Any, operation: str) -> list[str]:
    calls: list[str] = []
    client.meta.events.register(f"before-call.s3.{operation}", lambda **_: calls.append(operation))
    return calls


# -- head / exists ---------------------------------------------------------------------------


def test_head_returns_size_unquoted_etag_content_type_version_and_metadata(s3: S3Client) -> None:
    # Given an object with user metadata in a versioned bucket
    body = b"%PDF-1.7 hello"
    put = s3.client.put_object(
        Bucket=BUCKET, Key=KEY, Body=body, ContentType="application/pdf", Metadata={"owner": "ada"}
    )

    # When we head it
    info = s3.head(BUCKET, KEY)

    # Then every field is filled and the ETag has no quotes
    assert info == ObjectInfo(
        bucket=BUCKET,
        key=KEY,
        size=len(body),
        etag=hashlib.md5(body).hexdigest(),
        content_type="application/pdf",
        version_id=put["VersionId"],
        last_modified=info.last_modified,
        metadata={"owner": "ada"},
    )
    assert info.last_modified is not None
    assert info.uri == f"s3://{BUCKET}/{KEY}"


def test_head_of_an_older_version_returns_that_version(s3: S3Client) -> None:
    # Given two versions of one key
    first = s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"one")
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"second")

    # When we head the first version
    info = s3.head(BUCKET, KEY, version_id=first["VersionId"])

    # Then we see its size, not the latest one's
    assert (info.size, info.version_id) == (3, first["VersionId"])


def test_missing_object_raises_not_found_naming_the_uri_from_the_client_error(s3: S3Client) -> None:
    with pytest.raises(NotFoundError, match=rf"s3://{BUCKET}/missing\.pdf") as caught:
        s3.head(BUCKET, "missing.pdf")
    assert isinstance(caught.value.__cause__, ClientError)


def test_downloading_a_missing_object_raises_not_found(s3: S3Client) -> None:
    with pytest.raises(NotFoundError, match="NoSuchKey"):
        s3.download(BUCKET, "missing.pdf", max_bytes=MiB)


def test_missing_bucket_raises_not_found(s3: S3Client) -> None:
    with pytest.raises(NotFoundError, match="NoSuchBucket"):
        s3.download("no-such-bucket", KEY, max_bytes=MiB)


def test_exists_is_true_for_an_object_and_false_after_it_is_deleted(s3: S3Client) -> None:
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"x")
    assert s3.exists(BUCKET, KEY)

    s3.delete(BUCKET, KEY)

    assert not s3.exists(BUCKET, KEY)


# -- download and the size cap ---------------------------------------------------------------


def test_download_returns_a_file_positioned_at_zero_with_the_whole_body(s3: S3Client) -> None:
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"0123456789")

    with s3.download(BUCKET, KEY, max_bytes=10) as spool:
        assert spool.tell() == 0
        assert spool.read() == b"0123456789"


def test_download_with_info_returns_the_get_object_metadata(s3: S3Client) -> None:
    put = s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"abc", ContentType="text/plain")

    info, spool = s3.download_with_info(BUCKET, KEY, max_bytes=100)

    with spool:
        assert spool.read() == b"abc"
    assert (info.size, info.content_type, info.version_id) == (3, "text/plain", put["VersionId"])
    assert info.etag == hashlib.md5(b"abc").hexdigest()


def test_object_over_the_cap_is_refused_from_content_length_before_any_byte_is_read(
    s3: S3Client,
) -> None:
    # Given an object one byte over the cap
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"x" * (MiB + 1))
    bodies = _spy_on_get_object(s3.client)

    # When we download it with the cap
    with pytest.raises(DocumentTooLargeError, match=r"1048577 bytes; the limit is 1048576") as caught:
        s3.download(BUCKET, KEY, max_bytes=MiB)

    # Then it is a permanent skip with reason too_large, and the body was closed unread
    assert isinstance(caught.value, PermanentError)
    assert caught.value.reason == "too_large"
    assert [(b.bytes_read, b.closed) for b in bodies] == [(0, True)]


def test_object_that_lies_about_its_length_is_cut_off_one_byte_past_the_cap(s3: S3Client) -> None:
    # Given a 5 MiB object whose response claims 10 bytes (a lying proxy or a racing overwrite)
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"y" * (5 * MiB))
    bodies = _spy_on_get_object(s3.client, lie_content_length=10)

    # When we download it with a 1 MiB cap
    with pytest.raises(DocumentTooLargeError, match="larger than the limit of 1048576"):
        s3.download(BUCKET, KEY, max_bytes=MiB)

    # Then the stream was read to the cap plus one byte and no further, then closed
    assert [(b.bytes_read, b.closed) for b in bodies] == [(MiB + 1, True)]


def test_object_exactly_at_the_cap_downloads(s3: S3Client) -> None:
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"z" * 4096)

    assert s3.read_bytes(BUCKET, KEY, max_bytes=4096) == b"z" * 4096


def test_empty_object_downloads_as_empty_bytes(s3: S3Client) -> None:
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"")

    assert s3.read_bytes(BUCKET, KEY, max_bytes=1) == b""


# -- errors moto cannot produce: access denied and throttling --------------------------------


def test_access_denied_raises_access_denied_from_the_client_error() -> None:
    client = aws.client("s3")
    with Stubber(client) as stub:
        stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)

        with pytest.raises(
            AccessDeniedError, match=re.escape(f"s3://{BUCKET}/{KEY}: AccessDenied")
        ) as caught:
            S3Client(client).download(BUCKET, KEY, max_bytes=MiB)

    assert isinstance(caught.value.__cause__, ClientError)


def test_access_denied_on_head_is_not_mistaken_for_a_missing_object() -> None:
    client = aws.client("s3")
    with Stubber(client) as stub:
        stub.add_client_error("head_object", service_error_code="403", http_status_code=403)

        with pytest.raises(AccessDeniedError):
            S3Client(client).exists(BUCKET, KEY)


def _throttle_first(client: Any, operation: str, failures: int) -> list[int]:
    """Answer the first ``failures`` HTTP attempts with 503 SlowDown; later ones reach moto."""
    return fail_attempts(client, operation, code="SlowDown", status=503, failures=failures, xml=True)


def test_slow_down_is_retried_by_the_client_and_the_download_succeeds(s3: S3Client) -> None:
    # Given S3 answers the first attempt with 503 SlowDown
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"after the storm")
    attempts = _throttle_first(s3.client, "GetObject", failures=1)

    # When we download
    data = s3.read_bytes(BUCKET, KEY, max_bytes=MiB)

    # Then the client's retry policy tried again and got the object
    assert data == b"after the storm"
    assert len(attempts) == 2


def test_throttling_that_outlasts_the_retries_raises_throttled_error() -> None:
    with mock_aws():
        # Given a client with the house config but two attempts in all
        config = aws.CLIENT_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 2}))
        client = boto3.client("s3", config=config)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=KEY, Body=b"x")
        attempts = _throttle_first(client, "GetObject", failures=10)

        # When every attempt is throttled
        with pytest.raises(ThrottledError, match="SlowDown") as caught:
            S3Client(client).download(BUCKET, KEY, max_bytes=MiB)

    # Then both attempts were made and the error is transient, from the ClientError
    assert len(attempts) == 2
    assert isinstance(caught.value.__cause__, ClientError)


# -- validation before any AWS call ----------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda s3: s3.head("Bad_Bucket", KEY),
        lambda s3: s3.exists(BUCKET, ""),
        lambda s3: s3.download("Bad_Bucket", KEY, max_bytes=1),
        lambda s3: s3.read_bytes(BUCKET, "a\x00b", max_bytes=1),
        lambda s3: s3.upload_stream([b"x"], "ab", KEY),
        lambda s3: s3.upload_stream([b"x"], BUCKET, "k" * 2000),
        lambda s3: s3.list_objects("192.168.0.1"),  # refused at the call, not at the first next()
        lambda s3: s3.delete(BUCKET, ""),
        lambda s3: s3.copy(BUCKET, KEY, "Bad_Bucket", KEY),
    ],
    ids=[
        "head",
        "exists",
        "download",
        "read_bytes",
        "upload_stream bucket",
        "upload_stream key",
        "list",
        "delete",
        "copy",
    ],
)
def test_bad_names_fail_before_any_aws_call(call: Any) -> None:
    # Given a client whose Stubber holds no responses (any AWS call would raise UnStubbedResponseError)
    client = aws.client("s3")
    with Stubber(client) as stub:
        # When a public method gets a bad bucket or key, Then it is refused locally
        with pytest.raises(InvalidInputError):
            call(S3Client(client))
        stub.assert_no_pending_responses()


# -- uploads through the transfer manager ----------------------------------------------------


def test_a_small_part_size_can_be_configured(s3: S3Client) -> None:
    small_parts = S3Client(
        s3.client, transfer_config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    )
    small_parts.upload_stream([b"p" * (11 * MiB)], BUCKET, "three-parts.bin")

    assert small_parts.head(BUCKET, "three-parts.bin").etag.endswith("-3")


def test_upload_to_a_missing_bucket_raises_not_found_from_the_client_error(s3: S3Client) -> None:
    with pytest.raises(NotFoundError, match="s3://no-such-bucket/a.txt: NoSuchBucket") as caught:
        s3.upload_stream([b"a"], "no-such-bucket", "a.txt")

    assert isinstance(caught.value.__cause__, ClientError)


# -- list, copy, delete -------------------------------------------------------------------


def test_list_filters_by_prefix_and_suffix_across_pages(s3: S3Client) -> None:
    # Given 12 PDFs and 8 text files under docs/, and 3 PDFs elsewhere
    for i in range(12):
        s3.client.put_object(Bucket=BUCKET, Key=f"docs/a{i:02}.pdf", Body=b"p" * i)
    for i in range(8):
        s3.client.put_object(Bucket=BUCKET, Key=f"docs/b{i}.txt", Body=b"t")
    for i in range(3):
        s3.client.put_object(Bucket=BUCKET, Key=f"other/c{i}.pdf", Body=b"o")
    calls = _count_calls(s3.client, "ListObjectsV2")

    # When we list docs/*.pdf five keys per page
    found = list(s3.list_objects(BUCKET, prefix="docs/", suffix=".pdf", page_size=5))

    # Then we get exactly the 12 PDFs, with sizes and ETags, after 4 pages
    assert [o.key for o in found] == [f"docs/a{i:02}.pdf" for i in range(12)]
    assert [o.size for o in found] == list(range(12))
    assert found[3].etag == hashlib.md5(b"ppp").hexdigest()
    assert len(calls) == 4


def test_list_of_an_empty_prefix_yields_nothing(s3: S3Client) -> None:
    assert list(s3.list_objects(BUCKET, prefix="nothing/")) == []


def test_list_of_a_missing_bucket_raises_not_found(s3: S3Client) -> None:
    with pytest.raises(NotFoundError):
        list(s3.list_objects("no-such-bucket"))


def test_copy_duplicates_the_object_under_a_new_key(s3: S3Client) -> None:
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"copy me", Metadata={"a": "1"})

    s3.copy(BUCKET, KEY, BUCKET, "copies/copy.pdf")

    assert s3.read_bytes(BUCKET, "copies/copy.pdf", max_bytes=100) == b"copy me"
    assert s3.head(BUCKET, "copies/copy.pdf").metadata == {"a": "1"}


def test_copy_of_a_missing_source_raises_not_found(s3: S3Client) -> None:
    with pytest.raises(NotFoundError, match="copy s3://"):
        s3.copy(BUCKET, "missing", BUCKET, "dst")


# -- streamed uploads, pinned reads, metadata restamps, versions, multipart uploads -----------


def _pieces(total: int, size: int, consumed: list[int] | None = None) -> Iterator[bytes]:
    """``total`` bytes in pieces of ``size`` (the last may be shorter), counting what is taken."""
    sent = 0
    while sent < total:
        piece = os.urandom(min(size, total - sent))
        sent += len(piece)
        if consumed is not None:
            consumed.append(len(piece))
        yield piece


def _own_client() -> Any:
    """A client of its own, so event hooks that inject failures never reach the shared one."""
    return boto3.client("s3", region_name="us-east-1")


def test_upload_stream_uploads_a_generator_in_parts_of_the_given_size(s3: S3Client) -> None:
    # Given 11 MiB produced in uneven pieces (1 MiB + 1 byte) that cannot be sized in advance
    body = b"".join(_pieces(11 * MiB, MiB + 1))

    # When it is streamed with 5 MiB parts
    info = s3.upload_stream(
        iter([body[i : i + MiB + 1] for i in range(0, len(body), MiB + 1)]),
        BUCKET,
        "backups/stream.tar.gz",
        metadata={"docpipe-status": "writing"},
        content_type="application/gzip",
        part_size=5 * MiB,
    )

    # Then S3 assembled exactly three parts, and the returned head names the stored version
    assert info.etag.endswith("-3") and info.size == len(body)
    assert info.version_id == s3.head(BUCKET, "backups/stream.tar.gz").version_id is not None
    assert (info.content_type, info.metadata) == ("application/gzip", {"docpipe-status": "writing"})
    assert s3.read_bytes(BUCKET, "backups/stream.tar.gz", max_bytes=12 * MiB) == body


def test_upload_stream_of_less_than_one_part_is_a_single_put(s3: S3Client) -> None:
    calls = _count_calls(s3.client, "CreateMultipartUpload")

    info = s3.upload_stream(iter([b"small ", b"archive"]), BUCKET, "small.bin")

    assert calls == [] and "-" not in info.etag
    assert s3.read_bytes(BUCKET, "small.bin", max_bytes=100) == b"small archive"


def test_a_producer_failure_aborts_the_upload_and_is_raised_unchanged(s3: S3Client) -> None:
    # Given a producer that fails after two parts' worth of bytes
    def failing() -> Iterator[bytes]:
        yield from _pieces(12 * MiB, MiB)
        raise RuntimeError("producer failed")

    # When it is streamed, Then its own error comes out
    with pytest.raises(RuntimeError, match="producer failed"):
        s3.upload_stream(failing(), BUCKET, "failed.bin", part_size=5 * MiB)

    # And neither an object nor a pending multipart upload is left
    assert not s3.exists(BUCKET, "failed.bin")
    assert list(s3.list_multipart_uploads(BUCKET)) == []


def test_a_failed_part_stops_the_producer_and_aborts_the_upload() -> None:
    with mock_aws():
        raw = _own_client()
        raw.create_bucket(Bucket=BUCKET)
        s3 = S3Client(raw)

        def fail_first_part(**_: Any) -> None:
            raise ConnectionResetError("injected failure of part 1")

        raw.meta.events.register("before-call.s3.UploadPart", fail_first_part)
        consumed: list[int] = []
        closed: list[bool] = []

        def producer() -> Iterator[bytes]:
            try:
                yield from _pieces(200 * MiB, MiB, consumed)
            finally:
                closed.append(True)

        # When the first part fails
        with pytest.raises(ConnectionResetError, match="part 1"):
            s3.upload_stream(producer(), BUCKET, "big.bin", part_size=5 * MiB, max_concurrency=1)

        # Then the producer was asked for a few parts, not for all 200 MiB, and was closed
        assert 5 * MiB <= sum(consumed) <= 20 * MiB
        assert closed == [True]
        assert list(s3.list_multipart_uploads(BUCKET)) == []
        assert not s3.exists(BUCKET, "big.bin")


@pytest.mark.parametrize(("part_size", "concurrency"), [(5 * MiB - 1, 2), (5 * MiB, 0)])
def test_upload_stream_refuses_parts_under_five_mib_or_no_concurrency(
    s3: S3Client, part_size: int, concurrency: int
) -> None:
    with pytest.raises(InvalidInputError, match="part_size|max_concurrency"):
        s3.upload_stream(iter([b"x"]), BUCKET, "x.bin", part_size=part_size, max_concurrency=concurrency)

    assert not s3.exists(BUCKET, "x.bin")


def test_stream_reads_the_pinned_version_and_closes_the_body(s3: S3Client) -> None:
    first = s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"first")["VersionId"]
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"second, longer")

    with s3.stream(BUCKET, KEY, version_id=first) as (info, body):
        data = body.read()

    assert (data, info.size, info.version_id) == (b"first", 5, first)
    with pytest.raises(ValueError, match="closed file"):
        body.read()


def test_stream_with_an_etag_that_no_longer_matches_fails(s3: S3Client) -> None:
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"first")
    stale = s3.head(BUCKET, KEY).etag
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"changed")

    with pytest.raises(AWSError, match="PreconditionFailed"), s3.stream(BUCKET, KEY, etag=stale):
        pass


def test_copy_onto_itself_with_metadata_restamps_metadata_and_content_type(s3: S3Client) -> None:
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"archive", Metadata={"status": "writing"})

    s3.copy(BUCKET, KEY, BUCKET, KEY, metadata={"status": "complete"}, content_type="application/gzip")

    info = s3.head(BUCKET, KEY)
    assert (info.metadata, info.content_type) == ({"status": "complete"}, "application/gzip")
    assert s3.read_bytes(BUCKET, KEY, max_bytes=100) == b"archive"


def test_delete_of_one_version_keeps_the_others(s3: S3Client) -> None:
    old = s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"old")["VersionId"]
    new = s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=b"new")["VersionId"]

    s3.delete(BUCKET, KEY, version_id=old)

    versions = s3.client.list_object_versions(Bucket=BUCKET, Prefix=KEY)["Versions"]
    assert [v["VersionId"] for v in versions] == [new]
    assert s3.read_bytes(BUCKET, KEY, max_bytes=10) == b"new"


def test_pending_multipart_uploads_are_listed_under_their_prefix_and_aborted(s3: S3Client) -> None:
    # Given one pending upload under backups/ and one elsewhere
    mine = s3.client.create_multipart_upload(Bucket=BUCKET, Key="backups/a.tar.gz")["UploadId"]
    s3.client.create_multipart_upload(Bucket=BUCKET, Key="other/b.bin")

    # When those under backups/ are listed and aborted
    [upload] = list(s3.list_multipart_uploads(BUCKET, "backups/"))
    s3.abort_multipart_upload(BUCKET, upload.key, upload.upload_id)

    # Then the listing named it with its start time, and only the other one is left
    assert (upload.key, upload.upload_id, upload.initiated.tzinfo is not None) == (
        "backups/a.tar.gz",
        mine,
        True,
    )
    assert [u.key for u in s3.list_multipart_uploads(BUCKET)] == ["other/b.bin"]
