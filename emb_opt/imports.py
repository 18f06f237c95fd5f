"""Everything a notebook needs in one line: `from emb_opt.imports import *`."""

from typing import Any, Callable, Dict, List, Optional, Union  # noqa: F401, UP035

import numpy as np  # noqa: F401

from .data_source import DataPluginGradWrapper  # noqa: F401
from .log import SearchLog  # noqa: F401
from .prune import TopKPrune  # noqa: F401
from .runner import Runner  # noqa: F401
from .schemas import *  # noqa: F403
from .update import (  # noqa: F401
    RLUpdate,
    TopKContinuousUpdate,
    TopKDiscreteUpdate,
    UpdatePluginGradientWrapper,
)
from .utils import build_batch_from_embeddings  # noqa: F401
