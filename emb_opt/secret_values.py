"""The secret values this process resolved, in every form they travel in; `mask` hides them.

`emb_opt.masking.register_config` adds a config's (its `${VAR}` expanded) and an
`HTTPExecutor` its headers' and URL's; `emb_opt.masking.mask_secrets`, which every writer of
text calls, masks them. A value is kept as written, percent-decoded and percent-encoded (as a
URL carries it), in base64 (alone, and as an HTTP Basic `user:value`), and escaped as JSON
and Python's repr write it. Matching ignores case (`%2f` is `%2F`). Values shorter than
`MIN_LENGTH` characters are left to the masking by syntax: they would mask common words.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from urllib.parse import quote, quote_plus, unquote, unquote_plus

MIN_LENGTH = 4
_USERINFO = "!$&'()*+,;=:"  # what a URL's user and password keep unencoded (RFC 3986)


class SecretValues:
    """A set of secret values, masked in text by one compiled pattern."""

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str, user: str | None = None) -> None:
        """Mask `value` from now on (with `user`: also the Basic form of `user:value`)."""
        found = forms(value, user)
        with self._lock:
            if found <= self._forms:
                return
            self._forms |= found
            ordered = sorted(self._forms, key=len, reverse=True)  # the longest form first
            self._pattern = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE)

    def mask(self, text: str, mask: str) -> str:
        """`text` with every form of every value replaced by `mask`."""
        pattern = self._pattern
        return text if pattern is None else pattern.sub(mask, text)

    def clear(self) -> None:
        with self._lock:
            self._forms, self._pattern = set(), None


RESOLVED = SecretValues()  # the process's: what its configs and executors resolved


def forms(value: str, user: str | None = None) -> set[str]:
    """The forms `value` may be written in (those of at least `MIN_LENGTH` characters)."""
    plain = {value, unquote(value), unquote_plus(value)}
    users = set() if user is None else {user, unquote(user)}
    found = set(plain)
    for text in plain:
        found |= {quote(text, safe=""), quote(text), quote_plus(text, safe="")}
        found.add(quote(text, safe=_USERINFO))  # as a URL's user or password (httpx's)
        found |= _escaped(text) | _base64(text)
        for name in users:
            found |= _base64(f"{name}:{text}")
    return {form for form in found if len(form) >= MIN_LENGTH}


def _escaped(text: str) -> set[str]:
    """`text` as it stands inside a JSON string or a Python repr (either quote)."""
    doubled = text.replace("\\", "\\\\")
    return {
        doubled,
        doubled.replace("'", "\\'"),
        doubled.replace('"', '\\"'),
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
    }


def _base64(text: str) -> set[str]:
    """`text` in base64 and in URL-safe base64, without the padding (so either matches)."""
    data = text.encode("utf-8", "surrogatepass")
    return {
        base64.b64encode(data).decode().rstrip("="),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
    }
