"""Strategy state as plain JSON data: the codec lives in `emb_opt.codec`; these names stay."""

from __future__ import annotations

from ..codec import StateError, decode, encode

__all__ = ["StateError", "decode", "encode"]
