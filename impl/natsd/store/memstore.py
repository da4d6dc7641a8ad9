"""MemStore: the in-memory stream store.

Mirrors nats-server server/memstore.go (``memStore``) behind the
``StreamStore`` interface of ``natsd.store.base``; see there for the
contract, the sans-IO time model and the removal hook.

Theory of operation
-------------------
State: ``_msgs`` (seq -> StoreMsg), ``_order`` (the live sequences, a
``SeqList``), ``_fss`` (subject -> SeqList of its live sequences), the
counters (msgs = len(_msgs), bytes, first/last seq and ts), a min-heap of
(expires, seq) for per-message TTLs with ``_ttl_exp`` (seq -> expires) as the
truth (heap entries that disagree are stale and skipped), the set of
never-expiring sequences (TTL < 0), and ``_age_cursor``: every live message
below it is a never-expiring one, so age expiry starts there.

Every mutation goes through ``_insert`` and ``_remove``, which keep all of
the above in step; ``_remove`` also moves first_seq to the next live
sequence (or to last_seq + 1 when the store empties). Interior deletes are
not stored: they are the gaps of ``_order`` between first and last.

Wildcard filters are resolved against the subject keys of ``_fss``. The
matching subject set for each recently used wildcard filter is cached and
kept current as subjects appear and disappear (at most ``FILTER_CACHE``
filters, each costing one token match per new or vanished subject).

Complexity (n messages, S subjects, M subjects matching a filter, k on one
subject): store O(1) amortised plus O(log) per evicted message; a new
subject adds O(cached filters). Remove O(log n). load_msg O(1); literal
load_next/prev/last O(log k); wildcard ones O(M log k) or a bounded linear
walk; filtered_state/num_pending O(M log k) (O(1) for all subjects from the
start); purge O(1) plus freeing; purge_ex/compact/truncate O(removed log n);
expire O(expired log n); next_expiry amortised O(1); state() O(1),
state(deleted=True) O(n + deleted).

Intended differences from Go's memstore (tests pin them):

- ``filtered_state`` and ``load_last_msg(">")`` report the last *live*
  matching sequence; Go reports ``state.LastSeq`` even when that message was
  removed (and fails ``LoadLastMsg(">")`` then).
- ``truncate`` that leaves no message sets first_seq = seq + 1 (Go keeps the
  old first_seq, leaving first > last + 1).
- The empty subject is indexed like any other subject (Go leaves it out of
  the per-subject state); streams never store one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar

from natsd.subjects.validate import tokens_match

from ._seqlist import SeqList
from .base import (
    ErrMaxBytes,
    ErrMaxMsgs,
    ErrMaxMsgsPerSubject,
    ErrMsgTooLarge,
    ErrSequenceMismatch,
    ErrStoreClosed,
    ErrStoreEOF,
    ErrStoreMsgNotFound,
    ErrTooManyResults,
    RemoveCallback,
    SimpleState,
    StoreLimits,
    StoreMsg,
    StreamState,
    StreamStore,
    mem_store_msg_size,
)

__all__ = ["MemStore"]

FILTER_CACHE = 32  # wildcard filters whose matching subjects are kept current
_ALL = ("", ">")


def _header_value(hdr: bytes, key: bytes) -> bytes | None:
    """Go sliceHeader: the value of header ``key`` (case-sensitive), or None."""
    needle = b"\r\n" + key + b":"
    i = hdr.find(needle)
    if i < 0:
        return None
    start = i + len(needle)
    end = hdr.find(b"\r\n", start)
    return hdr[start : end if end >= 0 else len(hdr)].lstrip(b" ")


def _is_wildcard(filter: str) -> bool:
    if "*" not in filter and ">" not in filter:
        return False
    return any(t == "*" or t == ">" for t in filter.split("."))


class MemStore(StreamStore):
    """The memory store. ``first_seq`` is the stream config's first_seq (0 = 1)."""

    storage_type: ClassVar[str] = "memory"
    _msg_size = staticmethod(mem_store_msg_size)  # the accounting a discard new by bytes check uses

    def __init__(self, limits: StoreLimits | None = None, *, first_seq: int = 0) -> None:
        self._limits = limits or StoreLimits()
        self._msgs: dict[int, StoreMsg] = {}
        self._order = SeqList()
        self._fss: dict[str, SeqList] = {}
        self._fcache: dict[str, tuple[list[str], set[str]]] = {}
        self._bytes = 0
        self._first_seq = 0
        self._first_ts = 0
        self._last_seq = 0
        self._last_ts = 0
        self._ttl_heap: list[tuple[int, int]] = []
        self._ttl_exp: dict[int, int] = {}
        self._ttl_stale = 0
        self._never: set[int] = set()
        self._age_cursor = 0
        self._on_remove: RemoveCallback | None = None
        self._closed = False
        if first_seq > 0:
            self._first_seq, self._last_seq = first_seq, first_seq - 1

    def __repr__(self) -> str:
        return (
            f"<MemStore msgs={len(self._msgs)} bytes={self._bytes} "
            f"first={self._first_seq} last={self._last_seq}>"
        )

    # --- internal: the only two mutators of message state -----------------------

    def _check(self) -> None:
        if self._closed:
            raise ErrStoreClosed()

    def _insert(self, subject: str, hdr: bytes | None, data: bytes, seq: int, ts: int, ttl: int) -> None:
        m = StoreMsg(subject, hdr, data, seq, ts)
        if not self._msgs:
            self._first_seq, self._first_ts = seq, ts
        self._msgs[seq] = m
        self._order.append(seq)
        self._bytes += mem_store_msg_size(subject, hdr, data)
        self._last_seq, self._last_ts = seq, ts
        sl = self._fss.get(subject)
        if sl is None:
            sl = self._new_subject(subject)
        sl.append(seq)
        if ttl > 0:
            exp = ts + ttl
            self._ttl_exp[seq] = exp
            heapq.heappush(self._ttl_heap, (exp, seq))
        elif ttl < 0:
            self._never.add(seq)

    def _new_subject(self, subject: str) -> SeqList:
        """The (empty) sequence list of a subject not stored before."""
        sl = self._fss[subject] = SeqList()
        if self._fcache:
            toks = subject.split(".")
            for ftoks, subs in self._fcache.values():
                if tokens_match(toks, ftoks):
                    subs.add(subject)
        return sl

    def _remove(self, seq: int) -> StoreMsg | None:
        m = self._msgs.pop(seq, None)
        if m is None:
            return None
        self._bytes -= mem_store_msg_size(m.subject, m.hdr, m.data)
        self._order.remove(seq)
        sl = self._fss[m.subject]
        sl.remove(seq)
        if not sl:
            del self._fss[m.subject]
            for _, subs in self._fcache.values():
                subs.discard(m.subject)
        if self._ttl_exp.pop(seq, None) is not None:
            self._ttl_stale += 1
            if self._ttl_stale > 64 and self._ttl_stale * 2 > len(self._ttl_heap):
                self._ttl_heap = [(e, s) for s, e in self._ttl_exp.items()]
                heapq.heapify(self._ttl_heap)
                self._ttl_stale = 0
        if self._never:
            self._never.discard(seq)
        if seq == self._first_seq:
            if self._msgs:
                self._first_seq = self._order.first
                self._first_ts = self._msgs[self._first_seq].ts
            else:
                self._first_seq, self._first_ts = self._last_seq + 1, 0
        return m

    def _remove_notify(self, seq: int) -> bool:
        m = self._remove(seq)
        if m is None:
            return False
        if self._on_remove is not None:
            self._on_remove(seq, m.subject)
        return True

    def _reset(self, first_seq: int, last_seq: int) -> int:
        """Drop every message; returns how many there were."""
        n = len(self._msgs)
        self._msgs = {}
        self._order = SeqList()
        self._fss = {}
        self._fcache.clear()
        self._bytes = 0
        self._ttl_heap, self._ttl_exp, self._ttl_stale = [], {}, 0
        self._never = set()
        self._age_cursor = 0
        self._first_seq, self._first_ts, self._last_seq = first_seq, 0, last_seq
        return n

    # --- internal: filters -----------------------------------------------------------

    def _matching(self, filter: str) -> Iterable[str]:
        """Subjects present that match the wildcard ``filter``."""
        ent = self._fcache.get(filter)
        if ent is None:
            ftoks = filter.split(".")
            subs = {s for s in self._fss if tokens_match(s.split("."), ftoks)}
            if len(self._fcache) >= FILTER_CACHE:
                del self._fcache[next(iter(self._fcache))]
            self._fcache[filter] = ent = (ftoks, subs)
        return ent[1]

    def _subjects_for(self, filter: str, wc: bool | None = None) -> Iterable[str] | None:
        """Subjects matching ``filter``; None means all of them."""
        if filter in _ALL:
            return None
        if wc is None:
            wc = _is_wildcard(filter)
        if wc:
            return self._matching(filter)
        return (filter,) if filter in self._fss else ()

    def _subjects_for_multi(self, filters: Sequence[str]) -> Iterable[str] | None:
        if not filters:
            return None
        if len(filters) == 1:
            return self._subjects_for(filters[0])
        out: set[str] = set()
        for f in filters:
            subs = self._subjects_for(f)
            if subs is None:
                return None
            out.update(subs)
        return out

    def _next_in(self, subjects: Iterable[str] | None, start: int) -> int | None:
        """First live sequence >= start on any of ``subjects`` (None = all)."""
        if subjects is None:
            return self._order.next_ge(start)
        fss = self._fss
        if not isinstance(subjects, (set, frozenset)) or len(subjects) <= 8:
            best = None
            for s in subjects:
                n = fss[s].next_ge(start)
                if n is not None and (best is None or n < best):
                    best = n
            return best
        # Many subjects: a short walk in sequence order usually finds one sooner.
        msgs = self._msgs
        budget = 2 * len(subjects) + 16
        for seq in self._order.iter_from(start):
            if msgs[seq].subject in subjects:
                return seq
            budget -= 1
            if not budget:
                break
        return self._next_in(tuple(subjects), start)

    def _prev_in(self, subjects: Iterable[str] | None, start: int) -> int | None:
        if subjects is None:
            return self._order.prev_le(start)
        fss = self._fss
        if not isinstance(subjects, (set, frozenset)) or len(subjects) <= 8:
            best = None
            for s in subjects:
                p = fss[s].prev_le(start)
                if p is not None and (best is None or p > best):
                    best = p
            return best
        msgs = self._msgs
        budget = 2 * len(subjects) + 16
        for seq in self._order.iter_down_from(start):
            if msgs[seq].subject in subjects:
                return seq
            budget -= 1
            if not budget:
                break
        return self._prev_in(tuple(subjects), start)

    def _filtered(self, start: int, subjects: Iterable[str] | None, last_per_subject: bool) -> SimpleState:
        if start < self._first_seq:
            start = self._first_seq
        if start > self._last_seq or not self._msgs:
            return SimpleState()
        if subjects is None:
            if last_per_subject:
                subjects = self._fss.keys()
            elif start <= self._first_seq:
                return SimpleState(len(self._msgs), self._first_seq, self._order.last)
            else:
                n = self._order.count_ge(start)
                if not n:
                    return SimpleState()
                return SimpleState(n, self._order.next_ge(start), self._order.last)  # type: ignore[arg-type]
        msgs = first = last = 0
        fss = self._fss
        for s in subjects:
            sl = fss[s]
            slast = sl.last
            if slast < start:
                continue
            if last_per_subject:
                msgs += 1
                f = slast
            elif start <= sl.first:
                msgs += len(sl)
                f = sl.first
            else:
                msgs += sl.count_ge(start)
                f = sl.next_ge(start)  # type: ignore[assignment]
            if not first or f < first:
                first = f
            if slast > last:
                last = slast
        return SimpleState(msgs, first, last)

    # --- writes ------------------------------------------------------------------------

    def _store(
        self,
        subject: str,
        hdr: bytes | None,
        data: bytes,
        seq: int,
        ts: int,
        ttl: int,
        discard_new_check: bool,
    ) -> int:
        if self._closed:
            raise ErrStoreClosed()
        if hdr is not None and type(hdr) is not bytes:
            hdr = bytes(hdr)
        if not hdr:
            hdr = None
        if type(data) is not bytes:
            data = bytes(data)
        lim = self._limits
        maxp = lim.max_msgs_per_subject
        sl = self._fss.get(subject)
        at_subj_limit = maxp > 0 and sl is not None and len(sl) >= maxp
        if discard_new_check and lim.discard == "new":
            if (
                at_subj_limit
                and lim.discard_new_per_subject
                and not (hdr and _header_value(hdr, b"Nats-Rollup"))
            ):
                raise ErrMaxMsgsPerSubject()
            if lim.max_msgs > 0 and len(self._msgs) >= lim.max_msgs and not at_subj_limit:
                raise ErrMaxMsgs()
            if lim.max_bytes > 0:
                size = self._msg_size(subject, hdr, data)
                if self._bytes + size > lim.max_bytes:
                    if not at_subj_limit:
                        raise ErrMaxBytes()
                    # Replacing the subject's oldest must free enough room.
                    old = self._msgs[sl.first]  # type: ignore[union-attr]
                    if self._msg_size(old.subject, old.hdr, old.data) < size:
                        raise ErrMaxBytes()
        if seq != self._last_seq + 1:
            if seq > 0:
                raise ErrSequenceMismatch()
            seq = self._last_seq + 1
        self._insert(subject, hdr, data, seq, ts, ttl)
        self._enforce_old(subject)
        return seq

    def _enforce_old(self, subject: str) -> None:
        """After an insert: the per-subject limit, and max_msgs / max_bytes of discard old."""
        lim = self._limits
        maxp = lim.max_msgs_per_subject
        if maxp > 0:
            sl = self._fss[subject]
            while len(sl) > maxp:
                self._remove_notify(sl.first)
        if lim.discard == "old":
            if lim.max_msgs > 0:
                while len(self._msgs) > lim.max_msgs:
                    self._remove_notify(self._first_seq)
            if lim.max_bytes > 0:
                while self._bytes > lim.max_bytes:
                    self._remove_notify(self._first_seq)

    def store_msg(
        self, subject: str, hdr: bytes | None, data: bytes, ttl: int = 0, *, now: int
    ) -> tuple[int, int]:
        self._check()
        mms = self._limits.max_msg_size
        if mms > 0 and (len(hdr) if hdr else 0) + len(data) > mms:
            raise ErrMsgTooLarge()
        return self._store(subject, hdr, data, self._last_seq + 1, now, ttl, True), now

    def store_raw_msg(
        self,
        subject: str,
        hdr: bytes | None,
        data: bytes,
        seq: int,
        ts: int,
        ttl: int = 0,
        *,
        discard_new_check: bool = False,
    ) -> None:
        self._store(subject, hdr, data, seq, ts, ttl, discard_new_check)

    def skip_msg(self, seq: int = 0, *, now: int, no_interest: bool = False) -> int:
        self._check()
        if seq != self._last_seq + 1:
            if seq > 0:
                raise ErrSequenceMismatch()
            seq = self._last_seq + 1
        self._last_seq = seq
        if no_interest or not self._last_ts:
            self._last_ts = now
        if not self._msgs:
            self._first_seq, self._first_ts = seq + 1, 0
        return seq

    def skip_msgs(self, seq: int, num: int, *, now: int) -> None:
        self._check()
        if seq != self._last_seq + 1:
            if seq > 0:
                raise ErrSequenceMismatch()
            seq = self._last_seq + 1
        last = seq + num - 1
        self._last_seq = last
        if not self._last_ts:
            self._last_ts = now
        if not self._msgs:
            self._first_seq, self._first_ts = last + 1, 0

    # --- reads -------------------------------------------------------------------------

    def load_msg(self, seq: int) -> StoreMsg:
        self._check()
        m = self._msgs.get(seq)
        if m is None:
            raise ErrStoreMsgNotFound() if seq <= self._last_seq else ErrStoreEOF()
        return m

    def _load_next(self, subjects: Iterable[str] | None, start: int) -> tuple[StoreMsg, int]:
        self._check()
        if start < self._first_seq:
            start = self._first_seq
        if start > self._last_seq or not self._msgs:
            raise ErrStoreEOF()
        seq = self._next_in(subjects, start)
        if seq is None:
            raise ErrStoreEOF()
        return self._msgs[seq], seq

    def load_next_msg(self, filter: str, wc: bool, start: int) -> tuple[StoreMsg, int]:
        return self._load_next(self._subjects_for(filter, wc), start)

    def load_next_msg_multi(self, filters: Sequence[str], start: int) -> tuple[StoreMsg, int]:
        return self._load_next(self._subjects_for_multi(filters), start)

    def _load_prev(self, subjects: Iterable[str] | None, start: int) -> tuple[StoreMsg, int]:
        self._check()
        if not self._msgs or start < self._first_seq:
            raise ErrStoreEOF()
        seq = self._prev_in(subjects, min(start, self._last_seq))
        if seq is None:
            raise ErrStoreEOF()
        return self._msgs[seq], seq

    def load_prev_msg(self, filter: str, wc: bool, start: int) -> tuple[StoreMsg, int]:
        return self._load_prev(self._subjects_for(filter, wc), start)

    def load_prev_msg_multi(self, filters: Sequence[str], start: int) -> tuple[StoreMsg, int]:
        return self._load_prev(self._subjects_for_multi(filters), start)

    def load_last_msg(self, subject: str) -> StoreMsg:
        self._check()
        subjects = self._subjects_for(subject)
        seq = None
        if subjects is None:
            if self._msgs:
                seq = self._order.last
        else:
            for s in subjects:
                last = self._fss[s].last
                if seq is None or last > seq:
                    seq = last
        if seq is None:
            raise ErrStoreMsgNotFound()
        return self._msgs[seq]

    def subject_for_seq(self, seq: int) -> str:
        self._check()
        m = self._msgs.get(seq)
        if m is None:
            raise ErrStoreMsgNotFound()
        return m.subject

    def get_seq_from_time(self, ts: int) -> int:
        self._check()
        msgs = self._msgs
        seq = self._order.bisect_key(ts, lambda s: msgs[s].ts)
        return self._last_seq + 1 if seq is None else seq

    # --- removal -------------------------------------------------------------------------

    def remove_msg(self, seq: int) -> bool:
        self._check()
        return self._remove_notify(seq)

    def purge(self) -> int:
        self._check()
        return self._reset(self._last_seq + 1, self._last_seq)

    def purge_ex(self, subject: str, seq: int, keep: int) -> int:
        self._check()
        if seq == 1:
            return 0
        if subject in _ALL:
            if keep == 0 and seq == 0:
                return self.purge()
            if seq > 1:
                return self.compact(seq)
            subject = ">"
        subjects = self._subjects_for(subject)
        it: Iterator[int]
        if subjects is None:
            total, it = len(self._msgs), iter(self._order)
        else:
            lists = [self._fss[s] for s in subjects]
            total = sum(len(sl) for sl in lists)
            it = iter(lists[0]) if len(lists) == 1 else heapq.merge(*lists)
        if not total:
            return 0
        maxp = 0
        if keep > 0:
            if keep >= total:
                return 0
            maxp = total - keep
        bound = seq - 1 if seq >= 1 else self._last_seq
        victims: list[int] = []
        for s in it:
            if s > bound:
                break
            victims.append(s)
            if maxp and len(victims) >= maxp:
                break
        for s in victims:
            self._remove(s)
        return len(victims)

    def compact(self, seq: int) -> int:
        self._check()
        if seq == 0:
            return self.purge()
        if self._first_seq > seq:
            return 0
        if seq <= self._last_seq:
            victims = []
            for s in self._order:
                if s >= seq:
                    break
                victims.append(s)
            for s in victims:
                self._remove(s)
            return len(victims)
        return self._reset(seq, seq - 1)

    def truncate(self, seq: int, *, now: int = 0) -> None:
        self._check()
        if seq == 0:
            self._reset(0, 0)
            self._last_ts = now
            return
        m = self._msgs.get(seq)
        last_ts = m.ts if m is not None else self._last_ts
        for s in list(self._order.iter_from(seq + 1)):
            self._remove(s)
        self._last_seq, self._last_ts = seq, last_ts
        if not self._msgs:
            self._first_seq, self._first_ts = seq + 1, 0
        if self._age_cursor > seq + 1:
            self._age_cursor = seq + 1

    # --- expiry ---------------------------------------------------------------------------

    def _age_start(self) -> int | None:
        """First live sequence that max_age could remove (skips never-expiring ones)."""
        s = self._order.next_ge(max(self._age_cursor, self._first_seq))
        never = self._never
        while s is not None and s in never:
            s = self._order.next_ge(s + 1)
        self._age_cursor = s if s is not None else self._last_seq + 1
        return s

    def _ttl_top(self) -> tuple[int, int] | None:
        heap = self._ttl_heap
        while heap:
            exp, seq = heap[0]
            if self._ttl_exp.get(seq) == exp:
                return exp, seq
            heapq.heappop(heap)
            self._ttl_stale -= 1
        return None

    def expire(self, now: int) -> int:
        self._check()
        n = 0
        max_age = self._limits.max_age
        if max_age > 0:
            min_ts = now - max_age
            while (s := self._age_start()) is not None and self._msgs[s].ts <= min_ts:
                self._remove_notify(s)
                n += 1
        while (top := self._ttl_top()) is not None and top[0] <= now:
            heapq.heappop(self._ttl_heap)
            del self._ttl_exp[top[1]]
            self._remove_notify(top[1])
            n += 1
        return n

    def peek_expired(self, now: int) -> list[StoreMsg]:
        self._check()
        seqs: set[int] = set()
        max_age = self._limits.max_age
        if max_age > 0:
            min_ts = now - max_age
            s = self._age_start()
            while s is not None and self._msgs[s].ts <= min_ts:
                seqs.add(s)
                s = self._order.next_ge(s + 1)
                while s is not None and s in self._never:
                    s = self._order.next_ge(s + 1)
        heap, exp_of = self._ttl_heap, self._ttl_exp
        stack = [0]
        while stack:  # every heap entry <= now: a subtree walk from the root
            i = stack.pop()
            if i < len(heap) and heap[i][0] <= now:
                exp, s = heap[i]
                if exp_of.get(s) == exp:
                    seqs.add(s)
                stack += (2 * i + 1, 2 * i + 2)
        return [self._msgs[s] for s in sorted(seqs)]

    def next_expiry(self) -> int | None:
        if self._closed:
            return None
        best = None
        if self._limits.max_age > 0 and (s := self._age_start()) is not None:
            best = self._msgs[s].ts + self._limits.max_age
        top = self._ttl_top()
        if top is not None and (best is None or top[0] < best):
            best = top[0]
        return best

    # --- state -----------------------------------------------------------------------------

    @property
    def stored_bytes(self) -> int:
        """The bytes the store holds, in its own accounting (``fast_state().bytes``)."""
        return self._bytes

    def fast_state(self) -> StreamState:
        n = len(self._msgs)
        return StreamState(
            msgs=n,
            bytes=self._bytes,
            first_seq=self._first_seq,
            first_ts=self._first_ts,
            last_seq=self._last_seq,
            last_ts=self._last_ts,
            num_subjects=len(self._fss),
            num_deleted=self._last_seq - self._first_seq + 1 - n if n else 0,
        )

    def state(self, *, deleted: bool = False) -> StreamState:
        st = self.fast_state()
        if not deleted:
            return st
        dl = list(self._order.gaps(st.first_seq, st.last_seq)) if st.num_deleted else []
        return StreamState(
            msgs=st.msgs,
            bytes=st.bytes,
            first_seq=st.first_seq,
            first_ts=st.first_ts,
            last_seq=st.last_seq,
            last_ts=st.last_ts,
            num_subjects=st.num_subjects,
            num_deleted=st.num_deleted,
            deleted=dl,
        )

    def filtered_state(self, seq: int, subject: str) -> SimpleState:
        self._check()
        return self._filtered(seq, self._subjects_for(subject), False)

    def subjects_state(self, filter: str) -> dict[str, SimpleState]:
        self._check()
        subjects = self._subjects_for(filter)
        fss = self._fss
        out = {}
        for s in fss if subjects is None else subjects:
            sl = fss[s]
            out[s] = SimpleState(len(sl), sl.first, sl.last)
        return out

    def subjects_totals(self, filter: str) -> dict[str, int]:
        self._check()
        subjects = self._subjects_for(filter)
        fss = self._fss
        return {s: len(fss[s]) for s in (fss if subjects is None else subjects)}

    def num_pending(self, start: int, filter: str, last_per_subject: bool) -> tuple[int, int]:
        self._check()
        return self._filtered(start, self._subjects_for(filter), last_per_subject).msgs, self._last_seq

    def num_pending_multi(
        self, start: int, filters: Sequence[str], last_per_subject: bool
    ) -> tuple[int, int]:
        self._check()
        ss = self._filtered(start, self._subjects_for_multi(filters), last_per_subject)
        return ss.msgs, self._last_seq

    def all_last_seqs(self) -> list[int]:
        self._check()
        return sorted(sl.last for sl in self._fss.values())

    def multi_last_seqs(self, filters: Sequence[str], max_seq: int = 0, max_allowed: int = 0) -> list[int]:
        self._check()
        if not self._msgs:
            return []
        if max_seq == 0:
            max_seq = self._last_seq
        seen: set[int] = set()
        for f in filters:
            subjects = self._subjects_for(f)
            for s in self._fss if subjects is None else subjects:
                sl = self._fss[s]
                seq = sl.last if sl.last <= max_seq else sl.prev_le(max_seq)
                if seq is not None:
                    seen.add(seq)
            if max_allowed > 0 and len(seen) > max_allowed:
                raise ErrTooManyResults()
        return sorted(seen)

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def limits(self) -> StoreLimits:
        return self._limits

    def update_config(self, limits: StoreLimits) -> None:
        self._check()
        old_maxp = self._limits.max_msgs_per_subject
        self._limits = limits
        if limits.discard == "old":
            if limits.max_msgs > 0:
                while len(self._msgs) > limits.max_msgs:
                    self._remove_notify(self._first_seq)
            if limits.max_bytes > 0:
                while self._bytes > limits.max_bytes:
                    self._remove_notify(self._first_seq)
        maxp = limits.max_msgs_per_subject
        if maxp > 0 and (old_maxp <= 0 or maxp < old_maxp):
            for subject in sorted(s for s, sl in self._fss.items() if len(sl) > maxp):
                sl = self._fss[subject]
                while len(sl) > maxp:
                    self._remove_notify(sl.first)

    def register_on_remove(self, cb: RemoveCallback | None) -> None:
        self._on_remove = cb

    def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._reset(self._last_seq + 1, self._last_seq)
