"""`emocause respond`: the emotions, the causes and an empathetic reply to a message or a dialogue."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from emocause.cli import app
from emocause.cli.analyze import (
    CauseTurnsOpt,
    CauseWordsOpt,
    DataRoot,
    DialogueOpt,
    Dtype,
    EmotionModelOpt,
    Engine,
    KnowledgeOpt,
    MechanismsOpt,
    MessageArg,
    product_pipeline,
    read_turns,
)
from emocause.cli.render import render_response
from emocause.pipeline.analyze import DEFAULT_MODELS
from emocause.pipeline.respond import DEFAULT_MECHANISMS, DEFAULT_RESPONDER


@app.command("respond")
def respond(
    text: MessageArg = None,
    dialogue: DialogueOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the analysis and reply as JSON.")] = False,
    responder: Annotated[
        str, typer.Option("--responder", help="Responder: shipped name or run folder.")
    ] = DEFAULT_RESPONDER,
    emotion_model: EmotionModelOpt = DEFAULT_MODELS["emotion"],
    cause_words_model: CauseWordsOpt = DEFAULT_MODELS["cause_words"],
    cause_turns_model: CauseTurnsOpt = DEFAULT_MODELS["cause_turns"],
    dtype: Dtype = "float32",
    engine: Engine = "auto",
    mechanisms_model: MechanismsOpt = DEFAULT_MECHANISMS,
    knowledge: KnowledgeOpt = "none",
    data_root: DataRoot = None,
) -> None:
    """Answer the last speaker turn: top emotions, cause words highlighted, cause turns marked, and the reply."""
    turns = read_turns(text, dialogue)
    pipeline = product_pipeline(
        responder, cause_turns_model, dtype, engine, mechanisms_model, knowledge, data_root,
        emotion=emotion_model, cause_words=cause_words_model,
    )  # fmt: skip
    response = pipeline(turns)
    if as_json:
        typer.echo(json.dumps(response.payload(turns), indent=2))
    else:
        console = Console()
        console.print(render_response(turns, response))
        if response.crisis or response.concern or response.blocked:
            if response.crisis:
                why = f"crisis: {', '.join(response.crisis)}"
            elif response.concern:
                why = f"concern: {', '.join(response.concern)}"
            else:
                why = f"screened: {', '.join(response.blocked)}"
            console.print(f"[yellow]safety reply ({why})[/]")
