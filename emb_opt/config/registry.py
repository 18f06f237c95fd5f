"""The names a config can use, one registry per kind of part: backends, strategies,
objectives, prunes and executors. Each maps a name to the import path of what it names
(imported only when chosen) and takes more from installed packages through its entry-point
group. A third-party package registers its own in its pyproject.toml:

    [project.entry-points."emb_opt.executors"]
    dask = "my_package.emb_opt_dask:build"

    registry     config key        entry-point group    what a name names
    BACKENDS     source.backend    emb_opt.adapters     a `Backend`, or `build(spec)`
    STRATEGIES   strategy.update   emb_opt.strategies   a class or function
    OBJECTIVES   score.function    emb_opt.objectives   a class or function
    PRUNES       strategy.prune    emb_opt.prunes       a class or function
    EXECUTORS    executor.kind     emb_opt.executors    `build(spec) -> Executor`

The built-in backends are the `BACKEND` descriptors of the adapter modules
(`emb_opt.adapters.backend.builtin_backends`); a built-in name wins over an entry point's.
Strategies, objectives and prunes may also be named by import path, `package.module:name`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

from ..adapters.backend import Backend, builtin_backends
from ..adapters.spec import SourceSpec
from ..errors import ConfigError
from ..masking import mask_named
from .import_path import not_found

Builtin = Mapping[str, Any]  # name -> import path (or the object itself)


class Registry(Mapping[str, Any]):
    """The names of one kind of part, by name: built-ins, then entry points of `group`.
    Looking a name up imports what it names; `key` is the config key messages name."""

    def __init__(
        self, kind: str, key: str, group: str, builtin: Builtin | Callable[[], Builtin]
    ) -> None:
        self.kind, self.key, self.group = kind, key, group
        self._builtin = builtin

    def paths(self) -> dict[str, Any]:
        """Every name with its import path (or object), imported nothing."""
        builtin = self._builtin() if callable(self._builtin) else self._builtin
        found = dict(builtin)
        for entry in entry_points(group=self.group):
            found.setdefault(entry.name, entry.value)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths())

    def __len__(self) -> int:
        return len(self.paths())

    def __contains__(self, name: object) -> bool:
        return name in self.paths()

    def __getitem__(self, name: str) -> Any:
        return self.load(name)

    def load(self, name: str, where: str | None = None) -> Any:
        """What `name` names, imported; a ConfigError at `where` (default: `key`) listing
        the names there are when it is unknown, or saying why it cannot be imported."""
        where = where or self.key
        found = self.paths().get(name)
        if found is None:
            raise ConfigError(f"{where}: {self.unknown(name)}")
        return import_object(found, where) if isinstance(found, str) else found

    def unknown(self, name: str) -> str:
        """Why `name` is not one of these."""
        return (
            f"unknown {self.kind} {name!r}; expected one of {', '.join(self)} "
            f"(or one a package registers in the entry-point group {self.group!r})"
        )


ENTRY_POINT_GROUP = "emb_opt.adapters"
BACKENDS = Registry("backend", "source.backend", ENTRY_POINT_GROUP, builtin_backends)
STRATEGIES = Registry(
    "strategy",
    "strategy.update",
    "emb_opt.strategies",
    {
        "rl": "emb_opt.update.rl:RLUpdate",
        "topk_discrete": "emb_opt.update.topk:TopKDiscreteUpdate",
        "topk_continuous": "emb_opt.update.topk:TopKContinuousUpdate",
        "line_search": "emb_opt.update.line_search:LineSearchUpdate",
        "surrogate": "emb_opt.update.surrogate:SurrogateUpdate",
        "evolution": "emb_opt.update.evolution:EvolutionUpdate",
        "guided": "emb_opt.update.guided:GuidedUpdate",
        "restarts": "emb_opt.update.restarts:RestartUpdate",
    },
)
OBJECTIVES = Registry(
    "objective",
    "score.function",
    "emb_opt.objectives",
    {"target": "emb_opt.objectives:TargetScore"},
)
PRUNES = Registry("prune", "strategy.prune", "emb_opt.prunes", {"topk": "emb_opt.prune:TopKPrune"})
EXECUTORS = Registry(
    "executor kind",
    "executor.kind",
    "emb_opt.executors",
    {
        "serial": "emb_opt.executors.local:build_serial",
        "thread": "emb_opt.executors.local:build_thread",
        "process": "emb_opt.executors.local:build_process",
        "ray": "emb_opt.executors.ray:build",
        "http": "emb_opt.executors.http:build",
    },
)


def backends() -> dict[str, Backend | str]:
    """Every backend by name: the built-in descriptors, then installed entry points (the
    import path of a `Backend` or a builder; imported only when chosen)."""
    return BACKENDS.paths()


def backend_builder(name: str) -> Callable[[SourceSpec], object]:
    """How a `source` block of backend `name` becomes a data source (its `connect`)."""
    found = BACKENDS.load(name)
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


def resolve(
    name: str,
    params: dict[str, Any],
    registry: Registry | None,
    where: str,
    secrets: Collection[str] = (),
) -> Any:
    """A plugin from a `registry` name or an import path; a class is built with `params`
    (errors show them with the `secrets` among them masked)."""
    if registry is not None and name in registry:
        target = registry.load(name, where)
    elif ":" in name:
        target = import_object(name, where)
    else:
        known = f"one of {', '.join(registry)} or " if registry is not None else ""
        raise ConfigError(
            f"{where}: unknown name {name!r}; expected {known}an import path 'package.module:name'"
        )
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
