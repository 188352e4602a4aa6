"""Dialogue in; emotions, causes and an empathetic reply out.

The analysis (emotion, cause words and turns, the cause sentence) feeds the responder: a CAER responder
gets the top emotion and the cause sentence in its prompt, an ECG responder the word cause probabilities.
The safety policy screens the sharer's last turn before generation (a crisis gets a supportive reply with a
pointer to help, never model output) and every generated reply after it (see `pipeline/safety.py`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emocause.data.schema import Turn
from emocause.errors import ModelError
from emocause.models.registry import load_model
from emocause.models.responder import Responder, ResponseInput
from emocause.pipeline.analyze import DEFAULT_MODELS, Analysis, Analyzer
from emocause.pipeline.safety import SafetyPolicy

DEFAULT_RESPONDER = "caer"


@dataclass
class Response:
    analysis: Analysis
    reply: str
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage: the analysis parts and `reply`."""
    crisis: list[str] = field(default_factory=list)
    """Crisis categories found in the sharer's last turn; the reply is then the policy's crisis reply."""
    blocked: list[str] = field(default_factory=list)
    """Output-screen categories the generated reply fell into; it was then replaced by the safe reply."""


class EmpathyPipeline:
    def __init__(self, analyzer: Analyzer, responder: Responder, safety: SafetyPolicy | None = None):
        self.analyzer = analyzer
        self.responder = responder
        self.safety = safety or SafetyPolicy()
        self.engine = "transformers"
        """What generates the replies: llama.cpp or transformers."""

    @classmethod
    def from_pretrained(
        cls,
        name: str = "default",
        responder: str | Path = DEFAULT_RESPONDER,
        emotion: str | Path | None = DEFAULT_MODELS["emotion"],
        cause_words: str | Path | None = DEFAULT_MODELS["cause_words"],
        cause_turns: str | Path | None = DEFAULT_MODELS["cause_turns"],
        dtype: str = "float32",
        engine: str = "auto",
    ) -> EmpathyPipeline:
        """The shipped defaults (`default`), with any part replaced by a shipped name or run folder. `engine`
        runs the replies (`Responder.prepare_inference`: auto, llama.cpp or transformers); `dtype` is the
        transformers engine's precision (float32, or bfloat16: faster where the CPU has AVX512-BF16)."""
        if name != "default":
            raise ModelError(f"unknown pipeline {name!r}; the shipped one is 'default'")
        model = load_model(responder)
        if not isinstance(model, Responder):
            raise ModelError(f"{responder} is not a responder model")
        pipeline = cls(Analyzer(emotion, cause_words, cause_turns), model)
        pipeline.engine = model.prepare_inference(engine, dtype)
        return pipeline

    def response_input(self, turns: Sequence[Turn], analysis: Analysis) -> ResponseInput:
        history = list(turns[: analysis.target_turn + 1])
        emotion = analysis.emotions[0][0] if analysis.emotions else None
        return ResponseInput(history, None, emotion, analysis.cause_sentence, analysis.word_causes or None)

    def __call__(self, turns: Sequence[Turn]) -> Response:
        return self.batch([turns])[0]

    def batch(self, dialogues: Sequence[Sequence[Turn]]) -> list[Response]:
        """Analyse each dialogue, then generate the replies of all non-crisis dialogues in one batch."""
        analyses = [self.analyzer.analyze(turns) for turns in dialogues]
        responses = [Response(a, self.safety.crisis_reply, dict(a.seconds)) for a in analyses]
        to_generate = []
        for turns, response in zip(dialogues, responses, strict=True):
            response.crisis = self.safety.crisis.flags(turns[response.analysis.target_turn].text)
            if not response.crisis:
                to_generate.append((turns, response))
        start = time.perf_counter()
        inputs = [self.response_input(turns, response.analysis) for turns, response in to_generate]
        replies = self.responder.respond(inputs, batch_size=max(len(inputs), 1)) if inputs else []
        per_reply = (time.perf_counter() - start) / max(len(inputs), 1)
        for (_, response), reply in zip(to_generate, replies, strict=True):
            response.seconds["reply"] = per_reply
            response.blocked = self.safety.output.flags(reply) or ([] if reply.strip() else ["empty"])
            response.reply = self.safety.safe_reply if response.blocked else reply
        return responses
