"""The score gradient estimated from a query's scored results, and the wrapper that stores it."""

from __future__ import annotations

import numpy as np

from ..schemas import Query, UpdateFunction, UpdateResponse

GRADIENT_KEY = "score_grad"


def score_gradients(
    queries: list[Query],
    distance_penalty: float = 0.0,
    max_norm: float | None = None,
    norm_type: float = 2.0,
) -> list[np.ndarray | None]:
    """Policy-gradient estimates of the direction that raises the score around each query.

    Retrieval is read as a policy p(x | q) proportional to exp(-|x - q|), so the gradient of
    log p(x_i | q) is the unit vector u_i from q toward result x_i (the normaliser's term
    cancels because the whitened scores, the advantages A_i, sum to zero). The estimate is
    r * sum_i A_i u_i / sqrt(n), with r the mean distance to the n results: its length is
    about r when the directions are unrelated, so a step size is a fraction of the radius
    of the neighbourhood the data source returned, whatever the scale of the embeddings.
    `distance_penalty` adds a pull toward the results and `max_norm` clips the result.
    None for a query without scored results. All queries are computed in one array pass.
    """
    scored = [
        [i for i in q.query_results if not i.internal.removed and i.score is not None]
        for q in queries
    ]
    width = max((len(items) for items in scored), default=0)
    if width == 0:
        return [None] * len(queries)
    dimension = queries[0].embedding.shape[0]
    points = np.zeros((len(queries), width, dimension))
    scores = np.zeros((len(queries), width))
    present = np.zeros((len(queries), width), dtype=bool)
    for row, items in enumerate(scored):
        if items:
            points[row, : len(items)] = [item.embedding for item in items]
            scores[row, : len(items)] = [item.score for item in items]
            present[row, : len(items)] = True
    counts = present.sum(axis=1)
    safe_counts = np.maximum(counts, 1)
    offsets = (points - np.stack([q.embedding for q in queries])[:, None, :]) * present[..., None]
    lengths = np.linalg.norm(offsets, axis=2)
    directions = offsets / np.where(lengths == 0, 1.0, lengths)[..., None]
    means = scores.sum(axis=1, keepdims=True) / safe_counts[:, None]
    centred = np.where(present, scores - means, 0.0)
    spread = np.sqrt((centred**2).sum(axis=1, keepdims=True) / safe_counts[:, None])
    advantages = np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)
    radius = lengths.sum(axis=1) / safe_counts
    gradients = (radius / np.sqrt(safe_counts))[:, None] * np.einsum(
        "qk,qkd->qd", advantages, directions
    )
    if distance_penalty:
        pull = directions.sum(axis=1) / safe_counts[:, None]
        gradients += distance_penalty * radius[:, None] * pull
    if max_norm is not None:
        norms = np.linalg.norm(gradients, ord=norm_type, axis=1)
        gradients *= np.minimum(1.0, max_norm / np.where(norms == 0, 1.0, norms))[:, None]
    return [gradients[row] if counts[row] else None for row in range(len(queries))]


def score_gradient(
    query: Query,
    distance_penalty: float = 0.0,
    max_norm: float | None = None,
    norm_type: float = 2.0,
) -> np.ndarray | None:
    """`score_gradients` for one query."""
    return score_gradients([query], distance_penalty, max_norm, norm_type)[0]


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
        estimates = score_gradients(queries, self.distance_penalty, self.max_norm, self.norm_type)
        gradients = {query.internal.id: g for query, g in zip(queries, estimates)}
        responses = [UpdateResponse.model_validate(r) for r in self.update_function(queries)]
        for response in responses:
            gradient = gradients.get(response.parent_id)
            if gradient is not None:
                response.query.data = {**(response.query.data or {}), GRADIENT_KEY: gradient}
        return responses
