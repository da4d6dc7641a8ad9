"""Sublist: wildcard matching, queue groups, and a cache that never goes stale."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from natsd.subjects.sublist import CACHE_MAX, InvalidSubjectError, Sublist, Subscription
from natsd.subjects.validate import is_valid_subject, subject_matches_filter, tokens_match


def sub(subject: str, queue: str | None = None, sid: str = "1") -> Subscription:
    return Subscription(object(), subject, queue, sid.encode())


def naive(subs: list[Subscription], subject: str) -> set[Subscription]:
    toks = subject.split(".")
    return {s for s in subs if tokens_match(toks, s.subject.split("."))}


def matched(sl: Sublist, subject: str) -> set[Subscription]:
    r = sl.match(subject)
    out = set(r.psubs)
    for grp in r.qsubs:
        out.update(grp)
    return out


def test_wildcards_match_whole_tokens() -> None:
    sl = Sublist()
    subs = [sub("foo.bar"), sub("foo.*"), sub("foo.>"), sub(">"), sub("*.bar"), sub("foo*")]
    for s in subs:
        sl.insert(s)
    assert matched(sl, "foo.bar") == set(subs[:5])
    assert matched(sl, "foo.bar.baz") == {subs[2], subs[3]}
    assert matched(sl, "foo") == {subs[3]}
    assert matched(sl, "foo*") == {subs[3], subs[5]}


def test_queue_groups_are_grouped_by_name() -> None:
    sl = Sublist()
    a, b, c = sub("q.x", "g1"), sub("q.*", "g1"), sub("q.x", "g2")
    for s in (a, b, c):
        sl.insert(s)
    r = sl.match("q.x")
    assert r.psubs == []
    assert sorted(map(set, r.qsubs), key=len) == [{c}, {a, b}]


def test_invalid_subjects_are_refused() -> None:
    sl = Sublist()
    for bad in ("", "a..b", ".a", "a.", "a.>.b"):
        try:
            sl.insert(sub(bad))
        except InvalidSubjectError:
            continue
        raise AssertionError(bad)
    assert sl.count == 0


def test_cache_is_invalidated_on_insert_and_remove() -> None:
    sl = Sublist()
    a = sub("a.b")
    sl.insert(a)
    assert matched(sl, "a.b") == {a}
    w = sub("a.*")
    sl.insert(w)
    assert matched(sl, "a.b") == {a, w}
    sl.remove(a)
    assert matched(sl, "a.b") == {w}
    sl.remove(w)
    assert matched(sl, "a.b") == set()
    assert sl.cache_count <= CACHE_MAX


def test_removing_everything_prunes_the_trie() -> None:
    sl = Sublist()
    subs = [sub(f"x.{i}.>") for i in range(50)] + [sub("x.*.y"), sub("x.1.y", "q")]
    for s in subs:
        sl.insert(s)
    for s in subs:
        assert sl.remove(s)
    assert not sl.remove(subs[0])
    assert sl.count == 0 and sl._root.is_empty()


def test_tens_of_thousands_of_subscriptions() -> None:
    sl = Sublist()
    subs = [sub(f"svc.{i % 100}.{i}") for i in range(30_000)] + [sub("svc.7.*"), sub("svc.>")]
    for s in subs:
        sl.insert(s)
    assert matched(sl, "svc.7.7") == {subs[7], subs[-2], subs[-1]}
    assert matched(sl, "svc.7.29907") == {subs[29907], subs[-2], subs[-1]}
    for s in subs[:15_000]:
        sl.remove(s)
    assert matched(sl, "svc.7.7") == {subs[-2], subs[-1]}
    assert sl.count == 15_002


tokens = st.sampled_from(["a", "b", "c"])
pattern_tokens = st.sampled_from(["a", "b", "c", "*"])


@st.composite
def patterns(draw) -> str:
    toks = draw(st.lists(pattern_tokens, min_size=1, max_size=3))
    if draw(st.booleans()) and len(toks) < 3:
        toks.append(">")
    return ".".join(toks)


subjects = st.lists(tokens, min_size=1, max_size=4).map(".".join)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("sub"), patterns(), st.sampled_from([None, "q1", "q2"])),
        st.tuples(st.just("unsub"), st.integers(0, 30), st.none()),
        st.tuples(st.just("match"), subjects, st.none()),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_sublist_agrees_with_the_naive_matcher(program) -> None:
    # rule routing.match + routing.cache.invalidate: after any sequence of
    # inserts and removes, every match (cached or not) equals the naive one.
    sl = Sublist()
    live: list[Subscription] = []
    for op, arg, q in program:
        if op == "sub":
            s = sub(arg, q)
            sl.insert(s)
            live.append(s)
        elif op == "unsub" and live:
            s = live.pop(arg % len(live))
            assert sl.remove(s)
        elif op == "match":
            assert matched(sl, arg) == naive(live, arg)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(patterns(), st.sampled_from([None, "q1"])), max_size=8),
       st.lists(tokens, min_size=1, max_size=2), st.lists(tokens, min_size=0, max_size=3))
def test_wild_tail_result_serves_every_subject_with_that_head(pats, head, tail) -> None:
    # The shared result Broker uses for ack subjects: when match_wild_tail
    # answers, it equals the match of every subject with that head and length.
    sl = Sublist()
    live = [sub(p, q, str(i)) for i, (p, q) in enumerate(pats)]
    for s in live:
        sl.insert(s)
    n = len(head) + len(tail)
    r = sl.match_wild_tail(head, n)
    if r is None:
        assert any(len(s.subject.split(".")) > len(head) for s in live)
        return
    got = set(r.psubs)
    for grp in r.qsubs:
        got.update(grp)
    assert got == naive(live, ".".join(head + tail))
    assert matched(sl, ".".join(head + tail)) == got


def test_subject_validation_and_filters() -> None:
    assert is_valid_subject("foo.*.>")
    assert not is_valid_subject("foo bar")
    assert not is_valid_subject("foo.>.bar")
    assert subject_matches_filter("foo.bar", "foo.>")
    assert subject_matches_filter("foo.*", "foo.*")
    assert not subject_matches_filter("foo.>", "foo.*")
