"""`Backend`: everything the library needs to know about one backend, in one object.

Each adapter module ends with `BACKEND = Backend(...)`. Building one imports no client
library, so every descriptor can be listed on a bare install; `connect` imports its client
when it runs. The config registry, the run manifest and the tests read these descriptors.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .names import NameRules

if TYPE_CHECKING:
    from ..config.schema import SourceConfig


@dataclass(frozen=True)
class Backend:
    """One backend: its config name, what to install, and how a `source` block becomes it.

    `name` is what `source.backend` says; `extra` the pip extra that installs `packages`
    (None: the core install has them); `adapter` the data source class; `connect(source)`
    a ready adapter for a config `source` block. Server backends also say how to open a
    client for a `source` (`open_client`), list and drop its collections, and create and
    fill a collection (`load_collection`, used when `source.data` is given and the
    collection is missing). `names` are the engine's rules for metadata keys, collection
    names and text (`emb_opt.adapters.names`), checked before anything is written.
    """

    name: str
    extra: str | None
    packages: tuple[str, ...]
    adapter: type
    connect: Callable[[SourceConfig], Any]
    open_client: Callable[[SourceConfig], Any] | None = None
    collections: Callable[[Any], list[str]] | None = None
    drop_collection: Callable[[Any, str], Any] | None = None
    load_collection: Callable[..., None] | None = None
    names: NameRules = field(default_factory=lambda: NameRules("database"))


def builtin_backends() -> dict[str, Backend]:
    """The backends this package ships, by name: the `BACKEND` of each adapter module."""
    from . import __path__ as package_path

    found: dict[str, Backend] = {}
    for module in pkgutil.iter_modules(package_path):
        backend = getattr(importlib.import_module(f"{__package__}.{module.name}"), "BACKEND", None)
        if isinstance(backend, Backend):
            found[backend.name] = backend
    return found
