"""EC-DD (He et al. 2025): emotion-cause dialogues synthesized from ATOMIC seeds by any chat LLM.

Per seed (head = cause, tail = emotion): (2) the tail's ECC category from the emotion dictionary, else from
the LLM with the dictionary in the prompt (validated; neutral seeds dropped); (3) a situation from "head, so
PersonX feels tail"; (4) a dialogue between the sharer and a friend; (5) stage directions stripped, the
semantic check (regenerating up to `dialogue_attempts` times) and the toxicity screen; (6) the emotion and
cause sentences, validated to be verbatim text of the dialogue; (7) a 1-5 quality score with reasoning and
suggested better sentences. Kept dialogues are ECC-format records (`emocause.data.ecc` reads them).

Seeds run concurrently (`concurrency` at a time); each seed's stages run in order. Output is append-only
and resumable (`store.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emocause.data.schema import Turn
from emocause.errors import ConfigError
from emocause.models.chat import BackendError, ChatBackend, GenerationOptions, LocalChatBackend, Message
from emocause.pipeline.ecdd.filters import (
    ClassifierToxicity,
    PatternToxicity,
    SemanticCheck,
    ToxicityScorer,
    seed_cause_text,
)
from emocause.pipeline.ecdd.seeds import Seed, in_shard, parse_shard, read_seeds
from emocause.pipeline.ecdd.store import open_store
from emocause.pipeline.ecdd.text import (
    Located,
    ParsedDialogue,
    fill_persons,
    locate_in_dialogue,
    parse_annotation,
    parse_category,
    parse_dialogue,
    parse_quality,
    person_names,
    read_turn,
    render_dialogue,
    split_sentences,
)
from emocause.resources.prompts import PromptSet, load_prompts
from emocause.resources.taxonomies import ECC, ECC_DICTIONARY, ecc_category

PROMPT_STAGES: dict[str, set[str]] = {
    "system": set(),
    "situation": {"sentence", "name", "friend", "tail", "cause"},
    "dialogue": {"situation", "sentence", "name", "friend", "tail", "cause"},
    "annotate": {"dialogue", "sentence", "name", "friend", "tail", "cause"},
    "quality": {
        "dialogue",
        "sentence",
        "name",
        "friend",
        "tail",
        "cause",
        "emotion_sentence",
        "cause_sentence",
    },
    "emotion_category": {"word", "categories", "dictionary"},
    "turn_sharer": {"situation", "sentence", "name", "friend", "tail", "cause"},
    "turn_friend": {"situation", "sentence", "name", "friend", "tail", "cause"},
    "turn_start": {"name", "friend"},
}


@dataclass
class EcddConfig:
    seeds: str = "atomic"
    """`atomic` (the ATOMIC-2020 sample under the data root), or a .tsv / .jsonl seed file."""
    relations: list[str] = field(default_factory=lambda: ["xReact"])
    max_seeds: int | None = None
    """Use the first N seeds of this shard (None: all)."""
    shard: str = "1/1"
    concurrency: int = 4
    prompts: str = "ecdd-v1"
    """A packaged prompt set or a folder of templates."""
    temperature: float = 0.7
    situation_tokens: int = 120
    dialogue_tokens: int = 400
    dialogue_mode: str = "auto"
    """whole: the dialogue in one answer (the paper's way); turns: the model plays each person in turn, one
    short answer per turn (for small models); auto: turns for a local model, whole for a server."""
    turns: int = 8
    """Turns written in `turns` mode."""
    turn_tokens: int = 60
    annotation_tokens: int = 100
    quality_tokens: int = 160
    min_turns: int = 4
    dialogue_attempts: int = 3
    """Dialogues generated per seed at most, until one parses and passes the semantic check."""
    annotation_attempts: int = 2
    annotation_fallback: str = "drop"
    """When the model never names verbatim sentences: drop the seed (the paper's way), or `embedding`: take
    the sharer's sentences most similar to "I feel <tail>" and to the cause seed (MiniLM), marked as such
    in the record's provenance. Small models (SmolLM2-135M) do not follow the annotation format."""
    semantic_check: bool = True
    cause_threshold: float = 0.10
    emotion_top_k: int = 3
    toxicity_threshold: float = 0.6
    toxicity_model: str = ""
    """A transformers toxicity classifier (hub id or folder); empty: the offline word patterns."""
    quality: bool = True


@dataclass
class Dropped:
    stage: str
    reason: str
    detail: str = ""


class _Generator:
    def __init__(
        self,
        config: EcddConfig,
        backend: ChatBackend,
        prompts: PromptSet,
        semantic: SemanticCheck | None,
        toxicity: ToxicityScorer,
    ):
        self.config = config
        self.backend = backend
        self.prompts = prompts
        self.semantic = semantic
        self.toxicity = toxicity
        self.usage: Counter[str] = Counter()
        mode = config.dialogue_mode
        if mode not in ("auto", "whole", "turns"):
            raise ConfigError(f"dialogue_mode {mode!r}: expected auto, whole or turns")
        self.by_turns = mode == "turns" or (mode == "auto" and isinstance(backend, LocalChatBackend))
        self._categories: dict[str, asyncio.Future[str | None]] = {}
        self._dictionary = "\n".join(
            f"{label}: {', '.join(w for w, c in ECC_DICTIONARY.items() if c == label and w != label)}"
            for label in ECC.labels
        )

    async def ask(
        self, stage: str, max_tokens: int, fields: dict[str, str], temperature: float | None = None
    ) -> str:
        messages = [
            {"role": "system", "content": self.prompts.render("system")},
            {"role": "user", "content": self.prompts.render(stage, **fields)},
        ]
        return await self.chat(messages, max_tokens, temperature)

    async def chat(self, messages: list[Message], max_tokens: int, temperature: float | None = None) -> str:
        options = GenerationOptions(
            max_tokens, self.config.temperature if temperature is None else temperature
        )
        completion = await self.backend.complete(messages, options)
        self.usage["calls"] += 1
        self.usage["prompt_tokens"] += completion.prompt_tokens
        self.usage["completion_tokens"] += completion.completion_tokens
        return completion.text

    async def category(self, tail: str) -> tuple[str | None, str]:
        """The tail's ECC category and where it came from (the dictionary, or the LLM, asked once per word)."""
        known = ecc_category(tail)
        if known is not None:
            return known, "dictionary"
        key = " ".join(tail.lower().split())
        if key not in self._categories:
            future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
            self._categories[key] = future
            try:
                answer = await self.ask(
                    "emotion_category", 8,
                    {"word": tail, "categories": ", ".join(ECC.labels), "dictionary": self._dictionary},
                    temperature=0.0,
                )  # fmt: skip
                future.set_result(parse_category(answer))
            except BaseException as error:
                del self._categories[key]  # a failed call is asked again by the next seed
                future.set_exception(error)
                raise
        return await self._categories[key], "llm"

    async def dialogue_by_turns(self, situation: str, fields: dict[str, str]) -> ParsedDialogue | str:
        """The model plays the sharer and the friend in turn; each sees the other's turns as the user's."""
        name, friend = fields["name"], fields["friend"]
        persona = {
            name: self.prompts.render("turn_sharer", situation=situation, **fields),
            friend: self.prompts.render("turn_friend", situation=situation, **fields),
        }
        turns: list[tuple[str, str]] = []
        removed = 0
        for index in range(self.config.turns):
            speaker = name if index % 2 == 0 else friend
            messages: list[Message] = [{"role": "system", "content": persona[speaker]}]
            if speaker == name:
                messages.append(
                    {"role": "user", "content": self.prompts.render("turn_start", name=name, friend=friend)}
                )
            messages += [{"role": "assistant" if s == speaker else "user", "content": u} for s, u in turns]
            text, directions = read_turn(
                await self.chat(messages, self.config.turn_tokens), speaker, name, friend
            )
            if not text:
                return f"turn {index + 1} of {speaker} is empty"
            turns.append((speaker, text))
            removed += directions
        return ParsedDialogue(turns, removed)

    def closest_sentences(
        self, turns: list[tuple[str, str]], name: str, seed: Seed
    ) -> tuple[Located, Located]:
        """The annotation fallback: the sharer's sentences closest to the emotion and to the cause seed."""
        if self.semantic is None:
            raise ConfigError(
                "annotation_fallback embedding needs the semantic check's encoder (semantic_check)"
            )
        candidates = [
            (i, s) for i, (speaker, u) in enumerate(turns) if speaker == name for s in split_sentences(u)
        ]
        emotion, cause = self.semantic.closest(
            [f"I feel {seed.tail}", seed_cause_text(seed.head)], [s for _, s in candidates]
        )
        return (Located(candidates[emotion][0], candidates[emotion][1], False),
                Located(candidates[cause][0], candidates[cause][1], False))  # fmt: skip

    async def run(self, seed: Seed) -> dict[str, Any] | Dropped:
        config = self.config
        category, category_source = await self.category(seed.tail)
        if category is None:
            return Dropped("emotion dictionary", "emotion word not categorised", seed.tail)
        if category == "neutral":
            return Dropped("emotion dictionary", "neutral emotion", seed.tail)
        name, friend = person_names(seed.id)
        cause = fill_persons(seed.head, name, friend)
        fields = {"name": name, "friend": friend, "tail": seed.tail, "cause": cause,
                  "sentence": f"{cause}, so {name} feels {seed.tail}."}  # fmt: skip

        situation = ""
        for _ in range(config.dialogue_attempts):
            situation = " ".join((await self.ask("situation", config.situation_tokens, fields)).split())
            if situation:
                break
        if not situation:
            return Dropped("situation", "empty situation")

        dropped = Dropped("dialogue", "no dialogue")
        semantic: dict[str, float] = {}
        attempts = 0
        turns: list[tuple[str, str]] = []
        directions = 0
        for attempts in range(1, config.dialogue_attempts + 1):
            if self.by_turns:
                parsed = await self.dialogue_by_turns(situation, fields)
            else:
                text = await self.ask("dialogue", config.dialogue_tokens, {**fields, "situation": situation})
                parsed = parse_dialogue(text, name, friend, config.min_turns)
            if isinstance(parsed, str):
                dropped = Dropped("dialogue", "malformed dialogue", parsed)
                continue
            if self.semantic is not None:
                as_turns = [Turn("speaker" if s == name else "listener", u) for s, u in parsed.turns]
                (result,) = await asyncio.to_thread(
                    self.semantic.measure, [(as_turns, seed.head, [name, friend])], [category]
                )
                semantic = {
                    "cause_similarity": round(result.cause_similarity, 4),
                    "emotion_rank": result.emotion_rank,
                }
                failure = self.semantic.passes(result)
                if failure is not None:
                    dropped = Dropped("semantic check", failure, str(semantic))
                    continue
            turns, directions = parsed.turns, parsed.directions_removed
            break
        if not turns:
            return dropped

        toxicity = max(await asyncio.to_thread(self.toxicity.scores, [u for _, u in turns]))
        if toxicity > config.toxicity_threshold:
            return Dropped("toxicity", "toxic", f"score {toxicity:.2f} > {config.toxicity_threshold}")

        dialogue_text = render_dialogue(turns)
        located = None
        for _ in range(config.annotation_attempts):
            raw = await self.ask(
                "annotate", config.annotation_tokens, {**fields, "dialogue": dialogue_text}, temperature=0.0
            )
            answer = parse_annotation(raw)
            if answer is None:
                dropped = Dropped("annotation", "annotation unparsed", raw[:300])
                continue
            emotion_at = locate_in_dialogue(answer[0], turns, speakers={name})
            cause_at = locate_in_dialogue(answer[1], turns)
            if emotion_at is None or cause_at is None:
                missing = "emotion" if emotion_at is None else "cause"
                dropped = Dropped("annotation", "annotation not verbatim",
                                  f"{missing} sentence not in the dialogue: {answer[0 if missing == 'emotion' else 1]!r}")  # fmt: skip
                continue
            located = (emotion_at, cause_at)
            break
        annotator = "llm"
        if located is None and config.annotation_fallback == "embedding":
            located, annotator = (
                await asyncio.to_thread(self.closest_sentences, turns, name, seed),
                "embedding",
            )
        if located is None:
            return dropped
        emotion_at, cause_at = located

        quality = None
        if config.quality:
            for _ in range(config.annotation_attempts):
                quality = parse_quality(await self.ask(
                    "quality", config.quality_tokens,
                    {**fields, "dialogue": dialogue_text, "emotion_sentence": emotion_at.text,
                     "cause_sentence": cause_at.text},
                    temperature=0.0,
                ))  # fmt: skip
                if quality is not None:
                    break

        return {
            "doc_id": seed.id,
            "doc_len": len(turns),
            "pairs": [[emotion_at.turn + 1, cause_at.turn + 1]],
            "EC_pair_clause": f'Emotion: "{emotion_at.text}"\nCause: "{cause_at.text}"',
            "dialogue": [
                {
                    "turn": i + 1,
                    "speaker": s,
                    "utterance": u,
                    "emotion": category if i == emotion_at.turn else "",
                }
                for i, (s, u) in enumerate(turns)
            ],
            "head": seed.head,
            "tail": seed.tail,
            "relation": seed.relation,
            "emotion": category,
            "sentence": f"{cause}. Now {name} feels {seed.tail}.",
            "narrative": situation,
            "cumulative_dialogue": dialogue_text,
            "quality": None
            if quality is None
            else {
                "score": quality.score,
                "reasoning": quality.reasoning,
                "better_emotion_sentence": quality.better_emotion,
                "better_cause_sentence": quality.better_cause,
            },
            "provenance": {
                "model": self.backend.name,
                "prompts": self.prompts.version,
                "prompts_fingerprint": self.prompts.fingerprint,
                "category_source": category_source,
                "dialogue_mode": "turns" if self.by_turns else "whole",
                "dialogue_attempts": attempts,
                "stage_directions_removed": directions,
                "semantic": semantic,
                "toxicity": {"scorer": self.toxicity.name, "max_score": toxicity},
                "annotator": annotator,
                "annotation_llm_answer_failed": dropped.detail if annotator == "embedding" else "",
                "annotation_snapped": {"emotion": emotion_at.snapped, "cause": cause_at.snapped},
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        }


@dataclass
class RunSummary:
    out: str
    model: str
    prompts: str
    shard: str
    concurrency: int
    seeds_in_shard: int
    already_done: int
    kept: int
    dropped: dict[str, int]
    failed: dict[str, int]
    """Seeds whose model calls failed; recorded nowhere, so `--resume` retries them."""
    seeds_skipped_reading: dict[str, int]
    calls: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    dialogues_per_minute: float
    kept_in_file: int


def manifest(config: EcddConfig, backend: ChatBackend, prompts: PromptSet) -> dict[str, Any]:
    return {
        "model": backend.name,
        "prompts": prompts.version,
        "prompts_fingerprint": prompts.fingerprint,
        "relations": sorted(config.relations),
        "seeds": config.seeds,
        "config": asdict(config),
    }


def _toxicity(config: EcddConfig) -> ToxicityScorer:
    return ClassifierToxicity(config.toxicity_model) if config.toxicity_model else PatternToxicity()


def check_config(config: EcddConfig) -> None:
    if config.concurrency < 1 or config.dialogue_attempts < 1 or config.annotation_attempts < 1:
        raise ConfigError("concurrency, dialogue_attempts and annotation_attempts must be at least 1")
    if config.annotation_fallback not in ("drop", "embedding"):
        raise ConfigError(f"annotation_fallback {config.annotation_fallback!r}: expected drop or embedding")
    if config.max_seeds is not None and config.max_seeds < 1:
        raise ConfigError(f"max_seeds {config.max_seeds}: expected at least 1, or null for all seeds")
    if config.min_turns < 2 or not 0 <= config.toxicity_threshold <= 1:
        raise ConfigError("min_turns >= 2 and 0 <= toxicity_threshold <= 1 are required")


async def run_ecdd(
    config: EcddConfig,
    backend: ChatBackend,
    out: Path,
    *,
    resume: bool = False,
    data_root: str | Path | None = None,
    semantic: SemanticCheck | None = None,
    on_outcome: Callable[[str, str], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> RunSummary:
    """Generate dialogues for the shard's seeds into `out`; `on_outcome(kind, reason)` after each seed
    (kind kept | dropped | failed), `on_start(n)` with the number of seeds still to run."""
    check_config(config)
    prompts = load_prompts(config.prompts, PROMPT_STAGES)
    shard = parse_shard(config.shard)
    seed_list = read_seeds(config.seeds, config.relations, data_root)
    seeds: Sequence[Seed] = [s for s in seed_list.seeds if in_shard(s, shard)]
    if config.max_seeds is not None:
        seeds = seeds[: config.max_seeds]
    if semantic is None and config.semantic_check:
        semantic = SemanticCheck(config.cause_threshold, config.emotion_top_k)
    store = open_store(out, manifest(config, backend, prompts), resume=resume)
    todo = [s for s in seeds if not store.done(s.id)]
    generator = _Generator(config, backend, prompts, semantic, _toxicity(config))
    kept = 0
    dropped: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    start = time.perf_counter()
    if on_start:
        on_start(len(todo))
    pending = iter(todo)

    async def worker() -> None:
        nonlocal kept
        for seed in pending:
            try:
                outcome = await generator.run(seed)
            except BackendError as error:
                failed[str(error)[:200]] += 1
                if on_outcome:
                    on_outcome("failed", str(error))
                continue
            if isinstance(outcome, Dropped):
                store.drop({"seed_id": seed.id, "head": seed.head, "relation": seed.relation, "tail": seed.tail,
                            **asdict(outcome)})  # fmt: skip
                dropped[outcome.reason] += 1
                if on_outcome:
                    on_outcome("dropped", outcome.reason)
            else:
                store.keep(outcome)
                kept += 1
                if on_outcome:
                    on_outcome("kept", "")

    try:
        await asyncio.gather(*(worker() for _ in range(min(config.concurrency, max(len(todo), 1)))))
    finally:
        seconds = time.perf_counter() - start
        summary = RunSummary(
            out=str(out), model=backend.name, prompts=f"{prompts.version} ({prompts.fingerprint})",
            shard=config.shard, concurrency=config.concurrency, seeds_in_shard=len(seeds),
            already_done=len(seeds) - len(todo), kept=kept, dropped=dict(dropped), failed=dict(failed),
            seeds_skipped_reading=seed_list.skipped, calls=generator.usage["calls"],
            prompt_tokens=generator.usage["prompt_tokens"], completion_tokens=generator.usage["completion_tokens"],
            seconds=round(seconds, 2), dialogues_per_minute=round(60 * kept / seconds, 3) if seconds else 0.0,
            kept_in_file=len(store.kept_ids),
        )  # fmt: skip
        store.write_summary(asdict(summary))
        store.close()
    return summary
