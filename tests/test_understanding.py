"""Understanding models on a tiny random BERT (MiniLM's tokenizer, 2 layers of width 32): forward passes,
losses, pseudo labels, save/load, the training loop's resume, and the derived empathy-cause sets."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel

from emocause.data.derived import _post, split_sentences
from emocause.data.schema import CauseSpan, Dialogue, Turn
from emocause.errors import EmocauseError, ModelError
from emocause.models.cee import CauseUtteranceModel, CEEConfig
from emocause.models.ece import ECEConfig, ECEModel, is_content_word
from emocause.models.emotion import EmotionClassifier, EmotionConfig, context_turns, emotion_input
from emocause.models.empathy_cause import EmpathyCauseConfig, EmpathyCauseModel, focal_loss
from emocause.models.encoder import WEIGHTS, EncoderConfig
from emocause.models.registry import load_model
from emocause.models.resolver import resolve_encoder_path
from emocause.models.words import WordInput
from emocause.training.cee import CEETask, best_threshold, cause_turn_examples
from emocause.training.ece import (
    LABELS,
    auxiliary_loss,
    cause_loss,
    cause_word_examples,
    pseudo_labels,
    token_labels,
)
from emocause.training.emotion import EmotionTask, emotion_examples
from emocause.training.empathy_cause import EmpathyCauseTask, post_reply_examples
from emocause.training.loop import TrainConfig, epoch_batches, fit


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("tiny-bert")
    minilm = Path(resolve_encoder_path())
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm / name, folder / name)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # fmt: skip
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return str(folder)


def _encoder(name: str, lora_r: int = 4) -> EncoderConfig:
    return EncoderConfig(name=name, max_length=64, lora_r=lora_r, lora_alpha=8, lora_dropout=0.0)


def _reccon_dialogue() -> Dialogue:
    turns = [
        Turn("speaker", "I lost my job today ."),
        Turn("listener", "Oh no , that is terrible ."),
        Turn("speaker", "I am so sad about it .", emotion="sadness", cause_turns=[0],
             cause_spans=[CauseSpan(turn=0, start=2, end=13, text="lost my job")]),
    ]  # fmt: skip
    return Dialogue(id="d1", source="reccon", split="test", turns=turns)


def test_emotion_classifier_top_k_and_save_load(tiny_encoder: str, tmp_path: Path) -> None:
    model = EmotionClassifier(
        EmotionConfig(["sad", "joyful", "afraid"], "test", _encoder(tiny_encoder), dropout=0.0)
    )
    dialogue = _reccon_dialogue()
    dialogue.turns.append(Turn("listener", "I'm sorry."))
    assert context_turns(dialogue) == dialogue.turns[:3]
    top = model.top_k([context_turns(dialogue)], k=2)[0]
    assert (
        len(top) == 2
        and top[0][1] >= top[1][1]
        and {label for label, _ in top} <= {"sad", "joyful", "afraid"}
    )
    probabilities = model.probabilities([dialogue.turns])
    assert probabilities.shape == (1, 3) and math.isclose(float(probabilities.sum()), 1.0, rel_tol=1e-5)
    model.head.bias.data += torch.tensor([0.0, 5.0, 0.0])  # a change that must survive saving
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / WEIGHTS).stat().st_size < 1_000_000  # adapters and head only
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, EmotionClassifier)
    assert torch.allclose(
        loaded.probabilities([dialogue.turns]), model.probabilities([dialogue.turns]), atol=1e-6
    )
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    card["method"] = "ece"
    (tmp_path / "m" / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError):
        EmotionClassifier.load(tmp_path / "m")
    with pytest.raises(ModelError, match="no trained model"):
        load_model(tmp_path / "nothing-here")


def test_emotion_input_reads_the_context_or_the_situation() -> None:
    dialogue = _reccon_dialogue()
    dialogue.turns.append(Turn("listener", "I'm sorry."))
    assert emotion_input(dialogue) == dialogue.turns[:3]
    with pytest.raises(ModelError, match="no situation"):
        emotion_input(dialogue, "situation")
    dialogue.situation = "I was let go from work."
    assert emotion_input(dialogue, "situation") == [Turn("speaker", "I was let go from work.")]
    with pytest.raises(ModelError, match="unknown emotion input"):
        emotion_input(dialogue, "summary")


def test_word_inputs_and_cause_word_labels(tiny_encoder: str) -> None:
    (example,) = cause_word_examples([_reccon_dialogue()])
    words = example.words
    assert words.words[:2] == ["speaker:", "I"] and words.turn_of[0] == -1
    labelled = [w for w, y in zip(words.words, example.word_labels or [], strict=True) if y == 1]
    assert labelled == ["lost", "my", "job"]
    assert example.gold_words == ["lost", "my", "job"] and LABELS[example.emotion] == "sadness"
    model = ECEModel(ECEConfig(LABELS, _encoder(tiny_encoder)))
    batch = model.encode([words])
    mapped = {int(i) for i in batch.word_index[0] if i >= 0}
    assert mapped == {i for i, t in enumerate(words.turn_of) if t >= 0}  # every word, no role marker
    labels = token_labels(batch, [example.word_labels or []])
    assert int((labels == 1).sum()) >= 3 and int((labels == -100).sum()) > 0
    ((emotions, scores),) = model.analyze([words])
    assert len(emotions) == len(LABELS) and scores[0] == float("-inf")
    ranked = ECEModel.ranked_words(words, scores)
    assert "speaker:" not in ranked and len(ranked) == len(set(ranked))
    assert set(ECEModel.ranked_words(words, scores, turns={2})) <= {
        "I",
        "am",
        "so",
        "sad",
        "about",
        "it",
        ".",
    }


def test_pseudo_labels_take_top_content_words() -> None:
    words = WordInput(["speaker:", "the", "dog", "bit", "me", "!"], [-1, 0, 0, 0, 0, 0])
    attention = [float("-inf"), 0.9, 0.5, 0.3, 0.8, 0.7]
    assert pseudo_labels(words, attention, top_k=2) == [-1, 0, 1, 1, 0, 0]  # "the", "me", "!" filtered
    assert not is_content_word("!") and not is_content_word("the") and is_content_word("job.")


def test_ece_losses() -> None:
    probs = torch.tensor([[0.999, 0.001, 0.5]])
    assert float(cause_loss(probs, torch.tensor([[1, 0, -100]]))) < 0.01
    assert float(cause_loss(probs, torch.tensor([[0, 1, -100]]))) > 5
    assert float(cause_loss(probs, torch.tensor([[-100, -100, -100]]))) == 0.0

    class Batch:
        word_index = torch.tensor([[-1, 0, 1]])

    attention = torch.tensor([[0.5, 0.3, 0.2]])
    cause = torch.tensor([[1.0, 1.0, 0.0]], requires_grad=True)
    aux = auxiliary_loss(attention, cause, Batch())  # type: ignore[arg-type]
    assert float(aux.detach()) == pytest.approx(-0.3)  # the marker position does not count
    aux.backward()
    assert (
        cause.grad is not None and cause.grad[0, 2] < 0
    )  # minimising raises the cause score where attention is


def test_ece_training_step_and_attention_mode(tiny_encoder: str, tmp_path: Path) -> None:
    from emocause.training.ece import ECERecipe, ECETask, unlabelled_examples

    model = ECEModel(ECEConfig(LABELS, _encoder(tiny_encoder)))
    labelled = cause_word_examples([_reccon_dialogue()])
    ed = Dialogue(id="e1", source="empathetic_dialogues", split="train", emotion="terrified",
                  turns=[Turn("speaker", "A huge spider crawled onto my pillow last night."), Turn("listener", "Yikes!")])  # fmt: skip
    unlabelled = unlabelled_examples([ed])
    assert LABELS[unlabelled[0].emotion] == "fear" and unlabelled[0].words.words[-1] == "night."
    task = ECETask(model, ECERecipe())
    loss, parts = task.loss(task.collate([(labelled[0], unlabelled[0])]))
    loss.backward()
    assert parts["aux"] < 0 and parts["cau"] > 0
    assert model.cause_head.weight.grad is not None
    attention_task = ECETask(model, ECERecipe(mode="attention"))
    _, parts = attention_task.loss(attention_task.collate([(labelled[0], unlabelled[0])]))
    assert parts["cau"] == 0.0 and parts["aux"] == 0.0


def test_cause_utterance_model(tiny_encoder: str) -> None:
    dialogue = _reccon_dialogue()
    dialogue.turns.append(Turn("listener", "Do you want to talk ?", emotion="neutral"))
    (example,) = cause_turn_examples([dialogue])
    assert example.turn == 2 and example.causes == {0}
    short = WordInput.from_turns(dialogue.turns[:1])
    model = CauseUtteranceModel(CEEConfig(_encoder(tiny_encoder)))
    logits, exists = model(model.encode([example.words, short]), [example.words, short])
    assert logits.shape == (2, 3) and exists.tolist() == [[True, True, True], [True, False, False]]
    probabilities = model.cause_probabilities([example.words, short])
    assert [len(p) for p in probabilities] == [3, 1]
    loss, _ = CEETask(model).loss([example])
    loss.backward()
    assert math.isfinite(float(loss.detach()))
    threshold, f1 = best_threshold([1, 0, 0, 1], [0.9, 0.2, 0.4, 0.6])
    assert 0.4 <= threshold < 0.6 and f1 == 1.0


def test_focal_loss() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5])
    labels = torch.tensor([1.0, 0.0, 0.0])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    pt = torch.exp(-bce)
    assert float(focal_loss(logits, labels)) == pytest.approx(float(((1 - pt) ** 2 * bce).mean()), rel=1e-5)
    assert float(focal_loss(logits, labels, gamma=0.0)) == pytest.approx(float(bce.mean()), rel=1e-5)
    assert float(focal_loss(torch.tensor([8.0]), torch.tensor([1.0]))) < 1e-6  # easy examples nearly vanish


def test_empathy_cause_model_shapes(tiny_encoder: str) -> None:
    for attention in (True, False):
        model = EmpathyCauseModel(EmpathyCauseConfig(_encoder(tiny_encoder, lora_r=-1), attention=attention))
        (post,) = model.sentence_embeddings([["My skin is bad.", "I cry every day.", "Thanks."]])
        (reply,) = model.sentence_embeddings([["Hugs to you."]])
        assert post.shape == (3, 32) and reply.shape == (1, 32)
        assert model(post, reply).shape == (3,)
        assert not any(p.requires_grad for p in model.encoder.parameters())
    examples = post_reply_examples([_post_reply_dialogue()])
    task = EmpathyCauseTask(model, "weighted", positive_weight=2.0)
    loss, _ = task.loss(examples)
    assert math.isfinite(float(loss.detach()))
    metrics = task.validate(examples)
    assert 0.0 <= metrics["f1"] <= 1.0


def _post_reply_dialogue() -> Dialogue:
    from emocause.data.acnempathize import post_reply_dialogue
    from emocause.data.registry import LoadResult

    return post_reply_dialogue("p1", "test", "test", ["My skin is bad.", "I cry every day."], [0, 1],
                               "So sorry. It gets better.", {}, LoadResult())  # fmt: skip


def test_sentence_split_and_derived_post_labels() -> None:
    text = "I lost my job . I am sad ! Why me ?"
    assert [text[a:b] for a, b in split_sentences(text)] == ["I lost my job .", "I am sad !", "Why me ?"]
    turns = [Turn("speaker", text), Turn("listener", "Sorry."), Turn("speaker", "It hurts. A lot.")]
    spans = [
        CauseSpan(turn=0, start=2, end=13, text="lost my job"),
        CauseSpan(turn=2, start=10, end=16, text="A lot."),
    ]
    sentences, labels = _post(turns, [0, 2], spans)
    assert sentences == ["I lost my job .", "I am sad !", "Why me ?", "It hurts.", "A lot."]
    assert labels == [1, 0, 0, 0, 1]


def test_derived_sets_on_real_data(real_root: Path) -> None:
    from emocause.data import load

    ecc = load("ecc_empathy_cause", "valid", real_root)
    reccon = load("reccon_empathy_cause", "valid", real_root)
    for result in (ecc, reccon):
        assert result.dialogues
        for d in result.dialogues:
            meta = d.turns[0].meta
            assert len(meta["sentences"]) == len(meta["sentence_labels"]) and d.turns[1].role == "listener"
        assert any(any(d.turns[0].meta["sentence_labels"]) for d in result.dialogues)
    assert ecc.skipped["no located cause span"] > 0


def _tiny_emotion_fit(
    encoder: str, run_dir: Path, config: TrainConfig, resume: bool = False
) -> EmotionClassifier:
    torch.manual_seed(0)
    model = EmotionClassifier(EmotionConfig(["sad", "joyful"], "test", _encoder(encoder), dropout=0.0))
    dialogues = [
        Dialogue(id=f"d{i}", source="t", split="train", emotion=["sad", "joyful"][i % 2],
                 turns=[Turn("speaker", ["I failed my exam", "I won the lottery"][i % 2] + f" {i}")])
        for i in range(12)
    ]  # fmt: skip
    examples = emotion_examples(dialogues, ["sad", "joyful"])
    fit(EmotionTask(model), examples, examples[:4], config, run_dir, resume=resume)
    return model


def test_fit_selects_on_validation_and_resumes_exactly(tiny_encoder: str, tmp_path: Path) -> None:
    config = TrainConfig(epochs=2, batch_size=4, learning_rate=1e-2, checkpoint_every=1, eval_every=3)
    straight = _tiny_emotion_fit(tiny_encoder, tmp_path / "straight", config)
    log = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [3, 6]
    best = max(log, key=lambda entry: entry["score"])
    assert (tmp_path / "straight" / "best" / WEIGHTS).is_file()
    assert any(entry["best"] for entry in log) and best["best"]

    class Interrupted(Exception):
        pass

    calls = {"n": 0}
    original = EmotionTask.loss

    def failing_loss(self: EmotionTask, batch: object) -> object:
        calls["n"] += 1
        if calls["n"] == 4:
            raise Interrupted
        return original(self, batch)  # type: ignore[arg-type]

    EmotionTask.loss = failing_loss  # type: ignore[method-assign, assignment]
    try:
        with pytest.raises(Interrupted):
            _tiny_emotion_fit(tiny_encoder, tmp_path / "cut", config)
    finally:
        EmotionTask.loss = original  # type: ignore[method-assign]
    assert json.loads((tmp_path / "cut" / "checkpoint" / "progress.json").read_text())["step"] == 3
    with pytest.raises(EmocauseError, match="already holds a run"):
        _tiny_emotion_fit(tiny_encoder, tmp_path / "cut", config)
    # A kill between the two renames of a checkpoint save leaves only checkpoint.old: resume still finds it.
    (tmp_path / "cut" / "checkpoint").rename(tmp_path / "cut" / "checkpoint.old")
    resumed = _tiny_emotion_fit(tiny_encoder, tmp_path / "cut", config, resume=True)
    for (name, a), (_, b) in zip(straight.named_parameters(), resumed.named_parameters(), strict=True):
        if a.requires_grad:
            assert torch.allclose(a, b, atol=1e-6), name


def test_epoch_batches_group_by_length_deterministically() -> None:
    plain = epoch_batches(10, None, 4, seed=3)
    order = list(range(10))
    random.Random(3).shuffle(order)
    assert plain == [order[0:4], order[4:8], order[8:10]]  # the order runs before grouping existed saw
    rng = random.Random(0)
    lengths = [rng.randint(1, 500) for _ in range(1000)]
    grouped = epoch_batches(1000, lengths, 8, seed=5)
    assert grouped == epoch_batches(1000, lengths, 8, seed=5)
    assert sorted(i for batch in grouped for i in batch) == list(range(1000))
    assert len(grouped) == 125 and all(len(batch) == 8 for batch in grouped)

    def padding(batches: list[list[int]]) -> int:
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    assert padding(grouped) < 0.2 * padding(epoch_batches(1000, None, 8, seed=5))
    assert sorted(map(min, grouped)) != [min(b) for b in grouped]  # batch order is not by length


def test_fit_groups_by_length_only_for_tasks_that_measure_length(tiny_encoder: str, tmp_path: Path) -> None:
    config = TrainConfig(epochs=1, batch_size=2, learning_rate=1e-2, group_by_length=True)
    _tiny_emotion_fit(tiny_encoder, tmp_path / "grouped", config)
    assert (tmp_path / "grouped" / "best" / WEIGHTS).is_file()

    class Unmeasured(EmotionTask):
        length = None  # type: ignore[assignment]

    model = EmotionClassifier(EmotionConfig(["sad", "joyful"], "test", _encoder(tiny_encoder)))
    examples = [([Turn("speaker", "x")], 0)] * 4
    with pytest.raises(EmocauseError, match="cannot group by length"):
        fit(Unmeasured(model), examples, examples, config, tmp_path / "unmeasured")


def test_analyzer_and_cli_on_tiny_models(tiny_encoder: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from emocause.cli import _register, app
    from emocause.pipeline.analyze import Analyzer

    EmotionClassifier(EmotionConfig(["sad", "joyful", "afraid"], "test", _encoder(tiny_encoder))).save(
        tmp_path / "emotion"
    )
    ECEModel(ECEConfig(LABELS, _encoder(tiny_encoder))).save(tmp_path / "ece")
    CauseUtteranceModel(CEEConfig(_encoder(tiny_encoder))).save(tmp_path / "cee")
    analyzer = Analyzer(tmp_path / "emotion", tmp_path / "ece", tmp_path / "cee", top_emotions=2, top_words=3)
    turns = _reccon_dialogue().turns + [Turn("listener", "I am here for you .")]
    analysis = analyzer.analyze(turns)
    assert analysis.target_turn == 2 and len(analysis.emotions) == 2
    assert len(analysis.cause_words) == 3 and len(analysis.cause_turns) == 3
    for cause in analysis.cause_words:  # word indices point into their own turn
        assert turns[cause.turn].text.split()[cause.word] == cause.text
    with pytest.raises(ModelError, match="not a emotion model"):
        Analyzer(tmp_path / "ece", None, None)

    _register()
    runner = CliRunner()
    models = ["--emotion-model", str(tmp_path / "emotion"), "--cause-words-model", str(tmp_path / "ece"),
              "--cause-turns-model", "none"]  # fmt: skip
    result = runner.invoke(app, ["analyze", "I lost my job today and I am so sad .", "--json", *models])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["target_turn"] == 0 and payload["cause_turns"] == [] and len(payload["cause_words"]) == 3
    (tmp_path / "d.json").write_text(json.dumps(["I lost my job .", "Oh no .", "I am sad ."]))
    result = runner.invoke(app, ["analyze", "--dialogue", str(tmp_path / "d.json"), *models])
    assert result.exit_code == 0 and "analysis of turn 2" in result.output


def test_dialogue_input_errors(tmp_path: Path) -> None:
    from emocause.errors import DataError
    from emocause.pipeline.dialogue_input import parse_dialogue, read_dialogue_file

    assert [t.role for t in parse_dialogue(["a", "b", "c"])] == ["speaker", "listener", "speaker"]
    assert (
        parse_dialogue({"turns": [{"role": "speaker", "text": "x"}, {"role": "listener", "text": " hi "}]})[
            1
        ].text
        == "hi"
    )
    for bad, message in (([], "no turns"), ([""], "without visible text"), ([{"role": "listener", "text": "x"}], "no speaker"), ([{"role": "bot", "text": "x"}], "role"),
                         ([3], "int where a turn"), ({"messages": []}, "without 'turns'"), (["x"] * 65, "65 turns")):  # fmt: skip
        with pytest.raises(DataError, match=message):
            parse_dialogue(bad)
    (tmp_path / "bad.json").write_text('["unterminated')
    with pytest.raises(DataError, match="not valid JSON"):
        read_dialogue_file(tmp_path / "bad.json")
    with pytest.raises(DataError, match="not found"):
        read_dialogue_file(tmp_path / "missing.json")
