"""S3's naming rules, checked before any AWS call."""

from __future__ import annotations

import pytest

from docpipe.exceptions import InvalidInputError
from docpipe.s3_names import validate_bucket_name, validate_key, validate_prefix


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ab", "3-63 characters"),
        ("a" * 64, "3-63 characters"),
        ("My-Bucket", "lowercase"),
        ("my_bucket", "lowercase"),
        ("-bucket", "start and end"),
        ("bucket-", "start and end"),
        ("my..bucket", "adjacent periods"),
        ("192.168.5.4", "IP address"),
        ("999.1.1.1", "IP address"),
        ("xn--bucket", "reserved prefix 'xn--'"),
        ("sthree-bucket", "reserved prefix"),
        ("bucket-s3alias", "reserved suffix '-s3alias'"),
        ("bucket--ol-s3", "reserved suffix '--ol-s3'"),
        ("", "non-empty"),
    ],
)
def test_invalid_bucket_names_are_rejected_with_the_rule_they_break(name: str, rule: str) -> None:
    with pytest.raises(InvalidInputError, match=rule):
        validate_bucket_name(name)


@pytest.mark.parametrize("name", ["abc", "my.bucket-01", "a" * 63, "docpipe-documents-123456789012"])
def test_valid_bucket_names_pass(name: str) -> None:
    assert validate_bucket_name(name) == name


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("", "non-empty"),
        ("k" * 1025, "1025 bytes"),
        ("ü" * 513, "1026 bytes"),  # 513 characters, but 1026 bytes of UTF-8
        ("bad\x00key", "NUL"),
        ("lone\ud800surrogate", "not valid UTF-8"),
    ],
)
def test_invalid_keys_are_rejected_with_the_rule_they_break(key: str, rule: str) -> None:
    with pytest.raises(InvalidInputError, match=rule):
        validate_key(key)


def test_a_key_of_exactly_1024_bytes_with_unicode_and_spaces_is_valid() -> None:
    key = "dir/ a+b ü" + "k" * (1024 - len("dir/ a+b ü".encode()))
    assert validate_key(key) == key


@pytest.mark.parametrize("prefix", ["p" * 1025, "a\x00b"])
def test_impossible_prefixes_are_rejected(prefix: str) -> None:
    with pytest.raises(InvalidInputError, match="not a possible key prefix"):
        validate_prefix(prefix)


def test_the_empty_prefix_lists_the_whole_bucket() -> None:
    assert validate_prefix("") == ""
