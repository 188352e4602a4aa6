"""Data layer: one schema for every corpus, careful readers, and a loader per dataset.

Importing this package registers every dataset loader with `emocause.data.registry`.
"""

from emocause.data import (  # noqa: F401 - imported for their registrations
    acnempathize,
    atomic,
    dailydialog,
    derived,
    ecc,
    emocause_words,
    empathetic_dialogues,
    epitome,
    esconv,
    reccon,
)
from emocause.data.registry import LoadResult, dataset_names, get_spec, load, load_dialogues
from emocause.data.schema import CauseSpan, Dialogue, KnowledgeRecord, Turn

__all__ = [
    "CauseSpan",
    "Dialogue",
    "KnowledgeRecord",
    "LoadResult",
    "Turn",
    "dataset_names",
    "get_spec",
    "load",
    "load_dialogues",
]
