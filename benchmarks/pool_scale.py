"""Pool rounds at scale: how fast the whole collection is rated, in process and on Ray.

    python -m benchmarks.pool_scale                       # smoke run: 10^6 items, every mode
    python -m benchmarks.pool_scale --sizes 1e6,1e7,1e8 --modes inprocess,ray1,ray2 \\
        --out benchmarks/results/pool_scale.md
    python -m benchmarks.pool_scale --sizes 1e6,1e7 --modes fields \\
        --out benchmarks/results/pool_scale_fields.md  # a model that reads stored fields

A round is `rater.shortlist(source, RatingJob(...))`: scan N x 64 float32 items, predict
them with a `RandomFeatureEnsemble` (512 landmarks, 8 heads) fitted to 3,000 scored items,
drop those 3,000 ids, keep the best 500. The items are a seeded .npy file under
~/.cache/emb_opt_bench/pool_scale (built once, in chunks, then reused; 10^8 rows are 25.6 GB),
read by a `NumpyDataSource` over `np.load(path, mmap_mode="r")`: nothing is loaded, and a Ray
task maps the file again by its path. Modes: `inprocess` (`InProcessRater`), `ray1`/`ray2`
(a local Ray cluster started with `ray.init(num_cpus=1|2)`, timed apart, and
`RayRater(workers=1|2)`; restarted between them). Each mode runs two rounds: the first also
starts Ray's worker processes, the second is the steady state the throughput is taken from.

Mode `fields` rates with a model that also reads two numbers stored beside each vector
(`FIELDS`, kept as one metadata dict per item, as a collection of molecules keeps its
descriptors): the round scans with `scan(fields=FIELDS)`, a column projection, and appends the
fields' columns, standardised, to the embeddings; its floor is `predict` over those inputs
already built in memory. Its first round also makes the source's column of each field (once:
later rounds and projections slice it).

Every process rates on one thread. The floor is the model's own `predict`, one thread, over
the first `--floor-items` items already in memory, in batches of the scan's size. items/s/core
divides by the wall time and the cores in use (1, 1, 2); items/CPU-s divides by the CPU time
the rating processes used, which other load on the machine disturbs less. Peak RSS is sampled
every 50 ms: the driver (this process) and the largest Ray worker.
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.protocols import ScanBatch
from emb_opt.update.pool import InProcessRater, RatingJob, RayRater, ScoredIds, Shortlist
from emb_opt.update.regressors import RandomFeatureEnsemble, median_distance

DIMENSION = 64
CHUNK = 1 << 20  # rows generated (and floor-predicted) at a time; chunk i is seeded (SEED, i)
SEED = 0
SCORED = 3_000
SHORTLIST = 500
CACHE = Path.home() / ".cache" / "emb_opt_bench" / "pool_scale"
MODES = ("inprocess", "ray1", "ray2", "fields")
FIELDS = ("logp", "weight")  # the stored numbers the model of mode `fields` reads
GB = 1e9


def dataset(n: int) -> tuple[Path, str]:
    """The .npy file of `n` seeded rows, and how long it took to build (kept beside it)."""
    path = CACHE / f"items_{n}x{DIMENSION}.npy"
    took = path.with_suffix(".seconds")
    if path.exists():
        return path, f"reused, built in {took.read_text()} s" if took.exists() else "reused"
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    began = time.perf_counter()
    out = np.lib.format.open_memmap(partial, "w+", np.float32, (n, DIMENSION))
    for index, start in enumerate(range(0, n, CHUNK)):
        rows = min(CHUNK, n - start)
        rng = np.random.default_rng([SEED, index])
        out[start : start + rows] = rng.standard_normal((rows, DIMENSION), dtype=np.float32)
    out.flush()
    del out
    took.write_text(f"{time.perf_counter() - began:.0f}")
    partial.rename(path)
    return path, f"built in {took.read_text()} s"


def rating_job(items: np.ndarray) -> tuple[RatingJob, np.ndarray]:
    """The job of a round after `SCORED` random items were scored (and those items' ids)."""
    rng = np.random.default_rng(SEED + 1)
    scored = np.sort(rng.choice(len(items), SCORED, replace=False))
    points = np.asarray(items[scored])
    scores = -((points - points[0]) ** 2).sum(axis=1)  # best near one scored item
    model = RandomFeatureEnsemble.fit(points, scores, rng)
    ids = ScoredIds.from_keys(repr(int(i)) for i in scored)
    return RatingJob(model, "greedy", 1.0, SHORTLIST, ids), scored


class Sampler:
    """Peak RSS of this process and (`workers`) of its Ray workers, and the workers' CPU
    seconds, sampled in a thread while a round runs; `cpu` is the thread's own CPU time."""

    def __init__(self, workers: bool, every: float = 0.05) -> None:
        self.workers, self.every = workers, every
        self.me = psutil.Process()
        self.driver_peak = self.worker_peak = 0
        self.worker_cpu: dict[int, float] = {}
        self.cpu = 0.0
        self._found: list[psutil.Process] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._sample(find=True)
        self._started_cpu = dict(self.worker_cpu)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(find=False)

    def workers_cpu(self) -> float:
        """CPU seconds the workers spent while sampled."""
        return sum(t - self._started_cpu.get(pid, 0.0) for pid, t in self.worker_cpu.items())

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(self.every):
            self._sample(find=ticks % 20 == 0)  # look for new workers once a second
            ticks += 1
        self.cpu = time.thread_time()

    def _sample(self, find: bool) -> None:
        self.driver_peak = max(self.driver_peak, self.me.memory_info().rss)
        if not self.workers:
            return
        if find:
            self._found = [p for p in self.me.children(recursive=True) if _is_worker(p)]
        for worker in self._found:
            try:
                self.worker_peak = max(self.worker_peak, worker.memory_info().rss)
                times = worker.cpu_times()
            except psutil.Error:
                continue
            self.worker_cpu[worker.pid] = times.user + times.system


def _is_worker(process: psutil.Process) -> bool:
    try:
        return process.cmdline()[0].startswith("ray::")
    except (psutil.Error, IndexError):
        return False


@dataclass
class Round:
    seconds: float
    cpu: float
    driver_rss: int
    worker_rss: int
    found: Shortlist


@dataclass
class Row:
    n: int
    mode: str
    cores: int
    start: float | None = None
    rounds: list[Round] = field(default_factory=list)


def one_round(rater: Any, source: NumpyDataSource, job: RatingJob, on_ray: bool) -> Round:
    with Sampler(workers=on_ray) as sampler:
        cpu, began = time.process_time(), time.perf_counter()
        found = rater.shortlist(source, job)
        seconds = time.perf_counter() - began
    cpu = sampler.workers_cpu() if on_ray else time.process_time() - cpu - sampler.cpu
    return Round(seconds, cpu, sampler.driver_peak, sampler.worker_peak, found)


def run_mode(mode: str, n: int, source: NumpyDataSource, job: RatingJob) -> Row:
    """Two rounds in one mode (Ray started before and shut down after, timed apart)."""
    if mode == "inprocess":
        row = Row(n, mode, 1)
        row.rounds = [one_round(InProcessRater(), source, job, on_ray=False) for _ in range(2)]
        return row
    import ray

    cores = int(mode.removeprefix("ray"))
    began = time.perf_counter()
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    row = Row(n, mode, cores, start=time.perf_counter() - began)
    rater = RayRater(workers=cores)
    try:
        row.rounds = [one_round(rater, source, job, on_ray=True) for _ in range(2)]
    finally:
        rater.close()
        ray.shutdown()
    return row


def floor(path: Path, job: RatingJob, limit: int) -> tuple[int, float, float]:
    """(items, seconds, CPU seconds) of `predict` over the first `limit` items, in memory."""
    items = np.load(path, mmap_mode="r")  # mapped apart from the source, and unmapped after
    n = min(len(items), limit)
    seconds = cpu = 0.0
    for start in range(0, n, CHUNK):
        block = np.array(items[start : min(start + CHUNK, n)])  # read, not timed
        began, began_cpu = time.perf_counter(), time.process_time()
        for first in range(0, len(block), job.batch_size):
            job.model.predict(block[first : first + job.batch_size])
        seconds += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
    return n, seconds, cpu


def check_same(rows: list[Row], scored: np.ndarray) -> None:
    """Every mode and round found the same shortlist, and no scored id in it."""
    first = rows[0].rounds[0].found
    for row in rows:
        for done in row.rounds:
            if done.found.ids != first.ids:
                raise AssertionError(f"{row.mode} at {row.n:,} found another shortlist")
    if np.isin(np.asarray(first.ids), scored).any() or len(first) != SHORTLIST:
        raise AssertionError("the shortlist holds a scored id or has the wrong length")


def table_lines(
    size: int,
    fl: tuple[int, float, float],
    rows: list[Row],
    floor: str = "floor: `predict` in memory",
) -> list[str]:
    counted, fl_seconds, fl_cpu = fl
    fl_rate, fl_cpu_rate = counted / fl_seconds, counted / fl_cpu
    projected = "*" if counted < size else ""  # the time for `size` items at the floor's rate
    lines = [
        f"| {size:,} | {floor} | | | {fl_seconds * size / counted:.1f}"
        f"{projected} | {fl_rate:,.0f} | {fl_cpu_rate:,.0f} | 1.00 / 1.00 | | |"
    ]
    for row in rows:
        first, steady = row.rounds
        rate = size / steady.seconds / row.cores
        cpu_rate = size / steady.cpu
        start = "" if row.start is None else f"{row.start:.1f}"
        worker = "" if row.start is None else f"{max(r.worker_rss for r in row.rounds) / GB:.2f}"
        lines.append(
            f"| {size:,} | {row.mode} | {start} | {first.seconds:.1f} | {steady.seconds:.1f} | "
            f"{rate:,.0f} | {cpu_rate:,.0f} | {fl_rate / rate:.2f} / {fl_cpu_rate / cpu_rate:.2f} "
            f"| {max(r.driver_rss for r in row.rounds) / GB:.2f} | {worker} |"
        )
    return lines


HEADER = [
    "| items | mode | Ray start s | round 1 s | round 2 s | items/s/core | items/CPU-s "
    "| vs floor (wall / CPU) | driver peak RSS GB | worker peak RSS GB |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]


def sizes_sent(job: RatingJob, found: Shortlist) -> str:
    """What a Ray round sends, pickled: the job once per round, a shortlist back per part."""
    model, scored, whole = (len(pickle.dumps(x)) for x in (job.model, job.scored, job))
    back = len(pickle.dumps(found))
    return (
        f"sent per round: the job {whole / 1e3:,.0f} kB (the model {model / 1e3:,.0f} kB, "
        f"{SCORED:,} scored ids {scored / 1e3:,.0f} kB); back per part: a shortlist of "
        f"{len(found)} rows {back / 1e3:,.0f} kB"
    )


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def field_values(n: int) -> np.ndarray:
    """(n, 2) seeded values of `FIELDS`: a logP-like number and a molecular-weight-like one."""
    rng = np.random.default_rng([SEED, 2])
    return np.column_stack([rng.standard_normal(n), rng.uniform(100, 600, n)])


@dataclass(frozen=True)
class FieldInputs:
    """The model's inputs: the embedding, then the fields' columns standardised on the
    scored items and weighed like the embedding (as `GuidedUpdate(fields=...)` does)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, points: np.ndarray, columns: np.ndarray) -> FieldInputs:
        typical = median_distance(points, np.random.default_rng(0))
        spread = columns.std(axis=0)
        spread[spread == 0] = 1.0
        return cls(columns.mean(axis=0), typical / np.sqrt(2 * columns.shape[1]) / spread)

    def __call__(self, embeddings: np.ndarray, columns: np.ndarray) -> np.ndarray:
        block = ((columns - self.mean) * self.scale).astype(np.float32)
        return np.hstack([embeddings, block])


def fields_job(items: np.ndarray, values: np.ndarray) -> tuple[RatingJob, FieldInputs, np.ndarray]:
    """The job of a round whose model reads the fields, after `SCORED` random items (and
    those items' ids)."""
    rng = np.random.default_rng(SEED + 1)
    scored = np.sort(rng.choice(len(items), SCORED, replace=False))
    points, columns = np.asarray(items[scored]), values[scored]
    inputs = FieldInputs.fit(points, columns)
    scores = -((points - points[0]) ** 2).sum(axis=1) + 10 * columns[:, 0]
    model = RandomFeatureEnsemble.fit(inputs(points, columns), scores, rng)
    ids = ScoredIds.from_keys(repr(int(i)) for i in scored)
    return RatingJob(model, "greedy", 1.0, SHORTLIST, ids), inputs, scored


def fields_round(source: NumpyDataSource, job: RatingJob, inputs: FieldInputs) -> Round:
    """One round rating a projected scan: the fields read as columns, appended to the
    embeddings, predicted."""

    def batches() -> Any:
        for batch in source.scan(job.batch_size, fields=FIELDS):
            columns = np.column_stack([batch.columns[name] for name in FIELDS])
            yield ScanBatch(batch.ids, inputs(batch.embeddings, columns))

    with Sampler(workers=False) as sampler:
        cpu, began = time.process_time(), time.perf_counter()
        found = job.rate(batches())
        seconds = time.perf_counter() - began
    cpu = time.process_time() - cpu - sampler.cpu
    return Round(seconds, cpu, sampler.driver_peak, 0, found)


def fields_floor(
    path: Path, values: np.ndarray, inputs: FieldInputs, job: RatingJob, limit: int
) -> tuple[int, float, float]:
    """(items, seconds, CPU seconds) of `predict` over the first `limit` items' inputs (the
    embeddings and the fields), built in memory before the clock starts."""
    items = np.load(path, mmap_mode="r")
    n = min(len(items), limit)
    seconds = cpu = 0.0
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        block = inputs(np.array(items[start:stop]), values[start:stop])  # read, not timed
        began, began_cpu = time.perf_counter(), time.process_time()
        for first in range(0, len(block), job.batch_size):
            job.model.predict(block[first : first + job.batch_size])
        seconds += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
    return n, seconds, cpu


def run_fields(size: int, path: Path, floor_items: int) -> tuple[list[str], list[str]]:
    """The table lines and notes of mode `fields` at `size` items."""
    values = field_values(size)
    began = time.perf_counter()
    metadata = [dict(zip(FIELDS, row)) for row in values.tolist()]
    built = time.perf_counter() - began
    job, inputs, scored = fields_job(np.load(path, mmap_mode="r"), values)
    fl = fields_floor(path, values, inputs, job, floor_items)
    source = NumpyDataSource(np.load(path, mmap_mode="r"), metadata=metadata)
    row = Row(size, "fields", 1)
    row.rounds = [fields_round(source, job, inputs) for _ in range(2)]
    check_same([row], scored)
    began = time.perf_counter()
    read = sum(len(batch.ids) for batch in source.scan(job.batch_size, fields=FIELDS))
    scan_seconds = time.perf_counter() - began
    lines = table_lines(size, fl, [row], floor="floor: `predict` of embeddings + fields")
    notes = [
        f"fields at {size:,}: {len(FIELDS)} numbers per item in {size:,} metadata dicts (made "
        f"in {built:.0f} s, not timed); round 1 also makes their columns; a projected scan "
        f"alone (no model) reads {read:,} items in {scan_seconds:.1f} s"
    ]
    return lines, notes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6", help="comma-separated, e.g. 1e6,1e7,1e8")
    parser.add_argument("--modes", default=",".join(MODES), help="inprocess,ray1,ray2")
    parser.add_argument("--floor-items", type=float, default=1e7, help="items the floor predicts")
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = parser.parse_args(argv)
    sizes = [int(float(size)) for size in args.sizes.split(",")]
    modes = args.modes.split(",")
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by the Ray workers
    notes = [
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / GB:.0f} GB RAM; at the start: {load()}"
    ]
    lines = list(HEADER)
    for size in sizes:
        path, built = dataset(size)
        size_gb = path.stat().st_size / GB
        notes.append(f"{size:,} x {DIMENSION}: {size_gb:.1f} GB .npy, {built}")
        print(notes[-1], flush=True)
        if "fields" in modes:
            found, said = run_fields(size, path, int(args.floor_items))
            print("\n".join(found), flush=True)
            lines, notes = lines + found, notes + said
        if not set(modes) - {"fields"}:
            continue
        job, scored = rating_job(np.load(path, mmap_mode="r"))
        fl = floor(path, job, int(args.floor_items))
        source = NumpyDataSource(np.load(path, mmap_mode="r"))
        rows = []
        for mode in (mode for mode in modes if mode != "fields"):
            rows.append(run_mode(mode, size, source, job))
            print(table_lines(size, fl, rows)[-1], flush=True)
        check_same(rows, scored)
        lines += table_lines(size, fl, rows)
        notes.append(sizes_sent(job, rows[0].rounds[0].found))
    notes.append(f"at the end: {load()}")
    if any(size > args.floor_items for size in sizes):
        notes.append(f"*: the floor predicted the first {int(args.floor_items):,} items only")
    text = "\n".join(lines + [""] + [f"- {note}" for note in notes])
    print("\n" + text)
    if args.out:
        command = " ".join(["python -m benchmarks.pool_scale", *sys.argv[1:]])
        args.out.write_text(f"# Pool rounds at scale\n\n`{command}`\n\n{text}\n")


if __name__ == "__main__":
    main()
