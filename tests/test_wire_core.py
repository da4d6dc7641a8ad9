"""Core messaging over the wire, through nats-py and raw sockets, against a real server.

Each test starts its own server process (natsd by default; ``NATSD_WIRE_SERVER=go``
runs the same expectations against the Go nats-server).
"""

from __future__ import annotations

import asyncio
import contextlib

import nats
import pytest
from nats.errors import MaxPayloadError, NoRespondersError

from natsd.oracle.wire import RawClient, connected, drain_pending, sync

pytestmark = pytest.mark.asyncio


async def test_pub_sub(server):
    async with connected(server.url) as sub_nc, connected(server.url) as pub_nc:
        sub = await sub_nc.subscribe("greet.joe")
        await sync(sub_nc)
        await pub_nc.publish("greet.joe", b"hello")
        await pub_nc.publish("greet.joe", b"")
        await pub_nc.publish("greet.sue", b"not for joe")
        msg = await sub.next_msg(timeout=5)
        assert (msg.subject, msg.data, msg.reply) == ("greet.joe", b"hello", "")
        msg = await sub.next_msg(timeout=5)
        assert (msg.subject, msg.data) == ("greet.joe", b"")
        await sync(pub_nc)
        await sync(sub_nc)
        assert sub.pending_msgs == 0


async def test_wildcards(server):
    async with connected(server.url) as nc:
        star = await nc.subscribe("foo.*")
        gt = await nc.subscribe("foo.>")
        mid = await nc.subscribe("foo.*.baz")
        full = await nc.subscribe(">")
        for subj in ("foo.bar", "foo.bar.baz", "foo", "foo.x.baz", "bar.foo", "foo.bar.qux"):
            await nc.publish(subj, subj.encode())
        await sync(nc)
        got = {name: [m.subject for m in await drain_pending(s)]
               for name, s in (("star", star), ("gt", gt), ("mid", mid), ("full", full))}
    assert got["star"] == ["foo.bar"]
    assert got["gt"] == ["foo.bar", "foo.bar.baz", "foo.x.baz", "foo.bar.qux"]
    assert got["mid"] == ["foo.bar.baz", "foo.x.baz"]
    assert got["full"] == ["foo.bar", "foo.bar.baz", "foo", "foo.x.baz", "bar.foo", "foo.bar.qux"]


async def test_queue_group_distribution(server):
    n = 300
    async with contextlib.AsyncExitStack() as stack:
        members = []
        for _ in range(3):
            nc = await stack.enter_async_context(connected(server.url))
            members.append((nc, await nc.subscribe("work", queue="workers")))
        other_group_nc = await stack.enter_async_context(connected(server.url))
        other_group = await other_group_nc.subscribe("work", queue="auditors")
        plain_nc = await stack.enter_async_context(connected(server.url))
        plain = await plain_nc.subscribe("work")
        pub = await stack.enter_async_context(connected(server.url))
        for nc, _ in members:
            await sync(nc)
        await sync(other_group_nc)
        await sync(plain_nc)

        for i in range(n):
            await pub.publish("work", str(i).encode())
        await sync(pub)
        for nc in [m[0] for m in members] + [other_group_nc, plain_nc]:
            await sync(nc)

        per_member = [[m.data for m in await drain_pending(s)] for _, s in members]
        everything = [d for got in per_member for d in got]
        expected = sorted(str(i).encode() for i in range(n))
        # every message went to exactly one member of the group
        assert sorted(everything) == expected
        # the group really distributes (each member got some; P(miss) = 3 * (2/3)**300)
        assert all(per_member), [len(g) for g in per_member]
        # another group gets its own copy of each message, the plain subscriber all of them
        assert sorted(m.data for m in await drain_pending(other_group)) == expected
        assert [m.data for m in await drain_pending(plain)] == [str(i).encode() for i in range(n)]


async def test_request_reply(server):
    async with connected(server.url) as svc, connected(server.url) as cli:
        async def handler(msg):
            await msg.respond(b"re:" + msg.data)

        await svc.subscribe("svc.echo", cb=handler)
        await sync(svc)
        resp = await cli.request("svc.echo", b"ping-1", timeout=5)
        assert resp.data == b"re:ping-1"
        # several concurrent requests are matched to their own replies
        replies = await asyncio.gather(*(cli.request("svc.echo", str(i).encode(), timeout=5) for i in range(20)))
        assert [r.data for r in replies] == [b"re:" + str(i).encode() for i in range(20)]
        # old-style request (a dedicated inbox per request)
        resp = await cli.request("svc.echo", b"old", timeout=5, old_style=True)
        assert resp.data == b"re:old"


async def test_no_responders(server):
    async with connected(server.url) as nc:
        with pytest.raises(NoRespondersError):
            await nc.request("nobody.home", b"?", timeout=5)
        with pytest.raises(NoRespondersError):
            await nc.request("nobody.home", b"?", timeout=5, old_style=True)
        # the connection is still fine afterwards
        await sync(nc)
        assert nc.is_connected


async def test_headers_round_trip(server):
    async with connected(server.url) as nc:
        sub = await nc.subscribe("h.>")
        hdrs = {"X-Trace": "abc123", "Content-Type": "text/plain", "X-Empty": ""}
        await nc.publish("h.1", b"body", headers=hdrs)
        await nc.publish("h.2", b"", headers={"Only": "header"})
        msg = await sub.next_msg(timeout=5)
        assert msg.data == b"body"
        assert msg.headers == hdrs
        msg = await sub.next_msg(timeout=5)
        assert msg.data == b""
        assert msg.headers == {"Only": "header"}

        async def handler(msg):
            await nc.publish(msg.reply, msg.data, headers={"Echo": msg.headers.get("Q", "")})

        await nc.subscribe("hsvc", cb=handler)
        resp = await nc.request("hsvc", b"x", timeout=5, headers={"Q": "what"})
        assert resp.headers == {"Echo": "what"} and resp.data == b"x"


async def test_headers_to_raw_client_without_headers_support(server):
    """A subscriber that did not negotiate headers gets the payload alone, as MSG."""
    raw = await RawClient.connect(server.port)
    try:
        await raw.handshake({"headers": False})
        await raw.send(b"SUB hh 1\r\nPING\r\n")
        await raw.expect(b"PONG")
        async with connected(server.url) as nc:
            await nc.publish("hh", b"payload", headers={"A": "b"})
            await sync(nc)
        line = await raw.expect(b"MSG ")
        assert line == b"MSG hh 1 7\r\n"
        assert await raw.readline() == b"payload\r\n"
    finally:
        await raw.close()


async def test_subscription_drain_delivers_pending(server):
    async with connected(server.url) as nc, connected(server.url) as pub:
        gate = asyncio.Event()
        got: list[bytes] = []

        async def slow(msg):
            await gate.wait()
            got.append(msg.data)

        sub = await nc.subscribe("d", cb=slow)
        await sync(nc)
        for i in range(10):
            await pub.publish("d", str(i).encode())
        await sync(pub)
        await sync(nc)  # all 10 are now in the client, only the first is being handled
        drain = asyncio.create_task(sub.drain())
        await asyncio.sleep(0)
        gate.set()
        await asyncio.wait_for(drain, 10)
        assert got == [str(i).encode() for i in range(10)]
        # unsubscribed at the server: later messages do not arrive
        probe = await nc.subscribe("d")
        await sync(nc)
        await pub.publish("d", b"after")
        await sync(pub)
        assert (await probe.next_msg(timeout=5)).data == b"after"
        await sync(nc)
        assert got == [str(i).encode() for i in range(10)]


async def test_connection_drain_delivers_pending(server):
    closed = asyncio.Event()

    async def closed_cb():
        closed.set()

    async with connected(server.url) as pub:
        nc = await nats.connect(server.url, closed_cb=closed_cb, allow_reconnect=False)
        try:
            gate = asyncio.Event()
            got: list[bytes] = []

            async def slow(msg):
                await gate.wait()
                got.append(msg.data)

            await nc.subscribe("cd.a", cb=slow)
            await nc.subscribe("cd.b", cb=slow)
            await sync(nc)
            for i in range(20):
                await pub.publish("cd.a" if i % 2 else "cd.b", str(i).encode())
            await sync(pub)
            await sync(nc)
            drain = asyncio.create_task(nc.drain())
            await asyncio.sleep(0)
            gate.set()
            await asyncio.wait_for(drain, 10)
            await asyncio.wait_for(closed.wait(), 10)
            assert nc.is_closed
            assert sorted(got, key=int) == [str(i).encode() for i in range(20)]
        finally:
            await nc.close()


async def test_no_echo(server):
    async with connected(server.url, no_echo=True) as quiet, connected(server.url) as other:
        own = await quiet.subscribe("echo.test")
        theirs = await other.subscribe("echo.test")
        await sync(quiet)
        await sync(other)
        await quiet.publish("echo.test", b"from-quiet")
        await sync(quiet)
        await other.publish("echo.test", b"from-other")
        await sync(other)
        await sync(quiet)
        assert [m.data for m in await drain_pending(own)] == [b"from-other"]
        assert [m.data for m in await drain_pending(theirs)] == [b"from-quiet", b"from-other"]


async def test_echo_on_by_default(server):
    async with connected(server.url) as nc:
        sub = await nc.subscribe("echo.default")
        await nc.publish("echo.default", b"me")
        assert (await sub.next_msg(timeout=5)).data == b"me"


async def test_auto_unsubscribe_nats_py(server):
    async with connected(server.url) as nc, connected(server.url) as pub:
        sub = await nc.subscribe("au.a", max_msgs=3)
        sub2 = await nc.subscribe("au.b")
        await sub2.unsubscribe(limit=2)
        await sync(nc)
        for i in range(10):
            await pub.publish("au.a", str(i).encode())
            await pub.publish("au.b", str(i).encode())
        await sync(pub)
        await sync(nc)
        assert [m.data for m in await drain_pending(sub)] == [b"0", b"1", b"2"]
        assert [m.data for m in await drain_pending(sub2)] == [b"0", b"1"]


async def test_auto_unsubscribe_server_side(server):
    """The server itself stops after N (raw subscriber: no client-side filtering)."""
    raw = await RawClient.connect(server.port)
    try:
        await raw.handshake()
        await raw.send(b"SUB au 7\r\nUNSUB 7 3\r\nSUB au.done 8\r\nPING\r\n")
        await raw.expect(b"PONG")
        async with connected(server.url) as pub:
            for i in range(6):
                await pub.publish("au", str(i).encode())
            await pub.publish("au.done", b"end")
            await sync(pub)
        lines = []
        while True:
            line = await raw.readline()
            assert line, "connection closed"
            lines.append(line)
            if line.startswith(b"MSG au.done"):
                lines.append(await raw.readline())
                break
        assert lines == [
            b"MSG au 7 1\r\n", b"0\r\n",
            b"MSG au 7 1\r\n", b"1\r\n",
            b"MSG au 7 1\r\n", b"2\r\n",
            b"MSG au.done 8 3\r\n", b"end\r\n",
        ]
    finally:
        await raw.close()


MAX_PAYLOAD_CONF = "max_payload: 512\n"


async def _check_max_payload(srv) -> None:
    async with connected(srv.url) as nc:
        assert nc.max_payload == 512  # learnt from the INFO
        sub = await nc.subscribe("mp")
        await nc.publish("mp", b"x" * 512)
        assert (await sub.next_msg(timeout=5)).data == b"x" * 512
        with pytest.raises(MaxPayloadError):
            await nc.publish("mp", b"x" * 513)
        await sync(nc)
        assert nc.is_connected

    raw = await RawClient.connect(srv.port)
    try:
        assert raw.info["max_payload"] == 512
        await raw.handshake()
        await raw.send(b"PUB mp 513\r\n" + b"x" * 513 + b"\r\n")
        lines = await raw.read_until_closed(timeout=5)
        assert lines == [b"-ERR 'Maximum Payload Violation'\r\n"]
    finally:
        await raw.close()


async def test_max_payload_from_config(start_server):
    await _check_max_payload(start_server(config=MAX_PAYLOAD_CONF))


async def test_max_payload_flag(start_server, wire_kind):
    if wire_kind == "go":
        pytest.skip("nats-server has no --max_payload flag (natsd extension)")
    await _check_max_payload(start_server(["--max_payload", "512"]))


async def test_default_max_payload_is_1mb(server):
    raw = await RawClient.connect(server.port)
    try:
        assert raw.info["max_payload"] == 1024 * 1024
        await raw.handshake()
        await raw.send(b"PUB big %d\r\n" % (1024 * 1024 + 1))
        lines = await raw.read_until_closed(timeout=5)
        assert lines == [b"-ERR 'Maximum Payload Violation'\r\n"]
    finally:
        await raw.close()


async def test_info_reports_the_go_release_with_the_natsd_build(server, wire_kind):
    """INFO version is Go's release with natsd's build as a semver pre-release."""
    if wire_kind == "go":
        pytest.skip("natsd's own version string")
    import natsd

    raw = await RawClient.connect(server.port)
    try:
        assert raw.info["version"] == f"2.15.1-natsd.{natsd.__version__}"
        assert raw.info["go"].startswith("python")
        assert raw.info["headers"] is True and raw.info["proto"] == 1
    finally:
        await raw.close()
