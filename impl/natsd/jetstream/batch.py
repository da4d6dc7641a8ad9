"""Atomic batch publish: stage messages, then commit them all or none.

Mirrors nats-server server/stream.go ``processJetStreamAtomicBatchMsg`` (the
standalone path) and server/jetstream_batching.go (``atomicBatch``,
``batchStagedDiff``, ``checkMsgHeadersPreClusteredProposal``).

Theory of operation
-------------------
A publish carrying ``Nats-Batch-Id`` belongs to an atomic batch. Its
``Nats-Batch-Sequence`` must run 1, 2, 3, ... without gaps. Messages before
the commit are staged (kept in memory, in order) and their publisher gets an
empty reply. ``Nats-Batch-Commit: 1`` commits including that message;
``Nats-Batch-Commit: eob`` commits the staged messages only (the end-of-batch
marker itself is not stored, and the last stored message gets
``Nats-Batch-Commit: 1``, as Go writes it).

At commit every message runs the batch consistency checks, in order, against
the stream state plus what the batch itself has staged so far (``_Diff``):
dedupe across the stream and within the batch (10201), expected last sequence
only on the first message (10164 after it), expected last subject sequence
not on a subject the batch already wrote (10164), rollups only where they
cannot hide an earlier batch message, counters accumulate across the batch,
discard new limits count the whole batch. Only if all pass are the messages
stored, each through ``Stream.process_msg(..., prechecked=True)``, so a batch
is never half stored. The commit's PubAck is
``{"stream","seq":<last>,"batch":<id>,"count":<n>}``.

State: per stream an ``AtomicBatches`` (open batches by id, each with its
staged messages, last batch sequence and an idle deadline); per server a
``BatchGroup`` (inflight total and the limits). Time comes in as ``now``: a
batch idle for ``timeout`` (10s) is abandoned by ``expire(now)`` or on its
next message (then 10176). Nothing here touches a clock.

Limits as Go's defaults: 1000 messages per batch (10199), 50 open batches
per stream and 1000 per server (429/10210).

Not implemented: the STREAM.BATCH_ABANDONED advisory (natsd sends no
advisories yet), server/account resource-limit checks (10023/10002),
message schedules inside a batch (the scheduler is not built: refused as by
``process_msg``), and persistence of staged batches for file streams (Go
stages R1 file-stream batches on disk to survive a crash; natsd keeps them
in memory like its file streams).

Spec rules: stream.batch.atomic.disabled, stream.batch.atomic.sequence,
stream.batch.atomic.commit, stream.batch.atomic.limits,
stream.batch.atomic.checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from natsd.api import errors as E
from natsd.api._types import PubAck
from natsd.api.errors import ApiError
from natsd.store import StoreError

from . import headers as H

if TYPE_CHECKING:
    from .stream import Stream

__all__ = [
    "AtomicBatches",
    "BatchGroup",
    "process_atomic_batch_msg",
    "MAX_BATCH_SIZE",
    "MAX_INFLIGHT_PER_STREAM",
    "MAX_INFLIGHT_TOTAL",
    "BATCH_TIMEOUT",
]

MAX_BATCH_SIZE = 1000  # streamDefaultMaxAtomicBatchSize
MAX_INFLIGHT_PER_STREAM = 50  # streamDefaultMaxAtomicBatchInflightPerStream
MAX_INFLIGHT_TOTAL = 1000  # streamDefaultMaxAtomicBatchInflightTotal
BATCH_TIMEOUT = 10_000_000_000  # streamDefaultMaxBatchTimeout (ns)
_MAX_ID = 64
_REQUIRED_API_LEVEL = "Nats-Required-Api-Level"
_API_LEVEL = 5


class BatchGroup:
    """Server-wide accounting of open atomic batches (Go globalInflightAtomicBatches)."""

    __slots__ = ("inflight", "max_total", "max_per_stream", "max_size", "timeout")

    def __init__(
        self,
        *,
        max_total: int = MAX_INFLIGHT_TOTAL,
        max_per_stream: int = MAX_INFLIGHT_PER_STREAM,
        max_size: int = MAX_BATCH_SIZE,
        timeout: int = BATCH_TIMEOUT,
    ) -> None:
        self.inflight = 0
        self.max_total = max_total
        self.max_per_stream = max_per_stream
        self.max_size = max_size
        self.timeout = timeout


class _Batch:
    __slots__ = ("msgs", "lseq", "deadline")

    def __init__(self, deadline: int) -> None:
        self.msgs: list[tuple[str, bytes | None, bytes]] = []
        self.lseq = 0
        self.deadline = deadline


class AtomicBatches:
    """The open atomic batches of one stream."""

    def __init__(self, group: BatchGroup | None = None) -> None:
        self.group = group if group is not None else BatchGroup()
        self.open: dict[str, _Batch] = {}
        self.abandoned: list[tuple[str, str]] = []  # (batch id, reason) for a future advisory

    def _drop(self, batch_id: str, reason: str | None = None) -> None:
        if self.open.pop(batch_id, None) is not None:
            self.group.inflight -= 1
            if reason is not None:
                self.abandoned.append((batch_id, reason))

    def expire(self, now: int) -> int:
        """Abandon batches idle for the timeout; returns how many."""
        dead = [bid for bid, b in self.open.items() if now >= b.deadline]
        for bid in dead:
            self._drop(bid, "timeout")
        return len(dead)

    def next_deadline(self) -> int | None:
        return min((b.deadline for b in self.open.values()), default=None)

    def clear(self) -> None:
        """The stream is going away: release every open batch."""
        for bid in list(self.open):
            self._drop(bid)


def batches_of(stream: Stream) -> AtomicBatches:
    b = getattr(stream, "atomic_batches", None)
    if b is None:
        b = AtomicBatches(getattr(stream, "batch_group", None))
        stream.atomic_batches = b
    return b


def _required_level_fails(hdr: bytes | None) -> bool:
    v = H.slice_header(_REQUIRED_API_LEVEL, hdr)
    if not v:
        return False
    try:
        return int(v) > _API_LEVEL
    except ValueError:
        return True


def process_atomic_batch_msg(
    stream: Stream, subject: str, hdr: bytes | None, data: bytes, now: int
) -> PubAck | ApiError | None:
    """One Nats-Batch-Id publish: an error, None (staged: empty reply) or the commit PubAck."""
    cfg = stream.config
    if cfg.sealed:
        return E.stream_sealed()
    if stream.resources_exceeded is not None and stream.resources_exceeded(cfg.storage):
        return E.insufficient_resources()  # Go checks the server's limits right after sealed here
    hlen = len(hdr) if hdr else 0
    mms = cfg.max_msg_size
    if mms >= 0 and (hlen > mms or len(data) > mms - hlen):
        return E.stream_message_exceeds_maximum()
    if not cfg.allow_atomic:
        return E.atomic_publish_disabled()
    batch_id = (H.slice_header(H.BATCH_ID, hdr) or b"").decode("utf-8", "surrogateescape")
    if len(batch_id.encode("utf-8", "surrogateescape")) > _MAX_ID:
        return E.atomic_publish_invalid_batch_id()
    bseq = _batch_seq(hdr)
    if bseq is None:
        return E.atomic_publish_missing_seq()

    commit = commit_eob = commit_invalid = False
    c = H.slice_header(H.BATCH_COMMIT, hdr)
    if c is not None:
        commit = True
        commit_eob = c == b"eob"
        commit_invalid = not commit_eob and c != b"1"

    batches = batches_of(stream)
    group = batches.group
    b = batches.open.get(batch_id)
    if b is None:
        if bseq != 1:
            size = bseq - 1 if commit_eob else bseq
            if size > group.max_size:
                return E.atomic_publish_too_large_batch(size=group.max_size)
            return E.atomic_publish_incomplete_batch()
        if len(batches.open) + 1 > group.max_per_stream or group.inflight + 1 > group.max_total:
            return E.atomic_publish_too_many_inflight()
        b = _Batch(now + group.timeout)
        batches.open[batch_id] = b
        group.inflight += 1

    if commit_invalid:
        batches._drop(batch_id)
        return E.atomic_publish_invalid_batch_commit()
    if H.slice_header(_REQUIRED_API_LEVEL, hdr) is not None:
        if _required_level_fails(hdr):
            batches._drop(batch_id, "unsupported")
            return E.required_api_level()
        hdr = H.remove_header(hdr, _REQUIRED_API_LEVEL)

    expired = now >= b.deadline
    b.deadline = now + group.timeout
    b.lseq += 1
    if b.lseq != bseq or expired or (bseq == 1 and commit_eob):
        batches._drop(batch_id, "timeout" if expired else "incomplete")
        return E.atomic_publish_incomplete_batch()
    size = bseq - 1 if commit_eob else bseq
    if size > group.max_size:
        batches._drop(batch_id, "large")
        return E.atomic_publish_too_large_batch(size=group.max_size)
    if not commit:
        b.msgs.append((subject, hdr, data))
        return None

    msgs = list(b.msgs)
    if not commit_eob:
        msgs.append((subject, hdr, data))
    batches._drop(batch_id)  # committed or refused: either way the batch is over
    checked = _check_batch(stream, msgs, now)
    if isinstance(checked, ApiError):
        return checked
    result: PubAck | ApiError | None = None
    last = len(checked) - 1
    for i, (subj, mhdr, mdata) in enumerate(checked):
        if i == last and commit_eob:
            mhdr = H.gen_header(mhdr, H.BATCH_COMMIT, "1")
        result = stream.process_msg(subj, mhdr, mdata, now, prechecked=True)
        if isinstance(result, ApiError):
            return result  # the store failed: Go stops here too
    assert isinstance(result, PubAck)
    # the PubAck names the batch in text; an id that is not UTF-8 is shown with U+FFFD
    shown = batch_id.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return msgspec.structs.replace(result, batch=shown, count=len(checked), val=None)


def _batch_seq(hdr: bytes | None) -> int | None:
    """Go getBatchSequence: an unsigned decimal, else missing."""
    v = H.slice_header(H.BATCH_SEQ, hdr)
    if not v or not v.isdigit() or not v.isascii():
        return None
    n = int(v)
    return n if n < 1 << 64 else None


# --- the commit checks (checkMsgHeadersPreClusteredProposal, standalone) ---------------------------


class _Diff:
    """What the batch has staged so far (Go batchStagedDiff)."""

    __slots__ = ("msg_ids", "counters", "inflight", "expected")

    def __init__(self) -> None:
        self.msg_ids: set[str] = set()
        self.counters: dict[str, tuple[int, dict[str, dict[str, str]] | None]] = {}
        self.inflight: dict[str, list[int]] = {}  # subject -> [bytes, ops]
        self.expected: dict[str, int] = {}  # subject -> checked last sequence


def _check_batch(stream: Stream, msgs: list[tuple[str, bytes | None, bytes]], now: int):
    """Every message's checks in order; the (possibly rewritten) messages, or the first error."""
    diff = _Diff()
    clseq = stream.store.fast_state().last_seq
    out = []
    for subject, hdr, data in msgs:
        csubj = subject
        itr = stream._itr
        if itr is not None:
            t = itr.match(csubj)
            if t is not None:
                csubj = t
        if H.expected_last_msg_id(hdr):
            return E.atomic_publish_unsupported_header_batch(header=H.EXPECTED_LAST_MSG_ID)
        res = _check_msg(stream, diff, csubj, hdr, data, clseq, now)
        if isinstance(res, ApiError):
            return res
        hdr, data = res
        out.append((subject, hdr, data))
        clseq += 1
    return out


def _check_msg(
    stream: Stream, diff: _Diff, subject: str, hdr: bytes | None, data: bytes, clseq: int, now: int
):
    cfg = stream.config
    store = stream.store
    if cfg.storage == "file":
        from .stream import FILE_RECORD_MAX, _file_record_size

        if _file_record_size(subject, hdr, data) > FILE_RECORD_MAX:
            return E.stream_store_failed(err="message too large")
    incr: int | None = None
    if hdr:
        if len(hdr) > 65535:
            return E.stream_header_exceeds_maximum()
        from .stream import counter_and_stream_checks

        incr, err = counter_and_stream_checks(hdr, data, cfg.allow_msg_counter, cfg.name)
        if err is not None:
            return err
        try:
            ttl = H.message_ttl(hdr)
            ttl_err = False
        except H.TTLInvalid:
            ttl, ttl_err = 0, True
        if ttl != 0 or ttl_err:
            if not cfg.allow_msg_ttl:
                return E.message_ttl_disabled()
            if ttl_err:
                return E.message_ttl_invalid()
        mid = H.msg_id(hdr)
        if mid:
            if mid in diff.msg_ids:
                return E.atomic_publish_contains_duplicate_message()
            stream._prune_dedupe(now)
            dde = stream._dd.get(mid)
            if dde is not None:
                if dde[0] > 0:
                    return E.atomic_publish_contains_duplicate_message()
                return E.stream_duplicate_message_conflict()
            diff.msg_ids.add(mid)
        if H.slice_header(H.STREAM_SOURCE, hdr):
            return E.message_source_hdr_not_allowed()

    if incr is None and cfg.allow_msg_counter:
        return E.message_incr_missing()
    if incr is not None and cfg.allow_msg_counter:
        res = _apply_counter(stream, diff, subject, hdr, incr)
        if isinstance(res, ApiError):
            return res
        hdr, data = res

    if hdr:
        els = H.expected_last_seq(hdr)
        if els is not None and els != clseq:
            return E.stream_wrong_last_sequence(seq=clseq)
        if els is not None and diff.inflight:
            return E.stream_wrong_last_sequence_constant()
        lss = H.expected_last_subject_seq(hdr)
        if lss is not None:
            seq_subj = H.expected_last_subject_seq_subject(hdr) or subject
            if seq_subj in diff.inflight:
                return E.stream_wrong_last_sequence_constant()
            seen = diff.expected.get(seq_subj)
            if seen is not None:
                if seen != lss:
                    return E.stream_wrong_last_sequence(seq=seen)
            else:
                try:
                    fseq, found = store.load_last_msg(seq_subj).seq, True
                except StoreError:
                    fseq, found = 0, False
                if not (not found and lss == 0) and (not found or fseq != lss):
                    return E.stream_wrong_last_sequence(seq=fseq)
                diff.expected[seq_subj] = fseq
        elif H.expected_last_subject_seq_subject(hdr):
            return E.stream_expected_last_seq_per_subject_invalid()
        if H.slice_header(H.SCHEDULE, hdr):
            if not cfg.allow_msg_schedules:
                return E.message_schedules_disabled()
            from .stream import ERR_NOT_IMPLEMENTED

            return ERR_NOT_IMPLEMENTED("message scheduling")
        sched_next = H.slice_header(H.SCHEDULE_NEXT, hdr)
        if sched_next:
            if sched_next != b"purge":
                return E.message_schedules_scheduler_invalid()
            scheduler = H.slice_header(H.SCHEDULER, hdr)
            sched_s = scheduler.decode("utf-8", "surrogateescape") if scheduler else ""
            if not sched_s or sched_s == subject:
                return E.message_schedules_scheduler_invalid()
            if not cfg.allow_msg_schedules:
                return E.message_schedules_disabled()
        elif H.slice_header(H.SCHEDULER, hdr):
            return E.message_schedules_scheduler_invalid()
        r = H.rollup(hdr)
        if r:
            if not cfg.allow_rollup_hdrs or cfg.deny_purge:
                return E.stream_rollup_failed(err="rollup not permitted")
            if r == "sub":
                if subject in diff.inflight:
                    return E.stream_rollup_failed(err="batch rollup sub invalid")
            elif r == "all":
                if diff.inflight:
                    return E.stream_rollup_failed(err="batch rollup all invalid")
            else:
                from .stream import _go_q

                return E.stream_rollup_failed(err=f"rollup value invalid: {_go_q(r)}")

    # Track the subject, then the discard-new limits over stream + batch.
    sz = _msg_size(cfg.storage, subject, hdr, data)
    cur = diff.inflight.get(subject)
    if cur is None:
        cur = diff.inflight[subject] = [0, 0]
    cur[0] += sz
    cur[1] += 1
    if cfg.discard == "new":
        if cfg.max_msgs > 0 or cfg.max_bytes > 0:
            st = store.fast_state()
            msgs = st.msgs + sum(v[1] for v in diff.inflight.values())
            nbytes = st.bytes + sum(v[0] for v in diff.inflight.values())
            if cfg.max_msgs > 0 and msgs > cfg.max_msgs:
                return E.stream_store_failed(err="maximum messages exceeded")
            if cfg.max_bytes > 0 and nbytes > cfg.max_bytes:
                return E.stream_store_failed(err="maximum bytes exceeded")
        if cfg.discard_new_per_subject and cfg.max_msgs_per_subject > 0 and not H.slice_header(H.ROLLUP, hdr):
            total = store.subjects_totals(subject).get(subject, 0) + cur[1]
            if total > cfg.max_msgs_per_subject:
                return E.stream_store_failed(err="maximum messages per subject exceeded")
    return hdr, data


def _msg_size(storage: str, subject: str, hdr: bytes | None, data: bytes) -> int:
    """Go fileStoreMsgSizeRaw / memStoreMsgSizeRaw."""
    hlen = len(hdr) if hdr else 0
    slen = len(subject.encode("utf-8", "surrogateescape"))
    if storage == "file":
        return 22 + slen + hlen + len(data) + 8 + (4 if hlen else 0)
    return slen + hlen + len(data) + 16


def _apply_counter(stream: Stream, diff: _Diff, subject: str, hdr: bytes | None, incr: int):
    from .stream import _counter_sources_json, _decode_counter, _go_q

    staged = diff.counters.get(subject)
    if staged is not None:
        initial, sources = staged
    else:
        initial, sources = 0, None
        try:
            last = stream.store.load_last_msg(subject)
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
    total = initial + incr
    data = ('{"val":' + _go_q(str(total)) + "}").encode()
    if sources:
        hdr = H.set_header(H.COUNTER_SOURCES, _counter_sources_json(sources), hdr)
    max_size = stream.max_payload
    if 0 <= stream.config.max_msg_size < max_size:
        max_size = stream.config.max_msg_size
    hlen = len(hdr) if hdr else 0
    if hlen > max_size or len(data) > max_size - hlen:
        return E.stream_message_exceeds_maximum()
    diff.counters[subject] = (total, sources)
    return hdr, data
