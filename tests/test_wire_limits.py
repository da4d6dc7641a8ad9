"""Server limits as a raw client sees them: max_connections, max_subscriptions,
auth timeout. Each expectation was checked against the Go server
(NATSD_WIRE_SERVER=go)."""

from __future__ import annotations

import re
import time

import pytest

from natsd.oracle.wire import RawClient

pytestmark = pytest.mark.asyncio


async def _sole_connection(port: int) -> RawClient:
    # The launcher's readiness probe may still count as a connection for a
    # moment after it hung up: retry until the server has let it go.
    deadline = time.monotonic() + 5
    while True:
        raw = await RawClient.connect(port)
        try:
            await raw.handshake()
            return raw
        except AssertionError:
            await raw.close()
            if time.monotonic() > deadline:
                raise


async def test_max_connections(start_server):
    srv = start_server(config="max_connections: 1\n")
    first = await _sole_connection(srv.port)
    try:
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


async def test_trace_logs_ops_in_and_out(start_server):
    """-V traces each op as nats-server does: `<<- [PUB foo 5]`, `->> [MSG foo 1 5]`."""
    srv = start_server(["-V"])
    raw = await RawClient.connect(srv.port)
    try:
        await raw.handshake()
        await raw.send(b"SUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n")
        await raw.expect(b"MSG foo 1 5")
        await raw.expect(b"hello")
        await raw.expect(b"PONG")
        log = srv.log_path.read_text()  # written before the PONG it traces was sent
    finally:
        await raw.close()
    # the Go log line shape: [pid] 2006/01/02 15:04:05.000000 [TRC] ip:port - cid:N - ...
    assert re.search(r"^\[\d+\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[TRC\] 127\.0\.0\.1:\d+ - cid:\d+ - <<- \[PUB foo 5\]$",
                     log, re.M), log
    for expected in ("<<- [SUB foo 1]", "<<- [PUB foo 5]", '<<- MSG_PAYLOAD: ["hello"]', "->> [MSG foo 1 5]",
                     "->> [PONG]"):
        assert expected in log, expected
