"""CAER's prompt (He et al. 2025, Figure 7): the emotional-support instruction, then the situation, the emotion
and the cause sentence, then the conversation, the sharer as `user` and the listener as `assistant`.

Each of situation / emotion / cause can be left out (the paper's Table 9 ablations), and the instruction
itself too (the plain fine-tune). Models with a chat template get chat messages; others a plain transcript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from emocause.data.schema import Turn

CAER_INSTRUCTION = (
    "You are {name}, you are comforting users who come to share their feelings, and you can provide "
    "emotional support. You are good at discovering emotional reasons and the emotions of the other party. "
    "Please provide a new answer for the conversation with the user."
)
_ROLES = {"speaker": "user", "listener": "assistant"}
_PLAIN_NAMES = {"speaker": "User", "listener": "Listener"}


@dataclass
class PromptConfig:
    instruction: bool = True
    situation: bool = True
    emotion: bool = True
    cause: bool = True
    assistant_name: str = "a caring listener"
    """The paper's {Model Name} placeholder."""


@dataclass
class PromptParts:
    """What a prompt is built from: the conversation so far and what is known about the sharer's emotion."""

    context: list[Turn]
    situation: str | None = None
    emotion: str | None = None
    cause: str | None = None


def system_text(config: PromptConfig, parts: PromptParts) -> str:
    lines = [CAER_INSTRUCTION.format(name=config.assistant_name)] if config.instruction else []
    if config.situation and parts.situation:
        lines.append(f"Situation: {parts.situation.strip()}")
    if config.emotion and parts.emotion:
        lines.append(f"The user's emotion: {parts.emotion}")
    if config.cause and parts.cause:
        lines.append(f"The cause of the emotion: {parts.cause.strip()}")
    return "\n".join(lines)


def prompt_text(tokenizer: PreTrainedTokenizerBase, config: PromptConfig, parts: PromptParts) -> str:
    """The prompt as text, ending where the listener's reply begins."""
    system = system_text(config, parts)
    if tokenizer.chat_template:
        messages = [{"role": "system", "content": system}] if system else []
        messages += [{"role": _ROLES[t.role], "content": t.text} for t in parts.context]
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return str(text)
    lines = [system] if system else []
    lines += [f"{_PLAIN_NAMES[t.role]}: {t.text}" for t in parts.context]
    return "\n".join(lines) + f"\n{_PLAIN_NAMES['listener']}:"


def turn_offsets(prompt: str, context: Sequence[Turn]) -> list[int]:
    """Where each turn's text starts in the prompt (found in order; -1 when a template changed the text)."""
    starts = []
    cursor = len(prompt)
    for turn in reversed(context):  # from the end: the system text may quote a turn (the cause sentence)
        found = prompt.rfind(turn.text, 0, cursor)
        starts.append(found)
        if found >= 0:
            cursor = found
    return starts[::-1]
