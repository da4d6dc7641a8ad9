"""Reference model of JetStream streams, as clients see them through the API.

The plainest statement of the stream semantics of spec/stream.toml for a
single server, the global account and memory storage: a dict of streams, each
a list of stored messages plus a few counters. Every request returns the JSON
value the Go server replies with (a dict for $JS.API replies, the exact text
of a PubAck), with the values that are nondeterministic by definition already
replaced by the mask tokens of the oracle (``TS``, ``VER``, ``SERVER``).

It mirrors the observable behaviour of the Go server's server/stream.go
(``checkStreamCfg``, ``addStreamWithAssignmentAndMode``,
``processJetStreamMsgWithBatch``, ``processJetStreamMsgWithRollup``,
``purgeLocked``), server/memstore.go (``storeRawMsg``, ``enforce*Limit``,
``PurgeEx``, ``purge``, ``compact``, ``removeMsg``, ``expireMsgs``,
``FastState``, ``State``) and server/jetstream_api.go (the ``js*Request``
handlers for STREAM.CREATE/INFO/DELETE/PURGE and STREAM.MSG.GET/DELETE).

Theory of operation
-------------------
State: ``streams`` (name -> :class:`Stream`) and the clock ``now`` (integer
nanoseconds). A stream holds its normalised config (as STREAM.INFO shows it),
its stored messages in sequence order, ``first_seq``/``last_seq``, the time of
the last store, the Nats-Msg-Id of the last stored message and the dedupe
table (msg id -> (seq, ts)). Only the public methods change it: ``create``,
``update``, ``delete``, ``publish``, ``purge``, ``delete_msg`` and ``advance``; ``info`` and
``get_msg`` only read.

``first_seq`` is kept explicitly, as Go's store does: 0 for a stream that was
never written or purged; the lowest stored sequence while messages are stored;
``last_seq + 1`` once every message is gone (stream.state.after_purge).
``last_seq`` only grows (a purge up to a sequence past the end moves it to
that sequence - 1, as Go's ``compact``).

Time: every stored message takes ``now``; ``advance`` moves the clock and then
does what Go's timers would have done by then: messages of age >= max_age go
(stream.limit.max_age), message ids of age >= duplicate_window are forgotten
(stream.dedupe.expiry). Between two ``advance`` calls time stands still.

Coverage: every method adds to ``covered`` the spec rule ids (spec/stream.toml)
its call went through.

This module imports nothing from the implementation but ``natsd.api`` (the
error table generated from spec/errors.toml).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from natsd.api import errors as E

__all__ = [
    "API_LEVEL",
    "SERVER",
    "T0",
    "TS",
    "VER",
    "ZERO_TIME",
    "Msg",
    "Stream",
    "StreamModel",
    "encode_headers",
    "subject_collide",
    "subject_matches",
]

#: Mask tokens: a non-zero time, the server version, the server name (the oracle
#: puts them into the implementation's replies in the same places).
TS = "<ts>"
VER = "<ver>"
SERVER = "<server>"
#: Go's zero time.Time in JSON.
ZERO_TIME = "0001-01-01T00:00:00Z"
#: The model clock's start (ns); any non-zero value would do.
T0 = 1_700_000_000 * 10**9
#: The JetStream API level reported in _nats.level.
API_LEVEL = 5
#: Go's default duplicate window (StreamDefaultDuplicatesWindow), 2 minutes.
DEFAULT_DUPLICATE_WINDOW = 120 * 10**9
#: JSMaxSubjectDetails: the page size of STREAM.INFO subjects.
MAX_SUBJECT_DETAILS = 100_000

_T = "io.nats.jetstream.api.v1."
CREATE_T = _T + "stream_create_response"
INFO_T = _T + "stream_info_response"
UPDATE_T = _T + "stream_update_response"
DELETE_T = _T + "stream_delete_response"
PURGE_T = _T + "stream_purge_response"
MSG_GET_T = _T + "stream_msg_get_response"
MSG_DELETE_T = _T + "stream_msg_delete_response"

# ------------------------------------------------------------------- subjects


def subject_matches(pattern: str, subject: str) -> bool:
    """Does the (possibly wildcard) ``pattern`` match the literal ``subject``?"""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


def subject_collide(a: str, b: str) -> bool:
    """Could some literal subject match both patterns (Go ``SubjectsCollide``)?"""
    at, bt = a.split("."), b.split(".")
    for i in range(max(len(at), len(bt))):
        x = at[i] if i < len(at) else None
        y = bt[i] if i < len(bt) else None
        if x == ">" or y == ">":
            return x is not None and y is not None  # '>' needs at least one token
        if x is None or y is None:
            return False
        if x != y and x != "*" and y != "*":
            return False
    return True


def _valid_subject(subject: str) -> bool:
    """A valid subscription subject: non-empty tokens, '>' only last, no spaces."""
    if not subject or any(c in subject for c in " \t\r\n"):
        return False
    tokens = subject.split(".")
    return all(tokens) and ">" not in tokens[:-1]


# -------------------------------------------------------------------- headers


def encode_headers(headers: tuple[tuple[str, str], ...]) -> bytes:
    """The header block a client sends for ``headers`` (b"" for none)."""
    if not headers:
        return b""
    return ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()


def _header(headers: tuple[tuple[str, str], ...], key: str) -> str:
    """The first value of ``key`` ("" when absent), as Go's ``getHeader``."""
    for k, v in headers:
        if k == key:
            return v.strip()
    return ""


#: Headers a counter increment cannot be combined with (10171).
_INCR_INCOMPATIBLE = (
    "Nats-Rollup", "Nats-Expected-Stream", "Nats-Expected-Last-Msg-Id",
    "Nats-Expected-Last-Subject-Sequence-Subject", "Nats-Expected-Last-Sequence",
    "Nats-Expected-Last-Subject-Sequence",
)


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def _parse_ttl(text: str) -> int | None:
    """Nats-TTL as Go's ``getMessageTTL`` reads the values the campaign sends
    (stream.ttl.parse): "" -> 0 (none), "never" -> -1, a duration "<n>s" /
    "<n>m" / "<n>h" / "<n>ms" -> whole seconds (under 1s: invalid), an integer
    -> seconds; None when invalid."""
    if not text:
        return 0
    if text.lower() == "never":
        return -1
    units = {"ms": 10**-3, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            secs = int(text[: -len(unit)]) * units[unit]
            return None if secs < 1 else int(secs)
    return int(text) if text.isdigit() else None


def _ttl_seconds(text: str) -> int:
    """The TTL the 'disabled' check sees: an invalid value counts as none."""
    return _parse_ttl(text) or 0


def _remove_header(hdr: bytes, key: str) -> bytes:
    """Go ``removeHeaderIfPresent``: drop the ``key`` lines; b"" when none remain."""
    if not hdr:
        return hdr
    lines = hdr.split(b"\r\n")
    kept = [ln for ln in lines if not ln.startswith(key.encode() + b":")]
    out = b"\r\n".join(kept)
    return b"" if len(out) <= len(b"NATS/1.0\r\n\r\n") else out


def transform(src: str, dest: str, subject: str) -> str | None:
    """A subject transform (Go ``SubjectTransform.Match``) for the forms the
    campaign configures: the source's '*' tokens feed ``{{wildcard(n)}}`` in the
    destination, a trailing '>' in both carries the remaining tokens. None when
    the subject does not match the source."""
    if not subject_matches(src, subject):
        return None
    st, tokens = src.split("."), subject.split(".")
    wild = [t for p, t in zip(st, tokens, strict=False) if p == "*"]
    out = []
    for tok in dest.split("."):
        if tok.startswith("{{wildcard(") and tok.endswith(")}}"):
            out.append(wild[int(tok[len("{{wildcard(") : -3]) - 1])
        elif tok == ">":
            out.extend(tokens[len(st) - 1 :])
        else:
            out.append(tok)
    return ".".join(out)


def _go_duration(secs: int) -> str:
    """Go's time.Duration String for whole seconds: 7200 -> "2h0m0s"."""
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    return f"{m}m{s}s" if m else f"{s}s"


def _valid_literal(subject: str) -> bool:
    return _valid_subject(subject) and not any(t in ("*", ">") for t in subject.split("."))


def _go_uint(text: str) -> int:
    """Go's ``uint64(parseInt64(b))``: a non-number is -1, i.e. 2**64-1."""
    return int(text) if text.isdigit() else 2**64 - 1


# ----------------------------------------------------------------------- JSON


def _go_json(value: Any) -> str:
    """Go ``json.Marshal`` text: compact, with <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _err(e: E.ApiError) -> dict:
    return {"code": e.code, "err_code": e.err_code, "description": e.description}


def _time(ns: int) -> str:
    return TS if ns else ZERO_TIME


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------- state


@dataclass
class Msg:
    seq: int
    subject: str
    hdr: bytes  # the header block as sent, b"" when none
    data: bytes
    ts: int
    ttl: int = 0  # Nats-TTL in seconds, -1 never

    @property
    def size(self) -> int:
        """stream.bytes.memory: subject + headers + payload + 16 (Go memStoreMsgSize)."""
        return len(self.subject) + len(self.hdr) + len(self.data) + 16


@dataclass
class Stream:
    config: dict
    created: int
    msgs: list[Msg] = field(default_factory=list)
    first_seq: int = 0
    last_seq: int = 0
    last_ts: int = 0
    last_msg_id: str = ""
    msg_ids: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (seq, ts)
    #: an update lowered limits under discard new, which Go does not apply to
    #: what is stored: max_msgs / max_bytes may be exceeded from then on
    over_limit_ok: bool = False

    @property
    def name(self) -> str:
        return self.config["name"]

    def limit(self, key: str) -> int:
        return self.config[key]

    @property
    def bytes(self) -> int:
        return sum(m.size for m in self.msgs)

    def per_subject(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.msgs:
            out[m.subject] = out.get(m.subject, 0) + 1
        return out

    def captures(self, subject: str) -> bool:
        return any(subject_matches(p, subject) for p in self.config["subjects"])

    def last_matching(self, filter_subject: str) -> Msg | None:
        """The last stored message matching the filter (Go ``LoadLastMsg``). For
        '>' (or no filter) Go looks only at last_seq: once that message is gone
        (deleted, purged) there is no "last message", even if others remain."""
        if filter_subject in ("", ">"):
            return self.msgs[-1] if self.msgs and self.msgs[-1].seq == self.last_seq else None
        for m in reversed(self.msgs):
            if subject_matches(filter_subject, m.subject):
                return m
        return None


class StreamModel:
    """The streams of one server (global account, memory storage)."""

    def __init__(self, now: int = T0) -> None:
        self.streams: dict[str, Stream] = {}
        self.republished: list[tuple[str, bytes, bytes]] = []
        self.now = now
        self.covered: set[str] = set()

    def _cover(self, *rules: str) -> None:
        self.covered.update(rules)

    # -- config ----------------------------------------------------------------

    def normalise(self, name: str, req: dict) -> dict | E.ApiError:
        """The config Go stores for a create request, or the error it answers:
        the part of ``checkStreamCfg`` the campaign's configs reach, in Go's order.

        stream.config.description: at most 4096 bytes.
        stream.config.limits_normalise: 0 or < -1 limits become -1;
        stream.config.pedantic: with pedantic, < -1 is 10157 instead.
        stream.config.max_age: under 100ms (non-zero) is an error.
        stream.config.duplicate_window.default: 2m, or max_age when shorter;
        stream.config.duplicate_window.bounds: not above max_age.
        stream.config.rollup_needs_purge, stream.config.counter_compat,
        stream.config.discard_new_per_subject, stream.config.subject_delete_marker_ttl,
        stream.config.schedules_compat, stream.config.persist_mode.
        stream.config.subjects.default: no subjects -> [name];
        stream.config.subjects.valid / capture_all / reserved: each subject
        valid, not '>' and not in $JS.> without no_ack, no overlap with a later one.
        stream.config.placement: no preferred server.
        stream.config.api_level_metadata: _nats.req.level 0 stored (the reply
        adds _nats.level and _nats.ver); stream.metadata: user metadata kept.
        """
        pedantic = bool(req.get("pedantic"))

        def invalid(text: str) -> E.ApiError:
            return E.stream_invalid_config(err=text)

        self._cover("stream.config.name")
        if not name or any(c in name for c in " \t\r\n.*>/\\"):
            return invalid("stream name is required and can not contain '.', '*', '>', '\\', '/'")
        if len(name) > 255:
            return invalid("stream name is too long, maximum allowed is 255")
        if len(req.get("description") or "") > 4096:
            self._cover("stream.config.description")
            return invalid("stream description is too long, maximum allowed is 4096")
        if sum(len(k) + len(v) for k, v in (req.get("metadata") or {}).items()) > 131072:
            self._cover("stream.config.metadata")
            return invalid("stream metadata exceeds maximum size of 131072 bytes")
        limits = {}
        self._cover("stream.config.limits_normalise")
        for key in ("max_msgs", "max_msgs_per_subject", "max_bytes", "max_msg_size", "max_consumers"):
            v = int(req.get(key) or 0)
            if v == 0 or v < -1:
                if pedantic and v < -1:
                    self._cover("stream.config.pedantic")
                    return E.pedantic(err=f"{key} must be set to -1")
                v = -1
            limits[key] = v
        max_age = int(req.get("max_age") or 0)
        if max_age and max_age < 100_000_000:
            self._cover("stream.config.max_age")
            return invalid("max age needs to be >= 100ms")
        dup = int(req.get("duplicate_window") or 0)
        if dup == 0:
            self._cover("stream.config.duplicate_window.default")
            dup = max_age if max_age and max_age < DEFAULT_DUPLICATE_WINDOW else DEFAULT_DUPLICATE_WINDOW
        if max_age and dup > max_age:
            self._cover("stream.config.duplicate_window.bounds")
            return invalid("duplicates window can not be larger then max age")
        if req.get("deny_purge") and req.get("allow_rollup_hdrs"):
            self._cover("stream.config.rollup_needs_purge")
            return invalid("roll-ups require the purge permission")
        discard = (req.get("discard") or "old").lower()
        if req.get("allow_msg_counter") and discard == "new":
            self._cover("stream.config.counter_compat")
            return invalid("counter stream cannot use discard new")
        if req.get("discard_new_per_subject"):
            self._cover("stream.config.discard_new_per_subject")
            if discard != "new":
                return invalid("discard new per subject requires discard new policy to be set")
            if limits["max_msgs_per_subject"] <= 0:
                return invalid("discard new per subject requires max msgs per subject > 0")
        sdm = int(req.get("subject_delete_marker_ttl") or 0)
        if 0 < sdm < 1_000_000_000:
            self._cover("stream.config.subject_delete_marker_ttl")
            return invalid("subject delete marker TTL must be at least 1 second")
        if req.get("allow_msg_schedules") and discard == "new":
            self._cover("stream.config.schedules_compat")
            return invalid("message scheduling cannot use discard new")
        storage = req.get("storage") or "file"
        if req.get("persist_mode") == "async" and storage != "file":
            self._cover("stream.config.persist_mode")
            return invalid("async persist mode is only supported on file storage")
        subjects = list(req.get("subjects") or [])
        if not subjects:
            self._cover("stream.config.subjects.default")
            subjects = [name]
        else:
            self._cover("stream.config.subjects.valid")
            seen: set[str] = set()
            for i, subj in enumerate(subjects):
                if not _valid_subject(subj):
                    return invalid("invalid subject")
                if subj in seen:
                    return invalid("duplicate subjects detected")
                if subj == ">" and not req.get("no_ack"):
                    self._cover("stream.config.subjects.capture_all")
                    return invalid("capturing all subjects requires no-ack to be true")
                if not req.get("no_ack") and any(subject_collide(subj, ns) for ns in ("$JS.>", "$JSC.>", "$NRG.>")):
                    self._cover("stream.config.subjects.reserved")
                    return invalid("subjects that overlap with jetstream api require no-ack to be true")
                for later in subjects[i + 1 :]:
                    if subject_collide(later, subj):
                        return invalid(f"subject {json.dumps(subj)} overlaps with {json.dumps(later)}")
                seen.add(subj)
        if (req.get("placement") or {}).get("preferred"):
            self._cover("stream.config.placement")
            return invalid("preferred server not permitted in placement")
        self._cover("stream.config.api_level_metadata")
        cfg: dict = {
            "name": name,
            "subjects": subjects,
            "retention": "limits",
            "max_consumers": limits["max_consumers"],
            "max_msgs": limits["max_msgs"],
            "max_bytes": limits["max_bytes"],
            "max_age": max_age,
            "max_msgs_per_subject": limits["max_msgs_per_subject"],
            "max_msg_size": limits["max_msg_size"],
            "discard": discard,
            "storage": storage,
            "num_replicas": int(req.get("num_replicas") or 1),
            "duplicate_window": dup,
            "compression": "none",
        }
        if req.get("first_seq"):
            cfg["first_seq"] = int(req["first_seq"])
        cfg["allow_direct"] = bool(req.get("allow_direct"))
        cfg["mirror_direct"] = bool(req.get("mirror_direct"))  # create refuses it earlier
        if req.get("discard_new_per_subject"):
            cfg["discard_new_per_subject"] = True
        for key in ("sealed", "deny_delete", "deny_purge", "allow_rollup_hdrs"):
            cfg[key] = bool(req.get(key))
        cfg["consumer_limits"] = {}
        # subject delete markers turn on message TTLs and rollups (not pedantic)
        cfg["allow_msg_ttl"] = bool(req.get("allow_msg_ttl")) or sdm > 0
        if sdm > 0 and not cfg["allow_rollup_hdrs"]:
            cfg["allow_rollup_hdrs"], cfg["deny_purge"] = True, False
        if sdm > 0:
            cfg["subject_delete_marker_ttl"] = sdm
        for key in ("no_ack", "subject_transform", "republish"):
            if req.get(key):
                cfg[key] = req[key]
        if req.get("allow_msg_counter"):
            cfg["allow_msg_counter"] = True
        if req.get("metadata"):
            self._cover("stream.metadata")
        # counters need API level 2, message TTLs 1
        level = "2" if req.get("allow_msg_counter") else "1" if cfg["allow_msg_ttl"] else "0"
        cfg["metadata"] = {**(req.get("metadata") or {}), "_nats.req.level": level}
        return cfg

    # -- replies ---------------------------------------------------------------

    def _config_reply(self, st: Stream) -> dict:
        cfg = dict(st.config)
        cfg["metadata"] = {**cfg["metadata"], "_nats.level": str(API_LEVEL), "_nats.ver": VER}
        return cfg

    def _state(self, st: Stream, *, details: bool = False, subjects: str = "") -> dict:
        """StreamState as FastState (or State with details) reports it.

        stream.state.new, stream.state.after_purge, stream.state.counts.
        """
        state: dict = {
            "messages": len(st.msgs),
            "bytes": st.bytes,
            "first_seq": st.first_seq,
            "first_ts": _time(st.msgs[0].ts if st.msgs else 0),
            "last_seq": st.last_seq,
            "last_ts": _time(st.last_ts),
        }
        if st.first_seq == 0 and st.last_seq == 0:
            self._cover("stream.state.new")
        elif not st.msgs:
            self._cover("stream.state.after_purge")
        else:
            self._cover("stream.state.counts")
        per = st.per_subject()
        if per:
            state["num_subjects"] = len(per)
        if subjects:
            matching = {s: n for s, n in per.items() if subject_matches(subjects, s)}
            if matching:
                state["subjects"] = matching
        stored = {m.seq for m in st.msgs}
        deleted = [s for s in range(st.first_seq, st.last_seq + 1) if s not in stored] if st.msgs else []
        if deleted:
            state["num_deleted"] = len(deleted)
            if details:
                state["deleted"] = deleted
        state["consumer_count"] = 0
        return state

    def _lookup(self, name: str) -> Stream | None:
        return self.streams.get(name)

    # -- STREAM.CREATE / DELETE / INFO -------------------------------------------

    def create(self, name: str, req: dict) -> dict:
        """$JS.API.STREAM.CREATE.<name> with the request ``req`` (its name = ``name``).

        In the handler's order: stream.config.enums (discard decodes
        case-insensitively, else 10025); stream.config.sealed_on_create;
        stream.config.mirror_direct; the config checks of :meth:`normalise`;
        stream.config.replicas (above 1 on a standalone server: 10074);
        stream.create.idempotent: an existing stream with the same config is
        returned (did_create true), with another config 10058;
        stream.config.subjects.overlap_streams: 10065.
        """
        bad = self._decode_error(req)
        if bad is not None:
            return {"type": CREATE_T, "error": _err(bad)}
        if req.get("sealed"):
            self._cover("stream.config.sealed_on_create")
            return {"type": CREATE_T, "error": _err(E.stream_invalid_config(
                err="stream configuration for create can not be sealed"))}
        if req.get("mirror_direct") and not req.get("mirror"):
            self._cover("stream.config.mirror_direct")
            return {"type": CREATE_T, "error": _err(E.stream_invalid_config(
                err="stream has no mirror but does have mirror direct"))}
        cfg = self.normalise(name, req)
        if isinstance(cfg, E.ApiError):
            return {"type": CREATE_T, "error": _err(cfg)}
        if cfg["num_replicas"] > 1:
            self._cover("stream.config.replicas")
            return {"type": CREATE_T, "error": _err(E.stream_replicas_not_supported())}
        st = self.streams.get(name)
        if st is not None:
            self._cover("stream.create.idempotent")
            if st.config != cfg:
                return {"type": CREATE_T, "error": _err(E.stream_name_exist())}
        else:
            for other in self.streams.values():
                if any(subject_collide(a, b) for a in cfg["subjects"] for b in other.config["subjects"]):
                    self._cover("stream.config.subjects.overlap_streams")
                    return {"type": CREATE_T, "error": _err(E.stream_subject_overlap())}
            st = Stream(cfg, self.now)
            if cfg.get("first_seq"):
                self._cover("stream.first_seq")
                st.first_seq, st.last_seq = cfg["first_seq"], cfg["first_seq"] - 1
            self.streams[name] = st
        return {"type": CREATE_T, "config": self._config_reply(st), "created": TS,
                "state": self._state(st), "ts": TS, "did_create": True}

    def _decode_error(self, req: dict) -> E.ApiError | None:
        """stream.config.enums: discard decodes case-insensitively; another value
        fails decoding (10025) before any other check."""
        discard = req.get("discard")
        if discard is not None and discard.lower() not in ("old", "new"):
            self._cover("stream.config.enums")
            return E.invalid_json(err=f"can not unmarshal {json.dumps(json.dumps(discard))}")
        return None

    def update(self, name: str, req: dict) -> dict:
        """$JS.API.STREAM.UPDATE.<name> (Go ``jsStreamUpdateRequest``, ``configUpdateCheck``,
        ``updateWithAdvisory``, memstore ``UpdateConfig``).

        The config is checked (:meth:`normalise`) before the stream is looked up
        (stream.update.missing: 404 after that). stream.config.replicas;
        stream.update.immutable: storage and the counter setting cannot change;
        stream.update.one_way_flags: no unsealing, no cancelling deny_delete /
        deny_purge; stream.update.seal: sealing forces max_age 0, discard new,
        deny_delete, deny_purge and no rollups; stream.config.subjects.overlap_streams.
        stream.update.limits: the new limits apply at once - max_msgs and
        max_bytes only under discard old, max_msgs_per_subject when it is set or
        lowered, max_age and the duplicate window at the current time.
        """
        bad = self._decode_error(req)
        if bad is not None:
            return {"type": UPDATE_T, "error": _err(bad)}
        cfg = self.normalise(name, req)
        if isinstance(cfg, E.ApiError):
            return {"type": UPDATE_T, "error": _err(cfg)}
        st = self._lookup(name)
        if st is None:
            self._cover("stream.update.missing")
            return {"type": UPDATE_T, "error": _err(E.stream_not_found())}
        old = st.config

        def refuse(text: str) -> dict:
            return {"type": UPDATE_T, "error": _err(E.stream_invalid_config(err=text))}

        if cfg["num_replicas"] > 1:
            self._cover("stream.config.replicas")
            return {"type": UPDATE_T, "error": _err(E.stream_replicas_not_supported())}
        self._cover("stream.update.immutable", "stream.update.one_way_flags")
        if cfg["storage"] != old["storage"]:
            return refuse("stream configuration update can not change storage type")
        if old["sealed"] and not cfg["sealed"]:
            return refuse("stream configuration update can not unseal a sealed stream")
        if old["deny_delete"] and not cfg["deny_delete"]:
            return refuse("stream configuration update can not cancel deny message deletes")
        if old["deny_purge"] and not cfg["deny_purge"]:
            return refuse("stream configuration update can not cancel deny purge")
        if old["allow_msg_ttl"] and not cfg["allow_msg_ttl"]:
            return refuse("message TTL status can not be disabled")
        if bool(req.get("allow_msg_counter")) != bool(old.get("allow_msg_counter")):
            return refuse("stream configuration update can not change message counter setting")
        if cfg["sealed"]:
            self._cover("stream.update.seal")
            cfg.update(max_age=0, discard="new", deny_delete=True, deny_purge=True, allow_rollup_hdrs=False)
        for other in self.streams.values():
            if other is not st and any(
                subject_collide(a, b) for a in cfg["subjects"] for b in other.config["subjects"]
            ):
                self._cover("stream.config.subjects.overlap_streams")
                return {"type": UPDATE_T, "error": _err(E.stream_subject_overlap())}
        self._cover("stream.update.limits")
        st.config = cfg
        if cfg["discard"] == "old":
            self._enforce_old(st)
        elif (0 < cfg["max_msgs"] < len(st.msgs)) or (0 < cfg["max_bytes"] < st.bytes):
            st.over_limit_ok = True
        maxp, old_maxp = cfg["max_msgs_per_subject"], old["max_msgs_per_subject"]
        if maxp > 0 and (old_maxp <= 0 or maxp < old_maxp):
            for subject in list(st.per_subject()):
                same = [m for m in st.msgs if m.subject == subject]
                for m in same[: max(0, len(same) - maxp)]:
                    self._remove(st, m.seq)
        self._expire(st)
        return {"type": UPDATE_T, "config": self._config_reply(st), "created": TS, "state": self._state(st),
                "ts": TS}

    def delete(self, name: str) -> dict:
        """$JS.API.STREAM.DELETE.<name>. stream.delete.cleanup: the stream and its
        messages (and dedupe state) are gone; the name and subjects are free again."""
        if self.streams.pop(name, None) is None:
            return {"type": DELETE_T, "error": _err(E.stream_not_found())}
        self._cover("stream.delete.cleanup")
        return {"type": DELETE_T, "success": True}

    def info(self, name: str, req: dict | None) -> dict:
        """$JS.API.STREAM.INFO.<name>; ``req`` None for an empty body. The
        standalone reply has cluster {leader: <server name>} and total/offset/limit
        0 unless subjects_filter matched subjects."""
        req = req or {}
        st = self._lookup(name)
        if st is None:
            return {"type": INFO_T, "error": _err(E.stream_not_found()), "total": 0, "offset": 0, "limit": 0}
        state = self._state(st, details=bool(req.get("deleted_details")),
                            subjects=req.get("subjects_filter") or "")
        paging = {"total": 0, "offset": 0, "limit": 0}
        if "subjects" in state:
            paging = {"total": len(state["subjects"]), "offset": 0, "limit": MAX_SUBJECT_DETAILS}
        return {"type": INFO_T, **paging, "config": self._config_reply(st), "created": TS, "state": state,
                "cluster": {"leader": SERVER}, "ts": TS}

    # -- publish ---------------------------------------------------------------

    def capturing(self, subject: str) -> Stream | None:
        """stream.publish.capture: the stream whose subjects match (at most one:
        stream subjects never overlap)."""
        for st in self.streams.values():
            if st.captures(subject):
                return st
        return None

    def publish(self, subject: str, headers: tuple[tuple[str, str], ...], data: bytes) -> str | None:
        """A core publish with a reply subject: the PubAck text, None when no
        stream captures the subject, "" when the stream has no_ack
        (stream.publish.no_ack: no reply at all, not even an error). The
        messages republished by the publish are left in ``republished``:
        (subject, header block with Nats-Time-Stamp masked, payload)."""
        self.republished: list[tuple[str, bytes, bytes]] = []
        st = self.capturing(subject)
        text = self._publish(subject, headers, data)
        if st is not None and st.config.get("no_ack"):
            self._cover("stream.publish.no_ack")
            return ""
        return text

    def _publish(self, subject: str, headers: tuple[tuple[str, str], ...], data: bytes) -> str | None:
        """A core publish with a reply subject; the PubAck text, or None when no
        stream captures the subject (the client then gets no-responders).

        stream.counter.incr: on a counter stream (allow_msg_counter) Nats-Incr is
        added to the last value of the subject; the stored body is
        {"val":"<total>"} (headers kept as sent) and the PubAck adds "val".

        The checks run in Go's order (stream.publish.check_order): max_msg_size,
        Nats-Batch-Id (atomic publish disabled), Nats-Incr (counters disabled),
        expected stream, Nats-TTL (TTLs disabled), expected last subject sequence
        (and its subject), expected last sequence, Nats-Schedule /
        Nats-Schedule-Next / Nats-Scheduler (schedules disabled or invalid
        scheduler), Nats-Stream-Source (banned), duplicate id, expected last msg id, rollup
        permission and value, a counter stream's missing increment, the store's
        discard-new limits; then the store,
        per-subject and discard-old limits, the dedupe record and the rollup.
        """
        st = self.capturing(subject)
        if st is None:
            return None
        self._cover("stream.publish.capture")
        name = st.name
        hdr = encode_headers(headers)
        if _header(headers, "Nats-Request-Info"):
            # Go v2.15.1 strips it before max_msg_size is checked (observed)
            self._cover("stream.publish.request_info_stripped")
            hdr = _remove_header(hdr, "Nats-Request-Info")
        tr = st.config.get("subject_transform")
        if tr:
            self._cover("stream.publish.subject_transform")
            subject = transform(tr.get("src") or ">", tr["dest"], subject) or subject
        if headers:
            self._cover("stream.publish.check_order")

        def reject(e: E.ApiError) -> str:
            self._cover("stream.publish.error_puback")
            return _go_json({"error": _err(e), "stream": name, "seq": 0})

        if st.config["sealed"]:
            self._cover("stream.sealed")
            return reject(E.stream_sealed())
        # Go v2.15.1 checks max_msg_size before every header check (observed on
        # the wire; the main branch's processJetStreamMsgWithBatch checks it after
        # the rollup checks).
        max_size = st.limit("max_msg_size")
        if max_size >= 0 and len(hdr) + len(data) > max_size:
            self._cover("stream.limit.max_msg_size")
            return reject(E.stream_message_exceeds_maximum())
        if len(hdr) > 65535:
            self._cover("stream.limit.header_size")
            return reject(E.stream_header_exceeds_maximum())
        if _header(headers, "Nats-Batch-Id"):
            self._cover("stream.batch.atomic.disabled")
            return reject(E.atomic_publish_disabled())
        incr = _header(headers, "Nats-Incr")
        counter = bool(st.config.get("allow_msg_counter"))
        if incr:
            self._cover("stream.counter.errors")
            if not _is_int(incr):
                return reject(E.message_incr_invalid())
            if not counter:
                return reject(E.message_incr_disabled())
            if data:
                return reject(E.message_incr_payload())
            if any(_header(headers, k) for k in _INCR_INCOMPATIBLE):
                return reject(E.message_incr_invalid())
        expected_stream = _header(headers, "Nats-Expected-Stream")
        if expected_stream:
            self._cover("stream.expect.stream")
            if expected_stream != name:
                return reject(E.stream_not_match())
        if _ttl_seconds(_header(headers, "Nats-TTL")) and not st.config["allow_msg_ttl"]:
            self._cover("stream.ttl.disabled")
            return reject(E.message_ttl_disabled())
        last_subj_seq = _header(headers, "Nats-Expected-Last-Subject-Sequence")
        last_subj_subj = _header(headers, "Nats-Expected-Last-Subject-Sequence-Subject")
        if last_subj_seq:
            self._cover("stream.expect.last_subject_seq")
            if last_subj_subj:
                self._cover("stream.expect.last_subject_seq_subject")
            last = st.last_matching(last_subj_subj or subject)
            found = last.seq if last is not None else 0
            if found != _go_uint(last_subj_seq):
                return reject(E.stream_wrong_last_sequence(seq=found))
        elif last_subj_subj:
            self._cover("stream.expect.last_subject_seq_subject")
            return reject(E.stream_expected_last_seq_per_subject_invalid())
        last_seq = _header(headers, "Nats-Expected-Last-Sequence")
        if last_seq:
            self._cover("stream.expect.last_seq")
            if _go_uint(last_seq) != st.last_seq:
                return reject(E.stream_wrong_last_sequence(seq=st.last_seq))
        if _header(headers, "Nats-Schedule"):
            self._cover("stream.schedule.disabled")
            return reject(E.message_schedules_disabled())
        schedule_next, scheduler = _header(headers, "Nats-Schedule-Next"), _header(headers, "Nats-Scheduler")
        if schedule_next:
            self._cover("stream.schedule.purge")
            if schedule_next != "purge" or not scheduler or scheduler == subject or not _valid_literal(scheduler):
                return reject(E.message_schedules_scheduler_invalid())
            self._cover("stream.schedule.disabled")
            return reject(E.message_schedules_disabled())
        if scheduler:
            self._cover("stream.schedule.purge")
            return reject(E.message_schedules_scheduler_invalid())
        if _header(headers, "Nats-Stream-Source"):
            self._cover("stream.source_header_banned")
            return reject(E.message_source_hdr_not_allowed())
        if _header(headers, "Nats-Required-Api-Level"):
            self._cover("stream.publish.required_api_level")  # not checked on a plain publish: stored
        msg_id = _header(headers, "Nats-Msg-Id")
        if msg_id and msg_id in st.msg_ids:
            self._cover("stream.dedupe.window")
            return _go_json({"stream": name, "seq": st.msg_ids[msg_id][0]})[:-1] + ',"duplicate": true}'
        last_msg_id = _header(headers, "Nats-Expected-Last-Msg-Id")
        if last_msg_id:
            self._cover("stream.expect.last_msg_id")
            if last_msg_id != st.last_msg_id:
                return reject(E.stream_wrong_last_msg_id(id=st.last_msg_id))
        rollup = _header(headers, "Nats-Rollup").lower()
        if rollup:
            if not st.config["allow_rollup_hdrs"] or st.config["deny_purge"]:
                self._cover("stream.rollup.not_permitted")
                return reject(E.stream_rollup_failed(err="rollup not permitted"))
            if rollup not in ("sub", "all"):
                self._cover("stream.rollup.invalid")
                return reject(E.stream_rollup_failed(err=f"rollup value invalid: {json.dumps(rollup)}"))
        total = None
        if counter:
            if not incr:
                self._cover("stream.counter.errors")
                return reject(E.message_incr_missing())
            self._cover("stream.counter.incr")
            last = st.last_matching(subject)
            total = str((int(json.loads(last.data)["val"]) if last is not None else 0) + int(incr))
            data = _go_json({"val": total}).encode()
        ttl = _parse_ttl(_header(headers, "Nats-TTL"))
        if _header(headers, "Nats-TTL"):
            self._cover("stream.ttl.parse")
        if ttl is None:
            return reject(E.message_ttl_invalid())
        sdm = st.config.get("subject_delete_marker_ttl", 0) // 10**9
        if ttl > 0 and sdm > 0 and st.limit("max_msgs_per_subject") != 1:
            self._cover("stream.ttl.marker_minimum")
            if ttl < sdm:
                ttl = sdm
                hdr = _remove_header(hdr, "Nats-TTL")
                hdr = (hdr[:-2] if hdr else b"NATS/1.0\r\n") + f"Nats-TTL: {ttl}\r\n\r\n".encode()
        msg = Msg(st.last_seq + 1, subject, hdr, data, self.now, ttl)
        refused = self._discard_new(st, msg, bool(rollup))
        if refused:
            return reject(E.stream_store_failed(err=refused))
        prev = st.last_matching(subject)
        self._store(st, msg)
        if msg_id and st.config["duplicate_window"] > 0:
            st.msg_ids[msg_id] = (msg.seq, msg.ts)
        st.last_msg_id = msg_id
        if rollup == "sub":
            self._cover("stream.rollup.sub")
            self._purge_ex(st, subject, 0, 1)
        elif rollup == "all":
            self._cover("stream.rollup.all")
            self._purge_ex(st, "", 0, 1)
        rp = st.config.get("republish")
        dest = transform(rp.get("src") or ">", rp["dest"], subject) if rp else None
        if dest is not None:
            self._republish(st, dest, msg, prev.seq if prev is not None else 0, bool(rp.get("headers_only")))
        self._cover("stream.publish.puback")
        if total is not None:
            return _go_json({"stream": name, "seq": msg.seq, "val": total})
        return _go_json({"stream": name, "seq": msg.seq})

    def _republish(self, st: Stream, dest: str, msg: Msg, last_seq: int, headers_only: bool) -> None:
        """stream.republish: the stored headers plus Nats-Stream, Nats-Subject,
        Nats-Sequence, Nats-Time-Stamp and Nats-Last-Sequence (the previous
        sequence stored on the subject, 0 if none); stream.republish.headers_only:
        no payload, Nats-Msg-Size instead."""
        self._cover("stream.republish")
        head = msg.hdr[:-2] if msg.hdr else b"NATS/1.0\r\n"
        added = (f"Nats-Stream: {st.name}\r\nNats-Subject: {msg.subject}\r\nNats-Sequence: {msg.seq}\r\n"
                 f"Nats-Time-Stamp: {TS}\r\nNats-Last-Sequence: {last_seq}\r\n")
        data = msg.data
        if headers_only:
            self._cover("stream.republish.headers_only")
            added += f"Nats-Msg-Size: {len(data)}\r\n"
            data = b""
        self.republished.append((dest, head + added.encode() + b"\r\n", data))

    def _discard_new(self, st: Stream, msg: Msg, rollup: bool) -> str:
        """The store's discard-new refusal text, or "" (Go memstore ``storeRawMsg``).

        stream.discard.new_per_subject.reject: a subject at its limit refuses
        (unless the message is a rollup). stream.discard.new.reject: max_msgs /
        max_bytes refuse, except that a subject at its per-subject limit
        replaces its oldest message instead (stream.discard.new.per_subject_evicts),
        which for max_bytes is allowed only when that oldest message is at
        least as large as the new one.
        """
        if st.config["discard"] != "new":
            return ""
        maxp = st.limit("max_msgs_per_subject")
        same = [m for m in st.msgs if m.subject == msg.subject]
        at_limit = maxp > 0 and len(same) >= maxp
        if at_limit and st.config.get("discard_new_per_subject") and not rollup:
            self._cover("stream.discard.new_per_subject.reject")
            return "maximum messages per subject exceeded"
        max_msgs, max_bytes = st.limit("max_msgs"), st.limit("max_bytes")
        if max_msgs > 0 and len(st.msgs) >= max_msgs:
            if not at_limit:
                self._cover("stream.discard.new.reject")
                return "maximum messages exceeded"
            self._cover("stream.discard.new.per_subject_evicts")
        if max_bytes > 0 and st.bytes + msg.size > max_bytes:
            if not at_limit or same[0].size < msg.size:
                self._cover("stream.discard.new.reject")
                return "maximum bytes exceeded"
            self._cover("stream.discard.new.per_subject_evicts")
        return ""

    def _store(self, st: Stream, msg: Msg) -> None:
        """Append, then the limits: per subject under both policies
        (stream.limit.max_msgs_per_subject), max_msgs and max_bytes from the
        front under discard old (stream.discard.old.evict)."""
        self._cover("stream.retention.limits", "stream.bytes.memory")
        if not st.msgs:
            st.first_seq = msg.seq
        st.msgs.append(msg)
        st.last_seq = msg.seq
        st.last_ts = msg.ts
        maxp = st.limit("max_msgs_per_subject")
        if maxp > 0:
            same = [m for m in st.msgs if m.subject == msg.subject]
            for m in same[: max(0, len(same) - maxp)]:
                self._cover("stream.limit.max_msgs_per_subject")
                self._remove(st, m.seq)
        if st.config["discard"] == "old":
            self._enforce_old(st)

    def _enforce_old(self, st: Stream) -> None:
        """stream.discard.old.evict: drop from the front until max_msgs and max_bytes hold."""
        max_msgs, max_bytes = st.limit("max_msgs"), st.limit("max_bytes")
        while max_msgs > 0 and len(st.msgs) > max_msgs:
            self._cover("stream.discard.old.evict")
            self._remove(st, st.msgs[0].seq)
        while max_bytes > 0 and st.bytes > max_bytes:
            self._cover("stream.discard.old.evict")
            self._remove(st, st.msgs[0].seq)

    def _remove(self, st: Stream, seq: int) -> bool:
        """Remove one message (Go ``removeMsg``); first_seq follows."""
        for i, m in enumerate(st.msgs):
            if m.seq == seq:
                del st.msgs[i]
                st.first_seq = st.msgs[0].seq if st.msgs else st.last_seq + 1
                return True
        return False

    # -- purge -----------------------------------------------------------------

    def _purge_ex(self, st: Stream, subject: str, seq: int, keep: int) -> int:
        """Go memstore ``PurgeEx(subject, seq, keep)``; the number removed.

        No subject (or '>') without seq and keep: everything (first_seq =
        last_seq + 1, also on a new stream). No subject with seq: everything
        below seq; seq past the end empties the stream and moves last_seq to
        seq - 1. Otherwise the messages matching the subject (below seq when
        given), all but the newest ``keep``. seq 1 removes nothing.
        """
        if seq == 1:
            return 0
        if subject in ("", ">"):
            if keep == 0 and seq == 0:
                n = len(st.msgs)
                st.msgs.clear()
                st.first_seq = st.last_seq + 1
                return n
            if seq > 1:
                return self._compact(st, seq)
            subject = ">"
        matching = [m for m in st.msgs if subject_matches(subject, m.subject)]
        if not matching:
            return 0
        if keep:
            if keep >= len(matching):
                return 0
            matching = matching[: len(matching) - keep]
        if seq:
            matching = [m for m in matching if m.seq < seq]
        for m in matching:
            self._remove(st, m.seq)
        return len(matching)

    def _compact(self, st: Stream, seq: int) -> int:
        """Go memstore ``compact(seq)``: remove every message below seq."""
        if st.first_seq > seq:
            return 0
        if seq <= st.last_seq:
            below = [m for m in st.msgs if m.seq < seq]
            st.msgs = [m for m in st.msgs if m.seq >= seq]
            st.first_seq = st.msgs[0].seq if st.msgs else st.last_seq + 1
            return len(below)
        n = len(st.msgs)
        st.msgs.clear()
        st.first_seq, st.last_seq = seq, seq - 1
        return n

    def purge(self, name: str, body: bytes) -> dict:
        """$JS.API.STREAM.PURGE.<name>. A body that is not a JSON object purges
        everything; seq with keep is a bad request (checked before the stream is
        looked up). stream.deny_purge; stream.purge.semantics."""
        req = json.loads(body) if body.strip().startswith(b"{") else None
        if req is not None and int(req.get("seq") or 0) > 0 and int(req.get("keep") or 0) > 0:
            return {"type": PURGE_T, "error": _err(E.bad_request()), "purged": 0}
        st = self._lookup(name)
        if st is None:
            return {"type": PURGE_T, "error": _err(E.stream_not_found()), "purged": 0}
        if st.config["sealed"]:
            self._cover("stream.sealed")
            return {"type": PURGE_T, "error": _err(E.stream_sealed()), "purged": 0}
        if st.config["deny_purge"]:
            self._cover("stream.deny_purge")
            return {"type": PURGE_T, "error": _err(E.stream_purge_failed(err="stream purge not permitted")),
                    "purged": 0}
        self._cover("stream.purge.semantics")
        req = req or {}
        n = self._purge_ex(st, req.get("filter") or "", int(req.get("seq") or 0), int(req.get("keep") or 0))
        return {"type": PURGE_T, "success": True, "purged": n}

    # -- STREAM.MSG.GET / DELETE -------------------------------------------------

    def get_msg(self, name: str, body: bytes) -> dict:
        """$JS.API.STREAM.MSG.GET.<name>: by seq, last_by_subj (wildcards allowed)
        or next_by_subj (from seq). An empty request or conflicting fields are a
        bad request, checked before the stream is looked up."""
        req = json.loads(body) if body.strip() else {}
        seq, last_for, next_for = int(req.get("seq") or 0), req.get("last_by_subj") or "", req.get("next_by_subj") or ""
        if not req or (seq and last_for) or (not seq and not last_for and not next_for) or (last_for and next_for):
            return {"type": MSG_GET_T, "error": _err(E.bad_request())}
        st = self._lookup(name)
        if st is None:
            return {"type": MSG_GET_T, "error": _err(E.stream_not_found())}
        found: Msg | None = None
        if seq and not next_for:
            found = next((m for m in st.msgs if m.seq == seq), None)
        elif next_for:
            found = next((m for m in st.msgs if m.seq >= seq and subject_matches(next_for, m.subject)), None)
        else:
            found = st.last_matching(last_for)
        if found is None:
            return {"type": MSG_GET_T, "error": _err(E.no_message_found())}
        message: dict = {"subject": found.subject, "seq": found.seq}
        if found.hdr:
            message["hdrs"] = _b64(found.hdr)
        if found.data:
            message["data"] = _b64(found.data)
        message["time"] = TS
        return {"type": MSG_GET_T, "message": message}

    def direct_get(self, name: str, last_subject: str | None, body: bytes) -> tuple[bytes, bytes] | None:
        """$JS.API.DIRECT.GET.<name> (``last_subject`` None) or
        $JS.API.DIRECT.GET.<name>.<last_subject>: the reply's header block and
        payload, or None when nothing answers (no such stream, or allow_direct
        off: the client gets no-responders). stream.allow_direct.

        Single requests only (no batch, no multi_last). The reply carries the
        stored headers plus Nats-Stream, Nats-Subject, Nats-Sequence and
        Nats-Time-Stamp (masked); errors are status headers (408, 404).
        """
        st = self._lookup(name)
        if st is None or not st.config["allow_direct"]:
            return None
        self._cover("stream.allow_direct")

        def status(text: str) -> tuple[bytes, bytes]:
            return f"NATS/1.0 {text}\r\n\r\n".encode(), b""

        req = json.loads(body) if body.strip() else {}
        seq, last_for, next_for = int(req.get("seq") or 0), req.get("last_by_subj") or "", req.get("next_by_subj") or ""
        if last_subject is None:
            if not body:
                return status("408 Empty Request")
            if not seq and not last_for and not next_for:
                return status("408 Empty Request")
            if (seq and last_for) or (last_for and next_for):
                return status("408 Bad Request")
        else:
            if seq or last_for or next_for:
                return status("408 Bad Request")
            last_for = last_subject
        if seq and not next_for:
            found = next((m for m in st.msgs if m.seq == seq), None)
        elif next_for:
            found = next((m for m in st.msgs if m.seq >= seq and subject_matches(next_for, m.subject)), None)
        else:
            found = st.last_matching(last_for)
        if found is None:
            return status("404 Message Not Found")
        head = found.hdr[:-2] if found.hdr else b"NATS/1.0\r\n"
        added = f"Nats-Stream: {name}\r\nNats-Subject: {found.subject}\r\nNats-Sequence: {found.seq}\r\n"
        return head + added.encode() + f"Nats-Time-Stamp: {TS}\r\n\r\n".encode(), found.data

    def delete_msg(self, name: str, body: bytes) -> dict:
        """$JS.API.STREAM.MSG.DELETE.<name>. An empty request is a bad request;
        stream.deny_delete; a sequence not stored is 10043. no_erase changes
        nothing visible (the memory store overwrites the erased data)."""
        req = json.loads(body) if body.strip() else {}
        if not req:
            return {"type": MSG_DELETE_T, "error": _err(E.bad_request())}
        st = self._lookup(name)
        if st is None:
            return {"type": MSG_DELETE_T, "error": _err(E.stream_not_found())}
        if st.config["sealed"]:
            self._cover("stream.sealed")
            return {"type": MSG_DELETE_T, "error": _err(E.stream_sealed())}
        if st.config["deny_delete"]:
            self._cover("stream.deny_delete")
            return {"type": MSG_DELETE_T, "error": _err(E.stream_msg_delete_failed(err="message delete not permitted"))}
        seq = int(req.get("seq") or 0)
        if not self._remove(st, seq):
            return {"type": MSG_DELETE_T, "error": _err(E.sequence_not_found(seq=seq))}
        return {"type": MSG_DELETE_T, "success": True}

    # -- time ------------------------------------------------------------------

    def advance(self, ns: int) -> None:
        """Move the clock; expire what Go's timers would have expired by now.

        stream.limit.max_age: a message of age >= max_age is removed.
        stream.dedupe.expiry: a message id of age >= duplicate_window is forgotten.
        """
        self.now += ns
        for st in self.streams.values():
            self._expire(st)

    def _expire_msg(self, st: Stream, m: Msg) -> None:
        """Remove an expired message (max_age or its TTL). stream.ttl.delete_marker:
        with subject_delete_marker_ttl, when it is the last message of its subject
        (and not itself a marker) the server instead stores a marker on the
        subject - no payload, headers Nats-Marker-Reason: MaxAge, Nats-TTL: <the
        marker TTL as a Go duration>, Nats-Rollup: sub - whose rollup removes it
        (Go memstore ``expireMsgs``, ``handleRemovalOrSdm``)."""
        if not any(x.seq == m.seq for x in st.msgs):
            return
        sdm = st.config.get("subject_delete_marker_ttl", 0) // 10**9
        last = sum(1 for x in st.msgs if x.subject == m.subject) == 1
        if not sdm or not last or b"\r\nNats-Marker-Reason:" in m.hdr:
            self._remove(st, m.seq)
            return
        self._cover("stream.ttl.delete_marker")
        hdr = (f"NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: {_go_duration(sdm)}\r\n"
               "Nats-Rollup: sub\r\n\r\n").encode()
        marker = Msg(st.last_seq + 1, m.subject, hdr, b"", self.now, sdm)
        self._store(st, marker)
        st.last_msg_id = ""
        self._purge_ex(st, m.subject, 0, 1)

    def _expire(self, st: Stream) -> None:
        max_age = st.config["max_age"]
        if max_age:
            for m in [m for m in st.msgs if m.ts <= self.now - max_age and m.ttl >= 0]:
                self._cover("stream.limit.max_age")
                self._expire_msg(st, m)
        for m in [m for m in st.msgs if m.ttl > 0 and m.ts + m.ttl * 10**9 <= self.now]:
            self._cover("stream.ttl.expiry")
            self._expire_msg(st, m)
        window = st.config["duplicate_window"]
        for msg_id, (_, ts) in list(st.msg_ids.items()):
            if self.now - ts >= window:
                self._cover("stream.dedupe.expiry")
                del st.msg_ids[msg_id]
