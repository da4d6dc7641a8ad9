"""The stream store, as plainly as it can be said: a map from sequence to message,
plus what of it survives a crash.

Spec: spec/store.toml. Go: server/store.go (StreamStore), server/filestore.go,
server/memstore.go. Each operation names the rule ids it implements.

Theory of operation
-------------------
``StoreState`` is a value: the messages by sequence, the first sequence an
empty store reports, the last sequence and its timestamp. Every operation
builds the next value from the previous one by scanning dicts; nothing is
indexed or cached.

Durability is data too: ``StoreModel.history`` holds the state after every
operation since the last recovery; ``synced`` is the index of the last state
that was made durable (``sync``, or every call under sync ``always``) and
``written`` the last one handed to the operating system (``flush``). After a
process crash the store must come back as one of ``history[written:]``;
after a power loss as one of ``history[synced:]`` (the newest operations may
be lost, never an acknowledged one, and never half an operation). Which one
is the choice the contract leaves open; ``recovered(state)`` checks the
implementation's choice and adopts it.

``StoreModel(storage=...)`` says which store it states: ``"file"`` accounts
bytes with :func:`file_size` (store.bytes.file) and refuses records past the
file record limit; ``"memory"`` accounts with :func:`mem_size`
(store.bytes.memory) and has no durability (nothing calls ``flush``, ``sync``
or the recovery functions for it). Every other operation is the same for both
(store.memstore.parity). Reads (``load``, ``load_next``, ``filtered``, ...)
answer from ``state`` and change nothing. A refused write returns the Go
error's name (``"ErrMaxMsgs"``) and leaves the state as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

__all__ = ["Msg", "StoreState", "StoreModel", "Limits", "file_size", "mem_size", "subject_matches", "FILE_RECORD_LIMIT"]

#: natsd's file record limit: subject + headers + payload must stay below its frame limit (64 MiB)
#: minus room for the record header (store.file.record_limit).
FILE_RECORD_LIMIT = 64 * 1024 * 1024 - 1024


@dataclass(frozen=True)
class Msg:
    subject: str
    hdr: bytes | None
    data: bytes
    ts: int
    ttl: int = field(default=0, compare=False)  # ns; < 0: never expires (not observable by reads)


@dataclass(frozen=True)
class Limits:
    max_msgs: int = -1
    max_bytes: int = -1
    max_age: int = 0
    max_msgs_per_subject: int = -1
    discard: str = "old"  # "old" | "new"
    discard_new_per_subject: bool = False


def file_size(m: Msg) -> int:
    """store.bytes.file: 22 + subject + payload + 8, plus 4 + headers with headers."""
    return 30 + len(m.subject) + len(m.data) + (4 + len(m.hdr) if m.hdr else 0)


def mem_size(m: Msg) -> int:
    """store.bytes.memory: subject + headers + payload + 16."""
    return len(m.subject) + (len(m.hdr) if m.hdr else 0) + len(m.data) + 16


@dataclass(frozen=True)
class StoreState:
    msgs: dict[int, Msg] = field(default_factory=dict)
    empty_first: int = 0  # first_seq while no message is stored
    last: int = 0
    last_ts: int = 0

    @property
    def first(self) -> int:
        return min(self.msgs) if self.msgs else self.empty_first

    def summary(self, size: Callable[[Msg], int] = file_size) -> tuple:
        """(msgs, bytes, first, first_ts, last, last_ts, subjects, deleted): store.state.invariant."""
        first = self.first
        deleted = [s for s in range(first, self.last + 1) if s not in self.msgs] if self.msgs else []
        return (
            len(self.msgs),
            sum(size(m) for m in self.msgs.values()),
            first,
            self.msgs[first].ts if self.msgs else 0,
            self.last,
            self.last_ts,
            len({m.subject for m in self.msgs.values()}),
            deleted,
        )


def subject_matches(subject: str, filter: str) -> bool:
    """``*`` matches one token, a final ``>`` one or more; "" and ">" match everything."""
    if filter in ("", ">"):
        return True
    toks, ftoks = subject.split("."), filter.split(".")
    for i, f in enumerate(ftoks):
        if f == ">":
            return len(toks) > i
        if i >= len(toks) or (f != "*" and f != toks[i]):
            return False
    return len(toks) == len(ftoks)


def _drop(st: StoreState, seqs: list[int]) -> StoreState:
    msgs = {s: m for s, m in st.msgs.items() if s not in set(seqs)}
    return replace(st, msgs=msgs, empty_first=st.last + 1 if not msgs else st.empty_first)


class StoreModel:
    def __init__(self, limits: Limits | None = None, storage: str = "file") -> None:
        self.limits = limits or Limits()
        self.storage = storage
        self.size = file_size if storage == "file" else mem_size
        self.history: list[StoreState] = [StoreState()]
        self.synced = 0
        self.written = 0
        self.ever: dict[int, set[Msg]] = {}  # every message ever stored at a sequence
        self.covered: set[str] = set()

    @property
    def state(self) -> StoreState:
        return self.history[-1]

    def summary(self) -> tuple:
        return self.state.summary(self.size)

    def _push(self, st: StoreState, *rules: str) -> None:
        self.history.append(st)
        self.covered.update(rules)
        self.covered.add("store.state.invariant")  # every observation carries the summary
        self.covered.add("store.bytes.file" if self.storage == "file" else "store.bytes.memory")
        if self.storage == "memory":
            self.covered.add("store.memstore.parity")  # the same model as the file store, bytes aside
        if not st.msgs:
            self.covered.add("store.state.empty")

    # --- operations ---------------------------------------------------------------------

    def _refusal(self, m: Msg, seq: int, discard_new_check: bool) -> str | None:
        """Why a write is refused before anything changes, or None (Go's order of checks)."""
        st, lim = self.state, self.limits
        if self.storage == "file" and len(m.subject) + len(m.hdr or b"") + len(m.data) >= FILE_RECORD_LIMIT:
            self.covered.add("store.file.record_limit")
            return "ErrMsgTooLarge"
        if discard_new_check and lim.discard == "new":
            self.covered.add("store.append.limits_new")
            on = sorted(s for s, x in st.msgs.items() if x.subject == m.subject)
            at_subject_limit = lim.max_msgs_per_subject > 0 and len(on) >= lim.max_msgs_per_subject
            rollup = m.hdr is not None and b"\r\nNats-Rollup:" in m.hdr
            if at_subject_limit and lim.discard_new_per_subject and not rollup:
                return "ErrMaxMsgsPerSubject"
            if lim.max_msgs > 0 and len(st.msgs) >= lim.max_msgs and not at_subject_limit:
                return "ErrMaxMsgs"
            if lim.max_bytes > 0 and sum(self.size(x) for x in st.msgs.values()) + self.size(m) > lim.max_bytes:
                # At the subject limit the subject's oldest goes: it must free enough room.
                if not at_subject_limit or self.size(st.msgs[on[0]]) < self.size(m):
                    return "ErrMaxBytes"
        if seq != st.last + 1 and seq > 0:
            self.covered.add("store.append.raw")
            return "ErrSequenceMismatch"
        return None

    def _store(self, m: Msg, seq: int, discard_new_check: bool, *rules: str) -> int | str:
        refused = self._refusal(m, seq, discard_new_check)
        if refused:
            self._push(self.state, *rules)
            return refused
        st = self.state
        seq = st.last + 1
        msgs = dict(st.msgs)
        msgs[seq] = m
        self.ever.setdefault(seq, set()).add(m)
        st = replace(st, msgs=msgs, last=seq, last_ts=m.ts)
        lim = self.limits
        if lim.max_msgs_per_subject > 0:  # under both discard policies
            on = sorted(s for s, x in st.msgs.items() if x.subject == m.subject)
            st = _drop(st, on[: max(0, len(on) - lim.max_msgs_per_subject)])
        if lim.discard == "old":
            while lim.max_msgs > 0 and len(st.msgs) > lim.max_msgs:
                st = _drop(st, [st.first])
            while lim.max_bytes > 0 and sum(self.size(x) for x in st.msgs.values()) > lim.max_bytes:
                st = _drop(st, [st.first])
        self._push(st, *rules)
        return seq

    def store(self, subject: str, hdr: bytes | None, data: bytes, ttl: int, now: int) -> tuple[int, int] | str:
        """store.append.sequence, store.append.limits_old, store.append.limits_new, store.file.record_limit."""
        seq = self._store(Msg(subject, hdr or None, data, now, ttl), 0, True,
                          "store.append.sequence", "store.append.limits_old")
        return seq if isinstance(seq, str) else (seq, now)

    def store_raw(self, subject: str, hdr: bytes | None, data: bytes, seq: int, ts: int, ttl: int,
                  discard_new_check: bool) -> str | None:
        """store.append.raw: at ``seq`` (0 = the next) with timestamp ``ts``; limits as ``store``."""
        out = self._store(Msg(subject, hdr or None, data, ts, ttl), seq, discard_new_check,
                          "store.append.raw", "store.append.limits_old")
        return out if isinstance(out, str) else None

    def skip(self, now: int) -> int:
        """store.skip."""
        st = self.state
        seq = st.last + 1
        st = replace(st, last=seq, last_ts=st.last_ts or now, empty_first=seq + 1 if not st.msgs else st.empty_first)
        self._push(st, "store.skip")
        return seq

    def remove(self, seq: int) -> bool:
        """store.remove, store.remove.missing, store.file.tombstones."""
        st = self.state
        ok = seq in st.msgs
        self._push(_drop(st, [seq]) if ok else st, "store.remove",
                   *(() if ok else ("store.remove.missing",)), *(("store.file.tombstones",) if self.storage == "file" else ()))
        return ok

    def purge(self) -> int:
        """store.purge."""
        st = self.state
        self._push(replace(st, msgs={}, empty_first=st.last + 1), "store.purge")
        return len(st.msgs)

    def purge_ex(self, subject: str, seq: int, keep: int) -> int:
        """store.purge_ex: matching messages below seq (0 = any), keeping the newest keep."""
        st = self.state
        if seq == 1:
            self._push(st, "store.purge_ex")
            return 0
        if subject in ("", ">"):
            if keep == 0 and seq == 0:
                return self.purge()
            if seq > 1:
                return self.compact(seq)
        cands = sorted(s for s, m in st.msgs.items() if subject_matches(m.subject, subject))
        if keep > 0:
            cands = cands[: max(0, len(cands) - keep)]
        if seq > 1:
            cands = [c for c in cands if c < seq]
        self._push(_drop(st, cands) if cands else st, "store.purge_ex")
        return len(cands)

    def compact(self, seq: int) -> int:
        """store.compact."""
        st = self.state
        if seq == 0:
            return self.purge()
        if st.first > seq:
            self._push(st, "store.compact")
            return 0
        if seq <= st.last:
            victims = [s for s in st.msgs if s < seq]
            self._push(_drop(st, victims), "store.compact")
            return len(victims)
        self._push(replace(st, msgs={}, empty_first=seq, last=seq - 1), "store.compact")
        return len(st.msgs)

    def truncate(self, seq: int, now: int) -> None:
        """store.truncate."""
        st = self.state
        if seq == 0:
            self._push(StoreState(last_ts=now), "store.truncate")
            return
        last_ts = st.msgs[seq].ts if seq in st.msgs else st.last_ts
        msgs = {s: m for s, m in st.msgs.items() if s <= seq}
        st = replace(st, msgs=msgs, last=seq, last_ts=last_ts, empty_first=seq + 1 if not msgs else st.empty_first)
        self._push(st, "store.truncate")

    def _expired(self, now: int) -> list[int]:
        age = self.limits.max_age
        return [
            s
            for s, m in self.state.msgs.items()
            if (m.ttl > 0 and m.ts + m.ttl <= now) or (age > 0 and m.ttl >= 0 and m.ts <= now - age)
        ]

    def expire(self, now: int) -> int:
        """store.expiry.max_age, store.expiry.ttl."""
        st = self.state
        victims = self._expired(now)
        self._push(_drop(st, victims) if victims else st, "store.expiry.max_age", "store.expiry.ttl")
        return len(victims)

    # --- reads (no change) -------------------------------------------------------------

    def load(self, seq: int) -> tuple[Msg, int] | str:
        """store.load: the message, else not found up to last_seq and EOF past it."""
        self.covered.add("store.load")
        st = self.state
        if seq in st.msgs:
            return st.msgs[seq], seq
        return "ErrStoreMsgNotFound" if seq <= st.last else "ErrStoreEOF"

    def _matching(self, filter: str) -> list[int]:
        return sorted(s for s, m in self.state.msgs.items() if subject_matches(m.subject, filter))

    def load_next(self, filter: str, start: int) -> tuple[Msg, int] | str:
        """store.load_next_last: the first matching message at or after ``start``."""
        self.covered.add("store.load_next_last")
        seqs = [s for s in self._matching(filter) if s >= start]
        return (self.state.msgs[seqs[0]], seqs[0]) if seqs else "ErrStoreEOF"

    def load_prev(self, filter: str, start: int) -> tuple[Msg, int] | str:
        """store.load_next_last: the last matching message at or before ``start``."""
        self.covered.add("store.load_next_last")
        seqs = [s for s in self._matching(filter) if s <= start]
        return (self.state.msgs[seqs[-1]], seqs[-1]) if seqs else "ErrStoreEOF"

    def load_last(self, filter: str) -> tuple[Msg, int] | str:
        """store.load_next_last: the last message matching ``filter``."""
        self.covered.add("store.load_next_last")
        seqs = self._matching(filter)
        return (self.state.msgs[seqs[-1]], seqs[-1]) if seqs else "ErrStoreMsgNotFound"

    def filtered(self, start: int, filter: str) -> tuple[int, int, int]:
        """store.per_subject: (count, first, last) of the matching messages at or after ``start``."""
        self.covered.add("store.per_subject")
        seqs = [s for s in self._matching(filter) if s >= start]
        return (len(seqs), seqs[0], seqs[-1]) if seqs else (0, 0, 0)

    def subjects_state(self, filter: str) -> dict[str, tuple[int, int, int]]:
        """store.per_subject: (count, first, last) of every subject matching ``filter``."""
        self.covered.add("store.per_subject")
        out: dict[str, tuple[int, int, int]] = {}
        for s in self._matching(filter):
            subject = self.state.msgs[s].subject
            n, first, _ = out.get(subject, (0, s, s))
            out[subject] = (n + 1, first, s)
        return out

    def num_pending(self, start: int, filter: str, last_per_subject: bool) -> tuple[int, int]:
        """store.per_subject: matching messages at or after ``start`` (or subjects whose last is), and last_seq."""
        self.covered.add("store.per_subject")
        if last_per_subject:
            n = sum(1 for _, _, last in self.subjects_state(filter).values() if last >= start)
        else:
            n = self.filtered(start, filter)[0]
        return n, self.state.last

    def seq_from_time(self, ts: int) -> int:
        """store.seq_from_time: the first message stored at or after ``ts``, else last_seq + 1."""
        self.covered.add("store.seq_from_time")
        seqs = sorted(s for s, m in self.state.msgs.items() if m.ts >= ts)
        return seqs[0] if seqs else self.state.last + 1

    def peek_expired(self, now: int) -> list[int]:
        """store.expiry.delete_marker: what ``expire(now)`` would remove, without removing it."""
        self.covered.add("store.expiry.delete_marker")
        return sorted(self._expired(now))

    # --- durability -------------------------------------------------------------------------

    def flush(self) -> None:
        self.written = len(self.history) - 1

    def sync(self) -> None:
        """store.sync.ack_after_fsync: everything so far is durable."""
        self.written = self.synced = len(self.history) - 1
        self.covered.add("store.sync.ack_after_fsync")

    def candidates(self, power_loss: bool) -> list[StoreState]:
        """The states a recovery may come back as (oldest first)."""
        return self.history[self.synced if power_loss else self.written :]

    def recovered(self, st: StoreState, power_loss: bool) -> bool:
        """store.recovery.exact, store.recovery.torn_tail: adopt ``st`` if the contract allows it."""
        for cand in self.candidates(power_loss):
            if cand.summary(self.size) == st.summary(self.size) and cand.msgs == st.msgs:
                self.history, self.synced, self.written = [cand], 0, 0
                self.covered.update(("store.recovery.exact", "store.recovery.torn_tail"))
                return True
        return False

    def served_ok(self, st: StoreState) -> list[str]:
        """store.file.checksum: after corruption, every message served is one that was stored."""
        bad = [f"seq {s}: {m!r} was never stored there" for s, m in st.msgs.items() if m not in self.ever.get(s, ())]
        self.covered.add("store.file.checksum")
        return bad

    def adopt(self, st: StoreState) -> None:
        self.history, self.synced, self.written = [st], 0, 0
