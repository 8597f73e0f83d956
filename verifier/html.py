"""Compatibility: the printable report moved to :mod:`verifier.report.html` (delete at merge)."""

from __future__ import annotations

from verifier.report.html import TEMPLATE, default_audit_reference, render_report_html

__all__ = ["TEMPLATE", "default_audit_reference", "render_report_html"]
