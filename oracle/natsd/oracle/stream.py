"""The stream area: JetStream streams at the API level (requests and replies as
clients see them).

Operations (streams ``S`` and ``T``; every op is one request with a reply
subject and gets one reply):

* ``CreateStream(stream, config)``: $JS.API.STREAM.CREATE with the config
  named ``config`` in :data:`CONFIGS` (all memory storage; a few invalid;
  stream T gets other subjects than S, see :data:`T_SUBJECTS`);
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
* ``AdvanceTime(ms)``: moves the clock of the in-process harness (and the
  model's). Servers on the wire run on real time, which a harness cannot move:
  there the op does nothing and reports that it moved the clock by 0, and the
  model follows (the one thing ``model_step`` takes from the observation). The
  time-dependent configs use windows of a minute or more, far beyond the length
  of an example, so on the wire nothing expires and the observations are
  robust; the core harness crosses those windows with ``AdvanceTime``.

The configs include no_ack (subject ``d``: no reply at all; the wire
harnesses wait only :data:`NO_ACK_WAIT` for a publish to ``d``), a
subject_transform, republish to ``rp.>`` (with and without headers_only),
allow_msg_ttl (Nats-TTL values in :data:`HEADERS`, all a minute or more where
valid so nothing expires on the wire), subject_delete_marker_ttl, invalid
names (:data:`NAME_SUFFIX`) and oversized metadata.

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
* ``wire``: a natsd subprocess (``-js -sd <tmp>``) over one raw TCP connection;
* ``differential``: natsd and the Go nats-server side by side, each compared
  with its own copy of the model;
* ``go``: the Go nats-server alone: checks the model itself against Go.

Each example starts and ends by deleting ``S`` and ``T``, so a server shared by
the examples of a campaign starts every example empty.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Iterator
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
from natsd.oracle.base import Area, Harness, HarnessKind, Op, register, weighted

__all__ = [
    "AREA",
    "CONFIGS",
    "AdvanceTime",
    "CoreHarness",
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

STREAMS = ("S", "T")
SEC = 1_000_000_000

#: A config key that is not sent: appended to the stream name (invalid names).
NAME_SUFFIX = "_name_suffix"

#: Stream configs by name (the request minus name and storage), simplest first.
CONFIGS: dict[str, dict] = {
    "plain": {"subjects": ["a", "b"]},
    "wild": {"subjects": ["c.*"]},
    "mixed": {"subjects": ["a", "c.>"]},
    "default_subjects": {},
    "zero_limits": {"subjects": ["a", "b"], "max_msgs": 0, "max_bytes": -5},  # normalises to "plain"
    "max_msgs": {"subjects": ["a", "b"], "max_msgs": 3},
    "max_msgs_new": {"subjects": ["a", "b"], "max_msgs": 3, "discard": "new"},
    "max_bytes": {"subjects": ["a", "b"], "max_bytes": 150},
    "max_bytes_new": {"subjects": ["a", "c.*"], "max_bytes": 150, "discard": "new"},
    "per_subject": {"subjects": ["a", "c.>"], "max_msgs_per_subject": 2},
    "per_subject_new": {"subjects": ["a", "b"], "max_msgs_per_subject": 1, "discard": "new",
                        "discard_new_per_subject": True},
    "per_subject_max_msgs_new": {"subjects": ["a", "b"], "max_msgs_per_subject": 2, "max_msgs": 3,
                                 "discard": "new"},
    "per_subject_max_bytes_new": {"subjects": ["a", "c.*"], "max_msgs_per_subject": 1, "max_bytes": 150,
                                  "discard": "new"},
    "limits_old": {"subjects": ["a", "c.>"], "max_msgs": 5, "max_bytes": 200, "max_msgs_per_subject": 2},
    "rollup": {"subjects": ["a", "b"], "allow_rollup_hdrs": True},
    "rollup_wild": {"subjects": ["c.*"], "allow_rollup_hdrs": True, "max_msgs_per_subject": 3},
    "rollup_per_subject_new": {"subjects": ["a", "b"], "allow_rollup_hdrs": True, "max_msgs_per_subject": 1,
                               "discard": "new", "discard_new_per_subject": True},
    "deny": {"subjects": ["a", "b"], "deny_delete": True, "deny_purge": True},
    "direct": {"subjects": ["a", "b"], "allow_direct": True},
    "direct_mixed": {"subjects": ["a", "c.>"], "allow_direct": True, "max_msgs_per_subject": 2},
    "max_msg_size": {"subjects": ["a", "b"], "max_msg_size": 40},
    "first_seq": {"subjects": ["a", "b"], "first_seq": 10},
    "max_age": {"subjects": ["a", "b"], "max_age": 3600 * SEC},
    "max_age_minute": {"subjects": ["a", "c.*"], "max_age": 60 * SEC},
    "dup_window": {"subjects": ["a", "b"], "duplicate_window": 600 * SEC},
    "bad_rollup_deny_purge": {"subjects": ["a"], "allow_rollup_hdrs": True, "deny_purge": True},
    "bad_per_subject_old": {"subjects": ["a"], "max_msgs_per_subject": 1, "discard_new_per_subject": True},
    "bad_max_age": {"subjects": ["a"], "max_age": 50_000_000},
    "bad_dup_window": {"subjects": ["a"], "max_age": 3600 * SEC, "duplicate_window": 7200 * SEC},
    "sealed": {"subjects": ["a"], "sealed": True},  # refused on create; on update it seals
    "sealed_deny": {"subjects": ["a", "b"], "sealed": True, "deny_delete": True, "deny_purge": True},
    "metadata": {"subjects": ["a", "b"], "metadata": {"owner": "x"}},
    "counter": {"subjects": ["a", "b"], "allow_msg_counter": True},
    "counter_limits": {"subjects": ["a", "c.*"], "allow_msg_counter": True, "max_msgs_per_subject": 2,
                       "allow_rollup_hdrs": True},
    "bad_subject": {"subjects": ["a..b"]},
    "bad_capture_all": {"subjects": [">"]},
    "bad_reserved": {"subjects": ["$JS.API.>"]},
    "bad_duplicate_subjects": {"subjects": ["a", "a"]},
    "bad_overlapping_subjects": {"subjects": ["a", "*"]},
    "bad_replicas": {"subjects": ["a"], "num_replicas": 3},
    "bad_mirror_direct": {"subjects": ["a"], "mirror_direct": True},
    "bad_discard": {"subjects": ["a"], "discard": "bogus"},
    "bad_pedantic": {"subjects": ["a"], "max_msgs": -5, "pedantic": True},
    "bad_counter_discard_new": {"subjects": ["a"], "allow_msg_counter": True, "discard": "new"},
    "bad_marker_ttl": {"subjects": ["a"], "subject_delete_marker_ttl": 500_000_000},
    "bad_persist_async": {"subjects": ["a"], "persist_mode": "async"},
    "bad_description": {"subjects": ["a"], "description": "d" * 5000},
    "bad_placement": {"subjects": ["a"], "placement": {"preferred": "x"}},
    "bad_schedules_discard_new": {"subjects": ["a"], "allow_msg_schedules": True, "discard": "new"},
    "no_ack": {"subjects": ["d"], "no_ack": True},
    "transform": {"subjects": ["a", "c.*"], "subject_transform": {"src": "c.*", "dest": "x.{{wildcard(1)}}"}},
    "republish": {"subjects": ["a", "b"], "republish": {"src": ">", "dest": "rp.>"}},
    "republish_headers_only": {"subjects": ["a", "c.*"], "max_msgs_per_subject": 2,
                               "republish": {"src": "c.*", "dest": "rp.{{wildcard(1)}}", "headers_only": True}},
    "transform_republish": {"subjects": ["c.*"], "allow_rollup_hdrs": True,
                            "subject_transform": {"src": "c.*", "dest": "x.{{wildcard(1)}}"},
                            "republish": {"src": "x.*", "dest": "rp.{{wildcard(1)}}"}},
    "ttl": {"subjects": ["a", "b"], "allow_msg_ttl": True},
    "ttl_max_age": {"subjects": ["a", "c.*"], "allow_msg_ttl": True, "max_age": 60 * SEC},
    "marker": {"subjects": ["a", "b"], "max_age": 3600 * SEC, "subject_delete_marker_ttl": 7200 * SEC},
    "bad_name_star": {"subjects": ["a"], NAME_SUFFIX: "*"},
    "bad_name_long": {"subjects": ["a"], NAME_SUFFIX: "x" * 255},
    "bad_metadata_size": {"subjects": ["a"], "metadata": {"k": "v" * 131072}},
}

#: Publish subjects: "z" is captured by no stream; "S"/"T" only by a stream
#: with default subjects.
SUBJECTS = ["a", "b", "a", "c.1", "b", "z", "a", "c.2", "S", "b", "T", "c.1", "d", "a"]
#: Captured only by the no_ack config: the wire harnesses wait for its reply
#: only briefly (none comes from a no_ack stream; no-responders comes at once).
NO_ACK_SUBJECT = "d"
NO_ACK_WAIT = 0.3
SIZES = [0, 1, 10, 60]

_H = tuple[tuple[str, str], ...]
_ID, _ELS, _ELSS, _ELSSS = ("Nats-Msg-Id", "Nats-Expected-Last-Sequence",
                            "Nats-Expected-Last-Subject-Sequence", "Nats-Expected-Last-Subject-Sequence-Subject")
HEADERS: list[_H] = (
    [()]
    + [((_ID, i),) for i in "123"]
    + [((_ELS, str(n)),) for n in range(6)]
    + [((_ELSS, str(n)),) for n in range(4)]
    + [(("Nats-Expected-Stream", s),) for s in STREAMS]
    + [(("Nats-Rollup", v),) for v in ("sub", "all", "ALL", "bogus")]
    + [(("Nats-Expected-Last-Msg-Id", i),) for i in "12"]
    + [
        ((_ID, "1"), ("Nats-Rollup", "sub")),
        ((_ID, "2"), (_ELS, "2")),
        ((_ID, "3"), ("Nats-Expected-Last-Msg-Id", "2")),
        ((_ELSS, "0"), (_ELSSS, "c.*")),
        ((_ELSS, "2"), (_ELSSS, "a")),
        ((_ELSSS, "a"),),
        (("Nats-Expected-Stream", "T"), (_ID, "1")),
        (("Nats-TTL", "1m"),),
        (("Nats-TTL", "60"),),
        (("Nats-TTL", "never"),),
        (("Nats-TTL", "1h"),),
        (("Nats-TTL", "500ms"),),
        (("Nats-TTL", "x"),),
        (("Nats-TTL", "1m"), (_ID, "1")),
        (("Nats-Request-Info", "x"),),
        (("X-Big", "h" * 65530),),
        (("Nats-Incr", "1"),),
        (("Nats-Incr", "1"),),  # twice: counter streams need it to store anything
        (("Nats-Incr", "-7"),),
        (("Nats-Incr", "+3"), (_ID, "1")),
        (("Nats-Incr", "x"),),
        (("Nats-Incr", "2"), (_ELS, "3")),
        (("Nats-Schedule", "@every 1s"),),
        (("Nats-Schedule-Next", "purge"),),
        (("Nats-Schedule-Next", "purge"), ("Nats-Scheduler", "b")),
        (("Nats-Scheduler", "a"),),
        (("Nats-Stream-Source", "X 1"),),
        (("Nats-Batch-Id", "b1"),),
        (("Nats-Required-Api-Level", "9"),),
        (("Nats-TTL", "1m"), ("Nats-Expected-Stream", "T")),
        (("Nats-Incr", "1"), ("Nats-Expected-Stream", "T")),
        (("Nats-Stream-Source", "X 1"), (_ELS, "9")),
        (("Nats-Stream-Source", "X 1"), (_ID, "2")),
        (("Nats-Batch-Id", "b1"), (_ID, "2")),
    ]
)

INFO_REQUESTS = ["", '{"subjects_filter":">"}', '{"subjects_filter":"c.*"}', '{"deleted_details":true}']
PURGE_REQUESTS = [
    "", "{}", '{"filter":"a"}', '{"filter":"c.*"}', '{"filter":">"}', '{"seq":2}', '{"seq":4}', '{"seq":30}',
    '{"seq":1}', '{"keep":1}', '{"keep":2}', '{"filter":"a","keep":1}', '{"filter":"c.>","seq":3}',
    '{"seq":2,"keep":1}',
]
GET_REQUESTS = (
    [f'{{"seq":{n}}}' for n in (1, 2, 3, 4, 5, 6, 12)]
    + [f'{{"last_by_subj":"{s}"}}' for s in ("a", "b", "c.1", "c.*", ">")]
    + ['{"next_by_subj":"a"}', '{"seq":3,"next_by_subj":"c.*"}', "{}", "", '{"seq":1,"last_by_subj":"a"}']
)
DELETE_REQUESTS = (
    [f'{{"seq":{n}}}' for n in (1, 2, 3, 4, 5, 12)]
    + [f'{{"seq":{n},"no_erase":true}}' for n in (1, 2, 3)]
    + ["{}"]
)
#: DirectGet (request body, last subject in the request subject)
DIRECT_REQUESTS = (
    [(f'{{"seq":{n}}}', "") for n in (1, 2, 3, 12)]
    + [(f'{{"last_by_subj":"{s}"}}', "") for s in ("a", "c.*", ">")]
    + [('{"next_by_subj":"a"}', ""), ('{"seq":3,"next_by_subj":"c.*"}', "")]
    + [("", s) for s in ("a", "b", "c.1", "c.*")]
    + [("{}", "a"), ('{"seq":1}', "a"), ("", ""), ("{}", ""), ('{"seq":1,"last_by_subj":"a"}', "")]
)
#: AdvanceTime classes (ms): around the one-minute windows and the hour.
ADVANCE_MS = [1, 1000, 59_999, 60_000, 600_000, 3_600_000]


def payload(size: int) -> bytes:
    return (b"abcdefghijklmnopqrstuvwxyz" * 4)[:size]


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


StreamOp = (
    CreateStream | UpdateStream | DeleteStream | Info | Publish | Purge | GetMsg | DeleteMsg | DirectGet | AdvanceTime
)


#: The subjects of CONFIGS are stream S's; stream T takes these instead, so that
#: the two streams mostly coexist ("plain": S a, b; T c.1, c.2) yet sometimes
#: collide ("mixed": S a, c.>; T c.1, b).
T_SUBJECTS = {"a": "c.1", "b": "c.2", "c.*": "b", "c.>": "b"}


def config_request(op: CreateStream | UpdateStream) -> dict:
    req = {"name": op.stream, "storage": "memory", **CONFIGS[op.config]}
    req["name"] += req.pop(NAME_SUFFIX, "")
    if op.stream == "T" and "subjects" in req:
        req["subjects"] = [T_SUBJECTS.get(s, s) for s in req["subjects"]]
    return req


def request_parts(op: Op) -> tuple[str, bytes, bytes]:
    """(subject, header block, body) of the request an op sends (not AdvanceTime)."""
    if isinstance(op, Publish):
        return op.subject, encode_headers(op.headers), payload(op.size)
    if isinstance(op, CreateStream | UpdateStream):
        req = config_request(op)
        verb = "CREATE" if isinstance(op, CreateStream) else "UPDATE"
        return f"$JS.API.STREAM.{verb}.{req['name']}", b"", json.dumps(req).encode()
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
    raise TypeError(f"no request for {op!r}")


def encode_request(op: Op, reply: str) -> bytes:
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
_WEIGHTED_HEADERS = [()] * 20 + HEADERS[1:4] * 2 + HEADERS[4:] + _TTLS + [()] * 4
#: Nats-Request-Info only with payloads of 0 or 1 bytes: natsd counts the header
#: against max_msg_size before stripping it (Go strips it first), a known natsd
#: bug (tests/test_oracle_stream.py::test_natsd_request_info_counts_against_max_msg_size)
_PUBLISH_TABLE = [(s, h) for h in _WEIGHTED_HEADERS for s in SIZES[:2] * 2 + SIZES
                  if s <= 1 or not any(k == "Nats-Request-Info" for k, _ in h)]
#: valid configs three times as often as the invalid ones (named bad_*), simplest
#: first; Hypothesis favours both ends of a table, so it ends with valid ones too
_VALID = [c for c in CONFIGS if not c.startswith("bad_")]
CONFIG_CHOICES = (_VALID * 2 + [c for c in CONFIGS if c.startswith("bad_")] + _VALID[::-1]
                  + ["ttl", "ttl_max_age", "republish", "marker"])
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

#: Publish two fifths; stream deletes rare (a deleted stream takes a few steps to
#: come back, and most ops need one).
OPS = weighted(
    (16, _publish), (6, _create), (4, _info), (4, _get), (2, _direct), (2, _update), (2, _purge),
    (2, _delete_msg), (1, _delete), (2, _advance),
)

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
    #: reply, each as "<subject> <header block, Nats-Time-Stamp masked><payload>"
    extra: tuple[str, ...] = ()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


_TIME_KEYS = ("created", "ts", "first_ts", "last_ts", "time")


def mask(value: Any) -> Any:
    """Replace what is nondeterministic by definition (in place; returns ``value``)."""
    if isinstance(value, dict):
        for key, v in value.items():
            if key in _TIME_KEYS and isinstance(v, str):
                value[key] = ZERO_TIME if v == ZERO_TIME else TS
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


def api_reply(value: Any) -> Reply:
    return Reply("api", _canonical(value))


_TIME_STAMP = re.compile(rb"Nats-Time-Stamp: [^\r]*")


def direct_reply(hdr: bytes, body: bytes) -> Reply:
    """A direct-get message: its header block (time stamp masked) and payload."""
    return Reply("direct", (hdr + body).decode("latin-1"))


def republished(subject: str, hdr: bytes, data: bytes) -> str:
    """A message received on the republish subscription, time stamp masked."""
    hdr = _TIME_STAMP.sub(b"Nats-Time-Stamp: " + TS.encode(), hdr)
    return f"{subject} " + (hdr + data).decode("latin-1")


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
            return direct_reply(_TIME_STAMP.sub(b"Nats-Time-Stamp: " + TS.encode(), hdr), body)
        return Reply("other", f"{line.decode('latin-1')} {(hdr + body)!r}")
    if isinstance(op, Publish):
        return Reply("puback", body.decode("latin-1"))
    try:
        return api_reply(mask(json.loads(body)))
    except ValueError:
        return Reply("other", body.decode("latin-1"))


# ------------------------------------------------------------------------ model


def model_step(model: StreamModel, op: Op, impl: Reply) -> Reply:
    """Apply ``op`` to the model. ``impl`` is used only for AdvanceTime: how far
    the harness could move its clock (its ms, or 0 on a real-time server)."""
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
        return Reply("none", extra=rp) if text == "" else Reply("puback", text, rp)
    if isinstance(op, CreateStream):
        req = config_request(op)
        return api_reply(model.create(req["name"], req))
    if isinstance(op, UpdateStream):
        req = config_request(op)
        return api_reply(model.update(req["name"], req))
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
SETUP = CONNECT + f"SUB {INBOX}.> 1\r\nSUB rp.> 2\r\n".encode()
CLEANUP = [DeleteStream(s) for s in STREAMS]

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
        self.js = JetStreamService(self.broker, clock=lambda: self.now, server_name="natsd")
        self.client = self.broker.new_client(self.now)
        self.client.receive(SETUP)
        self.client.out.clear()
        self.n = 0

    def apply(self, op: Op) -> dict[str, Reply]:
        if isinstance(op, AdvanceTime):
            self.now += op.ms * 1_000_000
            self.js.tick(self.now)
            return {"core": Reply("time", str(op.ms))}
        self.n += 1
        reply = f"{INBOX}.{self.n}"
        self.client.receive(encode_request(op, reply))
        buf = bytearray(self.client.out)
        self.client.out.clear()
        self.broker.dirty.clear()
        got: list[Reply] = []
        extra: list[str] = []
        for line, body in take_frames(buf):
            if body is not None and line.split()[2] == REPUBLISH_SID:
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


@contextlib.contextmanager
def core_session() -> Iterator[Any]:
    yield CoreHarness


# ------------------------------------------------------------------ wire harness

REPLY_TIMEOUT = 5.0


class HarnessError(RuntimeError):
    """The server did not answer as the protocol requires (closed, garbage)."""


class _Conn:
    """One raw client connection to one server."""

    def __init__(self, host: str, port: int, timeout: float = REPLY_TIMEOUT) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.n = 0
        self.extra: list[str] = []
        self.sock.sendall(SETUP + b"PING\r\n")
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
        self.n += 1
        reply = f"{INBOX}.{self.n}".encode()
        self.extra.clear()
        self.sock.sendall(encode_request(op, reply.decode()))
        brief = isinstance(op, Publish) and op.subject == NO_ACK_SUBJECT
        got = self._read_until(lambda line, body: body is not None and line.split()[1] == reply,
                               NO_ACK_WAIT if brief else None)
        extra = tuple(self.extra)
        if got is None:
            return Reply("none", extra=extra)
        return msgspec.structs.replace(observe(op, got[0], got[1] or b""), extra=extra)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class WireHarness(Harness):
    """One or more servers over TCP (one connection each), the same ops to all."""

    def __init__(self, servers: dict[str, Any]) -> None:
        self.sides = tuple(servers)
        self.conns = {side: _Conn(srv.host, srv.port) for side, srv in servers.items()}
        self._cleanup()

    def _cleanup(self) -> None:
        for conn in self.conns.values():
            for op in CLEANUP:
                conn.request(op)

    def apply(self, op: Op) -> dict[str, Reply]:
        if isinstance(op, AdvanceTime):  # real time: nothing to move
            return {side: Reply("time", "0") for side in self.sides}
        return {side: conn.request(op) for side, conn in self.conns.items()}

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
        new_model=StreamModel,
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
