"""Full-text search of one searchable metadata key: BM25 (tantivy) with an analyzer per language.

S3 Vectors analyses a searchable key with the standard analyzer (no ``language``) or a language
analyzer (``en fr es pt it de nl zh ja ko``). This emulates them, not bit for bit (docs/local.md
says where they may differ): the standard analyzer splits on non-alphanumeric characters and
lowercases; a language analyzer also drops that language's stop words and stems with its Snowball
stemmer (tantivy's built-in lists); Chinese, Japanese and Korean text is split into single CJK
characters (as Lucene's standard tokenizer does) and runs of other letters and digits.

tantivy keeps an inverted index in memory that takes writes incrementally: PutVectors and
DeleteVectors add and delete the rows they touch, and the next query commits them (milliseconds),
so a query never rebuilds the index (benchmarks: "Its BM25 library" compares it with bm25s).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "pt", "it", "de", "nl", "zh", "ja", "ko")
_SNOWBALL = {
    "en": "english",
    "fr": "french",
    "es": "spanish",
    "pt": "portuguese",
    "it": "italian",
    "de": "german",
    "nl": "dutch",
}
# One CJK character (Han, Hiragana, Katakana, Hangul syllables) or a run of other word characters.
_CJK_TOKEN = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]|[^\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\W]+"
_FIELD = "text"
_ROW = "row"
_WRITER_HEAP = 20_000_000  # bytes; tantivy needs at least 3 MB per writer thread
_MAX_TOKEN = 255  # longer "words" (base64, hashes) are dropped, as Lucene's standard tokenizer does


def analyzer(language: str | None) -> Any:
    """The tantivy text analyzer standing in for the service's analyzer of ``language``."""
    import tantivy

    if language in ("zh", "ja", "ko"):
        builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(_CJK_TOKEN))
    else:
        builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    builder = builder.filter(tantivy.Filter.remove_long(_MAX_TOKEN)).filter(tantivy.Filter.lowercase())
    snowball = _SNOWBALL.get(language or "")
    if snowball is not None:
        builder = builder.filter(tantivy.Filter.stopword(snowball)).filter(tantivy.Filter.stemmer(snowball))
    return builder.build()


def as_text(value: Any) -> str | None:
    """The searchable text of a metadata value: a string, or an array's strings; else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        strings = [v for v in value if isinstance(v, str)]
        return " ".join(strings) if strings else None
    return None


class TextIndex:
    """BM25 over the values of one metadata key, documents identified by the vector index's slot (row)."""

    def __init__(self, language: str | None) -> None:
        import tantivy

        self.language = language
        builder = tantivy.SchemaBuilder()
        builder.add_unsigned_field(_ROW, stored=False, indexed=True, fast=True)
        builder.add_text_field(_FIELD, stored=False, tokenizer_name="analyzer")
        self._schema = builder.build()
        self._index = tantivy.Index(self._schema)  # in memory
        self._analyzer = analyzer(language)
        self._index.register_tokenizer("analyzer", self._analyzer)
        self._writer = self._index.writer(_WRITER_HEAP, 1)
        self._pending = False
        self._searcher: Any = None

    def set(self, rows: Iterable[tuple[int, Any]]) -> None:
        """Index (or re-index) each row's metadata value; a value with no text unindexes the row."""
        import tantivy

        for row, value in rows:
            self._writer.delete_documents_by_term(_ROW, row)
            text = as_text(value)
            if text:
                document = tantivy.Document()
                document.add_unsigned(_ROW, row)
                document.add_text(_FIELD, text)
                self._writer.add_document(document)
            self._pending = True

    def remove(self, rows: Iterable[int]) -> None:
        for row in rows:
            self._writer.delete_documents_by_term(_ROW, row)
            self._pending = True

    def _current(self) -> Any:
        if self._pending or self._searcher is None:
            self._writer.commit()
            self._index.reload()
            self._searcher = self._index.searcher()
            self._pending = False
        return self._searcher

    def _query(self, text: str) -> Any:
        import tantivy

        terms = sorted(set(self._analyzer.analyze(text)))
        if not terms:
            return None
        clauses = [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema, _FIELD, t)) for t in terms]
        return tantivy.Query.boolean_query(clauses)

    def ranked(
        self, text: str, eligible: npt.NDArray[np.bool_], k: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The ``k`` best-scoring ``eligible`` rows for the query ``text`` and their BM25 scores.

        tantivy returns hits best first; they are fetched in growing pages until ``k`` of them
        pass ``eligible`` (the filter), so an unfiltered query reads ``k`` hits, not every match.
        """
        query = self._query(text)
        searcher = self._current()
        empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
        if query is None or searcher.num_docs == 0:
            return empty
        limit = max(k, 64)
        while True:
            hits = searcher.search(query, limit=limit, count=False).hits
            if not hits:
                return empty
            scores = np.fromiter((score for score, _ in hits), dtype=np.float32, count=len(hits))
            rows = np.asarray(
                searcher.fast_field_values(_ROW, [address for _, address in hits]), dtype=np.int64
            )
            keep = rows < len(eligible)
            keep[keep] = eligible[rows[keep]]
            if int(keep.sum()) >= k or len(hits) < limit or limit >= searcher.num_docs:
                return rows[keep][:k], scores[keep][:k]
            limit *= 4

    def scores(self, text: str, size: int) -> npt.NDArray[np.float32]:
        """The BM25 score of every row ``< size`` for ``text`` (0 where no query term occurs)."""
        out = np.zeros(size, dtype=np.float32)
        rows, scores = self.ranked(text, np.ones(size, dtype=bool), size)
        out[rows] = scores
        return out
