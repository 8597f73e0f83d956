"""hedui's logs: JSON lines for a log collector, readable text on a terminal.

The standard library's logging with a JSON formatter, not structlog: every module of hedui (and of the
connectors' and departments' packages) already logs through ``logging.getLogger``, and a formatter makes all of
them structured without a second logging API or a new dependency. A record's fields given with ``extra=`` (the
call line's ``grpc_method``, ``grpc_code``, ``duration_ms``, ``client``, ``request_id``) become JSON fields;
the request id of the call a record was made in is added to every record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, Final, TextIO

from verifier.observability._calls import current_request_id

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]

# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the record's extra fields, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if "request_id" not in line and (request_id := current_request_id()):
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger message [request id]`` for a person reading a terminal."""

    def __init__(self) -> None:
        """The terminal's format."""
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as text, its request id at the end."""
        text = super().format(record)
        request_id = getattr(record, "request_id", "") or current_request_id()
        return f"{text} [{request_id}]" if request_id else text


class _MigrationNoise(logging.Filter):
    """Alembic's two lines about its own set-up at every start go; "Running upgrade 0003 -> 0004" stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether the record is kept."""
        return not str(record.msg).startswith(("Context impl", "Will assume"))


def configure_logging(log_format: str = "auto", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every logger's records to ``stream`` (stderr): JSON lines, or text (``auto``: text on a terminal)."""
    stream = stream or sys.stderr
    if log_format == "auto":
        log_format = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic is imported when a schema is to change, after this: its plug-in set-up says nothing an operator needs.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    migrations = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _MigrationNoise) for f in migrations.filters):
        migrations.addFilter(_MigrationNoise())
