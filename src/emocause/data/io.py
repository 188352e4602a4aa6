"""Careful readers for dataset files, and the append-only JSONL files that resumable jobs write.

Every reader names the file and the line or record when something is wrong, recognises Git LFS and
git-annex pointer files (a checkout without the real data), and never unpickles anything but plain data.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.lib import format as npy_format

from emocause.errors import DataError

_POINTER_PREFIXES = (b"version https://git-lfs.github.com/spec/", b"/annex/objects/", b"../.git/annex/")


def check_file(path: Path) -> Path:
    """Fail with a clear message unless `path` is a readable data file (not a missing file or a pointer)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    if not path.is_file():
        raise DataError(path, "not a regular file")
    with path.open("rb") as fh:
        head = fh.read(200)
    if any(head.startswith(p) or p in head[:60] for p in _POINTER_PREFIXES):
        raise DataError(
            path,
            "this is a Git LFS / git-annex pointer, not the data itself",
            expected="the real file (run `git lfs pull` or `git annex get` where it came from)",
        )
    return path


def read_json(path: Path) -> Any:
    check_file(path)
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) - 1
        problem = "truncated JSON (the file ends early)" if truncated else f"invalid JSON: {exc.msg}"
        raise DataError(path, problem, where=f"line {exc.lineno}, column {exc.colno}") from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, record) for each non-blank line of a JSON-lines file."""
    check_file(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    path,
                    f"invalid JSON: {exc.msg}",
                    where=f"line {lineno}",
                    expected="one JSON object per line",
                ) from None


# Posts and replies can be long; Python's default 128 KiB field limit is a format limit we do not share.
csv.field_size_limit(2**31 - 1)


def read_csv(path: Path, required: Iterable[str]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of a CSV file, rows as dicts of strings; fails if a required column is
    missing or a row is ragged. The line number is where the row ends (quoted fields may span lines)."""
    check_file(path)
    required = list(required)
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(
                path,
                f"missing column(s) {missing}; found {header}",
                where="header",
                expected=f"columns {required}",
            )
        rows = []
        try:
            for row in reader:
                if None in row or any(row.get(c) is None for c in required):
                    raise DataError(
                        path,
                        "row has the wrong number of fields",
                        where=f"line {reader.line_num}",
                        expected=f"{len(header)} fields",
                    )
                rows.append((reader.line_num, row))
        except csv.Error as exc:
            raise DataError(path, f"malformed CSV: {exc}", where=f"line {reader.line_num}") from None
    return rows


def require(record: Mapping[str, Any], keys: Iterable[str], path: Path, where: str) -> None:
    """Fail unless every key is present in a JSON record."""
    if not isinstance(record, Mapping):
        raise DataError(path, f"expected a JSON object, found {type(record).__name__}", where=where)
    missing = [k for k in keys if k not in record]
    if missing:
        raise DataError(path, f"missing field(s) {missing}", where=where, expected=f"fields {list(keys)}")


class _RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a class or function other than NumPy's array reconstruction."""


class _DataOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy object arrays and nothing else: no classes, no functions, no code."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise _RefusedGlobal(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _plain(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return True
    if depth > 8:
        return False
    if isinstance(value, (list, tuple)):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "USbifu" or (
            value.dtype == object and all(_plain(v, depth + 1) for v in value.ravel())
        )
    return False


def load_npy_strings(path: Path) -> list[Any]:
    """Load a `.npy` file of strings or (nested) lists of strings without trusting its pickle.

    Object arrays are pickles that could run any code; this reader lets only NumPy's own array
    reconstruction through and then checks that every element is a string or a list of strings.
    """
    check_file(path)
    with path.open("rb") as fh:
        try:
            version = npy_format.read_magic(fh)
            read_header = (
                npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            )
            shape, _fortran, dtype = read_header(fh)
        except ValueError as exc:
            raise DataError(path, f"not a NumPy .npy file ({exc})") from None
        if dtype.hasobject:
            try:
                array = _DataOnlyUnpickler(io.BytesIO(fh.read())).load()
            except _RefusedGlobal as exc:
                raise DataError(
                    path, f"unsafe pickle: {exc}", expected="an array of strings or lists of strings"
                ) from None
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
                raise DataError(path, f"corrupt or truncated pickle ({exc})") from None
        else:
            count = int(np.prod(shape)) if shape else 1
            array = np.frombuffer(fh.read(), dtype=dtype, count=-1)
            if array.size != count:
                raise DataError(path, f"truncated array: {array.size} of {count} values")
    if not isinstance(array, np.ndarray):
        raise DataError(path, f"pickle holds a {type(array).__name__}", expected="a NumPy array")
    items = array.tolist() if array.dtype != object else list(array.ravel())
    for index, item in enumerate(items):
        if not _plain(item):
            raise DataError(
                path,
                f"element of type {type(item).__name__}",
                where=f"index {index}",
                expected="strings or lists of strings",
            )
    return [v.tolist() if isinstance(v, np.ndarray) else v for v in items]


def complete_jsonl_records(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file; a partial last line (a kill mid-write) is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)
    records = []
    for number, line in enumerate(data[:end].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(path, f"invalid JSON: {error.msg}", where=f"line {number}",
                            expected="a file this command wrote; restore it or start a new output") from None  # fmt: skip
        records.append(record)
    return records


class AppendOnlyJsonl:
    """A JSONL file opened for appending: each record is one write of a whole line, then fsync."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: dict[str, Any]) -> None:
        self.append_many([record])

    def append_many(self, records: Iterable[Any]) -> None:
        """Whole lines in one write and one fsync (a batch of cache entries costs one disk flush)."""
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class KeyedCache:
    """A resumable on-disk map from string keys to JSON values (precomputed features, LM outputs).

    Backed by an append-only JSONL file of `{"key": ..., "value": ...}` lines, so a kill at any moment loses
    at most the entry being written; reopening reads every complete line back. Later lines win.
    """

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.values: dict[str, Any] = {}
        for record in complete_jsonl_records(path):
            if not isinstance(record, dict) or "key" not in record or "value" not in record:
                raise DataError(
                    path, "a line without key and value", expected="a cache file this program wrote"
                )
            self.values[str(record["key"])] = record["value"]
        self._file: AppendOnlyJsonl | None = None

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def __len__(self) -> int:
        return len(self.values)

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def put(self, key: str, value: Any) -> None:
        self.put_many({key: value})

    def put_many(self, items: Mapping[str, Any]) -> None:
        """Store several entries with one disk flush."""
        if self._file is None:
            self._file = AppendOnlyJsonl(self.path)
        self._file.append_many({"key": k, "value": v} for k, v in items.items())
        self.values.update(items)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
