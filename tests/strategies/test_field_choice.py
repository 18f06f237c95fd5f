"""`fields="auto"`: the guided model reads the stored fields that help it, and no others."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.protocols import SCAN_BATCH, StoredField
from emb_opt.runner import Runner
from emb_opt.stopping import StopRule
from emb_opt.update import GuidedUpdate
from emb_opt.update.field_choice import FieldChoice, candidates, choose
from emb_opt.utils import build_batch_from_items

N, DIM = 800, 16


def stored(name: str, kind: str = "number", width: int = 1, **changes) -> StoredField:
    values = {"present": 1.0, "distinct": 500, "sampled": 500} | changes
    return StoredField(name, kind, width, **values)


def test_candidates_are_the_numbers_most_items_hold_that_vary_and_are_no_id():
    fields = [
        stored("mw"),
        stored("fingerprint", "vector", 8),
        stored("smiles", "text", 0),
        stored("flags", "other", 0),
        stored("plate_version", distinct=1),
        stored("ic50", present=0.1, distinct=50),
        stored("compound_id"),
        stored("catalogId"),
        stored("price", distinct=480),
        stored("batch_id", distinct=40),  # repeats: a grouping, not an id
    ]
    assert candidates(fields) == ("mw", "fingerprint", "price", "batch_id")


@pytest.fixture(scope="module")
def scored():
    """Embeddings that say little of the score; `potency` and `profile` (a vector field)
    say much; `price`, `batch` and `rank` carry nothing."""
    rng = np.random.default_rng(3)
    embeddings = rng.standard_normal((N, DIM)).astype(np.float32)
    potency = rng.standard_normal(N)
    profile = rng.standard_normal((N, 3))
    scores = (
        0.2 * embeddings[:, 0] + potency + np.sin(2 * profile[:, 0]) + 0.1 * rng.standard_normal(N)
    )
    noise = {
        "price": rng.lognormal(3, 1, N),
        "batch": rng.integers(1, 40, N).astype(float),
        "rank": rng.permutation(N).astype(float),
    }
    return embeddings, scores, {"potency": potency, "profile": profile}, noise


def test_the_fields_that_predict_the_score_are_read_and_the_noise_is_not(scored):
    embeddings, scores, useful, noise = scored
    choice = choose(embeddings, useful | noise, scores, np.random.default_rng(0))
    assert set(choice.fields) == {"potency", "profile"}
    assert choice.precision > choice.without + 0.1
    assert choice.scored == N


def test_fields_that_carry_nothing_are_not_read(scored):
    embeddings, scores, _, noise = scored
    choice = choose(embeddings, noise, scores, np.random.default_rng(0))
    assert choice.fields == ()
    assert choice.precision == choice.without


def test_a_field_missing_on_some_items_is_still_read(scored):
    embeddings, scores, useful, _ = scored
    potency = useful["potency"].copy()
    potency[::4] = np.nan  # a quarter of the items lack it
    choice = choose(embeddings, {"potency": potency}, scores, np.random.default_rng(0))
    assert choice.fields == ("potency",)


def test_the_choice_is_logged_with_its_held_out_figures(scored, caplog):
    embeddings, scores, useful, _ = scored
    with caplog.at_level(logging.INFO, logger="emb_opt.update.field_choice"):
        choose(embeddings, useful, scores, np.random.default_rng(0))
    (message,) = [r.getMessage() for r in caplog.records]
    assert "the model reads potency, profile" in message or "profile, potency" in message
    assert "held-out top-k precision" in message and "embedding alone" in message


def test_a_choice_read_back_from_a_checkpoint_holds_a_tuple():
    assert FieldChoice(["a", "b"], 0.5, 0.4, 10).fields == ("a", "b")  # type: ignore[arg-type]


# --- in a search over a real source -------------------------------------------------------


class RecordingSource(NumpyDataSource):
    """A numpy source that notes which fields each scan read."""

    def scan(self, batch_size=SCAN_BATCH, partition=None, fields=None):
        self.reads.append(None if fields is None else tuple(fields))
        return super().scan(batch_size, partition, fields=fields)


def collection(stored: str, n: int = 3000):
    """Embeddings that say little of the score; the score is `potency` (stored when
    `stored` says so) plus a little of the embedding; noise fields stored beside it."""
    rng = np.random.default_rng(11)
    embeddings = rng.standard_normal((n, 8)).astype(np.float32)
    potency = rng.standard_normal(n)
    scores = potency + 0.3 * embeddings[:, 0]
    noise = {"price": rng.lognormal(3, 1, n), "batch": rng.integers(1, 30, n)}
    metadata = [
        {"name": f"m{i}"}
        | ({"potency": float(potency[i])} if stored == "potency" else {})
        | {key: float(values[i]) for key, values in noise.items()}
        for i in range(n)
    ]
    source = RecordingSource(embeddings, k=10, metadata=metadata)
    source.reads = []
    return source, scores


def guided_search(source, scores, fields, mode="pool"):
    update = GuidedUpdate(batch=25, initial=50, mode=mode, fields=fields, features=128, seed=0)

    def score(items):
        return [float(scores[int(item.id)]) for item in items]

    runner = Runner(source, None, score, None, update, seed=0)
    start = build_batch_from_items(source.sample(4, seed=1))
    _, log = runner.search(start, 30, verbose=False, stop=StopRule(max_score_calls=300))
    return update, log


@pytest.mark.parametrize("mode", ["pool", "neighbourhood"])
def test_a_search_whose_stored_fields_carry_nothing_is_the_search_without_fields(mode):
    source, scores = collection(stored="noise only")
    chosen, log = guided_search(source, scores, "auto", mode)
    _, without = guided_search(source, scores, [], mode)
    assert set(chosen.candidates) == {"price", "batch"}  # not the text field "name"
    assert chosen.fields_read is not None and chosen.fields_read.fields == ()
    assert list(log.items) == list(without.items)


def test_a_pool_round_scans_only_the_fields_the_model_reads_and_scores_whole_items():
    source, scores = collection(stored="potency")
    update, log = guided_search(source, scores, "auto")
    assert update.fields_read is not None and update.fields_read.fields == ("potency",)
    assert {read for read in source.reads if read} == {("potency",)}
    scored = [item for item in log.items.values() if item.score is not None]
    assert all(set(item.data) == {"name", "potency", "price", "batch"} for item in scored)
    top = set(np.argsort(-scores)[:30].tolist())
    found = len(top & {int(item.id) for item in scored})
    _, blind = guided_search(source, scores, [])
    assert found >= len(top & {int(i.id) for i in blind.items.values() if i.score is not None}) + 5
