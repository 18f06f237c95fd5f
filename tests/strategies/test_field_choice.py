"""`fields="auto"`: the guided model reads the stored fields that help it, and no others."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from emb_opt.protocols import StoredField
from emb_opt.update.field_choice import FieldChoice, candidates, choose

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
