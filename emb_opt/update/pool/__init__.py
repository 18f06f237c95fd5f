"""Pool rounds: rate every item of a collection with the model, in parts, in this process or
on a Ray cluster, and keep the best-rated unscored ones (`shortlist` -> `rating` -> `raters`)."""

from .raters import InProcessRater, Rater, RayRater, make_rater
from .rating import RatingJob, ScoredIds
from .shortlist import Shortlist, merge

__all__ = [
    "InProcessRater",
    "Rater",
    "RatingJob",
    "RayRater",
    "ScoredIds",
    "Shortlist",
    "make_rater",
    "merge",
]
