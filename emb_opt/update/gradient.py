"""The score gradient estimated from a query's scored results, and the wrapper that stores it."""

from __future__ import annotations

import numpy as np

from ..schemas import Query, UpdateFunction, UpdateResponse

GRADIENT_KEY = "score_grad"


def score_gradient(
    query: Query,
    distance_penalty: float = 0.0,
    max_norm: float | None = None,
    norm_type: float = 2.0,
) -> np.ndarray | None:
    """Policy-gradient estimate of the direction that raises the score around a query.

    Retrieval is read as a policy p(x | q) proportional to exp(-|x - q|), so the gradient of
    log p(x_i | q) is the unit vector u_i from q toward result x_i (the normaliser's term
    cancels because the whitened scores, the advantages A_i, sum to zero). The estimate is
    r * sum_i A_i u_i / sqrt(n), with r the mean distance to the n results: its length is
    about r when the directions are unrelated, so a step size is a fraction of the radius
    of the neighbourhood the data source returned, whatever the scale of the embeddings.
    `distance_penalty` adds a pull toward the results and `max_norm` clips the result.
    None when the query has no scored results.
    """
    results = [item for item in query.valid_results() if item.score is not None]
    if not results:
        return None
    offsets = np.stack([item.embedding for item in results]) - query.embedding
    lengths = np.linalg.norm(offsets, axis=1)
    directions = offsets / np.where(lengths == 0, 1.0, lengths)[:, None]
    scores = np.array([item.score for item in results], dtype=np.float64)
    spread = scores.std()
    advantages = (scores - scores.mean()) / spread if spread > 0 else np.zeros_like(scores)
    radius = lengths.mean()
    gradient = radius * (advantages @ directions) / np.sqrt(len(results))
    if distance_penalty:
        gradient = gradient + distance_penalty * radius * directions.mean(axis=0)
    if max_norm is not None:
        norm = np.linalg.norm(gradient, ord=norm_type)
        if norm > max_norm:
            gradient = gradient * (max_norm / norm)
    return gradient


class UpdatePluginGradientWrapper:
    """Wraps an update function so every new query carries the score gradient of its parent.

    `emb_opt.data_source.DataPluginGradWrapper` then fans each query out along it.
    """

    def __init__(
        self,
        update_function: UpdateFunction,
        distance_penalty: float = 0.0,
        max_norm: float | None = None,
        norm_type: float = 2.0,
    ) -> None:
        self.update_function = update_function
        self.distance_penalty = distance_penalty
        self.max_norm = max_norm
        self.norm_type = norm_type

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        gradients = {
            query.internal.id: score_gradient(
                query, self.distance_penalty, self.max_norm, self.norm_type
            )
            for query in queries
        }
        responses = [UpdateResponse.model_validate(r) for r in self.update_function(queries)]
        for response in responses:
            gradient = gradients.get(response.parent_id)
            if gradient is not None:
                response.query.data = {**(response.query.data or {}), GRADIENT_KEY: gradient}
        return responses
