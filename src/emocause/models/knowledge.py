"""Knowledge sources for IMAGINE's experience projection: for a text and a relation, five inferences.

COMET's weights are not part of the offline toolkit, so three interchangeable sources implement one interface:
- `RetrievalKnowledge`: the ATOMIC-2020 sample's heads with their gold tails and COMET-BART generations, and
  every RECCON turn with its COMET generations, embedded with MiniLM; a query takes, per relation, the
  inferences of the nearest heads that have that relation (distinct, "none" skipped, best first);
- `GenerationKnowledge`: any chat LM (the offline SmolLM2, or a server through `ChatBackend`) completing
  COMET's if-then sentence for each relation;
- `CometKnowledge`: a COMET checkpoint (a seq2seq model, e.g. COMET-BART) by folder or hub id, decoded as in
  COMET-ATOMIC-2020 (`"{head} {relation} [GEN]"`, beam 5, five sequences).
`CachedKnowledge` puts any source behind a resumable disk cache, so precomputing a dataset runs once.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from rich.progress import track

from emocause.data import load
from emocause.data.io import KeyedCache
from emocause.errors import ConfigError, ModelError
from emocause.models.resolver import DEFAULT_ENCODER, load_sentence_encoder
from emocause.resources.commonsense import IF_THEN, INFERENCES_PER_RELATION, NO_INFERENCE, RELATIONS
from emocause.settings import cache_dir

Inferences = dict[str, list[str]]
"""Relation -> up to five inferred phrases."""


class KnowledgeSource(Protocol):
    @property
    def name(self) -> str:
        """Names the source and its settings; cached inferences are keyed by it."""
        ...

    def infer(self, texts: Sequence[str], relations: Sequence[str] = RELATIONS) -> list[Inferences]: ...


def check_relations(relations: Iterable[str]) -> None:
    unknown = sorted(set(relations) - set(IF_THEN))
    if unknown:
        raise ConfigError(f"unknown relations {unknown}; IMAGINE's are {list(RELATIONS)}")


def clean_inference(text: str) -> str | None:
    """An inference as a short lower-case phrase, or None when it says nothing ("none", empty)."""
    phrase = re.sub(r"\s+", " ", text).strip(" .;,-*\"'").lower()
    phrase = re.sub(r"^(?:\d+[.)]\s*)", "", phrase)
    return None if phrase in NO_INFERENCE else phrase


def _distinct(phrases: Iterable[str], limit: int) -> list[str]:
    kept: list[str] = []
    for raw in phrases:
        phrase = clean_inference(raw)
        if phrase is not None and phrase not in kept:
            kept.append(phrase)
            if len(kept) == limit:
                break
    return kept


@dataclass
class KnowledgeEntry:
    head: str
    relation: str
    inferences: list[str]


def knowledge_entries(data_root: str | Path | None = None) -> list[KnowledgeEntry]:
    """What retrieval searches: ATOMIC-2020 sample rows (gold tails, then COMET-BART generations) and RECCON
    valid/test turns with their COMET generations, for IMAGINE's relations."""
    entries = []
    for record in load("atomic2020", "test", data_root).knowledge:
        if record.relation in IF_THEN:
            entries.append(KnowledgeEntry(record.head, record.relation, record.tails + record.generations))
    for split in ("valid", "test"):
        for dialogue in load("reccon_comet", split, data_root).dialogues:
            for turn in dialogue.turns:
                for relation, generations in turn.meta.get("comet", {}).items():
                    if relation in IF_THEN:
                        entries.append(KnowledgeEntry(turn.text, relation, list(generations)))
    return entries


class RetrievalKnowledge:
    """Nearest heads by MiniLM cosine similarity, per relation."""

    def __init__(
        self,
        entries: Sequence[KnowledgeEntry] | None = None,
        encoder: str = DEFAULT_ENCODER,
        neighbours: int = 8,
        data_root: str | Path | None = None,
        min_similarity: float = 0.0,
        vectors_cache: Path | None = None,
    ):
        """`min_similarity`: heads less similar to the query (cosine) are never used, so a relation that only
        distant heads have (ATOMIC's sample holds one `Desires` head) is left empty rather than filled with
        another event's inferences. `vectors_cache`: a folder keeping the heads' embeddings (about 45 s of
        CPU for the 4,313 heads), keyed by encoder and heads."""
        self.entries = list(entries) if entries is not None else knowledge_entries(data_root)
        if not self.entries:
            raise ModelError("retrieval knowledge needs at least one (head, relation, inferences) entry")
        self.encoder_name = encoder
        self.neighbours = neighbours
        self.min_similarity = min_similarity
        self.vectors_cache = vectors_cache
        self._encoder: Any = None
        heads = sorted({e.head for e in self.entries})
        self._head_index = {h: i for i, h in enumerate(heads)}
        self._heads = heads
        self._head_vectors: np.ndarray | None = None
        self._by_relation: dict[str, list[KnowledgeEntry]] = {}
        for entry in self.entries:
            self._by_relation.setdefault(entry.relation, []).append(entry)

    @property
    def name(self) -> str:
        floor = f":min{self.min_similarity:g}" if self.min_similarity > 0 else ""
        return f"retrieval:{self.encoder_name}:{len(self.entries)}:{self.neighbours}{floor}"

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._encoder is None:
            self._encoder = load_sentence_encoder(self.encoder_name)
        vectors = self._encoder.encode(list(texts), batch_size=64, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)

    def head_vectors(self) -> np.ndarray:
        if self._head_vectors is not None:
            return self._head_vectors
        path = None
        if self.vectors_cache is not None:
            key = hashlib.sha256("\n".join([self.encoder_name, *self._heads]).encode()).hexdigest()[:20]
            path = self.vectors_cache / f"heads-{key}.npy"
            try:
                vectors = np.load(path, allow_pickle=False)
                if vectors.shape[0] == len(self._heads):
                    self._head_vectors = vectors
                    return vectors
            except (OSError, ValueError):
                pass  # absent or unreadable: embedded again below and rewritten
        self._head_vectors = self._embed(self._heads)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.with_suffix(".partial.npy")
            np.save(staging, self._head_vectors, allow_pickle=False)
            staging.replace(path)
        return self._head_vectors

    def infer(
        self, texts: Sequence[str], relations: Sequence[str] = RELATIONS, exclude: Sequence[str] = ()
    ) -> list[Inferences]:
        """`exclude`: heads never returned (held-out evaluation leaves the query's own head out)."""
        check_relations(relations)
        if not texts:
            return []
        # Embedded on the first query, not at construction: a fully cached precompute never needs them.
        similarity = self._embed(texts) @ self.head_vectors().T  # queries x heads
        excluded = {self._head_index[h] for h in exclude if h in self._head_index}
        results: list[Inferences] = [{} for _ in texts]
        for relation in relations:
            entries = self._by_relation.get(relation, [])
            if not entries:
                for result in results:
                    result[relation] = []
                continue
            columns = np.array([self._head_index[e.head] for e in entries])
            scores = similarity[:, columns]
            if excluded:
                scores = np.where(np.isin(columns, list(excluded)), -np.inf, scores)
            scores = np.where(scores < self.min_similarity, -np.inf, scores)
            order = np.argsort(-scores, axis=1)[:, : self.neighbours]
            for row, result in enumerate(results):
                nearest = [entries[j] for j in order[row] if np.isfinite(scores[row, j])]
                result[relation] = _distinct(
                    (p for e in nearest for p in e.inferences), INFERENCES_PER_RELATION
                )
        return results


def generation_prompt(text: str, relation: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You complete commonsense if-then statements with short phrases."},
        {
            "role": "user",
            "content": (
                f'Event: "{text}"\nComplete the sentence "{IF_THEN[relation]} ..." in '
                f"{INFERENCES_PER_RELATION} different ways. Write one short phrase (2 to 6 words) per line, "
                "nothing else."
            ),
        },
    ]


def parse_completions(answer: str, relation: str) -> list[str]:
    """The phrases of an LM answer: one a line, list markers and the echoed sentence start removed."""
    start = IF_THEN[relation].lower()
    phrases = []
    for line in answer.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip()
        if line.lower().startswith(start):
            line = line[len(start) :]
        phrases.append(line)
    return _distinct(phrases, INFERENCES_PER_RELATION)


class GenerationKnowledge:
    """A chat LM completing each relation's if-then sentence (greedy, so a cache entry is reproducible)."""

    def __init__(self, backend: Any, max_new_tokens: int = 48):
        self.backend = backend
        self.max_new_tokens = max_new_tokens

    @property
    def name(self) -> str:
        return f"generation:{self.backend.name}:{self.max_new_tokens}"

    def infer(self, texts: Sequence[str], relations: Sequence[str] = RELATIONS) -> list[Inferences]:
        check_relations(relations)
        from emocause.models.chat import GenerationOptions

        options = GenerationOptions(max_tokens=self.max_new_tokens, temperature=0.0)
        queries = [(i, r) for i in range(len(texts)) for r in relations]

        async def run() -> list[str]:
            calls = [self.backend.complete(generation_prompt(texts[i], r), options) for i, r in queries]
            return [c.text for c in await asyncio.gather(*calls)]

        answers = asyncio.run(run())
        results: list[Inferences] = [{} for _ in texts]
        for (i, relation), answer in zip(queries, answers, strict=True):
            results[i][relation] = parse_completions(answer, relation)
        return results


class CometKnowledge:
    """A COMET seq2seq checkpoint (folder or hub id)."""

    def __init__(self, name_or_path: str, beams: int = INFERENCES_PER_RELATION, max_new_tokens: int = 24):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.model_name = name_or_path
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(name_or_path).eval()
        except (OSError, ValueError) as error:
            raise ModelError(
                f"cannot load a COMET checkpoint from {name_or_path!r} (a seq2seq model folder or hub id): {error}"
            ) from error
        self.beams = beams
        self.max_new_tokens = max_new_tokens

    @property
    def name(self) -> str:
        return f"comet:{self.model_name}:{self.beams}"

    @torch.no_grad()
    def infer(self, texts: Sequence[str], relations: Sequence[str] = RELATIONS) -> list[Inferences]:
        check_relations(relations)
        queries = [(i, r) for i in range(len(texts)) for r in relations]
        results: list[Inferences] = [{} for _ in texts]
        for start in range(0, len(queries), 16):
            chunk = queries[start : start + 16]
            batch = self.tokenizer(
                [f"{texts[i]} {r} [GEN]" for i, r in chunk],
                return_tensors="pt",
                padding=True,
                truncation=True,
            )
            output = self.model.generate(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                num_beams=self.beams,
                num_return_sequences=self.beams,
                max_new_tokens=self.max_new_tokens,
            )
            decoded = self.tokenizer.batch_decode(output, skip_special_tokens=True)
            for k, (i, relation) in enumerate(chunk):
                results[i][relation] = _distinct(decoded[k * self.beams : (k + 1) * self.beams], self.beams)
        return results


class CachedKnowledge:
    """Any source behind a disk cache keyed by (source, relation, text): only unseen queries are computed,
    in chunks, each chunk written as soon as it is done, so an interrupted precompute resumes."""

    def __init__(self, source: KnowledgeSource, cache: Path, chunk: int = 64):
        self.source = source
        self.cache = KeyedCache(cache)
        self.chunk = chunk

    @property
    def name(self) -> str:
        return self.source.name

    def _key(self, text: str, relation: str) -> str:
        return f"{self.source.name}\t{relation}\t{text}"

    def infer(
        self, texts: Sequence[str], relations: Sequence[str] = RELATIONS, progress: bool = False
    ) -> list[Inferences]:
        check_relations(relations)
        todo = list(
            dict.fromkeys(t for t in texts if any(self._key(t, r) not in self.cache for r in relations))
        )
        chunks = range(0, len(todo), self.chunk)
        for start in track(chunks, description="knowledge", disable=not progress or not todo):
            part = todo[start : start + self.chunk]
            inferred = self.source.infer(part, relations)
            self.cache.put_many(
                {
                    self._key(t, r): found.get(r, [])
                    for t, found in zip(part, inferred, strict=True)
                    for r in relations
                }
            )
        return [{r: list(self.cache.get(self._key(t, r))) for r in relations} for t in texts]

    def close(self) -> None:
        self.cache.close()


KNOWLEDGE_SOURCES = "retrieval, generation (the offline chat LM) or comet:PATH_OR_HUB_ID"


def knowledge_source(
    spec: str, data_root: str | Path | None = None, min_similarity: float = 0.0
) -> KnowledgeSource:
    """A source by name: `retrieval` (over the data root's ATOMIC-2020 and RECCON-COMET files, heads at least
    `min_similarity` close), `generation` or `comet:PATH_OR_HUB_ID`."""
    if spec == "retrieval":
        return RetrievalKnowledge(
            data_root=data_root, min_similarity=min_similarity, vectors_cache=cache_dir() / "knowledge"
        )
    if spec == "generation":
        from emocause.models.chat import LocalChatBackend
        from emocause.models.resolver import DEFAULT_LM

        return GenerationKnowledge(LocalChatBackend(DEFAULT_LM))
    if spec.startswith("comet:") and spec[len("comet:") :]:
        return CometKnowledge(spec[len("comet:") :])
    raise ConfigError(f"knowledge source {spec!r}: expected {KNOWLEDGE_SOURCES}")
