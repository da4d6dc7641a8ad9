"""Helpers for the over-the-wire tests (``tests/test_wire_*.py``).

The wire tests run a real server process on 127.0.0.1 and talk to it with nats-py
or a raw socket. By default the server is natsd (``python -m natsd``); set
``NATSD_WIRE_SERVER=go`` to run the same tests against the Go ``nats-server``
(that is how the expectations in those tests were checked).

* :func:`launch` starts a server (optional config file text, extra files such as
  certificates, an HTTP monitoring port) and returns a running
  :class:`~natsd.oracle.procs.ServerProcess` with ``http_port`` and ``kind`` set.
* :func:`relaunch` starts a new process with the same command line on the same port
  (for reconnect tests).
* :class:`RawClient` is a line-oriented asyncio raw-protocol client.
* :func:`make_pki` writes a throw-away CA, a server certificate for 127.0.0.1 and a
  client certificate (PEM) with ``cryptography``.
* :func:`new_user_nkey` makes a user nkey seed and its public key.
* :func:`http_json` GETs a monitoring endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import os
import secrets
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from natsd.oracle.procs import ServerProcess, find_executable, free_port

__all__ = [
    "HOST",
    "run_on_natsd_and_go",
    "Pki",
    "RawClient",
    "http_json",
    "launch",
    "make_pki",
    "new_user_nkey",
    "relaunch",
    "server_kind",
    "wait_until",
]

HOST = "127.0.0.1"
CONFIG_NAME = "server.conf"


def server_kind() -> str:
    """``"natsd"`` (default) or ``"go"`` from ``$NATSD_WIRE_SERVER``."""
    kind = os.environ.get("NATSD_WIRE_SERVER", "natsd").strip().lower() or "natsd"
    if kind not in ("natsd", "go"):
        raise ValueError(f"NATSD_WIRE_SERVER must be 'natsd' or 'go', not {kind!r}")
    return kind


def _server_cmd(kind: str) -> list[str]:
    if kind == "go":
        binary = os.environ.get("NATS_SERVER_BIN") or find_executable("nats-server")
        if not binary:
            raise FileNotFoundError("nats-server binary not found (NATS_SERVER_BIN, venv bin, PATH)")
        return [binary]
    return [sys.executable, "-m", "natsd"]


def launch(
    args: Sequence[str] = (),
    *,
    config: str | None = None,
    files: dict[str, str | bytes] | None = None,
    monitor: bool = False,
    kind: str | None = None,
    timeout: float = 20.0,
) -> ServerProcess:
    """Start a server on 127.0.0.1 on a free port in its own temp dir.

    ``config`` is written to ``server.conf`` and passed with ``-c``; ``files`` are
    written into the work dir first (names relative to it; the text ``{dir}`` in
    ``config`` and in ``args`` is replaced by the work dir). ``monitor`` adds
    ``-m <free port>``; the port is kept as ``srv.http_port``.
    """
    kind = kind or server_kind()
    http_port = free_port(HOST) if monitor else 0

    def setup(workdir: Path) -> None:
        for name, data in (files or {}).items():
            path = workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                path.write_text(data)
        if config is not None:
            (workdir / CONFIG_NAME).write_text(config.replace("{dir}", str(workdir)))

    def argv(port: int, workdir: Path) -> list[str]:
        cmd = _server_cmd(kind) + ["-a", HOST, "-p", str(port)]
        if config is not None:
            cmd += ["-c", str(workdir / CONFIG_NAME)]
        if monitor:
            cmd += ["-m", str(http_port)]
        return cmd + [a.replace("{dir}", str(workdir)) for a in args]

    srv = ServerProcess.launch(argv, host=HOST, name=kind, setup=setup, timeout=timeout)
    srv.http_port = http_port  # type: ignore[attr-defined]
    srv.kind = kind  # type: ignore[attr-defined]
    return srv


def relaunch(old: ServerProcess, *, timeout: float = 20.0, attempts: int = 50) -> ServerProcess:
    """Start ``old``'s command line again on the same port (``old`` must be stopped).

    The argv must not refer to files in ``old``'s (removed) work dir. A start that
    fails because the port is still held is retried for a while.
    """
    last: Exception | None = None
    for _ in range(attempts):
        srv = ServerProcess(old.argv, host=old.host, port=old.port, name=old.name)
        try:
            srv.start(timeout=timeout)
        except Exception as e:  # ServerStartError: port not yet free
            last = e
            time.sleep(0.05)
            continue
        srv.http_port = getattr(old, "http_port", 0)  # type: ignore[attr-defined]
        srv.kind = getattr(old, "kind", server_kind())  # type: ignore[attr-defined]
        return srv
    assert last is not None
    raise last


async def wait_until(pred: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.01,
                     what: str = "condition") -> object:
    """Poll ``pred`` (sync or returning an awaitable) until truthy or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if asyncio.iscoroutine(v):
            v = await v
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def _http_get(url: str, timeout: float) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


async def http_json(port: int, path: str, timeout: float = 5.0) -> dict:
    return await asyncio.to_thread(_http_get, f"http://{HOST}:{port}{path}", timeout)


# ----------------------------------------------------------------------- raw client


class RawClient:
    """A raw NATS protocol connection: send bytes, read lines with deadlines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, info: dict) -> None:
        self.reader = reader
        self.writer = writer
        self.info = info

    @classmethod
    async def connect(cls, port: int, *, host: str = HOST, timeout: float = 5.0,
                      rcvbuf: int | None = None, limit: int = 2**20) -> RawClient:
        """Open a TCP connection and read the server's INFO line."""
        sock = None
        if rcvbuf is not None:
            import socket

            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), timeout)
            reader, writer = await asyncio.open_connection(sock=sock, limit=limit)
        else:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=limit), timeout
            )
        line = await asyncio.wait_for(reader.readline(), timeout)
        if not line.startswith(b"INFO "):
            writer.close()
            raise AssertionError(f"expected INFO, got {line!r}")
        return cls(reader, writer, json.loads(line[5:]))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def handshake(self, connect: dict | None = None) -> dict | None:
        """Send CONNECT (verbose off, protocol 1, headers on) and PING; read the PONG.

        A protocol-1 client then gets an INFO with ``connect_info: true`` (as nats-server
        sends after the first PONG); it is read and returned.
        """
        opts = {"verbose": False, "pedantic": False, "protocol": 1, "headers": True}
        opts.update(connect or {})
        await self.send(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
        await self.expect(b"PONG")
        if opts.get("protocol", 0) >= 1:
            line = await self.expect(b"INFO ")
            info = json.loads(line[5:])
            assert info.get("connect_info") is True, info
            return info
        return None

    async def readline(self, timeout: float = 5.0) -> bytes:
        """One line (with CRLF); ``b""`` at EOF."""
        return await asyncio.wait_for(self.reader.readline(), timeout)

    async def expect(self, prefix: bytes, *, timeout: float = 5.0, skip: Sequence[bytes] = ()) -> bytes:
        """Read lines until one starts with ``prefix`` (lines starting with ``skip`` are ignored)."""
        deadline = time.monotonic() + timeout
        while True:
            line = await self.readline(max(0.01, deadline - time.monotonic()))
            if line.startswith(prefix):
                return line
            if not line:
                raise AssertionError(f"connection closed while waiting for {prefix!r}")
            if any(line.startswith(s) for s in skip):
                continue
            raise AssertionError(f"expected {prefix!r}, got {line!r}")

    async def read_until_closed(self, timeout: float = 10.0) -> list[bytes]:
        """Every line until EOF (or a reset); AssertionError if still open at the deadline."""
        lines: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"connection still open after {timeout}s; last lines {lines[-5:]!r}")
            try:
                line = await asyncio.wait_for(self.reader.readline(), remaining)
            except (ConnectionResetError, BrokenPipeError):
                return lines
            except TimeoutError:
                continue
            except ValueError:  # a line over the reader's limit: drop it, keep reading
                with contextlib.suppress(Exception):
                    await self.reader.read(2**20)
                continue
            if not line:
                return lines
            lines.append(line)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


# ---------------------------------------------------------------------- keys, certs


def new_user_nkey() -> tuple[str, str]:
    """(seed "SU...", public key "U...") of a fresh user nkey."""
    from natsd.server.auth import encode_seed, public_key_from_seed

    seed = encode_seed(secrets.token_bytes(32), "U")
    return seed, public_key_from_seed(seed)


@dataclass
class Pki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_client_cert: Path  # signed by a CA the server does not trust
    other_client_key: Path


def make_pki(directory: Path) -> Pki:
    """A CA, a server cert (SAN IP 127.0.0.1, DNS localhost) and client certs, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(k, path: Path) -> None:
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))

    def write_cert(c, path: Path) -> None:
        path.write_bytes(c.public_bytes(serialization.Encoding.PEM))

    def make_ca(cn: str):
        k = key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn)).issuer_name(name(cn)).public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(k, hashes.SHA256())
        )
        return k, cert

    def leaf(ca_key, ca_cert, cn: str, server: bool):
        k = key()
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn)).issuer_name(ca_cert.subject).public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False)
        )
        if server:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
        return k, b.sign(ca_key, hashes.SHA256())

    ca_key, ca_cert = make_ca("natsd test CA")
    other_ca_key, other_ca_cert = make_ca("untrusted test CA")
    s_key, s_cert = leaf(ca_key, ca_cert, "127.0.0.1", True)
    c_key, c_cert = leaf(ca_key, ca_cert, "natsd test client", False)
    o_key, o_cert = leaf(other_ca_key, other_ca_cert, "untrusted client", False)

    pki = Pki(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server-cert.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "client-cert.pem",
        client_key=directory / "client-key.pem",
        other_client_cert=directory / "other-client-cert.pem",
        other_client_key=directory / "other-client-key.pem",
    )
    write_cert(ca_cert, pki.ca_cert)
    write_cert(s_cert, pki.server_cert)
    write_key(s_key, pki.server_key)
    write_cert(c_cert, pki.client_cert)
    write_key(c_key, pki.client_key)
    write_cert(o_cert, pki.other_client_cert)
    write_key(o_key, pki.other_client_key)
    return pki


# ------------------------------------------------------------------ nats-py helpers


@contextlib.asynccontextmanager
async def connected(url: str, **kw):
    """``nats.connect`` (no reconnect by default) that records async errors in
    ``nc.test_errors`` and always closes."""
    import nats

    errors: list[Exception] = []
    user_cb = kw.pop("error_cb", None)

    async def error_cb(e: Exception) -> None:
        errors.append(e)
        if user_cb is not None:
            await user_cb(e)

    kw.setdefault("allow_reconnect", False)
    kw.setdefault("connect_timeout", 5)
    nc = await nats.connect(url, error_cb=error_cb, **kw)
    nc.test_errors = errors
    try:
        yield nc
    finally:
        with contextlib.suppress(Exception):
            await nc.close()


async def sync(*ncs) -> None:
    """A round trip that follows everything each client published so far.

    nats-py's ``flush()`` writes its PING straight to the socket while earlier
    PUB/SUB commands may still sit in the client's pending buffer, so one PONG does
    not prove the server saw them. ``flush()`` kicks the client's flusher task, which
    runs (and writes the buffer) before the loop can read the PONG; a second
    ``flush()`` therefore follows all earlier commands. Once it returns, the server
    has processed them and every message it delivered to this connection before
    that PONG is queued in the client.
    """
    for nc in ncs:
        await nc.flush()
        await nc.flush()


async def drain_pending(sub) -> list:
    """All messages already queued on a callback-less nats-py subscription."""
    out = []
    while sub.pending_msgs:
        out.append(await sub.next_msg(timeout=1))
    return out


async def run_on_natsd_and_go(scenario: Callable[[ServerProcess], Awaitable[Any]], workdir) -> dict[str, Any]:
    """Run the async ``scenario(srv)`` against a JetStream natsd, then a JetStream Go
    server (stores under ``workdir/<kind>``; each server stopped even on failure):
    the results by kind, for differential tests that compare them."""
    got: dict[str, Any] = {}
    for kind in ("natsd", "go"):
        srv = launch(["-js", "-sd", os.path.join(str(workdir), kind)], kind=kind)
        try:
            got[kind] = await scenario(srv)
        finally:
            srv.stop()
    return got
