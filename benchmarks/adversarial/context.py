"""What every row of the pass shares: its commands, its folder, and runs made once."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .harness import Commands
from .lab import external, results, write_config

SERVICE = Path(__file__).resolve().parents[2] / "examples" / "scoring_service.py"


@dataclass
class Pass:
    """The commands (`Commands`), the pass's folder, `quick` (fewer repetitions) and the
    number of random `seeds`; `dir(name)` is a new empty folder in it."""

    commands: Commands
    work: Path
    quick: bool
    seeds: int
    cached: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # each row's, as it ran

    def dir(self, name: str) -> Path:
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def asked(self) -> tuple[Path, Path, Path]:
        """A fresh copy of an ask/tell run with its first round out as two plates of 6: the
        run and the two plates (unscored)."""
        if "asked" not in self.cached:
            folder = self.dir("asked-base")
            config = external(folder / "lab.yaml", "lab")
            plates = []
            for target in (config, folder / "lab"):
                done = self.commands.run("ask", str(target), "--n", "6", cwd=folder)
                if done.code != 0:
                    raise RuntimeError(f"cannot start the ask/tell run: {done.said()}")
                plates.append(Path(done.out.strip().splitlines()[-1]).name)
            self.cached["asked"] = (folder / "lab", plates)
        base, plates = self.cached["asked"]
        copy = self.work / f"asked-{len(list(self.work.glob('asked-[0-9]*')))}"
        shutil.copytree(base, copy)
        return copy, copy / "ask" / plates[0], copy / "ask" / plates[1]

    def straight(self) -> tuple[Path, list[dict[str, Any]]]:
        """The config every `run` of the pass uses and the results of running it uninterrupted."""
        if "straight" not in self.cached:
            folder = self.dir("straight")
            config = write_config(folder / "run.yaml", folder / "out")
            done = self.commands.run("run", str(config), "--quiet", cwd=folder)
            if done.code != 0:
                raise RuntimeError(f"the uninterrupted run failed: {done.said()}")
            self.cached["straight"] = (config, results(folder / "out"))
        return self.cached["straight"]

    def service(self) -> ModuleType:
        """examples/scoring_service.py (the reference scoring service, `Faults`)."""
        if "service" not in self.cached:
            spec = importlib.util.spec_from_file_location("scoring_service", SERVICE)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            self.cached["service"] = module
        return self.cached["service"]
