"""Product catalogue benchmark: find the priciest of 53,940 real diamonds in 1,000 score calls.

    python -m benchmarks.catalogue                           # every variant, 3 seeds
    python -m benchmarks.catalogue --seeds 1                 # quick
    python -m benchmarks.catalogue --metadata none,noise --methods random

Data (`benchmarks.catalogue_data`): ggplot2's diamonds table out of plotnine's wheel. The
search reads a text embedding of each listing's title; the shop stores the numeric columns
beside it (carat, depth, table, x, y, z) and, in some metadata variants, five fields that
carry nothing (`benchmarks.stored_fields.NOISE`). Rows: the baselines a skeptical user
writes (random, greedy kNN walk, pool active learning with a kernel ridge and with an MLP,
all reading the embedding), the default under each metadata variant (`--metadata`, default
all), the columns hand-picked (`fields: [carat, depth, table, x, y, z]`) and pool active
learning (kernel ridge) reading the columns too. Prints a table per objective, the
variants' recall@100 beside the best baseline's and the goals, and writes them to
benchmarks/results/catalogue.md (`--out`).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

from .catalogue_data import COLUMNS, OBJECTIVES, Catalogue, load_catalogue
from .molecules import CURVE_K, RESULTS, Outcome, outcome_lines, run_method, single_threaded
from .molecules_methods import (
    BASELINES,
    MAX_ITERATIONS,
    POOL_FIELDS,
    K,
    Method,
    skeptic_rows,
    variant_methods,
    variant_rows,
)
from .stored_fields import NOISE, NOISE_NOTES, neighbour_agreement, variants
from .variants_report import fields_read, goals_table, recall_table

REAL = Catalogue.REAL
NOISE_LIST = ", ".join(f"{name} ({note})" for name, note in zip(NOISE, NOISE_NOTES))
READING = f"""Recall@k is the share of the exhaustive top k (over all 53,940 diamonds) that a
method scored, tie-aware (a scored diamond counts when its value reaches the k-th best value,
at most k of them); means over seeds. A score call is a counted lookup of the value.
"Neighbour agreement" is the correlation of a diamond's value with the mean of its 10 nearest
neighbours' in the embedding (1 smooth, 0 rough).

- The vector: the listing's title ("0.23 carat round diamond, Ideal cut, colour E, clarity
  SI2") embedded by hashed character 2- to 4-grams, TF-IDF, TruncatedSVD to 64 dims.
- Stored fields, by metadata variant: "columns" {", ".join(COLUMNS)} (weight in carats, depth
  and table in %, size in mm); "noise" {NOISE_LIST};
  "columns+noise" both; "none" nothing. The price is never stored: it is the score.
- emb_opt rows: FaissDataSource (flat, k={K}), 10 random start items,
  `StopRule(max_score_calls=budget)`, at most {MAX_ITERATIONS} iterations. "default [v]" is a
  run config without a strategy block over a source storing variant v; "columns hand-picked"
  names the six columns (`fields: [...]`) over a source storing columns and noise.
- Pool active learning: 10% of the budget at random, then 10 rounds that fit the model on
  all scored diamonds, predict all and score the best predicted; "reading the columns": on
  the embedding with the six columns appended (standardised, weighed like the embedding).
"""


def rows(batch: int | None = None) -> dict[str, Method]:
    """Every row of the catalogue benchmark."""
    return skeptic_rows(batch) | variant_rows(REAL, COLUMNS, batch)


def table(
    objective: str, data: Catalogue, outcomes: list[Outcome], args: argparse.Namespace
) -> str:
    """One objective's markdown table."""
    agreement = neighbour_agreement(data, data.objectives[objective])
    lines = [
        f"### {objective}: {OBJECTIVES[objective]}",
        "",
        f"n = {len(data):,} diamonds, budget {args.budget:,} score calls, {len(args.seeds)} "
        f"seeds; neighbour agreement {agreement:.2f}",
        "",
    ]
    return "\n".join(lines + outcome_lines(outcomes)) + "\n"


def best_baselines(results: dict[str, list[Outcome]]) -> dict[str, str]:
    """Per objective, the best baseline by recall@CURVE_K and its figure."""
    best = {}
    for objective, outcomes in results.items():
        baselines = [o for o in outcomes if o.method in BASELINES]
        if baselines:
            top = max(baselines, key=lambda o: o.at(CURVE_K))
            best[objective] = f"{top.method} {top.at(CURVE_K):.3f}"
    return best


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=1_000, help="score calls per search")
    parser.add_argument(
        "--batch", type=int, default=None, help="score calls per round of every batched method"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per method")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed")
    parser.add_argument(
        "--objectives", default=",".join(OBJECTIVES), help=f"comma-separated: {list(OBJECTIVES)}"
    )
    parser.add_argument(
        "--metadata",
        default="all",
        help=f"comma-separated metadata variants ({', '.join(variants(REAL))}) or 'all': the "
        "default under each (and the columns hand-picked where stored)",
    )
    parser.add_argument(
        "--methods",
        default=None,
        help="comma-separated rows besides the variants' (default: the baselines and pool "
        "active learning reading the columns; 'all': every row)",
    )
    parser.add_argument("--out", default=str(RESULTS / "catalogue.md"), help="markdown output")
    args = parser.parse_args(argv)
    args.seeds = range(args.first_seed, args.first_seed + args.seeds)
    args.objectives = args.objectives.split(",")
    args.metadata = list(variants(REAL)) if args.metadata == "all" else args.metadata.split(",")
    known = rows()
    if args.methods == "all":
        args.methods = list(known)
    else:
        args.methods = args.methods.split(",") if args.methods else [*BASELINES, POOL_FIELDS]
    unknown = [v for v in args.metadata if v not in variants(REAL)]
    if unknown:
        parser.error(f"unknown metadata variants {unknown}; expected {list(variants(REAL))}")
    args.methods += [m for m in variant_methods(args.metadata, REAL) if m not in args.methods]
    unknown = [m for m in args.methods if m not in known]
    unknown += [o for o in args.objectives if o not in OBJECTIVES]
    if unknown:
        parser.error(f"unknown {unknown}; methods: {list(known)}; objectives: {list(OBJECTIVES)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(format="%(message)s")
    logging.getLogger("emb_opt.update.round_cost").setLevel(logging.INFO)  # guided's "auto"
    logging.getLogger("emb_opt.update.field_choice").setLevel(logging.INFO)  # fields "auto"
    began = time.perf_counter()
    data = load_catalogue()
    loaded = time.perf_counter() - began
    single_threaded()
    methods = rows(args.batch)
    sections, results = [], {}
    for objective in args.objectives:
        values = data.objectives[objective]
        outcomes = [
            run_method(m, methods[m], data, values, args.seeds, args.budget) for m in args.methods
        ]
        results[objective] = outcomes
        sections.append(table(objective, data, outcomes, args))
        print(sections[-1], flush=True)
    columns = {f"best baseline, recall@{CURVE_K}": best_baselines(results)}
    ending = [
        recall_table(results, REAL, columns, CURVE_K),
        goals_table(results, REAL, CURVE_K, None),
        fields_read(results, REAL),
    ]
    sections += ending
    print("\n".join(ending))
    took = f"Data loaded in {loaded:.1f} s; benchmark {time.perf_counter() - began - loaded:.0f} s."
    print(took)
    command = "python -m benchmarks.catalogue " + shlex.join(sys.argv[1:] if argv is None else argv)
    header = f"# Product catalogue benchmark\n\n`{command.strip()}`\n\n{READING}\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + "\n".join(sections) + f"\n{took}\n")


if __name__ == "__main__":
    main()
