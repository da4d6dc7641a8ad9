"""FileStore: the durable stream store (append-only blocks, checksums, recovery).

Plays the role of nats-server server/filestore.go (``fileStore``,
``msgBlock``: ``storeRawMsg``/``writeMsgRecord``, ``removeMsg``/
``writeTombstone``, ``recoverMsgs``/``rebuildStateLocked``, ``syncBlocks``,
``compact`` of a block); the on-disk format is natsd's own (see
``natsd.store._frames``). Spec rules: store.file.layout, store.file.record,
store.file.checksum, store.file.block_size, store.file.tombstones,
store.file.record_limit, store.recovery.index, store.recovery.torn_tail,
store.recovery.exact, store.sync.*, store.encryption, store.compression,
store.remove.erase, store.bytes.file, store.append.write_error, and,
through the shared semantics below, every StreamStore rule memstore has.

Theory of operation
-------------------
Semantics and the in-memory index are MemStore's: a FileStore *is* a MemStore
(same code for limits, filters, per-subject state, TTL and max_age expiry)
whose every change of message state is also written to disk. MemStore makes
all such changes through three internals, which FileStore extends:
``_insert`` (a message enters), ``_remove`` (one leaves) and ``_reset`` (all
leave, new first/last). Each also appends a record to the current
operation's pending list: ``M`` (the message, with its TTL), ``D`` (a
tombstone; runs of sequences coalesce) or ``P`` (purge to first/last/last_ts);
operations that only move counters (skip, truncate) append ``S``
(last seq, last ts, and the first seq an empty store has). When the public
call returns, its records become one checksummed *frame* appended to the
active block: a frame is applied whole or not at all on recovery, so an
operation (a publish and the evictions it caused) is atomic on disk.

Blocks are ``msgs/<n>.blk``; each starts with an ``S`` record of the state at
its creation, so the counters never depend on an older block. A block rolls
over once it reaches ``block_size`` (the full block is fsynced first, so a
power loss can only tear the newest block: what survives is always a prefix
of the operations).

Memory: the index (sequence lists per stream and per subject, TTLs, block
accounting) is in memory; message bodies only while their block is the
active one. When a block is sealed (and when recovery has replayed one),
MemStore's seq -> message map holds, for each of its messages, just the
block's id (``_MsgMap``); asking for such a message decodes the whole block
into a small LRU cache of blocks (``cache_blocks``), as Go's per-block cache.
Scans that read timestamps or subjects of old messages (age expiry, wildcard
walks, eviction from the front) therefore read old blocks once each.

Sync policy (``FileStoreOptions.sync``): ``group`` (default) buffers frames in
memory; ``flush()`` hands them to the OS and ``sync()`` flushes and fsyncs
once for everything since the last sync; the shell calls ``sync()`` once per
event-loop turn before it sends PubAcks (group commit). ``always`` syncs at
the end of every mutating call; ``interval`` writes every frame to the OS at
once and syncs when a call that carries ``now`` (``store_msg``, ``expire``,
``tick``) finds ``sync_interval`` ns passed since the last sync (Go's
sync_interval; the store has no clock of its own).

Compaction (after a sync, when memory and disk agree): a sealed block whose
live messages are under half its bytes (or that held an erased message) is
rewritten (temp file, fsync, rename, fsync dir) keeping its leading ``S``
record, its last purge (only while an older block exists), the tombstones
that may still hit a message in an older block, and its live messages; a
block left with none of those is removed. Erased messages therefore leave the
disk at the next sync.

Recovery (``__init__``): check the meta file and the key; replay every block
in order through the same internals (records are not re-logged; each block's
messages go back to disk once it is replayed); a frame
whose checksum, decryption or decoding fails ends its block: the block is
truncated there (a torn tail, a flipped bit) and the loss reported
(``recovery_report()``, a warning on the ``natsd.store`` logger). Later blocks
are replayed as usual: corruption never costs data that is valid elsewhere.
Nothing is modified before the whole scan succeeded; a frame whose checksum
holds but that fails decryption means a wrong key: ``ErrBadKey``, and no file
is touched. Everything recovered is fsynced before it is served (a process
crash leaves it only in the page cache).

``msgs/index.db`` lists the sealed blocks and their sizes when sealed. A
sealed block only shrinks by compaction, which updates the index before it
shrinks or removes the file; so a sealed block that is missing, or shorter
than the index says, lost data even if every frame left checks out (a cut at
a frame boundary), and recovery reports it. A missing, damaged or stale index
is rebuilt from the blocks after recovery.

A write or fsync error sticks: every later mutating call and ``sync()`` raise
it until the store is reopened (Go's setWriteErr).

Intended differences from Go (spec/store.toml notes): natsd's own record and
index format (state is always rebuilt by replaying the blocks), group commit
before acknowledging, whole-frame AEAD encryption instead of a stream cipher,
lz4 under the config name s2.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import ClassVar, Literal

import msgspec

from . import _frames as F
from ._fsio import FileSystem, OsFileSystem
from .base import (
    ErrMsgTooLarge,
    ErrSequenceMismatch,
    StoreError,
    StoreLimits,
    StoreMsg,
)
from .memstore import MemStore

__all__ = [
    "FileStore",
    "FileStoreOptions",
    "RecoveryReport",
    "BlockLoss",
    "ErrBadKey",
    "ErrStoreConfig",
    "file_store_msg_size",
    "dyn_block_size",
]

log = logging.getLogger("natsd.store")

KEY_TOKEN = b"natsd-filestore-key-check"
META = "meta.json"
INDEX = "index.db"
MSGS = "msgs"
_FRAME_HDR_SIZE = F.FRAME_HDR.size
FRAME_CHUNK = 1 << 20  # compaction writes frames of about this size


class ErrBadKey(StoreError):
    """The configured key (or cipher) cannot read this store. Nothing was touched."""

    text = "encryption key does not match the stored data"


class ErrStoreConfig(StoreError):
    """The options disagree with what the store directory holds."""

    text = "file store configuration does not match the stored data"


class FileStoreOptions(msgspec.Struct, frozen=True):
    """How a file store writes. ``key`` is required with a cipher."""

    block_size: int = 8 * 1024 * 1024
    sync: Literal["group", "always", "interval"] = "group"
    sync_interval: int = 120 * 1_000_000_000  # ns; Go's default sync_interval is 2m
    compression: Literal["none", "s2"] = "none"
    cipher: Literal["none", "aes", "chachapoly"] = "none"
    key: bytes | None = None
    max_buffer: int = 1 << 20  # group commit: flush to the OS past this many buffered bytes
    cache_blocks: int = 4  # decoded sealed blocks kept in memory (least recently used go first)


class BlockLoss(msgspec.Struct, frozen=True):
    """A block cut short on recovery: bytes from ``offset`` on were dropped."""

    block: str
    offset: int
    dropped: int
    reason: str


class RecoveryReport(msgspec.Struct, frozen=True):
    blocks: int = 0
    frames: int = 0
    truncated: list[BlockLoss] = []
    conflicts: int = 0  # messages replaced by a later record of the same sequence
    removed_temp: list[str] = []
    index: str = "missing"  # msgs/index.db on open: used | missing | invalid (then rebuilt)

    @property
    def clean(self) -> bool:
        return not self.truncated and not self.conflicts


MIB = 1024 * 1024
MAX_TTL = 1 << 62
# store_msg's fast path takes subjects at most this long (in characters: at most
# MAX_SUBJECT bytes whatever their encoding)
_FAST_SUBJECT = F.MAX_SUBJECT // 4
MAX_TS = (1 << 63) - 1


def dyn_block_size(retention: str, max_bytes: int, encrypted: bool) -> int:
    """Go dynBlkSize: the block size for a stream (store.file.block_size).

    With max_bytes: a quarter of it (plus one, rounded up to 100) when that is
    at most 32000 or at least 8 MiB, clamped there; anything between gets 4 MiB,
    as Go's. Without: 8 MiB for limits retention, else 4 MiB. Encrypted stores
    never exceed 2 MiB.
    """
    if max_bytes > 0:
        size = max_bytes // 4 + 1
        if size % 100:
            size += 100 - size % 100
        if size <= 32_000:
            size = 32_000
        elif size >= 8 * MIB:
            size = 8 * MIB
        else:
            size = 4 * MIB
        return min(size, 2 * MIB) if encrypted else size
    if encrypted:
        return 2 * MIB
    return 8 * MIB if retention == "limits" else 4 * MIB


def file_store_msg_size(subject: str, hdr: bytes | None, data: bytes) -> int:
    """Go fileStoreMsgSizeRaw: 22 + subject + payload + 8, plus 4 + headers with headers."""
    n = 30 + len(subject) + len(data)
    return n + 4 + len(hdr) if hdr else n


class _Block:
    __slots__ = ("id", "path", "size", "live", "live_bytes", "lo", "hi", "erase", "seqs")

    def __init__(self, bid: int, path: str) -> None:
        self.id = bid
        self.path = path
        self.size = 0  # bytes in the file plus (active block) bytes buffered
        self.live = 0
        self.live_bytes = 0
        self.lo = 0  # lowest and highest message sequence physically in the block
        self.hi = 0
        self.erase = False
        self.seqs: list[int] = []  # messages inserted while this block was the active one

    def saw(self, seq: int) -> None:
        if not self.lo or seq < self.lo:
            self.lo = seq
        if seq > self.hi:
            self.hi = seq


class _MsgMap(dict):
    """MemStore's seq -> StoreMsg map, where a message of a sealed block is held as
    that block's id (an int) and decoded from disk when asked for (``load``)."""

    __slots__ = ("_load",)

    def __init__(self, load: Callable[[int, int, bool], StoreMsg]) -> None:
        super().__init__()
        self._load = load

    def __getitem__(self, seq: int) -> StoreMsg:
        v = dict.__getitem__(self, seq)
        return self._load(seq, v, False) if type(v) is int else v

    def get(self, seq: int, default: StoreMsg | None = None) -> StoreMsg | None:  # type: ignore[override]
        v = dict.get(self, seq)
        if v is None:
            return default
        return self._load(seq, v, False) if type(v) is int else v

    def pop(self, seq: int, default: StoreMsg | None = None) -> StoreMsg | None:  # type: ignore[override]
        v = dict.get(self, seq)
        if v is None:
            return default
        m = self._load(seq, v, True) if type(v) is int else v
        dict.__delitem__(self, seq)
        return m


class FileStore(MemStore):
    """The file store. See the module docstring."""

    storage_type: ClassVar[str] = "file"
    _msg_size = staticmethod(file_store_msg_size)  # discard new by bytes counts in the file accounting

    def __init__(
        self,
        directory: str,
        limits: StoreLimits | None = None,
        *,
        first_seq: int = 0,
        options: FileStoreOptions | None = None,
        fs: FileSystem | None = None,
    ) -> None:
        super().__init__(limits, first_seq=first_seq)
        self._opts = opts = options or FileStoreOptions()
        if opts.block_size <= 0:
            raise ValueError("block_size must be positive")
        self._fs = fs if fs is not None else OsFileSystem()
        self._dir = directory.rstrip("/") or "/"
        self._mdir = f"{self._dir}/{MSGS}"
        self._codec = F.Codec(opts.compression, opts.cipher, opts.key)
        self._blocks: dict[int, _Block] = {}  # by id, ascending (insertion order)
        self._msgs = _MsgMap(self._load)
        self._cache: OrderedDict[int, dict[int, StoreMsg]] = OrderedDict()  # sealed block id -> messages
        self._active: _Block | None = None
        self._buf = bytearray()  # frames not yet handed to the OS
        # Group commit: the operations since the last flush, framed together at the
        # flush (one checksum, and one compression/encryption, per turn, not per
        # operation); _turn_est is what they added to the active block's size so far.
        self._turn: list[bytes] = []
        self._turn_est = 0
        self._pending: list[bytes] = []
        self._del_run: list[int] = []  # [first, count] of a tombstone run being built
        self._logging = False
        self._unsynced: set[str] = set()
        self._ns_dirty = False
        self._candidates: set[int] = set()
        self._sealed: dict[int, int] = {}  # msgs/index.db: sealed block id -> size when sealed
        self._last_sync = 0
        self._write_err: StoreError | None = None
        self._report = RecoveryReport()
        self._open()
        self._logging = True

    def __repr__(self) -> str:
        return (
            f"<FileStore {self._dir} msgs={len(self._msgs)} bytes={self._bytes} "
            f"first={self._first_seq} last={self._last_seq} blocks={len(self._blocks)}>"
        )

    # --- the three internals every change of message state goes through ---------

    def _insert(self, subject: str, hdr: bytes | None, data: bytes, seq: int, ts: int, ttl: int) -> None:
        super()._insert(subject, hdr, data, seq, ts, ttl)
        blk: _Block = self._active  # type: ignore[assignment]
        blk.seqs.append(seq)
        blk.live += 1
        # File accounting (store.bytes.file) over memory's: file_store_msg_size, inlined.
        if hdr:
            self._bytes += 18
            blk.live_bytes += 34 + len(subject) + len(data) + len(hdr)
        else:
            self._bytes += 14
            blk.live_bytes += 30 + len(subject) + len(data)
        if self._logging:
            if self._del_run:
                self._flush_del_run()
            self._pending.append(F.encode_msg(seq, ts, ttl, subject.encode(), hdr, data))
            if not blk.lo or seq < blk.lo:
                blk.lo = seq
            if seq > blk.hi:
                blk.hi = seq

    def _remove(self, seq: int) -> StoreMsg | None:
        bid = self._where(seq)
        m = super()._remove(seq)
        if m is None:
            return None
        self._bytes -= 18 if m.hdr else 14
        blk = self._blocks.get(bid) if bid is not None else None
        if blk is not None:
            blk.live -= 1
            blk.live_bytes -= file_store_msg_size(m.subject, m.hdr, m.data)
            if blk is not self._active and blk.live_bytes * 2 < blk.size:
                self._candidates.add(blk.id)
        if self._logging:
            run = self._del_run
            if run and seq == run[0] + run[1]:
                run[1] += 1
            else:
                self._flush_del_run()
                self._del_run = [seq, 1]
        return m

    def _reset(self, first_seq: int, last_seq: int) -> int:
        n = super()._reset(first_seq, last_seq)
        self._msgs = _MsgMap(self._load)
        self._cache.clear()
        for blk in self._blocks.values():
            blk.live = blk.live_bytes = 0
            blk.seqs = []
            if blk is not self._active:
                self._candidates.add(blk.id)
        if self._logging:
            self._del_run = []
            self._pending.append(F.encode_purge(first_seq, last_seq, self._last_ts))
        return n

    def _where(self, seq: int) -> int | None:
        """The id of the block holding live message ``seq`` (None when there is none)."""
        v = dict.get(self._msgs, seq)
        if v is None:
            return None
        return v if type(v) is int else self._active.id  # type: ignore[union-attr]

    def _stub_out(self, blk: _Block) -> None:
        """``blk`` is sealed (on disk for good): hold its messages by block id, not in memory."""
        msgs, bid = self._msgs, blk.id
        for seq in blk.seqs:
            v = dict.get(msgs, seq)
            if v is not None and type(v) is not int:
                dict.__setitem__(msgs, seq, bid)
        blk.seqs = []
        self._cache.pop(bid, None)

    def _load(self, seq: int, bid: int, drop: bool) -> StoreMsg:
        cache = self._cache
        msgs = cache.get(bid)
        if msgs is None:
            msgs = cache[bid] = self._decode_block(bid)
            while len(cache) > max(1, self._opts.cache_blocks):
                cache.popitem(last=False)
        else:
            cache.move_to_end(bid)
        m = msgs.pop(seq, None) if drop else msgs.get(seq)
        if m is None:
            raise StoreError(f"file store: message {seq} is unreadable in block {bid} (damaged on disk)")
        return m

    def _decode_block(self, bid: int) -> dict[int, StoreMsg]:
        """The live messages of sealed block ``bid``, decoded from its file."""
        path = f"{self._mdir}/{bid}.blk"
        buf = self._fs.read(path)
        out: dict[int, StoreMsg] = {}
        msgs = self._msgs
        end = 0
        try:
            for off, flags, stored in F.scan_frames(buf):
                for r in F.iter_records(self._codec.body(flags, stored)):
                    if r[0] == "M" and dict.get(msgs, r[1]) == bid:
                        _, seq, ts, _ttl, subject, hdr, data = r
                        out[seq] = StoreMsg(subject, hdr, data, seq, ts)
                end = F.frame_end(buf, off)
        except F.BadFrame:
            pass
        if end != len(buf):
            log.warning("filestore %s: block %s damaged at offset %d since it was recovered", self._dir, path, end)
        return out

    def _flush_del_run(self) -> None:
        if self._del_run:
            self._pending.append(F.encode_del(*self._del_run))
            self._del_run = []

    def _log_seqs(self) -> None:
        self._flush_del_run()
        empty_first = self._first_seq if not self._msgs else self._last_seq + 1
        self._pending.append(F.encode_seqs(empty_first, self._last_seq, self._last_ts))

    # --- committing an operation ---------------------------------------------------

    def _commit(self, now: int | None = None) -> None:
        """Turn the pending records of the call that just ran into one frame."""
        if self._del_run:
            self._flush_del_run()
        if not self._pending:
            if now is not None:
                self._maybe_sync(now)
            return
        pending = self._pending
        body = pending[0] if len(pending) == 1 else b"".join(pending)
        self._pending = []
        blk = self._active
        assert blk is not None
        mode = self._opts.sync
        try:
            if mode == "group":
                self._turn_add(body)
                return
            frame = self._codec.frame(body)
            self._buf += frame
            blk.size += len(frame)
            if blk.size >= self._opts.block_size:
                self._roll()
            if mode == "always":
                self.sync()
            else:
                self.flush()
                if now is not None:
                    self._maybe_sync(now)
        except OSError as e:
            self._fail(e)

    def _turn_add(self, body: bytes) -> None:
        """Group commit: an operation's records join the turn, framed at the flush
        with the rest of it; the size counted is exact but for compression and
        encryption, which the flush corrects."""
        blk: _Block = self._active  # type: ignore[assignment]
        self._turn.append(body)
        est = len(body) + _FRAME_HDR_SIZE
        self._turn_est += est
        blk.size += est
        if blk.size >= self._opts.block_size:
            self._roll()
        elif self._turn_est >= self._opts.max_buffer:
            self.flush()

    def _frame_turn(self) -> None:
        """The turn's operations become frames in the buffer (each operation whole in one)."""
        turn, blk = self._turn, self._active
        assert blk is not None
        self._turn = []
        chunks: list[list[bytes]] = [[]]
        size = 0
        for body in turn:  # frames of at most FRAME_CHUNK, but for a larger operation
            if size + len(body) > FRAME_CHUNK and chunks[-1]:
                chunks.append([])
                size = 0
            chunks[-1].append(body)
            size += len(body)
        for chunk in chunks:
            frame = self._codec.frame(chunk[0] if len(chunk) == 1 else b"".join(chunk))
            self._buf += frame
            blk.size += len(frame)
        blk.size -= self._turn_est
        self._turn_est = 0

    def _fail(self, e: OSError) -> None:
        err = StoreError(f"file store write error: {e}")
        self._write_err = err
        raise err from e

    def _check(self) -> None:
        super()._check()
        if self._write_err is not None:
            raise self._write_err

    def _new_block(self, bid: int) -> _Block:
        blk = _Block(bid, f"{self._mdir}/{bid}.blk")
        self._blocks[bid] = blk
        self._active = blk
        self._ns_dirty = True
        lead = self._codec.frame(
            F.encode_seqs(self._first_seq if not self._msgs else self._last_seq + 1, self._last_seq, self._last_ts)
        )
        self._buf += lead
        blk.size = len(lead)
        return blk

    def _roll(self) -> None:
        """Seal the active block (durably: only the newest block may tear) and start another."""
        old = self._active
        assert old is not None
        self.flush()
        self._fs.fsync(old.path)
        self._unsynced.discard(old.path)
        if old.live_bytes * 2 < old.size:
            self._candidates.add(old.id)
        self._sealed[old.id] = old.size
        self._write_index()
        self._new_block(old.id + 1)
        self._stub_out(old)

    # --- sync -------------------------------------------------------------------------

    def flush(self) -> None:
        """Hand buffered frames to the OS (they then survive a process crash)."""
        if self._turn:
            self._frame_turn()
        if self._buf and self._active is not None:
            data = bytes(self._buf)
            self._buf.clear()
            try:
                self._fs.append(self._active.path, data)
            except OSError as e:
                self._fail(e)
            self._unsynced.add(self._active.path)

    def flush_all_pending(self) -> None:
        self.flush()

    def sync(self) -> None:
        """Flush and fsync everything written since the last sync (group commit), then compact."""
        if self._write_err is not None:
            raise self._write_err
        self.flush()
        try:
            for path in sorted(self._unsynced):
                self._fs.fsync(path)
            self._unsynced.clear()
            if self._ns_dirty:
                self._fs.fsync_dir(self._mdir)
                self._ns_dirty = False
            if self._active is not None and self._active.erase:
                self._roll()
                self.flush()
                self._fs.fsync(self._active.path)
                self._unsynced.clear()
                self._fs.fsync_dir(self._mdir)
                self._ns_dirty = False
            if self._candidates:
                self._compact_blocks()
        except OSError as e:
            self._fail(e)

    def _maybe_sync(self, now: int) -> None:
        if self._opts.sync == "interval" and now - self._last_sync >= self._opts.sync_interval:
            self._last_sync = now
            self.sync()

    def tick(self, now: int) -> None:
        """Time passes: with sync ``interval``, sync when due."""
        self._maybe_sync(now)

    def next_sync_deadline(self) -> int | None:
        """With sync ``interval`` and unsynced data: when ``tick`` will sync (ns)."""
        if self._opts.sync != "interval" or not (self._buf or self._unsynced):
            return None
        return self._last_sync + self._opts.sync_interval

    @property
    def needs_sync(self) -> bool:
        return bool(self._buf or self._turn or self._unsynced or self._ns_dirty)

    # --- compaction -----------------------------------------------------------------------

    def _compact_blocks(self) -> None:
        for bid in sorted(self._candidates):
            blk = self._blocks.get(bid)
            if blk is None or blk is self._active:
                continue
            if blk.live_bytes * 2 < blk.size or blk.erase:
                self._rewrite(blk)
        self._candidates.clear()

    def _rewrite(self, blk: _Block) -> None:
        buf = self._fs.read(blk.path)
        frames = []
        end = 0
        try:
            for off, flags, stored in F.scan_frames(buf):
                frames.append(list(F.iter_records(self._codec.body(flags, stored))))
                end = F.frame_end(buf, off)
        except F.BadFrame:
            end = -1
        if end != len(buf):  # the block changed under us: leave it alone
            log.warning("filestore %s: block %s unreadable during compaction; kept", self._dir, blk.path)
            return
        older = [b for b in self._blocks.values() if b.id < blk.id and b.lo]
        lead: tuple | None = None
        purge: tuple | None = None
        dels: list[tuple] = []
        msgs: dict[int, tuple] = {}
        # The highest sequence the block's records set last_seq to, its time, and
        # the first sequence a store empty at that point would have.
        top, top_ts, top_first = 0, 0, 0
        for recs in frames:
            for r in recs:
                kind = r[0]
                if kind == "M":
                    if r[1] >= top:
                        top, top_ts, top_first = r[1], r[2], r[1] + 1
                    if self._where(r[1]) == blk.id:
                        msgs[r[1]] = r
                elif kind == "D":
                    lo, hi = r[1], r[1] + r[2] - 1
                    if any(b.lo <= hi and lo <= b.hi for b in older):
                        dels.append(r)
                elif kind == "P":
                    purge, dels = r, []
                if kind in "PS" and r[2] >= top:
                    top, top_ts, top_first = r[2], r[3], r[1]
                if kind == "S":
                    lead = lead or r
        out: list[bytes] = []
        if lead is not None:
            out.append(F.encode_seqs(*lead[1:]))
        if purge is not None and older:
            out.append(F.encode_purge(*purge[1:]))
        out.extend(F.encode_del(r[1], r[2]) for r in dels)
        blk.lo = blk.hi = 0
        for seq in sorted(msgs):
            _, s, ts, ttl, subject, hdr, data = msgs[seq]
            out.append(F.encode_msg(s, ts, ttl, subject.encode(), hdr, data))
            blk.saw(s)
        if top > max(msgs, default=0) and (lead is None or top > lead[2]):
            # The records dropped carried the block's last_seq: keep it in a state
            # record, or a reopen that lost the next block's lead record (cut away
            # by corruption) would come back with a lower last_seq.
            out.append(F.encode_seqs(max(top_first, top + 1), top, top_ts))
        blk.erase = False
        self._cache.pop(blk.id, None)
        fs = self._fs
        if not msgs and not dels and not (purge is not None and older):
            # The index first: a block missing from the index is harmless, one
            # the index lists but the disk lacks is reported as lost.
            self._sealed.pop(blk.id, None)
            self._write_index()
            fs.remove(blk.path)
            fs.fsync_dir(self._mdir)
            del self._blocks[blk.id]
            return
        data = bytearray()
        chunk: list[bytes] = []
        size = 0
        for rec in out:
            chunk.append(rec)
            size += len(rec)
            if size >= FRAME_CHUNK:
                data += self._codec.frame(b"".join(chunk))
                chunk, size = [], 0
        if chunk:
            data += self._codec.frame(b"".join(chunk))
        tmp = blk.path + ".tmp"
        fs.write_file(tmp, bytes(data))
        fs.fsync(tmp)
        if blk.id in self._sealed:  # shrinks: the index first (a block larger than indexed is fine)
            self._sealed[blk.id] = len(data)
            self._write_index()
        fs.rename(tmp, blk.path)
        fs.fsync_dir(self._mdir)
        blk.size = len(data)

    # --- opening and recovery -------------------------------------------------------------

    def _open(self) -> None:
        fs = self._fs
        fs.makedirs(self._mdir)
        meta_path = f"{self._dir}/{META}"
        names = fs.listdir(self._mdir)
        ids = sorted(int(n[:-4]) for n in names if n.endswith(".blk") and n[:-4].isdigit() and n[0] != "0")
        if fs.exists(meta_path):
            self._check_meta(fs.read(meta_path))
            write_meta = False
        else:
            write_meta = True
        index_path = f"{self._mdir}/{INDEX}"
        indexed = F.decode_index(fs.read(index_path)) if fs.exists(index_path) else None
        index_state = "missing" if not fs.exists(index_path) else ("used" if indexed is not None else "invalid")
        losses: list[BlockLoss] = []
        nframes = 0
        cuts: list[tuple[_Block, int]] = []
        self._conflicts = 0
        for bid in ids:
            blk = _Block(bid, f"{self._mdir}/{bid}.blk")
            self._blocks[bid] = blk
            self._active = blk
            buf = fs.read(blk.path)
            pos = 0
            reason = ""
            for off, flags, stored in F.scan_frames(buf):
                if flags & F.F_ENC and not self._codec.encrypted:
                    raise ErrBadKey("the store is encrypted and no key was given")
                try:
                    recs = list(F.iter_records(self._codec.body(flags, stored)))
                except F.BadFrame as e:
                    if flags & F.F_ENC:  # the checksum held: only the key can be wrong
                        raise ErrBadKey() from None
                    reason = str(e)
                    break
                for r in recs:
                    self._replay(blk, r)
                nframes += 1
                pos = F.frame_end(buf, off)
            if pos < len(buf):
                reason = reason or ("torn or corrupt frame" if pos + F.FRAME_HDR.size <= len(buf) else "torn tail")
                losses.append(BlockLoss(blk.path, pos, len(buf) - pos, reason))
                cuts.append((blk, pos))
            blk.size = pos
            self._stub_out(blk)  # recovered messages stay on disk, not in memory
        cut_ids = {blk.id for blk, _ in cuts}
        for bid, size in sorted((indexed or {}).items()):
            # A sealed block never shrinks but by compaction, which updates the index
            # first: missing or shorter means lost data, even at a frame boundary.
            path = f"{self._mdir}/{bid}.blk"
            if bid not in self._blocks:
                losses.append(BlockLoss(path, 0, size, "sealed block missing (listed in index.db)"))
            elif self._blocks[bid].size < size and bid not in cut_ids:
                got = self._blocks[bid].size
                losses.append(BlockLoss(path, got, size - got, "sealed block shorter than index.db records"))
        temps = [n for n in names if n.endswith(".tmp")]
        # The scan succeeded: now, and only now, repair.
        if write_meta:
            self._write_meta(meta_path)
            parent = self._dir.rsplit("/", 1)[0]
            if parent and parent != self._dir:
                fs.fsync_dir(parent)  # the stream directory's own entry
        for blk, pos in cuts:
            if pos == 0:  # nothing valid in it at all
                fs.remove(blk.path)
                del self._blocks[blk.id]
                self._ns_dirty = True
            else:
                fs.truncate(blk.path, pos)
                fs.fsync(blk.path)
        for blk in self._blocks.values():
            # What a process crash left in the page cache is served from now on:
            # make it durable before anything reads it.
            if not any(c[0] is blk for c in cuts):
                fs.fsync(blk.path)
        for n in temps:
            fs.remove(f"{self._mdir}/{n}")
        if temps or self._ns_dirty or ids:
            fs.fsync_dir(self._mdir)
            self._ns_dirty = False
        for loss in losses:
            log.warning(
                "filestore %s: block %s cut at offset %d (%d bytes dropped): %s",
                self._dir, loss.block, loss.offset, loss.dropped, loss.reason,
            )
        self._report = RecoveryReport(len(ids), nframes, losses, self._conflicts, temps, index_state)
        for blk in self._blocks.values():
            if blk.live_bytes * 2 < blk.size:
                self._candidates.add(blk.id)
        self._active = None
        last = self._blocks[max(self._blocks)] if self._blocks else None
        if last is not None and last.size < self._opts.block_size:
            self._active = last
            self._candidates.discard(last.id)
        else:
            self._new_block(ids[-1] + 1 if ids else 1)
            self.sync()
        self._sealed = {b.id: b.size for b in self._blocks.values() if b is not self._active}
        if self._sealed != indexed:
            self._write_index()  # rebuilt from the blocks (missing, stale or repaired)
        if self._active is last and last.size == 0:
            # The newest block lost everything, its lead state record included (a
            # cut at offset 0 looks like a torn write): give it one, so the state
            # recovery settled on does not depend on records a compaction may drop.
            self._log_seqs()
            self._commit()
            self.sync()

    def _replay(self, blk: _Block, r: tuple) -> None:
        kind = r[0]
        if kind == "M":
            _, seq, ts, ttl, subject, hdr, data = r
            blk.saw(seq)
            if self._msgs and seq <= self._order.last:
                # A later record of a sequence still present (a block cut short lost
                # the removals between): the later record wins, as after truncate.
                for s in list(self._order.iter_from(seq)):
                    self._remove(s)
                    self._conflicts += 1
            self._insert(subject, hdr, data, seq, ts, ttl)
        elif kind == "D":
            for s in range(r[1], r[1] + r[2]):
                self._remove(s)
        elif kind == "P":
            self._reset(r[1], r[2])
            self._last_ts = r[3]
        else:
            _, first, last, last_ts = r
            if self._msgs and self._order.last > last:
                # A state record below messages an earlier block still holds (the
                # truncate that removed them was lost to corruption): the later
                # record wins, as for a message record.
                for s in list(self._order.iter_from(last + 1)):
                    self._remove(s)
                    self._conflicts += 1
            self._last_seq, self._last_ts = last, last_ts
            if not self._msgs:
                self._first_seq, self._first_ts = first, 0

    def _check_meta(self, raw: bytes) -> None:
        try:
            meta = json.loads(raw)
            cipher = meta["cipher"]
            check = bytes.fromhex(meta.get("check", ""))
        except (ValueError, KeyError, TypeError) as e:
            raise ErrStoreConfig(f"file store meta file unreadable: {e}") from None
        if cipher != self._opts.cipher:
            if self._opts.cipher == "none":
                raise ErrBadKey(f"the store is encrypted ({cipher}) and no key was given")
            raise ErrStoreConfig(f"the store uses cipher {cipher!r}, not {self._opts.cipher!r}")
        if cipher != "none":
            try:
                ok = self._codec.open(check) == KEY_TOKEN
            except F.BadFrame:
                ok = False
            if not ok:
                raise ErrBadKey()

    def _write_meta(self, path: str) -> None:
        meta = {"format": 1, "cipher": self._opts.cipher}
        if self._codec.encrypted:
            meta["check"] = self._codec.seal(KEY_TOKEN).hex()
        tmp = path + ".tmp"
        self._fs.write_file(tmp, json.dumps(meta).encode())
        self._fs.fsync(tmp)
        self._fs.rename(tmp, path)
        self._fs.fsync_dir(self._dir)

    def _write_index(self) -> None:
        path = f"{self._mdir}/{INDEX}"
        self._fs.write_file(path + ".tmp", F.encode_index(self._sealed))
        self._fs.fsync(path + ".tmp")
        self._fs.rename(path + ".tmp", path)
        self._fs.fsync_dir(self._mdir)

    def recovery_report(self) -> RecoveryReport:
        """What the last open found: blocks, frames, and every block cut short."""
        return self._report

    # --- the mutating calls: MemStore's, then one frame each ----------------------------------

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
        if hdr is not None and type(hdr) is not bytes:
            hdr = bytes(hdr)
        # What the record format cannot hold is refused before anything changes.
        if len(subject) > F.MAX_SUBJECT // 4 and len(subject.encode()) > F.MAX_SUBJECT:
            raise StoreError("subject too long for the file store")
        if len(subject) + (len(hdr) if hdr else 0) + len(data) >= F.MAX_FRAME - 1024:
            raise ErrMsgTooLarge()
        if seq > F.MAX_SEQ or not -MAX_TS <= ts <= MAX_TS:
            raise ErrSequenceMismatch() if seq > F.MAX_SEQ else StoreError("timestamp out of range")
        if ttl > MAX_TTL:
            ttl = MAX_TTL  # some 146 years: no observable difference
        return super()._store(subject, hdr, data, seq, ts, ttl, discard_new_check)

    def store_msg(
        self, subject: str, hdr: bytes | None, data: bytes, ttl: int = 0, *, now: int
    ) -> tuple[int, int]:
        if self._write_err is not None or self._closed:
            self._check()
        lim = self._limits
        mms = lim.max_msg_size
        if mms > 0 and (len(hdr) if hdr else 0) + len(data) > mms:
            raise ErrMsgTooLarge()
        if (
            ttl == 0
            and self._logging
            and self._opts.sync == "group"
            and not self._pending
            and not self._del_run
            and type(data) is bytes
            and (hdr is None or (type(hdr) is bytes and hdr))
            and len(subject) <= _FAST_SUBJECT
            and len(subject) + len(data) + (len(hdr) if hdr else 0) < F.MAX_FRAME - 1024
            and 0 <= now <= MAX_TS
            and (lim.discard == "old" or (lim.max_msgs <= 0 and lim.max_bytes <= 0 and lim.max_msgs_per_subject <= 0))
        ):
            return self._store_fast(subject, hdr, data, now), now
        try:  # MemStore.store_msg's body: its checks are the ones just made
            return self._store(subject, hdr, data, self._last_seq + 1, now, ttl, True), now
        finally:
            self._commit(now)

    def _store_fast(self, subject: str, hdr: bytes | None, data: bytes, ts: int) -> int:
        """store_msg of the usual message under group commit, in one piece: what
        MemStore._store, _insert (both) and _commit do for it when no discard-new
        limit can refuse it, it has no TTL and the record is small (store_msg's
        conditions). Written out rather than calling the two _insert: 0.45 us a
        message less in process (1.9 against 2.4 us), some 6% of a file publish
        in the server. The limits of discard old are enforced after the insert
        as in MemStore._store, their removals committed with the message. The
        same files as the general path (tests/test_filestore.py); the store
        campaign checks it against the model."""
        seq = self._last_seq + 1
        if seq > F.MAX_SEQ:
            raise ErrSequenceMismatch()
        msgs = self._msgs
        if not msgs:
            self._first_seq, self._first_ts = seq, ts
        msgs[seq] = StoreMsg(subject, hdr, data, seq, ts)
        self._order.append(seq)
        self._last_seq, self._last_ts = seq, ts
        sl = self._fss.get(subject)
        if sl is None:
            sl = self._new_subject(subject)
        sl.append(seq)
        blk: _Block = self._active  # type: ignore[assignment]
        blk.seqs.append(seq)
        blk.live += 1
        if hdr:
            n = 34 + len(subject) + len(data) + len(hdr)
        else:
            n = 30 + len(subject) + len(data)
        self._bytes += n  # file_store_msg_size (the file accounting)
        blk.live_bytes += n
        if not blk.lo or seq < blk.lo:
            blk.lo = seq
        if seq > blk.hi:
            blk.hi = seq
        body = F.encode_msg(seq, ts, 0, subject.encode(), hdr, data)
        lim = self._limits
        if lim.max_msgs > 0 or lim.max_bytes > 0 or lim.max_msgs_per_subject > 0:  # (discard old)
            # what the limits remove goes in one record body with the message
            self._pending.append(body)
            try:
                self._enforce_old(subject)
            finally:
                self._commit(ts)
            return seq
        try:  # _commit's group commit branch, for the one record
            self._turn_add(body)
        except OSError as e:
            self._fail(e)
        return seq

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
        self._check()
        try:
            super().store_raw_msg(subject, hdr, data, seq, ts, ttl, discard_new_check=discard_new_check)
        finally:
            self._commit()

    def skip_msg(self, seq: int = 0, *, now: int, no_interest: bool = False) -> int:
        self._check()
        out = super().skip_msg(seq, now=now, no_interest=no_interest)
        self._log_seqs()
        self._commit(now)
        return out

    def skip_msgs(self, seq: int, num: int, *, now: int) -> None:
        self._check()
        if num < 0 or (seq or self._last_seq + 1) + num - 1 > F.MAX_SEQ:
            raise ErrSequenceMismatch()
        super().skip_msgs(seq, num, now=now)
        self._log_seqs()
        self._commit(now)

    def remove_msg(self, seq: int) -> bool:
        self._check()
        try:
            return super().remove_msg(seq)
        finally:
            self._commit()

    def erase_msg(self, seq: int) -> bool:
        """Remove, and rewrite the block without the message at the next sync."""
        self._check()
        bid = self._where(seq)
        ok = self.remove_msg(seq)
        if ok and bid is not None and (blk := self._blocks.get(bid)) is not None:
            blk.erase = True
            self._candidates.add(bid)
        return ok

    def purge(self) -> int:
        self._check()
        try:
            return super().purge()
        finally:
            self._commit()

    def purge_ex(self, subject: str, seq: int, keep: int) -> int:
        self._check()
        try:
            return super().purge_ex(subject, seq, keep)
        finally:
            self._commit()

    def compact(self, seq: int) -> int:
        self._check()
        if not 0 <= seq <= F.MAX_SEQ:
            raise ErrSequenceMismatch()
        try:
            return super().compact(seq)
        finally:
            self._commit()

    def truncate(self, seq: int, *, now: int = 0) -> None:
        self._check()
        if not 0 <= seq <= F.MAX_SEQ:
            raise ErrSequenceMismatch()
        try:
            super().truncate(seq, now=now)
            self._log_seqs()
        finally:
            self._commit()

    def expire(self, now: int) -> int:
        self._check()
        try:
            return super().expire(now)
        finally:
            self._commit(now)

    def update_config(self, limits: StoreLimits) -> None:
        self._check()
        try:
            super().update_config(limits)
        finally:
            self._commit()

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def options(self) -> FileStoreOptions:
        return self._opts

    @property
    def directory(self) -> str:
        return self._dir

    def block_count(self) -> int:
        return len(self._blocks)

    def stop(self) -> None:
        """Sync and close. Later calls raise ErrStoreClosed (``state`` still answers)."""
        if self._closed:
            return
        try:
            if self._write_err is None:
                self.sync()
        finally:
            self._logging = False
            super().stop()
            self._fs.close()

    def delete(self) -> None:
        """Stop and remove every file of the store, and its directory when nothing else is in it."""
        self._logging = False
        if not self._closed:
            MemStore.stop(self)
        fs = self._fs
        self._buf.clear()
        self._turn.clear()
        for n in fs.listdir(self._mdir):
            fs.remove(f"{self._mdir}/{n}")
        for n in (META, META + ".tmp"):
            if fs.exists(f"{self._dir}/{n}"):
                fs.remove(f"{self._dir}/{n}")
        fs.remove_dir(self._mdir)
        if not fs.listdir(self._dir):
            fs.remove_dir(self._dir)
        fs.close()
