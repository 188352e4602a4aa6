"""Small pieces every loader needs: label checks, span location, role assignment."""

from __future__ import annotations

from pathlib import Path

from emocause.data.schema import CauseSpan, Role
from emocause.errors import DataError
from emocause.resources.taxonomies import Taxonomy


def label(taxonomy: Taxonomy, value: str, path: Path, where: str) -> str:
    """The canonical label of `value`, or a DataError naming the record and the accepted labels."""
    canonical = taxonomy.normalize(value)
    if canonical is None:
        raise DataError(
            path,
            f"unknown emotion label {value!r}",
            where=where,
            expected=f"one of the {taxonomy.name} labels {list(taxonomy.labels)}",
        )
    return canonical


def locate(text: str, fragment: str, turn: int) -> CauseSpan | None:
    """The span of `fragment` inside `text` (exact first, then ignoring case and outer quotes/space)."""
    fragment = fragment.strip()
    start = text.find(fragment)
    if start < 0:
        fragment = fragment.strip("\"'").strip()
        start = text.lower().find(fragment.lower()) if fragment else -1
    if start < 0:
        return None
    end = start + len(fragment)
    return CauseSpan(turn=turn, start=start, end=end, text=text[start:end])


def alternating_roles(n_turns: int, last: Role) -> list[Role]:
    """Roles that alternate and end with `last` (context-response examples whose first speaker varies)."""
    other: Role = "listener" if last == "speaker" else "speaker"
    return [last if (n_turns - 1 - i) % 2 == 0 else other for i in range(n_turns)]
