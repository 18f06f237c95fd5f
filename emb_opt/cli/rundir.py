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
from ..config import fingerprint, redacted
from ..errors import ConfigError
from ..log import SearchLog

MANIFEST, LOG = "manifest.json", "log.json"
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


class RunDirectory:
    """The files of one run: manifest.json, log.json (checkpoint), results and plots."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def log_path(self) -> Path:
        return self.path / LOG

    def manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / MANIFEST).read_text())
        except FileNotFoundError:
            return None

    def claim(self, raw_config: dict[str, Any], resume: bool) -> None:
        """Make sure this directory is ours for this config; start the manifest."""
        manifest = self.manifest()
        mark = fingerprint(raw_config)
        if manifest is None:
            if resume:
                raise ConfigError(f"--resume: {self.path} holds no run to resume")
            if self.path.exists() and any(self.path.iterdir()):
                raise ConfigError(
                    f"output directory {self.path} is not empty and holds no emb_opt run; "
                    "choose another --output"
                )
        elif manifest.get("fingerprint") != mark:
            what = "--resume with a changed config" if resume else "another run"
            raise ConfigError(
                f"{what}: {self.path} holds the run of a different config "
                f"(fingerprint {manifest.get('fingerprint')}, this one {mark}); "
                "restore the config, or choose another --output"
            )
        elif not resume:
            raise ConfigError(
                f"{self.path} already holds this run ({manifest.get('status')}); "
                "pass --resume to continue it, or choose another --output"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        started = manifest["started"] if manifest else time.time()
        self.write_manifest(
            {
                "fingerprint": mark,
                "config": redacted(raw_config),
                "status": "running",
                "started": started,
                "versions": package_versions(),
            }
        )

    def write_manifest(self, fields: dict[str, Any]) -> None:
        document = {**(self.manifest() or {}), **fields, "updated": time.time()}
        write_atomically(self.path / MANIFEST, json.dumps(document, indent=2, default=str))

    def load_log(self) -> SearchLog:
        if not self.log_path.exists():
            raise ConfigError(f"--resume: {self.path} has no {LOG} checkpoint yet")
        return SearchLog.load(self.log_path)

    def start_checkpoints(self, log: SearchLog) -> None:
        """Write the log whole (compacting any earlier checkpoints); later ones append."""
        log.save(self.log_path)
        self._mark = log.mark()

    def checkpoint(self, log: SearchLog) -> None:
        """Append what the last iteration added: cheap, whatever the size of the log."""
        self._mark = log.append_to(self.log_path, self._mark)
