"""The operator's log format: text with key=value fields, or JSON lines (CLAUDE_POOL_LOG_FORMAT)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from claude_pool.runtime.logs import LogFormat, configure_logging, task_fields
from claude_pool.runtime.settings import Settings


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log(log_format: LogFormat) -> str:
    stream = io.StringIO()
    configure_logging(log_format, stream=stream)
    fields = task_fields("ns", "demo", "hello", "u-1", "demo-slot-0", reason="Completed")
    logging.getLogger("claude_pool.worker").info("task finished", extra=fields)
    logging.getLogger("kopf.objects").info("a watch event")  # too chatty: dropped
    return stream.getvalue()


def test_json_lines_carry_the_task_identity_as_keys() -> None:
    (line,) = _log(LogFormat.JSON).splitlines()
    record = json.loads(line)
    assert record["message"] == "task finished"
    assert record["level"] == "INFO"
    assert record["logger"] == "claude_pool.worker"
    assert record["time"]
    assert {k: record[k] for k in ("namespace", "pool", "task", "uid", "slot", "reason")} == {
        "namespace": "ns",
        "pool": "demo",
        "task": "hello",
        "uid": "u-1",
        "slot": "demo-slot-0",
        "reason": "Completed",
    }


def test_text_lines_end_with_the_fields_as_key_value_pairs() -> None:
    (line,) = _log(LogFormat.TEXT).splitlines()
    assert line.endswith(
        "INFO claude_pool.worker task finished namespace=ns pool=demo task=hello uid=u-1"
        " slot=demo-slot-0 reason=Completed"
    )


def test_the_setting_selects_json(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().log_format is LogFormat.TEXT
    monkeypatch.setenv("CLAUDE_POOL_LOG_FORMAT", "json")
    assert Settings().log_format is LogFormat.JSON
    monkeypatch.setenv("CLAUDE_POOL_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings()
