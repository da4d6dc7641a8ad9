"""Mirrors and sources within one server: copy an origin stream's messages into another.

Mirrors nats-server server/stream.go: ``setupMirrorConsumer``,
``processInboundMirrorMsg``, ``trySetupSourceConsumer``,
``processInboundSourceMsg``, ``genSourceHeader``,
``startingSequenceForSources``, ``sourceInfo``/``mirrorInfo``,
``scheduleSetupMirrorConsumerRetry``/``setupSourceConsumer`` (retry timing) and
``calculateRetryBackoff``.

Theory of operation
-------------------
Go reads an origin through an internal push consumer (flow control, a 1s
heartbeat) and processes what it delivers. Within one natsd server the origin
is a ``Stream`` in the same process, so a *cursor* (Go's ``sourceInfo``) reads
the origin's store directly, from the sequence after the last one it copied,
through the same filters and transforms. What Go's consumer would deliver,
the cursor loads; the visible results are the same: a mirror stores each
message at the origin's sequence and time (``Stream.process_msg(...,
lseq=seq-1, ts=ts)``) and turns origin gaps into deleted sequences
(``skip_msgs``); a source appends with a new sequence and the header
``Nats-Stream-Source: <origin> <origin seq> <filter> <transform dest>
<origin subject> <origin identity>``.

State, per stream with a mirror or sources (``_Replica``): one ``_Cursor``
per origin with the last origin sequence copied (``sseq``), the lag, when
the origin was last heard from (``last``; 0 = never, reported as active -1),
the last setup error, the failure count and when to try the setup next.
Only this module mutates it.

Time comes in as ``now``. As in Go, a cursor is set up 100ms after the
stream is created or the source added (Go adds 100-200ms of jitter; natsd
takes the lower bound), and a failed setup (origin missing: 404/10059 in
the info's ``error``) is retried after ``2s + backoff(fails) + 100ms``
with Go's backoff (10s per failure doubled, at most 2 minutes). While
connected, ``tick`` stands in for the consumer's heartbeat (``last`` moves
every second). If the origin is deleted, the heartbeats stop: after 10s
without one the cursor is set up again, which fails until the origin
returns.

``pump(now)`` copies what is new (at most ``BUDGET`` messages per cursor per
call, the rest on the next call) and returns the republished messages the
targets produced; the service calls it after each ingest and on every tick.

Intended differences from Go: no internal consumers exist (so none appear
in the origin's consumer count), copying is synchronous (a mirror is up to
date when the publisher's PubAck is sent, once set up), an origin
recreated under the same name is continued from the cursor's position
(Go 2.15 detects recreation by the stream identity). Not implemented:
external (cross-account/domain) origins (the info reports a setup error),
durable sourcing consumers, mirror direct gets. A counter stream sourcing
counters adds the difference per origin subject (``Stream._apply_counter``).

Spec rules: stream.mirror.replicates, stream.mirror.info, stream.dedupe.mirror,
stream.sources.stores, stream.sources.info.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from natsd.api import errors as E
from natsd.api._types import StreamConfig, StreamSource, StreamSourceInfo, SubjectTransformConfig
from natsd.api.errors import ApiError
from natsd.protocol.gotime import rfc3339nano
from natsd.store import StoreError
from natsd.subjects.validate import is_literal

from . import headers as H
from .stream import OutMsg, Stream
from .streamcfg import new_subject_transform

__all__ = ["Replication", "stream_identity", "BUDGET"]

_MS = 1_000_000
_S = 1_000_000_000
BUDGET = 4096  # messages per cursor per pump
_JITTER = 100 * _MS
_RETRY_THRESHOLD = 2 * _S  # sourceConsumerRetryThreshold
_RETRY_BACKOFF = 5 * _S  # retryBackOff
_RETRY_MAX = 120 * _S  # retryMaximum
_HEARTBEAT = 1 * _S  # sourceHealthHB
_STALLED = 10 * _S  # sourceHealthCheckInterval
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_log = logging.getLogger("natsd")


def stream_identity(created: int) -> str:
    """Go stream.identity: getHash of the creation time in RFC 3339 (8 base-62 characters)."""
    b = hashlib.sha256(rfc3339nano(created).encode()).digest()
    return "".join(_DIGITS[x % 62] for x in b[:8])


def _backoff(fails: int) -> int:
    return min(_RETRY_BACKOFF * fails * 2, _RETRY_MAX)


def _remove_prefixed(hdr: bytes | None, prefix: bytes) -> bytes | None:
    """Go removeHeaderIfPrefixPresent: drop every header line whose key starts with ``prefix``."""
    if not hdr or prefix not in hdr:
        return hdr
    lines = hdr.split(b"\r\n")
    kept = [ln for i, ln in enumerate(lines) if i == 0 or not ln.startswith(prefix)]
    out = b"\r\n".join(kept)
    return out if len(out) > len(H.EMPTY_HDR) else None


class _Cursor:
    """One origin being copied (Go sourceInfo)."""

    __slots__ = ("src", "iname", "filters", "trs", "sseq", "dseq", "lag", "last", "err", "fails",
                 "lreq", "next_try", "origin", "ident", "tried")

    def __init__(self, src: StreamSource, now: int) -> None:
        self.src = src
        trs = src.subject_transforms or []
        if trs:
            self.filters = [t.src or ">" for t in trs]
            source = "\f".join(t.src or ">" for t in trs)
            dest = "\f".join(t.dest or ">" for t in trs)
        else:
            self.filters = [src.filter_subject or ">"]
            source, dest = src.filter_subject or ">", ">"
        self.iname = f"{src.name} {source} {dest}"
        self.trs = [new_subject_transform(t.src or ">", t.dest) for t in trs]
        self.sseq = 0
        self.dseq = 0  # the last origin sequence delivered (Go si.sseq): 0 until one is copied
        self.lag = 0
        self.last = 0
        self.err: ApiError | None = None
        self.fails = 0
        self.lreq = 0
        self.next_try = now + _JITTER
        self.origin: Stream | None = None  # set while connected
        self.ident = ""
        self.tried = False

    def transform(self, subject: str) -> str:
        for tr in self.trs:
            if tr is None:
                continue
            t = tr.match(subject)
            if t is not None:
                return t
        return subject

    def info(self, now: int, *, mirror: bool) -> StreamSourceInfo:
        src = self.src
        trs = src.subject_transforms or []
        return StreamSourceInfo(
            name=src.name,
            external=src.external,
            lag=self.lag,
            seq=None if mirror else (self.dseq or None),
            active=now - self.last if self.last else -1,
            error=self.err,
            filter_subject=(src.filter_subject or None) if (self.tried or not mirror) else None,
            subject_transforms=[SubjectTransformConfig(src=t.src, dest=t.dest) for t in trs] or None,
        )


class _Replica:
    """The mirror or the sources of one stream."""

    def __init__(self, stream: Stream, now: int) -> None:
        self.stream = stream
        self.mirror: _Cursor | None = None
        self.sources: dict[str, _Cursor] = {}
        self.reconfigure(now)

    def reconfigure(self, now: int) -> None:
        cfg = self.stream.config
        if cfg.mirror is None:
            self.mirror = None
        elif self.mirror is None or self.mirror.src != cfg.mirror:
            self.mirror = _Cursor(cfg.mirror, now)
        current = self.sources
        wanted: dict[str, _Cursor] = {}
        fresh: list[_Cursor] = []
        for src in cfg.sources or []:
            c = _Cursor(src, now)
            old = current.get(c.iname)
            if old is not None:
                old.src = src
                wanted[c.iname] = old
            else:
                wanted[c.iname] = c
                fresh.append(c)
        self.sources = wanted
        if fresh:
            _starting_sequences(self.stream, fresh)


def _starting_sequences(stream: Stream, cursors: list[_Cursor]) -> None:
    """Go startingSequenceForSources: the newest Nats-Stream-Source per origin index name."""
    want = {c.iname: c for c in cursors}
    store = stream.store
    st = store.fast_state()
    if st.msgs == 0:
        return
    seq = st.last_seq
    while want and seq >= st.first_seq:
        try:
            sm = store.load_msg(seq)
        except StoreError:
            seq -= 1
            continue
        seq -= 1
        ss = H.slice_header(H.STREAM_SOURCE, sm.hdr)
        if not ss:
            continue
        fields = ss.decode("utf-8", "surrogateescape").split(" ")
        if len(fields) < 4:
            continue
        c = want.pop(" ".join((fields[0], fields[2], fields[3])), None)
        if c is not None and fields[1].isdigit():
            c.sseq = c.dseq = int(fields[1])
            c.ident = fields[5] if len(fields) >= 6 else ""


class Replication:
    """Every mirror and source of a JetStream service, driven by ``pump``/``tick``.

    ``lookup(name)`` returns the stream of that name, or None.
    """

    def __init__(self, lookup: Callable[[str], Stream | None]) -> None:
        self.lookup = lookup
        self.replicas: dict[str, _Replica] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    def add(self, stream: Stream, now: int) -> None:
        cfg = stream.config
        if cfg.mirror is not None or cfg.sources:
            self.replicas[cfg.name] = _Replica(stream, now)

    def update(self, stream: Stream, now: int) -> None:
        r = self.replicas.get(stream.config.name)
        if r is None or r.stream is not stream:
            self.replicas.pop(stream.config.name, None)
            self.add(stream, now)
            return
        r.reconfigure(now)
        if r.mirror is None and not r.sources:
            del self.replicas[stream.config.name]

    def remove(self, name: str) -> None:
        self.replicas.pop(name, None)

    # --- info -----------------------------------------------------------------------------------

    def mirror_info(self, name: str, now: int) -> StreamSourceInfo | None:
        r = self.replicas.get(name)
        if r is None or r.mirror is None:
            return None
        return r.mirror.info(now, mirror=True)

    def sources_info(self, name: str, now: int) -> list[StreamSourceInfo] | None:
        r = self.replicas.get(name)
        if r is None or not r.sources:
            return None
        return [c.info(now, mirror=False) for c in r.sources.values()]

    # --- time and copying -------------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        best = None
        for r in self.replicas.values():
            for c in _cursors(r):
                d = c.next_try if c.origin is None else c.last + _HEARTBEAT
                if best is None or d < best:
                    best = d
        return best

    def tick(self, now: int) -> list[OutMsg]:
        """Heartbeats, stall detection and setup retries; then copy what is new."""
        for r in self.replicas.values():
            for c in _cursors(r):
                if c.origin is None:
                    continue
                if self.lookup(c.src.name) is c.origin:
                    if now - c.last >= _HEARTBEAT:
                        c.last = now  # the origin's heartbeat
                elif now - c.last >= _STALLED:
                    c.origin = None  # heartbeats stopped: set the consumer up again
                    c.next_try = now
        return self.pump(now)

    def pump(self, now: int) -> list[OutMsg]:
        """Copy new origin messages into their mirrors and sources until nothing moves."""
        out: list[OutMsg] = []
        if not self.replicas:
            return out
        for _ in range(len(self.replicas) + 1):  # chains (A -> mirror B -> source C) settle in turns
            moved = False
            for r in list(self.replicas.values()):
                for c in list(_cursors(r)):
                    try:
                        if c is r.mirror:
                            moved |= self._pump_mirror(r, c, now)
                        else:
                            moved |= self._pump_source(r, c, now)
                    except Exception:  # we broke: keep the publisher and the other streams going
                        _log.exception("copying %s into %s failed", c.src.name, r.stream.config.name)
                        self._retry_later(c, now)
                out.extend(r.stream.drain_outbox())
            if not moved:
                break
        return out

    def _connect(self, r: _Replica, c: _Cursor, now: int) -> Stream | None:
        """Go's consumer create for a mirror/source: the origin, or None (retry later)."""
        if c.origin is not None:
            return c.origin if self.lookup(c.src.name) is c.origin else None
        if now < c.next_try:
            return None
        c.tried = True
        c.lreq = now
        origin = self.lookup(c.src.name) if c.src.external is None else None
        if origin is None or origin is r.stream:
            if c.src.external is not None:
                what = "external streams are not supported by natsd"
                c.err = (E.mirror_consumer_setup_failed(err=what) if c is r.mirror
                         else E.source_consumer_setup_failed(err=what))
            else:
                c.err = E.stream_not_found()
            c.fails += 1
            # the refusal comes back at once: Go waits out the 2s threshold from this request
            c.next_try = now + _RETRY_THRESHOLD + _backoff(c.fails) + _JITTER
            return None
        c.err = None
        c.fails = 0
        c.origin = origin
        c.last = now
        c.ident = stream_identity(origin.created)
        if c is r.mirror:
            _mirror_start(r.stream, c, origin, now)
        else:
            _source_start(r.stream, c, origin)
        return origin

    def _retry_later(self, c: _Cursor, now: int) -> None:
        c.origin = None
        c.lreq = now
        c.next_try = now + _RETRY_THRESHOLD + _JITTER

    def _next(self, c: _Cursor, origin: Stream):
        store = origin.store
        start = c.sseq + 1
        try:
            if len(c.filters) == 1:
                f = c.filters[0]
                return store.load_next_msg(f, not is_literal(f), start)
            return store.load_next_msg_multi(c.filters, start)
        except StoreError:
            return None

    def _pump_mirror(self, r: _Replica, c: _Cursor, now: int) -> bool:
        origin = self._connect(r, c, now)
        if origin is None:
            return False
        target = r.stream
        moved = False
        for _ in range(BUDGET):
            got = self._next(c, origin)
            if got is None:
                c.lag = 0
                return moved
            sm, seq = got
            tst = target.store.fast_state()
            last = tst.last_seq
            if seq <= last:  # already here (Go ignores older messages)
                c.sseq = seq
                continue
            # a gap becomes deleted sequences once the mirror has a position (even
            # an emptied one: first_seq set); a mirror never written jumps instead
            if seq > last + 1 and (last > 0 or tst.first_seq > 0):
                target.store.skip_msgs(last + 1, seq - last - 1, now=now)
            hdr = _remove_prefixed(sm.hdr, b"Nats-Expected-")
            hdr = _remove_prefixed(hdr, b"Nats-Batch-")
            res = target.process_msg(c.transform(sm.subject), hdr, sm.data, now, sourced=True,
                                     lseq=seq - 1, ts=sm.ts)
            if isinstance(res, ApiError) or res is None:
                self._retry_later(c, now)
                return moved
            c.sseq = seq
            c.last = now
            moved = True
        c.lag = _pending(origin, c)
        return moved

    def _pump_source(self, r: _Replica, c: _Cursor, now: int) -> bool:
        origin = self._connect(r, c, now)
        if origin is None:
            return False
        target = r.stream
        src = c.src
        source = "\f".join(t.src or ">" for t in src.subject_transforms or []) or (src.filter_subject or ">")
        dest = "\f".join(t.dest or ">" for t in src.subject_transforms or []) or ">"
        moved = False
        for _ in range(BUDGET):
            got = self._next(c, origin)
            if got is None:
                c.lag = 0
                return moved
            sm, seq = got
            hdr = H.remove_header(sm.hdr, H.STREAM_SOURCE)
            hdr = _remove_prefixed(hdr, b"Nats-Expected-")
            hdr = _remove_prefixed(hdr, b"Nats-Batch-")
            value = f"{src.name} {seq} {source} {dest} {sm.subject}"
            if c.ident:
                value += " " + c.ident
            hdr = H.gen_header(hdr, H.STREAM_SOURCE, value)
            res = target.process_msg(c.transform(sm.subject), hdr, sm.data, now, sourced=True)
            if isinstance(res, ApiError) or res is None:
                self._retry_later(c, now)
                return moved
            c.sseq = c.dseq = seq
            c.last = now
            moved = True
        c.lag = _pending(origin, c)
        return moved


def _cursors(r: _Replica):
    if r.mirror is not None:
        yield r.mirror
    yield from r.sources.values()


def _pending(origin: Stream, c: _Cursor) -> int:
    if len(c.filters) == 1:
        n, _ = origin.store.num_pending(c.sseq + 1, c.filters[0], False)
    else:
        n, _ = origin.store.num_pending_multi(c.sseq + 1, c.filters, False)
    return n


def _start_seq(origin: Stream, src: StreamSource, *, by_time: int | None = None) -> int:
    """The origin sequence a new consumer would start at (opt start seq / time / all)."""
    store = origin.store
    if src.opt_start_seq > 0:
        return src.opt_start_seq
    t = by_time
    if t is None and src.opt_start_time is not None:
        t = H.parse_rfc3339(src.opt_start_time)
    if t is not None:
        return store.get_seq_from_time(t)
    st = store.fast_state()
    return max(st.first_seq, 1)


def _mirror_start(target: Stream, c: _Cursor, origin: Stream, now: int) -> None:
    """Go setupMirrorConsumer: where to start, and the skips that keep sequences aligned."""
    store = target.store
    st = store.fast_state()
    if st.msgs == 0 and st.first_seq == 0:
        start = _start_seq(origin, c.src)
    else:
        start = st.last_seq + 1
    delivered = start - 1
    if st.last_seq < delivered:
        if st.msgs == 0:
            store.compact(delivered + 1)
        else:
            store.skip_msgs(st.last_seq + 1, delivered - st.last_seq, now=now)
    c.sseq = max(delivered, st.last_seq)


def _source_start(target: Stream, c: _Cursor, origin: Stream) -> None:
    """Go trySetupSourceConsumer: resume after the last copied sequence, else the options."""
    if c.sseq > 0:
        return
    src = c.src
    st = target.store.fast_state()
    by_time = None
    if src.opt_start_seq <= 0:
        if src.opt_start_time is not None:
            t = H.parse_rfc3339(src.opt_start_time)
            by_time = st.last_ts if st.last_ts and t < st.last_ts else t
        elif st.first_seq > 1 and st.last_ts:
            by_time = st.last_ts
    c.sseq = _start_seq(origin, src, by_time=by_time) - 1


def config_has_origins(cfg: StreamConfig) -> bool:
    return cfg.mirror is not None or bool(cfg.sources)
