"""TLS over the wire: server certificate, client-certificate verification."""

from __future__ import annotations

import asyncio
import ssl

import nats
import pytest

from natsd.oracle.wire import HOST, RawClient, connected, make_pki

pytestmark = pytest.mark.asyncio


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


def client_context(pki, cert=None, key=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca_cert))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def tls_args(pki) -> list[str]:
    return ["--tls", "--tlscert", str(pki.server_cert), "--tlskey", str(pki.server_key)]


async def _quiet(_e: Exception) -> None:
    pass


async def roundtrip(nc) -> None:
    sub = await nc.subscribe("tls.check")
    await nc.publish("tls.check", b"secret payload")
    assert (await sub.next_msg(timeout=5)).data == b"secret payload"


async def test_tls_server_cert(start_server, pki):
    srv = start_server(tls_args(pki))
    raw = await RawClient.connect(srv.port)
    await raw.close()
    assert raw.info.get("tls_required") is True

    async with connected(f"tls://{HOST}:{srv.port}", tls=client_context(pki)) as nc:
        await roundtrip(nc)

    # a client that does not trust the CA refuses the server
    with pytest.raises((ssl.SSLError, nats.errors.Error, OSError, asyncio.TimeoutError)):
        nc = await nats.connect(f"tls://{HOST}:{srv.port}", tls=ssl.create_default_context(),
                                allow_reconnect=False, connect_timeout=3, error_cb=_quiet)
        await nc.close()


async def test_tls_required_refuses_plain_client(start_server, pki):
    """Plain protocol where the TLS handshake must come: nats-server fails the
    handshake and closes without a reply (it sends -ERR 'Secure Connection - TLS
    Required' only when the handshake times out with no bytes at all)."""
    srv = start_server(tls_args(pki))
    raw = await RawClient.connect(srv.port)
    try:
        await raw.send(b'CONNECT {"verbose":false}\r\nPING\r\n')
        lines = await raw.read_until_closed(timeout=5)
        assert lines == []
    finally:
        await raw.close()


async def test_tls_verify_client_cert(start_server, pki):
    srv = start_server(tls_args(pki) + ["--tlsverify", "--tlscacert", str(pki.ca_cert)])
    raw = await RawClient.connect(srv.port)
    await raw.close()
    assert raw.info.get("tls_required") is True
    assert raw.info.get("tls_verify") is True

    ctx = client_context(pki, pki.client_cert, pki.client_key)
    async with connected(f"tls://{HOST}:{srv.port}", tls=ctx) as nc:
        await roundtrip(nc)

    for bad in (client_context(pki), client_context(pki, pki.other_client_cert, pki.other_client_key)):
        with pytest.raises((ssl.SSLError, nats.errors.Error, OSError, asyncio.TimeoutError)):
            nc = await nats.connect(f"tls://{HOST}:{srv.port}", tls=bad, allow_reconnect=False,
                                    connect_timeout=3, error_cb=_quiet)
            try:
                # TLS 1.3: the server may reject the client certificate only after the
                # client's side of the handshake is done; a round trip must fail then.
                await nc.flush(timeout=3)
            finally:
                await nc.close()


async def test_tls_many_fast_handshakes(start_server, pki):
    """A client that starts its handshake the moment it has read the INFO (as every
    client library does) must always get a TLS session, never plain bytes."""
    srv = start_server(tls_args(pki))
    ctx = client_context(pki)
    failures = []
    for _ in range(40):
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        try:
            info = await asyncio.wait_for(reader.readline(), 5)
            assert info.startswith(b"INFO ")
            try:
                await asyncio.wait_for(writer.start_tls(ctx, server_hostname=HOST), 5)
                writer.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
                await writer.drain()
                line = await asyncio.wait_for(reader.readline(), 5)
            except (ssl.SSLError, ConnectionError, TimeoutError) as e:
                failures.append(repr(e))
                continue
            if line != b"PONG\r\n":
                failures.append(line)
        finally:
            writer.close()
    assert failures == []
