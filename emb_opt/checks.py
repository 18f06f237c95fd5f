"""Argument checks shared by every module: each names the argument and what it expected."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_positive_int(name: str, value: Any) -> int:
    """`value` as an int if it is a positive integer (not a bool); otherwise a ValueError
    naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_positive(name: str, value: Any) -> int | None:
    """`value` is a positive int or None; otherwise a ValueError naming `name`."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return value


def check_number(name: str, value: Any, minimum: float = 0.0) -> float:
    """`value` is a real number >= `minimum`; otherwise a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ValueError(f"{name} must be a number >= {minimum}, got {value!r}")
    return value


def check_count(name: str, value: Any) -> int:
    """`value` is a non-negative int; otherwise a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value
