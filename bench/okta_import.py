"""An Okta-style initial import against a running server, timed end to end.

``python -m bench.okta_import --base-url URL --token TOKEN [--users 10000] [--groups 100]
[--members 100] [--concurrency 16]``

What Okta does when an admin assigns a large app and pushes groups: it creates every
user (POST /Users with Okta's body, several requests in parallel), then creates each
pushed group empty and adds its members by PATCH in batches (Okta sends up to 100 member
adds per PATCH). Every answer must be 201 (users, groups) or 204/200 (PATCH); the run
stops at the first other answer and prints it. Prints one JSON document with the
elapsed seconds of each phase and the request rates; talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.scim import ScimError, check_loopback
from bench.stats import percentile
from bench.transport import HttpxTransport, Transport

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def okta_user(run: str, i: int) -> dict[str, Any]:
    email = f"okta-{run}-{i}@bench.test"
    return {
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": "Bench", "familyName": f"User {i}"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": f"Bench User {i}",
        "locale": "en-US",
        "externalId": f"00u{run}{i}",
        "groups": [],
        "password": secrets.token_urlsafe(12),
        "active": True,
    }


class Pool:
    """One keep-alive transport per thread; every reply checked."""

    def __init__(self, base_url: str, token: str, concurrency: int) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        self.concurrency = concurrency
        self._local = threading.local()
        self._all: list[Transport] = []
        self.latencies: list[float] = []

    def _transport(self) -> Transport:
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = HttpxTransport(self.base_url, self.headers, 120.0)
            self._local.transport = transport
            self._all.append(transport)
        return transport

    def send(self, method: str, target: str, body: Any, expect: Sequence[int]) -> bytes:
        started = time.perf_counter()
        status, content = self._transport().send(method, target, json.dumps(body).encode())
        self.latencies.append(time.perf_counter() - started)
        if status not in expect:
            raise ScimError(f"{method} {target} answered {status}: {content[:300]!r}")
        return content

    def run(self, calls: Sequence[Callable[[], Any]]) -> list[Any]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda call: call(), calls))

    def close(self) -> None:
        for transport in self._all:
            transport.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.okta_import", description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", default=os.environ.get("BENCH_TOKEN"))
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100, help="member adds per PATCH")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set BENCH_TOKEN")
    check_loopback(args.base_url)
    run = secrets.token_hex(3)
    pool = Pool(args.base_url, args.token, args.concurrency)
    result: dict[str, Any] = {"users": args.users, "groups": args.groups, "members": args.members}
    try:
        started = time.perf_counter()

        def create(i: int) -> Callable[[], str]:
            def call() -> str:
                content = pool.send("POST", "Users", okta_user(run, i), (201,))
                return str(json.loads(content)["id"])

            return call

        ids = pool.run([create(i) for i in range(args.users)])
        users_done = time.perf_counter()
        user_latency = sorted(pool.latencies)
        pool.latencies = []

        def push(g: int) -> Callable[[], None]:
            def call() -> None:
                body = {"schemas": [GROUP], "displayName": f"okta-{run}-group-{g}", "members": []}
                gid = json.loads(pool.send("POST", "Groups", body, (201,)))["id"]
                members = [ids[(g * args.members + k) % len(ids)] for k in range(args.members)]
                for at in range(0, len(members), args.batch):
                    ops = [
                        {
                            "op": "add",
                            "path": "members",
                            "value": [{"value": m} for m in members[at : at + args.batch]],
                        }
                    ]
                    patch = {"schemas": [PATCH_OP], "Operations": ops}
                    pool.send("PATCH", f"Groups/{gid}", patch, (200, 204))

            return call

        pool.run([push(g) for g in range(args.groups)])
        done = time.perf_counter()
    except ScimError as error:
        print(f"stopped: {error}", file=sys.stderr)
        return 1
    finally:
        pool.close()
    result.update(
        users_seconds=round(users_done - started, 2),
        users_per_second=round(args.users / (users_done - started), 1),
        create_p50_ms=round(percentile(user_latency, 0.5) * 1000, 1),
        create_p99_ms=round(percentile(user_latency, 0.99) * 1000, 1),
        groups_seconds=round(done - users_done, 2),
        total_seconds=round(done - started, 2),
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
