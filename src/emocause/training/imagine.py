"""IMAGINE's inputs beyond the context, computed once per example and cached on disk.

For each (context, reply) example:
- causes: the utterance-level extractor (`cee`) scores every context turn as a cause of the last one (the
  speaker turn the reply answers); turns at or above its validation threshold are the causes. `dataset`
  takes the dataset's own dialogue-level cause turns (ED valid/test: RecEC's silver predictions) instead;
- knowledge: the cause utterances, joined, are the query of the knowledge source; the inferences of the 11
  relations are grouped into Affect, Behaviour, Physical and Events;
- mechanisms: the classifier labels the reference reply (post = the speaker's turns of the context), the
  supervision of IMAGINE's mechanism heads; not needed to generate, so only train/valid examples get them.
Every feature lives in a `KeyedCache` file under the cache folder, keyed by the model that made it and the
example, so a killed precompute resumes and a second run of the same recipe computes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.progress import track

from emocause.data import load
from emocause.data.io import KeyedCache
from emocause.errors import ModelError
from emocause.models.cee import CauseUtteranceModel
from emocause.models.imagine import ImagineFeatures
from emocause.models.knowledge import CachedKnowledge, knowledge_source
from emocause.models.mechanisms import MechanismClassifier
from emocause.models.registry import load_model
from emocause.models.scratch import Example
from emocause.models.words import WordInput
from emocause.resources.commonsense import group_inferences
from emocause.settings import cache_dir

CHUNK = 64


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_")[-80:]


def _cache(features: ImagineFeatures, kind: str, name: str) -> KeyedCache:
    folder = cache_dir(features.cache or None) / "imagine"
    return KeyedCache(folder / f"{kind}-{_slug(name)}.jsonl")


def _key(dataset: str, x: Example) -> str:
    return f"{dataset}\t{x.id}\t{x.turn}"


def _fill(
    cache: KeyedCache,
    keys: Sequence[str],
    compute: Callable[[list[int]], list[Any]],
    what: str,
    length: Callable[[int], int],
) -> None:
    """Compute the values of the keys the cache lacks, a chunk at a time, each chunk written when done.
    Inputs go in order of `length`, so a batch pads little (about twice as fast for an encoder on a CPU)."""
    todo = sorted((i for i, k in enumerate(keys) if k not in cache), key=length)
    for start in track(range(0, len(todo), CHUNK), description=what, disable=not todo):
        part = todo[start : start + CHUNK]
        cache.put_many({keys[i]: value for i, value in zip(part, compute(part), strict=True)})


def load_typed(name: str, kind: type, what: str) -> Any:
    model = load_model(name)
    if not isinstance(model, kind):
        raise ModelError(f"{name} is not {what}")
    return model


def attach_features(
    examples: list[Example],
    features: ImagineFeatures,
    dataset: str,
    split: str,
    *,
    mechanisms: bool = True,
    data_root: str | Path | None = None,
) -> list[Example]:
    """The examples with `cause_turns`, `knowledge` and (with `mechanisms`) `mechanisms` filled in."""
    keys = [_key(dataset, x) for x in examples]
    if features.causes == "dataset":
        by_id = {d.id: d.cause_turns for d in load(dataset, split, data_root).dialogues}
        for x in examples:
            x.cause_turns = [j for j in by_id.get(x.id, []) if j < len(x.context)]
    else:
        cee = load_typed(features.causes, CauseUtteranceModel, "an utterance-level cause model (cee)")
        causes = _cache(features, "causes", f"{features.causes}-{cee.config.threshold}")

        def find_causes(part: list[int]) -> list[list[int]]:
            return cee.causes([WordInput.from_turns(examples[i].context) for i in part])

        _fill(causes, keys, find_causes, f"causes ({split})", lambda i: _words(examples[i]))
        for x, key in zip(examples, keys, strict=True):
            x.cause_turns = list(causes.get(key))
        causes.close()
    source = knowledge_source(features.knowledge, data_root)
    cached = CachedKnowledge(
        source, cache_dir(features.cache or None) / "imagine" / f"knowledge-{_slug(source.name)}.jsonl"
    )
    queries = [cause_text(x) for x in examples]
    inferred = cached.infer(queries, progress=True)
    cached.close()
    for x, inference in zip(examples, inferred, strict=True):
        x.knowledge = group_inferences(inference)
    if mechanisms:
        classifier = load_typed(
            features.mechanisms, MechanismClassifier, "a communication-mechanism classifier"
        )
        labels = _cache(features, "mechanisms", f"{features.mechanisms}-{classifier.config.threshold}")

        def label(part: list[int]) -> list[list[int]]:
            pairs = [(speaker_post(examples[i]), examples[i].response) for i in part]
            return [
                [int(p >= classifier.config.threshold) for p in row]
                for row in classifier.probabilities(pairs).tolist()
            ]

        _fill(labels, keys, label, f"mechanisms ({split})", lambda i: _words(examples[i]))
        for x, key in zip(examples, keys, strict=True):
            x.mechanisms = list(labels.get(key))
        labels.close()
    return examples


def _words(x: Example) -> int:
    return sum(len(t.text.split()) for t in x.context) + len(x.response.split())


def cause_text(x: Example) -> str:
    """The knowledge query: the cause utterances, or the last context turn when none was found."""
    chosen = [x.context[j].text for j in sorted(x.cause_turns or []) if j < len(x.context)]
    return " ".join(chosen or [x.context[-1].text])


def speaker_post(x: Example) -> str:
    return " ".join(t.text for t in x.context if t.role == "speaker") or x.context[-1].text
