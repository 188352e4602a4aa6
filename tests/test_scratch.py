"""The from-scratch generator family: shared infrastructure, MoEL, E-CORE's graph, OTSU and correlation loss."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from emocause.data.schema import Dialogue, Turn
from emocause.errors import ModelError
from emocause.models.ecore import (
    ECORE,
    ECOREConfig,
    EmotionCorrelation,
    EmotionGraph,
    correlation_loss,
    otsu_relevant,
)
from emocause.models.moel import MoEL, MoELConfig, listener_weights
from emocause.models.registry import load_model
from emocause.models.scratch import (
    Example,
    MultiTRS,
    ScratchConfig,
    ScratchGenerator,
    WordVocab,
    build_vocab,
    paper_intensity,
    tokenize,
)
from emocause.training.loop import learning_rate_factor

TINY = {"hidden": 24, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "feedforward": 32, "dropout": 0.0,
        "min_count": 1, "embedding_dim": 8, "max_response_words": 8}  # fmt: skip

EXAMPLES = [
    Example("d1", 1, [Turn("speaker", "I lost my job today and I feel terrible.")], "sad", "I am so sorry."),
    Example("d2", 1, [Turn("speaker", "We won the final, what a great day!")], "proud", "Congratulations!"),
    Example(
        "d3", 3,
        [Turn("speaker", "My dog is sick."), Turn("listener", "Oh no."), Turn("speaker", "I hope he is ok.")],
        "anxious", "He will be fine, I hope.",
    ),
    Example("d4", 1, [Turn("speaker", "A spider ran over my hand!")], "terrified", "That sounds scary."),
]  # fmt: skip


def test_tokenize_keeps_clitics_and_splits_punctuation() -> None:
    assert tokenize("I'm SO happy,_comma_ really!") == ["i'm", "so", "happy", ",", ",", "really", "!"]


def test_vocab_counts_words_and_adds_emotion_names() -> None:
    vocab = build_vocab(EXAMPLES, ScratchConfig(min_count=1))
    assert vocab.words[:5] == ["<pad>", "<unk>", "<sos>", "<eos>", "<cls>"]
    assert "i" in vocab.index and "devastated" in vocab.index  # an ED label never seen in the texts
    ids = vocab.ids(["i", "zyzzyva"])
    assert ids[1] == vocab.index["<unk>"]
    assert vocab.decode([vocab.index["i"], vocab.index["<eos>"], vocab.index["i"]]) == "i"
    with pytest.raises(ModelError):
        WordVocab(["a", "b"])


def test_paper_intensity_maps_vader_to_skep_scale() -> None:
    assert paper_intensity("the") == 0.0
    assert 0.0 < paper_intensity("good") < paper_intensity("terrible") or paper_intensity("terrible") > 0
    assert all(0.0 <= paper_intensity(w) <= 0.25 for w in ("love", "hate", "catastrophe", "ok"))


def test_noam_schedule_warms_up_then_decays_with_inverse_sqrt() -> None:
    factor = learning_rate_factor("noam", warmup=100, total=1000)
    assert factor(0) == pytest.approx(0.01)
    assert factor(99) == pytest.approx(1.0)
    assert factor(399) == pytest.approx(0.5)
    with pytest.raises(Exception, match="schedule"):
        learning_rate_factor("cosine", 10, 100)


def test_correlation_is_symmetric_with_unit_diagonal() -> None:
    torch.manual_seed(0)
    correlation = EmotionCorrelation(6)
    with torch.no_grad():
        correlation.S.normal_()
    R = correlation()
    assert torch.allclose(R, R.T, atol=1e-6)
    assert torch.allclose(R.diagonal(), torch.ones(6), atol=1e-6)
    assert R.abs().max() <= 1 + 1e-6


def test_correlation_loss_averages_selected_pairs() -> None:
    R = torch.tensor([[1.0, 0.5, 0.2], [0.5, 1.0, -0.4], [0.2, -0.4, 1.0]])
    both = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    # first row: -(0.5) / 2; second: -(0.5 + 0.2 - 0.4) / 3
    assert correlation_loss(R, both).item() == pytest.approx((-0.25 - 0.1) / 2)
    assert correlation_loss(R, torch.tensor([[0, 0, 1]], dtype=torch.bool)).item() == 0.0


def test_otsu_splits_the_clear_leaders_and_caps_at_five() -> None:
    scores = torch.tensor([[5.0, 0.1, 4.8, 0.0, 0.2, 0.1], [1, 1, 1, 1, 1, 1, 1, 0.0][:6]])
    mask = otsu_relevant(scores)
    assert mask[0].tolist() == [True, False, True, False, False, False]
    assert 1 <= int(mask[1].sum()) <= 5
    many = torch.tensor([[9.0] * 7 + [0.0] * 5])
    assert int(otsu_relevant(many, max_relevant=5).sum()) == 5


def test_graph_edges_follow_thresholds_order_and_cls() -> None:
    graph = EmotionGraph(hidden=12, thresholds=[0.0, 0.1], layers=1, dropout=0.0)
    intensity = torch.tensor([[0.0, 0.2, 0.0, 0.05, 0.0]])  # [CLS], strong, neutral, weak, padding
    pad = torch.tensor([[False, False, False, False, True]])
    R = torch.eye(3)
    init = torch.full((1, 3), 1 / 3)
    keep = torch.tensor([[True, False, True]])
    edges, adjacency = graph.initial_edges(intensity, pad, R, init, keep)
    m = 5
    assert adjacency.shape == (1, 2, m + 3, m + 3)
    word_word = adjacency[0, :, :m, :m]
    assert word_word[0, 3, 1] and word_word[0, 3, 2] and not word_word[0, 1, 3]  # earlier words only
    assert not word_word[1, 3, 2] and word_word[1, 3, 1]  # resolution 2 drops the neutral word
    assert all(adjacency[0, k, i, 0] for k in range(2) for i in range(4))  # every word attends [CLS]
    assert edges[0, 0, 3, 1] == pytest.approx(1.0) and edges[0, 0, 3, 3] == pytest.approx(0.25)  # c_j / max c
    assert edges[0, 0, 2, m] == pytest.approx(1 / 3)  # word -> emotion: the initial 1/P
    assert not adjacency[0, 0, 2, m + 1]  # a removed emotion node is nobody's neighbour
    assert edges[0, 0, m, m + 2] == pytest.approx(torch.eye(3).softmax(-1)[0, 2].item())  # softmax_j(R)
    assert not adjacency[0, 0, :4, 4].any()  # nobody attends padding
    out = graph(torch.randn(1, m, 12), torch.randn(3, 12), intensity, pad, R, init, keep)
    assert out.word_to_emotion.shape == (1, m, 3) and out.nodes.shape == (1, m, 12)
    assert torch.allclose(out.emotion_to_emotion[0].diagonal(), torch.ones(3))
    assert torch.isfinite(out.nodes).all()


def test_listener_weights_keep_top_k() -> None:
    weights = listener_weights(torch.tensor([[3.0, 1.0, 2.0, 0.0]]), top_k=2)
    assert weights[0, 1] == 0 and weights[0, 3] == 0
    assert weights.sum().item() == pytest.approx(1.0)


MODELS = [
    (ScratchGenerator, ScratchConfig),
    (MultiTRS, ScratchConfig),
    (MoEL, MoELConfig),
    (ECORE, ECOREConfig),
]


@pytest.mark.parametrize(("cls", "config_cls", "options"), [
    *[(c, k, {}) for c, k in MODELS],
    (ECORE, ECOREConfig, {"strategy": "hard"}),
    (ECORE, ECOREConfig, {"graph": False}),
    (ECORE, ECOREConfig, {"correlation_perception": False, "gated_generation": False}),
])  # fmt: skip
def test_tiny_train_step_lowers_loss_and_round_trips(
    cls: type[ScratchGenerator], config_cls: type, options: dict, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    config = config_cls(**TINY, **options)
    model = cls(config, build_vocab(EXAMPLES, config))
    batch = model.batch(EXAMPLES)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first, parts = model.loss(batch)
    assert math.isfinite(first.item())
    assert ("emo" in parts) == cls.PREDICTS_EMOTION
    for _ in range(25):
        loss, _ = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.loss(batch)[0].item() < first.item() - 0.5
    model.eval()
    replies = model.generate(batch)
    assert len(replies) == 4 and all(isinstance(r, str) for r in replies)
    assert isinstance(model.generate(model.batch(EXAMPLES[:1]), beam=3)[0], str)
    model.save(tmp_path / "m")
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    assert card["method"] == cls.METHOD
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is cls
    nll, counts, _ = model.score(batch)
    assert loaded.score(batch)[0] == pytest.approx(nll, rel=1e-5)
    assert counts == [len(tokenize(x.response)) + 1 for x in EXAMPLES]


def test_ecore_needs_emotion_names_in_vocabulary() -> None:
    with pytest.raises(ModelError, match="emotion names"):
        ECORE(ECOREConfig(**TINY), WordVocab(["<pad>", "<unk>", "<sos>", "<eos>", "<cls>", "hello"]))


def test_data_cooccurrence_counts_table_12_words() -> None:
    from emocause.bench.scratch import data_cooccurrence
    from emocause.resources.taxonomies import ED

    dialogues = [
        Dialogue("a", "t", "train", [Turn("speaker", "I was scared, but now I am so thankful.")], emotion="afraid"),
        Dialogue("b", "t", "train", [Turn("speaker", "I am sick of it.")], emotion="annoyed"),
    ]  # fmt: skip
    counts = data_cooccurrence(dialogues)
    i, j = ED.index("afraid"), ED.index("grateful")
    assert counts[i, j] == counts[j, i] == 1
    assert counts[ED.index("annoyed"), ED.index("disgusted")] == 1  # the two-word form "sick of"
    assert counts.diagonal().sum() == 0


def test_train_and_bench_cli_on_real_ecc(real_root: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from emocause.cli import _register, app

    _register()
    runner = CliRunner()
    run = tmp_path / "run"
    overrides = ["train.max_train_examples=48", "train.max_valid_examples=16", "train.epochs=1",
                 "model.hidden=24", "model.feedforward=32", "model.encoder_layers=1", "model.decoder_layers=1"]  # fmt: skip
    args = ["train", "ecore", "-o", str(run), "-c", "ecore-ecc"]
    for pair in overrides:
        args += ["--set", pair]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (run / "best" / "vocab.json").is_file()
    result = runner.invoke(app, ["bench", "generator", str(run / "best"), "-d", "ecc_examples", "--replies", "last",
                                 "--results", "tiny", "--n-generate", "8", "--bench-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "results" / "tiny.json").read_text())
    metrics = {r["metric"]: r for r in rows}
    assert metrics["perplexity_word"]["n"] == 889 and metrics["perplexity_word"]["value"] > 1
    assert metrics["emotion_accuracy"]["n"] == 889 and 0 <= metrics["emotion_accuracy"]["value"] <= 1
    assert metrics["distinct_1"]["n"] == 8
    assert metrics["seconds_per_step"]["n"] == 2 and metrics["seconds_per_step"]["value"] > 0
    predictions = tmp_path / "results" / "tiny.predictions.jsonl"
    result = runner.invoke(app, ["evaluate", str(predictions), "--task", "response", "-d", "ecc_examples",
                                 "--allow-partial"])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["bench", "correlation", str(run / "best"), "-o", str(tmp_path / "r.png")])
    assert result.exit_code != 0 and "32 ED emotions" in str(result.exception)
