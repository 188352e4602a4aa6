"""Evaluation metrics for emotion-cause-aware empathetic dialogue; see docs/metrics.md for the cards."""

from emocause.metrics.bertscore import BertScoreResult, bertscore
from emocause.metrics.causes import SpanResult, cause_recall_at_k, span_extraction
from emocause.metrics.classification import (
    BinaryResult,
    EmotionClassificationResult,
    EmotionRecallAtK,
    EntailmentResult,
    binary_classification,
    emotion_classification,
    emotion_recall_at_k,
    reccon_entailment,
)
from emocause.metrics.diversity import DistinctResult, distinct, mtld, simple_tokenize
from emocause.metrics.overlap import BleuResult, RougeResult, corpus_bleu, rouge
from emocause.metrics.perplexity import perplexity, token_nll

__all__ = [
    "BertScoreResult",
    "BinaryResult",
    "BleuResult",
    "DistinctResult",
    "EmotionClassificationResult",
    "EmotionRecallAtK",
    "EntailmentResult",
    "RougeResult",
    "SpanResult",
    "bertscore",
    "binary_classification",
    "cause_recall_at_k",
    "corpus_bleu",
    "distinct",
    "emotion_classification",
    "emotion_recall_at_k",
    "mtld",
    "perplexity",
    "reccon_entailment",
    "rouge",
    "simple_tokenize",
    "span_extraction",
    "token_nll",
]
