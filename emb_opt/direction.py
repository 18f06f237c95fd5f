"""Which way a search goes: toward the highest scores (`maximize`) or the lowest (`minimize`).

Scores are kept and shown in the user's units. The strategies, models and prune functions
see them oriented (`sign * score`), so every one of them maximizes and none has to know: a
minimize search of `f` makes the same choices as a maximize search of `-f`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Name = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class Direction:
    """`maximize` or `minimize`; `sign` turns a score into one where higher is better."""

    name: Name = "maximize"

    def __post_init__(self) -> None:
        if self.name not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {self.name!r}")

    @property
    def sign(self) -> float:
        return 1.0 if self.name == "maximize" else -1.0

    def orient(self, score: float) -> float:
        """`score` turned so that higher is better."""
        return self.sign * score

    def better(self, score: float, than: float) -> bool:
        """Whether `score` is strictly better than `than`."""
        return self.orient(score) > self.orient(than)

    def reached(self, score: float, target: float) -> bool:
        """Whether `score` is at least as good as `target`."""
        return self.orient(score) >= self.orient(target)

    def sort_key(self, score: float | None) -> float:
        """A key that sorts scores best first (no score last)."""
        return float("inf") if score is None else -self.orient(score)


MAXIMIZE = Direction("maximize")


def as_direction(value: Direction | str) -> Direction:
    """A `Direction` from itself or its name."""
    return value if isinstance(value, Direction) else Direction(value)  # type: ignore[arg-type]
