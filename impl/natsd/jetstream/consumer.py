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

The pull side (requests, waiting queue, priority groups) is the mixin
``natsd.jetstream._consumerpull.PullRequests``; the consumer-store view that
ConsumerInfo reports is ``natsd.jetstream._consumerstore.StoreState``; the
stream-level glue (hooks, interest/workqueue retention) is
``natsd.jetstream.consumerset.StreamConsumers``.

Intended differences from Go: a message larger than the rate limit's burst
waits for a full bucket (Go would never send it); replay "original" holds a message until its original gap has passed, at the
resolution of the shell's timer (Go sleeps); pull inactivity is measured
without Go's random jitter. Consumers of file streams are persisted by
``natsd.jetstream._consumerpersist`` and continue through ``restore``.

Spec rules: consumer.deliver.*, consumer.replay.original,
consumer.ack.reply_subject, consumer.ack.none, consumer.ack.explicit,
consumer.ack.all, consumer.ack.bodies, consumer.ack.nak_delay,
consumer.ack.ack_ack, consumer.ack.out_of_range, consumer.ack_wait.redeliver,
consumer.backoff.delays, consumer.max_deliver, consumer.max_ack_pending,
consumer.nak.advisory, consumer.term.advisory, consumer.sample_freq,
consumer.heartbeat.push, consumer.flow_control.push, consumer.pause,
consumer.reset, consumer.inactive.delete, consumer.pull.lifecycle (delete),
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
    ConsumerAckMetric,
    ConsumerConfig,
    ConsumerDeliveryExceededAdvisory,
    ConsumerDeliveryNakAdvisory,
    ConsumerDeliveryTerminatedAdvisory,
    ConsumerInfo,
    ConsumerPauseAdvisory,
    PriorityGroupState,
    SequenceInfo,
)
from natsd.api.gojson import encode_reply
from natsd.jetstream._consumerpull import PullRequests, Waiting, int_field, status_hdr
from natsd.jetstream._consumerstore import StoreState
from natsd.jetstream.consumercfg import DELETE_WAIT_DEFAULT, filters_of, is_durable, parse_time
from natsd.jetstream.headers import parse_headers
from natsd.protocol.gotime import parse_go_duration, rfc3339nano
from natsd.store.base import ErrStoreEOF, StoreError, StoreMsg
from natsd.subjects.validate import is_literal, subject_matches_filter

__all__ = ["Consumer", "OutMsg", "ack_reply_info"]

_MS = 1_000_000
_S = 1_000_000_000
FC_MAX_PENDING = 32 * 1024 * 1024  # JsFlowControlMaxPending
#: How many deliveries wait in a consumer's outbox before on_outbox is called
OUTBOX_CHUNK = 64
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


def ack_reply_info(subject: str) -> tuple[int, int, int, int, int]:
    """Go ackReplyInfo: (sseq, dseq, dc, ts, pending) from a v1 or v2 ack subject; zeros if not one."""
    toks = subject.split(".")
    n = len(toks)
    if (n != 9 and n < 11) or toks[0] != "$JS" or toks[1] != "ACK":
        return 0, 0, 0, 0, 0
    off = 4 if n >= 11 else 2
    nums = toks[off + 2 : off + 7]
    joined = "".join(nums)
    if joined.isdigit() and joined.isascii() and all(nums):  # the usual case: five plain numbers
        dc, sseq, dseq, ts, pending = map(int, nums)
        return sseq, dseq, dc, ts, pending
    vals = []
    for t in nums:
        vals.append(int(t) if t.isdigit() and t.isascii() else -1)
    dc, sseq, dseq, ts, pending = vals
    return max(sseq, 0), max(dseq, 0), max(dc, 0), ts, max(pending, 0)


class Consumer(PullRequests):
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
        # set by the server: called when OUTBOX_CHUNK deliveries wait in the
        # outbox (it may take them out and send them while the run goes on)
        self.on_outbox: Callable[[], None] | None = None
        self.acked: list[int] = []
        self.pending: dict[int, list[int]] = {}
        self.rdc: dict[int, int] = {}
        self.rdq: deque[int] = deque()
        self.rdqi: set[int] = set()
        self.waiting: deque[Waiting] = deque()
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
        self.current_pin = ""  # pinned_client: the pin id, its time, group and expiry
        self.pinned_ts = 0
        self.pin_group = ""
        self.pin_deadline = 0
        self.sig: list[str] | None = None  # the signal subjects after a filter update (None: the filters)
        self.kick = False  # Go signalNewMessages was called: the delivery loop runs (see _gather)
        self._set_filters(cfg)
        self._apply_cfg(cfg, now)
        self._set_rate(cfg, now)
        self.pblimit = FC_MAX_PENDING if cfg.flow_control else 0
        self.maxpb = max(self.pblimit // 16, 1) if cfg.flow_control else 0
        self.replay = cfg.replay_policy == "original"
        self.replay_lseq = self.store.fast_state().last_seq  # pacing covers what was stored at start
        self.lts = 0  # store timestamp of the last delivery, for replay pacing
        self.replay_at = 0  # a held message may go at this time
        self.cstore = StoreState(cfg.ack_policy == "none", cfg.max_deliver)
        self._select_start()
        if self.replay and self.sseq > self.replay_lseq:
            self.replay = False  # Go loopAndGatherMsgs' first pass: nothing stored is left to pace
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

    def _apply_cfg(self, cfg: ConsumerConfig, now: int) -> None:
        self.maxp = cfg.max_ack_pending
        self.maxdc = max(cfg.max_deliver, 0)
        sf = cfg.sample_freq[:-1] if cfg.sample_freq.endswith("%") else cfg.sample_freq
        # Go updateConfig keeps the old frequency when the new one does not parse
        # (an update that drops sample_freq goes on sampling)
        self.sfreq = int(sf) if sf.strip().lstrip("+-").isdigit() else getattr(self, "sfreq", 0)
        # Go updatePauseState: a pause_until already past arms no timer (and so
        # sends no pause advisory later); a stale deadline would also stop the
        # oracle's clock short of the consumers' other timers
        until = parse_time(cfg.pause_until) or 0
        self.pause_until = until if until >= now else 0
        # Go updateInactiveThreshold: ephemerals default to 5s, which shows in the config.
        if not is_durable(cfg) and cfg.inactive_threshold <= 0:
            self.cfg = cfg = msgspec.structs.replace(cfg, inactive_threshold=DELETE_WAIT_DEFAULT)
        self.dthresh = max(cfg.inactive_threshold, 0)

    def update(self, cfg: ConsumerConfig, now: int) -> bool:
        """Apply a config that passed ``check_update`` (Go updateConfig).
        Returns whether the filters changed."""
        old = self.cfg
        signal = cfg.max_ack_pending != old.max_ack_pending or cfg.pause_until != old.pause_until
        if cfg.deliver_subject != old.deliver_subject and self.pending:
            self._force_expire_pending(now)
            signal = True
        refilter = filters_of(cfg) != self.filters
        self.cfg = cfg
        self._apply_cfg(cfg, now)
        self.cstore.max_deliver = cfg.max_deliver
        if self.dthresh != max(old.inactive_threshold, 0):
            self._arm_inactive(now)
        if cfg.rate_limit_bps != old.rate_limit_bps:
            self._set_rate(cfg, now)
        if cfg.ack_wait != old.ack_wait and self.ack_deadline:
            self.ack_deadline = now + 100 * _MS
        if refilter:
            self._set_filters(cfg)
            # Go swapSigSubs: from now on the stream signals exactly the new
            # filters - none when the update removed them (not '>')
            self.sig = list(self.filters)
            self.npc = self._calc_pending()
        self._gather(now, signal)
        return refilter

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

    def signalled(self, subject: str) -> bool:
        """Does the stream tell this consumer of a new or removed message on
        ``subject``? Go's signal sublist (``mset.csl``) holds the filters, or '>'
        without any; after an update that changed the filters it holds exactly
        the new ones, none when the update removed them (``swapSigSubs``)."""
        sig = self.sig
        if sig is None:
            return self.matches(subject)
        return any(subject == f or (not is_literal(f) and subject_matches_filter(subject, f)) for f in sig)

    def _calc_pending(self) -> int:
        """Go calculateNumPending (also records ``npf``, the last sequence it covers)."""
        lps = self.cfg.deliver_policy == "last_per_subject"
        self.npf = self.store.fast_state().last_seq
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
        """Go processStreamSignal: the running count grows for anything past what
        it covered; the delivery loop runs for a message at or past ``sseq``
        (a push consumer's only while bound, a pull consumer's only with requests waiting)."""
        if not self.signalled(subject):
            return
        if seq > self.npf:
            self.npc += 1
        if seq >= self.sseq and (self.waiting if self.is_pull else self.active):
            self._gather(now)

    def on_removed(self, seq: int, subject: str, now: int) -> None:
        """Go decStreamPending: a single message left the stream (only a consumer
        the stream signals for ``subject`` hears of it)."""
        if not self.signalled(subject):
            return
        if seq >= self.sseq:
            self.npc -= 1
        p = self.pending.get(seq)
        if p is not None:
            self._term(seq, p[0], self._delivery_count(seq), TERM_UNACKED_LIMITS, now)
        elif self.rdc.pop(seq, None) is not None:
            self.cstore.acks(0, seq, False)
            self.lat = now
        self._gather(now, False)

    def on_purged_wider(self, first_seq: int, now: int) -> None:
        """Go consumer.purge with isWider: a filtered purge that this consumer's
        filters (or its lack of any) reach beyond; ``first_seq`` is the stream's
        first sequence after the purge."""
        self.on_purged(first_seq, 0, now, wider=True)

    def _exists(self, seq: int) -> bool:
        try:
            self.store.load_msg(seq)
        except StoreError:
            return False
        return True

    def on_purged(self, first_seq: int, last_seq: int, now: int, *, wider: bool = False) -> None:
        """Go consumer.purge: ``first_seq`` is the stream's first sequence after the
        purge (of the purged subject's messages, unless ``wider``); with ``wider``
        pending messages the purge removed go too."""
        sseq = first_seq or (0 if wider else last_seq + 1)
        if self.sseq < sseq:
            self.sseq = sseq
        if self.asflr < sseq:
            self.asflr = sseq - 1
            for seq in [s for s in self.pending if s <= self.asflr or (wider and not self._exists(s))]:
                p = self.pending.pop(seq)
                self.rdc.pop(seq, None)
                self.lat = now  # Go updateAcks for each purged pending message
                if p[0] > self.adflr:
                    self.adflr = p[0]
                    self.dseq = max(self.dseq, self.adflr)
        if not self.pending:
            self.adflr, self.asflr = self.dseq - 1, self.sseq - 1
        if self.rdq:
            keep = [s for s in self.rdq if s >= self.sseq]
            self.rdq, self.rdqi = deque(keep), set(keep)
        # Go leaves a last-per-subject start list alone: a purged entry is a miss later
        self.cstore.sync(self)
        self._gather(now, False)

    def on_purge_count(self, first_seq: int) -> None:
        """Go storeUpdates for a purge that removed messages, before the consumers'
        purge step: num_pending is counted afresh (``streamNumPendingLocked``) and
        redelivery records below the stream's first sequence go (``removeRedeliveredBelow``)."""
        self.npc = self._calc_pending()
        if first_seq:
            for seq in [s for s in self.rdc if s < first_seq]:
                del self.rdc[seq]
                self._remove_rdq(seq)
                self.cstore.rd.pop(seq, None)

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
            self.inactive_at = now + self.dthresh if self.dthresh > 0 else 0
        elif not self.active and self.dthresh > 0:
            self.inactive_at = now + self.dthresh
        else:
            self.inactive_at = 0

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
                self._dec_delivery_count(seq)
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
            if self.sseq > last and self.npc != 0:  # Go checkNumPendingOnEOF
                self.npc, self.npf = 0, last
            return None, 0, "eof"
        except StoreError:
            return None, 0, "not_found"
        if seq >= self.sseq:
            self.sseq = seq + 1
        return sm, 1, ""

    def wake(self, now: int) -> None:
        """Deliver what can be delivered now (after an outside change such as a reset)."""
        self._gather(now)

    def _paused(self, now: int) -> bool:
        return self.pause_until > 0 and now < self.pause_until

    def _gather(self, now: int, signal: bool = True) -> None:
        """The body of Go loopAndGatherMsgs, until nothing more can be delivered.

        ``signal`` False: an input after which Go does not kick the delivery loop
        (``signalNewMessages``) unless a step on the way did (``kick``). It
        matters for pull requests whose reply interest is gone: Go's loop finds
        them only when it runs, takes the next message, drops them and puts the
        message back - a redelivery at the end of the redelivery queue. Without
        a signal, such requests are left alone here too. A push consumer's loop
        does not run at all without one: a purge that empties pending at
        max_ack_pending delivers nothing until the next message or timer."""
        if self.closed:
            return
        if self.kick:
            self.kick, signal = False, True
        cfg = self.cfg  # (nothing in the loop changes the config)
        is_pull = not cfg.deliver_subject
        if is_pull and not self.waiting and not self.replay:
            return  # no request to serve (the loop below would stop at once)
        if not signal and not is_pull:
            return
        if not signal and is_pull and self.waiting and not any(
                self.has_interest(wr.reply) for wr in self.waiting):
            return
        why = ""
        pinned = cfg.priority_policy == "pinned_client"
        # a message held for replay original goes when its gap has passed, bound
        # or paused or not (Go delivers it after its sleep in the loop)
        held = not is_pull and 0 < self.replay_at <= now
        while True:
            if held:
                pass
            elif self.pause_until > 0 and now < self.pause_until:  # _paused
                break
            elif is_pull:
                if not self.waiting:
                    break
            elif not self.active or (self.maxpb > 0 and self.pbytes > self.maxpb):
                break
            sm, dc, why = self._get_next(now)
            if sm is None:
                break
            if self.replay and self.lts > 0 and dc == 1 and sm.ts - self.lts > _MS:
                if not self.replay_at:
                    self.replay_at = now + (sm.ts - self.lts)
                if now < self.replay_at:  # Go sleeps here; we hold the message until the timer
                    self.sseq = sm.seq
                    break
            self.replay_at, held = 0, False
            if dc == 1:
                self.npc -= 1
            ack = (f"$JS.ACK.{self.stream.config.name}.{self.name}.{dc}.{sm.seq}.{self.dseq}."
                   f"{sm.ts}.{max(self.npc, 0)}")  # num_pending
            hdr, data = sm.hdr, sm.data
            if cfg.headers_only:
                base = hdr[:-2] if hdr else b"NATS/1.0\r\n"
                hdr, data = base + f"Nats-Msg-Size: {len(sm.data)}\r\n\r\n".encode(), b""
            sz = len(sm.subject) + len(ack) + (len(hdr) if hdr else 0) + len(data)
            wrn = wrb = 0
            if not is_pull:
                to = cfg.deliver_subject
                if self.rl_rate and not self._take_tokens(sz, now):
                    self._put_back(sm, dc)
                    break
            else:
                wr = self._next_waiting(sz, now)
                if wr is None:
                    self._put_back(sm, dc)
                    break
                to, wrn, wrb = wr.reply, wr.n, wr.b
                if pinned:
                    base = hdr[:-2] if hdr else b"NATS/1.0\r\n"
                    hdr = base + f"Nats-Pin-Id: {self.current_pin}\r\n\r\n".encode()
                if wr.n > 0 and wr.hb > 0:
                    wr.hbt = now + wr.hb
            self._deliver(to, ack, sm, hdr, data, dc, now)
            self.lts = sm.ts
            if wrn <= 0 and wrb > 0:
                self._send(to, status_hdr(409, "Batch Completed", (wrn, wrb)))
            if cfg.idle_heartbeat > 0 and not is_pull:
                self.hb_at = now + cfg.idle_heartbeat
        if held:  # the held message is gone from the stream: nothing to wait for
            self.replay_at = 0
        if self.replay and self.sseq > self.replay_lseq:
            self.replay = False
        if is_pull and self.waiting:
            self._process_waiting(why != "max_ack_pending", now)

    def _put_back(self, sm: StoreMsg, dc: int) -> None:
        """Undo taking ``sm``: it is the next to deliver again (Go loopAndGatherMsgs)."""
        if dc == 1 and sm.seq == self.sseq - 1:
            self.sseq -= 1
            self.npc += 1
        elif sm.seq not in self.rdqi:
            self._dec_delivery_count(sm.seq)
            self._add_rdq(sm.seq)

    def _dec_delivery_count(self, seq: int) -> None:
        """Go decDeliveryCount; a count back at zero is no redelivery (v2.15.1
        does not report it in num_redelivered [obs])."""
        n = self.rdc.get(seq, 0) - 1
        if n > 0:
            self.rdc[seq] = n
        else:
            self.rdc.pop(seq, None)

    def _set_rate(self, cfg: ConsumerConfig, now: int) -> None:
        """Go setRateLimit: a token bucket of rate_limit_bps/8 bytes a second, burst max_msg_size."""
        self.rl_rate = cfg.rate_limit_bps // 8
        mms = self.stream.config.max_msg_size
        self.rl_burst = mms if mms > 0 else self.stream.max_payload
        self.rl_tokens = float(self.rl_burst)
        self.rl_last = now
        self.rl_at = 0

    def _take_tokens(self, sz: int, now: int) -> bool:
        """Spend ``sz`` bytes of the bucket, or arm ``rl_at`` for when they will be there."""
        self.rl_tokens = min(self.rl_burst, self.rl_tokens + (now - self.rl_last) * self.rl_rate / _S)
        self.rl_last = now
        need = min(sz, self.rl_burst)  # Go would wait forever for a message above the burst
        if self.rl_tokens >= need:
            self.rl_tokens -= need
            self.rl_at = 0
            return True
        self.rl_at = now + int((need - self.rl_tokens) * _S / self.rl_rate) + 1
        return False

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
        if self.on_outbox is not None and len(self.outbox) >= OUTBOX_CHUNK:
            self.on_outbox()
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
        if self.dthresh > 0 and self.inactive_at:
            # Go suppressDeletion: ack activity restarts the delete timer
            if self.is_pull:
                self.waiting_last = now
            self.inactive_at = now + self.dthresh
        sseq, dseq, dc, _, _ = ack_reply_info(subject)
        skip_reply = sseq == 0
        if body in (b"", b"+ACK", b"+OK"):
            if not self._ack_msg(sseq, dseq, now, dc, True):
                skip_reply = True
        elif body.startswith(b"+NXT"):
            self._ack_msg(sseq, dseq, now, dc, True)
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
        self._gather(now, False)  # Go signals only where the steps above set kick

    def _ack_msg(self, sseq: int, dseq: int, now: int, dc: int = 1, sample: bool = False) -> bool:
        """Go processAckMsgLocked; True when the ack was taken (an ack reply is due)."""
        if sseq >= self.sseq and not self.cfg.flow_control:
            return False
        ap = self.cfg.ack_policy
        if ap == "explicit":
            p = self.pending.get(sseq)
            if p is not None and sample:
                self._sample_ack(sseq, dseq, dc, p[1], now)
            if self.maxp > 0 and sseq in self.pending and len(self.pending) >= self.maxp:
                self.kick = True  # Go needSignal: at max_ack_pending, this frees a slot
            p = self.pending.pop(sseq, None)
            if p is not None:
                dseq = p[0]
                self._move_ack_floor(p[0], sseq)
            self.rdc.pop(sseq, None)
            self._remove_rdq(sseq)
            if self.stream.config.retention != "limits":
                # Go tells the stream of every ack in place, also of a message no
                # longer pending (one past max_deliver: the stream may drop it now)
                self.acked.append(sseq)
        elif ap in ("all", "flow_control"):
            if dseq <= self.adflr or sseq <= self.asflr:
                return True
            if self.maxp > 0 and len(self.pending) >= self.maxp:
                self.kick = True
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

    def _sample_ack(self, sseq: int, dseq: int, dc: int, delivered_at: int, now: int) -> None:
        """Go sampleAck: the consumer_ack metric for roughly sample_freq percent of acks."""
        freq = self.sfreq
        if freq <= 0 or (freq < 100 and self.rng.randrange(100) > freq):
            return
        subj = f"$JS.EVENT.METRIC.CONSUMER.ACK.{self.stream.config.name}.{self.name}"
        metric = ConsumerAckMetric(id=self._id(), timestamp=rfc3339nano(now), stream=self.stream.config.name,
                                   consumer=self.name, consumer_seq=dseq, stream_seq=sseq,
                                   ack_time=now - delivered_at, deliveries=dc, domain=self.domain)
        self.outbox.append(OutMsg(subj, subj, None, None, encode_reply(metric)))

    def reset(self, seq: int) -> int:
        """CONSUMER.RESET (Go resetStartingSeqLocked, standalone): the new start, or raises ValueError."""
        dp = self.cfg.deliver_policy
        if seq == 0:
            seq = self.asflr + 1
        elif dp == "all":
            pass
        elif dp == "by_start_sequence":
            if seq < self.cfg.opt_start_seq:
                raise ValueError("below start seq")
        elif dp == "by_start_time":
            if seq < self.store.get_seq_from_time(parse_time(self.cfg.opt_start_time) or 0):
                raise ValueError("below start time")
        else:
            raise ValueError("not allowed")
        seq = max(seq, 1)
        # Go resetLocalStartingSeq: num_pending is counted afresh only when the
        # start moves or something was pending; back to the floor with ack all
        # (or flow control) it just takes the pending messages back
        recalc = self.sseq != seq or bool(self.pending)
        if recalc and seq == self.asflr + 1 and self.cfg.ack_policy in ("all", "flow_control"):
            self.npc += len(self.pending)
            recalc = False
        self.pending.clear()
        self.rdc.clear()
        self.rdq.clear()
        self.rdqi.clear()
        self.lss = None
        self.sseq, self.dseq = seq, 1
        self.adflr, self.asflr = 0, seq - 1
        self.ldt = self.lat = 0
        # the pending timer keeps running (Go leaves ptmr alone): when it fires
        # with nothing pending it stops, else it re-arms for what was delivered since
        self.cstore = StoreState(self.cfg.ack_policy == "none", self.cfg.max_deliver)
        self.cstore.set_starting(seq - 1)
        if recalc:
            self.npc = self._calc_pending()
        if self.stream.config.retention != "limits":
            self._ack_below_floor()
        return seq

    def _ack_below_floor(self) -> None:
        """Go checkStateForInterestStream after a reset (nothing pending): the
        messages of this consumer at or below its ack floor are acked to the
        stream (``acked``: the consumer set frees those no one else needs)."""
        ss = self.store.fast_state()
        if self.asflr > ss.last_seq:
            return
        seq = ss.first_seq
        while seq <= self.asflr:
            try:
                sm, seq = self.store.load_next_msg("", False, seq)
            except StoreError:
                break
            if seq > self.asflr:
                break
            if self.matches(sm.subject):
                self.acked.append(seq)
            seq += 1

    def restore(self, st, now: int) -> None:
        """Continue from a persisted consumer-store state ``st`` (a
        ``natsd.jetstream._consumerpersist.PersistedState``): Go applyState,
        checkRedelivered and, when the stream came back shorter than what was
        delivered, reconcileStateWithStream."""
        self.sseq, self.dseq = st.delivered_stream + 1, st.delivered_consumer + 1
        self.adflr, self.asflr = st.ack_floor_consumer, st.ack_floor_stream
        self.pending = {s: [d, ts] for s, d, ts in st.pending}
        self.rdc = dict(st.redelivered)
        self.rdq.clear()
        self.rdqi.clear()
        self.lss = None
        ss = self.store.fast_state()
        for seq in [s for s in self.rdc if s < ss.first_seq]:
            del self.rdc[seq]
        cs = self.cstore = StoreState(self.cfg.ack_policy == "none", self.cfg.max_deliver)
        cs.dc, cs.ds, cs.ac, cs.as_ = st.delivered_consumer, st.delivered_stream, st.ack_floor_consumer, \
            st.ack_floor_stream
        cs.pending = {s: d for s, d, _ in st.pending}
        cs.rd = dict(self.rdc)
        if self.sseq - 1 > ss.last_seq:  # Go reconcileStateWithStream: the stream lost its tail
            if self.asflr > ss.last_seq:
                self.asflr, self.adflr = ss.last_seq, max(self.dseq - 1, 0)
                self.pending, self.rdc = {}, {}
            self.pending = {s: p for s, p in self.pending.items() if s <= ss.last_seq}
            self.rdc = {s: n for s, n in self.rdc.items() if s <= ss.last_seq}
            if not self.pending:
                self.sseq, self.dseq = self.asflr + 1, self.adflr + 1
            else:
                self.sseq = max(self.pending) + 1
                self.dseq = max(p[0] for p in self.pending.values()) + 1
            cs.sync(self)
        self.npc = self._calc_pending()
        self.ack_deadline = 0
        if self.pending:  # Go: check pending soon after a restart, 500ms..1.5s, or ack_wait when shorter
            delay = 500 * _MS + self.rng.randrange(1000) * _MS
            if self.cfg.ack_wait < delay:
                delay = self._ack_wait(0)
            self.ack_deadline = now + delay

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
                    delay = int_field(obj, "delay") if isinstance(obj, dict) else None
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
        self.kick = True

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
        if self.maxp > 0 and len(self.pending) >= self.maxp:
            self.kick = True
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
            self.kick = True
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
        self.kick = True

    # -- time -----------------------------------------------------------------------------
    def next_deadline(self) -> int | None:
        ds = [d for d in (self.ack_deadline, self.hb_at, self.inactive_at, self.replay_at, self.pin_deadline,
                          self.rl_at) if d]
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
        if self.pin_deadline and now >= self.pin_deadline and self.current_pin:
            self.unpin(self.pin_group, "timeout", now)
        signal = False  # Go kicks its delivery loop only for some timers (see _gather)
        if self.pause_until and now >= self.pause_until:
            self.pause_until = 0
            self.pause_advisory(now)
            signal = True
        if not self.is_pull and self.hb_at and now >= self.hb_at:
            if self.active:
                self.outbox.append(OutMsg(self.cfg.deliver_subject, self.cfg.deliver_subject, None,
                                          self._heartbeat_hdr(), b""))
                if self.cfg.ack_policy == "flow_control" and self.pending and not self.fcid:
                    self._send_flow_control()
            self.hb_at = now + self.cfg.idle_heartbeat
            signal = True
        if self.waiting and any((wr.expires and now >= wr.expires) or (wr.hbt and now >= wr.hbt)
                                for wr in self.waiting):
            self._process_waiting(True, now)  # Go: the request timer of loopAndGatherMsgs
            signal = True
        if (self.rl_at and now >= self.rl_at) or (self.replay_at and now >= self.replay_at):
            signal = True
        self._gather(now, signal)
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
            # Go deleteNotActive: not before the last delivered message's ack
            # wait (its backoff step) plus the threshold has passed
            bo = self.cfg.backoff
            last = max((ts + self._ack_wait(bo[min(max(self.rdc.get(seq, 0), 0), len(bo) - 1)] if bo else 0)
                        + self.dthresh for seq, (_, ts) in self.pending.items()), default=0)
            if last > now:
                self.inactive_at = last
                return False
            return True
        return False

    # -- lifecycle and state ----------------------------------------------------------------
    def stop(self) -> None:
        """Go stopWithFlags for a delete: waiting pull requests get 409 Consumer Deleted."""
        for wr in self.waiting:
            self._send(wr.reply, status_hdr(409, "Consumer Deleted"))
        self.waiting.clear()
        self.closed = True

    def pause(self, until: int, now: int) -> None:
        """CONSUMER.PAUSE: ``until`` 0 resumes (Go updateConfig with a new pause_until)."""
        old = self.cfg.pause_until
        self.pause_until = until if until > now else 0
        self.cfg = msgspec.structs.replace(self.cfg, pause_until=rfc3339nano(until) if until else None)
        if self.cfg.pause_until != old:
            self.pause_advisory(now)
        # Go updateConfig does not signal the loop: a resumed push consumer
        # delivers at its next message or timer
        self._gather(now, self.is_pull)

    def pause_advisory(self, now: int) -> None:
        """Go sendPauseAdvisoryLocked."""
        until = parse_time(self.cfg.pause_until) or 0
        self._advisory("$JS.EVENT.ADVISORY.CONSUMER.PAUSE", ConsumerPauseAdvisory(
            id=self._id(), timestamp=rfc3339nano(now), stream=self.stream.config.name, consumer=self.name,
            paused=now < until, pause_until=rfc3339nano(until), domain=self.domain))

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
        st = self.store.fast_state()  # Go checkNumPending: clamp the running count
        if self.sseq > st.last_seq:
            self.npc = 0
        elif self.npc > 0:
            self.npc = min(self.npc, st.msgs, st.last_seq - self.sseq + 1)
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
            priority_groups=[PriorityGroupState(
                group=self.cfg.priority_groups[0], pinned_client_id=self.current_pin or None,
                pinned_ts=rfc3339nano(self.pinned_ts))] if self.cfg.priority_groups else None,
        )

    def drain(self) -> list[OutMsg]:
        out = list(self.outbox)
        self.outbox.clear()
        return out


def _to_int(v: str | None) -> int:
    try:
        return int(v) if v is not None else 0
    except ValueError:
        return 0
