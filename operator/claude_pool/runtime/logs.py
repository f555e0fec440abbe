"""The operator's log format: text lines for people, or JSON lines for a log pipeline.

`configure_logging(settings.log_format)` is called once by `runtime.main.main`. Code that
logs a task's lifecycle passes the task's identity as `extra=task_fields(...)`; both
formats show those fields (text as `key=value` after the message, JSON as keys), so
`grep uid=...` and `jq 'select(.uid == ...)'` both find every line of one task.
"""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

FIELDS = ("namespace", "pool", "task", "uid", "slot", "reason", "cost", "attempt")
"""Structured fields a log call may pass in `extra` (in this order in text lines)."""
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class LogFormat(StrEnum):
    """CLAUDE_POOL_LOG_FORMAT."""

    TEXT = "text"
    JSON = "json"


class TextFormatter(logging.Formatter):
    """The classic line, then ` key=value` for each structured field the record carries."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [
            f"{name}={getattr(record, name)}"
            for name in FIELDS
            if getattr(record, name, None) is not None
        ]
        return " ".join([line, *fields])


def task_fields(
    namespace: str, pool: str, task: str, uid: str, slot: str | None = None, **more: Any
) -> dict[str, Any]:
    """The `extra` of a task lifecycle line (dispatched, started, finished, retried, ...)."""
    return {"namespace": namespace, "pool": pool, "task": task, "uid": uid, "slot": slot, **more}


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format is LogFormat.JSON:
        return JsonFormatter(
            JSON_FORMAT,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return TextFormatter(TEXT_FORMAT)


def configure_logging(
    log_format: LogFormat, *, level: int = logging.INFO, stream: IO[str] | None = None
) -> None:
    """Route every logger (kopf's too) to one handler in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)  # a line per watch event
