"""Pool rounds in parts: shortlists merge to the same answer however the scan is split,
scored ids are dropped without a loop over the collection, and rating blocks are checked."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.log import item_key
from emb_opt.update.pool import InProcessRater, RatingJob, ScoredIds, make_rater
from emb_opt.update.pool.shortlist import top
from emb_opt.update.regressors import RandomFeatureEnsemble

N, DIM = 3000, 8


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((N, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def model(points) -> RandomFeatureEnsemble:
    scores = points[:200, 0] - points[:200, 1] ** 2
    return RandomFeatureEnsemble.fit(points[:200], scores, np.random.default_rng(1), features=64)


def numpy_source(points, filter=None, ids=None):
    metadata = [{"n": i % 5} for i in range(len(points))]
    return NumpyDataSource(points, k=3, ids=ids, metadata=metadata, filter=filter)


def job(model, scored, size=40, acquisition="ucb", batch_size=256):
    return RatingJob(model, acquisition, 1.0, size, ScoredIds.from_keys(scored), batch_size)


def test_the_shortlist_is_the_best_unscored_items_of_the_whole_collection(points, model):
    scored = [repr(i) for i in range(0, N, 4)]
    found = InProcessRater().shortlist(
        numpy_source(points), job(model, scored, acquisition="greedy")
    )
    value = np.concatenate([model.predict(points[i : i + 256]) for i in range(0, N, 256)])
    value = value.mean(axis=1)  # predicted in the scan's batches: the same float32 rounding
    value[::4] = -np.inf
    expected = np.argsort(-value, kind="stable")[:40]
    assert found.ids == expected.tolist()
    np.testing.assert_allclose(found.value, value[expected], rtol=1e-6)
    assert [item_key(i) for i in found.to_items()] == [repr(i) for i in expected.tolist()]


@pytest.mark.parametrize("flt", [None, {"n": {"$in": [1, 3]}}, {"n": 7}])
@pytest.mark.parametrize("parts", [2, 5, 64])
def test_any_split_of_the_scan_gives_the_same_shortlist(points, model, flt, parts):
    source = numpy_source(points, flt)
    whole = InProcessRater().shortlist(source, job(model, [repr(i) for i in range(50)]))
    split = InProcessRater(parts).shortlist(source, job(model, [repr(i) for i in range(50)]))
    assert split.ids == whole.ids
    assert len(source.partitions(parts)) <= parts
    if flt == {"n": 7}:
        assert whole.ids == []


def test_ties_go_to_the_earlier_item_of_the_scan():
    value = np.array([1.0, 3.0, 3.0, 2.0, 3.0])
    position = np.array([4, 3, 2, 1, 0])
    assert top(value, position, 2).tolist() == [4, 2]
    assert top(value, position, 9).tolist() == [4, 2, 1, 3, 0]


def test_string_ids_and_mixed_keys_are_excluded(points, model):
    ids = [f"mol-{i}" for i in range(N)]
    scored = [repr(f"mol-{i}") for i in range(0, N, 2)] + [repr(7), "emb:abc"]
    found = InProcessRater(3).shortlist(numpy_source(points, ids=ids), job(model, scored))
    assert len(found) == 40
    assert all(int(i.split("-")[1]) % 2 == 1 for i in found.ids)
    mask = ScoredIds.from_keys(scored).mask([("a", 1), "x"])
    assert mask.tolist() == [False, False]
    assert ScoredIds.from_keys([repr(("a", 1))]).mask([("a", 1), ("a", 2)]).tolist() == [
        True,
        False,
    ]


def test_an_all_scored_collection_gives_an_empty_shortlist(points, model):
    found = InProcessRater(4).shortlist(
        numpy_source(points[:100]), job(model, map(repr, range(100)))
    )
    assert len(found) == 0
    assert found.reads >= 1


def test_scanned_batches_are_counted_as_reads(points, model):
    found = InProcessRater(3).shortlist(numpy_source(points), job(model, [], batch_size=500))
    assert found.reads == 6  # 3 parts of 1000 items, 2 batches of 500 each


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"executor": "spark"}, "rating.executor must be 'local' or 'ray', got 'spark'"),
        ({"executor": "local", "workers": 3}, "local rating does not take ['workers']"),
        ({"executor": "local", "partitions": 0}, "partitions"),
    ],
)
def test_a_bad_rating_block_is_one_clear_error(block, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_rater(block)


def test_the_parts_are_found_once_per_run(points, model, monkeypatch):
    source = numpy_source(points)
    calls: list[int] = []
    partitions = source.partitions
    monkeypatch.setattr(
        source, "partitions", lambda count: calls.append(count) or partitions(count)
    )
    rater = InProcessRater(4)
    first = rater.shortlist(source, job(model, []))
    again = rater.shortlist(source, job(model, [repr(i) for i in first.ids[:5]]))
    assert calls == [4]
    assert again.ids[:5] != first.ids[:5] and set(again.ids) >= set(first.ids[5:])
