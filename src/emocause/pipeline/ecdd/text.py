"""Reading what the LLM wrote at each EC-DD stage: names, dialogues, annotations, scores, categories.

Every parser returns None (or says why) rather than guessing: a stage whose answer does not parse is asked
again, and a seed whose answers never parse is dropped with that reason.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass

from emocause.resources.taxonomies import ECC

# Names for the sharer and the friend, chosen by a hash of the seed id (ECC names its sharers too).
_NAMES = (
    "Megan", "Enzo", "Vera", "Teagan", "Mauricio", "Selena", "Edward", "Amara", "Lucas", "Priya", "Jonah",
    "Chloe", "Mateo", "Hana", "Omar", "Ingrid", "Kofi", "Lena", "Ravi", "Sofia", "Daniel", "Yuki", "Nadia",
    "Theo", "Grace", "Ibrahim", "Elena", "Marcus", "Aisha", "Felix", "Rosa", "Samuel",
)  # fmt: skip
_FRIENDS = ("Mike", "Andy", "Mia", "Sam", "Jordan", "Lily", "Noah", "Zoe", "Ethan", "Ava", "Leo", "Nora")


def person_names(seed_id: str) -> tuple[str, str]:
    digest = int(hashlib.sha256(seed_id.encode()).hexdigest()[:8], 16)
    return _NAMES[digest % len(_NAMES)], _FRIENDS[(digest // len(_NAMES)) % len(_FRIENDS)]


def fill_persons(head: str, name: str, friend: str) -> str:
    """ATOMIC's placeholders replaced: PersonX -> the sharer, PersonY -> the friend, PersonZ -> someone."""
    text = re.sub(r"\bPersonX\b", name, head)
    text = re.sub(r"\bPersonY\b", friend, text)
    return re.sub(r"\bPersonZ\b", "someone", text).replace("___", "something").strip().rstrip(".")


_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})
# "Name (crying sadly):" and "**Name**:" -> the name; "*sighs*", "[laughs]", a leading "(smiling)" -> nothing.
_TURN = re.compile(
    r"^\s*[-*>]*\s*\**(?P<name>[A-Z][\w.' -]{0,30}?)\**\s*(?:\([^)]*\))?\s*\**\s*:\s*(?P<text>.*)$"
)
_ACTIONS = re.compile(r"\*[^*]*\*|\[[^\]]*\]|^\s*\([^)]*\)\s*")


def clean_utterance(text: str) -> str:
    """Stage directions and emotion annotations removed (the paper's filter), quotes and spaces normalised."""
    text = _ACTIONS.sub(" ", text.translate(_QUOTES))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


@dataclass(frozen=True)
class ParsedDialogue:
    turns: list[tuple[str, str]]
    """(speaker name, utterance), consecutive turns of one speaker merged, starting with the sharer."""
    directions_removed: int


def parse_dialogue(text: str, name: str, friend: str, min_turns: int) -> ParsedDialogue | str:
    """The dialogue between `name` and `friend`, or why it is unusable.

    Lines "Name: words" start turns ("Person 1"/"Person 2" and "Friend" are read as the two people); other
    lines continue the current turn; lines naming a third person, and narration before the first turn, are
    left out. The sharer must speak first and both must speak at least `min_turns` turns in all.
    """
    aliases = {
        name.lower(): name, "person 1": name, "person1": name, "personx": name,
        friend.lower(): friend, "person 2": friend, "person2": friend, "friend": friend, "persony": friend,
    }  # fmt: skip
    turns: list[list[str]] = []
    removed = 0
    current: str | None = None
    for line in text.translate(_QUOTES).splitlines():
        if not line.strip():
            continue
        match = _TURN.match(line)
        if match and match["name"].strip().lower() in aliases:
            current = aliases[match["name"].strip().lower()]
            body = match["text"]
            removed += int(bool(re.search(r"\([^)]*\)\s*\**\s*:", line))) + len(_ACTIONS.findall(body))
            turns.append([current, clean_utterance(body)])
        elif match and len(match["name"].split()) <= 3 and not match["name"][0].isdigit():
            current = None  # a third speaker or a heading ("Scene:"): not part of the two-person dialogue
        elif current is not None and turns:
            removed += len(_ACTIONS.findall(line))
            turns[-1][1] = f"{turns[-1][1]} {clean_utterance(line)}".strip()
    merged: list[tuple[str, str]] = []
    for speaker, utterance in turns:
        if not utterance:
            continue
        if merged and merged[-1][0] == speaker:
            merged[-1] = (speaker, f"{merged[-1][1]} {utterance}")
        else:
            merged.append((speaker, utterance))
    while merged and merged[0][0] != name:
        merged.pop(0)
    if len(merged) < min_turns:
        return f"fewer than {min_turns} turns between {name} and {friend}"
    return ParsedDialogue(merged, removed)


def read_turn(text: str, speaker: str, name: str, friend: str, max_sentences: int = 3) -> tuple[str, int]:
    """One turn written by a model playing `speaker`, and how many stage directions were removed: a leading
    "Speaker:" dropped, cut where the model starts writing the other person's lines, at most
    `max_sentences` sentences."""
    other = friend if speaker == name else name
    kept: list[str] = []
    for line in text.translate(_QUOTES).splitlines():
        match = _TURN.match(line)
        if match and match["name"].strip().lower() in (other.lower(), "person 1", "person 2", "friend"):
            if kept:
                break
            continue
        kept.append(match["text"] if match and match["name"].strip().lower() == speaker.lower() else line)
    raw = " ".join(kept)
    removed = len(_ACTIONS.findall(raw))
    sentences = split_sentences(clean_utterance(raw))
    if len(sentences) > 1 and not sentences[-1].endswith((".", "!", "?", '"')):
        sentences.pop()  # cut off by the token limit
    return " ".join(sentences[:max_sentences]), removed


def render_dialogue(turns: list[tuple[str, str]]) -> str:
    return "\n".join(f"{speaker}: {utterance}" for speaker, utterance in turns)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_QUOTES)).strip().strip("\"'").strip().lower()


@dataclass(frozen=True)
class Located:
    turn: int
    text: str
    """Verbatim text of the turn."""
    snapped: bool
    """True when the model's answer differed slightly and the closest sentence of the turn was taken."""


def locate_in_dialogue(
    answer: str, turns: list[tuple[str, str]], speakers: set[str] | None = None, min_ratio: float = 0.85
) -> Located | None:
    """Where the model's answer sits in the dialogue, as verbatim text.

    Exact (ignoring case, quotes and spacing) inside a turn, else the sentence of a turn that is at least
    `min_ratio` similar (difflib's ratio: copying slips, not paraphrases). A leading "Name:" is ignored.
    """
    answer = re.sub(r"^\s*[\w .'-]{1,30}:\s*", "", answer.strip()) if ":" in answer[:32] else answer
    wanted = _norm(answer)
    if len(wanted) < 3:
        return None
    candidates = [(i, u) for i, (s, u) in enumerate(turns) if speakers is None or s in speakers]
    for i, utterance in candidates:
        lowered = utterance.lower().translate(_QUOTES)
        start = lowered.find(wanted)
        if start >= 0:
            return Located(i, utterance[start : start + len(wanted)], snapped=False)
    best: tuple[float, int, str] = (0.0, -1, "")
    for i, utterance in candidates:
        for sentence in split_sentences(utterance):
            ratio = difflib.SequenceMatcher(None, wanted, _norm(sentence)).ratio()
            if ratio > best[0]:
                best = (ratio, i, sentence)
    if best[0] >= min_ratio:
        return Located(best[1], best[2], snapped=True)
    return None


_FIELD = re.compile(r"^\W*(?P<key>emotion|cause)\W*\s*:\s*(?P<value>.+)$", re.IGNORECASE | re.MULTILINE)


def parse_annotation(text: str) -> tuple[str, str] | None:
    """("emotion sentence", "cause sentence") from lines "Emotion: ..." and "Cause: ..."."""
    found: dict[str, str] = {}
    for match in _FIELD.finditer(text.translate(_QUOTES)):
        found.setdefault(match["key"].lower(), match["value"].strip().strip('"').strip())
    if found.get("emotion") and found.get("cause"):
        return found["emotion"], found["cause"]
    return None


@dataclass(frozen=True)
class Quality:
    score: int
    reasoning: str
    better_emotion: str | None
    better_cause: str | None


def _field(text: str, key: str) -> str | None:
    match = re.search(rf"^\W*{key}\W*:\s*(.+)$", text, re.IGNORECASE | re.MULTILINE)
    if match is None:
        return None
    value = match[1].strip().strip('"').strip()
    return None if value.lower() in ("null", "none", "n/a", "") else value


def parse_quality(text: str) -> Quality | None:
    """The score (an integer 1-5), reasoning and suggested better sentences; None if there is no score."""
    text = text.translate(_QUOTES)
    match = re.search(r"score\W*:?\s*\**\s*([1-5])(?:\s*/\s*5)?\b", text, re.IGNORECASE)
    if match is None:
        return None
    return Quality(
        int(match[1]),
        _field(text, "reasoning") or _field(text, "evaluation") or "",
        _field(text, "better emotion sentence"),
        _field(text, "better cause sentence"),
    )


def parse_category(text: str) -> str | None:
    """The first ECC category named in the answer (the 10 emotions or neutral)."""
    for word in re.findall(r"[a-z]+", text.lower()):
        label = ECC.normalize(word)
        if label is not None:
            return label
    return None
