"""The report room: an assessment as one typed ``hedui.v1.Report``, and its renderings.

``build`` (assessment → report, its JSON and digest) · ``text`` (the terminal) · ``html`` and
``templates/`` (the printable Chinese document; ``html_*`` its parts) · ``labels_zh`` (every
Chinese label, once) · ``display`` (the renderers' shared formatting).
"""

from __future__ import annotations

from verifier.report.build import (
    EncodedReport,
    build_report,
    encode_report,
    report_digest,
    report_from_plain,
    report_json,
    report_name,
    report_plain,
)
from verifier.report.html import render_report_html
from verifier.report.text import print_report

__all__ = [
    "EncodedReport",
    "build_report",
    "encode_report",
    "print_report",
    "render_report_html",
    "report_digest",
    "report_from_plain",
    "report_json",
    "report_name",
    "report_plain",
]
