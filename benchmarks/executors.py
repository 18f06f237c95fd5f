"""Executor throughput: a score function costing 10 ms per item, CPU-bound and I/O-bound.

    python -m benchmarks.executors               # 200 items per mode, batches of 25, best of 2
    python -m benchmarks.executors --items 400 --cost 0.005 --repeat 1

Modes: serial, threads (8), processes (2), Ray tasks and Ray 1 and 2 actors (a local Ray with
2 CPUs), HTTP with concurrency 1 and 8 (examples/scoring_service.py in a subprocess). Pools,
actors and the service are started and warmed up before timing, as they stay up for all the
iterations of a search. The CPU-bound function burns `cost` seconds of its thread's CPU time
per item; the I/O-bound one sleeps `cost` per item. Both then return the tutorial objective,
and every mode's scores are compared with the serial ones.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emb_opt.executors import (
    HTTPExecutor,
    ProcessExecutor,
    RayExecutor,
    SerialExecutor,
    ThreadExecutor,
)
from emb_opt.objectives import TargetScore
from emb_opt.schemas import Item, ScoreResponse
from emb_opt.synthetic import random_corpus

SERVICE = Path(__file__).resolve().parents[1] / "examples" / "scoring_service.py"


class CpuBoundScore(TargetScore):
    """The tutorial objective after `cost` seconds of pure-Python CPU work per item."""

    remote_name = "cpu_bound"

    def __init__(self, cost: float) -> None:
        super().__init__()
        self.cost = cost

    def __call__(self, items: list[Item]) -> list[ScoreResponse]:
        for _ in items:
            end = time.thread_time() + self.cost
            while time.thread_time() < end:
                pass
        return super().__call__(items)


class IoBoundScore(TargetScore):
    """The tutorial objective after waiting `cost` seconds per item (a remote call)."""

    remote_name = "io_bound"

    def __init__(self, cost: float) -> None:
        super().__init__()
        self.cost = cost

    def __call__(self, items: list[Item]) -> list[ScoreResponse]:
        time.sleep(self.cost * len(items))
        return super().__call__(items)


def no_op(batch: list[Any]) -> list[None]:
    """Warm-up function: starts pools and actors without costing time."""
    return [None] * len(batch)


def spin(batch: list[float]) -> list[float]:
    """Spin for each given number of seconds; return the share of a core this process got."""
    shares = []
    for seconds in batch:
        wall, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - wall < seconds:
            pass
        shares.append((time.process_time() - cpu) / (time.perf_counter() - wall))
    return shares


def free_cores(seconds: float = 1.0) -> float:
    """Cores two busy processes actually get now (2.0 on an idle 2-core machine)."""
    with ProcessExecutor(batch_size=1, max_workers=2) as executor:
        executor.run(no_op, [0, 1])
        return sum(share for _, out in executor.run(spin, [seconds, seconds]) for share in out)


def make_items(count: int) -> list[Item]:
    corpus = random_corpus(count, 32, seed=5)
    return [
        Item.trusted(index, text, embedding, data, 0.0)
        for index, (text, embedding, data) in enumerate(
            zip(corpus.items, corpus.embeddings, corpus.metadata)
        )
    ]


def scores_of(outcomes: list[tuple[list[Any], Any]]) -> list[float]:
    scores = []
    for _, responses in outcomes:
        if isinstance(responses, BaseException):
            raise responses
        scores += [r["score"] if isinstance(r, dict) else r.score for r in responses]
    return scores


@contextmanager
def scoring_service(cost: float) -> Iterator[str]:
    """The reference service, serving both functions, in a subprocess; yields its URL."""
    command = [sys.executable, "-m", "benchmarks.executors", "--serve", "--cost", str(cost)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().split()[-1]
    finally:
        process.terminate()
        process.wait()


def serve(cost: float) -> None:
    """Run the reference service with the benchmark's functions (the --serve mode)."""
    spec = importlib.util.spec_from_file_location("scoring_service", SERVICE)
    assert spec is not None and spec.loader is not None
    service = importlib.util.module_from_spec(spec)
    sys.modules["scoring_service"] = service
    spec.loader.exec_module(service)
    functions = {"cpu_bound": CpuBoundScore(cost), "io_bound": IoBoundScore(cost)}
    server = service.ScoringServer(functions)
    print(f"serving {server.url}", flush=True)
    server.serve_forever()


def ray_up() -> None:
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)


def ray_down() -> None:
    import ray

    ray.shutdown()


def modes(batch: int, url: str) -> dict[str, Callable[[], Any]]:
    """Executor factories, in the order they run."""
    return {
        "serial": lambda: SerialExecutor(batch_size=batch),
        "threads (8)": lambda: ThreadExecutor(batch_size=batch, max_workers=8),
        "processes (2)": lambda: ProcessExecutor(batch_size=batch, max_workers=2),
        "ray tasks": lambda: RayExecutor(batch_size=batch, mode="tasks"),
        "ray 1 actor": lambda: RayExecutor(batch_size=batch, num_actors=1),
        "ray 2 actors": lambda: RayExecutor(batch_size=batch, num_actors=2),
        "http concurrency 1": lambda: HTTPExecutor(url, batch_size=batch, concurrency=1),
        "http concurrency 8": lambda: HTTPExecutor(url, batch_size=batch, concurrency=8),
    }


def measure(
    executor: Any, fn: Callable, items: list[Item], batch: int, repeat: int
) -> tuple[float, list[list[float]]]:
    """Items per second of the best of `repeat` warmed-up runs, and every run's scores."""
    if isinstance(executor, HTTPExecutor):
        executor.run(fn, items[:1])  # opens a connection
    else:
        executor.run(no_op, items[: 2 * batch])  # starts two workers or actors
    best, scores = 0.0, []
    for _ in range(repeat):
        began = time.perf_counter()
        outcomes = executor.run(fn, items)
        best = max(best, len(items) / (time.perf_counter() - began))
        scores.append(scores_of(outcomes))
    return best, scores


def benchmark(items: list[Item], cost: float, batch: int, url: str, repeat: int) -> dict[str, list]:
    """Rows (mode, items/s, speed-up, identical) per variant."""
    variants = {"CPU-bound": CpuBoundScore(cost), "I/O-bound": IoBoundScore(cost)}
    rows: dict[str, list] = {name: [] for name in variants}
    baseline: dict[str, tuple[float, list]] = {}
    for mode, make in modes(batch, url).items():
        if mode.startswith("ray"):
            ray_up()
        elif mode.startswith("http"):
            ray_down()
        for variant, fn in variants.items():
            with make() as executor:
                rate, runs = measure(executor, fn, items, batch, repeat)
            baseline.setdefault(variant, (rate, runs[0]))
            serial_rate, serial_scores = baseline[variant]
            same = all(scores == serial_scores for scores in runs)
            rows[variant].append((mode, rate, rate / serial_rate, same))
            print(f"  {variant:<9} {mode:<19} {rate:8.1f} items/s", file=sys.stderr)
    return rows


def print_tables(rows: dict[str, list], args: argparse.Namespace, cores: list[float]) -> None:
    print(
        f"\n{args.items} items per mode, {args.cost * 1000:g} ms per item, batches of "
        f"{args.batch_size}, best of {args.repeat} run(s), {os.cpu_count()} cores; "
        f"two busy processes got {cores[0]:.2f} cores before the runs, {cores[1]:.2f} after "
        "(other load on the machine lowers the CPU-bound speed-ups)\n"
    )
    for variant, variant_rows in rows.items():
        print(f"### {variant}\n")
        print("| mode | items/s | speed-up vs serial | scores identical |")
        print("|---|---:|---:|:---:|")
        for mode, rate, speedup, same in variant_rows:
            print(f"| {mode} | {rate:.1f} | {speedup:.2f}x | {'yes' if same else 'no'} |")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description="executor throughput")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--cost", type=float, default=0.01, help="seconds per item")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=2, help="runs per mode (best kept)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.cost)
    items = make_items(args.items)
    cores = [free_cores()]
    with scoring_service(args.cost) as url:
        rows = benchmark(items, args.cost, args.batch_size, url, args.repeat)
    cores.append(free_cores())
    print_tables(rows, args, cores)


if __name__ == "__main__":
    main()
