"""Real-data screening benchmark: find the best of 100,000 MOSES molecules in 2,000 score calls.

    python -m benchmarks.molecules                          # both halves, baselines and default
    python -m benchmarks.molecules --half dev               # the development half only
    python -m benchmarks.molecules --n 20000 --seeds 1      # quick
    python -m benchmarks.molecules --objectives qed --methods random,"emb_opt surrogate"
    python -m benchmarks.molecules --n 1000000 --budget 5000 --batch 250 --methods ...
    python -m benchmarks.molecules --metadata all --half dev   # what the database stores

Up to 100,000 molecules come from the MOSES test split, more (up to 1,000,000) from the train
split; each split's cache is built on its first use.

Data (`benchmarks.molecules_data`, built and cached on first run): 64-d embeddings of Morgan
count fingerprints and eight RDKit objectives precomputed for every molecule, in two halves:
"dev" (to choose methods on) and "check" (to confirm them, run at the end and reported
apart). During a search the score function is a counted lookup (plus Gaussian noise of a
known sd for a noisy objective). The baselines and the default run on every objective and
seed (`--methods` adds others, `all` every row); recall@k is the share of the exhaustive top
k that the method scored (tie-aware: a scored row counts when its noise-free value reaches
the k-th best value, at most k). Prints a markdown table per objective, a summary of the
default against the best baseline, writes them to benchmarks/results/molecules.md and plots
recall@100 against score calls beside it (`--out`). The original emb-opt 1.0.2 (RLUpdate lr
0.25) runs the same rows through `benchmarks.original` when asked (`--methods all`).

`--metadata` runs the default over sources that store, beside each vector, the 12 RDKit
descriptors as separate named fields ("descriptors"), those and five fields that carry
nothing ("descriptors+noise", `benchmarks.stored_fields.NOISE`), only the five ("noise") or
nothing ("none"), and the descriptors named by hand where stored; then it prints their
recall@100 side by side, the issue's goals as differences (against the default's figures in
the earlier results files, `--earlier`) and the fields the model read.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .molecules_data import (
    HALVES,
    OBJECTIVES,
    SPLITS,
    STORED_INPUTS,
    Molecules,
    cache_meta,
    half,
    load_molecules,
    split_for,
)
from .molecules_methods import (
    BASELINES,
    CANDIDATE,
    DEFAULT,
    MAX_ITERATIONS,
    METHODS,
    STARTS,
    K,
    Method,
    Oracle,
    methods,
    variant_methods,
)
from .stored_fields import Collection, neighbour_agreement, variants
from .variants_report import earlier_recall, fields_read, goals_table, recall_table

RESULTS = Path(__file__).with_name("results")
REAL = Molecules.REAL  # the metadata variant that stores the descriptors
TOP_K = (10, 100, 1000)
CURVE_K = 100  # the recall plotted against score calls, and the goals' recall
CURVE_POINTS = 20
AHEAD, BEHIND = 0.05, 0.02  # goals: ahead of the best baseline by AHEAD, never behind by BEHIND
ORIGINAL = "emb-opt 1.0.2 rl (original library)"
READING = f"""Recall@k is the share of the exhaustive top k (over all n molecules) that a
method scored, tie-aware (a scored molecule counts when its value reaches the k-th best
value, at most k of them); means over seeds. Score calls are counted lookups of the
precomputed value. "Neighbour agreement" is the correlation of a molecule's value with the
mean of its 10 nearest neighbours' in the embedding (1 smooth, 0 rough).

- emb_opt rows: FaissDataSource (flat, k={K}), {STARTS} random start items (10 for guided),
  `StopRule(max_score_calls=budget)`, at most {MAX_ITERATIONS} iterations; a row whose
  queries stall (find no new molecule) before the budget is spent uses fewer calls.
- Pool active learning: 10% of the budget at random, then 10 rounds that fit the model on
  all scored molecules, predict all n and score the best predicted (greedy).
- Neighbourhood active learning: the same start, then rounds of 100 picked by the model
  among the 200 nearest neighbours of the 20 best scored.
- The original emb-opt 1.0.2: RLUpdate (lr 0.25, its FaissDataPlugin, k={K}) from {STARTS}
  random molecules for budget / {STARTS * K} iterations; it re-scores molecules it meets
  again, so its score calls exceed the molecules it scored (in brackets).
- Metadata variants (`--metadata`): "default [v]" is the default over a source storing
  variant v (descriptors: the 12 RDKit descriptors as named fields, heavy_atoms ...
  saturated_rings; noise: record_id, unit_price, batch_number, site (a constant),
  shuffle_rank); "hand-picked" names the 12 (`fields: [...]`) over a source storing them
  and the noise.
- `--batch B` (when the table says "B calls a round"): every method that works in rounds
  spends B score calls a round: pool and neighbourhood active learning after their random
  10%, the guided rows after their 100 random calls (the guided default is 50 a round).
"""


@dataclass
class Outcome:
    """A method's mean result on one objective."""

    method: str
    recall: tuple[float, ...]
    score_calls: float
    seconds: float
    unique: float | None = None  # molecules scored, when a method re-scores some
    curve: np.ndarray | None = None  # mean recall@CURVE_K after each of `curve_calls(budget)`
    notes: tuple[str | None, ...] = ()  # per seed, what the method reported (`Oracle.note`)

    def at(self, k: int) -> float:
        return self.recall[TOP_K.index(k)]


def top_thresholds(values: np.ndarray) -> list[float]:
    """The k-th best value for every k in TOP_K."""
    ranked = np.sort(values)[::-1]
    return [float(ranked[min(k, len(ranked)) - 1]) for k in TOP_K]


def recall(values: np.ndarray, scored: Sequence[int], thresholds: list[float]) -> list[float]:
    """Tie-aware recall@k of the scored rows for every k in TOP_K."""
    found = values[np.unique(np.asarray(scored, dtype=np.int64))]
    return [min(int((found >= t).sum()), k) / k for k, t in zip(TOP_K, thresholds)]


def curve_calls(budget: int) -> np.ndarray:
    """The score-call counts a recall curve is measured at."""
    return np.linspace(budget / CURVE_POINTS, budget, CURVE_POINTS).round().astype(int)


def recall_curve(values: np.ndarray, oracle: Oracle, grid: np.ndarray) -> np.ndarray:
    """Recall@CURVE_K of the rows scored within each number of calls in `grid`."""
    threshold = top_thresholds(values)[TOP_K.index(CURVE_K)]
    hits = np.cumsum(values[oracle.order] >= threshold) if oracle.order else np.zeros(1)
    reached = np.searchsorted(oracle.first_call, grid, side="right")
    found = np.where(reached > 0, hits[np.maximum(reached - 1, 0)], 0)
    return np.minimum(found, CURVE_K) / CURVE_K


def run_method(
    name: str,
    method: Method,
    data: Collection,
    values: np.ndarray,
    seeds: range,
    budget: int,
    noise: float = 0.0,
) -> Outcome:
    """Mean recall, score calls and seconds of one method over seeds, on an objective's
    noise-free `values` (every score call adds Gaussian noise of sd `noise`)."""
    thresholds = top_thresholds(values)
    recalls, calls, seconds, curves, notes = [], [], [], [], []
    for seed in seeds:
        oracle = Oracle(values, budget, noise=noise, seed=seed)
        began = time.perf_counter()
        scored = method(data, oracle, seed, budget)
        seconds.append(time.perf_counter() - began)
        print(f"  {name}, seed {seed}: {seconds[-1]:.1f} s", file=sys.stderr, flush=True)
        if not set(scored) <= set(oracle.order):
            raise RuntimeError(f"{name} returned rows it never scored")
        recalls.append(recall(values, scored, thresholds))
        calls.append(oracle.calls)
        curves.append(recall_curve(values, oracle, curve_calls(budget)))
        notes.append(oracle.note)
        if oracle.note:
            print(f"    reads {oracle.note}", file=sys.stderr, flush=True)
    mean = tuple(np.mean(recalls, axis=0))
    curve = np.mean(curves, axis=0)
    return Outcome(name, mean, float(np.mean(calls)), np.mean(seconds), None, curve, tuple(notes))


def run_original(
    data: Molecules, values: np.ndarray, seeds: range, budget: int, scratch: Path
) -> Outcome | None:
    """The original emb-opt 1.0.2 on the same rows, scoring by lookup (None if unavailable)."""
    from .original import run_original as run_workload

    path = scratch / "lookup.npz"
    np.savez(path, embeddings=data.embeddings, scores=values)
    thresholds = top_thresholds(values)
    recalls, calls, seconds, unique = [], [], [], []
    for seed in seeds:
        workload = {
            "n": len(data),
            "dim": data.embeddings.shape[1],
            "objective": "lookup",
            "data_file": str(path),
            "index": "faiss",
            "filter": False,
            "queries": STARTS,
            "k": K,
            "query_seed": 10_000 + seed,
            "start": "items",
            "iterations": max(1, budget // (STARTS * K)),
            "recall_at": list(TOP_K),
        }
        result = run_workload(workload)
        if result is None:
            return None
        recalls.append(recall(values, result["results_ids"], thresholds))
        calls.append(result["score_calls"])
        seconds.append(result["search_seconds"])
        unique.append(result["unique_items"])
    mean_recall = tuple(np.mean(recalls, axis=0))
    return Outcome(ORIGINAL, mean_recall, np.mean(calls), np.mean(seconds), np.mean(unique))


def table(
    objective: str, data: Molecules, outcomes: list[Outcome], args: argparse.Namespace
) -> str:
    """One objective's markdown table."""
    agreement = neighbour_agreement(data, data.objectives[objective])
    lines = [
        f"### {objective} ({OBJECTIVES[objective].half}): {OBJECTIVES[objective].note}",
        "",
        f"{setting(args)}; neighbour agreement {agreement:.2f}",
        "",
    ]
    return "\n".join(lines + outcome_lines(outcomes)) + "\n"


def setting(args: argparse.Namespace) -> str:
    """The line that says what a table measured: n, split, budget, rounds, seeds."""
    rounds = f", {args.batch} calls a round" if args.batch else ""
    return (
        f"n = {args.n:,} (MOSES {args.split} split), budget {args.budget:,} score calls"
        f"{rounds}, {len(args.seeds)} seeds"
    )


def outcome_lines(outcomes: list[Outcome]) -> list[str]:
    """A markdown table of outcomes: recall@k for every k in TOP_K, score calls, s/run."""
    lines = [
        "| method | " + " | ".join(f"recall@{k}" for k in TOP_K) + " | score calls | s/run |",
        "|---|" + "---:|" * (len(TOP_K) + 2),
    ]
    for outcome in outcomes:
        cells = " | ".join(f"{r:.3f}" for r in outcome.recall)
        calls = f"{outcome.score_calls:,.0f}"
        if outcome.unique is not None:
            calls += f" ({outcome.unique:,.0f} unique)"
        lines.append(f"| {outcome.method} | {cells} | {calls} | {outcome.seconds:.1f} |")
    return lines


def single_threaded() -> None:
    """One thread for FAISS and BLAS: on a small shared machine, more threads spin and wait."""
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(1)
    threadpool_limits(1)


def summary(results: dict[str, list[Outcome]]) -> str:
    """The default's recall@CURVE_K against the best baseline's on every objective, by half
    (and the model-auto row's, when it ran), and how many objectives meet the goals (ahead
    by AHEAD, never behind by BEHIND)."""
    candidate = any(o.method == CANDIDATE for outcomes in results.values() for o in outcomes)
    extra = " model auto |" if candidate else ""
    lines = [
        f"### Summary: recall@{CURVE_K}, the default against the best baseline",
        "",
        f"| objective | half | default |{extra} best baseline | its recall@{CURVE_K} "
        "| difference | at half the calls |",
        "|---|---|---:|" + "---:|" * candidate + "---|---:|---:|---:|",
    ]
    differences = []
    for objective, outcomes in results.items():
        by_name = {o.method: o for o in outcomes}
        baselines = [by_name[b] for b in BASELINES if b in by_name]
        if DEFAULT not in by_name or not baselines:
            continue
        best = max(baselines, key=lambda o: o.at(CURVE_K))
        ours = by_name[DEFAULT].at(CURVE_K)
        differences.append(round(ours - best.at(CURVE_K), 3))  # as printed
        auto = f" {by_name[CANDIDATE].at(CURVE_K):.3f} |" if CANDIDATE in by_name else ""
        half_way = f"{_halfway(by_name[DEFAULT]):.3f} vs {_halfway(best):.3f}"
        lines.append(
            f"| {objective} | {OBJECTIVES[objective].half} | {ours:.3f} |{auto} "
            f"{best.method} | {best.at(CURVE_K):.3f} | {differences[-1]:+.3f} | {half_way} |"
        )
    if not differences:
        return ""
    ahead = sum(d >= AHEAD for d in differences)
    worst = min(differences)
    lines += [
        "",
        f"Ahead by >= {AHEAD} on {ahead} of {len(differences)} objectives; the worst "
        f"difference is {worst:+.3f} (goal: never below -{BEHIND}).",
    ]
    return "\n".join(lines) + "\n"


def variant_tables(results: dict[str, list[Outcome]], args: argparse.Namespace) -> list[str]:
    """recall@CURVE_K of the metadata variants' rows and the goals (`variants_report`)."""
    halves = {objective: OBJECTIVES[objective].half for objective in results}
    columns = {"half": halves, "stored descriptors it reads": STORED_INPUTS}
    paths = [Path(path) for path in args.earlier.split(",") if path]
    earlier = earlier_recall(paths, setting(args), CURVE_K)
    return [
        recall_table(results, REAL, columns, CURVE_K),
        goals_table(results, REAL, CURVE_K, earlier),
        fields_read(results, REAL),
    ]


def _halfway(outcome: Outcome) -> float:
    """Recall@CURVE_K after half the budget's score calls."""
    assert outcome.curve is not None
    return float(outcome.curve[CURVE_POINTS // 2 - 1])


def plot(results: dict[str, list[Outcome]], budget: int, path: Path) -> None:
    """Recall@CURVE_K against score calls, the default and the best baseline per objective."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed (pip install -e ".[cli]"): no plot written')
        return
    shown = {
        objective: outcomes
        for objective, outcomes in results.items()
        if any(o.method == DEFAULT for o in outcomes)
    }
    if not shown:
        return
    columns = min(4, len(shown))
    rows = -(-len(shown) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.0 * rows), squeeze=False)
    grid = curve_calls(budget)
    for axis, (objective, outcomes) in zip(axes.flat, shown.items()):
        by_name = {o.method: o for o in outcomes}
        baselines = [by_name[b] for b in BASELINES if b in by_name]
        drawn = [by_name[DEFAULT]]
        drawn += [max(baselines, key=lambda o: o.at(CURVE_K))] if baselines else []
        for outcome, style in zip(drawn, ("-", "--")):
            label = "emb_opt default" if outcome.method == DEFAULT else outcome.method
            axis.plot(grid, outcome.curve, style, label=label)
        axis.set_title(f"{objective} ({OBJECTIVES[objective].half})", fontsize=9)
        axis.set_xlabel("score calls", fontsize=8)
        axis.set_ylabel(f"recall@{CURVE_K}", fontsize=8)
        axis.set_ylim(0, 1)
        axis.legend(fontsize=6, loc="upper left")
    for axis in list(axes.flat)[len(shown) :]:
        axis.set_visible(False)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"plot written to {path}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n",
        type=int,
        default=SPLITS["test"],
        help=f"molecules: up to {SPLITS['test']} from the test split, "
        f"up to {SPLITS['train']} from the train split",
    )
    parser.add_argument("--budget", type=int, default=2_000, help="score calls per search")
    parser.add_argument(
        "--batch", type=int, default=None, help="score calls per round of every batched method"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per method")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed")
    parser.add_argument(
        "--half", choices=(*HALVES, "all"), default="all", help="which objectives (default all)"
    )
    parser.add_argument("--objectives", default=None, help="comma-separated (instead of --half)")
    parser.add_argument(
        "--methods",
        default=None,
        help="comma-separated; 'all' for every row (default: the baselines and the default)",
    )
    parser.add_argument(
        "--metadata",
        default=None,
        help="comma-separated metadata variants, each adding the default with that stored "
        f"beside the vectors (and the descriptors hand-picked where stored): "
        f"{', '.join(variants(REAL))}, or 'all'; then --methods adds rows (default: none)",
    )
    parser.add_argument(
        "--earlier",
        default=",".join(str(RESULTS / f"molecules_{h}.md") for h in HALVES),
        help="comma-separated results files the default with nothing stored is compared with",
    )
    parser.add_argument("--out", default=str(RESULTS / "molecules.md"), help="markdown output")
    args = parser.parse_args(argv)
    if not 0 < args.n <= max(SPLITS.values()):
        parser.error(f"--n must be in 1..{max(SPLITS.values())}")
    args.split = split_for(args.n)
    args.seeds = range(args.first_seed, args.first_seed + args.seeds)
    args.objectives = args.objectives.split(",") if args.objectives else half(args.half)
    selected = variants(REAL) if args.metadata == "all" else (args.metadata or "").split(",")
    args.metadata = [v for v in selected if v]
    if args.methods == "all":
        args.methods = [*METHODS, ORIGINAL]
    elif args.methods:
        args.methods = args.methods.split(",")
    else:
        args.methods = [] if args.metadata else [*BASELINES, DEFAULT]
    unknown = [v for v in args.metadata if v not in variants(REAL)]
    if unknown:
        parser.error(f"unknown metadata variants {unknown}; expected {list(variants(REAL))}")
    args.methods += [m for m in variant_methods(args.metadata, REAL) if m not in args.methods]
    unknown = [m for m in args.methods if m not in METHODS and m != ORIGINAL]
    unknown += [o for o in args.objectives if o not in OBJECTIVES]
    if unknown:
        parser.error(f"unknown {unknown}; methods: {list(METHODS)}; objectives: {list(OBJECTIVES)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(format="%(message)s")
    logging.getLogger("emb_opt.update.round_cost").setLevel(logging.INFO)  # guided's "auto"
    logging.getLogger("emb_opt.update.field_choice").setLevel(logging.INFO)  # fields "auto"
    began = time.perf_counter()
    data = load_molecules(args.n, objectives=args.objectives)
    loaded = time.perf_counter() - began
    built = cache_meta(args.split).get("build_seconds")
    single_threaded()
    rows = methods(args.batch)
    sections, results = [], {}
    with tempfile.TemporaryDirectory(prefix="emb_opt_molecules_") as scratch:
        for objective in args.objectives:
            names = [m for m in args.methods if m in rows]
            values, noise = data.objectives[objective], OBJECTIVES[objective].noise
            outcomes = [
                run_method(m, rows[m], data, values, args.seeds, args.budget, noise) for m in names
            ]
            if ORIGINAL in args.methods:
                values = data.objectives[objective]
                original = run_original(data, values, args.seeds, args.budget, Path(scratch))
                outcomes += [original] if original is not None else []
            results[objective] = outcomes
            sections.append(table(objective, data, outcomes, args))
            print(sections[-1], flush=True)
    ending = [summary(results), *(variant_tables(results, args) if args.metadata else [])]
    sections += ending
    print("\n".join(ending))
    took = (
        f"Data loaded in {loaded:.1f} s (its cache was built in {built} s); "
        f"benchmark {time.perf_counter() - began - loaded:.0f} s."
    )
    print(took)
    command = "python -m benchmarks.molecules " + shlex.join(sys.argv[1:] if argv is None else argv)
    header = f"# Molecule screening benchmark\n\n`{command.strip()}`\n\n{READING}\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + "\n".join(sections) + f"\n{took}\n")
    plot(results, args.budget, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
