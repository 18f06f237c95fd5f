"""Secrets never written: replaced with `***` in a run's files, on the terminal, in errors.

`mask_secrets` is the one function every writer of text calls (the manifest, the log's
removal reasons, errors on stderr, stdout, a scoring service's answers). It masks:

- by value: every secret this process resolved (`emb_opt.secret_values`), in every form it
  travels in; `register_config` registers a config's when it is validated (`${VAR}`
  expanded), an `HTTPExecutor` its own;
- by syntax, secrets no config named (a service's answer, the files of an earlier run):
  - a URL's password, also one holding `/`, `@`, quotes or spaces
    (`postgresql://user:***@host/db`), and an http(s) URL's user when it has no password
    (`https://***@host`, a token);
  - a `name=value` pair named like a credential (`SECRET_NAMES`): `?token=***`,
    `&session=***`, a libpq DSN's `password = ***` or `password='***'`;
  - a quoted `'name': 'value'` pair so named (a dict's repr, JSON), and a header line
    (`Authorization: ***`, `HEADER_NAMES`);
  - `Bearer ***`, and `Basic ***` when its value is the base64 of `user:password`.

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
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Collection, Iterator
from typing import Any

from .secret_values import RESOLVED

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
    | {"session", "session_id", "sessionid", "session_token", "auth_token", "x_auth_token"}
)
# names that hold a credential in a `Name: value` line (not `key` or `token`, common words)
HEADER_NAMES = frozenset(
    {"authorization", "proxy_authorization", "cookie", "set_cookie", "x_api_key", "api_key"}
    | {"apikey", "x_chroma_token", "x_auth_token", "password", "passwd", "client_secret"}
)
_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-)?\}")  # ${VAR}, ${VAR:-}
_HOST = r"(?:[\w.~%-]+|\[[0-9A-Fa-f:.]+\])(?::\d*)?(?=[/?#\s'\",;)\]}>]|$)"


def _url_password(repeat: str) -> re.Pattern[str]:
    """A URL's password; `repeat` lazy: up to the first `@` a host follows (in text), else
    the last (in a config's string, a URL alone). A port (`h:8080/`) is no password."""
    return re.compile(
        rf"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s'\"]*):"
        rf"(?P<value>(?!\d+(?:[/?#\s]|$))(?:(?!://)[^\n]){repeat})@(?={_HOST})"
    )


_URL_PASSWORD, _URL_PASSWORD_TO_LAST_AT = _url_password("{1,256}?"), _url_password("{1,256}")
_URL_USER = re.compile(rf"(?:https?|wss?)://(?P<value>[^:/@\s'\"]+)@(?={_HOST})", re.IGNORECASE)
_HEADER_LINE = re.compile(
    r"(?<![\w.-])(?P<name>[A-Za-z][\w-]*):[ \t]*"
    r"(?P<value>(?:(?:Bearer|Basic|Token|Digest)[ \t]+)?[^\s'\",;]+)",
    re.IGNORECASE,
)
_AUTH_SCHEME = re.compile(r"\b(?P<name>Bearer|Basic)[ \t]+(?P<value>[^\s'\",;]+)", re.IGNORECASE)
_NAME_VALUE = re.compile(
    r"(?<![\w-])(?P<name>[A-Za-z_][\w.-]*)\s*=\s*"
    r"(?P<value>(?!=)(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^&#;\s'\"]+))"
)
_QUOTED_PAIR = re.compile(
    r"(?P<q>['\"])(?P<name>[^'\"]+)(?P=q)\s*:\s*(?P<r>['\"])"
    r"(?P<value>(?:\\.|(?!(?P=r))[^\\])*)(?P=r)"
)


def is_secret_name(name: object) -> bool:
    """Is `name` the name of a credential in text (a query parameter, DSN key or header)?"""
    return _name(name) in SECRET_NAMES


def _name(name: object) -> str:
    return str(name).lower().replace("-", "_")


def _basic_credentials(value: str) -> tuple[str, str] | None:
    """(user, password) when `value` is the base64 of `user:password` (HTTP Basic)."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon and decoded.isprintable() else None


Rule = tuple[re.Pattern[str], Callable[["re.Match[str]"], bool]]  # a pattern, is it a secret
_RULES: tuple[Rule, ...] = (
    (_URL_PASSWORD, lambda m: True),
    (_URL_USER, lambda m: True),
    (_HEADER_LINE, lambda m: _name(m["name"]) in HEADER_NAMES),
    (
        _AUTH_SCHEME,
        lambda m: m["name"].lower() == "bearer" or _basic_credentials(m["value"]) is not None,
    ),
    (_NAME_VALUE, lambda m: is_secret_name(m["name"])),
    (_QUOTED_PAIR, lambda m: is_secret_name(m["name"])),
)


def mask_secrets(value: Any) -> Any:
    """`value` (a string, or dicts and lists of them) with every secret in its text masked."""
    if isinstance(value, dict):
        return {key: mask_secrets(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_secrets(item) for item in value)
    return _mask_text(value) if isinstance(value, str) else value


def mask_config(value: Any, at: str = "", by_value: bool = True) -> Any:
    """A run config as written (or its block at dotted path `at`, e.g. "executor") with its
    secret fields and the secrets in its text masked (`by_value`: also the values this
    process resolved, else by syntax only: the same in every process)."""
    return _masked_config(value, tuple(at.split(".")) if at else (), [], by_value)


def literal_secrets(value: Any) -> list[str]:
    """Where a run config holds a secret written out rather than as a `${VAR}` reference
    (a reference's value may be a word the config holds elsewhere: that is no secret
    written out)."""
    found: list[str] = []
    _masked_config(value, (), found, by_value=False)
    return found


def register_config(config: Any) -> None:
    """Mask from now on the secrets of a config whose variables are expanded: the values of
    its secret fields and every credential its strings hold (URL, DSN and query-string
    passwords, tokens), in every form (see `emb_opt.secret_values`)."""

    def secret(item: Any, path: tuple[str, ...]) -> Any:
        for leaf in _leaves(item):
            _register(leaf)
        return item

    def text(item: str, path: tuple[str, ...]) -> str:
        for found, user in _credentials_in(item):
            _register(found, user)
        return item

    _walk(config, (), set(), secret, text)


def mask_named(params: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    """`params` with the values of `names` masked (a plugin's `secrets`, for an error)."""
    return {key: MASK if key in names else value for key, value in params.items()}


Visit = Callable[[Any, tuple[str, ...]], Any]


def _walk(value: Any, path: tuple[str, ...], listed: set[str], secret: Visit, text: Visit) -> Any:
    """`value` at `path` with `secret` applied to its secret fields and `text` to its other
    strings; `listed` are the secret names of the plugin whose params `value` is."""
    if isinstance(value, dict):
        own = _plugin_secrets(value)
        walked = {}
        for key, item in value.items():
            here = (*path, str(key))
            if _is_secret_field(here) or key in listed or (key in own and key != "params"):
                walked[key] = secret(item, here)
            else:
                inner = own if key == "params" else set()
                walked[key] = _walk(item, here, inner, secret, text)
        return walked
    if isinstance(value, (list, tuple)):
        return type(value)(
            _walk(v, (*path, f"[{i}]"), set(), secret, text) for i, v in enumerate(value)
        )
    return text(value, path) if isinstance(value, str) else value


def _masked_config(value: Any, path: tuple[str, ...], found: list[str], by_value: bool) -> Any:
    """`value` masked; where it held a secret written out is added to `found`."""

    def text(item: str, here: tuple[str, ...]) -> str:
        masked = _mask_text(item, by_value)
        if masked != item:
            found.append(_dotted(here))
        return masked

    return _walk(value, path, set(), lambda item, here: _secret(item, here, found), text)


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


def _leaves(value: Any) -> Iterator[str]:
    """The scalars of a secret field's value, as text."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _credentials_in(text: str) -> Iterator[tuple[str, str | None]]:
    """The credentials `text` holds by syntax, with their user where a URL names one."""
    for pattern in (_URL_PASSWORD, _URL_PASSWORD_TO_LAST_AT):
        for match in pattern.finditer(text):
            yield match["value"], match["user"]
            yield re.split("[/?#]", match["value"])[0], None  # a URL parser's port (unencoded)
    for match in _URL_USER.finditer(text):  # a token as the user: Basic `token:`
        yield "", match["value"]
    for pattern, is_secret in _RULES[1:]:
        for match in pattern.finditer(text):
            if is_secret(match):
                yield match["value"], None


def _register(value: str, user: str | None = None) -> None:
    """Register `value`, its unquoted form and the credential in it (`Bearer X`: X; `Basic
    X`: the user and password X encodes)."""
    if _from_environment(value):  # a reference, not a value (a config as written)
        return
    bare = _unquoted(value)
    inner = value[1:-1] if bare != value else value  # as written between its quotes
    for text in {value, inner, bare}:
        RESOLVED.add(text, user)
    scheme, _, credential = bare.partition(" ")
    if credential.strip() and scheme.isalpha():
        RESOLVED.add(credential.strip())
        basic = _basic_credentials(credential.strip())
        if basic is not None:
            RESOLVED.add(basic[1], basic[0])


def _unquoted(value: str) -> str:
    """`value` without the quotes around it and the backslashes escaping in it (libpq)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path).replace(".[", "[") or "text"


def _from_environment(value: str) -> bool:
    """Does `value` take its secret from the environment: `${VAR}` references, whose
    defaults (if any) are empty or references themselves (`${A:-${B}}`)?"""
    rest, last = value, None
    while rest != last:  # innermost references first
        last, rest = rest, _REFERENCE.sub("", rest)
    return "${" in value and "${" not in rest


def _mask_text(text: str, by_value: bool = True) -> str:
    if by_value:
        text = RESOLVED.mask(text, MASK)
    for pattern, is_secret in _RULES:
        text = pattern.sub(functools.partial(_masked, is_secret=is_secret), text)
    return text


def _masked(match: re.Match[str], is_secret: Callable[[re.Match[str]], bool]) -> str:
    """`match` with its `value` masked; unchanged when it is no secret, masked already, or
    a reference to the environment."""
    value = _unquoted(match["value"])
    if value == MASK or _from_environment(value) or not is_secret(match):
        return match[0]
    start, end = match.start("value") - match.start(), match.end("value") - match.start()
    return f"{match[0][:start]}{MASK}{match[0][end:]}"
