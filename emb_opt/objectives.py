"""Built-in objectives for demos, tests and benchmarks (picklable score functions)."""

from __future__ import annotations

import numpy as np

from .schemas import Item, ScoreResponse


def target_distance_score(
    embeddings: np.ndarray, target: float = 0.75, sigma: float = 5.0
) -> np.ndarray:
    """The original tutorial's objective: a Gaussian bump at (target, ..., target)."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    distances = np.linalg.norm(embeddings - target, axis=1) / np.sqrt(embeddings.shape[1])
    return np.exp(-0.5 * (distances / sigma) ** 2)


class TargetScore:
    """ScoreFunction form of `target_distance_score`."""

    def __init__(self, target: float = 0.75, sigma: float = 5.0) -> None:
        self.target = target
        self.sigma = sigma

    def __call__(self, items: list[Item]) -> list[ScoreResponse]:
        embeddings = np.stack([item.embedding for item in items])
        scores = target_distance_score(embeddings, self.target, self.sigma)
        return [ScoreResponse(valid=True, score=float(score)) for score in scores]


def _metadata_column(items: list[Item], field: str) -> np.ndarray:
    """The numeric metadata value `field` of every item (NaN where missing)."""
    values = [(item.data or {}).get(field) for item in items]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


class BumpsScore:
    """A multi-modal objective: a sum of Gaussian bumps, sum_j h_j exp(-|x - c_j|^2 / 2 w_j^2).

    `scores(embeddings)` is the vectorised form; calling it on items is the ScoreFunction.
    """

    def __init__(self, centres: np.ndarray, heights: np.ndarray, widths: np.ndarray) -> None:
        self.centres = np.atleast_2d(np.asarray(centres, dtype=np.float64))
        self.heights = np.asarray(heights, dtype=np.float64)
        self.widths = np.asarray(widths, dtype=np.float64)
        if not len(self.centres) == len(self.heights) == len(self.widths):
            raise ValueError(
                f"BumpsScore needs one height and one width per centre, got {len(self.centres)} "
                f"centres, {len(self.heights)} heights, {len(self.widths)} widths"
            )

    @classmethod
    def on_clusters(cls, centres: np.ndarray, width: float = 4.0) -> BumpsScore:
        """One bump of `width` per cluster centre: 1.0 on centre 0 (the sparse cluster of
        `clustered_corpus`), the others from 0.8 down to 0.5. Each cluster is a basin of its
        own, so a climb ends at the bump of the cluster it started in."""
        centres = np.asarray(centres, dtype=np.float64)
        heights = np.concatenate([[1.0], np.linspace(0.8, 0.5, len(centres) - 1)])
        return cls(centres, heights, np.full(len(centres), width))

    @property
    def peak(self) -> np.ndarray:
        """Centre of the highest bump."""
        return self.centres[int(np.argmax(self.heights))]

    def scores(self, embeddings: np.ndarray, metadata: dict | None = None) -> np.ndarray:
        """Scores of an (n, d) array, computed in row blocks to bound memory."""
        embeddings = np.asarray(embeddings, dtype=np.float64)
        out = np.empty(len(embeddings))
        squared_centres = (self.centres**2).sum(axis=1)
        for start in range(0, len(embeddings), 65536):
            block = embeddings[start : start + 65536]
            squared = (block**2).sum(axis=1, keepdims=True) - 2 * block @ self.centres.T
            squared = np.maximum(squared + squared_centres, 0.0)
            out[start : start + 65536] = np.exp(-squared / (2 * self.widths**2)) @ self.heights
        return out

    def __call__(self, items: list[Item]) -> list[ScoreResponse]:
        scores = self.scores(np.stack([item.embedding for item in items]))
        return [ScoreResponse(valid=True, score=float(score)) for score in scores]


class TargetMetadataScore:
    """An optimum spread over a region: a bump at (target, ..., target) times a metadata factor.

    score = exp(-0.5 (|x - t| / (sigma sqrt(d)))^2) * (1 - weight + weight * m), where m is
    the item's numeric metadata `field` (assumed in [0, 1]; an item without it is invalid).
    Good items sit near the target AND carry a high m, so the best ones are scattered over
    the target's neighbourhood instead of being its nearest neighbours.
    """

    def __init__(
        self, target: float = 0.75, sigma: float = 1.0, field: str = "rand", weight: float = 0.5
    ) -> None:
        self.target = target
        self.sigma = sigma
        self.field = field
        self.weight = weight

    def scores(self, embeddings: np.ndarray, metadata: dict[str, np.ndarray]) -> np.ndarray:
        """Vectorised form: `metadata[field]` is the metadata column aligned with the rows."""
        position = target_distance_score(embeddings, self.target, self.sigma)
        values = np.asarray(metadata[self.field], dtype=np.float64)
        return position * (1.0 - self.weight + self.weight * values)

    def __call__(self, items: list[Item]) -> list[ScoreResponse]:
        values = _metadata_column(items, self.field)
        scores = self.scores(np.stack([item.embedding for item in items]), {self.field: values})
        return [
            ScoreResponse(valid=True, score=float(s))
            if np.isfinite(s)
            else ScoreResponse(valid=False, data={"error": f"no numeric {self.field!r}"})
            for s in scores
        ]
