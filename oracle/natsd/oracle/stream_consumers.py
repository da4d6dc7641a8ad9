"""Consumers in the stream campaign: what interest and workqueue retention and
max_consumers need to be exercised at the stream level.

Theory of operation
-------------------
Four ops, all on stream ``S`` (:data:`STREAM`), with durable pull consumers
``C`` and ``D``:

* ``CreateConsumer(name, config)``: $JS.API.CONSUMER.CREATE.S.<name> with the
  config named ``config`` in :data:`CONSUMER_CONFIGS` (durable_name = name);
* ``DeleteConsumer(name)``: $JS.API.CONSUMER.DELETE.S.<name>;
* ``Fetch(name, batch, ack)``: a no_wait pull request for ``batch`` messages on
  its own subscription, read until it ends (a status, or the batch filled); the
  observation is every frame it received (ack reply subjects with their
  timestamp token masked); with ``ack`` (e.g. "+ACK"), each message received
  is then acknowledged so (AckSync, as :class:`Ack`) and the answers follow;
* ``Ack(index, kind)``: the ``index``-th delivery so far (modulo their number)
  acknowledged with ``kind`` as an AckSync; the observation is whether an
  answer came, none came, or no one listens.

The model is the consumer model (natsd.model.consumer), which extends the
stream model with retention and the consumer hooks; :class:`CampaignModel`
adds only the list of ack reply subjects delivered so far. The spec rules of
the stream area it covers here: stream.retention.interest (a message leaves
once every interested consumer acknowledged it), stream.retention.workqueue,
stream.retention.interest.no_interest with consumers (a message no consumer's
filter matches is not stored) and stream.limit.max_consumers.

Every consumer has an ack_wait of 1000 hours, so no redelivery falls within
an example on any harness: redelivery is the consumer area's; here only
retention is. On the wire a Fetch waits :data:`SIGNAL_SETTLE` first: Go tells
its consumers of a stored message from another goroutine after the PubAck,
and a no_wait request counts on that (as the consumer campaign does after a
publish).

What is left out (``skipped`` in natsd.oracle.stream): an update that turns a
stream with consumers into an interest stream (Go then walks each consumer's
stored state, ``checkStateForInterestStream``, which the consumer model states
only for a consumer without pending messages).
"""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import strategies as st

from natsd.model.consumer import ConsumerModel
from natsd.oracle.base import Op
from natsd.oracle.stream_tables import FILE_STORE_LIMIT

__all__ = [
    "ACK_KINDS",
    "CONSUMER_CONFIGS",
    "STREAM",
    "Ack",
    "CampaignModel",
    "ConsumerStep",
    "CreateConsumer",
    "DeleteConsumer",
    "Fetch",
    "consumer_ops",
    "consumer_request",
    "core_ack",
    "core_fetch",
    "core_fetch_ack",
    "model_consumer_step",
    "wire_ack",
    "wire_fetch",
]

STREAM = "S"
NAMES = ("C", "D")
#: Longer than any example's AdvanceTime steps add up to: nothing is redelivered.
ACK_WAIT = 1000 * 3600 * 1_000_000_000

#: Consumer configs by name (durable_name and ack_wait added). Filters on S's
#: subjects (a, b, c.*) so that workqueue partitions can overlap (10100) or not.
CONSUMER_CONFIGS: dict[str, dict] = {
    "explicit": {"ack_policy": "explicit"},
    "filter_a": {"ack_policy": "explicit", "filter_subject": "a"},
    "filter_b": {"ack_policy": "explicit", "filter_subject": "b"},
    "filter_c": {"ack_policy": "explicit", "filter_subject": "c.*"},
    "filter_c1": {"ack_policy": "explicit", "filter_subject": "c.1"},
    "all": {"ack_policy": "all"},
    "all_filter_a": {"ack_policy": "all", "filter_subject": "a"},
    "none": {"ack_policy": "none"},
    "new": {"ack_policy": "explicit", "deliver_policy": "new"},
}
ACK_KINDS = ["+ACK", "+ACK", "", "+TERM", "+ACK"]
BATCHES = [1, 2, 1, 5]
#: The pause before a pull request on the wire (see the module doc).
SIGNAL_SETTLE = 0.005
#: How long the wire harnesses wait for an ack's answer that may not come (Go
#: does not answer an ack for a sequence its consumer has not reached, e.g.
#: one delivered by an earlier consumer of the same name).
ACK_WAIT_REPLY = 2.0
#: How long a wire pull request may stay silent before it counts as ended.
FETCH_WAIT = 1.0


class CreateConsumer(Op, frozen=True):
    name: str
    config: str = "explicit"


class DeleteConsumer(Op, frozen=True):
    name: str


class Fetch(Op, frozen=True):
    """A no_wait pull request for ``batch`` messages (each then acked with
    ``ack`` unless it is "")."""

    name: str
    batch: int = 1
    ack: str = ""


class Ack(Op, frozen=True):
    index: int
    kind: str = "+ACK"


ConsumerStep = CreateConsumer | DeleteConsumer | Fetch | Ack


class CampaignModel(ConsumerModel):
    """The stream campaign's model: streams with retention and consumers (the
    consumer model) on a server with the campaign's max_file_store, plus the
    ack reply subjects delivered so far (what Ack ops index)."""

    max_file_store = FILE_STORE_LIMIT

    def __init__(self) -> None:
        super().__init__()
        self.delivered: list[str] = []


def consumer_request(op: CreateConsumer) -> dict:
    cfg = {"durable_name": op.name, "ack_wait": ACK_WAIT, **CONSUMER_CONFIGS[op.config]}
    return {"stream_name": STREAM, "config": cfg}


def request_parts(op: CreateConsumer | DeleteConsumer) -> tuple[str, bytes, bytes]:
    """(subject, header block, body) of an API op (one request, one reply)."""
    if isinstance(op, CreateConsumer):
        return f"$JS.API.CONSUMER.CREATE.{STREAM}.{op.name}", b"", json.dumps(consumer_request(op)).encode()
    return f"$JS.API.CONSUMER.DELETE.{STREAM}.{op.name}", b"", b""


def next_subject(op: Fetch) -> str:
    return f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{op.name}"


def fetch_body(op: Fetch) -> bytes:
    return json.dumps({"batch": op.batch, "no_wait": True}).encode()


# --------------------------------------------------------------------- strategy


def consumer_ops() -> list[tuple[int, st.SearchStrategy]]:
    """(weight, strategy) pairs for the campaign's op mix; the streams that give
    consumers something to do (interest, workqueue, max_consumers) and plain
    publishes to S's subjects (most of the campaign's publishes carry headers
    that a check refuses, or go where S does not listen)."""
    name = st.sampled_from(NAMES)
    configs = list(CONSUMER_CONFIGS)
    from natsd.oracle.stream import CreateStream, Publish

    return [
        (4, st.builds(CreateConsumer, name, st.sampled_from(configs[:3] * 2 + configs))),
        (1, st.builds(DeleteConsumer, name)),
        (2, st.builds(Fetch, name, st.sampled_from(BATCHES))),
        (4, st.builds(Fetch, st.sampled_from(["C", "C", "D"]), st.sampled_from(BATCHES), st.just("+ACK"))),
        (2, st.builds(Ack, st.integers(0, 7), st.sampled_from(ACK_KINDS))),
        (
            1,
            st.builds(
                CreateStream,
                st.just(STREAM),
                st.sampled_from(
                    ["interest", "workqueue", "interest_limits", "max_consumers", "workqueue", "interest"]
                ),
            ),
        ),
        (3, st.builds(Publish, st.sampled_from(["a", "a", "b", "c.1"]), st.sampled_from([0, 1, 10]))),
    ]


# ------------------------------------------------------------------ observation


def _frame_text(subject: str, reply: str, hdr: bytes, data: bytes) -> str:
    """A frame a pull request received: "msg <subject> <ack reply> <hdr+data>"
    (the ack reply's timestamp token masked) or "status <hdr>"."""
    if not subject:
        return "status " + (hdr + data).decode("latin-1")
    t = reply.split(".")
    if len(t) == 9 and t[:2] == ["$JS", "ACK"]:
        t[7] = "<ts>"
    return f"msg {subject} {'.'.join(t)} " + (hdr + data).decode("latin-1")


def encode_pub(subject: str, reply: str, body: bytes) -> bytes:
    return f"PUB {subject} {reply} {len(body)}\r\n".encode() + body + b"\r\n"


def fetch_observation(frames: list[str]) -> tuple[str, str]:
    """(kind, body) of a pull request's frames: a lone no-responders status is
    ``status``, else ``fetch`` with the frames joined."""
    if len(frames) == 1 and frames[0].startswith("status NATS/1.0 503"):
        return "status", frames[0][len("status ") :]
    return "fetch", " | ".join(frames)


def with_acks(body: str, acks: list[str]) -> str:
    """A Fetch's observation with the answers of its acks (if it acked)."""
    return body + " || acks " + ",".join(acks) if acks else body


def ack_observation(got: tuple[bytes, bytes] | None) -> str:
    if got is None:
        return "none"
    line, body = got
    if line.startswith(b"HMSG ") and b" 503" in body.split(b"\r\n", 1)[0]:
        return "no_responders"
    return "reply" if not body else f"other {body!r}"


def model_consumer_step(model: CampaignModel, op: Op) -> tuple[str, str] | dict:
    """Apply a consumer op to the model: an API reply (dict) or (kind, body)."""
    if isinstance(op, CreateConsumer):
        return model.consumer_create(STREAM, op.name, consumer_request(op))
    if isinstance(op, DeleteConsumer):
        return model.consumer_delete(STREAM, op.name)
    if isinstance(op, Fetch):
        frames = model.fetch(STREAM, op.name, fetch_body(op))
        if frames is None:
            return "status", f"NATS/1.0 503\r\nNats-Subject: {next_subject(op)}\r\n\r\n"
        replies = [f.reply for f in frames if f.subject]
        model.delivered.extend(replies)
        kind, body = fetch_observation([_frame_text(f.subject, f.reply, f.hdr, f.data) for f in frames])
        acks = [model.ack(r, op.ack.encode()) for r in replies] if op.ack else []
        return kind, with_acks(body, acks)
    if isinstance(op, Ack):
        if not model.delivered:
            return "ack", "nothing"
        return "ack", model.ack(model.delivered[op.index % len(model.delivered)], op.kind.encode())
    raise TypeError(f"not a consumer op: {op!r}")


# ---------------------------------------------------------------- harness parts


class _Pull:
    """What one no_wait pull request received, and whether it has ended: a
    status (other than 100) ends it, so does the batch filled."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.frames: list[str] = []
        self.replies: list[str] = []
        self.done = False

    def add(self, line: bytes, body: bytes) -> None:
        parts = line.split()
        if line.startswith(b"HMSG "):
            hlen = int(parts[-2])
            reply = parts[3] if len(parts) == 6 else b""
            hdr, data = body[:hlen], body[hlen:]
        else:
            reply = parts[3] if len(parts) == 5 else b""
            hdr, data = b"", body
        first = hdr.split(b"\r\n", 1)[0] if hdr else b""
        if hdr and first.strip() != b"NATS/1.0":
            self.frames.append(_frame_text("", "", hdr, data))
            self.done = self.done or not first.startswith(b"NATS/1.0 100")
            return
        self.frames.append(_frame_text(parts[1].decode("latin-1"), reply.decode("latin-1"), hdr, data))
        self.replies.append(reply.decode("latin-1"))
        self.done = self.done or len(self.replies) >= self.batch


def core_fetch(client: Any, drain: Any, op: Fetch, n: int) -> tuple[tuple[str, str], list[str]]:
    """A Fetch against an in-process Client (``drain()`` takes its frames):
    ((kind, body), the ack reply subjects delivered)."""
    sid, inbox = f"f{n}", f"_INBOX.spull.{n}"
    pull = _Pull(op.batch)
    client.receive(f"SUB {inbox} {sid}\r\n".encode() + encode_pub(next_subject(op), inbox, fetch_body(op)))
    for line, body in drain():
        if body is not None and line.split()[2].decode() == sid and not pull.done:
            pull.add(line, body)
    client.receive(f"UNSUB {sid}\r\n".encode())
    drain()
    return fetch_observation(pull.frames), pull.replies


def core_fetch_ack(
    client: Any, drain: Any, request: Any, op: Fetch, n: int
) -> tuple[tuple[str, str], list[str]]:
    """A Fetch against an in-process Client, and its acks (``request`` as :func:`core_ack`'s)."""
    (kind, body), replies = core_fetch(client, drain, op, n)
    acks = [core_ack(request, r, op.ack) for r in replies] if op.ack else []
    return (kind, with_acks(body, acks)), replies


def core_ack(request: Any, subject: str, kind: str) -> str:
    """An AckSync through ``request(subject, body) -> (line, payload) | None``."""
    return ack_observation(request(subject, kind.encode()))


def wire_fetch(conn: Any, op: Fetch) -> tuple[tuple[str, str], list[str]]:
    """A Fetch over a natsd.oracle.stream ``_Conn``."""
    time.sleep(SIGNAL_SETTLE)
    conn.n += 1
    sid, inbox = f"f{conn.n}", f"_INBOX.spull.{conn.n}"
    pull = _Pull(op.batch)
    conn.sock.sendall(f"SUB {inbox} {sid}\r\n".encode() + encode_pub(next_subject(op), inbox, fetch_body(op)))
    kept = len(conn.extra)

    def done(line: bytes, body: bytes | None) -> bool:
        # every frame of the request is taken here (the connection files the
        # ones that do not end it as strays: dropped again below)
        if body is not None and line.split()[2].decode() == sid and not pull.done:
            pull.add(line, body)
            return pull.done
        return False

    conn._read_until(done, FETCH_WAIT)
    del conn.extra[kept:]
    conn.sock.sendall(f"UNSUB {sid}\r\n".encode())
    kind, body = fetch_observation(pull.frames)
    acks = [wire_ack(conn, r, op.ack) for r in pull.replies] if op.ack else []
    return (kind, with_acks(body, acks)), pull.replies


def wire_ack(conn: Any, subject: str, kind: str) -> str:
    """An AckSync over a natsd.oracle.stream ``_Conn``."""
    conn.n += 1
    reply = f"_INBOX.stream.ack{conn.n}"
    conn.sock.sendall(encode_pub(subject, reply, kind.encode()))
    return ack_observation(
        conn._read_until(
            lambda line, body: body is not None and line.split()[1].decode() == reply, ACK_WAIT_REPLY
        )
    )
