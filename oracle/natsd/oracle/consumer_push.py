"""Push consumers and advisories in the consumer campaign (natsd.oracle.consumer).

Operations:

* ``Subscribe(name)``: a client subscribes to ``dlv.<name>``, the deliver
  subject of the push configs of :data:`PUSH_CONSUMERS` (literally: Go binds a
  push consumer only to a subscription on exactly its deliver subject); the
  observation is every frame that subject received since it was last looked
  at, once deliveries have settled;
* ``Unsubscribe(name)``: the same observation, then the subscription goes;
* ``Drain(name, answer)``: the same observation; with ``answer`` "empty" or
  "last", the subscriber then answers the last flow-control request it saw
  (empty, or with Nats-Last-Consumer / Nats-Last-Stream of the last message it
  received before that request, which acknowledges up to there under ack
  policy flow_control) and what follows is observed too;
* ``Events()``: the advisories ($JS.EVENT.ADVISORY.CONSUMER.>) and ack metrics
  ($JS.EVENT.METRIC.CONSUMER.ACK.>) published since the last Events op, which
  every harness subscribes to from the start. Grouped by consumer (each
  consumer's own order kept: Go publishes from one goroutine per consumer).
  A stream deletion drops what was not observed yet (Go races the consumers'
  delete advisories with the stream's send loop stopping).

Frames: a delivered message as ``msg <subject> <ack reply> <hdr+payload>`` with
the ack reply's timestamp masked, a status (heartbeat, flow-control request) as
``status <reply> <hdr>``; a flow-control reply subject's 4 random characters
are masked (also inside a heartbeat's Nats-Consumer-Stalled). Events: the
subject and the JSON with ``id``, ``timestamp`` and ``ack_time`` masked, and an
ephemeral's generated name.

Wire harnesses: frames and events arrive from the server's own goroutines, so
an op observing them first waits until nothing more has arrived for
:data:`QUIET` seconds. Idle heartbeats are 2 minutes, far longer than an
example, so none fires on the wire (AdvanceTime does not move a real clock);
the pending-bytes window of flow control (1 MB) is never reached there either.

Core-only configs (:data:`CORE_ONLY`; on the wire harnesses their create is
not sent and the model skips it too, as AdvanceTime moves no real clock):
``push_ack_fc`` (ack policy flow_control: the server forces a 1 s heartbeat,
and with it a flow-control request while anything is pending, on a real clock
within an example) and ``push_replay`` (replay original reproduces the real
gaps between the publishes, which no op controls on the wire).
"""

from __future__ import annotations

import json
import re
from typing import Any

from natsd.oracle.base import Op

__all__ = [
    "CORE_ONLY",
    "EVENT_SUBS",
    "PUSH_CONSUMERS",
    "Drain",
    "Events",
    "PushBuffers",
    "Subscribe",
    "Unsubscribe",
    "deliver_subject",
    "event_text",
    "fc_header",
    "push_frame_text",
]

SEC = 1_000_000_000
MIN = 60 * SEC
#: How long a wire harness waits for more frames or events before it observes them
QUIET = 0.25
#: ... and at most, in all
QUIET_MAX = 3.0

#: The deliver subject of the push configs ({name} is the consumer's name)
DELIVER = "dlv.{name}"
#: Push consumer configs (added to the campaign's CONSUMERS table)
PUSH_CONSUMERS: dict[str, dict] = {
    "push_plain": {"ack_policy": "explicit", "deliver_subject": DELIVER},
    "push_max2": {"ack_policy": "explicit", "deliver_subject": DELIVER, "max_ack_pending": 2, "max_deliver": 2,
                  "ack_wait": MIN},
    "push_all": {"ack_policy": "all", "deliver_subject": DELIVER, "max_ack_pending": 3},
    "push_none_hdrs": {"ack_policy": "none", "deliver_subject": DELIVER, "headers_only": True},
    "push_hb": {"ack_policy": "explicit", "deliver_subject": DELIVER, "idle_heartbeat": 2 * MIN},
    "push_fc": {"ack_policy": "explicit", "deliver_subject": DELIVER, "flow_control": True,
                "idle_heartbeat": 2 * MIN},
    "push_rate": {"ack_policy": "explicit", "deliver_subject": DELIVER, "rate_limit_bps": 1_000_000},
    "push_sampled": {"ack_policy": "explicit", "deliver_subject": DELIVER, "sample_freq": "100%"},
    "sampled": {"ack_policy": "explicit", "sample_freq": "100"},
    "push_ack_fc": {"ack_policy": "flow_control", "deliver_subject": DELIVER, "max_ack_pending": 2},
    "push_replay": {"ack_policy": "explicit", "deliver_subject": DELIVER, "replay_policy": "original",
                    "idle_heartbeat": 2 * MIN},
}
CORE_ONLY = frozenset({"push_ack_fc", "push_replay"})
EVENT_SUBS = b"SUB $JS.EVENT.ADVISORY.CONSUMER.> ev1\r\nSUB $JS.EVENT.METRIC.CONSUMER.ACK.> ev2\r\n"
FC_ANSWERS = ("", "", "empty", "last")


def deliver_subject(name: str) -> str:
    return DELIVER.format(name=name)


class Subscribe(Op, frozen=True):
    """Subscribe to dlv.<name>; observe what it received."""

    name: str


class Unsubscribe(Op, frozen=True):
    """Observe what dlv.<name> received, then unsubscribe."""

    name: str


class Drain(Op, frozen=True):
    """Observe what dlv.<name> received; ``answer`` the last flow-control request."""

    name: str
    answer: str = ""


class Events(Op, frozen=True):
    """Observe the advisories and ack metrics since the last Events op."""


# ------------------------------------------------------------------- observation

_FC = re.compile(r"(\$JS\.FC\.[^.\s]+\.[^.\s]+\.)[^\s\r]+")
_ACK_TS = re.compile(r"^(\$JS\.ACK\.(?:[^.]+\.){5})[^.]+(\.[^.]+)$")
_EPH_NAME = re.compile(r"^[0-9A-Za-z]{8}$")


def push_frame_text(subject: str, reply: str, hdr: bytes, data: bytes) -> str:
    """A frame a deliver subject received (see the module docstring)."""
    first = hdr.split(b"\r\n", 1)[0] if hdr else b""
    if hdr and first.strip() != b"NATS/1.0":
        return _FC.sub(r"\1<fc>", f"status {reply} " + (hdr + data).decode("latin-1"))
    masked = _ACK_TS.sub(r"\1<ts>\2", reply)
    return f"msg {subject} {masked} " + (hdr + data).decode("latin-1")


def fc_header(last: tuple[int, int]) -> bytes:
    """A flow-control answer naming the last (consumer seq, stream seq) received."""
    return f"NATS/1.0\r\nNats-Last-Consumer: {last[0]}\r\nNats-Last-Stream: {last[1]}\r\n\r\n".encode()


def ack_seqs(reply: str) -> tuple[int, int] | None:
    """(consumer seq, stream seq) of a v1 ack reply subject."""
    t = reply.split(".")
    if len(t) != 9 or t[:2] != ["$JS", "ACK"]:
        return None
    return int(t[6]), int(t[5])


def _masked_name(name: str) -> str:
    return "<eph>" if name not in ("C", "D", "E") and _EPH_NAME.match(name) else name


def event_text(subject: str, body: dict) -> tuple[str, str]:
    """(consumer, "<subject> <masked JSON>") of an advisory or metric."""
    from natsd.model.stream import TS
    from natsd.oracle.consumer import DUR

    body = dict(body)
    name = _masked_name(str(body.get("consumer", "")))
    if "consumer" in body:
        body["consumer"] = name
    body["id"] = "<id>"
    body["timestamp"] = TS
    if "ack_time" in body:
        body["ack_time"] = DUR
    toks = subject.split(".")
    toks[-1] = _masked_name(toks[-1])
    return name, ".".join(toks) + " " + json.dumps(body, sort_keys=True, separators=(",", ":"))


def grouped(events: list[tuple[str, str]]) -> tuple[str, ...]:
    """Events grouped by consumer, each consumer's order kept."""
    return tuple(text for _, text in sorted(events, key=lambda e: e[0]))


# ------------------------------------------------------------- harness side


class PushBuffers:
    """What one harness connection's push subscriptions and event subscriptions
    received: frames are routed here by subscription id (``p<name>``, ``ev1``, ``ev2``)."""

    def __init__(self) -> None:
        self.frames: dict[str, list[tuple[str, str, bytes, bytes]]] = {}
        self.events: list[tuple[str, str]] = []
        self.routed = 0
        #: name -> (flow-control reply subject, last (dseq, sseq) before it)
        self.fc: dict[str, tuple[str, tuple[int, int]]] = {}
        self.last: dict[str, tuple[int, int]] = {}

    def route(self, line: bytes, body: bytes | None) -> bool:
        """Keep a MSG/HMSG frame of ours; False for anything else."""
        if body is None or not (line.startswith(b"MSG ") or line.startswith(b"HMSG ")):
            return False
        from natsd.oracle.consumer import _split

        parts = line.split()
        sid = parts[2].decode()
        if sid.startswith("ev"):
            subject, _, hdr, data = _split(line, body)
            self.events.append(event_text(subject.decode(), json.loads(data)))
            self.routed += 1
            return True
        if sid.startswith("p") and sid[1:] in self.frames:
            subject, reply, hdr, data = _split(line, body)
            self.frames[sid[1:]].append((subject.decode("latin-1"), reply.decode("latin-1"), hdr, data))
            self.routed += 1
            return True
        return False

    def subscribe(self, name: str) -> bytes | None:
        """The SUB to send (None when already subscribed)."""
        if name in self.frames:
            return None
        self.frames[name] = []
        return f"SUB {deliver_subject(name)} p{name}\r\n".encode()

    def unsubscribe(self, name: str) -> bytes | None:
        if self.frames.pop(name, None) is None:
            return None
        self.fc.pop(name, None)
        self.last.pop(name, None)
        return f"UNSUB p{name}\r\n".encode()

    def take(self, name: str) -> tuple[list[str], list[str]]:
        """(frame texts, ack reply subjects) received on dlv.<name> since last time."""
        got = self.frames.get(name, [])
        if name in self.frames:
            self.frames[name] = []
        texts, replies = [], []
        for subject, reply, hdr, data in got:
            texts.append(push_frame_text(subject, reply, hdr, data))
            seqs = ack_seqs(reply)
            if seqs is not None:
                replies.append(reply)
                self.last[name] = seqs
            elif reply.startswith("$JS.FC."):
                self.fc[name] = (reply, self.last.get(name, (0, 0)))
        return texts, replies

    def answer(self, name: str, how: str) -> bytes | None:
        """The PUB/HPUB answering the last flow-control request seen on dlv.<name>."""
        from natsd.oracle.consumer import encode_pub

        if not how or name not in self.fc:
            return None
        subject, last = self.fc[name]
        return encode_pub(subject, "", fc_header(last) if how == "last" else b"", b"")

    def take_events(self) -> tuple[str, ...]:
        out, self.events = grouped(self.events), []
        return out


# ---------------------------------------------------------------- model side


def model_take(m: Any, name: str) -> tuple[list[str], list[str]]:
    """The model's frames for dlv.<name> (texts, ack replies), as PushBuffers.take."""
    frames = m.take(deliver_subject(name))
    texts = [push_frame_text(f.subject, f.reply, f.hdr, f.data) for f in frames]
    return texts, [f.reply for f in frames if ack_seqs(f.reply) is not None]


def model_push_step(model: Any, op: Op) -> tuple[str, tuple[str, ...], list[str]]:
    """Apply a push op to the model: (kind, frames, ack replies delivered)."""
    m = model.m
    subject = deliver_subject(op.name) if not isinstance(op, Events) else ""
    if isinstance(op, Events):
        out = grouped([event_text(s, b) for s, b in m.events])
        m.events.clear()
        return "events", out, []
    if isinstance(op, Subscribe):
        m.subscribe(subject)
        texts, replies = model_take(m, op.name)
        return "push", tuple(texts), replies
    if isinstance(op, Unsubscribe):
        texts, replies = model_take(m, op.name) if subject in m.push_subs else ([], [])
        m.unsubscribe(subject)
        return "push", tuple(texts), replies
    texts, replies = model_take(m, op.name) if subject in m.push_subs else ([], [])
    if op.answer and subject in m.push_subs and m.fc_answer(subject, op.answer):
        texts.append("answered")
        more, more_replies = model_take(m, op.name)
        texts += more
        replies += more_replies
    return "push", tuple(texts), replies
