"""The vector files of a log directory: each distinct embedding once, as float32 or float64."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import naming
from ..errors import LogError

VECTOR_FILES: dict[str, tuple[str, np.dtype[Any]]] = {
    "vector32": ("vectors.f32", np.dtype("<f4")),
    "vector": ("vectors.f64", np.dtype("<f8")),
}


class Vectors:
    """The embeddings of a log, each distinct one once: in `vectors.f32` when it is exactly
    float32 (as most databases' are), in `vectors.f64` otherwise (as strategies' queries)."""

    def __init__(self) -> None:
        self.dimension: int | None = None
        self.rows: dict[bytes, dict[str, int]] = {}  # digest of the float64 bytes -> reference
        self.counts = dict.fromkeys(VECTOR_FILES, 0)
        self.queued: dict[str, list[np.ndarray]] = {name: [] for name in VECTOR_FILES}
        self.read: dict[str, np.ndarray] = {}

    def reference(self, embedding: np.ndarray, exact: bool = True) -> dict[str, int]:
        """{"vector32" | "vector": row} of `embedding` (rounded to float32 unless `exact`),
        queued for writing when new."""
        vector = np.asarray(embedding, dtype=np.float64)
        if not exact:
            vector = vector.astype(np.float32).astype(np.float64)
        if self.dimension is None:
            self.dimension = len(vector)
        elif vector.shape != (self.dimension,):
            raise LogError(
                f"the log holds {self.dimension}-dimensional embeddings; got one of shape "
                f"{vector.shape}"
            )
        digest = hashlib.sha1(vector.tobytes()).digest()
        found = self.rows.get(digest)
        if found is None:
            single = vector.astype(np.float32)
            name = "vector32" if np.array_equal(single, vector) else "vector"
            found = self.rows[digest] = {name: self.counts[name]}
            self.counts[name] += 1
            self.queued[name].append(single if name == "vector32" else vector)
        return found

    def write(self, directory: Path) -> dict[str, str]:
        """Append the queued rows to their files; return the SHA-256 of the bytes appended to
        each file written, by vector kind."""
        blocks = {}
        for name, rows in self.queued.items():
            if rows:
                file, dtype = VECTOR_FILES[name]
                block = np.asarray(rows, dtype=dtype).tobytes()
                with naming(directory / file), open(directory / file, "ab") as handle:
                    handle.write(block)
                blocks[name] = hashlib.sha256(block).hexdigest()
                rows.clear()
        return blocks

    def vector(self, directory: Path, record: dict[str, Any]) -> np.ndarray:
        """The embedding a record refers to (a copy)."""
        name = "vector32" if "vector32" in record else "vector"
        return self._rows(directory, name)[record[name]].copy()

    def _rows(self, directory: Path, name: str) -> np.ndarray:
        """The whole rows in the file of vector kind `name` (read once)."""
        if name not in self.read:
            file, dtype = VECTOR_FILES[name]
            path, width = directory / file, dtype.itemsize * (self.dimension or 0)
            whole = path.stat().st_size // width if width and path.exists() else 0
            self.read[name] = np.fromfile(path, dtype, whole * (self.dimension or 0)).reshape(
                whole, self.dimension or 0
            )
        return self.read[name]

    def follow(
        self,
        directory: Path,
        dimension: int | None,
        counts: dict[str, int],
        blocks: dict[str, str] | None,
    ) -> None:
        """Take in the rows a line says the files hold (a reader catching up), checking the
        bytes it appended against their SHA-256 in `blocks` (None: a line written before
        lines recorded them)."""
        self.dimension = dimension if dimension is not None else self.dimension
        for name, count in counts.items():
            if blocks is not None and count > self.counts[name]:
                self._check(directory, name, count, blocks.get(name))
            while self.counts[name] < count:
                row = self.vector(directory, {name: self.counts[name]})
                self.rows[hashlib.sha1(row.astype(np.float64).tobytes()).digest()] = {
                    name: self.counts[name]
                }
                self.counts[name] += 1

    def _check(self, directory: Path, name: str, count: int, digest: str | None) -> None:
        """Raise `ChangedBlock` unless rows up to `count` past those taken in hash to `digest`."""
        rows = self._rows(directory, name)
        if len(rows) < count:
            return  # fewer rows than the line names: `vector` says so
        block = rows[self.counts[name] : count]
        if hashlib.sha256(block.data).hexdigest() != digest:
            width = rows.itemsize * (self.dimension or 0)
            file = directory / VECTOR_FILES[name][0]
            raise ChangedBlock(file, self.counts[name] * width, count * width)

    def cut(self, directory: Path) -> None:
        """Drop rows past those the lines refer to (written before a line that never came)."""
        for name, (file, dtype) in VECTOR_FILES.items():
            size = self.counts[name] * dtype.itemsize * (self.dimension or 0)
            path = directory / file
            if path.exists() and path.stat().st_size > size:
                with open(path, "r+b") as handle:
                    handle.truncate(size)


class ChangedBlock(Exception):
    """Vector bytes that differ from those a checkpoint line appended."""

    def __init__(self, file: Path, start: int, end: int) -> None:
        super().__init__(file, start, end)
        self.file, self.start, self.end = file, start, end
