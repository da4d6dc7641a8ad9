"""FileStore: MemStore's semantics on disk, recovery, corruption, sync policies, crypto, compression.

Go references: server/filestore.go, server/store.go. The memory store's test
module (tests/test_memstore.py) is run again here with ``MemStore`` replaced by
a FileStore factory, so both stores answer every shared test the same way.
"""

from __future__ import annotations

import itertools
import logging
import os
import random

import pytest
import test_memstore as TM
from hypothesis import settings
from hypothesis.stateful import initialize, rule

from natsd.oracle.simdisk import SimDisk
from natsd.store import ErrMaxBytes, ErrStoreClosed, StoreLimits, StoreMsg
from natsd.store._frames import FRAME_HDR, Codec
from natsd.store._fsio import OsFileSystem
from natsd.store.filestore import (
    ErrBadKey,
    ErrStoreConfig,
    FileStore,
    FileStoreOptions,
    file_store_msg_size,
)

S = 1_000_000_000
T0 = 1_700_000_000 * S
HDR = b"NATS/1.0\r\nK: v\r\n\r\n"
D = "/d/s"

# --- the memstore tests, on a FileStore ------------------------------------------------

MEMORY_ONLY = {
    "test_byte_accounting_is_subject_header_payload_plus_16",  # file accounting differs: see below
    "test_erase_is_remove_for_memory",
    "test_seqlist_matches_a_sorted_list",  # not a store test
    "test_memstore_matches_reference",  # run below as FileStoreVsReference
    # byte limits stated in memory sizes (file-size versions below)
    "test_discard_new_max_bytes_at_subject_limit_needs_the_replaced_size",
    "test_discard_new_max_bytes_rejects",
    "test_discard_old_max_bytes_evicts_until_it_fits",
    "test_update_config_applies_tighter_limits",
}
SHARED = sorted(n for n in dir(TM) if n.startswith("test_") and n not in MEMORY_ONLY)


@pytest.fixture
def as_filestore(tmp_path, monkeypatch):
    counter = itertools.count()

    def factory(limits=None, *, first_seq=0):
        return FileStore(str(tmp_path / f"s{next(counter)}"), limits, first_seq=first_seq,
                         options=FileStoreOptions(block_size=2048))

    monkeypatch.setattr(TM, "MemStore", factory)
    monkeypatch.setattr(TM, "mem_store_msg_size", file_store_msg_size)


@pytest.mark.parametrize("name", SHARED)
def test_memstore_semantics_hold_for_filestore(name, as_filestore) -> None:
    getattr(TM, name)()


class FileRef(TM.RefStore):
    @staticmethod
    def size(m: StoreMsg) -> int:
        return file_store_msg_size(m.subject, m.hdr, m.data)

    def store(self, *args, **kwargs):
        old = TM.mem_store_msg_size  # RefStore.store sizes the new message by this name
        TM.mem_store_msg_size = file_store_msg_size
        try:
            return super().store(*args, **kwargs)
        finally:
            TM.mem_store_msg_size = old


class FileStoreVsReference(TM.MemStoreVsReference):
    """The memstore's stateful check against the reference, on a FileStore over a
    simulated disk, plus: reopen (clean), crash (page cache kept) after a sync."""

    @initialize(limits=TM.LIMITS)
    def setup(self, limits: StoreLimits) -> None:
        self.now = T0
        self.disk = SimDisk()
        self.limits = limits
        self.ms = self._open()
        self.ref = FileRef(limits)
        self.removed: list[tuple[int, str]] = []
        self.ms.register_on_remove(lambda seq, subj: self.removed.append((seq, subj)))

    def _open(self) -> FileStore:
        return FileStore(D, self.limits, options=FileStoreOptions(block_size=300), fs=self.disk)

    def _reopened(self) -> None:
        self.ms = self._open()
        assert self.ms.recovery_report().clean
        self.ms.register_on_remove(lambda seq, subj: self.removed.append((seq, subj)))

    @rule()
    def reopen(self) -> None:
        self.ms.stop()
        self._reopened()

    @rule()
    def crash_after_sync(self) -> None:
        self.ms.sync()
        self.disk.crash()
        self._reopened()

    @rule(limits=TM.LIMITS)
    def update_config(self, limits) -> None:
        self.limits = limits
        self.ms.update_config(limits)
        self.ref.update_config(limits)


FileStoreVsReference.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
test_filestore_matches_reference = FileStoreVsReference.TestCase


# --- accounting and layout ------------------------------------------------------------------


def test_byte_accounting_is_gos_file_record_size() -> None:
    fs = FileStore(D, fs=SimDisk())
    fs.store_msg("foo.bar", HDR, b"hello", now=T0)
    fs.store_msg("foo", None, b"", now=T0 + 1)
    assert fs.fast_state().bytes == (22 + 7 + 5 + 8 + 4 + len(HDR)) + (22 + 3 + 8)


def test_discard_new_max_bytes_uses_file_sizes() -> None:
    size = file_store_msg_size("a", None, b"x")
    fs = FileStore(D, StoreLimits(max_bytes=2 * size + 5, discard="new"), fs=SimDisk())
    fs.store_msg("a", None, b"x", now=T0)
    fs.store_msg("a", None, b"x", now=T0)
    with pytest.raises(ErrMaxBytes):  # memory sizes would still fit a third
        fs.store_msg("a", None, b"x", now=T0)


def test_discard_old_max_bytes_and_update_config_use_file_sizes() -> None:
    size = file_store_msg_size("a", None, b"x")  # 32
    fs = FileStore(D, StoreLimits(max_bytes=3 * size + 1), fs=SimDisk())
    for i in range(5):
        fs.store_msg("a", None, b"x", now=T0 + i)
    assert (fs.fast_state().msgs, fs.fast_state().first_seq) == (3, 3)
    fs.update_config(StoreLimits(max_bytes=2 * size))
    assert (fs.fast_state().msgs, fs.fast_state().first_seq, fs.fast_state().bytes) == (2, 4, 2 * size)


def test_blocks_roll_over_by_size_and_start_with_the_state() -> None:
    disk = SimDisk()
    fs = FileStore(D, fs=disk, options=FileStoreOptions(block_size=500))
    for i in range(40):
        fs.store_msg("a", None, b"x" * 20, now=T0 + i)
    fs.sync()
    blocks = [p for p in disk.files(D + "/msgs/") if p.endswith(".blk")]
    assert len(blocks) >= 3 and fs.block_count() == len(blocks)
    assert all(disk.size(p) < 500 + 200 for p in blocks)
    st = fs.state()
    fs.stop()
    again = FileStore(D, fs=disk, options=FileStoreOptions(block_size=500))
    assert again.state() == st


# --- recovery ---------------------------------------------------------------------------------


def _filled(disk: SimDisk, n: int = 20, *, turns: bool = False, **opts) -> FileStore:
    """A store with ``n`` messages; with ``turns``, each one synced on its own (a loop turn each)."""
    fs = FileStore(D, fs=disk, options=FileStoreOptions(block_size=opts.pop("block_size", 4096), **opts))
    for i in range(n):
        fs.store_msg(f"s.{i % 3}", HDR if i % 2 else None, bytes([i]) * (i + 1), ttl=(5 * S if i == 7 else 0),
                     now=T0 + i)
        if turns:
            fs.sync()
    return fs


def test_reopen_reproduces_state_per_subject_deleted_and_ttl() -> None:
    disk = SimDisk()
    fs = _filled(disk)
    fs.remove_msg(5)
    fs.remove_msg(1)
    fs.skip_msg(now=T0 + 99)
    st = fs.state(deleted=True)
    fs.stop()
    again = FileStore(D, fs=disk)
    assert again.state(deleted=True) == st
    assert again.subjects_state(">") == {"s.0": again.subjects_state("s.0")["s.0"], **again.subjects_state("s.*")}
    assert again.load_msg(8) == StoreMsg("s.1", HDR, bytes([7]) * 8, 8, T0 + 7)
    assert again.next_expiry() == T0 + 7 + 5 * S
    assert again.expire(T0 + 7 + 5 * S) == 1
    assert again.recovery_report().clean


def test_removals_survive_restart_as_tombstones() -> None:
    disk = SimDisk()
    fs = _filled(disk, block_size=300)  # several blocks: removal of a sealed block's message
    fs.remove_msg(2)
    fs.purge_ex("s.0", 0, 1)
    fs.sync()
    disk.crash()
    again = FileStore(D, fs=disk)
    assert again.state(deleted=True) == fs.state(deleted=True)


def test_unsynced_group_commit_is_lost_on_power_loss_synced_is_not() -> None:
    disk = SimDisk()
    fs = _filled(disk, n=5)
    fs.sync()
    fs.store_msg("late", None, b"z", now=T0 + 50)
    fs.flush()
    disk.power_loss(random.Random(0))  # seed 0: keeps none of the unsynced tail
    again = FileStore(D, fs=disk)
    assert again.fast_state().last_seq in (5, 6)
    assert [again.load_msg(s).seq for s in range(1, 6)] == [1, 2, 3, 4, 5]


def test_process_crash_keeps_what_was_flushed() -> None:
    disk = SimDisk()
    fs = _filled(disk, n=5)
    fs.flush()
    fs.store_msg("buffered", None, b"z", now=T0 + 50)  # never handed to the OS
    disk.crash()
    again = FileStore(D, fs=disk)
    assert again.fast_state().last_seq == 5


def test_torn_tail_is_cut_reported_and_logged(caplog) -> None:
    disk = SimDisk()
    fs = _filled(disk, n=6)
    fs.sync()
    path = D + "/msgs/1.blk"
    good = disk.size(path)
    disk.append(path, b"\x50\x00\x00\x00garbage")  # a frame header promising more than there is
    with caplog.at_level(logging.WARNING, logger="natsd.store"):
        again = FileStore(D, fs=disk)
    rep = again.recovery_report()
    assert not rep.clean and rep.truncated[0].offset == good and rep.truncated[0].dropped == 11
    assert "cut at offset" in caplog.text
    assert disk.size(path) == good
    assert again.state() == fs.state()
    again.store_msg("after", None, b"ok", now=T0 + 100)  # appends continue after the cut
    again.stop()
    assert FileStore(D, fs=disk).load_msg(7).data == b"ok"


def test_flipped_bit_is_detected_and_never_served() -> None:
    disk = SimDisk()
    fs = _filled(disk, n=10, turns=True)  # a flip loses its turn's frame and what follows it in the block
    path = D + "/msgs/1.blk"
    size = disk.size(path)
    disk.flip_bit(path, size * 8 * 2 // 3)
    again = FileStore(D, fs=disk)
    rep = again.recovery_report()
    assert rep.truncated and rep.truncated[0].reason
    st = again.fast_state()
    assert 0 < st.msgs < 10
    for seq in range(1, st.last_seq + 1):
        assert again.load_msg(seq) == fs.load_msg(seq)


def test_corruption_in_one_block_keeps_later_blocks() -> None:
    disk = SimDisk()
    fs = _filled(disk, n=30, block_size=300)
    fs.sync()
    blocks = sorted((p for p in disk.files(D + "/msgs/") if p.endswith(".blk")), key=lambda p: int(p.rsplit("/", 1)[1][:-4]))
    assert len(blocks) >= 3
    disk.cut(blocks[0], 40)
    again = FileStore(D, fs=disk, options=FileStoreOptions(block_size=300))
    assert again.fast_state().last_seq == 30
    assert again.load_msg(30) == fs.load_msg(30)
    assert again.recovery_report().truncated[0].block == blocks[0]


def test_leftover_temp_files_are_removed() -> None:
    disk = SimDisk()
    fs = _filled(disk, n=3)
    fs.stop()
    disk.write_file(D + "/msgs/1.blk.tmp", b"half a rewrite")
    again = FileStore(D, fs=disk)
    assert again.recovery_report().removed_temp == ["1.blk.tmp"]
    assert not disk.exists(D + "/msgs/1.blk.tmp")
    assert again.fast_state().msgs == 3


# --- sync policies ------------------------------------------------------------------------------


def test_group_commit_does_not_fsync_per_message() -> None:
    disk = SimDisk()
    fs = FileStore(D, fs=disk)
    base_syncs, base_writes = disk.fsyncs, disk.writes
    for i in range(256):
        fs.store_msg("a", None, b"x" * 128, now=T0 + i)
    assert disk.fsyncs == base_syncs and disk.writes == base_writes  # all buffered
    fs.sync()
    assert disk.fsyncs - base_syncs <= 2 and disk.writes == base_writes + 1


def test_sync_always_fsyncs_every_write() -> None:
    disk = SimDisk()
    fs = FileStore(D, fs=disk, options=FileStoreOptions(sync="always"))
    base = disk.fsyncs
    for i in range(10):
        fs.store_msg("a", None, b"x", now=T0 + i)
    assert disk.fsyncs - base >= 10
    disk.power_loss(random.Random(1))
    assert FileStore(D, fs=disk).fast_state().msgs == 10


def test_sync_interval_uses_the_now_it_is_given() -> None:
    disk = SimDisk()
    fs = FileStore(D, fs=disk, options=FileStoreOptions(sync="interval", sync_interval=10 * S))
    fs.store_msg("a", None, b"x", now=T0)  # first call: the interval since 0 has passed
    base = disk.fsyncs
    fs.store_msg("a", None, b"x", now=T0 + S)
    assert disk.fsyncs == base and disk.writes >= 2  # written to the OS, not synced
    assert fs.next_sync_deadline() == T0 + 10 * S
    fs.tick(T0 + 10 * S)
    assert disk.fsyncs > base and fs.next_sync_deadline() is None


# --- compaction and erase ---------------------------------------------------------------------


def test_mostly_deleted_blocks_are_rewritten_or_removed() -> None:
    disk = SimDisk()
    fs = _filled(disk, n=60, block_size=300)
    fs.sync()
    before = sum(disk.size(p) for p in disk.files(D + "/msgs/"))
    nblocks = fs.block_count()
    for seq in range(1, 56):
        fs.remove_msg(seq)
    fs.sync()
    after = sum(disk.size(p) for p in disk.files(D + "/msgs/"))
    assert after < before // 2 and fs.block_count() < nblocks
    st = fs.state(deleted=True)
    disk.power_loss(random.Random(3))
    assert FileStore(D, fs=disk).state(deleted=True) == st


def test_erased_payload_leaves_the_disk_at_the_next_sync() -> None:
    disk = SimDisk()
    fs = FileStore(D, fs=disk)
    fs.store_msg("a", None, b"SECRET-PAYLOAD", now=T0)
    fs.store_msg("a", None, b"other", now=T0)
    fs.sync()
    assert fs.erase_msg(1)
    fs.sync()
    assert not any(b"SECRET-PAYLOAD" in data for data in disk.image().values())
    assert FileStore(D, fs=disk).load_msg(2).data == b"other"


# --- compression and encryption ---------------------------------------------------------------


@pytest.mark.parametrize("cipher", ["aes", "chachapoly"])
@pytest.mark.parametrize("compression", ["none", "s2"])
def test_encrypted_and_compressed_store_round_trips(cipher, compression) -> None:
    disk = SimDisk()
    opts = FileStoreOptions(cipher=cipher, key=b"k" * 32, compression=compression, block_size=600)
    fs = FileStore(D, fs=disk, options=opts)
    for i in range(20):
        fs.store_msg("secret.subject", HDR, b"plaintext-payload " * 10, now=T0 + i)
    fs.remove_msg(3)
    st = fs.state(deleted=True)
    fs.stop()
    raw = b"".join(disk.image().values())
    assert b"plaintext-payload" not in raw and b"secret.subject" not in raw
    again = FileStore(D, fs=disk, options=opts)
    assert again.state(deleted=True) == st
    assert again.load_msg(20).data == b"plaintext-payload " * 10


def test_compression_shrinks_and_can_be_switched_across_restarts() -> None:
    disk = SimDisk()
    fs = FileStore(D, fs=disk, options=FileStoreOptions(compression="s2"))
    for i in range(50):
        fs.store_msg("a", None, b"abcd" * 100, now=T0 + i)
    fs.stop()
    assert disk.size(D + "/msgs/1.blk") < 50 * 400 // 4
    again = FileStore(D, fs=disk)  # no compression now: old frames still read
    again.store_msg("a", None, b"plain", now=T0 + 99)
    again.stop()
    assert FileStore(D, fs=disk, options=FileStoreOptions(compression="s2")).fast_state().msgs == 51


@pytest.mark.parametrize(
    "opts",
    [
        FileStoreOptions(cipher="aes", key=b"wrong"),
        FileStoreOptions(cipher="chachapoly", key=b"right"),
        FileStoreOptions(),
    ],
)
def test_wrong_key_or_cipher_is_a_clear_error_and_touches_nothing(opts) -> None:
    disk = SimDisk()
    fs = FileStore(D, fs=disk, options=FileStoreOptions(cipher="aes", key=b"right"))
    fs.store_msg("a", None, b"x", now=T0)
    fs.stop()
    disk.write_file(D + "/msgs/1.blk.tmp", b"x")
    before = disk.image()
    with pytest.raises((ErrBadKey, ErrStoreConfig)):
        FileStore(D, fs=disk, options=opts)
    assert disk.image() == before


def test_wrong_key_without_meta_file_is_caught_by_the_frames() -> None:
    disk = SimDisk()
    fs = FileStore(D, fs=disk, options=FileStoreOptions(cipher="aes", key=b"right"))
    fs.store_msg("a", None, b"x", now=T0)
    fs.stop()
    disk.remove(D + "/meta.json")
    before = disk.image()
    with pytest.raises(ErrBadKey):
        FileStore(D, fs=disk, options=FileStoreOptions(cipher="aes", key=b"wrong"))
    with pytest.raises(ErrBadKey):
        FileStore(D, fs=disk)
    assert disk.image() == before


def test_codec_refuses_unknown_names() -> None:
    with pytest.raises(ValueError):
        Codec(compression="zstd")
    with pytest.raises(ValueError):
        Codec(cipher="aes")  # no key
    assert FRAME_HDR.size == 9


# --- the real disk -----------------------------------------------------------------------------


def test_real_disk_round_trip_and_delete(tmp_path) -> None:
    d = str(tmp_path / "stream")
    fs = FileStore(d, fs=OsFileSystem())
    for i in range(100):
        fs.store_msg(f"r.{i % 4}", None, os.urandom(8), now=T0 + i)
    fs.remove_msg(50)
    st = fs.state(deleted=True)
    fs.stop()
    with pytest.raises(ErrStoreClosed):
        fs.store_msg("r", None, b"", now=T0)
    again = FileStore(d)
    assert again.state(deleted=True) == st
    again.delete()
    assert not os.path.exists(d)


def test_write_error_sticks_until_restart() -> None:
    class FailingDisk(SimDisk):
        fail = False

        def append(self, path, data):
            if self.fail:
                raise OSError(28, "No space left on device")
            super().append(path, data)

    disk = FailingDisk()
    fs = FileStore(D, fs=disk)
    fs.store_msg("a", None, b"x", now=T0)
    fs.sync()
    disk.fail = True
    fs.store_msg("a", None, b"y", now=T0)
    with pytest.raises(Exception, match="No space left"):
        fs.sync()
    with pytest.raises(Exception, match="No space left"):
        fs.store_msg("a", None, b"z", now=T0)
    disk.fail = False
    assert FileStore(D, fs=disk).fast_state().msgs == 1


# --- the block index -----------------------------------------------------------------------------


def _blocks(disk: SimDisk) -> list[str]:
    return sorted((p for p in disk.files(D + "/msgs/") if p.endswith(".blk")),
                  key=lambda p: int(p.rsplit("/", 1)[1][:-4]))


def test_sealed_block_cut_at_a_frame_boundary_is_reported() -> None:
    from natsd.store._frames import frame_end

    disk = SimDisk()
    fs = _filled(disk, n=30, block_size=300, turns=True)
    fs.stop()
    first = _blocks(disk)[0]
    buf = disk.read(first)
    boundary = frame_end(buf, frame_end(buf, 0))  # after the second frame: every frame still checks out
    disk.cut(first, boundary)
    again = FileStore(D, fs=disk, options=FileStoreOptions(block_size=300))
    rep = again.recovery_report()
    assert rep.index == "used"
    assert [(x.block, x.offset, x.reason) for x in rep.truncated] == [
        (first, boundary, "sealed block shorter than index.db records")
    ]
    again.stop()
    assert FileStore(D, fs=disk).recovery_report().clean  # reported once; the index now records the cut


def test_missing_sealed_block_is_reported() -> None:
    disk = SimDisk()
    fs = _filled(disk, n=30, block_size=300)
    fs.stop()
    gone = _blocks(disk)[1]
    disk.remove(gone)
    rep = FileStore(D, fs=disk, options=FileStoreOptions(block_size=300)).recovery_report()
    assert [x.block for x in rep.truncated] == [gone] and "missing" in rep.truncated[0].reason


@pytest.mark.parametrize("damage", ["remove", "flip"])
def test_missing_or_damaged_index_is_rebuilt_from_the_blocks(damage) -> None:
    disk = SimDisk()
    fs = _filled(disk, n=30, block_size=300)
    st = fs.state(deleted=True)
    fs.stop()
    index = D + "/msgs/index.db"
    good = disk.read(index)
    if damage == "remove":
        disk.remove(index)
    else:
        disk.flip_bit(index, 70)
    again = FileStore(D, fs=disk, options=FileStoreOptions(block_size=300))
    assert again.recovery_report().index == ("missing" if damage == "remove" else "invalid")
    assert again.recovery_report().clean and again.state(deleted=True) == st
    assert disk.read(index) == good


def test_a_record_too_large_for_a_frame_is_refused(monkeypatch) -> None:
    from natsd.store import ErrMsgTooLarge, _frames

    monkeypatch.setattr(_frames, "MAX_FRAME", 4096)
    fs = FileStore(D, fs=SimDisk())
    with pytest.raises(ErrMsgTooLarge):
        fs.store_msg("a", None, b"x" * 4096, now=T0)
    assert fs.fast_state().msgs == 0


# --- memory: sealed blocks are read back on demand ---------------------------------------------


def test_sealed_messages_are_not_held_in_memory_and_read_back_exactly() -> None:
    disk = SimDisk()
    fs = _filled(disk, n=60, block_size=300)
    held = [v for v in dict.values(fs._msgs) if isinstance(v, StoreMsg)]
    assert 0 < len(held) < 10  # only the active block's
    fs.sync()
    st = fs.state(deleted=True)
    expect = {s: fs.load_msg(s) for s in range(1, 61)}
    again = FileStore(D, fs=disk, options=FileStoreOptions(block_size=300, cache_blocks=1))
    assert not any(isinstance(v, StoreMsg) for v in dict.values(again._msgs))
    assert {s: again.load_msg(s) for s in range(60, 0, -1)} == expect
    assert again.state(deleted=True) == st
    assert again.remove_msg(3) and again.load_next_msg("s.0", False, 1)[1] == 1


def test_a_block_damaged_after_recovery_fails_loudly_and_serves_nothing_wrong() -> None:
    from natsd.store import StoreError

    disk = SimDisk()
    fs = _filled(disk, n=30, block_size=300)
    fs.sync()
    first = _blocks(disk)[0]
    disk.flip_bit(first, disk.size(first) * 8 - 20)  # in its last frame
    served, failed = [], 0
    for s in range(1, 31):
        try:
            served.append(fs.load_msg(s))
        except StoreError:
            failed += 1
    assert failed >= 1
    assert all(m.data == bytes([m.seq - 1]) * m.seq for m in served)


def test_block_size_follows_gos_dyn_blk_size() -> None:
    from natsd.store.filestore import dyn_block_size

    MiB = 1024 * 1024
    assert dyn_block_size("limits", -1, False) == 8 * MiB
    assert dyn_block_size("interest", 0, False) == 4 * MiB
    assert dyn_block_size("workqueue", -1, True) == 2 * MiB
    assert dyn_block_size("limits", 1000, False) == 32_000  # 251 -> 300 -> the minimum
    assert dyn_block_size("limits", 1 << 30, False) == 8 * MiB
    assert dyn_block_size("limits", 1 << 30, True) == 2 * MiB
    assert dyn_block_size("limits", 10 * MiB, False) == 4 * MiB  # Go: anything between is 4 MiB


def test_what_the_format_cannot_hold_is_refused_before_any_change() -> None:
    from natsd.store import ErrSequenceMismatch, StoreError

    disk = SimDisk()
    fs = FileStore(D, fs=disk)
    fs.store_msg("a", None, b"x", now=T0)
    before = fs.state(deleted=True)
    with pytest.raises(StoreError):
        fs.store_msg("s" * 70_000, None, b"x", now=T0)
    with pytest.raises(StoreError):
        fs.store_msg("a", None, b"x", now=1 << 64)
    with pytest.raises(ErrSequenceMismatch):
        fs.skip_msgs(0, 1 << 64, now=T0)
    with pytest.raises(ErrSequenceMismatch):
        fs.compact(1 << 65)
    assert fs.store_msg("a", None, b"y", ttl=1 << 80, now=T0)[0] == 2  # a TTL past the format: clamped
    assert fs.state(deleted=True).msgs == before.msgs + 1
    fs.stop()
    again = FileStore(D, fs=disk)
    assert again.fast_state().msgs == 2 and again.next_expiry() == T0 + (1 << 62)


# --- store_msg's short path ----------------------------------------------------------------------


@pytest.mark.parametrize("limits", [StoreLimits(), StoreLimits(max_msgs=7, max_msgs_per_subject=2),
                                    StoreLimits(max_bytes=900), StoreLimits(discard="new", max_msgs=50)])
def test_store_msgs_short_path_leaves_what_the_general_path_leaves(monkeypatch, limits) -> None:
    """FileStore.store_msg takes a one-piece path for the usual message; with it
    turned off (no subject is short enough for it) the same publishes, syncs and
    a block roll leave the same files and the same state."""
    from natsd.store import filestore

    def run() -> tuple[dict[str, bytes], object, list]:
        disk = SimDisk()
        fs = FileStore(D, limits, fs=disk, options=FileStoreOptions(block_size=2048))
        for i in range(120):
            hdr = HDR if i % 5 == 0 else None
            try:
                fs.store_msg(f"s.{i % 3}", hdr, b"x" * (i % 17), now=T0 + i)
            except Exception as e:  # discard new refusing: the same on both paths
                assert type(e).__name__ == "ErrMaxMsgs"
            if i % 9 == 0:
                fs.sync()
        fs.sync()
        msgs = [fs.load_msg(seq) for seq in range(fs.fast_state().first_seq, fs.fast_state().last_seq + 1)
                if fs.fast_state().msgs and seq in fs._msgs]
        out = (disk.image(), fs.fast_state(), msgs)
        fs.stop()
        return out

    short = run()
    monkeypatch.setattr(filestore, "_FAST_SUBJECT", -1)
    general = run()
    assert short[1] == general[1] and short[2] == general[2]
    assert short[0] == general[0]
    assert short[1].msgs > 0
