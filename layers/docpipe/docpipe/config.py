"""Settings: every environment variable docpipe reads is declared here, once."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from docpipe.aws import MAX_POOL_CONNECTIONS
from docpipe.exceptions import ConfigError
from docpipe.scope import suffix_problem

# Environment variable names. Nothing else in the package reads os.environ for settings.
STAGE = "STAGE"
STACK_NAME = "STACK_NAME"
DOCUMENTS_BUCKET = "DOCUMENTS_BUCKET"
DOCUMENTS_TABLE = "DOCUMENTS_TABLE"
VECTOR_BUCKET = "VECTOR_BUCKET"
VECTOR_INDEX = "VECTOR_INDEX"
BACKUPS_BUCKET = "BACKUPS_BUCKET"
EMBEDDING_PROVIDER = "EMBEDDING_PROVIDER"
EMBEDDING_MODEL_ID = "EMBEDDING_MODEL_ID"
EMBEDDING_DIMENSION = "EMBEDDING_DIMENSION"
EMBEDDING_NORMALIZE = "EMBEDDING_NORMALIZE"
EMBEDDING_CONCURRENCY = "EMBEDDING_CONCURRENCY"
INGEST_RECORD_CONCURRENCY = "INGEST_RECORD_CONCURRENCY"
CHUNK_SIZE = "CHUNK_SIZE"
CHUNK_OVERLAP = "CHUNK_OVERLAP"
MAX_DOCUMENT_BYTES = "MAX_DOCUMENT_BYTES"
MAX_INFLATED_BYTES = "MAX_INFLATED_BYTES"
EMBED_SECTION = "EMBED_SECTION"
DOCUMENT_PREFIX = "DOCUMENT_PREFIX"
DOCUMENT_SUFFIX = "DOCUMENT_SUFFIX"
PDF_ENGINE = "PDF_ENGINE"
PDF_PASSWORDS_SECRET_ID = "PDF_PASSWORDS_SECRET_ID"
SECRETS_CACHE_TTL_SECONDS = "SECRETS_CACHE_TTL_SECONDS"
BACKUP_RETENTION_COUNT = "BACKUP_RETENTION_COUNT"
BACKUP_RETENTION_DAYS = "BACKUP_RETENTION_DAYS"
BACKUP_MAX_RESTORE_BYTES = "BACKUP_MAX_RESTORE_BYTES"
BACKUP_SEGMENT_COUNT = "BACKUP_SEGMENT_COUNT"
INGEST_QUEUE_URL = "INGEST_QUEUE_URL"
RECONCILE_SOURCE = "RECONCILE_SOURCE"
INVENTORY_BUCKET = "INVENTORY_BUCKET"
INVENTORY_PREFIX = "INVENTORY_PREFIX"
SEARCH_RERANK = "SEARCH_RERANK"
BEDROCK_RERANK_ENABLED = "BEDROCK_RERANK_ENABLED"
RERANK_MODEL_ID = "RERANK_MODEL_ID"
OCR_PROVIDER = "OCR_PROVIDER"
OCR_MAX_PAGES = "OCR_MAX_PAGES"
ACCESS_CONTROL = "ACCESS_CONTROL"
ACCESS_DEFAULT = "ACCESS_DEFAULT"
ACCESS_RULES_PARAMETER = "ACCESS_RULES_PARAMETER"
ACCESS_CALLERS_PARAMETER = "ACCESS_CALLERS_PARAMETER"
ACCESS_CACHE_SECONDS = "ACCESS_CACHE_SECONDS"

EMBEDDING_PROVIDERS = ("bedrock", "offline")
PDF_ENGINES = ("pypdfium2", "pypdf")
# textract: Amazon Textract (billed per page); rapidocr: offline, the ocr extra; none: no OCR, a
# document with pages that need it is skipped as needs_ocr.
OCR_PROVIDERS = ("textract", "rapidocr", "none")
# Search ranking (a request's ``rerank``; docs/search.md): hybrid (the store's own: one QueryVectors
# with the query vector and the query text, fused by reciprocal rank), none (the dense order), text
# (the store's BM25 alone) and bedrock (the Bedrock Rerank API over the hybrid candidates).
RERANK_MODES = ("hybrid", "none", "text", "bedrock")
# Names that keep working after a rename, old -> new. ``lexical`` was docpipe's own BM25 over the
# dense candidates, replaced by the store's ``hybrid`` (deprecated; docs/search.md says until when).
DEPRECATED_RERANK_MODES: dict[str, str] = {"lexical": "hybrid"}
# The language analyzers S3 Vectors offers for a full-text searchable key (TextSearchLanguage).
TEXT_SEARCH_LANGUAGES = ("en", "fr", "es", "pt", "it", "de", "nl", "zh", "ja", "ko")
# off: any caller SearchFunction lets in reads every chunk; enforced: only chunks whose access list
# shares a principal with the caller's (docs/access-control.md).
ACCESS_CONTROLS = ("off", "enforced")
# What a document without any access list gets when enforced: nobody (fail closed) or everyone.
ACCESS_DEFAULTS = ("nobody", "everyone")
# Where reconcile learns the bucket's objects: list (ListObjectsV2, live) or inventory (the newest
# S3 Inventory report, up to a day old; no listing of the bucket).
RECONCILE_SOURCES = ("list", "inventory")
# BackupFunction's actions and restore modes (its event's ``action`` and ``mode``).
BACKUP_ACTIONS = ("backup", "list", "verify", "restore", "prune")
RESTORE_MODES = ("replace", "merge")
DIMENSIONS_BY_PROVIDER: dict[str, tuple[int, ...]] = {
    "bedrock": (256, 512, 1024),
    "offline": (64, 128, 256),
}
# Each embedding thread holds one connection of the shared Bedrock client: never more threads than that.
MAX_EMBEDDING_CONCURRENCY = MAX_POOL_CONNECTIONS
# S3 Vectors' ListVectors segmentCount limit: the store and BACKUP_SEGMENT_COUNT's range both use it.
MAX_LIST_SEGMENTS = 16
# A record in flight holds up to two connections of the shared S3 client (its download and its
# sidecar lookup run side by side): never more records at once than the pool has pairs.
MAX_RECORD_CONCURRENCY = MAX_POOL_CONNECTIONS // 2
DEFAULT_MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
"""MAX_DOCUMENT_BYTES' default; an email's attachment is held to it too, as its own document would be."""
DEFAULT_MAX_INFLATED_BYTES = 128 * 1024 * 1024
"""MAX_INFLATED_BYTES' default; the parsers use it too when called without settings."""
MAX_MESSAGE_DEPTH = 10
"""Messages nested in an email (a message attached to a message ...) past this depth: ``too_large``."""
MAX_ATTACHMENTS = 1000
"""Attachments an email may hold, nested messages' included: more is ``too_large``."""
DEFAULT_OCR_MAX_PAGES = 100
"""OCR_MAX_PAGES' default: pages a document may have OCR'd (Textract bills each one)."""
_STAGE_PATTERN = re.compile(r"^[a-z0-9-]{1,32}$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    """What a function needs to know, read once at cold start and never mutated."""

    stage: str = "dev"
    stack_name: str = ""
    documents_bucket: str = ""
    documents_table: str = ""
    vector_bucket: str = ""
    vector_index: str = ""
    backups_bucket: str = ""
    embedding_provider: str = "bedrock"
    embedding_model_id: str = "amazon.titan-embed-text-v2:0"
    embedding_dimension: int = 1024
    embedding_normalize: bool = True
    embedding_concurrency: int = 8
    # SQS records of one batch processed at once (records of one document still one after another).
    ingest_record_concurrency: int = 10
    chunk_size: int = 1000
    chunk_overlap: int = 150
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    # What a zip container's (DOCX, XLSX, PPTX) members may inflate to: zip bombs are too_large.
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES
    # Prefix each chunk's section path to the text that is embedded (not to the stored text); on by
    # default since the retrieval benchmark measured it (README, "Ranking").
    embed_section: bool = True
    # The pipeline's scope (docpipe.scope.Scope.from_settings): keys under the prefix that end
    # with the suffix are documents.
    document_prefix: str = ""
    document_suffix: str = ""
    pdf_engine: str = "pypdfium2"
    pdf_passwords_secret_id: str = ""
    secrets_cache_ttl_seconds: int = 300
    backup_retention_count: int = 7
    backup_retention_days: int = 0
    backup_max_restore_bytes: int = 10 * 1024**3
    # Parallel ListVectors segments per backup (S3 Vectors allows up to 16).
    backup_segment_count: int = 2
    # ReconcileFunction: where it enqueues what drifted (IngestQueue).
    ingest_queue_url: str = ""
    reconcile_source: str = "list"
    # The S3 Inventory report's destination bucket, and where one configuration's reports lie
    # (<destination-prefix>/<source-bucket>/<config-id>/); set only with reconcile_source=inventory.
    inventory_bucket: str = ""
    inventory_prefix: str = ""
    # Off unless chosen: Textract bills every page, and an upgraded stack must not start paying
    # for OCR unasked; documents that need it are findable as needs_ocr meanwhile.
    ocr_provider: str = "none"
    # Per-document cost guard: a document with more pages that need OCR is skipped as ocr_page_limit.
    ocr_max_pages: int = DEFAULT_OCR_MAX_PAGES
    # SearchFunction: the default of a request's ``rerank`` (docs/search.md says why hybrid). A
    # deprecated name (``lexical``) is read as the mode it became.
    search_rerank: str = "hybrid"
    bedrock_rerank_enabled: bool = False
    rerank_model_id: str = "amazon.rerank-v1:0"
    access_control: str = "off"
    access_default: str = "nobody"
    # SSM parameter names of the prefix rules (ingest, reconcile) and the caller mapping (search);
    # the template sets them only with AccessControl=enforced.
    access_rules_parameter: str = ""
    access_callers_parameter: str = ""
    # How long a function reuses what it read from those parameters.
    access_cache_seconds: int = 30

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from the environment; explicit ``overrides`` win over variables.

        Raises:
            ConfigError: naming the variable, the bad value and what is allowed.
        """
        env = environment() if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = _ENV_BY_FIELD[f.name]
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, raw, f.type)
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with some fields replaced (validated again)."""
        return replace(self, **overrides)

    def require(self, *names: str) -> None:
        """Fail with the variable's name when a function needs a setting that is empty."""
        for name in names:
            if not getattr(self, name):
                raise ConfigError(f"{_ENV_BY_FIELD[name]} is required but not set")


def environment() -> Mapping[str, str]:
    """The process environment: the one place the runtime package reads it (secrets' env fallback too)."""
    return os.environ


_ENV_BY_FIELD: dict[str, str] = {
    "stage": STAGE,
    "stack_name": STACK_NAME,
    "documents_bucket": DOCUMENTS_BUCKET,
    "documents_table": DOCUMENTS_TABLE,
    "vector_bucket": VECTOR_BUCKET,
    "vector_index": VECTOR_INDEX,
    "backups_bucket": BACKUPS_BUCKET,
    "embedding_provider": EMBEDDING_PROVIDER,
    "embedding_model_id": EMBEDDING_MODEL_ID,
    "embedding_dimension": EMBEDDING_DIMENSION,
    "embedding_normalize": EMBEDDING_NORMALIZE,
    "embedding_concurrency": EMBEDDING_CONCURRENCY,
    "ingest_record_concurrency": INGEST_RECORD_CONCURRENCY,
    "chunk_size": CHUNK_SIZE,
    "chunk_overlap": CHUNK_OVERLAP,
    "max_document_bytes": MAX_DOCUMENT_BYTES,
    "max_inflated_bytes": MAX_INFLATED_BYTES,
    "embed_section": EMBED_SECTION,
    "document_prefix": DOCUMENT_PREFIX,
    "document_suffix": DOCUMENT_SUFFIX,
    "pdf_engine": PDF_ENGINE,
    "pdf_passwords_secret_id": PDF_PASSWORDS_SECRET_ID,
    "secrets_cache_ttl_seconds": SECRETS_CACHE_TTL_SECONDS,
    "backup_retention_count": BACKUP_RETENTION_COUNT,
    "backup_retention_days": BACKUP_RETENTION_DAYS,
    "backup_max_restore_bytes": BACKUP_MAX_RESTORE_BYTES,
    "backup_segment_count": BACKUP_SEGMENT_COUNT,
    "ingest_queue_url": INGEST_QUEUE_URL,
    "reconcile_source": RECONCILE_SOURCE,
    "inventory_bucket": INVENTORY_BUCKET,
    "inventory_prefix": INVENTORY_PREFIX,
    "ocr_provider": OCR_PROVIDER,
    "ocr_max_pages": OCR_MAX_PAGES,
    "search_rerank": SEARCH_RERANK,
    "bedrock_rerank_enabled": BEDROCK_RERANK_ENABLED,
    "rerank_model_id": RERANK_MODEL_ID,
    "access_control": ACCESS_CONTROL,
    "access_default": ACCESS_DEFAULT,
    "access_rules_parameter": ACCESS_RULES_PARAMETER,
    "access_callers_parameter": ACCESS_CALLERS_PARAMETER,
    "access_cache_seconds": ACCESS_CACHE_SECONDS,
}
ENV_VARS: tuple[str, ...] = tuple(_ENV_BY_FIELD.values())

# Whole-number settings with a fixed range: (lowest, highest or None for no upper bound).
_INT_RANGES: dict[str, tuple[int, int | None]] = {
    "embedding_concurrency": (1, MAX_EMBEDDING_CONCURRENCY),
    "ingest_record_concurrency": (1, MAX_RECORD_CONCURRENCY),
    "chunk_size": (100, 8000),
    "max_document_bytes": (1, None),
    "max_inflated_bytes": (1, None),
    "secrets_cache_ttl_seconds": (0, None),
    "backup_retention_count": (1, None),
    "backup_retention_days": (0, None),
    "backup_max_restore_bytes": (1, None),
    "backup_segment_count": (1, MAX_LIST_SEGMENTS),
    "ocr_max_pages": (1, 10_000),
    "access_cache_seconds": (0, 3600),
}


def _allowed_ints(field_name: str) -> str:
    """What a whole-number setting may be, in the words its errors use."""
    if field_name == "embedding_dimension":
        dims = sorted({d for ds in DIMENSIONS_BY_PROVIDER.values() for d in ds})
        return f"{', '.join(map(str, dims))} (by {EMBEDDING_PROVIDER})"
    if field_name == "chunk_overlap":
        return f"0..{CHUNK_SIZE} - 1"
    low, high = _INT_RANGES[field_name]
    return f"{low}..{high}" if high is not None else f">= {low}"


def _coerce(field_name: str, raw: str, type_name: Any) -> Any:
    var = _ENV_BY_FIELD[field_name]
    if type_name in (int, "int"):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(
                f"{var}={raw!r} is not a whole number; allowed: {_allowed_ints(field_name)}"
            ) from None
    if type_name in (bool, "bool"):
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{var}={raw!r} is not a boolean; allowed: {', '.join(_TRUE + _FALSE)}")
    return raw


def _check_range(field_name: str, value: int, low: int, high: int | None = None) -> None:
    """Fail naming the variable, the value and the allowed range."""
    if value < low or (high is not None and value > high):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{_ENV_BY_FIELD[field_name]}={value!r} is out of range; allowed: {allowed}")


def _validate(s: Settings) -> None:
    if not _STAGE_PATTERN.match(s.stage):
        raise ConfigError(f"{STAGE}={s.stage!r} is invalid; allowed: 1-32 of a-z, 0-9 and '-'")
    if s.embedding_provider not in EMBEDDING_PROVIDERS:
        allowed = ", ".join(EMBEDDING_PROVIDERS)
        raise ConfigError(f"{EMBEDDING_PROVIDER}={s.embedding_provider!r} is invalid; allowed: {allowed}")
    dims = DIMENSIONS_BY_PROVIDER[s.embedding_provider]
    if s.embedding_dimension not in dims:
        raise ConfigError(
            f"{EMBEDDING_DIMENSION}={s.embedding_dimension!r} is invalid for provider "
            f"{s.embedding_provider!r}; allowed: {', '.join(map(str, dims))}"
        )
    if s.pdf_engine not in PDF_ENGINES:
        raise ConfigError(f"{PDF_ENGINE}={s.pdf_engine!r} is invalid; allowed: {', '.join(PDF_ENGINES)}")
    if s.ocr_provider not in OCR_PROVIDERS:
        allowed = ", ".join(OCR_PROVIDERS)
        raise ConfigError(f"{OCR_PROVIDER}={s.ocr_provider!r} is invalid; allowed: {allowed}")
    if s.search_rerank in DEPRECATED_RERANK_MODES:
        object.__setattr__(s, "search_rerank", DEPRECATED_RERANK_MODES[s.search_rerank])
    if s.search_rerank not in RERANK_MODES:
        raise ConfigError(
            f"{SEARCH_RERANK}={s.search_rerank!r} is invalid; allowed: {', '.join(RERANK_MODES)}"
        )
    if s.search_rerank == "bedrock" and not s.bedrock_rerank_enabled:
        raise ConfigError(f"{SEARCH_RERANK}=bedrock needs {BEDROCK_RERANK_ENABLED}=true")
    if s.access_control not in ACCESS_CONTROLS:
        allowed = ", ".join(ACCESS_CONTROLS)
        raise ConfigError(f"{ACCESS_CONTROL}={s.access_control!r} is invalid; allowed: {allowed}")
    if s.access_default not in ACCESS_DEFAULTS:
        allowed = ", ".join(ACCESS_DEFAULTS)
        raise ConfigError(f"{ACCESS_DEFAULT}={s.access_default!r} is invalid; allowed: {allowed}")
    problem = suffix_problem(s.document_suffix)
    if problem is not None:
        raise ConfigError(f"{DOCUMENT_SUFFIX}={s.document_suffix!r} is invalid: {problem}")
    if s.reconcile_source not in RECONCILE_SOURCES:
        allowed = ", ".join(RECONCILE_SOURCES)
        raise ConfigError(f"{RECONCILE_SOURCE}={s.reconcile_source!r} is invalid; allowed: {allowed}")
    if s.reconcile_source == "inventory" and not s.inventory_bucket:
        raise ConfigError(f"{RECONCILE_SOURCE}=inventory needs {INVENTORY_BUCKET}")
    for field_name, (low, high) in _INT_RANGES.items():
        _check_range(field_name, getattr(s, field_name), low, high)
    _check_range("chunk_overlap", s.chunk_overlap, 0, s.chunk_size - 1)
