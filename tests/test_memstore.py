"""MemStore: every operation and limit, and a stateful check against a dict-based reference.

Go references: server/memstore.go, server/store.go (StreamStore).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from natsd.store import (
    ErrMaxBytes,
    ErrMaxMsgs,
    ErrMaxMsgsPerSubject,
    ErrMsgTooLarge,
    ErrSequenceMismatch,
    ErrStoreClosed,
    ErrStoreEOF,
    ErrStoreMsgNotFound,
    ErrTooManyResults,
    MemStore,
    SimpleState,
    StoreError,
    StoreLimits,
    StoreMsg,
    StreamState,
    mem_store_msg_size,
)
from natsd.store._seqlist import SeqList
from natsd.subjects.validate import tokens_match

S = 1_000_000_000  # one second in ns
T0 = 1_700_000_000 * S
ROLLUP = b"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n"


def fill(ms: MemStore, subjects: list[str], now: int = T0) -> list[int]:
    return [ms.store_msg(s, None, b"x", now=now + i)[0] for i, s in enumerate(subjects)]


def seqs(ms: MemStore) -> list[int]:
    st_ = ms.fast_state()
    out = []
    for s in range(st_.first_seq, st_.last_seq + 1):
        try:
            out.append(ms.load_msg(s).seq)
        except ErrStoreMsgNotFound:
            pass
    return out


# --- errors and values --------------------------------------------------------


def test_error_texts_are_go_texts() -> None:
    assert str(ErrStoreClosed()) == "store is closed"
    assert str(ErrStoreMsgNotFound()) == "no message found"
    assert str(ErrStoreEOF()) == "stream store EOF"
    assert str(ErrMaxMsgs()) == "maximum messages exceeded"
    assert str(ErrMaxBytes()) == "maximum bytes exceeded"
    assert str(ErrMaxMsgsPerSubject()) == "maximum messages per subject exceeded"
    assert str(ErrMsgTooLarge()) == "message too large"
    assert str(ErrSequenceMismatch()) == "expected sequence does not match store"
    assert str(ErrTooManyResults()) == "too many matching results for request"
    assert issubclass(ErrMaxMsgs, StoreError)


def test_new_store_is_all_zero() -> None:
    ms = MemStore()
    assert ms.state(deleted=True) == StreamState(deleted=[])
    assert ms.next_expiry() is None
    with pytest.raises(ErrStoreEOF):
        ms.load_next_msg(">", True, 0)


def test_first_seq_config_starts_there() -> None:
    ms = MemStore(first_seq=100)
    assert (ms.fast_state().first_seq, ms.fast_state().last_seq) == (100, 99)
    assert ms.store_msg("a", None, b"", now=T0) == (100, T0)


def test_byte_accounting_is_subject_header_payload_plus_16() -> None:
    ms = MemStore()
    ms.store_msg("foo.bar", b"NATS/1.0\r\nA: b\r\n\r\n", b"hello", now=T0)
    ms.store_msg("foo", None, b"", now=T0 + 1)
    assert ms.fast_state().bytes == (7 + 18 + 5 + 16) + (3 + 16)
    assert mem_store_msg_size("foo", None, b"") == 19


def test_stored_message_is_a_frozen_copy() -> None:
    ms = MemStore()
    buf = bytearray(b"abc")
    ms.store_msg("a", b"", memoryview(buf), now=T0)
    buf[0] = ord("z")
    m = ms.load_msg(1)
    assert m == StoreMsg("a", None, b"abc", 1, T0)
    with pytest.raises(AttributeError):
        m.seq = 5  # type: ignore[misc]


# --- limits -------------------------------------------------------------------


def test_discard_old_max_msgs_evicts_from_the_front_and_reports_it() -> None:
    ms = MemStore(StoreLimits(max_msgs=3))
    removed: list[tuple[int, str]] = []
    ms.register_on_remove(lambda seq, subj: removed.append((seq, subj)))
    fill(ms, ["a", "b", "c", "d", "e"])
    st_ = ms.fast_state()
    assert (st_.msgs, st_.first_seq, st_.last_seq, st_.first_ts) == (3, 3, 5, T0 + 2)
    assert removed == [(1, "a"), (2, "b")]


def test_discard_old_max_bytes_evicts_until_it_fits() -> None:
    ms = MemStore(StoreLimits(max_bytes=3 * 18 + 1))  # "a" + 1 byte + 16 = 18
    fill(ms, ["a"] * 5)
    assert ms.fast_state().msgs == 3
    ms.store_msg("a", None, b"x" * 20, now=T0 + 9)  # 37 bytes: only it and one more fit
    assert seqs(ms) == [5, 6]


def test_a_message_bigger_than_max_bytes_evicts_everything_with_discard_old() -> None:
    ms = MemStore(StoreLimits(max_bytes=20))
    fill(ms, ["a"])
    assert ms.store_msg("a", None, b"x" * 50, now=T0 + 5) == (2, T0 + 5)
    st_ = ms.fast_state()
    assert (st_.msgs, st_.first_seq, st_.last_seq, st_.bytes) == (0, 3, 2, 0)


def test_discard_new_max_msgs_rejects_and_leaves_state_alone() -> None:
    ms = MemStore(StoreLimits(max_msgs=2, discard="new"))
    fill(ms, ["a", "b"])
    before = ms.state()
    with pytest.raises(ErrMaxMsgs, match="maximum messages exceeded"):
        ms.store_msg("c", None, b"x", now=T0 + 9)
    assert ms.state() == before


def test_discard_new_max_bytes_rejects() -> None:
    ms = MemStore(StoreLimits(max_bytes=40, discard="new"))
    fill(ms, ["a", "b"])  # 36 bytes
    with pytest.raises(ErrMaxBytes):
        ms.store_msg("c", None, b"x", now=T0 + 9)
    assert ms.fast_state().msgs == 2


def test_per_subject_limit_evicts_that_subjects_oldest() -> None:
    for discard in ("old", "new"):
        ms = MemStore(StoreLimits(max_msgs_per_subject=2, discard=discard))
        removed: list[int] = []
        ms.register_on_remove(lambda seq, subj, r=removed: r.append(seq))
        fill(ms, ["a", "b", "a", "a", "b", "a"])
        assert seqs(ms) == [2, 4, 5, 6]
        assert removed == [1, 3]
        assert ms.subjects_totals(">") == {"a": 2, "b": 2}


def test_discard_new_per_subject_rejects_unless_rollup() -> None:
    lim = StoreLimits(max_msgs_per_subject=1, discard="new", discard_new_per_subject=True)
    ms = MemStore(lim)
    fill(ms, ["a", "b"])
    with pytest.raises(ErrMaxMsgsPerSubject, match="maximum messages per subject exceeded"):
        ms.store_msg("a", None, b"x", now=T0 + 9)
    assert ms.store_msg("a", ROLLUP, b"x", now=T0 + 10) == (3, T0 + 10)
    assert seqs(ms) == [2, 3]


def test_discard_new_at_subject_limit_replaces_even_at_max_msgs() -> None:
    ms = MemStore(StoreLimits(max_msgs=2, max_msgs_per_subject=1, discard="new"))
    fill(ms, ["a", "b"])
    with pytest.raises(ErrMaxMsgs):
        ms.store_msg("c", None, b"x", now=T0 + 9)
    ms.store_msg("a", None, b"x", now=T0 + 9)  # replaces seq 1
    assert seqs(ms) == [2, 3]


def test_discard_new_max_bytes_at_subject_limit_needs_the_replaced_size() -> None:
    ms = MemStore(StoreLimits(max_bytes=40, max_msgs_per_subject=1, discard="new"))
    fill(ms, ["a", "b"])  # 18 each
    with pytest.raises(ErrMaxBytes):
        ms.store_msg("a", None, b"xx", now=T0 + 9)  # 19 > the 18 it replaces
    ms.store_msg("a", None, b"y", now=T0 + 9)
    assert seqs(ms) == [2, 3]


def test_raw_store_skips_discard_new_unless_asked() -> None:
    ms = MemStore(StoreLimits(max_msgs=1, discard="new"))
    fill(ms, ["a"])
    ms.store_raw_msg("b", None, b"x", 2, T0 + 1)  # replicated: no discard-new check
    with pytest.raises(ErrMaxMsgs):
        ms.store_raw_msg("c", None, b"x", 3, T0 + 2, discard_new_check=True)
    assert ms.fast_state().msgs == 2


def test_max_msg_size() -> None:
    ms = MemStore(StoreLimits(max_msg_size=10))
    ms.store_msg("a", b"12345", b"12345", now=T0)
    with pytest.raises(ErrMsgTooLarge):
        ms.store_msg("a", b"12345", b"123456", now=T0)


def test_update_config_applies_tighter_limits() -> None:
    ms = MemStore()
    removed: list[int] = []
    ms.register_on_remove(lambda seq, subj: removed.append(seq))
    fill(ms, ["a", "b", "a", "a", "b", "c"])
    ms.update_config(StoreLimits(max_msgs=5))
    assert removed == [1]
    ms.update_config(StoreLimits(max_msgs=5, max_msgs_per_subject=1))
    assert seqs(ms) == [4, 5, 6]
    ms.update_config(StoreLimits(max_bytes=36))
    assert seqs(ms) == [5, 6]
    assert ms.limits == StoreLimits(max_bytes=36)


# --- age and TTL ---------------------------------------------------------------


def test_max_age_expires_from_the_front_with_a_fake_clock() -> None:
    ms = MemStore(StoreLimits(max_age=10 * S))
    removed: list[int] = []
    ms.register_on_remove(lambda seq, subj: removed.append(seq))
    for i in range(5):
        ms.store_msg("a", None, b"x", now=T0 + i * S)
    assert ms.next_expiry() == T0 + 10 * S
    assert ms.expire(T0 + 10 * S - 1) == 0
    assert ms.expire(T0 + 12 * S) == 3
    assert removed == [1, 2, 3]
    assert ms.next_expiry() == T0 + 13 * S
    assert ms.expire(T0 + 100 * S) == 2
    st_ = ms.fast_state()
    assert (st_.msgs, st_.first_seq, st_.first_ts, st_.last_ts) == (0, 6, 0, T0 + 4 * S)
    assert ms.next_expiry() is None


def test_ttl_expires_each_message_at_its_own_deadline() -> None:
    ms = MemStore()
    ms.store_msg("a", None, b"x", 5 * S, now=T0)
    ms.store_msg("b", None, b"x", 0, now=T0)
    ms.store_msg("c", None, b"x", 2 * S, now=T0)
    ms.store_msg("d", None, b"x", 3 * S, now=T0)
    assert ms.next_expiry() == T0 + 2 * S
    ms.remove_msg(3)  # the soonest goes away by hand: the deadline moves on
    assert ms.next_expiry() == T0 + 3 * S
    assert ms.expire(T0 + 4 * S) == 1
    assert seqs(ms) == [1, 2]
    assert ms.next_expiry() == T0 + 5 * S
    assert ms.expire(T0 + 5 * S) == 1
    assert seqs(ms) == [2]
    assert ms.next_expiry() is None


def test_many_removed_ttl_entries_do_not_pile_up() -> None:
    ms = MemStore()
    for i in range(500):
        ms.store_msg("a", None, b"", (i + 1) * S, now=T0)
    for i in range(1, 500):
        ms.remove_msg(i)
    assert len(ms._ttl_heap) < 200
    assert ms.next_expiry() == T0 + 500 * S


def test_never_ttl_is_exempt_from_max_age() -> None:
    ms = MemStore(StoreLimits(max_age=10 * S))
    ms.store_msg("a", None, b"x", -1, now=T0)
    ms.store_msg("b", None, b"x", now=T0 + S)
    ms.store_msg("c", None, b"x", -1, now=T0 + 2 * S)
    ms.store_msg("d", None, b"x", now=T0 + 3 * S)
    assert ms.next_expiry() == T0 + 11 * S
    assert ms.expire(T0 + 100 * S) == 2
    assert seqs(ms) == [1, 3]
    assert ms.next_expiry() is None
    ms.store_msg("e", None, b"x", now=T0 + 100 * S)
    assert ms.next_expiry() == T0 + 110 * S


def test_peek_expired_lists_without_removing() -> None:
    ms = MemStore(StoreLimits(max_age=10 * S))
    ms.store_msg("a", None, b"1", now=T0)
    ms.store_msg("b", None, b"2", 2 * S, now=T0 + 5 * S)
    ms.store_msg("c", None, b"3", now=T0 + 6 * S)
    due = ms.peek_expired(T0 + 10 * S)
    assert [m.seq for m in due] == [1, 2]
    assert ms.fast_state().msgs == 3
    assert ms.expire(T0 + 10 * S) == 2


# --- removal ----------------------------------------------------------------------


def test_interior_removes_are_deleted_gaps() -> None:
    ms = MemStore()
    fill(ms, ["a"] * 6)
    assert ms.remove_msg(3) and ms.remove_msg(5)
    assert not ms.remove_msg(3)
    assert not ms.remove_msg(99)  # Go's memstore: (false, nil) past the end
    st_ = ms.state(deleted=True)
    assert (st_.msgs, st_.first_seq, st_.last_seq, st_.num_deleted, st_.deleted) == (4, 1, 6, 2, [3, 5])
    assert ms.fast_state().deleted is None


def test_removing_the_first_moves_first_seq_and_first_ts() -> None:
    ms = MemStore()
    fill(ms, ["a"] * 4)
    ms.remove_msg(2)
    ms.remove_msg(1)
    st_ = ms.state(deleted=True)
    assert (st_.first_seq, st_.first_ts, st_.num_deleted, st_.deleted) == (3, T0 + 2, 0, [])


def test_removing_everything_leaves_first_past_last_and_keeps_last_ts() -> None:
    ms = MemStore()
    fill(ms, ["a", "b", "c"])
    for s in (2, 3, 1):
        ms.remove_msg(s)
    st_ = ms.state(deleted=True)
    assert st_ == StreamState(0, 0, 4, 0, 3, T0 + 2, 0, 0, [])


def test_removing_the_last_keeps_last_seq() -> None:
    ms = MemStore()
    fill(ms, ["a", "b", "c"])
    ms.remove_msg(3)
    st_ = ms.state(deleted=True)
    assert (st_.last_seq, st_.last_ts, st_.deleted) == (3, T0 + 2, [3])
    assert ms.store_msg("d", None, b"", now=T0 + 9)[0] == 4


def test_erase_is_remove_for_memory() -> None:
    ms = MemStore()
    fill(ms, ["a", "b"])
    assert ms.erase_msg(1)
    assert seqs(ms) == [2]


def test_purge_removes_all_and_keeps_the_sequence() -> None:
    ms = MemStore()
    fill(ms, ["a", "b", "c"])
    assert ms.purge() == 3
    assert ms.state(deleted=True) == StreamState(0, 0, 4, 0, 3, T0 + 2, 0, 0, [])
    assert ms.store_msg("a", None, b"", now=T0 + 9)[0] == 4
    assert ms.subjects_totals(">") == {"a": 1}


def test_purge_ex_by_subject_literal_and_wildcard() -> None:
    ms = MemStore()
    fill(ms, ["a.1", "b.1", "a.2", "a.1", "b.2", "c"])
    assert ms.purge_ex("a.1", 0, 0) == 2
    assert seqs(ms) == [2, 3, 5, 6]
    assert ms.purge_ex("*.2", 0, 0) == 2
    assert seqs(ms) == [2, 6]
    assert ms.purge_ex("nope", 0, 0) == 0


def test_purge_ex_keep_keeps_the_last_n_matching() -> None:
    ms = MemStore()
    fill(ms, ["a.1", "b.1", "a.2", "a.1", "b.2", "a.3"])
    assert ms.purge_ex("a.>", 0, 2) == 2
    assert seqs(ms) == [2, 4, 5, 6]
    assert ms.purge_ex("a.>", 0, 5) == 0
    assert ms.purge_ex("", 0, 1) == 3  # all subjects, keep 1
    assert seqs(ms) == [6]


def test_purge_ex_seq_purges_below_it() -> None:
    ms = MemStore()
    fill(ms, ["a", "b", "a", "b", "a"])
    assert ms.purge_ex("a", 1, 0) == 0  # below 1: nothing
    assert ms.purge_ex("a", 5, 0) == 2
    assert seqs(ms) == [2, 4, 5]
    # seq and keep together: keep counts every match, seq bounds what goes.
    ms2 = MemStore()
    fill(ms2, ["a"] * 6)
    assert ms2.purge_ex("a", 3, 2) == 2
    assert ms2.purge_ex("a", 6, 1) == 3
    assert seqs(ms2) == [6]


def test_purge_ex_all_subjects_with_seq_is_compact() -> None:
    ms = MemStore()
    fill(ms, ["a", "b", "c", "d"])
    assert ms.purge_ex(">", 3, 9) == 2  # keep is ignored, like Go
    assert seqs(ms) == [3, 4]
    assert ms.purge_ex("", 0, 0) == 2
    assert ms.fast_state().first_seq == 5


def test_compact_inside_past_end_and_before_first() -> None:
    ms = MemStore()
    fill(ms, ["a", "b", "c", "d", "e"])
    ms.remove_msg(3)
    assert ms.compact(4) == 2
    st_ = ms.fast_state()
    assert (st_.first_seq, st_.first_ts, st_.msgs) == (4, T0 + 3, 2)
    assert ms.compact(2) == 0
    assert ms.compact(10) == 2
    st_ = ms.fast_state()
    assert (st_.first_seq, st_.last_seq, st_.msgs, st_.last_ts) == (10, 9, 0, T0 + 4)
    assert ms.store_msg("a", None, b"", now=T0 + 9)[0] == 10
    assert ms.compact(0) == 1  # 0 = purge


def test_compact_to_last_plus_one_is_purge_like() -> None:
    ms = MemStore()
    fill(ms, ["a", "b"])
    ms.remove_msg(2)
    assert ms.compact(2) == 1
    st_ = ms.state(deleted=True)
    assert (st_.msgs, st_.first_seq, st_.last_seq, st_.deleted) == (0, 3, 2, [])


def test_truncate_removes_above_and_resets_last() -> None:
    ms = MemStore()
    fill(ms, ["a", "b", "a", "c"])
    ms.truncate(2)
    st_ = ms.fast_state()
    assert (st_.msgs, st_.last_seq, st_.last_ts, st_.num_subjects) == (2, 2, T0 + 1, 2)
    assert ms.store_msg("z", None, b"", now=T0 + 9)[0] == 3  # sequence 3 reused
    assert ms.load_last_msg("a").seq == 1
    assert ms.subjects_totals(">") == {"a": 1, "b": 1, "z": 1}
    ms.truncate(0, now=T0 + 50)
    assert ms.fast_state() == StreamState(last_ts=T0 + 50)


def test_truncate_below_every_message_empties_it() -> None:
    ms = MemStore()
    fill(ms, ["a", "b", "c"])
    ms.compact(2)
    ms.truncate(1)
    st_ = ms.fast_state()
    assert (st_.msgs, st_.first_seq, st_.last_seq) == (0, 2, 1)


def test_truncate_clamps_the_age_cursor() -> None:
    ms = MemStore(StoreLimits(max_age=10 * S))
    ms.store_msg("a", None, b"", -1, now=T0)
    ms.store_msg("a", None, b"", -1, now=T0)
    ms.store_msg("a", None, b"", -1, now=T0)
    assert ms.expire(T0 + 20 * S) == 0  # all pinned: the cursor moves past them
    ms.truncate(1)
    ms.store_msg("b", None, b"", now=T0 + 20 * S)  # reuses seq 2
    assert ms.next_expiry() == T0 + 30 * S
    assert ms.expire(T0 + 30 * S) == 1


# --- skips and raw stores ------------------------------------------------------


def test_skip_msg_on_empty_and_nonempty_store() -> None:
    ms = MemStore()
    assert ms.skip_msg(now=T0) == 1
    st_ = ms.fast_state()
    assert (st_.first_seq, st_.last_seq, st_.last_ts) == (2, 1, T0)
    ms.store_msg("a", None, b"", now=T0 + 1)
    assert ms.skip_msg(3, now=T0 + 2) == 3
    assert ms.fast_state().last_ts == T0 + 1  # only set when unset
    ms.skip_msg(now=T0 + 3, no_interest=True)
    st_ = ms.state(deleted=True)
    assert (st_.first_seq, st_.last_seq, st_.last_ts, st_.deleted) == (2, 4, T0 + 3, [3, 4])
    with pytest.raises(ErrSequenceMismatch):
        ms.skip_msg(9, now=T0)


def test_skip_msgs() -> None:
    ms = MemStore()
    ms.skip_msgs(1, 5, now=T0)
    st_ = ms.fast_state()
    assert (st_.first_seq, st_.last_seq) == (6, 5)
    ms.store_msg("a", None, b"", now=T0)
    ms.skip_msgs(0, 3, now=T0)
    st_ = ms.state(deleted=True)
    assert (st_.first_seq, st_.last_seq, st_.num_deleted, st_.deleted) == (6, 9, 3, [7, 8, 9])
    with pytest.raises(ErrSequenceMismatch):
        ms.skip_msgs(5, 1, now=T0)


def test_store_raw_msg_needs_the_next_sequence() -> None:
    ms = MemStore()
    ms.store_raw_msg("a", None, b"", 1, 77)
    ms.store_raw_msg("a", None, b"", 0, 78)  # 0 = next
    with pytest.raises(ErrSequenceMismatch):
        ms.store_raw_msg("a", None, b"", 5, 79)
    assert ms.load_msg(2).ts == 78


# --- reads -------------------------------------------------------------------------


def test_load_msg_not_found_vs_eof() -> None:
    ms = MemStore()
    fill(ms, ["a", "b"])
    ms.remove_msg(1)
    with pytest.raises(ErrStoreMsgNotFound):
        ms.load_msg(1)
    with pytest.raises(ErrStoreMsgNotFound):
        ms.load_msg(0)
    with pytest.raises(ErrStoreEOF):
        ms.load_msg(3)
    assert ms.subject_for_seq(2) == "b"
    with pytest.raises(ErrStoreMsgNotFound):
        ms.subject_for_seq(1)


def test_load_next_literal_wildcard_all_and_multi() -> None:
    ms = MemStore()
    fill(ms, ["a.1", "b.1", "a.2", "c", "a.1"])
    assert ms.load_next_msg("a.1", False, 2)[1] == 5
    assert ms.load_next_msg("a.*", True, 2)[1] == 3
    assert ms.load_next_msg(">", True, 0)[1] == 1
    assert ms.load_next_msg("", False, 4)[1] == 4
    with pytest.raises(ErrStoreEOF):
        ms.load_next_msg("a.*", False, 0)  # wc=False: compared literally
    with pytest.raises(ErrStoreEOF):
        ms.load_next_msg("b.*", True, 3)
    with pytest.raises(ErrStoreEOF):
        ms.load_next_msg(">", True, 6)
    assert ms.load_next_msg_multi(["c", "b.>"], 0)[1] == 2
    assert ms.load_next_msg_multi(["c", "b.>"], 3)[1] == 4
    assert ms.load_next_msg_multi([], 5)[1] == 5


def test_load_prev() -> None:
    ms = MemStore()
    fill(ms, ["a.1", "b.1", "a.2", "c", "a.1"])
    assert ms.load_prev_msg("a.*", True, 4)[1] == 3
    assert ms.load_prev_msg("b.1", False, 100)[1] == 2
    assert ms.load_prev_msg(">", True, 100)[1] == 5
    with pytest.raises(ErrStoreEOF):
        ms.load_prev_msg("c", False, 3)
    assert ms.load_prev_msg_multi(["b.1", "c"], 5)[1] == 4


def test_load_last_msg_literal_and_wildcard() -> None:
    ms = MemStore()
    fill(ms, ["a.1", "b.1", "a.2", "c", "a.1"])
    assert ms.load_last_msg("a.2").seq == 3
    assert ms.load_last_msg("*.1").seq == 5
    assert ms.load_last_msg(">").seq == 5
    ms.remove_msg(5)
    assert ms.load_last_msg(">").seq == 4  # the last live one (Go looks only at last_seq)
    with pytest.raises(ErrStoreMsgNotFound):
        ms.load_last_msg("zz")


def test_many_subjects_use_the_walk_and_its_fallback() -> None:
    ms = MemStore()
    subjects = [f"k.{i}" for i in range(40)]
    fill(ms, subjects)
    fill(ms, ["other"] * 300, now=T0 + 100)
    ms.store_msg("k.7", None, b"", now=T0 + 1000)
    # The nearest match is past the walk budget: the per-subject fallback answers.
    assert ms.load_next_msg("k.*", True, 41)[1] == 341
    assert ms.load_next_msg("k.*", True, 3)[1] == 3
    assert ms.load_prev_msg("k.*", True, 340)[1] == 40
    # The cached match set follows subjects coming and going.
    ms.purge_ex("k.*", 0, 0)
    with pytest.raises(ErrStoreEOF):
        ms.load_next_msg("k.*", True, 0)
    ms.store_msg("k.new", None, b"", now=T0 + 2000)
    assert ms.load_next_msg("k.*", True, 0)[1] == 342
    assert ms.subjects_totals("k.*") == {"k.new": 1}


def test_filtered_state_subjects_state_and_totals() -> None:
    ms = MemStore()
    fill(ms, ["a.1", "b.1", "a.2", "c", "a.1", "b.1"])
    assert ms.filtered_state(0, ">") == SimpleState(6, 1, 6)
    assert ms.filtered_state(3, "") == SimpleState(4, 3, 6)
    assert ms.filtered_state(0, "a.*") == SimpleState(3, 1, 5)
    assert ms.filtered_state(2, "a.1") == SimpleState(1, 5, 5)
    assert ms.filtered_state(6, "a.*") == SimpleState()
    assert ms.filtered_state(99, ">") == SimpleState()
    assert ms.subjects_state("*.1") == {"a.1": SimpleState(2, 1, 5), "b.1": SimpleState(2, 2, 6)}
    assert ms.subjects_totals("") == {"a.1": 2, "b.1": 2, "a.2": 1, "c": 1}
    assert ms.subjects_totals("z") == {}


def test_num_pending_counts_messages_or_subjects() -> None:
    ms = MemStore()
    fill(ms, ["a.1", "b.1", "a.2", "c", "a.1", "b.1"])
    assert ms.num_pending(0, ">", False) == (6, 6)
    assert ms.num_pending(0, ">", True) == (4, 6)
    assert ms.num_pending(4, "a.*", False) == (1, 6)
    assert ms.num_pending(2, "a.*", True) == (2, 6)
    assert ms.num_pending(4, "a.*", True) == (1, 6)
    assert ms.num_pending_multi(3, ["a.*", "c"], False) == (3, 6)
    assert ms.num_pending_multi(0, ["b.1", ">"], True) == (4, 6)


def test_multi_last_seqs_and_too_many_results() -> None:
    ms = MemStore()
    fill(ms, ["a.1", "b.1", "a.2", "c", "a.1", "b.1"])
    assert ms.multi_last_seqs([">"]) == [3, 4, 5, 6]
    assert ms.multi_last_seqs(["a.*", "c"], 4) == [1, 3, 4]
    assert ms.multi_last_seqs(["b.1"], 1) == []
    assert ms.all_last_seqs() == [3, 4, 5, 6]
    with pytest.raises(ErrTooManyResults):
        ms.multi_last_seqs([">"], 0, 3)


def test_get_seq_from_time() -> None:
    ms = MemStore()
    for i in range(10):
        ms.store_msg("a", None, b"", now=T0 + i * 10)
    ms.remove_msg(5)
    assert ms.get_seq_from_time(0) == 1
    assert ms.get_seq_from_time(T0 + 35) == 6  # 5 (ts 40) is gone
    assert ms.get_seq_from_time(T0 + 30) == 4
    assert ms.get_seq_from_time(T0 + 90) == 10
    assert ms.get_seq_from_time(T0 + 91) == 11


# --- lifecycle ---------------------------------------------------------------------


def test_stopped_store_refuses_work_but_reports_state() -> None:
    ms = MemStore()
    fill(ms, ["a"])
    ms.delete()
    ms.stop()
    for call in (
        lambda: ms.store_msg("a", None, b"", now=T0),
        lambda: ms.load_msg(1),
        lambda: ms.remove_msg(1),
        lambda: ms.purge(),
        lambda: ms.expire(T0),
    ):
        with pytest.raises(ErrStoreClosed):
            call()
    assert ms.fast_state().msgs == 0
    assert ms.next_expiry() is None


def test_publish_work_does_not_grow_with_the_stream() -> None:
    # A structural check, not a timing one: a publish at the limit evicts one
    # message and touches no index wider than one chunk.
    ms = MemStore(StoreLimits(max_msgs=20_000))
    for i in range(25_000):
        ms.store_msg(f"s.{i % 7}", None, b"", now=T0 + i)
    assert ms.fast_state().msgs == 20_000
    assert len(ms._order._chunks) <= 20_000 // 512 + 2


# --- SeqList -----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=3000),
    st.lists(st.integers(0, 9000), max_size=3000),
    st.integers(0, 9000),
)
def test_seqlist_matches_a_sorted_list(gaps: list[int], removals: list[int], probe: int) -> None:
    sl, ref = SeqList(), []
    v = 0
    for g in gaps:
        v += g
        sl.append(v)
        ref.append(v)
    for r in removals:
        assert sl.remove(r) == (r in ref)
        if r in ref:
            ref.remove(r)
    assert list(sl) == ref and len(sl) == len(ref)
    assert (probe in sl) == (probe in ref)
    ge = [x for x in ref if x >= probe]
    le = [x for x in ref if x <= probe]
    assert sl.next_ge(probe) == (ge[0] if ge else None)
    assert sl.prev_le(probe) == (le[-1] if le else None)
    assert sl.count_ge(probe) == len(ge)
    assert list(sl.iter_from(probe)) == ge
    assert list(sl.iter_down_from(probe)) == le[::-1]
    assert sl.bisect_key(probe, lambda x: x) == (ge[0] if ge else None)
    if ref:
        assert (sl.first, sl.last) == (ref[0], ref[-1])
        lo, hi = ref[0], ref[-1]
        assert list(sl.gaps(lo, hi)) == [x for x in range(lo, hi + 1) if x not in set(ref)]
        with pytest.raises(ValueError):
            sl.append(ref[-1])


# --- stateful: MemStore against a dict-based reference ----------------------------


class RefStore:
    """Everything by scanning a dict: slow, obviously right (Go memstore semantics)."""

    def __init__(self, limits: StoreLimits) -> None:
        self.lim = limits
        self.msgs: dict[int, StoreMsg] = {}
        self.ttl: dict[int, int] = {}
        self.first = self.last = self.first_ts = self.last_ts = 0
        self.removed: list[tuple[int, str]] = []

    @staticmethod
    def size(m: StoreMsg) -> int:
        return mem_store_msg_size(m.subject, m.hdr, m.data)

    def nbytes(self) -> int:
        return sum(self.size(m) for m in self.msgs.values())

    def on(self, subject: str) -> list[int]:
        return sorted(s for s, m in self.msgs.items() if m.subject == subject)

    @staticmethod
    def matches(subject: str, filter: str) -> bool:
        return filter in ("", ">") or tokens_match(subject.split("."), filter.split("."))

    def matching(self, filter: str) -> list[int]:
        return sorted(s for s, m in self.msgs.items() if self.matches(m.subject, filter))

    def rm(self, seq: int, notify: bool) -> None:
        m = self.msgs.pop(seq)
        self.ttl.pop(seq, None)
        if notify:
            self.removed.append((seq, m.subject))
        if self.msgs:
            self.first = min(self.msgs)
            self.first_ts = self.msgs[self.first].ts
        else:
            self.first, self.first_ts = self.last + 1, 0

    def store(self, subject, hdr, data, ttl, ts, check=True):
        lim = self.lim
        hdr = hdr or None
        mine = self.on(subject)
        asl = lim.max_msgs_per_subject > 0 and len(mine) >= lim.max_msgs_per_subject
        size = mem_store_msg_size(subject, hdr, data)
        if check and lim.discard == "new":
            rollup = hdr is not None and b"\r\nNats-Rollup: sub" in hdr
            if asl and lim.discard_new_per_subject and not rollup:
                raise ErrMaxMsgsPerSubject()
            if lim.max_msgs > 0 and len(self.msgs) >= lim.max_msgs and not asl:
                raise ErrMaxMsgs()
            if lim.max_bytes > 0 and self.nbytes() + size > lim.max_bytes:
                if not asl or self.size(self.msgs[mine[0]]) < size:
                    raise ErrMaxBytes()
        seq = self.last + 1
        if not self.msgs:
            self.first, self.first_ts = seq, ts
        self.msgs[seq] = StoreMsg(subject, hdr, data, seq, ts)
        if ttl:
            self.ttl[seq] = ttl
        self.last, self.last_ts = seq, ts
        self.enforce_subject(subject)
        self.enforce_limits()
        return seq

    def enforce_limits(self) -> None:
        lim = self.lim
        if lim.discard == "old":
            while lim.max_msgs > 0 and len(self.msgs) > lim.max_msgs:
                self.rm(min(self.msgs), True)
            while lim.max_bytes > 0 and self.nbytes() > lim.max_bytes:
                self.rm(min(self.msgs), True)

    def enforce_subject(self, subject: str) -> None:
        maxp = self.lim.max_msgs_per_subject
        while maxp > 0 and len(self.on(subject)) > maxp:
            self.rm(self.on(subject)[0], True)

    def update_config(self, limits: StoreLimits) -> None:
        old = self.lim.max_msgs_per_subject
        self.lim = limits
        self.enforce_limits()  # Go's order: msgs, bytes, then per-subject when tightened
        maxp = limits.max_msgs_per_subject
        if maxp > 0 and (old <= 0 or maxp < old):
            for subj in sorted({m.subject for m in self.msgs.values()}):
                self.enforce_subject(subj)

    def skip(self, now: int) -> int:
        seq = self.last = self.last + 1
        if not self.last_ts:
            self.last_ts = now
        if not self.msgs:
            self.first, self.first_ts = seq + 1, 0
        return seq

    def due(self, now: int) -> tuple[list[int], list[int]]:
        aged: list[int] = []
        if self.lim.max_age > 0:
            for s in sorted(self.msgs):
                if self.ttl.get(s, 0) < 0:
                    continue
                if self.msgs[s].ts > now - self.lim.max_age:
                    break
                aged.append(s)
        ttl = sorted(
            (self.msgs[s].ts + t, s)
            for s, t in self.ttl.items()
            if t > 0 and s not in aged and self.msgs[s].ts + t <= now
        )
        return aged, [s for _, s in ttl]

    def next_expiry(self) -> int | None:
        cands = [self.msgs[s].ts + t for s, t in self.ttl.items() if t > 0]
        if self.lim.max_age > 0:
            live = [s for s in sorted(self.msgs) if self.ttl.get(s, 0) >= 0]
            if live:
                cands.append(self.msgs[live[0]].ts + self.lim.max_age)
        return min(cands) if cands else None

    def purge(self) -> int:
        n = len(self.msgs)
        self.msgs.clear()
        self.ttl.clear()
        self.first, self.first_ts = self.last + 1, 0
        return n

    def compact(self, seq: int) -> int:
        if seq == 0:
            return self.purge()
        if self.first > seq:
            return 0
        if seq <= self.last:
            victims = [s for s in sorted(self.msgs) if s < seq]
            for s in victims:
                self.rm(s, False)
            return len(victims)
        n = self.purge()
        self.first, self.last = seq, seq - 1
        return n

    def purge_ex(self, subject: str, seq: int, keep: int) -> int:
        if seq == 1:
            return 0
        if subject in ("", ">"):
            if keep == 0 and seq == 0:
                return self.purge()
            if seq > 1:
                return self.compact(seq)
        cands = self.matching(subject)
        if not cands:
            return 0
        maxp = 0
        if keep > 0:
            if keep >= len(cands):
                return 0
            maxp = len(cands) - keep
        if seq >= 1:
            cands = [c for c in cands if c < seq]
        if maxp:
            cands = cands[:maxp]
        for c in cands:
            self.rm(c, False)
        return len(cands)

    def truncate(self, seq: int, now: int) -> None:
        if seq == 0:
            self.msgs.clear()
            self.ttl.clear()
            self.first = self.last = self.first_ts = 0
            self.last_ts = now
            return
        lts = self.msgs[seq].ts if seq in self.msgs else self.last_ts
        for s in [s for s in self.msgs if s > seq]:
            self.rm(s, False)
        self.last, self.last_ts = seq, lts
        if not self.msgs:
            self.first, self.first_ts = seq + 1, 0

    def state(self) -> StreamState:
        n = len(self.msgs)
        return StreamState(
            msgs=n,
            bytes=self.nbytes(),
            first_seq=self.first,
            first_ts=self.first_ts,
            last_seq=self.last,
            last_ts=self.last_ts,
            num_subjects=len({m.subject for m in self.msgs.values()}),
            num_deleted=self.last - self.first + 1 - n if n else 0,
            deleted=[s for s in range(self.first, self.last + 1) if s not in self.msgs] if n else [],
        )

    # reads

    def load_next(self, filter: str, start: int) -> int | type:
        start = max(start, self.first)
        if start > self.last or not self.msgs:
            return ErrStoreEOF
        c = [s for s in self.matching(filter) if s >= start]
        return c[0] if c else ErrStoreEOF

    def load_prev(self, filter: str, start: int) -> int | type:
        if not self.msgs or start < self.first:
            return ErrStoreEOF
        c = [s for s in self.matching(filter) if s <= min(start, self.last)]
        return c[-1] if c else ErrStoreEOF

    def filtered(self, start: int, filter: str, lps: bool) -> SimpleState:
        c = [s for s in self.matching(filter) if s >= max(start, self.first)]
        if not c:
            return SimpleState()
        n = len({self.msgs[s].subject for s in c}) if lps else len(c)
        first = min(self.on(subj)[-1] for subj in {self.msgs[s].subject for s in c}) if lps else c[0]
        return SimpleState(n, first, c[-1])

    def multi_last(self, filters: list[str], max_seq: int) -> list[int]:
        if not self.msgs:
            return []
        max_seq = max_seq or self.last
        out = set()
        for subj in {m.subject for m in self.msgs.values()}:
            if any(self.matches(subj, f) for f in filters):
                c = [s for s in self.on(subj) if s <= max_seq]
                if c:
                    out.add(c[-1])
        return sorted(out)


SUBJECTS = ["a", "b", "a.x", "a.y", "b.x", "a.x.z"]
FILTERS = [">", "", "a", "a.*", "*.x", "a.>", "*", "c", "a.x"]
HDRS = [None, b"", b"NATS/1.0\r\nK: v\r\n\r\n", ROLLUP]
LIMITS = st.builds(
    StoreLimits,
    max_msgs=st.sampled_from([-1, 3, 6]),
    max_bytes=st.sampled_from([-1, 90, 200]),
    max_age=st.sampled_from([0, 0, 5 * S]),
    max_msgs_per_subject=st.sampled_from([-1, 1, 2]),
    discard=st.sampled_from(["old", "new"]),
    discard_new_per_subject=st.booleans(),
)


def outcome(fn):
    try:
        return fn()
    except StoreError as e:
        return type(e)


class MemStoreVsReference(RuleBasedStateMachine):
    @initialize(limits=LIMITS)
    def setup(self, limits: StoreLimits) -> None:
        self.now = T0
        self.ms = MemStore(limits)
        self.ref = RefStore(limits)
        self.removed: list[tuple[int, str]] = []
        self.ms.register_on_remove(lambda seq, subj: self.removed.append((seq, subj)))

    def seq_arg(self, data: st.DataObject) -> int:
        return data.draw(st.integers(0, self.ref.last + 2))

    @rule(
        subject=st.sampled_from(SUBJECTS),
        hdr=st.sampled_from(HDRS),
        size=st.integers(0, 30),
        ttl=st.sampled_from([0, 0, 0, 2 * S, 7 * S, -1]),
        dt=st.integers(0, 2 * S),
        raw=st.booleans(),
    )
    def store(self, subject, hdr, size, ttl, dt, raw) -> None:
        self.now += dt
        data = bytes(size)
        if raw:
            got = outcome(lambda: self.ms.store_raw_msg(subject, hdr, data, 0, self.now, ttl))
            want = outcome(lambda: self.ref.store(subject, hdr, data, ttl, self.now, check=False) and None)
        else:
            got = outcome(lambda: self.ms.store_msg(subject, hdr, data, ttl, now=self.now))
            want = outcome(lambda: (self.ref.store(subject, hdr, data, ttl, self.now), self.now))
        assert got == want

    @rule(dt=st.integers(0, S))
    def skip(self, dt) -> None:
        self.now += dt
        assert self.ms.skip_msg(now=self.now) == self.ref.skip(self.now)

    @rule(data=st.data())
    def remove(self, data) -> None:
        seq = self.seq_arg(data)
        want = seq in self.ref.msgs
        if want:
            self.ref.rm(seq, True)
        assert self.ms.remove_msg(seq) == want

    @rule(subject=st.sampled_from(FILTERS), data=st.data())
    def purge_ex(self, subject, data) -> None:
        seq = data.draw(st.sampled_from([0, 0, 1, self.ref.last, self.ref.last + 1, self.ref.last // 2 + 1]))
        n = len(self.ref.matching(subject))
        keep = data.draw(st.sampled_from([0, 0, 1, 2, n, n + 1]))
        assert self.ms.purge_ex(subject, seq, keep) == self.ref.purge_ex(subject, seq, keep)

    @rule(data=st.data())
    def compact(self, data) -> None:
        seq = data.draw(st.integers(0, self.ref.last + 3))
        assert self.ms.compact(seq) == self.ref.compact(seq)

    @precondition(lambda self: self.ref.msgs)
    @rule(data=st.data())
    def truncate(self, data) -> None:
        seq = data.draw(st.integers(max(self.ref.first - 1, 0), self.ref.last))
        self.ms.truncate(seq, now=self.now)
        self.ref.truncate(seq, self.now)

    @rule()
    def purge(self) -> None:
        assert self.ms.purge() == self.ref.purge()

    @rule(dt=st.sampled_from([0, S, 3 * S, 6 * S]))
    def expire(self, dt) -> None:
        self.now += dt
        aged, ttl = self.ref.due(self.now)
        assert [m.seq for m in self.ms.peek_expired(self.now)] == sorted(aged + ttl)
        for s in aged + ttl:
            self.ref.rm(s, True)
        assert self.ms.expire(self.now) == len(aged) + len(ttl)

    @rule(limits=LIMITS)
    def update_config(self, limits) -> None:
        self.ms.update_config(limits)
        self.ref.update_config(limits)

    @invariant()
    def same_state(self) -> None:
        if not hasattr(self, "ms"):
            return
        assert self.ms.state(deleted=True) == self.ref.state()
        assert self.removed == self.ref.removed
        assert self.ms.next_expiry() == self.ref.next_expiry()

    @invariant()
    def same_reads(self) -> None:
        if not hasattr(self, "ms"):
            return
        ms, ref = self.ms, self.ref
        for seq in range(0, ref.last + 2):
            got = outcome(lambda seq=seq: ms.load_msg(seq))
            want = ref.msgs.get(seq) or (ErrStoreMsgNotFound if seq <= ref.last else ErrStoreEOF)
            assert got == want
        starts = sorted({0, ref.first, ref.first + 1, (ref.first + ref.last) // 2, ref.last, ref.last + 1})
        for f in FILTERS:
            wc = "*" in f or ">" in f
            for start in starts:
                assert outcome(lambda f=f, s=start, wc=wc: ms.load_next_msg(f, wc, s)[1]) == ref.load_next(
                    f, start
                )
                assert outcome(lambda f=f, s=start, wc=wc: ms.load_prev_msg(f, wc, s)[1]) == ref.load_prev(
                    f, start
                )
                assert ms.filtered_state(start, f) == ref.filtered(start, f, False)
                assert ms.num_pending(start, f, True)[0] == ref.filtered(start, f, True).msgs
            c = ref.matching(f)
            assert outcome(lambda f=f: ms.load_last_msg(f).seq) == (c[-1] if c else ErrStoreMsgNotFound)
            subjects = {ref.msgs[s].subject for s in c}
            assert ms.subjects_totals(f) == {s: len(ref.on(s)) for s in subjects}
            assert ms.multi_last_seqs([f], ref.last // 2) == ref.multi_last([f], ref.last // 2)
        assert ms.multi_last_seqs(["a.*", "b"]) == ref.multi_last(["a.*", "b"], 0)
        assert ms.num_pending_multi(0, ["a", "*.x"], False)[0] == len(
            {s for f in ("a", "*.x") for s in ref.matching(f)}
        )


MemStoreVsReference.TestCase.settings = settings(max_examples=250, stateful_step_count=40, deadline=None)
test_memstore_matches_reference = MemStoreVsReference.TestCase
