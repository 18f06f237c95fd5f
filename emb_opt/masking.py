"""Secrets never written: `mask_secrets` replaces them with `***` in config values and in text.

What counts as a secret:

- every value of a `headers` mapping (any header may carry a credential);
- a string under a key whose name has a word like key, token, secret, auth(orization),
  password, passwd, pwd, cookie, credential(s) or signature (`api_key`, `X-Api-Key`,
  `Proxy-Authorization`, `access_token`, `clientSecret`);
- the password of a URL (`postgresql://user:***@host/db`) and the value of a `name=value`
  pair named like a secret (`?token=***`, `&api_key=***`, a libpq DSN's `password=***`),
  wherever they appear in a string;
- in text, a quoted `'name': 'value'` pair named like a secret (a dict's repr).

A value that takes its secret from the environment, `${VAR}` (or `${VAR:-}`,
`${VAR:-${OTHER}}`), is kept as written: the reference, never the value. A reference with a
written default, `${VAR:-default}`, is masked like a literal, as its default may be one.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "auth", "authorization", "password", "passwd", "pwd"}
    | {"cookie", "credential", "credentials", "signature", "sig"}
)
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_SECRET_ENDINGS = ("password", "secret", "token", "apikey")  # accesstoken
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
    """Does a key, header or parameter named `name` hold a secret?"""
    words = {word.lower() for word in _WORD.findall(str(name))}
    return bool(words & SECRET_WORDS) or str(name).lower().endswith(_SECRET_ENDINGS)


def mask_secrets(value: Any) -> Any:
    """`value` (a string, or dicts and lists of them) with every secret replaced by `***`."""
    return _walk(value, "", [])


def literal_secrets(value: Any) -> list[str]:
    """Where `value` holds a secret written out rather than as a `${VAR}` reference."""
    found: list[str] = []
    _walk(value, "", found)
    return found


def _walk(value: Any, where: str, found: list[str]) -> Any:
    if isinstance(value, dict):
        masked = {}
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if str(key).lower() in ("headers", "header") and isinstance(item, dict):
                masked[key] = {
                    name: _secret(v, f"{path}.{name}", found) for name, v in item.items()
                }
            elif is_secret_name(key) and isinstance(item, str):
                masked[key] = _secret(item, path, found)
            else:
                masked[key] = _walk(item, path, found)
        return masked
    if isinstance(value, (list, tuple)):
        return type(value)(_walk(item, f"{where}[{i}]", found) for i, item in enumerate(value))
    if isinstance(value, str):
        text = _mask_text(value)
        if text != value:
            found.append(where or "text")
        return text
    return value


def _secret(value: Any, where: str, found: list[str]) -> Any:
    """A value that is a secret as a whole: kept only when it comes from the environment."""
    if isinstance(value, str) and _from_environment(value):
        return value
    found.append(where)
    return MASK


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
