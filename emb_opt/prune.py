"""Prune functions: drop weak queries before they spawn children."""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from .checks import check_positive_int
from .schemas import PruneResponse, Query

GroupBy = Literal["collection_id", "parent_id"] | None


class TopKPrune:
    """Keep the k best queries in each group (all queries, per collection, or per parent).

    A query's score is the mean or max of its valid results' scores.
    """

    def __init__(
        self, k: int, score_agg: Literal["mean", "max"] = "mean", group_by: GroupBy = None
    ) -> None:
        check_positive_int("k", k)
        if score_agg not in ("mean", "max"):
            raise ValueError(f"score_agg must be 'mean' or 'max', got {score_agg!r}")
        if group_by not in (None, "collection_id", "parent_id"):
            raise ValueError(
                f"group_by must be None, 'collection_id' or 'parent_id', got {group_by!r}"
            )
        self.k = k
        self.score_agg = score_agg
        self.group_by = group_by

    def _query_score(self, query: Query) -> float:
        scores = [i.score for i in query.valid_results() if i.score is not None]
        if not scores:
            return float("-inf")
        return max(scores) if self.score_agg == "max" else sum(scores) / len(scores)

    def __call__(self, queries: list[Query]) -> list[PruneResponse]:
        groups: dict[object, list[int]] = defaultdict(list)
        for index, query in enumerate(queries):
            key = getattr(query.internal, self.group_by) if self.group_by else None
            groups[key].append(index)
        scores = [self._query_score(query) for query in queries]
        keep: set[int] = set()
        for members in groups.values():
            keep.update(sorted(members, key=lambda i: scores[i], reverse=True)[: self.k])
        return [
            PruneResponse(valid=index in keep, data={"prune_score": scores[index]})
            for index in range(len(queries))
        ]
