"""The admin console: server-rendered pages (Jinja2 + htmx) under /admin/, calling the same
directory actions and queries as the CLI."""

from __future__ import annotations

from roster.console.app import build

__all__ = ["build"]
