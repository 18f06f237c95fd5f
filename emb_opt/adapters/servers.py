"""What the database backends share when they connect to a `SourceSpec`: check the options,
reach the server, fill the collection from `data` if it is missing (so every example runs over
the same demo data), and wrap it in the adapter. Each backend's own part is its `connect`."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import BackendError, ConfigError
from ..protocols import Closable
from .spec import SourceSpec

if TYPE_CHECKING:
    from .backend import Backend, LoadCollection
    from .base import VectorDataSource

T = TypeVar("T")

GIVEN = ("k", "filter", "item_key")  # what the adapter is given besides a client and a name


def connect_server(
    backend: Backend,
    source: SourceSpec,
    address: str,
    load_options: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    close_client: bool = True,
    adapter: Callable[..., VectorDataSource] | None = None,
) -> VectorDataSource:
    """`backend`'s adapter over `source.collection`, filled from `source.data` if missing.

    `address` names the server in errors; `load_options` go to `load_collection`,
    `defaults` to the adapter (under `source.options`, which must be keywords it takes).
    With `close_client`, closing the adapter also closes the client opened here.
    `adapter(client, collection, **options)` builds the source when the adapter class does
    not take a client and a name.
    """

    open_client, collections, load = (
        backend.open_client,
        backend.collections,
        backend.load_collection,
    )
    assert open_client is not None and collections is not None and load is not None, backend.name
    try:
        backend.names.check_collection(source.collection)
    except ValueError as error:
        raise ConfigError(f"source.collection: {error}") from None
    options = {**(defaults or {}), **adapter_options(backend.adapter, source.options, GIVEN)}

    def first_calls() -> tuple[Any, bool]:
        client = open_client(source)
        return client, source.collection in collections(client)

    client, exists = _reach(backend.name, address, first_calls)
    try:
        _fill_if_missing(source, exists, load, client, **(load_options or {}))
        made = _adapter(adapter or backend.adapter, client, source, options)
    except BaseException:  # data the backend refuses, a bad option: nothing is left open
        if close_client:
            _close(client)
        raise
    return _owning(made, client) if close_client else made


def _reach(backend: str, address: str, connect: Callable[[], T]) -> T:
    """Run the first client calls; a failure is a one-line BackendError naming the address
    (a missing client library stays an ImportError with its install hint)."""
    try:
        return connect()
    except ImportError:
        raise
    except Exception as error:
        reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        raise BackendError(f"cannot reach {backend} at {address} ({reason})") from None


def _fill_if_missing(
    source: SourceSpec, exists: bool, load: LoadCollection, client: Any, **options: Any
) -> None:
    if exists or source.data is None:
        return
    corpus = source.corpus()
    try:
        load(
            client,
            source.collection,
            corpus.embeddings,
            metadata=corpus.metadata,
            ids=list(range(len(corpus.embeddings))),
            items=corpus.items,
            item_key=source.item_key or "item",
            **options,
        )
    except ValueError as error:  # data the backend cannot hold, refused before it is written
        raise ConfigError(f"source.data: {error}") from None


def _adapter(
    cls: Callable[..., VectorDataSource],
    client: Any,
    source: SourceSpec,
    options: Mapping[str, Any],
) -> VectorDataSource:
    """The adapter over the configured collection, with `options` (the checked
    `source.options` over the backend's defaults)."""
    return cls(
        client,
        source.collection,
        k=source.k,
        filter=source.filter,
        item_key=source.item_key,
        **options,
    )


def _owning(adapter: VectorDataSource, client: Any) -> VectorDataSource:
    """Make `adapter.close()` also close the client the config opened (adapters leave a
    caller's client open)."""
    return close_also(adapter, lambda: _close(client))


def _close(client: Any) -> None:
    if isinstance(client, Closable):
        client.close()


def close_also(adapter: VectorDataSource, action: Callable[[], Any]) -> VectorDataSource:
    """Make `adapter.close()` run `action` after its own close, even if that fails."""
    close_adapter = adapter.close

    def close() -> None:
        try:
            close_adapter()
        finally:
            action()

    adapter.close = close  # type: ignore[method-assign]
    return adapter


def adapter_options(
    adapter: type, options: Mapping[str, Any], given: Iterable[str], extra: Iterable[str] = ()
) -> dict[str, Any]:
    """`source.options`, once each is known to be a keyword `adapter` takes with a default
    (besides those in `given`, which the backend passes itself) or one of the backend's own
    `extra` ones."""
    passed = set(given)
    taken = sorted(
        {*extra}
        | {
            name
            for name, parameter in inspect.signature(adapter).parameters.items()
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
            and parameter.default is not parameter.empty
            and name not in passed
        }
    )
    for name in options:
        if name not in taken:
            hint = f"; set source.{name} instead" if name in SPEC_FIELDS else ""
            raise ConfigError(
                f"source.options.{name}: {adapter.__name__} takes no option {name!r}{hint}; "
                f"it takes {', '.join(taken) or 'none'}"
            )
    return dict(options)


SPEC_FIELDS = frozenset(field.name for field in dataclasses.fields(SourceSpec))
