"""Composite plugins: several filter functions that must all pass, several scores summed."""

from __future__ import annotations

from collections.abc import Sequence

from .calls import coerce_responses, plugin_name
from .schemas import FilterFunction, FilterResponse, Item, ScoreFunction, ScoreResponse


def _names(functions: Sequence[object]) -> list[str]:
    names = [plugin_name(fn).rpartition(".")[2] for fn in functions]
    return [name if names.count(name) == 1 else f"{name}_{i}" for i, name in enumerate(names)]


class CompositeFilter:
    """Valid only when every filter passes; later filters see only what earlier ones passed.

    Each filter's response data is kept under its name in the response data.
    """

    def __init__(self, *filters: FilterFunction) -> None:
        if not filters:
            raise ValueError("CompositeFilter needs at least one filter function")
        self.filters = filters
        self.names = _names(filters)

    def __call__(self, items: list[Item]) -> list[FilterResponse]:
        valid = [True] * len(items)
        details: list[dict] = [{} for _ in items]
        for name, fn in zip(self.names, self.filters):
            alive = [i for i, ok in enumerate(valid) if ok]
            inputs = [items[i] for i in alive]
            for i, response in zip(
                alive, coerce_responses("filter", fn, inputs, fn(inputs), FilterResponse)
            ):
                valid[i] = response.valid
                details[i][name] = {"valid": response.valid, **(response.data or {})}
        return [FilterResponse(valid=ok, data=data) for ok, data in zip(valid, details)]


class CompositeScore:
    """The (weighted) sum of several scores; invalid if any component is invalid."""

    def __init__(self, *scores: ScoreFunction, weights: Sequence[float] | None = None) -> None:
        if not scores:
            raise ValueError("CompositeScore needs at least one score function")
        if weights is not None and len(weights) != len(scores):
            raise ValueError(f"got {len(weights)} weights for {len(scores)} score functions")
        self.scores = scores
        self.weights = list(weights) if weights is not None else [1.0] * len(scores)
        self.names = _names(scores)

    def __call__(self, items: list[Item]) -> list[ScoreResponse]:
        totals = [0.0] * len(items)
        valid = [True] * len(items)
        details: list[dict] = [{} for _ in items]
        for name, weight, fn in zip(self.names, self.weights, self.scores):
            responses = coerce_responses("score", fn, items, fn(items), ScoreResponse)
            for i, response in enumerate(responses):
                details[i][name] = {"score": response.score, **(response.data or {})}
                if response.valid and response.score is not None:
                    totals[i] += weight * response.score
                else:
                    valid[i] = False
        return [
            ScoreResponse(valid=ok, score=total if ok else None, data=data)
            for ok, total, data in zip(valid, totals, details)
        ]
