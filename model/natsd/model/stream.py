"""Reference model of JetStream streams, as clients see them through the API.

The plainest statement of the stream semantics of spec/stream.toml for a
single server and the global account (memory and file storage): a dict of streams, each
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

An interest stream here has no consumers (stream.retention.interest.no_interest):
a publish uses its sequence but stores nothing, and switching a stream to
interest retention drops what it holds (a model with a consumer registry, the
consumer model, decides interest itself).

The parts live in their own modules: the config checks in
natsd.model.streamcfg, the messages and streams in natsd.model.stream_state,
purge/get/delete in natsd.model.stream_msgs (a base class of
:class:`StreamModel`), atomic batches in natsd.model.stream_batch, mirrors and
sources in natsd.model.stream_sources (copied by :meth:`StreamModel.settle`).

Coverage: every method adds to ``covered`` the spec rule ids (spec/stream.toml)
its call went through.

This module imports nothing from the implementation but ``natsd.api`` (the
error table generated from spec/errors.toml).
"""

from __future__ import annotations

import json

from natsd.api import errors as E
from natsd.model import stream_batch, stream_schedule, stream_sources
from natsd.model.stream_msgs import StreamMessages
from natsd.model.stream_state import (
    _INCR_INCOMPATIBLE,
    API_LEVEL,
    CREATE_T,
    DELETE_T,
    INFO_T,
    MAX_SUBJECT_DETAILS,
    SERVER,
    T0,
    TS,
    UPDATE_T,
    VER,
    ZERO_TIME,
    Msg,
    Stream,
    _err,
    _go_duration,
    _go_json,
    _go_uint,
    _header,
    _is_int,
    _parse_ttl,
    _remove_header,
    _time,
    _ttl_seconds,
    _valid_literal,
    encode_headers,
)
from natsd.model.streamcfg import (
    DEFAULT_DUPLICATE_WINDOW,
    check_config,
    subject_collide,
    subject_matches,
    transform,
)

__all__ = [
    "API_LEVEL",
    "DEFAULT_DUPLICATE_WINDOW",
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


class StreamModel(StreamMessages):
    """The streams of one server (global account, memory storage)."""

    #: The server's jetstream max_file_store in bytes (-1: no limit; the memory
    #: limit is taken as never reached): see :meth:`_server_bytes`.
    max_file_store = -1

    def __init__(self, now: int = T0) -> None:
        self.streams: dict[str, Stream] = {}
        self.republished: list[tuple[str, bytes, bytes]] = []
        #: the stream advisories sent (subject, action), appended to by create,
        #: update and delete (stream.advisories); the caller empties it
        self.advisories: list[tuple[str, str]] = []
        self.now = now
        self.covered: set[str] = set()

    def _cover(self, *rules: str) -> None:
        self.covered.update(rules)

    # -- config ----------------------------------------------------------------

    def normalise(self, name: str, req: dict) -> dict | E.ApiError:
        """The config Go stores for a create/update request, or the error it
        answers (:func:`natsd.model.streamcfg.check_config`)."""

        def lookup(other: str) -> dict | None:
            st = self.streams.get(other)
            return st.config if st is not None and other != name else None

        return check_config(name, req, self._cover, lookup)
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
        if details and st.config["storage"] == "file" and st.first_seq == st.last_seq == 0:
            self._cover("stream.bytes.file")
            deleted = [0]  # Go's file store State() of a never-written stream counts sequence 0 [obs]
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
        if req.get("name") != name:
            self._cover("stream.config.name_matches_subject")
            return {"type": CREATE_T, "error": _err(E.stream_mismatch())}
        if "/" in name or "\\" in name:
            self._cover("stream.config.name_matches_subject")
            return {"type": CREATE_T, "error": _err(E.stream_name_contains_path_separators())}
        if req.get("sealed"):
            self._cover("stream.config.sealed_on_create")
            return {"type": CREATE_T, "error": _err(E.stream_invalid_config(
                err="stream configuration for create can not be sealed"))}
        if req.get("mirror_direct") and not req.get("mirror"):
            self._cover("stream.config.mirror_direct")
            return {"type": CREATE_T, "error": _err(E.stream_invalid_config(
                err="stream has no mirror but does have mirror direct"))}
        bad = self._server_bytes(req.get("storage", ""), req.get("max_bytes", 0))
        if bad is not None:
            return {"type": CREATE_T, "error": _err(bad)}
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
                if any(subject_collide(a, b) for a in cfg.get("subjects", []) for b in other.config.get("subjects", [])):
                    self._cover("stream.config.subjects.overlap_streams")
                    return {"type": CREATE_T, "error": _err(E.stream_subject_overlap())}
            st = Stream(cfg, self.now)
            if cfg.get("first_seq"):
                self._cover("stream.first_seq")
                st.first_seq, st.last_seq = cfg["first_seq"], cfg["first_seq"] - 1
            self.streams[name] = st
            stream_sources.configure(st)
            self._advise("CREATED", name, "create")
        return {"type": CREATE_T, "config": self._config_reply(st), "created": TS,
                "state": self._state(st), **stream_sources.info(st, self._cover), "ts": TS, "did_create": True}

    def _file_store_full(self, st: Stream) -> bool:
        """Go ``js.limitsExceeded`` for a file stream: the file streams hold more
        than max_file_store."""
        return st.config["storage"] == "file" and 0 <= self.max_file_store < sum(
            s.bytes for s in self.streams.values() if s.config["storage"] == "file")

    def _server_bytes(self, storage: str, add: int) -> E.ApiError | None:
        """stream.config.account_limits, the server's part (Go ``checkBytesLimits``;
        the global account has no limits of its own): reserving ``add`` more bytes
        of file storage (a max_bytes; below 0 counts as 1) beyond what
        max_file_store leaves after the file streams' max_bytes is 10047. Create
        checks the request as sent, before the config checks (an absent storage
        reserves nothing); update checks what max_bytes grew by."""
        if storage != "file" or self.max_file_store < 0:
            return None
        add = 1 if add < 0 else add
        reserved = sum(s.config["max_bytes"] for s in self.streams.values()
                       if s.config["storage"] == "file" and s.config["max_bytes"] > 0)
        if reserved > self.max_file_store or add > self.max_file_store - reserved:
            self._cover("stream.config.account_limits")
            return E.storage_resources_exceeded()
        return None

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
        cfg = self.normalise(req.get("name") or "", req)
        if isinstance(cfg, E.ApiError):
            return {"type": UPDATE_T, "error": _err(cfg)}
        if req.get("name") != name:
            self._cover("stream.config.name_matches_subject")
            return {"type": UPDATE_T, "error": _err(E.stream_mismatch())}
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
        if cfg["retention"] != old["retention"] and "workqueue" in (cfg["retention"], old["retention"]):
            return refuse("stream configuration update can not change retention policy to/from workqueue")
        if old["sealed"] and not cfg["sealed"]:
            return refuse("stream configuration update can not unseal a sealed stream")
        if old["deny_delete"] and not cfg["deny_delete"]:
            return refuse("stream configuration update can not cancel deny message deletes")
        if old["deny_purge"] and not cfg["deny_purge"]:
            return refuse("stream configuration update can not cancel deny purge")
        if cfg.get("mirror") and cfg["mirror"] != old.get("mirror"):
            self._cover("stream.update.mirror")
            return {"type": UPDATE_T, "error": _err(E.stream_mirror_not_updatable())}
        if old["allow_msg_ttl"] and not cfg["allow_msg_ttl"]:
            return refuse("message TTL status can not be disabled")
        if bool(req.get("allow_msg_counter")) != bool(old.get("allow_msg_counter")):
            return refuse("stream configuration update can not change message counter setting")
        if old.get("allow_msg_schedules") and not cfg.get("allow_msg_schedules"):
            return refuse("message schedules can not be disabled")
        if cfg["sealed"]:
            self._cover("stream.update.seal")
            cfg.update(max_age=0, discard="new", deny_delete=True, deny_purge=True, allow_rollup_hdrs=False)
        bad = self._server_bytes(cfg["storage"], max(max(cfg["max_bytes"], 0) - max(old["max_bytes"], 0), 0))
        if bad is not None:
            return {"type": UPDATE_T, "error": _err(bad)}
        for other in self.streams.values():
            if other is not st and any(
                subject_collide(a, b) for a in cfg.get("subjects", []) for b in other.config.get("subjects", [])
            ):
                self._cover("stream.config.subjects.overlap_streams")
                return {"type": UPDATE_T, "error": _err(E.stream_subject_overlap())}
        self._cover("stream.update.limits")
        if old.get("mirror") and not cfg.get("mirror"):
            self._cover("stream.update.mirror")  # the mirror is promoted to a normal stream
        st.config = cfg
        stream_sources.configure(st)
        if cfg["retention"] == "interest" and old["retention"] != "interest" and not (
                getattr(self, "consumers", None) or {}).get(name):
            # Go removes what no consumer is interested in: without consumers, every message
            self._cover("stream.retention.interest.no_interest")
            for m in list(st.msgs):
                self._remove(st, m.seq)
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
        self._advise("UPDATED", name, "modify")
        return {"type": UPDATE_T, "config": self._config_reply(st), "created": TS, "state": self._state(st),
                **stream_sources.info(st, self._cover), "ts": TS}

    def delete(self, name: str) -> dict:
        """$JS.API.STREAM.DELETE.<name>. stream.delete.cleanup: the stream and its
        messages (and dedupe state) are gone; the name and subjects are free again."""
        if self.streams.pop(name, None) is None:
            return {"type": DELETE_T, "error": _err(E.stream_not_found())}
        self._cover("stream.delete.cleanup")
        self._advise("DELETED", name, "delete")
        return {"type": DELETE_T, "success": True}

    def _advise(self, what: str, name: str, action: str) -> None:
        """stream.advisories: a stream_action advisory on
        $JS.EVENT.ADVISORY.STREAM.<what>.<name> (created, updated, deleted; an
        idempotent create sends none)."""
        self._cover("stream.advisories")
        self.advisories.append((f"$JS.EVENT.ADVISORY.STREAM.{what}.{name}", action))

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
                "cluster": {"leader": SERVER}, **stream_sources.info(st, self._cover), "ts": TS}

    def settle(self) -> None:
        """Copy what mirrors and sources have not copied yet (the oracle calls
        this once the servers have settled): natsd.model.stream_sources. Due
        message schedules (natsd.model.stream_schedule) fire after what is
        stored has been copied, and what they produce is copied next: a mirror
        or source takes a schedule message at once, while Go fires it at the
        earliest 250 ms after it was stored (and then removes it)."""
        stream_sources.settle(self)
        for st in list(self.streams.values()):
            stream_schedule.fire(self, st)
        stream_sources.settle(self)

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
        if _header(headers, "Nats-Batch-Id") and self._file_store_full(st):
            # Go processJetStreamAtomicBatchMsg checks the server's limits right
            # after sealed (max_msg_size comes first here: see above)
            self._cover("stream.limit.account_resources")
            return reject(E.insufficient_resources())
        if _header(headers, "Nats-Batch-Id") and st.config.get("allow_atomic"):
            plain = tuple((k, v) for k, v in headers if k != "Nats-Request-Info")
            return stream_batch.publish(self, st, subject, plain, data, reject)
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
        checked, sched_err = stream_schedule.check(self, st, subject, hdr)
        if sched_err is not None:
            return reject(sched_err)
        if checked != hdr:  # a schedule is stored as a rollup of its subject
            hdr, headers = checked, (*headers, ("Nats-Rollup", "sub"))
        schedule_next, scheduler = _header(headers, "Nats-Schedule-Next"), _header(headers, "Nats-Scheduler")
        if schedule_next:
            self._cover("stream.schedule.purge")
            if schedule_next != "purge" or not scheduler or scheduler == subject or not _valid_literal(scheduler):
                return reject(E.message_schedules_scheduler_invalid())
            if not st.config.get("allow_msg_schedules"):
                self._cover("stream.schedule.disabled")
                return reject(E.message_schedules_disabled())
            last = st.last_matching(scheduler)
            if last is not None and not stream_schedule.is_schedule(last.hdr):
                return reject(E.message_schedules_scheduler_invalid())
        elif scheduler:
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
        if self._file_store_full(st):
            # stream.limit.account_resources: the server holds more than max_file_store
            # (checked before this message is stored, so the last one in may cross it)
            self._cover("stream.limit.account_resources")
            return reject(E.insufficient_resources())
        if st.config["retention"] == "interest" and not self._interested(st, subject):
            return self._skip_no_interest(st, subject, msg_id, rollup)
        ttl = _parse_ttl(_header(headers, "Nats-TTL"))
        if _header(headers, "Nats-TTL"):
            self._cover("stream.ttl.parse")
        if ttl is None:
            return reject(E.message_ttl_invalid())
        msg = self._new_msg(st, subject, hdr, data, ttl)
        refused = self._discard_new(st, msg, bool(rollup))
        if refused:
            return reject(E.stream_store_failed(err=refused))
        self._accept(st, msg, msg_id, rollup)
        self._cover("stream.publish.puback")
        if total is not None:
            return _go_json({"stream": name, "seq": msg.seq, "val": total})
        return _go_json({"stream": name, "seq": msg.seq})

    def _new_msg(self, st: Stream, subject: str, hdr: bytes, data: bytes, ttl: int) -> Msg:
        """The message to store at the next sequence. stream.ttl.marker_minimum:
        with subject delete markers (and max_msgs_per_subject != 1) a shorter
        Nats-TTL is raised to the marker TTL and the header rewritten."""
        sdm = st.config.get("subject_delete_marker_ttl", 0) // 10**9
        if ttl > 0 and sdm > 0 and st.limit("max_msgs_per_subject") != 1:
            self._cover("stream.ttl.marker_minimum")
            if ttl < sdm:
                ttl = sdm
                hdr = _remove_header(hdr, "Nats-TTL")
                hdr = (hdr[:-2] if hdr else b"NATS/1.0\r\n") + f"Nats-TTL: {ttl}\r\n\r\n".encode()
        return Msg(st.last_seq + 1, subject, hdr, data, self.now, ttl)

    def _accept(self, st: Stream, msg: Msg, msg_id: str, rollup: str) -> None:
        """Store a message that passed its checks, then what follows a store:
        the dedupe record, the rollup and the republish."""
        prev = st.last_matching(msg.subject)
        self._store(st, msg)
        if msg_id and st.config.get("duplicate_window", 0) > 0:
            st.msg_ids[msg_id] = (msg.seq, msg.ts)
        st.last_msg_id = msg_id
        if rollup == "sub":
            self._cover("stream.rollup.sub")
            self._purge_ex(st, msg.subject, 0, 1)
        elif rollup == "all":
            self._cover("stream.rollup.all")
            self._purge_ex(st, "", 0, 1)
        if st.config.get("allow_rollup_hdrs") and not st.config.get("deny_purge"):
            # Go processJetStreamMsgWithRollup runs only where rollups may purge
            # (a mirror or source copying a fired schedule's message does not).
            stream_schedule.after_store(self, st, msg.hdr)
        rp = st.config.get("republish")
        dest = transform(rp.get("src") or ">", rp["dest"], msg.subject) if rp else None
        if dest is not None:
            self._republish(st, dest, msg, prev.seq if prev is not None else 0, bool(rp.get("headers_only")))

    def fast_publish(self, subject: str, data: bytes) -> str | None:
        """A publish whose reply subject marks a fast batch (``...$FI``): no
        stream here allows batched publish, so after the sealed and size
        checks it is refused with 10205 (stream.batch.fast); None when no
        stream captures the subject."""
        st = self.capturing(subject)
        if st is None:
            return None

        def reject(e: E.ApiError) -> str:
            return _go_json({"error": _err(e), "stream": st.name, "seq": 0})

        if st.config["sealed"]:
            return reject(E.stream_sealed())
        if self._file_store_full(st):
            self._cover("stream.limit.account_resources")
            return reject(E.insufficient_resources())
        if 0 <= st.limit("max_msg_size") < len(data):
            return reject(E.stream_message_exceeds_maximum())
        self._cover("stream.batch.fast")
        return reject(E.batch_publish_disabled())

    def _interested(self, st: Stream, subject: str) -> bool:
        """Does a consumer of ``st`` take ``subject``? Never here: this model has
        no consumers (the consumer model, natsd.model.consumer, answers itself)."""
        return False

    def _skip_no_interest(self, st: Stream, subject: str, msg_id: str, rollup: str) -> str:
        """stream.retention.interest.no_interest: an interest stream without
        consumers stores nothing; the sequence is used (a deleted one when
        messages remain), the time, message id and rollup apply, the PubAck is
        normal (Go ``SkipMsgNoInterest``). A model with a consumer registry (the
        consumer model) decides interest itself."""
        self._cover("stream.retention.interest.no_interest")
        st.last_seq += 1
        st.last_ts = self.now
        if not st.msgs:
            st.first_seq = st.last_seq + 1
        if msg_id and st.config.get("duplicate_window", 0) > 0:
            st.msg_ids[msg_id] = (st.last_seq, self.now)
        st.last_msg_id = msg_id
        if rollup == "sub":
            self._purge_ex(st, subject, 0, 0)
        elif rollup == "all":
            self._purge_ex(st, "", 0, 0)
        return _go_json({"stream": st.name, "seq": st.last_seq})

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
        if max_bytes > 0 and st.bytes + st.msg_size(msg) > max_bytes:
            if not at_limit or st.msg_size(same[0]) < st.msg_size(msg):
                self._cover("stream.discard.new.reject")
                return "maximum bytes exceeded"
            self._cover("stream.discard.new.per_subject_evicts")
        return ""

    def _store(self, st: Stream, msg: Msg) -> None:
        """Append, then the limits: per subject under both policies
        (stream.limit.max_msgs_per_subject), max_msgs and max_bytes from the
        front under discard old (stream.discard.old.evict)."""
        self._cover("stream.retention.limits",
                    "stream.bytes.file" if st.config["storage"] == "file" else "stream.bytes.memory")
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
        stream_schedule.stored(self, st, msg)

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

    # -- time ------------------------------------------------------------------

    def advance(self, ns: int) -> None:
        """Move the clock; expire what Go's timers would have expired by now.

        stream.limit.max_age: a message of age >= max_age is removed.
        stream.dedupe.expiry: a message id of age >= duplicate_window is forgotten.
        """
        self.now += ns
        for st in self.streams.values():
            self._expire(st)
            stream_batch.expire(self, st)

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
        window = st.config.get("duplicate_window", 0)
        for msg_id, (_, ts) in list(st.msg_ids.items()):
            if self.now - ts >= window:
                self._cover("stream.dedupe.expiry")
                del st.msg_ids[msg_id]

