"""Misbehaving score functions the bad-input tests name by import path."""

from __future__ import annotations

from dataclasses import dataclass

from emb_opt.objectives import TargetScore


class PluginPanic(BaseException):
    """What a plugin might raise that is no `Exception`."""


class NonFiniteTarget(TargetScore):
    """The demo objective, but `value` ("nan", "inf" or "-inf") for items whose `rand` is
    below `share`."""

    def __init__(self, value: str = "nan", share: float = 0.3) -> None:
        super().__init__()
        self.value, self.share = float(value), share

    def __call__(self, items):
        responses = super().__call__(items)
        for item, response in zip(items, responses):
            if item.data["rand"] < self.share:
                response.score = self.value
        return responses


@dataclass
class Trip:
    """Raise `error` on the `at`-th call of `tripping_target`."""

    at: int
    error: BaseException
    calls: int = 0


TRIP: Trip | None = None  # the tests arm it


def tripping_target(items):
    """The demo objective, raising `TRIP.error` on its `TRIP.at`-th call."""
    trip = TRIP
    if trip is not None:
        trip.calls += 1
        if trip.calls == trip.at:
            raise trip.error
    return TargetScore()(items)


def panicking_update(queries):
    """An update function that raises what is no `Exception`."""
    raise PluginPanic("no next step")
