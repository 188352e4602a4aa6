"""BERTScore with a local encoder (no download)."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from emocause.metrics._checks import check_paired

if TYPE_CHECKING:
    from bert_score import BERTScorer  # type: ignore[import-untyped]

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class BertScoreResult:
    """Mean BERTScore precision/recall/F1 over pairs, in [-1, 1] (no baseline rescaling)."""

    precision: float
    recall: float
    f1: float
    n_pairs: int
    model: str
    num_layers: int
    per_pair_f1: tuple[float, ...] = ()
    """F per pair, in input order (for best-match scores over several references)."""


def bertscore(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    model: str = DEFAULT_ENCODER,
    num_layers: int = 6,
    batch_size: int = 64,
) -> BertScoreResult:
    """BERTScore P/R/F (Zhang et al., 2020) computed by bert-score 0.3.13.

    Metric card:
        Definition: embed hypothesis and reference tokens with the encoder's layer ``num_layers``; each
            token is matched to its most cosine-similar token on the other side (greedy matching).
            P = mean over hypothesis tokens of the best similarity, R = mean over reference tokens,
            F = 2PR / (P + R). Reported = arithmetic mean of per-pair P, R, F.
        Settings: ``bert_score.BERTScorer(model_type=<local folder>, num_layers=6, idf=False,
            rescale_with_baseline=False)``. The default encoder is all-MiniLM-L6-v2 (6 layers, so layer
            6 = the last), resolved to its offline folder by ``emocause.models.resolver``; ``model``
            may also be a folder path. No baseline rescaling: values are raw cosines whose spread
            depends on the encoder, not comparable with rescaled numbers or with other encoders.
        Inputs: hypothesis and reference strings, paired.
        Level / tokenizer: the encoder's WordPiece tokens; [CLS]/[SEP] weigh 0 in the means of P and R.
        Range: [-1, 1] in principle, in practice about [0, 1]; 1 for identical text.
        Reported: P_BERT, R_BERT, F_BERT with encoder, layer, "no rescale, no idf".
    """
    check_paired(hypotheses, references, "hypotheses", "references")
    scorer = _scorer(_encoder_path(model), num_layers)
    precision, recall, f1 = scorer.score(list(hypotheses), list(references), batch_size=batch_size)
    return BertScoreResult(
        precision=precision.mean().item(),
        recall=recall.mean().item(),
        f1=f1.mean().item(),
        n_pairs=len(hypotheses),
        model=model,
        num_layers=num_layers,
        per_pair_f1=tuple(f1.tolist()),
    )


def _encoder_path(name_or_path: str) -> str:
    # Imported here so that the metrics package does not depend on emocause.models at import time.
    from emocause.models.resolver import resolve_encoder_path

    return resolve_encoder_path(name_or_path)


@cache
def _scorer(model_path: str, num_layers: int) -> "BERTScorer":
    # bert_score imports transformers, which is slow; pay for it only when BERTScore is used.
    from bert_score import BERTScorer  # type: ignore[import-untyped]

    return BERTScorer(model_type=model_path, num_layers=num_layers, idf=False, rescale_with_baseline=False)
