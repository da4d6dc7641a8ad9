"""Reference model of atomic batch publish (a stream with allow_atomic).

Go: server/stream.go ``processJetStreamAtomicBatchMsg`` (standalone path) and
server/jetstream_batching.go (``checkMsgHeadersPreClusteredProposal``).

Theory of operation
-------------------
A publish with ``Nats-Batch-Id`` on an allow_atomic stream belongs to the open
batch of that id (``Stream.batches``: id -> :class:`Batch`, the staged
messages in order and when the batch last heard from its publisher). Its
``Nats-Batch-Sequence`` must be 1 for a new batch and one more than the last
for an open one; a mismatch, a bad ``Nats-Batch-Commit`` value, an unsupported
``Nats-Required-Api-Level`` or a batch idle for :data:`BATCH_TIMEOUT` ends the
batch with an error. A message without a commit is staged and answered with
an empty reply (:data:`STAGED`). ``Nats-Batch-Commit: 1`` commits the staged
messages and itself, ``eob`` the staged ones only (the last stored one then
carries ``Nats-Batch-Commit: 1``).

At the commit every message is checked in order against the stream plus what
the batch staged before it (:func:`_check`): duplicate ids within the batch or
the stream, expected-last-sequence only before any other batch message,
expected-last-subject-sequence not on a subject the batch wrote, rollups that
cannot hide a batch message, and discard-new limits counting the whole batch.
All pass, and all are stored (each as a plain store, with dedupe, rollup and
republish); one fails, and none is. The PubAck names the batch and its size.

Only :func:`publish` and :func:`expire` change state, through the stream
model's own store helpers. Spec rules: stream.batch.atomic.sequence,
stream.batch.atomic.commit, stream.batch.atomic.checks,
stream.batch.atomic.limits (the batch size and the idle timeout).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from natsd.api import errors as E
from natsd.model.stream_state import Msg, _go_json, _go_uint, _parse_ttl, encode_headers

if TYPE_CHECKING:
    from natsd.model.stream import StreamModel
    from natsd.model.stream_state import Stream

__all__ = ["BATCH_TIMEOUT", "MAX_BATCH_SIZE", "STAGED", "Batch", "expire", "publish"]

#: A staged batch message is answered with an empty reply.
STAGED = "<staged>"
MAX_BATCH_SIZE = 1000
BATCH_TIMEOUT = 10 * 10**9
MAX_ID_LEN = 64
API_LEVEL = 5

H = tuple[tuple[str, str], ...]


@dataclass
class Batch:
    msgs: list[tuple[str, H, bytes]] = field(default_factory=list)
    last_seq: int = 0
    heard: int = 0


def _get(headers: H, key: str) -> str | None:
    for k, v in headers:
        if k == key:
            return v.strip()
    return None


def _without(headers: H, key: str) -> H:
    return tuple((k, v) for k, v in headers if k != key)


def expire(model: StreamModel, st: Stream) -> None:
    """stream.batch.atomic.limits: abandon the batches idle for the timeout
    (Go's batch timer); their next message is then a new batch or 10176."""
    for bid, b in list(st.batches.items()):
        if model.now - b.heard >= BATCH_TIMEOUT:
            model._cover("stream.batch.atomic.limits")
            del st.batches[bid]


def publish(model: StreamModel, st: Stream, subject: str, headers: H, data: bytes, reject: Any) -> str:
    """One Nats-Batch-Id publish on an allow_atomic stream (sealed and
    max_msg_size already checked): an error PubAck, STAGED, or the commit's
    PubAck. ``reject(error)`` renders an error PubAck."""
    cover = model._cover
    bid = _get(headers, "Nats-Batch-Id") or ""
    if len(bid) > MAX_ID_LEN:
        cover("stream.batch.atomic.sequence")
        return reject(E.atomic_publish_invalid_batch_id())
    seq_text = _get(headers, "Nats-Batch-Sequence")
    if not seq_text or not seq_text.isdigit():
        cover("stream.batch.atomic.sequence")
        return reject(E.atomic_publish_missing_seq())
    bseq = int(seq_text)
    commit = _get(headers, "Nats-Batch-Commit")
    eob = commit == "eob"
    b = st.batches.get(bid)
    if b is None:
        if bseq != 1:
            cover("stream.batch.atomic.sequence")
            if (bseq - 1 if eob else bseq) > MAX_BATCH_SIZE:
                cover("stream.batch.atomic.limits")
                return reject(E.atomic_publish_too_large_batch(size=MAX_BATCH_SIZE))
            return reject(E.atomic_publish_incomplete_batch())
        b = st.batches[bid] = Batch(heard=model.now)
    if commit is not None and not eob and commit != "1":
        cover("stream.batch.atomic.commit")
        del st.batches[bid]
        return reject(E.atomic_publish_invalid_batch_commit())
    level = _get(headers, "Nats-Required-Api-Level")
    if level is not None:
        cover("stream.publish.required_api_level")
        if not level.isdigit() or int(level) > API_LEVEL:
            del st.batches[bid]
            return reject(E.required_api_level())
        headers = _without(headers, "Nats-Required-Api-Level")
    b.heard = model.now
    b.last_seq += 1
    if b.last_seq != bseq or (bseq == 1 and eob):
        cover("stream.batch.atomic.sequence")
        del st.batches[bid]
        return reject(E.atomic_publish_incomplete_batch())
    if commit is None:
        cover("stream.batch.atomic.sequence")
        b.msgs.append((subject, headers, data))
        return STAGED
    cover("stream.batch.atomic.commit")
    msgs = b.msgs + ([] if eob else [(subject, headers, data)])
    del st.batches[bid]
    bad = _check(model, st, msgs)
    if bad is not None:
        return reject(bad)
    last = None
    for i, (subj, hdrs, body) in enumerate(msgs):
        if eob and i == len(msgs) - 1:
            hdrs = (*hdrs, ("Nats-Batch-Commit", "1"))
        ttl = _parse_ttl(_get(hdrs, "Nats-TTL") or "") or 0
        last = model._new_msg(st, subj, encode_headers(hdrs), body, ttl)
        model._accept(st, last, _get(hdrs, "Nats-Msg-Id") or "", (_get(hdrs, "Nats-Rollup") or "").lower())
    assert last is not None
    return _go_json({"stream": st.name, "seq": last.seq, "batch": bid, "count": len(msgs)})


def _check(model: StreamModel, st: Stream, msgs: list[tuple[str, H, bytes]]) -> E.ApiError | None:
    """stream.batch.atomic.checks: the commit checks of every message, in order,
    against the stream plus the batch's own earlier messages; the first error."""
    model._cover("stream.batch.atomic.checks")
    cfg = st.config
    ids: set[str] = set()
    written: dict[str, list[int]] = {}  # subject -> [count, bytes] staged before
    expected: dict[str, int] = {}  # subject -> last sequence a check saw
    clseq = st.last_seq
    for subject, headers, data in msgs:
        if _get(headers, "Nats-Expected-Last-Msg-Id") is not None:
            return E.atomic_publish_unsupported_header_batch(header="Nats-Expected-Last-Msg-Id")
        incr = _get(headers, "Nats-Incr")
        if incr and not cfg.get("allow_msg_counter"):
            return E.message_incr_disabled()
        es = _get(headers, "Nats-Expected-Stream")
        if es and es != st.name:
            return E.stream_not_match()
        ttl_text = _get(headers, "Nats-TTL") or ""
        ttl = _parse_ttl(ttl_text)
        if ttl != 0:
            if not cfg["allow_msg_ttl"]:
                return E.message_ttl_disabled()
            if ttl is None:
                return E.message_ttl_invalid()
        mid = _get(headers, "Nats-Msg-Id")
        if mid:
            if mid in ids or mid in st.msg_ids:
                return E.atomic_publish_contains_duplicate_message()
            ids.add(mid)
        if _get(headers, "Nats-Stream-Source"):
            return E.message_source_hdr_not_allowed()
        els = _get(headers, "Nats-Expected-Last-Sequence")
        if els:
            if _go_uint(els) != clseq:
                return E.stream_wrong_last_sequence(seq=clseq)
            if written:
                return E.stream_wrong_last_sequence_constant()
        elss = _get(headers, "Nats-Expected-Last-Subject-Sequence")
        on = _get(headers, "Nats-Expected-Last-Subject-Sequence-Subject") or subject
        if elss:
            if on in written:
                return E.stream_wrong_last_sequence_constant()
            if on in expected:
                if expected[on] != _go_uint(elss):
                    return E.stream_wrong_last_sequence(seq=expected[on])
            else:
                last = st.last_matching(on)
                found = last.seq if last is not None else 0
                if found != _go_uint(elss):
                    return E.stream_wrong_last_sequence(seq=found)
                expected[on] = found
        elif _get(headers, "Nats-Expected-Last-Subject-Sequence-Subject"):
            return E.stream_expected_last_seq_per_subject_invalid()
        rollup = (_get(headers, "Nats-Rollup") or "").lower()
        if rollup:
            if not cfg["allow_rollup_hdrs"] or cfg["deny_purge"]:
                return E.stream_rollup_failed(err="rollup not permitted")
            if rollup == "sub" and subject in written:
                return E.stream_rollup_failed(err="batch rollup sub invalid")
            if rollup == "all" and written:
                return E.stream_rollup_failed(err="batch rollup all invalid")
            if rollup not in ("sub", "all"):
                return E.stream_rollup_failed(err=f'rollup value invalid: "{rollup}"')
        size = st.msg_size(Msg(0, subject, encode_headers(headers), data, 0))
        count_bytes = written.setdefault(subject, [0, 0])
        count_bytes[0] += 1
        count_bytes[1] += size
        if cfg["discard"] == "new":
            n = len(st.msgs) + sum(c for c, _ in written.values())
            nbytes = st.bytes + sum(b for _, b in written.values())
            if 0 < st.limit("max_msgs") < n:
                return E.stream_store_failed(err="maximum messages exceeded")
            if 0 < st.limit("max_bytes") < nbytes:
                return E.stream_store_failed(err="maximum bytes exceeded")
            maxp = st.limit("max_msgs_per_subject")
            if cfg.get("discard_new_per_subject") and maxp > 0 and not rollup:
                if sum(1 for m in st.msgs if m.subject == subject) + count_bytes[0] > maxp:
                    return E.stream_store_failed(err="maximum messages per subject exceeded")
        clseq += 1
    return None
