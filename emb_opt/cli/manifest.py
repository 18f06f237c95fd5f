"""manifest.json: what a run directory says about its run, read back through a schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError
from .sourcedata import SourceData

MANIFEST = "manifest.json"


class Manifest(BaseModel):
    """The fields emb_opt reads back from a manifest (it may hold more)."""

    model_config = ConfigDict(extra="allow")

    fingerprint: str
    config: dict[str, Any]
    status: str
    started: float
    updated: float | None = None
    versions: dict[str, str] = {}
    stopped: str | None = None
    counters: dict[str, int] = {}
    direction: str = "maximize"
    best_score: float | None = None
    search_seconds: float | None = None
    timings: dict[str, float] = {}
    source_data: SourceData = {}


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of the run in `directory` (None if it has none); a ConfigError naming
    the file when it is not one emb_opt wrote."""
    path = directory / MANIFEST
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as error:
        raise ConfigError(f"{path}: cannot read it as JSON ({error})") from None
    if not isinstance(document, dict):
        raise ConfigError(
            f"{path}: expected a JSON object (an emb_opt run's manifest), got "
            f"{type(document).__name__}"
        )
    try:
        Manifest.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(map(str, first["loc"]))
        raise ConfigError(
            f"{path}: not an emb_opt run's manifest: {location}: {first['msg']}"
        ) from None
    return document
