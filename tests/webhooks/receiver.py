"""A real webhook receiver for the tests: a small ASGI app served by uvicorn in a thread.

It verifies every request's signature with the ``standardwebhooks`` verifier (a request
that fails verification is answered 400 and counted in ``bad``), records each verified
delivery in arrival order, and notes when two requests with one webhook-id were in
flight at once (``overlapping``): the proof that no two workers deliver one event to it
concurrently.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]


@dataclass
class Receiver:
    secret: str = ""
    delay_seconds: float = 0.0  # each answer waits this long (widens race windows)
    received: list[Received] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    overlapping: set[str] = field(default_factory=set)
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._arrived = threading.Condition(self._lock)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        webhook_id = headers.get("webhook-id", "")
        with self._lock:
            self._in_flight[webhook_id] = self._in_flight.get(webhook_id, 0) + 1
            if self._in_flight[webhook_id] > 1:
                self.overlapping.add(webhook_id)
        try:
            if self.delay_seconds:
                await asyncio.sleep(self.delay_seconds)
            try:
                parsed = Webhook(self.secret).verify(body, headers)
            except WebhookVerificationError as err:
                with self._lock:
                    self.bad.append(f"{webhook_id}: {err}")
                status, answer = 400, b"bad signature"
            else:
                with self._lock:
                    self.received.append(Received(webhook_id, parsed))
                    self._arrived.notify_all()
                status, answer = 200, b'{"ok":true}'
        finally:
            with self._lock:
                self._in_flight[webhook_id] -= 1
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": answer})

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until ``count`` verified deliveries have arrived (True), or ``timeout``
        seconds have passed (False): a condition, not a sleep."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.received) >= count, timeout)

    def ids(self) -> set[str]:
        return {r.webhook_id for r in self.snapshot()}


class Served:
    """``receiver`` served on ``port`` until :meth:`stop`."""

    def __init__(self, receiver: Receiver, port: int) -> None:
        config = uvicorn.Config(
            receiver, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the receiver did not start")
            time.sleep(0.01)  # polling for readiness, bounded

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def deduped(received: list[Received]) -> list[Received]:
    """First arrival of each webhook-id, in arrival order (what a receiver keeps)."""
    seen: set[str] = set()
    out = []
    for r in received:
        if r.webhook_id not in seen:
            seen.add(r.webhook_id)
            out.append(r)
    return out


def dumps(r: Received) -> str:
    return json.dumps(r.body, sort_keys=True)
