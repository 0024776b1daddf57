"""Amazon S3 Vectors index access: batched writes and deletes, paginated reads, vector/text/hybrid queries."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from docpipe import aws
from docpipe.chunking import metadata_size
from docpipe.config import MAX_LIST_SEGMENTS
from docpipe.exceptions import (
    IndexMismatchError,
    InvalidInputError,
    NotFoundError,
)

# Keys stored with every vector but never filtered on: they do not count against the 2 KB
# filterable-metadata limit. template.yaml's VectorIndex declares the same list (a test checks).
NON_FILTERABLE_METADATA_KEYS: tuple[str, ...] = ("text", "source_uri")
# The document's title, stored with every chunk: its sidecar's ``title`` or its file name without
# the extension (``document_title``), at most MAX_TITLE_CHARS (it counts as filterable metadata).
TITLE_KEY = "title"
MAX_TITLE_CHARS = 200
# Keys the index makes full-text searchable (BM25 in the store; hybrid and text search query them):
# the chunk's text and its document's title, the key set the retrieval benchmark ranked best
# (docs/benchmarks.md, "Retrieval"). A non-filterable key may be searchable (the S3 Vectors model
# says so). template.yaml's VectorIndexTextSearch declares the same list (a test checks).
TEXT_SEARCH_KEYS: tuple[str, ...] = ("text", TITLE_KEY)
# QueryVectors ``queryTexts``: 1..10 entries, one per searchable key, each 1..1,024 characters.
MAX_QUERY_TEXT_CHARS = 1024
MAX_QUERY_TEXTS = 10
INDEX_MODES = ("CLASSIC", "ENHANCED")
# GetIndex's status of a text search configuration: BUILDING while it backfills, then ACTIVE.
TEXT_SEARCH_ACTIVE = "ACTIVE"

MAX_VECTORS_PER_WRITE = 500  # PutVectors and DeleteVectors
MAX_KEYS_PER_GET = 100  # GetVectors
MAX_REQUEST_BYTES = 20 * 1024 * 1024  # request payload limit
# QueryVectors topK: up to 10,000 since June 2026, the results paginated (nextToken).
MAX_TOP_K = 10_000
MAX_SEGMENTS = MAX_LIST_SEGMENTS  # ListVectors segmentCount (owned by config: a setting is bounded by it)
DISTANCE_METRICS = ("cosine", "euclidean")
MAX_LIST_PAGE = 1000  # ListVectors maxResults
# ``clear`` lists and deletes this many keys per round: the whole key list is never in memory.
CLEAR_ROUND_KEYS = 10_000
# JSON envelope of a PutVectors request besides the vectors themselves (names, brackets).
_REQUEST_OVERHEAD_BYTES = 1024
T = TypeVar("T")


@dataclass(frozen=True)
class VectorRecord:
    """One vector as stored: its key, float32 data and metadata."""

    key: str
    data: list[float]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueryMatch:
    """One result of QueryVectors, in the store's order.

    Attributes:
        key: the vector key.
        distance: the distance from the query vector: for a vector-only query always, for a hybrid
            one when the vector search placed the result (``scores.vectorDistance``); None otherwise.
        metadata: the stored metadata.
        fused: the store's reciprocal-rank-fusion score (hybrid queries only).
        bm25: searchable key -> BM25 score, for the keys whose full-text search placed the result.
        vector_ranked: whether the vector search placed the result (in a hybrid answer: the
            store reports ``scores.vectorDistance``).
    """

    key: str
    distance: float | None
    metadata: dict[str, Any]
    fused: float | None = None
    bm25: dict[str, float] = field(default_factory=dict)
    vector_ranked: bool = True


@dataclass(frozen=True)
class QueryResult:
    """The store's answer, best first."""

    matches: list[QueryMatch]
    # Bytes of the QueryVectors answers' JSON bodies (every page), what the store sent back.
    response_bytes: int = 0


@dataclass(frozen=True)
class TextSearchStatus:
    """One full-text searchable key as GetIndex reports it: its analyzer language and backfill status."""

    language: str | None
    status: str

    @property
    def active(self) -> bool:
        return self.status == TEXT_SEARCH_ACTIVE


@dataclass(frozen=True)
class IndexInfo:
    """What GetIndex says about an index.

    ``reports_metadata_configuration`` is False for an endpoint whose GetIndex answers neither
    ``metadataConfiguration`` nor the required ``creationTime`` (moto 5.2 drops both): there an
    empty ``non_filterable_keys`` means "not reported", not "none declared" as it does on AWS.
    """

    dimension: int
    distance_metric: str
    data_type: str
    non_filterable_keys: tuple[str, ...]
    reports_metadata_configuration: bool = True
    # CLASSIC or ENHANCED; None where GetIndex does not say (an endpoint older than index modes).
    index_mode: str | None = None
    # searchable key -> its text search configuration (empty: no key is full-text searchable).
    text_search: Mapping[str, TextSearchStatus] = field(default_factory=dict)

    def text_search_ready(self, keys: Collection[str]) -> bool:
        """Whether full-text and hybrid queries over ``keys`` run: ENHANCED, each key ACTIVE."""
        return self.index_mode == "ENHANCED" and all(
            k in self.text_search and self.text_search[k].active for k in keys
        )


class S3VectorStore:
    """One S3 Vectors index.

    Writes are split into requests of at most 500 vectors and 20 MiB. Throttling (S3 Vectors
    limits writes per index per second) is retried by the client's botocore retry mode, the one
    retry layer (``docpipe.aws``); what outlasts it is a ``ThrottledError``. Errors become docpipe errors.

    Args:
        client: a boto3 ``s3vectors`` client.
        vector_bucket: the vector bucket name.
        index_name: the index name.
    """

    def __init__(
        self,
        client: Any,
        vector_bucket: str,
        index_name: str,
    ) -> None:
        if not vector_bucket or not index_name:
            raise InvalidInputError("a vector bucket and an index name are required")
        self._client = client
        self.vector_bucket = vector_bucket
        self.index_name = index_name
        self._info: IndexInfo | None = None
        _install_fast_put_vectors(client)

    @property
    def client(self) -> Any:
        return self._client

    @property
    def uri(self) -> str:
        return f"s3vectors://{self.vector_bucket}/{self.index_name}"

    def for_index(self, index_name: str) -> S3VectorStore:
        """A store of another index in the same vector bucket, on the same client and settings."""
        if not index_name:
            raise InvalidInputError("an index name is required")
        if index_name == self.index_name:
            return self
        other = copy.copy(self)
        other.index_name = index_name
        other._info = None
        return other

    def _index_args(self) -> dict[str, str]:
        return {"vectorBucketName": self.vector_bucket, "indexName": self.index_name}

    # -- index ----------------------------------------------------------------------------------

    def describe(self, *, refresh: bool = False) -> IndexInfo:
        """Dimension, metric and non-filterable keys of the index (GetIndex, cached)."""
        if self._info is None or refresh:
            response = self._call("get_index", **self._index_args())
            index = response["index"]
            config = index.get("metadataConfiguration") or {}
            self._info = IndexInfo(
                dimension=int(index["dimension"]),
                distance_metric=str(index.get("distanceMetric", "cosine")),
                data_type=str(index.get("dataType", "float32")),
                non_filterable_keys=tuple(config.get("nonFilterableMetadataKeys") or ()),
                reports_metadata_configuration="metadataConfiguration" in index or "creationTime" in index,
                index_mode=index.get("indexMode"),
                text_search={
                    str(c["metadataKey"]): TextSearchStatus(c.get("language"), str(c.get("status") or ""))
                    for c in config.get("textSearchConfigurations") or ()
                },
            )
        return self._info

    def check_dimension(self, dimension: int, *, what: str = "the embedder") -> IndexInfo:
        """Fail with ``IndexMismatchError`` when the index's dimension differs from ``dimension``."""
        info = self.describe()
        if info.dimension != dimension:
            raise IndexMismatchError(
                f"{self.uri} has dimension {info.dimension} but {what} produces {dimension}: "
                "set EMBEDDING_DIMENSION to the index's dimension or point VECTOR_INDEX at a matching index"
            )
        return info

    def check_non_filterable(self, keys: Collection[str]) -> IndexInfo:
        """Fail with ``IndexMismatchError`` unless the index declares every one of ``keys`` non-filterable.

        An index's non-filterable keys are fixed when it is created. Chunk text under a filterable
        key counts against the 2 KB filterable limit, so nearly every PutVectors would fail with a
        ValidationException that names neither the index nor the key; this names both. An
        endpoint that does not report the configuration (see ``IndexInfo``) passes unchecked.
        """
        info = self.describe()
        if not info.reports_metadata_configuration:
            return info
        missing = [k for k in keys if k not in info.non_filterable_keys]
        if missing:
            declared = ", ".join(info.non_filterable_keys) or "none"
            raise IndexMismatchError(
                f"{self.uri} does not declare metadata key(s) {', '.join(missing)} non-filterable "
                f"(it declares: {declared}): recreate the index with them in "
                "MetadataConfiguration.NonFilterableMetadataKeys, or point VECTOR_INDEX at one that has them"
            )
        return info

    def index_exists(self) -> bool:
        try:
            self.describe(refresh=True)
        except NotFoundError:
            return False
        return True

    def create_index(
        self,
        dimension: int,
        distance_metric: str = "cosine",
        non_filterable_keys: Sequence[str] = NON_FILTERABLE_METADATA_KEYS,
    ) -> None:
        """Create the index (used by restore and the local stack; the template creates it on AWS).

        Its mode is the vector bucket's default; ``enable_text_search`` makes it ENHANCED and
        searchable, as the template's VectorIndexTextSearch does for the stack's index.
        """
        if distance_metric not in DISTANCE_METRICS:
            raise InvalidInputError(f"distance metric {distance_metric!r}; allowed: {DISTANCE_METRICS}")
        kwargs: dict[str, Any] = {
            **self._index_args(),
            "dataType": "float32",
            "dimension": dimension,
            "distanceMetric": distance_metric,
        }
        if non_filterable_keys:
            kwargs["metadataConfiguration"] = {"nonFilterableMetadataKeys": list(non_filterable_keys)}
        self._call("create_index", **kwargs)
        self._info = None

    def enable_text_search(
        self, keys: Sequence[str] = TEXT_SEARCH_KEYS, *, language: str | None = None
    ) -> list[str]:
        """Make the index ENHANCED and ``keys`` full-text searchable in ``language``, in place.

        Idempotent: only what differs is changed. UpdateIndexMode switches a CLASSIC index to
        ENHANCED without re-ingesting; UpdateMetadataConfiguration adds the missing keys, which the
        store then backfills (GetIndex says BUILDING, then ACTIVE). A key searchable in another
        language is deleted and added again (the API takes an add or a delete per call, not both),
        which rebuilds it. Keys searchable beyond ``keys`` are left alone.

        Returns:
            What was changed, one line each (empty when nothing was).
        """
        info = self.describe(refresh=True)
        changed: list[str] = []
        if info.index_mode != "ENHANCED":
            self._call("update_index_mode", **self._index_args(), indexMode="ENHANCED")
            changed.append(f"index mode {info.index_mode or 'unreported'} -> ENHANCED")
        stale = [k for k in keys if k in info.text_search and info.text_search[k].language != language]
        if stale:
            self._call(
                "update_metadata_configuration",
                **self._index_args(),
                delete={"textSearchConfigurations": [{"metadataKey": k} for k in stale]},
            )
            changed.extend(
                f"text search on {k!r}: language {info.text_search[k].language} removed" for k in stale
            )
        missing = [k for k in keys if k not in info.text_search or k in stale]
        if missing:
            configs = [{"metadataKey": k, **({"language": language} if language else {})} for k in missing]
            self._call(
                "update_metadata_configuration",
                **self._index_args(),
                add={"textSearchConfigurations": configs},
            )
            changed.extend(f"text search on {k!r} added (language {language or 'standard'})" for k in missing)
        self._info = None
        return changed

    def wait_for_text_search(
        self,
        keys: Sequence[str] = TEXT_SEARCH_KEYS,
        *,
        timeout: float = 900.0,
        poll: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> IndexInfo:
        """GetIndex until ``keys`` are ACTIVE (the backfill done); the last answer either way.

        Returns after ``timeout`` seconds even if a key still builds: searches meanwhile answer
        with the dense ranking and say so, so nothing needs to block on it.
        """
        waited = 0.0
        while True:
            info = self.describe(refresh=True)
            if info.text_search_ready(keys) or waited >= timeout:
                return info
            sleep(poll)
            waited += poll

    def delete_index(self) -> None:
        self._call("delete_index", **self._index_args())
        self._info = None

    def clear(self) -> int:
        """Delete every vector and keep the index (its dimension, metric and metadata configuration).

        Keys are listed and deleted ``CLEAR_ROUND_KEYS`` at a time, so memory stays flat whatever
        the index size; each round lists afresh from the start of what is left.

        Returns:
            How many keys were deleted.
        """
        deleted = 0
        while True:
            keys = [
                r.key
                for r in islice(self.iter_vectors(return_data=False, return_metadata=False), CLEAR_ROUND_KEYS)
            ]
            if not keys:
                return deleted
            deleted += self.delete(keys)

    def spans_pages(self, page_size: int = MAX_LIST_PAGE) -> bool:
        """Whether the index holds more than one ListVectors page of ``page_size`` keys.

        One keys-only page answers it. An endpoint that returns more than the page size (moto 5.2
        ignores ``maxResults`` and ``segmentCount``) counts as one page: listing it in segments
        would hand every segment the whole index.
        """
        page_size = min(max(page_size, 1), MAX_LIST_PAGE)
        response = next(self._list_pages(returnData=False, returnMetadata=False, maxResults=page_size))
        return len(response.get("vectors", [])) <= page_size and bool(response.get("nextToken"))

    # -- writes ---------------------------------------------------------------------------------

    def put(self, records: Iterable[VectorRecord]) -> int:
        """Write (insert or overwrite) vectors; returns how many were written."""
        written = 0
        for batch in _batches(records, max_count=MAX_VECTORS_PER_WRITE, max_bytes=MAX_REQUEST_BYTES):
            payload = _PutPayload(_vector_payload(r) for r in batch)
            self._call("put_vectors", **self._index_args(), vectors=payload)
            written += len(batch)
        return written

    def delete(self, keys: Iterable[str]) -> int:
        """Delete vectors by key (absent keys are fine); returns how many keys were sent."""
        deleted = 0
        for chunk in _chunked(keys, MAX_VECTORS_PER_WRITE):
            self._call("delete_vectors", **self._index_args(), keys=chunk)
            deleted += len(chunk)
        return deleted

    # -- reads ----------------------------------------------------------------------------------

    def get(
        self, keys: Iterable[str], *, return_data: bool = True, return_metadata: bool = True
    ) -> list[VectorRecord]:
        """The vectors that exist among ``keys`` (GetVectors, 100 keys per call)."""
        found: list[VectorRecord] = []
        for chunk in _chunked(keys, MAX_KEYS_PER_GET):
            response = self._call(
                "get_vectors",
                **self._index_args(),
                keys=chunk,
                returnData=return_data,
                returnMetadata=return_metadata,
            )
            found.extend(_record_from(v) for v in response.get("vectors", []))
        return found

    def iter_vectors(
        self,
        *,
        return_data: bool = True,
        return_metadata: bool = True,
        segment_count: int | None = None,
        segment_index: int | None = None,
        page_size: int = 1000,
    ) -> Iterator[VectorRecord]:
        """Every vector of the index (or of one segment), page by page (ListVectors).

        Segments let callers list in parallel (``segment_count`` up to 16). Note: moto 5.2 ignores
        segments and pagination and returns the whole index for every segment, so callers that
        fan out over segments should do so only against AWS.
        """
        kwargs: dict[str, Any] = {
            "returnData": return_data,
            "returnMetadata": return_metadata,
            "maxResults": min(max(page_size, 1), MAX_LIST_PAGE),
        }
        if segment_count is not None:
            if not 1 <= segment_count <= MAX_SEGMENTS:
                raise InvalidInputError(f"segment_count must be 1..{MAX_SEGMENTS} (got {segment_count})")
            index = segment_index or 0
            if not 0 <= index < segment_count:
                raise InvalidInputError(f"segment_index must be 0..{segment_count - 1} (got {index})")
            kwargs["segmentCount"] = segment_count
            kwargs["segmentIndex"] = index
        for response in self._list_pages(**kwargs):
            for vector in response.get("vectors", []):
                yield _record_from(vector)

    def _list_pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """ListVectors responses of this index, following ``nextToken`` (the first page is always there)."""
        kwargs = {**self._index_args(), **kwargs}
        while True:
            response: dict[str, Any] = self._call("list_vectors", **kwargs)
            yield response
            token = response.get("nextToken")
            if not token:
                return
            kwargs["nextToken"] = token

    def query(
        self,
        vector: Sequence[float] | None,
        *,
        k: int = 5,
        filter: Mapping[str, Any] | None = None,
        texts: Mapping[str, str] | None = None,
    ) -> QueryResult:
        """One QueryVectors: vector, full-text or hybrid, best first, with metadata and scores.

        Args:
            vector: the query embedding (same dimension as the index), or None for full-text only.
            k: 1..10,000 (QueryVectors pages the answer; every page is followed).
            filter: S3 Vectors metadata filter.
            texts: searchable key -> query text (``queryTexts``); with ``vector`` a hybrid query
                the store fuses by reciprocal rank, without it a BM25 query. The index must be
                ENHANCED with the keys searchable; a text is cut at ``MAX_QUERY_TEXT_CHARS``.
        """
        if not 1 <= k <= MAX_TOP_K:
            raise InvalidInputError(f"k must be 1..{MAX_TOP_K} (got {k})")
        if vector is None and not texts:
            raise InvalidInputError("a query needs a vector, query texts, or both")
        if texts and len(texts) > MAX_QUERY_TEXTS:
            raise InvalidInputError(f"at most {MAX_QUERY_TEXTS} query texts (got {len(texts)})")
        return self._service_query(vector, k=k, filter=filter, texts=texts)

    def _service_query(
        self,
        vector: Sequence[float] | None,
        *,
        k: int,
        filter: Mapping[str, Any] | None,
        texts: Mapping[str, str] | None = None,
    ) -> QueryResult:
        kwargs: dict[str, Any] = {
            **self._index_args(),
            "topK": k,
            "returnMetadata": True,
            "returnDistance": True,
        }
        if vector is not None:
            kwargs["queryVector"] = {"float32": [float(x) for x in vector]}
        if texts:
            kwargs["queryTexts"] = [
                {"metadataKey": key, "text": _query_text(text)} for key, text in texts.items()
            ]
            kwargs["returnScores"] = True
        if filter:
            kwargs["filter"] = dict(filter)
        matches: list[QueryMatch] = []
        size = 0
        counter = _ResponseSize(self._client)
        with counter:
            while True:
                response = self._call("query_vectors", **kwargs)
                matches.extend(_match_from(v) for v in response.get("vectors", []))
                token = response.get("nextToken")
                if not token or len(matches) >= k:
                    break
                kwargs["nextToken"] = token
        size = counter.bytes
        return QueryResult(matches=matches[:k], response_bytes=size)

    # -- plumbing -------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as error:
            aws.translate_client_error(error, f"{self.uri} ({operation})")


class _PutPayload(list[dict[str, Any]]):
    """PutVectors ``vectors`` built by this module: plain JSON types, eligible for the fast body."""


_FAST_BODY = "docpipe_put_vectors_body"


def _install_fast_put_vectors(client: Any) -> None:
    """Let ``client`` send this module's PutVectors bodies without botocore walking every float.

    botocore validates and serialises a request member by member, then ``json.dumps`` the result:
    for a book (218 vectors x 256 floats) that is ~56,000 Python calls and ~120 ms, most of the
    cost of the write. For the rest-json protocol the body is plain JSON of ``params`` when every
    value is a string, number, list or dict and every float is finite, which ``_vector_payload``
    and ``_all_finite`` ensure; orjson writes it in ~2 ms. Its text differs from botocore's only in
    spelling (UTF-8 rather than ``\\u`` escapes, no spaces, ``1e30`` for ``1e+30``): the same JSON
    values, which tests/unit/test_vectorstore.py checks. A NaN or infinity (orjson would write
    ``null``) or a value orjson refuses sends the call down botocore's own path.

    The full body is built when the call starts (``provide-client-params``), botocore validates
    and serialises only the first vector, and the body is swapped in before checksums, signing
    and sending (``before-call``). The price: vectors after the first are not validated
    client-side, so a malformed one comes back as the service's ValidationException rather than
    botocore's ParamValidationError. Only ``_PutPayload`` lists take this path; other callers of
    the same client are untouched. Fake clients without ``meta.events`` simply do not get it.
    """
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None or not hasattr(events, "register"):
        return
    events.register(
        "provide-client-params.s3vectors.PutVectors", _prepare_fast_body, unique_id="docpipe-fast-put-1"
    )
    events.register("before-call.s3vectors.PutVectors", _send_fast_body, unique_id="docpipe-fast-put-2")


def _prepare_fast_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> dict[str, Any] | None:
    vectors = params.get("vectors")
    if type(vectors) is not _PutPayload or not vectors or not _all_finite(vectors):
        return None
    import orjson

    try:
        body = orjson.dumps(params)
    except TypeError:  # orjson.JSONEncodeError: e.g. an int beyond 64 bits, a non-str dict key
        return None  # botocore's own serialiser decides (and reports) what to do
    context[_FAST_BODY] = body
    return {**params, "vectors": [vectors[0]]}


def _all_finite(vectors: list[dict[str, Any]]) -> bool:
    # A NaN or infinity anywhere makes the sum non-finite (so may an overflow: then the slow path).
    for vector in vectors:
        if not math.isfinite(sum(vector["data"]["float32"])) or not _finite_values(vector["metadata"]):
            return False
    return True


def _finite_values(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_values(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite_values(v) for v in value)
    return True


def _send_fast_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    body = context.pop(_FAST_BODY, None)
    if body is not None:
        params["body"] = body


def document_title(key: str) -> str:
    """A document's title from its S3 key: the file name without its extension, words apart.

    ``reports/2026/Q3_board-minutes.final.pdf`` -> ``Q3 board-minutes.final``: underscores become
    spaces, so the analyzer sees the words; at most ``MAX_TITLE_CHARS``.
    """
    name = key.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    return stem.replace("_", " ").strip()[:MAX_TITLE_CHARS]


def _query_text(text: str) -> str:
    """A query text within QueryVectors' limit: cut at the last word boundary before it."""
    if len(text) <= MAX_QUERY_TEXT_CHARS:
        return text
    cut = text[:MAX_QUERY_TEXT_CHARS]
    space = cut.rfind(" ")
    return cut[:space] if space > 0 else cut


def _match_from(vector: Mapping[str, Any]) -> QueryMatch:
    scores: Mapping[str, Any] | None = vector.get("scores")
    given = scores or {}
    distance = vector.get("distance", given.get("vectorDistance"))
    fused = given.get("fused")
    return QueryMatch(
        key=vector["key"],
        distance=None if distance is None else float(distance),
        metadata=vector.get("metadata") or {},
        fused=None if fused is None else float(fused),
        bm25={str(b["metadataKey"]): float(b["score"]) for b in given.get("bm25Scores") or ()},
        vector_ranked="vectorDistance" in given if scores is not None else distance is not None,
    )


class _ResponseSize:
    """Counts the bytes of QueryVectors answers a client receives while the block runs.

    botocore's ``after-call`` event carries the raw HTTP response; the benchmark reports the bytes
    a query brings back (docs/benchmarks.md, "Retrieval"). Clients without ``meta.events`` (fakes)
    count nothing.
    """

    def __init__(self, client: Any) -> None:
        self._events = getattr(getattr(client, "meta", None), "events", None)
        self.bytes = 0

    def _seen(self, http_response: Any = None, **_: Any) -> None:
        content = getattr(http_response, "content", None)
        if content:
            self.bytes += len(content)

    def __enter__(self) -> _ResponseSize:
        if self._events is not None and hasattr(self._events, "register"):
            self._events.register("after-call.s3vectors.QueryVectors", self._seen)
        return self

    def __exit__(self, *_: Any) -> None:
        if self._events is not None and hasattr(self._events, "unregister"):
            self._events.unregister("after-call.s3vectors.QueryVectors", self._seen)


def _vector_payload(record: VectorRecord) -> dict[str, Any]:
    return {
        "key": record.key,
        "data": {"float32": [float(x) for x in record.data]},
        "metadata": record.metadata,
    }


def _record_from(vector: Mapping[str, Any]) -> VectorRecord:
    data = vector.get("data") or {}
    return VectorRecord(
        key=vector["key"],
        data=list(data.get("float32") or []),
        metadata=dict(vector.get("metadata") or {}),
    )


def _approx_size(record: VectorRecord) -> int:
    # float32 values serialise to at most ~24 JSON characters; metadata is measured as JSON.
    return len(record.key.encode()) + 24 * len(record.data) + metadata_size(record.metadata) + 64


def _batches(
    records: Iterable[VectorRecord], *, max_count: int, max_bytes: int
) -> Iterator[list[VectorRecord]]:
    """Group records into requests under both the count and the payload-size limit."""
    batch: list[VectorRecord] = []
    size = _REQUEST_OVERHEAD_BYTES
    for record in records:
        record_size = _approx_size(record)
        if batch and (len(batch) >= max_count or size + record_size > max_bytes):
            yield batch
            batch, size = [], _REQUEST_OVERHEAD_BYTES
        batch.append(record)
        size += record_size
    if batch:
        yield batch


def _chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
