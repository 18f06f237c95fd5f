"""Secrets never written: replaced with `***` in a run's files, on the terminal, in errors.

A run config's secrets are named, never guessed from a key's spelling (`item_key`,
`inchi_key` or `sig_threshold` are plain values):

- `SECRET_FIELDS`: the credentials the config itself takes (`source.api_key`, every value of
  `executor.headers`, Ray's `init_kwargs` secrets);
- a plugin's own: the parameters its `secrets:` list names
  (`score.function: {name: my.module:Score, token: ..., secrets: [token]}`).

`mask_config` masks those in a config as written; `literal_secrets` says where one is written
out. A secret that comes from the environment, `${VAR}` (or `${VAR:-}`, `${VAR:-${OTHER}}`),
is kept as written: the reference, never the value; `${VAR:-default}` is masked like a
literal, as its default may be one.

In any text (every string of a config, error messages, tracebacks) `mask_secrets` masks:

- the password of a URL (`postgresql://user:***@host/db`);
- a `name=value` pair named like a credential (`SECRET_NAMES`: `?token=***`, `&api_key=***`,
  a libpq DSN's `password=***`);
- a quoted `'name': 'value'` pair so named (a dict's repr, such as headers in an error).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

MASK = "***"
SECRET_FIELDS = (
    ("source", "api_key"),
    ("executor", "headers", "*"),
    ("executor", "init_kwargs", "_redis_password"),
    ("executor", "init_kwargs", "runtime_env", "env_vars", "*"),
)
# names (lower case, `-` as `_`) of query parameters, DSN keys and headers that hold credentials
SECRET_NAMES = frozenset(
    {"password", "passwd", "pwd", "secret", "client_secret", "key", "api_key", "apikey"}
    | {"token", "access_token", "refresh_token", "id_token", "auth", "authorization"}
    | {"proxy_authorization", "cookie", "set_cookie", "x_api_key", "x_chroma_token"}
    | {"sig", "signature", "x_amz_signature", "x_amz_security_token"}
)
_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-)?\}")  # ${VAR}, ${VAR:-}
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)(?P<value>[^@/\s'\"]+)@"
)
_NAME_VALUE = re.compile(
    r"(?<![\w-])(?P<head>(?P<name>[A-Za-z_][\w.-]*)=)(?P<value>'[^']*'|[^&#;\s'\"]+)"
)
_QUOTED_PAIR = re.compile(
    r"(?P<head>(?P<q>['\"])(?P<name>[^'\"]+)(?P=q)\s*:\s*(?P<r>['\"]))(?P<value>.*?)(?P=r)"
)


def is_secret_name(name: object) -> bool:
    """Is `name` the name of a credential in text (a query parameter, DSN key or header)?"""
    return str(name).lower().replace("-", "_") in SECRET_NAMES


def mask_secrets(value: Any) -> Any:
    """`value` (a string, or dicts and lists of them) with every secret in its text masked."""
    if isinstance(value, dict):
        return {key: mask_secrets(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_secrets(item) for item in value)
    return _mask_text(value) if isinstance(value, str) else value


def mask_config(value: Any, at: str = "") -> Any:
    """A run config as written (or its block at dotted path `at`, e.g. "executor") with its
    secret fields and the secrets in its text masked."""
    return _walk(value, tuple(at.split(".")) if at else (), set(), [])


def literal_secrets(value: Any) -> list[str]:
    """Where a run config holds a secret written out rather than as a `${VAR}` reference."""
    found: list[str] = []
    _walk(value, (), set(), found)
    return found


def mask_named(params: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    """`params` with the values of `names` masked (a plugin's `secrets`, for an error)."""
    return {key: MASK if key in names else value for key, value in params.items()}


def _walk(value: Any, path: tuple[str, ...], listed: set[str], found: list[str]) -> Any:
    """`value` at `path` masked; `listed` are the secret names of the plugin whose params
    `value` is."""
    if isinstance(value, dict):
        own = _plugin_secrets(value)
        masked = {}
        for key, item in value.items():
            here = (*path, str(key))
            if _is_secret_field(here) or key in listed or (key in own and key != "params"):
                masked[key] = _secret(item, here, found)
            else:
                masked[key] = _walk(item, here, own if key == "params" else set(), found)
        return masked
    if isinstance(value, (list, tuple)):
        return type(value)(_walk(v, (*path, f"[{i}]"), set(), found) for i, v in enumerate(value))
    if isinstance(value, str):
        text = _mask_text(value)
        if text != value:
            found.append(_dotted(path))
        return text
    return value


def _plugin_secrets(block: dict[str, Any]) -> set[str]:
    """The parameter names a plugin block (one with a `name`) lists under `secrets`."""
    names = block.get("secrets")
    if "name" not in block or not isinstance(names, list):
        return set()
    return {name for name in names if isinstance(name, str)}


def _is_secret_field(path: tuple[str, ...]) -> bool:
    return any(
        len(path) == len(field) and all(f in ("*", p) for f, p in zip(field, path))
        for field in SECRET_FIELDS
    )


def _secret(value: Any, path: tuple[str, ...], found: list[str]) -> Any:
    """A value that is a secret as a whole (each of its leaves, if a mapping or list): kept
    only when it comes from the environment (or is not given)."""
    if isinstance(value, dict):
        return {k: _secret(v, (*path, str(k)), found) for k, v in value.items()}
    if isinstance(value, list):
        return [_secret(v, (*path, f"[{i}]"), found) for i, v in enumerate(value)]
    if value is None or (isinstance(value, str) and _from_environment(value)):
        return value
    found.append(_dotted(path))
    return MASK


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path).replace(".[", "[") or "text"


def _from_environment(value: str) -> bool:
    """Does `value` take its secret from the environment: `${VAR}` references, whose
    defaults (if any) are empty or references themselves (`${A:-${B}}`)?"""
    rest, last = value, None
    while rest != last:  # innermost references first
        last, rest = rest, _REFERENCE.sub("", rest)
    return "${" in value and "${" not in rest


def _mask_text(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: _masked(m, "@"), text)
    text = _NAME_VALUE.sub(lambda m: _masked(m, "", m["name"]), text)
    return _QUOTED_PAIR.sub(lambda m: _masked(m, m["r"], m["name"]), text)


def _masked(match: re.Match[str], tail: str, name: str | None = None) -> str:
    """`match` with its `value` group masked, `tail` being what followed the value in it;
    unchanged when `name` is not a secret's name or the value comes from the environment."""
    value = match["value"].strip("'")
    if (name is not None and not is_secret_name(name)) or value == MASK:
        return match[0]
    if _from_environment(value):
        return match[0]
    return f"{match['head']}{MASK}{tail}"
