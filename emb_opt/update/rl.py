"""RLUpdate: step each query along its policy-gradient score estimate, one child per step size."""

from __future__ import annotations

from collections.abc import Sequence

from ..schemas import Query, UpdateResponse
from .gradient import score_gradients


class RLUpdate:
    """New query = query + lr * gradient, for every learning rate in `lrs`.

    A query whose results have no scores yields no children.
    """

    def __init__(
        self,
        lrs: Sequence[float] | float,
        distance_penalty: float = 0.0,
        max_norm: float | None = None,
        norm_type: float = 2.0,
    ) -> None:
        self.lrs = [float(lr) for lr in (lrs if isinstance(lrs, Sequence) else [lrs])]
        if not self.lrs:
            raise ValueError("RLUpdate needs at least one learning rate in lrs, got []")
        self.distance_penalty = distance_penalty
        self.max_norm = max_norm
        self.norm_type = norm_type

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        responses = []
        gradients = score_gradients(queries, self.distance_penalty, self.max_norm, self.norm_type)
        for query, gradient in zip(queries, gradients):
            if gradient is None:
                continue
            for lr in self.lrs:
                child = Query(embedding=query.embedding + lr * gradient)
                responses.append(UpdateResponse(query=child, parent_id=query.internal.id))
        return responses
