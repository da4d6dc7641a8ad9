"""The store area: the file store on a simulated disk against ``natsd.model.store``.

Operations: ``Append`` (store_msg after the clock moves ``ms``), ``Skip``,
``Remove``, ``Erase``, ``Purge``, ``PurgeEx``, ``Compact``, ``Truncate``, ``Expire``
(the clock moves, then expire), ``Flush``, ``Sync``, ``Reopen`` (clean
close and open with another sync policy and compression), ``Crash`` (the
process dies: the store object is dropped unsynced, the page cache
survives), ``PowerLoss`` (the disk keeps what was durable and may keep a torn
part of the rest), ``Corrupt`` (a bit flips in, a cut shortens, or whole frames
vanish from the end of, one block file or the index, then the store is reopened), ``WrongKey`` (opening with another key or
cipher must fail and touch no byte) and ``Wipe`` (a new store: cipher and
limits of the table :data:`LIMITS`).

Observation of an op: its result and the state summary (messages, bytes,
first, first_ts, last, last_ts, subjects, deleted). For a recovery
(``Reopen``, ``Crash``, ``PowerLoss``) the implementation's recovered
state is a choice the contract leaves open among the model's candidates
(:meth:`StoreModel.candidates`): ``model_step`` accepts it only if it equals
one of them exactly (messages included), which is "no acknowledged message
is missing and no operation is half applied". After ``Corrupt`` the model
accepts any state whose every message was stored at its sequence at some
time (nothing wrong is served), then continues from it.

Invariant after every step: the implementation's full contents (every
message read back by ``load_msg``) equal the model's state.

Harness ``core``: ``FileStore`` over a :class:`SimDisk`, small blocks (so
rollover and compaction happen within an example), a fake clock. Faults
(planted bugs the campaign must catch): ``no_fsync`` (sync flushes but never
fsyncs), ``no_tombstone`` (removals are not written), ``no_index`` (sealed block
sizes are not recorded, so a block cut at a frame boundary goes unreported).
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from natsd.model.store import Limits, Msg, StoreModel, StoreState
from natsd.oracle.base import Area, Harness, HarnessKind, Op, register, weighted
from natsd.oracle.simdisk import SimDisk
from natsd.store._frames import frame_end, scan_frames
from natsd.store.base import ErrStoreEOF, ErrStoreMsgNotFound, StoreError, StoreLimits
from natsd.store.filestore import FileStore, FileStoreOptions

__all__ = ["AREA", "StoreOp", "CoreHarness", "StoreCampaignModel"]

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S
DIR = "/disk/stream"
KEY = b"campaign-key-0123456789"
BLOCK_SIZE = 400
SUBJECTS = ("a", "b", "c.x", "c.y")
LIMITS = (
    Limits(),
    Limits(max_msgs=6),
    Limits(max_bytes=500),
    Limits(max_age=3 * S),
    Limits(max_msgs_per_subject=2),
)
TTLS = (0, 0, 0, 2 * S, -1)


class Append(Op, frozen=True):
    subject: str
    size: int
    hdr: bool = False
    ttl: int = 0
    ms: int = 0


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
    Append | Skip | Remove | Erase | Purge | PurgeEx | Compact | Truncate | Expire | Flush | Sync | Reopen | Crash
    | PowerLoss | Corrupt | WrongKey | Wipe
)

_seq = st.integers(0, 40)
OPS = weighted(
    (12, st.builds(Append, st.sampled_from(SUBJECTS), st.integers(0, 60), st.booleans(), st.sampled_from(TTLS),
                   st.sampled_from([0, 0, 10, 700]))),
    (1, st.builds(Skip, st.sampled_from([0, 5]))),
    (3, st.builds(Remove, _seq)),
    (1, st.builds(Erase, _seq)),
    (1, st.just(Purge())),
    (1, st.builds(PurgeEx, st.sampled_from(["a", "c.*", "c.>", ">", ""]), st.sampled_from([0, 0, 1, 5, 20]),
                  st.sampled_from([0, 0, 1, 2]))),
    (1, st.builds(Compact, _seq)),
    (1, st.builds(Truncate, _seq)),
    (2, st.builds(Expire, st.sampled_from([0, 1000, 2500, 4000]))),
    (1, st.just(Flush())),
    (4, st.just(Sync())),
    (2, st.builds(Reopen, st.sampled_from(["group", "group", "always", "interval"]), st.sampled_from(["none", "s2"]))),
    (2, st.just(Crash())),
    (3, st.builds(PowerLoss, st.integers(0, 2**16))),
    (1, st.builds(Corrupt, st.sampled_from(["flip", "cut", "cut_frames"]), st.integers(0, 9), st.integers(0, 999))),
    (1, st.just(WrongKey())),
    (1, st.builds(Wipe, st.sampled_from(["none", "aes", "chachapoly"]), st.integers(0, len(LIMITS) - 1))),
)


def payload(size: int) -> bytes:
    return bytes((i * 7 + size) % 251 for i in range(size))


HDR = b"NATS/1.0\r\nK: v\r\n\r\n"


# --------------------------------------------------------------------------- model


class StoreCampaignModel:
    """The store model plus what the campaign needs around it: the clock and the sync policy."""

    def __init__(self) -> None:
        self.m = StoreModel()
        self.now = T0
        self.sync_mode = "group"

    @property
    def covered(self) -> set[str]:
        return self.m.covered


def _summary(st_: StoreState) -> tuple:
    return st_.summary()


def model_step(cm: StoreCampaignModel, op: Op, impl: Any) -> Any:
    m = cm.m
    result: Any = None
    if isinstance(op, Append):
        cm.now += op.ms * MS
        result = m.store(op.subject, HDR if op.hdr else None, payload(op.size), op.ttl, cm.now)
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
    elif isinstance(op, Flush):
        m.flush()
    elif isinstance(op, Sync):
        m.sync()
    elif isinstance(op, WrongKey):
        m.covered.add("store.encryption")
        return ("ok", "refused, untouched", None)
    elif isinstance(op, Wipe):
        cm.m = m = StoreModel(LIMITS[op.limits])
        cm.sync_mode = "group"
        if op.cipher != "none":
            m.covered.add("store.encryption")
    elif isinstance(op, (Reopen, Crash, PowerLoss)):
        if isinstance(op, Reopen):
            m.sync()  # a clean close syncs
        got = impl[2] if isinstance(impl, tuple) and len(impl) == 3 and isinstance(impl[2], StoreState) else None
        if got is None or not m.recovered(got, isinstance(op, PowerLoss)):
            return ("recovered", "a state the contract allows", [_summary(c) for c in m.candidates(True)])
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
        return impl
    if cm.sync_mode == "always":
        m.sync()
    elif cm.sync_mode == "interval":
        m.flush()
    return ("ok", result, _summary(m.state))


# ------------------------------------------------------------------------- harness


def snapshot(fs: FileStore) -> StoreState:
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


def _limits(lim: Limits) -> StoreLimits:
    return StoreLimits(max_msgs=lim.max_msgs, max_bytes=lim.max_bytes, max_age=lim.max_age,
                       max_msgs_per_subject=lim.max_msgs_per_subject)


class CoreHarness(Harness):
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
        return FileStoreOptions(block_size=BLOCK_SIZE, sync=self.sync, sync_interval=S, cache_blocks=2,  # type: ignore[arg-type]
                                compression=self.compression, cipher=c,  # type: ignore[arg-type]
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
        result: Any = None
        try:
            if isinstance(op, Append):
                self.now += op.ms * MS
                result = fs.store_msg(op.subject, HDR if op.hdr else None, payload(op.size), op.ttl, now=self.now)
            elif isinstance(op, Skip):
                self.now += op.ms * MS
                result = fs.skip_msg(now=self.now)
            elif isinstance(op, Remove):
                result = fs.remove_msg(op.seq)
            elif isinstance(op, Erase):
                result = fs.erase_msg(op.seq)
            elif isinstance(op, Purge):
                result = fs.purge()
            elif isinstance(op, PurgeEx):
                result = fs.purge_ex(op.subject, op.seq, op.keep)
            elif isinstance(op, Compact):
                result = fs.compact(op.seq)
            elif isinstance(op, Truncate):
                fs.truncate(op.seq, now=self.now)
            elif isinstance(op, Expire):
                self.now += op.ms * MS
                result = fs.expire(self.now)
            elif isinstance(op, Flush):
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
            elif isinstance(op, WrongKey):
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
            elif isinstance(op, Wipe):
                self.disk = SimDisk()
                self.cipher, self.limits, self.sync, self.compression = op.cipher, LIMITS[op.limits], "group", "none"
                self.store = fs = self._open()
        except StoreError as e:
            result = type(e).__name__
        if isinstance(op, WrongKey):
            return ("ok", result, None)
        return ("ok", result, _summary(snapshot(fs)))

    def state(self) -> dict[str, Any]:
        return {"core": snapshot(self.store)}

    def close(self) -> None:
        pass


def contents_agree(cm: StoreCampaignModel, impl: StoreState) -> str | None:
    st_ = cm.m.state
    if st_.summary() != impl.summary() or st_.msgs != impl.msgs:
        return f"model {st_.summary()} / {sorted(st_.msgs)}; store {impl.summary()} / {sorted(impl.msgs)}"
    ttls = {s: m.ttl for s, m in st_.msgs.items()}
    if ttls != {s: m.ttl for s, m in impl.msgs.items()}:
        return f"TTLs: model {ttls}, store {({s: m.ttl for s, m in impl.msgs.items()})}"
    return None


@contextlib.contextmanager
def core_session() -> Iterator[Any]:
    # Recovery warnings are expected by the thousand here (every corruption op).
    logger = logging.getLogger("natsd.store")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield CoreHarness
    finally:
        logger.setLevel(level)


# --------------------------------------------------------------------------- faults


@contextlib.contextmanager
def _patched(name: str, fn: Any) -> Iterator[None]:
    old = getattr(FileStore, name)
    setattr(FileStore, name, fn)
    try:
        yield
    finally:
        setattr(FileStore, name, old)


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


AREA = register(
    Area(
        name="store",
        title="File store on a simulated disk: appends, removals, expiry, sync policies, crash, power loss, corruption",
        op_type=StoreOp,
        ops=OPS,
        new_model=StoreCampaignModel,
        model_step=model_step,
        invariants=(("contents_agree", contents_agree),),
        harnesses={
            "core": HarnessKind("core", "FileStore over a SimDisk (page cache vs durable image), fake clock",
                                core_session, in_process=True),
        },
        faults={"no_fsync": _no_fsync, "no_tombstone": _no_tombstone, "no_index": _no_index},
    )
)
