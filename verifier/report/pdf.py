"""The official printed report as a PDF, rendered on the server with WeasyPrint (CSS paged media).

The same document as the HTML view (:func:`~verifier.report.html.render_report_html`), laid out by
WeasyPrint: the page header and footer (centre, report number, QR code and digest) repeat on every
page through running elements, page numbers come from the ``@page`` counters, and the print
stylesheet leaves the screen-only codes out. WeasyPrint is imported when a PDF is first asked for,
so a service that never prints does not load it. The PDF's metadata is fixed by the report (title,
creation date = the report's generation time), so rendering one report twice gives the same text.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Mapping
from typing import Any

from connectors.departments import DepartmentCatalogue
from hedui.v1 import report_pb2
from verifier.assessment.flags import DEFAULT_CATALOGUE
from verifier.report.build import report_from_plain
from verifier.report.html import render_report_html
from verifier.report.official import PrintContext, report_number

__all__ = ["render_report_pdf"]


@functools.cache
def _weasyprint() -> Any:
    """The weasyprint module, imported once and quietened (it logs every unsupported CSS property)."""
    import weasyprint  # heavy: only when a PDF is asked for

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return weasyprint


def render_report_pdf(
    report: report_pb2.Report | Mapping[str, Any],
    *,
    catalogue: DepartmentCatalogue = DEFAULT_CATALOGUE,
    context: PrintContext | None = None,
) -> bytes:
    """The report as an A4 PDF in Chinese (see :func:`~verifier.report.html.render_report_html` for ``context``)."""
    typed = report if isinstance(report, report_pb2.Report) else report_from_plain(report)
    chosen = context or PrintContext()
    html = render_report_html(typed, catalogue=catalogue, context=chosen)
    weasyprint = _weasyprint()
    document = weasyprint.HTML(string=html).render()
    created = typed.generated_at or dt.datetime(2000, 1, 1, tzinfo=dt.UTC).isoformat()
    document.metadata.title = f"家庭经济状况核对报告 {report_number(typed, chosen.centre)}"
    document.metadata.authors = [chosen.centre.name]
    document.metadata.created = created
    document.metadata.modified = created
    document.metadata.generator = "hedui"
    pdf: bytes = document.write_pdf()
    return pdf
