"""Word-level emotion lexicons, read from the files their PyPI packages ship (no downloads).

- VADER (vaderSentiment 3.3.2, `vader_lexicon.txt`): 7,506 words and emoticons, each with the mean of
  ten raters' valence on the lexicon's scale -4 (most negative) .. +4 (most positive).
- NRC Emotion Lexicon (NRCLex 4.1.0, `nrc_en.json`): 6,468 words, each with some of the eight Plutchik
  emotions and the sentiments 'positive' / 'negative'.

Every file is parsed once, on first use. Lookups try the word as given, then lower-cased (the
lexicons are lower case except for a few emoticons such as ':D').
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import TypeVar

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

VADER_MAX_VALENCE = 4.0
NRC_EMOTIONS = ("anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust")
NRC_SENTIMENTS = ("negative", "positive")

_T = TypeVar("_T")


def vader_lexicon() -> dict[str, float]:
    """Every VADER entry with its mean valence (-4..4); a copy, free to change."""
    return dict(_vader_valences())


def vader_word_valence(word: str) -> float | None:
    """The word's mean VADER valence (-4..4), or None if VADER does not list it."""
    return _lookup(_vader_valences(), word)


def word_intensity(word: str) -> float:
    """How strongly the word carries emotion, in [0, 1]: |VADER valence| / 4; 0.0 for unlisted words.

    This is the word-level intensity of E-CORE's emotion graph, which ignores the sign; for a signed
    score in [-1, 1] divide `vader_word_valence` by VADER_MAX_VALENCE.
    """
    valence = vader_word_valence(word)
    return 0.0 if valence is None else abs(valence) / VADER_MAX_VALENCE


def sentence_polarity(text: str) -> dict[str, float]:
    """VADER's scores for a text: 'neg', 'neu', 'pos' (proportions) and 'compound' (-1..1)."""
    return _vader_analyzer().polarity_scores(text)


def nrc_lexicon() -> dict[str, list[str]]:
    """Every NRC entry with its labels (emotions and 'positive'/'negative'), as the file has them; a copy."""
    return {word: list(labels) for word, labels in _nrc().items()}


def nrc_emotions(word: str, include_sentiment: bool = False) -> list[str]:
    """The word's NRC emotions (of NRC_EMOTIONS, in the file's order), plus 'positive'/'negative' when
    asked; [] for unlisted words."""
    labels = _lookup(_nrc(), word) or ()
    return [label for label in labels if include_sentiment or label in NRC_EMOTIONS]


def _lookup(table: dict[str, _T], word: str) -> _T | None:
    found = table.get(word)
    return table.get(word.lower()) if found is None else found


@lru_cache(maxsize=1)
def _vader_valences() -> dict[str, float]:
    text = (resources.files("vaderSentiment") / "vader_lexicon.txt").read_text(encoding="utf-8")
    valences: dict[str, float] = {}
    for line in text.splitlines():
        # word \t mean \t standard deviation \t the ten raw ratings
        word, mean, *_ = line.split("\t")
        valences[word] = float(mean)
    return valences


@lru_cache(maxsize=1)
def _vader_analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _nrc() -> dict[str, tuple[str, ...]]:
    # Read the JSON directly: NRCLex's own loaders tokenize with NLTK data that cannot be downloaded here.
    text = (resources.files("nrclex") / "data" / "nrc_en.json").read_text(encoding="utf-8")
    return {word: tuple(labels) for word, labels in json.loads(text).items()}
