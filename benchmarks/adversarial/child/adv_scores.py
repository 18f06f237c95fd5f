"""Score functions the adversarial pass's configs name by import path (`adv_scores:NAME`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from emb_opt.objectives import TargetScore
from emb_opt.schemas import ScoreResponse


def slow(items):
    """The demo objective, a quarter of a second per call (a run that keeps writing)."""
    time.sleep(0.25)
    return TargetScore()(items)


def spin(items):
    """Never returns: touches the file ADV_SPIN names, then spins in Python."""
    Path(os.environ["ADV_SPIN"]).touch()
    while True:
        pass


def bearer_in_text(items):
    """Every item invalid, its error a free text holding `Bearer SECRET` (ADV_FREE_SECRET):
    what a model server behind the score function might say."""
    said = f"upstream refused: Authorization: Bearer {os.environ['ADV_FREE_SECRET']} expired"
    return [ScoreResponse(valid=False, data={"error": said}) for _ in items]


def sleep(items):
    """Never returns: touches the file ADV_SPIN names, then sleeps."""
    Path(os.environ["ADV_SPIN"]).touch()
    while True:
        time.sleep(60)
