"""What `status` says of a run's source data without opening the source (it reads only the
run directory): files whose recorded identity differs from the file there now, and when the
last check of the data was (by a command that opened the source) and what it found."""

from __future__ import annotations

import os
from typing import Any

from .sourcedata import ACCEPT_FLAG, when

IDENTITY = {"size": "st_size", "mtime": "st_mtime", "ctime": "st_ctime", "inode": "st_ino"}


def source_status(manifest: dict[str, Any]) -> str:
    """One line: the files changed since the last check, then that check's finding."""
    recorded = manifest.get("source_data") or {}
    moved = [
        f"{name} ({', '.join(differs)})"
        for name, was in recorded.items()
        if (differs := _differences(was))
    ]
    last = _last_check(manifest.get("source_checked"))
    if not moved:
        return last
    return (
        f"changed since the last check: {'; '.join(moved)}; the next ask or tell checks it "
        f"(a change is refused unless {ACCEPT_FLAG}); {last}"
    )


def _differences(was: dict[str, Any]) -> list[str]:
    """What differs between a file's recorded identity and the file now (nothing for an
    item fingerprint, or a file recorded without its path by an earlier version)."""
    path = was.get("path")
    if path is None:
        return []
    try:
        stat = os.stat(path)
    except OSError as error:
        return [error.strerror or "cannot be read"]
    return [
        key
        for key, field in IDENTITY.items()
        if was.get(key) is not None and was[key] != getattr(stat, field)
    ]


def _last_check(checked: dict[str, Any] | None) -> str:
    if checked is None:
        return "last check: none recorded"
    at = when(checked["at"])
    if not checked["changes"]:
        return f"unchanged at the last check ({at})"
    found = "; ".join(checked["changes"])
    if checked["accepted"]:
        return f"changed at the last check ({at}), accepted: {found}"
    return f"changed at the last check ({at}), refused: {found}"
