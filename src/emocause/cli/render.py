"""Rich renderings of dialogues and knowledge records for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.panel import Panel
from rich.text import Text

from emocause.data.schema import Dialogue, KnowledgeRecord, Turn
from emocause.pipeline.analyze import Analysis
from emocause.pipeline.respond import Response
from emocause.resources.commonsense import GROUP_OF

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


def render_analysis(
    turns: Sequence[Turn], analysis: Analysis, reply: str | None = None, notes: Sequence[Text] = ()
) -> Panel:
    """Emotion bars, then the conversation with cause words highlighted and cause turns marked, then the reply
    and any `notes` under it."""
    lines: list[Text] = []
    for label, probability in analysis.emotions:
        bar = "█" * max(1, round(probability * 30))
        lines.append(Text.assemble((f"{label:>14} ", "bold green"), (bar, "green"), f" {probability:.2f}"))
    lines.append(Text(""))
    causes = {turn: p for turn, p in analysis.cause_turns}
    highlighted: dict[int, set[int]] = {}
    for cause in analysis.cause_words:
        highlighted.setdefault(cause.turn, set()).add(cause.word)
    for index, turn in enumerate(turns[: analysis.target_turn + 1]):
        is_cause = causes.get(index, 0.0) >= analysis.cause_turn_threshold
        head = Text.assemble(
            ("*" if is_cause else " ", "bold yellow"),
            (f"{turn.role:>9} ", "cyan" if turn.role == "speaker" else "magenta"),
        )
        body = Text()
        for i, word in enumerate(turn.text.split()):
            body.append(
                ("" if i == 0 else " ") + word, _CAUSE_STYLE if i in highlighted.get(index, ()) else ""
            )
        line = Text.assemble(head, body)
        if index in causes:
            line.append(f"  cause p={causes[index]:.2f}", style="yellow" if is_cause else "dim")
        lines.append(line)
    if analysis.cause_sentence:
        lines += [Text(""), Text.assemble((f"{'cause':>10} ", "bold yellow"), analysis.cause_sentence)]
    if reply is not None:
        lines += [Text(""), Text.assemble((f"{'reply':>10} ", "bold magenta"), reply)]
    lines += notes
    words = ", ".join(f"{w.text} ({w.score:.2f})" for w in analysis.cause_words)
    subtitle = f"cause words: {words}" if words else None
    return Panel(
        Group(*lines), title=f"analysis of turn {analysis.target_turn}", subtitle=subtitle, title_align="left"
    )


def response_notes(response: Response) -> list[Text]:
    """The strategy of the reply, then the commonsense inferences about the cause, one line per relation."""
    notes = [Text.assemble((f"{'strategy':>10} ", "bold magenta"), (response.strategy, "italic"))]
    for relation, inferences in response.knowledge.items():
        if inferences:
            label = f"{GROUP_OF.get(relation, '')}/{relation}"
            notes.append(Text.assemble((f"{label:>22} ", "dim"), "; ".join(inferences)))
    return notes


def render_response(turns: Sequence[Turn], response: Response) -> Panel:
    return render_analysis(turns, response.analysis, response.reply, response_notes(response))
