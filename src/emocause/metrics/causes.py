"""Emotion-cause extraction: word-level top-k recall (EmoCause) and RECCON span extraction."""

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from emocause.metrics._checks import check_k, check_paired


def cause_recall_at_k(
    gold: Sequence[Sequence[str]], ranked: Sequence[Sequence[str]], k: int, *, lenient: bool = False
) -> float:
    """Top-k recall of emotion-cause words, the ECE paper's "Top-k Recall" on EmoCause (k in 1, 3, 5).

    Metric card:
        Definition: for each example, recall = |gold cause words ∩ first k ranked words| / |gold cause
            words|, the intersection taken on multisets (a gold word listed twice needs two hits);
            reported = mean over examples. The ECE paper (Table 5) names the metric without a formula
            and compares with GEE's numbers; this is the formula of the EmoCause authors' evaluation
            (Kim et al., 2021, ``GeeCauseInferenceAgent.compute_prec_recall_f1``).
        lenient: Kim et al.'s code also counts a predicted word that starts or ends with a gold word as
            that gold word (to absorb tokenizer differences, e.g. "money." for "money"). Off by default;
            set it to reproduce their numbers. Strings are compared as given (no lowercasing).
        Inputs: one non-empty gold cause-word list and one ranked word list (best first) per example.
        Range: [0, 1].
        Reported: Top-1, Top-3, Top-5 recall with N and whether matching was lenient.
    """
    check_paired(gold, ranked, "gold", "ranked")
    check_k(k)
    if any(len(words) == 0 for words in gold):
        raise ValueError("every example needs at least one gold cause word; recall is undefined otherwise")
    recalls = [_recall(words, list(predicted[:k]), lenient) for words, predicted in zip(gold, ranked)]
    return sum(recalls) / len(recalls)


def _recall(gold: Sequence[str], top_k: list[str], lenient: bool) -> float:
    if lenient:
        # Same order as Kim et al.'s loop: a later gold word can re-map an already mapped prediction.
        for gold_word in gold:
            top_k = [gold_word if p.startswith(gold_word) or p.endswith(gold_word) else p for p in top_k]
    hits = sum((Counter(gold) & Counter(top_k)).values())
    return hits / len(gold)


@dataclass(frozen=True)
class SpanResult:
    """SQuAD-style exact match and token F1 averaged over examples, in [0, 1]."""

    exact_match: float
    f1: float
    n_examples: int


def span_extraction(predictions: Sequence[str], gold_spans: Sequence[Sequence[str]]) -> SpanResult:
    """Causal span extraction scores of RECCON (Poria et al., 2021), SQuAD v2 style.

    Metric card:
        Definition: normalise both strings as the SQuAD v2 evaluation script does (lowercase, delete
            punctuation characters, remove the articles a/an/the, collapse whitespace). Exact match = 1
            if the normalised prediction equals a normalised gold span. Token F1 = harmonic mean of
            precision and recall of the multiset of whitespace tokens shared by prediction and gold.
            With several gold spans an example takes the maximum over them. Gold spans that normalise to
            nothing are dropped; an example left with none means "no cause span" (RECCON's impossible
            answers) and scores 1 only for a prediction that normalises to nothing.
            Reported = mean over examples.
        RECCON's tables give EM and F1 over positive examples only; to reproduce them, pass only the
            examples with a gold span.
        Inputs: one predicted span string and the list of gold span strings per example.
        Level / tokenizer: whitespace tokens after normalisation.
        Range: [0, 1]; RECCON reports them x100.
        Reported: EM and F1 with N and whether negative examples were included.
    """
    check_paired(predictions, gold_spans, "predictions", "gold_spans")
    exact, f1 = 0.0, 0.0
    for prediction, spans in zip(predictions, gold_spans):
        # As SQuAD v2: gold spans that normalise to nothing are dropped; none left means "no span".
        golds = [g for g in map(_normalize, spans) if g] or [""]
        predicted = _normalize(prediction)
        exact += max(float(predicted == g) for g in golds)
        f1 += max(_token_f1(predicted.split(), g.split()) for g in golds)
    n = len(predictions)
    return SpanResult(exact_match=exact / n, f1=f1 / n, n_examples=n)


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _normalize(text: str) -> str:
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def _token_f1(predicted: list[str], gold: list[str]) -> float:
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)
