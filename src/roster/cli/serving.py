"""``roster serve``: uvicorn with Roster's logs, metrics and the checks a first run needs.

Before binding, it says what would otherwise surprise: a public URL on this machine whose
port is not the one served (every printed base URL and ``meta.location`` would point
elsewhere), a port already taken (another ``roster serve``?), and a default SQLite file that
does not exist yet.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from roster.cli.support import JsonFlag
from roster.cli.support import fail as _fail
from roster.cli.support import settings as _settings
from roster.cli.support import show as _print
from roster.settings import Settings

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"})  # noqa: S104 (compared with --host, not bound)
# prometheus-client's own files (counter_123.db, gauge_livesum_123.db, …): the only ones a
# restart clears from a folder the operator chose.
_METRIC_FILE = re.compile(r"^(counter|gauge|histogram|summary)(_[a-z]+)?_\d+\.db$")


def public_url_mismatch(public_url: str, host: str, port: int) -> str | None:
    """A warning when ROSTER_PUBLIC_URL names this machine on another port than ``port``.

    A public URL on another host is a reverse proxy's (https on 443 forwarding to us): its
    port differs by design, so it is not checked.
    """
    parts = urlsplit(public_url)
    try:
        public_port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return f"ROSTER_PUBLIC_URL {public_url!r} has no valid port"
    hostname = (parts.hostname or "").lower()
    local = hostname in _LOCAL_HOSTS or hostname.startswith("127.") or hostname == host.lower()
    if not local or public_port == port:
        return None
    return (
        f"ROSTER_PUBLIC_URL is {public_url}, but this server listens on port {port}: base "
        f"URLs and meta.location will point at port {public_port}. Set "
        f"ROSTER_PUBLIC_URL=http://{host}:{port} (`make run PORT={port}` does)."
    )


def port_taken(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE  # anything else: uvicorn's to report
    return False


@contextmanager
def metrics_folder(settings: Settings) -> Iterator[str]:
    """A folder for the workers' Prometheus files (multiprocess mode): the operator's
    ``PROMETHEUS_MULTIPROC_DIR`` emptied of an earlier run's files, else a temporary one
    removed when the server stops."""
    chosen = settings.prometheus_multiproc_dir
    if chosen:
        folder = Path(chosen)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            if _METRIC_FILE.match(stale.name):
                stale.unlink()
        yield str(folder)
        return
    made = tempfile.mkdtemp(prefix="roster-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made  # inherited by every worker process
    try:
        yield made
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(made, ignore_errors=True)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (all stateless).")] = 1,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers/--no-proxy-headers",
            help="Trust X-Forwarded-For/-Proto from --forwarded-allow-ips (behind TLS).",
        ),
    ] = True,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="Comma-separated proxy addresses (or *) whose X-Forwarded-* headers are "
            "trusted; default $FORWARDED_ALLOW_IPS, else 127.0.0.1.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Serve the SCIM API, the read API, /healthz, /readyz and /metrics."""
    import uvicorn  # noqa: PLC0415  (only `serve` pays for importing the server)

    from roster.http.log_format import choose, logging_config  # noqa: PLC0415 (as uvicorn)

    settings = _settings()
    if port_taken(host, port):
        _fail(
            f"port {port} on {host} is in use (another `roster serve`?): stop it, or pick "
            f"another port, e.g. `make run PORT={port + 1}` or `roster serve --port {port + 1}`",
            as_json,
        )
    warning = public_url_mismatch(settings.public_url, host, port)
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    default_file = settings.default_database_file()
    if default_file is not None and not default_file.exists():
        typer.echo(
            f"warning: no database at {default_file} (ROSTER_DATABASE_URL is unset, so the "
            "default is roster.db in the current folder): run `roster migrate` here, or set "
            "ROSTER_DATABASE_URL; /readyz answers 503 until then",
            err=True,
        )
    url = f"http://{host}:{port}"
    _print(as_json, {"serving": url, "workers": workers}, f"Roster serving on {url}")
    renderer = choose(settings.log_format, sys.stderr.isatty())
    with ExitStack() as stack:
        # Several workers: each is a process of its own, so the metrics go through files
        # that a scrape adds up (an operator's PROMETHEUS_MULTIPROC_DIR: even with one).
        if workers > 1 or settings.prometheus_multiproc_dir:
            stack.enter_context(metrics_folder(settings))
        uvicorn.run(
            "roster.http.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            # uvicorn kills a worker that does not answer its health ping within this many
            # seconds; its default (5) is shorter than a worker's start on a busy small host
            # (imports, app, pool), which then restarts workers forever and never serves.
            timeout_worker_healthcheck=30,
            log_config=logging_config(renderer),
            access_log=False,  # ours (roster.access) has the route, tenant and request id
            proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips,
        )


def register(app: typer.Typer) -> None:
    app.command()(serve)
