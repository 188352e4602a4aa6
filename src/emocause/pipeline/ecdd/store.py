"""Append-only output of an EC-DD run: what survives a kill at any moment, and how a resume reads it back.

Files beside `OUT.jsonl`:
- `OUT.jsonl`: kept dialogues, one ECC-format record a line;
- `OUT.dropped.jsonl`: every dropped seed with its stage and reason;
- `OUT.run.json`: the run's settings (model, prompts and their fingerprint), written before the first record;
- `OUT.summary.json`: counts, tokens and speed, rewritten at the end of each invocation.

A record is one `write` of a whole line on a file opened for appending, then fsync. A kill (even kill -9)
can leave at most a partial last line; `open_store(resume=True)` cuts it off, and that seed runs again. A
resume refuses an output without its `OUT.run.json`: a file this pipeline did not write is never cut.
Seeds whose model calls failed (server down after the retries) are recorded nowhere, so a resume retries them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emocause.data.io import AppendOnlyJsonl, complete_jsonl_records, read_json
from emocause.errors import ConfigError, DataError


def sidecar(out: Path, name: str) -> Path:
    return out.with_name(f"{out.stem}.{name}")


@dataclass
class Store:
    out: Path
    kept_ids: set[str] = field(default_factory=set)
    dropped_ids: set[str] = field(default_factory=set)
    previous: dict[str, Any] = field(default_factory=dict)
    """The summary of the invocation before this one (when resuming)."""
    _kept: AppendOnlyJsonl | None = None
    _dropped: AppendOnlyJsonl | None = None

    def done(self, seed_id: str) -> bool:
        return seed_id in self.kept_ids or seed_id in self.dropped_ids

    def keep(self, record: dict[str, Any]) -> None:
        assert self._kept is not None
        self._kept.append(record)
        self.kept_ids.add(record["doc_id"])

    def drop(self, record: dict[str, Any]) -> None:
        assert self._dropped is not None
        self._dropped.append(record)
        self.dropped_ids.add(record["seed_id"])

    def write_summary(self, summary: dict[str, Any]) -> None:
        path = sidecar(self.out, "summary.json")
        staging = path.with_name(path.name + ".tmp")
        staging.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        staging.replace(path)

    def close(self) -> None:
        for handle in (self._kept, self._dropped):
            if handle is not None:
                handle.close()


_MUST_MATCH = ("model", "prompts", "prompts_fingerprint", "relations", "seeds")


def _ids(path: Path, key: str) -> set[str]:
    """The seed ids in a record file of this run (`key` names them)."""
    ids = set()
    for number, record in enumerate(complete_jsonl_records(path), start=1):
        if not isinstance(record, dict) or key not in record:
            raise DataError(path, f"a record without {key}", where=f"record {number}",
                            expected="a file `emocause ecdd run` wrote")  # fmt: skip
        ids.add(str(record[key]))
    return ids


def open_store(out: Path, manifest: dict[str, Any], *, resume: bool) -> Store:
    """The output files, new or (with `resume`) continued; refuses to overwrite or to mix settings."""
    if out.suffix != ".jsonl":
        raise ConfigError(f"{out}: the output must be a .jsonl file")
    out.parent.mkdir(parents=True, exist_ok=True)
    run_file = sidecar(out, "run.json")
    existing = [p for p in (out, sidecar(out, "dropped.jsonl"), run_file) if p.exists() and p.stat().st_size]
    store = Store(out)
    if existing and not run_file.exists():
        # A resume cuts a partial last line off the output, so only a run's files (the manifest is written
        # before any record) may be continued.
        raise ConfigError(
            f"{out}: not an EC-DD run: no run manifest {run_file.name} found beside it; nothing was changed "
            "(choose another output path)"
        )
    if existing and not resume:
        raise ConfigError(
            f"{out}: output already exists ({', '.join(p.name for p in existing)}); pass --resume to continue "
            "it, or choose another path"
        )
    if resume and run_file.exists():
        previous = read_json(run_file)
        if not isinstance(previous, dict):
            raise DataError(
                run_file, "not a run manifest", expected="the JSON object `emocause ecdd run` writes"
            )
        changed = [k for k in _MUST_MATCH if previous.get(k) != manifest.get(k)]
        if changed:
            details = "; ".join(f"{k}: {previous.get(k)!r} then, {manifest.get(k)!r} now" for k in changed)
            raise ConfigError(f"{out}: cannot resume with other settings ({details})")
        summary_file = sidecar(out, "summary.json")
        if summary_file.exists():
            store.previous = read_json(summary_file)
    store.kept_ids = _ids(out, "doc_id")
    store.dropped_ids = _ids(sidecar(out, "dropped.jsonl"), "seed_id")
    if not run_file.exists():
        run_file.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    store._kept = AppendOnlyJsonl(out)
    store._dropped = AppendOnlyJsonl(sidecar(out, "dropped.jsonl"))
    return store
