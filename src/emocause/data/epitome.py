"""EPITOME (Sharma et al. 2020): Reddit post/response pairs rated for three communication mechanisms.

`epitome/{emotional-reactions,interpretations,explorations}-reddit.csv` rate the same pairs in the same
row order, each with a level (0 none, 1 weak, 2 strong) and '|'-separated rationale spans of the response.
The files are joined row by row (ids checked): one dialogue per row, the levels and rationales on the
response turn under `meta["mechanisms"] = {mechanism: {"level": int, "rationales": [str]}}`. Some pairs
are listed twice (rated twice); both records are kept and counted. The release has no splits.
"""

from __future__ import annotations

from pathlib import Path

from emocause.data.io import read_csv
from emocause.data.registry import DatasetSpec, LoadResult, register
from emocause.data.schema import Dialogue, Turn
from emocause.errors import DataError

FOLDER = "epitome"
MECHANISMS = {
    "emotional_reactions": "emotional-reactions-reddit.csv",
    "interpretations": "interpretations-reddit.csv",
    "explorations": "explorations-reddit.csv",
}
_COLUMNS = ("sp_id", "rp_id", "seeker_post", "response_post", "level", "rationales")


def _level(value: str, path: Path, line: int) -> int:
    if value not in ("0", "1", "2"):
        raise DataError(path, f"level {value!r}", where=f"line {line}", expected="0, 1 or 2")
    return int(value)


def load_epitome(root: Path, split: str) -> LoadResult:
    result = LoadResult()
    tables = {
        mechanism: read_csv(root / FOLDER / filename, _COLUMNS) for mechanism, filename in MECHANISMS.items()
    }
    reference_name, reference = next(iter(tables.items()))
    for mechanism, rows in tables.items():
        if len(rows) != len(reference):
            raise DataError(
                root / FOLDER / MECHANISMS[mechanism],
                f"{len(rows)} rows but {reference_name} has {len(reference)}",
                expected="the three files rating the same pairs row by row",
            )
    seen: set[tuple[str, str]] = set()
    for index, (_line, first) in enumerate(reference):
        key = (first["sp_id"], first["rp_id"])
        if key in seen:
            result.problem("pair listed more than once (each rating kept as its own record, as released)")
        seen.add(key)
        response = Turn(role="listener", text=first["response_post"], meta={"mechanisms": {}})
        for mechanism, rows in tables.items():
            line, row = rows[index]
            path = root / FOLDER / MECHANISMS[mechanism]
            if (row["sp_id"], row["rp_id"]) != key:
                raise DataError(
                    path,
                    f"pair {row['sp_id']}/{row['rp_id']} where {reference_name} has {key[0]}/{key[1]}",
                    where=f"line {line}",
                    expected="the same pairs in the same order in all three files",
                )
            # The files often differ in white space only; that is no disagreement worth reporting.
            if row["response_post"].split() != first["response_post"].split():
                result.problem("response text differs between mechanism files (first file's text kept)")
            rationales = [r for r in row["rationales"].split("|") if r.strip()]
            response.meta["mechanisms"][mechanism] = {
                "level": _level(row["level"], path, line),
                "rationales": rationales,
            }
        result.dialogues.append(
            Dialogue(
                id=f"{key[0]}/{key[1]}#{index}",
                source="epitome",
                split=split,
                turns=[Turn(role="speaker", text=first["seeker_post"]), response],
            )
        )
    return result


register(
    DatasetSpec(
        name="epitome",
        description="EPITOME: post/response pairs with Emotional Reaction, Interpretation, Exploration levels 0-2",
        splits=("all",),
        files=lambda split: [f"{FOLDER}/{name}" for name in MECHANISMS.values()],
        loader=load_epitome,
        expected={"all": 3_084},
    )
)
