"""The store campaign: FileStore on a simulated disk, and MemStore, against natsd.model.store.

Bounded here; ``natsd-campaign run store --harness core|memory --steps 100000`` runs long ones.
Planted faults (a store that never fsyncs, one that writes no tombstones, one that counts
messages for subjects, one that ignores discard new) must be caught.
"""

from __future__ import annotations

import random

import pytest

from natsd.model.store import FILE_RECORD_LIMIT, Limits, Msg, StoreModel
from natsd.oracle.base import get_area, replay
from natsd.oracle.campaign import run_campaign
from natsd.oracle.simdisk import SimDisk
from natsd.oracle.store import (
    Append,
    CoreHarness,
    Corrupt,
    Crash,
    Flush,
    Load,
    LoadLast,
    LoadNext,
    NumPending,
    Oversize,
    PerSubject,
    PowerLoss,
    PurgeEx,
    RawStore,
    Remove,
    Reopen,
    SeqFromTime,
    Skip,
    Sync,
    Tick,
    Truncate,
    Wipe,
    WrongKey,
    memory_session,
)
from natsd.store.filestore import FileStore

AREA = get_area("store")
MEMORY_OPS = {"Append", "RawStore", "Skip", "Remove", "Erase", "Purge", "PurgeEx", "Compact", "Truncate", "Expire", "Load",
              "LoadNext", "LoadPrev", "LoadLast", "PerSubject", "NumPending", "SeqFromTime", "PeekExpired", "Wipe"}
ALL_OPS = MEMORY_OPS | {"Oversize", "Tick", "Flush", "Sync", "Reopen", "Crash", "PowerLoss", "Corrupt", "WrongKey"}
READ_RULES = {"store.append.raw", "store.append.limits_new", "store.load", "store.load_next_last", "store.per_subject",
              "store.seq_from_time"}


def test_bounded_store_campaign_finds_no_divergence() -> None:
    result = run_campaign(AREA, "core", steps=6000, seed=20261207, db=None)
    assert result.ok, result.failures[0].message + "\nops: " + repr(result.failures[0].ops)
    assert result.steps >= 6000
    assert set(result.ops) == ALL_OPS
    assert not result.unknown_rules
    assert {"store.recovery.exact", "store.sync.ack_after_fsync", "store.file.checksum", "store.file.record_limit",
            "store.sync.go_default", "store.bytes.file"} | READ_RULES <= set(result.covered)
    assert "store.bytes.memory" not in result.covered


def test_bounded_memory_campaign_finds_no_divergence_and_draws_no_durability_op() -> None:
    result = run_campaign(AREA, "memory", steps=4000, seed=20261207, db=None)
    assert result.ok, result.failures[0].message + "\nops: " + repr(result.failures[0].ops)
    assert set(result.ops) == MEMORY_OPS
    assert not result.unknown_rules
    assert {"store.bytes.memory", "store.memstore.parity"} | READ_RULES <= set(result.covered)
    assert not {"store.bytes.file", "store.file.tombstones", "store.recovery.exact"} & set(result.covered)


@pytest.mark.parametrize("fault", ["no_fsync", "no_tombstone", "no_index"])
def test_planted_fault_is_caught(fault: str) -> None:
    seeds = {"no_fsync": (2, 6, 10), "no_tombstone": (8, 10, 3), "no_index": (10, 1, 2)}[fault]  # find it soon
    for seed in seeds:  # several: a campaign's path shifts with the process's earlier tests
        result = run_campaign(AREA, "core", steps=3000, seed=seed, db=None, plant=fault)
        if not result.ok:
            return
    pytest.fail(f"planted fault {fault} was not caught")


@pytest.mark.parametrize("fault", ["lps_counts_messages", "discard_new_ignored"])
def test_planted_fault_is_caught_by_the_memory_harness(fault: str) -> None:
    seeds = {"lps_counts_messages": (8, 5, 10), "discard_new_ignored": (10, 5, 6)}[fault]  # find it soon
    for seed in seeds:
        result = run_campaign(AREA, "memory", steps=3000, seed=seed, db=None, plant=fault)
        if not result.ok:
            return
    pytest.fail(f"planted fault {fault} was not caught")


def test_memory_and_file_accounting_differ_and_the_model_knows_which() -> None:
    # LIMITS[6]: max_bytes 400, discard new. In file sizes 63 + 341 > 400 refuses the second message;
    # in memory sizes 45 + 327 stores it.
    ops = [Wipe(limits=6), Append("a", 10, hdr=True), Append("b", 310), PerSubject(">")]
    r = replay(AREA, ops, CoreHarness)
    assert r.ok, r.message
    with memory_session() as factory:
        r = replay(AREA, ops, factory)
        assert r.ok, r.message
    wrong = replay(AREA, ops, factory)  # outside the session: the file model against the memory store
    assert not wrong.ok and wrong.diverged_at == 2
    stores = []
    for harness in (CoreHarness(), factory()):
        for op in ops:
            harness.apply(op)
        stores.append(harness.store.state().msgs)
    assert stores == [1, 2]


def test_raw_store_reads_and_refusals_replay_on_both_stores() -> None:
    ops = [Append("c.x", 5), RawStore("a", 3, off=1), RawStore("a", 3, off=None), RawStore("b", 0, off=-1),
           Load(2), Load(9), LoadNext("c.*", 0), LoadLast("a"), LoadLast("d"), NumPending(">", 1, True),
           SeqFromTime(back=0), Wipe(limits=7), Append("a", 1), Append("a", 1), Append("a", 1), Append("a", 1, rollup=True),
           NumPending("", 0)]
    r = replay(AREA, ops, CoreHarness)
    assert r.ok, r.message
    with memory_session() as factory:
        r = replay(AREA, ops, factory)
    assert r.ok, r.message


def test_model_refuses_raw_mismatch_discard_new_and_oversize() -> None:
    m = StoreModel(Limits(max_msgs=1, discard="new"))
    assert m.store_raw("a", None, b"x", 2, 5, 0, False) == "ErrSequenceMismatch"
    assert m.store_raw("a", None, b"x", 1, 5, 0, False) is None
    assert m.store("b", None, b"y", 0, 6) == "ErrMaxMsgs"
    assert m.store_raw("b", None, b"y", 0, 6, 0, False) is None  # raw without the check: stored over the limit
    assert m.store("b", None, bytes(FILE_RECORD_LIMIT - 1), 0, 7) == "ErrMsgTooLarge"
    assert len(m.state.msgs) == 2 and m.load(2) == (Msg("b", None, b"y", 6), 2) and m.load(3) == "ErrStoreEOF"
    assert StoreModel(storage="memory").store("b", None, bytes(FILE_RECORD_LIMIT - 1), 0, 7) == (1, 7)


def test_interval_sync_makes_writes_durable_without_a_sync_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reopened with sync interval, the store fsyncs at the first call carrying now (and 1 s after the last):
    # power loss seed 0 keeps nothing unsynced, so "b" survives only if that fsync happened.
    ops = [Append("a", 1), Reopen(sync="interval"), Append("b", 1), PowerLoss(seed=0), Load(2), Tick(ms=1000),
           Append("c", 1), Append("c", 1), PowerLoss(seed=0), Oversize("a", hdr=True)]
    r = replay(AREA, ops, CoreHarness)
    assert r.ok, r.message
    monkeypatch.setattr(FileStore, "_maybe_sync", lambda self, now: None)
    r = replay(AREA, ops, CoreHarness)
    assert not r.ok and r.diverged_at == 4


def test_a_lost_truncate_record_does_not_leave_messages_above_last_seq() -> None:
    # Found by `natsd-campaign run store --harness core --steps 100000 --seed 3`: the flip hits the frame of
    # Truncate(0) in 3.blk; seq 17 (written before it) survives, and 4.blk's lead record says last_seq 5.
    ops = [Append("a", 0)] * 9 + [Append("a", 15), Append("a", 29, hdr=True), Skip()] + [Append("a", 0)] * 5 + [
        Truncate(0), Reopen(sync="always"), Append("a", 0), Append("a", 0), Append("a", 0), Append("a", 26),
        Append("a", 27), Corrupt("flip", 0, 190)]
    r = replay(AREA, ops, CoreHarness)
    assert r.ok, r.message


def test_synced_messages_survive_power_loss_by_replay() -> None:
    ops = [Append("a", 10), Append("b", 0), Sync(), Append("c", 5), Flush(), PowerLoss(seed=7), Remove(1), Sync(),
           Crash(), Reopen(sync="always", compression="s2"), Append("a", 3), PowerLoss(seed=1)]
    r = replay(AREA, ops, CoreHarness)
    assert r.ok, r.message


def test_wrong_key_and_corruption_ops_replay_cleanly() -> None:
    ops = [Append("a", 40), Append("a", 40), Sync(), WrongKey(), Corrupt("flip", 0, 500), Append("b", 1),
           Corrupt("cut", 0, 100)]
    r = replay(AREA, ops, CoreHarness)
    assert r.ok, r.message


def test_a_wrong_recovery_is_a_divergence() -> None:
    class LosesSynced(CoreHarness):
        def _reopen(self):  # recovers from a disk that lost even the synced data
            self.disk = SimDisk()
            return super()._reopen()

    r = replay(AREA, [Append("a", 1), Sync(), Crash()], LosesSynced)
    assert not r.ok and r.diverged_at == 3


def test_model_candidates_after_crash_and_power_loss() -> None:
    m = StoreModel(Limits())
    m.store("a", None, b"1", 0, 10)
    m.sync()
    m.store("a", None, b"2", 0, 11)
    m.flush()
    m.store("a", None, b"3", 0, 12)
    assert [len(c.msgs) for c in m.candidates(power_loss=True)] == [1, 2, 3]
    assert [len(c.msgs) for c in m.candidates(power_loss=False)] == [2, 3]
    assert not m.recovered(m.candidates(True)[0], power_loss=False)
    assert m.recovered(m.candidates(True)[0], power_loss=True)
    assert m.state.last == 1 and m.candidates(True) == [m.state]


def test_power_loss_tears_only_unsynced_bytes() -> None:
    disk = SimDisk()
    disk.makedirs("/x")
    disk.append("/x/f", b"durable")
    disk.fsync("/x/f")
    disk.fsync_dir("/x")
    disk.append("/x/f", b"-volatile")
    disk.append("/x/g", b"created, never synced")
    disk.power_loss(random.Random(5))
    assert disk.read("/x/f").startswith(b"durable") and len(disk.read("/x/f")) <= len(b"durable-volatile")
    assert not disk.exists("/x/g") or b"created, never synced".startswith(disk.read("/x/g"))
    disk.append("/x/f", b"+")
    disk.power_loss(random.Random(0))  # seed 0 keeps no directory operation and no unsynced byte
    assert disk.read("/x/f") == disk.image()["/x/f"] and not disk.read("/x/f").endswith(b"+")


def test_a_compaction_keeps_last_seq_when_the_next_blocks_lead_record_was_cut_away() -> None:
    # Found by `natsd-campaign run store --harness core --steps 100000 --seed 5` (step 118,344): the cut
    # empties the newest block (its lead state record gone, undetectable: it looks like a torn write);
    # recovery keeps last_seq 16 from block 2, then the purge deletes 16 and a compaction of block 2
    # dropped its record, so a clean reopen came back with last_seq 15.
    ops = [Append("a", 0)] * 12 + [Crash()] + [Append("a", 0)] * 6 + [Append("c.x", 49), Crash()] + [
        Append("a", 0)] * 3 + [Corrupt("cut", 2, 0), PurgeEx("c.*"), Reopen()]
    r = replay(AREA, ops, CoreHarness)
    assert r.ok, r.message


def test_discard_new_by_bytes_at_the_subject_limit_compares_file_sizes() -> None:
    # Found by `natsd-campaign run store --harness core --steps 120000 --seed 5` (step 171,199): the file
    # store checked the replaced message against the new one in the file accounting, then MemStore checked
    # again in the memory accounting (a header costs 4 bytes more on file), and refused.
    ops = [Append("a", 0)] * 19 + [Wipe(limits=8)] + [Append("a", 0)] * 3 + [
        Append("a", 58), Append("b", 21, rollup=True), Append("c.x", 21), Append("b", 55)]
    r = replay(AREA, ops, CoreHarness)
    assert r.ok, r.message
