"""Push consumers and consumer advisories, as clients see them.

Mirrors server/consumer.go ``loopAndGatherMsgs`` in push mode (delivery only
while the deliver subject is bound, replay original, the rate limiter),
``deliverMsg`` (the flow-control request of ack policy flow_control),
``sendIdleHeartbeat``, ``processFlowControl``, ``updateDeliveryInterest``,
``sampleAck`` and the advisories (``sendCreateAdvisory``,
``sendDeleteAdvisoryLocked``, ``processNak``, ``processTermLocked``,
``notifyDeliveryExceeded``, ``sendPauseAdvisoryLocked``).

Theory of operation
-------------------
The client side is part of the model's state: ``push_subs`` are the deliver
subjects a client subscribed to (literally: Go binds a push consumer only to a
subscription on exactly its deliver subject), ``inbox`` what each of them
received and no one has looked at yet, ``events`` the advisories and ack
metrics published so far (the harness subscribes to
$JS.EVENT.ADVISORY.CONSUMER.> and $JS.EVENT.METRIC.CONSUMER.ACK.>, so Go always
sends them). A push consumer is bound while its deliver subject is in
``push_subs``; the delivery loop (:meth:`PushMixin._push`) runs where Go
signals it: a new message, a subscription, a nak, an expired ack wait, an
ack at max_ack_pending, a flow-control reply, a timer.

Timers (core harness only: on the wire AdvanceTime does not move the model's
clock): ``hb_at`` (the idle heartbeat, re-armed by every delivery) and
``replay_at`` (replay original holds a first delivery until its original gap
has passed: natsd's form of Go's sleep, recorded in consumer.replay.original).

Rate limit: Go's token bucket starts full with a burst of the stream's
max_msg_size (else the account's max payload, 1 MB); the campaign's streams
have no max_msg_size and an example delivers a few kilobytes at most, so the
limit never delays a delivery here (consumer.rate_limit; the pacing itself is
proven by tests/test_consumer_core.py::test_rate_limit_paces_push_delivery).

Flow control: the pending-bytes window (2 MB at first) is never reached by the
campaign; ack policy flow_control sends its request when max_ack_pending is
reached (and with a heartbeat while anything is pending), and a reply whose
headers name the last delivery acknowledges up to it (like ack all).

Spec rules: consumer.deliver.push_subject, consumer.deliver.interest,
consumer.info.push_bound, consumer.heartbeat.push, consumer.flow_control.push,
consumer.ack.flow_control, consumer.rate_limit, consumer.replay.original,
consumer.sample_freq, consumer.nak.advisory, consumer.term.advisory,
consumer.advisories.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EV_ID", "FC", "PushMixin", "hb_header", "sample_freq_of"]

MS = 1_000_000
#: The model's stand-in for the 4 random characters of a flow-control reply
#: subject and for an event id (the harnesses mask the real ones alike)
FC = "<fc>"
EV_ID = "<id>"
_ADV = "$JS.EVENT.ADVISORY.CONSUMER."
_TYPE = "io.nats.jetstream.advisory.v1."
ZERO_TIME = "0001-01-01T00:00:00Z"


def hb_header(dseq: int, sseq: int, fcid: str = "") -> bytes:
    """Go ``sendIdleHeartbeat``: last consumer and stream sequence, and the
    outstanding flow-control reply subject while stalled on it."""
    h = f"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: {dseq}\r\nNats-Last-Stream: {sseq}\r\n"
    if fcid:
        h += f"Nats-Consumer-Stalled: {fcid}\r\n"
    return (h + "\r\n").encode()


def sample_freq_of(cfg: dict) -> int | None:
    """A config's sample_freq as Go parses it ("50", "50%"; None where Go's
    parse fails, as for an empty one)."""
    text = str(cfg["sample_freq"] or "")
    text = text[:-1] if text.endswith("%") else text
    return int(text) if text.lstrip("+-").isdigit() and text[:1] != " " else None


class PushMixin:
    """Push delivery, heartbeats, flow control and advisories (see the module docstring)."""

    streams: dict
    consumers: dict
    now: int

    def _push_init(self) -> None:
        self.push_subs: set[str] = set()
        self.inbox: dict[str, list] = {}
        self.events: list[tuple[str, dict]] = []
        #: deliver subject -> (consumer, flow-control serial) of the last
        #: flow-control request its subscriber saw
        self.fc_seen: dict[str, tuple[Any, int, tuple[int, int]]] = {}
        #: deliver subject -> (consumer seq, stream seq) of the last message its subscriber saw
        self.push_last: dict[str, tuple[int, int]] = {}

    # -- the client side -------------------------------------------------------

    def push_bound(self, o: Any) -> bool:
        """consumer.deliver.interest / consumer.info.push_bound."""
        return not o.is_pull and o.cfg["deliver_subject"] in self.push_subs

    def push_info(self, o: Any) -> dict:
        """consumer.info.push_bound: present (true) while a push consumer is bound."""
        if o.is_pull:
            return {}
        self._c("consumer.info.push_bound")  # type: ignore[attr-defined]
        return {"push_bound": True} if self.push_bound(o) else {}

    def subscribe(self, subject: str) -> None:
        """A client subscribes to ``subject``: a push consumer delivering there is bound."""
        if subject in self.push_subs:
            return
        self.push_subs.add(subject)
        self.inbox.setdefault(subject, [])
        for o in self._push_consumers(subject):
            self._c("consumer.deliver.interest")  # type: ignore[attr-defined]
            self._push(self.streams[o.stream], o)

    def unsubscribe(self, subject: str) -> list:
        """The frames ``subject`` received, then the subscription goes (its consumers wait)."""
        frames = self.take(subject)
        self.push_subs.discard(subject)
        self.inbox.pop(subject, None)
        self.fc_seen.pop(subject, None)
        self.push_last.pop(subject, None)
        return frames

    def take(self, subject: str) -> list:
        """What ``subject`` received since it was last looked at."""
        from natsd.model.consumer import parse_ack_reply

        frames = self.inbox.get(subject, [])
        self.inbox[subject] = []
        for f in frames:
            acked = parse_ack_reply(f.reply)
            if acked is not None:
                self.push_last[subject] = (acked[4], acked[3])
            elif f.reply.startswith("$JS.FC."):
                o = next(iter(self._push_consumers(subject)), None)
                self.fc_seen[subject] = (o, o.fc_serial if o is not None else -1,
                                         self.push_last.get(subject, (0, 0)))
        return frames

    def fc_answer(self, subject: str, how: str) -> bool:
        """The subscriber of ``subject`` answers the last flow-control request it
        saw (Go ``processFlowControl``: only the outstanding one counts), ``how``
        "empty" or "last" (headers naming the last message it got before the
        request). True if there was one to answer."""
        seen = self.fc_seen.get(subject)
        if seen is None:
            return False
        o, serial, last = seen
        hdr = (f"NATS/1.0\r\nNats-Last-Consumer: {last[0]}\r\nNats-Last-Stream: {last[1]}\r\n\r\n".encode()
               if how == "last" else b"")
        if o is None or not o.fcid or o.fc_serial != serial or self.consumers.get(o.stream, {}).get(o.name) is not o:
            return True
        self._c("consumer.flow_control.push")  # type: ignore[attr-defined]
        o.fcid = ""
        st = self.streams[o.stream]
        if o.ack == "flow_control" and hdr:
            fields = dict(line.split(": ", 1) for line in hdr.decode().split("\r\n")[1:] if ": " in line)
            lsseq, ldseq = int(fields.get("Nats-Last-Stream", 0)), int(fields.get("Nats-Last-Consumer", 0))
            if lsseq > 0:
                self._c("consumer.ack.flow_control")  # type: ignore[attr-defined]
                self._ack_msg(st, o, lsseq, max(ldseq, 0), 1)  # type: ignore[attr-defined]
        self._push(st, o)
        return True

    def _push_consumers(self, subject: str) -> list:
        return [o for cs in self.consumers.values() for o in cs.values()
                if not o.is_pull and o.cfg["deliver_subject"] == subject]

    def _send(self, o: Any, frame: Any) -> None:
        if o.cfg["deliver_subject"] in self.push_subs:
            self.inbox[o.cfg["deliver_subject"]].append(frame)

    # -- delivery --------------------------------------------------------------

    def _push(self, st: Any, o: Any) -> None:
        """Go ``loopAndGatherMsgs`` in push mode, until nothing more goes out."""
        from natsd.model.consumer import ack_reply

        if o.is_pull or self.consumers.get(o.stream, {}).get(o.name) is not o:
            return
        # a message held for replay original goes when its gap has passed, bound
        # or paused or not (Go delivers it after its sleep in the loop)
        held = 0 < o.replay_at <= self.now
        while held or (self.push_bound(o) and not self.paused(o)):  # type: ignore[attr-defined]
            msg, dc, _ = self._get_next(st, o)  # type: ignore[attr-defined]
            if msg is None:
                break
            if o.replay and o.lts and dc == 1 and msg.ts - o.lts > MS:
                self._c("consumer.replay.original")  # type: ignore[attr-defined]
                if not o.replay_at:
                    o.replay_at = self.now + (msg.ts - o.lts)
                if self.now < o.replay_at:  # held until the timer (Go sleeps here)
                    o.sseq = msg.seq
                    break
            o.replay_at, held = 0, False
            if dc == 1:
                o.npc -= 1
            reply = ack_reply(st.name, o.name, dc, msg.seq, o.dseq, msg.ts, self._num_pending(st, o))  # type: ignore[attr-defined]
            hdr, data = msg.hdr, msg.data
            if o.cfg["headers_only"]:
                self._c("consumer.deliver.headers_only")  # type: ignore[attr-defined]
                head = hdr[:-2] if hdr else b"NATS/1.0\r\n"
                hdr, data = head + f"Nats-Msg-Size: {len(data)}\r\n\r\n".encode(), b""
            if o.cfg["rate_limit_bps"]:
                self._c("consumer.rate_limit")  # type: ignore[attr-defined]
            out: list = []
            self._deliver(st, o, msg, dc, reply, hdr, data, out)  # type: ignore[attr-defined]
            self._c("consumer.deliver.push_subject")  # type: ignore[attr-defined]
            for f in out:
                self._send(o, f)
            o.lts = msg.ts
            if o.cfg["flow_control"] and not o.fcid and o.ack == "flow_control" and 0 < o.cfg["max_ack_pending"] \
                    <= len(o.pending):
                self._flow_control(o)
            if o.cfg["idle_heartbeat"]:
                o.hb_at = self.now + o.cfg["idle_heartbeat"]
        if held:  # the held message is gone from the stream: nothing to wait for
            o.replay_at = 0
        if o.replay and o.sseq > o.replay_lseq:
            o.replay = False

    def _force_expire_pending(self, o: Any) -> None:
        """Go ``forceExpirePending`` (a new deliver subject): every pending
        message is redelivered, their times moved by the same offset."""
        expired = [seq for seq in sorted(o.pending)
                   if seq not in o.rdq and not self._has_max_deliveries(o, seq)]  # type: ignore[attr-defined]
        if expired:
            off = self.now - o.pending[expired[0]][1]
            o.rdq.extend(expired)
            for seq in expired:
                o.pending[seq][1] += off

    def _flow_control(self, o: Any) -> None:
        """Go ``sendFlowControl``."""
        from natsd.model.consumer import Frame

        self._c("consumer.flow_control.push")  # type: ignore[attr-defined]
        o.fc_serial += 1
        o.fcid = f"$JS.FC.{o.stream}.{o.name}.{FC}"
        self._send(o, Frame(o.cfg["deliver_subject"], o.fcid, b"NATS/1.0 100 FlowControl Request\r\n\r\n"))

    def _push_timers(self, target: int) -> list[tuple[int, int, str, str]]:
        """The push timers due by ``target``: (when, kind, stream, name); kind 3
        is the heartbeat, 4 the end of a replay gap (after the pull-side timers)."""
        due = []
        for cs in self.consumers.values():
            for o in cs.values():
                if o.is_pull:
                    continue
                if o.hb_at and o.hb_at <= target:
                    due.append((o.hb_at, 3, o.stream, o.name))
                if o.replay_at and o.replay_at <= target:
                    due.append((o.replay_at, 4, o.stream, o.name))
        return due

    def _push_timer(self, o: Any, kind: int) -> None:
        """A push timer fires at ``now`` (Go's heartbeat timer; the end of a replay gap)."""
        from natsd.model.consumer import Frame

        st = self.streams[o.stream]
        if kind == 3:
            if self.push_bound(o):
                self._c("consumer.heartbeat.push")  # type: ignore[attr-defined]
                self._send(o, Frame("", "", hb_header(o.dseq - 1, o.sseq - 1, o.fcid)))
                if o.ack == "flow_control" and o.pending and not o.fcid:
                    self._flow_control(o)
            o.hb_at = self.now + o.cfg["idle_heartbeat"]
        self._push(st, o)

    # -- advisories ------------------------------------------------------------

    def _event(self, kind: str, o: Any, type_: str, **fields: Any) -> None:
        """An advisory (or ack metric) on <prefix>.<stream>.<consumer>."""
        subject = f"{_ADV}{kind}.{o.stream}.{o.name}" if kind != "ACK" else \
            f"$JS.EVENT.METRIC.CONSUMER.ACK.{o.stream}.{o.name}"
        self.events.append((subject, {"type": type_, "id": EV_ID, "timestamp": ZERO_TIME, "stream": o.stream,
                                      "consumer": o.name, **fields}))

    def action_event(self, o: Any, action: str) -> None:
        """consumer.advisories: CREATED / DELETED."""
        self._c("consumer.advisories")  # type: ignore[attr-defined]
        self._event("CREATED" if action == "create" else "DELETED", o, _TYPE + "consumer_action", action=action)

    def nak_event(self, o: Any, sseq: int, dseq: int, dc: int) -> None:
        self._c("consumer.nak.advisory")  # type: ignore[attr-defined]
        self._event("MSG_NAKED", o, _TYPE + "nak", consumer_seq=dseq, stream_seq=sseq, deliveries=dc)

    def term_event(self, o: Any, sseq: int, dseq: int, dc: int, reason: str) -> None:
        self._c("consumer.term.advisory")  # type: ignore[attr-defined]
        extra = {"reason": reason} if reason else {}
        self._event("MSG_TERMINATED", o, _TYPE + "terminated", consumer_seq=dseq, stream_seq=sseq, deliveries=dc,
                    **extra)

    def exceeded_event(self, o: Any, sseq: int, dc: int) -> None:
        self._event("MAX_DELIVERIES", o, _TYPE + "max_deliver", stream_seq=sseq, deliveries=dc)

    def pinned_event(self, o: Any, group: str) -> None:
        """Go ``sendPinnedAdvisoryLocked`` (``assignNewPinId``): a new pin in ``group``."""
        self._c("consumer.advisories")  # type: ignore[attr-defined]
        self._event("PINNED", o, _TYPE + "consumer_group_pinned", account="$G", group=group, pinned_id=o.pin_id)

    def unpinned_event(self, o: Any, group: str, reason: str) -> None:
        """Go ``sendUnpinnedAdvisoryLocked``: reason "admin" (CONSUMER.UNPIN) or "timeout"."""
        self._c("consumer.advisories")  # type: ignore[attr-defined]
        self._event("UNPINNED", o, _TYPE + "consumer_group_unpinned", account="$G", group=group, reason=reason)

    def pause_event(self, o: Any, until: str | None, until_ns: int) -> None:
        self._event("PAUSE", o, _TYPE + "consumer_pause", paused=self.now < until_ns,
                    pause_until=until or ZERO_TIME)

    def sample_ack(self, o: Any, sseq: int, dseq: int, dc: int) -> None:
        """consumer.sample_freq: Go ``sampleAck`` (the campaign's sampling
        consumers sample 100%: a random draw decides below that)."""
        freq = o.sfreq
        if freq <= 0:
            return
        self._c("consumer.sample_freq")  # type: ignore[attr-defined]
        if freq < 100:
            raise AssertionError("the model samples only 0 or 100%")
        self._event("ACK", o, "io.nats.jetstream.metric.v1.consumer_ack", consumer_seq=dseq, stream_seq=sseq,
                    ack_time=0, deliveries=dc)
