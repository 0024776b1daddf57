"""The scope's template side: the functions get it, and the bucket's notification filters match it.

DocumentsBucket announces what the scope holds (documents, and the sidecars of documents through
a second filter) with filters S3 accepts: S3 refuses two configurations whose filters overlap
for a common event type, judged here by the local emulator's copy of S3's rule.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docpipe import config
from docpipe.ids import SIDECAR_SUFFIX
from docpipe.scope import Scope, suffix_problem
from docpipe_cli.local.s3_events import overlapping_filters
from tests.build_support import Resolver, function_environment

EVENTS = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")


def queue_configurations(
    template: dict[str, Any], prefix: str, suffix: str
) -> list[tuple[list[str], str, str]]:
    """DocumentsBucket's queue notifications for these parameters, as ``(events, prefix, suffix)``."""
    resolver = Resolver(template, {"DocumentPrefix": prefix, "DocumentSuffix": suffix})
    props = resolver.resolve(template["Resources"]["DocumentsBucket"]["Properties"])
    configurations = []
    for item in props["NotificationConfiguration"]["QueueConfigurations"]:
        rules = {r["Name"]: r["Value"] for r in item.get("Filter", {}).get("S3Key", {}).get("Rules", [])}
        configurations.append(([item["Event"]], rules.get("prefix", ""), rules.get("suffix", "")))
    return configurations


def announced(configurations: list[tuple[list[str], str, str]], event: str, key: str) -> bool:
    """Whether S3 sends ``event`` for ``key`` under these configurations (both filters must match)."""
    return any(
        event in events and key.startswith(prefix) and key.endswith(suffix)
        for events, prefix, suffix in configurations
    )


@pytest.mark.parametrize("function_id", ["IngestFunction", "ReconcileFunction"])
def test_the_functions_that_judge_keys_get_the_scope(template: dict[str, Any], function_id: str) -> None:
    env = function_environment(template, function_id, {"DocumentPrefix": "docs/", "DocumentSuffix": ".pdf"})

    assert Scope.from_settings(config.Settings.from_env(env)) == Scope("docs/", ".pdf")


def test_the_stack_outputs_its_scope(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]

    assert outputs["DocumentPrefix"]["Value"] == {"Ref": "DocumentPrefix"}
    assert outputs["DocumentSuffix"]["Value"] == {"Ref": "DocumentSuffix"}


@pytest.mark.parametrize(
    ("suffix", "configurations"),
    [("", 2), (".pdf", 4), (".PDF", 4), (".json", 2), ("json", 2), ("n", 2), ("a.json", 2), (".txt", 4)],
)
def test_sidecars_get_their_own_filter_only_where_the_documents_filter_misses_them(
    template: dict[str, Any], suffix: str, configurations: int
) -> None:
    found = queue_configurations(template, "docs/", suffix)

    assert len(found) == configurations
    assert not overlapping_filters(found)


def test_the_sidecar_filter_announces_sidecars_created_and_removed_under_the_prefix(
    template: dict[str, Any],
) -> None:
    found = queue_configurations(template, "docs/", ".pdf")

    for event in EVENTS:
        assert announced(found, event, "docs/report.pdf" + SIDECAR_SUFFIX)
        assert not announced(found, event, "elsewhere/report.pdf" + SIDECAR_SUFFIX)
        assert not announced(found, event, "docs/notes.txt")


def test_the_condition_lists_every_ending_of_the_sidecar_suffix(template: dict[str, Any]) -> None:
    # SuffixAdmitsSidecars: a DocumentSuffix that .metadata.json ends with admits every sidecar.
    _, *groups = template["Conditions"]["SuffixAdmitsSidecars"]["Fn::Or"]
    listed = {equals["Fn::Equals"][1] for group in groups for equals in group["Fn::Or"]}

    assert listed == {SIDECAR_SUFFIX[i:] for i in range(len(SIDECAR_SUFFIX))}


# Suffixes users write, every ending of the sidecar suffix, and arbitrary text.
suffixes = st.one_of(
    st.sampled_from(["", ".pdf", ".PDF", ".txt", ".json", "json", ".docx", "pdf", "/"]),
    st.sampled_from([SIDECAR_SUFFIX[i:] for i in range(1, len(SIDECAR_SUFFIX))]),
    st.text("abcdefghijklmnopqrstuvwxyz./", max_size=8),
).filter(lambda suffix: suffix_problem(suffix) is None)
prefixes = st.sampled_from(["", "docs/", "d", "docs/2026/"])


@given(prefix=prefixes, suffix=suffixes, stem=st.text("abc/.", max_size=6))
def test_for_any_scope_s3_accepts_the_filters_and_announces_documents_and_their_sidecars(
    template: dict[str, Any], prefix: str, suffix: str, stem: str
) -> None:
    found = queue_configurations(template, prefix, suffix)
    scope = Scope(prefix, suffix)
    document = prefix + "x" + stem + suffix

    assert not overlapping_filters(found)
    if scope.includes(document, size=1):
        for event in EVENTS:
            assert announced(found, event, document)
            assert announced(found, event, document + SIDECAR_SUFFIX)
