"""Progress lines on standard error, so standard output keeps only the report."""

import sys
import time

_STARTED = time.monotonic()


def log(message: str) -> None:
    """Print ``message`` on stderr with the seconds since the run started."""
    elapsed = time.monotonic() - _STARTED
    print(f"[{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)
