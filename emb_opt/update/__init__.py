"""Update functions (strategies): each turns scored queries into the next queries.

A run configuration names them by the names of `emb_opt.config.registry.STRATEGIES`.
Stateful strategies subclass `Strategy` (see `base.py`). The model-based strategies
(`line_search`, `surrogate`) need scikit-learn: the `strategies` extra
(`pip install -e ".[strategies]"` in a checkout).
`restarts` wraps another strategy: `RestartUpdate(SurrogateUpdate())`.
"""

from .base import Scored, SearchContext, Strategy, TrajectoryStrategy
from .evolution import EvolutionUpdate
from .gradient import UpdatePluginGradientWrapper, score_gradient, score_gradients
from .guided import GuidedUpdate
from .line_search import LineSearchUpdate
from .restarts import RestartUpdate
from .rl import RLUpdate
from .surrogate import SurrogateUpdate
from .topk import TopKContinuousUpdate, TopKDiscreteUpdate

__all__ = [
    "EvolutionUpdate",
    "GuidedUpdate",
    "LineSearchUpdate",
    "RLUpdate",
    "RestartUpdate",
    "Scored",
    "SearchContext",
    "Strategy",
    "SurrogateUpdate",
    "TopKContinuousUpdate",
    "TopKDiscreteUpdate",
    "TrajectoryStrategy",
    "UpdatePluginGradientWrapper",
    "score_gradient",
    "score_gradients",
]
