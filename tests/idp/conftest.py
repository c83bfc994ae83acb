"""The live ``roster serve`` fixtures of the e2e suite, shared with the transcript replay.

Importing the fixture functions registers them for tests/idp/ (they stay defined once, in
tests/e2e/conftest.py). ``db_url`` comes from tests/conftest.py.
"""

from __future__ import annotations

from tests.e2e.conftest import live_server, start_server

__all__ = ["live_server", "start_server"]
