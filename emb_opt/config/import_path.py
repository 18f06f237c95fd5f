"""Plugins beside the config: while a run is built and runs, the config file's folder and the
working directory are on the import path, so `score: {function: "myscore:score"}` finds
`myscore.py` next to the config wherever the command runs from."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


@dataclass(frozen=True)
class _OnPath:
    """One `config_folder_on_path`: the folders it put on the path, the modules before it."""

    config_folder: Path
    folders: tuple[Path, ...]
    before: frozenset[str]

    def imported(self) -> list[str]:
        """The modules first imported from `folders` since (packages with their submodules;
        not new submodules of a package imported before, such as emb_opt's own)."""
        new = set(sys.modules) - self.before
        tops = {name for name in new if "." not in name and _home(sys.modules[name]) in self}
        return [name for name in new if name.partition(".")[0] in tops]

    def __contains__(self, folder: Path | None) -> bool:
        return folder in self.folders


_ACTIVE: list[_OnPath] = []  # innermost last


@contextmanager
def config_folder_on_path(folder: str | os.PathLike) -> Iterator[None]:
    """Put `folder` (a config file's folder), then the working directory, first on `sys.path`
    for the duration. Modules first imported from them meanwhile are forgotten afterwards, so
    another config's `myscore.py` is its own."""
    config_folder = Path(folder).resolve()
    folders = tuple(dict.fromkeys([config_folder, Path.cwd().resolve()]))
    scope = _OnPath(config_folder, folders, frozenset(sys.modules))
    entries = [str(path) for path in folders]
    sys.path[:0] = entries
    _ACTIVE.append(scope)
    importlib.invalidate_caches()  # the files may be newer than the import system's listings
    try:
        yield
    finally:
        _ACTIVE.remove(scope)
        for entry in entries:
            sys.path.remove(entry)
        for name in scope.imported():
            del sys.modules[name]


def modules_beside_config() -> list[ModuleType]:
    """The modules imported from the folders of the configs being run: they are not installed,
    so an executor that ships plugins to other processes must send their code with them."""
    return [sys.modules[name] for scope in _ACTIVE for name in scope.imported()]


def _home(module: ModuleType | None) -> Path | None:
    """The folder a top-level module was imported from (None: not from a file)."""
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return None
    path = Path(file).resolve()
    return path.parent.parent if path.stem == "__init__" else path.parent


def not_found(missing: str) -> str:
    """Where module `missing` was looked for and how to make it importable."""
    file = missing.replace(".", "/") + ".py"
    if not _ACTIVE:
        return (
            f"no module {missing!r} on the import path; install it, or add the folder of "
            f"{file} to PYTHONPATH"
        )
    return (
        f"no module {missing!r} in the config's folder ({_ACTIVE[-1].config_folder}), the "
        f"working directory ({Path.cwd()}) or the installed packages; put {file} beside the "
        "config, or install it, or add its folder to PYTHONPATH"
    )
