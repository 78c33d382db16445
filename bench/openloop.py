"""Open-loop latency for bench/pages.py: requests offered at a fixed rate, whatever the server answers.

A closed-loop generator (wrk) keeps N requests outstanding, so its mean latency is N / throughput
(Little's law) whatever the code does. Here request i is due at t0 + i / rate; it is sent on a free
connection (at most `connections` at once) when due, or as soon as one frees up, and its latency
runs from the moment it was due to the end of its response: a server that stalls is charged for
every request that waited behind the stall (no coordinated omission, as wrk2 and HdrHistogram do).

Connections are HTTP/1.1 and kept for the next request when the server allows it; gunicorn's sync
workers answer `Connection: close`, so against them every request opens its own connection and the
connect (and the wait in the listen backlog until a worker accepts it) is part of its latency, as
for a browser opening a new connection. The figures say how many connections were opened.

Nothing here imports Django; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import time
from dataclasses import dataclass

# A request still unsent this long after the offering window is dropped (the server cannot keep up).
GRACE_S = 2.0
TIMEOUT_S = 10.0
NO_BODY = (204, 304)
# The server's X-Bench-<part>-Us headers (bench/pages_settings.py): view wall, CPU, GC,
# database and run-queue time.
VIEW_PARTS = ("wall", "cpu", "gc", "db", "runq")


@dataclass
class OpenRun:
    """One open-loop run. Latencies in ms from each request's due time."""

    rate: float  # offered, requests per second
    offered: int
    completed: int
    seconds: float  # from the first due time to the last response
    p50_ms: float
    p99_ms: float
    max_ms: float
    late: int  # waited for a free connection (all `connections` busy when due)
    dropped: int  # still unsent GRACE_S after the window: not in the percentiles
    errors: int
    connections_opened: int
    lag_p99_ms: float  # the generator's own delay in sending when a connection was free
    cpu_ms_per_request: float  # the generator process's CPU
    # From the server's X-Bench-*-Us headers (bench/pages_settings.py), when it sends them:
    view_p50_ms: float = 0.0  # wall time inside Django
    view_p99_ms: float = 0.0
    view_cpu_p50_ms: float = 0.0  # CPU time of the worker inside Django
    view_cpu_p99_ms: float = 0.0
    # The slowest 1% of requests (at least one), means: where their latency went.
    tail: dict[str, float] | None = None

    @property
    def achieved(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, dict[str, str]]:
    """Read one HTTP/1.x response; return its status, whether the connection must close
    and its header fields (lower-cased names and values)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    version, status = head[0].split(" ", 2)[:2]
    fields = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip().lower()
    close = version == "HTTP/1.0" or fields.get("connection") == "close"
    code = int(status)
    if code in NO_BODY or 100 <= code < 200:
        return code, close, fields
    if "content-length" in fields:
        await reader.readexactly(int(fields["content-length"]))
    elif fields.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:  # the body runs to the end of the connection
        await reader.read()
        close = True
    return code, close, fields


async def offer(port: int, paths: list[str], headers: dict[str, str], rate: float, connections: int,
                seconds: float) -> OpenRun:
    """Offer `rate` requests per second for `seconds` over at most `connections` connections."""
    loop = asyncio.get_running_loop()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode() for p in paths]
    count = max(1, int(rate * seconds))
    slots = asyncio.Semaphore(connections)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    latencies: list[float] = []
    views: list[tuple[float, ...]] = []  # latency, then VIEW_PARTS (seconds)
    lags: list[float] = []
    ends: list[float] = []
    state = {"errors": 0, "opened": 0, "late": 0}

    async def send(index: int, due: float) -> None:
        try:
            for attempt in (0, 1):
                reused = bool(idle)
                if reused:
                    reader, writer = idle.pop()
                else:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    state["opened"] += 1
                try:
                    writer.write(requests[index % len(requests)])
                    code, close, fields = await asyncio.wait_for(_read_response(reader), TIMEOUT_S)
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    writer.close()
                    # A kept connection the server closed meanwhile: once more on a new one (GET is idempotent).
                    if reused and attempt == 0 and not isinstance(exc, TimeoutError):
                        continue
                    raise
                break
            done = loop.time()
            if close:
                writer.close()
            else:
                idle.append((reader, writer))
            if 200 <= code < 400:
                latencies.append(done - due)
                ends.append(done)
                if "x-bench-wall-us" in fields:
                    views.append((done - due, *(int(fields.get(f"x-bench-{k}-us", 0)) / 1e6 for k in VIEW_PARTS)))
            else:
                state["errors"] += 1
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            state["errors"] += 1
        finally:
            slots.release()

    tasks = []
    dropped = 0
    cpu = time.process_time()
    gc_was = gc.isenabled()
    gc.disable()  # the generator's own collections would show as server latency
    try:
        start = loop.time() + 0.05
        deadline = start + seconds + GRACE_S
        for index in range(count):
            due = start + index / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            free = not slots.locked()
            try:
                await asyncio.wait_for(slots.acquire(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                dropped = count - index
                break
            if free:
                lags.append(loop.time() - due)
            else:
                state["late"] += 1
            tasks.append(asyncio.create_task(send(index, due)))
        await asyncio.gather(*tasks)
        for _reader, writer in idle:
            writer.close()
    finally:
        if gc_was:
            gc.enable()
    cpu = time.process_time() - cpu
    ordered = sorted(latencies)
    walls, cpus = sorted(v[1] for v in views), sorted(v[2] for v in views)
    tail = None
    if views:
        slowest = sorted(views, reverse=True)[:max(1, len(views) // 100)]
        tail = {f"{name}_ms": sum(v[i] for v in slowest) / len(slowest) * 1000
                for i, name in enumerate(("latency", "view", "view_cpu", "gc", "db", "runq"))}
        tail["before_view_ms"] = tail["latency_ms"] - tail["view_ms"]
    return OpenRun(
        rate=rate, offered=count, completed=len(ordered), seconds=(max(ends) - start) if ends else 0.0,
        p50_ms=percentile(ordered, 50) * 1000, p99_ms=percentile(ordered, 99) * 1000,
        max_ms=(ordered[-1] * 1000) if ordered else 0.0, late=state["late"], dropped=dropped,
        errors=state["errors"], connections_opened=state["opened"],
        lag_p99_ms=percentile(sorted(lags), 99) * 1000,
        cpu_ms_per_request=cpu / len(ordered) * 1000 if ordered else 0.0,
        view_p50_ms=percentile(walls, 50) * 1000, view_p99_ms=percentile(walls, 99) * 1000,
        view_cpu_p50_ms=percentile(cpus, 50) * 1000, view_cpu_p99_ms=percentile(cpus, 99) * 1000, tail=tail,
    )


def run_open(base: str, paths: list[str], headers: dict[str, str], rate: float, connections: int,
             seconds: float) -> OpenRun:
    """One run; as root at a higher CPU priority (nice -10, restored after), so that on a busy
    machine the generator sends on time (a real client has its own machine). It uses a few
    percent of a core; the server it measures keeps its priority."""
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    raised = os.geteuid() == 0
    if raised:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    try:
        return asyncio.run(offer(int(base.rsplit(":", 1)[1]), paths, headers, rate, connections, seconds))
    finally:
        if raised:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
