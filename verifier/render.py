"""Compatibility: the terminal rendering moved to :mod:`verifier.report.text` (delete at merge)."""

from __future__ import annotations

from verifier.report.text import print_report, yuan

__all__ = ["print_report", "yuan"]
