"""The guided model, chosen per search by held-out top-k precision."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from strategy_cases import search

from emb_opt.update import GuidedUpdate
from emb_opt.update.model_choice import ALPHAS, Choice, choose


def landscapes(seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """600 points in 8-d and three objectives over them: smooth, rough and noisy."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((600, 8))
    smooth = x[:, 0] + 0.5 * x[:, 1]
    return x, {
        "smooth": smooth,
        "rough": np.sin(2.5 * x[:, 0]) + np.sin(2.5 * x[:, 1]),
        "noisy": smooth + rng.normal(0, 2.0, len(x)),
    }


def test_a_rough_objective_gets_a_narrower_kernel_than_a_smooth_one():
    narrower = 0
    for seed in range(5):
        x, objectives = landscapes(seed)
        smooth = choose(x, objectives["smooth"], np.random.default_rng(seed), features=128)
        rough = choose(x, objectives["rough"], np.random.default_rng(seed), features=128)
        narrower += rough.width < smooth.width
    assert narrower >= 4


def test_noisy_scores_get_the_stronger_ridge():
    stronger = 0
    for seed in range(5):
        x, objectives = landscapes(seed)
        noisy = choose(x, objectives["noisy"], np.random.default_rng(seed), features=128)
        stronger += noisy.alpha == max(ALPHAS)
        assert noisy.scored == len(x) and 0 < noisy.precision <= 1
    assert stronger >= 4


def test_guided_search_chooses_its_model_and_keeps_the_choice_in_its_state(source, caplog):
    update = GuidedUpdate(batch=20, initial=30, features=64, model="auto", seed=0)
    with caplog.at_level(logging.INFO, logger="emb_opt.update.model_choice"):
        log = search(source, update, budget=150, iterations=20)
    assert log.counters.score_calls == 150
    assert isinstance(update.choice, Choice)
    # chosen after the random start, and again as the scored items grew by a quarter
    assert update.choice.scored > 30 and 1.25 * update.choice.scored > len(log.items) - 20
    said = f"guided: model width {update.choice.width:g}, alpha {update.choice.alpha:g}"
    assert said in caplog.messages[-1] and len(caplog.messages) >= 2
    restored = GuidedUpdate(model="auto")
    restored.restore(update.state())
    assert restored.choice == update.choice


def test_a_bad_model_choice_is_a_clear_error():
    with pytest.raises(ValueError, match="'auto' or 'fixed', got 'best'"):
        GuidedUpdate(model="best")  # type: ignore[arg-type]
