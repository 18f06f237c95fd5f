"""Config-driven runs: one YAML file names backend, objective, strategy, start, stop, output."""

from .build import Run, build_run, build_strategy
from .import_path import config_folder_on_path
from .loading import (
    EXTENDABLE,
    changed_keys,
    config_changes,
    fingerprint,
    load_config,
    validate,
)
from .schema import RunConfig, StrategyConfig

__all__ = [
    "EXTENDABLE",
    "Run",
    "RunConfig",
    "StrategyConfig",
    "build_run",
    "build_strategy",
    "changed_keys",
    "config_changes",
    "config_folder_on_path",
    "fingerprint",
    "load_config",
    "validate",
]
