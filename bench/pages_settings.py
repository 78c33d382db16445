"""Settings of the server `bench/pages.py` measures: the production settings, plus

- the ceiling: `/bench/ceiling/`, a minimal view behind the same middleware (session,
  authentication, the actor, MFA, security headers), so every page is compared with
  what Django costs on this machine before OpenKAP does any work;
- a query counter that answers only requests carrying `X-Bench-Queries: 1` (the
  bench's one probe per page), so the measured requests run the production path;
- on every response, the time the request spent inside Django: wall and CPU
  microseconds, time in garbage collection, waiting for PostgreSQL/SQLite (the wall
  time of its statements) and waiting for a CPU (runnable but not running: the
  kernel's /proc/thread-self/schedstat) (`X-Bench-{Wall,Cpu,Gc,Db,Runq}-Us`), so the
  open-loop latency splits into the wait before the view (connect, listen backlog)
  and the view's own time (bench/openloop.py; some 20 microseconds a request).

Nothing here is imported by the application; the bench puts `bench/` on PYTHONPATH.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from openkap.settings import *  # noqa: F403
from openkap.settings import MIDDLEWARE

ROOT_URLCONF = "pages_urls"
MIDDLEWARE = ["pages_settings.TimingMiddleware", "pages_settings.QueryCountMiddleware", *MIDDLEWARE]

_gc = {"began": 0.0, "spent": 0.0}


def _gc_clock(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc["began"] = time.perf_counter()
    else:
        _gc["spent"] += time.perf_counter() - _gc["began"]


gc.callbacks.append(_gc_clock)


def _runqueue_s() -> float:
    """Seconds this thread has been runnable but waiting for a CPU, since it started."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except OSError:  # not Linux, or schedstats off
        return 0.0


class TimingMiddleware:
    def __init__(self, get_response: Callable[[Any], Any]):
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        from django.db import connection

        db = [0.0]

        def timed(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            began = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                db[0] += time.perf_counter() - began

        wall, cpu, collected, runq = time.perf_counter(), time.thread_time(), _gc["spent"], _runqueue_s()
        with connection.execute_wrapper(timed):
            response = self.get_response(request)
        response["X-Bench-Wall-Us"] = str(int((time.perf_counter() - wall) * 1e6))
        response["X-Bench-Cpu-Us"] = str(int((time.thread_time() - cpu) * 1e6))
        response["X-Bench-Gc-Us"] = str(int((_gc["spent"] - collected) * 1e6))
        response["X-Bench-Db-Us"] = str(int(db[0] * 1e6))
        response["X-Bench-Runq-Us"] = str(int((_runqueue_s() - runq) * 1e6))
        return response


class QueryCountMiddleware:
    def __init__(self, get_response: Callable[[Any], Any]):
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if request.headers.get("X-Bench-Queries") != "1":
            return self.get_response(request)
        from django.db import connection

        count = 0

        def counter(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        response["X-Bench-Queries"] = str(count)
        return response
