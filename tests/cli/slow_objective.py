"""Score functions the CLI tests name by import path."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from emb_opt.objectives import TargetScore
from emb_opt.schemas import FilterResponse


class SlowTarget(TargetScore):
    """The demo objective, `delay` seconds per call (so a test can kill a run mid-iteration);
    with EMB_OPT_TEST_HOLD_AFTER=N set, every call after the first N never returns (a run a
    test holds mid-way, whatever the machine's speed)."""

    def __init__(self, delay: float = 0.2) -> None:
        super().__init__()
        self.delay = delay
        self.calls = 0

    def __call__(self, items):
        time.sleep(self.delay)
        self.calls += 1
        hold_after = os.environ.get("EMB_OPT_TEST_HOLD_AFTER")
        if hold_after and self.calls > int(hold_after):
            threading.Event().wait()
        return super().__call__(items)


class SlowStored(SlowTarget):
    """The stored `rand` field of each item as its score, `delay` seconds per call (the
    guided model finds it only by reading that field)."""

    def __call__(self, items):
        super().__call__(items)
        return [float(item.data["rand"]) for item in items]


def secret_reading_score(items):
    """Uses the secret the config passes through the environment (never printed)."""
    assert os.environ["EMB_OPT_TEST_SECRET"]
    return TargetScore()(items)


NOT_CALLABLE = 42


_CALLS: list[int] = []


def hang_after_first_call(items):
    """The demo objective; with EMB_OPT_TEST_HANG set, every call after the first one touches
    that file and never returns (a stuck scoring call)."""
    _CALLS.append(1)
    marker = os.environ.get("EMB_OPT_TEST_HANG")
    if marker and len(_CALLS) > 1:
        Path(marker).touch()
        threading.Event().wait()
    return TargetScore()(items)


class ThresholdFilter:
    """A filter function with parameters named like secrets but not (`sig_threshold`: keep
    items whose `rand` is below it, given as text as a `${VAR}` gives it) and one holding a
    credential (`token`)."""

    def __init__(self, sig_threshold: str = "0.9", token: str | None = None) -> None:
        self.threshold = float(sig_threshold)
        self.token = token

    def __call__(self, items):
        return [FilterResponse(valid=item.data["rand"] < self.threshold) for item in items]


FILTER_CALLS: list[int] = []


class SlowFilter:
    """Keeps every item, `delay` seconds per call (counted in FILTER_CALLS)."""

    def __init__(self, delay: float = 0.2) -> None:
        self.delay = delay

    def __call__(self, items):
        FILTER_CALLS.append(len(items))
        time.sleep(self.delay)
        return [FilterResponse(valid=True) for _ in items]


def spin(items):
    """Never returns: touches the file EMB_OPT_TEST_SPIN names, then spins in Python."""
    Path(os.environ["EMB_OPT_TEST_SPIN"]).touch()
    while True:
        pass


def spin_holding_the_gil(items):
    """Never returns (in any useful time): touches the file EMB_OPT_TEST_SPIN names, then
    backtracks in the regular expression engine, which holds the GIL throughout."""
    Path(os.environ["EMB_OPT_TEST_SPIN"]).touch()
    re.fullmatch(r"(a|aa)*b", "a" * 200)
