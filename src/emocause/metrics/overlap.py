"""N-gram overlap with a single reference per response: BLEU (sacrebleu) and ROUGE (rouge-score)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rouge_score.rouge_scorer import RougeScorer  # type: ignore[import-untyped]
from sacrebleu.metrics import BLEU, BLEUScore

from emocause.metrics._checks import check_paired

SmoothMethod = Literal["exp", "floor", "add-k", "none"]


@dataclass(frozen=True)
class BleuResult:
    """Corpus BLEU-1..4 on sacrebleu's 0-100 scale; ``cumulative`` says which variant they are."""

    bleu1: float
    bleu2: float
    bleu3: float
    bleu4: float
    brevity_penalty: float
    cumulative: bool
    n_pairs: int


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    cumulative: bool = False,
    smooth_method: SmoothMethod = "exp",
    tokenize: str = "13a",
    lowercase: bool = False,
) -> BleuResult:
    """Corpus-level BLEU-1..4 computed by sacrebleu 2.6.0, one reference per hypothesis.

    Metric card:
        Definition: n-gram matches are clipped per sentence and summed over the corpus; p_n = matched
            n-grams / hypothesis n-grams; BP = exp(1 - ref_len / hyp_len) if hyp_len < ref_len else 1,
            with both lengths summed over the corpus.
            Individual (default, as empathetic-dialogue papers report BLEU-n, i.e. NLTK weights with 1
            on order n only): BLEU-n = BP * p_n.
            Cumulative (``cumulative=True``, sacrebleu's own score with ``max_ngram_order=n``):
            BLEU-n = BP * geometric mean of p_1..p_n.
        Settings: ``sacrebleu.metrics.BLEU(tokenize="13a", lowercase=False, smooth_method="exp",
            effective_order=False, force=True)``. Smoothing only touches an order with zero matches over
            the whole corpus: "exp" sets the j-th such order's p_n to 1 / (2^j * hypothesis n-grams);
            "floor" to 0.1 / hypothesis n-grams; "none" to 0. "add-k" instead adds 1 to the matches and
            totals of every order >= 2. ``force=True`` only silences sacrebleu's "looks tokenized"
            warning.
        Inputs: detokenized hypothesis and reference strings, paired.
        Level / tokenizer: sacrebleu's tokenizer (13a by default), case-sensitive by default.
        Range: [0, 100]; divide by 100 to compare with papers that report 0-1.
        Reported: BLEU-1..4, individual or cumulative (say which), smoothing, tokenizer.
    """
    check_paired(hypotheses, references, "hypotheses", "references")
    hyps, refs = list(hypotheses), [list(references)]

    def bleu(max_order: int) -> BLEUScore:
        metric = BLEU(
            tokenize=tokenize,
            lowercase=lowercase,
            smooth_method=smooth_method,
            max_ngram_order=max_order,
            force=True,
        )
        return metric.corpus_score(hyps, refs)

    full = bleu(4)
    if cumulative:
        bleu1, bleu2, bleu3 = (bleu(n).score for n in (1, 2, 3))
        bleu4 = full.score
    else:
        # sacrebleu's precisions are already smoothed and in percent.
        bleu1, bleu2, bleu3, bleu4 = (full.bp * precision for precision in full.precisions)
    return BleuResult(bleu1, bleu2, bleu3, bleu4, full.bp, cumulative, len(hyps))


@dataclass(frozen=True)
class RougeResult:
    """Mean ROUGE-1 and ROUGE-L F1 over pairs, in [0, 1]."""

    rouge1_f1: float
    rougeL_f1: float
    n_pairs: int


def rouge(hypotheses: Sequence[str], references: Sequence[str], *, use_stemmer: bool = True) -> RougeResult:
    """ROUGE-1 and ROUGE-L F1 computed by rouge-score 0.1.2, averaged over pairs.

    Metric card:
        Definition: per pair, ROUGE-1 F1 = harmonic mean of unigram-overlap precision and recall
            (clipped counts); ROUGE-L F1 = harmonic mean of LCS / hypothesis length and LCS / reference
            length (sentence-level LCS, not the summary-level ROUGE-Lsum). Reported = arithmetic mean
            over pairs.
        Settings: ``RougeScorer(["rouge1", "rougeL"], use_stemmer=True)``: rouge-score's tokenizer
            lowercases, replaces every character outside [a-z0-9] by a space (so non-ASCII text is
            dropped), then applies the Porter stemmer to tokens longer than 3 characters.
        Inputs: hypothesis and reference strings, paired.
        Range: [0, 1].
        Reported: ROUGE-1 F1 and ROUGE-L F1, with the stemming setting.
    """
    check_paired(hypotheses, references, "hypotheses", "references")
    scorer = RougeScorer(["rouge1", "rougeL"], use_stemmer=use_stemmer)
    scores = [scorer.score(target=ref, prediction=hyp) for hyp, ref in zip(hypotheses, references)]
    n = len(scores)
    return RougeResult(
        rouge1_f1=sum(s["rouge1"].fmeasure for s in scores) / n,
        rougeL_f1=sum(s["rougeL"].fmeasure for s in scores) / n,
        n_pairs=n,
    )
