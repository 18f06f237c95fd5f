"""What a command needs installed, checked before it writes anything: a package missing
(an install with `--no-deps`, or one removed since) is one line naming it and the extra
that brings it, never a failure after the first iteration with a run directory left behind."""

from __future__ import annotations

import importlib.util

from ..errors import missing_dependency

WRITES_OUTPUTS = ("pyarrow", "matplotlib")  # results.parquet, the plots
NEEDS = {
    "run": WRITES_OUTPUTS,
    "demo": WRITES_OUTPUTS,
    "ask": WRITES_OUTPUTS,
    "tell": WRITES_OUTPUTS,
    "plot": ("matplotlib",),
}


def check_installed(command: str) -> None:
    """An ImportError naming the first package `emb-opt COMMAND` needs that is missing."""
    for package in NEEDS.get(command, ()):
        if importlib.util.find_spec(package) is None:
            raise ImportError(
                f"emb-opt {command} needs {package}: {missing_dependency(package, 'cli')}"
            )
