"""Reading a run config: YAML, `${VAR}` / `${VAR:-default}` from the environment, clear errors."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..adapters.names import text_problem
from ..errors import ConfigError
from ..masking import MASK, mask_config, register_config
from .schema import RunConfig

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(\}|:-)")
MAX_DEPTH = 100  # levels of nesting a config may have (real ones have fewer than 10)
MAX_SIZE = 2**20  # bytes of a config file, and values plus characters once aliases expand


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """The config file as plain data (variables not yet substituted): UTF-8 (or UTF-16 with
    a byte order mark) YAML text of at most MAX_SIZE bytes whose aliases expand it to at most
    MAX_SIZE values and characters, with no key twice in a mapping."""
    import yaml

    from .strict_yaml import strict_loader

    path = Path(path)
    try:
        document = yaml.load(_text(path), Loader=strict_loader(MAX_SIZE))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})".replace("\n", " ")) from None
    except RecursionError:  # the parser recurses once per level
        raise ConfigError(f"{path}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:  # not text, too big or an alias bomb
        raise ConfigError(f"{path}: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(
            f"{path}: expected a mapping at the top level, got {type(document).__name__}"
        )
    return document


def _text(path: Path) -> str:
    """The text of a config file; ValueError for a big or binary file."""
    with path.open("rb") as file:
        data = file.read(MAX_SIZE + 1)
    if len(data) > MAX_SIZE:
        raise ValueError(f"larger than {MAX_SIZE:,} bytes; a config names its data files")
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"not a text file: byte {data[error.start]:#04x} at offset {error.start} is not "
            f"{encoding.removesuffix('-sig').upper()}; a config is YAML text"
        ) from None


def substitute(value: Any, where: str = "") -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string (a default may hold variables
    itself, read only when used); a missing variable is an error."""
    if isinstance(value, dict):
        return {k: substitute(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    return _expand(value, where)


def _expand(text: str, where: str) -> str:
    """`text` with its variables replaced; text that only looks like one stays as it is."""
    parts, done = [], 0
    for match in _VARIABLE.finditer(text):
        if match.start() < done:
            continue  # inside a default already expanded
        name = match.group(1)
        if match.group(2) == "}":  # ${VAR}
            end, default = match.end(), None
        else:  # ${VAR:-default}: the default runs to the brace that closes it
            end = _closing_brace(text, match.end(), where)
            default = text[match.end() : end - 1]
        if name in os.environ:
            found = os.environ[name]
        elif default is not None:
            found = _expand(default, where)
        else:
            raise ConfigError(
                f"{where}: environment variable {name} is not set (used as ${{{name}}})"
            )
        parts += [text[done : match.start()], found]
        done = end
    return "".join([*parts, text[done:]])


def _closing_brace(text: str, start: int, where: str) -> int:
    """The index after the `}` that closes a `${` whose default begins at `start`."""
    depth = 1
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return index + 1
    raise ConfigError(f"{where}: {text!r} opens a '${{' that no '}}' closes")


# blocks a run may change between its commands: more budget (`stop`), or where and how its
# functions are called (`executor`: a longer timeout, another service URL, more workers); what
# is called, the `score` block, may not change
EXTENDABLE = ("stop", "executor")


def fingerprint(raw: dict[str, Any], extendable: bool = False) -> str:
    """A hash of the config as written, to tell runs apart (variables are hashed unexpanded,
    secrets masked: the hash gives away no password, and a rotated token is the same run;
    by name and syntax only, so every process computes the same); with `extendable`, of all
    but the blocks a run may change (`EXTENDABLE`)."""
    masked = mask_config(raw, by_value=False)
    kept = {k: v for k, v in masked.items() if not (extendable and k in EXTENDABLE)}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def config_changes(manifest: dict[str, Any], raw: dict[str, Any]) -> list[str]:
    """The dotted keys where `raw` differs from the config of the run a manifest describes,
    but for the blocks a run may change (a manifest written before those could change holds
    the hash of the whole config) and keys the manifest masked: `***` matches any value (a
    secret, or a key an emb_opt that guessed secrets by name took for one). The manifest's
    config is masked again, as an older emb_opt may have masked less."""
    if manifest.get("fingerprint") in {fingerprint(raw, extendable=True), fingerprint(raw)}:
        return []
    before = mask_config(manifest.get("config") or {})
    return [
        key
        for key in changed_keys(before, mask_config(raw))
        if key.split(".")[0] not in EXTENDABLE and _value_at(before, key) != MASK
    ]


def _value_at(config: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted path of `changed_keys` (None where there is none)."""
    value: Any = config
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def changed_keys(before: Any, after: Any, prefix: str = "") -> list[str]:
    """The dotted paths (`source.k`, `strategy.update.batch`) where two configs differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            path
            for key in dict.fromkeys([*before, *after])
            for path in changed_keys(before.get(key), after.get(key), f"{prefix}{key}.")
        ]
    return [] if before == after else [prefix.rstrip(".") or "(the whole config)"]


def validate(
    raw: dict[str, Any], origin: str = "config", base: str | os.PathLike | None = None
) -> RunConfig:
    """Substitute variables and validate; errors name the key, its location and what is allowed.
    The secrets the config resolves are masked in all text from now on (`register_config`).

    With `base` (a config file's directory), relative paths in the config resolve against it;
    without, they stay relative to the current directory."""
    check_shape(raw, origin)
    resolved = substitute(raw)
    register_config(resolved)
    try:
        config = RunConfig.model_validate(resolved)
    except ValidationError as error:
        first: dict[str, Any] = dict(error.errors()[0])
        location = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ConfigError(f"{origin}: {location}: {_explain(first)}") from None
    return config if base is None else relative_to(config, Path(base))


def check_shape(raw: Any, origin: str = "config") -> None:
    """Refuse, without recursing, a config nested deeper than MAX_DEPTH levels or holding
    a string with no UTF-8 form (a lone surrogate from a `"\\ud800"` escape)."""
    todo: list[tuple[Any, str, int]] = [(raw, "", 0)]
    while todo:
        value, where, depth = todo.pop()
        if depth > MAX_DEPTH:
            shown = where if len(where) <= 60 else where[:57] + "..."
            raise ConfigError(f"{origin}: {shown}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, str) and text_problem(value):
            raise ConfigError(f"{origin}: {where or '(top level)'}: {text_problem(value)}")
        if isinstance(value, dict):
            for key, child in value.items():
                path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and text_problem(key):
                    raise ConfigError(
                        f"{origin}: {where or '(top level)'}: a key holds {text_problem(key)}"
                    )
                todo.append((child, path, depth + 1))
        elif isinstance(value, list):
            todo += [(child, f"{where}[{i}]", depth + 1) for i, child in enumerate(value)]


def load_config(path: str | os.PathLike) -> tuple[RunConfig, dict[str, Any]]:
    """The validated config and the raw document it came from; its relative paths resolve
    against the config file's directory (as docker-compose does), not the current one."""
    raw = read_yaml(path)
    return validate(raw, str(path), Path(path).absolute().parent), raw


def relative_to(config: RunConfig, base: Path) -> RunConfig:
    """`config` with every relative path (data files, start file, embedded server path,
    output directory) joined to `base`; absolute paths and URIs are unchanged."""

    def resolve(value: str | None) -> str | None:
        if value is None or "://" in value or value.startswith(":"):  # URIs, ":memory:"
            return value
        return str(base / value)  # an absolute `value` stays as it is

    source = config.source
    data = source.data
    if data is not None and data.kind == "files":
        data = data.model_copy(
            update={"embeddings": resolve(data.embeddings), "metadata": resolve(data.metadata)}
        )
    return config.model_copy(
        update={
            "source": source.model_copy(update={"path": resolve(source.path), "data": data}),
            "start": config.start.model_copy(
                update={"file": resolve(config.start.file), "scores": resolve(config.start.scores)}
            ),
            "output": config.output.model_copy(update={"dir": resolve(config.output.dir)}),
        }
    )


def _explain(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key; check its spelling and its block"
    if error["type"] == "missing":
        return "required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    return (
        f"{message} (got {error['input']!r})"
        if "input" in error and error["type"] != "value_error"
        else message
    )
