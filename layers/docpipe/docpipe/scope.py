"""The pipeline's scope: which keys of the documents bucket are documents docpipe indexes.

One rule, asked by every path a key enters by (S3 and EventBridge events, direct invocations,
reconcile's listing and inventory sources, backfill, the LangChain loaders). The bucket's
notification filters (template.yaml, ``DocumentPrefix`` / ``DocumentSuffix``) only spare the
queue the keys outside it; they do not decide.

A key is a document when it is not a folder marker (``dir/`` with no content), not a metadata
sidecar (``<key>.metadata.json``), starts with the prefix and ends with the suffix. A sidecar is
never a document, but it belongs to the scope's sidecar path when its document is in scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from docpipe.exceptions import InvalidInputError
from docpipe.ids import SIDECAR_SUFFIX

if TYPE_CHECKING:
    from docpipe.config import Settings

# Why a key is not a document in scope (None: it is). The first two are skip reasons (a document
# recorded as skipped because the scope excludes it); the last two say the key is no document.
OUTSIDE_PREFIX = "outside_prefix"
OUTSIDE_SUFFIX = "outside_suffix"
FOLDER = "folder"
SIDECAR = "sidecar"
OUT_OF_SCOPE_REASONS: tuple[str, ...] = (OUTSIDE_PREFIX, OUTSIDE_SUFFIX)
NOT_A_DOCUMENT_REASONS: tuple[str, ...] = (FOLDER, SIDECAR)
SCOPE_REASONS: tuple[str, ...] = OUT_OF_SCOPE_REASONS + NOT_A_DOCUMENT_REASONS


def suffix_problem(suffix: str) -> str | None:
    """Why ``suffix`` cannot be a document suffix (None: it can).

    Every key ending in it would be a sidecar, which is never a document (and S3 would refuse the
    sidecar notification filter as overlapping the documents' one).
    """
    if suffix.endswith(SIDECAR_SUFFIX):
        return f"it names metadata sidecars ({SIDECAR_SUFFIX}), which are never documents"
    return None


@dataclass(frozen=True)
class Scope:
    """The documents of the bucket: keys under ``prefix`` that end with ``suffix`` (empty: any).

    Built from settings (``from_settings``: ``DOCUMENT_PREFIX``, ``DOCUMENT_SUFFIX``) or given
    explicitly (an argument beats the environment). Comparisons are exact and case-sensitive,
    as S3's notification filters are.
    """

    prefix: str = ""
    suffix: str = ""

    def __post_init__(self) -> None:
        problem = suffix_problem(self.suffix)
        if problem is not None:
            raise InvalidInputError(f"suffix {self.suffix!r} is invalid: {problem}")

    @classmethod
    def from_settings(cls, settings: Settings) -> Scope:
        """The scope a function was deployed with."""
        return cls(settings.document_prefix, settings.document_suffix)

    def reason(self, key: str, size: int | None = None) -> str | None:
        """Why the object at ``key`` is not a document in scope, or None when it is one.

        ``size`` tells a folder marker (``dir/``, empty) from an object that merely ends in ``/``;
        None counts as empty, as S3's removal events carry no size.

        Returns:
            None, or one of ``SCOPE_REASONS``: ``folder``, ``sidecar``, ``outside_prefix``,
            ``outside_suffix`` (checked in that order).
        """
        if key.endswith("/") and not size:
            return FOLDER
        if key.endswith(SIDECAR_SUFFIX):
            return SIDECAR
        if not key.startswith(self.prefix):
            return OUTSIDE_PREFIX
        if not key.endswith(self.suffix):
            return OUTSIDE_SUFFIX
        return None

    def includes(self, key: str, size: int | None = None) -> bool:
        """Whether the object at ``key`` is a document in scope."""
        return self.reason(key, size) is None

    def sidecar_reason(self, key: str) -> str | None:
        """Why the sidecar ``key`` does not belong to an in-scope document (None: it does).

        A sidecar's document is the key without ``.metadata.json``; it is judged with ``size``
        unknown, as a document whose sidecar changed always has content.
        """
        if not key.endswith(SIDECAR_SUFFIX):
            raise InvalidInputError(f"{key!r} is not a sidecar key (no {SIDECAR_SUFFIX} ending)")
        return self.reason(key.removesuffix(SIDECAR_SUFFIX), 1)

    def as_dict(self) -> dict[str, str]:
        """What reports and logs say about the scope."""
        return {"prefix": self.prefix, "suffix": self.suffix}
