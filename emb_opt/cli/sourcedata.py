"""What a run's source data was when it started, so that continuing over changed data is
refused (the manifest's `source_data`).

- `source.data` files of an in-process backend (numpy, faiss, hf): each file's path, size,
  mtime, ctime, inode and SHA-256, of the whole file up to 64 MiB; above that, of its size and
  64 blocks of 1 MiB spread evenly over it (then a changed mtime, ctime or inode counts as a
  change too, as a sample can miss an edit: any write sets the ctime, which nobody can set
  back, and a file put in its place has another inode).
- The source as the search sees it (any backend, a database collection or vectors in memory):
  how many items the filter accepts (`count()`), the dimension, the SHA-256 of the first 32
  items a scan yields (ids, embeddings, items, metadata, in id order), and of 64 items drawn
  at random across the whole collection when the run started (`Sampleable.sample`: on a
  database one scan of the ids, once per run), whose ids are recorded and fetched again by id
  at every later check (`Fetchable.fetch`: one call): one count, one scan page, one fetch.
- Synthetic data is its parameters, which the config's fingerprint already covers.

The fingerprint of `source.data` files read in process is kept in the run directory
(`.emb-opt-source.json`) under their cheap identity (`files_identity`: the source block, and
each file's path, size, mtime, ctime, inode and device), so a command over unchanged files
reads no data to check it. A database collection is checked by every command that changes
the run; the manifest's `source_checked` says when the last check was and what it found
(`status` shows it, and compares the recorded identity of files with what is there now).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from ..adapters.backend import builtin_backends
from ..atomic import write_atomically
from ..config import config_changes
from ..config.schema import FileData, SourceConfig
from ..errors import ConfigError, UnknownIdError
from ..protocols import Fetchable, Sampleable, Scannable, Searchable

ACCEPT_FLAG = "--accept-changed-data"
WHOLE_FILE_LIMIT = 64 * 2**20
SAMPLED_BLOCKS, BLOCK_BYTES = 64, 2**20
FIRST_ITEMS, SAMPLED_ITEMS = 32, 64
CACHE = ".emb-opt-source.json"
CACHE_FORMAT = 2  # changes whenever what a fingerprint holds does


class FileFingerprint(BaseModel):
    """A `source.data` file as the run found it (runs of earlier versions recorded no path,
    ctime or inode)."""

    size: int
    mtime: float
    sha256: str
    hashed: Literal["whole", "sampled"]
    path: str | None = None
    ctime: float | None = None
    inode: int | None = None


class ItemsFingerprint(BaseModel):
    """The items a source serves as the run found them (`sampled`: of the items with the ids
    `sampled_ids`, drawn when the run started; earlier versions recorded none)."""

    count: int
    dimension: int
    first: str
    sampled_ids: list[Any] | None = None
    sampled: str | None = None


SourceData = dict[str, FileFingerprint | ItemsFingerprint]  # the manifest's `source_data`


def source_fingerprint(
    config: SourceConfig, source: Searchable, before: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The fingerprint of the data `source` (built from `config`) serves, by what it names;
    the items sampled are those `before` (the run's last fingerprint) sampled, if it did."""
    found = {}
    server = _is_server(config)
    if isinstance(config.data, FileData) and not server:  # a server's data is its collection
        for key in ("embeddings", "metadata"):
            path = getattr(config.data, key)
            if path is not None:
                found[f"source.data.{key}"] = file_fingerprint(Path(path))
    name = f"collection {config.collection}" if server else f"{config.backend} source"
    items = _items_fingerprint(source, ((before or {}).get(name) or {}).get("sampled_ids"))
    if items is not None:
        found[name] = items
    return found


def files_identity(config: SourceConfig) -> str | None:
    """What the fingerprint of a source of `source.data` files read in process is kept under:
    a hash of its source block and of each file's path, size, mtime, ctime, inode and device.
    None for any other source (a database collection, synthetic data)."""
    if not isinstance(config.data, FileData) or _is_server(config):
        return None
    parts: dict[str, Any] = {"format": CACHE_FORMAT, "source": config.model_dump(mode="json")}
    for key in ("embeddings", "metadata"):
        name = getattr(config.data, key)
        if name is not None:
            path = Path(name)
            stat = path.stat()
            parts[key] = [str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]
            parts[key] += [stat.st_ino, stat.st_dev]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cached_fingerprint(directory: Path, identity: str | None) -> dict[str, dict[str, Any]] | None:
    """The fingerprint `directory` keeps under `identity` (None: none, or another's)."""
    if identity is None:
        return None
    try:
        saved = json.loads((directory / CACHE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("identity") != identity:
        return None
    found = saved.get("source_data")
    return found if isinstance(found, dict) else None


def keep_fingerprint(directory: Path, identity: str | None, found: dict[str, Any]) -> None:
    """Keep `found` in `directory` under `identity` (None: nothing to keep it under)."""
    if identity is not None:
        document = {"identity": identity, "source_data": found}
        write_atomically(directory / CACHE, json.dumps(document))


def _is_server(config: SourceConfig) -> bool:
    """Whether the source is a server's collection (its data is that, not `source.data`)."""
    return getattr(builtin_backends().get(config.backend), "open_client", None) is not None


def file_fingerprint(path: Path) -> dict[str, Any]:
    """Size, mtime and SHA-256 of a file (whole, or sampled above `WHOLE_FILE_LIMIT`)."""
    stat = path.stat()
    digest = hashlib.sha256()
    sampled = stat.st_size > WHOLE_FILE_LIMIT
    with open(path, "rb") as handle:
        if not sampled:
            for chunk in iter(lambda: handle.read(BLOCK_BYTES), b""):
                digest.update(chunk)
        else:
            digest.update(str(stat.st_size).encode())
            last = stat.st_size - BLOCK_BYTES
            for block in range(SAMPLED_BLOCKS):
                handle.seek(last * block // (SAMPLED_BLOCKS - 1))
                digest.update(handle.read(BLOCK_BYTES))
    hashed = "sampled" if sampled else "whole"
    return {
        "size": stat.st_size,
        "mtime": stat.st_mtime,
        "sha256": digest.hexdigest(),
        "hashed": hashed,
        **file_identity(path),
    }


def file_identity(path: Path) -> dict[str, Any]:
    """What tells a file changed without reading it: its path, ctime and inode (with the
    size and mtime `file_fingerprint` records beside)."""
    stat = path.stat()
    return {"path": str(path.resolve()), "ctime": stat.st_ctime, "inode": stat.st_ino}


def _items_fingerprint(source: Searchable, sampled_ids: list[Any] | None) -> dict[str, Any] | None:
    """Count, dimension, a hash of the first scan page and one of the items `sampled_ids`
    (None: drawn now) fetched by id (None: the source cannot say)."""
    if not isinstance(source, Scannable):
        return None
    try:
        count, dimension = source.count(), source.dimension
        first = next(iter(source.scan(batch_size=FIRST_ITEMS)), None)
    except NotImplementedError:
        return None
    digest = hashlib.sha256()
    if first is not None:
        for row in sorted(range(len(first.ids)), key=lambda i: _id_order(first.ids[i])):
            item = first.items[row] if first.items is not None else None
            metadata = first.metadata[row] if first.metadata is not None else None
            _add_item(digest, first.ids[row], item, metadata, first.embeddings[row])
    found = {"count": count, "dimension": dimension, "first": digest.hexdigest()}
    if isinstance(source, Sampleable) and isinstance(source, Fetchable):
        if sampled_ids is None:
            sampled_ids = [_plain(item.id) for item in source.sample(SAMPLED_ITEMS, seed=0)]
        found |= {"sampled_ids": sampled_ids, "sampled": _sampled(source, sampled_ids)}
    return found


def _sampled(source: Fetchable, ids: list[Any]) -> str:
    """The SHA-256 of the items with `ids`, fetched by id (of the ids gone, when some are)."""
    digest = hashlib.sha256()
    try:
        for item in source.fetch(ids):
            _add_item(digest, item.id, item.item, item.data, item.embedding)
    except UnknownIdError as error:
        return hashlib.sha256(f"gone: {error}".encode()).hexdigest()
    return digest.hexdigest()


def _add_item(digest: Any, id: Any, item: Any, metadata: Any, embedding: Any) -> None:
    text = json.dumps([id, item, metadata], sort_keys=True, default=str)
    digest.update(text.encode())
    digest.update(np.ascontiguousarray(embedding, dtype="<f4").tobytes())


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON keeps (ids as a manifest records them)."""
    return value.item() if isinstance(value, np.generic) else value


def _id_order(value: Any) -> tuple[str, str]:
    return type(value).__name__, str(value)


def changes(before: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> list[str]:
    """What differs between two fingerprints, one phrase per change."""
    found = []
    for name, was in before.items():
        new = now.get(name)
        if new is None:
            found.append(f"{name}: no longer part of the source")
        elif "count" in was:
            found += _items_changes(name, was, new)
        else:
            found += _file_changes(name, was, new)
    return found


def _file_changes(name: str, was: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if was["size"] != new["size"]:
        return [f"{name}: size {was['size']} -> {new['size']} bytes"]
    if was["sha256"] != new["sha256"]:
        return [
            f"{name}: content changed since the run started (sha256 {was['sha256'][:12]} "
            f"-> {new['sha256'][:12]})"
        ]
    if was["hashed"] == "whole":
        return []
    sampled = f"; a file over {WHOLE_FILE_LIMIT // 2**20} MiB is hashed in samples"
    if was.get("inode") not in (None, new.get("inode")):
        what = f"inode {was['inode']} -> {new['inode']}"
        return [f"{name}: another file since the run started ({what}{sampled})"]
    for key in ("mtime", "ctime"):
        if was.get(key) not in (None, new.get(key)):
            what = f"{key} {when(was[key])} -> {when(new[key])}"
            return [f"{name}: modified since the run started ({what}{sampled})"]
    return []


def _items_changes(name: str, was: dict[str, Any], new: dict[str, Any]) -> list[str]:
    found = [
        f"{name}: {key} {was[key]} -> {new[key]}"
        for key in ("count", "dimension")
        if was[key] != new[key]
    ]
    if not found and was["first"] != new["first"]:
        found.append(
            f"{name}: its first {FIRST_ITEMS} items changed (sha256 {was['first'][:12]} -> "
            f"{new['first'][:12]})"
        )
    if not found and was.get("sampled") not in (None, new.get("sampled")):
        found.append(
            f"{name}: of {len(was['sampled_ids'])} items sampled across it when the run "
            f"started, some changed or are gone (sha256 {was['sampled'][:12]} -> "
            f"{new['sampled'][:12]})"
        )
    return found


def when(seconds: float) -> str:
    """A file time or moment in local time, to the millisecond."""
    milliseconds = int(seconds * 1000) % 1000
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{milliseconds:03d}"


class SourceDataChanged(ConfigError):
    """The source data differs from what the run recorded; `checked` is the manifest field
    saying so (kept even though the command is refused)."""

    def __init__(self, message: str, checked: dict[str, Any]) -> None:
        super().__init__(message)
        self.checked = checked


def source_data_record(
    manifest: dict[str, Any] | None,
    raw_config: dict[str, Any],
    now: dict[str, dict[str, Any]],
    what: str,
    accept: bool = False,
) -> dict[str, Any]:
    """The manifest fields recording `now`, the data the run goes on with, and the check
    (`source_checked`: when, what it found, whether it was accepted). A SourceDataChanged
    (its message starting with `what`) if the manifest of the same config recorded other
    data, unless `accept`: then the fields also keep what changed, when, and that it was
    accepted."""
    checked: dict[str, Any] = {"at": time.time(), "changes": [], "accepted": False}
    record: dict[str, Any] = {"source_data": now, "source_checked": checked}
    if manifest is None or config_changes(manifest, raw_config):
        return record  # a new run (or another config's, which claiming refuses)
    found = changes(manifest.get("source_data") or {}, now)
    checked["changes"] = found
    if not found:
        return record
    if not accept:
        raise SourceDataChanged(
            f"{what}: refused, the source data changed: {'; '.join(found)}; "
            f"restore it, or pass {ACCEPT_FLAG} to continue with the data as it is now",
            checked,
        )
    checked["accepted"] = True
    accepted = {"at": checked["at"], "changes": found}
    return {
        **record,
        "accepted_data_changes": [*manifest.get("accepted_data_changes", []), accepted],
    }
