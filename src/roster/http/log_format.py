"""How ``roster serve`` writes its log lines: structlog renders the standard library's
records, as one JSON object a line (for a log collector) or as aligned, coloured text (for a
person at a terminal).

Code logs through ``logging`` as usual (``extra=`` fields become keys); only the formatter is
structlog's, so in-process tests and library loggers need no structlog set-up.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

Renderer = Literal["json", "console"]


def _add_pid(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    event["pid"] = os.getpid()  # which worker of `roster serve --workers N`
    return event


def _drop_color_message(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    event.pop("color_message", None)  # uvicorn's own coloured copy of the message
    return event


def formatter(renderer: Renderer = "json") -> logging.Formatter:
    """A logging.Formatter; ``logging.config.dictConfig`` builds it from ``"()"``."""
    pre_chain: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_pid,
    ]
    final: list[Processor]
    if renderer == "console":
        final = [structlog.dev.ConsoleRenderer()]
    else:
        final = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )


def choose(setting: str, stderr_is_terminal: bool) -> Renderer:
    if setting in ("json", "console"):
        return setting  # type: ignore[return-value]
    return "console" if stderr_is_terminal else "json"


def logging_config(renderer: Renderer) -> dict[str, Any]:
    """The dictConfig that uvicorn applies in every worker process."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": f"{__name__}.formatter", "renderer": renderer}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "loggers": {
            # Every worker applies this, so requests refused before a tenant is known
            # (unknown base URL, bad token) still leave a line on stderr.
            "roster": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            # Ours (roster.access) replaces it: one line a request, with the route and ids.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
