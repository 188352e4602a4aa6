"""The default models that `emocause analyze` loads ship with the package and work offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from emocause.models.encoder import WEIGHTS
from emocause.models.knowledge import KnowledgeEntry, RetrievalKnowledge
from emocause.models.llamacpp import llama_cpp_installed
from emocause.models.mechanisms import MECHANISMS
from emocause.models.registry import pretrained_folder, shipped_models
from emocause.pipeline.analyze import Analyzer
from emocause.pipeline.dialogue_input import parse_dialogue
from emocause.pipeline.respond import EmpathyPipeline

pytestmark = pytest.mark.slow


def test_defaults_are_shipped_small_and_safetensors() -> None:
    assert {"emotion-ed", "ece", "cee", "empathy-cause", "caer", "risk-screen", "reply-screen"} <= set(
        shipped_models()
    )
    for name in shipped_models():
        folder: Path = pretrained_folder() / name
        # a model card (README.md) beside the weights where the ship step writes one
        assert (
            {"model.json", WEIGHTS}
            <= {p.name for p in folder.iterdir()}
            <= {"model.json", WEIGHTS, "README.md"}
        )
        assert (folder / WEIGHTS).stat().st_size < 8_000_000


def test_default_analyzer_finds_the_emotion_and_its_cause() -> None:
    analyzer = Analyzer(top_emotions=3, top_words=5)
    turns = parse_dialogue(["My dog died this morning. I keep crying and I cannot stop thinking about him."])
    analysis = analyzer.analyze(turns)
    labels = [label for label, _ in analysis.emotions]
    assert {"sad", "devastated", "lonely", "sentimental"} & set(labels[:2]), analysis.emotions
    assert {"dog", "died"} & {w.text.strip(".,").lower() for w in analysis.cause_words}, analysis.cause_words
    assert analysis.cause_turns and analysis.cause_turns[0][0] == 0
    assert (
        analysis.cause_sentence in turns[0].text and analysis.cause_words[0].text in analysis.cause_sentence
    )


def test_default_pipeline_answers_with_emotion_cause_and_a_reply() -> None:
    pipeline = EmpathyPipeline.from_pretrained("default")
    assert pipeline.engine == ("llama.cpp" if llama_cpp_installed() else "transformers")
    assert pipeline.mechanisms is not None and pipeline.knowledge is None  # knowledge needs a data root
    pipeline.knowledge = RetrievalKnowledge(
        [
            KnowledgeEntry("PersonX's dog dies", "xReact", ["sad", "heartbroken"]),
            KnowledgeEntry("PersonX gets a new job", "xReact", ["happy", "proud"]),
        ],
        neighbours=1,
    )
    dialogues = [
        parse_dialogue(["My dog died this morning. I keep crying and I cannot stop thinking about him."]),
        parse_dialogue(["I got the job I wanted!", "Congratulations! Tell me more.", "I start on Monday."]),
    ]
    first, second = pipeline.batch(dialogues)
    assert first.analysis.cause_sentence and first.analysis.cause_sentence in dialogues[0][0].text
    for response in (first, second):
        assert len(response.reply.split()) >= 3, response.reply
        assert "<|im" not in response.reply and "user" not in response.reply.lower()[:6]
        assert set(response.seconds) >= {"emotion", "cause_words", "reply", "mechanisms", "knowledge"}
        assert set(response.mechanisms) == set(MECHANISMS)
        assert all(0 <= p <= 1 for p in response.mechanisms.values())
        assert "mechanisms:" in response.strategy
        payload = response.payload(dialogues[0])
        assert payload["mechanisms"] == response.mechanisms and payload["strategy"] == response.strategy
    assert first.reply != second.reply
    assert all(r.reply.rstrip("\"')").endswith((".", "!", "?")) for r in (first, second)), "whole sentences"
    assert first.knowledge["xReact"] == ["sad", "heartbroken"]
    assert second.knowledge["xReact"] == ["happy", "proud"] and second.knowledge["Causes"] == []
