"""Update functions (strategies): each turns scored queries into the next queries."""

from .gradient import UpdatePluginGradientWrapper, score_gradient, score_gradients
from .rl import RLUpdate
from .topk import TopKContinuousUpdate, TopKDiscreteUpdate

__all__ = [
    "RLUpdate",
    "TopKContinuousUpdate",
    "TopKDiscreteUpdate",
    "UpdatePluginGradientWrapper",
    "score_gradient",
    "score_gradients",
]
