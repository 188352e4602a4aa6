"""Lexical diversity of generated responses: Distinct-n and MTLD."""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from emocause.metrics._checks import check_nonempty

_WORD_OR_PUNCT = re.compile(r"\w+|[^\w\s]")


def simple_tokenize(text: str) -> list[str]:
    """Default tokenizer for Distinct-n and MTLD: lowercase, then words (``\\w+``) and single
    punctuation characters (``[^\\w\\s]``) as separate tokens.

    Example: ``"I'm fine, thanks!"`` -> ``["i", "'", "m", "fine", ",", "thanks", "!"]``.
    """
    return _WORD_OR_PUNCT.findall(text.lower())


@dataclass(frozen=True)
class DistinctResult:
    """Distinct-1/2 as percentages (x100); ``avg_*`` are per-response averages, not corpus-level."""

    corpus_1: float
    corpus_2: float
    avg_1: float
    avg_2: float
    n_responses: int


def distinct(responses: Sequence[Sequence[str]]) -> DistinctResult:
    """Distinct-1 and Distinct-2 (Li et al., 2016).

    Metric card:
        Definition: corpus-level Distinct-n = number of distinct n-grams over all responses / total
            number of n-grams over all responses, x100 (the figure empathetic-dialogue papers report).
            Per-response average = mean over responses of (distinct n-grams / n-grams in that response),
            x100. N-grams never cross response boundaries. A response with no n-gram of order n (shorter
            than n tokens) scores 0 in the average and still counts in N.
        Inputs: one token list per generated response.
        Level / tokenizer: the caller's; :func:`simple_tokenize` is the documented default.
        Range: [0, 100]; higher is more diverse.
        Reported: corpus_1, corpus_2, avg_1, avg_2 and N (n_responses).
    """
    check_nonempty(responses, "responses")
    if any(isinstance(response, str) for response in responses):
        raise TypeError("responses must be token lists, not strings; tokenize them (e.g. simple_tokenize)")
    corpus_1, avg_1 = _distinct_n(responses, 1)
    corpus_2, avg_2 = _distinct_n(responses, 2)
    return DistinctResult(corpus_1, corpus_2, avg_1, avg_2, len(responses))


def _distinct_n(responses: Sequence[Sequence[str]], n: int) -> tuple[float, float]:
    per_response = [[tuple(r[i : i + n]) for i in range(len(r) - n + 1)] for r in responses]
    pooled = [gram for grams in per_response for gram in grams]
    corpus = _ratio(len(set(pooled)), len(pooled))
    average = sum(_ratio(len(set(grams)), len(grams)) for grams in per_response) / len(responses)
    return 100 * corpus, 100 * average


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def mtld(tokens: Sequence[str], threshold: float = 0.72) -> float:
    """MTLD, the measure of textual lexical diversity (McCarthy & Jarvis, 2010), bidirectional.

    Metric card:
        Definition: walk the tokens keeping the type-token ratio (TTR) of the current segment; when
            TTR <= ``threshold`` (0.72), count one factor and start a new segment. A leftover segment
            adds a partial factor (1 - TTR) / (1 - threshold). Forward MTLD = number of tokens / factors.
            MTLD = mean of the forward and the backward (reversed tokens) values. If a direction never
            completes a factor and its leftover has TTR 1 (every token distinct), it counts as one
            factor, so MTLD = number of tokens (the convention of the ``lexicalrichness`` package).
        Inputs: one token sequence. Score a system either on all its responses concatenated or as the
            mean over responses, and say which; the two differ.
        Level / tokenizer: the caller's; :func:`simple_tokenize` is the documented default.
        Range: (0, number of tokens]; higher is more diverse. Unstable on texts under ~50 tokens.
        Reported: MTLD with threshold 0.72 and the tokenizer.
    """
    check_nonempty(tokens, "tokens")
    if isinstance(tokens, str):
        raise TypeError("tokens must be a token list, not a string; tokenize it (e.g. simple_tokenize)")
    forward = _mtld_one_direction(tokens, threshold)
    backward = _mtld_one_direction(list(reversed(tokens)), threshold)
    return (forward + backward) / 2


def _mtld_one_direction(tokens: Sequence[str], threshold: float) -> float:
    factors = 0.0
    types: set[str] = set()
    count = 0
    for token in tokens:
        types.add(token)
        count += 1
        if len(types) / count <= threshold:
            factors += 1
            types, count = set(), 0
    if count:
        factors += (1 - len(types) / count) / (1 - threshold)
    return len(tokens) / factors if factors else float(len(tokens))
