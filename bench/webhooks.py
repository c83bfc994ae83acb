"""Webhook delivery, measured end to end on this machine.

``python -m bench.webhooks [--database-url URL] [--backlog 2000] [--rate 100]
[--seconds 20] [--poll SECONDS] [--delivery worker|serve]``

Starts everything itself, on 127.0.0.1 only: a database (a fresh SQLite file unless
``--database-url`` names an empty PostgreSQL database), ``roster serve`` (one process,
delivery off), a receiver (uvicorn in this process, verifying every signature with the
``standardwebhooks`` verifier, answering 200) and one ``roster worker`` — or, with
``--delivery serve``, no worker: ``roster serve`` is restarted with delivery on after the
backlog is made (delivery in the writing process, where SQLite's in-process wake-up
applies; a separate worker on SQLite only polls). Then:

1. **throughput**: with no worker running, ``--backlog`` users are created (one
   ``employee.created`` event each); a worker is started, and events delivered per second
   is the backlog over the time from its first event's arrival to its last (queueing
   included);
2. **latency**: users are provisioned at ``--rate`` per second for ``--seconds`` while the
   worker runs; for each, the time from the SCIM answer (the change committed just before
   it) to the event's arrival at the receiver: p50, p99, max.

Prints one JSON document. Defaults of the worker's settings apply (``ROSTER_WEBHOOK_*``),
except that http and loopback addresses are allowed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from standardwebhooks.webhooks import Webhook

from bench.stats import percentile

ROSTER = str(Path(sys.executable).with_name("roster"))
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def free_port() -> int:

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """Records each verified event's arrival time by the email it carries."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrived: dict[str, float] = {}  # email -> perf_counter at arrival
        self.ids: set[str] = set()
        self.bad = 0
        self.lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        at = time.perf_counter()
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        try:
            event = Webhook(self.secret).verify(body, headers)
        except Exception:
            with self.lock:
                self.bad += 1
            status = 400
        else:
            with self.lock:
                self.ids.add(event["id"])
                self.arrived.setdefault(str(event["data"].get("email")), at)
            status = 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def roster(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [ROSTER, *args, "--json"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"roster {' '.join(args)} failed: {done.stderr or done.stdout}")
    return json.loads(done.stdout) if done.stdout.strip() else None


def wait_until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--poll", type=float, default=None, help="the worker's ROSTER_WEBHOOK_POLL_SECONDS"
    )
    parser.add_argument(
        "--delivery",
        choices=("worker", "serve"),
        default="worker",
        help="deliver from a `roster worker` (default) or inside `roster serve`",
    )
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="roster-bench-webhooks-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    port, hook_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ROSTER_DATABASE_URL": url,
        "ROSTER_PUBLIC_URL": base,
        "ROSTER_WEBHOOK_DELIVERY": "false",
        "ROSTER_WEBHOOK_ALLOW_HTTP": "true",
        "ROSTER_WEBHOOK_ALLOW_PRIVATE": "true",
        "ROSTER_LOG_FORMAT": "json",
        # The load is the point: the per-connection rate limit out of its way.
        "ROSTER_RATE_LIMIT": "1000000",
        "ROSTER_RATE_BURST": "1000000",
    }
    if args.poll is not None:
        env["ROSTER_WEBHOOK_POLL_SECONDS"] = str(args.poll)
    roster(env, "migrate")
    roster(env, "tenant", "create", "bench")
    conn = roster(env, "connection", "create", "--tenant", "bench", "--idp", "generic")
    added = roster(
        env, "webhook", "add", "--tenant", "bench", "--url", f"http://127.0.0.1:{hook_port}/h"
    )
    receiver = Receiver()
    receiver.secret = added["secret"]
    hook_server = uvicorn.Server(
        uvicorn.Config(receiver, host="127.0.0.1", port=hook_port, log_level="warning")
    )
    threading.Thread(target=hook_server.run, daemon=True).start()
    logs = (folder / "serve.log").open("ab")

    def start_serve(delivery: bool) -> subprocess.Popen[bytes]:
        served_env = {**env, "ROSTER_WEBHOOK_DELIVERY": "true" if delivery else "false"}
        return subprocess.Popen(
            [ROSTER, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=served_env,
            stderr=logs,
        )

    serve = start_serve(False)
    worker: subprocess.Popen[bytes] | None = None
    run = uuid.uuid4().hex[:6]
    headers = {"Authorization": f"Bearer {conn['token']}", "Content-Type": "application/scim+json"}
    local = threading.local()

    def create(i: int) -> float:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30)
        email = f"w{run}-{i}@bench.test"
        body = {"schemas": [USER], "userName": email, "emails": [{"value": email, "primary": True}]}
        response = local.client.post(f"{conn['base_url']}/Users", json=body, headers=headers)
        if response.status_code != 201:
            raise SystemExit(f"POST /Users answered {response.status_code}: {response.text}")
        return time.perf_counter()

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(lambda: hook_server.started, 10, "the receiver")
        wait_until(ready, 30, "roster serve")
        # 1. throughput: a backlog, then one worker.
        made = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(args.backlog)))
        # The server's create rate with no delivery running: the ceiling of step 2.
        created_rate = args.backlog / (time.perf_counter() - made)
        started = time.perf_counter()
        if args.delivery == "serve":
            serve.terminate()
            serve.wait(timeout=20)
            serve = start_serve(True)
            wait_until(ready, 30, "roster serve with delivery")
        else:
            worker = subprocess.Popen([ROSTER, "worker"], env=env, stdout=subprocess.DEVNULL)
        wait_until(lambda: len(receiver.ids) >= args.backlog, 600, "the backlog delivered")
        drained = time.perf_counter() - started
        arrivals = sorted(receiver.arrived.values())
        # From the first arrival to the last: the worker's start-up (a Python process
        # importing Roster) is not delivery.
        flowing = arrivals[-1] - arrivals[0]

        # 2. latency under a steady provisioning rate.
        total = int(args.rate * args.seconds)
        committed: dict[str, float] = {}
        t0 = time.perf_counter()

        def paced(i: int) -> None:
            delay = t0 + i / args.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the load, not waiting for a result
            committed[f"w{run}-{args.backlog + i}@bench.test"] = create(args.backlog + i)

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(paced, range(total)))
        achieved = total / (time.perf_counter() - t0)
        wait_until(lambda: len(receiver.ids) >= args.backlog + total, 600, "every event")
        latencies = sorted(receiver.arrived[email] - at for email, at in committed.items())
        report = {
            "database": "postgresql" if url.startswith("postgres") else "sqlite",
            "poll_seconds": float(env.get("ROSTER_WEBHOOK_POLL_SECONDS", "1")),
            "delivery": args.delivery,
            "backlog_events": args.backlog,
            "backlog_created_per_second": round(created_rate, 1),
            "backlog_seconds_with_worker_start": round(drained, 2),
            "events_per_second": round((args.backlog - 1) / flowing, 1),
            "provisioned_per_second": round(achieved, 1),
            "latency_events": total,
            "latency_ms_p50": round(percentile(latencies, 0.5) * 1000, 1),
            "latency_ms_p99": round(percentile(latencies, 0.99) * 1000, 1),
            "latency_ms_max": round(latencies[-1] * 1000, 1),
            "bad_signatures": receiver.bad,
            "load_average_1min": round(os.getloadavg()[0], 1),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(report, indent=2))
        return 0
    finally:
        for process in (worker, serve):
            if process is not None:
                process.terminate()
                process.wait(timeout=20)
        hook_server.should_exit = True


if __name__ == "__main__":
    sys.exit(main())
