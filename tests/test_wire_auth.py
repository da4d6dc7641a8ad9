"""Authentication and authorization over the wire: user/password (plain and bcrypt),
token, nkeys, and publish/subscribe permissions, against a real server process."""

from __future__ import annotations

import asyncio
import base64
import json

import bcrypt
import nats
import pytest

from natsd.oracle.wire import RawClient, connected, drain_pending, new_user_nkey, sync

pytestmark = pytest.mark.asyncio

AUTH_VIOLATION = "Authorization Violation"


async def _quiet(_e: Exception) -> None:
    pass


async def assert_refused(url: str, **kw) -> None:
    with pytest.raises(nats.errors.Error) as ei:
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=5, error_cb=_quiet, **kw)
        await nc.close()
    assert AUTH_VIOLATION.lower() in str(ei.value).lower(), repr(ei.value)


async def assert_accepted(url: str, **kw) -> None:
    async with connected(url, **kw) as nc:
        sub = await nc.subscribe("auth.check")
        await nc.publish("auth.check", b"ok")
        assert (await sub.next_msg(timeout=5)).data == b"ok"


def _bcrypt(secret: str) -> str:
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()


async def test_user_password_flags(start_server):
    srv = start_server(["--user", "alice", "--pass", "s3cret"])
    raw = await RawClient.connect(srv.port)
    await raw.close()
    assert raw.info.get("auth_required") is True
    await assert_accepted(srv.url, user="alice", password="s3cret")
    await assert_accepted(f"nats://alice:s3cret@127.0.0.1:{srv.port}")
    await assert_refused(srv.url, user="alice", password="wrong")
    await assert_refused(srv.url, user="bob", password="s3cret")
    await assert_refused(srv.url)


async def test_user_password_config_plain(start_server):
    srv = start_server(config='authorization { user: alice, password: "s3cret" }\n')
    await assert_accepted(srv.url, user="alice", password="s3cret")
    await assert_refused(srv.url, user="alice", password="s3cre")
    await assert_refused(srv.url)


async def test_user_password_bcrypt(start_server):
    srv = start_server(config=f'authorization {{ user: alice, password: "{_bcrypt("s3cret")}" }}\n')
    await assert_accepted(srv.url, user="alice", password="s3cret")
    await assert_refused(srv.url, user="alice", password="wrong")


async def test_users_list_plain_and_bcrypt(start_server):
    conf = (
        "authorization {\n"
        "  users = [\n"
        '    {user: plain, password: "pw1"}\n'
        f'    {{user: hashed, password: "{_bcrypt("pw2")}"}}\n'
        "  ]\n"
        "}\n"
    )
    srv = start_server(config=conf)
    await assert_accepted(srv.url, user="plain", password="pw1")
    await assert_accepted(srv.url, user="hashed", password="pw2")
    await assert_refused(srv.url, user="plain", password="pw2")
    await assert_refused(srv.url, user="hashed", password="pw1")
    # a bcrypt hash is not itself a password
    await assert_refused(srv.url, user="hashed", password=_bcrypt("pw2"))


async def test_token_flag(start_server):
    srv = start_server(["--auth", "s3cr3t"])
    await assert_accepted(srv.url, token="s3cr3t")
    await assert_accepted(f"nats://s3cr3t@127.0.0.1:{srv.port}")
    await assert_refused(srv.url, token="nope")
    await assert_refused(srv.url)


async def test_token_config(start_server):
    srv = start_server(config='authorization { token: "s3cr3t" }\n')
    await assert_accepted(srv.url, token="s3cr3t")
    await assert_refused(srv.url, token="s3cr3")


async def test_token_bcrypt(start_server):
    srv = start_server(config=f'authorization {{ token: "{_bcrypt("s3cr3t")}" }}\n')
    await assert_accepted(srv.url, token="s3cr3t")
    await assert_refused(srv.url, token="wrong")


async def test_nkey_nats_py(start_server):
    pytest.importorskip("nkeys", reason="nats-py needs the 'nkeys' package for nkeys_seed_str")
    seed, pub = new_user_nkey()
    other_seed, _ = new_user_nkey()
    srv = start_server(config=f'authorization {{ users = [ {{nkey: "{pub}"}} ] }}\n')
    await assert_accepted(srv.url, nkeys_seed_str=seed)
    await assert_refused(srv.url, nkeys_seed_str=other_seed)
    await assert_refused(srv.url)


async def test_nkey_raw_signature(start_server):
    """The nonce challenge on the wire, signed with natsd's own nkeys helpers."""
    from natsd.server.auth import sign_nonce

    seed, pub = new_user_nkey()
    other_seed, other_pub = new_user_nkey()
    srv = start_server(config=f'authorization {{ users = [ {{nkey: "{pub}"}} ] }}\n')

    raw = await RawClient.connect(srv.port)
    try:
        nonce = raw.info["nonce"]
        assert raw.info.get("auth_required") is True
        sig = sign_nonce(seed, nonce.encode())
        # the signature is base64 (URL-safe, unpadded) of a 64-byte ed25519 signature
        assert len(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))) == 64
        await raw.handshake({"nkey": pub, "sig": sig})
    finally:
        await raw.close()

    cases = [
        {"nkey": pub, "sig": sign_nonce(other_seed, b"whatever")},  # signature of another key
        {"nkey": other_pub},  # unknown key, no signature
        {"nkey": pub},  # no signature
    ]
    for connect in cases:
        raw = await RawClient.connect(srv.port)
        try:
            if "sig" not in connect and connect["nkey"] == other_pub:
                connect["sig"] = sign_nonce(other_seed, raw.info["nonce"].encode())
            await raw.send(b"CONNECT " + json.dumps({"verbose": False, **connect}).encode() + b"\r\nPING\r\n")
            lines = await raw.read_until_closed(timeout=5)
            assert lines == [b"-ERR 'Authorization Violation'\r\n"], connect
        finally:
            await raw.close()


async def test_nkey_and_password_users_together(start_server):
    seed, pub = new_user_nkey()
    conf = (
        "authorization {\n"
        f'  users = [ {{nkey: "{pub}"}}, {{user: bob, password: "pw"}} ]\n'
        "}\n"
    )
    srv = start_server(config=conf)
    await assert_accepted(srv.url, user="bob", password="pw")
    await assert_refused(srv.url, user="bob", password="nope")
    from natsd.server.auth import sign_nonce

    raw = await RawClient.connect(srv.port)
    try:
        await raw.handshake({"nkey": pub, "sig": sign_nonce(seed, raw.info["nonce"].encode())})
    finally:
        await raw.close()


# ---------------------------------------------------------------------- permissions

PERMS_CONF = """
authorization {
  users = [
    {user: a, password: b, permissions: {publish: {allow: ["x.>"]}, subscribe: {deny: ["secret.>"]}}}
    {user: admin, password: admin}
  ]
}
"""


async def test_publish_permissions(start_server):
    srv = start_server(config=PERMS_CONF)
    errors: asyncio.Queue[Exception] = asyncio.Queue()

    async def on_error(e: Exception) -> None:
        await errors.put(e)

    async with connected(srv.url, user="admin", password="admin") as admin, \
            connected(srv.url, user="a", password="b", error_cb=on_error) as limited:
        watch = await admin.subscribe("y.1")
        allowed = await admin.subscribe("x.>")
        await sync(admin)

        await limited.publish("x.1", b"allowed")
        assert (await allowed.next_msg(timeout=5)).data == b"allowed"

        await limited.publish("y.1", b"denied")
        err = await asyncio.wait_for(errors.get(), 5)
        # nats-py lower-cases the server's text; the exact bytes are checked below
        assert str(err).lower() == 'nats: permissions violation for publish to "y.1"'
        assert limited.is_connected  # a permissions error does not close the connection

        await limited.publish("x.2", b"after")
        assert (await allowed.next_msg(timeout=5)).data == b"after"
        await sync(admin)
        assert await drain_pending(watch) == []
        assert errors.empty()


async def test_publish_permission_violation_exact_error(start_server):
    srv = start_server(config=PERMS_CONF)
    raw = await RawClient.connect(srv.port)
    try:
        await raw.handshake({"user": "a", "pass": "b"})
        await raw.send(b"PUB y.1 2\r\nno\r\nPUB _INBOX.x 2\r\nno\r\nPING\r\n")
        assert await raw.readline() == b"-ERR 'Permissions Violation for Publish to \"y.1\"'\r\n"
        assert await raw.readline() == b"-ERR 'Permissions Violation for Publish to \"_INBOX.x\"'\r\n"
        assert await raw.readline() == b"PONG\r\n"
    finally:
        await raw.close()


async def test_subscribe_permissions(start_server):
    srv = start_server(config=PERMS_CONF)
    errors: asyncio.Queue[Exception] = asyncio.Queue()

    async def on_error(e: Exception) -> None:
        await errors.put(e)

    async with connected(srv.url, user="admin", password="admin") as admin, \
            connected(srv.url, user="a", password="b", error_cb=on_error) as limited:
        denied = await limited.subscribe("secret.plans")
        ok = await limited.subscribe("public.news")
        err = await asyncio.wait_for(errors.get(), 5)
        assert str(err).lower() == 'nats: permissions violation for subscription to "secret.plans"'
        await sync(limited)

        await admin.publish("secret.plans", b"hidden")
        await admin.publish("public.news", b"visible")
        await sync(admin)
        assert (await ok.next_msg(timeout=5)).data == b"visible"
        await sync(limited)
        assert await drain_pending(denied) == []
        assert limited.is_connected

    raw = await RawClient.connect(srv.port)
    try:
        await raw.handshake({"user": "a", "pass": "b"})
        await raw.send(b"SUB secret.x 1\r\nSUB secret.> q 2\r\nSUB fine 3\r\nPING\r\n")
        assert await raw.readline() == b"-ERR 'Permissions Violation for Subscription to \"secret.x\"'\r\n"
        assert await raw.readline() == (
            b"-ERR 'Permissions Violation for Subscription to \"secret.>\" using queue \"q\"'\r\n")
        assert await raw.readline() == b"PONG\r\n"
    finally:
        await raw.close()
