"""The seed's strategies, prune, gradient pair and composites."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt import Runner
from emb_opt.composite import CompositeFilter, CompositeScore
from emb_opt.data_source import DataPluginGradWrapper
from emb_opt.objectives import TargetScore
from emb_opt.prune import TopKPrune
from emb_opt.schemas import FilterResponse, Item, ItemInternal, Query, ScoreResponse
from emb_opt.update import (
    RLUpdate,
    TopKContinuousUpdate,
    TopKDiscreteUpdate,
    UpdatePluginGradientWrapper,
    score_gradient,
)


def scored_query(qid: str, points, scores, collection: int = 0) -> Query:
    query = Query(embedding=np.zeros(2))
    query.internal.id, query.internal.collection_id = qid, collection
    query.query_results = [
        Item(id=f"{qid}-{i}", embedding=p, score=s, internal=ItemInternal(query_id=qid))
        for i, (p, s) in enumerate(zip(points, scores))
    ]
    return query


def test_score_gradient_points_toward_higher_scores():
    query = scored_query("a", [[1, 0], [-1, 0], [0, 1], [0, -1]], [4.0, 0.0, 2.0, 2.0])
    gradient = score_gradient(query)
    assert gradient[0] > 0 and abs(gradient[1]) < 1e-12
    assert np.linalg.norm(score_gradient(query, max_norm=0.01)) == pytest.approx(0.01)


def test_score_gradient_is_none_without_scores_and_zero_when_flat():
    assert score_gradient(Query(embedding=[0.0, 0.0])) is None
    flat = scored_query("a", [[1, 0], [0, 1]], [1.0, 1.0])
    assert not score_gradient(flat).any()


def test_rl_update_makes_one_child_per_learning_rate():
    query = scored_query("a", [[1, 0], [-1, 0]], [1.0, 0.0])
    children = RLUpdate(lrs=[0.1, 0.5])([query])
    assert [c.parent_id for c in children] == ["a", "a"]
    steps = [c.query.embedding[0] for c in children]
    assert 0 < steps[0] < steps[1]


def test_topk_discrete_takes_the_best_distinct_items():
    a = scored_query("a", [[1, 0], [2, 0]], [0.9, 0.1])
    b = scored_query("b", [[3, 0]], [0.5])
    b.query_results.append(a.query_results[0].model_copy())  # the same item seen twice
    children = TopKDiscreteUpdate(2)([a, b])
    assert [c.query.embedding[0] for c in children] == [1, 3]
    assert [c.parent_id for c in children] == ["a", "b"]


def test_topk_continuous_moves_to_the_mean_of_the_best():
    query = scored_query("a", [[2, 0], [0, 2], [-5, -5]], [1.0, 0.9, 0.0])
    (child,) = TopKContinuousUpdate(2)([query])
    assert child.query.embedding.tolist() == [1.0, 1.0]
    (weighted,) = TopKContinuousUpdate(2, score_weighted=True)([query])
    assert weighted.query.embedding.tolist() == [2.0, 0.0]


@pytest.mark.parametrize(
    ("group_by", "kept"),
    [(None, {"q1"}), ("collection_id", {"q1", "q3"})],
)
def test_topk_prune_keeps_the_best_per_group(group_by, kept):
    queries = [
        scored_query("q1", [[0, 0]], [0.9], collection=0),
        scored_query("q2", [[0, 0]], [0.5], collection=0),
        scored_query("q3", [[0, 0]], [0.1], collection=1),
    ]
    responses = TopKPrune(1, group_by=group_by)(queries)
    assert {q.internal.id for q, r in zip(queries, responses) if r.valid} == kept


def test_gradient_pair_fans_queries_out_in_one_database_call(numpy_source, start_batch):
    calls = []

    class Counting:
        dimension = numpy_source.dimension

        def __call__(self, queries):
            calls.append(len(queries))
            return numpy_source(queries)

    source = DataPluginGradWrapper(Counting(), lrs=[0.5, 1.0])
    update = UpdatePluginGradientWrapper(RLUpdate(lrs=[0.2]))
    runner = Runner(source, None, TargetScore(), None, update)
    _, log = runner.search(start_batch, 3, verbose=False)
    assert calls == [4, 12, 12]  # queries alone first, then each with two gradient probes
    later = log.batches[1].queries[0]
    assert "score_grad" in later.data
    ids = [item.id for item in later.query_results]
    assert len(ids) == len(set(ids)) > numpy_source.k


def test_composite_filter_requires_all_and_keeps_details():
    items = [Item(id=i, embedding=[float(i)], data={"x": i}) for i in range(4)]

    def even(items):
        return [FilterResponse(valid=i.id % 2 == 0, data={"parity": i.id % 2}) for i in items]

    def small(items):
        return [FilterResponse(valid=i.id < 3) for i in items]

    responses = CompositeFilter(even, small)(items)
    assert [r.valid for r in responses] == [True, False, True, False]
    assert responses[0].data == {"even": {"valid": True, "parity": 0}, "small": {"valid": True}}
    assert "small" not in responses[1].data  # later filters only see survivors


def test_composite_score_sums_and_invalidates():
    items = [Item(id=i, embedding=[float(i)]) for i in range(3)]

    def one(items):
        return [ScoreResponse(valid=True, score=1.0) for _ in items]

    def ident(items):
        return [ScoreResponse(valid=i.id != 2, score=float(i.id)) for i in items]

    responses = CompositeScore(one, ident, weights=[1.0, 2.0])(items)
    assert [r.score for r in responses] == [1.0, 3.0, None]
    assert responses[1].data == {"one": {"score": 1.0}, "ident": {"score": 1.0}}
    assert not responses[2].valid
