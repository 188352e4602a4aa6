"""Metric suite: each metric against a value computed by hand, plus edge cases."""

import math

import pytest
import torch

from emocause.metrics import (
    bertscore,
    binary_classification,
    cause_recall_at_k,
    corpus_bleu,
    distinct,
    emotion_classification,
    emotion_recall_at_k,
    mtld,
    perplexity,
    reccon_entailment,
    rouge,
    simple_tokenize,
    span_extraction,
    token_nll,
)

# --- perplexity ---------------------------------------------------------------------------------------


def test_token_nll_and_perplexity_by_hand() -> None:
    # Logits [0, ln 3] give p = [1/4, 3/4] at every position.
    # Targets 1, 0 and one ignored position: NLL = -ln(3/4) - ln(1/4) = ln(16/3) over 2 tokens,
    # PPL = exp(ln(16/3) / 2) = sqrt(16/3).
    logits = torch.tensor([[[0.0, math.log(3)]] * 3])
    labels = torch.tensor([[1, 0, -100]])
    nll_sum, n_tokens = token_nll(logits, labels)
    assert n_tokens == 2
    assert nll_sum == pytest.approx(math.log(16 / 3))
    assert perplexity(nll_sum, n_tokens) == pytest.approx(math.sqrt(16 / 3))


def test_perplexity_is_token_weighted_across_batches() -> None:
    # Uniform logits over V = 4: every scored token has NLL ln 4.
    # Batch 1 scores 1 token, batch 2 scores 3 tokens: PPL = exp(4 ln 4 / 4) = 4.
    # With batch 2 at V = 4 but batch 1 forced to p = 1/2 (NLL ln 2): PPL = exp((ln 2 + 3 ln 4) / 4)
    # = 2^(7/4), not the mean of the batch perplexities (2 + 4) / 2 = 3.
    batch1 = token_nll(torch.tensor([[[0.0, 0.0, -1e9, -1e9]]]), torch.tensor([[1]]))
    batch2 = token_nll(torch.zeros(1, 3, 4), torch.tensor([[0, 2, 3]]))
    total = (batch1[0] + batch2[0], batch1[1] + batch2[1])
    assert total[1] == 4
    assert perplexity(*total) == pytest.approx(2 ** (7 / 4))


def test_token_nll_all_ignored_and_bad_shapes() -> None:
    assert token_nll(torch.zeros(1, 2, 3), torch.full((1, 2), -100)) == (0.0, 0)
    with pytest.raises(ValueError, match="logits"):
        token_nll(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))


def test_perplexity_of_no_tokens_raises() -> None:
    with pytest.raises(ValueError, match="n_tokens"):
        perplexity(0.0, 0)


# --- Distinct-n and MTLD --------------------------------------------------------------------------------


def test_simple_tokenize() -> None:
    assert simple_tokenize("I'm SO happy, really!") == ["i", "'", "m", "so", "happy", ",", "really", "!"]


def test_distinct_by_hand() -> None:
    responses = [["i", "am", "sad"], ["i", "am", "i", "am"], ["ok"]]
    # Unigrams: 3 + 4 + 1 = 8 in all, distinct {i, am, sad, ok} = 4 -> corpus_1 = 4/8 = 50.
    # Bigrams: (i am)(am sad) + (i am)(am i)(i am) + none = 5, distinct {i am, am sad, am i} = 3 -> 60.
    # Per response, unigrams: 3/3, 2/4, 1/1 -> (1 + 0.5 + 1) / 3; bigrams: 2/2, 2/3, "ok" has none -> 0,
    # so (1 + 2/3 + 0) / 3.
    result = distinct(responses)
    assert result.corpus_1 == pytest.approx(50.0)
    assert result.corpus_2 == pytest.approx(60.0)
    assert result.avg_1 == pytest.approx(100 * 2.5 / 3)
    assert result.avg_2 == pytest.approx(100 * (5 / 3) / 3)
    assert result.n_responses == 3


def test_distinct_edge_cases() -> None:
    with pytest.raises(ValueError, match="empty"):
        distinct([])
    with pytest.raises(TypeError, match="token lists"):
        distinct(["a plain string"])
    # Only one-token responses: no bigram anywhere, Distinct-2 is 0 rather than a division by zero.
    assert distinct([["hi"], ["hi"]]).corpus_2 == 0.0


def test_mtld_by_hand() -> None:
    # Forward over a b a c d: TTR 1, 1, 2/3 <= 0.72 -> one factor, reset; then c d has TTR 1, so the
    # partial factor is (1 - 1) / 0.28 = 0 -> 5 / 1 = 5.
    # Backward over d c a b a: TTR 1, 1, 1, 1, 4/5 = 0.8 -> partial (1 - 0.8) / 0.28 = 5/7 -> 5 / (5/7) = 7.
    # MTLD = (5 + 7) / 2 = 6.
    assert mtld(["a", "b", "a", "c", "d"]) == pytest.approx(6.0)
    # a b a b a b: two full factors each way -> 6 / 2 = 3.
    assert mtld(list("ababab")) == pytest.approx(3.0)


def test_mtld_edge_cases() -> None:
    # Every token distinct: no factor completes, counted as one factor -> MTLD = length.
    assert mtld(["a", "b", "c"]) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="empty"):
        mtld([])
    with pytest.raises(TypeError, match="token list"):
        mtld("not tokenized")


# --- BLEU and ROUGE -------------------------------------------------------------------------------------

HYPS = ["the cat sat on the mat", "i am sorry"]
REFS = ["the cat is on the mat", "i am so sorry"]
# 13a tokens, pair 1: hyp "the cat sat on the mat" (6) vs ref "the cat is on the mat" (6):
#   1-grams clipped matches the x2, cat, on, mat = 5/6; 2-grams the-cat, on-the, the-mat = 3/5;
#   3-grams on-the-mat = 1/4; 4-grams 0/3.
# Pair 2: hyp "i am sorry" (3) vs ref "i am so sorry" (4): 1-grams 3/3; 2-grams i-am = 1/2; 3-grams 0/1;
#   4-grams 0/0.
# Corpus: matches [8, 4, 1, 0] over totals [9, 7, 5, 3]; hyp_len 9 < ref_len 10 -> BP = exp(1 - 10/9).
# exp smoothing: order 4 is the first zero-match order -> p_4 = 1 / (2 * 3).
BP = math.exp(1 - 10 / 9)
P = [8 / 9, 4 / 7, 1 / 5, 1 / 6]


def test_individual_bleu_by_hand() -> None:
    result = corpus_bleu(HYPS, REFS)
    assert not result.cumulative
    assert result.brevity_penalty == pytest.approx(BP)
    expected = [100 * BP * p for p in P]
    assert [result.bleu1, result.bleu2, result.bleu3, result.bleu4] == pytest.approx(expected)
    assert result.n_pairs == 2


def test_cumulative_bleu_by_hand() -> None:
    # Cumulative BLEU-n = BP * (p_1 * ... * p_n) ** (1 / n).
    result = corpus_bleu(HYPS, REFS, cumulative=True)
    expected = [100 * BP * math.prod(P[:n]) ** (1 / n) for n in (1, 2, 3, 4)]
    assert [result.bleu1, result.bleu2, result.bleu3, result.bleu4] == pytest.approx(expected)


def test_bleu_floor_smoothing() -> None:
    # floor: the zero-match order 4 gets p_4 = 0.1 / 3.
    assert corpus_bleu(HYPS, REFS, smooth_method="floor").bleu4 == pytest.approx(100 * BP * 0.1 / 3)


def test_bleu_rejects_empty_and_unpaired() -> None:
    with pytest.raises(ValueError, match="empty"):
        corpus_bleu([], [])
    with pytest.raises(ValueError, match="differ in length"):
        corpus_bleu(["a"], ["a", "b"])


def test_rouge_by_hand() -> None:
    hyps = ["the cats sat on a mat", "sorry i am"]
    refs = ["the cat is on the mat", "i am so sorry"]
    # Pair 1 (stemmed, cats -> cat): hyp the cat sat on a mat, ref the cat is on the mat.
    #   Unigram overlap the, cat, on, mat = 4 -> P = R = 4/6 -> F = 2/3. LCS the cat on mat = 4 -> 2/3.
    # Pair 2: unigram overlap 3 -> P = 3/3, R = 3/4 -> F = 6/7. LCS "i am" = 2 -> P = 2/3, R = 2/4 -> 4/7.
    result = rouge(hyps, refs)
    assert result.rouge1_f1 == pytest.approx((2 / 3 + 6 / 7) / 2)
    assert result.rougeL_f1 == pytest.approx((2 / 3 + 4 / 7) / 2)
    assert result.n_pairs == 2
    # Without stemming "cats" != "cat": pair 1 unigram overlap 3 -> F = 1/2.
    assert rouge(hyps[:1], refs[:1], use_stemmer=False).rouge1_f1 == pytest.approx(0.5)


def test_rouge_rejects_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        rouge([], [])


# --- BERTScore ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_bertscore_identical_beats_unrelated() -> None:
    same = "I am so sorry to hear about your dog."
    identical = bertscore([same], [same])
    unrelated = bertscore(["The train leaves at noon."], [same])
    assert identical.f1 == pytest.approx(1.0, abs=1e-4)
    assert identical.precision == pytest.approx(1.0, abs=1e-4)
    assert unrelated.f1 < identical.f1 - 0.1
    assert (identical.model, identical.num_layers, identical.n_pairs) == (
        "sentence-transformers/all-MiniLM-L6-v2",
        6,
        1,
    )


def test_bertscore_rejects_empty_without_loading() -> None:
    with pytest.raises(ValueError, match="empty"):
        bertscore([], [])


# --- classification -------------------------------------------------------------------------------------


def test_emotion_classification_by_hand() -> None:
    labels = ["joyful", "sad", "afraid", "proud"]
    gold = ["joyful", "joyful", "sad", "afraid"]
    pred = ["joyful", "sad", "sad", "joyful"]
    # Accuracy 2/4. Per class F1: joyful P = 1/2, R = 1/2 -> 1/2; sad P = 1/2, R = 1 -> 2/3;
    # afraid 0; proud absent from gold and predictions -> 0 (zero_division=0), still counted.
    # Macro-F1 = (1/2 + 2/3 + 0 + 0) / 4 = 7/24.
    result = emotion_classification(gold, pred, labels)
    assert result.accuracy == pytest.approx(0.5)
    assert result.macro_f1 == pytest.approx(7 / 24)
    assert result.n_examples == 4


def test_emotion_classification_edge_cases() -> None:
    with pytest.raises(ValueError, match="empty"):
        emotion_classification([], [], ["sad"])
    with pytest.raises(ValueError, match="outside the label set"):
        emotion_classification(["sad"], ["happy"], ["sad"])


def test_emotion_recall_at_k_by_hand() -> None:
    gold = [{"sad", "lonely"}, {"joyful"}, {"afraid", "anxious", "terrified"}]
    ranked = [
        ["lonely", "sad", "angry"],
        ["proud", "joyful", "sad"],
        ["afraid", "sad", "anxious"],
    ]
    # k = 1: hits 1, 0, 1 -> covered 2/3; fractions 1/2, 0, 1/3 -> (1/2 + 1/3) / 3.
    # k = 3: hits 2, 1, 2 -> covered 5/3; fractions 1, 1, 2/3 -> (8/3) / 3.
    r1 = emotion_recall_at_k(gold, ranked, 1)
    assert (r1.covered, r1.fraction) == pytest.approx((2 / 3, (1 / 2 + 1 / 3) / 3))
    r3 = emotion_recall_at_k(gold, ranked, 3)
    assert (r3.covered, r3.fraction, r3.k, r3.n_examples) == pytest.approx((5 / 3, 8 / 9, 3, 3))


def test_emotion_recall_at_k_edge_cases() -> None:
    with pytest.raises(ValueError, match="empty"):
        emotion_recall_at_k([], [], 1)
    with pytest.raises(ValueError, match="at least one gold emotion"):
        emotion_recall_at_k([set()], [["sad"]], 1)
    with pytest.raises(ValueError, match="k must be"):
        emotion_recall_at_k([{"sad"}], [["sad"]], 0)


def test_binary_classification_by_hand() -> None:
    gold = [1, 1, 0, 0, 1]
    pred = [1, 0, 1, 0, 1]
    scores = [0.9, 0.4, 0.6, 0.2, 0.7]
    # TP = 2, FN = 1, FP = 1, TN = 1: P = 2/3, R = 2/3, F1 = 2/3, accuracy = 3/5.
    # ROC-AUC = share of (positive, negative) pairs ranked right: positives 0.9, 0.4, 0.7 vs
    # negatives 0.6, 0.2 -> 0.9 > both, 0.7 > both, 0.4 > 0.2 only -> 5/6.
    result = binary_classification(gold, pred, scores)
    assert (result.precision, result.recall, result.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert result.accuracy == pytest.approx(3 / 5)
    assert result.roc_auc == pytest.approx(5 / 6)
    assert binary_classification(gold, pred).roc_auc is None


def test_binary_classification_edge_cases() -> None:
    # No predicted positive: precision's 0/0 becomes 0, not an error.
    assert binary_classification([1, 0], [0, 0]).precision == 0.0
    with pytest.raises(ValueError, match="empty"):
        binary_classification([], [])
    with pytest.raises(ValueError, match="0 or 1"):
        binary_classification([2], [1])
    with pytest.raises(ValueError, match="both classes"):
        binary_classification([1, 1], [1, 0], [0.3, 0.8])


def test_reccon_entailment_by_hand() -> None:
    gold = [1, 1, 0, 0, 0, 0]
    pred = [1, 0, 1, 0, 0, 0]
    # Positive: TP 1, FP 1, FN 1 -> P = R = 1/2 -> F1 1/2.
    # Negative: TP 3, FP 1, FN 1 -> P = R = 3/4 -> F1 3/4. Macro = (1/2 + 3/4) / 2 = 5/8.
    result = reccon_entailment(gold, pred)
    assert (result.positive_f1, result.negative_f1, result.macro_f1) == pytest.approx((0.5, 0.75, 5 / 8))
    with pytest.raises(ValueError, match="empty"):
        reccon_entailment([], [])


# --- emotion causes -------------------------------------------------------------------------------------


def test_cause_recall_at_k_by_hand() -> None:
    gold = [["goals", "earning", "money"], ["dog"]]
    ranked = [["money", "week", "goals", "house", "earning"], ["cat", "dog"]]
    # k = 1: 1/3 and 0/1 -> (1/3 + 0) / 2 = 1/6. k = 3: 2/3 and 1/1 -> 5/6. k = 5: 3/3 and 1/1 -> 1.
    assert cause_recall_at_k(gold, ranked, 1) == pytest.approx(1 / 6)
    assert cause_recall_at_k(gold, ranked, 3) == pytest.approx(5 / 6)
    assert cause_recall_at_k(gold, ranked, 5) == pytest.approx(1.0)


def test_cause_recall_multiset_and_lenient() -> None:
    # "money" twice in gold needs two hits: one hit -> 1/2.
    assert cause_recall_at_k([["money", "money"]], [["money", "cash"]], 2) == pytest.approx(0.5)
    # "money." does not equal "money", but starts with it, so lenient matching counts it: 0 vs 1/1.
    assert cause_recall_at_k([["money"]], [["money."]], 1) == 0.0
    assert cause_recall_at_k([["money"]], [["money."]], 1, lenient=True) == pytest.approx(1.0)


def test_cause_recall_edge_cases() -> None:
    with pytest.raises(ValueError, match="empty"):
        cause_recall_at_k([], [], 1)
    with pytest.raises(ValueError, match="at least one gold cause word"):
        cause_recall_at_k([[]], [["a"]], 1)
    with pytest.raises(ValueError, match="differ in length"):
        cause_recall_at_k([["a"]], [], 1)


def test_span_extraction_by_hand() -> None:
    predictions = ["The cake was burnt!", "my cake was burnt", ""]
    gold = [["cake was burnt"], ["the cake", "was burnt yesterday"], []]
    # 1: normalised "cake was burnt" == gold -> EM 1, F1 1.
    # 2: pred [my, cake, was, burnt]; vs [cake]: P 1/4, R 1 -> F1 2/5; vs [was, burnt, yesterday]:
    #    P 2/4, R 2/3 -> F1 4/7; max 4/7, EM 0.
    # 3: no gold span and an empty prediction -> EM 1, F1 1.
    result = span_extraction(predictions, gold)
    assert result.exact_match == pytest.approx(2 / 3)
    assert result.f1 == pytest.approx((1 + 4 / 7 + 1) / 3)
    assert result.n_examples == 3


def test_span_extraction_edge_cases() -> None:
    # A prediction where no span exists, and no prediction where one does, both score 0.
    assert span_extraction(["something"], [[]]).f1 == 0.0
    assert span_extraction([""], [["a cause"]]).f1 == 0.0
    with pytest.raises(ValueError, match="empty"):
        span_extraction([], [])
