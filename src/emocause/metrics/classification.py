"""Emotion classification, multi-emotion ranking, binary cause labels and RECCON entailment."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sklearn.metrics import (  # type: ignore[import-untyped]
    accuracy_score,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from emocause.metrics._checks import check_k, check_nonempty, check_paired


@dataclass(frozen=True)
class EmotionClassificationResult:
    """Accuracy and macro-F1 over all examples, in [0, 1]."""

    accuracy: float
    macro_f1: float
    n_examples: int


def emotion_classification(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> EmotionClassificationResult:
    """Emotion accuracy and macro-F1 (scikit-learn).

    Metric card:
        Definition: accuracy = share of examples whose predicted emotion equals the gold one.
            Macro-F1 = unweighted mean over every class in ``labels`` of that class's F1
            (``f1_score(average="macro", labels=labels, zero_division=0)``).
        Absent classes: the mean is always over len(labels) classes. A class with no gold example
            scores F1 = 0 (recall is undefined and set to 0 by ``zero_division=0``), whether or not it
            is predicted, so macro-F1 on a subset missing classes is lower than on the full label set;
            always pass the full taxonomy (e.g. the 32 EmpatheticDialogues emotions).
        Inputs: gold and predicted labels, paired; every label must be in ``labels``.
        Range: [0, 1].
        Reported: accuracy and macro-F1 with N and the label set.
    """
    check_paired(gold, predicted, "gold", "predicted")
    check_nonempty(labels, "labels")
    unknown = (set(gold) | set(predicted)) - set(labels)
    if unknown:
        raise ValueError(f"labels outside the label set: {sorted(unknown)}")
    macro_f1 = f1_score(gold, predicted, labels=list(labels), average="macro", zero_division=0)
    return EmotionClassificationResult(float(accuracy_score(gold, predicted)), float(macro_f1), len(gold))


@dataclass(frozen=True)
class EmotionRecallAtK:
    """Multi-emotion Recall@k: ``covered`` is E-CORE's figure, ``fraction`` its normalised variant."""

    k: int
    covered: float
    fraction: float
    n_examples: int


def emotion_recall_at_k(
    gold: Sequence[Collection[str]], ranked: Sequence[Sequence[str]], k: int
) -> EmotionRecallAtK:
    """Recall@k of multi-emotion sets, as in E-CORE (Fu et al.).

    Metric card:
        Definition: for each example, hits = number of distinct gold emotions among the first k
            predicted emotions. ``covered`` = mean hits over examples, which is E-CORE's Recall@k
            ("the number of ground-truth emotions covered by the top-k predicted emotions"; their R@5 is
            above 1, so it is a count, not a fraction). ``fraction`` = mean of hits / |gold set|.
        Inputs: one non-empty gold emotion set per example and a ranked prediction list (best first).
        Range: ``covered`` in [0, min(k, |gold|)]; ``fraction`` in [0, 1].
        Reported: R@1, R@3, R@5 as ``covered`` (to compare with E-CORE), with N.
    """
    check_paired(gold, ranked, "gold", "ranked")
    check_k(k)
    if any(len(emotions) == 0 for emotions in gold):
        raise ValueError("every example needs at least one gold emotion; recall is undefined otherwise")
    hits = [len(set(emotions) & set(predicted[:k])) for emotions, predicted in zip(gold, ranked)]
    n = len(gold)
    return EmotionRecallAtK(
        k=k,
        covered=sum(hits) / n,
        fraction=sum(h / len(set(emotions)) for h, emotions in zip(hits, gold)) / n,
        n_examples=n,
    )


@dataclass(frozen=True)
class BinaryResult:
    """Positive-class precision/recall/F1, accuracy and ROC-AUC (None without scores), in [0, 1]."""

    precision: float
    recall: float
    f1: float
    accuracy: float
    roc_auc: float | None
    n_examples: int


def binary_classification(
    gold: Sequence[int], predicted: Sequence[int], scores: Sequence[float] | None = None
) -> BinaryResult:
    """Binary cause labels (e.g. "is this utterance/word a cause"), scikit-learn.

    Metric card:
        Definition: precision, recall and F1 of the positive class (label 1,
            ``precision_recall_fscore_support(average="binary", pos_label=1, zero_division=0)``, so a
            ratio with a zero denominator is 0); accuracy over all examples; ROC-AUC
            (``roc_auc_score``) of ``scores`` against gold, threshold-free.
        Inputs: gold and predicted labels in {0, 1}, paired; optionally a score per example
            (higher = more likely positive). ROC-AUC needs both classes in gold.
        Range: [0, 1].
        Reported: P, R, F1 (positive class), accuracy, ROC-AUC, with N and the positive rate.
    """
    check_paired(gold, predicted, "gold", "predicted")
    _check_binary(gold, predicted)
    precision, recall, f1, _ = precision_recall_fscore_support(
        gold, predicted, average="binary", pos_label=1, zero_division=0
    )
    return BinaryResult(
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        accuracy=float(accuracy_score(gold, predicted)),
        roc_auc=None if scores is None else _roc_auc(gold, scores),
        n_examples=len(gold),
    )


def _roc_auc(gold: Sequence[int], scores: Sequence[float]) -> float:
    check_paired(gold, scores, "gold", "scores")
    if len(set(gold)) < 2:
        raise ValueError("ROC-AUC needs both classes in gold; it is undefined with one")
    return float(roc_auc_score(gold, scores))


def _check_binary(*label_lists: Sequence[int]) -> None:
    for labels in label_lists:
        if not set(labels) <= {0, 1}:
            raise ValueError(f"binary labels must be 0 or 1, got {sorted(set(labels) - {0, 1})}")


@dataclass(frozen=True)
class EntailmentResult:
    """RECCON causal emotion entailment F1s, in [0, 1]."""

    positive_f1: float
    negative_f1: float
    macro_f1: float
    n_examples: int


def reccon_entailment(gold: Sequence[int], predicted: Sequence[int]) -> EntailmentResult:
    """Causal emotion entailment scores of RECCON (Poria et al., 2021).

    Metric card:
        Definition: each (target utterance, candidate cause utterance) pair is labelled 1 if the
            candidate causes the target's emotion, else 0. Pos. F1 = F1 of class 1, Neg. F1 = F1 of
            class 0, macro F1 = (Pos. F1 + Neg. F1) / 2, the "macro avg" of scikit-learn's
            ``classification_report`` used by RECCON's ``eval_classification.py``.
            Computed with ``f1_score(labels=[0, 1], average=None, zero_division=0)``.
        Inputs: gold and predicted labels in {0, 1}, paired.
        Range: [0, 1]; RECCON reports them x100.
        Reported: Pos. F1, Neg. F1, macro F1, with N.
    """
    check_paired(gold, predicted, "gold", "predicted")
    _check_binary(gold, predicted)
    negative_f1, positive_f1 = f1_score(gold, predicted, labels=[0, 1], average=None, zero_division=0)
    return EntailmentResult(
        positive_f1=float(positive_f1),
        negative_f1=float(negative_f1),
        macro_f1=float(positive_f1 + negative_f1) / 2,
        n_examples=len(gold),
    )
