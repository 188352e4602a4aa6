"""Rich renderings of dialogues and knowledge records for the terminal."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.text import Text

from emocause.data.schema import Dialogue, KnowledgeRecord

_CAUSE_STYLE = "bold black on yellow"


def _turn_text(dialogue: Dialogue, index: int) -> Text:
    turn = dialogue.turns[index]
    text = Text(turn.text)
    spans = [s for t in dialogue.turns for s in t.cause_spans if s.turn == index] + [
        s for s in dialogue.cause_spans if s.turn == index
    ]
    for span in spans:
        text.stylize(_CAUSE_STYLE, span.start, span.end)
    return text


def render_dialogue(dialogue: Dialogue) -> Panel:
    """Each turn with its role and emotion; cause spans highlighted where they occur, evidence listed."""
    lines: list[Text] = []
    if dialogue.situation:
        lines.append(Text.assemble(("situation: ", "bold"), dialogue.situation))
    dialogue_causes = set(dialogue.cause_turns)
    for index, turn in enumerate(dialogue.turns):
        marker = "*" if index in dialogue_causes else " "
        head = Text.assemble(
            (f"{marker}{index:>2} ", "dim"),
            (f"{turn.speaker_name or turn.role:>9}", "cyan" if turn.role == "speaker" else "magenta"),
        )
        if turn.emotion and turn.emotion != "neutral":
            head.append(f" [{turn.emotion}]", style="bold green")
        line = Text.assemble(head, " ", _turn_text(dialogue, index))
        causes = [str(c) for c in turn.cause_turns] + (["outside"] if turn.cause_outside else [])
        if causes:
            line.append(f"  ← caused by turn {', '.join(causes)}", style="yellow")
        lines.append(line)
    title = f"{dialogue.source} {dialogue.split} {dialogue.id}" + (
        f" · {dialogue.emotion}" if dialogue.emotion else ""
    )
    subtitle = f"* = cause turns ({dialogue.cause_labels})" if dialogue.cause_turns else None
    return Panel(Group(*lines), title=title, subtitle=subtitle, title_align="left")


def render_knowledge(record: KnowledgeRecord) -> Panel:
    body = [Text.assemble(("tails: ", "bold"), "; ".join(record.tails))]
    if record.generations:
        body.append(Text.assemble(("COMET: ", "bold"), "; ".join(record.generations)))
    return Panel(Group(*body), title=f"{record.head} @@ {record.relation}", title_align="left")
