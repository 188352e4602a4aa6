"""Empathetic response generation on a causal LM: CAER (emotion and cause in the prompt), ECG (attention biased
by word-level cause probabilities), their ablations and the plain fine-tune are one model with switches.

Saved like every trained model: `model.json` plus the LoRA adapters in `weights.safetensors` (a few MB);
the base LM is fetched by name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from emocause.data.derived import split_sentences
from emocause.data.schema import Turn
from emocause.errors import ModelError
from emocause.models.caer import PromptConfig, PromptParts, prompt_text, turn_offsets
from emocause.models.ecg import ATTENTION_NAME, cause_bias, token_cause_probabilities
from emocause.models.encoder import TrainedModel
from emocause.models.llamacpp import ENGINES, build_engine
from emocause.models.lm import AdaptedLM, DecodingConfig, LMBatch, LMConfig
from emocause.models.words import WordInput


@dataclass
class ResponderConfig:
    lm: LMConfig = field(default_factory=LMConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    cause_bias: bool = False
    """ECG: bias self-attention by the context words' cause probabilities (`ResponseInput.word_causes`)."""
    decoding: DecodingConfig = field(default_factory=DecodingConfig)


@dataclass
class ResponseInput(PromptParts):
    word_causes: list[list[float]] | None = None
    """Per context turn, per whitespace-separated word of its text: the probability that it is a cause."""


_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*(?=\s+[A-Z\"'(]|\s*$)")
"""A sentence end: punctuation (and closing quotes), then a capitalised start or the end ("e.g. this" is not)."""


def whole_sentences_of(text: str) -> str:
    """`text` up to its last sentence end; unchanged when it has none (then a cut sentence beats no reply)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]] if ends else text


def word_causes(words: WordInput, scores: Sequence[float], n_turns: int) -> list[list[float]]:
    """Per turn, per word: a cause extractor's word scores regrouped by turn (words it could not see: 0)."""
    per_turn: list[list[float]] = [[] for _ in range(n_turns)]
    for position, turn in enumerate(words.turn_of):
        if turn >= 0:
            per_turn[turn].append(max(scores[position], 0.0))
    return per_turn


def cause_sentence(context: Sequence[Turn], words: WordInput, ranked: Sequence[int]) -> str | None:
    """The sentence of the sharer's turns that holds the best-ranked word of `words` (built from `context`)."""
    for position in ranked:
        turn_index = words.turn_of[position]
        turn = context[turn_index]
        if turn.role != "speaker":
            continue
        word_number = position - words.turn_of.index(turn_index)
        cursor = -1
        for word in turn.text.split()[: word_number + 1]:
            cursor = turn.text.find(word, cursor + 1)
        for start, end in split_sentences(turn.text):
            if start <= cursor < end:
                return turn.text[start:end]
    return None


@dataclass
class EncodedPrompt:
    ids: list[int]
    causes: list[float] | None


class Responder(TrainedModel):
    METHOD = "responder"
    CONFIG = ResponderConfig

    def __init__(self, config: ResponderConfig):
        super().__init__()
        self.config = config
        self.lm = AdaptedLM(config.lm)
        self.tokenizer = self.lm.tokenizer
        if config.cause_bias:
            self.lm.model.set_attn_implementation(ATTENTION_NAME)  # type: ignore[operator]

    def prepare_inference(
        self, engine: str = "auto", dtype: str = "float32", gguf: Path | None = None
    ) -> str:
        """Ready the responder for generation only; returns the engine chosen.

        `llama.cpp` runs the LM with its adapters merged into the base GGUF (`gguf`, by default the one its
        base came from); `transformers` merges the adapters in PyTorch and casts to `dtype`; `auto` takes
        llama.cpp where it can run this responder and transformers otherwise. ECG needs transformers: its
        biased self-attention is a PyTorch attention function.
        """
        if engine not in ENGINES:
            raise ModelError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
        if engine != "transformers":
            try:
                if self.config.cause_bias:
                    raise ModelError("ECG's cause-biased attention runs in transformers only")
                # room for replies of up to 256 tokens; the cache costs ~23 kB a token on SmolLM2
                sequence_tokens = self.config.lm.max_prompt_tokens + max(
                    256, self.config.decoding.max_new_tokens
                )
                self.lm.engine = build_engine(self.lm, sequence_tokens, gguf=gguf)
                return "llama.cpp"
            except ModelError:
                if engine == "llama.cpp":
                    raise
        self.lm.merge_adapters(dtype)
        return "transformers"

    def encode_prompt(self, x: ResponseInput) -> EncodedPrompt:
        """Prompt ids fit to `max_prompt_tokens` and, for ECG, per-token cause probabilities.

        Oldest turns go first; then the last turn keeps its last tokens and the cause sentence its first ones,
        whichever is longer being cut. Every pass drops a turn or shortens a text, so fitting always ends.
        """
        limit = self.config.lm.max_prompt_tokens
        context, cause = list(x.context), x.cause
        while True:
            parts = replace(x, context=context, cause=cause)
            text = prompt_text(self.tokenizer, self.config.prompt, parts)
            encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            ids = list(encoded["input_ids"])
            excess = len(ids) - limit
            if excess <= 0:
                break
            if len(context) > 1:
                context = context[1:]
                continue
            turn = context[0].text if context else ""
            if not turn and not cause:
                raise ModelError(f"the instruction alone is longer than max_prompt_tokens={limit}")
            if len(turn) >= len(cause or ""):
                context = [replace(context[0], text=self._shorten(turn, excess, keep_tail=True))]
            else:
                cause = self._shorten(cause or "", excess, keep_tail=False) or None
        causes = None
        if self.config.cause_bias:
            causes = self._token_causes(x, context, text, encoded["offset_mapping"])
        return EncodedPrompt(ids, causes)

    def _shorten(self, text: str, excess: int, keep_tail: bool) -> str:
        """`text` less about `excess` tokens (one more, for the seam), from the start or the end; always shorter."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        keep = max(len(ids) - excess - 1, 0)
        kept = ids[len(ids) - keep :] if keep_tail else ids[:keep]
        shorter = str(self.tokenizer.decode(kept, skip_special_tokens=True)).strip() if keep else ""
        if len(shorter) < len(text):
            return shorter
        # a decode can re-grow text (byte-level pieces of one character); halve by characters instead
        return text[len(text) // 2 + 1 :] if keep_tail else text[: (len(text) - 1) // 2]

    @staticmethod
    def _token_causes(
        x: ResponseInput, context: list[Turn], text: str, offsets: Sequence[tuple[int, int]]
    ) -> list[float]:
        if x.word_causes is None:
            raise ModelError("a cause-biased (ECG) responder needs word_causes for every input")
        kept = x.word_causes[len(x.word_causes) - len(context) :]
        spans = []
        for turn, start, scores in zip(context, turn_offsets(text, context), kept, strict=True):
            if start < 0:
                continue
            cursor = 0
            words = turn.text.split()
            # a turn cut to fit keeps its last words: align the scores from the end
            for word, score in zip(words, scores[len(scores) - len(words) :], strict=False):
                cursor = turn.text.find(word, cursor)
                spans.append((start + cursor, start + cursor + len(word), max(score, 0.0)))
                cursor += len(word)
        return token_cause_probabilities([(int(o[0]), int(o[1])) for o in offsets], spans)

    def target_ids(self, response: str) -> list[int]:
        ids = self.tokenizer(response.strip(), add_special_tokens=False)["input_ids"]
        return [*list(ids)[: self.config.lm.max_response_tokens - 1], self.lm.eos_id]

    def batch(
        self, inputs: Sequence[ResponseInput], responses: Sequence[str] | None = None
    ) -> tuple[LMBatch, torch.Tensor | None]:
        prompts = [self.encode_prompt(x) for x in inputs]
        targets = [self.target_ids(r) for r in responses] if responses is not None else None
        batch = self.lm.batch([p.ids for p in prompts], targets)
        causes = None
        if self.config.cause_bias:
            causes = torch.zeros(batch.input_ids.shape, dtype=torch.float32)
            for row, prompt in enumerate(prompts):
                assert prompt.causes is not None
                end = batch.input_ids.shape[1] - (len(targets[row]) if targets else 0)
                causes[row, end - len(prompt.causes) : end] = torch.tensor(prompt.causes)
        return batch, causes

    def target_nll(self, batch: LMBatch, causes: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        with cause_bias(causes):
            return self.lm.target_nll(batch)

    @torch.no_grad()
    def response_nll(
        self, inputs: Sequence[ResponseInput], responses: Sequence[str], batch_size: int = 8
    ) -> list[tuple[float, int]]:
        """(summed NLL in nats, number of target tokens incl. end of turn) of each reference response."""
        result: list[tuple[float, int]] = []
        for start in range(0, len(inputs), batch_size):
            batch, causes = self.batch(
                inputs[start : start + batch_size], responses[start : start + batch_size]
            )
            nll, counts = self.target_nll(batch, causes)
            result += [(float(n), int(c)) for n, c in zip(nll, counts, strict=True)]
        return result

    @torch.no_grad()
    def respond(
        self, inputs: Sequence[ResponseInput], batch_size: int = 8, whole_sentences: bool = False
    ) -> list[str]:
        """Greedy or sampled replies. `whole_sentences`: a reply cut off by the token cap ends at its last
        complete sentence instead (a person reads "Was it something specific that" as broken); benchmarks keep
        the raw generation."""
        return [reply for reply, _ in self.respond_with_finish(inputs, batch_size, whole_sentences)]

    def respond_with_finish(
        self, inputs: Sequence[ResponseInput], batch_size: int = 8, whole_sentences: bool = False
    ) -> list[tuple[str, str]]:
        """`respond`'s replies, each with why it ended: "stop" (the model ended it) or "length" (the token cap or
        the wall-clock bound `decoding.max_seconds` cut it)."""
        replies: list[tuple[str, str]] = []
        decoding = self.config.decoding
        for start in range(0, len(inputs), batch_size):
            batch, causes = self.batch(inputs[start : start + batch_size])
            started = time.monotonic()
            with cause_bias(causes):
                new = self.lm.generate(batch, decoding)
            timed_out = decoding.max_seconds is not None and time.monotonic() - started >= decoding.max_seconds
            for ids in new:
                reply = str(self.tokenizer.decode(ids, skip_special_tokens=True)).strip()
                cut = len(ids) >= decoding.max_new_tokens or timed_out
                replies.append((whole_sentences_of(reply) if whole_sentences and cut else reply,
                                "length" if cut else "stop"))  # fmt: skip
        return replies
