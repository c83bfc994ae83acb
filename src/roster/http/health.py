"""``/healthz`` (liveness) and ``/readyz`` (readiness), for load balancers and orchestrators.

Liveness says only that this process answers: restarting it would not fix a database that
is down, so ``/healthz`` never looks at the database. Readiness says whether requests can be
served now: the database answers and its schema is the one this code was written for (a
server started before ``roster migrate`` would otherwise fail on every request).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from roster.storage.health import DatabaseState, probe
from roster.storage.migrate import head_revisions


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def readiness(state: DatabaseState, heads: frozenset[str]) -> tuple[int, dict[str, Any]]:
    expected = sorted(heads)
    if not state.reachable:
        return 503, {
            "status": "unavailable",
            "database": "unreachable",
            "detail": f"the database does not answer: {state.error}",
        }
    current = sorted(state.revisions)
    if state.revisions != heads:
        detail = (
            "the database has no Roster schema: run `roster migrate`"
            if not current
            else f"the database schema is at {', '.join(current)}, this code expects "
            f"{', '.join(expected)}: run `roster migrate`"
        )
        return 503, {
            "status": "unavailable",
            "database": "not migrated",
            "revision": current,
            "expected_revision": expected,
            "detail": detail,
        }
    return 200, {"status": "ok", "database": "ok", "revision": current}


def readyz(engine: Engine) -> Any:
    async def endpoint(_: Request) -> Response:
        # Blocking I/O (a connection attempt may wait on the network): off the event loop.
        state = await run_in_threadpool(probe, engine)
        status, body = readiness(state, head_revisions())
        return JSONResponse(body, status, {"Cache-Control": "no-store"})

    return endpoint
