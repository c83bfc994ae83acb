"""A per-connection setting's description: its name, meaning, choices, parser and default.
A leaf module: the settings of the directory (sync_options) and of the IdP dialects both
describe themselves with it, and ``options`` lists and stores them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from roster.storage.tenancy import ConnectionRow


@dataclass(frozen=True)
class OptionSpec:
    name: str
    summary: str
    choices: tuple[Any, ...]  # shown to admins; ``parse`` is the real check
    parse: Callable[[str], Any]  # admin text -> value; raises InvalidValue
    default: Callable[[ConnectionRow], Any]
    section: str | None = None  # options[section][name] instead of options[name]
