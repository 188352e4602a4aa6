"""Careful readers for dataset files, and the append-only JSONL files that resumable jobs write.

Every reader names the file and the line or record when something is wrong, recognises Git LFS and
git-annex pointer files (a checkout without the real data), and never unpickles anything but plain data.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pickle
from collections.abc import Iterable, Iterator, Mapping, Sequence
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


def decode_utf8(path: Path, data: bytes, *, offset: int = 0, line: int = 1) -> str:
    """`data`, read from `path` at byte `offset` (on line `line`), as text; a byte that is not UTF-8 is a
    DataError naming its line and byte position in the file, not a UnicodeDecodeError."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line += data.count(b"\n", 0, exc.start)
        raise DataError(
            path,
            f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
            where=f"line {line}, byte {offset + exc.start}",
            expected="UTF-8 text",
        ) from None


def read_utf8(path: Path) -> str:
    """The whole of a UTF-8 text file (see `decode_utf8`)."""
    return decode_utf8(path, path.read_bytes())


def utf8_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line with its ending) of a UTF-8 text file, lines ending at "\\n" (see `decode_utf8`).
    Lines are decoded one by one, so that a bad byte is reported on its line, in files of any size."""
    offset = 0
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            yield number, decode_utf8(path, raw, offset=offset, line=number)
            offset += len(raw)


def read_json(path: Path) -> Any:
    check_file(path)
    text = read_utf8(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) - 1
        problem = "truncated JSON (the file ends early)" if truncated else f"invalid JSON: {exc.msg}"
        raise DataError(path, problem, where=f"line {exc.lineno}, column {exc.colno}") from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, record) for each non-blank line of a JSON-lines file."""
    check_file(path)
    for lineno, line in utf8_lines(path):
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
    reader = csv.DictReader(line for _, line in utf8_lines(path))
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
        if name == "_reconstruct":
            return _ArrayUnderConstruction
        return super().find_class(module, name)


class _ArrayUnderConstruction:
    """Stands in for NumPy's `_reconstruct` while unpickling: the array's state is checked before NumPy sees it,
    since NumPy crashes the process (no exception) on an object state with fewer values than its shape."""

    def __init__(self, cls: Any = None, shape: Any = None, dtype: Any = None):
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError("an array state that is not (version, shape, dtype, order, data)")
        _, shape, dtype, _, data = state
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
            raise pickle.UnpicklingError(f"array shape {shape!r}")
        if not isinstance(dtype, np.dtype):
            raise pickle.UnpicklingError("an array state without a dtype")
        size = math.prod(shape)
        fits = (
            isinstance(data, list) and len(data) == size
            if dtype.hasobject
            else isinstance(data, bytes) and len(data) == size * dtype.itemsize
        )
        if not fits:
            raise pickle.UnpicklingError(f"array data does not fill its shape {shape}")
        array = np.ndarray((0,), dtype="b")
        array.__setstate__(state)
        self.array = array


def _built_arrays(value: Any) -> Any:
    """The loaded object, the stand-in replaced by its checked array."""
    if isinstance(value, _ArrayUnderConstruction):
        if value.array is None:
            raise pickle.UnpicklingError("an array without data")
        return value.array
    return value


_MAX_NESTING = 8
"""Levels of lists within an element, at most (ECC's arrays hold strings and lists of strings)."""


def _too_many(path: Path, budget: int) -> DataError:
    return DataError(
        path,
        f"the pickle describes more elements than its {budget} bytes can hold (a list reused over and over, "
        "or an array larger than its data)",
        expected="an array of strings or lists of strings",
    )


def _text_items(path: Path, array: np.ndarray, budget: int) -> list[Any]:
    """The array's elements, each a string or (nested) lists of strings, else a DataError.

    Every element counts against `budget`, the pickle's size in bytes, before it is visited: each element
    of honest data costs at least one byte, but a pickle of a few kilobytes can declare a huge array or put
    one list into another many times over, describing more elements than any walk over them (here or in
    the caller) could ever finish.
    """
    if array.size > budget:
        raise _too_many(path, budget)
    items = array.tolist() if array.dtype != object else list(array.ravel())
    stack = [(index, item, 0) for index, item in reversed(list(enumerate(items)))]
    visited = len(items)
    while stack:
        index, value, depth = stack.pop()
        if isinstance(value, str):
            continue
        if isinstance(value, _ArrayUnderConstruction):
            raise DataError(path, "an array inside the array", where=f"index {index}",
                            expected="strings or lists of strings")  # fmt: skip
        if isinstance(value, (list, tuple)):
            size = len(value)
        elif isinstance(value, np.ndarray) and value.dtype.kind in "USbifuO":
            size = value.size
        else:
            raise DataError(
                path,
                f"element of type {type(value).__name__}",
                where=f"index {index}",
                expected="strings or lists of strings",
            )
        if depth == _MAX_NESTING:
            raise DataError(
                path,
                f"lists nested more than {_MAX_NESTING} deep",
                where=f"index {index}",
                expected="strings or lists of strings",
            )
        visited += size
        if visited > budget:
            raise _too_many(path, budget)
        if isinstance(value, np.ndarray):
            # Only objects in an array are visited; its other values are data, counted above.
            children: Sequence[Any] = list(value.ravel()) if value.dtype == object else []
        else:
            children = value
        stack.extend((index, child, depth + 1) for child in reversed(children))
    return [v.tolist() if isinstance(v, np.ndarray) else v for v in items]


def load_npy_strings(path: Path) -> list[Any]:
    """Load a `.npy` file of strings or (nested) lists of strings without trusting its pickle.

    Object arrays are pickles that could run any code; this reader lets only NumPy's own array
    reconstruction through and then checks that every element is a string or a list of strings, visiting
    no more elements than the file has bytes.
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
        payload = fh.read()
        if dtype.hasobject:
            try:
                array = _built_arrays(_DataOnlyUnpickler(io.BytesIO(payload)).load())
            except _RefusedGlobal as exc:
                raise DataError(
                    path, f"unsafe pickle: {exc}", expected="an array of strings or lists of strings"
                ) from None
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
                raise DataError(path, f"corrupt or truncated pickle ({exc})") from None
        else:
            count = int(np.prod(shape)) if shape else 1
            array = np.frombuffer(payload, dtype=dtype, count=-1)
            if array.size != count:
                raise DataError(path, f"truncated array: {array.size} of {count} values")
    if not isinstance(array, np.ndarray):
        raise DataError(path, f"pickle holds a {type(array).__name__}", expected="a NumPy array")
    return _text_items(path, array, len(payload))


def complete_jsonl_records(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file; a partial last line (a kill mid-write) is cut off the file, once every
    complete line has been read (a file that fails to read is left as it was)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    records = []
    for number, line in enumerate(decode_utf8(path, data[:end]).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(path, f"invalid JSON: {error.msg}", where=f"line {number}",
                            expected="a file this command wrote; restore it or start a new output") from None  # fmt: skip
        records.append(record)
    if end < len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)
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
