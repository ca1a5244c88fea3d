"""Log lines: readable text for a developer's ``jiefen serve``, one JSON object per line in
production (``JIEFEN_LOG_FORMAT=json``), both carrying the request id of the request they
belong to.

One configuration serves the ``jiefen`` command and every uvicorn worker (uvicorn applies the
same dictConfig in each process it starts). Uvicorn's own access log is switched off: the
observability middleware writes one access line per request instead, with the route template,
the duration and the request id.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from service.request_id import current_request_id

ACCESS_LOGGER = "jiefen.access"

# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName", "color_message"}  # uvicorn's terminal-coloured copy of msg
)


def _request_id(record: logging.LogRecord) -> str | None:
    value = getattr(record, "request_id", None)
    return str(value) if value else current_request_id()


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id", …extras, "exc"}``, one line each."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = _request_id(record)
        if request_id:
            line["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in line and key != "request_id":
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-03-02 10:00:00,000 INFO logger: message [request id]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = _request_id(record)
        return f"{text} [{request_id}]" if request_id else text


def logging_config(log_format: str = "text", level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for the whole process: everything through one handler on the root logger."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"jiefen": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "jiefen", "stream": "ext://sys.stderr"}
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
        "loggers": {
            # Uvicorn's loggers go through the root handler instead of their own formatters.
            "uvicorn": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            # Replaced by the middleware's access line (one per request, not two).
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # transitions logs every state entry, APScheduler every job run: the audit trail and
            # the sweep's own lines say what matters.
            "transitions": {"level": "WARNING"},
            "apscheduler": {"level": "WARNING"},
            # The engine's pool logs "Pool disposed … Current Overflow" at INFO whenever a command ends.
            "sqlalchemy.pool": {"level": "WARNING"},
            # fontTools logs about 60 KB at INFO (every table pruned, every glyph name) each time a
            # document or a 卷宗 cuts the font: it drowned the log, and filled a pipe read by no one.
            "fontTools": {"level": "WARNING"},
            # fpdf2 and pypdf: a warning per odd PDF a scan holds is enough.
            "fpdf": {"level": "WARNING"},
            "pypdf": {"level": "ERROR"},
        },
    }


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(log_format, level))
