"""Score functions the CLI tests name by import path."""

from __future__ import annotations

import os
import time

from emb_opt.objectives import TargetScore


class SlowTarget(TargetScore):
    """The demo objective, `delay` seconds per call (so a test can kill a run mid-iteration)."""

    def __init__(self, delay: float = 0.2) -> None:
        super().__init__()
        self.delay = delay

    def __call__(self, items):
        time.sleep(self.delay)
        return super().__call__(items)


def secret_reading_score(items):
    """Uses the secret the config passes through the environment (never printed)."""
    assert os.environ["EMB_OPT_TEST_SECRET"]
    return TargetScore()(items)


NOT_CALLABLE = 42
