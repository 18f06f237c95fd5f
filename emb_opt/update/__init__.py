"""Update functions (strategies): each turns scored queries into the next queries."""

from .gradient import UpdatePluginGradientWrapper, score_gradient
from .rl import RLUpdate
from .topk import TopKContinuousUpdate, TopKDiscreteUpdate

__all__ = [
    "RLUpdate",
    "TopKContinuousUpdate",
    "TopKDiscreteUpdate",
    "UpdatePluginGradientWrapper",
    "score_gradient",
]
