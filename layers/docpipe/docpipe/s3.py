"""S3 access for docpipe: capped downloads, streamed uploads, listing; names checked by ``s3_names``."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, NoReturn, cast

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    IncompleteReadError,
    ResponseStreamingError,
)

from docpipe import aws
from docpipe.exceptions import (
    AWSError,
    DocumentTooLargeError,
    InvalidInputError,
    NotFoundError,
    TransientAWSError,
)
from docpipe.s3_names import s3_uri, validate_bucket_name, validate_key, validate_prefix

MiB = 1024 * 1024
# Documents up to this size stay in memory; bigger ones spill to /tmp (Lambda's ephemeral storage).
SPOOL_MAX_MEMORY_BYTES = 8 * MiB
READ_CHUNK_BYTES = 1 * MiB
# S3's minimum part size is 5 MiB; 8 MiB parts keep a 512 MiB body under 64 parts and memory modest.
DEFAULT_TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=8 * MiB,
    multipart_chunksize=8 * MiB,
    max_concurrency=4,
    use_threads=True,
)
# S3 refuses multipart parts under 5 MiB (except the last one).
MIN_PART_BYTES = 5 * MiB


@dataclass(frozen=True)
class ObjectInfo:
    """What docpipe needs to know about one S3 object (from HeadObject, GetObject or a listing)."""

    bucket: str
    key: str
    size: int
    etag: str
    content_type: str | None = None
    version_id: str | None = None
    last_modified: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return s3_uri(self.bucket, self.key)


@dataclass(frozen=True)
class MultipartUpload:
    """One multipart upload that was started and neither completed nor aborted."""

    bucket: str
    key: str
    upload_id: str
    initiated: datetime


def _strip_etag(etag: str | None) -> str:
    return (etag or "").strip('"')


class S3Client:
    """S3 operations docpipe needs, with its errors instead of botocore's.

    Every public method validates the bucket and key first (no AWS call on bad input) and turns
    a ``ClientError`` into a ``DocpipeError`` subclass raised ``from`` it, naming ``s3://bucket/key``.
    """

    def __init__(self, client: Any | None = None, *, transfer_config: TransferConfig | None = None) -> None:
        """Wrap ``client`` (default: the process-wide ``docpipe.aws.client("s3")``)."""
        self._client = client if client is not None else aws.client("s3")
        self._transfer_config = transfer_config or DEFAULT_TRANSFER_CONFIG

    @property
    def client(self) -> Any:
        """The underlying boto3 client (for callers that need an API this class does not wrap)."""
        return self._client

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
        """Size, ETag, content type, version and user metadata of one object, without its body."""
        validate_bucket_name(bucket)
        validate_key(key)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            response = self._client.head_object(**kwargs)
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, s3_uri(bucket, key))
        return _info_from_response(bucket, key, response)

    def exists(self, bucket: str, key: str) -> bool:
        """Whether the object exists (a 403 still raises: without ListBucket S3 hides 404s)."""
        try:
            self.head(bucket, key)
        except NotFoundError:
            return False
        return True

    def download_with_info(
        self, bucket: str, key: str, *, max_bytes: int, version_id: str | None = None
    ) -> tuple[ObjectInfo, tempfile.SpooledTemporaryFile[bytes]]:
        """Download one object into a spooled temp file, refusing anything over ``max_bytes``.

        The declared ``ContentLength`` is checked before the body is read, and the cap is enforced
        again while streaming (never more than ``max_bytes + 1`` bytes are read), so a lying or
        growing object cannot exhaust memory or ``/tmp``. Small bodies stay in memory.

        Returns:
            The object's metadata (from the same GetObject) and a binary file positioned at 0;
            the caller closes it (it is a context manager).

        Raises:
            DocumentTooLargeError: the object is bigger than ``max_bytes``.
            NotFoundError, AccessDeniedError, TransientAWSError, AWSError: from S3.
        """
        validate_bucket_name(bucket)
        validate_key(key)
        if max_bytes < 1:
            raise InvalidInputError(f"max_bytes must be >= 1 (got {max_bytes})")
        uri = s3_uri(bucket, key)
        response = self._get_object(bucket, key, version_id=version_id)
        body = response["Body"]
        try:
            declared = response.get("ContentLength")
            if declared is not None and int(declared) > max_bytes:
                raise DocumentTooLargeError(f"{uri} is {declared} bytes; the limit is {max_bytes} bytes")
            spool = _read_capped(body, uri, max_bytes)
        finally:
            body.close()
        return _info_from_response(bucket, key, response), spool

    @contextlib.contextmanager
    def stream(
        self, bucket: str, key: str, *, version_id: str | None = None, etag: str | None = None
    ) -> Iterator[tuple[ObjectInfo, IO[bytes]]]:
        """The object's metadata and its body as a stream the caller reads at its own pace.

        Unlike ``download`` nothing is capped or spooled: the caller bounds what it reads (the
        backup reader enforces its own size and ratio limits). ``version_id`` pins one version;
        without it, ``etag`` (``If-Match``) makes the read fail rather than return an object
        that changed. The body is closed when the block ends.
        """
        validate_bucket_name(bucket)
        validate_key(key)
        response = self._get_object(bucket, key, version_id=version_id, etag=None if version_id else etag)
        body = response["Body"]
        try:
            yield _info_from_response(bucket, key, response), body
        finally:
            body.close()

    def _get_object(
        self, bucket: str, key: str, *, version_id: str | None = None, etag: str | None = None
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        if etag:
            kwargs["IfMatch"] = f'"{etag}"'
        try:
            response: dict[str, Any] = self._client.get_object(**kwargs)
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, s3_uri(bucket, key))
        return response

    def download(
        self, bucket: str, key: str, *, max_bytes: int, version_id: str | None = None
    ) -> tempfile.SpooledTemporaryFile[bytes]:
        """Download one object with a hard size cap; see ``download_with_info``."""
        return self.download_with_info(bucket, key, max_bytes=max_bytes, version_id=version_id)[1]

    def read_bytes(self, bucket: str, key: str, *, max_bytes: int, version_id: str | None = None) -> bytes:
        """The whole body of a (small) object as bytes, with the same size cap as ``download``."""
        with self.download(bucket, key, max_bytes=max_bytes, version_id=version_id) as spool:
            return spool.read()

    def upload_stream(
        self,
        chunks: Iterable[bytes],
        bucket: str,
        key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        part_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> ObjectInfo:
        """Upload bytes as a producer makes them (a tar.gz being written), with the transfer manager.

        The transfer manager pulls ``chunks`` one part at a time, so memory stays around
        ``(max_concurrency + 2) * part_size`` whatever the total size (the parts in flight, one
        waiting for a slot, one being filled); a body smaller than one part is a single
        PutObject. The object exists only once every byte is uploaded: if the producer raises,
        or a part fails, the transfer manager aborts the multipart upload, and the producer is
        not asked for more once the transfer has failed.

        Args:
            chunks: the body, in pieces of any size; closed (if it is a generator) at the end.
            part_size: bytes per part (and the single-request threshold), at least 5 MiB;
                default: this client's ``multipart_chunksize``.
            max_concurrency: parts in flight (and held in memory) at once; default: this
                client's ``max_concurrency``.

        Returns:
            The uploaded object's head (size and, in a versioned bucket, its version id).

        Raises:
            InvalidInputError: ``part_size`` under 5 MiB or ``max_concurrency`` under 1.
            NotFoundError, AccessDeniedError, TransientAWSError, AWSError: from S3. Whatever
                the producer raised is re-raised unchanged.
        """
        validate_bucket_name(bucket)
        validate_key(key)
        config = self._stream_config(part_size, max_concurrency)
        stream = _ChunkStream(chunks)
        try:
            with create_transfer_manager(self._client, config) as manager:
                # A file object as far as s3transfer is concerned: it only calls read() (and seekable()).
                fileobj = cast(IO[bytes], stream)
                future = manager.upload(fileobj, bucket, key, extra_args=_extra_args(metadata, content_type))
                stream.stop_when(future.done)
                future.result()
        except (ClientError, BotoCoreError, S3UploadFailedError) as error:
            _translate_transfer_error(error, s3_uri(bucket, key))
        finally:
            stream.close()
        return self.head(bucket, key)

    def _stream_config(self, part_size: int | None, max_concurrency: int | None) -> TransferConfig:
        base = self._transfer_config
        part_size = base.multipart_chunksize if part_size is None else part_size
        max_concurrency = base.max_request_concurrency if max_concurrency is None else max_concurrency
        if part_size < MIN_PART_BYTES:
            raise InvalidInputError(f"part_size must be at least {MIN_PART_BYTES} bytes (got {part_size})")
        if max_concurrency < 1:
            raise InvalidInputError(f"max_concurrency must be >= 1 (got {max_concurrency})")
        # The classic manager: its future is what tells the stream to stop after a failure.
        config = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=max_concurrency,
            use_threads=base.use_threads,
            preferred_transfer_client="classic",
        )
        # s3transfer queues up to 10 parts read from a non-seekable stream by default: hold only
        # the ones being sent.
        config.max_in_memory_upload_chunks = max_concurrency
        return config

    def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        suffix: str = "",
        *,
        page_size: int | None = None,
        start_after: str = "",
    ) -> Iterator[ObjectInfo]:
        """Every object under ``prefix`` whose key ends with ``suffix``, page by page (lazily).

        Keys come in S3's order (UTF-8 binary); ``start_after`` resumes a listing after a key.
        Names are checked now, not at the first ``next()``. Listings carry no content type,
        version or user metadata; ``head`` an object for those.
        """
        validate_bucket_name(bucket)
        validate_prefix(prefix)
        if page_size is not None and not 1 <= page_size <= 1000:
            raise InvalidInputError(f"page_size must be 1..1000 (got {page_size})")
        return self._iter_objects(bucket, prefix, suffix, page_size, start_after)

    def _iter_objects(
        self, bucket: str, prefix: str, suffix: str, page_size: int | None, start_after: str = ""
    ) -> Iterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        pagination: dict[str, int] = {"PageSize": page_size} if page_size else {}
        extra: dict[str, str] = {"StartAfter": start_after} if start_after else {}
        try:
            for page in paginator.paginate(
                Bucket=bucket, Prefix=prefix, PaginationConfig=pagination, **extra
            ):
                for item in page.get("Contents", ()):
                    key = item["Key"]
                    if suffix and not key.endswith(suffix):
                        continue
                    yield ObjectInfo(
                        bucket=bucket,
                        key=key,
                        size=int(item.get("Size", 0)),
                        etag=_strip_etag(item.get("ETag")),
                        last_modified=item.get("LastModified"),
                    )
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, s3_uri(bucket, prefix))

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> Iterator[MultipartUpload]:
        """Multipart uploads under ``prefix`` that were neither completed nor aborted (lazily)."""
        validate_bucket_name(bucket)
        validate_prefix(prefix)
        return self._iter_uploads(bucket, prefix)

    def _iter_uploads(self, bucket: str, prefix: str) -> Iterator[MultipartUpload]:
        try:
            for page in self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                for upload in page.get("Uploads", ()):
                    yield MultipartUpload(
                        bucket=bucket,
                        key=upload["Key"],
                        upload_id=upload["UploadId"],
                        initiated=upload["Initiated"],
                    )
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, s3_uri(bucket, prefix))

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Discard an unfinished multipart upload and every part it holds."""
        validate_bucket_name(bucket)
        validate_key(key)
        try:
            self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, s3_uri(bucket, key))

    def delete(self, bucket: str, key: str, *, version_id: str | None = None) -> None:
        """Delete an object, or one version of it (S3 treats deleting a missing key as success; so do we)."""
        validate_bucket_name(bucket)
        validate_key(key)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            self._client.delete_object(**kwargs)
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, s3_uri(bucket, key))

    def copy(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Server-side managed copy (multipart copy for objects over the threshold, e.g. > 5 GiB).

        With ``metadata`` the copy carries that user metadata (and ``content_type``) instead of the
        source's; copying an object onto itself this way restamps its metadata.
        """
        for bucket, key in ((src_bucket, src_key), (dst_bucket, dst_key)):
            validate_bucket_name(bucket)
            validate_key(key)
        extra: dict[str, Any] = {}
        if metadata is not None:
            extra = {**_extra_args(metadata, content_type), "MetadataDirective": "REPLACE"}
        try:
            self._client.copy(
                {"Bucket": src_bucket, "Key": src_key},
                dst_bucket,
                dst_key,
                ExtraArgs=extra or None,
                Config=self._transfer_config,
            )
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(
                error, f"copy {s3_uri(src_bucket, src_key)} -> {s3_uri(dst_bucket, dst_key)}"
            )


class _StreamStopped(Exception):
    """The transfer already failed; the producer is not asked for more (its error is the one raised)."""


class _ChunkStream:
    """A non-seekable file object over an iterable of byte chunks, for the transfer manager.

    ``read(n)`` returns exactly ``n`` bytes until the chunks run out, as a file does: s3transfer
    takes a short read for the end of the body (a single PutObject, or a too-small part).
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._source = chunks
        self._buffer = bytearray()
        self._exhausted = False
        self._stop: Callable[[], bool] = lambda: False

    def stop_when(self, stop: Callable[[], bool]) -> None:
        self._stop = stop

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int | None = -1) -> bytes:
        wanted = -1 if size is None else size
        while not self._exhausted and (wanted < 0 or len(self._buffer) < wanted):
            if self._stop():
                raise _StreamStopped
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                self._exhausted = True
        count = len(self._buffer) if wanted < 0 else min(wanted, len(self._buffer))
        # One copy of the part (a bytearray slice would make a second one, 8 MiB at a time).
        with memoryview(self._buffer) as view:
            data = bytes(view[:count])
        del self._buffer[:count]
        return data

    def close(self) -> None:
        """Close the producer, so a generator's ``finally`` runs (its threads stop) even after a failure."""
        self._buffer.clear()
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


def _read_capped(body: Any, uri: str, max_bytes: int) -> tempfile.SpooledTemporaryFile[bytes]:
    """Copy ``body`` into a spooled file, reading at most ``max_bytes + 1`` bytes."""
    # Returned open to the caller, who closes it: a with-block here would close it too early.
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=SPOOL_MAX_MEMORY_BYTES, mode="w+b"
    )
    total = 0
    try:
        while True:
            # Ask for one byte past the cap at most: enough to prove "too large", never more.
            want = min(READ_CHUNK_BYTES, max_bytes + 1 - total)
            chunk = body.read(want)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise DocumentTooLargeError(f"{uri} is larger than the limit of {max_bytes} bytes")
            spool.write(chunk)
    except (IncompleteReadError, ResponseStreamingError) as error:
        spool.close()
        raise TransientAWSError(f"{uri}: download interrupted ({type(error).__name__})") from error
    except (ClientError, BotoCoreError) as error:
        spool.close()
        aws.translate_client_error(error, uri)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def _info_from_response(bucket: str, key: str, response: Mapping[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        bucket=bucket,
        key=key,
        size=int(response.get("ContentLength", 0)),
        etag=_strip_etag(response.get("ETag")),
        content_type=response.get("ContentType"),
        version_id=response.get("VersionId"),
        last_modified=response.get("LastModified"),
        metadata=dict(response.get("Metadata") or {}),
    )


def _extra_args(metadata: Mapping[str, str] | None, content_type: str | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if metadata:
        extra["Metadata"] = dict(metadata)
    if content_type:
        extra["ContentType"] = content_type
    return extra


def _translate_transfer_error(error: Exception, uri: str) -> NoReturn:
    """The transfer manager wraps ClientError in S3UploadFailedError; unwrap it for the mapping."""
    # boto3 raises it inside ``except ClientError`` without ``from``: the ClientError is the context.
    cause = (error.__cause__ or error.__context__) if isinstance(error, S3UploadFailedError) else error
    if isinstance(cause, (ClientError, BotoCoreError)):
        aws.translate_client_error(cause, uri)
    raise AWSError(f"{uri}: upload failed ({type(error).__name__})") from error
