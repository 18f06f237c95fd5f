"""`Backend`: everything the library needs to know about one backend, in one object.

Each adapter module ends with `BACKEND = Backend(...)`. Building one imports no client
library, so every descriptor can be listed on a bare install; `connect` imports its client
when it runs. The config registry, the run manifest and the tests read these descriptors.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..protocols import DataSource
from .names import NameRules
from .spec import SourceSpec


class LoadCollection(Protocol):
    """What every backend's `load_collection` takes: a new collection `collection_name`
    on `client` holding `embeddings` (one row per item), with optional per-row `metadata`,
    `ids` (default: row numbers) and `items` (stored under `item_key`), compared by `metric`.
    Backends add their own keyword options after these."""

    def __call__(
        self,
        client: Any,
        collection_name: str,
        embeddings: Any,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[Any] | None = None,
        items: Sequence[Any] | None = None,
        *,
        item_key: str = "item",
        metric: str = "l2",
    ) -> None: ...


@dataclass(frozen=True)
class Backend:
    """One backend: its config name, what to install, and how a `source` block becomes it.

    `name` is what `source.backend` says; `extra` the pip extra that installs `packages`
    (None: the core install has them); `adapter` the data source class; `connect(spec)`
    a ready adapter for a `SourceSpec` (what a config's `source` block says). Server
    backends also say how to open a client for a spec (`open_client`), list and drop its
    collections, and create and fill a collection (`load_collection`, used when the spec
    has `data` and the collection is missing). `names` are the engine's rules for metadata
    keys, collection names and text (`emb_opt.adapters.names`), checked before anything is
    written.
    """

    name: str
    extra: str | None
    packages: tuple[str, ...]
    adapter: type
    connect: Callable[[SourceSpec], DataSource]
    open_client: Callable[[SourceSpec], Any] | None = None
    collections: Callable[[Any], list[str]] | None = None
    drop_collection: Callable[[Any, str], Any] | None = None
    load_collection: LoadCollection | None = None
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
