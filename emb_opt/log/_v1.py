"""Version 1 logs: one `log.json` file of JSON lines, each a whole batch (read only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LogError
from ..schemas import Batch
from ._format import invalid, response

if TYPE_CHECKING:
    from ._model import SearchLog


def load_version_1(path: Path, log: SearchLog) -> SearchLog:
    """`log` (empty) filled with a log written by emb_opt before the log directory: JSON
    lines of whole batches."""
    lines = path.read_text().splitlines()
    for number, text in enumerate(lines, 1):
        try:
            delta = json.loads(text)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # the last checkpoint was cut short by a crash
            raise LogError(f"{path}: line {number} is not valid JSON") from None
        if not isinstance(delta, dict) or delta.get("version") != 1:
            raise LogError(f"{path}: line {number} is not a version 1 log line")
        try:
            _apply_version_1(log, delta)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise invalid(f"{path}: line {number}", error) from error
    return log


def _apply_version_1(log: SearchLog, delta: dict[str, Any]) -> None:
    for kind in ("filter", "score"):
        for key, value in delta[f"{kind}_cache"].items():
            log.remember(kind, key, response(kind, key, value))
    for batch in delta["batches"]:
        log.add_batch(Batch.model_validate(batch))
    log.history += delta["history"]
    log.set_counters(delta["counters"])
    pending = delta["pending"]
    log.pending = Batch.model_validate(pending) if pending is not None else None
    log.strategy_state = delta.get("strategy")
