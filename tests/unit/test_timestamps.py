"""docpipe's timestamps: written in S3's eventTime form, read back to the same instant."""

from __future__ import annotations

import pytest

from docpipe.timestamps import epoch_seconds, iso_timestamp


def test_a_timestamp_is_utc_with_milliseconds_and_a_z() -> None:
    assert iso_timestamp(1_767_225_600.25) == "2026-01-01T00:00:00.250Z"


def test_seconds_precision_drops_the_fraction() -> None:
    assert iso_timestamp(1_767_225_600.25, timespec="seconds") == "2026-01-01T00:00:00Z"


def test_a_written_timestamp_reads_back_as_the_same_instant() -> None:
    assert epoch_seconds(iso_timestamp(1_767_225_600.25)) == pytest.approx(1_767_225_600.25)


def test_an_offset_other_than_utc_is_honoured() -> None:
    assert epoch_seconds("2026-01-01T01:00:00+01:00") == 1_767_225_600


@pytest.mark.parametrize("text", [None, "", "yesterday"])
def test_a_missing_or_unreadable_timestamp_reads_as_none(text: str | None) -> None:
    assert epoch_seconds(text) is None
