"""Display helpers shared by the renderers: amounts before → after, masked free text, instants, CSS-safe text."""

from __future__ import annotations

from collections.abc import Sequence

from consent.identity import scrub
from verifier.assessment.flags import yuan

__all__ = ["arrow", "css_safe", "instant", "masked_text", "yuan"]


def arrow(before: int, after: int) -> str:
    """Two amounts of fen, before → after, in yuan."""
    return f"{yuan(before)} → {yuan(after)}"


def masked_text(text: str) -> str:
    """``text`` with every identity number in it masked (first 6, last 4)."""
    return scrub(text)


def instant(value: str | None) -> str:
    """An RFC 3339 UTC instant as "2026-11-23 12:51:13 UTC"; empty for none."""
    if not value:
        return ""
    return value.replace("T", " ").removesuffix("Z") + " UTC" if value.endswith("Z") else value.replace("T", " ")


def css_safe(text: str, allowed: Sequence[str] = ("-", "_", ".", " ", "/")) -> str:
    """Only characters that need no escaping inside a CSS string or class name (the page footer, badges)."""
    return "".join(ch for ch in text if ch.isascii() and (ch.isalnum() or ch in allowed))
