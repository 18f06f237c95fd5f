"""Top-k updates: continue from the best items themselves, or from their mean."""

from __future__ import annotations

import numpy as np

from ..log import item_key
from ..schemas import Item, Query, UpdateResponse


def _scored(query: Query) -> list[Item]:
    return [item for item in query.valid_results() if item.score is not None]


def _check_k(k: int) -> None:
    if not isinstance(k, int) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")


class TopKDiscreteUpdate:
    """The k best distinct items of the whole batch become the next queries."""

    def __init__(self, k: int) -> None:
        _check_k(k)
        self.k = k

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        best: dict[str, Item] = {}
        for query in queries:
            for item in _scored(query):
                best.setdefault(item_key(item), item)
        ranked = sorted(best.values(), key=lambda item: item.score, reverse=True)[: self.k]
        return [
            UpdateResponse(query=Query.from_item(item), parent_id=item.internal.query_id)
            for item in ranked
        ]


class TopKContinuousUpdate:
    """Each query moves to the mean embedding of its k best results (score-weighted if asked)."""

    def __init__(self, k: int, score_weighted: bool = False) -> None:
        _check_k(k)
        self.k = k
        self.score_weighted = score_weighted

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        responses = []
        for query in queries:
            top = sorted(_scored(query), key=lambda item: item.score, reverse=True)[: self.k]
            if not top:
                continue
            embeddings = np.stack([item.embedding for item in top])
            weights = None
            if self.score_weighted:
                scores = np.array([item.score for item in top])
                shifted = scores - scores.min()
                weights = shifted if shifted.sum() > 0 else None
            child = Query(embedding=np.average(embeddings, axis=0, weights=weights))
            responses.append(UpdateResponse(query=child, parent_id=query.internal.id))
        return responses
