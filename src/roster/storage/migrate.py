"""Alembic, driven from code: ``roster migrate`` and the test fixtures call ``upgrade``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from roster.storage.engine import normalise_url

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


@cache
def head_revisions() -> frozenset[str]:
    """The revisions this code's migrations end at (one, while the history is linear)."""
    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())
