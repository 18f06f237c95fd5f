"""Config-driven runs: one YAML file names backend, objective, strategy, start, stop, output."""

from .build import Run, build_run
from .loading import fingerprint, load_config, redacted, validate
from .schema import RunConfig

__all__ = ["Run", "RunConfig", "build_run", "fingerprint", "load_config", "redacted", "validate"]
