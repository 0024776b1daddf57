"""The S3 Vectors operations moto 5.2 lacks or answers differently, as handlers on moto's own classes.

moto routes, parses and serializes S3 Vectors requests with botocore's service model; it has no
``QueryVectors``, ``UpdateIndexMode``, ``PutVectorBucketDefaultIndexMode`` or
``UpdateMetadataConfiguration``, drops ``metadataConfiguration`` on ``CreateIndex`` and answers
``GetIndex`` without it and without ``creationTime``. ``install()`` in ``__init__`` adds the routes
and binds the handlers below to ``S3VectorsResponse``; the backend's vector writes also update the
index's in-memory search structures (``engine.IndexState``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docpipe_cli.local.s3vectors.engine import Hit, IndexState, TextQuery
from docpipe_cli.local.s3vectors.errors import ConflictException, ValidationException
from docpipe_cli.local.s3vectors.filters import compile_filter
from docpipe_cli.local.s3vectors.text import LANGUAGES

INDEX_MODES: tuple[str, ...] = ("CLASSIC", "ENHANCED")
# Vector buckets created on or after this day are ENHANCED by default and cannot go back to CLASSIC.
ENHANCED_DEFAULT_SINCE = dt.datetime(2026, 9, 30, tzinfo=dt.UTC)
MAX_TOP_K = 10_000
# Results per QueryVectors page. The service does not document its page size; 100 (the topK limit
# before results were paginated) keeps every topK <= 100 in one page, as it was then. The variable
# lets a test page through a small index.
QUERY_PAGE_SIZE = 100
PAGE_SIZE_ENV = "DOCPIPE_S3VECTORS_QUERY_PAGE_SIZE"
MAX_QUERY_TEXTS = 10
MAX_QUERY_TEXT_CHARS = 1024
MAX_TEXT_SEARCH_CONFIGURATIONS = 10
MAX_NON_FILTERABLE_KEYS = 10
MAX_DIMENSION = 4096
SESSION_SECONDS = 300.0  # "pagination tokens remain valid for several minutes"
BACKFILL_ENV = "DOCPIPE_S3VECTORS_BACKFILL_SECONDS"


@dataclass
class TextSearchConfig:
    """One searchable key; ``BUILDING`` after UpdateMetadataConfiguration adds it (see ``status``)."""

    key: str
    language: str | None
    building_since: float | None = None
    reported: bool = False

    def status(self) -> str:
        """``BUILDING`` until the backfill is done, then ``ACTIVE``.

        The local backfill is instant, but a caller must be able to see the BUILDING state: with
        ``DOCPIPE_S3VECTORS_BACKFILL_SECONDS`` unset it lasts until one GetIndex has reported it
        (or 2 s, for clients that never ask); set, it lasts that many seconds, whatever is asked.
        """
        if self.building_since is None:
            return "ACTIVE"
        elapsed = time.monotonic() - self.building_since
        configured = os.environ.get(BACKFILL_ENV)
        done = elapsed >= float(configured) if configured else (self.reported or elapsed >= 2.0)
        if done:
            self.building_since = None
            return "ACTIVE"
        return "BUILDING"

    def describe(self, *, report: bool = False) -> dict[str, Any]:
        status = self.status()
        if report and status == "BUILDING":
            self.reported = True
        described: dict[str, Any] = {"metadataKey": self.key, "status": status}
        if self.language:
            described["language"] = self.language
        return described


@dataclass
class IndexExtras:
    """What the emulator keeps about an index beyond moto's ``Index``."""

    mode: str
    creation_time: dt.datetime
    non_filterable: tuple[str, ...]
    text_search: dict[str, TextSearchConfig]
    state: IndexState
    encryption: dict[str, Any] | None = None


@dataclass
class _Session:
    fingerprint: str
    expires: float
    hits: list[Hit]


@dataclass
class _Sessions:
    """Server-side QueryVectors sessions: a nextToken pages through one computed result."""

    by_token: dict[str, _Session] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, fingerprint: str, hits: list[Hit]) -> str:
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self.lock:
            for stale in [t for t, s in self.by_token.items() if s.expires < now]:
                del self.by_token[stale]
            self.by_token[token] = _Session(fingerprint, now + SESSION_SECONDS, hits)
        return token

    def get(self, token: str, fingerprint: str) -> _Session:
        with self.lock:
            session = self.by_token.get(token)
        if session is None or session.expires < time.monotonic():
            raise ValidationException(
                "The pagination token is invalid or has expired; re-issue the query", path="nextToken"
            )
        if session.fingerprint != fingerprint:
            raise ValidationException(
                "The pagination token belongs to another query: send the same queryVector, queryTexts, "
                "topK, filter and queryMode with it",
                path="nextToken",
            )
        return session


SESSIONS = _Sessions()


# -- model extensions --------------------------------------------------------------------------------


def bucket_creation_time(bucket: Any) -> dt.datetime:
    created = getattr(bucket, "docpipe_creation_time", None)
    if created is None:
        created = dt.datetime.now(dt.UTC)
        bucket.docpipe_creation_time = created
    return created


def bucket_default_mode(bucket: Any) -> str:
    mode = getattr(bucket, "docpipe_default_index_mode", None)
    if mode is None:
        mode = "ENHANCED" if bucket_creation_time(bucket) >= ENHANCED_DEFAULT_SINCE else "CLASSIC"
    return str(mode)


def extras(index: Any) -> IndexExtras:
    """The emulator's record of ``index`` (made on first use for an index created before install)."""
    found = getattr(index, "docpipe_extras", None)
    if found is None:
        found = IndexExtras(
            mode=bucket_default_mode(index._bucket),
            creation_time=dt.datetime.now(dt.UTC),
            non_filterable=(),
            text_search={},
            state=IndexState(int(index.dimension), str(index.distance_metric)),
        )
        found.state.put(
            {"key": v.key, "data": v.data, "metadata": v.metadata} for v in index.vectors.values()
        )
        index.docpipe_extras = found
    return found


# -- handlers (bound to moto's S3VectorsResponse) -----------------------------------------------------


def create_index(self: Any) -> Any:
    from moto.core.responses import ActionResult

    backend = self.s3vectors_backend
    bucket = backend.get_vector_bucket(
        vector_bucket_name=self._get_param("vectorBucketName"),
        vector_bucket_arn=self._get_param("vectorBucketArn"),
    )
    name = self._get_param("indexName")
    if any(index.index_name == name for index in bucket.indexes.values()):
        raise ConflictException("An index with the specified name already exists")
    data_type = self._get_param("dataType")
    dimension = self._get_param("dimension")
    metric = self._get_param("distanceMetric")
    _enum(data_type, ("float32",), "dataType")
    _enum(metric, ("euclidean", "cosine"), "distanceMetric")
    if not isinstance(dimension, int) or not 1 <= dimension <= MAX_DIMENSION:
        raise ValidationException(
            f"1 validation error detected. Value at '/dimension' failed to satisfy constraint: "
            f"Member must be between 1 and {MAX_DIMENSION}, inclusive",
            path="dimension",
        )
    config = self._get_param("metadataConfiguration") or {}
    non_filterable = list(config.get("nonFilterableMetadataKeys") or [])
    if len(non_filterable) > MAX_NON_FILTERABLE_KEYS:
        raise ValidationException(
            f"metadataConfiguration.nonFilterableMetadataKeys has {len(non_filterable)} keys; "
            f"at most {MAX_NON_FILTERABLE_KEYS} are allowed",
            path="metadataConfiguration.nonFilterableMetadataKeys",
        )
    mode = bucket_default_mode(bucket)
    configs = _text_configs(
        config.get("textSearchConfigurations") or [], "metadataConfiguration.textSearchConfigurations"
    )
    if configs and mode != "ENHANCED":
        raise ValidationException(
            "Full-text search requires a vector index in ENHANCED mode; this vector bucket creates "
            "CLASSIC indexes (PutVectorBucketDefaultIndexMode)",
            path="metadataConfiguration.textSearchConfigurations",
        )
    backend.create_index(
        vector_bucket_name=bucket.vector_bucket_name,
        vector_bucket_arn=None,
        index_name=name,
        data_type=data_type,
        dimension=dimension,
        distance_metric=metric,
        tags=self._get_param("tags"),
    )
    index = next(i for i in bucket.indexes.values() if i.index_name == name)
    index.docpipe_extras = IndexExtras(
        mode=mode,
        creation_time=dt.datetime.now(dt.UTC),
        non_filterable=tuple(non_filterable),
        text_search={c.key: c for c in configs},
        state=IndexState(int(dimension), str(metric)),
        encryption=self._get_param("encryptionConfiguration"),
    )
    for config in configs:  # from now on every write is indexed as it comes
        index.docpipe_extras.state.text_index(config.key, config.language)
    return ActionResult({"indexArn": index.index_arn})


def get_index(self: Any) -> Any:
    from moto.core.responses import ActionResult

    index = _index(self)
    more = extras(index)
    bucket = index._bucket
    metadata: dict[str, Any] = {}
    if more.non_filterable:
        metadata["nonFilterableMetadataKeys"] = list(more.non_filterable)
    if more.text_search:
        metadata["textSearchConfigurations"] = [c.describe(report=True) for c in more.text_search.values()]
    described: dict[str, Any] = {
        "vectorBucketName": bucket.vector_bucket_name,
        "indexName": index.index_name,
        "indexArn": index.index_arn,
        "creationTime": more.creation_time,
        "dataType": index.data_type,
        "dimension": index.dimension,
        "distanceMetric": index.distance_metric,
        "encryptionConfiguration": more.encryption or bucket.encryption_configuration,
        "indexMode": more.mode,
    }
    if metadata:  # AWS omits the member when nothing was declared
        described["metadataConfiguration"] = metadata
    return ActionResult({"index": described})


def list_indexes(self: Any) -> Any:
    from moto.core.responses import ActionResult

    name = self._get_param("vectorBucketName")
    arn = self._get_param("vectorBucketArn")
    if name and arn:
        raise ValidationException("Must specify either vectorBucketName or vectorBucketArn but not both")
    prefix = self._get_param("prefix") or ""
    indexes = self.s3vectors_backend.list_indexes(vector_bucket_name=name, vector_bucket_arn=arn)
    return ActionResult(
        {
            "indexes": [
                {
                    "vectorBucketName": i.vectorBucketName,
                    "indexName": i.index_name,
                    "indexArn": i.index_arn,
                    "creationTime": extras(i).creation_time,
                }
                for i in sorted(indexes, key=lambda i: i.index_name)
                if i.index_name.startswith(prefix)
            ]
        }
    )


def get_vector_bucket(self: Any) -> Any:
    from moto.core.responses import ActionResult

    bucket = self.s3vectors_backend.get_vector_bucket(
        vector_bucket_name=self._get_param("vectorBucketName"),
        vector_bucket_arn=self._get_param("vectorBucketArn"),
    )
    return ActionResult(
        {
            "vectorBucket": {
                "vectorBucketName": bucket.vector_bucket_name,
                "vectorBucketArn": bucket.vector_bucket_arn,
                "creationTime": bucket_creation_time(bucket),
                "encryptionConfiguration": bucket.encryption_configuration,
                "defaultIndexMode": bucket_default_mode(bucket),
            }
        }
    )


def put_vector_bucket_default_index_mode(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    bucket = self.s3vectors_backend.get_vector_bucket(
        vector_bucket_name=self._get_param("vectorBucketName"),
        vector_bucket_arn=self._get_param("vectorBucketArn"),
    )
    mode = self._get_param("defaultIndexMode")
    _enum(mode, INDEX_MODES, "defaultIndexMode")
    bucket_creation_time(bucket)
    bucket.docpipe_default_index_mode = mode
    return EmptyResult()


def update_index_mode(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    index = _index(self)
    mode = self._get_param("indexMode")
    _enum(mode, INDEX_MODES, "indexMode")
    more = extras(index)
    if mode == "CLASSIC" and more.mode != "CLASSIC":
        if bucket_creation_time(index._bucket) >= ENHANCED_DEFAULT_SINCE:
            raise ValidationException(
                "CLASSIC can be set only for an index in a vector bucket created before September 30, 2026",
                path="indexMode",
            )
        if more.text_search:
            raise ValidationException(
                "An index with text search configurations must stay in ENHANCED mode", path="indexMode"
            )
    more.mode = mode
    return EmptyResult()


def update_metadata_configuration(self: Any) -> Any:
    from moto.core.responses import ActionResult

    index = _index(self)
    more = extras(index)
    add = self._get_param("add")
    delete = self._get_param("delete")
    if bool(add) == bool(delete):
        raise ValidationException("Specify either add or delete, but not both")
    if more.mode != "ENHANCED":
        raise ValidationException(
            "UpdateMetadataConfiguration needs a vector index in ENHANCED mode (UpdateIndexMode)",
            path="indexMode",
        )
    if add:
        configs = _text_configs(add.get("textSearchConfigurations") or [], "add.textSearchConfigurations")
        for config in configs:
            if config.key in more.text_search:
                raise ValidationException(
                    f"Metadata key '{config.key}' is already full-text searchable",
                    path="add.textSearchConfigurations",
                )
        if len(more.text_search) + len(configs) > MAX_TEXT_SEARCH_CONFIGURATIONS:
            raise ValidationException(
                f"An index has at most {MAX_TEXT_SEARCH_CONFIGURATIONS} text search configurations",
                path="add.textSearchConfigurations",
            )
        for config in configs:
            config.building_since = time.monotonic()
            more.text_search[config.key] = config
            more.state.text_index(config.key, config.language)  # the backfill: every vector already there
    else:
        keys = [k.get("metadataKey") for k in delete.get("textSearchConfigurations") or []]
        missing = [k for k in keys if k not in more.text_search]
        if not keys or missing:
            raise ValidationException(
                f"Metadata key(s) {', '.join(map(str, missing)) or '(none given)'} have no text search "
                "configuration on this index",
                path="delete.textSearchConfigurations",
            )
        for key in keys:
            del more.text_search[key]
            more.state.drop_text_index(key)
    return ActionResult({"indexArn": index.index_arn})


def query_vectors(self: Any) -> Any:
    from moto.core.responses import ActionResult

    index = _index(self)
    more = extras(index)
    top_k = self._get_param("topK")
    if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValidationException(
            f"1 validation error detected. Value at '/topK' failed to satisfy constraint: "
            f"Member must be between 1 and {MAX_TOP_K}, inclusive",
            path="topK",
        )
    query_vector = self._get_param("queryVector")
    texts = self._get_param("queryTexts")
    if not query_vector and not texts:
        raise ValidationException("Specify queryVector, queryTexts, or both")
    mode = self._get_param("queryMode") or more.mode
    _enum(mode, INDEX_MODES, "queryMode")
    if mode == "CLASSIC" and more.mode == "ENHANCED":
        raise ValidationException("You can't specify CLASSIC for an ENHANCED index", path="queryMode")
    vector: list[float] | None = None
    if query_vector:
        vector = list((query_vector or {}).get("float32") or [])
        if len(vector) != int(index.dimension):
            raise ValidationException(
                f"Invalid query vector: it must have length {index.dimension}, but has length {len(vector)}",
                path="queryVector",
            )
    text_queries = _text_queries(texts or [], more)
    filter_spec = self._get_param("filter")
    compiled = (
        compile_filter(filter_spec, enhanced=mode == "ENHANCED", non_filterable=more.non_filterable)
        if filter_spec is not None
        else None
    )
    fingerprint = hashlib.sha256(
        json.dumps(
            [index.index_arn, top_k, vector, texts, filter_spec, self._get_param("queryMode")],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()
    token = self._get_param("nextToken")
    if token:
        session = SESSIONS.get(token.rsplit(".", 1)[0], fingerprint)
        hits, start = session.hits, _offset(token)
    else:
        hits = more.state.query(top_k=top_k, vector=vector, texts=text_queries, filter=compiled)
        start = 0
    page_size = int(os.environ.get(PAGE_SIZE_ENV) or QUERY_PAGE_SIZE)
    page = hits[start : start + page_size]
    result: dict[str, Any] = {
        "vectors": [
            _render(
                hit,
                metadata=bool(self._get_param("returnMetadata")),
                distance=bool(self._get_param("returnDistance")),
                scores=bool(self._get_param("returnScores")) and bool(text_queries),
                hybrid=vector is not None and bool(text_queries),
            )
            for hit in page
        ],
        "distanceMetric": index.distance_metric,
    }
    if start + page_size < len(hits):
        base = token.rsplit(".", 1)[0] if token else SESSIONS.open(fingerprint, hits)
        result["nextToken"] = f"{base}.{start + page_size}"
    return ActionResult(result)


def _offset(token: str) -> int:
    try:
        return int(token.rsplit(".", 1)[1])
    except (IndexError, ValueError):
        raise ValidationException("The pagination token is invalid", path="nextToken") from None


def _render(hit: Hit, *, metadata: bool, distance: bool, scores: bool, hybrid: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"key": hit.key}
    if distance and hit.distance is not None:
        out["distance"] = hit.distance
    if metadata:
        out["metadata"] = hit.metadata
    if scores:
        described: dict[str, Any] = {}
        if hit.bm25:
            described["bm25Scores"] = [{"metadataKey": k, "score": s} for k, s in hit.bm25]
        if hybrid:
            described["fused"] = hit.fused
            if hit.vector_rank is not None:
                described["vectorDistance"] = hit.distance
        out["scores"] = described
    return out


def _text_queries(entries: list[Any], more: IndexExtras) -> list[TextQuery]:
    if not entries:
        return []
    if more.mode != "ENHANCED":
        raise ValidationException(
            "Full-text and hybrid searches require a vector index in ENHANCED mode", path="queryTexts"
        )
    if len(entries) > MAX_QUERY_TEXTS:
        raise ValidationException(
            f"queryTexts has {len(entries)} entries; at most {MAX_QUERY_TEXTS} are allowed", path="queryTexts"
        )
    queries: list[TextQuery] = []
    for i, entry in enumerate(entries):
        where = f"queryTexts[{i}]"
        key, text = entry.get("metadataKey"), entry.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_QUERY_TEXT_CHARS:
            raise ValidationException(
                f"{where}.text must have between 1 and {MAX_QUERY_TEXT_CHARS} characters",
                path=f"{where}.text",
            )
        if any(q.key == key for q in queries):
            raise ValidationException(
                f"Metadata key '{key}' appears in more than one queryTexts entry", path=f"{where}.metadataKey"
            )
        config = more.text_search.get(key)
        if config is None:
            raise ValidationException(
                f"Metadata key '{key}' is not full-text searchable on this index", path=f"{where}.metadataKey"
            )
        if config.status() != "ACTIVE":
            raise ValidationException(
                f"Full-text search on metadata key '{key}' is BUILDING and not yet serving queries",
                path=f"{where}.metadataKey",
            )
        queries.append(TextQuery(key=key, text=text, language=config.language))
    return queries


def _text_configs(entries: list[Any], where: str) -> list[TextSearchConfig]:
    if len(entries) > MAX_TEXT_SEARCH_CONFIGURATIONS:
        raise ValidationException(
            f"{where} has {len(entries)} entries; at most {MAX_TEXT_SEARCH_CONFIGURATIONS} are allowed",
            path=where,
        )
    configs: list[TextSearchConfig] = []
    for entry in entries:
        key = entry.get("metadataKey")
        language = entry.get("language")
        if not isinstance(key, str) or not key:
            raise ValidationException(f"{where}: every configuration needs a metadataKey", path=where)
        if language is not None:
            _enum(language, LANGUAGES, f"{where}.language")
        if any(c.key == key for c in configs):
            raise ValidationException(f"{where}: metadata key '{key}' is configured twice", path=where)
        configs.append(TextSearchConfig(key=key, language=language))
    return configs


def _enum(value: Any, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise ValidationException(
            f"1 validation error detected. Value at '/{where}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(allowed)}]",
            path=where,
        )


def _index(self: Any) -> Any:
    name = self._get_param("vectorBucketName")
    index_name = self._get_param("indexName")
    arn = self._get_param("indexArn")
    if not ((name and index_name and not arn) or (arn and not name and not index_name)):
        raise ValidationException("Must specify either indexArn or both vectorBucketName and indexName")
    return self.s3vectors_backend.get_index(name, index_name, arn)


HANDLERS: dict[str, Callable[[Any], Any]] = {
    "create_index": create_index,
    "get_index": get_index,
    "list_indexes": list_indexes,
    "get_vector_bucket": get_vector_bucket,
    "put_vector_bucket_default_index_mode": put_vector_bucket_default_index_mode,
    "update_index_mode": update_index_mode,
    "update_metadata_configuration": update_metadata_configuration,
    "query_vectors": query_vectors,
}
"""Response methods by operation (moto calls the snake_case name of the operation)."""

ROUTES: tuple[str, ...] = (
    "QueryVectors",
    "UpdateIndexMode",
    "PutVectorBucketDefaultIndexMode",
    "UpdateMetadataConfiguration",
)
"""Operations moto's s3vectors urls.py does not route."""
