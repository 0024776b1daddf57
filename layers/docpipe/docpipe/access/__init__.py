"""Permission-aware retrieval: access lists on documents, principals for callers, one condition.

docs/access-control.md describes the model; each module holds one part of it.
"""

from __future__ import annotations

from docpipe.access.caller import Caller, Grant, OnBehalfOf, resolve_principals
from docpipe.access.condition import (
    ACCESS_DEFAULTS,
    access_condition,
    compose_filter,
    query_principals,
    readable,
    reject_access_key,
)
from docpipe.access.documents import AccessDocuments
from docpipe.access.policy import CallerMap, MappedCaller, PrefixRules, caller_arn, document_access
from docpipe.access.principals import (
    ACCESS_KEY,
    EVERYONE,
    MAX_ACCESS_LIST_BYTES,
    MAX_CALLER_PRINCIPALS,
    UNLISTED,
    normalise_principal,
    normalise_principals,
)

__all__ = [
    "ACCESS_DEFAULTS",
    "ACCESS_KEY",
    "EVERYONE",
    "MAX_ACCESS_LIST_BYTES",
    "MAX_CALLER_PRINCIPALS",
    "UNLISTED",
    "AccessDocuments",
    "Caller",
    "CallerMap",
    "Grant",
    "MappedCaller",
    "OnBehalfOf",
    "PrefixRules",
    "access_condition",
    "caller_arn",
    "compose_filter",
    "document_access",
    "normalise_principal",
    "normalise_principals",
    "query_principals",
    "readable",
    "reject_access_key",
    "resolve_principals",
]
