"""SearchService: embed the query, query the index, rerank, fetch neighbours, shape the matches.

The one search path: SearchFunction, ``docpipe search`` and ``DocpipeRetriever`` all call
``SearchService.search``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
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
from docpipe.ids import vector_key
from docpipe.rerank import Candidate, Ranked, Reranker, make_reranker
from docpipe.search.request import SearchRequest
from docpipe.vectorstore import QueryMatch, QueryResult, S3VectorStore

# Dense candidates a reranker sees (QueryVectors allows a topK of up to MAX_TOP_K, 10,000). The
# hybrid can only reorder what the dense query returns: on the retrieval benchmark 100 candidates
# held the right page for 92% of the queries and 300 for 96%, which lifted the hybrid past BM25
# alone; 500 and 1,000 added little more while BM25's Python time and the answer's size (about
# 1.6 KB of metadata per 1,000-character chunk) grew with them (docs/benchmarks.md, "Retrieval").
RERANK_CANDIDATES = 300
# Fields every match carries at the top level; ``metadata`` holds every stored key but the text.
_TOP_LEVEL = ("source_uri", "page", "page_end", "section", "chunk_no")
# Metric (Powertools, dimension ``reason``) of searches refused for access: unmapped,
# not_delegate, no_on_behalf_of.
DENIED_METRIC = "SearchRequestsDenied"

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
    """One chunk in the answer."""

    key: str
    score: float
    metadata: dict[str, Any]
    rerank_score: float | None = None
    context: list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        return str(self.metadata.get("text", ""))

    def as_dict(self) -> dict[str, Any]:
        md = self.metadata
        result: dict[str, Any] = {"score": round(self.score, 6), "key": self.key}
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
    matches: list[SearchMatch]
    index: str
    model: str
    rerank: str
    took_ms: float
    exact_fallback: bool = False
    metric: str = "cosine"
    extra: dict[str, Any] = field(default_factory=dict)
    access_control: str = "off"

    def as_dict(self) -> dict[str, Any]:
        return {
            "matches": [m.as_dict() for m in self.matches],
            "index": self.index,
            "model": self.model,
            "rerank": self.rerank,
            "metric": self.metric,
            "took_ms": round(self.took_ms, 1),
            "exact_fallback": self.exact_fallback,
            "access_control": self.access_control,
        }


class SearchService:
    """Search one index with one embedder.

    Args:
        settings: the default ``rerank`` and whether Bedrock reranking is enabled.
        store: the index (its metric turns distances into scores).
        embedder: the model the index was built with (checked against the index's dimension).
        rerankers: ``mode -> Reranker | None``; ``make_reranker`` by default (tests inject a
            Bedrock reranker on a stubbed client).
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
        access: AccessDocuments | None = None,
    ) -> None:
        self.settings = settings
        self.access = access or AccessDocuments(
            callers_parameter=settings.access_callers_parameter, max_age=settings.access_cache_seconds
        )
        self.store = store
        self.embedder = embedder
        self._rerankers = rerankers or (lambda mode: make_reranker(mode, settings))
        self._cache: dict[str, Reranker | None] = {}
        self._clock = clock

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
        # The namespace comes from POWERTOOLS_METRICS_NAMESPACE, as for the handler's own metrics.
        with single_metric(name=DENIED_METRIC, unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="reason", value=reason)

    def store_filter(self, request: SearchRequest, grant: Grant | None) -> dict[str, Any] | None:
        """The filter sent to the store: the caller's, inside an AND with the access condition."""
        if grant is None:
            return request.filter
        principals = query_principals(grant.principals, self.settings.access_default)
        return compose_filter(access_condition(principals), request.filter)

    def search(self, request: SearchRequest, caller: Caller | None = None) -> SearchResponse:
        """Run one search for ``caller`` (None: no identity, as direct invocation and in-process).

        Raises:
            ValidationError: ``rerank=bedrock`` on a stack without it; no ``on_behalf_of`` from a
                caller without identity while access control is enforced.
            ForbiddenError: see ``grant``.
            IndexMismatchError: the embedder's dimension is not the index's.
            TransientError / AWSError: from Bedrock or S3 Vectors, translated.
        """
        started = self._clock()
        grant = self.grant(request, caller)
        held = None if grant is None else query_principals(grant.principals, self.settings.access_default)
        mode = self.mode_of(request)
        reranker = self._reranker(mode)
        info = self.store.check_dimension(self.embedder.dimension)
        vector = self.embedder.embed_query(request.query)
        top_k = request.k if reranker is None else max(request.k, RERANK_CANDIDATES)
        result = self.store.query(vector, k=top_k, filter=self.store_filter(request, grant))
        if held is not None:
            result = _readable_only(result, held)
        scores = [similarity(info.distance_metric, m.distance) for m in result.matches]
        if reranker is None:
            ranked = [Ranked(i, s) for i, s in enumerate(scores[: request.k])]
        else:
            candidates = [_candidate(m, s) for m, s in zip(result.matches, scores, strict=True)]
            ranked = reranker.rerank(request.query, candidates, request.k)
        contexts = self._neighbours([result.matches[r.index] for r in ranked], request.neighbours, held)
        matches = [
            SearchMatch(
                key=result.matches[r.index].key,
                score=scores[r.index],
                metadata=_shown(result.matches[r.index].metadata),
                rerank_score=None if reranker is None else r.score,
                context=contexts.get(result.matches[r.index].key) if request.neighbours else None,
            )
            for r in ranked
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
            took_ms=(self._clock() - started) * 1000.0,
            exact_fallback=result.exact_fallback,
            metric=info.distance_metric,
            access_control=self.settings.access_control,
        )

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
        return QueryResult(matches=kept, exact_fallback=result.exact_fallback)
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
