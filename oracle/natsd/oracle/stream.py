"""The stream area: JetStream streams at the API level (requests and replies as
clients see them).

Operations (streams ``S`` and ``T``; every op is one request with a reply
subject and gets one reply):

* ``CreateStream(stream, config)``: $JS.API.STREAM.CREATE with the config
  named ``config`` in :data:`CONFIGS` (memory storage unless it says file; a
  few invalid; stream T gets other subjects than S, see :data:`T_SUBJECTS`);
* ``UpdateStream(stream, config)``: $JS.API.STREAM.UPDATE with a config of the
  same table (lowering limits, sealing, one-way flags, subject changes);
* ``DeleteStream(stream)``; ``Info(stream, request)``;
* ``Publish(subject, size, headers)``: a core publish with a reply subject,
  a payload of ``size`` bytes and a header block (Nats-Msg-Id,
  Nats-Expected-*, Nats-Rollup, ...); a subject no stream captures gets the
  no-responders status (the connection asks for it);
* ``Purge(stream, request)``, ``GetMsg(stream, request)``,
  ``DeleteMsg(stream, request)``: the request body as sent;
* ``DirectGet(stream, request, last_subject)``: $JS.API.DIRECT.GET (single
  requests; served only with allow_direct, else no responders);
* ``FastPublish(subject, size)``: a publish whose reply subject marks a fast
  batch (``...$FI``): refused as no config allows batched publish;
* ``AdvanceTime(ms)``: moves the clock of the in-process harness (and the
  model's). Servers on the wire run on real time, which a harness cannot move:
  there the op does nothing and reports that it moved the clock by 0, and the
  model follows (the one thing ``model_step`` takes from the observation). The
  time-dependent configs use windows of a minute or more, far beyond the length
  of an example, so on the wire nothing expires and the observations are
  robust; the core harness crosses those windows with ``AdvanceTime``;
* consumers on S (``CreateConsumer``, ``DeleteConsumer``, ``Fetch`` with or
  without acking what it got, ``Ack``): natsd.oracle.stream_consumers, for
  interest and workqueue retention and max_consumers; the model is the
  consumer model (:class:`natsd.oracle.stream_consumers.CampaignModel`);
* ``Recreate(stream, config, consumer)``: delete, create (and a consumer C) in
  one op, so that the retention and server-limit configs get a fresh stream.

The servers run with a max_file_store of :data:`FILE_STORE_LIMIT` (the core
harness's service too, the model knows it): file stream reservations beyond it
are refused (10047) and publishes once the file streams hold more (10023).

The configs include no_ack (subject ``d``: no reply at all; the wire
harnesses wait only :data:`NO_ACK_WAIT` for a publish to ``d``), a
subject_transform, republish to ``rp.>`` (with and without headers_only),
allow_msg_ttl (Nats-TTL values in :data:`HEADERS`, all a minute or more where
valid so nothing expires on the wire), subject_delete_marker_ttl, invalid
names (:data:`NAME_SUFFIX`), a name in the body that is not the subject's
(:data:`NAME_BODY`), oversized metadata, interest retention (no consumers
here), file storage and s2 compression, atomic batches (allow_atomic; the
batch headers of :data:`BATCH_HEADERS`), and mirrors and sources of S.

Mirrors and sources: Go copies asynchronously through internal consumers it
sets up 100-200ms after the stream. A harness therefore waits, after each op
that can start or feed a copy (a create/update of T, a PubAck from S), until
T's mirror/sources are set up and have copied that sequence or copying has
stopped (STREAM.INFO polled; :meth:`_Conn.settle`); in process it sets the
cursors up at once and copies. The model copies after every op
(``StreamModel.settle``). What no example could settle is left out, by the
same decision on every side (:func:`skipped`, reply "skip"): T copying from a
missing or interest S, sources added by an update, a counter T sourcing a
non-counter S. Deleting S deletes T first
(Go retries a vanished origin for minutes). Masked: a source's ``active``
(time since heard from; -1 stays), the origin identity ending
Nats-Stream-Source (a hash of its creation time), and sources are compared as
a set (Go lists them in map order).

Observation (:class:`Reply`) of one op: the reply's kind and body, plus
(``extra``) the messages that arrived meanwhile on the harness's own
subscription to ``rp.>`` (the republished messages, Nats-Time-Stamp masked;
Go sends them before the PubAck) and, on the wire, any stray frame. A PubAck is
compared as its exact text (Go's ``"duplicate": true`` has a space); an API
reply as JSON after masking what is nondeterministic by definition: times
(``created``, ``ts``, ``first_ts``/``last_ts``, a message's ``time``) become
``<ts>`` unless they are Go's zero time, ``config.metadata._nats.ver`` becomes
``<ver>`` and ``cluster.leader`` (the server name) ``<server>``; a direct-get
message as its header block (the ``Nats-Time-Stamp`` value masked) and
payload; a status message (no responders, 404, 408) as its header block.
Everything else is compared exactly (API JSON as parsed: key order is not
compared).

Invariants after every step: the model's own counters and limits
(``model_consistent``) and, in process, the implementation's per-stream store
counters against the model's (``impl_state_agrees``).

Harnesses:

* ``core``: a sans-IO :class:`natsd.server.core.Broker` with
  :class:`natsd.jetstream.api.JetStreamService` (fake clock) and one
  ``Client`` fed the exact protocol bytes;
* ``wire``: a natsd subprocess (:data:`SERVER_CONFIG`) over one raw TCP connection;
* ``differential``: natsd and the Go nats-server side by side, each compared
  with its own copy of the model;
* ``go``: the Go nats-server alone: checks the model itself against Go.

Stream advisories ($JS.EVENT.ADVISORY.STREAM.>) are observed per op on natsd's
sides (core, and natsd on the wire), ids and times masked, after the republished
messages (``Reply.adv``); not on Go's, which sends them from each stream's
queue, at times seconds late.

Each example starts and ends by deleting ``S`` and ``T``, so a server shared by
the examples of a campaign starts every example empty (on Go a file stream
KEEP stays: see ``_Conn.keep_store``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import strategies as st

from natsd.model.stream import (
    SERVER,
    T0,
    TS,
    VER,
    ZERO_TIME,
    StreamModel,
    encode_headers,
)
from natsd.model.stream_batch import STAGED
from natsd.model.stream_sources import ACTIVE, IDENTITY
from natsd.model.streamcfg import subject_matches
from natsd.oracle.base import Area, Harness, HarnessKind, Op, register, weighted
from natsd.oracle.stream_consumers import (
    Ack,
    CampaignModel,
    ConsumerStep,
    CreateConsumer,
    DeleteConsumer,
    Fetch,
    consumer_ops,
    core_ack,
    core_fetch_ack,
    encode_pub,
    model_consumer_step,
    wire_ack,
    wire_fetch,
)
from natsd.oracle.stream_consumers import request_parts as consumer_request_parts
from natsd.oracle.stream_tables import (
    ADVANCE_MS,
    BATCH_HEADERS,
    BIG_SIZE,
    CONFIGS,
    DELETE_REQUESTS,
    DIRECT_REQUESTS,
    FILE_STORE_LIMIT,
    GET_REQUESTS,
    HEADERS,
    INFO_REQUESTS,
    NAME_BODY,
    NAME_SUFFIX,
    NO_ACK_SUBJECT,
    NO_ACK_WAIT,
    PAST,
    PURGE_REQUESTS,
    SCHEDULE_HEADERS,
    SIZES,
    STREAMS,
    SUBJECTS,
    T_SUBJECTS,
    payload,
)

__all__ = [
    "AREA",
    "CONFIGS",
    "AdvanceTime",
    "CoreHarness",
    "FastPublish",
    "CreateStream",
    "DeleteMsg",
    "DeleteStream",
    "DirectGet",
    "GetMsg",
    "Info",
    "Publish",
    "Purge",
    "Reply",
    "StreamOp",
    "UpdateStream",
    "WireHarness",
    "config_request",
    "mask",
    "model_step",
    "payload",
]



# ---------------------------------------------------------------------------- ops


class CreateStream(Op, frozen=True):
    stream: str
    config: str = "plain"


class UpdateStream(Op, frozen=True):
    stream: str
    config: str = "plain"


class DeleteStream(Op, frozen=True):
    stream: str


class Info(Op, frozen=True):
    stream: str
    request: str = ""


class Publish(Op, frozen=True):
    subject: str
    size: int = 0
    headers: tuple[tuple[str, str], ...] = ()


class Purge(Op, frozen=True):
    stream: str
    request: str = ""


class GetMsg(Op, frozen=True):
    stream: str
    request: str = '{"seq":1}'


class DeleteMsg(Op, frozen=True):
    stream: str
    request: str = '{"seq":1}'


class DirectGet(Op, frozen=True):
    """$JS.API.DIRECT.GET.<stream>[.<last_subject>] with ``request`` as the body."""

    stream: str
    request: str = '{"seq":1}'
    last_subject: str = ""


class AdvanceTime(Op, frozen=True):
    ms: int


class FastPublish(Op, frozen=True):
    """A publish whose reply subject is a fast batch's (``<inbox>.b1.10.ok.1.0.$FI``)."""

    subject: str
    size: int = 0


class Recreate(Op, frozen=True):
    """DeleteStream of ``stream`` (of T first when it is S: T may hold S's
    subjects), then CreateStream with ``config``, then (``consumer``, a config of
    natsd.oracle.stream_consumers) CreateConsumer C, in one op (every reply
    observed): the retention, consumer and server-limit configs need the stream
    gone first, which a create alone rarely finds, and an interest stream keeps
    only what a consumer created before the publish wants."""

    stream: str
    config: str = "plain"
    consumer: str = ""


def recreate_steps(op: Recreate) -> list[Op]:
    steps: list[Op] = [DeleteStream(op.stream), CreateStream(op.stream, op.config)]
    if op.stream == ORIGIN:
        steps.insert(0, DeleteStream(REPLICA))
    return steps + [CreateConsumer("C", op.consumer)] if op.consumer else steps


def both(*replies: Reply) -> Reply:
    """The observation of a Recreate: its replies."""
    return Reply("recreate", "\n".join(f"{r.kind} {r.body}" for r in replies),
                 tuple(e for r in replies for e in r.extra))


StreamOp = (
    CreateStream | UpdateStream | DeleteStream | Info | Publish | Purge | GetMsg | DeleteMsg | DirectGet | AdvanceTime
    | FastPublish | ConsumerStep | Recreate
)

#: What a FastPublish appends to the harness's reply subject.
FAST_REPLY = ".b1.10.ok.1.0.$FI"




def config_request(op: CreateStream | UpdateStream) -> dict:
    """The request body: CONFIGS[op.config] for stream op.stream (the name key
    from NAME_BODY when the config has one, else the name in the subject)."""
    req = {"name": op.stream, "storage": "memory", **CONFIGS[op.config]}
    req["name"] += req.pop(NAME_SUFFIX, "")
    req["name"] = req.pop(NAME_BODY, req["name"])
    if op.stream == "T" and "subjects" in req:
        req["subjects"] = [T_SUBJECTS.get(s, s) for s in req["subjects"]]
    return req


def subject_name(op: CreateStream | UpdateStream) -> str:
    """The stream name in the request subject ($JS.API.STREAM.CREATE.<name>)."""
    return op.stream + CONFIGS[op.config].get(NAME_SUFFIX, "")


#: The stream that mirrors and sources copy from, and the one that copies.
ORIGIN, REPLICA = "S", "T"


def skipped(op: Op, config: Callable[[str], dict | None], consumers: Callable[[str], int] = lambda name: 0) -> bool:
    """Is ``op`` left out (replied "skip" by harness and model alike)?
    ``config(name)`` is the current config of a stream (JSON form), or None;
    ``consumers(name)`` how many consumers it has.

    Only combinations a real-time server cannot settle within an example are
    left out: a create/update of T with a valid mirror/sources config is sent
    only when S exists (Go retries a missing origin for seconds to minutes)
    and has limits retention (Go's copying consumer on an interest origin is a
    consumer: interest needs consumers, another area), and, for sources on an
    update, only when T already has exactly those sources (a source added to
    a stream holding messages starts by time). Likewise S is not turned into
    an interest stream while T copies from it, nor T set up to copy from a
    workqueue S (Go's copying consumer there is exempt from the workqueue
    checks). A stream with consumers is not turned into an interest stream
    (natsd.oracle.stream_consumers)."""
    if not isinstance(op, CreateStream | UpdateStream) or op.config.startswith("bad_"):
        return False
    wanted = CONFIGS[op.config]
    if (isinstance(op, UpdateStream) and wanted.get("retention") == "interest"
            and (config(op.stream) or {}).get("retention") != "interest" and consumers(op.stream)):
        return True
    if op.stream == REPLICA and wanted.keys() & {"mirror", "sources"}:
        origin = config(ORIGIN)
        if origin is None or origin.get("retention") in ("interest", "workqueue"):
            return True
        if wanted.get("allow_msg_counter") and not origin.get("allow_msg_counter"):
            return True  # a counter sources counters only (else Go's copy fails and retries)
        if isinstance(op, UpdateStream) and "sources" in wanted:
            current = config(REPLICA)
            return (current or {}).get("sources") != config_request(op)["sources"]
        return False
    if op.stream == ORIGIN and isinstance(op, UpdateStream) and wanted.get("retention") == "interest":
        replica = config(REPLICA)
        return replica is not None and _copies_from(replica, ORIGIN)
    return False


def request_parts(op: Op) -> tuple[str, bytes, bytes]:
    """(subject, header block, body) of the request an op sends (not AdvanceTime)."""
    if isinstance(op, Publish):
        return op.subject, encode_headers(op.headers), payload(op.size)
    if isinstance(op, FastPublish):
        return op.subject, b"", payload(op.size)
    if isinstance(op, CreateStream | UpdateStream):
        req = config_request(op)
        verb = "CREATE" if isinstance(op, CreateStream) else "UPDATE"
        return f"$JS.API.STREAM.{verb}.{subject_name(op)}", b"", json.dumps(req).encode()
    if isinstance(op, DeleteStream):
        return f"$JS.API.STREAM.DELETE.{op.stream}", b"", b""
    if isinstance(op, Info):
        return f"$JS.API.STREAM.INFO.{op.stream}", b"", op.request.encode()
    if isinstance(op, Purge):
        return f"$JS.API.STREAM.PURGE.{op.stream}", b"", op.request.encode()
    if isinstance(op, GetMsg):
        return f"$JS.API.STREAM.MSG.GET.{op.stream}", b"", op.request.encode()
    if isinstance(op, DeleteMsg):
        return f"$JS.API.STREAM.MSG.DELETE.{op.stream}", b"", op.request.encode()
    if isinstance(op, DirectGet):
        tail = f".{op.last_subject}" if op.last_subject else ""
        return f"$JS.API.DIRECT.GET.{op.stream}{tail}", b"", op.request.encode()
    if isinstance(op, CreateConsumer | DeleteConsumer):
        return consumer_request_parts(op)
    raise TypeError(f"no request for {op!r}")


def reply_subject(op: Op, inbox: str) -> str:
    return inbox + FAST_REPLY if isinstance(op, FastPublish) else inbox


def encode_request(op: Op, reply: str) -> bytes:
    """The frame of ``op`` with reply subject ``reply`` (see :func:`reply_subject`)."""
    subject, hdr, body = request_parts(op)
    if hdr:
        return f"HPUB {subject} {reply} {len(hdr)} {len(hdr) + len(body)}\r\n".encode() + hdr + body + b"\r\n"
    return f"PUB {subject} {reply} {len(body)}\r\n".encode() + body + b"\r\n"


# --------------------------------------------------------------------- strategy
#
# At most three draws per op (kind, one value, one table pick) so that the
# shrinker can delete a step in one move; tables list the simplest entries first
# and repeat entries to weight them (see docs/campaigns.md, "Adding an area").

_stream = st.sampled_from(STREAMS)
#: (size, headers): no headers a third of the time, message ids more often than
#: the other headers; Hypothesis favours both ends of a table, so it ends plain too
_TTLS = [((("Nats-TTL", v),)) for v in ("1m", "never", "1h")]
#: a counter stream stores only increments (empty payloads): a few more of them
_INCRS = [(("Nats-Incr", "1"),)] * 3
_WEIGHTED_HEADERS = [()] * 20 + HEADERS[1:4] * 2 + HEADERS[4:] + _TTLS + _INCRS + BATCH_HEADERS[:8] * 2 + [()] * 4
#: Nats-Request-Info only with payloads of 0 or 1 bytes: natsd counts the header
#: against max_msg_size before stripping it (Go strips it first), a known natsd
#: bug (tests/test_oracle_stream.py::test_natsd_request_info_counts_against_max_msg_size)
_PUBLISH_TABLE = [(s, h) for h in _WEIGHTED_HEADERS for s in SIZES[:2] * 2 + SIZES
                  if s <= 1 or not any(k == "Nats-Request-Info" for k, _ in h)]
#: valid configs three times as often as the invalid ones (named bad_*), simplest
#: first; Hypothesis favours both ends of a table, so it ends with valid ones too
_VALID = [c for c in CONFIGS if not c.startswith("bad_")]
CONFIG_CHOICES = (_VALID * 2 + [c for c in CONFIGS if c.startswith("bad_")] + _VALID[::-1]
                  + ["ttl", "ttl_max_age", "republish", "marker", "atomic", "atomic_limits", "atomic", "file",
                     "file_limits", "counter", "counter_limits", "republish_headers_only", "marker",
                     "per_subject_max_msgs_new", "per_subject_max_bytes_new", "interest"])
_create = st.builds(CreateStream, _stream, st.sampled_from(CONFIG_CHOICES))
_update = st.builds(UpdateStream, _stream, st.sampled_from(CONFIG_CHOICES))
_delete = st.builds(DeleteStream, _stream)
_info = st.builds(Info, _stream, st.sampled_from(INFO_REQUESTS[:1] * 3 + INFO_REQUESTS))
_publish = st.builds(
    lambda subject, sh: Publish(subject, sh[0], sh[1]), st.sampled_from(SUBJECTS), st.sampled_from(_PUBLISH_TABLE)
)
_purge = st.builds(Purge, _stream, st.sampled_from(PURGE_REQUESTS))
_get = st.builds(GetMsg, _stream, st.sampled_from(GET_REQUESTS))
_delete_msg = st.builds(DeleteMsg, _stream, st.sampled_from(DELETE_REQUESTS))
_direct = st.builds(lambda s, rl: DirectGet(s, rl[0], rl[1]), _stream, st.sampled_from(DIRECT_REQUESTS))
_advance = st.builds(AdvanceTime, st.sampled_from(ADVANCE_MS))
#: batches need their messages in order with one id: a publish drawn from the
#: batch table alone (its start and commits weighted), on the atomic configs' subjects
_batch_publish = st.builds(
    lambda subject, h: Publish(subject, 1, h), st.sampled_from(["a", "b", "c.1"]),
    st.sampled_from(BATCH_HEADERS[:8] * 3 + BATCH_HEADERS),
)
_fast_publish = st.builds(FastPublish, st.sampled_from(["a", "c.1", "z"]), st.sampled_from(SIZES))
REPLICA_CONFIGS = ["mirror", "mirror_filter", "sources", "sources_filters", "sources_transform", "counter_sources"]
_replica = st.builds(CreateStream, st.just(REPLICA), st.sampled_from(REPLICA_CONFIGS + ["counter_sources"] * 2))
#: origins worth copying from (a counter feeds a counter's sources), and atomic streams
_special = st.builds(CreateStream, _stream, st.sampled_from(["atomic", "atomic_limits", "counter", "plain",
                                                            "schedules", "schedules_file"]))
#: message schedules: S allowing them (T takes other subjects), and publishes on their subjects
_schedule_stream = st.builds(lambda make, c: make(ORIGIN, c), st.sampled_from([CreateStream, UpdateStream]),
                             st.sampled_from(["schedules", "schedules_file"]))
_schedule_publish = st.builds(lambda subject, h: Publish(subject, 1, h), st.sampled_from(["a", "b", "c.1", "c.2"]),
                              st.sampled_from(SCHEDULE_HEADERS[:8] * 2 + SCHEDULE_HEADERS))
_origin = st.builds(CreateStream, st.just(ORIGIN), st.sampled_from(["counter", "plain", "counter", "wild",
                                                                  "schedules"]))

#: Publish two fifths; stream deletes rare (a deleted stream takes a few steps to
#: come back, and most ops need one).
_PLAIN = ((16, _publish), (6, _create), (4, _info), (4, _get), (2, _direct), (2, _update), (2, _purge),
          (2, _delete_msg), (1, _delete), (2, _advance))
#: server resources (FILE_STORE_LIMIT): big publishes, file streams and their reservations
_big_publish = st.builds(lambda subject: Publish(subject, BIG_SIZE), st.sampled_from(["a", "c.1", "b", "c.2"]))
_file_create = st.builds(CreateStream, _stream, st.sampled_from(["file", "file_reserved", "file", "bad_file_reservation",
                                                                 "file_limits"]))
#: (consumers are S's: the retention configs there; file streams on either)
_recreate = st.one_of(
    st.builds(Recreate, st.just(ORIGIN), st.sampled_from(["interest", "workqueue", "interest", "max_consumers",
                                                          "workqueue", "interest_limits", "file_reserved"]),
              st.sampled_from(["", "explicit", "filter_a", "all"])),
    st.builds(Recreate, _stream, st.just("file")))
#: increments, which counter streams (and the counters sourcing them) need
_incr_publish = st.builds(lambda subject, v: Publish(subject, 0, (("Nats-Incr", v),)),
                          st.sampled_from(["a", "b"]), st.sampled_from(["1", "-2", "10"]))
OPS = weighted(*_PLAIN, (3, _batch_publish), (1, _fast_publish), (1, _replica), (1, _special), (1, _incr_publish),
               (1, _origin), (3, _schedule_stream), (3, _schedule_publish), *consumer_ops(),
               (2, _big_publish), (1, _file_create), (4, _recreate))
#: The mix without the ops aimed at batches, fast batches and replicas: for
#: searches that need none of them (a replica on a real server costs a wait).
PLAIN_OPS = weighted(*_PLAIN)

# ------------------------------------------------------------------ observation


class Reply(msgspec.Struct, frozen=True):
    """One op's reply: ``kind`` is ``api`` (body: masked JSON, keys sorted),
    ``puback`` (body: the exact text), ``direct`` (a direct-get message: header
    block with Nats-Time-Stamp masked, then the payload), ``status`` (body: the header block of a
    status message, e.g. no responders), ``time`` (body: the ms the harness moved
    its clock), ``none`` (no reply arrived) or ``other``."""

    kind: str
    body: str = ""
    #: messages that arrived on the republish subscription (``rp.>``) with the
    #: reply, each as "<subject> <header block, Nats-Time-Stamp masked><payload>";
    #: then (``adv``) the stream advisories the op caused (:func:`with_advisories`)
    extra: tuple[str, ...] = ()
    #: the side observes stream advisories: natsd's do (it sends them before the
    #: reply); the Go server's are not observed per op, as it sends an update's
    #: advisory from the stream's queue, seen arriving seconds late
    adv: bool = False


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


_TIME_KEYS = ("created", "ts", "first_ts", "last_ts", "time", "last_active")


def mask(value: Any) -> Any:
    """Replace what is nondeterministic by definition (in place; returns ``value``)."""
    if isinstance(value, dict):
        for key, v in value.items():
            if key in _TIME_KEYS and isinstance(v, str):
                value[key] = ZERO_TIME if v == ZERO_TIME else TS
            elif key == "active" and isinstance(v, int) and v != -1:
                value[key] = ACTIVE  # a mirror's / source's time since last heard from
            elif key == "hdrs" and isinstance(v, str):
                value[key] = base64.b64encode(_IDENT.sub(rb"\1 " + IDENTITY.encode() + rb"\r\n",
                                                         base64.b64decode(v))).decode()
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


def _sources_as_set(value: Any) -> Any:
    """Go lists a stream's sources (config and info) in no fixed order: sort them."""
    if isinstance(value, dict):
        for key, v in value.items():
            if key == "sources" and isinstance(v, list):
                v.sort(key=_canonical)
            _sources_as_set(v)
    return value


def api_reply(value: Any) -> Reply:
    return Reply("api", _canonical(_sources_as_set(value)))


_TIME_STAMP = re.compile(rb"Nats-Time-Stamp: [^\r]*")
#: The origin identity (a hash of its creation time) ending Nats-Stream-Source.
_IDENT = re.compile(rb"(Nats-Stream-Source: [^\r]*) [0-9A-Za-z]{8}\r\n")


def _mask_headers(hdr: bytes) -> bytes:
    hdr = _TIME_STAMP.sub(b"Nats-Time-Stamp: " + TS.encode(), hdr)
    return _IDENT.sub(rb"\1 " + IDENTITY.encode() + rb"\r\n", hdr)


def direct_reply(hdr: bytes, body: bytes) -> Reply:
    """A direct-get message: its header block (time stamp masked) and payload."""
    return Reply("direct", (hdr + body).decode("latin-1"))


def republished(subject: str, hdr: bytes, data: bytes) -> str:
    """A message received on the republish subscription, time stamp masked."""
    return f"{subject} " + (_mask_headers(hdr) + data).decode("latin-1")


def _frame_republished(line: bytes, body: bytes) -> str:
    parts = line.split()
    hlen = int(parts[-2]) if line.startswith(b"HMSG ") else 0
    return republished(parts[1].decode(), body[:hlen], body[hlen:])


def _no_responders(subject: str) -> Reply:
    return Reply("status", f"NATS/1.0 503\r\nNats-Subject: {subject}\r\n\r\n")


def observe(op: Op, line: bytes, body: bytes) -> Reply:
    """The observation of the reply frame (``line`` and its payload)."""
    if line.startswith(b"HMSG "):
        hlen = int(line.split()[-2])
        hdr, body = body[:hlen], body[hlen:]
        first = hdr.split(b"\r\n", 1)[0]
        if first.strip() != b"NATS/1.0":  # a status message (no responders, 404, 408)
            return Reply("status", (hdr + body).decode("latin-1"))
        if isinstance(op, DirectGet):
            return direct_reply(_mask_headers(hdr), body)
        return Reply("other", f"{line.decode('latin-1')} {(hdr + body)!r}")
    if isinstance(op, Publish | FastPublish):
        return Reply("puback", body.decode("latin-1"))
    try:
        return api_reply(mask(json.loads(body)))
    except ValueError:
        return Reply("other", body.decode("latin-1"))


# ------------------------------------------------------------------------ model


def model_step(model: CampaignModel, op: Op, impl: Reply) -> Reply:
    """Apply ``op`` to the model, then let mirrors and sources catch up (the
    harnesses wait for that). ``impl`` is used only for AdvanceTime: how far
    the harness could move its clock (its ms, or 0 on a real-time server)."""
    model.advisories = []
    reply = _model_reply(model, op, impl)
    model.settle()
    if not impl.adv:
        return reply
    return with_advisories(reply, [model_advisory(subject, action) for subject, action in model.advisories])


def advisory_text(subject: str, body: bytes) -> str:
    """A stream advisory received: its subject and JSON, id and timestamp masked."""
    try:
        value = json.loads(body)
    except ValueError:
        return f"adv {subject} {body!r}"
    if isinstance(value, dict):
        value.update({k: ADV_MASK[k] for k in ADV_MASK if k in value})
    return f"adv {subject} {_canonical(value)}"


#: What the id (a nuid) and timestamp of an advisory are masked to.
ADV_MASK = {"id": "<id>", "timestamp": TS}


def model_advisory(subject: str, action: str) -> str:
    stream = subject.rsplit(".", 1)[1]
    return f"adv {subject} " + _canonical({"type": "io.nats.jetstream.advisory.v1.stream_action", **ADV_MASK,
                                           "stream": stream, "action": action})


def with_advisories(reply: Reply, advisories: list[str]) -> Reply:
    """The observation of a side that observes stream advisories: the ones the op
    caused (sorted) after what the republish subscription got."""
    return msgspec.structs.replace(reply, extra=reply.extra + tuple(sorted(advisories)), adv=True)


def _model_reply(model: CampaignModel, op: Op, impl: Reply) -> Reply:
    if skipped(op, lambda name: model.streams[name].config if name in model.streams else None,
               lambda name: len(model.consumers.get(name, {}))):
        return Reply("skip")
    if isinstance(op, Recreate):
        replies = []
        for step in recreate_steps(op):
            replies.append(_model_reply(model, step, impl))
            model.settle()
        return both(*replies)
    if isinstance(op, ConsumerStep):
        got = model_consumer_step(model, op)
        return api_reply(mask(got)) if isinstance(got, dict) else Reply(*got)
    if isinstance(op, DeleteStream) and op.stream == ORIGIN:
        replica = model.streams.get(REPLICA)
        if replica is not None and _copies_from(replica.config, ORIGIN):
            model.delete(REPLICA)
    if isinstance(op, AdvanceTime):
        moved = op.ms
        if impl.kind == "time" and impl.body == "0":
            moved = 0
        model.advance(moved * 1_000_000)
        return Reply("time", str(moved))
    if isinstance(op, Publish):
        text = model.publish(op.subject, op.headers, payload(op.size))
        rp = tuple(republished(subj, hdr, data) for subj, hdr, data in model.republished)
        if text is None:
            return _no_responders(op.subject)
        if text == STAGED:  # a staged batch message: an empty reply
            return Reply("puback", "", rp)
        return Reply("none", extra=rp) if text == "" else Reply("puback", text, rp)
    if isinstance(op, FastPublish):
        text = model.fast_publish(op.subject, payload(op.size))
        return _no_responders(op.subject) if text is None else Reply("puback", text)
    if isinstance(op, CreateStream):
        return api_reply(model.create(subject_name(op), config_request(op)))
    if isinstance(op, UpdateStream):
        return api_reply(model.update(subject_name(op), config_request(op)))
    if isinstance(op, DeleteStream):
        return api_reply(model.delete(op.stream))
    if isinstance(op, Info):
        return api_reply(model.info(op.stream, json.loads(op.request) if op.request else None))
    if isinstance(op, Purge):
        return api_reply(model.purge(op.stream, op.request.encode()))
    if isinstance(op, GetMsg):
        return api_reply(model.get_msg(op.stream, op.request.encode()))
    if isinstance(op, DeleteMsg):
        return api_reply(model.delete_msg(op.stream, op.request.encode()))
    if isinstance(op, DirectGet):
        got = model.direct_get(op.stream, op.last_subject or None, op.request.encode())
        if got is None:
            return _no_responders(request_parts(op)[0])
        hdr, data = got
        if not hdr.startswith(b"NATS/1.0\r\n"):
            return Reply("status", hdr.decode("latin-1"))
        return direct_reply(hdr, data)
    raise TypeError(f"not a stream op: {op!r}")


def _copies_from(config: dict, origin: str) -> bool:
    names = [(config.get("mirror") or {}).get("name")] + [s.get("name") for s in config.get("sources") or []]
    return origin in names


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


def describe(expected: Reply, impl: Reply) -> str:
    """The difference between two observations, for the divergence message."""
    if expected.extra != impl.extra:
        return f"republished: model {expected.extra!r}, implementation {impl.extra!r}"
    if expected.kind != impl.kind:
        return f"reply kind: model {expected.kind}, implementation {impl.kind}"
    if expected.kind == "api":
        out: list[str] = []
        _diff(json.loads(expected.body), json.loads(impl.body), "", out)
        return "\n".join(out)
    return f"body: model {expected.body!r}, implementation {impl.body!r}"


# ------------------------------------------------------------------- invariants


def model_consistent(model: StreamModel, state: Any) -> str | None:
    """The model's own counters and limits (checked after every step, whatever the
    harness): sequences increase within [first_seq, last_seq], first_seq is the
    first stored sequence (or last_seq + 1 / 0 when empty), the limits hold and
    the per-subject counts sum to the message count."""
    problems = []
    for name, s in model.streams.items():
        seqs = [m.seq for m in s.msgs]
        if seqs != sorted(set(seqs)):
            problems.append(f"{name}: sequences not increasing {seqs}")
        if seqs and (seqs[0] != s.first_seq or seqs[-1] > s.last_seq):
            problems.append(f"{name}: first/last {s.first_seq}/{s.last_seq} vs stored {seqs[0]}..{seqs[-1]}")
        if not seqs and s.first_seq not in (0, s.last_seq + 1):
            problems.append(f"{name}: empty with first_seq {s.first_seq}, last_seq {s.last_seq}")
        if s.first_seq > s.last_seq + 1:
            problems.append(f"{name}: first_seq {s.first_seq} > last_seq + 1 ({s.last_seq + 1})")
        cfg = s.config
        if 0 < cfg["max_msgs"] < len(seqs) and not s.over_limit_ok:
            problems.append(f"{name}: {len(seqs)} messages > max_msgs {cfg['max_msgs']}")
        if 0 < cfg["max_bytes"] < s.bytes and not s.over_limit_ok:
            problems.append(f"{name}: {s.bytes} bytes > max_bytes {cfg['max_bytes']}")
        per = s.per_subject()
        if cfg["max_msgs_per_subject"] > 0 and any(n > cfg["max_msgs_per_subject"] for n in per.values()):
            problems.append(f"{name}: per-subject counts {per} over {cfg['max_msgs_per_subject']}")
        if sum(per.values()) != len(seqs):
            problems.append(f"{name}: per-subject counts {per} do not sum to {len(seqs)}")
    return "; ".join(problems) or None


def impl_state_agrees(model: StreamModel, state: Any) -> str | None:
    """The implementation's streams and their store counters equal the model's
    (in-process harness only: ``state`` maps stream name -> (messages, bytes,
    first_seq, last_seq, num_subjects))."""
    if not state:
        return None
    want = {
        name: (len(s.msgs), s.bytes, s.first_seq, s.last_seq, len(s.per_subject()))
        for name, s in model.streams.items()
    }
    got = state.get("streams")
    if got is None or got == want:
        return None
    return f"model (messages, bytes, first, last, subjects) {want}, implementation {got}"


# ------------------------------------------------------------------ frame parser


def take_frames(buf: bytearray) -> list[tuple[bytes, bytes | None]]:
    """Consume the complete frames at the front of ``buf``: ``(line, payload)``,
    payload None for lines without one (an incomplete frame stays in ``buf``)."""
    frames = []
    pos, n = 0, len(buf)
    while pos < n:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            break
        line = bytes(buf[pos:eol])
        if line.startswith((b"MSG ", b"HMSG ")):
            size = int(line.split()[-1])
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


CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
INBOX = "_INBOX.stream"
REPUBLISH_SID = b"2"
ADVISORY_SID = b"3"
SETUP = CONNECT + f"SUB {INBOX}.> 1\r\nSUB rp.> 2\r\n".encode()
ADVISORY_SUB = b"SUB $JS.EVENT.ADVISORY.STREAM.> 3\r\n"
CLEANUP = [DeleteStream(s) for s in STREAMS]
#: The servers of the wire harnesses: JetStream with the campaign's file store limit.
SERVER_CONFIG = f"jetstream {{\n  store_dir: '{{dir}}/js'\n  max_file_store: {FILE_STORE_LIMIT}\n}}\n"

# ------------------------------------------------------------------ core harness


class CoreHarness(Harness):
    """The sans-IO Broker with the JetStream service in process, one Client,
    a fake clock that only AdvanceTime moves."""

    sides = ("core",)

    def __init__(self) -> None:
        from natsd.jetstream.api import JetStreamService
        from natsd.server.core import Broker

        self.now = T0
        self.broker = Broker()
        self.dir = tempfile.TemporaryDirectory(prefix="natsd-stream-")  # file storage streams
        self.js = JetStreamService(self.broker, clock=lambda: self.now, server_name="natsd", store_dir=self.dir.name,
                                   max_store=FILE_STORE_LIMIT)
        self.client = self.broker.new_client(self.now)
        self.client.receive(SETUP + ADVISORY_SUB)
        self.client.out.clear()
        self.n = 0
        self.delivered: list[str] = []  # the ack reply subjects Fetch ops received
        self.advisories: list[str] = []  # the stream advisories of the current op

    def _config(self, name: str) -> dict | None:
        entry = self.js.streams.get(name)
        return msgspec.to_builtins(entry.stream.config) if entry is not None else None

    def _consumers(self, name: str) -> int:
        entry = self.js.streams.get(name)
        return entry.stream.consumer_count if entry is not None else 0

    def _drain(self) -> list[tuple[bytes, bytes | None]]:
        """The frames the client received (stream advisories taken aside)."""
        buf = bytearray(self.client.out)
        self.client.out.clear()
        self.broker.dirty.clear()
        frames = []
        for line, body in take_frames(buf):
            if body is not None and line.split()[2] == ADVISORY_SID:
                self.advisories.append(advisory_text(line.split()[1].decode(), body))
            else:
                frames.append((line, body))
        return frames

    def _ack_request(self, subject: str, body: bytes) -> tuple[bytes, bytes] | None:
        self.n += 1
        reply = f"{INBOX}.{self.n}"
        self.client.receive(encode_pub(subject, reply, body))
        for line, data in self._drain():
            if data is not None and line.split()[1].decode() == reply:
                return line, data
        return None

    def apply(self, op: Op) -> dict[str, Reply]:
        self.advisories = []
        reply = self._apply_op(op)["core"]
        return {"core": with_advisories(reply, self.advisories)}

    def _apply_op(self, op: Op) -> dict[str, Reply]:
        if isinstance(op, Recreate):
            return {"core": both(*(self._apply_op(step)["core"] for step in recreate_steps(op)))}
        if skipped(op, self._config, self._consumers):
            return {"core": Reply("skip")}
        if isinstance(op, DeleteStream) and op.stream == ORIGIN:
            cfg = self._config(REPLICA)
            if cfg is not None and _copies_from(cfg, ORIGIN):
                self._request(DeleteStream(REPLICA))
        reply = self._apply(op)
        if not isinstance(op, Info | GetMsg | DirectGet):
            self._settle()
        return reply

    def _settle(self) -> None:
        """Go sets a mirror's / source's consumer up 100-200ms after the stream
        and copies asynchronously; the wire harnesses wait for that. Here: set
        up every waiting cursor now, and copy. Due message schedules fire
        first (a real server fires one due in the past within 250ms)."""
        self.js.run_schedules(self.now)
        replication = self.js.replication
        for r in replication.replicas.values():
            for c in [r.mirror, *r.sources.values()]:
                if c is not None and c.origin is None:
                    c.next_try = min(c.next_try, self.now)
        self.js._publish_out(replication.pump(self.now))

    def _request(self, op: Op) -> None:
        self.n += 1
        self.client.receive(encode_request(op, f"{INBOX}.{self.n}"))
        self._drain()

    def _apply(self, op: Op) -> dict[str, Reply]:
        if isinstance(op, AdvanceTime):
            self.now += op.ms * 1_000_000
            self.js.tick(self.now)
            return {"core": Reply("time", str(op.ms))}
        if isinstance(op, Fetch):
            self.n += 1
            got, replies = core_fetch_ack(self.client, self._drain, self._ack_request, op, self.n)
            self.delivered.extend(replies)
            return {"core": Reply(*got)}
        if isinstance(op, Ack):
            if not self.delivered:
                return {"core": Reply("ack", "nothing")}
            subject = self.delivered[op.index % len(self.delivered)]
            return {"core": Reply("ack", core_ack(self._ack_request, subject, op.kind))}
        self.n += 1
        reply = reply_subject(op, f"{INBOX}.{self.n}")
        self.client.receive(encode_request(op, reply))
        buf = bytearray(self.client.out)
        self.client.out.clear()
        self.broker.dirty.clear()
        got: list[Reply] = []
        extra: list[str] = []
        for line, body in take_frames(buf):
            if body is not None and line.split()[2] == ADVISORY_SID:
                self.advisories.append(advisory_text(line.split()[1].decode(), body))
            elif body is not None and line.split()[2] == REPUBLISH_SID:
                extra.append(_frame_republished(line, body))
            elif body is not None and line.split()[1].decode() == reply:
                got.append(observe(op, line, body))
            else:
                got.append(Reply("other", f"{line!r} {body!r}"))
        if buf:
            got.append(Reply("other", f"<partial {bytes(buf)!r}>"))
        if not got:
            return {"core": Reply("none", extra=tuple(extra))}
        one = got[0] if len(got) == 1 else Reply("other", repr(got))
        return {"core": msgspec.structs.replace(one, extra=tuple(extra))}

    def state(self) -> dict[str, Any]:
        streams = {}
        for name, entry in self.js.streams.items():
            fs = entry.stream.store.fast_state()
            streams[name] = (fs.msgs, fs.bytes, fs.first_seq, fs.last_seq, fs.num_subjects)
        return {"core": {"streams": streams}}

    def close(self) -> None:
        self.broker.remove_client(self.client)
        self.dir.cleanup()


@contextlib.contextmanager
def core_session() -> Iterator[Any]:
    yield CoreHarness


# ------------------------------------------------------------------ wire harness

REPLY_TIMEOUT = 5.0
#: Waiting for mirrors and sources to catch up on a real server (seconds).
SETTLE_POLL = 0.025
SETTLE_MAX = 5.0


class HarnessError(RuntimeError):
    """The server did not answer as the protocol requires (closed, garbage)."""


def _store_settled(streams_dir: Path) -> bool:
    """No deleted stream directory (".<name>") left in a Go server's streams directory."""
    try:
        return not any(p.name.startswith(".") for p in streams_dir.iterdir())
    except OSError:
        return True


#: A file stream the wire harness keeps on the Go server (subject KEEP, which no
#: op publishes to, nothing reserved): see :meth:`_Conn.keep_store`.
KEEPER = b'{"name":"KEEP","storage":"file"}'


class _Conn:
    """One raw client connection to one server."""

    def __init__(self, host: str, port: int, timeout: float = REPLY_TIMEOUT, *, advisories: bool = False,
                 streams_dir: Path | None = None) -> None:
        self.timeout = timeout
        self.observes_advisories = advisories
        self.streams_dir = streams_dir
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.n = 0
        self.extra: list[str] = []
        #: the stream advisories received, and how many the requests so far must
        #: cause (a create of a new stream, an update, a delete, each successful)
        self.advisories: list[str] = []
        self.expected = 0
        self.sock.sendall(SETUP + (ADVISORY_SUB if advisories else b"") + b"PING\r\n")
        self._read_until(lambda line, body: line == b"PONG")

    def _read_until(self, done, timeout: float | None = None) -> tuple[bytes, bytes | None] | None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for line, body in take_frames(self.buf):
                if body is None and line == b"PING":
                    self.sock.sendall(b"PONG\r\n")
                elif done(line, body):
                    return line, body
                elif body is not None and line.split()[2] == REPUBLISH_SID:
                    self.extra.append(_frame_republished(line, body))
                elif body is not None and line.split()[2] == ADVISORY_SID:
                    self.advisories.append(advisory_text(line.split()[1].decode(), body))
                elif body is not None or line != b"PONG":
                    self.extra.append(f"stray {line!r} {body!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            except OSError as e:
                raise HarnessError(f"connection lost: {e}") from None
            if not data:
                raise HarnessError("the server closed the connection")
            self.buf += data

    def request(self, op: Op) -> Reply:
        existed = (self.observes_advisories and isinstance(op, CreateStream) and not op.config.startswith("bad_")
                   and self.info(subject_name(op)) is not None)
        reply = self._request(op)
        if isinstance(op, DeleteStream) and reply.kind == "api" and '"error":' not in reply.body:
            self._await_removal()
        if (self.observes_advisories and isinstance(op, CreateStream | UpdateStream | DeleteStream)
                and reply.kind == "api" and not existed and '"error":' not in reply.body):
            self.expected += 1
        return reply

    def keep_store(self) -> None:
        """Go removes the account's streams directory in the background after a
        stream delete when it is empty, and a file stream created meanwhile fails
        (10049, "mkdir ...: no such file or directory"): a file stream that is
        never deleted (KEEPER) keeps the directory."""
        if self.streams_dir is None:
            return
        self.n += 1
        reply = f"{INBOX}.{self.n}".encode()
        self.sock.sendall(b"PUB $JS.API.STREAM.CREATE.KEEP " + reply + f" {len(KEEPER)}\r\n".encode() + KEEPER
                          + b"\r\n")
        self._read_until(lambda line, body: body is not None and line.split()[1] == reply)

    def _await_removal(self) -> None:
        """Wait until the Go server has removed a deleted file stream's directory:
        it renames it to ".<name>" and removes that in the background; a second
        delete of the name meanwhile cannot rename it and leaves the directory
        behind, and the next create of the name then fails (10049). Polls the
        store, SETTLE_POLL apart, at most SETTLE_MAX."""
        if self.streams_dir is None:
            return
        deadline = time.monotonic() + SETTLE_MAX
        while time.monotonic() < deadline and not _store_settled(self.streams_dir):
            time.sleep(SETTLE_POLL)

    def await_advisories(self) -> list[str]:
        """The stream advisories received, once the expected ones have arrived
        (Go sends them from the stream's own queue: before or after the reply)."""

        def done(line: bytes, body: bytes | None) -> bool:
            if body is not None and line.split()[2] == ADVISORY_SID:
                self.advisories.append(advisory_text(line.split()[1].decode(), body))
            return len(self.advisories) >= self.expected

        if len(self.advisories) < self.expected:
            self._read_until(done)
        got, self.advisories, self.expected = self.advisories, [], 0
        return got

    def _request(self, op: Op) -> Reply:
        self.n += 1
        reply = reply_subject(op, f"{INBOX}.{self.n}").encode()
        self.extra.clear()
        self.sock.sendall(encode_request(op, reply.decode()))
        brief = isinstance(op, Publish) and op.subject == NO_ACK_SUBJECT
        got = self._read_until(lambda line, body: body is not None and line.split()[1] == reply,
                               NO_ACK_WAIT if brief else None)
        extra = tuple(self.extra)
        if got is None:
            return Reply("none", extra=extra)
        return msgspec.structs.replace(observe(op, got[0], got[1] or b""), extra=extra)

    def info(self, name: str) -> dict | None:
        got = self.request(Info(name))
        value = json.loads(got.body) if got.kind == "api" else {}
        return None if "error" in value else value

    def config(self, name: str) -> dict | None:
        value = self.info(name)
        return value["config"] if value else None

    def _subject_of(self, stream: str, seq: int) -> str | None:
        got = self.request(GetMsg(stream, json.dumps({"seq": seq})))
        value = json.loads(got.body) if got.kind == "api" else {}
        return (value.get("message") or {}).get("subject")

    def _last_of(self, stream: str, patterns: list[str]) -> int:
        """The highest sequence of ``stream`` whose subject matches one of the
        patterns (per literal subject: Go's last-by-subject '>' looks only at
        the last sequence)."""
        info = self.info_of(stream, {"subjects_filter": ">"})
        subjects = ((info or {}).get("state") or {}).get("subjects") or {}
        best = 0
        for subj in subjects:
            if any(subject_matches(p, subj) for p in patterns):
                got = self.request(GetMsg(stream, json.dumps({"last_by_subj": subj})))
                best = max(best, (json.loads(got.body).get("message") or {}).get("seq", 0))
        return best

    def await_fired(self, stream: str, seq: int) -> None:
        """Wait until the schedule stored at ``seq`` (due in the past) has
        fired: its message is purged then. Polls SETTLE_POLL apart, at most
        SETTLE_MAX (a produced message the stream refuses never comes)."""
        deadline = time.monotonic() + SETTLE_MAX
        while time.monotonic() < deadline:
            got = self.request(GetMsg(stream, json.dumps({"seq": seq})))
            if got.kind != "api" or "error" in json.loads(got.body):
                return
            time.sleep(SETTLE_POLL)

    def info_of(self, name: str, req: dict) -> dict | None:
        got = self.request(Info(name, json.dumps(req)))
        value = json.loads(got.body) if got.kind == "api" else {}
        return None if "error" in value else value

    def settle(self, name: str, seqs: range | None = None) -> None:
        """Wait until stream ``name``'s mirror/sources are set up and each has
        copied what it must: the highest origin sequence in ``seqs`` (what a
        PubAck of the origin acknowledged) that its filters take, or, when
        ``seqs`` is None (``name`` was just created or updated), the last one
        the origin holds. A mirror's progress is its last sequence, a source's
        its ``seq``. Polls STREAM.INFO SETTLE_POLL apart, at most SETTLE_MAX.
        Nothing to wait for when the stream has no origins."""
        value = self.info(name)
        if not value or not (value.get("mirror") or value.get("sources")):
            return
        cfg = value["config"]
        entries = [cfg["mirror"]] if cfg.get("mirror") else cfg["sources"]
        targets = []
        for src in entries:
            trs = src.get("subject_transforms") or []
            patterns = [t.get("src") or ">" for t in trs] or [src.get("filter_subject") or ">"]
            if seqs is None:
                targets.append(self._last_of(src["name"], patterns))
                continue
            target = 0
            for seq in reversed(seqs):
                subj = self._subject_of(src["name"], seq)
                if subj is not None and any(subject_matches(p, subj) for p in patterns):
                    target = seq
                    break
            targets.append(target)
        deadline = time.monotonic() + SETTLE_MAX
        while True:
            if value.get("mirror"):
                progress = [(value["mirror"].get("active"), value["state"]["last_seq"])]
            else:
                by_key = {_canonical({k: o.get(k) for k in ("name", "filter_subject", "subject_transforms")}): o
                          for o in value.get("sources") or []}
                progress = []
                for src in entries:
                    o = by_key.get(_canonical({k: src.get(k) for k in ("name", "filter_subject", "subject_transforms")}),
                                   {})
                    progress.append((o.get("active", -1), o.get("seq", 0)))
            if all(active != -1 and done >= target for (active, done), target in zip(progress, targets, strict=True)):
                return
            if time.monotonic() >= deadline:
                return
            time.sleep(SETTLE_POLL)
            value = self.info(name)
            if not value or not (value.get("mirror") or value.get("sources")):
                return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class WireHarness(Harness):
    """One or more servers over TCP (one connection each), the same ops to all."""

    def __init__(self, servers: dict[str, Any]) -> None:
        self.sides = tuple(servers)
        self.conns = {side: _Conn(srv.host, srv.port, advisories=getattr(srv, "kind", "") == "natsd",
                                  streams_dir=(Path(srv.workdir) / "js" / "jetstream" / "$G" / "streams"
                                               if getattr(srv, "kind", "") == "go" else None))
                      for side, srv in servers.items()}
        #: per side, the ack reply subjects its Fetch ops received
        self.delivered: dict[str, list[str]] = {side: [] for side in self.sides}
        self._cleanup()

    def _cleanup(self) -> None:
        for conn in self.conns.values():
            for op in CLEANUP:
                conn.request(op)
            conn.keep_store()
            conn.await_advisories()

    def apply(self, op: Op) -> dict[str, Reply]:
        out = {}
        for side, conn in self.conns.items():
            conn.advisories, conn.expected = [], 0
            if isinstance(op, AdvanceTime):  # real time: nothing to move
                reply = Reply("time", "0")
            else:
                reply = self._apply(conn, op, self.delivered[side])
            out[side] = with_advisories(reply, conn.await_advisories()) if conn.observes_advisories else reply
        return out

    def _apply(self, conn: _Conn, op: Op, delivered: list[str]) -> Reply:
        if isinstance(op, Recreate):
            return both(*(self._apply(conn, step, delivered) for step in recreate_steps(op)))
        if isinstance(op, Fetch):
            got, replies = wire_fetch(conn, op)
            delivered.extend(replies)
            return Reply(*got)
        if isinstance(op, Ack):
            if not delivered:
                return Reply("ack", "nothing")
            return Reply("ack", wire_ack(conn, delivered[op.index % len(delivered)], op.kind))

        def consumers(name: str) -> int:
            return ((conn.info(name) or {}).get("state") or {}).get("consumer_count", 0)

        if skipped(op, conn.config, consumers):
            return Reply("skip")
        if isinstance(op, DeleteStream) and op.stream == ORIGIN:
            cfg = conn.config(REPLICA)
            if cfg is not None and _copies_from(cfg, ORIGIN):
                conn.request(DeleteStream(REPLICA))
        reply = conn.request(op)
        if isinstance(op, CreateStream | UpdateStream) and op.stream == REPLICA and reply.kind == "api":
            conn.settle(REPLICA, None)
        elif isinstance(op, Publish) and reply.kind == "none":  # no_ack: no PubAck tells the sequence
            conn.settle(REPLICA, None)
        elif isinstance(op, Publish) and reply.kind == "puback" and reply.body:
            ack = json.loads(reply.body)
            if "seq" in ack and "error" not in ack and ("Nats-Schedule", PAST) in op.headers:
                conn.await_fired(ack["stream"], ack["seq"])
                conn.settle(REPLICA, None)
            elif ack.get("stream") == ORIGIN and "seq" in ack and "error" not in ack:
                n = ack.get("count", 1)
                conn.settle(REPLICA, range(ack["seq"] - n + 1, ack["seq"] + 1))
        return reply

    def state(self) -> dict[str, Any]:
        return {side: {} for side in self.sides}  # the model invariants only

    def close(self) -> None:
        try:
            self._cleanup()
        finally:
            for conn in self.conns.values():
                conn.close()


@contextlib.contextmanager
def _servers(kinds: dict[str, str]) -> Iterator[dict[str, Any]]:
    from natsd.oracle.wire import launch

    started: dict[str, Any] = {}
    try:
        for side, kind in kinds.items():
            started[side] = launch([], config=SERVER_CONFIG, kind=kind)
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


def jetstream_answers(kind: str = "natsd", timeout: float = 3.0) -> str | None:
    """None when a ``kind`` server started with ``-js`` answers STREAM.INFO over
    the wire, else why not (for skipping tests while natsd's API is incomplete)."""
    from natsd.oracle.wire import launch

    try:
        srv = launch(["-js", "-sd", "{dir}/js"], kind=kind)
    except Exception as e:  # the server does not even start
        return f"{kind} -js does not start: {e.__class__.__name__}: {str(e)[:300]}"
    try:
        conn = _Conn(srv.host, srv.port, timeout=timeout)
        got = conn.request(Info("S"))
        conn.close()
        if got.kind != "api":
            return f"{kind} -js does not answer $JS.API.STREAM.INFO (got {got!r})"
        return None
    except Exception as e:
        return f"{kind} -js: {e.__class__.__name__}: {e}"
    finally:
        srv.stop()


# ------------------------------------------------------------------------- area

AREA = register(
    Area(
        name="stream",
        title="JetStream streams: create/update/delete/info, publish semantics, limits, purge, get/delete msg, direct get",
        op_type=StreamOp,
        ops=OPS,
        new_model=CampaignModel,
        model_step=model_step,
        invariants=(("model_consistent", model_consistent), ("impl_state_agrees", impl_state_agrees)),
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
