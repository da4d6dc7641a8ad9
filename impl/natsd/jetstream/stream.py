"""The stream core: one JetStream stream as a synchronous state machine.

Mirrors nats-server server/stream.go ``processJetStreamMsgWithBatch`` (the
standalone path: every check in Go's order, so the first failure is Go's),
``processJetStreamMsgWithRollup``, ``purgeLocked``, ``checkMsgId`` /
``storeMsgId`` / ``purgeMsgIds`` (dedupe), ``getDirectRequest`` /
``getDirectMulti`` and the request checks of ``processDirectGetRequest``,
the stream parts of server/jetstream_api.go ``jsStreamPurgeRequest``,
``jsMsgGetRequest``, ``jsMsgDeleteRequest`` and ``jsStreamInfoRequest``, and
the subject-delete-marker handling of server/memstore.go ``expireMsgs``.

Theory of operation
-------------------
State: the (checked) ``config``, ``created`` (ns), the ``store`` (a
``StreamStore``; ``MemStore`` for both storage types until the file store
lands), the dedupe table (Nats-Msg-Id -> (seq, ts), in insertion order), the
last stored Nats-Msg-Id, the compiled input subject transform and republish
transform, and an outbox of republished messages. ``consumer_count``,
``interest``, ``on_stored`` and ``on_purged`` belong to the consumer layer,
which sets them. Nothing else mutates this state.

Inputs, each with ``now`` (int ns) where time matters:

- ``process_msg(subject, hdr, data, now)`` -> ``PubAck`` or ``ApiError``.
  Checks in Go's order: file record too large (10077), sealed (10109),
  max_msg_size (10054), header size (10097) [obs: v2.15.1 order], header checks (counter 10168-10171, expected stream 10060, TTL allowed
  10166, expected last subject sequence 10071/10193, expected last
  sequence 10071, schedules 10188/10212, Nats-Stream-Source 10227), dedupe
  (duplicate PubAck), expected last msg id 10070, rollup 10111, counter
  missing 10169, counter body size 10054, no-interest skip,
  TTL value 10165, store limits (503/10077). A stored message then runs its
  rollup purge, is remembered for dedupe, and is republished into the outbox.
- ``purge``, ``get_msg``, ``delete_msg``, ``direct_get``/``direct_get_last``,
  ``info`` (reads), ``update(cfg)`` (a config already passed
  ``check_update``).
- ``expire(now)``: max_age/TTL expiry (with subject delete markers) and
  dedupe pruning; ``next_deadline()`` says when to call it next.

Outputs: return values, ``drain_outbox()`` (republished messages), and the
two hooks ``on_stored(seq, subject)`` / ``on_purged(PurgeEvent)``.

Intended differences from Go (deterministic by construction):

- A dedupe id is forgotten exactly when ``now - ts >= duplicate_window`` (Go
  prunes from a timer, so an id may survive a little longer there). An id
  recorded for a no-interest skip uses ``now`` (Go records ts 0 and drops it
  at the next timer run).
- Storage "file" uses ``MemStore``: memory byte accounting, and the file
  store's MSG.DELETE errors are emulated from the stream state.

Message schedules (Nats-Schedule) are checked and kept by
``natsd.jetstream.schedule``; ``fire_schedules(now)`` (run by ``expire``)
stores the messages of the due ones through ``process_msg(..., sourced=True)``.

Atomic batches (Nats-Batch-Id) are handed to ``natsd.jetstream.batch``,
which stages them and commits through ``process_msg(..., prechecked=True)``;
mirrors and sources (``natsd.jetstream.sources``) store through
``process_msg(..., sourced=True)``, a mirror with Go's ``lseq``/``ts``.

Not implemented (the Go error is returned where Go has one for "disabled";
``ERR_NOT_IMPLEMENTED`` otherwise): fast batch publish (``.$FI`` replies:
10205 when disabled), counters
fed by sources (Nats-Counter-Sources is carried forward, never updated),
interest/workqueue acknowledgement removal (the
consumer layer), server/account resource limits (10023/10002/10047), the
clustered in-flight duplicate 10158, message tracing. ``max_payload`` is
only checked for counter bodies, as in Go (the protocol layer enforces it
for client publishes).

Spec rules: stream.publish.* , stream.sealed, stream.deny_delete,
stream.deny_purge, stream.dedupe.window, stream.dedupe.expiry,
stream.dedupe.mirror, stream.expect.*, stream.rollup.*, stream.ttl.parse,
stream.ttl.disabled, stream.ttl.expiry, stream.ttl.marker_minimum,
stream.ttl.delete_marker, stream.counter.incr, stream.counter.errors,
stream.source_header_banned, stream.discard.*, stream.limit.max_msg_size,
stream.limit.header_size, stream.limit.record_too_large,
stream.retention.interest.no_interest, stream.republish*,
stream.purge.semantics, stream.state.*, stream.first_seq.
"""

from __future__ import annotations

import base64
import functools
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from natsd.api import errors as E
from natsd.api._types import (
    ClusterInfo,
    MsgGetRequest,
    PubAck,
    StoredMsg,
    StreamConfig,
    StreamInfo,
    StreamPurgeRequest,
    StreamState,
)
from natsd.api.errors import ApiError
from natsd.store import (
    ErrTooManyResults,
    MemStore,
    StoreError,
    StoreMsg,
    StreamStore,
)
from natsd.subjects.validate import is_literal, is_valid_subject

from . import headers as H
from . import schedule as SC
from .streamcfg import SubjectTransform, new_subject_transform, store_limits

__all__ = [
    "Stream",
    "OutMsg",
    "DirectReply",
    "PurgeEvent",
    "encode_puback",
    "go_json_string",
    "ERR_NOT_IMPLEMENTED",
    "MAX_SUBJECT_DETAILS",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_MAX_PAYLOAD",
    "FILE_RECORD_MAX",
]

MAX_SUBJECT_DETAILS = 100_000  # JSMaxSubjectDetails
DEFAULT_MAX_PENDING = 64 * 1024 * 1024  # server max_pending: direct get byte budget
DEFAULT_MAX_PAYLOAD = 1024 * 1024
FILE_RECORD_MAX = 32 * 1024 * 1024  # filestore rlBadThresh
_PLAIN_MAX = FILE_RECORD_MAX // 2  # process_msg's short path: records well below FILE_RECORD_MAX
_MAX_HDR = 65535
_MULTI_MAX = 1024  # getDirectMulti maxAllowedResponses
_SECOND = 1_000_000_000


def ERR_NOT_IMPLEMENTED(feature: str) -> ApiError:  # noqa: N802 - reads like the Go constructors
    """What natsd answers for a feature the config enables but this core does not implement."""
    return E.stream_general(err=f"{feature} is not implemented by natsd")


class OutMsg(msgspec.Struct, frozen=True):
    """A message the stream publishes (republish): subject, headers, payload."""

    subject: str
    hdr: bytes | None
    data: bytes


class DirectReply(NamedTuple):
    """One message of a direct-get reply (a stored message or a status such as 404).

    A named tuple, so ``for hdr, data in stream.direct_get(...)`` works.
    """

    hdr: bytes | None
    data: bytes = b""


class PurgeEvent(msgspec.Struct, frozen=True):
    """What consumers need after a purge (Go purgeLocked's consumer loop).

    ``filter`` "" is a full purge. ``first_seq`` is the stream's first sequence
    after the purge, ``filtered_first`` the first remaining sequence matching
    the filter (0 when none), ``last_seq`` the stream's last sequence.
    """

    filter: str
    first_seq: int
    filtered_first: int
    last_seq: int
    purged: int


# --- PubAck bytes -------------------------------------------------------------------------------


def go_json_string(s: str) -> str:
    """A JSON string as Go encoding/json writes it (HTML-safe: <, >, & escaped)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20:
            out.append(
                {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}.get(ch, f"\\u{o:04x}")
            )
        elif ch in "<>&" or o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:  # surrogate-escaped invalid UTF-8
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_q(s: str) -> str:
    """Go's %q for the PubAck template (identical to JSON for printable text)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def encode_puback(ack, result: PubAck | ApiError | None = None, *, stream: str = "") -> bytes:
    """The exact bytes Go sends for a publish result.

    Call as ``encode_puback(result, stream=name)`` or ``encode_puback(name, result)``.

    Success uses Go's template: ``{"stream":"S","seq":N}`` (``"domain"`` before
    ``"seq"`` when set), duplicate ``...,"duplicate": true}`` (with the space),
    counter ``...,"val":"N"}``, batch ``...,"batch":"id","count":N}``. An error is
    ``json.Marshal`` of JSPubAckResponse: ``{"error":{...},"stream":"S","seq":0}``
    (no domain); ``stream`` names the stream for errors.
    """
    if type(result) is PubAck and not (result.domain or result.duplicate or result.batch or result.val is not None):
        return _plain_ack_prefix(result.stream) + b"%d}" % result.seq  # the usual reply, first
    if isinstance(ack, str):
        stream, ack = ack, result
    if isinstance(ack, ApiError):
        err = f'"code":{ack.code}'
        if ack.err_code:
            err += f',"err_code":{ack.err_code}'
        if ack.description:
            err += f',"description":{go_json_string(ack.description)}'
        return f'{{"error":{{{err}}},"stream":{go_json_string(stream)},"seq":0}}'.encode()
    if not (ack.domain or ack.duplicate or ack.batch or ack.val is not None):
        return _plain_ack_prefix(ack.stream) + str(ack.seq).encode() + b"}"
    s = f'{{"stream":{_go_q(ack.stream)},'
    if ack.domain:
        s += f'"domain":{_go_q(ack.domain)},'
    s += f'"seq":{ack.seq}'
    if ack.duplicate:
        s += ',"duplicate": true}'
    elif ack.batch:
        s += f',"batch":{_go_q(ack.batch)},"count":{ack.count or 0}}}'
    elif ack.val is not None:
        s += f',"val":{_go_q(ack.val)}}}'
    else:
        s += "}"
    return s.encode()


@functools.lru_cache(maxsize=1024)
def _plain_ack_prefix(stream: str) -> bytes:
    # the common PubAck differs only by its sequence: quote the name once
    return f'{{"stream":{_go_q(stream)},"seq":'.encode()


def check_get_request(req: MsgGetRequest) -> ApiError | None:
    """The request checks of STREAM.MSG.GET that Go makes before the stream lookup."""
    if req.batch > 0 or req.max_bytes > 0:
        return E.bad_request()
    seq_, last_for, next_for, start = req.seq, req.last_by_subj, req.next_by_subj, req.start_time
    if (
        (seq_ > 0 and last_for)
        or (seq_ == 0 and not last_for and not next_for and start is None)
        or (seq_ > 0 and start is not None)
        or (start is not None and last_for)
        or (last_for and next_for)
    ):
        return E.bad_request()
    return None


def counter_and_stream_checks(
    hdr: bytes, data: bytes, allow_counter: bool, stream_name: str, *, sourced: bool = False
) -> tuple[int | None, ApiError | None]:
    """The Nats-Incr checks, then Nats-Expected-Stream (Go processJetStreamMsg, and each
    message of an atomic batch): ``(incr, None)`` or ``(_, the error)``. A message from
    the server itself (``sourced``) skips the client-only counter checks."""
    incr, ok = H.message_incr(hdr)
    if not ok:
        return None, E.message_incr_invalid()
    if incr is not None and not sourced:
        if not allow_counter:
            return incr, E.message_incr_disabled()
        if data:
            return incr, E.message_incr_payload()
        if (
            H.rollup(hdr)
            or H.expected_stream(hdr)
            or H.expected_last_msg_id(hdr)
            or H.expected_last_subject_seq_subject(hdr)
            or H.expected_last_seq(hdr) is not None
            or H.expected_last_subject_seq(hdr) is not None
        ):
            return incr, E.message_incr_invalid()
    sname = H.expected_stream(hdr)
    if sname and sname != stream_name:
        return incr, E.stream_not_match()
    return incr, None


def _file_record_size(subject: str, hdr: bytes | None, data: bytes) -> int:
    """Go fileStoreMsgSize."""
    n = 22 + len(subject.encode("utf-8", "surrogateescape")) + len(data) + 8
    return n + 4 + len(hdr) if hdr else n


def _status(code: int, desc: str) -> list[DirectReply]:
    return [DirectReply(H.status_header(code, desc))]


def _b64(b: bytes | None) -> str | None:
    return base64.b64encode(b).decode() if b else None


def _decode_counter(data: bytes) -> str | None:
    """Go json.Unmarshal into CounterValue: the "val" string, or None when that fails."""
    try:
        obj = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    if obj is None:
        return ""
    if not isinstance(obj, dict):
        return None
    val: Any = ""
    for k, v in obj.items():  # Go matches JSON keys to fields case-insensitively
        if k.lower() == "val":
            val = v
    if val is None:
        return ""
    return val if isinstance(val, str) else None


def _counter_sources_json(sources: dict[str, dict[str, str]]) -> str:
    """json.Marshal of map[string]map[string]string (sorted keys)."""
    parts = []
    for k in sorted(sources):
        inner = ",".join(
            f"{go_json_string(sk)}:{go_json_string(sv)}" for sk, sv in sorted(sources[k].items())
        )
        parts.append(f"{go_json_string(k)}:{{{inner}}}")
    return "{" + ",".join(parts) + "}"


# --- the stream ------------------------------------------------------------------------------------


class Stream:
    """One stream. See the module docstring for the theory of operation."""

    def __init__(
        self,
        config: StreamConfig,
        store: StreamStore | None = None,
        created: int = 0,
        *,
        domain: str | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        rng=None,
    ) -> None:
        """``config`` must have passed ``check_config``. A given ``store`` gets the
        config's limits, and ``first_seq`` when it is still empty."""
        self.config = config
        self.created = created
        if store is None:
            store = MemStore(store_limits(config), first_seq=config.first_seq)
        else:
            store.update_config(store_limits(config))
            if config.first_seq > 1 and store.fast_state().last_seq == 0:
                store.compact(config.first_seq)
        self.store: StreamStore = store
        self.domain = domain or None
        self.max_payload = max_payload
        self.consumer_count = 0
        # Consumer layer hooks.
        self.interest: Callable[[str], bool] | None = None
        # The server's resource check (Go js.limitsExceeded): does the server
        # hold more than its max_memory_store / max_file_store of this storage?
        # None when the server sets no such limit.
        self.resources_exceeded: Callable[[str], bool] | None = None
        self.on_stored: Callable[[int, str], None] | None = None
        self.on_purged: Callable[[PurgeEvent], None] | None = None
        # Atomic batch publish (natsd.jetstream.batch): the server-wide group the
        # service shares between its streams, and this stream's open batches.
        self.batch_group = None
        self.atomic_batches = None
        self._rng = rng
        self._dd: dict[str, tuple[int, int]] = {}
        self._dd_order: deque[tuple[str, int]] = deque()  # (id, ts) in insertion order
        self._lmsg_id = ""
        self._outbox: list[OutMsg] = []
        self._itr: SubjectTransform | None = None
        self._tr: SubjectTransform | None = None
        self._set_transforms(config)
        self._set_plain(config)
        # Message schedules (natsd.jetstream.schedule): built at first use, from the store.
        self._schedules: SC.Schedules | None = None

    def __repr__(self) -> str:
        st = self.store.fast_state()
        return f"<Stream {self.config.name} msgs={st.msgs} first={st.first_seq} last={st.last_seq}>"

    # --- small helpers ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def last_seq(self) -> int:
        """The last sequence ever assigned (Go mset.lseq; survives purges)."""
        return self.store.fast_state().last_seq

    @property
    def last_msg_id(self) -> str:
        return self._lmsg_id

    def _set_plain(self, cfg: StreamConfig) -> None:
        # a plain stream: a message without headers takes process_msg's short path
        self._plain = (
            cfg.retention == "limits"
            and cfg.subject_transform is None
            and cfg.republish is None
            and cfg.mirror is None
            and not cfg.sealed
            and not cfg.allow_msg_counter
            and not cfg.allow_msg_schedules
        )

    def _set_transforms(self, cfg: StreamConfig) -> None:
        st = cfg.subject_transform
        self._itr = new_subject_transform(st.src, st.dest, self._rng) if st is not None else None
        rp = cfg.republish
        self._tr = new_subject_transform(rp.src or ">", rp.dest or ">", self._rng) if rp is not None else None

    def drain_outbox(self) -> list[OutMsg]:
        """Messages to publish (republish), oldest first; the outbox is emptied."""
        out, self._outbox = self._outbox, []
        return out

    # --- dedupe (Go checkMsgId, storeMsgId, purgeMsgIds) ---------------------------------------

    def _prune_dedupe(self, now: int) -> None:
        window = self.config.duplicate_window
        order, dd = self._dd_order, self._dd
        while order and now - order[0][1] >= window:
            mid, ts = order.popleft()
            cur = dd.get(mid)
            if cur is not None and cur[1] == ts:
                del dd[mid]

    def _store_msg_id(self, mid: str, seq: int, ts: int) -> None:
        if self.config.duplicate_window <= 0:
            return
        self._dd[mid] = (seq, ts)
        self._dd_order.append((mid, ts))

    def rebuild_dedupe(self, now: int) -> None:
        """After recovery: the Nats-Msg-Id table from the messages still inside the
        duplicate window, and the last message's id (Go rebuildDedupe)."""
        window = self.config.duplicate_window
        if window <= 0:
            return
        store = self.store
        start = store.get_seq_from_time(now - window)
        if start == 0:
            return
        last = store.fast_state().last_seq
        for seq in range(start, last + 1):
            try:
                sm = store.load_msg(seq)
            except StoreError:
                continue
            mid = H.msg_id(sm.hdr) if sm.hdr else ""
            if mid:
                self._store_msg_id(mid, sm.seq, sm.ts)
            if seq == last:
                self._lmsg_id = mid

    def msg_ids(self) -> dict[str, tuple[int, int]]:
        """The dedupe table: Nats-Msg-Id -> (seq, ts)."""
        return dict(self._dd)

    # --- publish ------------------------------------------------------------------------------

    def process_msg(
        self,
        subject: str,
        hdr: bytes | None,
        data: bytes,
        now: int,
        *,
        reply: str = "",
        sourced: bool = False,
        lseq: int = 0,
        ts: int = 0,
        prechecked: bool = False,
    ) -> PubAck | ApiError | None:
        """Store one published message, or say why not (Go processJetStreamMsg, standalone).

        ``reply`` is only used to recognise fast-batch publishes (``...$FI``);
        ``sourced`` marks a message from the server itself (delete markers,
        mirrors/sources), which skips the client-only header checks. A
        mirror passes Go's ``lseq``/``ts``: the message is stored at sequence
        ``lseq + 1`` with timestamp ``ts`` (``natsd.jetstream.sources``).
        ``prechecked`` is an atomic batch commit: the batch already ran the
        consistency checks (``natsd.jetstream.batch``), so only the store
        path runs. ``None`` is a staged batch message: its publisher gets an
        empty reply.
        """
        if (
            hdr is None
            and self._plain
            and not (prechecked or sourced or lseq or ts)
            and type(data) is bytes
            and len(data) + 4 * len(subject) < _PLAIN_MAX
            and not reply.endswith(".$FI")
        ):
            return self._store_plain(subject, data, now)
        cfg = self.config
        store = self.store
        if hdr is not None:
            hdr = bytes(hdr) or None
        hdr = H.remove_status(hdr)
        data = bytes(data)

        if prechecked:
            return self._store_prechecked(subject, hdr, data, now)
        # Dispatch of internalLoop: fast batch, atomic batch, plain.
        if len(reply) > 4 and reply.endswith(".$FI"):
            return self._batch_rejection(hdr, data, fast=True)
        if not sourced and H.slice_header(H.BATCH_ID, hdr):
            return self._atomic_batch(subject, hdr, data, now)

        if self._itr is not None:
            t = self._itr.match(subject)
            if t is not None:
                subject = t

        if cfg.storage == "file" and _file_record_size(subject, hdr, data) > FILE_RECORD_MAX:
            return E.stream_store_failed(err="message too large")
        if cfg.sealed:
            return E.stream_sealed()
        if lseq > 0 and lseq != store.fast_state().last_seq:
            # Go: a mirror (or a stream with no state yet) may jump ahead when empty.
            st = store.fast_state()
            if (st.last_seq == 0 or cfg.mirror is not None) and st.first_seq == 0:
                store.compact(lseq + 1)
            else:
                return E.stream_sequence_not_match()
        # v2.15.1 checks both sizes right after sealed, before any header check or
        # dedupe [obs]; Go main checks them after the rollup. Both places are kept
        # (the later one catches a counter body that grew).
        # v2.15.1 strips Nats-Request-Info before the size checks [obs]: a header
        # that alone pushes a message past max_msg_size is accepted.
        if hdr:
            hdr = H.remove_header(hdr, H.REQUEST_INFO)
        err = self._size_error(hdr, data)
        if err is not None:
            return err

        allow_counter = cfg.allow_msg_counter
        allow_sched = cfg.allow_msg_schedules
        allow_rollup_purge = cfg.allow_rollup_hdrs and not cfg.deny_purge
        is_mirror = cfg.mirror is not None
        msg_id = ""
        incr: int | None = None
        rollup_sub = rollup_all = False

        if hdr:
            incr, err = counter_and_stream_checks(hdr, data, allow_counter, cfg.name, sourced=sourced)
            if err is not None:
                return err

            try:
                ttl_peek = H.message_ttl(hdr)
            except H.TTLInvalid:
                ttl_peek = 0
            if not sourced and ttl_peek != 0 and not cfg.allow_msg_ttl:
                return E.message_ttl_disabled()

            lss = H.expected_last_subject_seq(hdr)
            if lss is not None:
                seq_subj = H.expected_last_subject_seq_subject(hdr) or subject
                try:
                    fseq, found = store.load_last_msg(seq_subj).seq, True
                except StoreError:
                    fseq, found = 0, False
                if not (not found and lss == 0) and (not found or fseq != lss):
                    return E.stream_wrong_last_sequence(seq=fseq)
            elif H.expected_last_subject_seq_subject(hdr):
                return E.stream_expected_last_seq_per_subject_invalid()

            els = H.expected_last_seq(hdr)
            if els is not None:
                cur_last = store.fast_state().last_seq
                if els != cur_last:
                    return E.stream_wrong_last_sequence(seq=cur_last)

            if not sourced:
                hdr, err = SC.check_publish(hdr, subject, cfg.subjects or [cfg.name], allow_sched,
                                            cfg.allow_msg_ttl, now)
                if err is not None:
                    return err
            sched_next = H.slice_header(H.SCHEDULE_NEXT, hdr)
            if sched_next and not sourced:
                if sched_next != b"purge":
                    return E.message_schedules_scheduler_invalid()
                scheduler = H.slice_header(H.SCHEDULER, hdr)
                sched_s = scheduler.decode("utf-8", "surrogateescape") if scheduler else ""
                if (
                    not sched_s
                    or sched_s == subject
                    or not (is_valid_subject(sched_s) and is_literal(sched_s))
                ):
                    return E.message_schedules_scheduler_invalid()
                if not allow_sched:
                    return E.message_schedules_disabled()
                try:
                    last = store.load_last_msg(sched_s)
                except StoreError:
                    last = None
                if last is not None and not H.slice_header(H.SCHEDULE, last.hdr):
                    return E.message_schedules_scheduler_invalid()
            elif not sourced and H.slice_header(H.SCHEDULER, hdr):
                return E.message_schedules_scheduler_invalid()

            if not sourced and H.slice_header(H.STREAM_SOURCE, hdr):
                return E.message_source_hdr_not_allowed()

            msg_id = H.msg_id(hdr)
            if msg_id and not is_mirror:
                self._prune_dedupe(now)
                dde = self._dd.get(msg_id)
                if dde is not None and dde[0] > 0:
                    return PubAck(stream=cfg.name, seq=dde[0], domain=self.domain, duplicate=True)

            lmid = H.expected_last_msg_id(hdr)
            if lmid and lmid != self._lmsg_id:
                return E.stream_wrong_last_msg_id(id=self._lmsg_id)

            r = H.rollup(hdr)
            if r:
                if not allow_rollup_purge and not sourced:
                    return E.stream_rollup_failed(err="rollup not permitted")
                if r == "sub":
                    rollup_sub = True
                elif r == "all":
                    rollup_all = True
                else:
                    return E.stream_rollup_failed(err=f"rollup value invalid: {_go_q(r)}")

        if incr is None and allow_counter:
            return E.message_incr_missing()

        counter_val: str | None = None
        if incr is not None and allow_counter:
            res = self._apply_counter(subject, hdr, incr, data)
            if isinstance(res, ApiError):
                return res
            hdr, data, counter_val = res
            hlen = len(hdr) if hdr else 0
            if hlen > self.max_payload or len(data) > self.max_payload - hlen:
                return E.stream_message_exceeds_maximum()

        err = self._size_error(hdr, data)
        if err is not None:
            return err
        if self.resources_exceeded is not None and self.resources_exceeded(cfg.storage):
            return E.insufficient_resources()  # stream.limit.account_resources (before the interest skip)
        return self._store(subject, hdr, data, now, msg_id, rollup_sub, rollup_all, counter_val, lseq, ts)

    def _store_plain(self, subject: str, data: bytes, now: int) -> PubAck | ApiError:
        """process_msg of a message without headers on a plain stream (``_plain``),
        in one piece: of the general path only these steps apply to it (no
        header check, no transform, no interest skip, no TTL, rollup, schedule,
        counter or republish; ``_PLAIN_MAX`` keeps it below the file record limit)."""
        cfg = self.config
        mms = cfg.max_msg_size
        if mms >= 0 and len(data) > mms:
            return E.stream_message_exceeds_maximum()
        if self.resources_exceeded is not None and self.resources_exceeded(cfg.storage):
            return E.insufficient_resources()
        try:
            seq, _ = self.store.store_msg(subject, None, data, 0, now=now)
        except StoreError as e:
            return E.stream_store_failed(err=str(e))
        self._lmsg_id = ""
        if self.on_stored is not None:
            self.on_stored(seq, subject)
        return PubAck(stream=cfg.name, seq=seq, domain=self.domain)

    def _store_prechecked(self, subject: str, hdr: bytes | None, data: bytes, now: int) -> PubAck | ApiError:
        """A committed batch message: Go processJetStreamMsg without its consistency checks."""
        if self._itr is not None:
            t = self._itr.match(subject)
            if t is not None:
                subject = t
        msg_id = ""
        rollup_sub = rollup_all = False
        if hdr:
            hdr = H.remove_header(hdr, H.REQUEST_INFO)
            msg_id = H.msg_id(hdr)
            r = H.rollup(hdr)
            rollup_sub, rollup_all = r == "sub", r == "all"
        return self._store(subject, hdr, data, now, msg_id, rollup_sub, rollup_all, None, 0, 0)

    def _store(
        self,
        subject: str,
        hdr: bytes | None,
        data: bytes,
        now: int,
        msg_id: str,
        rollup_sub: bool,
        rollup_all: bool,
        counter_val: str | None,
        lseq: int,
        ts: int,
    ) -> PubAck | ApiError:
        """The store half of processJetStreamMsg: interest skip, TTL, store, rollup, republish."""
        cfg = self.config
        store = self.store
        allow_rollup_purge = cfg.allow_rollup_hdrs and not cfg.deny_purge
        if cfg.retention == "interest":
            interest = self.interest
            if self.consumer_count == 0 or interest is None or not interest(subject):
                seq = store.skip_msg(now=now, no_interest=True)
                self._lmsg_id = msg_id
                if msg_id:
                    self._store_msg_id(msg_id, seq, now)
                if allow_rollup_purge:
                    self._rollup(subject, rollup_sub, rollup_all, hdr, 0)
                return PubAck(stream=cfg.name, seq=seq, domain=self.domain)

        tsubj: str | None = None
        tlseq = 0
        if self._tr is not None:
            tsubj = self._tr.match(subject)
            if tsubj is not None and not (is_valid_subject(tsubj) and is_literal(tsubj)):
                tsubj = None
            if tsubj:
                try:
                    tlseq = store.load_last_msg(subject).seq
                except StoreError:
                    tlseq = 0

        try:
            ttl = H.message_ttl(hdr)
        except H.TTLInvalid:
            return E.message_ttl_invalid()
        sdm = cfg.subject_delete_marker_ttl
        if ttl > 0 and sdm > 0 and cfg.max_msgs_per_subject != 1:
            min_ttl = int(sdm / _SECOND)
            if ttl < min_ttl:
                ttl = min_ttl
                hdr = H.gen_header(H.remove_header(hdr, H.MSG_TTL), H.MSG_TTL, str(ttl))

        try:
            if lseq == 0 and ts == 0:
                seq, ts = store.store_msg(subject, hdr, data, ttl * _SECOND if ttl > 0 else ttl, now=now)
            else:
                seq = lseq + 1
                store.store_raw_msg(subject, hdr, data, seq, ts or now, ttl * _SECOND if ttl > 0 else ttl)
                ts = ts or now
        except StoreError as e:
            return E.stream_store_failed(err=str(e))

        if cfg.allow_msg_schedules:  # (a plain stream pays no call per message)
            self._sched(now).stored(seq, subject, hdr, ts, now)  # type: ignore[union-attr]
        self._lmsg_id = msg_id
        if msg_id:
            self._store_msg_id(msg_id, seq, ts)
        if allow_rollup_purge:
            self._rollup(subject, rollup_sub, rollup_all, hdr, 1)
        if tsubj:
            rp = cfg.republish
            if rp is not None and rp.headers_only:
                rhdr = H.republish_header(
                    hdr, stream=cfg.name, subject=subject, seq=seq, ts=ts, last_seq=tlseq, msg_size=len(data)
                )
                self._outbox.append(OutMsg(tsubj, rhdr, b""))
            else:
                rhdr = H.republish_header(
                    hdr, stream=cfg.name, subject=subject, seq=seq, ts=ts, last_seq=tlseq
                )
                self._outbox.append(OutMsg(tsubj, rhdr, data))
        if self.on_stored is not None:
            self.on_stored(seq, subject)
        return PubAck(stream=cfg.name, seq=seq, domain=self.domain, val=counter_val)

    def _size_error(self, hdr: bytes | None, data: bytes) -> ApiError | None:
        """max_msg_size (10054), then the 64KiB header limit (10097)."""
        hlen = len(hdr) if hdr else 0
        mms = self.config.max_msg_size
        if mms >= 0 and (hlen > mms or len(data) > mms - hlen):
            return E.stream_message_exceeds_maximum()
        if hlen > _MAX_HDR:
            return E.stream_header_exceeds_maximum()
        return None

    def _batch_rejection(self, hdr: bytes | None, data: bytes, *, fast: bool) -> ApiError:
        """Atomic/fast batch messages: Go's pre-checks, then "disabled" (or not implemented)."""
        cfg = self.config
        if cfg.sealed:
            return E.stream_sealed()
        if self.resources_exceeded is not None and self.resources_exceeded(cfg.storage):
            return E.insufficient_resources()  # Go checks the server's limits right after sealed here
        hlen = len(hdr) if hdr else 0
        mms = cfg.max_msg_size
        if mms >= 0 and (hlen > mms or len(data) > mms - hlen):
            return E.stream_message_exceeds_maximum()
        if fast:
            if not cfg.allow_batched:
                return E.batch_publish_disabled()
            return ERR_NOT_IMPLEMENTED("fast batch publish")
        if not cfg.allow_atomic:
            return E.atomic_publish_disabled()
        return ERR_NOT_IMPLEMENTED("atomic batch publish")

    def _atomic_batch(self, subject: str, hdr: bytes | None, data: bytes, now: int) -> PubAck | ApiError | None:
        """A Nats-Batch-Id message: staged, committed or refused by ``natsd.jetstream.batch``."""
        from .batch import process_atomic_batch_msg

        return process_atomic_batch_msg(self, subject, hdr, data, now)

    def _apply_counter(
        self, subject: str, hdr: bytes | None, incr: int, data: bytes = b""
    ) -> tuple[bytes | None, bytes, str] | ApiError:
        initial = 0
        sources: dict[str, dict[str, str]] | None = None
        try:
            last: StoreMsg | None = self.store.load_last_msg(subject)
        except StoreError:
            last = None
        if last is not None:
            val = _decode_counter(last.data)
            if val is None:
                return E.message_counter_broken()
            ncs = H.slice_header(H.COUNTER_SOURCES, last.hdr)
            if ncs:
                try:
                    sources = msgspec.json.decode(ncs, type=dict[str, dict[str, str]])
                except (msgspec.DecodeError, msgspec.ValidationError):
                    return E.message_counter_broken()
            if H._BIGINT.match(val):
                initial = int(val)
        src = H.slice_header(H.STREAM_SOURCE, hdr)
        if src:
            # A sourced counter (Go processJetStreamMsg): its body is the origin's total;
            # add only what changed since this origin's subject was last seen, and
            # remember the origin's total in Nats-Counter-Sources.
            fields = src.decode("utf-8", "surrogateescape").split(" ")
            origin_subject = fields[4] if len(fields) >= 5 else subject
            sourced = _decode_counter(data)
            if sourced is None:
                return E.message_counter_broken()
            now_val = int(sourced) if H._BIGINT.match(sourced) else 0
            sources = sources or {}
            seen = sources.setdefault(fields[0], {})
            prev = seen.get(origin_subject, "")
            seen[origin_subject] = str(now_val)
            incr = now_val - (int(prev) if H._BIGINT.match(prev) else 0)
            hdr = H.set_header(H.MSG_INCR, str(incr), hdr)
        total = str(initial + incr)
        data = ('{"val":' + _go_q(total) + "}").encode()
        if sources:
            hdr = H.set_header(H.COUNTER_SOURCES, _counter_sources_json(sources), hdr)
        return hdr, data, total

    def _rollup(self, subject: str, sub: bool, all_: bool, hdr: bytes | None, keep: int) -> None:
        """Go processJetStreamMsgWithRollup (also purges a schedule on Nats-Schedule-Next: purge)."""
        if sub:
            self._purge(StreamPurgeRequest(filter=subject, keep=keep))
        elif all_:
            self._purge(StreamPurgeRequest(keep=keep))
        if H.slice_header(H.SCHEDULE_NEXT, hdr) == b"purge":
            scheduler = H.slice_header(H.SCHEDULER, hdr)
            if scheduler:
                self._purge(StreamPurgeRequest(filter=scheduler.decode("utf-8", "surrogateescape")))

    # --- purge / delete / get -----------------------------------------------------------------

    def _purge(self, req: StreamPurgeRequest | None) -> int:
        store = self.store
        if req is None:
            purged = store.purge()
        else:
            purged = store.purge_ex(req.filter, req.seq, req.keep)
        st = store.fast_state()
        ffirst = st.first_seq
        if req is not None and req.filter:
            ffirst = store.filtered_state(st.first_seq, req.filter).first
        if self.on_purged is not None:
            self.on_purged(
                PurgeEvent(
                    filter=req.filter if req is not None else "",
                    first_seq=st.first_seq,
                    filtered_first=ffirst,
                    last_seq=st.last_seq,
                    purged=purged,
                )
            )
        return purged

    def purge(self, req: StreamPurgeRequest | None = None, now: int | None = None) -> int | ApiError:
        """STREAM.PURGE: the number purged. ``None`` is a request without a JSON body.

        ``now`` is accepted for symmetry with the other mutators; a purge does not
        depend on time.
        """
        if req is not None and req.seq > 0 and req.keep > 0:
            return E.bad_request()
        if self.config.sealed:
            return E.stream_sealed()
        if self.config.deny_purge:
            return E.stream_purge_failed(err="stream purge not permitted")
        try:
            return self._purge(req)
        except StoreError as e:
            return E.stream_general(err=str(e))

    def delete_msg(self, seq: int, no_erase: bool = False) -> ApiError | None:
        """STREAM.MSG.DELETE: None on success."""
        cfg = self.config
        if cfg.sealed:
            return E.stream_sealed()
        if cfg.deny_delete:
            return E.stream_msg_delete_failed(err="message delete not permitted")
        store = self.store
        if cfg.storage == "file" and seq == 0:
            return E.stream_msg_delete_failed(err="no message found")
        try:
            removed = store.remove_msg(seq) if no_erase else store.erase_msg(seq)
        except StoreError as e:
            return E.stream_msg_delete_failed(err=str(e))
        if removed:
            return None
        if cfg.storage == "file":
            # The file store reports a sequence outside its blocks as an error.
            st = store.fast_state()
            if seq > st.last_seq:
                return E.stream_msg_delete_failed(err="stream store EOF")
            if seq < st.first_seq or st.msgs == 0:
                return E.stream_msg_delete_failed(err="no message found")
        return E.sequence_not_found(seq=seq)

    def _load_last(self, subject: str):
        # Go's LoadLastMsg(">") reads only the stream's last sequence: when that
        # message was removed the answer is "no message found", even though
        # earlier messages remain.
        if subject == ">":
            return self.store.load_msg(self.store.fast_state().last_seq)
        return self.store.load_last_msg(subject)

    def get_msg(self, req: MsgGetRequest) -> StoredMsg | ApiError:
        """STREAM.MSG.GET (after the API layer's empty-body check)."""
        err = check_get_request(req)
        if err is not None:
            return err
        seq_, last_for, next_for, start = req.seq, req.last_by_subj, req.next_by_subj, req.start_time
        store = self.store
        if start is not None:
            try:
                seq = store.get_seq_from_time(H.parse_rfc3339(start))
            except ValueError as e:
                return E.invalid_json(err=str(e))
        else:
            seq = seq_
        try:
            if seq > 0 and not next_for:
                sm = store.load_msg(seq)
            elif next_for:
                sm, _ = store.load_next_msg(next_for, not is_literal(next_for), seq)
            else:
                sm = self._load_last(last_for)
        except StoreError:
            return E.no_message_found()
        return StoredMsg(
            subject=sm.subject,
            seq=sm.seq,
            hdrs=None if req.no_hdr else _b64(sm.hdr),
            data=_b64(sm.data),
            time=H.rfc3339nano(sm.ts),
        )

    # --- direct get -----------------------------------------------------------------------------

    def direct_get(
        self,
        req: MsgGetRequest | bytes,
        last_subject: str | None = None,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> list[DirectReply]:
        """$JS.API.DIRECT.GET.<stream>[.<subject>]: the reply messages, in order.

        ``req`` is the decoded request or the raw request body (decoded leniently
        as Go's json.Unmarshal: an empty body is ``408 Empty Request``, bad JSON
        ``408 Malformed Request``). ``last_subject`` is the subject after the
        stream token for the ``DIRECT.GET.<stream>.<subject>`` form ("" when the
        subject ends there).
        """
        if isinstance(req, (bytes, bytearray, memoryview)):
            body = bytes(req)
            if last_subject is None and not body:
                return _status(408, "Empty Request")
            if body:
                try:
                    req = msgspec.json.decode(body, type=MsgGetRequest)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    return _status(408, "Malformed Request")
            else:
                req = MsgGetRequest()
        if last_subject is not None:
            return self.direct_get_last(last_subject, req, max_pending=max_pending)
        multi = req.multi_last or []
        if (
            not req.seq
            and not req.last_by_subj
            and not req.next_by_subj
            and not multi
            and req.start_time is None
        ):
            return _status(408, "Empty Request")
        if (
            (req.seq > 0 and req.last_by_subj)
            or (req.seq > 0 and req.start_time is not None)
            or (req.start_time is not None and req.last_by_subj)
            or (req.last_by_subj and req.next_by_subj)
            or (req.last_by_subj and req.batch > 0)
            or (req.last_by_subj and multi)
            or (req.next_by_subj and multi)
            or (req.up_to_seq > 0 and req.up_to_time is not None)
        ):
            return _status(408, "Bad Request")
        return self._direct(req, max_pending)

    def direct_get_last(
        self, key: str, req: MsgGetRequest | None = None, *, max_pending: int = DEFAULT_MAX_PENDING
    ) -> list[DirectReply]:
        """$JS.API.DIRECT.GET.<stream>.<subject>: ``key`` is the subject after the stream token."""
        if not key:
            return _status(408, "Bad Request")
        req = req or MsgGetRequest()
        if (
            req.last_by_subj
            or req.next_by_subj
            or req.multi_last
            or req.seq
            or req.batch
            or req.start_time is not None
            or req.up_to_seq
            or req.up_to_time is not None
        ):
            return _status(408, "Bad Request")
        return self._direct(msgspec.structs.replace(req, last_by_subj=key), max_pending)

    def _direct(self, req: MsgGetRequest, max_pending: int) -> list[DirectReply]:
        try:
            start_ts = H.parse_rfc3339(req.start_time) if req.start_time is not None else None
            upto_ts = H.parse_rfc3339(req.up_to_time) if req.up_to_time is not None else None
        except ValueError:
            return _status(408, "Malformed Request")
        if req.multi_last:
            return self._direct_multi(req, upto_ts, max_pending)
        store = self.store
        name = self.config.name
        seq = store.get_seq_from_time(start_ts) if start_ts is not None else req.seq
        next_for = req.next_by_subj
        wc = not is_literal(next_for)
        batch = req.batch
        is_batch = batch > 0
        np = 0
        if not is_batch:
            batch = 1
        else:
            np, _ = store.num_pending(seq, next_for, False)
        mb = req.max_bytes or max_pending
        sent_bytes = 0
        lseq = 0
        out: list[DirectReply] = []
        for i in range(batch):
            try:
                if seq > 0 and not next_for:
                    if i == 0 and not is_batch:
                        sm = store.load_msg(seq)
                    else:
                        sm, seq = store.load_next_msg(">", True, seq)
                    seq += 1
                elif next_for:
                    sm, seq = store.load_next_msg(next_for, wc, seq)
                    seq += 1
                else:
                    sm = self._load_last(req.last_by_subj)
            except StoreError:
                if batch > 1 and i > 0:
                    break
                return _status(404, "Message Not Found")
            hdr: bytes | None = None
            if not req.no_hdr:
                if is_batch:
                    if np > 0:
                        np -= 1
                    hdr = H.direct_get_header(
                        sm.hdr,
                        stream=name,
                        subject=sm.subject,
                        seq=sm.seq,
                        ts=sm.ts,
                        num_pending=np,
                        last_seq=lseq,
                    )
                else:
                    hdr = H.direct_get_header(sm.hdr, stream=name, subject=sm.subject, seq=sm.seq, ts=sm.ts)
            lseq = sm.seq
            out.append(DirectReply(hdr, sm.data))
            sent_bytes += len(sm.subject) + (len(sm.hdr) if sm.hdr else 0) + len(sm.data)
            if sent_bytes >= mb:
                break
        if is_batch:
            out.append(
                DirectReply(
                    H.status_header(204, "EOB", [(H.NATS_NUM_PENDING, np), (H.NATS_LAST_SEQUENCE, lseq)])
                )
            )
        return out

    def _direct_multi(self, req: MsgGetRequest, upto_ts: int | None, max_pending: int) -> list[DirectReply]:
        store = self.store
        name = self.config.name
        mb = req.max_bytes or max_pending
        upto = req.up_to_seq
        if upto_ts is not None:
            upto = store.get_seq_from_time(upto_ts)
            if upto <= store.fast_state().first_seq:
                return _status(404, "No Results")
            upto -= 1
        if upto == 0:
            upto = store.fast_state().last_seq
        try:
            seqs = store.multi_last_seqs(req.multi_last or [], upto, _MULTI_MAX)
        except ErrTooManyResults:
            return _status(413, "Too Many Results")
        if not seqs:
            return _status(404, "No Results")
        out: list[DirectReply] = []
        np = len(seqs)
        lseq = sent = sent_bytes = 0
        for s in seqs:
            if np > 0:
                np -= 1
            if s < req.seq:
                continue
            try:
                sm = store.load_msg(s)
            except StoreError:
                return _status(404, "Message Not Found")
            hdr = H.direct_get_header(
                sm.hdr, stream=name, subject=sm.subject, seq=sm.seq, ts=sm.ts, num_pending=np, last_seq=lseq
            )
            lseq = sm.seq
            out.append(DirectReply(hdr, sm.data))
            sent_bytes += len(sm.subject) + (len(sm.hdr) if sm.hdr else 0) + len(sm.data)
            if sent_bytes >= mb:
                break
            sent += 1
            if req.batch > 0 and sent >= req.batch:
                break
        out.append(
            DirectReply(
                H.status_header(
                    204,
                    "EOB",
                    [(H.NATS_NUM_PENDING, np), (H.NATS_LAST_SEQUENCE, lseq), (H.NATS_UPTO_SEQUENCE, upto)],
                )
            )
        )
        return out

    # --- info -------------------------------------------------------------------------------------

    def subject_details(self, subjects_filter: str, offset: int = 0) -> tuple[dict[str, int] | None, int]:
        """STREAM.INFO subject details: (page of subject counts or None, total subjects)."""
        totals = self.store.subjects_totals(subjects_filter)
        n = len(totals)
        if not n:
            return None, 0
        offset = max(offset, 0)
        if offset == 0 and n <= MAX_SUBJECT_DETAILS:
            return dict(totals), n
        subjs = sorted(totals)
        offset = min(offset, n)
        page = subjs[offset : offset + MAX_SUBJECT_DETAILS]
        return ({s: totals[s] for s in page} if page else None), n

    def state(self, *, deleted_details: bool = False) -> StreamState:
        st = self.store.state(deleted=deleted_details)
        return StreamState(
            messages=st.msgs,
            bytes=st.bytes,
            first_seq=st.first_seq,
            first_ts=H.rfc3339nano(st.first_ts),
            last_seq=st.last_seq,
            last_ts=H.rfc3339nano(st.last_ts),
            num_subjects=st.num_subjects or None,
            num_deleted=st.num_deleted or None,
            deleted=(st.deleted or None) if deleted_details else None,
            consumer_count=self.consumer_count,
        )

    def info(
        self,
        now: int,
        *,
        subjects_filter: str | None = None,
        deleted_details: bool = False,
        offset: int = 0,
        server_name: str | None = None,
    ) -> StreamInfo:
        """STREAM.INFO's StreamInfo (config as stored: add dynamic metadata in the reply).

        ``server_name`` fills the standalone ``"cluster":{"leader":...}``.
        """
        state = self.state(deleted_details=deleted_details)
        if subjects_filter:
            subjects, _ = self.subject_details(subjects_filter, offset)
            if subjects is not None:
                state = msgspec.structs.replace(state, subjects=subjects)
        return StreamInfo(
            config=self.config,
            created=H.rfc3339nano(self.created),
            state=state,
            domain=self.domain,
            cluster=ClusterInfo(leader=server_name) if server_name else None,
            ts=H.rfc3339nano(now),
        )

    # --- config and time ----------------------------------------------------------------------------

    def update(self, config: StreamConfig, now: int | None = None) -> None:
        """Apply a config that passed ``check_update``: store limits, transforms, dedupe window."""
        old = self.config
        self.config = config
        self.store.update_config(store_limits(config))
        self._set_plain(config)
        if (old.subject_transform, old.republish) != (config.subject_transform, config.republish):
            self._set_transforms(config)
        if config.retention == "interest" and old.retention != "interest" and self.consumer_count == 0:
            # Go: switching to interest retention removes what no consumer is interested in
            # (each message; a stream never written keeps first_seq 0)
            if self.store.fast_state().msgs:
                self.store.purge()
        if now is not None:
            self._prune_dedupe(now)
            if (
                config.max_age != old.max_age
                or config.subject_delete_marker_ttl != old.subject_delete_marker_ttl
            ):
                self.expire(now)

    def expire(self, now: int) -> int:
        """Remove what is due at ``now``: max_age, TTLs (with delete markers), dedupe ids.

        Returns the number of messages removed or replaced by a marker.
        Idle atomic batches are abandoned here too (``natsd.jetstream.batch``).
        """
        self._prune_dedupe(now)
        if self.atomic_batches is not None:
            self.atomic_batches.expire(now)
        sdm = self.config.subject_delete_marker_ttl
        if sdm <= 0:
            n = self.store.expire(now)
            self.fire_schedules(now)
            return n
        store = self.store
        n = 0
        marker_ttl = H.go_duration(int(sdm / _SECOND) * _SECOND)
        for m in store.peek_expired(now):
            try:
                store.load_msg(m.seq)
            except StoreError:
                continue
            left = store.subjects_totals(m.subject).get(m.subject, 0)
            if not left:
                continue
            if left == 1 and not H.is_subject_delete_marker(m.hdr):
                hdr = (
                    f"NATS/1.0\r\n{H.MARKER_REASON}: MaxAge\r\n{H.MSG_TTL}: {marker_ttl}\r\n"
                    f"{H.ROLLUP}: sub\r\n\r\n"
                ).encode()
                self.process_msg(m.subject, hdr, b"", now, sourced=True)
                if _exists(store, m.seq):  # the marker could not be stored: expire it anyway
                    store.remove_msg(m.seq)
            else:
                store.remove_msg(m.seq)
            n += 1
        self.fire_schedules(now)
        return n

    # --- message schedules (natsd.jetstream.schedule) ----------------------------------------------

    def _sched(self, now: int) -> SC.Schedules | None:
        """The stream's schedules when allow_msg_schedules is on; built at first
        use from the stored schedule messages (Go recoverMsgSchedulingState)."""
        if self._schedules is None and self.config.allow_msg_schedules:
            self._schedules = SC.Schedules()
            self._schedules.recover(self._stored_with_headers(), now)
        return self._schedules

    def _stored_with_headers(self):
        store = self.store
        st = store.fast_state()
        if not st.msgs:
            return
        for seq in range(st.first_seq, st.last_seq + 1):
            try:
                sm = store.load_msg(seq)
            except StoreError:
                continue
            if sm.hdr:
                yield sm.seq, sm.subject, sm.hdr, sm.ts

    def fire_schedules(self, now: int) -> int:
        """Store the messages of the schedules due at ``now`` on their targets
        (Go runMsgScheduling); returns how many were produced."""
        sched = self._sched(now)
        if sched is None:
            return 0
        store = self.store

        def load(seq: int):
            try:
                sm = store.load_msg(seq)
            except StoreError:
                return None
            return sm.subject, sm.hdr, sm.data

        def load_last(subject: str):
            try:
                sm = store.load_last_msg(subject)
            except StoreError:
                return None
            return sm.hdr, sm.data

        produced = sched.due(now, load, load_last)
        for _, target, hdr, data in produced:
            self.process_msg(target, hdr, data, now, sourced=True)
        return len(produced)

    def next_deadline(self) -> int | None:
        """When ``expire`` next has work (ns), or None."""
        best = self.store.next_expiry()
        if self.config.allow_msg_schedules:
            d = self._schedules.next_deadline() if self._schedules is not None else 0
            if d is not None and (best is None or d < best):
                best = d
        if self.atomic_batches is not None:
            d = self.atomic_batches.next_deadline()
            if d is not None and (best is None or d < best):
                best = d
        if self._dd_order:
            d = self._dd_order[0][1] + self.config.duplicate_window
            if best is None or d < best:
                best = d
        return best


def _exists(store: StreamStore, seq: int) -> bool:
    try:
        store.load_msg(seq)
    except StoreError:
        return False
    return True
