"""`emb-opt inspect DIR`: a summary table of a run and its best results.

A running run rewrites its manifest's counters and its results every few seconds (see
`outputs.LiveOutputs`), so `inspect` shows where it stands; a run the manifest calls running
that no live process holds is shown `stopped (killed?)`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..codec import decode
from ..errors import ConfigError
from .lock import is_held
from .outputs import result_rows, top_table
from .rundir import RunDirectory


def summary(path: Path, top: int = 10) -> str:
    """The text `inspect` prints."""
    directory = RunDirectory(path)
    manifest = directory.manifest()
    if manifest is None:
        raise ConfigError(f"{path} holds no emb_opt run (no manifest.json)")
    results_file = path / "results.jsonl"
    log = directory.read_log() if directory.has_log() else None
    if results_file.exists():
        rows = [json.loads(line) for line in results_file.read_text().split("\n") if line]
    elif log is not None:
        rows = result_rows(log)
    else:
        rows = []
    counters = manifest.get("counters", {})
    source = manifest.get("config", {}).get("source", {})
    facts = [
        ("run", str(directory.path)),
        ("status", _status(directory)),
        ("stopped", manifest.get("stopped", "-")),
        ("backend", str(source.get("backend", "?"))),
        ("iterations", counters.get("iterations", "-")),
        ("score calls", counters.get("score_calls", "-")),
        ("database calls", counters.get("data_source_calls", "-")),
        ("unique items", counters.get("unique_items", "-")),
        ("NaN/inf scores", counters.get("non_finite_scores", "-")),
        ("direction", manifest.get("direction", "maximize")),
        ("known scores", counters.get("known_scores", 0)),
        ("best score", _number(manifest.get("best_score"), 6)),
        ("search seconds", _number(manifest.get("search_seconds"))),
    ]
    reads = model_reads(log.strategy_state if log is not None else None)
    if reads is not None:
        facts.append(("model reads", reads))
    width = max(len(name) for name, _ in facts)
    lines = [f"{name:<{width}}  {value}" for name, value in facts]
    if rows:
        lines += ["", top_table(rows, top)]
    return "\n".join(lines)


def model_reads(state: Any) -> str | None:
    """What the guided model reads, as its last `fields="auto"` choice in a saved strategy
    state says (None when no strategy chose its fields)."""
    found = None
    if isinstance(state, dict) and state.get("__type__") == "FieldChoice":
        from ..update.field_choice import FieldChoice

        return "embedding + " + decode(state, [FieldChoice]).describe()
    for value in state.values() if isinstance(state, dict) else state or ():
        if isinstance(value, (dict, list)):
            found = model_reads(value) or found
    return found


def _status(directory: RunDirectory) -> str:
    """The manifest's status; `stopped (killed?)` for a run it calls running that no live
    process holds (a run killed with SIGKILL, or its machine gone down)."""
    status = str((directory.manifest() or {}).get("status", "?"))
    if status != "running" or is_held(directory.path):
        return status
    now = str((directory.manifest() or {}).get("status", "?"))  # it may have ended meanwhile
    return "stopped (killed?)" if now == "running" else now


def _number(value: object, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else "-"
