"""`emocause analyze`: emotions with probabilities and the causes (words and turns) of a message or dialogue."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from emocause.cli import app
from emocause.cli.render import render_analysis
from emocause.data.schema import Turn
from emocause.errors import EmocauseError
from emocause.models.knowledge import KNOWLEDGE_SOURCES
from emocause.pipeline.analyze import DEFAULT_MODELS, Analyzer
from emocause.pipeline.dialogue_input import parse_dialogue, read_dialogue_file
from emocause.pipeline.respond import DEFAULT_MECHANISMS, EmpathyPipeline

Dtype = Annotated[
    str,
    typer.Option(
        "--dtype", help="Responder precision: float32, or bfloat16 (faster on CPUs with AVX512-BF16)."
    ),
]

Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Reply engine: auto (llama.cpp where it can run the responder, else transformers), llama.cpp or transformers.",
    ),
]

MessageArg = Annotated[str | None, typer.Argument(help="A message from the person (the speaker).")]
DialogueOpt = Annotated[
    Path | None,
    typer.Option(
        "--dialogue", help='JSON: ["speaker turn", "listener turn", ...] or {"turns": [{"role", "text"}]}.'
    ),
]
EmotionModelOpt = Annotated[
    str, typer.Option("--emotion-model", help="Shipped name or run folder; 'none' to skip.")
]
CauseWordsOpt = Annotated[str, typer.Option("--cause-words-model", help="ECE model; 'none' to skip.")]
CauseTurnsOpt = Annotated[
    str, typer.Option("--cause-turns-model", help="Utterance-cause model; 'none' to skip.")
]
MechanismsOpt = Annotated[
    str,
    typer.Option(
        "--mechanisms-model",
        help="Communication-mechanism classifier for the reply's strategy; 'none' to skip.",
    ),
]
KnowledgeOpt = Annotated[
    str,
    typer.Option(
        "--knowledge",
        help=f"Commonsense knowledge about the cause: none, {KNOWLEDGE_SOURCES} (retrieval reads ATOMIC-2020 "
        "and RECCON-COMET from the data root).",
    ),
]
DataRoot = Annotated[Path | None, typer.Option("--data-root", help="Folder holding the datasets.")]


def optional_model(name: str) -> str | None:
    return None if name.lower() == "none" else name


def product_pipeline(
    responder: str,
    cause_turns: str = DEFAULT_MODELS["cause_turns"],
    dtype: str = "float32",
    engine: str = "auto",
    mechanisms: str = DEFAULT_MECHANISMS,
    knowledge: str = "none",
    data_root: Path | None = None,
    *,
    emotion: str = DEFAULT_MODELS["emotion"],
    cause_words: str = DEFAULT_MODELS["cause_words"],
) -> EmpathyPipeline:
    """The pipeline that respond, chat, serve and the product benchmarks run, from their options ('none' leaves
    a part out)."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    return EmpathyPipeline.from_pretrained(
        "default",
        responder=responder,
        emotion=optional_model(emotion),
        cause_words=optional_model(cause_words),
        cause_turns=optional_model(cause_turns),
        dtype=dtype,
        engine=engine,
        mechanisms=optional_model(mechanisms),
        knowledge=optional_model(knowledge),
        data_root=data_root,
    )


def read_turns(text: str | None, dialogue: Path | None) -> list[Turn]:
    """The turns from TEXT or --dialogue (exactly one), with transformers' loading bars silenced."""
    if (text is None) == (dialogue is None):
        raise EmocauseError("give either a TEXT or --dialogue FILE")
    turns = read_dialogue_file(dialogue) if dialogue else parse_dialogue(text, "TEXT")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # per-model "Loading weights" bars would bury the answer
    return turns


@app.command("analyze")
def analyze(
    text: MessageArg = None,
    dialogue: DialogueOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON.")] = False,
    emotion_model: EmotionModelOpt = DEFAULT_MODELS["emotion"],
    cause_words_model: CauseWordsOpt = DEFAULT_MODELS["cause_words"],
    cause_turns_model: CauseTurnsOpt = DEFAULT_MODELS["cause_turns"],
    top_words: Annotated[int, typer.Option("--top-words", min=1, max=20)] = 3,
) -> None:
    """Analyse the last speaker turn: top emotions, cause words highlighted, cause turns marked with *."""
    turns = read_turns(text, dialogue)
    analyzer = Analyzer(
        optional_model(emotion_model),
        optional_model(cause_words_model),
        optional_model(cause_turns_model),
        top_words=top_words,
    )
    analysis = analyzer.analyze(turns)
    if as_json:
        payload = {"turns": [{"role": t.role, "text": t.text} for t in turns], **asdict(analysis)}
        typer.echo(json.dumps(payload, indent=2))
    else:
        Console().print(render_analysis(turns, analysis))
