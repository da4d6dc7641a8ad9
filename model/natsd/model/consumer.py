"""Reference model of JetStream pull consumers, as clients see them.

The plainest statement of spec/consumer.toml for a single server, the global
account and memory storage, on top of the stream model (natsd.model.stream),
which it extends with retention policies and the consumer hooks. Every
request returns what the Go server answers: a dict for $JS.API replies (times
already replaced by the mask tokens), the frames a pull request receives, or
whether an ack is answered.

It mirrors the observable behaviour of server/consumer.go
(``addConsumerWithAssignmentAndMode``, ``updateConfig``,
``selectStartingSeqNo``, ``processNextMsgRequest``, ``nextWaiting``,
``processWaiting``, ``getNextMsg``, ``loopAndGatherMsgs``, ``deliverMsg``,
``processAck``, ``processAckMsgLocked``, ``moveAckFloor``, ``processNak``,
``progressUpdate``, ``processTerm``, ``checkPending``, ``hasMaxDeliveries``,
``needAck``, ``purge``, ``decStreamPending``, ``cleanupNoInterestMessages``,
``infoWithSnapAndReply``), server/memstore.go (``consumerMemStore``:
``UpdateDelivered``, ``UpdateAcks``, ``Update``) and server/stream.go
(``ackMsg``, ``purgeLocked``, the no-interest skip of
``processJetStreamMsg``); config handling is in natsd.model.consumercfg.

Theory of operation
-------------------
A consumer (:class:`Consumer`) keeps two views of its progress, because Go
does and clients see both:

* the *running* state: ``sseq`` (next stream sequence to look at), ``dseq``
  (next consumer sequence), the ack floors ``adflr``/``asflr``, ``pending``
  (stream seq -> [consumer seq, time delivered]), ``rdc`` (redelivery counts),
  ``rdq`` (the redelivery queue), ``lss`` (a last-per-subject start list) and
  the pending timer ``ptmr`` (when checkPending runs next);
* the *stored* state (Go's consumer store): ``s_delivered``, ``s_ack``,
  ``s_pending``, ``s_red``. CONSUMER.INFO reports delivered and ack_floor from
  it, num_ack_pending and num_redelivered from the running state.

Only the public methods change state: ``consumer_create``,
``consumer_delete``, ``fetch`` (one pull request, run to its end: delivered
messages and status messages), ``ack`` (a message published to an ack reply
subject), ``advance`` (time passes: the pending timer fires and ack_wait /
backoff redeliveries are queued), and the stream operations inherited from
the stream model (publish, purge, delete_msg), which tell the consumers about
removed messages. Time is data: ``now`` in integer nanoseconds.

Pull requests here never outlive the call that makes them: a request either
completes (batch filled, no_wait with nothing more) or, with ``expires``, the
clock moves to its expiry inside ``fetch`` (what the core harness does with
its fake clock; what real time does on the wire). A no_wait request stopped
by max_ack_pending stays queued; its client then drops the reply
subscription, and the next time the delivery loop runs it finds no interest
(``abandoned``, ``_signal``). Ephemeral consumers are created (and named;
their inactivity timer is not modelled), pause and reset are in
natsd.model.consumer_admin, the priority-group request checks and policy
overflow in natsd.model.consumer_priority. Push delivery, heartbeats, pinned
clients and advisories are not modelled (a push consumer is created and
reported, and pull requests to it are refused).

Go does several things asynchronously; the model fixes the order Go almost
always shows: a pending message removed from the stream is terminated after
the removal (within a purge: after the consumers' purge step), and the
consumers learn of a new message before the next request (the wire harness
waits a moment after each publish for that).

Coverage: ``ccovered`` collects the spec/consumer.toml rule ids each call went
through (``covered`` keeps the stream model's).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from natsd.api import errors as E
from natsd.model import consumercfg as K
from natsd.model.consumer_admin import AdminMixin, api_level_refused, parse_time
from natsd.model.consumer_priority import (
    overflow_passes_over,
    pin_refusal,
    pinned_passes_over,
    priority_refusal,
)
from natsd.model.consumer_push import PushMixin, sample_freq_of
from natsd.model.stream import TS, VER, Msg, Stream, StreamModel, subject_matches

__all__ = ["ConsumerModel", "Consumer", "Frame", "Waiting", "ack_reply", "parse_ack_reply"]

_T = "io.nats.jetstream.api.v1."
CREATE_T = _T + "consumer_create_response"
INFO_T = _T + "consumer_info_response"
DELETE_T = _T + "consumer_delete_response"
API_LEVEL = 5
MS = 1_000_000
#: ackWaitDelay: Go arms the pending timer this much after a deadline.
ACK_WAIT_DELAY = MS
#: The terminated-advisory reason for a pending message the stream removed.
REASON_REMOVED = "Message deleted by stream limits"
#: ... and the one of decStreamPending (Go ackTermUnackedLimitsReason).
REASON_UNACKED = "Unacknowledged message was deleted"


#: The config rule an error code of checkConsumerCfg belongs to (coverage).
_ERROR_RULES = {
    10157: "consumer.config.normalise", 10183: "consumer.config.ack_wait", 10184: "consumer.config.backoff",
    10116: "consumer.config.backoff", 10121: "consumer.config.max_ack_pending", 10080: "consumer.config.max_waiting",
    10094: "consumer.config.deliver_policy", 10136: "consumer.config.filters", 10138: "consumer.config.filters",
    10139: "consumer.config.filters", 10079: "consumer.config.push", 10112: "consumer.config.push",
    10081: "consumer.config.push", 10082: "consumer.config.push", 10083: "consumer.config.push",
    10108: "consumer.config.push", 10084: "consumer.config.pull", 10086: "consumer.config.pull",
    10088: "consumer.config.pull", 10089: "consumer.config.pull", 10114: "consumer.config.pull",
    10115: "consumer.config.pull", 10125: "consumer.config.pull", 10095: "consumer.config.sample_freq",
    10090: "consumer.config.direct", 10091: "consumer.config.direct", 10178: "consumer.config.priority",
    10159: "consumer.config.priority", 10161: "consumer.config.priority", 10162: "consumer.config.priority",
    10196: "consumer.config.priority", 10197: "consumer.config.priority", 10107: "consumer.config.description_metadata",
    10135: "consumer.config.description_metadata", 10126: "consumer.config.replicas",
    10133: "consumer.config.replicas", 10134: "consumer.config.replicas", 10132: "consumer.config.names",
    10218: "consumer.config.ack_flow_control", 10219: "consumer.config.ack_flow_control",
    10220: "consumer.config.ack_flow_control", 10221: "consumer.config.ack_flow_control",
    10222: "consumer.config.ack_flow_control", 10153: "consumer.config.inactive_threshold",
}


def _err(e: E.ApiError) -> dict:
    return {"code": e.code, "err_code": e.err_code, "description": e.description}


def ack_reply(stream: str, consumer: str, dc: int, sseq: int, dseq: int, ts: int, pending: int) -> str:
    """consumer.ack.reply_subject: the v1 ack reply subject of a delivery."""
    return f"$JS.ACK.{stream}.{consumer}.{dc}.{sseq}.{dseq}.{ts}.{pending}"


def parse_ack_reply(subject: str) -> tuple[str, str, int, int, int] | None:
    """(stream, consumer, delivery count, stream seq, consumer seq) of a v1 ack subject."""
    t = subject.split(".")
    if len(t) != 9 or t[:2] != ["$JS", "ACK"]:
        return None
    try:
        return t[2], t[3], int(t[4]), int(t[5]), int(t[6])
    except ValueError:
        return None


def _go_duration(ns: int) -> str:
    """Go ``time.Duration.String`` for the whole-millisecond values the campaign uses."""
    if ns == 0:
        return "0s"
    if ns % 10**9 == 0:
        s = ns // 10**9
        h, m, sec = s // 3600, (s % 3600) // 60, s % 60
        if h:
            return f"{h}h{m}m{sec}s"
        if m:
            return f"{m}m{sec}s"
        return f"{sec}s"
    if ns < 10**9:
        return f"{ns / MS:g}ms" if ns % MS == 0 else f"{ns / 1000:g}µs"
    return f"{ns / 10**9:g}s"


_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)$")
_UNIT = {"ns": 1, "us": 1000, "µs": 1000, "ms": MS, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def _parse_go_duration(text: str) -> int | None:
    """The simple forms of Go ``time.ParseDuration`` (one number and unit), else None."""
    m = _DURATION.match(text)
    if not m:
        return None
    return int(float(m.group(1)) * _UNIT[m.group(2)])


# ---------------------------------------------------------------------- state


@dataclass
class Waiting:
    """One pull request (Go ``waitingRequest``): n still wanted, d delivered,
    b bytes left (0 = no limit), expires (absolute ns, 0 = never)."""

    n: int
    b: int
    expires: int
    no_wait: bool
    d: int = 0
    done: bool = False
    #: policy overflow: the request's thresholds (0 = none)
    min_pending: int = 0
    min_ack_pending: int = 0
    #: idle_heartbeat (ns, 0 = none) and when the next one is due (absolute ns)
    hb: int = 0
    hbt: int = 0
    #: policy pinned_client: the pin id the request holds ("" = none)
    pin: str = ""
    #: its priority group ("" = none; the pinned advisory names it)
    group: str = ""


@dataclass
class Frame:
    """What a pull request's reply subject receives: a message (subject, ack
    reply, header block, payload) or a status (its header block, ``subject`` "")."""

    subject: str
    reply: str
    hdr: bytes
    data: bytes = b""


@dataclass
class Consumer:
    stream: str
    name: str
    cfg: dict
    sseq: int = 1
    dseq: int = 1
    adflr: int = 0
    asflr: int = 0
    pending: dict[int, list[int]] = field(default_factory=dict)  # sseq -> [dseq, ts]
    rdc: dict[int, int] = field(default_factory=dict)
    rdq: list[int] = field(default_factory=list)
    lss: tuple[list[int], int] | None = None  # (seqs still to deliver, resume seq)
    ptmr: int | None = None  # when the pending timer fires next
    s_delivered: list[int] = field(default_factory=lambda: [0, 0])  # [consumer, stream]
    s_ack: list[int] = field(default_factory=lambda: [0, 0])
    s_pending: dict[int, int] = field(default_factory=dict)  # sseq -> dseq
    s_red: dict[int, int] = field(default_factory=dict)
    delivered_at: bool = False  # Go ldt set (delivered.last_active)
    acked_at: bool = False  # Go lat set (ack_floor.last_active)
    #: stream seq -> how many times it was delivered since max_deliver was last
    #: set (for the max_deliver invariant of the campaign)
    deliveries: dict[int, int] = field(default_factory=dict)
    #: the signal subscriptions after a filter update (None: the filters, or '>')
    sig: list[str] | None = None
    #: Go's cached num_pending (npc) and the stream sequence it was computed through (npf)
    npc: int = 0
    npf: int = 0
    #: pull requests left waiting whose reply subject has no interest any more
    #: (a no_wait request stopped by max_ack_pending, once its op is over)
    abandoned: int = 0
    #: Go chkflr: where the interest-state walk after a reset resumes
    chkflr: int = 0
    #: pull requests left waiting with their client still listening (the frames
    #: list each keeps receiving): held by ``fetch(hold=True)`` until the consumer goes
    held: list = field(default_factory=list)
    #: policy pinned_client: the current pin id ("" = none), when it was set and
    #: when its priority_timeout runs out (Go currentPinId, pinnedTS, pinnedTtl)
    pin_id: str = ""
    pin_ttl: int | None = None
    #: the group the pin was claimed in (Go setPinnedTimer's callback names it)
    pin_group: str = ""
    #: inactive_threshold: the last pull activity (Go waiting.last) and when the
    #: delete timer fires next (Go dtmr; None = not running)
    last: int = 0
    dtmr: int | None = None
    #: push (natsd.model.consumer_push): the heartbeat timer, replay original
    #: (on while delivering what was stored at creation; the last delivery's
    #: store time; when a held message may go), the outstanding flow-control
    #: request ("" = none) and how many were sent
    hb_at: int = 0
    replay: bool = False
    replay_lseq: int = 0
    lts: int = 0
    replay_at: int = 0
    fcid: str = ""
    fc_serial: int = 0
    #: the ack sampling percentage (Go sfreq: kept by an update whose sample_freq does not parse)
    sfreq: int = 0
    #: Go signalNewMessages from hasMaxDeliveries (a slot freed at max_ack_pending)
    kick: bool = False

    @property
    def filters(self) -> list[str]:
        return K.filters_of(self.cfg)

    def matches(self, subject: str) -> bool:
        """Go ``isFilteredMatch`` (a literal subject against the filters)."""
        fs = self.filters
        return not fs or any(subject_matches(f, subject) for f in fs)

    def signalled(self, subject: str) -> bool:
        """Is the consumer told about a new or removed message on ``subject``?
        (Go's signal sublist: its filters, or '>' without filters - except that an
        update that changes the filters registers exactly the new ones, none when
        the update removed them.)"""
        subs = self.sig if self.sig is not None else (self.filters or [">"])
        return any(subject_matches(f, subject) for f in subs)

    @property
    def maxdc(self) -> int:
        return max(self.cfg["max_deliver"], 0)

    @property
    def ack(self) -> str:
        return self.cfg["ack_policy"]

    @property
    def is_pull(self) -> bool:
        return not self.cfg["deliver_subject"]


class ConsumerModel(PushMixin, AdminMixin, StreamModel):
    """Streams (with retention policies) and their pull consumers."""

    def __init__(self, now: int | None = None) -> None:
        super().__init__() if now is None else super().__init__(now)
        self.consumers: dict[str, dict[str, Consumer]] = {}
        self.ccovered: set[str] = set()
        self._batch_removal = False
        self._deferred: list | None = None
        # The messages an op stored, by stream, evicted at once or not: the
        # consumers hear of each (Go signals after the store, whose limits may
        # already have removed it: decStreamPending then the signal's count).
        self._stored: dict[str, list[Msg]] = {}
        self.ephemerals = 0  # ephemeral names handed out
        self._push_init()
        self.pins = 0  # pin ids handed out (P1, P2, ...; the harnesses mask Go's random ones)

    def _c(self, *rules: str) -> None:
        self.ccovered.update(rules)

    # -- the stream part: retention and the consumer hooks ---------------------

    def normalise(self, name: str, req: dict) -> dict | E.ApiError:
        cfg = super().normalise(name, req)
        if isinstance(cfg, dict):
            cfg["retention"] = req.get("retention") or "limits"
        return cfg

    def _state(self, st: Stream, *, details: bool = False, subjects: str = "") -> dict:
        state = super()._state(st, details=details, subjects=subjects)
        state["consumer_count"] = len(self.consumers.get(st.name, {}))
        return state

    def _of(self, st: Stream) -> list[Consumer]:
        return list(self.consumers.get(st.name, {}).values())

    def delete(self, name: str) -> dict:
        reply = super().delete(name)
        if reply.get("success"):
            self.consumers.pop(name, None)
        return reply

    def _interested(self, st: Stream, subject: str) -> bool:
        """Go's no-interest check on publish: a consumer's signal subjects take
        ``subject`` (stream.retention.interest.no_interest when none does)."""
        if any(o.signalled(subject) for o in self._of(st)):
            return True
        self._c("consumer.retention.interest_ack")
        return False

    def publish(self, subject: str, headers: tuple[tuple[str, str], ...], data: bytes) -> str | None:
        """The stream publish; on an interest stream a message no consumer is
        interested in is not kept (consumer.retention.interest_ack: Go skips it,
        the sequence is used: :meth:`_interested`). The consumers hear of each
        message stored (one, or the messages of a committed batch)."""
        st = self.capturing(subject)
        before = st.last_seq if st is not None else 0
        self._stored = {}
        text = super().publish(subject, headers, data)
        if st is not None:
            self._signal_stored(st, before)
        return text

    def settle(self) -> None:
        """The stream model's settle (due message schedules fire, mirrors and
        sources copy); the consumers hear of what it stored."""
        before = {name: st.last_seq for name, st in self.streams.items()}
        self._stored = {}
        super().settle()
        for name, st in self.streams.items():
            self._signal_stored(st, before.get(name, st.last_seq))

    def _store(self, st: Stream, msg: Msg) -> None:
        self._stored.setdefault(st.name, []).append(msg)
        super()._store(st, msg)

    def _signal_stored(self, st: Stream, before: int) -> None:
        """Each consumer whose signal subjects take a message stored after
        sequence ``before`` hears of it (Go ``signalConsumers``): num_pending
        counts it, and the consumer looks for work."""
        for msg in [m for m in self._stored.pop(st.name, []) if m.seq > before]:
            for o in self._of(st):
                if o.signalled(msg.subject):
                    if msg.seq > o.npf:
                        o.npc += 1
                    if msg.seq >= o.sseq and (o.is_pull or self.push_bound(o)):
                        self._signal(st, o)  # Go processStreamSignal: a push consumer's loop only while bound

    def _remove(self, st: Stream, seq: int) -> bool:
        """A message leaves the stream; each consumer whose filter matches hears
        of it (Go ``decStreamPending``) unless it is part of a batch purge."""
        msg = next((m for m in st.msgs if m.seq == seq), None)
        if not super()._remove(st, seq):
            return False
        if self._batch_removal:
            self._removed.append((seq, msg.subject))
        else:
            for o in self._of(st):
                if o.signalled(msg.subject):
                    self._dec_stream_pending(st, o, seq)
        return True

    def _dec_stream_pending(self, st: Stream, o: Consumer, seq: int) -> None:
        """consumer.stream_removed_pending: a pending message that left the stream
        is terminated (like an ack); a redelivery record without pending is dropped."""
        if seq >= o.sseq:
            o.npc -= 1
        if seq in o.pending:
            self._c("consumer.stream_removed_pending", "consumer.term.advisory")
            dseq, dc = o.pending[seq][0], o.rdc.get(seq, 0) or 1

            def term() -> None:
                self._ack_msg(st, o, seq, dseq, dc, term=True)
                self.term_event(o, seq, dseq, dc, REASON_UNACKED)

            # Go terminates it from another goroutine: within a purge, after the
            # consumers' own purge step
            if self._deferred is not None:
                self._deferred.append(term)
            else:
                term()
        elif seq in o.rdc:
            del o.rdc[seq]
            self._store_update_acks(o, 0, seq)

    def _purge_ex(self, st: Stream, subject: str, seq: int, keep: int) -> int:
        """The stream purge, then Go ``purgeLocked``'s consumer part: a single
        filtered removal is reported per message, more re-count; then each
        affected consumer's floors move past the purged range (consumer.stream_purge)."""
        self._batch_removal, self._removed = True, []
        try:
            n = super()._purge_ex(st, subject, seq, keep)
        finally:
            self._batch_removal = False
        removed, self._removed = self._removed, []
        full = subject in ("", ">") and (keep == 0 and seq == 0 or seq > 1)
        self._deferred = []
        if n == 0:
            pass
        elif len(removed) == 1 and not full:
            rseq, rsubj = removed[0]
            for o in self._of(st):
                if o.signalled(rsubj):
                    self._dec_stream_pending(st, o, rseq)
        else:
            first = st.first_seq
            for o in self._of(st):
                self._calc_pending(st, o)
                for s in [s for s in o.rdc if s < first]:
                    del o.rdc[s]
                    if s in o.rdq:
                        o.rdq.remove(s)
                for s in [s for s in o.s_red if s < first]:
                    del o.s_red[s]
        fseq, lseq = st.first_seq, st.last_seq
        filt = subject if subject not in ("", ">") or not full else ""
        if filt:
            same = [m.seq for m in st.msgs if subject_matches(filt, m.subject)]
            fseq = same[0] if same else 0
        for o in self._of(st):
            start, wider = fseq, False
            do = not filt or any(K.is_subset(f, filt) for f in o.filters)
            if not do and (not o.filters or any(K.is_subset(filt, f) for f in o.filters)):
                do, wider, start = True, True, st.first_seq
            if do:
                self._c("consumer.stream_purge")
                self._consumer_purge(st, o, start, lseq, wider)
        deferred, self._deferred = self._deferred, None
        for term in deferred:
            term()
        return n

    def _consumer_purge(self, st: Stream, o: Consumer, sseq: int, slseq: int, wider: bool) -> None:
        """Go ``consumer.purge``."""
        if sseq == 0 and not wider:
            sseq = slseq + 1
        o.sseq = max(o.sseq, sseq)
        if o.asflr < sseq:
            o.asflr = sseq - 1
            stored = {m.seq for m in st.msgs}
            for seq in sorted(o.pending):
                dseq = o.pending[seq][0]
                if seq <= o.asflr or (wider and seq not in stored):
                    if dseq > o.adflr:
                        o.adflr = dseq
                        o.dseq = max(o.dseq, o.adflr)
                    del o.pending[seq]
                    o.rdc.pop(seq, None)
                    self._store_update_acks(o, dseq, seq)
        if not o.pending:
            o.pending, o.rdc = {}, {}
            o.adflr, o.asflr = o.dseq - 1, o.sseq - 1
        o.rdq = [s for s in o.rdq if s >= o.sseq]
        self._write_store_state(o)

    def _write_store_state(self, o: Consumer) -> None:
        """Go ``writeStoreState`` into the memory consumer store (``Update``),
        refused when it would go backwards."""
        dc, ds = o.dseq - 1, o.sseq - 1
        if o.adflr > dc or o.asflr > ds:
            return
        if any(s <= o.asflr or s > ds for s in o.pending):
            return
        if dc < o.s_delivered[0] or o.asflr < o.s_ack[1]:
            return
        o.s_delivered, o.s_ack = [dc, ds], [o.adflr, o.asflr]
        o.s_pending = {s: p[0] for s, p in o.pending.items()}
        o.s_red = dict(o.rdc)

    # -- stored state (Go consumerMemStore) -------------------------------------

    def _store_update_delivered(self, o: Consumer, dseq: int, sseq: int, dc: int) -> None:
        if dc != 1 and o.ack == "none":
            return
        if dseq <= o.s_ack[0]:
            return
        if o.ack != "none":
            if sseq > o.s_delivered[1]:
                o.s_pending[sseq] = dseq
            o.s_delivered = [max(o.s_delivered[0], dseq), max(o.s_delivered[1], sseq)]
            if dc > 1:
                if o.maxdc > 0 and dc > o.cfg["max_deliver"]:
                    o.s_pending.pop(sseq, None)
                if o.s_red.get(sseq, 0) < dc - 1:
                    o.s_red[sseq] = dc - 1
        else:
            if dseq > o.s_delivered[0]:
                o.s_delivered[0] = o.s_ack[0] = dseq
            if sseq > o.s_delivered[1]:
                o.s_delivered[1] = o.s_ack[1] = sseq

    def _store_update_acks(self, o: Consumer, dseq: int, sseq: int) -> None:
        """Go ``updateAcks`` (ack activity: ack_floor.last_active) into the store."""
        o.acked_at = True
        if o.ack == "none":
            return
        o.s_red.pop(sseq, None)
        if dseq <= o.s_ack[0]:
            return
        if not o.s_pending or sseq not in o.s_pending:
            return
        if o.ack in ("all", "flow_control"):
            sgap = sseq - o.s_ack[1]
            o.s_ack = [dseq, sseq]
            if sgap > len(o.s_pending):
                for s in [s for s in o.s_pending if s <= sseq]:
                    del o.s_pending[s]
                    o.s_red.pop(s, None)
            else:
                s = sseq
                while s > sseq - sgap and o.s_pending:
                    o.s_pending.pop(s, None)
                    o.s_red.pop(s, None)
                    s -= 1
            return
        original = o.s_pending.pop(sseq)
        if dseq > original > 0:
            dseq = original
        if not o.s_pending:
            o.s_ack = list(o.s_delivered)
        elif dseq == o.s_ack[0] + 1:
            o.s_ack = [dseq, sseq]
            if o.s_delivered[0] > dseq:
                for ss in range(sseq + 1, o.s_delivered[1] + 1):
                    if ss in o.s_pending:
                        o.s_ack = [o.s_pending[ss] - 1, ss - 1]
                        break

    # -- config and API ---------------------------------------------------------

    def _info(self, o: Consumer, type_: str, *, unbound: bool = False) -> dict:
        """consumer.info.delivered, consumer.info.num_pending,
        consumer.info.num_ack_pending, consumer.pull.num_waiting."""
        self._c("consumer.info.delivered", "consumer.info.num_ack_pending", "consumer.info.num_pending")
        if o.held:
            self._c("consumer.pull.num_waiting")
        # Go processWaiting(false) first: requests whose reply interest is gone
        # are dropped (so no later signal finds them) [obs]
        o.abandoned = 0
        st = self.streams[o.stream]
        if o.s_delivered[0] != 0 or o.s_delivered[1] != 0:
            delivered = {"consumer_seq": o.s_delivered[0], "stream_seq": o.s_delivered[1]}
        else:
            delivered = {"consumer_seq": max(o.dseq, 1) - 1, "stream_seq": max(o.sseq, 1) - 1}
        if o.delivered_at:
            delivered["last_active"] = TS
        ack_floor = {"consumer_seq": o.s_ack[0], "stream_seq": o.s_ack[1]}
        if o.acked_at:
            ack_floor["last_active"] = TS
        cfg = K.to_json(o.cfg)
        cfg["metadata"] = {**(o.cfg["metadata"] or {}), "_nats.ver": VER, "_nats.level": str(API_LEVEL)}
        return self.pause_info(o, {
            "type": type_, "stream_name": o.stream, "name": o.name, "created": TS, "config": cfg,
            "delivered": delivered, "ack_floor": ack_floor, "num_ack_pending": len(o.pending),
            "num_redelivered": 0 if o.cfg["max_deliver"] == 1 else len(o.rdc), "num_waiting": len(o.held),
            "num_pending": self._check_num_pending(st, o), "ts": TS,
            **({} if unbound else self.push_info(o)),
        })

    def _calc_pending(self, st: Stream, o: Consumer) -> None:
        """Go ``streamNumPending``: num_pending counted afresh - the messages
        matching the filters at or after the next sequence (for deliver
        last_per_subject, the last message of each subject among them) - valid
        through the stream's last sequence."""
        matching = [m for m in st.msgs if m.seq >= o.sseq and o.matches(m.subject)]
        if o.cfg["deliver_policy"] == "last_per_subject":
            matching = list({m.subject: m for m in matching}.values())
        o.npc, o.npf = len(matching), st.last_seq

    def _num_pending(self, st: Stream, o: Consumer) -> int:
        """consumer.info.num_pending: Go keeps it as a running count (``npc``):
        counted at creation, on filter changes and after batch removals; one
        more for each new matching message past what was counted (even one below
        the next sequence to deliver), one less for each first delivery and each
        removed matching message at or after the next sequence."""
        return max(o.npc, 0)

    def _check_num_pending(self, st: Stream, o: Consumer) -> int:
        """Go ``checkNumPending`` (CONSUMER.INFO): the running count clamped to
        the stream's messages and to what is left after the next sequence."""
        if o.sseq > st.last_seq:
            o.npc = 0
        elif o.npc > 0:
            o.npc = min(o.npc, len(st.msgs), st.last_seq - o.sseq + 1)
        return self._num_pending(st, o)

    def consumer_create(self, stream: str, name: str, req: dict) -> dict:
        """$JS.API.CONSUMER.CREATE.<stream>.<name> with the request ``req``
        ({stream_name, config, action, pedantic}), in Go's order.

        consumer.config.enums (decoding); 10056 when stream_name differs;
        consumer.config.names (a durable_name other than the subject's name);
        consumer.config.replicas (above 1: 10074); consumer.create.stream_missing;
        consumer.config.api_level_metadata; the defaults and checks of
        natsd.model.consumercfg; consumer.create.action, consumer.create.idempotent,
        consumer.update.immutable / consumer.update.mutable for an existing name;
        consumer.create.workqueue; then the new consumer starts
        (consumer.deliver.*: :meth:`_select_start`).
        """

        def fail(e: E.ApiError) -> dict:
            return {"type": CREATE_T, "error": _err(e)}

        cfg = K.decode(req.get("config"))
        if isinstance(cfg, E.ApiError):
            self._c("consumer.config.enums")
            return fail(cfg)
        if req.get("stream_name", "") != stream:
            return fail(E.stream_mismatch())
        if "\\" in name or "/" in name:
            return fail(E.consumer_name_contains_path_separators())
        legacy = not name  # $JS.API.CONSUMER.CREATE.<stream>: the legacy ephemeral request
        if legacy and cfg["durable_name"]:
            self._c("consumer.config.ephemeral_name")
            return fail(E.consumer_ephemeral_with_durable_name())
        name = name or cfg["name"]
        if not legacy and cfg["durable_name"] and cfg["durable_name"] != name:
            self._c("consumer.config.names")
            return fail(E.consumer_durable_name_not_match_subject())
        cfg["name"] = name
        if cfg["num_replicas"] > 1:
            self._c("consumer.config.replicas")
            return fail(E.stream_replicas_not_supported())
        st = self._lookup(stream)
        if st is None:
            self._c("consumer.create.stream_missing")
            return fail(E.stream_not_found())
        existing = self.consumers.get(stream, {}).get(name)
        if existing is not None:
            cfg["pause_until"] = existing.cfg["pause_until"]
        self._c("consumer.config.api_level_metadata")
        meta = {k: v for k, v in (cfg["metadata"] or {}).items() if not k.startswith("_nats.")}
        meta["_nats.req.level"] = K.required_level(cfg)
        cfg["metadata"] = meta
        self._c("consumer.config.normalise", "consumer.config.ack_wait", "consumer.config.max_ack_pending",
                "consumer.config.max_waiting")
        bad = K.defaults(cfg, st.config, bool(req.get("pedantic")))
        if bad is None:
            bad = K.check(cfg, st.config)
        if bad is not None:
            self._c(_ERROR_RULES.get(bad.err_code, "consumer.config.normalise"))
            if bad.err_code == 10052:
                self._c("consumer.config.names" if "name" in bad.description else "consumer.config.filters")
            return fail(bad)
        action = req.get("action") or ""
        retention = st.config["retention"]
        if existing is not None:
            self._c("consumer.create.idempotent")
            if action == "create" and cfg != existing.cfg:
                self._c("consumer.create.action")
                return fail(E.consumer_already_exists())
            if retention == "workqueue" and not self._partition_unique(st, name, K.filters_of(cfg)):
                self._c("consumer.create.workqueue")
                return fail(E.consumer_wq_consumer_not_unique())
            problem = K.update_error(existing.cfg, cfg)
            if (existing.cfg["deliver_subject"] and cfg["deliver_subject"]
                    and cfg["deliver_subject"] != existing.cfg["deliver_subject"] and self.push_bound(existing)
                    and (problem is None or not isinstance(problem, str) or problem.startswith("max waiting"))):
                # Go checkNewConsumerConfig: a bound deliver subject cannot change
                # (checked after the immutable fields, before max_waiting)
                self._c("consumer.deliver.interest")
                return fail(E.consumer_name_exist())
            if isinstance(problem, E.ApiError):
                return fail(problem)
            if problem:
                self._c("consumer.update.immutable")
                return fail(E.consumer_create(err=problem))
            old_subject = existing.cfg["deliver_subject"]
            self._update(st, existing, cfg)
            # (Go's reply shows the consumer unbound until the interest channel is read)
            new_subject = existing.cfg["deliver_subject"] != old_subject
            reply = self._info(existing, CREATE_T, unbound=new_subject)
            if new_subject:
                # Go updateDeliveryInterest, from the interest channel of the new
                # deliver subject: a bound consumer's loop runs, after the reply
                self._push(st, existing)
            if self.paused(existing):  # Go jsConsumerCreateRequest, after the reply
                self.pause_event(existing, existing.cfg["pause_until"], parse_time(existing.cfg["pause_until"]))
            return reply
        if action == "update":
            self._c("consumer.create.action")
            return fail(E.consumer_does_not_exist())
        maxc = st.config.get("max_consumers", -1)
        if maxc > 0:
            self._c("consumer.create.max_consumers")
            if len(self.consumers.get(stream, {})) >= maxc:
                self._cover("stream.limit.max_consumers")
                return fail(E.maximum_consumers_limit())
        if retention == "workqueue":
            self._c("consumer.create.workqueue")
            if cfg["ack_policy"] not in ("explicit", "flow_control"):
                return fail(E.consumer_wq_requires_explicit_ack())
            if cfg["deliver_policy"] != "all":
                return fail(E.consumer_wq_consumer_not_deliver_all())
            if self.consumers.get(stream):
                filters = K.filters_of(cfg)
                if not filters:
                    return fail(E.consumer_wq_multiple_unfiltered())
                if not self._partition_unique(st, name, filters):
                    return fail(E.consumer_wq_consumer_not_unique())
        if cfg["durable_name"] and len(cfg["durable_name"]) > K.MAX_NAME_LEN:
            self._c("consumer.config.names")
            return fail(E.consumer_name_too_long(max=K.MAX_NAME_LEN))
        if name and not K.valid_asset_name(name):
            self._c("consumer.config.names")
            return fail(E.consumer_bad_durable_name())
        if not name:
            # Go createConsumerName: 8 random base62 characters (the harness masks
            # them); the config Go reports keeps no name
            self._c("consumer.config.ephemeral_name")
            self.ephemerals += 1
            name = f"E{self.ephemerals:07d}"
        if not cfg["durable_name"] and cfg["inactive_threshold"] <= 0:
            cfg["inactive_threshold"] = K.EPHEMERAL_INACTIVE  # Go updateInactiveThreshold
        if cfg["inactive_threshold"]:
            self._c("consumer.config.inactive_threshold")
        o = Consumer(stream, name, cfg)
        o.sfreq = sample_freq_of(cfg) or 0
        o.hb_at = self.now + cfg["idle_heartbeat"] if cfg["deliver_subject"] and cfg["idle_heartbeat"] else 0
        o.replay, o.replay_lseq = cfg["replay_policy"] == "original", st.last_seq
        if cfg["inactive_threshold"] > 0:
            o.dtmr = self.now + cfg["inactive_threshold"]  # Go setLeader: the delete timer runs
        self._select_start(st, o)
        if o.replay and o.sseq > o.replay_lseq:
            o.replay = False  # Go loopAndGatherMsgs' first pass (waitForMsgs): nothing stored is left to pace
        self._calc_pending(st, o)
        self.consumers.setdefault(stream, {})[name] = o
        reply = self._info(o, CREATE_T)
        self.action_event(o, "create")
        self._push(st, o)
        return reply

    def _partition_unique(self, st: Stream, name: str, filters: list[str]) -> bool:
        from natsd.model.stream import subject_collide

        for f in filters:
            for o in self._of(st):
                if o.name == name:
                    continue
                if not o.filters or any(subject_collide(f, g) for g in o.filters):
                    return False
        return True

    def _update(self, st: Stream, o: Consumer, cfg: dict) -> None:
        """consumer.update.mutable: Go ``updateConfig`` for what the campaign changes."""
        self._c("consumer.update.mutable")
        old = o.cfg
        if cfg["max_deliver"] != old["max_deliver"]:
            o.deliveries = {}  # the max_deliver invariant counts under the current limit
        if cfg["ack_wait"] != old["ack_wait"] and o.ptmr is not None:
            o.ptmr = self.now + 100 * MS
        if cfg["inactive_threshold"] != old["inactive_threshold"]:
            # Go updateConfig: the delete timer restarts with the new threshold
            o.dtmr = self.now + cfg["inactive_threshold"] if cfg["inactive_threshold"] > 0 else None
        new_filters = K.filters_of(cfg)
        changed = new_filters != K.filters_of(old)
        o.cfg = cfg
        if cfg["sample_freq"] != old["sample_freq"] and sample_freq_of(cfg) is not None:
            o.sfreq = sample_freq_of(cfg)
        if changed:
            o.sig = list(new_filters)
        if changed and st.config["retention"] == "interest":
            self._cleanup_no_interest(st, o, ignore=False)
        if changed:
            self._calc_pending(st, o)
        if not o.is_pull:
            # Go updateConfig signals the loop for a new max_ack_pending (and a
            # pause change); an update changing nothing else delivers nothing by
            # itself. A new deliver subject (allowed only while unbound) forces
            # the pending to redelivery; the consumer learns of the new subject's
            # interest through its interest channel after the reply (create_consumer)
            signal = cfg["max_ack_pending"] != old["max_ack_pending"] or cfg["pause_until"] != old["pause_until"]
            if cfg["deliver_subject"] != old["deliver_subject"]:
                if o.pending:
                    self._force_expire_pending(o)
                signal = False  # Go's loop finds the consumer inactive until then
            if signal:
                self._push(st, o)

    def _select_start(self, st: Stream, o: Consumer) -> None:
        """Go ``selectStartingSeqNo``: consumer.deliver.all, consumer.deliver.last,
        consumer.deliver.new, consumer.deliver.by_start_sequence,
        consumer.deliver.last_per_subject."""
        cfg = o.cfg
        first, last = st.first_seq, st.last_seq
        dp = cfg["deliver_policy"]
        self._c(f"consumer.deliver.{dp}")
        if cfg["opt_start_seq"] == 0:
            if dp == "all":
                o.sseq = first
            elif dp == "last":
                if not o.filters:
                    o.sseq = last
                else:
                    lasts = [m.seq for m in st.msgs if o.matches(m.subject)]
                    o.sseq = max([0, *lasts[-1:]])
            elif dp == "last_per_subject":
                if st.config["max_msgs_per_subject"] == 1:
                    o.sseq = first
                else:
                    lasts: dict[str, int] = {}
                    for m in st.msgs:
                        if o.matches(m.subject):
                            lasts[m.subject] = m.seq
                    seqs = sorted(lasts.values())
                    o.sseq = seqs[0] if seqs else last
                    o.lss = (seqs, last)
            elif dp == "by_start_time":
                # (the campaign's by_start_time consumers have no filters: Go's
                # filtered skip-ahead is not modelled)
                o.sseq = self.seq_from_time(st, parse_time(cfg["opt_start_time"]))
            else:  # new
                o.sseq = last + 1
        else:
            o.sseq = cfg["opt_start_seq"]
        if first == 0 and cfg["opt_start_seq"] == 0:
            o.sseq = 1
        elif o.sseq > last and cfg["opt_start_seq"] == 0:
            o.sseq = last + 1
        elif o.sseq < first:
            o.sseq = first
        if o.lss is not None and not o.lss[0]:
            o.lss = None
        o.dseq, o.adflr, o.asflr = 1, 0, o.sseq - 1
        if o.sseq > 0:
            o.s_delivered[1] = o.s_ack[1] = o.sseq - 1

    def consumer_info(self, stream: str, name: str) -> dict:
        st = self._lookup(stream)
        if st is None:
            return {"type": INFO_T, "error": _err(E.stream_not_found())}
        o = self.consumers.get(stream, {}).get(name)
        if o is None:
            return {"type": INFO_T, "error": _err(E.consumer_not_found())}
        return self._info(o, INFO_T)

    def consumer_delete(self, stream: str, name: str) -> dict:
        """consumer.delete; consumer.retention.interest_delete: on an interest
        stream the messages no remaining consumer needs go (all of them when none remains)."""
        st = self._lookup(stream)
        if st is None:
            return {"type": DELETE_T, "error": _err(E.stream_not_found())}
        o = self.consumers.get(stream, {}).pop(name, None)
        if o is None:
            return {"type": DELETE_T, "error": _err(E.consumer_not_found())}
        self._c("consumer.delete")
        self.action_event(o, "delete")
        # held requests: Go's releaseAnyPendingRequests queues '409 Consumer
        # Deleted' for each, but closes the consumer's send loop right after, so
        # whether it goes out is a race [obs]: only the core harness compares it
        for wr, frames in o.held:
            self._c("consumer.pull.lifecycle")
            frames.append(Frame("", "", b"NATS/1.0 409 Consumer Deleted\r\n\r\n"))
            wr.done = True
        o.held = []
        if st.config["retention"] == "interest":
            self._cleanup_no_interest(st, o, ignore=True)
        return {"type": DELETE_T, "success": True}

    def _cleanup_no_interest(self, st: Stream, o: Consumer, *, ignore: bool) -> None:
        """Go ``cleanupNoInterestMessages``."""
        self._c("consumer.retention.interest_delete")
        if not self.consumers.get(st.name):
            st.msgs.clear()
            st.first_seq = st.last_seq + 1
            return
        start = max(o.asflr, st.first_seq)
        for seq in range(start, st.last_seq + 1):
            if self._no_interest(st, seq, skip=o if ignore else None):
                self._remove(st, seq)

    # -- interest and workqueue retention -----------------------------------------

    def _need_ack(self, o: Consumer, seq: int, subject: str) -> bool:
        """Go ``needAck``: the consumer still needs ``seq`` acknowledged."""
        if o.filters and not o.matches(subject):
            return False
        if o.ack == "explicit":
            need = seq > o.asflr and (seq >= o.sseq or seq in o.pending)
        else:
            need = seq > o.asflr
        return need or seq in o.rdc

    def _no_interest(self, st: Stream, seq: int, skip: Consumer | None = None) -> bool:
        msg = next((m for m in st.msgs if m.seq == seq), None)
        if msg is None:
            return True
        return not any(self._need_ack(o, seq, msg.subject) for o in self._of(st) if o is not skip)

    def _stream_ack(self, st: Stream, seq: int) -> None:
        """Go ``stream.ackMsg``: consumer.retention.interest_ack,
        consumer.retention.workqueue_ack - a message no consumer needs any more goes."""
        if st.config["retention"] == "limits" or seq > st.last_seq or seq < st.first_seq:
            return
        if self._no_interest(st, seq):
            kind = "workqueue" if st.config["retention"] == "workqueue" else "interest"
            self._c(f"consumer.retention.{kind}_ack")
            self._cover(f"stream.retention.{kind}")
            self._remove(st, seq)

    # -- acks ------------------------------------------------------------------

    def _move_ack_floor(self, o: Consumer, dseq: int, sseq: int) -> None:
        """Go ``moveAckFloor`` (running state)."""
        if not o.pending:
            o.adflr, o.asflr = o.dseq - 1, o.sseq - 1
        elif dseq == o.adflr + 1:
            o.adflr, o.asflr = dseq, sseq
            for ss in range(sseq + 1, o.sseq):
                if ss in o.pending:
                    o.adflr, o.asflr = o.pending[ss][0] - 1, ss - 1
                    break

    def _ack_msg(self, st: Stream, o: Consumer, sseq: int, dseq: int, dc: int, *, term: bool = False,
                 sample: bool = False) -> bool:
        """Go ``processAckMsgLocked``; True when the ack was answered in place
        (the caller then replies), False when the store answered or nothing does.

        consumer.ack.explicit: the message leaves pending, the floor moves over
        the acked prefix. consumer.ack.all: everything pending up to it goes.
        consumer.ack.none: nothing to do. consumer.ack.out_of_range. Ack policy
        flow_control acks as all; a flow-controlled consumer takes acks past
        its next sequence too. ``sample``: an ack that may be sampled (consumer.sample_freq).
        """
        if sseq >= o.sseq and not o.cfg["flow_control"]:
            self._c("consumer.ack.out_of_range")
            return False
        in_place = st.config["retention"] != "limits"
        others: list[int] = []
        maxp = o.cfg["max_ack_pending"]
        at_max = maxp > 0 and len(o.pending) >= maxp
        if o.ack == "explicit":
            self._c("consumer.ack.explicit")
            at_max = at_max and sseq in o.pending
            if sample and sseq in o.pending:
                self.sample_ack(o, sseq, dseq, dc)
            p = o.pending.pop(sseq, None)
            if p is not None:
                dseq = p[0]
                self._move_ack_floor(o, dseq, sseq)
            else:
                self._c("consumer.ack.out_of_range")
            o.rdc.pop(sseq, None)
            if sseq in o.rdq:
                o.rdq.remove(sseq)
        elif o.ack in ("all", "flow_control"):
            self._c("consumer.ack.all")
            if dseq <= o.adflr or sseq <= o.asflr:
                self._c("consumer.ack.out_of_range")
                return True
            sgap = sseq - o.asflr
            o.adflr, o.asflr = dseq, sseq

            def drop(seq: int) -> None:
                if in_place and seq != sseq and seq in o.pending:
                    others.append(seq)
                o.pending.pop(seq, None)
                o.rdc.pop(seq, None)
                if seq in o.rdq:
                    o.rdq.remove(seq)

            if sgap > len(o.pending):
                for seq in sorted(s for s in o.pending if s <= sseq):
                    drop(seq)
            else:
                seq = sseq
                while seq > sseq - sgap and o.pending:
                    drop(seq)
                    seq -= 1
        else:
            self._c("consumer.ack.none")
            return in_place
        self._store_update_acks(o, dseq, sseq)
        if in_place:
            self._stream_ack(st, sseq)
            for seq in others:
                self._stream_ack(st, seq)
        if at_max:
            self._signal(st, o)
        return in_place

    def ack(self, subject: str, body: bytes) -> str:
        """A message published with a reply to an ack reply subject (AckSync).

        Returns "reply" when the server answers with an empty message, "none"
        when it does not, "no_responders" when no consumer listens there.
        consumer.ack.bodies: "", +ACK, +OK ack; -NAK [delay] (consumer.ack.nak_delay);
        +WPI resets the ack timer; +TERM [reason]; anything else is ignored.
        consumer.ack.ack_ack: the answer, also for repeated acks.
        """
        parsed = parse_ack_reply(subject)
        if parsed is None:
            return "no_responders"
        stream, name, dc, sseq, dseq = parsed
        st = self._lookup(stream)
        o = self.consumers.get(stream, {}).get(name)
        if st is None or o is None:
            return "no_responders"
        self._c("consumer.ack.bodies", "consumer.ack.ack_ack")
        if o.ack == "none":
            # consumer.ack.none: no ack subscription at all (Go subscribes only for acks it needs)
            self._c("consumer.ack.none")
            return "no_responders"
        self._suppress_deletion(o)
        # Go answers unless the ack is ahead of the consumer (processAckMsgLocked
        # returns false without reaching updateAcks, which otherwise answers)
        answered = sseq < o.sseq or o.cfg["flow_control"]
        if body in (b"", b"+ACK", b"+OK"):
            self._ack_msg(st, o, sseq, dseq, dc, sample=True)
            return "reply" if answered else "none"
        if body.startswith(b"-NAK"):
            self._nak(st, o, sseq, dseq, dc, body)
            return "reply"
        if body == b"+WPI":
            p = o.pending.get(sseq)
            if p is not None:
                p[1] = self.now
                self._store_update_delivered(o, p[0], sseq, 1)
                o.delivered_at = True
            return "reply"
        if body.startswith(b"+TERM"):
            self._ack_msg(st, o, sseq, dseq, dc, term=True)
            self.term_event(o, sseq, dseq, dc, body[5:].strip().decode("utf-8", "replace"))
            return "reply" if answered else "none"
        return "reply"

    def _nak(self, st: Stream, o: Consumer, sseq: int, dseq: int, dc: int, body: bytes) -> None:
        """Go ``processNak``: consumer.ack.nak_delay, consumer.nak.advisory."""
        if dseq <= o.adflr or dseq > o.dseq:
            self._c("consumer.ack.out_of_range")
            return
        if sseq not in o.pending:
            self._c("consumer.ack.out_of_range")
            return
        self.nak_event(o, sseq, dseq, dc)
        arg = body[4:].strip()
        delay: int | None = None
        if arg:
            if arg.startswith(b"{"):
                try:
                    value = json.loads(arg)
                    delay = int(value.get("delay") or 0) if isinstance(value, dict) else None
                except ValueError:
                    delay = None
            else:
                delay = _parse_go_duration(arg.decode("latin-1"))
        if delay is not None:
            self._c("consumer.ack.nak_delay")
            if sseq in o.rdq:
                o.rdq.remove(sseq)
            p = o.pending[sseq]
            p[1] = self.now - o.cfg["ack_wait"] + delay
            self._store_update_delivered(o, p[0], sseq, dc)
            o.delivered_at = True
            if o.ptmr is not None:
                o.ptmr = self.now + 10 * MS
            return
        if sseq not in o.rdq:
            o.rdq.append(sseq)
        self._signal(st, o)

    # -- time ------------------------------------------------------------------

    def _has_max_deliveries(self, o: Consumer, seq: int) -> bool:
        """Go ``hasMaxDeliveries``: consumer.max_deliver."""
        if o.maxdc == 0:
            return False
        dc = o.rdc.get(seq, 0) if o.rdc.get(seq, 0) >= 1 else 1
        if dc < o.maxdc:
            return False
        self._c("consumer.max_deliver")
        if dc == o.maxdc:
            self.exceeded_event(o, seq, dc)
        maxp = o.cfg["max_ack_pending"]
        o.kick = o.kick or (maxp > 0 and len(o.pending) >= maxp)
        p = o.pending.pop(seq, None)
        if p is not None:
            self._store_update_delivered(o, p[0], seq, dc + 1)
            o.delivered_at = True
            self._move_ack_floor(o, p[0], seq)
        o.rdc[seq] = dc
        return True

    def _check_pending(self, st: Stream, o: Consumer) -> None:
        """Go ``checkPending`` at ``now``: consumer.ack_wait.redeliver,
        consumer.backoff.delays."""
        ttl = o.cfg["ack_wait"]
        if ttl == 0:
            o.ptmr = None
            return
        backoff = o.cfg["backoff"]
        nxt = backoff[-1] if backoff else ttl + ACK_WAIT_DELAY
        expired, update = [], False
        for seq in sorted(o.pending):
            p = o.pending.get(seq)
            if p is None:
                continue
            if seq < st.first_seq or seq <= o.asflr:
                del o.pending[seq]
                o.rdc.pop(seq, None)
                if seq in o.rdq:
                    o.rdq.remove(seq)
                update = True
                o.asflr = max(o.asflr, seq)
                o.adflr = max(o.adflr, p[0])
                continue
            elapsed, deadline = self.now - p[1], ttl
            if backoff:
                dc = max(o.rdc.get(seq, 0), 0)
                nbi = dc + 1
                if dc + 1 >= len(backoff):
                    dc = nbi = len(backoff) - 1
                deadline = backoff[dc]
                nxt = min(nxt, backoff[nbi])
            if elapsed >= deadline:
                if seq not in o.rdq and not self._has_max_deliveries(o, seq):
                    expired.append(seq)
            elif deadline - elapsed < nxt:
                nxt = deadline - elapsed
        if expired:
            self._c("consumer.ack_wait.redeliver")
            if backoff:
                self._c("consumer.backoff.delays")
            o.rdq.extend(expired)
            # Go: the redelivered keep their order with timestamps moved as one
            off = self.now - o.pending[expired[0]][1]
            for seq in expired:
                o.pending[seq][1] += off
        if o.pending:
            o.ptmr = self.now + nxt
        else:
            o.ptmr = None
            o.rdq, o.pending = [], {}
            o.adflr, o.asflr = o.dseq - 1, o.sseq - 1
        if update:
            self._write_store_state(o)
        if expired or o.kick:
            self._signal(st, o)

    def advance(self, ns: int, waiting: tuple[Consumer, Waiting, list[Frame]] | None = None) -> None:
        """Time passes by ``ns``: the pending timers fire in time order (each
        queueing due redeliveries, delivered at once to ``waiting``, a pull
        request of the consumer still waiting), then the stream model's expiry."""
        target = self.now + ns
        while True:
            # the pending timer, then the pin's priority_timeout, then the delete timer
            due = [(t, rank, o.stream, o.name) for cs in self.consumers.values() for o in cs.values()
                   for rank, t in enumerate((o.ptmr, o.pin_ttl, o.dtmr)) if t is not None and t <= target]
            due += self._push_timers(target)
            if not due:
                break
            when, rank, stream, name = min(due)
            self.now = when
            o = self.consumers[stream][name]
            st = self.streams[stream]
            if rank == 1:
                # Go setPinnedTimer's callback: unassignPinId, then the loop is signalled
                self._c("consumer.priority.pinned")
                o.pin_id, o.pin_ttl = "", None
                self.unpinned_event(o, o.pin_group, "timeout")
                self._signal(st, o)
                continue
            if rank == 2:
                self._delete_not_active(st, o)
                continue
            if rank >= 3:
                self._push_timer(o, rank)
                continue
            self._check_pending(st, o)
            if waiting is not None and waiting[0] is o and not waiting[1].done:
                self._gather(st, o, waiting[1], waiting[2])
        before = {name: st.last_seq for name, st in self.streams.items()}
        self._stored = {}
        super().advance(target - self.now)
        for name, st in self.streams.items():  # the delete markers expiry stored
            self._signal_stored(st, before.get(name, st.last_seq))

    def _delete_not_active(self, st: Stream, o: Consumer) -> None:
        """Go ``deleteNotActive`` (consumer.inactive.delete): a pull consumer is
        deleted once inactive_threshold has passed since its last pull activity
        (a request, a delivery, an ack), no request waits and no delivered
        message can still be acked (its ack wait plus the threshold)."""
        dthresh = o.cfg["inactive_threshold"]
        o.dtmr = None
        if o.is_pull:
            if self.now - o.last < dthresh:
                o.dtmr = o.last + dthresh
                return
            o.abandoned = 0  # checkWaitingForInterest drops what has no interest
            if o.held:
                o.dtmr = self.now + dthresh
                return
            delay = 0
            backoff = o.cfg["backoff"]
            for seq, (_, ts) in o.pending.items():
                wait = backoff[min(max(o.rdc.get(seq, 0), 0), len(backoff) - 1)] if backoff else o.cfg["ack_wait"]
                delay = max(delay, ts + wait + ACK_WAIT_DELAY + dthresh - self.now)
            if delay > 0:
                o.dtmr = self.now + delay
                return
        self._c("consumer.inactive.delete")
        self.consumer_delete(st.name, o.name)

    def _suppress_deletion(self, o: Consumer) -> None:
        """Go ``suppressDeletion``: an ack (any message on the ack subjects) of a
        consumer with inactive_threshold is activity; its delete timer restarts."""
        if o.cfg["inactive_threshold"] > 0 and o.dtmr is not None:
            if o.is_pull:
                o.last = self.now
            o.dtmr = self.now + o.cfg["inactive_threshold"]

    # -- pull requests ------------------------------------------------------------

    def fetch(self, stream: str, name: str, body: bytes, hdr: bytes = b"", *,
              hold: bool = False) -> list[Frame] | None:
        """A pull request ($JS.API.CONSUMER.MSG.NEXT.<stream>.<name>) with a reply
        subject, run to its end; the frames its reply subject receives, or None
        when no consumer listens (consumer.pull.missing_consumer: no responders).

        consumer.pull.body (empty = 1, an integer, or JSON; a JSON error is a
        400); consumer.pull.push_consumer; consumer.pull.limits;
        consumer.pull.no_wait; consumer.pull.max_bytes; consumer.pull.expires
        (the clock moves to the expiry here); consumer.deliver.pull_subject.
        ``hold``: a request that does not end at once stays waiting, its client
        listening (consumer.pull.num_waiting; consumer.pull.max_waiting when the
        queue is full) until the consumer is deleted.
        """
        st = self._lookup(stream)
        o = self.consumers.get(stream, {}).get(name)
        if st is None or o is None:
            self._c("consumer.pull.missing_consumer")
            return None
        out: list[Frame] = []

        def status(text: str) -> list[Frame]:
            out.append(Frame("", "", f"NATS/1.0 {text}\r\n\r\n".encode()))
            return out

        if not o.is_pull:
            self._c("consumer.pull.push_consumer")
            return status("409 Consumer is push based")
        if hdr:
            self._c("consumer.pull.api_level")
            if api_level_refused(hdr):
                return status("412 Required Api Level")
        self._c("consumer.pull.body")
        req = body.strip()
        expires, batch, max_bytes, no_wait, hb = 0, 1, 0, False, 0
        group: dict | None = None
        if req.startswith(b"{"):
            try:
                value = json.loads(req)
            except ValueError as e:
                return status(f"400 Bad Request - {_go_json_error(req, e)}")
            bad = _go_type_error(value)
            if bad:
                return status(f"400 Bad Request - {bad}")
            hb = int(value.get("idle_heartbeat") or 0)
            expires = int(value.get("expires") or 0)
            if hb > 0 and hb * 2 > expires:
                self._c("consumer.pull.heartbeat_too_large")
                return status("400 Bad Request - heartbeat value too large")
            batch, max_bytes = int(value.get("batch") or 0), int(value.get("max_bytes") or 0)
            no_wait = bool(value.get("no_wait"))
            group = value
        elif re.fullmatch(rb"[+-]?[0-9]+", req):
            batch = int(req)
        cfg = o.cfg
        if cfg["max_batch"] > 0 and batch > cfg["max_batch"]:
            self._c("consumer.pull.limits")
            return status(f"409 Exceeded MaxRequestBatch of {cfg['max_batch']}")
        if expires and cfg["max_expires"] > 0 and expires > cfg["max_expires"]:
            self._c("consumer.pull.limits")
            return status(f"409 Exceeded MaxRequestExpires of {_go_duration(cfg['max_expires'])}")
        if max_bytes > 0 and cfg["max_bytes"] > 0 and max_bytes > cfg["max_bytes"]:
            self._c("consumer.pull.limits")
            return status(f"409 Exceeded MaxRequestMaxBytes of {cfg['max_bytes']}")
        refusal, rules = priority_refusal(cfg, group)
        self._c(*rules)
        if refusal:
            return status(refusal)
        refusal = pin_refusal(o, group, self.now)
        if refusal:
            self._c("consumer.priority.pinned")
            return status(refusal)
        if no_wait:
            self._c("consumer.pull.no_wait")
            pending = self._num_pending(st, o) + len(o.rdq)
            if pending == 0 and not expires:
                o.last = self.now
                return status("404 No Messages")
        if hold and len(o.held) >= cfg["max_waiting"]:
            self._c("consumer.pull.max_waiting")
            return status("409 Exceeded MaxWaiting") if not hb else out
        wr = Waiting(batch, max_bytes, self.now + expires if expires else 0, no_wait, hb=hb,
                     hbt=self.now + hb if hb else 0, pin=(group or {}).get("id") or "",
                     group=(group or {}).get("group") or "")
        if group is not None and cfg["priority_policy"] == "overflow":
            wr.min_pending = int(group.get("min_pending") or 0)
            wr.min_ack_pending = int(group.get("min_ack_pending") or 0)
        o.last = self.now
        o.abandoned = 0  # the loop drops requests without interest before serving this one
        self._gather(st, o, wr, out)
        if hold and not wr.done:
            o.held.append((wr, out))
            return out
        if not wr.done and expires:
            self._c("consumer.pull.expires")
            while not wr.done and wr.hb and wr.hbt < wr.expires:
                # consumer.pull.heartbeat: Go processWaiting at the request's timer
                self.advance(wr.hbt - self.now, waiting=(o, wr, out))
                if not wr.done and self.now >= wr.hbt:
                    self._c("consumer.pull.heartbeat")
                    out.append(Frame("", "", (f"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: {o.dseq - 1}\r\n"
                                              f"Nats-Last-Stream: {o.sseq - 1}\r\n\r\n").encode()))
                    wr.hbt = self.now + wr.hb
            if not wr.done:
                self.advance(wr.expires - self.now, waiting=(o, wr, out))
            if not wr.done:
                self._timeout(wr, out)
        if not wr.done:
            o.abandoned += 1
        return out

    def fetch_no_reply(self, stream: str, name: str) -> None:
        """consumer.pull.no_reply: a pull request without a reply subject is ignored."""
        if self.consumers.get(stream, {}).get(name) is not None:
            self._c("consumer.pull.no_reply")

    def _timeout(self, wr: Waiting, out: list[Frame]) -> None:
        out.append(Frame("", "", (f"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: {wr.n}\r\n"
                                  f"Nats-Pending-Bytes: {wr.b}\r\n\r\n").encode()))
        wr.done = True

    def _get_next(self, st: Stream, o: Consumer) -> tuple[Msg | None, int, str]:
        """Go ``getNextMsg``: redeliveries first (consumer.deliver.order), then the
        max_ack_pending stop (consumer.max_ack_pending), the last-per-subject
        list, then the next message matching the filters (consumer.deliver.filter)."""
        while o.rdq:
            seq = o.rdq.pop(0)
            o.rdc[seq] = o.rdc.get(seq, 0) + 1
            dc = o.rdc[seq] + 1
            if o.maxdc > 0 and dc > o.maxdc:
                self._c("consumer.max_deliver")
                if dc == o.maxdc + 1:
                    self.exceeded_event(o, seq, dc - 1)
                p = o.pending.pop(seq, None)
                if p is not None:
                    self._store_update_delivered(o, p[0], seq, dc)
                    o.delivered_at = True
                    self._move_ack_floor(o, p[0], seq)
                continue
            msg = next((m for m in st.msgs if m.seq == seq), None)
            if msg is None:
                self._dec_delivery_count(o, seq)
                if seq in o.pending:
                    dseq = o.pending[seq][0]
                    self._ack_msg(st, o, seq, dseq, dc - 1, term=True)
                    self.term_event(o, seq, dseq, dc - 1, REASON_UNACKED)
                continue
            self._c("consumer.deliver.order")
            return msg, dc, ""
        if o.cfg["max_ack_pending"] > 0 and len(o.pending) >= o.cfg["max_ack_pending"]:
            self._c("consumer.max_ack_pending")
            return None, 0, "max_ack_pending"
        if o.lss is not None:
            self._c("consumer.deliver.last_per_subject")
            seqs, resume = o.lss
            seq = seqs[0]
            if len(seqs) == 1:
                o.sseq, o.lss = resume, None
            else:
                o.lss, o.sseq = (seqs[1:], resume), seq
            msg = next((m for m in st.msgs if m.seq == seq), None)
            o.sseq += 1
            return msg, 1, "" if msg is not None else "not_found"
        if o.filters:
            self._c("consumer.deliver.filter")
        msg = next((m for m in st.msgs if m.seq >= o.sseq and o.matches(m.subject)), None)
        if msg is None:
            if st.last_seq >= o.sseq:
                o.sseq = st.last_seq + 1
            if o.sseq > st.last_seq and o.npc != 0:
                o.npc, o.npf = 0, st.last_seq
            return None, 0, "eof"
        o.sseq = msg.seq + 1
        return msg, 1, ""

    def _unget(self, o: Consumer, msg: Msg, dc: int) -> None:
        """A message taken for a request that could not have it goes back."""
        if dc == 1 and msg.seq == o.sseq - 1:
            o.sseq -= 1
            o.npc += 1
        elif msg.seq not in o.rdq:
            self._dec_delivery_count(o, msg.seq)
            o.rdq.append(msg.seq)

    def _dec_delivery_count(self, o: Consumer, seq: int) -> None:
        """Go ``decDeliveryCount``: a delivery that did not happen is not counted.
        A count back at zero is no redelivery (v2.15.1 does not report it in
        num_redelivered [obs]; the main branch's source would keep a zero entry)."""
        n = o.rdc.get(seq, 0) - 1
        if n > 0:
            o.rdc[seq] = n
        else:
            o.rdc.pop(seq, None)

    def _signal(self, st: Stream, o: Consumer) -> None:
        """Go ``signalNewMessages`` with only abandoned requests waiting: the
        delivery loop takes the next message, finds no request with interest
        (each is dropped), and puts the message back (a redelivery goes to the
        end of the redelivery queue, its count unchanged). A push consumer's
        loop delivers what it can (natsd.model.consumer_push)."""
        if not o.is_pull:
            o.kick = False
            self._push(st, o)
            return
        if not o.abandoned:
            return
        if self.paused(o):
            # a paused loop delivers nothing; its processWaiting still drops them
            o.abandoned = 0
            return
        self._c("consumer.pull.interest_gone")
        msg, dc, _ = self._get_next(st, o)
        if msg is not None:
            if dc == 1:
                o.npc -= 1
            self._unget(o, msg, dc)
        o.abandoned = 0

    def _gather(self, st: Stream, o: Consumer, wr: Waiting, out: list[Frame]) -> None:
        """Go ``loopAndGatherMsgs`` for one waiting request, until it is done or
        no message can be delivered; then ``processWaiting`` at the end of the stream."""
        while not wr.done:
            if self.paused(o):
                # consumer.pause: the loop goes straight to processWaiting(true)
                self._c("consumer.pause")
                msg, dc, err = None, 0, "paused"
            else:
                msg, dc, err = self._get_next(st, o)
            if msg is None:
                if err == "max_ack_pending":
                    return
                if wr.no_wait and (not wr.expires or wr.d > 0):
                    out.append(Frame("", "", b"NATS/1.0 404 No Messages\r\n\r\n"))
                    wr.done = True
                return
            if dc == 1:
                o.npc -= 1
            pending = self._num_pending(st, o)
            reply = ack_reply(st.name, o.name, dc, msg.seq, o.dseq, msg.ts, pending)
            hdr, data = msg.hdr, msg.data
            if o.cfg["headers_only"]:
                self._c("consumer.deliver.headers_only")
                head = hdr[:-2] if hdr else b"NATS/1.0\r\n"
                hdr, data = head + f"Nats-Msg-Size: {len(data)}\r\n\r\n".encode(), b""
            size = len(msg.subject) + len(reply) + len(hdr) + len(data)
            if wr.expires and self.now >= wr.expires:
                self._timeout(wr, out)
                self._unget(o, msg, dc)
                return
            assigned = False
            passed = pinned_passes_over(o, wr)
            if passed == "assign":
                assigned = True
                self.pins += 1
                o.pin_id, o.pin_ttl = f"P{self.pins}", self.now + o.cfg["priority_timeout"]
                wr.pin, o.pin_group = o.pin_id, wr.group
                self.pinned_event(o, wr.group)
            elif passed == "wrong":
                # consumer.priority.pinned: a request holding a stale pin id
                self._c("consumer.priority.pinned")
                out.append(Frame("", "", (f"NATS/1.0 423 Nats-Wrong-Pin-Id\r\nNats-Pending-Messages: {wr.n}\r\n"
                                          f"Nats-Pending-Bytes: {wr.b}\r\n\r\n").encode()))
                wr.done = True
                self._unget(o, msg, dc)
                return
            cycled = passed == "cycle"  # another client holds the pin
            if cycled or overflow_passes_over(o.cfg, wr, o.npc, len(o.pending)):
                # consumer.priority.pinned / consumer.priority.overflow: Go cycles the
                # only request and puts the message back; the loop then waits
                # (processWaiting(true))
                self._c("consumer.priority.pinned" if cycled else "consumer.priority.overflow")
                self._unget(o, msg, dc)
                if wr.no_wait and (not wr.expires or wr.d > 0):
                    out.append(Frame("", "", b"NATS/1.0 404 No Messages\r\n\r\n"))
                    wr.done = True
                return
            if wr.b > 0:
                if size <= wr.b:
                    wr.b -= size
                    if wr.b == 0:
                        wr.n = 1
                else:
                    self._c("consumer.pull.max_bytes")
                    out.append(Frame("", "", (f"NATS/1.0 409 Message Size Exceeds MaxBytes\r\n"
                                              f"Nats-Pending-Messages: {wr.n}\r\nNats-Pending-Bytes: {wr.b}\r\n\r\n"
                                              ).encode()))
                    wr.done = True
                    if assigned:  # Go unassignPinId: the pin just claimed is given up
                        o.pin_id, o.pin_ttl = "", None
                    self._unget(o, msg, dc)
                    return
            wr.d += 1
            wr.n -= 1
            if o.pin_id and o.cfg["priority_policy"] == "pinned_client":
                self._c("consumer.priority.pinned")
                hdr = (hdr[:-2] if hdr else b"NATS/1.0\r\n") + f"Nats-Pin-Id: {o.pin_id}\r\n\r\n".encode()
            if wr.n > 0 and wr.hb:
                wr.hbt = self.now + wr.hb
            self._deliver(st, o, msg, dc, reply, hdr, data, out)
            if wr.n <= 0 and wr.b > 0:
                self._c("consumer.pull.max_bytes")
                out.append(Frame("", "", (f"NATS/1.0 409 Batch Completed\r\nNats-Pending-Messages: {wr.n}\r\n"
                                          f"Nats-Pending-Bytes: {wr.b}\r\n\r\n").encode()))
            if wr.n <= 0:
                wr.done = True

    def _deliver(self, st: Stream, o: Consumer, msg: Msg, dc: int, reply: str, hdr: bytes, data: bytes,
                 out: list[Frame]) -> None:
        """Go ``deliverMsg`` + ``trackPending``: consumer.deliver.pull_subject,
        consumer.ack.reply_subject; ack none counts as acknowledged at once."""
        self._c("consumer.deliver.pull_subject", "consumer.ack.reply_subject")
        dseq = o.dseq
        o.dseq += 1
        self._store_update_delivered(o, dseq, msg.seq, dc)
        o.delivered_at = True
        o.deliveries[msg.seq] = o.deliveries.get(msg.seq, 0) + 1
        if o.cfg["inactive_threshold"] > 0:
            o.last = self.now
        if o.ack == "none":
            o.adflr, o.asflr = dseq, msg.seq
        else:
            p = o.pending.get(msg.seq)
            if p is not None:
                p[1] = self.now
            else:
                o.pending[msg.seq] = [dseq, self.now]
            backoff = o.cfg["backoff"]
            delay = o.cfg["ack_wait"] + ACK_WAIT_DELAY
            if backoff:
                i = min(max(o.rdc.get(msg.seq, 0), 0), len(backoff) - 1)
                delay = backoff[i] + ACK_WAIT_DELAY
            if o.ptmr is None or o.ptmr > self.now + delay:
                o.ptmr = self.now + delay
        out.append(Frame(msg.subject, reply, hdr, data))
        if o.ack == "none" and st.config["retention"] != "limits":
            self._stream_ack(st, msg.seq)


def _go_json_error(req: bytes, e: ValueError) -> str:
    """Go encoding/json's syntax error text for the malformed bodies the campaign sends."""
    text = req.decode("latin-1")
    if text.startswith("{") and len(text) > 1 and text[1] not in ' "}\t\r\n':
        return f"invalid character {text[1]!r} looking for beginning of object key string"
    return "unexpected end of JSON input"


_INT_FIELDS = ("batch", "max_bytes", "expires", "idle_heartbeat", "min_pending", "min_ack_pending", "priority")


def _go_type_error(value: Any) -> str:
    """Go's unmarshal type error for a field of the wrong JSON type (the first one)."""
    if not isinstance(value, dict):
        return "json: cannot unmarshal array into Go value of type server.JSApiConsumerGetNextRequest"
    for key in _INT_FIELDS:
        v = value.get(key)
        if isinstance(v, str):
            kind = "int64" if key in ("expires", "idle_heartbeat", "min_pending", "min_ack_pending") else "int"
            if key in ("expires", "idle_heartbeat"):
                kind = "time.Duration"
            return f"json: cannot unmarshal string into Go struct field .{key} of type {kind}"
    return ""
