"""The asyncio shell: listeners, connections, timers, signals.

This module only moves bytes and time. Protocol semantics live in the
sans-IO core (``natsd.server.core``): the shell feeds each connection's
bytes to ``Client.receive`` and, once per event-loop turn, writes every
connection's queued output with one ``transport.write``.

Mirrors nats-server server.go (``Start``, ``AcceptLoop``, ``createClient``,
``lameDuckMode``, ``Shutdown``) and client.go (``flushOutbound``,
``processPingTimer``, slow consumer detection) at the level a client sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import signal
import socket
import ssl
import time

from natsd import __version__
from natsd.protocol import wire
from natsd.server.auth import encode_public_key
from natsd.server.core import Broker, Client
from natsd.server.log import logger, setup
from natsd.server.options import Options

__all__ = ["Server", "run", "SERVER_VERSION"]

# Clients gate features on the server's semver; we speak the protocol of this
# Go release. The natsd build shows as the pre-release part (differences.md).
GO_COMPAT_VERSION = "2.15.1"
SERVER_VERSION = f"{GO_COMPAT_VERSION}-natsd.{__version__}"
JS_API_LEVEL = 5

_NS = 1_000_000_000


def _now() -> int:
    return time.time_ns()


def _server_id() -> str:
    # Go's server id is a server nkey ("N..."): a public key over random bytes
    return encode_public_key(secrets.token_bytes(32), "N")


class _Conn(asyncio.Protocol):
    """One accepted socket: bytes in -> core, queued output -> socket."""

    __slots__ = ("server", "client", "transport", "ping_timer", "auth_timer", "wd_timer", "closing",
                 "tls", "tls_in", "tls_out", "tls_timer")

    def __init__(self, server: Server) -> None:
        self.server = server
        self.client: Client | None = None
        self.transport: asyncio.Transport | None = None
        self.ping_timer = None
        self.auth_timer = None
        self.wd_timer = None
        self.closing = False
        # TLS runs through memory BIOs on this same transport: the INFO goes out
        # in plain text first, then every byte read belongs to the handshake, with
        # no window in which a fast client's ClientHello could reach the parser.
        self.tls: ssl.SSLObject | None = None
        self.tls_in: ssl.MemoryBIO | None = None
        self.tls_out: ssl.MemoryBIO | None = None
        self.tls_timer = None

    # -- asyncio callbacks ------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        srv = self.server
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        transport.set_write_buffer_limits(high=256 * 1024)
        c = srv.broker.new_client(_now(), peer[0], peer[1])
        c.shell = self
        self.client = c
        srv.conns[c.cid] = self
        transport.write(srv.broker.info_line(c))  # Go sends INFO before the limit check
        max_conn = srv.opts.max_connections
        if srv.lame_duck or max_conn < 0 or (max_conn > 0 and len(srv.conns) > max_conn):
            transport.write(wire.err_line(wire.ERR_MAX_CONNECTIONS))
            self._close("Maximum Connections Exceeded")
            return
        loop = srv.loop
        if srv.broker.auth_required:
            self.auth_timer = loop.call_later(srv.opts.auth_timeout, self._auth_timeout)
        if srv.ssl_context is not None:
            self.tls_in, self.tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = srv.ssl_context.wrap_bio(self.tls_in, self.tls_out, server_side=True)
            self.tls_timer = loop.call_later(srv.opts.tls_timeout, self._tls_timeout)
        self.ping_timer = loop.call_later(srv.opts.ping_interval / _NS, self._ping)

    def _tls_timeout(self) -> None:
        self.tls_timer = None
        c = self.client
        if c is not None and not c.tls:
            logger.error("%s - TLS handshake timeout", self._label())
            self._close("TLS Handshake Error", abort=True)

    def _tls_send_raw(self) -> None:
        pending = self.tls_out.pending
        if pending and self.transport is not None:
            self.transport.write(self.tls_out.read(pending))

    def _tls_receive(self, data: bytes) -> bytes | None:
        """Feed TLS records in; return the plain bytes they carry (None: closed)."""
        c = self.client
        tls = self.tls
        self.tls_in.write(data)
        if not c.tls:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                self._tls_send_raw()
                return b""
            except (ssl.SSLError, ValueError) as e:
                self._tls_send_raw()
                logger.error("%s - TLS handshake error: %s", self._label(), e)
                self._close("TLS Handshake Error", abort=True)
                return None
            c.tls = True
            if self.tls_timer is not None:
                self.tls_timer.cancel()
                self.tls_timer = None
            if c.out or c.close_reason is not None:
                self.server.broker.dirty.append(c)
                self.server.schedule_flush()
        chunks = []
        while True:
            try:
                chunk = tls.read(65536)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLError, ValueError):
                self._tls_send_raw()
                self._close("Client Closed", abort=True)
                return None
            if not chunk:
                # An empty read is the client's close_notify: answer it, so its
                # TLS shutdown completes at once instead of timing out.
                with contextlib.suppress(ssl.SSLError, ValueError):
                    tls.unwrap()
                self._tls_send_raw()
                if chunks:
                    c.receive(b"".join(chunks))
                self._close("Client Closed")
                return None
            chunks.append(chunk)
        self._tls_send_raw()
        return b"".join(chunks)

    def data_received(self, data: bytes) -> None:
        c = self.client
        if c is None:
            return
        srv = self.server
        if self.tls is not None:
            data = self._tls_receive(data)
            if not data:
                return
        c.last_activity = _now()
        if c.awaiting_auth is False and self.auth_timer is not None:
            self.auth_timer.cancel()
            self.auth_timer = None
        c.receive(data)
        js = srv.jetstream
        if (srv.broker.dirty or (js is not None and js.held_acks)) and not srv.flush_scheduled:
            srv.flush_scheduled = True
            srv.loop.call_soon(srv.flush)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        c = self.client
        for t in (self.ping_timer, self.auth_timer, self.wd_timer, self.tls_timer):
            if t is not None:
                t.cancel()
        if c is None:
            return
        reason = c.close_reason or ("Client Closed" if exc is None else "Read Error")
        self.server.on_closed(self, reason)
        self.client = None

    def pause_writing(self) -> None:
        srv = self.server
        if self.wd_timer is None and srv.opts.write_deadline > 0:
            self.wd_timer = srv.loop.call_later(srv.opts.write_deadline / _NS, self._write_deadline)

    def resume_writing(self) -> None:
        if self.wd_timer is not None:
            self.wd_timer.cancel()
            self.wd_timer = None

    # -- timers -----------------------------------------------------------
    def _ping(self) -> None:
        c = self.client
        if c is None or self.closing:
            return
        srv = self.server
        if c.pings_out + 1 > srv.opts.max_pings_out:
            logger.debug("%s - Stale Client Connection - Closing", self._label())
            srv.stale_connections += 1
            c.send_err(wire.ERR_STALE_CONNECTION)
            c.close("Stale Connection")
        else:
            c.pings_out += 1
            c.send(wire.PING)
            self.ping_timer = srv.loop.call_later(srv.opts.ping_interval / _NS, self._ping)
        srv.schedule_flush()

    def _auth_timeout(self) -> None:
        self.auth_timer = None
        c = self.client
        if c is not None and c.awaiting_auth:
            c.send_err(wire.ERR_AUTH_TIMEOUT)
            c.close("Authentication Timeout")
            self.server.schedule_flush()

    def _write_deadline(self) -> None:
        self.wd_timer = None
        c = self.client
        if c is not None:
            self.server.slow_consumers += 1
            logger.info("%s - Slow Consumer Detected: WriteDeadline of %s exceeded",
                        self._label(), f"{self.server.opts.write_deadline / _NS:g}s")
            c.close_reason = c.close_reason or "Slow Consumer (Write Deadline)"
            self._close(c.close_reason, abort=True)

    # -- helpers ----------------------------------------------------------
    def _label(self) -> str:
        c = self.client
        return f"{c.ip}:{c.port} - cid:{c.cid}" if c is not None else "?"

    def _close(self, reason: str, abort: bool = False) -> None:
        if self.closing:
            return
        self.closing = True
        c = self.client
        if c is not None and c.close_reason is None:
            c.close_reason = reason
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()


class Server:
    """A natsd server: run it with ``await server.start()`` / ``await server.shutdown()``."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server_id = _server_id()
        self.server_name = opts.server_name or self.server_id
        self.start_time_ns = _now()
        self.conns: dict[int, _Conn] = {}
        self.closed: list[dict] = []  # ring of recently closed connections (/connz)
        self.flush_scheduled = False
        self.lame_duck = False
        self.slow_consumers = 0
        self.stale_connections = 0
        self.ssl_context = self._make_ssl_context()
        self.authenticator = self._make_authenticator()
        self.broker = Broker(
            max_payload=opts.max_payload,
            max_control_line=opts.max_control_line,
            max_subscriptions=opts.max_subscriptions,
            trace=opts.trace,
            info=self._info(),
            authenticator=self.authenticator,
        )
        self.jetstream = None
        if opts.jetstream:
            from natsd.jetstream.api import JetStreamService
            from natsd.jetstream.persist import StorageOptions

            self.jetstream = JetStreamService(
                self.broker, clock=time.time_ns, server_name=self.server_name, store_dir=opts.store_dir,
                max_memory=opts.jetstream_max_memory, max_store=opts.jetstream_max_store,
                domain=opts.jetstream_domain, version=GO_COMPAT_VERSION,
                storage=StorageOptions(sync=opts.jetstream_sync, sync_interval=opts.jetstream_sync_interval,
                                       cipher=opts.jetstream_cipher, key=opts.jetstream_key),
            )
            self.jetstream.hold_acks = opts.jetstream_sync == "group"
            self.jetstream.early_write = self.write_dirty
            self.broker.info["jetstream"] = True
            self.broker.info["api_lvl"] = self.broker.info.pop("api_lvl")  # keep Go's field order
        self._js_timer = None
        self._listener: asyncio.base_events.Server | None = None
        self._monitor = None
        self._stopped: asyncio.Event | None = None
        self.port = opts.port
        self.http_port = opts.http_port

    # -- construction -----------------------------------------------------
    def _make_authenticator(self):
        o = self.opts
        if not (o.username or o.authorization or o.users or o.nkeys):
            return None
        from natsd.server.auth import Authenticator

        return Authenticator(o)

    def _make_ssl_context(self) -> ssl.SSLContext | None:
        o = self.opts
        if not o.tls_cert:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(o.tls_cert, o.tls_key or None)
        if o.tls_ca_cert:
            ctx.load_verify_locations(o.tls_ca_cert)
        if o.tls_verify:
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def _info(self) -> dict:
        o = self.opts
        info: dict = {
            "server_id": self.server_id,
            "server_name": self.server_name,
            "version": SERVER_VERSION,
            "proto": 1,
            "go": f"python{platform.python_version()}",
            "host": o.host,
            "port": o.port,
            "headers": True,
        }
        auth = self.authenticator
        if auth is not None and auth.required:
            info["auth_required"] = True
        if self.ssl_context is not None:
            info["tls_required"] = True
            if o.tls_verify:
                info["tls_verify"] = True
        info["max_payload"] = o.max_payload
        # "jetstream": true is advertised only once the JetStream API is served;
        # -js is accepted today but clients must not be told it works.
        if self.lame_duck:
            info["ldm"] = True
        info["api_lvl"] = JS_API_LEVEL
        return info

    # -- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        o = self.opts
        if o.http_port:  # as nats-server: monitoring is up before clients can connect
            from natsd.server import monitor

            self._monitor = await monitor.start(self)
        self._listener = await self.loop.create_server(
            lambda: _Conn(self), host=o.host or None, port=o.port, reuse_address=True, backlog=1024
        )
        sock = self._listener.sockets[0]
        self.port = sock.getsockname()[1]
        if o.port == -1 or o.port == 0:
            self.broker.info["port"] = self.port
        logger.info("Starting nats-server")
        logger.info("  Version:  %s", SERVER_VERSION)
        logger.info("  Name:     %s", self.server_name)
        logger.info("  ID:       %s", self.server_id)
        if o.config_file:
            logger.info("Using configuration file: %s", o.config_file)
        if self.jetstream is not None:
            logger.info("Starting JetStream")
            logger.info("  Store Directory: \"%s\"", o.store_dir)
            logger.info("  Sync: %s", "group commit (fsync before acknowledging)" if o.jetstream_sync == "group"
                        else o.jetstream_sync)
            self._js_tick()
        logger.info("Listening for client connections on %s:%d", o.host, self.port)
        if self.ssl_context is not None:
            logger.info("TLS required for client connections")
        logger.info("Server is ready")

    def _js_tick(self) -> None:
        """Drive JetStream's time-based work (max_age, TTLs, dedupe windows)."""
        js = self.jetstream
        if js is None or self.loop is None:
            return
        js.tick(time.time_ns())
        # Writes no PubAck waits for (no_ack streams, sources) reach the disk too,
        # and consumer state written since the last tick is fsynced.
        js.sync(durable=True)
        self.schedule_flush()
        self._js_timer = self.loop.call_later(0.1, self._js_tick)

    async def wait_stopped(self) -> None:
        assert self._stopped is not None
        await self._stopped.wait()

    async def shutdown(self) -> None:
        if self._stopped is None or self._stopped.is_set():
            return
        logger.info("Initiating Shutdown...")
        if self._js_timer is not None:
            self._js_timer.cancel()
        if self._listener is not None:
            self._listener.close()
        for conn in list(self.conns.values()):
            self.flush()
            conn._close("Server Shutdown")
        if self._monitor is not None:
            await self._monitor.cleanup()
            self._monitor = None
        if self._listener is not None:
            try:
                await asyncio.wait_for(self._listener.wait_closed(), 2)
            except TimeoutError:
                pass
        if self.jetstream is not None:
            self.jetstream.stop()
        logger.info("Server Exiting..")
        self._stopped.set()

    async def lame_duck_mode(self) -> None:
        """SIGUSR2: stop accepting, tell clients (INFO ldm), close them over the period."""
        if self.lame_duck:
            return
        o = self.opts
        self.lame_duck = True
        logger.info("Entering lame duck mode, stop accepting new clients")
        if self._listener is not None:
            self._listener.close()
        self.broker.info["ldm"] = True
        for conn in list(self.conns.values()):
            c = conn.client
            if c is not None and c.opts.protocol >= wire.PROTO_INFO:
                c.send(self.broker.info_line(c))
        self.flush()
        grace = o.lame_duck_grace_period / _NS
        duration = max(o.lame_duck_duration / _NS - grace, 0.0)
        logger.info("Closing existing clients in %gs", grace)
        await asyncio.sleep(grace)  # the grace period itself is the specified behaviour
        # Close the clients spread over the rest of the period; once the last
        # one is gone, shut down at once (nats-server does not wait it out).
        conns = list(self.conns.values())
        step = duration / len(conns) if conns else 0.0
        for i, conn in enumerate(conns):
            conn._close("Server Shutdown")
            if step and i < len(conns) - 1:
                await asyncio.sleep(step)
        await self.shutdown()

    # -- output -------------------------------------------------------------
    def schedule_flush(self) -> None:
        if not self.flush_scheduled and self.loop is not None:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write every dirty connection's queued bytes: one write per connection."""
        self.flush_scheduled = False
        broker = self.broker
        js = self.jetstream
        if js is not None and (broker.dirty or js.held_acks):
            # Group commit: this turn's writes reach the disk before its PubAcks
            # (held in the service until then) are queued.
            js.sync()
        self.write_dirty()

    def write_dirty(self) -> None:
        """Write every dirty connection's queued bytes now (no sync: the caller
        knows nothing queued waits for one)."""
        broker = self.broker
        dirty = broker.dirty
        if not dirty:
            return
        broker.dirty = []
        max_pending = self.opts.max_pending
        for c in dirty:
            conn = c.shell
            if conn.closing:
                c.out.clear()
                continue
            tls = conn.tls
            if tls is not None and not c.tls:
                continue  # the handshake re-queues it once it is done
            t = conn.transport
            out = c.out
            if out:
                if t.get_write_buffer_size() + len(out) > max_pending:
                    self.slow_consumers += 1
                    logger.info("%s - Slow Consumer Detected: MaxPending of %d Exceeded",
                                conn._label(), max_pending)
                    out.clear()
                    conn._close("Slow Consumer (Pending Bytes)", abort=True)
                    continue
                if tls is None:
                    t.write(bytes(out))
                else:
                    tls.write(bytes(out))
                    conn._tls_send_raw()
                out.clear()
            if c.close_reason is not None:
                conn._close(c.close_reason)

    def on_closed(self, conn: _Conn, reason: str) -> None:
        c = conn.client
        if c is None:
            return
        self.conns.pop(c.cid, None)
        self.broker.fold_stats()  # counts of fast-path deliveries land on c and its subs
        snap = {"client": c, "reason": reason, "stop": _now(), "subs": list(c.subs.values())}
        self.broker.remove_client(c)
        self.closed.append(snap)
        if len(self.closed) > 10000:  # Go keeps MaxClosedClients = 10000
            del self.closed[: len(self.closed) - 10000]
        logger.debug("%s - Client connection closed: %s", conn._label(), reason)


def _install_signals(loop: asyncio.AbstractEventLoop, server: Server) -> None:
    def stop(name: str) -> None:
        logger.info('Trapped "%s" signal', name)
        loop.create_task(server.shutdown())

    for sig, name in ((signal.SIGINT, "interrupt"), (signal.SIGTERM, "terminated")):
        loop.add_signal_handler(sig, stop, name)
    if hasattr(signal, "SIGUSR2"):
        loop.add_signal_handler(signal.SIGUSR2, lambda: loop.create_task(server.lame_duck_mode()))


async def _main(opts: Options) -> int:
    server = Server(opts)
    await server.start()
    if opts.pid_file:
        with open(opts.pid_file, "w") as f:
            f.write(str(os.getpid()))
    _install_signals(asyncio.get_running_loop(), server)
    await server.wait_stopped()
    return 0


def run(opts: Options) -> int:
    """Run a server until a signal stops it (the ``natsd`` command)."""
    setup(debug=opts.debug, trace=opts.trace, logtime=opts.logtime, log_file=opts.log_file)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        runner = asyncio.run
    return runner(_main(opts))
