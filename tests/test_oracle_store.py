"""The store campaign: FileStore on a simulated disk against natsd.model.store.

Bounded here; ``natsd-campaign run store --harness core --steps 100000`` runs long ones.
Planted faults (a store that never fsyncs, one that writes no tombstones) must be caught.
"""

from __future__ import annotations

import random

import pytest

from natsd.model.store import Limits, StoreModel
from natsd.oracle.base import get_area, replay
from natsd.oracle.campaign import run_campaign
from natsd.oracle.simdisk import SimDisk
from natsd.oracle.store import (
    Append,
    CoreHarness,
    Corrupt,
    Crash,
    Flush,
    PowerLoss,
    Remove,
    Reopen,
    Sync,
    WrongKey,
)

AREA = get_area("store")
ALL_OPS = {"Append", "Skip", "Remove", "Erase", "Purge", "PurgeEx", "Compact", "Truncate", "Expire", "Flush", "Sync", "Reopen",
           "Crash", "PowerLoss", "Corrupt", "WrongKey", "Wipe"}


def test_bounded_store_campaign_finds_no_divergence() -> None:
    result = run_campaign(AREA, "core", steps=6000, seed=20261207, db=None)
    assert result.ok, result.failures[0].message + "\nops: " + repr(result.failures[0].ops)
    assert result.steps >= 6000
    assert set(result.ops) == ALL_OPS
    assert not result.unknown_rules
    assert {"store.recovery.exact", "store.sync.ack_after_fsync", "store.file.checksum"} <= set(result.covered)


@pytest.mark.parametrize("fault", ["no_fsync", "no_tombstone", "no_index"])
def test_planted_fault_is_caught(fault: str) -> None:
    first = {"no_fsync": 5, "no_tombstone": 2, "no_index": 6}[fault]  # seeds that find it soon
    for seed in (first, 1, 3, 7):  # a campaign's path shifts with the process's earlier tests
        result = run_campaign(AREA, "core", steps=4000, seed=seed, db=None, plant=fault)
        if not result.ok:
            return
    pytest.fail(f"planted fault {fault} was not caught")


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
