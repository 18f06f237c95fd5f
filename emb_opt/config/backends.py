"""The data a `source` block describes (`source.data`): synthetic demo data or files.

In-process backends (numpy, faiss, hf) hold it; server backends load it into the collection
when it is missing, so every example config runs over the same demo data. How each backend
connects is its descriptor's `connect` (`emb_opt.adapters.<backend>.BACKEND`). Data that
cannot serve as a collection is refused here, naming its key, before anything is built.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..adapters.names import text_problem
from ..adapters.spec import SourceSpec
from ..errors import ConfigError
from ..synthetic import Corpus, random_corpus
from .schema import FileData, SourceConfig, SyntheticData

ROW_OVERHEAD = 300  # bytes a row takes besides its vector: its item, metadata dict, index entry


def source_spec(source: SourceConfig) -> SourceSpec:
    """What the backend is handed for a `source` block: its keys, the filter already parsed,
    and `data` as a function reading the corpus when the backend needs it."""
    data = source.data
    return SourceSpec(
        backend=source.backend,
        url=source.url,
        path=source.path,
        api_key=source.api_key,
        collection=source.collection,
        k=source.k,
        filter=source.parsed_filter,
        item_key=source.item_key,
        data=None if data is None else functools.partial(load_corpus, data),
        options=dict(source.options),
    )


def load_corpus(data: SyntheticData | FileData) -> Corpus:
    """The vectors, items and metadata a `source.data` block describes."""
    if not isinstance(data, FileData):
        check_fits(data.n, data.dim, f"source.data.n: {data.n} rows of {data.dim} dimensions")
        return random_corpus(data.n, data.dim, data.seed)
    embeddings = _read_embeddings(data.embeddings)
    metadata: list[dict[str, Any]] = [{} for _ in range(len(embeddings))]
    if data.metadata is not None:
        metadata = _read_metadata(data.metadata)
        if len(metadata) != len(embeddings):
            raise ConfigError(
                f"source.data.metadata: {len(metadata)} rows for {len(embeddings)} embeddings"
            )
    items = (
        [row.get(data.items_key) for row in metadata] if data.items_key else [None] * len(metadata)
    )
    return Corpus(embeddings, items, metadata)


def check_fits(rows: int, dimension: int, what: str) -> None:
    """Refuse, before allocating, a collection that cannot fit in this machine's memory or
    in what this process may still map (`ulimit -v`)."""
    need, have, room = memory_need(rows, dimension), physical_memory(), address_space_left()
    if have is not None and need > have:
        raise ConfigError(
            f"{what} need about {_size(need)} of memory; this machine has {_size(have)}"
        )
    if room is not None and need > room:
        raise ConfigError(
            f"{what} need about {_size(need)} of memory; this process may take only "
            f"{_size(max(room, 0))} more (its address-space limit, ulimit -v)"
        )


def memory_need(rows: int, dimension: int) -> int:
    """Bytes a collection of `rows` vectors takes, roughly: two float32 copies and more."""
    return rows * (8 * dimension + ROW_OVERHEAD)


def address_space_left() -> int | None:
    """Bytes this process may still map under its address-space limit (None: no limit)."""
    try:
        import resource
    except ImportError:  # not a Unix system: no such limit
        return None
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):  # no /proc: the limit as a whole
        return limit
    return limit - pages * os.sysconf("SC_PAGE_SIZE")


def physical_memory() -> int | None:
    """Bytes of RAM (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _read_embeddings(path: str) -> np.ndarray:
    """A non-empty 2-D matrix of finite numbers from an .npy file, as float32."""
    where = f"source.data.embeddings: {path!r}"
    try:
        array = np.load(path, mmap_mode="r")  # the shape first: nothing read yet
    except (OSError, ValueError) as error:
        raise ConfigError(f"{where}: cannot read it ({error})") from None
    if not isinstance(array, np.ndarray):
        raise ConfigError(f"{where} is an .npz archive; expected one array in an .npy file")
    if array.ndim != 2 or 0 in array.shape:
        raise ConfigError(
            f"{where} holds an array of shape {array.shape}; expected a 2-D array with a row "
            "per item (n, dimension)"
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ConfigError(f"{where} holds {array.dtype} values; expected numbers")
    rows, dimension = array.shape
    check_fits(rows, dimension, f"{where}: {rows} rows of {dimension} dimensions")
    try:  # float32 stays mapped from the file (and travels to other processes as the file)
        embeddings = np.asarray(array, dtype=np.float32)
        finite = np.isfinite(embeddings).all(axis=1)
    except MemoryError:
        raise ConfigError(
            f"{where}: {rows} rows of {dimension} dimensions need about "
            f"{_size(memory_need(rows, dimension))} of memory; not enough is free to load them"
        ) from None
    if not finite.all():
        raise ConfigError(f"{where}: row {int(np.argmin(finite))} holds a NaN or infinite value")
    return embeddings


def _read_metadata(path: str) -> list[dict[str, Any]]:
    """One JSON object per non-empty line of a .jsonl file, its text storable as UTF-8."""
    where = f"source.data.metadata: {path!r}"
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{where}: cannot read it ({error})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise ConfigError(f"{where}: line {number} is not valid JSON ({error})") from None
        except RecursionError:
            raise ConfigError(f"{where}: line {number} is nested too deeply to read") from None
        if not isinstance(row, dict):
            raise ConfigError(
                f"{where}: line {number} is a {type(row).__name__}; expected a JSON object "
                '(the metadata of one item, e.g. {"price": 3.5})'
            )
        for key, value in row.items():
            if problem := text_problem(key) or text_problem(value):
                raise ConfigError(f"{where}: line {number}, key {key!r}: it holds {problem}")
        rows.append(row)
    return rows
