"""Versioned prompt templates: one folder per version, one text file per stage, `{field}` placeholders.

Packaged sets live in `resources/prompts/<version>/`; a user's own folder of the same files works the same.
A set's fingerprint (a hash of every file) goes into each record generated with it, so outputs say exactly
which wording produced them.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from emocause.errors import ConfigError


@dataclass(frozen=True)
class PromptSet:
    version: str
    templates: dict[str, str]
    fingerprint: str

    def render(self, stage: str, **fields: str) -> str:
        template = self.templates[stage]
        missing = set(placeholders(template)) - set(fields)
        if missing:
            raise ConfigError(f"prompt {self.version}/{stage}: no value for {sorted(missing)}")
        return template.format(**fields).strip()


def placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def packaged_prompt_versions() -> list[str]:
    folder = Path(str(files("emocause") / "resources" / "prompts"))
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def load_prompts(version_or_folder: str, stages: dict[str, set[str]]) -> PromptSet:
    """The packaged set `version_or_folder`, or the templates in that folder; `stages` maps each required
    stage (file stem) to the placeholders its template may use. Unknown placeholders are errors now, not
    when the stage first runs."""
    folder = Path(version_or_folder)
    if not folder.is_dir():
        folder = Path(str(files("emocause") / "resources" / "prompts" / version_or_folder))
    if not folder.is_dir():
        raise ConfigError(
            f"prompts {version_or_folder!r}: not a folder and not a packaged version "
            f"(packaged: {', '.join(packaged_prompt_versions())})"
        )
    templates: dict[str, str] = {}
    digest = hashlib.sha256()
    for stage in sorted(stages):
        path = folder / f"{stage}.txt"
        if not path.is_file():
            raise ConfigError(
                f"{path}: missing; a prompt set needs {', '.join(f'{s}.txt' for s in sorted(stages))}"
            )
        text = path.read_text(encoding="utf-8")
        try:
            unknown = set(placeholders(text)) - stages[stage]
        except ValueError as error:
            raise ConfigError(f"{path}: not a valid template: {error}") from None
        if unknown:
            raise ConfigError(
                f"{path}: unknown placeholder(s) {sorted(unknown)}; allowed {sorted(stages[stage])}"
            )
        templates[stage] = text
        digest.update(stage.encode() + b"\0" + text.encode("utf-8") + b"\0")
    return PromptSet(folder.name, templates, digest.hexdigest()[:12])
