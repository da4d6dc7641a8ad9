"""The consumer area: JetStream pull consumers at the protocol level (requests,
replies and delivered messages as clients see them).

Operations (one stream ``S``, consumers ``C`` and ``D``):

* ``CreateStream(config)``: $JS.API.STREAM.CREATE.S with a config of
  :data:`STREAMS` (limits, max_msgs, per-subject, interest, workqueue; all
  memory); ``DeleteStream``; ``StreamInfo``;
* ``Publish(subject, size, headers)``, ``Purge(request)``, ``DeleteMsg(seq)``;
* ``CreateConsumer(name, config, action, stream)``: $JS.API.CONSUMER.CREATE.<stream>.<name>
  with ``durable_name`` = name and the config named ``config`` in
  :data:`CONSUMERS` (valid and invalid ones); ``action`` "", "create" or
  "update"; ``ConsumerInfo(name)``; ``DeleteConsumer(name)``;
* ``Fetch(name, request)``: a pull request ($JS.API.CONSUMER.MSG.NEXT.S.<name>)
  with a body of :data:`FETCHES`, on its own reply subject; the observation is
  every frame that reply subject receives until the request ends (the batch
  is filled, a status ends it, or its ``expires`` passes). Requests without
  ``expires`` are all ``no_wait``, so none waits forever; one that is still
  waiting when its op ends (stopped by max_ack_pending) loses its reply
  subscription, which is how clients abandon requests;
* ``Ack(index, kind)``: the ``index``-th delivery so far (modulo their number)
  is acknowledged with ``kind`` (+ACK, -NAK, -NAK with a delay, +WPI, +TERM,
  ...) as an AckSync: the observation is whether an (empty) answer came, none
  came, or no one listens (no responders);
* ``CreateEphemeral(config, named)``: an ephemeral create (legacy subject
  without a name, or CREATE.S.E without durable_name) and, in the same op,
  the deletion of what it created; the 8-character name the server chose is
  masked;
* ``FetchNoReply(name, request)``: a pull request without reply subject (the
  observation is empty: its effect, none, shows in later ops);
  ``FetchLevel(name, level, request)``: a pull request with a
  Nats-Required-Api-Level header;
* ``Pause(name, body)``: $JS.API.CONSUMER.PAUSE.S.<name> with pause_until far in
  the past, far in the future (2099), the zero time or none, so that no
  harness clock reaches either side within an example; ``pause_remaining`` is
  masked;
* ``Reset(name, body)``: $JS.API.CONSUMER.RESET.S.<name> (a request for a
  consumer that does not exist gets no answer at all from Go: the harness
  waits ACK_WAIT for it);
* priority groups: the configs ``overflow`` and ``prioritized`` and pull
  requests with group / min_pending / min_ack_pending / id / priority;
  pinned_client is not generated;
* ``AdvanceTime(ms)``: as in the stream area, moves the fake clock of the
  in-process harness; real servers report 0 and the model follows. On the wire
  nothing time-based fires within an example: ack_wait, backoff and nak
  delays are 30 s or more; the pull request expiries (20 ms) do pass, inside
  their op, on every harness.

Observation (:class:`Reply`): an API reply as JSON after masking what is
nondeterministic by definition (``created``, ``ts``, ``last_active``, stream
times, ``_nats.ver``, the server name, ``pause_remaining``, an ephemeral's
generated name); a delivered message as its subject,
its ack reply subject with the timestamp token masked, header block and
payload; a status message as its header block.

Invariants after every step: on the model's own state (any harness), the ack
floor never moves back and stays at or below delivered, every pending message
lies between the stream ack floor and the next sequence, no message was
delivered more than max_deliver times; on what the server itself reported
(its CONSUMER.INFO and CREATE replies, any harness), the ack floor stays at
or below delivered and never moves back while the consumer lives, and
num_ack_pending is at most what was delivered. Beyond that, num_ack_pending
and num_pending are compared with the model's at every reply (num_pending
is Go's running count, which is not always exact: see natsd.model.consumer).

Harnesses (see natsd.oracle.stream, whose connection and frame helpers these
reuse): ``core`` (Broker + JetStreamService in process, fake clock), ``wire``
(a natsd -js subprocess), ``differential`` (natsd and Go side by side) and
``go`` (the Go server alone: checks the model itself). Every example starts
and ends by deleting ``S``.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
from hypothesis import strategies as st

from natsd.model.consumer import ConsumerModel
from natsd.model.consumer import Frame as MFrame
from natsd.model.stream import SERVER, T0, TS, VER, ZERO_TIME, encode_headers
from natsd.oracle.base import Area, Harness, HarnessKind, Op, register, weighted
from natsd.oracle.consumer_push import (
    CORE_ONLY,
    EVENT_SUBS,
    FC_ANSWERS,
    PUSH_CONSUMERS,
    QUIET,
    QUIET_MAX,
    Drain,
    Events,
    PushBuffers,
    Subscribe,
    Unsubscribe,
    model_push_step,
)
from natsd.oracle.stream import take_frames

__all__ = [
    "AREA",
    "CONSUMERS",
    "FETCHES",
    "STREAMS",
    "Ack",
    "AdvanceTime",
    "ConsumerInfo",
    "ConsumerOp",
    "CoreHarness",
    "CreateConsumer",
    "CreateEphemeral",
    "CreateStream",
    "DeleteConsumer",
    "DeleteMsg",
    "DeleteStream",
    "Fetch",
    "FetchLevel",
    "Linger",
    "FetchNoReply",
    "Pause",
    "Publish",
    "Purge",
    "Reply",
    "Reset",
    "StreamInfo",
    "WireHarness",
    "mask",
    "model_step",
]

SEC = 1_000_000_000
MIN = 60 * SEC

#: Stream S's configs (name, storage added).
STREAMS: dict[str, dict] = {
    "limits": {"subjects": ["a", "b", "c.*"]},
    "max_msgs": {"subjects": ["a", "b", "c.*"], "max_msgs": 4},
    "per_subject": {"subjects": ["a", "b", "c.*"], "max_msgs_per_subject": 2},
    "per_subject_1": {"subjects": ["a", "b", "c.*"], "max_msgs_per_subject": 1},
    "interest": {"subjects": ["a", "b", "c.*"], "retention": "interest"},
    "workqueue": {"subjects": ["a", "b", "c.*"], "retention": "workqueue"},
    "max_consumers_1": {"subjects": ["a", "b", "c.*"], "max_consumers": 1},
}

#: Consumer configs by name (durable_name is added). Valid ones first; the
#: invalid ones are named bad_*.
CONSUMERS: dict[str, dict] = {
    "explicit": {"ack_policy": "explicit"},
    "all": {"ack_policy": "all"},
    "none": {"ack_policy": "none"},
    "filter_a": {"ack_policy": "explicit", "filter_subject": "a"},
    "filter_c": {"ack_policy": "explicit", "filter_subject": "c.*"},
    "filters_bc": {"ack_policy": "explicit", "filter_subjects": ["b", "c.1"]},
    "all_filter_b": {"ack_policy": "all", "filter_subject": "b"},
    "last": {"ack_policy": "explicit", "deliver_policy": "last"},
    "last_filter_a": {"ack_policy": "explicit", "deliver_policy": "last", "filter_subject": "a"},
    "new": {"ack_policy": "explicit", "deliver_policy": "new"},
    "by_seq": {"ack_policy": "explicit", "deliver_policy": "by_start_sequence", "opt_start_seq": 3},
    "by_time_past": {"ack_policy": "explicit", "deliver_policy": "by_start_time",
                     "opt_start_time": "2000-01-01T00:00:00Z"},
    "by_time_future": {"ack_policy": "explicit", "deliver_policy": "by_start_time",
                       "opt_start_time": "2099-01-01T00:00:00Z"},
    "by_seq_far": {"ack_policy": "explicit", "deliver_policy": "by_start_sequence", "opt_start_seq": 30},
    "last_per_subject": {"ack_policy": "explicit", "deliver_policy": "last_per_subject", "filter_subject": ">"},
    "lps_c": {"ack_policy": "explicit", "deliver_policy": "last_per_subject", "filter_subject": "c.*"},
    "max_deliver_2": {"ack_policy": "explicit", "max_deliver": 2},
    "max_ack_pending_2": {"ack_policy": "explicit", "max_ack_pending": 2},
    "all_max_ack_pending_2": {"ack_policy": "all", "max_ack_pending": 2, "max_deliver": 3},
    "backoff": {"ack_policy": "explicit", "backoff": [MIN, 2 * MIN], "max_deliver": 4},
    "ack_wait": {"ack_policy": "explicit", "ack_wait": MIN},
    "ack_wait_2m": {"ack_policy": "explicit", "ack_wait": 2 * MIN, "max_deliver": 3},
    "request_limits": {"ack_policy": "explicit", "max_batch": 2, "max_expires": 50_000_000, "max_bytes": 120},
    "headers_only": {"ack_policy": "explicit", "headers_only": True},
    "described": {"ack_policy": "explicit", "description": "d", "metadata": {"owner": "x"}},
    "replicas_1": {"ack_policy": "explicit", "num_replicas": 1},
    "push": {"ack_policy": "explicit", "deliver_subject": "dlv.x"},
    "normalised": {"ack_policy": "explicit", "max_deliver": -5, "max_ack_pending": -7, "max_waiting": -1,
                   "max_batch": -1},
    "explicit_max_waiting_1": {"ack_policy": "explicit", "max_waiting": 1},
    "inactive_threshold": {"ack_policy": "explicit", "inactive_threshold": 1000 * 3600 * SEC},
    "max_deliver_1": {"ack_policy": "explicit", "max_deliver": 1},
    "overflow": {"ack_policy": "explicit", "priority_policy": "overflow", "priority_groups": ["g"]},
    "prioritized": {"ack_policy": "explicit", "priority_policy": "prioritized", "priority_groups": ["g"]},
    "pinned": {"ack_policy": "explicit", "priority_policy": "pinned_client", "priority_groups": ["g"]},
    "inactive_100s": {"ack_policy": "explicit", "inactive_threshold": 100 * SEC},
    "bad_filters_both": {"ack_policy": "explicit", "filter_subject": "a", "filter_subjects": ["b"]},
    "bad_overlap": {"ack_policy": "explicit", "filter_subjects": ["c.*", "c.1"]},
    "bad_empty_filter": {"ack_policy": "explicit", "filter_subjects": ["a", ""]},
    "bad_filter_subject": {"ack_policy": "explicit", "filter_subject": "a..b"},
    "bad_by_seq_unset": {"ack_policy": "explicit", "deliver_policy": "by_start_sequence"},
    "bad_all_with_seq": {"ack_policy": "explicit", "opt_start_seq": 2},
    "bad_lps_no_filter": {"ack_policy": "explicit", "deliver_policy": "last_per_subject"},
    "bad_backoff_max_deliver": {"ack_policy": "explicit", "backoff": [MIN, MIN, MIN], "max_deliver": 2},
    "bad_ack_wait": {"ack_policy": "explicit", "ack_wait": -1},
    "bad_backoff_negative": {"ack_policy": "explicit", "backoff": [-1]},
    "bad_push_max_waiting": {"ack_policy": "explicit", "deliver_subject": "dlv.x", "max_waiting": 5},
    "bad_push_wildcard": {"ack_policy": "explicit", "deliver_subject": "dlv.*"},
    "bad_push_cycle": {"ack_policy": "explicit", "deliver_subject": "c.9"},
    "bad_push_none_max_ack": {"ack_policy": "none", "deliver_subject": "dlv.x", "max_ack_pending": 3},
    "bad_pull_heartbeat": {"ack_policy": "explicit", "idle_heartbeat": SEC},
    "bad_pull_flow_control": {"ack_policy": "explicit", "flow_control": True},
    "bad_max_expires": {"ack_policy": "explicit", "max_expires": 1000},
    "bad_replicas": {"ack_policy": "explicit", "num_replicas": 3},
    "bad_replicas_negative": {"ack_policy": "explicit", "num_replicas": -1},
    "bad_description": {"ack_policy": "explicit", "description": "d" * 4097},
    "bad_sample_freq": {"ack_policy": "explicit", "sample_freq": "x%"},
    "bad_priority": {"ack_policy": "explicit", "priority_policy": "overflow"},
    "bad_priority_groups": {"ack_policy": "explicit", "priority_groups": ["g"]},
    "bad_enum": {"ack_policy": "bogus"},
    "bad_pedantic": {"ack_policy": "explicit", "max_deliver": -5, "pedantic": True},
    "bad_durable_mismatch": {"ack_policy": "explicit", "durable_name": "Z"},
    "bad_direct_pull": {"ack_policy": "explicit", "direct": True},
    "bad_ack_flow_control_pull": {"ack_policy": "flow_control"},
    "bad_name": {"ack_policy": "explicit", "name_suffix": "*"},
}
CONSUMERS.update(PUSH_CONSUMERS)  # push consumers: natsd.oracle.consumer_push

#: Pull request bodies. Those without expires are all no_wait.
FETCHES: list[str] = [
    '{"batch":1,"no_wait":true}',
    '{"batch":2,"no_wait":true}',
    '{"batch":5,"no_wait":true}',
    '{"no_wait":true}',
    '{"batch":3,"no_wait":true,"max_bytes":100}',
    '{"batch":2,"no_wait":true,"max_bytes":40}',
    '{"batch":9,"no_wait":true,"max_bytes":1000}',
    '{"batch":2,"expires":20000000}',
    '{"batch":1,"expires":20000000,"no_wait":true}',
    '{"batch":3,"expires":20000000,"max_bytes":200}',
    '{"batch":3,"no_wait":true,"expires":60000000}',
    '{"batch":1,"no_wait":true,"max_bytes":500}',
    '{"batch":"x"}',
    '{bad',
    '{"batch":1,"no_wait":true,"idle_heartbeat":1000000000,"expires":200000000}',
    '{"batch":2,"no_wait":true,"group":"g"}',
    '{"batch":2,"no_wait":true,"group":"g","min_pending":3}',
    '{"batch":2,"no_wait":true,"group":"g","min_ack_pending":1}',
    '{"batch":2,"expires":20000000,"group":"g","min_pending":2}',
    '{"batch":1,"no_wait":true,"group":"h"}',
    '{"batch":1,"no_wait":true,"min_pending":1}',
    '{"batch":1,"no_wait":true,"group":"g","id":"x"}',
    '{"batch":1,"no_wait":true,"group":"g","priority":10}',
    '{"batch":2,"expires":20000000,"idle_heartbeat":5000000}',
    '{"batch":1,"expires":30000000,"idle_heartbeat":10000000,"group":"g"}',
    '{"batch":1,"expires":20000000,"idle_heartbeat":15000000}',
    '{"batch":2,"no_wait":true,"group":"g","id":"<pin>"}',
    '{"batch":1,"expires":20000000,"group":"g","id":"<pin>"}',
]

ACK_KINDS = ["+ACK", "", "+ACK", "-NAK", "+WPI", "+TERM", "-NAK 1m", '-NAK {"delay":60000000000}', "+OK",
             "+TERM done", "-NAK bogus", "hello"]
SUBJECTS = ["a", "b", "c.1", "a", "c.2", "b", "a", "z"]
SIZES = [0, 1, 10]
HEADERS: list[tuple[tuple[str, str], ...]] = [(), (("Nats-Msg-Id", "1"),), (("X", "y"),)]
#: Purges of everything or below a sequence. No filtered purges: when one
#: removes exactly one message that a consumer has pending, Go terminates that
#: message from a goroutine which races with the consumers' own purge step, and
#: both orders are observed (different ack floors).
PURGES = ["", '{"seq":3}', '{"seq":6}', '{"seq":30}']
ADVANCE_MS = [1, 100, 30_000, 59_999, 60_001, 120_000, 600_000]

NAMES = ("C", "D")
#: Configs of the ephemeral creates (the durable_name of bad_durable_mismatch stays: 10020 / 10013)
EPHEMERAL_CONFIGS = ["explicit", "all", "none", "filter_a", "push", "last", "inactive_threshold", "new",
                     "bad_durable_mismatch", "bad_ack_wait", "bad_pull_heartbeat"]
#: Nats-Required-Api-Level header values (the server's level is 5)
LEVELS = ["99", "6", "x", "5", "0"]
PAUSES = ['{"pause_until":"2099-01-01T00:00:00Z"}', '{"pause_until":"2020-01-01T00:00:00Z"}', "", "{}",
          '{"pause_until":"0001-01-01T00:00:00Z"}', '{"pause_until":"2099-01-01T00:00:00Z"}']
#: Linger ops are core-only: against Go (v2.15) lingering requests are still
#: sometimes left unserved for seconds - num_waiting counts one, yet neither
#: its message nor the second request's 409 Exceeded MaxWaiting arrives (seen
#: replaying PULL_SIDE_CORE[0] of tests/test_oracle_consumer.py); not understood
#: yet. The wire harnesses answer "skip" (the model follows) while this is False.
LINGER_ON_WIRE = False
#: The body of a Linger op's requests (a batch no example fills)
LINGER_REQUEST = '{"batch":50,"expires":60000000000}'
#: CONSUMER.UNPIN bodies
UNPINS = ['{"group":"g"}', '{"group":"g"}', '{"group":"h"}', "{}", '{"group":"g*"}', ""]
#: What a pull request's "<pin>" stands for before any pin id was seen
NO_PIN = "none0"
RESETS = ["", '{"seq":0}', '{"seq":1}', '{"seq":3}', '{"seq":5}', '{"seq":30}', "{bad"]


def payload(size: int) -> bytes:
    return (b"abcdefghijklmnopqrstuvwxyz" * 4)[:size]


# ---------------------------------------------------------------------------- ops


class CreateStream(Op, frozen=True):
    config: str = "limits"


class DeleteStream(Op, frozen=True):
    pass


class StreamInfo(Op, frozen=True):
    pass


class Publish(Op, frozen=True):
    subject: str
    size: int = 0
    headers: tuple[tuple[str, str], ...] = ()


class Purge(Op, frozen=True):
    request: str = ""


class DeleteMsg(Op, frozen=True):
    seq: int


class CreateConsumer(Op, frozen=True):
    name: str
    config: str = "explicit"
    action: str = ""
    stream: str = "S"


class ConsumerInfo(Op, frozen=True):
    name: str


class DeleteConsumer(Op, frozen=True):
    name: str


class Fetch(Op, frozen=True):
    name: str
    request: str = '{"batch":1,"no_wait":true}'


class Ack(Op, frozen=True):
    index: int
    kind: str = "+ACK"


class AdvanceTime(Op, frozen=True):
    ms: int


class CreateEphemeral(Op, frozen=True):
    """An ephemeral consumer: $JS.API.CONSUMER.CREATE.S without a name (the
    server names it) or, ``named``, CREATE.S.E without durable_name; then, in the
    same op, its deletion by the name the reply gave (so no inactivity timer
    outlives the op)."""

    config: str = "explicit"
    named: bool = False


class FetchNoReply(Op, frozen=True):
    """A pull request published without a reply subject."""

    name: str
    request: str = '{"batch":1,"no_wait":true}'


class FetchLevel(Op, frozen=True):
    """A pull request with a Nats-Required-Api-Level header."""

    name: str
    level: str = "99"
    request: str = '{"batch":1,"no_wait":true}'


class Pause(Op, frozen=True):
    """$JS.API.CONSUMER.PAUSE.S.<name> with ``body``."""

    name: str
    body: str = ""


class Linger(Op, frozen=True):
    """``count`` pull requests that outlive their op's reading: batch 50 with a
    60 s expiry, so none ends by itself within an example; then CONSUMER.INFO
    (its num_waiting; on the wire asked again until the server has queued
    them and every delivery it counted has arrived) and the consumer's
    deletion. What the requests receive after the deletion is not compared:
    Go queues '409 Consumer Deleted' and closes the send loop at once, a race.

    Drawn by the campaign, but core-only (see LINGER_ON_WIRE): against Go the
    lingering requests are sometimes left unserved for seconds, which is not
    understood yet. On core, the messages of all requests are compared in
    delivery order, each request's statuses, and the '409 Consumer Deleted'
    each waiting request gets with the deletion."""

    name: str
    count: int = 1


class Reset(Op, frozen=True):
    """$JS.API.CONSUMER.RESET.S.<name> with ``body``."""

    name: str
    body: str = ""


class Unpin(Op, frozen=True):
    """$JS.API.CONSUMER.UNPIN.S.<name> with ``body``."""

    name: str
    body: str = '{"group":"g"}'


ConsumerOp = (CreateStream | DeleteStream | StreamInfo | Publish | Purge | DeleteMsg | CreateConsumer
              | ConsumerInfo | DeleteConsumer | Fetch | Ack | AdvanceTime | CreateEphemeral | FetchNoReply
              | FetchLevel | Pause | Reset | Linger | Unpin | Subscribe | Unsubscribe | Drain | Events)


def stream_request(op: CreateStream) -> dict:
    return {"name": "S", "storage": "memory", **STREAMS[op.config]}


def consumer_request(op: CreateConsumer) -> tuple[str, dict]:
    """(consumer name in the subject, request body)."""
    cfg = dict(CONSUMERS[op.config])
    pedantic = cfg.pop("pedantic", False)
    name = op.name + cfg.pop("name_suffix", "")
    cfg.setdefault("durable_name", name)
    if "{name}" in cfg.get("deliver_subject", ""):
        cfg["deliver_subject"] = cfg["deliver_subject"].format(name=name)
    req: dict = {"stream_name": op.stream, "config": cfg}
    if op.action:
        req["action"] = op.action
    if pedantic:
        req["pedantic"] = True
    return name, req


def ephemeral_request(op: CreateEphemeral) -> tuple[str, dict]:
    """(consumer name in the subject, "" for the legacy form; request body)."""
    cfg = dict(CONSUMERS[op.config])
    pedantic = cfg.pop("pedantic", False)
    cfg.pop("name_suffix", None)
    req: dict = {"stream_name": "S", "config": cfg}
    if pedantic:
        req["pedantic"] = True
    return ("E" if op.named else ""), req


def api_parts(op: Op) -> tuple[str, bytes, bytes]:
    """(subject, header block, body) of an op that is one request with one reply."""
    if isinstance(op, CreateStream):
        return "$JS.API.STREAM.CREATE.S", b"", json.dumps(stream_request(op)).encode()
    if isinstance(op, DeleteStream):
        return "$JS.API.STREAM.DELETE.S", b"", b""
    if isinstance(op, StreamInfo):
        return "$JS.API.STREAM.INFO.S", b"", b""
    if isinstance(op, Publish):
        return op.subject, encode_headers(op.headers), payload(op.size)
    if isinstance(op, Purge):
        return "$JS.API.STREAM.PURGE.S", b"", op.request.encode()
    if isinstance(op, DeleteMsg):
        return "$JS.API.STREAM.MSG.DELETE.S", b"", json.dumps({"seq": op.seq}).encode()
    if isinstance(op, CreateConsumer):
        name, req = consumer_request(op)
        return f"$JS.API.CONSUMER.CREATE.{op.stream}.{name}", b"", json.dumps(req).encode()
    if isinstance(op, ConsumerInfo):
        return f"$JS.API.CONSUMER.INFO.S.{op.name}", b"", b""
    if isinstance(op, DeleteConsumer):
        return f"$JS.API.CONSUMER.DELETE.S.{op.name}", b"", b""
    if isinstance(op, CreateEphemeral):
        name, req = ephemeral_request(op)
        return "$JS.API.CONSUMER.CREATE.S" + (f".{name}" if name else ""), b"", json.dumps(req).encode()
    if isinstance(op, Pause):
        return f"$JS.API.CONSUMER.PAUSE.S.{op.name}", b"", op.body.encode()
    if isinstance(op, Reset):
        return f"$JS.API.CONSUMER.RESET.S.{op.name}", b"", op.body.encode()
    if isinstance(op, Unpin):
        return f"$JS.API.CONSUMER.UNPIN.S.{op.name}", b"", op.body.encode()
    raise TypeError(f"not an API op: {op!r}")


def encode_pub(subject: str, reply: str, hdr: bytes, body: bytes) -> bytes:
    head = f"{subject} {reply}" if reply else subject
    if hdr:
        return f"HPUB {head} {len(hdr)} {len(hdr) + len(body)}\r\n".encode() + hdr + body + b"\r\n"
    return f"PUB {head} {len(body)}\r\n".encode() + body + b"\r\n"


# --------------------------------------------------------------------- strategy

_VALID = [c for c in CONSUMERS if not c.startswith("bad_")]
_INVALID = [c for c in CONSUMERS if c.startswith("bad_")]
CONSUMER_CHOICES = _VALID * 3 + _INVALID + _VALID[::-1]
_name = st.sampled_from(NAMES)
_create_stream = st.builds(CreateStream, st.sampled_from([*STREAMS, "limits", "interest", "workqueue"]))
_publish = st.builds(lambda s, z, h: Publish(s, z, h), st.sampled_from(SUBJECTS), st.sampled_from(SIZES),
                     st.sampled_from(HEADERS[:1] * 4 + HEADERS))
_create_consumer = st.builds(
    lambda n, c, a, s: CreateConsumer(n, c, a, s), _name, st.sampled_from(CONSUMER_CHOICES),
    st.sampled_from(["", "", "", "create", "update"]), st.sampled_from(["S"] * 12 + ["T"]))
_fetch = st.builds(Fetch, _name, st.sampled_from(FETCHES[:3] * 2 + FETCHES))
_ack = st.builds(Ack, st.integers(0, 15), st.sampled_from(ACK_KINDS))
_ephemeral = st.builds(CreateEphemeral, st.sampled_from(EPHEMERAL_CONFIGS), st.booleans())
_fetch_no_reply = st.builds(FetchNoReply, _name, st.sampled_from(FETCHES[:3]))
_fetch_level = st.builds(FetchLevel, _name, st.sampled_from(LEVELS), st.sampled_from(FETCHES[:3]))
_pause = st.builds(Pause, _name, st.sampled_from(PAUSES))
_reset = st.builds(Reset, _name, st.sampled_from(RESETS))
_unpin = st.builds(Unpin, _name, st.sampled_from(UNPINS))
#: the pinned_client and inactive_threshold consumers, and requests of group g,
#: drawn on their own too (among all configs and bodies they would be rare)
_create_pull_special = st.builds(CreateConsumer, _name, st.sampled_from(["pinned", "pinned", "inactive_100s",
                                                                           "explicit_max_waiting_1"]))
_fetch_group = st.builds(Fetch, _name, st.sampled_from([f for f in FETCHES if '"group":"g"' in f]))
_linger = st.builds(Linger, _name, st.sampled_from([1, 1, 2, 3]))

#: push consumers and advisories (natsd.oracle.consumer_push); replay original
#: and ack policy flow_control drawn twice as often (what they pace or hold
#: shows only after a few more steps)
_PUSH_WEIGHTS = (
    (3, st.builds(CreateConsumer, _name, st.sampled_from(sorted(PUSH_CONSUMERS) + ["push_replay", "push_ack_fc"]))),
    (3, st.builds(Subscribe, _name)), (1, st.builds(Unsubscribe, _name)),
    (3, st.builds(Drain, _name, st.sampled_from(FC_ANSWERS))), (2, st.just(Events())),
)

#: A stream and a consumer come first in most examples: creates are frequent
#: (repeating one is idempotent), stream deletes rare.
_PULL_WEIGHTS = (
    (10, _publish), (6, _create_consumer), (10, _fetch), (10, _ack), (3, st.builds(ConsumerInfo, _name)),
    (5, _create_stream), (1, st.builds(StreamInfo)), (1, st.builds(DeleteConsumer, _name)),
    (1, st.builds(Purge, st.sampled_from(PURGES))), (1, st.builds(DeleteMsg, st.integers(1, 8))),
    (3, st.builds(AdvanceTime, st.sampled_from(ADVANCE_MS))), (1, st.just(DeleteStream())),
    (2, _ephemeral), (1, _fetch_no_reply), (1, _fetch_level), (2, _pause), (1, _reset),
    (2, _unpin), (1, _linger), (2, _create_pull_special), (2, _fetch_group),
)
OPS = weighted(*_PULL_WEIGHTS, *_PUSH_WEIGHTS)
#: The pull side alone: for searches against a live server that must end soon
#: (a push op waits for deliveries that may not come).
PULL_OPS = weighted(*_PULL_WEIGHTS)

# ------------------------------------------------------------------ observation


class Reply(msgspec.Struct, frozen=True):
    """One op's observation: ``kind`` is ``api`` (body: masked JSON, keys
    sorted), ``puback`` (exact text), ``fetch`` (``frames``: what the pull
    request's reply subject received), ``ack`` (body: reply / none /
    no_responders / nothing), ``status`` (a status message's header block, e.g.
    no responders), ``time`` (ms the clock moved), ``none`` or ``other``."""

    kind: str
    body: str = ""
    frames: tuple[str, ...] = ()


#: What a remaining duration (pause_remaining: now against a deadline) is masked to
DUR = "<dur>"
_TIME_KEYS = ("created", "ts", "first_ts", "last_ts", "time", "last_active", "pinned_ts")


def mask(value: Any) -> Any:
    """Replace what is nondeterministic by definition (in place; returns ``value``)."""
    if isinstance(value, dict):
        for key, v in value.items():
            if key in _TIME_KEYS and isinstance(v, str):
                value[key] = ZERO_TIME if v == ZERO_TIME else TS
            elif key == "pause_remaining" and isinstance(v, int):
                value[key] = DUR
            else:
                mask(v)
        meta = value.get("metadata")
        if isinstance(meta, dict) and "_nats.ver" in meta:
            meta["_nats.ver"] = VER
        cluster = value.get("cluster")
        if isinstance(cluster, dict) and "leader" in cluster:
            cluster["leader"] = SERVER
    elif isinstance(value, list):
        for v in value:
            mask(v)
    return value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def api_reply(value: Any) -> Reply:
    return Reply("api", _canonical(value))


def mask_ack_reply(reply: str) -> str:
    t = reply.split(".")
    if len(t) == 9 and t[:2] == ["$JS", "ACK"]:
        t[7] = "<ts>"
    return ".".join(t)


def frame_text(subject: str, reply: str, hdr: bytes, data: bytes) -> str:
    """A frame a pull request received: "msg <subject> <ack reply> <hdr+data>" or
    "status <hdr>"."""
    if not subject:
        return "status " + (hdr + data).decode("latin-1")
    return f"msg {subject} {mask_ack_reply(reply)} " + (hdr + data).decode("latin-1")


def _no_responders(subject: str) -> Reply:
    return Reply("status", f"NATS/1.0 503\r\nNats-Subject: {subject}\r\n\r\n")


def observe_api(op: Op, line: bytes, body: bytes) -> Reply:
    if line.startswith(b"HMSG "):
        hlen = int(line.split()[-2])
        hdr = body[:hlen]
        if hdr.split(b"\r\n", 1)[0].strip() != b"NATS/1.0":
            return Reply("status", body.decode("latin-1"))
        return Reply("other", f"{line!r} {body!r}")
    if isinstance(op, Publish):
        return Reply("puback", body.decode("latin-1"))
    try:
        return api_reply(mask(json.loads(body)))
    except ValueError:
        return Reply("other", body.decode("latin-1"))


_EPH_NAME = re.compile(r"^[0-9A-Za-z]{8}$")
EPH = "<eph>"


def observe_ephemeral(op: CreateEphemeral, created: dict, deleted: dict | None) -> Reply:
    """An ephemeral create (and delete) as JSON; the name the server chose
    (8 base62 characters) is masked."""
    if not op.named and _EPH_NAME.match(str(created.get("name", ""))):
        created["name"] = EPH
        if isinstance(created.get("config"), dict) and "name" in created["config"]:
            created["config"]["name"] = EPH
    frames = (_canonical(mask(created)),) + ((_canonical(mask(deleted)),) if deleted is not None else ())
    return Reply("ephemeral", frames=frames)


_PIN_IDS = re.compile(r'(Nats-Pin-Id: |"pinned_client_id":"|"pinned_id":")([^\r"]+)')


class PinMask:
    """Pin ids (Go: a random nuid; the model: P1, P2, ...) replaced by <pin1>,
    <pin2>, ... in the order each first appears on one side, so that equal
    observations mean the same pin was kept and a new token a new pin; and the
    latest one seen, which a pull request's "<pin>" stands for."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.latest = ""

    def _sub(self, m: re.Match) -> str:
        real = m.group(2)
        if real not in self.tokens:
            self.tokens[real] = f"<pin{len(self.tokens) + 1}>"
        self.latest = real
        return m.group(1) + self.tokens[real]

    def text(self, value: str) -> str:
        return _PIN_IDS.sub(self._sub, value) if ("Pin-Id" in value or "pinned_" in value) else value

    def reply(self, r: Reply) -> Reply:
        return Reply(r.kind, self.text(r.body), tuple(self.text(f) for f in r.frames))

    def request(self, body: str) -> str:
        return body.replace("<pin>", self.latest or NO_PIN)


#: The body of a fetch reply whose idle heartbeats the harness left out (on
#: the wire their number depends on timing; the model then leaves them out too)
NO_HB = "heartbeats not compared"


def without_heartbeats(r: Reply) -> Reply:
    return Reply(r.kind, NO_HB, tuple(f for f in r.frames if not f.startswith("status NATS/1.0 100 ")))


def _dseq(frame: str) -> int:
    t = frame.split(" ", 3)[2].split(".")
    return int(t[6]) if len(t) == 9 else 0


def linger_reply(num_waiting: Any, frames: list[list[str]], deleted: dict, after: list[list[str]] | None) -> Reply:
    """A Linger op: num_waiting; each request's statuses before the deletion;
    the messages all requests received, in delivery order (which request gets
    which is a race in Go: its delivery loop serves the queue round robin while
    the requests are still being queued); the delete reply; then what each
    request received after the deletion ('409 Consumer Deleted': compared on
    the core harness only, see natsd.model.consumer.consumer_delete)."""
    statuses = tuple(" | ".join(f for f in fs if f.startswith("status ")) for fs in frames)
    msgs = sorted((f for fs in frames for f in fs if f.startswith("msg ")), key=_dseq)
    tail = tuple(" | ".join(fs) for fs in after) if after is not None else ("<race>",)
    return Reply("linger", str(num_waiting), statuses + (" | ".join(msgs), _canonical(mask(deleted))) + tail)


# ------------------------------------------------------------------------ model


class Model:
    """The model side of one harness side: the consumer model plus the list of
    ack reply subjects delivered so far (what Ack ops index)."""

    def __init__(self) -> None:
        self.m = ConsumerModel()
        self.delivered: list[str] = []
        #: (stream, consumer) -> (the Consumer, its stored ack floor at the last check)
        self.floors: dict[tuple[str, str], tuple[Any, tuple[int, int]]] = {}
        #: consumer -> the ack floor the server last reported (observed invariants)
        self.impl_floors: dict[str, tuple[int, int]] = {}
        self.pins = PinMask()

    @property
    def covered(self) -> set[str]:
        return self.m.ccovered


def model_step(model: Model, op: Op, impl: Reply) -> Reply:
    """Apply ``op`` to the model. ``impl`` is used only for what timing leaves
    open on the wire: AdvanceTime (how far the harness could move its clock),
    a fetch's idle heartbeats and a Linger's '409 Consumer Deleted'."""
    if impl.kind == "skip" and isinstance(op, Linger):
        return Reply("skip")
    out = model.pins.reply(_model_step(model, op, impl))
    if out.kind == "fetch" and impl.kind == "fetch" and impl.body == NO_HB:
        return without_heartbeats(out)
    return out


def _model_step(model: Model, op: Op, impl: Reply) -> Reply:
    m = model.m
    if isinstance(op, AdvanceTime):
        moved = 0 if impl.kind == "time" and impl.body == "0" else op.ms
        m.advance(moved * 1_000_000)
        return Reply("time", str(moved))
    if isinstance(op, CreateStream):
        req = stream_request(op)
        return api_reply(m.create("S", req))
    if isinstance(op, DeleteStream):
        reply = api_reply(m.delete("S"))
        m.events.clear()  # what was not observed yet races the stream's end (natsd.oracle.consumer_push)
        return reply
    if isinstance(op, StreamInfo):
        return api_reply(m.info("S", None))
    if impl.kind == "skip" and isinstance(op, CreateConsumer) and op.config in CORE_ONLY:
        return Reply("skip")
    if isinstance(op, Subscribe | Unsubscribe | Drain | Events):
        kind, frames, replies = model_push_step(model, op)
        model.delivered.extend(replies)
        return Reply(kind, frames=frames)
    if isinstance(op, Publish):
        text = m.publish(op.subject, op.headers, payload(op.size))
        return _no_responders(op.subject) if text is None else Reply("puback", text)
    if isinstance(op, Purge):
        return api_reply(m.purge("S", op.request.encode()))
    if isinstance(op, DeleteMsg):
        return api_reply(m.delete_msg("S", json.dumps({"seq": op.seq}).encode()))
    if isinstance(op, CreateConsumer):
        name, req = consumer_request(op)
        reply = m.consumer_create(op.stream, name, req)
        return api_reply(mask(reply))
    if isinstance(op, ConsumerInfo):
        return api_reply(mask(m.consumer_info("S", op.name)))
    if isinstance(op, DeleteConsumer):
        return api_reply(m.consumer_delete("S", op.name))
    if isinstance(op, Fetch):
        frames = m.fetch("S", op.name, model.pins.request(op.request).encode())
        if frames is None:
            return _no_responders(f"$JS.API.CONSUMER.MSG.NEXT.S.{op.name}")
        model.delivered.extend(f.reply for f in frames if f.subject)
        return Reply("fetch", frames=tuple(frame_text(f.subject, f.reply, f.hdr, f.data) for f in frames))
    if isinstance(op, Ack):
        if not model.delivered:
            return Reply("ack", "nothing")
        subject = model.delivered[op.index % len(model.delivered)]
        return Reply("ack", m.ack(subject, op.kind.encode()))
    if isinstance(op, CreateEphemeral):
        name, req = ephemeral_request(op)
        created = m.consumer_create("S", name, req)
        deleted = m.consumer_delete("S", created["name"]) if "name" in created else None
        return observe_ephemeral(op, created, deleted)
    if isinstance(op, FetchNoReply):
        m.fetch_no_reply("S", op.name)
        return Reply("fetch")
    if isinstance(op, FetchLevel):
        frames = m.fetch("S", op.name, op.request.encode(), hdr=level_header(op.level))
        if frames is None:
            return _no_responders(f"$JS.API.CONSUMER.MSG.NEXT.S.{op.name}")
        model.delivered.extend(f.reply for f in frames if f.subject)
        return Reply("fetch", frames=tuple(frame_text(f.subject, f.reply, f.hdr, f.data) for f in frames))
    if isinstance(op, Linger):
        lists = []
        m.consumer_info("S", op.name)  # the harness's baseline CONSUMER.INFO
        for _ in range(op.count):
            frames = m.fetch("S", op.name, LINGER_REQUEST.encode(), hold=True)
            if frames is None:
                frames = [MFrame("", "", _no_responders(f"$JS.API.CONSUMER.MSG.NEXT.S.{op.name}").body.encode())]
            lists.append(frames)
        info = m.consumer_info("S", op.name)
        marks = [len(frames) for frames in lists]
        deleted = m.consumer_delete("S", op.name)
        for frames in lists:
            model.delivered.extend(f.reply for f in frames if f.subject)
        texts = [[frame_text(f.subject, f.reply, f.hdr, f.data) for f in frames] for frames in lists]
        after = [t[n:] for t, n in zip(texts, marks, strict=True)]
        if impl.kind == "linger" and impl.frames[-1:] == ("<race>",):
            after = None
        return linger_reply(info.get("num_waiting", "error"), [t[:n] for t, n in zip(texts, marks, strict=True)],
                            deleted, after)
    if isinstance(op, Unpin):
        return api_reply(m.consumer_unpin("S", op.name, op.body.encode()))
    if isinstance(op, Pause):
        return api_reply(mask(m.consumer_pause("S", op.name, op.body.encode())))
    if isinstance(op, Reset):
        got = m.consumer_reset("S", op.name, op.body.encode())
        if got is None:  # Go's API subscription takes it, and no one answers
            return Reply("none")
        model.floors.pop(("S", op.name), None)  # a reset moves the floors back
        return api_reply(mask(got))
    raise TypeError(f"not a consumer op: {op!r}")


def level_header(level: str) -> bytes:
    return f"NATS/1.0\r\nNats-Required-Api-Level: {level}\r\n\r\n".encode()


def describe(expected: Reply, impl: Reply) -> str:
    if expected.kind != impl.kind:
        return f"reply kind: model {expected.kind}, implementation {impl.kind}"
    if expected.kind == "api":
        out: list[str] = []
        _diff(json.loads(expected.body), json.loads(impl.body), "", out)
        return "\n".join(out)
    if expected.kind in ("fetch", "ephemeral", "linger", "push", "events"):
        lines = [] if expected.body == impl.body else [f"body: model {expected.body!r}, implementation {impl.body!r}"]
        for i in range(max(len(expected.frames), len(impl.frames))):
            a = expected.frames[i] if i < len(expected.frames) else "<none>"
            b = impl.frames[i] if i < len(impl.frames) else "<none>"
            if a != b:
                lines.append(f"frame {i}: model {a!r}, implementation {b!r}")
        return "\n".join(lines)
    return f"body: model {expected.body!r}, implementation {impl.body!r}"


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}" if path else k
            if k not in b:
                out.append(f"{p}: model {a[k]!r}, implementation has no such key")
            elif k not in a:
                out.append(f"{p}: model has no such key, implementation {b[k]!r}")
            else:
                _diff(a[k], b[k], p, out)
    elif a != b:
        out.append(f"{path or '<reply>'}: model {a!r}, implementation {b!r}")


# ------------------------------------------------------------------- invariants


def consumer_state_consistent(model: Model, state: Any) -> str | None:
    """The model's consumers: ack floors never move back (per consumer
    incarnation) and stay at or below delivered; pending messages lie above the
    running ack floor and below the next sequence; no message was delivered
    more than max_deliver times. (num_pending is Go's running count, not an
    exact one; the CONSUMER.INFO replies compare it with the server's.)"""
    m = model.m
    problems = []
    for sname, cs in m.consumers.items():
        for name, o in cs.items():
            floor = (o.s_ack[0], o.s_ack[1])
            was, prev = model.floors.get((sname, name), (None, None))
            if was is o and (floor[0] < prev[0] or floor[1] < prev[1]):
                problems.append(f"{sname}/{name}: stored ack floor went back {prev} -> {floor}")
            model.floors[(sname, name)] = (o, floor)
            # except under flow control: Go processAckMsg takes an ack at or past the
            # next sequence there (ack policy flow_control: an ack all of a reply
            # subject from an earlier incarnation moves the floor past delivered)
            fc = o.cfg["flow_control"]
            if (o.s_ack[0] > o.s_delivered[0] or o.s_ack[1] > o.s_delivered[1]) and not fc:
                problems.append(f"{sname}/{name}: ack floor {o.s_ack} above delivered {o.s_delivered}")
            if o.adflr > o.dseq - 1 and not fc:
                problems.append(f"{sname}/{name}: running ack floor {o.adflr} above delivered {o.dseq - 1}")
            for seq, (dseq, _) in o.pending.items():
                # only the stream floor bounds pending messages from below: an ack
                # all of a redelivery, or a filtered purge removing a later pending
                # message, moves the consumer floor past pending consumer sequences
                # (Go does both; natsd.oracle.proofs.consumer proves the full form
                # for the other transitions)
                # (flow control: an ack all of an earlier incarnation's reply at or past
                # the next sequence moves the floor onto what is delivered next, as in Go)
                low = o.asflr < seq or o.cfg["flow_control"]
                if not (low and seq < o.sseq) or not (0 < dseq < o.dseq):
                    problems.append(f"{sname}/{name}: pending {seq}/{dseq} outside floor {o.asflr}/{o.adflr} "
                                    f"and next {o.sseq}/{o.dseq}")
            if o.maxdc and any(n > o.maxdc for n in o.deliveries.values()):
                problems.append(f"{sname}/{name}: delivered beyond max_deliver {o.maxdc}: {o.deliveries}")
    return "; ".join(problems) or None


def observed_consumer_info_consistent(model: Model, state: Any) -> str | None:
    """The server's own CONSUMER.INFO / CREATE replies since the last step (any
    harness): ack floor at or below delivered, num_ack_pending at most what was
    delivered, and the ack floor never moving back while the consumer lives."""
    problems = []
    for name, info in (state or {}).get("observed", ()):
        if info is None:  # the consumer (or the whole stream) was deleted or recreated
            if name == "*":
                model.impl_floors.clear()
            else:
                model.impl_floors.pop(name, None)
            continue
        floor, dlv = info["ack_floor"], info["delivered"]
        fl = (floor["consumer_seq"], floor["stream_seq"])
        if fl[0] > dlv["consumer_seq"] or fl[1] > dlv["stream_seq"]:
            problems.append(f"{name}: ack floor {floor} above delivered {dlv}")
        if info["num_ack_pending"] > dlv["consumer_seq"]:
            problems.append(f"{name}: num_ack_pending {info['num_ack_pending']} > delivered {dlv['consumer_seq']}")
        prev = model.impl_floors.get(name)
        if prev is not None and (fl[0] < prev[0] or fl[1] < prev[1]):
            problems.append(f"{name}: ack floor went back {prev} -> {fl}")
        model.impl_floors[name] = fl
    return "; ".join(problems) or None


def _observed(op: Op, reply: Reply) -> list[tuple[str, dict | None]]:
    """What an op's reply tells the observed invariants."""
    if isinstance(op, DeleteStream | CreateStream):
        return [("*", None)]
    if isinstance(op, DeleteConsumer | Linger):
        return [(op.name, None)]
    if isinstance(op, Reset) and reply.kind == "api":
        value = json.loads(reply.body)
        if "ack_floor" in value:
            return [(op.name, None), (op.name, value)]
    if isinstance(op, ConsumerInfo | CreateConsumer) and reply.kind == "api":
        value = json.loads(reply.body)
        if "ack_floor" in value and value.get("stream_name") == "S":
            return [(value["name"], value)]
    return []


# ------------------------------------------------------------------ harnesses

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
INBOX = "_INBOX.cons"
SETUP = CONNECT + f"SUB {INBOX}.> 1\r\n".encode()
CLEANUP = [DeleteStream()]
REPLY_TIMEOUT = 5.0
#: The pause after a publish on the wire (see WireHarness.apply).
SIGNAL_SETTLE = 0.005
#: How long the wire harnesses wait for an ack's answer that may not come (Go
#: does not answer an ack for a sequence the consumer has not reached, e.g. one
#: delivered by an earlier consumer of the same name). Generous: a late answer
#: on a loaded machine must not pass for none.
ACK_WAIT = 2.0
#: The pause between a Linger op's CONSUMER.INFO polls (it asks until the
#: server has settled, at most REPLY_TIMEOUT)
LINGER_POLL_PAUSE = 0.002
#: How long the wire harnesses wait on a no_wait pull request that neither
#: ends nor fills its batch (stopped by max_ack_pending).
LINGER_WAIT = 0.2


def _msg_size(subject: bytes, reply: bytes, hdr: bytes, data: bytes) -> int:
    return len(subject) + len(reply) + len(hdr) + len(data)


class _FetchTracker:
    """Decides from what arrived when a pull request has ended (harness side,
    from the request and the frames only): a status ends it; so does a filled
    batch, unless max_bytes is left over (Go then sends 409 Batch Completed)."""

    def __init__(self, body: str) -> None:
        self.batch, self.max_bytes, self.expires = 1, 0, 0
        try:
            req = json.loads(body)
        except ValueError:
            req = None
        if isinstance(req, dict):
            self.batch = req.get("batch", 0) if isinstance(req.get("batch", 0), int) else 1
            self.max_bytes = req.get("max_bytes") or 0
            self.expires = req.get("expires") or 0
        self.frames: list[str] = []
        self.replies: list[str] = []  # the real ack reply subjects (what an Ack op sends to)
        self.n = 0
        self.used = 0
        self.done = False

    def add(self, subject: bytes, reply: bytes, hdr: bytes, data: bytes) -> None:
        first = hdr.split(b"\r\n", 1)[0] if hdr else b""
        if hdr and first.strip() != b"NATS/1.0":
            self.frames.append(frame_text("", "", hdr, data))
            if not first.startswith(b"NATS/1.0 100"):
                self.done = True
            return
        self.frames.append(frame_text(subject.decode("latin-1"), reply.decode("latin-1"), hdr, data))
        self.replies.append(reply.decode("latin-1"))
        self.n += 1
        self.used += _msg_size(subject, reply, hdr, data)
        if self.n >= max(self.batch, 1) or (self.max_bytes and self.used >= self.max_bytes):
            self.done = not (self.max_bytes and self.max_bytes - self.used > 0)

    @property
    def wait(self) -> float:
        return (self.expires / 1e9 + REPLY_TIMEOUT) if self.expires else LINGER_WAIT


def _split(line: bytes, body: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(subject, reply, header block, payload) of a MSG/HMSG frame."""
    parts = line.split()
    if line.startswith(b"HMSG "):
        hlen = int(parts[-2])
        reply = parts[3] if len(parts) == 6 else b""
        return parts[1], reply, body[:hlen], body[hlen:]
    reply = parts[3] if len(parts) == 5 else b""
    return parts[1], reply, b"", body


def _consumer_exists(conn: _Conn, name: str) -> bool:
    """Does stream S have consumer ``name``? (CONSUMER.NAMES: no side effect on
    any consumer, unlike CONSUMER.INFO, which drops abandoned pull requests.)"""
    got = conn.request("$JS.API.CONSUMER.NAMES.S", b"", b"")
    if got is None or got[0].startswith(b"HMSG "):
        return False
    return name in (json.loads(got[1]).get("consumers") or [])


def _linger_settled(info: dict, trackers: dict[str, _FetchTracker], d0: int) -> bool:
    """Has the server's delivery loop served the queued requests all it can (on
    the server's own word), and has every delivery it counted arrived?"""
    got = sum(t.n for t in trackers.values())
    if got < info.get("delivered", {}).get("consumer_seq", 0) - d0:
        return False
    limit = info.get("config", {}).get("max_ack_pending", -1)
    return (info.get("num_pending", 0) == 0 or info.get("paused", False)
            or (limit > 0 and info.get("num_ack_pending", 0) >= limit))


class _Conn:
    """One raw client connection to one server (blocking socket)."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=REPLY_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.n = 0
        self.stray: list[str] = []
        self.push = PushBuffers()  # push subscriptions and advisories (natsd.oracle.consumer_push)
        self.sock.sendall(SETUP + EVENT_SUBS + b"PING\r\n")
        self._read(lambda line, body: line == b"PONG", REPLY_TIMEOUT)

    def _read(self, done, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            frames = take_frames(self.buf)
            for i, (line, body) in enumerate(frames):
                if body is None and line == b"PING":
                    self.sock.sendall(b"PONG\r\n")
                elif self.push.route(line, body):
                    pass
                elif done(line, body):
                    for rest in frames[i + 1:]:  # push frames read in the same batch are kept
                        self.push.route(*rest)
                    return True
                elif body is not None or line not in (b"PONG", b"+OK"):
                    self.stray.append(f"{line!r} {body!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return False
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buf += data

    def request(self, subject: str, hdr: bytes, body: bytes, timeout: float = REPLY_TIMEOUT) -> tuple | None:
        self.n += 1
        reply = f"{INBOX}.{self.n}"
        got: list = []
        self.sock.sendall(encode_pub(subject, reply, hdr, body))

        def done(line: bytes, payload: bytes | None) -> bool:
            if payload is not None and line.split()[1].decode() == reply:
                got.append((line, payload))
                return True
            return False

        self._read(done, timeout)
        return got[0] if got else None

    def settle(self) -> None:
        """Read until no push frame or event has come for QUIET seconds (at most QUIET_MAX)."""
        deadline = time.monotonic() + QUIET_MAX
        while time.monotonic() < deadline:
            before = self.push.routed
            self._read(lambda line, body: False, QUIET)
            if self.push.routed == before:
                return

    def push_op(self, op: Op) -> tuple[Reply, list[str]]:
        """A push op (natsd.oracle.consumer_push): its observation and the ack replies it saw."""
        return run_push_op(self.push, op, self.sock.sendall, self.settle, lambda: None)

    def fetch(self, subject: str, body: str, hdr: bytes = b"", wait: float | None = None) -> _FetchTracker:
        """A pull request on its own subscription, read until it ends (or for
        ``wait`` seconds instead of the request's own window)."""
        self.n += 1
        sid = f"f{self.n}"
        inbox = f"_INBOX.pull.{self.n}"
        tracker = _FetchTracker(body)
        self.sock.sendall(f"SUB {inbox} {sid}\r\n".encode() + encode_pub(subject, inbox, hdr, body.encode()))

        def done(line: bytes, payload: bytes | None) -> bool:
            if payload is None or line.split()[2].decode() != sid:
                return False
            tracker.add(*_split(line, payload))
            return tracker.done

        self._read(done, tracker.wait if wait is None else wait)
        self.sock.sendall(f"UNSUB {sid}\r\n".encode())
        return tracker

    def linger(self, op: Linger) -> tuple[Any, list[_FetchTracker], dict]:
        """A Linger op: the requests, CONSUMER.INFO until the server has queued
        every request that has not ended (its num_waiting; Go queues pull
        requests from another goroutine than the API's), the deletion, and the
        frames until each request has ended."""
        trackers: dict[str, _FetchTracker] = {}
        base = self.request(f"$JS.API.CONSUMER.INFO.S.{op.name}", b"", b"")
        d0 = json.loads(base[1]).get("delivered", {}).get("consumer_seq", 0) if base is not None else 0
        for _ in range(op.count):
            self.n += 1
            sid = f"l{self.n}"
            trackers[sid] = _FetchTracker(LINGER_REQUEST)
            self.sock.sendall(f"SUB _INBOX.linger.{self.n} {sid}\r\n".encode()
                              + encode_pub(f"$JS.API.CONSUMER.MSG.NEXT.S.{op.name}", f"_INBOX.linger.{self.n}",
                                           b"", LINGER_REQUEST.encode()))

        def ask(subject: str) -> dict:
            self.n += 1
            reply = f"{INBOX}.{self.n}"
            got: list = []
            self.sock.sendall(encode_pub(subject, reply, b"", b""))

            def done(line: bytes, payload: bytes | None) -> bool:
                if payload is None:
                    return False
                parts = line.split()
                if parts[2].decode() in trackers:
                    tr = trackers[parts[2].decode()]
                    if not tr.done:
                        tr.add(*_split(line, payload))
                    return False
                if parts[1].decode() == reply:
                    got.append(payload)
                    return True
                return False

            self._read(done, REPLY_TIMEOUT)
            return json.loads(got[0]) if got else {"no": "reply"}

        num_waiting: Any = "error"
        deadline = time.monotonic() + REPLY_TIMEOUT
        while True:
            info = ask(f"$JS.API.CONSUMER.INFO.S.{op.name}")
            num_waiting = info.get("num_waiting", "error")
            if "error" in info:
                break
            if num_waiting >= sum(not t.done for t in trackers.values()) and _linger_settled(info, trackers, d0):
                break
            if time.monotonic() > deadline:
                break  # take the answer: a divergence then shows what did not settle
            time.sleep(LINGER_POLL_PAUSE)
        for tr in trackers.values():
            tr.done = True  # what comes after the deletion is not compared
        deleted = ask(f"$JS.API.CONSUMER.DELETE.S.{op.name}")
        self.sock.sendall(b"".join(f"UNSUB {sid}\r\n".encode() for sid in trackers))
        return num_waiting, list(trackers.values()), deleted

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def run_ephemeral(request, op: CreateEphemeral) -> Reply:
    """Create the ephemeral consumer and delete it by the name in the reply
    (``request(subject, hdr, body)`` -> (line, body) or None)."""
    got = request(*api_parts(op))
    if got is None:
        return Reply("none")
    if got[0].startswith(b"HMSG "):
        return observe_api(op, *got)
    created = json.loads(got[1])
    deleted = None
    if "name" in created:
        gone = request(f"$JS.API.CONSUMER.DELETE.S.{created['name']}", b"", b"")
        deleted = json.loads(gone[1]) if gone is not None else {"no": "reply"}
    return observe_ephemeral(op, created, deleted)


def run_push_op(pb, op: Op, send: Callable[[bytes], Any], settle: Callable[[], Any],
                interest: Callable[[], Any]) -> tuple[Reply, list[str]]:
    """A push op (natsd.oracle.consumer_push) on a harness: ``send`` gives the
    server client bytes, ``settle`` waits for what they cause, ``interest`` lets
    the server see a subscription change. Its observation and the ack replies seen."""
    settle()
    if isinstance(op, Events):
        return Reply("events", frames=pb.take_events()), []
    if isinstance(op, Subscribe):
        sub = pb.subscribe(op.name)
        if sub:
            send(sub)
            interest()
            settle()
    texts, replies = pb.take(op.name)
    if isinstance(op, Unsubscribe):
        unsub = pb.unsubscribe(op.name)
        if unsub:
            send(unsub)
            interest()
    if isinstance(op, Drain):
        answer = pb.answer(op.name, op.answer) if op.name in pb.frames else None
        if answer:
            send(answer)
            settle()
            more, more_replies = pb.take(op.name)
            texts += ["answered", *more]
            replies += more_replies
    return Reply("push", frames=tuple(texts)), replies


def fetch_reply(tracker: _FetchTracker) -> Reply:
    frames = tracker.frames
    if len(frames) == 1 and frames[0].startswith("status NATS/1.0 503"):
        return Reply("status", frames[0][len("status "):])
    return Reply("fetch", frames=tuple(frames))


class WireHarness(Harness):
    """One or more servers over TCP (one connection each), the same ops to all."""

    def __init__(self, servers: dict[str, Any]) -> None:
        self.sides = tuple(servers)
        self.conns = {side: _Conn(srv.host, srv.port) for side, srv in servers.items()}
        self.delivered: dict[str, list[str]] = {side: [] for side in self.sides}
        self.observed: dict[str, list] = {side: [] for side in self.sides}
        self.pins = {side: PinMask() for side in self.sides}
        # the consumers each server said it created as push consumers (from
        # their create replies): a pull request to one always ends in 409, and
        # the harness waits for that answer as for any reply that must come
        self.push_mode: dict[str, set[str]] = {side: set() for side in self.sides}
        self._cleanup()

    def _cleanup(self) -> None:
        for conn in self.conns.values():
            for op in CLEANUP:
                conn.request(*api_parts(op))
            conn.settle()
            conn.push.events.clear()

    def _one(self, side: str, conn: _Conn, op: Op) -> Reply:
        if isinstance(op, CreateConsumer) and op.config in CORE_ONLY:
            return Reply("skip")  # see natsd.oracle.consumer_push
        if isinstance(op, Subscribe | Unsubscribe | Drain | Events):
            reply, replies = conn.push_op(op)
            self.delivered[side].extend(replies)
            return reply
        if isinstance(op, DeleteStream):
            got = conn.request(*api_parts(op))
            conn.settle()
            conn.push.events.clear()  # unobserved events race the stream's end
            if got is not None:
                self._note_mode(side, op, got[1])
            return observe_api(op, *got) if got is not None else Reply("none")
        if isinstance(op, Fetch | FetchLevel):
            hdr = level_header(op.level) if isinstance(op, FetchLevel) else b""
            wait = REPLY_TIMEOUT if op.name in self.push_mode[side] else None
            tracker = conn.fetch(f"$JS.API.CONSUMER.MSG.NEXT.S.{op.name}", self.pins[side].request(op.request), hdr,
                                 wait)
            self.delivered[side].extend(tracker.replies)
            got = fetch_reply(tracker)
            if "idle_heartbeat" in op.request and got.kind == "fetch":
                # how many heartbeats a real clock lets through is timing: left out
                return without_heartbeats(got)
            return got
        if isinstance(op, FetchNoReply):
            conn.sock.sendall(encode_pub(f"$JS.API.CONSUMER.MSG.NEXT.S.{op.name}", "", b"", op.request.encode()))
            return Reply("fetch")
        if isinstance(op, CreateEphemeral):
            return run_ephemeral(conn.request, op)
        if isinstance(op, Linger) and not LINGER_ON_WIRE:
            return Reply("skip")
        if isinstance(op, Linger):
            num_waiting, trackers, deleted = conn.linger(op)
            for tr in trackers:
                self.delivered[side].extend(tr.replies)
            return linger_reply(num_waiting, [tr.frames for tr in trackers], deleted, None)
        if isinstance(op, Ack):
            mine = self.delivered[side]
            if not mine:
                return Reply("ack", "nothing")
            subject = mine[op.index % len(mine)]
            got = conn.request(subject, b"", op.kind.encode(), timeout=ACK_WAIT)
            if got is None:
                return Reply("ack", "none")
            line, body = got
            if line.startswith(b"HMSG ") and b" 503" in body.split(b"\r\n", 1)[0]:
                return Reply("ack", "no_responders")
            return Reply("ack", "reply" if not body else f"other {body!r}")
        if isinstance(op, Reset) and not _consumer_exists(conn, op.name):
            # no answer will come (Go drops a RESET for a missing consumer): send
            # it, wait for nothing (a late answer would only be a stray frame; the
            # core harness, which needs no wait, checks natsd's silence exactly)
            conn.sock.sendall(encode_pub(api_parts(op)[0], f"{INBOX}.reset", b"", op.body.encode()))
            return Reply("none")
        got = conn.request(*api_parts(op), timeout=ACK_WAIT if isinstance(op, Reset) else REPLY_TIMEOUT)
        if got is None:
            return Reply("none")
        if isinstance(op, CreateConsumer | DeleteConsumer):
            self._note_mode(side, op, got[1])
        return observe_api(op, *got)

    def _note_mode(self, side: str, op: Op, body: bytes) -> None:
        try:
            answer = json.loads(body)
        except ValueError:
            return
        if isinstance(op, DeleteStream) and answer.get("success"):
            self.push_mode[side].clear()
        elif isinstance(op, DeleteConsumer) and answer.get("success"):
            self.push_mode[side].discard(op.name)
        elif isinstance(op, CreateConsumer) and answer.get("stream_name") == "S" and "config" in answer:
            if answer["config"].get("deliver_subject"):
                self.push_mode[side].add(answer["name"])
            else:
                self.push_mode[side].discard(answer["name"])

    def apply(self, op: Op) -> dict[str, Reply]:
        if isinstance(op, AdvanceTime):
            return {side: Reply("time", "0") for side in self.sides}
        out = {side: self.pins[side].reply(self._one(side, conn, op)) for side, conn in self.conns.items()}
        for side, reply in out.items():
            self.observed[side].extend(_observed(op, reply))
        if isinstance(op, Publish):
            # Go tells the consumers about a stored message from another goroutine
            # after the PubAck (stream.signalConsumersLoop), and their running
            # num_pending counts it only then; no reply marks that moment, so the
            # harness leaves it a moment before the next op
            time.sleep(SIGNAL_SETTLE)
        return out

    def state(self) -> dict[str, Any]:
        out = {side: {"observed": self.observed[side]} for side in self.sides}
        self.observed = {side: [] for side in self.sides}
        return out

    def close(self) -> None:
        try:
            self._cleanup()
        finally:
            for conn in self.conns.values():
                conn.close()


# ------------------------------------------------------------------ core harness


class CoreHarness(Harness):
    """The sans-IO Broker with the JetStream service in process, one Client,
    a fake clock that AdvanceTime (and a pull request's expiry) moves."""

    sides = ("core",)

    def __init__(self) -> None:
        from natsd.jetstream.api import JetStreamService
        from natsd.server.core import Broker

        self.now = T0
        self.broker = Broker()
        self.js = JetStreamService(self.broker, clock=lambda: self.now, server_name="natsd")
        self.client = self.broker.new_client(self.now)
        self.client.receive(SETUP + EVENT_SUBS)
        self.push = PushBuffers()  # push subscriptions and advisories (natsd.oracle.consumer_push)
        self.client.out.clear()
        self.n = 0
        self.delivered: list[str] = []
        self.observed: list = []
        self.pins = PinMask()

    def _drain(self) -> list[tuple[bytes, bytes | None]]:
        buf = bytearray(self.client.out)
        self.client.out.clear()
        self.broker.dirty.clear()
        frames = take_frames(buf)
        return [f for f in frames if not self.push.route(*f)]

    def _move(self, ns: int) -> None:
        """Move the fake clock by ``ns``. Timers fire at their own times, as they
        would under a shell that wakes at each deadline: when the service tells
        its next deadline (``next_deadline()``), the clock stops there first."""
        target = self.now + ns
        next_deadline = getattr(self.js, "next_deadline", None)
        while next_deadline is not None:
            due = next_deadline()
            if due is None or due > target or due <= self.now:
                break
            self.now = due
            self.js.tick(due)
        self.now = target
        self.js.tick(target)

    def _request(self, subject: str, hdr: bytes, body: bytes) -> tuple[bytes, bytes] | None:
        self.n += 1
        reply = f"{INBOX}.{self.n}"
        self.client.receive(encode_pub(subject, reply, hdr, body))
        for line, payload in self._drain():
            if payload is not None and line.split()[1].decode() == reply:
                return line, payload
        return None

    def apply(self, op: Op) -> dict[str, Reply]:
        if isinstance(op, Subscribe | Unsubscribe | Drain | Events):
            return {"core": self.pins.reply(self._push_op(op))}  # pin ids in the pinned advisories
        out = {"core": self.pins.reply(self._apply(op)["core"])}
        if isinstance(op, DeleteStream):
            self.push.events.clear()  # as on the wire, where they race the stream's end
        self.observed.extend(_observed(op, out["core"]))
        return out

    def _apply(self, op: Op) -> dict[str, Reply]:
        if isinstance(op, AdvanceTime):
            self._move(op.ms * 1_000_000)
            return {"core": Reply("time", str(op.ms))}
        if isinstance(op, Fetch | FetchLevel):
            return {"core": self._fetch(op)}
        if isinstance(op, FetchNoReply):
            self.client.receive(encode_pub(f"$JS.API.CONSUMER.MSG.NEXT.S.{op.name}", "", b"", op.request.encode()))
            self._drain()
            return {"core": Reply("fetch")}
        if isinstance(op, CreateEphemeral):
            return {"core": run_ephemeral(self._request, op)}
        if isinstance(op, Linger):
            return {"core": self._linger(op)}
        if isinstance(op, Ack):
            if not self.delivered:
                return {"core": Reply("ack", "nothing")}
            subject = self.delivered[op.index % len(self.delivered)]
            got = self._request(subject, b"", op.kind.encode())
            if got is None:
                return {"core": Reply("ack", "none")}
            line, body = got
            if line.startswith(b"HMSG ") and b" 503" in body.split(b"\r\n", 1)[0]:
                return {"core": Reply("ack", "no_responders")}
            return {"core": Reply("ack", "reply" if not body else f"other {body!r}")}
        got = self._request(*api_parts(op))
        if got is None:
            return {"core": Reply("none")}
        return {"core": observe_api(op, *got)}

    def _push_op(self, op: Op) -> Reply:
        """A push op (natsd.oracle.consumer_push), as _Conn.push_op."""

        def interest() -> None:  # the shell tells the service of interest changes each loop turn
            self.js.tick(self.now)
            self._drain()

        reply, replies = run_push_op(self.push, op, self.client.receive, self._drain, interest)
        self.delivered.extend(replies)
        return reply

    def _fetch(self, op: Fetch | FetchLevel) -> Reply:
        self.n += 1
        sid = f"f{self.n}"
        inbox = f"_INBOX.pull.{self.n}"
        body = self.pins.request(op.request)
        tracker = _FetchTracker(body)
        subject = f"$JS.API.CONSUMER.MSG.NEXT.S.{op.name}"
        hdr = level_header(op.level) if isinstance(op, FetchLevel) else b""
        self.client.receive(f"SUB {inbox} {sid}\r\n".encode() + encode_pub(subject, inbox, hdr, body.encode()))

        def collect() -> None:
            for line, payload in self._drain():
                if payload is not None and line.split()[2].decode() == sid and not tracker.done:
                    tracker.add(*_split(line, payload))

        collect()
        if not tracker.done and tracker.expires:
            self._move(tracker.expires)
            collect()
        self.client.receive(f"UNSUB {sid}\r\n".encode())
        self._drain()
        self.delivered.extend(tracker.replies)
        return fetch_reply(tracker)

    def _linger(self, op: Linger) -> Reply:
        trackers: dict[str, _FetchTracker] = {}
        self._request(f"$JS.API.CONSUMER.INFO.S.{op.name}", b"", b"")  # as the wire harness's baseline
        for _ in range(op.count):
            self.n += 1
            sid = f"l{self.n}"
            trackers[sid] = _FetchTracker(LINGER_REQUEST)
            self.client.receive(f"SUB _INBOX.linger.{self.n} {sid}\r\n".encode()
                                + encode_pub(f"$JS.API.CONSUMER.MSG.NEXT.S.{op.name}", f"_INBOX.linger.{self.n}",
                                             b"", LINGER_REQUEST.encode()))

        def ask(subject: str) -> dict:
            self.n += 1
            reply = f"{INBOX}.{self.n}"
            self.client.receive(encode_pub(subject, reply, b"", b""))
            got = {"no": "reply"}
            for line, payload in self._drain():
                if payload is None:
                    continue
                parts = line.split()
                if parts[2].decode() in trackers and not trackers[parts[2].decode()].done:
                    trackers[parts[2].decode()].add(*_split(line, payload))
                elif parts[1].decode() == reply:
                    got = json.loads(payload)
            return got

        info = ask(f"$JS.API.CONSUMER.INFO.S.{op.name}")
        marks = {sid: len(tr.frames) for sid, tr in trackers.items()}
        for tr in trackers.values():
            tr.done = False  # the core harness compares what comes with the deletion too
        deleted = ask(f"$JS.API.CONSUMER.DELETE.S.{op.name}")
        for sid in trackers:
            self.client.receive(f"UNSUB {sid}\r\n".encode())
        self._drain()
        for tr in trackers.values():
            self.delivered.extend(tr.replies)
        return linger_reply(info.get("num_waiting", "error"),
                            [tr.frames[:marks[sid]] for sid, tr in trackers.items()], deleted,
                            [tr.frames[marks[sid]:] for sid, tr in trackers.items()])

    def state(self) -> dict[str, Any]:
        out, self.observed = {"core": {"observed": self.observed}}, []
        return out

    def close(self) -> None:
        self.broker.remove_client(self.client)


@contextlib.contextmanager
def core_session() -> Iterator[Any]:
    yield CoreHarness


@contextlib.contextmanager
def _servers(kinds: dict[str, str]) -> Iterator[dict[str, Any]]:
    from natsd.oracle.wire import launch

    started: dict[str, Any] = {}
    try:
        for side, kind in kinds.items():
            started[side] = launch(["-js", "-sd", "{dir}/js"], kind=kind)
        yield started
    finally:
        for srv in started.values():
            srv.stop()


def _session(kinds: dict[str, str]):
    @contextlib.contextmanager
    def session() -> Iterator[Any]:
        with _servers(kinds) as servers:
            yield lambda: WireHarness(servers)

    return session


def consumers_answer(kind: str = "natsd", timeout: float = 3.0) -> str | None:
    """None when a ``kind`` server started with ``-js`` answers CONSUMER.INFO
    over the wire, else why not (for skipping while natsd's consumers are absent)."""
    from natsd.oracle.wire import launch

    try:
        srv = launch(["-js", "-sd", "{dir}/js"], kind=kind)
    except Exception as e:
        return f"{kind} -js does not start: {e.__class__.__name__}: {str(e)[:300]}"
    try:
        conn = _Conn(srv.host, srv.port)
        conn.request(*api_parts(CreateStream()), timeout=timeout)
        got = conn.request(*api_parts(ConsumerInfo("C")), timeout=timeout)
        conn.close()
        if got is None or b"consumer_info_response" not in got[1]:
            return f"{kind} -js does not answer $JS.API.CONSUMER.INFO (got {got!r})"
        return None
    except Exception as e:
        return f"{kind} -js: {e.__class__.__name__}: {e}"
    finally:
        srv.stop()


# ------------------------------------------------------------------------- area

AREA = register(
    Area(
        name="consumer",
        title="JetStream pull consumers: config checks, create/update/delete/info, pull requests, acks, "
              "redelivery, retention",
        op_type=ConsumerOp,
        ops=OPS,
        new_model=Model,
        model_step=model_step,
        covered=lambda model: set(model.covered),
        invariants=(("consumer_state_consistent", consumer_state_consistent),
                    ("observed_consumer_info_consistent", observed_consumer_info_consistent)),
        describe=describe,
        harnesses={
            "core": HarnessKind("core", "in-process Broker + JetStreamService (fake clock), one Client",
                                core_session, in_process=True),
            "wire": HarnessKind("wire", "a natsd -js subprocess over one raw TCP connection",
                                _session({"natsd": "natsd"})),
            "differential": HarnessKind(
                "differential", "natsd and the Go nats-server (-js) side by side, each checked against the model",
                _session({"natsd": "natsd", "go": "go"}),
            ),
            "go": HarnessKind("go", "the Go nats-server (-js) alone: checks the model against Go",
                              _session({"go": "go"})),
        },
    )
)
