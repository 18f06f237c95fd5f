"""Strategies are registered by name for run configurations."""

from __future__ import annotations

import pytest

from emb_opt.config.registry import STRATEGIES
from emb_opt.update import RestartUpdate, SurrogateUpdate


def test_registry_names_the_strategies():
    assert {"rl", "line_search", "surrogate", "evolution", "restarts"} <= set(STRATEGIES)
    for name, cls in STRATEGIES.items():
        assert callable(cls), name


@pytest.mark.parametrize("name", ["line_search", "surrogate", "evolution"])
def test_strategies_build_from_defaults(name):
    assert callable(STRATEGIES[name]())


def test_restarts_wrap_another_strategy():
    update = STRATEGIES["restarts"](SurrogateUpdate())
    assert isinstance(update, RestartUpdate)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("surrogate", {"probes": -1}),
        ("surrogate", {"neighbors": 1}),
        ("line_search", {"multiples": []}),
        ("evolution", {"offspring": 0}),
    ],
)
def test_bad_parameters_are_rejected(name, kwargs):
    with pytest.raises(ValueError):
        STRATEGIES[name](**kwargs)


@pytest.mark.parametrize("k", [True, 0, -1, 2.0, "3"])
@pytest.mark.parametrize("name", ["topk_discrete", "topk_continuous"])
def test_topk_k_must_be_a_positive_int(name, k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        STRATEGIES[name](k=k)
