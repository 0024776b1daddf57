"""S3's naming rules: bucket names, object keys and prefixes checked before any call, and ``s3://`` URIs."""

from __future__ import annotations

import re

from docpipe.exceptions import InvalidInputError

MAX_KEY_BYTES = 1024  # S3 keys are at most 1024 bytes of UTF-8

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# "Formatted as an IP address": four dot-separated numbers, valid octets or not.
_IP_FORMAT = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def s3_uri(bucket: str, key: str = "") -> str:
    """``s3://bucket/key``: how every error message names an object."""
    return f"s3://{bucket}/{key}"


def validate_bucket_name(name: str) -> str:
    """Check a general purpose bucket name against AWS's naming rules before any call.

    A user-supplied name that S3 would reject (or that reaches an access point or an
    unrelated endpoint, such as an IP-formatted name) fails here with a readable reason.

    Returns:
        The name, unchanged, so calls can be chained.

    Raises:
        InvalidInputError: naming the rule that was broken.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError("bucket name must be a non-empty string")
    if not 3 <= len(name) <= 63:
        raise InvalidInputError(f"bucket name {name!r} must be 3-63 characters long (got {len(name)})")
    if not _BUCKET_CHARS.match(name):
        raise InvalidInputError(
            f"bucket name {name!r} may hold only lowercase letters, digits, '.' and '-', "
            "and must start and end with a letter or digit"
        )
    if ".." in name:
        raise InvalidInputError(f"bucket name {name!r} must not contain two adjacent periods")
    if _IP_FORMAT.match(name):
        raise InvalidInputError(f"bucket name {name!r} must not be formatted as an IP address")
    for prefix in _RESERVED_PREFIXES:
        if name.startswith(prefix):
            raise InvalidInputError(
                f"bucket name {name!r} must not start with the reserved prefix {prefix!r}"
            )
    for suffix in _RESERVED_SUFFIXES:
        if name.endswith(suffix):
            raise InvalidInputError(f"bucket name {name!r} must not end with the reserved suffix {suffix!r}")
    return name


def validate_key(key: str) -> str:
    """Check an object key: 1-1024 bytes of UTF-8, no NUL (S3 cannot store or list it safely).

    Returns:
        The key, unchanged.

    Raises:
        InvalidInputError: naming the rule that was broken.
    """
    if not isinstance(key, str) or not key:
        raise InvalidInputError("object key must be a non-empty string")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInputError(f"object key {key!r} is not valid UTF-8 (lone surrogate)") from None
    if size > MAX_KEY_BYTES:
        raise InvalidInputError(f"object key is {size} bytes of UTF-8; the limit is {MAX_KEY_BYTES}")
    if "\x00" in key:
        raise InvalidInputError(f"object key {key!r} must not contain a NUL character")
    return key


def validate_prefix(prefix: str) -> str:
    """Check a key prefix (a listing's): at most 1024 bytes, no NUL; the empty prefix is allowed."""
    if len(prefix.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES or "\x00" in prefix:
        raise InvalidInputError(f"prefix {prefix!r} is not a possible key prefix")
    return prefix
