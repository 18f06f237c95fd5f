"""The estimate `GuidedUpdate(mode="auto")` picks its mode by: what a pool round costs."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from emb_opt.protocols import ScanBatch
from emb_opt.update import round_cost
from emb_opt.update.round_cost import RoundCost, choose_mode, measure


class Clock:
    """A stand-in for `time.perf_counter` that moves only when a batch is read or rated."""

    def __init__(self, read: float, rate: float) -> None:
        self.now, self.read_step, self.rate_step = 0.0, read, rate

    def __call__(self) -> float:
        return self.now

    def rate(self, batch: ScanBatch) -> np.ndarray:
        self.now += self.rate_step
        return batch.embeddings.sum(axis=1)

    def parts(self, sizes: list[int], read: list[int]):
        for size in sizes:
            self.now += self.read_step
            read.append(size)
            yield ScanBatch(list(range(size)), np.zeros((size, 4), dtype=np.float32))


def test_measure_times_the_first_batches_and_extrapolates(monkeypatch):
    clock = Clock(read=0.1, rate=0.4)
    monkeypatch.setattr(round_cost.time, "perf_counter", clock)
    read: list[int] = []
    scan = clock.parts([100, 100, 100, 100], read)
    cost = measure(scan, clock.rate, items=1_000, workers=2)
    assert read == [100, 100]  # two batches read, then the scan is closed
    assert next(scan, None) is None
    assert cost.items == 1_000 and cost.workers == 2
    assert cost.seconds_per_item == pytest.approx(1.0 / 200)
    assert cost.seconds == pytest.approx(2.5)


def test_the_rating_time_is_scaled_to_the_full_model(monkeypatch):
    clock = Clock(read=0.1, rate=0.4)
    monkeypatch.setattr(round_cost.time, "perf_counter", clock)
    cost = measure(clock.parts([100, 100], []), clock.rate, items=1_000, rate_scale=4.0)
    assert cost.seconds_per_item == pytest.approx((2 * 0.1 + 2 * 0.4 * 4.0) / 200)


def test_an_empty_collection_costs_nothing():
    assert measure(iter([]), np.sum, items=0).seconds == 0.0


@pytest.mark.parametrize(
    ("cost", "text"),
    [
        (RoundCost(1_000_000, 2.1e-6), "a round rates 1,000,000 items in ~2.1 s (budget 60 s)"),
        (RoundCost(10**9, 2e-6, 4), "a round rates 1,000,000,000 items in ~500 s (budget 60 s)"),
    ],
)
def test_the_estimate_reads_as_one_line(cost, text):
    assert cost.describe(60.0) == text


def test_choose_mode_compares_the_round_with_the_budget(caplog):
    cost = RoundCost(1_000_000, 2e-6)  # 2 s a round
    with caplog.at_level(logging.INFO, logger="emb_opt.update.round_cost"):
        assert choose_mode(cost, 60.0) == "pool"
        assert choose_mode(cost, 1.0) == "neighbourhood"
    assert caplog.messages == [
        "guided: pool mode: a round rates 1,000,000 items in ~2 s (budget 60 s)",
        "guided: neighbourhood mode: a round rates 1,000,000 items in ~2 s (budget 1 s)",
    ]
