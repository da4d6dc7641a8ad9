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
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["Msg", "StoreState", "StoreModel", "Limits", "file_size", "subject_matches"]


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


def file_size(m: Msg) -> int:
    """store.bytes.file: 22 + subject + payload + 8, plus 4 + headers with headers."""
    return 30 + len(m.subject) + len(m.data) + (4 + len(m.hdr) if m.hdr else 0)


@dataclass(frozen=True)
class StoreState:
    msgs: dict[int, Msg] = field(default_factory=dict)
    empty_first: int = 0  # first_seq while no message is stored
    last: int = 0
    last_ts: int = 0

    @property
    def first(self) -> int:
        return min(self.msgs) if self.msgs else self.empty_first

    def summary(self) -> tuple:
        """(msgs, bytes, first, first_ts, last, last_ts, subjects, deleted): store.state.invariant."""
        first = self.first
        deleted = [s for s in range(first, self.last + 1) if s not in self.msgs] if self.msgs else []
        return (
            len(self.msgs),
            sum(file_size(m) for m in self.msgs.values()),
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
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.history: list[StoreState] = [StoreState()]
        self.synced = 0
        self.written = 0
        self.ever: dict[int, set[Msg]] = {}  # every message ever stored at a sequence
        self.covered: set[str] = set()

    @property
    def state(self) -> StoreState:
        return self.history[-1]

    def _push(self, st: StoreState, *rules: str) -> None:
        self.history.append(st)
        self.covered.update(rules)
        self.covered.add("store.state.invariant")  # every observation carries the summary
        if not st.msgs:
            self.covered.add("store.state.empty")

    # --- operations ---------------------------------------------------------------------

    def store(self, subject: str, hdr: bytes | None, data: bytes, ttl: int, now: int) -> tuple[int, int]:
        """store.append.sequence, store.append.limits_old, store.bytes.file."""
        st = self.state
        seq = st.last + 1
        m = Msg(subject, hdr or None, data, now, ttl)
        msgs = dict(st.msgs)
        msgs[seq] = m
        self.ever.setdefault(seq, set()).add(m)
        st = replace(st, msgs=msgs, last=seq, last_ts=now)
        lim = self.limits
        if lim.max_msgs_per_subject > 0:
            on = sorted(s for s, x in st.msgs.items() if x.subject == subject)
            st = _drop(st, on[: max(0, len(on) - lim.max_msgs_per_subject)])
        while lim.max_msgs > 0 and len(st.msgs) > lim.max_msgs:
            st = _drop(st, [st.first])
        while lim.max_bytes > 0 and sum(file_size(x) for x in st.msgs.values()) > lim.max_bytes:
            st = _drop(st, [st.first])
        self._push(st, "store.append.sequence", "store.append.limits_old", "store.bytes.file")
        return seq, now

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
        self._push(_drop(st, [seq]) if ok else st, "store.remove", "store.file.tombstones",
                   *(() if ok else ("store.remove.missing",)))
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

    def expire(self, now: int) -> int:
        """store.expiry.max_age, store.expiry.ttl."""
        st = self.state
        age = self.limits.max_age
        victims = [
            s
            for s, m in st.msgs.items()
            if (m.ttl > 0 and m.ts + m.ttl <= now) or (age > 0 and m.ttl >= 0 and m.ts <= now - age)
        ]
        self._push(_drop(st, victims) if victims else st, "store.expiry.max_age", "store.expiry.ttl")
        return len(victims)

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
            if cand.summary() == st.summary() and cand.msgs == st.msgs:
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
