"""Items made in a thread while the caller works on the one before (ADR 0085, 0105).

The database makes the next rows while this process works on the last ones: psycopg and
sqlite3 wait for the database without holding the GIL. At most three items are alive: one
being made, one waiting in the one-slot queue, the caller's.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from contextlib import suppress
from typing import Any, NamedTuple, TypeVar

from django.db import connections

T = TypeVar("T")


class _Failed(NamedTuple):
    error: BaseException


_END = object()


def read_ahead(items: Iterator[T], *, name: str, share_connections: bool = False) -> Iterator[T]:
    """The items, each made in a thread named `name` while the caller works on the one before.
    An error in the thread is raised in the caller; a caller that stops early (an error, a
    cancel) stops the thread. The thread runs in a copy of the caller's context (its time zone,
    `replica_reads`). With `share_connections` it uses the caller's open database connections
    (a test's uncommitted rows, one transaction): the caller must not use them until the items
    are exhausted or it stops."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()
    shared = list(connections.all(initialized_only=True)) if share_connections else []

    def read() -> None:
        try:
            for wrapper in shared:
                connections[wrapper.alias] = wrapper
            for item in items:
                handoff.put(item)
                if stop.is_set():
                    return
            handoff.put(_END)
        except BaseException as exc:  # handed to the caller, raised there
            handoff.put(_Failed(exc))
        finally:
            for wrapper in shared:
                del connections[wrapper.alias]  # this thread's slot only: the wrapper stays the caller's

    for wrapper in shared:
        wrapper.inc_thread_sharing()
    reader = threading.Thread(target=contextvars.copy_context().run, args=(read,), name=name, daemon=True)
    reader.start()
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        # Stopped early: the reader puts at most one more item, into the slot freed here, and ends.
        stop.set()
        with suppress(queue.Empty):
            handoff.get_nowait()
        reader.join()
        for wrapper in shared:
            wrapper.dec_thread_sharing()
