"""bench/openloop.py, the open-loop latency generator of bench/pages.py, against a tiny
loopback server: latency counted from the due time, connections kept or not as the server says."""

from __future__ import annotations

import asyncio

from bench.openloop import OpenRun, offer, percentile


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 99) == 0.0


def _serve_and_offer(*, keep_alive: bool, stall_first_s: float, rate: float, connections: int,
                     seconds: float, chunked: bool = False) -> tuple[OpenRun, int]:
    async def main() -> tuple[OpenRun, int]:
        seen = {"requests": 0}

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                seen["requests"] += 1
                if seen["requests"] == 1:
                    await asyncio.sleep(stall_first_s)
                close = b"" if keep_alive else b"Connection: close\r\n"
                if chunked:
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + close
                                 + b"\r\n5\r\nhello\r\n3\r\n!!!\r\n0\r\n\r\n")
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Bench-Wall-Us: 1500\r\n"
                                 b"X-Bench-Cpu-Us: 1000\r\nX-Bench-Gc-Us: 0\r\n" + close + b"\r\nhello")
                await writer.drain()
                if not keep_alive:
                    break
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            run = await offer(port, ["/a", "/b"], {"Cookie": "x=1"}, rate, connections, seconds)
        return run, seen["requests"]

    return asyncio.run(main())


def test_kept_connections_are_reused_and_every_request_answered():
    run, served = _serve_and_offer(keep_alive=True, stall_first_s=0, rate=200, connections=4, seconds=0.5)
    assert (run.offered, run.completed, run.errors, run.dropped) == (100, 100, 0, 0)
    assert served == 100
    assert 1 <= run.connections_opened <= 4


def test_a_server_that_closes_costs_a_connection_per_request():
    run, _ = _serve_and_offer(keep_alive=False, stall_first_s=0, rate=200, connections=4, seconds=0.5, chunked=True)
    assert (run.completed, run.errors) == (100, 0)
    assert run.connections_opened == 100


def test_requests_waiting_behind_a_stall_are_charged_from_their_due_time():
    # One connection, a request every 10 ms, the first answer held 300 ms: the requests
    # due meanwhile cannot be sent until it ends. Counted from the due time the third
    # request still waited at least 280 ms, so p99 (nearest rank: the third worst of 200)
    # is at least that; counted from the send (coordinated omission) only the first is slow.
    run, _ = _serve_and_offer(keep_alive=True, stall_first_s=0.3, rate=100, connections=1, seconds=2)
    assert run.completed == 200
    assert run.max_ms >= 300
    assert run.p99_ms >= 280
    assert run.late >= 1
    # The server said each answer took 1.5 ms inside the view: the rest of the slowest
    # requests' time was spent waiting before it.
    assert (run.view_p50_ms, run.view_p99_ms, run.view_cpu_p99_ms) == (1.5, 1.5, 1.0)
    assert run.tail is not None
    assert run.tail["view_ms"] == 1.5
    assert run.tail["before_view_ms"] >= 278
