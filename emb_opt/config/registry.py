"""Names the config can use: backends (extensible through entry points), objectives, strategies.

A third-party package registers a backend in its pyproject.toml:

    [project.entry-points."emb_opt.adapters"]
    mydb = "my_package.emb_opt_backend:BACKEND"

naming an `emb_opt.adapters.backend.Backend` (as each built-in adapter module's `BACKEND`
does), or a function `build(spec: SourceSpec) -> DataSource` (`emb_opt.adapters.spec`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from importlib.metadata import entry_points
from typing import Any

from ..adapters.backend import Backend, builtin_backends
from ..adapters.spec import SourceSpec
from ..errors import ConfigError
from ..masking import mask_named
from .import_path import not_found

ENTRY_POINT_GROUP = "emb_opt.adapters"


def backends() -> dict[str, Backend | str]:
    """Every backend by name: the built-in descriptors, then installed entry points (the
    import path of a `Backend` or a builder; imported only when chosen)."""
    found: dict[str, Backend | str] = dict(builtin_backends())
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.value)
    return found


def backend_builder(name: str) -> Callable[[SourceSpec], object]:
    """How a `source` block of backend `name` becomes a data source (its `connect`)."""
    available = backends()
    if name not in available:
        raise ConfigError(
            f"source.backend: unknown backend {name!r}; "
            f"expected one of {', '.join(sorted(available))}"
        )
    found = available[name]
    if isinstance(found, str):
        found = import_object(found, "source.backend")
    return found.connect if isinstance(found, Backend) else found


def import_object(path: str, where: str) -> Any:
    """`package.module:name` to the object it names; a module that cannot be found is a
    ConfigError saying where it was looked for (see `config_folder_on_path`)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(
            f"{where}: {path!r} is not an import path; expected 'package.module:name'"
        )
    if module_name.startswith("."):
        raise ConfigError(
            f"{where}: {path!r} is a relative import path; expected an absolute one, "
            "'package.module:name'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        missing = getattr(error, "name", None) if isinstance(error, ModuleNotFoundError) else None
        if missing and (module_name + ".").startswith(missing + "."):  # not one it imports
            raise ConfigError(
                f"{where}: cannot import module {module_name!r}: {not_found(missing)}"
            ) from None
        raise ConfigError(f"{where}: cannot import module {module_name!r} ({error})") from None
    except (Exception, SystemExit) as error:  # the module's own code failed as it ran
        raise ConfigError(
            f"{where}: importing module {module_name!r} raised {type(error).__name__}: {error}"
        ) from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(
            f"{where}: module {module_name!r} has no attribute {attribute!r}"
        ) from None


OBJECTIVES = {"target": "emb_opt.objectives:TargetScore"}
PRUNES = {"topk": "emb_opt.prune:TopKPrune"}


def resolve(
    name: str,
    params: dict[str, Any],
    registry: Mapping[str, str | type],
    where: str,
    secrets: Collection[str] = (),
) -> Any:
    """A plugin from a registry name (an import path or a class) or an import path; a class is
    built with `params` (errors show them with the `secrets` among them masked)."""
    if name not in registry and ":" not in name:
        raise ConfigError(
            f"{where}: unknown name {name!r}; expected one of {', '.join(sorted(registry))} "
            "or an import path 'package.module:name'"
        )
    target = registry.get(name, name)
    if isinstance(target, str):
        target = import_object(target, where)
    if isinstance(target, type):
        try:
            target = target(**params)
        except (TypeError, ValueError) as error:
            shown = mask_named(params, secrets)
            raise ConfigError(f"{where}: cannot build {name!r} with {shown}: {error}") from None
    elif params:
        shown = mask_named(params, secrets)
        raise ConfigError(f"{where}: {name!r} is a function, it takes no params (got {shown})")
    if not callable(target):
        raise ConfigError(f"{where}: {name!r} is not callable")
    return target
