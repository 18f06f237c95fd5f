"""A run's output directory: who owns it, the checkpointed log, the manifest."""

from __future__ import annotations

import json
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..adapters.backend import builtin_backends
from ..atomic import write_atomically
from ..config import EXTENDABLE, config_changes, fingerprint
from ..errors import ConfigError
from ..log import CHECKPOINTS, LogWriter, SearchLog, load_log, open_log, read_checkpoint
from ..masking import mask_config, mask_secrets
from .lock import LOCK_FILES
from .manifest import MANIFEST, read_manifest
from .outputs import run_figures
from .sourcedata import CACHE
from .stdout import tidy_path

LOG, VERSION_1_LOG = "log", "log.json"
CORE_PACKAGES = ("emb-opt", "numpy", "pydantic")
EXECUTOR_PACKAGES = ("ray", "httpx")


def package_versions() -> dict[str, str]:
    """Python's version and every installed package a run may use (backends: their
    descriptors' packages)."""
    backend_packages = [name for b in builtin_backends().values() for name in b.packages]
    found = {"python": platform.python_version()}
    for name in dict.fromkeys([*CORE_PACKAGES, *backend_packages, *EXECUTOR_PACKAGES]):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def extended_blocks(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The blocks a run may change (`EXTENDABLE`) that differ between two masked configs,
    each as the manifest records it: `{"stop_before": ..., "stop_after": ...}`."""
    return {
        block: {f"{block}_before": before.get(block), f"{block}_after": after.get(block)}
        for block in EXTENDABLE
        if before.get(block) != after.get(block)
    }


class RunDirectory:
    """The files of one run: manifest.json, the checkpointed log (`log/`), results and plots."""

    def __init__(self, path: str | Path) -> None:
        self.path = tidy_path(path)
        self._writer: LogWriter | None = None
        self._checkpointed = 0  # iterations finished at the last checkpoint (history entries)
        self._figures: dict[str, Any] = {}  # the manifest's figures at the last checkpoint
        self._appending = False
        self._changes: dict[str, dict[str, Any]] = {}  # changed EXTENDABLE blocks, to record

    @property
    def log_path(self) -> Path:
        return self.path / LOG

    def has_log(self) -> bool:
        """Has the run a checkpoint (a complete line in its log, or a version 1 log)? A run
        killed before its first has none: its directory counts as fresh."""
        return _has_a_line(self.log_path / CHECKPOINTS) or (self.path / VERSION_1_LOG).exists()

    def is_fresh(self) -> bool:
        """Does the directory hold no checkpoint and only what a run writes before its first
        (lock files, an emb_opt manifest, the source's fingerprint, the log directory,
        temporary files of these), or nothing at all?"""
        if self.has_log():
            return False
        names = [p.name for p in self.path.iterdir()] if self.path.is_dir() else []
        if not all(_before_first_checkpoint(name) for name in names):
            return False
        self.manifest()  # a ConfigError if a manifest.json is not one emb_opt wrote
        return True

    def manifest(self) -> dict[str, Any] | None:
        """The run's manifest (None: there is none); a ConfigError if it is not a manifest."""
        return read_manifest(self.path)

    def claim(
        self,
        raw_config: dict[str, Any],
        resume: bool,
        status: str | None = "running",
        **more: Any,
    ) -> None:
        """Make sure this directory is ours for this config (its `stop` and `executor` blocks
        may have changed: that is kept for `start_checkpoints` to record); start the manifest (with
        `status`, None keeps the one it has, and `more`). A run killed before its first
        checkpoint is started afresh. Call it holding the directory's lock."""
        manifest = self.manifest() if self.has_log() else None
        if manifest is None:
            self.refuse_unfit(resume)
            self._clear()
        else:
            self._same_run(manifest, raw_config, resume)
            if not resume:
                raise ConfigError(
                    f"{self.path} already holds this run ({manifest.get('status')}); "
                    "pass --resume to continue it, or choose another --output"
                )
            before = mask_config(manifest["config"])  # an older emb_opt may have masked less
            self._changes = extended_blocks(before, mask_config(raw_config))
        self.path.mkdir(parents=True, exist_ok=True)
        fields = {
            "fingerprint": fingerprint(raw_config, extendable=True),
            "config": mask_config(raw_config),
            "started": manifest["started"] if manifest else time.time(),
            "versions": package_versions(),
            **more,
        }
        self.write_manifest(fields if status is None else {**fields, "status": status})

    def refuse_unfit(self, resume: bool) -> None:
        """A ConfigError when this directory holds files but no emb_opt run, or no checkpoint
        to `resume` (checked before taking its lock, which creates it, and again holding
        it); a fresh one (see `is_fresh`) is fit for a new run."""
        if self.has_log() and self.manifest() is not None:
            return
        if resume:
            raise ConfigError(
                f"--resume: {self.path} holds no run to resume (no checkpoint); run the same "
                "command without --resume to start it"
            )
        if not self.is_fresh():
            raise ConfigError(
                f"output directory {self.path} is not empty and holds no emb_opt run; "
                "choose another --output"
            )

    def _clear(self) -> None:
        """Remove the manifest and temporary files a run killed before its first checkpoint
        left (its log directory goes when the new log is written)."""
        for path in self.path.iterdir() if self.path.is_dir() else []:
            if path.name == MANIFEST or path.name.endswith(".tmp"):
                path.unlink()

    def _same_run(self, manifest: dict[str, Any], raw_config: dict[str, Any], resume: bool) -> None:
        """A ConfigError naming the changed keys unless `raw_config` is the manifest's config
        but for the blocks a run may change (`config_changes`)."""
        changed = config_changes(manifest, raw_config)
        if changed:
            what = "--resume with a changed config" if resume else "another run"
            raise ConfigError(
                f"{what}: {self.path} holds the run of a config that differs in "
                f"{', '.join(changed)} (only the {' and '.join(EXTENDABLE)} blocks may change); "
                "restore those keys, or choose another --output"
            )

    def write_manifest(self, fields: dict[str, Any]) -> None:
        document = {**(self.manifest() or {}), **fields, "updated": time.time()}
        document = mask_secrets(document)  # errors naming a URL or DSN (the config is masked)
        write_atomically(self.path / MANIFEST, json.dumps(document, indent=2, default=str))

    def read_log(self) -> SearchLog:
        """The run's log as it stands (read only)."""
        if (self.log_path / CHECKPOINTS).exists():
            return load_log(self.log_path)
        return load_log(self.path / VERSION_1_LOG)

    def read_checkpoint(self) -> tuple[SearchLog, int, dict[str, Any] | None]:
        """The run's log, the sequence number of its last checkpoint and that one's annex
        (read only)."""
        return read_checkpoint(self.log_path)

    def resume_log(self) -> SearchLog:
        """The run's log, ready for more checkpoints (a version 1 `log.json` is rewritten as
        a log directory by `start_checkpoints`); `claim` made sure there is one."""
        if (self.log_path / CHECKPOINTS).exists():
            log, self._writer = open_log(self.log_path)
            return log
        return load_log(self.path / VERSION_1_LOG)

    def start_checkpoints(self, log: SearchLog) -> None:
        """Write the log whole, unless it was read from this directory; later ones append."""
        if self._writer is None:
            self._writer = LogWriter.create(self.log_path, log)
            (self.path / VERSION_1_LOG).unlink(missing_ok=True)
        self._checked(log)
        if self._changes:
            manifest, at = self.manifest() or {}, {"at_iteration": log.counters.iterations}
            recorded = {
                f"{block}_changes": [*manifest.get(f"{block}_changes", []), {**at, **change}]
                for block, change in self._changes.items()
            }
            self.write_manifest(recorded)
            self._changes = {}

    def checkpoint(self, log: SearchLog, annex: dict[str, Any] | None = None) -> None:
        """Append what the last iteration added (and `annex`, committed with it, see
        `LogWriter.append`): cheap, whatever the size of the log."""
        assert self._writer is not None, "start_checkpoints first"
        self._appending = True
        self._writer.append(log, annex)
        self._appending = False
        self._checked(log)

    def _checked(self, log: SearchLog) -> None:
        self._checkpointed, self._figures = len(log.history), run_figures(log)

    def keep_finished(self, log: SearchLog) -> dict[str, Any]:
        """After an interrupt: checkpoint an iteration `log` finished since the last checkpoint
        (an iteration ends by recording its history entry, so one half done is never
        written, nor anything after a checkpoint that was cut short), flush to disk, and
        return the manifest's figures of the log on disk."""
        finished = len(log.history) > self._checkpointed
        if finished and self._writer is not None and not self._appending:
            self.checkpoint(log)
        self.sync()
        return self._figures

    @property
    def sequence(self) -> int:
        """The sequence number of the last checkpoint written (-1: none)."""
        return -1 if self._writer is None else self._writer.sequence

    @property
    def annex(self) -> dict[str, Any] | None:
        """The annex of the last checkpoint written or read."""
        return None if self._writer is None else self._writer.annex

    def sync(self) -> None:
        """Flush the checkpoints to disk (they are, at the latest, a second after writing)."""
        if self._writer is not None:
            self._writer.sync()


def _has_a_line(path: Path) -> bool:
    """Does the file at `path` hold a complete line (read up to its first newline)?"""
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(2**16):
                if b"\n" in chunk:
                    return True
    except FileNotFoundError:
        pass
    return False


def _before_first_checkpoint(name: str) -> bool:
    """Is `name` a file a run writes before its first checkpoint, or a temporary one of it?"""
    written = (*LOCK_FILES, MANIFEST, CACHE, LOG)
    return name in written or any(
        name.startswith(f".{file}.") and name.endswith(".tmp") for file in written
    )
