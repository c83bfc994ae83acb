"""Helpers for the local servers the benchmark starts itself."""

import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.progress import log
from bench.scim import ScimError

READY_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def local_server(
    name: str, command: Sequence[str], ready: Callable[[], bool], cwd: Path | None = None
) -> Iterator[None]:
    """Run ``command`` until the block ends; wait first until ``ready()`` is true."""
    log(f"starting {name}")
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready():
            if process.poll() is not None:
                raise ScimError(f"{name} exited with status {process.returncode}")
            if time.monotonic() > deadline:
                raise ScimError(f"{name} did not answer within {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log(f"{name} stopped")


def answers(make_request: Callable[[], int]) -> Callable[[], bool]:
    """A readiness probe: true once ``make_request`` returns 200 without an exception."""

    def probe() -> bool:
        try:
            return make_request() == 200
        except ScimError:
            return False

    return probe
