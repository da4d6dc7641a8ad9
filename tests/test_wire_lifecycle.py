"""Connection and process lifecycle over the wire: reconnect after a restart, slow
consumers, keepalive (stale connections), lame duck mode, SIGTERM."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import signal
import socket
import time

import nats
import pytest

from natsd.oracle.wire import HOST, RawClient, connected, http_json, sync, wait_until

pytestmark = pytest.mark.asyncio

SLOW_CONSUMER_REASONS = ("Slow Consumer (Pending Bytes)", "Slow Consumer (Write Deadline)")


def monitor_available(kind: str) -> bool:
    return kind == "go" or importlib.util.find_spec("natsd.server.monitor") is not None


async def test_reconnect_after_restart(start_server):
    srv = start_server()
    disconnected = asyncio.Event()
    reconnected = asyncio.Event()

    async def on_disconnect():
        disconnected.set()

    async def on_reconnect():
        reconnected.set()

    async def quiet(_e):
        pass

    nc = await nats.connect(
        srv.url, reconnect_time_wait=0.05, max_reconnect_attempts=-1, allow_reconnect=True,
        disconnected_cb=on_disconnect, reconnected_cb=on_reconnect, error_cb=quiet,
        connect_timeout=2, dont_randomize=True,
    )
    try:
        got: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_msg(msg):
            await got.put(msg.data)

        await nc.subscribe("keep.going", cb=on_msg)
        await nc.publish("keep.going", b"before")
        assert await asyncio.wait_for(got.get(), 5) == b"before"

        port = srv.port
        assert srv.stop() is not None
        await asyncio.wait_for(disconnected.wait(), 10)
        assert not reconnected.is_set()

        srv2 = await asyncio.to_thread(start_server.restart, srv)
        assert srv2.port == port
        await asyncio.wait_for(reconnected.wait(), 15)
        assert nc.is_connected

        # the subscription was replayed on the new server
        await sync(nc)
        async with connected(srv2.url) as other:
            await other.publish("keep.going", b"after")
            await sync(other)
        assert await asyncio.wait_for(got.get(), 5) == b"after"
        await nc.publish("keep.going", b"own")
        assert await asyncio.wait_for(got.get(), 5) == b"own"
    finally:
        await nc.close()


@pytest.mark.parametrize("observe", ["connz", "socket"])
async def test_slow_consumer_disconnected(start_server, wire_kind, observe):
    """A subscriber that never reads, with max_pending 64KB, is cut off while a
    publisher floods; the publisher itself is unaffected. Observed through
    /connz?state=closed (reason) or, without monitoring, by the socket's EOF."""
    if observe == "connz" and not monitor_available(wire_kind):
        pytest.skip("natsd.server.monitor is not there yet")
    use_monitor = observe == "connz"
    srv = start_server(config='max_pending: 64KB\nmax_payload: 32KB\nwrite_deadline: "2s"\n', monitor=use_monitor)

    raw = await RawClient.connect(srv.port, rcvbuf=4096)
    try:
        await raw.handshake({"name": "slowpoke"})
        await raw.send(b"SUB flood 1\r\nPING\r\n")
        await raw.expect(b"PONG")
        cid = (await http_json(srv.http_port, "/connz"))["connections"][0]["cid"] if use_monitor else None

        payload = b"z" * 1024
        closed_entry = None
        async with connected(srv.url, pending_size=8 * 1024 * 1024) as pub:
            deadline = time.monotonic() + 20
            sent = 0
            while time.monotonic() < deadline:
                for _ in range(1000):
                    await pub.publish("flood", payload)
                sent += 1000
                await sync(pub)
                if use_monitor:
                    closed = (await http_json(srv.http_port, "/connz?state=closed"))["connections"]
                    closed_entry = next((c for c in closed if c.get("cid") == cid), None)
                    if closed_entry is not None:
                        break
                elif sent >= 16 * 1024:  # 16 MB: far past the socket buffers
                    break
            assert pub.is_connected  # the publisher is not the slow one

        if use_monitor:
            assert closed_entry is not None, "slow consumer was not closed"
            assert closed_entry["reason"] in SLOW_CONSUMER_REASONS, closed_entry
            assert closed_entry.get("name") == "slowpoke"
            varz = await http_json(srv.http_port, "/varz")
            assert varz["slow_consumers"] >= 1
        # reading now: the server has closed this connection (EOF or reset after the
        # bytes that were already in flight)
        await raw.read_until_closed(timeout=15)
    finally:
        await raw.close()


async def test_stale_connection(start_server):
    srv = start_server(config='ping_interval: "100ms"\nping_max: 2\n')
    raw = await RawClient.connect(srv.port)
    try:
        await raw.handshake()
        t0 = time.monotonic()
        lines = await raw.read_until_closed(timeout=10)
        elapsed = time.monotonic() - t0
        assert lines == [b"PING\r\n", b"PING\r\n", b"-ERR 'Stale Connection'\r\n"]
        assert elapsed < 5
    finally:
        await raw.close()


async def test_answered_pings_keep_connection(start_server):
    srv = start_server(config='ping_interval: "100ms"\nping_max: 2\n')
    raw = await RawClient.connect(srv.port)
    try:
        await raw.handshake()
        for _ in range(5):  # five intervals, well past ping_max, all answered
            assert await raw.readline(timeout=5) == b"PING\r\n"
            await raw.send(b"PONG\r\n")
        await raw.send(b"PING\r\n")
        assert await raw.expect(b"PONG", skip=(b"PING",)) == b"PONG\r\n"
    finally:
        await raw.close()


async def test_lame_duck_mode(start_server):
    srv = start_server(config='lame_duck_duration: "30s"\nlame_duck_grace_period: "1s"\n')
    raw = await RawClient.connect(srv.port)
    try:
        await raw.handshake()
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGUSR2)
        line = await raw.readline(timeout=5)
        assert line.startswith(b"INFO "), line
        info = json.loads(line[5:])
        assert info.get("ldm") is True, info

        # no new clients are accepted in lame duck mode
        def refused() -> bool:
            try:
                with socket.create_connection((HOST, srv.port), timeout=1) as s:
                    s.settimeout(1)
                    return s.recv(1) == b""
            except OSError:
                return True

        assert await asyncio.to_thread(refused)

        # the client is closed after the grace period
        rest = await raw.read_until_closed(timeout=10)
        assert rest == []
        assert time.monotonic() - t0 >= 0.9
        # with the last client gone the server shuts down at once and exits 0
        # (nats-server does not wait out the rest of lame_duck_duration)
        rc = await asyncio.to_thread(srv.proc.wait, 5)
        assert rc == 0
    finally:
        await raw.close()


async def test_sigterm_stops_cleanly(start_server):
    srv = start_server()
    closed = asyncio.Event()

    async def on_closed():
        closed.set()

    async def quiet(_e):
        pass

    raw = await RawClient.connect(srv.port)
    nc = await nats.connect(srv.url, allow_reconnect=False, closed_cb=on_closed, error_cb=quiet)
    try:
        await raw.handshake()
        await nc.subscribe("x")
        await sync(nc)
        srv.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.to_thread(srv.proc.wait, 10)
        assert rc == 0
        assert await raw.read_until_closed(timeout=5) == []
        await asyncio.wait_for(closed.wait(), 5)
        await wait_until(lambda: nc.is_closed, timeout=5, what="nats-py client closed")
    finally:
        await raw.close()
        await nc.close()
