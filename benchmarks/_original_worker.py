"""Run the seed tutorial workload with the ORIGINAL published `emb-opt==1.0.2`.

This script runs inside the throwaway venv that `benchmarks.original` builds; it must not
import the project's own `emb_opt` (it imports the original package of the same name). It
reads a workload as JSON on stdin and writes one JSON object on stdout; everything else
(the original runner's prints, library warnings) goes to stderr.

Workload keys (defaults in `DEFAULTS`):
    n, dim, queries, iterations, k, seed, lrs, filter, index ("hf" or "faiss"),
    query_seed (default 40, as the tutorial: reseed before drawing the start queries;
    None: they continue the data stream), datagen ("auto", "loop" or "vectorised"), recall_at,
    objective ("seed": the tutorial's score; "metadata": that bump, narrower, times a factor
    of the item's `rand`; "multimodal": Gaussian bumps over vectors read from `data_file`, an
    .npz with `embeddings`, `centres`, `heights` and `widths`, instead of generated data;
    "lookup": a precomputed value per row, read with the vectors from `data_file`, an .npz
    with `embeddings` and `scores`), start ("gaussian": start queries drawn from N(0, I) as
    the tutorial; "items": the embeddings of `queries` random rows, drawn after reseeding
    with query_seed).

Exact RNG order (numpy's legacy global RandomState):
    1. np.random.seed(seed)
    2. vectors = np.random.randn(n, dim)
    3. item strings and `rand`:
       - "loop" (the tutorial, the default when n == 10000): for each item i in order,
         np.random.choice(26 lowercase letters, size=10) then np.random.rand();
       - "vectorised" (the default when n != 10000, fast for 1,000,000 rows):
         letters = np.random.choice(26 lowercase letters, size=(n, 10)), then
         rand = np.random.rand(n). Different numbers from "loop" for the same seed.
    4. if query_seed is not None: np.random.seed(query_seed)
    5. start queries = np.random.randn(queries, dim)
The seed tutorial draws its start queries after np.random.seed(40), hence the default.
"""

from __future__ import annotations

import contextlib
import json
import string
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

DEFAULTS: dict[str, Any] = {
    "n": 10000,
    "dim": 64,
    "queries": 5,
    "iterations": 15,
    "k": 10,
    "seed": 42,
    "lrs": [0.25],
    "filter": True,
    "index": "hf",
    "query_seed": 40,
    "datagen": "auto",
    "recall_at": [1, 5, 10, 50],
    "objective": "seed",
    "data_file": None,
    "start": "gaussian",
}
LETTERS = list(string.ascii_lowercase)


def score_embeddings(
    embeddings: np.ndarray, sigma: float = 5.0, target: float = 0.75
) -> np.ndarray:
    """The tutorial's score: a Gaussian bump at [0.75, ...] over the normalised distance."""
    target_point = np.ones(embeddings.shape[1]) * target
    distances = np.linalg.norm(embeddings - target_point, axis=1) / np.sqrt(embeddings.shape[1])
    return np.exp(-0.5 * (distances / sigma) ** 2)


def objective_scores(
    cfg: dict[str, Any], embeddings: np.ndarray, rand: np.ndarray, bumps: dict | None
) -> np.ndarray:
    """The workload's objective on rows (the same formulas as `emb_opt.objectives`)."""
    if cfg["objective"] == "seed":
        return score_embeddings(embeddings)
    if cfg["objective"] == "metadata":  # TargetMetadataScore(): sigma 1, weight 0.5 on `rand`
        return score_embeddings(embeddings, sigma=1.0) * (0.5 + 0.5 * rand)
    if cfg["objective"] == "lookup" and bumps is not None:  # precomputed, one value per row
        return bumps["scores"]
    if cfg["objective"] == "multimodal" and bumps is not None:  # BumpsScore
        centres = bumps["centres"]
        squared = (embeddings**2).sum(axis=1, keepdims=True) - 2 * embeddings @ centres.T
        squared = np.maximum(squared + (centres**2).sum(axis=1), 0.0)
        return np.exp(-squared / (2 * bumps["widths"] ** 2)) @ bumps["heights"]
    raise ValueError(
        f"objective must be seed, metadata, multimodal or lookup (with data_file): {cfg}"
    )


def generate_data(cfg: dict[str, Any]) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Vectors, item strings, `rand` column and start queries, in the documented RNG order."""
    n, dim = cfg["n"], cfg["dim"]
    mode = cfg["datagen"]
    if mode == "auto":
        mode = "loop" if n == 10000 else "vectorised"
    np.random.seed(cfg["seed"])
    vectors = np.random.randn(n, dim)
    if mode == "loop":
        items, rands = [], []
        for _ in range(n):
            items.append("".join(np.random.choice(LETTERS, size=10).tolist()))
            rands.append(np.random.rand())
        rand = np.array(rands)
    elif mode == "vectorised":
        letters = np.random.choice(LETTERS, size=(n, 10))
        items = letters.view("<U10").ravel().tolist()
        rand = np.random.rand(n)
    else:
        raise ValueError(f"datagen must be 'auto', 'loop' or 'vectorised', not {mode!r}")
    if cfg["query_seed"] is not None:
        np.random.seed(cfg["query_seed"])
    return vectors, items, rand, start_queries(cfg, vectors)


def start_queries(cfg: dict[str, Any], vectors: np.ndarray) -> np.ndarray:
    """The start queries, from the global RNG: N(0, I) draws, or random rows' embeddings."""
    if cfg.get("start", "gaussian") == "items":
        return vectors[np.random.choice(len(vectors), cfg["queries"], replace=False)]
    return np.random.randn(cfg["queries"], vectors.shape[1])


def build_hf_plugin(
    cfg: dict[str, Any], vectors: np.ndarray, items: list[str], rand: np.ndarray
) -> Any:
    """The tutorial's HF Dataset + add_faiss_index + HugggingfaceDataPlugin."""
    import datasets
    from datasets import Dataset

    from emb_opt.plugins.huggingface import HugggingfaceDataPlugin

    datasets.disable_progress_bars()
    if cfg["n"] == 10000 and cfg["datagen"] in ("auto", "loop"):
        rows = [
            {"index": i, "item": items[i], "rand": float(rand[i]), "embedding": vectors[i]}
            for i in range(len(items))
        ]
        dataset = Dataset.from_list(rows)
    else:
        dataset = Dataset.from_dict(
            {"index": np.arange(len(items)), "item": items, "rand": rand, "embedding": vectors}
        )
    dataset.add_faiss_index("embedding")
    return HugggingfaceDataPlugin(
        k=cfg["k"],
        dataset=dataset,
        index_name="embedding",
        item_key="item",
        id_key="index",
        distance_cutoff=None,
    )


def build_faiss_plugin(
    cfg: dict[str, Any], vectors: np.ndarray, items: list[str], rand: np.ndarray
) -> Any:
    """The original FaissDataPlugin over a flat L2 index (ids are row numbers)."""
    import faiss
    from emb_opt.plugins.faiss import FaissDataPlugin

    index = faiss.IndexFlatL2(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    item_data = [{"item": items[i], "rand": float(rand[i])} for i in range(len(items))]
    return FaissDataPlugin(k=cfg["k"], faiss_index=index, item_data=item_data, item_key="item")


class Counter:
    """Wraps a plugin function and counts what flows through it."""

    def __init__(self, function: Callable, count: Callable[[list, list], int]) -> None:
        self.function = function
        self.count = count
        self.total = 0
        self.calls = 0

    def __call__(self, inputs: list) -> list:
        outputs = self.function(inputs)
        self.total += self.count(inputs, outputs)
        self.calls += 1
        return outputs


def tutorial_filter(inputs: list) -> list:
    """The tutorial's filter: keep items whose `rand` is below 0.9."""
    from emb_opt.schemas import FilterResponse

    return [
        FilterResponse(valid=i.data["rand"] < 0.9, data={"rand": i.data["rand"]}) for i in inputs
    ]


def score_plugin(cfg: dict[str, Any], bumps: dict | None) -> Callable[[list], list]:
    """The objective as an original score plugin."""
    from emb_opt.schemas import ScoreResponse

    def score(inputs: list) -> list:
        if cfg["objective"] == "lookup" and bumps is not None:
            values = bumps["scores"][[int(i.id) for i in inputs]]
            return [ScoreResponse(valid=True, score=float(s), data=None) for s in values]
        embeddings = np.array([i.embedding for i in inputs])
        rand = np.array([(i.data or {}).get("rand", 0.0) for i in inputs])
        scores = objective_scores(cfg, embeddings, rand, bumps)
        return [ScoreResponse(valid=True, score=s, data=None) for s in scores]

    return score


def ground_truth(scores: np.ndarray, cfg: dict[str, Any], rand: np.ndarray) -> np.ndarray:
    """Ids of the eligible items sorted best first (exhaustive)."""
    ids = np.flatnonzero(rand < 0.9) if cfg["filter"] else np.arange(len(scores))
    return ids[np.argsort(-scores[ids], kind="stable")]


def load_data(cfg: dict[str, Any]) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, dict]:
    """The workload's rows and start queries: generated, or read from `data_file`."""
    if cfg["data_file"] is None:
        return (*generate_data(cfg), None)
    with np.load(cfg["data_file"]) as data:
        vectors = data["embeddings"].astype(np.float64)
        keys = ("scores",) if cfg["objective"] == "lookup" else ("centres", "heights", "widths")
        bumps = {key: data[key].astype(np.float64) for key in keys}
    items = [str(i) for i in range(len(vectors))]
    np.random.seed(cfg["query_seed"])
    return vectors, items, np.zeros(len(vectors)), start_queries(cfg, vectors), bumps


def run(cfg: dict[str, Any]) -> dict[str, Any]:
    """Build the workload, run the original Runner.search, and measure it."""
    from emb_opt.runner import Runner
    from emb_opt.update import RLUpdate
    from emb_opt.utils import build_batch_from_embeddings

    began = time.perf_counter()
    vectors, items, rand, start, bumps = load_data(cfg)
    builders = {"hf": build_hf_plugin, "faiss": build_faiss_plugin}
    if cfg["index"] not in builders:
        raise ValueError(f"index must be one of {sorted(builders)}, not {cfg['index']!r}")
    data_plugin = builders[cfg["index"]](cfg, vectors, items, rand)
    setup_seconds = time.perf_counter() - began

    data = Counter(data_plugin, lambda _i, out: sum(len(r.query_results) for r in out))
    filt = Counter(tutorial_filter, lambda inp, _o: len(inp))
    rejected = Counter(filt, lambda _i, out: sum(not r.valid for r in out))
    score = Counter(score_plugin(cfg, bumps), lambda inp, _o: len(inp))
    update = RLUpdate(lrs=cfg["lrs"], distance_penalty=0.0)
    runner = Runner(data, rejected if cfg["filter"] else None, score, None, update)
    batch = build_batch_from_embeddings(start)
    began = time.perf_counter()
    _, log = runner.search(batch, cfg["iterations"], verbose=False)
    search_seconds = time.perf_counter() - began

    results = log.compile_results(skip_removed=False)
    found = [int(r["id"]) for r in results]
    all_scores = objective_scores(cfg, vectors, rand, bumps)
    truth = ground_truth(all_scores, cfg, rand)
    found_set = set(found)
    recall = {str(k): len(found_set.intersection(truth[:k].tolist())) / k for k in cfg["recall_at"]}
    scores = [r["score"] for r in results if r["score"] is not None]
    return {
        "library": "emb-opt==1.0.2",
        "workload": cfg,
        "setup_seconds": setup_seconds,
        "search_seconds": search_seconds,
        "score_calls": score.total,
        "filter_calls": filt.total,
        "returned_items": data.total,
        "filtered_out": rejected.total,
        "data_calls": data.calls,
        "unique_items": len(results),
        "unique_valid_items": len(log.compile_results(skip_removed=True)),
        "recall": recall,
        "best_score": max(scores) if scores else None,
        "true_best_score": float(all_scores[truth[0]]),
        "results_ids": found,
    }


def main() -> None:
    """Read the workload (stdin JSON, or argv[1]) and print the result as JSON on stdout."""
    raw = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
    workload = json.loads(raw) if raw.strip() else {}
    unknown = set(workload) - set(DEFAULTS)
    if unknown:
        raise SystemExit(f"unknown workload keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **workload}
    with contextlib.redirect_stdout(sys.stderr):
        result = run(cfg)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
