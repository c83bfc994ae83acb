"""Server log lines: JSON off a terminal, console rendering on one; extra= fields become keys."""

from __future__ import annotations

import json
import logging

from roster.http.log_format import choose, formatter, logging_config


def _record() -> logging.LogRecord:
    record = logging.LogRecord("roster.access", logging.INFO, __file__, 1, "request", None, None)
    record.route = "/healthz"
    record.status = 200
    return record


def test_json_lines() -> None:
    line = json.loads(formatter("json").format(_record()))
    assert (line["event"], line["route"], line["status"], line["level"]) == (
        "request",
        "/healthz",
        200,
        "info",
    )
    assert line["logger"] == "roster.access" and "timestamp" in line and "pid" in line


def test_console_lines() -> None:
    line = formatter("console").format(_record())
    assert not line.startswith("{") and "request" in line and "/healthz" in line


def test_auto_follows_the_terminal() -> None:
    assert choose("auto", stderr_is_terminal=True) == "console"
    assert choose("auto", stderr_is_terminal=False) == "json"
    assert choose("json", stderr_is_terminal=True) == "json"
    assert choose("console", stderr_is_terminal=False) == "console"


def test_uvicorn_access_log_is_silenced() -> None:
    config = logging_config("json")
    assert config["loggers"]["uvicorn.access"]["handlers"] == []
    assert config["formatters"]["structured"]["renderer"] == "json"
