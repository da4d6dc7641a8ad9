"""Server limits as a raw client sees them: max_connections, max_subscriptions,
auth timeout. Each expectation was checked against the Go server
(NATSD_WIRE_SERVER=go)."""

from __future__ import annotations

import pytest

from natsd.oracle.wire import RawClient

pytestmark = pytest.mark.asyncio


async def test_max_connections(start_server):
    srv = start_server(config="max_connections: 1\n")
    first = await RawClient.connect(srv.port)
    try:
        await first.handshake()
        second = await RawClient.connect(srv.port)  # INFO comes first, then the refusal
        try:
            assert await second.read_until_closed(timeout=5) == [b"-ERR 'maximum connections exceeded'\r\n"]
        finally:
            await second.close()
        await first.send(b"PING\r\n")
        await first.expect(b"PONG")
    finally:
        await first.close()


async def test_max_subscriptions(start_server):
    srv = start_server(config="max_subscriptions: 2\n")
    raw = await RawClient.connect(srv.port)
    try:
        await raw.handshake()
        await raw.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n")
        assert await raw.readline() == b"-ERR 'maximum subscriptions exceeded'\r\n"
        await raw.expect(b"PONG")
        # the first two still work and the connection stays open
        await raw.send(b"PUB b 2\r\nhi\r\nPUB c 2\r\nno\r\nPING\r\n")
        assert await raw.readline() == b"MSG b 2 2\r\n"
        assert await raw.readline() == b"hi\r\n"
        await raw.expect(b"PONG")
    finally:
        await raw.close()


async def test_auth_timeout(start_server):
    srv = start_server(config='authorization { user: a, password: b, timeout: 0.5 }\n')
    raw = await RawClient.connect(srv.port)
    try:
        assert raw.info.get("auth_required") is True
        assert await raw.read_until_closed(timeout=5) == [b"-ERR 'Authentication Timeout'\r\n"]
    finally:
        await raw.close()


async def test_authorization_violation_closes(start_server):
    srv = start_server(config='authorization { user: a, password: b }\n')
    raw = await RawClient.connect(srv.port)
    try:
        await raw.send(b'CONNECT {"verbose":false,"user":"a","pass":"wrong"}\r\nPING\r\n')
        assert await raw.read_until_closed(timeout=5) == [b"-ERR 'Authorization Violation'\r\n"]
    finally:
        await raw.close()
