"""docpipe.scope: the one answer to "is this key a document of the pipeline, and if not, why not"."""

from __future__ import annotations

import pytest

from docpipe.config import Settings
from docpipe.exceptions import SKIP_REASONS, ConfigError, InvalidInputError
from docpipe.scope import OUT_OF_SCOPE_REASONS, Scope

PDFS_UNDER_DOCS = Scope("docs/", ".pdf")


@pytest.mark.parametrize(
    ("key", "size", "reason"),
    [
        ("docs/report.pdf", 10, None),
        ("docs/2026/q1/report.pdf", 10, None),
        ("docs/notes.txt", 10, "outside_suffix"),
        ("docs/REPORT.PDF", 10, "outside_suffix"),  # case-sensitive, as S3's filters
        ("private/report.pdf", 10, "outside_prefix"),
        ("Docs/report.pdf", 10, "outside_prefix"),
        ("docs/report.pdf.metadata.json", 10, "sidecar"),
        ("docs/archive/", 0, "folder"),
        ("docs/archive/", None, "folder"),  # a removal event carries no size
    ],
)
def test_a_key_is_a_document_or_says_why_not(key: str, size: int | None, reason: str | None) -> None:
    assert PDFS_UNDER_DOCS.reason(key, size) == reason
    assert PDFS_UNDER_DOCS.includes(key, size) is (reason is None)


def test_the_empty_scope_takes_every_key_but_folders_and_sidecars() -> None:
    everything = Scope()

    assert everything.includes("anything.bin", 1)
    assert everything.includes("odd/", 5)  # an object that merely ends in "/" has content
    assert everything.reason("x.metadata.json") == "sidecar"
    assert everything.reason("dir/", 0) == "folder"


def test_a_sidecar_is_never_a_document_even_when_it_ends_with_the_suffix() -> None:
    assert Scope(suffix=".json").reason("docs/data.json.metadata.json", 10) == "sidecar"


@pytest.mark.parametrize(
    ("sidecar", "reason"),
    [
        ("docs/report.pdf.metadata.json", None),
        ("docs/notes.txt.metadata.json", "outside_suffix"),
        ("private/report.pdf.metadata.json", "outside_prefix"),
        ("docs/x.pdf.metadata.json.metadata.json", "sidecar"),  # the sidecar of a sidecar
    ],
)
def test_a_sidecar_belongs_to_the_scope_when_its_document_does(sidecar: str, reason: str | None) -> None:
    assert PDFS_UNDER_DOCS.sidecar_reason(sidecar) == reason


def test_asking_for_the_document_of_a_key_that_is_no_sidecar_is_a_callers_mistake() -> None:
    with pytest.raises(InvalidInputError, match="not a sidecar"):
        PDFS_UNDER_DOCS.sidecar_reason("docs/report.pdf")


@pytest.mark.parametrize("suffix", [".metadata.json", "report.metadata.json"])
def test_a_suffix_every_key_of_which_is_a_sidecar_is_refused(suffix: str) -> None:
    with pytest.raises(InvalidInputError, match="sidecars"):
        Scope(suffix=suffix)
    with pytest.raises(ConfigError, match=f"DOCUMENT_SUFFIX={suffix!r}"):
        Settings.from_env({"DOCUMENT_SUFFIX": suffix})


def test_settings_read_the_scope_from_the_environment_and_arguments_win() -> None:
    env = {"DOCUMENT_PREFIX": "docs/", "DOCUMENT_SUFFIX": ".pdf"}

    assert Scope.from_settings(Settings.from_env(env)) == Scope("docs/", ".pdf")
    assert Scope.from_settings(Settings.from_env(env, document_suffix=".txt")) == Scope("docs/", ".txt")
    assert Scope.from_settings(Settings.from_env({})) == Scope()


def test_the_out_of_scope_reasons_are_skip_reasons() -> None:
    # A document the scope excludes is recorded as skipped with one of them (docpipe status).
    assert set(OUT_OF_SCOPE_REASONS) <= set(SKIP_REASONS)
