"""The IdP setup guides (docs/idp/*.md) rendered for the console, with the connection's
own base URL, token and id in place of the examples the guides show."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt

import roster

GUIDES = {
    "okta": "okta.md",
    "entra": "entra.md",
    "onelogin": "onelogin.md",
    "jumpcloud": "jumpcloud.md",
}
# The guides live in the repository's docs/ (one copy for GitHub readers and the console);
# an installed wheel without them shows a pointer instead.
DOCS = Path(roster.__file__).resolve().parents[2] / "docs" / "idp"

_EXAMPLE_URL = re.compile(
    r"https://roster\.example\.com/scim/v2/acme/[0-9a-f]{8}-(?:[0-9a-f-]{27}|…)"
)
_EXAMPLE_TOKEN = re.compile(r"roster_[A-Za-z0-9_-]{43}")
_DEMOTE = re.compile(r"(</?)h([1-6])")
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


@cache
def _source(idp: str) -> str | None:
    name = GUIDES.get(idp)
    if name is None:
        return None
    path = DOCS / name
    return path.read_text(encoding="utf-8") if path.is_file() else None


def render(idp: str, base_url: str, connection_id: str, token: str | None) -> str | None:
    """The guide as HTML (markdown-it escapes any HTML in it), or None if there is none."""
    text = _source(idp)
    if text is None:
        return None
    text = _EXAMPLE_URL.sub(base_url, text)
    text = _EXAMPLE_TOKEN.sub(token or "<your token: regenerate it if you lost it>", text)
    text = text.replace("CONNECTION_ID", connection_id)
    # The guide sits under the page's own h1 and h2: its headings move two levels down.
    return _DEMOTE.sub(lambda m: f"{m.group(1)}h{min(6, int(m.group(2)) + 2)}", _md.render(text))
