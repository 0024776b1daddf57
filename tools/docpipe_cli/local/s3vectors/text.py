"""Full-text search of one searchable metadata key: BM25 (bm25s) with an analyzer per language.

S3 Vectors analyses a searchable key with the standard analyzer (no ``language``) or a language
analyzer (``en fr es pt it de nl zh ja ko``). This emulates them, not bit for bit (docs/local.md
lists where they may differ): the standard analyzer lowercases and splits on Unicode word
boundaries; a language analyzer also drops that language's stop words (where bm25s ships a list)
and stems with its Snowball stemmer (PyStemmer, where Snowball has one); for Chinese, Japanese and
Korean, runs of CJK characters are indexed as overlapping character bigrams.

bm25s scores every document of the collection in one sparse-matrix product, so a query gets a
dense score array that a filter mask applies to directly. It has no incremental update: the index
is rebuilt from the key's texts when it is first queried after a write (see ``engine``), once per
write generation, never per query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
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
_CJK = frozenset({"zh", "ja", "ko"})
# Han, Hiragana, Katakana, Hangul: scripts written without spaces between words.
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
# Every word of one character or more (bm25s' default pattern drops one-letter words).
_TOKEN_PATTERN = r"(?u)\b\w+\b"


def _bigrams(match: re.Match[str]) -> str:
    run = match.group(0)
    if len(run) == 1:
        return f" {run} "
    return " " + " ".join(run[i : i + 2] for i in range(len(run) - 1)) + " "


@cache
def _stemmer(language: str | None) -> Any:
    name = _SNOWBALL.get(language or "")
    if name is None:
        return None
    try:
        import Stemmer  # PyStemmer
    except ImportError:  # pragma: no cover - a dependency of the local extra
        return None
    return Stemmer.Stemmer(name)


def _stopwords(language: str | None) -> list[str] | None:
    if language is None or language in _CJK:
        return None
    import bm25s.stopwords as lists

    found = getattr(lists, f"STOPWORDS_{language.upper()}", None)
    return list(found) if found else None


def analyze(texts: Sequence[str], language: str | None) -> list[list[str]]:
    """The terms of each text under the analyzer of ``language`` (None: the standard analyzer)."""
    import bm25s

    if language in _CJK:
        texts = [_CJK_RUN.sub(_bigrams, t) for t in texts]
    tokens = bm25s.tokenize(
        list(texts),
        lower=True,
        token_pattern=_TOKEN_PATTERN,
        stopwords=_stopwords(language),
        stemmer=_stemmer(language),
        return_ids=False,
        show_progress=False,
    )
    return [list(t) for t in tokens]


class TextIndex:
    """BM25 over the values of one metadata key, row for row with the vector index's slots.

    Rows whose value is missing or not a string (an array of strings counts as their
    concatenation) are indexed as empty documents: they never match.
    """

    def __init__(self, values: Sequence[Any], language: str | None) -> None:
        import bm25s

        self.language = language
        self.size = len(values)
        texts = [_as_text(v) for v in values]
        corpus = analyze(texts, language)
        self._retriever = bm25s.BM25()
        # bm25s needs one term in the collection; an empty collection scores nothing anyway.
        self._empty = not any(corpus)
        if not self._empty:
            self._retriever.index(corpus, show_progress=False)
            self._vocabulary = self._retriever.vocab_dict

    def scores(self, text: str) -> npt.NDArray[np.float32]:
        """The BM25 score of every row for the query ``text`` (0 where no query term occurs)."""
        if self._empty:
            return np.zeros(self.size, dtype=np.float32)
        terms = [t for t in analyze([text], self.language)[0] if t in self._vocabulary]
        if not terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(terms), dtype=np.float32)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(v for v in value if isinstance(v, str))
    return ""
