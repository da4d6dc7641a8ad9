"""The queue checker's buckets (natsd.oracle.queuecheck), on hand-made histories."""

from __future__ import annotations

from natsd.oracle.queuecheck import Attempt, QueueReport, Read, check, merge


def _acked(writer: int, n: int, start_seq: int = 1, step: int = 1) -> list[Attempt]:
    return [Attempt(writer, i, f"w{writer}-{i}", "ok", start_seq + i * step) for i in range(n)]


def test_everything_read_back_is_valid():
    atts = _acked(0, 3)
    rep = check(atts, [Read(1, "w0-0"), Read(2, "w0-1"), Read(3, "w0-2")])
    assert rep.valid and rep.ok == 3 and rep.lost == 0


def test_lost_split_into_prefix_middle_postfix_per_writer():
    atts = _acked(0, 5)
    rep = check(atts, [Read(2, "w0-1"), Read(4, "w0-3")])
    assert (rep.lost_prefix, rep.lost_middle, rep.lost_postfix) == (1, 1, 1)
    assert not rep.valid


def test_writer_with_no_survivor_counts_as_postfix():
    rep = check(_acked(0, 4), [])
    assert (rep.lost_prefix, rep.lost_middle, rep.lost_postfix) == (0, 0, 4)


def test_unknown_read_back_is_recovered_and_unread_unknown_is_allowed():
    atts = [*_acked(0, 1), Attempt(0, 1, "w0-1", "unknown"), Attempt(0, 2, "w0-2", "unknown")]
    rep = check(atts, [Read(1, "w0-0"), Read(2, "w0-1")])
    assert rep.valid and rep.recovered == 1 and rep.unknown == 1


def test_unexpected_duplicated_wrong_and_reordered_are_invalid():
    atts = [*_acked(0, 2), Attempt(1, 0, "refused", "fail")]
    assert check(atts, [Read(1, "w0-0"), Read(2, "w0-1"), Read(3, "refused")]).unexpected == 1
    assert check(atts, [Read(1, "w0-0"), Read(2, "w0-1"), Read(3, "ghost")]).unexpected == 1
    assert check(atts, [Read(1, "w0-0"), Read(2, "w0-1"), Read(3, "w0-1")]).duplicated == 1
    rep = check(atts, [Read(1, "w0-0"), Read(7, "w0-1")])
    assert rep.wrong == 1 and not rep.valid
    swapped = [Attempt(0, 0, "a", "ok", 2), Attempt(0, 1, "b", "ok", 1)]
    assert check(swapped, [Read(1, "b"), Read(2, "a")]).reordered == 1


def test_merge_sums_rounds():
    a = check(_acked(0, 2), [Read(1, "w0-0")])
    b = check(_acked(1, 1), [Read(1, "w1-0")])
    total = merge([a, b])
    assert isinstance(total, QueueReport)
    assert (total.acknowledged, total.ok, total.lost_postfix) == (3, 2, 1)
