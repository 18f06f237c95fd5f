"""Top-k updates: continue from the best items themselves, or from their mean."""

from __future__ import annotations

import numpy as np

from ..checks import check_positive_int
from ..log import item_key
from ..schemas import Query, UpdateResponse
from .base import Scored, scored_results


class TopKDiscreteUpdate:
    """The k best distinct items of the whole batch become the next queries."""

    def __init__(self, k: int) -> None:
        self.k = check_positive_int("k", k)

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        best: dict[str, Scored] = {}
        for scored in scored_results(queries):
            best.setdefault(item_key(scored.item), scored)
        ranked = sorted(best.values(), key=lambda s: s.score, reverse=True)[: self.k]
        return [
            UpdateResponse(query=Query.from_item(s.item), parent_id=s.query.internal.id)
            for s in ranked
        ]


class TopKContinuousUpdate:
    """Each query moves to the mean embedding of its k best results (score-weighted if asked)."""

    def __init__(self, k: int, score_weighted: bool = False) -> None:
        self.k = check_positive_int("k", k)
        self.score_weighted = score_weighted

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        responses = []
        for query in queries:
            top = sorted(scored_results([query]), key=lambda s: s.score, reverse=True)[: self.k]
            if not top:
                continue
            embeddings = np.stack([s.item.embedding for s in top])
            weights = None
            if self.score_weighted:
                scores = np.array([s.score for s in top])
                shifted = scores - scores.min()
                weights = shifted if shifted.sum() > 0 else None
            child = Query(embedding=np.average(embeddings, axis=0, weights=weights))
            responses.append(UpdateResponse(query=child, parent_id=query.internal.id))
        return responses
