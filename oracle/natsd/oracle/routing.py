"""The routing area: subscriptions, queue groups, auto-unsubscribe, who gets a PUB.

Operations (over connections ``0..CONNS-1``; an op on a closed connection opens
it first, with ``CONNECT {"verbose":false,"pedantic":false,"headers":true}``):

* ``Connect(conn)``: open a fresh connection in slot ``conn`` (an open one is
  closed first: a reconnect);
* ``Disconnect(conn)``: close it (its subscriptions must go);
* ``Sub(conn, subject, queue, sid)``; ``Unsub(conn, sid, max)``;
* ``Pub(conn, subject, reply, payload)``.

Subjects come from a three-token alphabet so that patterns collide often, with
``*`` and ``>``, some invalid patterns (``a..b``, ``a.>.b``: -ERR 'Invalid
Subject' from every server) and some odd publish subjects (``a.*``, ``a..b``:
routed literally, since the connection is not pedantic).

Observation (:class:`RoutingObs`) of one op: every message delivered to any
connection, as ``(conn, sid, subject, reply, payload)``, sorted (fan-out order
is not a contract); the -ERR lines; connections the server closed; any other
frame. Which member of a queue group received a message is nondeterministic by
definition: the model adopts the implementation's pick after checking it is a
member of that group (see :func:`model_step`), so the comparison stays exact.

Harnesses:

* ``core``: a sans-IO :class:`natsd.server.core.Broker`, one ``Client`` per
  connection, fed the exact protocol bytes; ``client.out`` parsed after each op.
* ``wire``: a natsd subprocess; one raw socket per connection. After each op a
  PING goes to the acting connection, then to every other one, and each is read
  up to its PONG: whatever the op caused has then arrived (a delivery is queued
  to the receiver before the publisher's PONG, and the receiver's PONG after it).
* ``differential``: natsd and the Go nats-server side by side, same ops, same
  reads; each compared with its own copy of the model.

The wire harnesses read the subscription table through the monitoring endpoint
``/subsz?subs=1`` (both servers serve it) for the invariants, and after closing
a connection wait until its subscriptions have left that table, so that a later
queue delivery cannot pick a member the server has not yet dropped.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import msgspec
from hypothesis import strategies as st

from natsd.model.routing import RoutingModel, Subscription
from natsd.oracle.base import Area, Harness, HarnessKind, Op, register, weighted

__all__ = [
    "AREA",
    "CONNECT",
    "CONNS",
    "Connect",
    "CoreHarness",
    "Delivery",
    "DifferentialHarness",
    "Disconnect",
    "Pub",
    "RoutingObs",
    "RoutingOp",
    "RoutingState",
    "Sub",
    "Unsub",
    "WireHarness",
    "encode_op",
    "model_step",
]

CONNS = 3
SIDS = ("1", "2", "3", "4")
TOKENS = ("a", "b", "c")
QUEUES = ("q", "r")
PAYLOADS = ("", "x", "hello")
INVALID_PATTERNS = ("a..b", ".a", "a.", "..", ">.a", "a.>.b", "*.>.c")
ODD_PUB_SUBJECTS = ("a.*", "*", ">", "a.>", "b.*.c", "a..b", ".a")

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'

# ---------------------------------------------------------------------------- ops


class Connect(Op, frozen=True):
    conn: int


class Disconnect(Op, frozen=True):
    conn: int


class Sub(Op, frozen=True):
    conn: int
    subject: str
    queue: str | None = None
    sid: str = "1"


class Unsub(Op, frozen=True):
    conn: int
    sid: str
    max: int | None = None


class Pub(Op, frozen=True):
    conn: int
    subject: str
    reply: str | None = None
    payload: str = ""


RoutingOp = Connect | Disconnect | Sub | Unsub | Pub


def encode_op(op: Op) -> bytes:
    """The protocol bytes of an op (Connect/Disconnect have none)."""
    if isinstance(op, Sub):
        q = f" {op.queue}" if op.queue is not None else ""
        return f"SUB {op.subject}{q} {op.sid}\r\n".encode()
    if isinstance(op, Unsub):
        m = f" {op.max}" if op.max is not None else ""
        return f"UNSUB {op.sid}{m}\r\n".encode()
    if isinstance(op, Pub):
        data = op.payload.encode()
        r = f" {op.reply}" if op.reply is not None else ""
        return f"PUB {op.subject}{r} {len(data)}\r\n".encode() + data + b"\r\n"
    return b""


# --------------------------------------------------------------------- strategy
#
# A step of the state machine is six choices for Hypothesis: "stop here?", "is
# the rule enabled?", then the op. Its shrinker deletes at most five consecutive
# choices at a time, so a step is deletable in one move only if the op takes at
# most three: the op kind, a subject, and one pick from a table of the other
# arguments (connection included). Tables list the simplest entries first
# (shrinking moves towards index 0) and repeat entries to weight them.


def _by_length(subjects: list[str]) -> list[str]:
    # shorter subjects more often: 1 token x4, 2 tokens x2, 3 or more x1
    out: list[str] = []
    for n, times in ((1, 4), (2, 2), (3, 1)):
        out += [s for s in subjects if min(s.count(".") + 1, 3) == n] * times
    return sorted(out, key=lambda s: (s.count("."), s))


def _subjects(alphabet: tuple[str, ...], max_len: int) -> list[str]:
    out = [""]
    result = []
    for _ in range(max_len):
        out = [f"{p}.{t}" if p else t for p in out for t in alphabet]
        result += out
    return result


LITERALS = _by_length(_subjects(TOKENS, 3))
PATTERNS = _by_length(
    [s for s in _subjects((*TOKENS, "*"), 3)] + [f"{p}.>" for p in _subjects((*TOKENS, "*"), 2)] + [">"]
)
SUB_SUBJECTS = PATTERNS + list(INVALID_PATTERNS) * 2
PUB_SUBJECTS = LITERALS + list(ODD_PUB_SUBJECTS)
_CONN_IDS = range(CONNS)
#: (conn, queue, sid): plain twice as often as queue
CONN_QUEUE_SID = [(c, None, s) for s in SIDS for c in _CONN_IDS] * 2 + [
    (c, q, s) for q in QUEUES for s in SIDS for c in _CONN_IDS
]
#: (conn, sid, max): no max a third of the time
CONN_SID_MAX = [(c, s, None) for s in SIDS for c in _CONN_IDS] * 2 + [
    (c, s, m) for m in range(4) for s in SIDS for c in _CONN_IDS
]
#: (conn, reply, payload)
CONN_REPLY_PAYLOAD = [
    (c, r, p)
    for r, p in [(None, p) for p in PAYLOADS] * 2 + [("r", ""), ("a", "x"), ("a.b", ""), ("b.c.a", "hello")]
    for c in _CONN_IDS
]

_conn = st.integers(0, CONNS - 1)
_sub = st.builds(
    lambda subject, cqs: Sub(cqs[0], subject, cqs[1], cqs[2]),
    st.sampled_from(SUB_SUBJECTS), st.sampled_from(CONN_QUEUE_SID),
)
_unsub = st.builds(lambda csm: Unsub(*csm), st.sampled_from(CONN_SID_MAX))
_pub = st.builds(
    lambda subject, crp: Pub(crp[0], subject, crp[1], crp[2]),
    st.sampled_from(PUB_SUBJECTS), st.sampled_from(CONN_REPLY_PAYLOAD),
)
_connect = st.builds(Connect, _conn)
_disconnect = st.builds(Disconnect, _conn)

#: Sub and Pub a third each, Unsub a sixth, Connect and Disconnect a twelfth each.
OPS = weighted((4, _pub), (4, _sub), (2, _unsub), (1, _connect), (1, _disconnect))

# ------------------------------------------------------------------ observation


class Delivery(msgspec.Struct, frozen=True, repr_omit_defaults=True):
    conn: int
    sid: str
    subject: str
    reply: str | None = None
    payload: str = ""

    def key(self) -> tuple:
        return (self.conn, self.sid, self.subject, self.reply or "", self.payload)


class RoutingObs(msgspec.Struct, frozen=True, repr_omit_defaults=True):
    deliveries: tuple[Delivery, ...] = ()  # sorted
    errors: tuple[tuple[int, str], ...] = ()  # (conn, -ERR text), sorted
    closed: tuple[int, ...] = ()  # connections the server closed
    other: tuple[tuple[int, str], ...] = ()  # any other frame (none expected)


def make_obs(
    deliveries: list[Delivery] | None = None,
    errors: list[tuple[int, str]] | None = None,
    closed: list[int] | None = None,
    other: list[tuple[int, str]] | None = None,
) -> RoutingObs:
    return RoutingObs(
        deliveries=tuple(sorted(deliveries or (), key=Delivery.key)),
        errors=tuple(sorted(errors or ())),
        closed=tuple(sorted(closed or ())),
        other=tuple(sorted(other or ())),
    )


class RoutingState(msgspec.Struct, frozen=True):
    """What the invariants read from an implementation.

    ``subs``: the sids each open connection holds (conn -1 collects the
    subscriptions of connections this harness closed: there must be none).
    ``index_count`` / ``index_empty``: the sublist's count and whether its trie
    is empty (core harness only).
    """

    subs: dict[int, frozenset[str]]
    index_count: int | None = None
    index_empty: bool | None = None


# ------------------------------------------------------------------------ model


def model_step(model: RoutingModel, op: Op, impl: RoutingObs) -> RoutingObs:
    """Apply ``op`` to the model; ``impl`` is used only to follow the
    implementation's pick of a queue-group member (when it is a member)."""
    if isinstance(op, Disconnect):
        model.disconnect(op.conn)
        return make_obs()
    if isinstance(op, Connect):
        model.connect(op.conn)
        return make_obs()
    if op.conn not in model.connections:
        model.connect(op.conn)
    if isinstance(op, Sub):
        err = model.subscribe(op.conn, op.subject, op.queue, op.sid)
        return make_obs(errors=[(op.conn, err)] if err else None)
    if isinstance(op, Unsub):
        model.unsubscribe(op.conn, op.sid, op.max)
        return make_obs()
    if isinstance(op, Pub):
        got = {(d.conn, d.sid) for d in impl.deliveries}

        def choose(queue: str, members: list[Subscription]) -> Subscription:
            for m in members:
                if (m.conn, m.sid) in got:
                    return m
            return members[0]  # the implementation delivered to no member: the comparison fails

        out = model.publish(op.conn, op.subject, op.reply, op.payload, choose)
        return make_obs(deliveries=[Delivery(c, s, subj, r, p) for c, s, subj, r, p in out])
    raise TypeError(f"not a routing op: {op!r}")


def describe(expected: RoutingObs, impl: RoutingObs) -> str:
    """The difference between two observations, for the divergence message."""
    want, got = Counter(expected.deliveries), Counter(impl.deliveries)
    lines = []
    missing = want - got
    extra = got - want
    if missing:
        lines.append("missing deliveries: " + ", ".join(repr(d) for d in missing.elements()))
    if extra:
        lines.append("unexpected deliveries: " + ", ".join(repr(d) for d in extra.elements()))
    for name in ("errors", "closed", "other"):
        a, b = getattr(expected, name), getattr(impl, name)
        if a != b:
            lines.append(f"{name}: model {a!r}, implementation {b!r}")
    return "\n".join(lines)


def subs_agree(model: RoutingModel, state: RoutingState) -> str | None:
    """Every connection holds exactly the sids the model says: nothing it
    unsubscribed, nothing of a closed connection."""
    want = model.sids()
    got = {c: s for c, s in state.subs.items() if s}
    if want == got:
        return None
    parts = []
    for conn in sorted(set(want) | set(got)):
        w, g = want.get(conn, frozenset()), got.get(conn, frozenset())
        if w != g:
            who = "closed connections" if conn == -1 else f"conn {conn}"
            parts.append(f"{who}: model {sorted(w)}, implementation {sorted(g)}")
    return "; ".join(parts)


def index_consistent(model: RoutingModel, state: RoutingState) -> str | None:
    """The index counts every subscription once; with none left it is empty (routing.remove.prune)."""
    if state.index_count is None:
        return None
    total = len(model.subs)
    if state.index_count != total:
        return f"sublist count {state.index_count}, model holds {total} subscriptions"
    if total == 0 and state.index_empty is False:
        return "no subscriptions left but the sublist trie is not empty"
    return None


# ------------------------------------------------------------------ frame parser


def _parse_msg(conn: int, line: bytes, payload: bytes) -> Delivery:
    parts = line.decode("latin-1").split()
    reply = parts[3] if len(parts) == 5 else None
    return Delivery(conn, parts[2], parts[1], reply, payload.decode("latin-1"))


def take_frames(buf: bytearray) -> list[tuple[bytes, bytes | None]]:
    """Consume the complete frames at the front of ``buf``: ``(line, payload)``
    where payload is None for non-MSG lines. An incomplete frame stays in ``buf``."""
    frames = []
    pos = 0
    n = len(buf)
    while pos < n:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            break
        line = bytes(buf[pos:eol])
        if line.startswith((b"MSG ", b"HMSG ")):
            try:
                size = int(line.split()[-1])
            except ValueError:
                frames.append((line, None))
                pos = eol + 2
                continue
            end = eol + 2 + size
            if end + 2 > n:
                break
            frames.append((line, bytes(buf[eol + 2 : end])))
            pos = end + 2
        else:
            frames.append((line, None))
            pos = eol + 2
    del buf[:pos]
    return frames


def _classify(conn: int, frames, deliveries: list, errors: list, other: list) -> None:
    for line, payload in frames:
        if payload is not None and line.startswith(b"MSG "):
            deliveries.append(_parse_msg(conn, line, payload))
        elif line.startswith(b"-ERR "):
            text = line[5:].decode("latin-1").strip()
            if len(text) >= 2 and text[0] == text[-1] == "'":
                text = text[1:-1]
            errors.append((conn, text))
        elif line.startswith(b"INFO"):
            continue  # async INFO is not part of routing
        else:
            other.append((conn, line.decode("latin-1")))


# ------------------------------------------------------------------ core harness


class CoreHarness(Harness):
    """The sans-IO Broker in process, one Client per connection slot."""

    sides = ("core",)

    def __init__(self) -> None:
        from natsd.server.core import Broker

        self.broker = Broker()
        self.clients: dict[int, Any] = {}
        self.now = 0

    def _open(self, conn: int) -> None:
        if conn in self.clients:
            self._close(conn)
        self.now += 1_000_000
        c = self.broker.new_client(self.now)
        self.clients[conn] = c
        c.receive(CONNECT)

    def _close(self, conn: int) -> None:
        c = self.clients.pop(conn, None)
        if c is not None:
            self.broker.remove_client(c)

    def apply(self, op: Op) -> dict[str, RoutingObs]:
        other: list = []
        if isinstance(op, Disconnect):
            self._close(op.conn)
        elif isinstance(op, Connect) or op.conn not in self.clients:
            self._open(op.conn)
        if not isinstance(op, (Connect, Disconnect)):
            self.now += 1_000_000
            self.clients[op.conn].receive(encode_op(op))
        deliveries: list = []
        errors: list = []
        closed: list = []
        for conn, c in list(self.clients.items()):
            if c.out:
                buf = bytearray(c.out)
                c.out.clear()  # in place: the broker's delivery cache holds this bytearray
                _classify(conn, take_frames(buf), deliveries, errors, other)
                if buf:
                    other.append((conn, f"<partial {bytes(buf)!r}>"))
            if c.close_reason is not None:
                closed.append(conn)
                self._close(conn)
        self.broker.dirty.clear()
        return {"core": make_obs(deliveries, errors, closed, other)}

    def state(self) -> dict[str, RoutingState]:
        sl = self.broker.sublist
        subs = {
            conn: frozenset(sid.decode("latin-1") for sid in c.subs) for conn, c in self.clients.items()
        }
        # the trie's emptiness is internal to the sublist; the oracle may look
        return {"core": RoutingState(subs, sl.count, sl._root.is_empty())}

    def close(self) -> None:
        for conn in list(self.clients):
            self._close(conn)


@contextlib.contextmanager
def core_session() -> Iterator[Any]:
    yield CoreHarness


# ------------------------------------------------------------------ wire harness

IO_TIMEOUT = 10.0


class HarnessError(RuntimeError):
    """The server did not answer as the protocol requires (timeout, reset)."""


class _Conn:
    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.subscribed = False  # sent a SUB: closing must wait for the server's cleanup
        line = self._read_line()
        info = json.loads(line[4:].strip() or b"{}")
        self.cid = int(info.get("client_id", 0))

    def _read_line(self) -> bytes:
        deadline = time.monotonic() + IO_TIMEOUT
        while b"\r\n" not in self.buf:
            self._recv(deadline)
            if self.eof:
                raise HarnessError(f"server closed before INFO: {bytes(self.buf)[:200]!r}")
        eol = self.buf.index(b"\r\n")
        line = bytes(self.buf[:eol])
        del self.buf[: eol + 2]
        return line

    def _recv(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise HarnessError("timed out waiting for the server")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
        except TimeoutError:
            raise HarnessError("timed out waiting for the server") from None
        if not data:
            self.eof = True
        self.buf += data

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.eof = True

    def read_to_pong(self) -> list[tuple[bytes, bytes | None]]:
        """Frames up to the next PONG (excluded); answers server PINGs; stops at EOF."""
        deadline = time.monotonic() + IO_TIMEOUT
        out: list = []
        while True:
            for line, payload in take_frames(self.buf):
                if payload is None and line == b"PONG":
                    return out
                if payload is None and line == b"PING":
                    self.send(b"PONG\r\n")
                    continue
                out.append((line, payload))
            if self.eof:
                return out
            self._recv(deadline)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class _Monitor:
    """A keep-alive HTTP client for the server's monitoring port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.http: http.client.HTTPConnection | None = None

    def get(self, path: str) -> dict:
        for attempt in range(2):
            if self.http is None:
                self.http = http.client.HTTPConnection("127.0.0.1", self.port, timeout=IO_TIMEOUT)
            try:
                self.http.request("GET", path)
                resp = self.http.getresponse()
                body = resp.read()
                return json.loads(body)
            except (OSError, http.client.HTTPException):
                self.http.close()
                self.http = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def subs_by_cid(self) -> dict[int, set[str]]:
        data = self.get("/subsz?subs=1&acc=%24G&limit=100000")
        out: dict[int, set[str]] = {}
        for d in data.get("subscriptions_list") or ():
            out.setdefault(int(d.get("cid", 0)), set()).add(str(d.get("sid", "")))
        return out

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None


class _WireSide:
    """One server seen over the wire: one socket per connection slot."""

    def __init__(self, srv: Any, monitor: _Monitor) -> None:
        self.srv = srv
        self.monitor = monitor
        self.conns: dict[int, _Conn] = {}
        self.closed_cids: set[int] = set()
        self.pending: dict[int, list] = {}

    def _open(self, conn: int) -> None:
        if conn in self.conns:
            self._close(conn)
        c = _Conn(self.srv.host, self.srv.port)
        self.conns[conn] = c
        c.send(CONNECT)

    def _close(self, conn: int) -> None:
        c = self.conns.pop(conn)
        c.close()
        if c.subscribed:
            self.closed_cids.add(c.cid)
            self._wait_gone({c.cid})

    def _wait_gone(self, cids: set[int]) -> None:
        """Wait until the server dropped every subscription of ``cids``."""
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            left = set(self.monitor.subs_by_cid()) & cids
            if not left:
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"the server kept the subscriptions of closed connections {sorted(left)}")
            time.sleep(0.002)

    def begin(self, op: Op) -> None:
        """Send the op (and a PING) on the acting connection."""
        if isinstance(op, Disconnect):
            if op.conn in self.conns:
                self._close(op.conn)
            self.acting = None
            return
        if isinstance(op, Connect) or op.conn not in self.conns:
            self._open(op.conn)
        c = self.conns[op.conn]
        if isinstance(op, Sub):
            c.subscribed = True
        c.send(encode_op(op) + b"PING\r\n")
        self.acting = op.conn

    def finish(self) -> RoutingObs:
        """Read the acting connection to its PONG, then PING every other one."""
        deliveries: list = []
        errors: list = []
        closed: list = []
        other: list = []
        order = [self.acting] if self.acting is not None else []
        if self.acting is not None:
            self._drain(self.acting, deliveries, errors, closed, other)
        rest = [conn for conn in self.conns if conn not in order]
        for conn in rest:
            self.conns[conn].send(b"PING\r\n")
        for conn in rest:
            self._drain(conn, deliveries, errors, closed, other)
        return make_obs(deliveries, errors, closed, other)

    def _drain(self, conn: int, deliveries, errors, closed, other) -> None:
        c = self.conns[conn]
        _classify(conn, c.read_to_pong(), deliveries, errors, other)
        if c.eof:
            closed.append(conn)
            self.conns.pop(conn).close()
            self.closed_cids.add(c.cid)

    def state(self) -> RoutingState:
        by_cid = self.monitor.subs_by_cid()
        cid_conn = {c.cid: conn for conn, c in self.conns.items()}
        subs: dict[int, set[str]] = {conn: set() for conn in self.conns}
        for cid, sids in by_cid.items():
            if cid in cid_conn:
                subs[cid_conn[cid]] |= sids
            elif cid in self.closed_cids:
                subs.setdefault(-1, set()).update(f"cid{cid}:{s}" for s in sids)
        return RoutingState({k: frozenset(v) for k, v in subs.items()})

    def close(self) -> None:
        cids = {c.cid for c in self.conns.values() if c.subscribed}
        for c in self.conns.values():
            c.close()
        self.conns.clear()
        if cids:
            # the next example must not meet these subscriptions (queue groups!)
            self._wait_gone(cids)


class WireHarness(Harness):
    """natsd (or any server) over TCP; ``sides`` names each server."""

    def __init__(self, servers: dict[str, tuple[Any, _Monitor]], *, invariants: bool = True) -> None:
        self.sides = tuple(servers)
        self._sides = {name: _WireSide(srv, mon) for name, (srv, mon) in servers.items()}
        self.check_state = invariants

    def apply(self, op: Op) -> dict[str, RoutingObs]:
        for side in self._sides.values():
            side.begin(op)
        return {name: side.finish() for name, side in self._sides.items()}

    def state(self) -> dict[str, RoutingState] | None:
        if not self.check_state:
            return None
        return {name: side.state() for name, side in self._sides.items()}

    def close(self) -> None:
        for side in self._sides.values():
            side.close()


class DifferentialHarness(WireHarness):
    """natsd and the Go nats-server, the same ops to both."""


@contextlib.contextmanager
def _servers(kinds: dict[str, str]) -> Iterator[dict[str, tuple[Any, _Monitor]]]:
    from natsd.oracle.wire import launch

    started: dict[str, tuple[Any, _Monitor]] = {}
    try:
        for side, kind in kinds.items():
            srv = launch(kind=kind, monitor=True)
            started[side] = (srv, _Monitor(srv.http_port))
        yield started
    finally:
        for srv, mon in started.values():
            mon.close()
            srv.stop()


@contextlib.contextmanager
def wire_session() -> Iterator[Any]:
    with _servers({"natsd": "natsd"}) as servers:
        yield lambda: WireHarness(servers)


@contextlib.contextmanager
def differential_session() -> Iterator[Any]:
    with _servers({"natsd": "natsd", "go": "go"}) as servers:
        yield lambda: DifferentialHarness(servers)


# ------------------------------------------------------------------------ faults


@contextlib.contextmanager
def _fault_stale_cache() -> Iterator[None]:
    """Sublist insert/remove skip invalidation: cached match results go stale
    (and the broker's delivery cache, keyed on the sublist generation, with them)."""
    from natsd.subjects.sublist import Sublist

    saved = Sublist._invalidate
    Sublist._invalidate = lambda self, subject: None
    try:
        yield
    finally:
        Sublist._invalidate = saved


@contextlib.contextmanager
def _fault_no_reset_fast() -> Iterator[None]:
    """The broker never drops its per-subject delivery cache."""
    from natsd.server.core import Broker

    saved = Broker.reset_fast

    def reset_fast(self) -> None:
        self.fast_gen = self.sublist.genid

    Broker.reset_fast = reset_fast
    try:
        yield
    finally:
        Broker.reset_fast = saved


@contextlib.contextmanager
def _fault_queue_all() -> Iterator[None]:
    """Every queue-group member receives the message (not just one)."""
    from natsd.server import core

    saved = core.Client._deliver_rest

    def deliver_rest(self, ent, subj, reply, tail, size, hdr):
        delivered = False
        for members in ent[2]:
            for c, sub, prefix in members:
                if not sub.closed:
                    self._deliver_one(c, sub, prefix, subj, reply, tail, size, hdr)
                    delivered = True
        rest = list(ent)
        rest[2] = []
        return saved(self, rest, subj, reply, tail, size, hdr) or delivered

    core.Client._deliver_rest = deliver_rest
    try:
        yield
    finally:
        core.Client._deliver_rest = saved


# ------------------------------------------------------------------------- area

AREA = register(
    Area(
        name="routing",
        title="Subject routing: subscriptions, wildcards, queue groups, auto-unsubscribe",
        op_type=RoutingOp,
        ops=OPS,
        new_model=RoutingModel,
        model_step=model_step,
        invariants=(("subs_agree", subs_agree), ("index_consistent", index_consistent)),
        describe=describe,
        harnesses={
            "core": HarnessKind("core", "in-process sans-IO Broker, one Client per connection", core_session,
                                in_process=True),
            "wire": HarnessKind("wire", "a natsd subprocess over raw TCP (PING/PONG sync)", wire_session),
            "differential": HarnessKind(
                "differential", "natsd and the Go nats-server over raw TCP, each checked against the model",
                differential_session,
            ),
        },
        faults={
            "stale-cache": _fault_stale_cache,
            "no-reset-fast": _fault_no_reset_fast,
            "queue-all": _fault_queue_all,
        },
    )
)
