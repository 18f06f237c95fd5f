"""Config-driven runs: one YAML file names backend, objective, strategy, start, stop, output."""

from .build import Run, build_run, build_strategy
from .loading import fingerprint, load_config, validate
from .schema import RunConfig, StrategyConfig

__all__ = [
    "Run",
    "RunConfig",
    "StrategyConfig",
    "build_run",
    "build_strategy",
    "fingerprint",
    "load_config",
    "validate",
]
