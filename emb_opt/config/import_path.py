"""Plugins beside the config: while a run is built and runs, the config file's folder and the
working directory are on the import path, so `score: {function: "myscore:score"}` finds
`myscore.py` next to the config wherever the command runs from."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

_CONFIG_FOLDERS: list[Path] = []  # the folders of the configs being run, innermost last


@contextmanager
def config_folder_on_path(folder: str | os.PathLike) -> Iterator[None]:
    """Put `folder` (a config file's folder), then the working directory, first on `sys.path`
    for the duration. Modules first imported from them meanwhile are forgotten afterwards, so
    another config's `myscore.py` is its own."""
    config_folder = Path(folder).resolve()
    folders = list(dict.fromkeys([config_folder, Path.cwd().resolve()]))
    entries = [str(path) for path in folders]
    before = set(sys.modules)
    sys.path[:0] = entries
    _CONFIG_FOLDERS.append(config_folder)
    importlib.invalidate_caches()  # the files may be newer than the import system's listings
    try:
        yield
    finally:
        _CONFIG_FOLDERS.pop()
        for entry in entries:
            sys.path.remove(entry)
        for name in set(sys.modules) - before:
            top = sys.modules.get(name.partition(".")[0])
            if top is not None and _home(top) in folders:
                del sys.modules[name]


def _home(module: ModuleType) -> Path | None:
    """The import path entry a top-level module was found in (None: not from a file)."""
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return None
    path = Path(file).resolve()
    return path.parent.parent if path.stem == "__init__" else path.parent


def not_found(missing: str) -> str:
    """Where module `missing` was looked for and how to make it importable."""
    file = missing.replace(".", "/") + ".py"
    if not _CONFIG_FOLDERS:
        return (
            f"no module {missing!r} on the import path; install it, or add the folder of "
            f"{file} to PYTHONPATH"
        )
    return (
        f"no module {missing!r} in the config's folder ({_CONFIG_FOLDERS[-1]}), the working "
        f"directory ({Path.cwd()}) or the installed packages; put {file} beside the config, "
        "or install it, or add its folder to PYTHONPATH"
    )
