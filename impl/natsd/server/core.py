"""The sans-IO core of the client protocol: connections, parsing, routing.

Mirrors nats-server parser.go (``client.parse``) and client.go
(``processPub``, ``processHeaderPub``, ``parseSub``, ``processUnsub``,
``processConnect``, ``processInboundClientMsg``, ``deliverMsg``).

Theory of operation
-------------------
``Broker`` owns the subscription index (``Sublist``) and every ``Client``.
The asyncio shell hands each connection's bytes to ``Client.receive(data)``.
Receiving never touches a socket: its effects are

- bytes appended to ``client.out`` of this and other clients (MSG, +OK,
  -ERR, PONG, ...); a client whose ``out`` went from empty to non-empty is
  appended to ``broker.dirty`` so the shell writes each connection once per
  loop turn;
- ``client.close_reason`` set when the connection must close (after ``out``
  has been flushed), as the Go server closes after its last -ERR.

The parser follows Go's byte state machine where behaviour depends on it
(an unknown op fails at the first bad byte, before any CRLF; PING ignores
anything up to LF; CR inside an argument drops the last byte) but works a
line at a time: ``bytes.find`` locates LF, the common ``PUB``/``HPUB``
forms take a fast path, everything else goes through ``_slow_op`` which
replays Go's states exactly.

Delivery uses a per-broker cache: subject bytes -> the ready-made frame
prefixes (``MSG <subject> <sid>``) of every matching subscription. The tail
of the frame (`` [reply] <size>\\r\\n<payload>\\r\\n``) is one slice of the
publisher's input, so a delivery is two ``bytearray`` appends. The cache is
dropped whenever the sublist's generation changes. Subjects that nearly never
repeat (``$JS.ACK.`` acks, ``_INBOX.`` replies) get a small cache of their own
so they cannot push the long-lived entries out; acks are routed with one
sublist result per consumer (``Broker._ack_route``). A ``PUB`` line not yet in
the line cache is parsed by ``_quick_pub`` when it has the plain form, and is
learned only when it is likely to come again.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import msgspec

from natsd.protocol import wire
from natsd.server.auth import (
    SYS_QUEUE_GROUP,
    go_quote,
    is_reserved_publish,
    is_reserved_reply,
    new_nonce,
    pub_violation,
    reply_violation,
    sub_violation,
)
from natsd.server.log import TRACE
from natsd.server.log import logger as _log
from natsd.subjects.sublist import InvalidSubjectError, Sublist, Subscription
from natsd.subjects.validate import is_valid_literal_subject

__all__ = ["Broker", "Client", "ConnectOpts", "InternalClient"]

_rand = random.random
# Subject prefixes that are nearly always unique: consumer acks and reply inboxes.
_VOLATILE = (b"$JS.ACK.", b"_INBOX.")

# Go op names and what follows them: "spc" = one space/tab then arguments,
# "opt" = optional spaces then arguments, "ign" = ignore up to LF.
_OPS = {
    "PUB": "spc", "HPUB": "spc", "HMSG": "spc", "SUB": "spc", "UNSUB": "spc", "-ERR": "spc",
    "CONNECT": "opt", "INFO": "opt",
    "PING": "ign", "PONG": "ign", "+OK": "ign",
}
_PREFIXES = {name[:i] for name in _OPS for i in range(1, len(name))}


class ConnectOpts(msgspec.Struct):
    """CONNECT fields (client.go ClientOpts); defaults are Go's defaultOpts."""

    verbose: bool = True
    pedantic: bool = True
    echo: bool = True
    tls_required: bool = False
    headers: bool = False
    no_responders: bool = False
    protocol: int = 0
    name: str = ""
    lang: str = ""
    version: str = ""
    user: str = ""
    password: str = msgspec.field(default="", name="pass")
    auth_token: str = ""
    nkey: str = ""
    sig: str = ""
    jwt: str = ""
    account: str = ""
    new_account: bool = False


_CONNECT_FIELDS = {f.encode_name: f.name for f in msgspec.structs.fields(ConnectOpts)}
_CONNECT_FOLDED = {k.lower(): k for k in _CONNECT_FIELDS}


def _merge_connect(current: ConnectOpts, arg: bytes) -> ConnectOpts:
    """Decode CONNECT JSON on top of the current options, as Go's json.Unmarshal
    into the existing ClientOpts does: omitted and null fields keep their value,
    keys match case-insensitively, unknown keys are ignored, wrong types fail."""
    raw = msgspec.json.decode(arg)
    if raw is None:
        return current
    if not isinstance(raw, dict):
        raise msgspec.ValidationError("CONNECT argument is not an object")
    merged = msgspec.to_builtins(current)
    for key, value in raw.items():
        if value is None:
            continue
        name = key if key in _CONNECT_FIELDS else _CONNECT_FOLDED.get(key.lower())
        if name is not None:
            merged[name] = value
    return msgspec.convert(merged, ConnectOpts)


class _Close(Exception):
    """Raised inside receive(): stop parsing; the connection closes."""


class _KeepPending(Exception):
    """Raised inside receive(): stop parsing; ``_pending`` is already set."""


def _split_pub_args(arg: bytes) -> list[bytes]:
    # processPub/processHeaderPub split on space and tab only
    return [a for a in arg.replace(b"\t", b" ").split(b" ") if a]


def _split_arg(arg: bytes) -> list[bytes]:
    # splitArg: space, tab, CR and LF separate arguments
    arg = arg.replace(b"\t", b" ").replace(b"\r", b" ").replace(b"\n", b" ")
    return [a for a in arg.split(b" ") if a]


def _parse_size(b: bytes) -> int:
    # util.go parseSize: 1..9 ASCII digits, else -1
    if 0 < len(b) <= 9 and b.isdigit():
        return int(b)
    return -1


class Client:
    """One client connection's protocol state (sans-IO)."""

    internal = False  # see InternalClient

    def __init__(self, broker: Broker, cid: int, now: int, ip: str = "", port: int = 0) -> None:
        self.broker = broker
        self.cid = cid
        self.ip = ip
        self.port = port
        self.start = now
        self.last_activity = now
        self.out = bytearray()
        self.close_reason: str | None = None
        self.subs: dict[bytes, Subscription] = {}
        # CONNECT state
        self.connected = False
        self.awaiting_auth = broker.auth_required
        self.opts = ConnectOpts()
        self.verbose = True  # Go's defaultOpts apply before any CONNECT
        self.pedantic = True
        self.echo = True
        self.headers = False
        self.no_responders = False
        self.user = ""
        self.account = "$G"
        self.perms = None
        self.trace = broker.trace  # -V: log every op in and out (slow path only)
        self.first_pong_sent = False
        self.nonce = broker.new_nonce() if broker.nonce_needed else ""
        self.tls = False
        self.shell = None  # the asyncio connection object owning this client
        # counters (for /connz and /varz)
        self.in_msgs = 0
        self.in_bytes = 0
        self.out_msgs = 0
        self.out_bytes = 0
        self.pings_out = 0
        self.rtt = 0
        # parser state
        self._pending = b""  # unparsed input (a partial line)
        self._chunks: list[bytes] | None = None  # payload being collected
        self._have = 0
        self._pa: tuple | None = None  # (subject, reply, hdr, size, head) awaiting payload
        self._lines: dict[bytes, tuple] = {}  # validated PUB/HPUB lines -> parsed args

    # -- output helpers ---------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.close_reason is not None:
            return
        if self.trace:
            self._trace_out(data)
        if not self.out:
            self.broker.dirty.append(self)
        self.out += data

    def send_err(self, text: str) -> None:
        self.send(wire.err_line(text))

    def close(self, reason: str) -> None:
        """Ask the shell to close after flushing what is queued."""
        if self.close_reason is None:
            if not self.out:
                self.broker.dirty.append(self)
            self.close_reason = reason

    def _fail(self, reason: str, err: str | None = None) -> None:
        if err is not None:
            self.send_err(err)
        self.close(reason)
        raise _Close

    # -- input ------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        if self.close_reason is not None:
            return
        try:
            self._receive(data)
        except _Close:
            self._pending = b""
            self._chunks = None
        except _KeepPending:
            pass

    def _receive(self, data: bytes) -> None:
        if self._chunks is not None:
            self._chunks.append(data)
            self._have += len(data)
            subj, reply, hdr, size, head = self._pa
            if self._have < size + 2:
                if self._have == size + 1 and data and data[-1] != 13:
                    self._fail("Parse Error", wire.ERR_UNKNOWN_OP)
                return
            buf = b"".join(self._chunks)
            self._chunks = None
            self._pa = None
            if buf[size] != 13 or buf[size + 1] != 10:
                self._fail("Parse Error", wire.ERR_UNKNOWN_OP)
            self._inbound(subj, reply, head + buf[: size + 2], size, hdr)
            pos = size + 2
        else:
            if self._pending:
                buf = self._pending + data
                self._pending = b""
            else:
                buf = data
            pos = 0
        n = len(buf)
        lcache = self._lines
        broker = self.broker
        sl = broker.sublist
        dirty = broker.dirty
        nmsgs = nbytes = 0
        try:
            while pos < n:
                nl = buf.find(b"\n", pos)
                pa = lcache.get(buf[pos:nl]) if nl > 0 else None
                if pa is None and nl > 0:
                    pa = self._quick_pub(buf, pos, nl)
                if pa is None:
                    newpos = self._slow_op(buf, pos)
                    if newpos < 0:
                        if self._chunks is None:
                            self._pending = buf[pos:]
                        return
                    pos = newpos
                    continue
                # fast path: a PUB/HPUB line seen before, already validated
                subj, reply, hdr, size, skip, simple_ok = pa
                end = nl + 1 + size
                if end + 2 > n:
                    self._await_payload(subj, reply, hdr, size, buf[pos + skip : nl + 1], buf, nl + 1)
                    return
                if buf[end] != 13 or buf[end + 1] != 10:
                    self._fail("Parse Error", wire.ERR_UNKNOWN_OP)
                tail = buf[pos + skip : end + 2]
                pos = end + 2
                if not simple_ok:
                    self._inbound(subj, reply, tail, size, hdr)
                    continue
                nmsgs += 1
                nbytes += size
                if sl.genid != broker.fast_gen:
                    broker.reset_fast()
                ent = (broker.fast if hdr < 0 else broker.fast_h).get(subj)
                if ent is None:
                    ent = broker.entry(subj, hdr >= 0)
                simple = ent[0]
                if simple:
                    ent[3] += 1
                    ent[4] += size
                    for ob, c, prefix in simple:
                        if not ob:
                            dirty.append(c)
                        ob += prefix
                        ob += tail
                if ent[1] or ent[2]:
                    self._deliver_rest(ent, subj, reply, tail, size, hdr)
                elif not simple and reply is not None and self.no_responders:
                    self._no_responders(subj, reply)
        finally:
            if nmsgs:
                self.in_msgs += nmsgs
                self.in_bytes += nbytes

    def _quick_pub(self, buf: bytes, pos: int, nl: int) -> tuple | None:
        """A plain ``PUB subj [reply] size\\r`` line not in the line cache, parsed
        without the byte state machine; None when ``_slow_op`` must decide.

        Ack subjects and reply inboxes make most such lines unique, so the line
        is learned only when it is likely to come again."""
        if buf[pos : pos + 4] != b"PUB " or self.awaiting_auth or self.trace or self.pedantic:
            return None
        line = buf[pos + 4 : nl - 1]
        if buf[nl - 1] != 13 or len(line) > self.broker.max_control_line or b"\r" in line or b"\t" in line:
            return None
        args = line.split(b" ")
        na = len(args)
        if na == 2:
            subj, sz = args
            reply = None
        elif na == 3:
            subj, reply, sz = args
            if not reply:
                return None
        else:
            return None
        if not subj or not sz.isdigit() or len(sz) > 9:
            return None
        size = int(sz)
        if size > self.broker.max_payload:
            return None
        pa = (subj, reply, -1, size, 4 + len(subj), self._line_simple_ok(subj, reply))
        if not (subj.startswith(_VOLATILE) or (reply is not None and reply.startswith(_VOLATILE))):
            lines = self._lines
            if len(lines) >= 512:
                lines.clear()
            lines[buf[pos:nl]] = pa
        return pa

    def _learn_line(self, name, arg, buf, after, subj, reply, hdr, size) -> None:
        # Remember a well-formed line ("PUB a [r] n\r" with single spaces) so the
        # next identical line skips parsing. Only lines whose bytes alone decide
        # the outcome are cached (size limits and pedantic checks passed).
        line_start = after - 1 - len(arg) - 1 - len(name) - 1
        if self.trace or line_start < 0 or buf[after - 2] != 13:
            return
        line = buf[line_start : after - 1]
        expect = name.encode() + b" " + arg + b"\r"
        if line != expect or b"\t" in arg or b"\r" in arg or b"  " in arg:
            return
        lines = self._lines
        if len(lines) >= 512:
            lines.clear()
        lines[line] = (subj, reply, hdr, size, len(name) + 1 + len(subj), self._line_simple_ok(subj, reply))

    def _line_simple_ok(self, subj: bytes, reply: bytes | None) -> bool:
        # True when _inbound's checks cannot refuse this line (they depend on
        # its bytes and on options that clear the line cache when they change),
        # so the parse loop may route it itself.
        return (self.perms is None and not self.verbose and not self.trace and (self.echo or not self.subs)
                and not (subj[:1] in (b"_", b"$") and is_reserved_publish(subj.decode("latin-1")))
                and not (reply is not None and reply[:1] in (b"_", b"$")
                         and is_reserved_reply(reply.decode("latin-1"))))

    def _await_payload(self, subj, reply, hdr, size, head, buf, start) -> None:
        self._pa = (subj, reply, hdr, size, head)
        rest = buf[start:]
        self._chunks = [rest]
        self._have = len(rest)
        if self._have > size and rest[size] != 13:
            self._chunks = None
            self._fail("Parse Error", wire.ERR_UNKNOWN_OP)

    # -- the general parser ----------------------------------------------
    def _slow_op(self, buf: bytes, pos: int) -> int:
        """Parse one op at ``pos`` as Go's state machine does.

        Returns the position after the op, or -1 when more input is needed
        (the caller keeps ``buf[pos:]``). Raises _Close on a fatal error.
        """
        n = len(buf)
        i = pos
        if self.awaiting_auth and buf[i] not in (67, 99):  # 'C' / 'c'
            if not self._try_no_auth_user():
                self._fail("Authentication Failure", wire.ERR_AUTH_VIOLATION)
        name = ""
        kind = None
        while kind is None:
            if i >= n:
                return -1
            ch = buf[i]
            if 97 <= ch <= 122:
                ch -= 32
            cand = name + chr(ch)
            kind = _OPS.get(cand)
            if kind is None and cand not in _PREFIXES:
                self._fail("Parse Error", wire.ERR_UNKNOWN_OP)
            name = cand
            i += 1
        if kind == "ign":
            nl = buf.find(b"\n", i)
            if nl < 0:
                if n - i > 64:
                    # Go keeps no junk after PING/PONG/+OK: neither do we.
                    self._pending = name.encode()
                    self._chunks = None
                    raise _KeepPending
                return -1
            self._simple_op(name)
            return nl + 1
        if kind == "spc":
            if i >= n:
                return -1
            if buf[i] != 32 and buf[i] != 9:
                self._fail("Parse Error", wire.ERR_UNKNOWN_OP)
            i += 1
        while i < n and (buf[i] == 32 or buf[i] == 9):
            i += 1
        if i >= n:
            return -1
        start = i
        nl = buf.find(b"\n", start + 1)
        mcl = self.broker.max_control_line
        if nl < 0:
            drop = 1 if buf.find(b"\r", start + 1) >= 0 else 0
            if n - start - drop > mcl:
                self._fail("Maximum Control Line Exceeded", wire.ERR_MAX_CONTROL_LINE)
            return -1
        drop = 1 if buf.find(b"\r", start + 1, nl) >= 0 else 0
        arg = buf[start : nl - drop]
        if len(arg) > mcl:
            self._fail("Maximum Control Line Exceeded", wire.ERR_MAX_CONTROL_LINE)
        after = nl + 1
        if self.trace:
            self._trace_in(name, arg)
        if name == "PUB" or name == "HPUB":
            return self._pub_args(name, arg, buf, after)
        if name == "HMSG":
            # A client HMSG is accepted by Go's parser with a zero-length body
            # that must be followed by CRLF; it routes nothing.
            if after + 2 > n:
                if after < n and buf[after] != 13:
                    self._fail("Parse Error", wire.ERR_UNKNOWN_OP)
                return -1
            if buf[after] != 13 or buf[after + 1] != 10:
                self._fail("Parse Error", wire.ERR_UNKNOWN_OP)
            if self.verbose:
                self.send(wire.OK)
            return after + 2
        if name == "SUB":
            self._sub(arg)
        elif name == "UNSUB":
            self._unsub(arg)
        elif name == "CONNECT":
            self._connect(arg)
        elif name == "INFO":
            try:
                msgspec.json.decode(arg)
            except msgspec.DecodeError:
                self._fail("Parse Error")
        elif name == "-ERR":
            self._fail("Parse Error")
        return after

    # -- tracing (-V), in the Go server's words -----------------------------
    def _label(self) -> str:
        return f"{self.ip}:{self.port} - cid:{self.cid}"

    def _trace_in(self, name: str, arg: bytes | None) -> None:
        text = name if not arg else f"{name} {arg.decode('latin-1')}"
        _log.log(TRACE, "%s - <<- [%s]", self._label(), text)

    def _trace_out(self, data: bytes) -> None:
        line = data.split(b"\r\n", 1)[0].decode("latin-1")
        if line.startswith("-ERR "):
            line = "-ERR " + line[5:].strip("'")
        elif line == "+OK":
            line = "OK"
        _log.log(TRACE, "%s - ->> [%s]", self._label(), line)

    def _simple_op(self, name: str) -> None:
        if self.trace:
            self._trace_in(name, None)
        if name == "PING":
            self.send(wire.PONG)
            if self.connected and not self.first_pong_sent:
                self.first_pong_sent = True
                if self.opts.protocol >= wire.PROTO_INFO:
                    self.send(self.broker.info_line(self, connect_info=True))
        elif name == "PONG":
            self.pings_out = 0

    def _pub_args(self, name: str, arg: bytes, buf: bytes, after: int) -> int:
        if name == "HPUB" and not self.headers:
            self._fail("Parse Error")
        args = _split_pub_args(arg)
        na = len(args)
        if name == "PUB":
            if na != 2 and na != 3:
                self._fail("Parse Error")
            hdr = -1
            size = _parse_size(args[-1])
            if size < 0:
                self._fail("Parse Error")
        else:
            if na != 3 and na != 4:
                self._fail("Parse Error")
            hdr = _parse_size(args[-2])
            size = _parse_size(args[-1])
            if hdr < 0 or size < 0 or hdr > size:
                self._fail("Parse Error")
        if size > self.broker.max_payload:
            self._fail("Maximum Payload Exceeded", wire.ERR_MAX_PAYLOAD)
        subj = args[0]
        reply = args[1] if na == (3 if hdr < 0 else 4) else None
        if hdr == 0:
            hdr = -1  # Go delivers an HPUB without header bytes as a plain MSG
            args = args[:-2] + args[-1:]
        if self.pedantic and not is_valid_literal_subject(subj.decode("latin-1")):
            self.send_err(wire.ERR_INVALID_PUB_SUBJECT)
        else:
            self._learn_line(name, arg, buf, after, subj, reply, hdr, size)
        # the frame head delivered after "MSG <subj> <sid>"
        head = b" " + (reply + b" " if reply is not None else b"")
        head += (args[-2] + b" " + args[-1] if hdr >= 0 else args[-1]) + b"\r\n"
        n = len(buf)
        end = after + size
        if end + 2 > n:
            self._await_payload(subj, reply, hdr, size, head, buf, after)
            return n
        if buf[end] != 13 or buf[end + 1] != 10:
            self._fail("Parse Error", wire.ERR_UNKNOWN_OP)
        self._inbound(subj, reply, head + buf[after : end + 2], size, hdr)
        return end + 2

    # -- ops --------------------------------------------------------------
    def _try_no_auth_user(self) -> bool:
        result = self.broker.auth_no_user()
        if result is None:
            return False
        self._authorized(result)
        return True

    def _authorized(self, result) -> None:
        self.awaiting_auth = False
        self.user = getattr(result, "user", "") or ""
        self.perms = getattr(result, "permissions", None)
        self.account = getattr(result, "account", None) or "$G"

    def _connect(self, arg: bytes) -> None:
        try:
            opts = _merge_connect(self.opts, arg)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._fail("Parse Error")
        self.opts = opts
        self._lines.clear()  # cached lines were judged under the previous options
        self.echo = opts.echo
        self.verbose = opts.verbose
        self.pedantic = opts.pedantic
        self.headers = opts.headers
        self.no_responders = opts.no_responders
        broker = self.broker
        if broker.auth_required or self.awaiting_auth:
            result = broker.authenticate(msgspec.to_builtins(opts), self)
            if result is None:
                self._fail("Authentication Failure", wire.ERR_AUTH_VIOLATION)
            self._authorized(result)
        if opts.account or opts.new_account:
            self._fail("Authentication Failure", wire.ERR_AUTH_VIOLATION)
        if not self.connected:
            self.rtt = self.last_activity - self.start  # Go: computeRTT(c.start) at CONNECT
        self.connected = True
        if opts.protocol < 0 or opts.protocol > 1:
            self._fail("Bad Client Protocol Version", wire.ERR_BAD_PROTOCOL)
        if opts.no_responders and not opts.headers:
            self._fail("No Responders Requires Headers", wire.ERR_NO_RESPONDERS_HEADERS)
        if opts.verbose:
            self.send(wire.OK)

    def _sub(self, arg: bytes) -> None:
        args = _split_arg(arg)
        if len(args) == 2:
            subj, queue, sid = args[0], None, args[1]
        elif len(args) == 3:
            subj, queue, sid = args
        else:
            self._fail("Parse Error")
        broker = self.broker
        subject = subj.decode("latin-1")
        qname = queue.decode("latin-1") if queue is not None else None
        if qname == SYS_QUEUE_GROUP or (self.perms is not None and not self.perms.can_subscribe(subject, qname)):
            self.send_err(sub_violation(subject, qname))
            return
        if sid in self.subs:
            if self.verbose:
                self.send(wire.OK)
            return
        if broker.max_subscriptions and len(self.subs) >= broker.max_subscriptions:
            self.send_err(wire.ERR_MAX_SUBS)
            return
        sub = Subscription(self, subject, qname, sid)
        try:
            broker.sublist.insert(sub)
        except InvalidSubjectError:
            self.send_err(wire.ERR_INVALID_SUBJECT)
            return
        self.subs[sid] = sub
        if not self.echo:
            self._lines.clear()  # lines learned while this client had no subs skip the echo check
        if self.verbose:
            self.send(wire.OK)

    def _unsub(self, arg: bytes) -> None:
        args = _split_arg(arg)
        if len(args) == 1:
            sid, mx = args[0], -1
        elif len(args) == 2:
            sid, mx = args[0], _parse_size(args[1])
        else:
            self._fail("Parse Error")
        sub = self.subs.get(sid)
        if sub is not None:
            if mx > 0:
                self.broker.fold_stats()  # sub.nm must count fast-path deliveries too
            if mx > 0 and mx > sub.nm:
                sub.max = mx
                self.broker.sublist.genid += 1  # delivery entries must now count this sub
            else:
                self.unsubscribe(sub)
        if self.verbose:
            self.send(wire.OK)

    def unsubscribe(self, sub: Subscription) -> None:
        if self.subs.pop(sub.sid, None) is not None:
            sub.closed = True
            self.broker.sublist.remove(sub)

    # -- routing ------------------------------------------------------------
    def _inbound(self, subj: bytes, reply: bytes | None, tail: bytes, size: int, hdr: int) -> None:
        """Route one message. ``tail`` = `` [reply] [hdr] size\\r\\n<payload>\\r\\n``."""
        self.in_msgs += 1
        self.in_bytes += size
        if self.trace:
            start = tail.index(b"\n") + 1
            payload = tail[start : start + size].decode("latin-1")
            _log.log(TRACE, "%s - <<- MSG_PAYLOAD: [%s]", self._label(), go_quote(payload))
        if self.verbose:
            self.send(wire.OK)
        perms = self.perms
        if perms is not None:
            subject = subj.decode("latin-1")
            if not perms.can_publish(subject):
                self.send_err(pub_violation(subject))
                return
        if reply is not None and reply[:1] in (b"_", b"$") and is_reserved_reply(reply.decode("latin-1")):
            self.send_err(reply_violation(reply.decode("latin-1")))
            return
        if subj[:1] in (b"_", b"$") and is_reserved_publish(subj.decode("latin-1")):
            self.send_err(pub_violation(subj.decode("latin-1")))
            return
        self._route(subj, reply, tail, size, hdr)

    def _route(self, subj: bytes, reply: bytes | None, tail: bytes, size: int, hdr: int) -> None:
        """Deliver a message that passed the publisher's checks to its subscribers."""
        broker = self.broker
        ent = broker.entry(subj, hdr >= 0)
        simple = ent[0]
        echo = self.echo
        delivered = False
        if simple:
            dirty = broker.dirty
            if not echo:
                simple = [t for t in simple if t[1] is not self]
            for ob, c, prefix in simple:
                if not ob:
                    dirty.append(c)
                ob += prefix
                ob += tail
            if simple:
                delivered = True
                if len(simple) == len(ent[0]):
                    ent[3] += 1
                    ent[4] += size
                else:
                    for _, c, _ in simple:
                        c.out_msgs += 1
                        c.out_bytes += size
                    for sub in ent[5]:
                        if sub.client is not self:
                            sub.nm += 1
        if ent[1] or ent[2]:
            delivered = self._deliver_rest(ent, subj, reply, tail, size, hdr) or delivered
        elif not delivered and reply is not None and self.no_responders:
            self._no_responders(subj, reply)

    def _deliver_rest(self, ent: list, subj, reply, tail, size, hdr) -> bool:
        """Subscriptions that need per-delivery work: auto-unsubscribe, no
        header support, queue groups, or an echo-off publisher's own subs."""
        delivered = False
        echo = self.echo
        for c, sub, prefix in ent[1]:
            if sub.closed or (c is self and not echo):
                continue
            if c.internal and c.perms is None and not sub.max:
                # _deliver_one for an internal subscriber, without the calls
                c.dispatch(sub, subj, reply, tail, size, hdr)
                c.out_msgs += 1
                c.out_bytes += size
                sub.nm += 1
            else:
                self._deliver_one(c, sub, prefix, subj, reply, tail, size, hdr)
            delivered = True
        for members in ent[2]:
            c, sub, prefix = members[int(_rand() * len(members))]
            if sub.closed or (c is self and not echo):
                live = [m for m in members if not m[1].closed and (echo or m[0] is not self)]
                if not live:
                    continue
                c, sub, prefix = live[int(_rand() * len(live))]
            if sub.max or c.internal or c.trace or c.perms is not None or (hdr >= 0 and not c.headers):
                self._deliver_one(c, sub, prefix, subj, reply, tail, size, hdr)
            else:
                ob = c.out
                if not ob:
                    self.broker.dirty.append(c)
                ob += prefix
                ob += tail
                c.out_msgs += 1
                c.out_bytes += size
                sub.nm += 1
            delivered = True
        if delivered:
            return True
        if not ent[0] and reply is not None and self.no_responders:
            self._no_responders(subj, reply)
        return False

    @staticmethod
    def _deliver_one(c: Client, sub: Subscription, prefix, subj, reply, tail, size, hdr) -> None:
        if c.perms is not None and c.perms.has_sub_deny and c.perms.delivery_denied(
            subj.decode("latin-1"), sub.queue
        ):
            return
        if c.internal:
            c.dispatch(sub, subj, reply, tail, size, hdr)
        elif hdr >= 0 and not c.headers:
            # A client that did not negotiate headers gets the payload only, as MSG.
            nl = tail.index(b"\n")
            body = tail[nl + 1 + hdr : nl + 1 + size]
            head = b"MSG " + subj + b" " + sub.sid + (b" " + reply if reply is not None else b"")
            c.send(head + b" " + str(len(body)).encode() + b"\r\n" + body + b"\r\n")
        else:
            c.send(prefix + tail)
        c.out_msgs += 1
        c.out_bytes += size
        sub.nm += 1
        if sub.max and sub.nm >= sub.max:
            c.unsubscribe(sub)

    def _no_responders(self, subj: bytes, reply: bytes) -> None:
        r = self.broker.sublist.match(reply.decode("latin-1"))
        for s in r.psubs:
            if s.client is self:
                self.send(wire.no_responders_msg(reply, s.sid, subj))
                return

    def on_closed(self) -> None:
        """Drop this client's subscriptions (called by the shell once)."""
        for sub in list(self.subs.values()):
            sub.closed = True
            self.broker.sublist.remove(sub)
        self.subs.clear()


Handler = Callable[[Subscription, bytes, "bytes | None", "bytes | None", bytes], None]


class InternalClient(Client):
    """A client inside the server (JetStream API, stream ingest, advisories).

    Its subscriptions call ``handler(sub, subject, reply, headers, payload)``
    synchronously, during the publisher's ``receive``; what the handler
    publishes is routed at once, like any client's message. Nothing is ever
    written to a socket for it.
    """

    internal = True

    def __init__(self, broker: Broker, cid: int, name: str) -> None:
        super().__init__(broker, cid, 0)
        self.name = name
        self.awaiting_auth = False
        self.connected = True
        self.verbose = self.pedantic = False
        self.headers = True
        self.handlers: dict[Subscription, Handler] = {}
        self._next_sid = 1

    def subscribe(self, subject: str, handler: Handler, queue: str | None = None) -> Subscription:
        sid = str(self._next_sid).encode()
        self._next_sid += 1
        sub = Subscription(self, subject, queue, sid)
        self.broker.sublist.insert(sub)  # raises InvalidSubjectError
        self.subs[sid] = sub
        self.handlers[sub] = handler
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        super().unsubscribe(sub)
        self.handlers.pop(sub, None)

    def publish(self, subject: bytes, payload: bytes, reply: bytes | None = None,
                headers: bytes | None = None) -> None:
        """Route a message of the server's own (framed as PUB/HPUB would be)."""
        if headers:
            hdr = len(headers)
            size = hdr + len(payload)
            if reply is not None:
                tail = b" %s %d %d\r\n%s%s\r\n" % (reply, hdr, size, headers, payload)
            else:
                tail = b" %d %d\r\n%s%s\r\n" % (hdr, size, headers, payload)
        else:
            hdr = -1
            size = len(payload)
            if reply is not None:
                tail = b" %s %d\r\n%s\r\n" % (reply, size, payload)
            else:
                tail = b" %d\r\n%s\r\n" % (size, payload)
        # the server's own messages: none of a client's checks (permissions,
        # reserved subjects, verbose, trace) applies to them
        self.in_msgs += 1
        self.in_bytes += size
        self._route(subject, reply, tail, size, hdr)

    def deliver(self, to: bytes, subject: bytes, payload: bytes, reply: bytes | None = None,
                headers: bytes | None = None) -> bool:
        """Route to the subscribers of ``to`` while the frame shows ``subject``.

        Go's internal JetStream send (``pa.deliver`` vs ``pa.subject``): a
        consumer delivers a stored message to a deliver/inbox subject keeping
        its own subject. Unlike ``publish`` the reply may be a reserved
        ``$JS.ACK.`` subject, as only clients are held to that rule. True when
        some subscription received it.
        """
        if headers:
            hdr = len(headers)
            size = hdr + len(payload)
            if reply is not None:
                tail = b" %s %d %d\r\n%s%s\r\n" % (reply, hdr, size, headers, payload)
            else:
                tail = b" %d %d\r\n%s%s\r\n" % (hdr, size, headers, payload)
            verb = b"HMSG "
        else:
            hdr = -1
            size = len(payload)
            if reply is not None:
                tail = b" %s %d\r\n%s\r\n" % (reply, size, payload)
            else:
                tail = b" %d\r\n%s\r\n" % (size, payload)
            verb = b"MSG "
        self.in_msgs += 1
        self.in_bytes += size
        r = self.broker.sublist.match(to.decode("latin-1"))
        psubs = r.psubs
        if len(psubs) == 1 and not r.qsubs:
            # The usual case (one inbox or deliver subject subscriber): _deliver_one inlined.
            sub = psubs[0]
            c = sub.client
            if sub.closed:
                return False
            if not (sub.max or c.internal or c.trace or c.perms is not None or (hdr >= 0 and not c.headers)):
                if c.close_reason is None:
                    ob = c.out
                    if not ob:
                        self.broker.dirty.append(c)
                    ob += verb + subject + b" " + sub.sid
                    ob += tail
                c.out_msgs += 1
                c.out_bytes += size
                sub.nm += 1
                return True
        targets = [s for s in psubs if not s.closed]
        for grp in r.qsubs:
            live = [s for s in grp if not s.closed]
            if live:
                targets.append(live[int(_rand() * len(live))])
        for sub in targets:
            self._deliver_one(sub.client, sub, verb + subject + b" " + sub.sid, subject, reply, tail, size, hdr)
        return bool(targets)

    def reaches_clients_only(self, subject: str) -> bool:
        """Does a message to ``subject`` go to client connections only (no internal
        subscriber, whose handler would run during the delivery)?"""
        r = self.broker.sublist.match(subject)
        return not any(s.client.internal for s in r.psubs) and not any(
            s.client.internal for grp in r.qsubs for s in grp)

    def dispatch(self, sub: Subscription, subj: bytes, reply: bytes | None, tail: bytes, size: int,
                 hdr: int) -> None:
        handler = self.handlers.get(sub)
        if handler is None:
            return
        start = tail.index(b"\n") + 1
        body = tail[start : start + size]
        if hdr > 0:
            handler(sub, subj, reply, body[:hdr], body[hdr:])
        else:
            handler(sub, subj, reply, None, body)


class Broker:
    """All clients of one server and the subscription index they share."""

    def __init__(
        self,
        *,
        max_payload: int = 1024 * 1024,
        max_control_line: int = 4096,
        max_subscriptions: int = 0,
        trace: bool = False,
        info: dict | None = None,
        authenticator=None,
    ) -> None:
        self.sublist = Sublist()
        self.clients: dict[int, Client] = {}
        self.internal_clients: dict[int, InternalClient] = {}
        self.dirty: list[Client] = []
        self.max_payload = max_payload
        self.max_control_line = max_control_line
        self.max_subscriptions = max_subscriptions
        self.trace = trace
        self.info = dict(info or {})
        self.authenticator = authenticator
        self.auth_required = bool(authenticator is not None and authenticator.required)
        self.nonce_needed = bool(authenticator is not None and authenticator.nonce_needed)
        self.next_cid = 1
        self.total_connections = 0
        self.out_msgs = 0
        self.fast: dict[bytes, list] = {}  # subject -> delivery entry (see build_entry)
        self.fast_h: dict[bytes, list] = {}  # the same for HPUB (HMSG frames)
        # Subjects that rarely come twice (acks, reply inboxes) get their own
        # small caches, so they never push the long-lived entries out.
        self.fast_v: dict[bytes, list] = {}
        self.fast_vh: dict[bytes, list] = {}
        self.fast_t: dict[tuple, object] = {}  # ack routes, see _ack_route
        self.fast_gen = -1

    # -- clients ----------------------------------------------------------
    def new_client(self, now: int, ip: str = "", port: int = 0) -> Client:
        cid = self.next_cid
        self.next_cid += 1
        c = Client(self, cid, now, ip, port)
        self.clients[cid] = c
        self.total_connections += 1
        return c

    def new_internal_client(self, name: str) -> InternalClient:
        cid = self.next_cid
        self.next_cid += 1
        c = InternalClient(self, cid, name)
        self.internal_clients[cid] = c
        return c

    def remove_client(self, c: Client) -> None:
        if self.clients.pop(c.cid, None) is not None:
            self.fold_stats()
            c.on_closed()

    def info_line(self, c: Client, *, connect_info: bool = False) -> bytes:
        info = dict(self.info)
        info["client_id"] = c.cid
        if c.ip:
            info["client_ip"] = c.ip
        if c.nonce:
            info["nonce"] = c.nonce
        if connect_info:
            info["connect_info"] = True
            info["remote_account"] = c.account
        if "api_lvl" in info:  # keep Go's field order: api_lvl after the client fields
            info["api_lvl"] = info.pop("api_lvl")
        return b"INFO " + msgspec.json.encode(info) + b" \r\n"

    # -- auth -------------------------------------------------------------
    def new_nonce(self) -> str:
        return new_nonce() if self.authenticator is not None else ""

    def authenticate(self, connect: dict, c: Client):
        if self.authenticator is None:
            return _NoAuth
        if not isinstance(connect, dict):
            return None
        return self.authenticator.check(connect, c.nonce or None)

    def auth_no_user(self):
        a = self.authenticator
        if a is None or not getattr(a, "no_auth_user", ""):
            return None
        return a.check({}, None)

    # -- routing ----------------------------------------------------------
    def reset_fast(self) -> None:
        """Drop the delivery cache (the sublist changed), keeping its counts."""
        self.fold_stats()
        self.fast.clear()
        self.fast_h.clear()
        self.fast_v.clear()
        self.fast_vh.clear()
        self.fast_t.clear()
        self.fast_gen = self.sublist.genid

    def fold_stats(self, caches: tuple | None = None) -> None:
        # Fast-path deliveries are counted per cache entry; move the counts
        # to the subscriptions and clients they belong to.
        for cache in caches or (self.fast, self.fast_h, self.fast_v, self.fast_vh):
            for ent in cache.values():
                cnt = ent[3]
                if cnt:
                    nb = ent[4]
                    for _, c, _ in ent[0]:
                        c.out_msgs += cnt
                        c.out_bytes += nb
                    for sub in ent[5]:
                        sub.nm += cnt
                    ent[3] = ent[4] = 0

    def entry(self, subj: bytes, headers: bool) -> list:
        if self.sublist.genid != self.fast_gen:
            self.reset_fast()
        ent = (self.fast_h if headers else self.fast).get(subj)
        if ent is None:
            ent = (self.fast_vh if headers else self.fast_v).get(subj)
            if ent is None:
                ent = self.build_entry(subj, headers)
        return ent

    def _ack_route(self, subj: bytes, headers: bool):
        """(sublist result, shared entry or None) for an ack subject, kept per
        (stream, consumer, token count) when only wildcards can match past the
        consumer name; None when the subject needs its own match.

        When every match is an internal subscription (the usual consumer ack
        subscription), frame prefixes are never used, so one entry serves
        every ack subject of the consumer and nothing is cached per ack."""
        toks = subj.split(b".")
        if len(toks) < 5 or not all(toks):
            return None
        key = (toks[2], toks[3], len(toks), headers)
        t = self.fast_t.get(key)
        if t is None:
            if len(self.fast_t) >= 1024:
                self.fast_t.clear()
            r = self.sublist.match_wild_tail([tok.decode("latin-1") for tok in toks[:4]], len(toks))
            ent = None
            if r is not None and not r.qsubs and all(s.client.internal and not s.max for s in r.psubs):
                ent = [[], [(s.client, s, b"") for s in r.psubs], [], 0, 0, []]
            t = self.fast_t[key] = (r, ent)
        return t if t[0] is not None else None

    def build_entry(self, subj: bytes, headers: bool) -> list:
        """[simple, per-delivery, queue groups, count, bytes, simple subs].

        ``simple`` holds (out buffer, client, frame prefix) for subscriptions a
        message reaches with two appends; the others need per-delivery work.
        """
        volatile = subj.startswith(_VOLATILE)
        r = None
        if subj.startswith(b"$JS.ACK."):
            t = self._ack_route(subj, headers)
            if t is not None:
                r, shared = t
                if shared is not None:
                    return shared
        if r is None:
            r = self.sublist.match(subj.decode("latin-1"), not volatile)
        head = (b"HMSG " if headers else b"MSG ") + subj + b" "
        simple = []
        simple_subs = []
        rest = []
        for s in r.psubs:
            c = s.client
            if (s.max or c.internal or c.trace or (headers and not c.headers)
                    or (c.perms is not None and c.perms.has_sub_deny)):
                rest.append((c, s, head + s.sid))
            else:
                simple.append((c.out, c, head + s.sid))
                simple_subs.append(s)
        qlists = [[(s.client, s, head + s.sid) for s in grp] for grp in r.qsubs]
        ent = [simple, rest, qlists, 0, 0, simple_subs]
        if volatile:
            cache = self.fast_vh if headers else self.fast_v
            if len(cache) >= 256:
                self.fold_stats((cache,))
                cache.clear()
            cache[subj] = ent
            return ent
        cache = self.fast_h if headers else self.fast
        if len(cache) >= 4096:
            self.reset_fast()
            cache = self.fast_h if headers else self.fast
        cache[subj] = ent
        return ent


class _NoAuthResult:
    user = ""
    permissions = None
    account = "$G"


_NoAuth = _NoAuthResult()
