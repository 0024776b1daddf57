"""Reconcile's synthetic events: where their sequencers sort, and what a request may say."""

from __future__ import annotations

import pytest

from docpipe.events import ObjectEvent, object_notification, parse_body
from docpipe.exceptions import InvalidInputError
from docpipe.reconcile import LOWEST_SEQUENCER, ReconcileRequest, sequencer_after
from docpipe.registry import ordering_token

# Real sequencers of one key, as S3 sends them (hex, increasing; lengths may differ).
APPLIED = "0055AED6DCD90281E5"
LATER = "0055AED6DCD90281E6"


def token(sequencer: str) -> str:
    return ordering_token(ObjectEvent("created", "b", "k", sequencer=sequencer))


def test_a_synthetic_event_sorts_after_the_applied_one_and_before_any_later_real_one() -> None:
    synthetic = sequencer_after(token(APPLIED))

    assert synthetic is not None
    assert token(APPLIED) < token(synthetic) < token(LATER)


def test_a_second_synthetic_event_after_the_first_sorts_after_it_and_still_before_real_ones() -> None:
    first = sequencer_after(token(APPLIED))
    assert first is not None
    second = sequencer_after(token(first))

    assert second is not None
    assert token(first) < token(second) < token(LATER)


def test_the_lowest_sequencer_sorts_before_every_real_one() -> None:
    assert token(LOWEST_SEQUENCER) < token("0000000000000000001") < token(APPLIED)
    assert sequencer_after(None) == LOWEST_SEQUENCER


def test_time_ordered_tokens_get_no_sequencer() -> None:
    assert sequencer_after("t:2026-01-01T00:00:00.000Z|created|etag") is None


def test_a_synthetic_notification_parses_as_the_event_it_stands_for() -> None:
    body = object_notification(
        "created", "bucket", "docs/a b+c.pdf", region="us-east-1", sequencer=APPLIED,
        event_time="2026-01-01T00:00:00.000Z", etag='"abc"', size=7,
    )  # fmt: skip
    removal = object_notification(
        "removed", "bucket", "docs/a.pdf", region="us-east-1", sequencer=LATER, event_time="t"
    )

    (created,) = parse_body(body)
    (removed,) = parse_body(removal)

    assert (created.kind, created.key, created.etag, created.size, created.sequencer) == (
        "created", "docs/a b+c.pdf", "abc", 7, APPLIED,
    )  # fmt: skip
    assert (removed.kind, removed.etag, removed.size) == ("removed", None, None)


@pytest.mark.parametrize("event", [{"dry_run": "yes"}, {"dryrun": True}, ["dry_run"]])
def test_a_bad_request_names_the_field(event: object) -> None:
    with pytest.raises(InvalidInputError, match="dry_run|JSON object"):
        ReconcileRequest.from_event(event)


def test_an_empty_event_is_a_real_run() -> None:
    assert ReconcileRequest.from_event({}) == ReconcileRequest(dry_run=False)
    assert ReconcileRequest.from_event({"dry_run": True}).dry_run
