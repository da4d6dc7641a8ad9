"""The store area: the file store on a simulated disk, and the memory store, against ``natsd.model.store``.

Writes: ``Append`` (store_msg after the clock moves ``ms``), ``RawStore``
(store_raw_msg at last_seq + 1 + ``off``, or at 0 = "the next", with or
without the discard-new check), ``Oversize`` (store_msg of a record exactly
at the file record limit: refused), ``Skip``, ``Remove``, ``Erase``,
``Purge``, ``PurgeEx``, ``Compact``, ``Truncate``, ``Expire`` (the clock
moves, then expire), ``Tick`` (the clock moves; the store is told the time)
and ``Wipe`` (a new store: cipher and limits of the table :data:`LIMITS`,
discard old and new).

Reads change nothing and observe one answer: ``Load``, ``LoadNext``,
``LoadPrev``, ``LoadLast`` (the message and its sequence, or the error's
name), ``PerSubject`` (subjects_state, subjects_totals and filtered_state of
a filter), ``NumPending``, ``SeqFromTime`` and ``PeekExpired``.

Durability: ``Flush``, ``Sync``, ``Reopen`` (clean close and open with another
sync policy and compression), ``Crash`` (the process dies: the store object is
dropped unsynced, the page cache survives), ``PowerLoss`` (the disk keeps what
was durable and may keep a torn part of the rest), ``Corrupt`` (a bit flips
in, a cut shortens, or whole frames vanish from the end of, one block file or
the index, then the store is reopened) and ``WrongKey`` (opening with another
key or cipher must fail and touch no byte).

Observation of a write: its result (a refusal as the error's name) and the
state summary the store reports (``state(deleted=True)``: messages, bytes,
first, first_ts, last, last_ts, subjects, deleted), against the model's
summary in that store's byte accounting. For a recovery (``Reopen``,
``Crash``, ``PowerLoss``) the implementation's recovered state is a choice the
contract leaves open among the model's candidates
(:meth:`StoreModel.candidates`): ``model_step`` accepts it only if it equals
one of them exactly (messages included), which is "no acknowledged message
is missing and no operation is half applied". After ``Corrupt`` the model
accepts any state whose every message was stored at its sequence at some
time (nothing wrong is served), then continues from it.

Invariant after every step: the store's reported summary and its full
contents (every message read back by ``load_msg``, with its TTL) equal the
model's state.

Sync policy ``interval`` (store.sync.go_default): every write reaches the OS
at once, and a store_msg, skip_msg, expire or tick call (the calls carrying
``now``) fsyncs when ``sync_interval`` (1 s here) has passed since the last
such fsync (none yet after an open); the model marks those states synced, so
a later power loss may not lose them.

Harness ``core``: ``FileStore`` over a :class:`SimDisk`, small blocks (so
rollover and compaction happen within an example), a fake clock.

Harness ``memory``: ``MemStore`` with the same fake clock, against the same
model told that it states the memory store (memory byte accounting, no record
limit). The durability ops, ``Tick`` and ``Oversize`` are not generated for
it: a memory store has nothing to sync or recover (a restarted memory stream
is a new, empty store, which ``Wipe`` already is), and an oversize record is
not refused by it, only held in memory. The session (:func:`memory_session`)
selects the op set and the models' storage; memory ops replayed outside it
are compared with the file model (and diverge on bytes).

Faults (planted bugs the campaign must catch): ``no_fsync`` (sync flushes but
never fsyncs), ``no_tombstone`` (removals are not written), ``no_index``
(sealed block sizes are not recorded, so a block cut at a frame boundary goes
unreported), ``lps_counts_messages`` (num_pending with last_per_subject counts
messages, not subjects) and ``discard_new_ignored`` (the memory store skips
its discard-new check; the file store's byte check stays, so use the memory
harness).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from natsd.model.store import FILE_RECORD_LIMIT, Limits, Msg, StoreModel, StoreState
from natsd.oracle.base import Area, Harness, HarnessKind, Op, register, weighted
from natsd.oracle.simdisk import SimDisk
from natsd.store._frames import frame_end, scan_frames
from natsd.store.base import ErrStoreEOF, ErrStoreMsgNotFound, StoreError, StoreLimits, StoreMsg
from natsd.store.filestore import FileStore, FileStoreOptions
from natsd.store.memstore import MemStore

__all__ = ["AREA", "StoreOp", "CoreHarness", "MemoryHarness", "StoreCampaignModel", "memory_session"]

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S
DIR = "/disk/stream"
KEY = b"campaign-key-0123456789"
BLOCK_SIZE = 400
SYNC_INTERVAL = S
SUBJECTS = ("a", "b", "c.x", "c.y")
LIMITS = (
    Limits(),
    Limits(max_msgs=6),
    Limits(max_bytes=500),
    Limits(max_age=3 * S),
    Limits(max_msgs_per_subject=2),
    Limits(max_msgs=5, discard="new"),
    Limits(max_bytes=400, discard="new"),
    Limits(max_msgs_per_subject=2, discard="new", discard_new_per_subject=True),
    Limits(max_msgs=4, max_bytes=300, max_msgs_per_subject=1, discard="new"),
)
TTLS = (0, 0, 0, 2 * S, -1)


class Append(Op, frozen=True):
    subject: str
    size: int
    hdr: bool = False
    ttl: int = 0
    ms: int = 0
    rollup: bool = False  # headers with Nats-Rollup: sub (passes discard new per subject)


class RawStore(Op, frozen=True):
    subject: str
    size: int
    hdr: bool = False
    ttl: int = 0
    ms: int = 0
    off: int | None = 0  # sequence = last_seq + 1 + off; None: sequence 0 (the next)
    check: bool = False  # discard_new_check


class Oversize(Op, frozen=True):
    subject: str
    hdr: bool = False


class Skip(Op, frozen=True):
    ms: int = 0


class Remove(Op, frozen=True):
    seq: int


class Erase(Op, frozen=True):
    seq: int


class Purge(Op, frozen=True):
    pass


class PurgeEx(Op, frozen=True):
    subject: str
    seq: int = 0
    keep: int = 0


class Compact(Op, frozen=True):
    seq: int


class Truncate(Op, frozen=True):
    seq: int


class Expire(Op, frozen=True):
    ms: int


class Tick(Op, frozen=True):
    ms: int


class Load(Op, frozen=True):
    seq: int


class LoadNext(Op, frozen=True):
    filter: str
    start: int


class LoadPrev(Op, frozen=True):
    filter: str
    start: int


class LoadLast(Op, frozen=True):
    filter: str


class PerSubject(Op, frozen=True):
    filter: str
    seq: int = 0


class NumPending(Op, frozen=True):
    filter: str
    start: int
    last_per_subject: bool = False


class SeqFromTime(Op, frozen=True):
    back: int  # ms before now (negative: after)


class PeekExpired(Op, frozen=True):
    ms: int  # how far ahead of now


class Flush(Op, frozen=True):
    pass


class Sync(Op, frozen=True):
    pass


class Reopen(Op, frozen=True):
    sync: str = "group"
    compression: str = "none"


class Crash(Op, frozen=True):
    pass


class PowerLoss(Op, frozen=True):
    seed: int = 0


class Corrupt(Op, frozen=True):
    kind: str  # "flip" | "cut" | "cut_frames"
    block: int
    where: int  # per mille of the file


class WrongKey(Op, frozen=True):
    pass


class Wipe(Op, frozen=True):
    cipher: str = "none"
    limits: int = 0


StoreOp = (
    Append | RawStore | Oversize | Skip | Remove | Erase | Purge | PurgeEx | Compact | Truncate | Expire | Tick | Load
    | LoadNext | LoadPrev | LoadLast | PerSubject | NumPending | SeqFromTime | PeekExpired | Flush | Sync | Reopen
    | Crash | PowerLoss | Corrupt | WrongKey | Wipe
)

READS = (Load, LoadNext, LoadPrev, LoadLast, PerSubject, NumPending, SeqFromTime, PeekExpired)
SYNC_POINTS = (Append, Oversize, Skip, Expire, Tick)  # the calls that carry ``now`` into the store

_seq = st.integers(0, 40)
_filter = st.sampled_from(["a", "b", "c.x", "c.*", "c.>", "*", ">", "", "d"])
_ms = st.sampled_from([0, 0, 10, 700])
_start = st.sampled_from([0, 1, 2, 3, 5, 8, 13, 30])
_COMMON = (
    (12, st.builds(Append, st.sampled_from(SUBJECTS), st.integers(0, 60), st.booleans(), st.sampled_from(TTLS), _ms,
                   st.sampled_from([False] * 7 + [True]))),
    (3, st.builds(RawStore, st.sampled_from(SUBJECTS), st.integers(0, 60), st.booleans(), st.sampled_from(TTLS), _ms,
                  st.sampled_from([0, 0, 0, None, 1, -1, -3]), st.booleans())),
    (1, st.builds(Skip, st.sampled_from([0, 5]))),
    (3, st.builds(Remove, _seq)),
    (1, st.builds(Erase, _seq)),
    (1, st.just(Purge())),
    (1, st.builds(PurgeEx, st.sampled_from(["a", "c.*", "c.>", ">", ""]), st.sampled_from([0, 0, 1, 5, 20]),
                  st.sampled_from([0, 0, 1, 2]))),
    (1, st.builds(Compact, _seq)),
    (1, st.builds(Truncate, _seq)),
    (2, st.builds(Expire, st.sampled_from([0, 1000, 2500, 4000]))),
    (1, st.builds(Load, _seq)),
    (1, st.builds(LoadNext, _filter, _start)),
    (1, st.builds(LoadPrev, _filter, _start)),
    (1, st.builds(LoadLast, _filter)),
    (2, st.builds(PerSubject, _filter, _start)),
    (2, st.builds(NumPending, _filter, _start, st.booleans())),
    (1, st.builds(SeqFromTime, st.sampled_from([0, 0, 10, 700, 2000, 10**6, -1]))),
    (1, st.builds(PeekExpired, st.sampled_from([0, 1000, 2500, 4000]))),
)
FILE_OPS = weighted(
    *_COMMON,
    (1, st.builds(Oversize, st.sampled_from(SUBJECTS), st.booleans())),
    (1, st.builds(Tick, st.sampled_from([0, 300, 1000, 2500]))),
    (1, st.just(Flush())),
    (4, st.just(Sync())),
    (2, st.builds(Reopen, st.sampled_from(["group", "group", "always", "interval", "interval"]),
                  st.sampled_from(["none", "s2"]))),
    (2, st.just(Crash())),
    (3, st.builds(PowerLoss, st.integers(0, 2**16))),
    (1, st.builds(Corrupt, st.sampled_from(["flip", "cut", "cut_frames"]), st.integers(0, 9), st.integers(0, 999))),
    (1, st.just(WrongKey())),
    (1, st.builds(Wipe, st.sampled_from(["none", "aes", "chachapoly"]), st.integers(0, len(LIMITS) - 1))),
)
MEMORY_OPS = weighted(*_COMMON, (1, st.builds(Wipe, st.just("none"), st.integers(0, len(LIMITS) - 1))))

#: Which store the running session drives: "file" (harness core) or "memory".
_STORAGE: contextvars.ContextVar[str] = contextvars.ContextVar("natsd_store_campaign_storage", default="file")


@st.composite
def _ops(draw: Any) -> Op:
    return draw(FILE_OPS if _STORAGE.get() == "file" else MEMORY_OPS)


OPS = _ops()


def payload(size: int) -> bytes:
    return bytes((i * 7 + size) % 251 for i in range(size))


HDR = b"NATS/1.0\r\nK: v\r\n\r\n"
ROLLUP_HDR = b"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n"


def _hdr(op: Append | RawStore | Oversize) -> bytes | None:
    return ROLLUP_HDR if isinstance(op, Append) and op.rollup else HDR if op.hdr else None


def oversize(subject: str, hdr: bool) -> bytes:
    """A payload that puts the record exactly at the file record limit (zeros: cheap to allocate)."""
    return bytes(FILE_RECORD_LIMIT - len(subject) - (len(HDR) if hdr else 0))


# --------------------------------------------------------------------------- model


class StoreCampaignModel:
    """The store model plus what the campaign needs around it: the clock and the sync policy."""

    def __init__(self, storage: str | None = None) -> None:
        self.storage = storage or _STORAGE.get()
        self.m = StoreModel(storage=self.storage)
        self.now = T0
        self.sync_mode = "group"
        self.last_sync = 0  # sync interval: when the store last fsynced on its own (0: not since it opened)

    @property
    def covered(self) -> set[str]:
        return self.m.covered


def _msg_obs(x: Any) -> Any:
    """A message read as (subject, headers, payload, seq, ts); an error name as itself."""
    if isinstance(x, StoreMsg):
        return (x.subject, x.hdr, x.data, x.seq, x.ts)
    if isinstance(x, tuple) and isinstance(x[0], Msg):
        m, seq = x
        return (m.subject, m.hdr, m.data, seq, m.ts)
    return x


def _read_model(cm: StoreCampaignModel, op: Op) -> Any:
    m = cm.m
    if isinstance(op, Load):
        return _msg_obs(m.load(op.seq))
    if isinstance(op, (LoadNext, LoadPrev)):
        got = m.load_next(op.filter, op.start) if isinstance(op, LoadNext) else m.load_prev(op.filter, op.start)
        return got if isinstance(got, str) else (_msg_obs(got), got[1])
    if isinstance(op, LoadLast):
        return _msg_obs(m.load_last(op.filter))
    if isinstance(op, PerSubject):
        ss = m.subjects_state(op.filter)
        return (sorted(ss.items()), sorted((s, n) for s, (n, _, _) in ss.items()), m.filtered(op.seq, op.filter))
    if isinstance(op, NumPending):
        return m.num_pending(op.start, op.filter, op.last_per_subject)
    if isinstance(op, SeqFromTime):
        return m.seq_from_time(cm.now - op.back * MS)
    assert isinstance(op, PeekExpired)
    return m.peek_expired(cm.now + op.ms * MS)


def model_step(cm: StoreCampaignModel, op: Op, impl: Any) -> Any:
    m = cm.m
    result: Any = None
    if isinstance(op, READS):
        return ("read", _read_model(cm, op))
    if isinstance(op, Append):
        cm.now += op.ms * MS
        result = m.store(op.subject, _hdr(op), payload(op.size), op.ttl, cm.now)
    elif isinstance(op, RawStore):
        cm.now += op.ms * MS
        seq = 0 if op.off is None else max(0, m.state.last + 1 + op.off)
        result = m.store_raw(op.subject, _hdr(op), payload(op.size), seq, cm.now, op.ttl, op.check)
    elif isinstance(op, Oversize):
        result = m.store(op.subject, _hdr(op), oversize(op.subject, op.hdr), 0, cm.now)
    elif isinstance(op, Skip):
        cm.now += op.ms * MS
        result = m.skip(cm.now)
    elif isinstance(op, (Remove, Erase)):
        result = m.remove(op.seq)
        if isinstance(op, Erase):
            m.covered.add("store.remove.erase")
    elif isinstance(op, Purge):
        result = m.purge()
    elif isinstance(op, PurgeEx):
        result = m.purge_ex(op.subject, op.seq, op.keep)
    elif isinstance(op, Compact):
        result = m.compact(op.seq)
    elif isinstance(op, Truncate):
        m.truncate(op.seq, cm.now)
    elif isinstance(op, Expire):
        cm.now += op.ms * MS
        result = m.expire(cm.now)
    elif isinstance(op, Tick):
        cm.now += op.ms * MS
    elif isinstance(op, Flush):
        m.flush()
    elif isinstance(op, Sync):
        m.sync()
    elif isinstance(op, WrongKey):
        m.covered.add("store.encryption")
        return ("ok", "refused, untouched", None)
    elif isinstance(op, Wipe):
        covered = m.covered
        cm.m = m = StoreModel(LIMITS[op.limits], storage=cm.storage)
        m.covered = covered
        cm.sync_mode, cm.last_sync = "group", 0
        if op.cipher != "none":
            m.covered.add("store.encryption")
    elif isinstance(op, (Reopen, Crash, PowerLoss)):
        if isinstance(op, Reopen):
            m.sync()  # a clean close syncs
        got = impl[2] if isinstance(impl, tuple) and len(impl) == 3 and isinstance(impl[2], StoreState) else None
        if got is None or not m.recovered(got, isinstance(op, PowerLoss)):
            return ("recovered", "a state the contract allows", [c.summary(m.size) for c in m.candidates(True)])
        cm.last_sync = 0
        if isinstance(op, Reopen):
            cm.sync_mode = op.sync
            if op.compression == "s2":
                m.covered.add("store.compression")
        return impl
    elif isinstance(op, Corrupt):
        got = impl[2] if isinstance(impl, tuple) and len(impl) == 4 and isinstance(impl[2], StoreState) else None
        if got is None:
            return ("corrupt", "a recovered store", None)
        bad = m.served_ok(got)
        if bad:
            return ("corrupt", "only messages that were stored", bad)
        lost = not any(c.summary() == got.summary() and c.msgs == got.msgs for c in m.candidates(False))
        if lost and impl[1] and not impl[3]:
            # Only a cut of the newest block at a frame boundary looks like a torn write.
            return ("corrupt", "a loss in a sealed block or index is reported", None)
        m.adopt(got)
        m.covered.update(("store.recovery.torn_tail", "store.recovery.index"))
        cm.last_sync = 0
        return impl
    if cm.sync_mode == "always":
        m.sync()
    elif cm.sync_mode == "interval":
        m.flush()  # every write goes to the OS at once
        if isinstance(op, SYNC_POINTS) and cm.now - cm.last_sync >= SYNC_INTERVAL:
            cm.last_sync = cm.now
            m.sync()
            m.covered.add("store.sync.go_default")
    return ("ok", result, m.summary())


# ------------------------------------------------------------------------- harness


def snapshot(fs: MemStore) -> StoreState:
    """The store's full contents as a model state (every message read back)."""
    s = fs.state()
    msgs: dict[int, Msg] = {}
    if s.msgs:
        for seq in range(s.first_seq, s.last_seq + 1):
            try:
                sm = fs.load_msg(seq)
            except (ErrStoreMsgNotFound, ErrStoreEOF):
                continue
            # The TTL is not readable through the interface: take it from the index.
            exp = fs._ttl_exp.get(seq)
            ttl = exp - sm.ts if exp is not None else (-1 if seq in fs._never else 0)
            msgs[seq] = Msg(sm.subject, sm.hdr, sm.data, sm.ts, ttl)
    return StoreState(msgs, s.first_seq if not s.msgs else s.last_seq + 1, s.last_seq, s.last_ts)


def reported(fs: MemStore) -> tuple:
    """The state summary as the store reports it (``state(deleted=True)``), in the model's order."""
    s = fs.state(deleted=True)
    return (s.msgs, s.bytes, s.first_seq, s.first_ts, s.last_seq, s.last_ts, s.num_subjects, list(s.deleted or []))


def _limits(lim: Limits) -> StoreLimits:
    return StoreLimits(max_msgs=lim.max_msgs, max_bytes=lim.max_bytes, max_age=lim.max_age,
                       max_msgs_per_subject=lim.max_msgs_per_subject, discard=lim.discard,  # type: ignore[arg-type]
                       discard_new_per_subject=lim.discard_new_per_subject)


def _wc(filter: str) -> bool:
    return "*" in filter or ">" in filter


class _StoreHarness(Harness):
    """What both harnesses do: the writes every store has, and the reads."""

    store: MemStore
    now: int

    def _read(self, op: Op) -> Any:
        fs = self.store
        if isinstance(op, Load):
            return _msg_obs(fs.load_msg(op.seq))
        if isinstance(op, (LoadNext, LoadPrev)):
            load = fs.load_next_msg if isinstance(op, LoadNext) else fs.load_prev_msg
            sm, seq = load(op.filter, _wc(op.filter), op.start)
            return (_msg_obs(sm), seq)
        if isinstance(op, LoadLast):
            return _msg_obs(fs.load_last_msg(op.filter))
        if isinstance(op, PerSubject):
            ss = fs.subjects_state(op.filter)
            f = fs.filtered_state(op.seq, op.filter)
            return (sorted((s, (x.msgs, x.first, x.last)) for s, x in ss.items()),
                    sorted(fs.subjects_totals(op.filter).items()), (f.msgs, f.first, f.last))
        if isinstance(op, NumPending):
            return fs.num_pending(op.start, op.filter, op.last_per_subject)
        if isinstance(op, SeqFromTime):
            return fs.get_seq_from_time(self.now - op.back * MS)
        assert isinstance(op, PeekExpired)
        return [sm.seq for sm in fs.peek_expired(self.now + op.ms * MS)]

    def _write(self, op: Op) -> Any:
        """Apply a write every store has; returns its result."""
        fs = self.store
        if isinstance(op, Append):
            self.now += op.ms * MS
            return fs.store_msg(op.subject, _hdr(op), payload(op.size), op.ttl, now=self.now)
        if isinstance(op, RawStore):
            self.now += op.ms * MS
            seq = 0 if op.off is None else max(0, fs.state().last_seq + 1 + op.off)
            return fs.store_raw_msg(op.subject, _hdr(op), payload(op.size), seq, self.now, op.ttl,
                                    discard_new_check=op.check)
        if isinstance(op, Skip):
            self.now += op.ms * MS
            return fs.skip_msg(now=self.now)
        if isinstance(op, Remove):
            return fs.remove_msg(op.seq)
        if isinstance(op, Erase):
            return fs.erase_msg(op.seq)
        if isinstance(op, Purge):
            return fs.purge()
        if isinstance(op, PurgeEx):
            return fs.purge_ex(op.subject, op.seq, op.keep)
        if isinstance(op, Compact):
            return fs.compact(op.seq)
        if isinstance(op, Truncate):
            return fs.truncate(op.seq, now=self.now)
        if isinstance(op, Expire):
            self.now += op.ms * MS
            return fs.expire(self.now)
        raise NotImplementedError(f"{type(self).__name__} has no op {op!r}")

    def _apply_common(self, op: Op) -> Any:
        if isinstance(op, READS):
            try:
                return ("read", self._read(op))
            except StoreError as e:
                return ("read", type(e).__name__)
        try:
            result = self._write(op)
        except StoreError as e:
            result = type(e).__name__
        return ("ok", result, reported(self.store))


class CoreHarness(_StoreHarness):
    sides = ("core",)

    def __init__(self) -> None:
        self.disk = SimDisk()
        self.now = T0
        self.cipher = "none"
        self.limits = LIMITS[0]
        self.sync = "group"
        self.compression = "none"
        self.store = self._open()

    def _options(self, cipher: str | None = None, key: bytes | None = None) -> FileStoreOptions:
        c = self.cipher if cipher is None else cipher
        return FileStoreOptions(block_size=BLOCK_SIZE, sync=self.sync, sync_interval=SYNC_INTERVAL,  # type: ignore[arg-type]
                                cache_blocks=2, compression=self.compression, cipher=c,  # type: ignore[arg-type]
                                key=(key or KEY) if c != "none" else None)

    def _open(self) -> FileStore:
        return FileStore(DIR, _limits(self.limits), options=self._options(), fs=self.disk)

    def _reopen(self) -> tuple:
        self.store = self._open()
        return ("recovered", self.store.recovery_report().clean, snapshot(self.store))

    def apply(self, op: Op) -> dict[str, Any]:
        return {"core": self._apply(op)}

    def _apply(self, op: Op) -> Any:
        fs = self.store
        assert isinstance(fs, FileStore)
        if isinstance(op, Oversize):
            try:
                result = fs.store_msg(op.subject, _hdr(op), oversize(op.subject, op.hdr), now=self.now)
            except StoreError as e:
                result = type(e).__name__
            return ("ok", result, reported(fs))
        if isinstance(op, Tick):
            self.now += op.ms * MS
            fs.tick(self.now)
            return ("ok", None, reported(fs))
        if isinstance(op, Flush):
            fs.flush()
        elif isinstance(op, Sync):
            fs.sync()
        elif isinstance(op, Reopen):
            fs.stop()
            self.sync, self.compression = op.sync, op.compression
            return self._reopen()
        elif isinstance(op, Crash):
            self.disk.crash()
            return self._reopen()
        elif isinstance(op, PowerLoss):
            self.disk.power_loss(random.Random(op.seed))
            return self._reopen()
        elif isinstance(op, Corrupt):
            return self._corrupt(op)
        elif isinstance(op, WrongKey):
            return self._wrong_key()
        elif isinstance(op, Wipe):
            self.disk = SimDisk()
            self.cipher, self.limits, self.sync, self.compression = op.cipher, LIMITS[op.limits], "group", "none"
            self.store = fs = self._open()
        else:
            return self._apply_common(op)
        return ("ok", None, reported(fs))

    def _corrupt(self, op: Corrupt) -> tuple:
        blocks = sorted((p for p in self.disk.files(DIR + "/msgs/") if p.endswith(".blk")),
                        key=lambda p: int(p.rsplit("/", 1)[1][:-4]))
        targets = blocks + [p for p in self.disk.files(DIR + "/msgs/") if p.endswith("index.db")]
        last = False
        if targets:
            path = targets[op.block % len(targets)]
            last = path == blocks[-1]
            size = self.disk.size(path)
            if op.kind == "flip" and size:
                self.disk.flip_bit(path, op.where * size * 8 // 1000)
            elif op.kind == "cut":
                self.disk.cut(path, op.where * size // 1000)
            elif op.kind == "cut_frames" and path.endswith(".blk"):
                # whole frames vanish from the end: every frame left still checks out
                buf = self.disk.read(path)
                ends = [0] + [frame_end(buf, off) for off, _, _ in scan_frames(buf)]
                self.disk.cut(path, max(e for e in ends if e <= op.where * size // 1000))
        return (*self._reopen(), last)

    def _wrong_key(self) -> tuple:
        before = self.disk.image()
        wrong = ("aes", b"another key") if self.cipher == "none" else (self.cipher, b"another key")
        try:
            FileStore(DIR, options=self._options(*wrong), fs=self.disk)
            return ("refused", "opened with a wrong key")
        except StoreError:
            pass
        if self.disk.image() != before:
            return ("refused", "but files changed")
        return ("ok", "refused, untouched", None)

    def state(self) -> dict[str, Any]:
        return {"core": (snapshot(self.store), reported(self.store))}


class MemoryHarness(_StoreHarness):
    """``MemStore`` with a fake clock: the ops that do not concern durability."""

    sides = ("memory",)

    def __init__(self) -> None:
        self.now = T0
        self.store = MemStore(_limits(LIMITS[0]))

    def apply(self, op: Op) -> dict[str, Any]:
        if isinstance(op, Wipe):
            self.store = MemStore(_limits(LIMITS[op.limits]))
            return {"memory": ("ok", None, reported(self.store))}
        return {"memory": self._apply_common(op)}

    def state(self) -> dict[str, Any]:
        return {"memory": (snapshot(self.store), reported(self.store))}


def contents_agree(cm: StoreCampaignModel, impl: tuple[StoreState, tuple]) -> str | None:
    snap, rep = impl
    st_ = cm.m.state
    if cm.m.summary() != rep:
        return f"state: model {cm.m.summary()}, store reports {rep}"
    if st_.msgs != snap.msgs:
        return f"contents: model {sorted(st_.msgs)}, store {sorted(snap.msgs)}"
    ttls = {s: m.ttl for s, m in st_.msgs.items()}
    if ttls != {s: m.ttl for s, m in snap.msgs.items()}:
        return f"TTLs: model {ttls}, store {({s: m.ttl for s, m in snap.msgs.items()})}"
    return None


@contextlib.contextmanager
def core_session() -> Iterator[Any]:
    # Recovery warnings are expected by the thousand here (every corruption op).
    logger = logging.getLogger("natsd.store")
    level = logger.level
    logger.setLevel(logging.ERROR)
    token = _STORAGE.set("file")
    try:
        yield CoreHarness
    finally:
        _STORAGE.reset(token)
        logger.setLevel(level)


@contextlib.contextmanager
def memory_session() -> Iterator[Any]:
    """The memory harness: memory ops are drawn and the models state the memory store."""
    token = _STORAGE.set("memory")
    try:
        yield MemoryHarness
    finally:
        _STORAGE.reset(token)


# --------------------------------------------------------------------------- faults


@contextlib.contextmanager
def _patched(name: str, fn: Any, cls: type = FileStore) -> Iterator[None]:
    old = cls.__dict__[name]
    setattr(cls, name, fn)
    try:
        yield
    finally:
        setattr(cls, name, old)


def _no_fsync() -> contextlib.AbstractContextManager[None]:
    def sync(self: FileStore) -> None:
        self.flush()

    return _patched("sync", sync)


def _no_tombstone() -> contextlib.AbstractContextManager[None]:
    def flush_del_run(self: FileStore) -> None:
        self._del_run = []

    return _patched("_flush_del_run", flush_del_run)


def _no_index() -> contextlib.AbstractContextManager[None]:
    def write_index(self: FileStore) -> None:
        return None

    return _patched("_write_index", write_index)


def _lps_counts_messages() -> contextlib.AbstractContextManager[None]:
    orig = MemStore.num_pending

    def num_pending(self: MemStore, start: int, filter: str, last_per_subject: bool) -> tuple[int, int]:
        return orig(self, start, filter, False)

    return _patched("num_pending", num_pending, MemStore)


def _discard_new_ignored() -> contextlib.AbstractContextManager[None]:
    orig = MemStore._store

    def store(self: MemStore, subject: str, hdr: bytes | None, data: bytes, seq: int, ts: int, ttl: int,
              discard_new_check: bool) -> int:
        return orig(self, subject, hdr, data, seq, ts, ttl, False)

    return _patched("_store", store, MemStore)


AREA = register(
    Area(
        name="store",
        title="File store on a simulated disk (appends, removals, reads, expiry, limits, sync policies, crash, power"
              " loss, corruption), and the memory store",
        op_type=StoreOp,
        ops=OPS,
        new_model=StoreCampaignModel,
        model_step=model_step,
        invariants=(("contents_agree", contents_agree),),
        harnesses={
            "core": HarnessKind("core", "FileStore over a SimDisk (page cache vs durable image), fake clock",
                                core_session, in_process=True),
            "memory": HarnessKind("memory", "MemStore, fake clock; the ops that do not concern durability",
                                  memory_session, in_process=True),
        },
        faults={"no_fsync": _no_fsync, "no_tombstone": _no_tombstone, "no_index": _no_index,
                "lps_counts_messages": _lps_counts_messages, "discard_new_ignored": _discard_new_ignored},
    )
)
