"""Run requests from a few threads at once, each thread with its own connection."""

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bench.scim import ScimClient

TaskT = TypeVar("TaskT")
ResultT = TypeVar("ResultT")

ClientFactory = Callable[[], ScimClient]


@dataclass(frozen=True, slots=True)
class Burst(Generic[ResultT]):
    """Results of a concurrent run, in task order, and its wall-clock time."""

    results: list[ResultT]
    seconds: float


def run_concurrently(
    tasks: Sequence[TaskT],
    work: Callable[[ScimClient, TaskT], ResultT],
    make_client: ClientFactory,
    concurrency: int,
) -> Burst[ResultT]:
    """Apply ``work`` to every task from ``concurrency`` threads.

    The first exception stops every thread after its current request and is
    raised again here.
    """
    results: list[ResultT | None] = [None] * len(tasks)
    counter = itertools.count()
    lock = threading.Lock()
    failed = threading.Event()
    errors: list[BaseException] = []
    clients = [make_client() for _ in range(max(1, min(concurrency, len(tasks))))]

    def loop(client: ScimClient) -> None:
        while not failed.is_set():
            with lock:
                index = next(counter)
            if index >= len(tasks):
                return
            try:
                results[index] = work(client, tasks[index])
            except BaseException as error:
                errors.append(error)
                failed.set()
                return

    threads = [threading.Thread(target=loop, args=(client,), daemon=True) for client in clients]
    started = time.perf_counter()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for client in clients:
            client.close()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    done = [result for result in results if result is not None]
    if len(done) != len(tasks):
        raise RuntimeError("a worker finished without a result")
    return Burst(done, seconds)
