"""Reading printed reports back in tests: the PDF's text per page (poppler), the HTML as it prints.

poppler-utils is a Debian package: without it a test skips with the reason, except under CI where
that fails (as the Chromium tests do).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from harness import UNDER_CI

# The machine-readable footer line and the page label: the only places codes may be printed.
MACHINE = re.compile(r"report=\S+ v=\d+ verification=\S+ class=\S+ by=\S+ policy=\S+ sha256=[0-9a-f]{64}")
_SCREEN_ONLY = re.compile(r'<(span|div)\s+class="[^"]*\bscreen-only\b[^"]*">.*?</\1>', re.S)
_TAG = re.compile(r"<[^>]+>")


def tool_or_skip(name: str) -> str:
    """The path of a poppler tool; skip (fail under CI) when poppler-utils is not installed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found on PATH (apt-get install poppler-utils)"
        if UNDER_CI:
            pytest.fail(message + " — required under CI")
        pytest.skip(message)
    return path


def pdf_pages(pdf: bytes, tmp: Path) -> list[str]:
    """The text of each page of a PDF (pdftotext, reading order)."""
    path = tmp / "read.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        [tool_or_skip("pdftotext"), "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60
    )
    return [page for page in done.stdout.decode("utf-8").split("\f") if page.strip()]


def printed_html(html: str) -> str:
    """The visible text of the HTML as it prints: the style sheet and the screen-only parts left out."""
    body = html[html.index("<body>") :]
    while True:
        stripped = _SCREEN_ONLY.sub("", body)
        if stripped == body:
            break
        body = stripped
    return re.sub(r"\s+", " ", _TAG.sub(" ", body)).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def english_words(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Runs of three or more Latin letters that are words, not parts of codes with digits (record ids such as
    TX-2026-01 stay), outside the machine-readable footer and the ``allowed`` texts (data as the case system
    gave it)."""
    text = MACHINE.sub(" ", re.sub(r"\s+", " ", text))
    for given in allowed:
        text = text.replace(given, " ")
    words = []
    for token in re.split(r"[\s（）()，。：；、·]+", text):
        if re.search(r"\d", token) or token.startswith("hedui"):
            continue  # an identifier (record id, digest, page label) or the page label's name
        words += re.findall(r"[A-Za-z]{3,}", token)
    return words
