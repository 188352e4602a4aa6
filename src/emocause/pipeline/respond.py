"""Dialogue in; emotions, causes and an empathetic reply out.

The analysis (emotion, cause words and turns, the cause sentence) feeds the responder: a CAER responder
gets the top emotion and the cause sentence in its prompt, an ECG responder the word cause probabilities.
The safety policy screens the sharer's side before generation (a crisis gets a supportive reply with a
pointer to help, a concern a check-in, never model output) and every generated reply after it (see
`pipeline/safety.py`).
IMAGINE's components describe the exchange where they are loaded: the communication-mechanism classifier says
which mechanisms (emotional reaction, interpretation, exploration) the reply uses, and a knowledge source
infers what the cause means for the person (ATOMIC relations). CAER does not read the knowledge: it is shown,
so a reader sees what a knowledge-aware listener would project.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emocause.data.schema import Turn
from emocause.errors import ModelError
from emocause.models.knowledge import Inferences, KnowledgeSource, knowledge_source
from emocause.models.mechanisms import MechanismClassifier
from emocause.models.registry import load_model
from emocause.models.responder import Responder, ResponseInput
from emocause.pipeline.analyze import DEFAULT_MODELS, Analysis, Analyzer
from emocause.pipeline.safety import DEFAULT_REPLY_SCREEN, DEFAULT_RISK_SCREEN, RiskAssessment, SafetyPolicy

DEFAULT_RESPONDER = "caer"
DEFAULT_MECHANISMS = "mechanisms"
SHOWN_KNOWLEDGE_MIN_SIMILARITY = 0.3
"""Retrieved knowledge shown to a person comes only from heads this close to the cause (MiniLM cosine): below
it, ATOMIC's few Physical and Events heads ("murder", "terrorist") answer every query."""
MECHANISM_NAMES = {
    "emotional_reactions": "emotional reaction",
    "interpretations": "interpretation",
    "explorations": "exploration",
}


@dataclass
class Response:
    analysis: Analysis
    reply: str
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage: the analysis parts and `reply`."""
    crisis: list[str] = field(default_factory=list)
    """Crisis categories found on the sharer's side; the reply is then the policy's crisis reply."""
    concern: list[str] = field(default_factory=list)
    """Concern categories (no crisis); the reply is then the policy's check-in reply."""
    risk: RiskAssessment = field(default_factory=RiskAssessment)
    blocked: list[str] = field(default_factory=list)
    """Output-screen categories the generated reply fell into; it was then replaced by the safe reply."""
    mechanisms: dict[str, float] = field(default_factory=dict)
    """Per communication mechanism, the probability that the generated reply uses it (empty for a fixed reply
    or without a mechanism classifier)."""
    mechanism_threshold: float = 0.5
    knowledge: Inferences = field(default_factory=dict)
    """Relation -> commonsense inferences about the cause (empty without a knowledge source)."""
    finish_reason: str = "stop"
    """"length" when the token cap or the generation time bound cut the reply."""

    @property
    def strategy(self) -> str:
        """How the reply was made, in words: a safety reply, or the responder's aim and the mechanisms it used."""
        if self.crisis:
            return "crisis support: a fixed supportive reply with a pointer to professional help"
        if self.concern:
            return "check-in: a fixed reply that asks how the person is and offers help"
        if self.blocked:
            return "safe fallback: the generated reply failed the output screen"
        cause = self.analysis.cause_sentence
        aim = f"cause-aware reply, addressing: {cause}" if cause else "emotion-aware reply (no cause found)"
        used = [
            f"{MECHANISM_NAMES[m]} {p:.2f}"
            for m, p in self.mechanisms.items()
            if p >= self.mechanism_threshold
        ]
        if self.mechanisms:
            aim += f"; mechanisms: {', '.join(used) or 'none'}"
        return aim

    def payload(self, turns: Sequence[Turn]) -> dict[str, Any]:
        """The JSON form shared by `emocause respond --json` and the service."""
        analysis = asdict(self.analysis)
        analysis.pop("word_causes")
        return {
            "turns": [{"role": t.role, "text": t.text} for t in turns],
            **analysis,
            "reply": self.reply,
            "crisis": self.crisis,
            "concern": self.concern,
            "risk": asdict(self.risk),
            "blocked": self.blocked,
            "strategy": self.strategy,
            "mechanisms": self.mechanisms,
            "knowledge": self.knowledge,
            "seconds": self.seconds,
        }


class EmpathyPipeline:
    def __init__(
        self,
        analyzer: Analyzer,
        responder: Responder,
        safety: SafetyPolicy | None = None,
        mechanisms: MechanismClassifier | None = None,
        knowledge: KnowledgeSource | None = None,
    ):
        self.analyzer = analyzer
        self.responder = responder
        self.safety = safety or SafetyPolicy()
        self.mechanisms = mechanisms
        self.knowledge = knowledge
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
        mechanisms: str | Path | None = DEFAULT_MECHANISMS,
        knowledge: str | None = None,
        data_root: str | Path | None = None,
        risk_screen: str | Path | None = DEFAULT_RISK_SCREEN,
        reply_screen: str | Path | None = DEFAULT_REPLY_SCREEN,
    ) -> EmpathyPipeline:
        """The shipped defaults (`default`), with any part replaced by a shipped name or run folder. `engine`
        runs the replies (`Responder.prepare_inference`: auto, llama.cpp or transformers); `dtype` is the
        transformers engine's precision (float32, or bfloat16: faster where the CPU has AVX512-BF16).
        `mechanisms`: the communication-mechanism classifier (None: none); `knowledge`: a knowledge source
        (`models.knowledge.knowledge_source`; retrieval reads the data root), None for none. `risk_screen`,
        `reply_screen`: the learned safety screens (None: rules only; see `pipeline/safety.py`)."""
        if name != "default":
            raise ModelError(f"unknown pipeline {name!r}; the shipped one is 'default'")
        model = load_model(responder)
        if not isinstance(model, Responder):
            raise ModelError(f"{responder} is not a responder model")
        classifier = load_model(mechanisms) if mechanisms is not None else None
        if classifier is not None and not isinstance(classifier, MechanismClassifier):
            raise ModelError(f"{mechanisms} is not a communication-mechanism model")
        source = (
            knowledge_source(knowledge, data_root, SHOWN_KNOWLEDGE_MIN_SIMILARITY)
            if knowledge is not None
            else None
        )
        pipeline = cls(
            Analyzer(emotion, cause_words, cause_turns),
            model,
            SafetyPolicy.from_pretrained(risk_screen, reply_screen),
            mechanisms=classifier,
            knowledge=source,
        )
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
        start = time.perf_counter()
        risks = self.safety.risk.assess(
            [turns[: a.target_turn + 1] for turns, a in zip(dialogues, analyses, strict=True)]
        )
        screen_seconds = (time.perf_counter() - start) / max(len(dialogues), 1)
        responses = []
        to_generate = []
        for turns, analysis, risk in zip(dialogues, analyses, risks, strict=True):
            response = Response(
                analysis, self.safety.crisis_reply, {**analysis.seconds, "risk_screen": screen_seconds}
            )
            response.risk = risk
            if risk.level == "crisis":
                response.crisis = risk.categories
            elif risk.level == "concern":
                response.concern, response.reply = risk.categories, self.safety.concern_reply
            else:
                to_generate.append((turns, response))
            responses.append(response)
        start = time.perf_counter()
        inputs = [self.response_input(turns, response.analysis) for turns, response in to_generate]
        replies = (
            self.responder.respond_with_finish(inputs, batch_size=max(len(inputs), 1), whole_sentences=True)
            if inputs
            else []
        )
        per_reply = (time.perf_counter() - start) / max(len(inputs), 1)
        start = time.perf_counter()
        flags = self.safety.output.flags([reply for reply, _ in replies])
        output_seconds = (time.perf_counter() - start) / max(len(replies), 1)
        for (_, response), (reply, finish), flagged in zip(to_generate, replies, flags, strict=True):
            response.seconds["reply"] = per_reply
            response.seconds["output_screen"] = output_seconds
            response.finish_reason = finish
            response.blocked = flagged
            response.reply = self.safety.safe_reply if flagged else reply
        generated = [(turns, r) for turns, r in to_generate if not r.blocked]
        if generated:
            self._describe(generated)
        return responses

    def _describe(self, exchanges: list[tuple[Sequence[Turn], Response]]) -> None:
        """Mechanisms of each generated reply and knowledge about each cause, batched over the dialogues."""
        if self.mechanisms is not None:
            start = time.perf_counter()
            pairs = [(turns[r.analysis.target_turn].text, r.reply) for turns, r in exchanges]
            predicted = self.mechanisms.predict(pairs)
            seconds = (time.perf_counter() - start) / len(exchanges)
            for (_, response), used in zip(exchanges, predicted, strict=True):
                response.mechanisms = used
                response.mechanism_threshold = self.mechanisms.config.threshold
                response.seconds["mechanisms"] = seconds
        if self.knowledge is not None:
            start = time.perf_counter()
            queries = [
                r.analysis.cause_sentence or turns[r.analysis.target_turn].text for turns, r in exchanges
            ]
            inferences = self.knowledge.infer(queries)
            seconds = (time.perf_counter() - start) / len(exchanges)
            for (_, response), inferred in zip(exchanges, inferences, strict=True):
                response.knowledge = inferred
                response.seconds["knowledge"] = seconds
