"""SearchService: embed the query, query the index (the store ranks), rerank, fetch neighbours, shape.

The one search path: SearchFunction, ``docpipe search`` and ``DocpipeRetriever`` all call
``SearchService.search``. Rankings (docs/search.md): ``hybrid`` is one QueryVectors with the query
vector and the query text, which the store fuses by reciprocal rank; ``text`` is the store's BM25
alone; ``none`` the vector search alone; ``bedrock`` the Bedrock Rerank API over the hybrid
candidates. While the index cannot answer text queries yet (not ENHANCED, or its text search still
BUILDING after it was added to an index that held vectors), those modes answer with the vector
ranking and the response says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from docpipe.access import (
    ACCESS_KEY,
    AccessDocuments,
    Caller,
    CallerMap,
    Grant,
    access_condition,
    compose_filter,
    query_principals,
    readable,
    resolve_principals,
)
from docpipe.config import Settings
from docpipe.embeddings.base import Embedder
from docpipe.exceptions import ForbiddenError, ValidationError
from docpipe.filters import ENHANCED_OPERATORS, uses_operator
from docpipe.ids import vector_key
from docpipe.rerank import Candidate, Reranker, make_reranker
from docpipe.search.request import SearchRequest
from docpipe.vectorstore import TEXT_SEARCH_KEYS, IndexInfo, QueryMatch, QueryResult, S3VectorStore

# Hybrid candidates the Bedrock reranker sees: Bedrock bills a rerank query per 100 documents, and
# the store's hybrid ranking already holds the text matches a dense-only pool missed.
BEDROCK_CANDIDATES = 100
# How long a text search status that is not ACTIVE is trusted before GetIndex is asked again (a
# warm container notices the end of a backfill within this many seconds).
TEXT_STATUS_MAX_AGE_SECONDS = 60.0
# What ordered a response's matches (its ``ranked_by``).
RANKED_BY = ("hybrid", "text", "dense", "bedrock")
# Fields every match carries at the top level; ``metadata`` holds every stored key but the text.
_TOP_LEVEL = ("source_uri", "page", "page_end", "section", "chunk_no")
# Metric (Powertools, dimension ``reason``) of searches refused for access: unmapped,
# not_delegate, no_on_behalf_of.
DENIED_METRIC = "SearchRequestsDenied"
DEFAULT_METRICS_NAMESPACE = "docpipe"  # the template's POWERTOOLS_METRICS_NAMESPACE

logger = Logger(child=True)


def similarity(metric: str, distance: float) -> float:
    """A higher-is-better score from an S3 Vectors distance.

    cosine: the cosine similarity, ``1 - distance`` (1 identical, 0 orthogonal, -1 opposite).
    euclidean: ``1 / (1 + distance)``, in (0, 1], 1 for an identical vector.
    """
    if metric == "euclidean":
        return 1.0 / (1.0 + distance)
    return 1.0 - distance


@dataclass(frozen=True)
class SearchMatch:
    """One chunk in the answer.

    Attributes:
        key: the vector key (``<doc_id>#<chunk_no>``).
        score: what orders the matches (higher first): the store's fused score (hybrid), BM25
            (text), the similarity (dense) or Bedrock's relevance (bedrock).
        metadata: every stored key (the document key is ``metadata["key"]``).
        similarity: the dense similarity, when the vector search placed the chunk.
        bm25: searchable key -> BM25 score, for the keys whose full-text search placed it.
        placed_by: the store's rankings that placed it: ``vector``, ``text`` or both.
        rerank_score: deprecated: ``score`` when the list is not the dense order.
        context: neighbouring chunks, when asked for.
    """

    key: str
    score: float
    metadata: dict[str, Any]
    similarity: float | None = None
    bm25: Mapping[str, float] = field(default_factory=dict)
    placed_by: tuple[str, ...] = ("vector",)
    rerank_score: float | None = None
    context: list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        return str(self.metadata.get("text", ""))

    @property
    def document_key(self) -> str | None:
        """The S3 key of the document the chunk came from (what a filter's ``key`` matches)."""
        value = self.metadata.get("key")
        return None if value is None else str(value)

    def as_dict(self) -> dict[str, Any]:
        md = self.metadata
        result: dict[str, Any] = {"score": round(self.score, 6), "placed_by": list(self.placed_by)}
        if self.similarity is not None:
            result["similarity"] = round(self.similarity, 6)
        if self.bm25:
            result["bm25"] = {k: round(v, 6) for k, v in self.bm25.items()}
        result["document_key"] = self.document_key
        result["vector_key"] = self.key
        result["key"] = self.key  # deprecated: the vector key, as before; see document_key
        for name in _TOP_LEVEL:
            if name in md:
                result[name] = md[name]
        result["text"] = self.text
        result["metadata"] = {k: v for k, v in md.items() if k != "text"}
        if self.rerank_score is not None:
            result["rerank_score"] = round(self.rerank_score, 6)
        if self.context is not None:
            result["context"] = self.context
        return result


@dataclass(frozen=True)
class SearchResponse:
    """The answer: the matches in ``score`` order and how they were ranked.

    ``rerank`` is the mode asked for; ``ranked_by`` what ordered the list (``dense`` where text
    search was not ready, ``notice`` then says why); ``text_search`` the index's text search state
    (ACTIVE, BUILDING or OFF).
    """

    matches: list[SearchMatch]
    index: str
    model: str
    rerank: str
    took_ms: float
    ranked_by: str = "dense"
    text_search: str = "OFF"
    notice: str | None = None
    metric: str = "cosine"
    extra: dict[str, Any] = field(default_factory=dict)
    access_control: str = "off"

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "matches": [m.as_dict() for m in self.matches],
            "index": self.index,
            "model": self.model,
            "rerank": self.rerank,
            "ranked_by": self.ranked_by,
            "text_search": self.text_search,
        }
        if self.notice:
            result["notice"] = self.notice
        result.update(metric=self.metric, took_ms=round(self.took_ms, 1), access_control=self.access_control)
        return result


class SearchService:
    """Search one index with one embedder.

    Args:
        settings: the default ``rerank`` and whether Bedrock reranking is enabled.
        store: the index (its metric turns distances into similarities; its mode and text search
            status decide whether text queries run).
        embedder: the model the index was built with (checked against the index's dimension).
        rerankers: ``mode -> Reranker | None``; ``make_reranker`` by default (tests inject a
            Bedrock reranker on a stubbed client).
        text_keys: the searchable keys a text or hybrid query asks (``TEXT_SEARCH_KEYS``).
        access: the caller mapping (``ACCESS_CALLERS_PARAMETER``); read only when access control
            is enforced and a request names an IAM caller.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: S3VectorStore,
        embedder: Embedder,
        rerankers: Callable[[str], Reranker | None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        text_keys: Sequence[str] = TEXT_SEARCH_KEYS,
        access: AccessDocuments | None = None,
    ) -> None:
        self.settings = settings
        self.access = access or AccessDocuments(
            callers_parameter=settings.access_callers_parameter, max_age=settings.access_cache_seconds
        )
        self.store = store
        self.embedder = embedder
        self.text_keys = tuple(text_keys)
        self._rerankers = rerankers or (lambda mode: make_reranker(mode, settings))
        self._cache: dict[str, Reranker | None] = {}
        self._clock = clock
        self._described_at: float | None = None

    def mode_of(self, request: SearchRequest) -> str:
        """The request's rerank mode, or the stack's default; bedrock only where it is enabled."""
        mode = request.rerank or self.settings.search_rerank
        if mode == "bedrock" and not self.settings.bedrock_rerank_enabled:
            raise ValidationError(
                "rerank", "bedrock reranking is not enabled on this stack (EnableBedrockRerank=false)"
            )
        return mode

    def grant(self, request: SearchRequest, caller: Caller | None = None) -> Grant | None:
        """The principals this search runs with; None when access control is off.

        Raises:
            ForbiddenError: an unmapped IAM caller, or ``on_behalf_of`` from a non-delegate.
            ValidationError: no identity and no ``on_behalf_of`` while enforced.
        """
        if self.settings.access_control != "enforced":
            return None
        caller = caller or Caller()
        callers = self.access.callers() if caller.arn else CallerMap({})
        try:
            return resolve_principals(caller, request.on_behalf_of, callers)
        except ForbiddenError as error:
            self._denied(error.reason, caller)
            raise
        except ValidationError:
            self._denied("no_on_behalf_of", caller)
            raise

    def _denied(self, reason: str, caller: Caller) -> None:
        logger.warning("search refused", extra={"caller": caller.label, "reason": reason})
        # POWERTOOLS_METRICS_NAMESPACE in the functions; in-process callers (CLI, MCP) have none.
        namespace = Metrics().namespace or DEFAULT_METRICS_NAMESPACE
        with single_metric(name=DENIED_METRIC, unit=MetricUnit.Count, value=1, namespace=namespace) as metric:
            metric.add_dimension(name="reason", value=reason)

    def held(self, grant: Grant | None) -> tuple[str, ...] | None:
        """What a chunk's list must share for this search: the grant's principals, ``everyone``,
        and ``unlisted`` where ``AccessDefault=everyone``; None when access control is off."""
        return None if grant is None else query_principals(grant.principals, self.settings.access_default)

    def store_filter(
        self, request: SearchRequest, info: IndexInfo, grant: Grant | None = None
    ) -> dict[str, Any] | None:
        """The filter QueryVectors gets: the one place where it is composed.

        The caller's filter as validated by ``SearchRequest`` (which refuses one that names the
        access key), ANDed inside the access condition when access control is enforced
        (docs/access-control.md). An operator only an ENHANCED index answers (``$startsWith``) on
        a CLASSIC index is the caller's 400, named, not the store's error.
        """
        caller = request.filter
        for op in ENHANCED_OPERATORS:
            where = uses_operator(caller, op)
            if where and info.index_mode != "ENHANCED":
                raise ValidationError(
                    where,
                    f"{op} needs the index in ENHANCED mode; {self.store.index_name} is "
                    f"{info.index_mode or 'of an unreported mode'} (docs/search.md, 'Index mode')",
                )
        held = self.held(grant)
        if held is not None:
            return compose_filter(access_condition(held), caller)
        return dict(caller) if caller else None

    def search(self, request: SearchRequest, caller: Caller | None = None) -> SearchResponse:
        """Run one search for ``caller`` (None: no identity, as direct invocation and in-process).

        Raises:
            ValidationError: ``rerank=bedrock`` on a stack without it; ``$startsWith`` on a
                CLASSIC index; no ``on_behalf_of`` from a caller without identity while access
                control is enforced.
            ForbiddenError: see ``grant``.
            IndexMismatchError: the embedder's dimension is not the index's.
            TransientError / AWSError: from Bedrock or S3 Vectors, translated.
        """
        started = self._clock()
        grant = self.grant(request, caller)
        held = self.held(grant)
        mode = self.mode_of(request)
        info = self._index_info()
        store_filter = self.store_filter(request, info, grant)
        text_state = text_search_state(info, self.text_keys)
        ranked_by, notice = _ranking(mode, text_state, self.store.index_name)
        reranker: Reranker | None = self._reranker(mode) if mode == "bedrock" else None
        text_query = ranked_by in ("hybrid", "text") or (mode == "bedrock" and text_state == "ACTIVE")
        vector = None if ranked_by == "text" else self.embedder.embed_query(request.query)
        texts = dict.fromkeys(self.text_keys, request.query) if text_query else None
        top_k = request.k if reranker is None else max(request.k, BEDROCK_CANDIDATES)
        result = self.store.query(vector, k=top_k, filter=store_filter, texts=texts)
        if held is not None:
            result = _readable_only(result, held)
        found = result.matches
        sims = [None if m.distance is None else similarity(info.distance_metric, m.distance) for m in found]
        if reranker is not None:
            candidates = [
                _candidate(m, _store_score(m, s, ranked_by)) for m, s in zip(found, sims, strict=True)
            ]
            order = [(r.index, r.score) for r in reranker.rerank(request.query, candidates, request.k)]
        else:
            order = [(i, _store_score(m, sims[i], ranked_by)) for i, m in enumerate(found[: request.k])]
        chosen = [found[i] for i, _ in order]
        contexts = self._neighbours(chosen, request.neighbours, held)
        matches = [
            SearchMatch(
                key=found[i].key,
                score=score,
                metadata=_shown(found[i].metadata),
                similarity=sims[i],
                bm25=found[i].bm25,
                placed_by=_placed_by(found[i], ranked_by),
                rerank_score=None if ranked_by == "dense" else score,
                context=contexts.get(found[i].key) if request.neighbours else None,
            )
            for i, score in order
        ]
        # Never the query text at INFO: who asked, with what principals, and how much came back.
        logger.info(
            "search",
            extra={
                "caller": "in-process" if grant is None and caller is None else (caller or Caller()).label,
                "access_control": self.settings.access_control,
                "principals": list(held) if held is not None else None,
                "on_behalf_of": grant.on_behalf_of if grant is not None else None,
                "matches": len(matches),
                "rerank": mode,
            },
        )
        return SearchResponse(
            matches=matches,
            index=self.store.index_name,
            model=self.embedder.model_id,
            rerank=mode,
            ranked_by=ranked_by,
            text_search=text_state,
            notice=notice,
            took_ms=(self._clock() - started) * 1000.0,
            metric=info.distance_metric,
            access_control=self.settings.access_control,
        )

    def _index_info(self) -> IndexInfo:
        """GetIndex once per container; again now and then while text search is not ACTIVE."""
        info = self.store.check_dimension(self.embedder.dimension)
        now = self._clock()
        if self._described_at is None:
            self._described_at = now
        elif (
            not info.text_search_ready(self.text_keys)
            and now - self._described_at >= TEXT_STATUS_MAX_AGE_SECONDS
        ):
            info = self.store.describe(refresh=True)
            self._described_at = now
        return info

    def _reranker(self, mode: str) -> Reranker | None:
        if mode not in self._cache:
            self._cache[mode] = self._rerankers(mode)
        return self._cache[mode]

    def _neighbours(
        self, matches: Sequence[QueryMatch], width: int, held: Sequence[str] | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Chunks ``<doc_id>#<n-width..n+width>`` around each match (one GetVectors per 100 keys).

        GetVectors takes no filter: with ``held`` (access control enforced) a neighbour is shown
        only when its own stored list lets the caller read it, as the query's filter would.
        """
        if not width or not matches:
            return {}
        wanted: dict[str, list[str]] = {}
        for match in matches:
            doc, _, number = match.key.rpartition("#")
            if not doc or not number.isdigit():
                wanted[match.key] = []
                continue
            n = int(number)
            wanted[match.key] = [
                vector_key(doc, i) for i in range(max(0, n - width), n + width + 1) if i != n
            ]
        keys = sorted({k for ks in wanted.values() for k in ks})
        found = {
            r.key: r.metadata
            for r in self.store.get(keys, return_data=False, return_metadata=True)
            if held is None or readable(r.metadata, held)
        }
        return {
            key: [_context_entry(k, found[k]) for k in neighbour_keys if k in found]
            for key, neighbour_keys in wanted.items()
        }


def text_search_state(info: IndexInfo, keys: Sequence[str]) -> str:
    """ACTIVE (text queries run), BUILDING (a key still backfills) or OFF (not ENHANCED, or no key)."""
    if info.text_search_ready(keys):
        return "ACTIVE"
    if info.index_mode == "ENHANCED" and all(k in info.text_search for k in keys):
        return "BUILDING"
    return "OFF"


def _ranking(mode: str, text_state: str, index: str) -> tuple[str, str | None]:
    """What orders the list for ``mode`` given the index's text search, and why, if not ``mode``."""
    wanted = {"hybrid": "hybrid", "text": "text", "none": "dense", "bedrock": "bedrock"}[mode]
    if mode == "none" or text_state == "ACTIVE":
        return wanted, None
    why = (
        f"text search on {index} is BUILDING (the store is indexing the stored chunks' text)"
        if text_state == "BUILDING"
        else f"text search is not enabled on {index} (docs/search.md, 'Index mode')"
    )
    if mode == "bedrock":
        return "bedrock", f"{why}: Bedrock reranked the dense candidates"
    return "dense", f"{why}: ranked by dense similarity alone until it is ACTIVE"


def _store_score(match: QueryMatch, sim: float | None, ranked_by: str) -> float:
    """The score the store's order follows: fused (hybrid), BM25 (text) or the similarity (dense)."""
    if ranked_by == "hybrid" and match.fused is not None:
        return match.fused
    if ranked_by == "text":
        return sum(match.bm25.values())
    return sim if sim is not None else 0.0


def _placed_by(match: QueryMatch, ranked_by: str) -> tuple[str, ...]:
    placed = []
    if match.vector_ranked and match.distance is not None and ranked_by != "text":
        placed.append("vector")
    if match.bm25:
        placed.append("text")
    return tuple(placed)


def _readable_only(result: QueryResult, held: Sequence[str]) -> QueryResult:
    """The matches the caller may read: the store's filter already ensures it; this is the check
    that holds even against a store that ignored the filter (an emulator, a bug), so it fails
    closed and says so in the log."""
    kept = [m for m in result.matches if readable(m.metadata, held)]
    if len(kept) != len(result.matches):
        logger.error(
            "the store returned chunks outside the access filter; dropped",
            extra={"dropped": len(result.matches) - len(kept)},
        )
        return replace(result, matches=kept)
    return result


def _shown(metadata: dict[str, Any]) -> dict[str, Any]:
    """What a match shows of its metadata: not the access list (it names other readers)."""
    return {k: v for k, v in metadata.items() if k != ACCESS_KEY} if ACCESS_KEY in metadata else metadata


def _candidate(match: QueryMatch, score: float) -> Candidate:
    md = match.metadata
    doc = str(md.get("doc_id") or match.key.rpartition("#")[0] or match.key)
    return Candidate(
        key=match.key,
        doc_id=doc,
        text=str(md.get("text", "")),
        similarity=score,
        section=str(md.get("section") or ""),
    )


def _context_entry(key: str, metadata: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"key": key}
    for name in ("chunk_no", "page", "page_end", "section"):
        if name in metadata:
            entry[name] = metadata[name]
    entry["text"] = str(metadata.get("text", ""))
    return entry


def build_search_service(settings: Settings, *, clients: Callable[[str], Any] | None = None) -> SearchService:
    """The service a SearchFunction cold start builds: the configured embedder, index and rerankers.

    Args:
        settings: from the environment.
        clients: ``service name -> boto3 client``; ``docpipe.aws.client`` by default (the CLI
            passes its target's clients).
    """
    from docpipe import aws
    from docpipe.embeddings import make_embedder

    settings.require("vector_bucket", "vector_index")
    client = clients or aws.client
    bedrock = client("bedrock-runtime") if settings.embedding_provider == "bedrock" else None
    return SearchService(
        settings,
        store=S3VectorStore(client("s3vectors"), settings.vector_bucket, settings.vector_index),
        embedder=make_embedder(settings, bedrock_client=bedrock),
        access=AccessDocuments(
            client=client("ssm") if settings.access_callers_parameter else None,
            callers_parameter=settings.access_callers_parameter,
            max_age=settings.access_cache_seconds,
        ),
        rerankers=lambda mode: make_reranker(
            mode,
            settings,
            bedrock_agent_client=client("bedrock-agent-runtime") if mode == "bedrock" else None,
        ),
    )
