"""The consumer core: one JetStream consumer as a synchronous state machine.

Mirrors nats-server server/consumer.go for a single server: ``selectStartingSeqNo``
(start position), ``getNextMsg`` / ``loopAndGatherMsgs`` / ``deliverMsg``
(delivery), ``processNextMsgRequest`` / ``nextReqFromMsg`` / ``nextWaiting`` /
``processWaiting`` (pull requests), ``processAck`` / ``processAckMsgLocked`` /
``processNak`` / ``processTerm`` / ``progressUpdate`` / ``moveAckFloor`` (acks),
``checkPending`` / ``hasMaxDeliveries`` (redelivery), ``sendIdleHeartbeat``,
``sendFlowControl`` / ``processFlowControl``, ``purge``, ``decStreamPending``,
``needAck`` (interest retention) and ``infoWithSnapAndReply``.

Theory of operation
-------------------
State: the checked ``cfg``; ``sseq`` (next stream sequence to look at) and
``dseq`` (next consumer sequence); the ack floor (``adflr``/``asflr``); the
pending map (stream seq -> [consumer seq, delivery ts]); delivery counts
above one (``rdc``); the redelivery queue (``rdq``); the cached number of
undelivered matching messages (``npc``); queued pull requests
(``waiting``); push interest (``active``) and flow-control bytes; timers as
absolute deadlines in ns. Nothing outside this class mutates it.

Inputs, each with ``now`` (int ns): ``on_stored``/``on_removed``/``on_purged``
(stream events), ``pull`` (a MSG.NEXT request), ``ack`` (a message on the
ack reply subject), ``flow_control`` (a reply to a FC request),
``set_interest`` (push deliver subject interest), ``on_timer`` (ack wait,
pull expiry and heartbeats, push heartbeats, pause end). Every input ends
with ``_gather(now)``, the body of Go's delivery loop, run until nothing more
can be delivered.

Outputs are queued, never sent: ``outbox`` holds ``OutMsg``s (deliveries,
status messages, ack replies, advisories) for the shell to publish in order,
and ``acked`` the stream sequences whose acknowledgement may let an
interest/workqueue stream drop them (the stream's consumer set decides).

Intended differences from Go: replay "original" delivers instantly (no
pacing) and rate_limit_bps is accepted but not enforced; the max_waiting
queue is pruned whenever it is full (Go: at most once a second); pull
inactivity is measured without Go's random jitter; priority groups are
accepted in the config but requests are served first-come (no pinning or
overflow gating).

Spec rules: consumer.deliver.*, consumer.ack.reply_subject, consumer.ack.none,
consumer.ack.explicit, consumer.ack.all, consumer.ack.bodies,
consumer.ack.nak_delay, consumer.ack.ack_ack, consumer.ack.out_of_range,
consumer.ack_wait.redeliver, consumer.backoff.delays, consumer.max_deliver,
consumer.max_ack_pending, consumer.nak.advisory, consumer.term.advisory,
consumer.heartbeat.push, consumer.flow_control.push, consumer.pull.body,
consumer.pull.no_reply, consumer.pull.push_consumer,
consumer.pull.heartbeat_too_large, consumer.pull.limits,
consumer.pull.no_wait, consumer.pull.expires, consumer.pull.max_bytes,
consumer.pull.max_waiting, consumer.pull.heartbeat,
consumer.pull.interest_gone, consumer.pull.lifecycle (delete),
consumer.pull.num_waiting, consumer.pause, consumer.inactive.delete,
consumer.stream_purge, consumer.stream_removed_pending, consumer.info.*.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import msgspec

from natsd.api import (
    ConsumerConfig,
    ConsumerDeliveryExceededAdvisory,
    ConsumerDeliveryNakAdvisory,
    ConsumerDeliveryTerminatedAdvisory,
    ConsumerInfo,
    SequenceInfo,
)
from natsd.api.gojson import encode_reply
from natsd.jetstream.consumercfg import DELETE_WAIT_DEFAULT, filters_of, is_durable, parse_time
from natsd.jetstream.headers import parse_headers
from natsd.protocol.gotime import go_duration, parse_go_duration, rfc3339nano
from natsd.store.base import ErrStoreEOF, StoreError, StoreMsg
from natsd.subjects.validate import is_literal, subject_matches_filter

__all__ = ["Consumer", "OutMsg", "StreamConsumers", "ack_reply_info"]

_MS = 1_000_000
_S = 1_000_000_000
FC_MAX_PENDING = 32 * 1024 * 1024  # JsFlowControlMaxPending
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TERM_LIMITS = "Message deleted by stream limits"
TERM_UNACKED_LIMITS = "Unacknowledged message was deleted"


class OutMsg(NamedTuple):
    """A message for the shell to publish: deliver to ``to``, show ``subject``."""

    to: str
    subject: str
    reply: str | None
    hdr: bytes | None
    data: bytes


class _Waiting:
    """One queued pull request (Go waitingRequest)."""

    __slots__ = ("reply", "n", "d", "b", "expires", "hb", "hbt", "no_wait", "received")

    def __init__(self, reply: str, n: int, b: int, expires: int, hb: int, no_wait: bool, now: int) -> None:
        self.reply = reply
        self.n = n
        self.d = 0
        self.b = b
        self.expires = expires  # 0 = never
        self.hb = hb
        self.hbt = now + hb if hb > 0 else 0
        self.no_wait = no_wait
        self.received = now


class _StoreState:
    """Go consumerMemStore's state: what ConsumerInfo reports as delivered and ack floor.

    Go keeps a second copy of the consumer state in its consumer store, updated
    by ``UpdateDelivered``/``UpdateAcks`` (and overwritten by ``Update`` after a
    purge or a pending cleanup); ConsumerInfo reads the ack floor (and, once
    there is state, the delivered pair) from it, so its rules are reproduced here.
    """

    __slots__ = ("ack_none", "max_deliver", "dc", "ds", "ac", "as_", "pending", "rd")

    def __init__(self, ack_none: bool, max_deliver: int) -> None:
        self.ack_none = ack_none
        self.max_deliver = max_deliver
        self.dc = self.ds = self.ac = self.as_ = 0
        self.pending: dict[int, int] = {}
        self.rd: dict[int, int] = {}

    def has_state(self) -> bool:
        return self.dc != 0 or self.ds != 0

    def set_starting(self, sseq: int) -> None:
        self.ds = self.as_ = sseq

    def delivered(self, dseq: int, sseq: int, dc: int) -> None:
        if dc != 1 and self.ack_none:
            return
        if dseq <= self.ac:
            return
        if not self.ack_none:
            if sseq > self.ds:
                self.pending[sseq] = dseq
            self.dc = max(self.dc, dseq)
            self.ds = max(self.ds, sseq)
            if dc > 1:
                if self.max_deliver > 0 and dc > self.max_deliver:
                    self.pending.pop(sseq, None)
                if self.rd.get(sseq, 0) < dc - 1:
                    self.rd[sseq] = dc - 1
        else:
            if dseq > self.dc:
                self.dc = self.ac = dseq
            if sseq > self.ds:
                self.ds = self.as_ = sseq

    def acks(self, dseq: int, sseq: int, ack_all: bool) -> None:
        if self.ack_none:
            return
        self.rd.pop(sseq, None)
        if dseq <= self.ac or sseq not in self.pending:
            return
        if ack_all:
            self.ac, self.as_ = dseq, sseq
            for seq in [q for q in self.pending if q <= sseq]:
                del self.pending[seq]
                self.rd.pop(seq, None)
            return
        p = self.pending.pop(sseq, None)
        if p is not None and dseq > p > 0:
            dseq = p
        if not self.pending:
            self.ac, self.as_ = self.dc, self.ds
        elif dseq == self.ac + 1:
            self.ac, self.as_ = dseq, sseq
            if self.dc > dseq:
                for ss in range(sseq + 1, self.ds + 1):
                    p = self.pending.get(ss)
                    if p is not None:
                        if p > 0:
                            self.ac, self.as_ = p - 1, ss - 1
                        break

    def sync(self, c: Consumer) -> None:
        """Go writeStoreState: the store takes the consumer's live state."""
        self.dc, self.ds, self.ac, self.as_ = c.dseq - 1, c.sseq - 1, c.adflr, c.asflr
        self.pending = {q: p[0] for q, p in c.pending.items()}
        self.rd = dict(c.rdc)


def _status(code: int, desc: str, pending: tuple[int, int] | None = None) -> bytes:
    if pending is None:
        return f"NATS/1.0 {code} {desc}\r\n\r\n".encode()
    return (f"NATS/1.0 {code} {desc}\r\nNats-Pending-Messages: {pending[0]}\r\n"
            f"Nats-Pending-Bytes: {pending[1]}\r\n\r\n").encode()


def ack_reply_info(subject: str) -> tuple[int, int, int, int, int]:
    """Go ackReplyInfo: (sseq, dseq, dc, ts, pending) from a v1 or v2 ack subject; zeros if not one."""
    toks = subject.split(".")
    n = len(toks)
    if (n != 9 and n < 11) or toks[0] != "$JS" or toks[1] != "ACK":
        return 0, 0, 0, 0, 0
    off = 4 if n >= 11 else 2

    def num(s: str) -> int:
        return int(s) if s.isdigit() and s.isascii() else -1

    dc, sseq, dseq = num(toks[off + 2]), num(toks[off + 3]), num(toks[off + 4])
    return max(sseq, 0), max(dseq, 0), max(dc, 0), num(toks[off + 5]), max(num(toks[off + 6]), 0)


class Consumer:
    """One consumer of one stream. See the module docstring."""

    def __init__(self, stream, name: str, cfg: ConsumerConfig, now: int, *,
                 has_interest: Callable[[str], bool] = lambda s: True,
                 rng: random.Random | None = None, domain: str = "") -> None:
        self.stream = stream
        self.store = stream.store
        self.name = name
        self.cfg = cfg
        self.created = now
        self.has_interest = has_interest
        self.rng = rng or random.Random()
        self.domain = domain or None
        self.closed = False
        self.outbox: deque[OutMsg] = deque()
        self.acked: list[int] = []
        self.pending: dict[int, list[int]] = {}
        self.rdc: dict[int, int] = {}
        self.rdq: deque[int] = deque()
        self.rdqi: set[int] = set()
        self.waiting: deque[_Waiting] = deque()
        self.lss: list[int] | None = None
        self.lss_resume = 0
        self.ldt = 0
        self.lat = 0
        self.active = False
        self.pbytes = 0
        self.fcid = ""
        self.fcsz = 0
        self.ack_deadline = 0  # 0 = timer off
        self.hb_at = 0
        self.waiting_last = now
        self.inactive_at = 0
        self._set_filters(cfg)
        self._apply_cfg(cfg)
        self.pblimit = FC_MAX_PENDING if cfg.flow_control else 0
        self.maxpb = max(self.pblimit // 16, 1) if cfg.flow_control else 0
        self.cstore = _StoreState(cfg.ack_policy == "none", cfg.max_deliver)
        self._select_start()
        if self.sseq > 0:
            self.cstore.set_starting(self.sseq - 1)
        self.npc = self._calc_pending()
        if self.is_pull:
            self._arm_inactive(now)
        elif cfg.idle_heartbeat > 0:
            self.hb_at = now + cfg.idle_heartbeat

    # -- configuration ------------------------------------------------------------------
    @property
    def is_pull(self) -> bool:
        return not self.cfg.deliver_subject

    def _set_filters(self, cfg: ConsumerConfig) -> None:
        self.filters = filters_of(cfg)

    def _apply_cfg(self, cfg: ConsumerConfig) -> None:
        self.maxp = cfg.max_ack_pending
        self.maxdc = max(cfg.max_deliver, 0)
        self.pause_until = parse_time(cfg.pause_until) or 0
        # Go updateInactiveThreshold: ephemerals default to 5s, which shows in the config.
        if not is_durable(cfg) and cfg.inactive_threshold <= 0:
            self.cfg = cfg = msgspec.structs.replace(cfg, inactive_threshold=DELETE_WAIT_DEFAULT)
        self.dthresh = max(cfg.inactive_threshold, 0)

    def update(self, cfg: ConsumerConfig, now: int) -> None:
        """Apply a config that passed ``check_update`` (Go updateConfig)."""
        old = self.cfg
        if cfg.deliver_subject != old.deliver_subject and self.pending:
            self._force_expire_pending(now)
        refilter = filters_of(cfg) != self.filters
        self.cfg = cfg
        self._apply_cfg(cfg)
        self.cstore.max_deliver = cfg.max_deliver
        if self.dthresh != max(old.inactive_threshold, 0):
            self._arm_inactive(now)
        if cfg.ack_wait != old.ack_wait and self.ack_deadline:
            self.ack_deadline = now + 100 * _MS
        if refilter:
            self._set_filters(cfg)
            self.npc = self._calc_pending()
        self._gather(now)

    # -- start position -----------------------------------------------------------------
    def _select_start(self) -> None:
        """Go selectStartingSeqNo."""
        cfg, store = self.cfg, self.store
        st = store.fast_state()
        sseq = 0
        if cfg.opt_start_seq == 0:
            dp = cfg.deliver_policy
            if dp == "all":
                sseq = st.first_seq
            elif dp == "last":
                if not self.filters:
                    sseq = st.last_seq
                else:
                    for f in self.filters:
                        sseq = max(sseq, store.filtered_state(1, f).last)
            elif dp == "last_per_subject":
                if self.stream.config.max_msgs_per_subject == 1:
                    sseq = st.first_seq
                else:
                    seqs = store.multi_last_seqs(self.filters or [cfg.filter_subject])
                    sseq = seqs[0] if seqs else st.last_seq
                    self.lss, self.lss_resume = seqs, st.last_seq
            elif cfg.opt_start_time is not None:
                sseq = store.get_seq_from_time(parse_time(cfg.opt_start_time) or 0)
                if self.filters:
                    nseq = st.last_seq
                    for f in self.filters:
                        ss = store.filtered_state(st.first_seq, f)
                        if sseq <= ss.first < nseq:
                            nseq = ss.first
                    if sseq < nseq < st.last_seq:
                        sseq = nseq
            else:
                sseq = st.last_seq + 1
        else:
            sseq = cfg.opt_start_seq
        if st.first_seq == 0 and cfg.opt_start_seq == 0:
            sseq = 1
        elif sseq > st.last_seq and cfg.opt_start_seq == 0:
            sseq = st.last_seq + 1
        elif sseq < st.first_seq:
            sseq = st.first_seq
        self.sseq = sseq
        self.dseq = 1
        self.adflr = 0
        self.asflr = sseq - 1
        if self.lss is not None and not self.lss:
            self.lss = None

    # -- matching and counting ----------------------------------------------------------
    def matches(self, subject: str) -> bool:
        """Go isFilteredMatch."""
        if not self.filters:
            return True
        return any(subject == f or (not is_literal(f) and subject_matches_filter(subject, f))
                   for f in self.filters)

    def _calc_pending(self) -> int:
        lps = self.cfg.deliver_policy == "last_per_subject"
        try:
            if len(self.filters) > 1:
                return self.store.num_pending_multi(self.sseq, self.filters, lps)[0]
            return self.store.num_pending(self.sseq, self.filters[0] if self.filters else "", lps)[0]
        except StoreError:
            return 0

    def num_pending(self) -> int:
        return max(self.npc, 0)

    # -- stream events ------------------------------------------------------------------
    def on_stored(self, seq: int, subject: str, now: int) -> None:
        if seq >= self.sseq and self.matches(subject):
            self.npc += 1
        self._gather(now)

    def on_removed(self, seq: int, subject: str, now: int) -> None:
        """Go decStreamPending: a single message left the stream."""
        if seq >= self.sseq and self.matches(subject):
            self.npc -= 1
        p = self.pending.get(seq)
        if p is not None:
            self._term(seq, p[0], self._delivery_count(seq), TERM_UNACKED_LIMITS, now)
        elif self.rdc.pop(seq, None) is not None:
            self.cstore.acks(0, seq, False)
        self._gather(now)

    def on_purged_wider(self, first_seq: int, now: int) -> None:
        """Go consumer.purge with isWider: a filtered purge inside this consumer's filters."""
        for seq in [s for s in self.pending if s < first_seq or not self._exists(s)]:
            p = self.pending.pop(seq)
            self.rdc.pop(seq, None)
            self._remove_rdq(seq)
            if p[0] > self.adflr:
                self.adflr = p[0]
        if not self.pending:
            self.adflr, self.asflr = self.dseq - 1, self.sseq - 1
        elif self.asflr < first_seq - 1:
            self.asflr = first_seq - 1
        self.npc = self._calc_pending()
        self.cstore.sync(self)
        self._gather(now)

    def _exists(self, seq: int) -> bool:
        try:
            self.store.load_msg(seq)
        except StoreError:
            return False
        return True

    def on_purged(self, first_seq: int, last_seq: int, now: int) -> None:
        """Go consumer.purge: ``first_seq`` is the stream's first sequence after the purge."""
        sseq = first_seq or last_seq + 1
        if self.sseq < sseq:
            self.sseq = sseq
        if self.asflr < sseq:
            self.asflr = sseq - 1
            for seq in [s for s in self.pending if s <= self.asflr]:
                p = self.pending.pop(seq)
                self.rdc.pop(seq, None)
                if p[0] > self.adflr:
                    self.adflr = p[0]
                    self.dseq = max(self.dseq, self.adflr)
        if not self.pending:
            self.adflr, self.asflr = self.dseq - 1, self.sseq - 1
        if self.rdq:
            keep = [s for s in self.rdq if s >= self.sseq]
            self.rdq, self.rdqi = deque(keep), set(keep)
        if self.lss is not None:
            self.lss = [s for s in self.lss if s >= self.sseq] or None
        self.npc = self._calc_pending()
        self.cstore.sync(self)
        self._gather(now)

    # -- push interest --------------------------------------------------------------------
    def set_interest(self, interest: bool, now: int) -> None:
        """Go updateDeliveryInterest."""
        if self.is_pull or self.closed:
            return
        was = self.active
        self.active = interest
        if interest:
            self.inactive_at = 0
            if not was:
                self._gather(now)
        elif self.dthresh > 0 and not self.inactive_at:
            self.inactive_at = now + self.dthresh

    def _arm_inactive(self, now: int) -> None:
        if self.is_pull:
            self.inactive_at = self.waiting_last + self.dthresh if self.dthresh > 0 else 0
        elif not self.active and self.dthresh > 0:
            self.inactive_at = now + self.dthresh
        else:
            self.inactive_at = 0

    # -- pull requests --------------------------------------------------------------------
    def pull(self, reply: str | None, body: bytes, now: int) -> None:
        """Go processNextMsgRequest (the request's reply subject gets messages and statuses)."""
        if not reply or self.closed:
            return
        if not self.is_pull:
            self._send(reply, _status(409, "Consumer is push based"))
            return
        req = body.strip()
        expires = batch = max_bytes = hb = prio = min_p = min_ap = 0
        no_wait = False
        pin_id = ""
        obj: dict = {}
        if not req:
            batch = 1
        elif req[:1] == b"{":
            try:
                obj = json.loads(req)
                if not isinstance(obj, dict):
                    raise ValueError("json: cannot unmarshal into Go value of type server.JSApiConsumerGetNextRequest")
                batch = _int_field(obj, "batch")
                expires = _int_field(obj, "expires")
                max_bytes = _int_field(obj, "max_bytes")
                hb = _int_field(obj, "idle_heartbeat")
                no_wait = bool(obj.get("no_wait", False))
                prio = _int_field(obj, "priority")
                min_p, min_ap = _int_field(obj, "min_pending"), _int_field(obj, "min_ack_pending")
                pin_id = obj.get("id") or ""
            except (ValueError, TypeError) as e:
                self._send(reply, _status(400, f"Bad Request - {e}"))
                return
            if hb > 0 and hb * 2 > expires:
                self._send(reply, _status(400, "Bad Request - heartbeat value too large"))
                return
        else:
            try:
                batch = int(req)
            except ValueError:
                batch = 1
        cfg = self.cfg
        if cfg.max_batch > 0 and batch > cfg.max_batch:
            self._send(reply, _status(409, f"Exceeded MaxRequestBatch of {cfg.max_batch}"))
            return
        if expires > 0 and cfg.max_expires > 0 and expires > cfg.max_expires:
            self._send(reply, _status(409, f"Exceeded MaxRequestExpires of {go_duration(cfg.max_expires)}"))
            return
        if max_bytes > 0 and cfg.max_bytes > 0 and max_bytes > cfg.max_bytes:
            self._send(reply, _status(409, f"Exceeded MaxRequestMaxBytes of {cfg.max_bytes}"))
            return
        if req[:1] == b"{":
            if (min_p or min_ap) and cfg.priority_policy != "overflow":
                self._send(reply, _status(400, "Bad Request - Not a Overflow Priority consumer"))
                return
            if pin_id and cfg.priority_policy != "pinned_client":
                self._send(reply, _status(400, "Bad Request - Not a Pinned Client Priority consumer"))
                return
            if prio < 0 or prio > 9:
                self._send(reply, _status(400, "Bad Request - Priority must be between 0 and 9"))
                return
            if cfg.priority_policy:
                group = obj.get("group") or ""
                if not group:
                    self._send(reply, _status(400, "Bad Request - Priority Group missing"))
                    return
                if group not in (cfg.priority_groups or []):
                    self._send(reply, _status(400, "Bad Request - Invalid Priority Group"))
                    return
        if len(self.waiting) >= cfg.max_waiting:
            self._process_waiting(False, now)
        exp_at = now + expires if expires > 0 else 0
        if no_wait:
            msgs_pending = self.num_pending() + len(self.rdq)
            if msgs_pending == 0 and exp_at == 0:
                self.waiting_last = now
                self._send(reply, _status(404, "No Messages"))
                return
            if msgs_pending > 0:
                brp = self._process_waiting(False, now)
                if msgs_pending < brp:
                    self.waiting_last = now
                    self._send(reply, _status(408, "Requests Pending"))
                    return
        if len(self.waiting) >= cfg.max_waiting:
            if hb == 0:
                self._send(reply, _status(409, "Exceeded MaxWaiting"))
            return
        self.waiting.append(_Waiting(reply, batch, max_bytes, exp_at, hb, no_wait, now))
        self.waiting_last = now
        if self.dthresh > 0:
            self.inactive_at = now + self.dthresh
        self._gather(now)

    def _process_waiting(self, eos: bool, now: int) -> int:
        """Go processWaiting: expire, finish no_wait at end of stream, drop lost interest, heartbeat.

        Returns the number of messages the remaining requests still ask for.
        """
        brp = 0
        keep: deque[_Waiting] = deque()
        for wr in self.waiting:
            expired = wr.expires and now >= wr.expires
            if (eos and wr.no_wait) or expired:
                if expired:
                    self._send(wr.reply, _status(408, "Request Timeout", (wr.n, wr.b)))
                    continue
                if not wr.expires or wr.d > 0:
                    self._send(wr.reply, _status(404, "No Messages"))
                    continue
            if not self.has_interest(wr.reply):
                continue
            brp += wr.n
            if wr.hbt and now >= wr.hbt:
                self._send(wr.reply, self._heartbeat_hdr())
                wr.hbt = now + wr.hb
            keep.append(wr)
        self.waiting = keep
        return brp

    def _next_waiting(self, sz: int, now: int) -> _Waiting | None:
        """Go nextWaiting + waitQueue.pop (round robin between requests)."""
        while self.waiting:
            wr = self.waiting[0]
            if wr.expires and now >= wr.expires:
                self._send(wr.reply, _status(408, "Request Timeout", (wr.n, wr.b)))
                self.waiting.popleft()
                continue
            if wr.b > 0:
                if sz <= wr.b:
                    wr.b -= sz
                    if wr.b == 0:
                        wr.n = 1
                else:
                    self._send(wr.reply, _status(409, "Message Size Exceeds MaxBytes", (wr.n, wr.b)))
                    self.waiting.popleft()
                    continue
            if self.has_interest(wr.reply):
                wr.d += 1
                wr.n -= 1
                self.waiting.popleft()
                if wr.n > 0:
                    if self.waiting:
                        self.waiting.append(wr)
                    else:
                        self.waiting.appendleft(wr)
                return wr
            self.waiting.popleft()
        return None

    # -- delivery -------------------------------------------------------------------------
    def _delivery_count(self, seq: int) -> int:
        dc = self.rdc.get(seq, 0)
        return dc if dc >= 1 else 1

    def _add_rdq(self, seq: int) -> None:
        self.rdq.append(seq)
        self.rdqi.add(seq)

    def _remove_rdq(self, seq: int) -> None:
        if seq in self.rdqi:
            self.rdqi.discard(seq)
            self.rdq.remove(seq)

    def _get_next(self, now: int) -> tuple[StoreMsg | None, int, str]:
        """Go getNextMsg: (message, delivery count, reason when none)."""
        while self.rdq:
            seq = self.rdq.popleft()
            self.rdqi.discard(seq)
            self.rdc[seq] = self.rdc.get(seq, 0) + 1
            dc = self.rdc[seq] + 1
            if self.maxdc and dc > self.maxdc:
                if dc == self.maxdc + 1:
                    self._notify_exceeded(seq, dc - 1, now)
                p = self.pending.pop(seq, None)
                if p is not None:
                    self.ldt = now
                    self.cstore.delivered(p[0], seq, dc)
                    self._move_ack_floor(p[0], seq)
                continue
            try:
                return self.store.load_msg(seq), dc, ""
            except StoreError:
                self.rdc[seq] -= 1
                p = self.pending.get(seq)
                if p is not None:
                    self._term(seq, p[0], dc - 1, TERM_UNACKED_LIMITS, now)
                continue
        if self.maxp > 0 and len(self.pending) >= self.maxp:
            return None, 0, "max_ack_pending"
        if self.lss is not None:
            seq = self.lss.pop(0)
            if not self.lss:
                self.sseq = self.lss_resume
                self.lss = None
            else:
                self.sseq = seq
            self.sseq += 1
            try:
                return self.store.load_msg(seq), 1, ""
            except StoreError:
                return None, 0, "not_found"
        try:
            if len(self.filters) > 1:
                sm, seq = self.store.load_next_msg_multi(self.filters, self.sseq)
            elif self.filters:
                f = self.filters[0]
                sm, seq = self.store.load_next_msg(f, not is_literal(f), self.sseq)
            else:
                sm, seq = self.store.load_next_msg("", False, self.sseq)
        except ErrStoreEOF:
            last = self.store.fast_state().last_seq
            if last >= self.sseq:
                self.sseq = last + 1
            if self.sseq > last:
                self.npc = 0
            return None, 0, "eof"
        except StoreError:
            return None, 0, "not_found"
        if seq >= self.sseq:
            self.sseq = seq + 1
        return sm, 1, ""

    def _paused(self, now: int) -> bool:
        return self.pause_until > 0 and now < self.pause_until

    def _gather(self, now: int) -> None:
        """The body of Go loopAndGatherMsgs, until nothing more can be delivered."""
        if self.closed:
            return
        why = ""
        while True:
            if self._paused(now):
                break
            if self.is_pull:
                if not self.waiting:
                    break
            elif not self.active or (self.maxpb > 0 and self.pbytes > self.maxpb):
                break
            sm, dc, why = self._get_next(now)
            if sm is None:
                break
            if dc == 1:
                self.npc -= 1
            ack = (f"$JS.ACK.{self.stream.config.name}.{self.name}.{dc}.{sm.seq}.{self.dseq}."
                   f"{sm.ts}.{self.num_pending()}")
            hdr, data = sm.hdr, sm.data
            if self.cfg.headers_only:
                base = hdr[:-2] if hdr else b"NATS/1.0\r\n"
                hdr, data = base + f"Nats-Msg-Size: {len(sm.data)}\r\n\r\n".encode(), b""
            sz = len(sm.subject) + len(ack) + (len(hdr) if hdr else 0) + len(data)
            wrn = wrb = 0
            if not self.is_pull:
                to = self.cfg.deliver_subject
            else:
                wr = self._next_waiting(sz, now)
                if wr is None:
                    if dc == 1 and sm.seq == self.sseq - 1:
                        self.sseq -= 1
                        self.npc += 1
                    elif sm.seq not in self.rdqi:
                        self.rdc[sm.seq] = self.rdc.get(sm.seq, 0) - 1
                        self._add_rdq(sm.seq)
                    break
                to, wrn, wrb = wr.reply, wr.n, wr.b
                if wr.n > 0 and wr.hb > 0:
                    wr.hbt = now + wr.hb
            self._deliver(to, ack, sm, hdr, data, dc, now)
            if wrn <= 0 and wrb > 0:
                self._send(to, _status(409, "Batch Completed", (wrn, wrb)))
            if self.cfg.idle_heartbeat > 0 and not self.is_pull:
                self.hb_at = now + self.cfg.idle_heartbeat
        if self.is_pull and self.waiting:
            self._process_waiting(why != "max_ack_pending", now)

    def _deliver(self, to: str, ack: str, sm: StoreMsg, hdr: bytes | None, data: bytes, dc: int,
                 now: int) -> None:
        """Go deliverMsg."""
        dseq = self.dseq
        self.dseq += 1
        psz = len(sm.subject) + len(ack) + (len(hdr) if hdr else 0) + len(data)
        if self.maxpb > 0:
            self.pbytes += psz
        self.ldt = now
        self.cstore.delivered(dseq, sm.seq, dc)
        if self.cfg.ack_policy == "none":
            self.adflr, self.asflr = dseq, sm.seq
        else:
            self._track_pending(sm.seq, dseq, now)
        self.outbox.append(OutMsg(to, sm.subject, ack, hdr, data))
        if self.maxpb > 0 and self._need_flow_control():
            self._send_flow_control()
        if self.is_pull and self.dthresh > 0:
            self.waiting_last = now
            self.inactive_at = now + self.dthresh
        if self.cfg.ack_policy == "none" and self.stream.config.retention != "limits":
            self.acked.append(sm.seq)

    def _track_pending(self, sseq: int, dseq: int, now: int) -> None:
        p = self.pending.get(sseq)
        if p is not None:
            p[1] = now
        else:
            self.pending[sseq] = [dseq, now]
        delay = self._ack_wait(0)
        bo = self.cfg.backoff
        if bo:
            bi = min(max(self.rdc.get(sseq, 0), 0), len(bo) - 1)
            delay = self._ack_wait(bo[bi])
        if not self.ack_deadline or self.ack_deadline > now + delay:
            self.ack_deadline = now + delay

    def _ack_wait(self, nxt: int) -> int:
        return (nxt if nxt > 0 else self.cfg.ack_wait) + _MS

    def _need_flow_control(self) -> bool:
        if not self.fcid and self.pbytes > self.maxpb // 2:
            return True
        if (not self.fcid and self.cfg.ack_policy == "flow_control" and self.maxp > 0
                and len(self.pending) >= self.maxp):
            return True
        return False

    def _send_flow_control(self) -> None:
        n = self.rng.getrandbits(62)
        tail = "".join(_BASE62[(n // 62**i) % 62] for i in range(4))
        self.fcid = f"$JS.FC.{self.stream.config.name}.{self.name}.{tail}"
        self.fcsz = self.pbytes
        subj = self.cfg.deliver_subject
        self.outbox.append(OutMsg(subj, subj, self.fcid, b"NATS/1.0 100 FlowControl Request\r\n\r\n", b""))

    def flow_control(self, subject: str, hdr: bytes | None, now: int) -> None:
        """Go processFlowControl: a reply to our outstanding FC request."""
        if subject != self.fcid or self.closed:
            return
        if self.maxpb < self.pblimit:
            self.maxpb = min(self.maxpb * 2, self.pblimit)
        self.pbytes = max(self.pbytes - self.fcsz, 0)
        self.fcid, self.fcsz = "", 0
        if self.cfg.ack_policy == "flow_control" and hdr:
            h = parse_headers(hdr)
            lsseq = _to_int(h.get("Nats-Last-Stream"))
            ldseq = max(_to_int(h.get("Nats-Last-Consumer")), 0)
            if lsseq > 0:
                self._ack_msg(lsseq, ldseq, now)
        self._gather(now)

    def _heartbeat_hdr(self) -> bytes:
        h = (f"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: {self.dseq - 1}\r\n"
             f"Nats-Last-Stream: {self.sseq - 1}\r\n")
        if self.fcid:
            h += f"Nats-Consumer-Stalled: {self.fcid}\r\n"
        return (h + "\r\n").encode()

    def _send(self, to: str, hdr: bytes | None, reply: str | None = None) -> None:
        self.outbox.append(OutMsg(to, to, reply, hdr, b""))

    # -- acks -----------------------------------------------------------------------------
    def ack(self, subject: str, reply: str | None, body: bytes, now: int) -> None:
        """Go processAck: a message published to one of our ack reply subjects."""
        if self.closed:
            return
        sseq, dseq, dc, _, _ = ack_reply_info(subject)
        skip_reply = sseq == 0
        if body in (b"", b"+ACK", b"+OK"):
            if not self._ack_msg(sseq, dseq, now):
                skip_reply = True
        elif body.startswith(b"+NXT"):
            self._ack_msg(sseq, dseq, now)
            self.pull(reply, body[4:], now)
            skip_reply = True
        elif body.startswith(b"-NAK"):
            self._nak(sseq, dseq, dc, body, now)
        elif body == b"+WPI":
            p = self.pending.get(sseq)
            if p is not None:
                p[1] = now
                self.ldt = now
        elif body.startswith(b"+TERM"):
            reason = body[5:].strip().decode("utf-8", "replace")
            if not self._term(sseq, dseq, dc, reason, now):
                skip_reply = True
        if reply and not skip_reply:
            self._send(reply, None)
        self._gather(now)

    def _ack_msg(self, sseq: int, dseq: int, now: int) -> bool:
        """Go processAckMsgLocked; True when the ack was taken (an ack reply is due)."""
        if sseq >= self.sseq and not self.cfg.flow_control:
            return False
        ap = self.cfg.ack_policy
        if ap == "explicit":
            p = self.pending.pop(sseq, None)
            if p is not None:
                dseq = p[0]
                self._move_ack_floor(p[0], sseq)
                if self.stream.config.retention != "limits":
                    self.acked.append(sseq)
            self.rdc.pop(sseq, None)
            self._remove_rdq(sseq)
        elif ap in ("all", "flow_control"):
            if dseq <= self.adflr or sseq <= self.asflr:
                return True
            sgap = sseq - self.asflr
            self.adflr, self.asflr = dseq, sseq
            if sgap > len(self.pending):
                below = [s for s in self.pending if s <= sseq]
            else:
                below = [s for s in range(sseq - sgap + 1, sseq + 1) if s in self.pending]
            for seq in below:
                del self.pending[seq]
                self.rdc.pop(seq, None)
                self._remove_rdq(seq)
                if self.stream.config.retention != "limits":
                    self.acked.append(seq)
            if self.stream.config.retention != "limits" and sseq not in self.acked:
                self.acked.append(sseq)
        else:
            return self.stream.config.retention != "limits"
        self.cstore.acks(dseq, sseq, ap != "explicit")
        self.lat = now
        return True

    def _move_ack_floor(self, dseq: int, sseq: int) -> None:
        """Go moveAckFloor."""
        if not self.pending:
            self.adflr, self.asflr = self.dseq - 1, self.sseq - 1
        elif dseq == self.adflr + 1:
            self.adflr, self.asflr = dseq, sseq
            pending = self.pending
            for ss in range(sseq + 1, self.sseq):  # Go walks the gap: short when acks come in order
                p = pending.get(ss)
                if p is not None:
                    if p[0] > 0:
                        self.adflr, self.asflr = p[0] - 1, ss - 1
                    break

    def _nak(self, sseq: int, dseq: int, dc: int, body: bytes, now: int) -> None:
        """Go processNak."""
        if dseq <= self.adflr or dseq > self.dseq or sseq not in self.pending:
            return
        self._advisory("$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED", ConsumerDeliveryNakAdvisory(
            id=self._id(), timestamp=rfc3339nano(now), stream=self.stream.config.name, consumer=self.name,
            consumer_seq=dseq, stream_seq=sseq, deliveries=dc, domain=self.domain))
        arg = body[4:].strip()
        if arg:
            delay: int | None
            try:
                if arg[:1] == b"{":
                    obj = json.loads(arg)
                    delay = _int_field(obj, "delay") if isinstance(obj, dict) else None
                else:
                    delay = parse_go_duration(arg.decode())
            except (ValueError, TypeError):
                delay = None
            if delay is not None:
                self._remove_rdq(sseq)
                p = self.pending[sseq]
                p[1] = now - self.cfg.ack_wait + delay
                self.ldt = now
                if self.ack_deadline:
                    self.ack_deadline = min(self.ack_deadline, now + 10 * _MS)
                return
        if sseq not in self.rdqi:
            self._add_rdq(sseq)

    def _term(self, sseq: int, dseq: int, dc: int, reason: str, now: int) -> bool:
        """Go processTermLocked: ack, then the terminated advisory."""
        taken = self._ack_msg(sseq, dseq, now)
        self._advisory("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED", ConsumerDeliveryTerminatedAdvisory(
            id=self._id(), timestamp=rfc3339nano(now), stream=self.stream.config.name, consumer=self.name,
            consumer_seq=dseq, stream_seq=sseq, deliveries=dc, reason=reason or None, domain=self.domain))
        return taken

    def _notify_exceeded(self, sseq: int, dc: int, now: int) -> None:
        self._advisory("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES", ConsumerDeliveryExceededAdvisory(
            id=self._id(), timestamp=rfc3339nano(now), stream=self.stream.config.name, consumer=self.name,
            stream_seq=sseq, deliveries=dc, domain=self.domain))

    def _advisory(self, prefix: str, event) -> None:
        subj = f"{prefix}.{self.stream.config.name}.{self.name}"
        self.outbox.append(OutMsg(subj, subj, None, None, encode_reply(event)))

    def _id(self) -> str:
        return "".join(self.rng.choice(_BASE62) for _ in range(22))

    # -- redelivery -----------------------------------------------------------------------
    def _has_max_deliveries(self, seq: int, now: int) -> bool:
        """Go hasMaxDeliveries."""
        if not self.maxdc:
            return False
        dc = self._delivery_count(seq)
        if dc < self.maxdc:
            return False
        if dc == self.maxdc:
            self._notify_exceeded(seq, dc, now)
        p = self.pending.pop(seq, None)
        if p is not None:
            self.ldt = now
            self.cstore.delivered(p[0], seq, dc + 1)
            self._move_ack_floor(p[0], seq)
        self.rdc[seq] = dc
        return True

    def _check_pending(self, now: int) -> None:
        """Go checkPending: queue what waited past ack_wait/backoff for redelivery."""
        ttl = self.cfg.ack_wait
        if ttl == 0 or self.closed:
            self.ack_deadline = 0
            return
        fseq = self.store.fast_state().first_seq
        nxt = self._ack_wait(0)
        bo = self.cfg.backoff or []
        if bo:
            nxt = bo[-1]
        expired = []
        cleaned = False
        for seq in list(self.pending):
            p = self.pending.get(seq)
            if p is None:
                continue
            if seq < fseq or seq <= self.asflr:
                cleaned = True
                del self.pending[seq]
                self.rdc.pop(seq, None)
                self._remove_rdq(seq)
                self.asflr = max(self.asflr, seq)
                self.adflr = max(self.adflr, p[0])
                continue
            elapsed, deadline = now - p[1], ttl
            if bo:
                dc = max(self.rdc.get(seq, 0), 0)
                nbi = dc + 1
                if dc + 1 >= len(bo):
                    dc = nbi = len(bo) - 1
                deadline = bo[dc]
                nxt = min(nxt, bo[nbi])
            if elapsed >= deadline:
                if seq not in self.rdqi and not self._has_max_deliveries(seq, now):
                    expired.append(seq)
            elif deadline - elapsed < nxt:
                nxt = deadline - elapsed
        if expired:
            expired.sort()
            off = now - self.pending[expired[0]][1]
            for seq in expired:
                self._add_rdq(seq)
                self.pending[seq][1] += off
        if self.pending:
            self.ack_deadline = now + nxt
        else:
            self.ack_deadline = 0
            self.rdq.clear()
            self.rdqi.clear()
            self.adflr, self.asflr = self.dseq - 1, self.sseq - 1
        if cleaned:
            self.cstore.sync(self)

    def _force_expire_pending(self, now: int) -> None:
        for seq in sorted(self.pending):
            if seq not in self.rdqi and not self._has_max_deliveries(seq, now):
                self._add_rdq(seq)

    # -- time -----------------------------------------------------------------------------
    def next_deadline(self) -> int | None:
        ds = [d for d in (self.ack_deadline, self.hb_at, self.inactive_at) if d]
        if self.pause_until:
            ds.append(self.pause_until)
        for wr in self.waiting:
            ds.extend(d for d in (wr.expires, wr.hbt) if d)
        return min(ds) if ds else None

    def on_timer(self, now: int) -> bool:
        """Run what is due at ``now``. Returns True when the consumer should be deleted (inactive)."""
        if self.closed:
            return False
        if self.ack_deadline and now >= self.ack_deadline:
            self._check_pending(now)
        if self.pause_until and now >= self.pause_until:
            self.pause_until = 0
        if not self.is_pull and self.hb_at and now >= self.hb_at:
            if self.active:
                self.outbox.append(OutMsg(self.cfg.deliver_subject, self.cfg.deliver_subject, None,
                                          self._heartbeat_hdr(), b""))
            self.hb_at = now + self.cfg.idle_heartbeat
        if self.waiting:
            self._process_waiting(False, now)
        self._gather(now)
        if self.inactive_at and now >= self.inactive_at and self.dthresh > 0:
            if not self.is_pull:
                return not self.active
            if now - self.waiting_last < self.dthresh:
                self.inactive_at = self.waiting_last + self.dthresh
                return False
            self._process_waiting(True, now)
            if self.waiting:
                self.inactive_at = now + self.dthresh
                return False
            return True
        return False

    # -- lifecycle and state ----------------------------------------------------------------
    def stop(self) -> None:
        """Go stopWithFlags for a delete: waiting pull requests get 409 Consumer Deleted."""
        for wr in self.waiting:
            self._send(wr.reply, _status(409, "Consumer Deleted"))
        self.waiting.clear()
        self.closed = True

    def pause(self, until: int, now: int) -> None:
        self.pause_until = until if until > now else 0
        self.cfg = msgspec.structs.replace(self.cfg, pause_until=rfc3339nano(until) if until else None)
        self._gather(now)

    def need_ack(self, sseq: int, subject: str) -> bool:
        """Go needAck: this consumer still has to see or acknowledge ``sseq``."""
        if self.filters and not self.matches(subject):
            return False
        need = False
        if self.cfg.ack_policy == "explicit":
            if sseq > self.asflr:
                need = sseq >= self.sseq or sseq in self.pending
        else:
            need = sseq > self.asflr
        return need or sseq in self.rdc

    def info(self, now: int) -> ConsumerInfo:
        """Go infoWithSnapAndReply (config as stored; the API adds dynamic metadata)."""
        if self.is_pull and self.waiting:
            self._process_waiting(False, now)
        self.npc = self._calc_pending()
        paused = self._paused(now)
        st = self.cstore
        if st.has_state():
            delivered = (st.dc, st.ds)
        else:
            delivered = (max(self.dseq, 1) - 1, max(self.sseq, 1) - 1)
        return ConsumerInfo(
            stream_name=self.stream.config.name,
            name=self.name,
            created=rfc3339nano(self.created),
            config=self.cfg,
            delivered=SequenceInfo(consumer_seq=delivered[0], stream_seq=delivered[1],
                                   last_active=rfc3339nano(self.ldt) if self.ldt else None),
            ack_floor=SequenceInfo(consumer_seq=st.ac, stream_seq=st.as_,
                                   last_active=rfc3339nano(self.lat) if self.lat else None),
            num_ack_pending=len(self.pending),
            num_redelivered=0 if self.cfg.max_deliver == 1 else len(self.rdc),
            num_waiting=len(self.waiting),
            num_pending=self.num_pending(),
            push_bound=True if (not self.is_pull and self.active) else None,
            paused=True if paused else None,
            pause_remaining=self.pause_until - now if paused else None,
            ts=rfc3339nano(now),
        )

    def drain(self) -> list[OutMsg]:
        out = list(self.outbox)
        self.outbox.clear()
        return out


def _int_field(obj: dict, key: str) -> int:
    v = obj.get(key, 0)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        raise ValueError(f"json: cannot unmarshal {type(v).__name__} into Go struct field "
                         f"JSApiConsumerGetNextRequest.{key} of type int")
    return v


def _to_int(v: str | None) -> int:
    try:
        return int(v) if v is not None else 0
    except ValueError:
        return 0


class StreamConsumers:
    """The consumers of one stream, and the stream hooks that feed them.

    Go keeps this in the stream (``mset.consumers``, ``ackMsg``, ``noInterest``,
    ``purgeLocked``'s consumer loop, ``cleanupNoInterestMessages``). Stream
    events arrive through the stream's hooks (``on_stored``, ``on_purged``,
    ``interest``) and the store's removal callback; the store callback only
    records the removal (it must not re-enter the store) and ``settle(now)``
    applies it. ``clock`` supplies ``now`` to the hooks, which carry none.
    Acknowledgements that may free a message on an interest or workqueue stream
    are collected from the consumers and applied in ``settle``.
    """

    def __init__(self, stream, clock: Callable[[], int]) -> None:
        self.stream = stream
        self.clock = clock
        self.consumers: dict[str, Consumer] = {}
        self.removed: list[tuple[int, str]] = []
        self.notify: Callable[[], None] | None = None  # called after a hook produced outputs
        stream.on_stored = self._on_stored
        stream.on_purged = self._on_purged
        stream.interest = self.interest
        stream.store.register_on_remove(self._on_remove)

    def __len__(self) -> int:
        return len(self.consumers)

    def add(self, c: Consumer) -> None:
        self.consumers[c.name] = c
        self.stream.consumer_count = len(self.consumers)

    def remove(self, name: str, now: int) -> Consumer | None:
        """Go stopWithFlags + cleanupNoInterestMessages for a deleted consumer."""
        c = self.consumers.pop(name, None)
        self.stream.consumer_count = len(self.consumers)
        if c is None:
            return None
        c.stop()
        if self.stream.config.retention == "interest":
            self.cleanup_no_interest(c.asflr)
        self.settle(now)
        return c

    def cleanup_no_interest(self, start: int) -> None:
        store = self.stream.store
        if not self.consumers:
            store.purge()  # Go: mset.store.Purge(), no deny_purge check
            return
        st = store.fast_state()
        seq = max(start, st.first_seq)
        drop = []
        while seq <= st.last_seq:
            try:
                sm, seq = store.load_next_msg("", False, seq)
            except StoreError:
                break
            if not any(o.need_ack(seq, sm.subject) for o in self.consumers.values()):
                drop.append(seq)
            seq += 1
        for seq in drop:
            store.remove_msg(seq)

    def interest(self, subject: str) -> bool:
        return any(c.matches(subject) for c in self.consumers.values())

    # -- hooks --------------------------------------------------------------------------
    def _on_remove(self, seq: int, subject: str) -> None:
        self.removed.append((seq, subject))

    def _on_stored(self, seq: int, subject: str) -> None:
        now = self.clock()
        self._apply_removed(now)
        for c in list(self.consumers.values()):
            c.on_stored(seq, subject, now)
        self.settle(now)
        if self.notify is not None:
            self.notify()

    def _on_purged(self, ev) -> None:
        now = self.clock()
        self.removed.clear()  # bulk removal: the purge below accounts for it
        st = self.stream.store.fast_state()
        for c in list(self.consumers.values()):
            if not ev.filter or not c.filters or all(subject_matches_filter(f, ev.filter) for f in c.filters):
                first = ev.filtered_first if ev.filter else ev.first_seq
                c.on_purged(first, ev.last_seq, now)
            elif c.matches(ev.filter) or any(subject_matches_filter(ev.filter, f) for f in c.filters):
                c.on_purged_wider(st.first_seq, now)
        self.settle(now)
        if self.notify is not None:
            self.notify()

    def _apply_removed(self, now: int) -> None:
        while self.removed:
            batch, self.removed = self.removed, []
            for seq, subject in batch:
                for c in list(self.consumers.values()):
                    c.on_removed(seq, subject, now)

    def settle(self, now: int) -> None:
        """Apply recorded removals and retention acks until nothing changes (Go ackMsg)."""
        retention = self.stream.config.retention
        while True:
            self._apply_removed(now)
            acked: list[int] = []
            for c in self.consumers.values():
                if c.acked:
                    acked.extend(c.acked)
                    c.acked.clear()
            if not acked or retention == "limits":
                if not self.removed:
                    return
                continue
            store = self.stream.store
            for seq in acked:
                st = store.fast_state()
                if seq < st.first_seq or seq > st.last_seq:
                    continue
                try:
                    subject = store.subject_for_seq(seq)
                except StoreError:
                    continue
                if not any(c.need_ack(seq, subject) for c in self.consumers.values()):
                    store.remove_msg(seq)

    def tick(self, now: int) -> list[Consumer]:
        """Timers of every consumer; returns the ones inactivity deleted (already removed)."""
        gone = []
        for c in list(self.consumers.values()):
            if c.on_timer(now):
                gone.append(c)
        for c in gone:
            self.remove(c.name, now)
        self.settle(now)
        return gone

    def outputs(self) -> list[OutMsg]:
        out: list[OutMsg] = []
        for c in self.consumers.values():
            if c.outbox:
                out.extend(c.drain())
        return out
