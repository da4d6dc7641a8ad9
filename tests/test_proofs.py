"""z3 checks (natsd.oracle.proofs): they hold, they can fail, and they speak about the real code.

Three kinds of test:
- every registered check holds, fast, and the CLI reports it;
- each check, handed a deliberately wrong variant of the code it is about,
  fails with a counterexample, and that counterexample is confirmed against
  the implementation (so the proofs are not tautologies);
- the expression-style functions the proofs reason about, evaluated on Python
  values, agree with natsd.subjects (tokens_match, subject_matches_filter,
  validation, and a real Sublist's cache) on every small case.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from natsd.oracle import proofs
from natsd.oracle.proofs import _core, routing
from natsd.oracle.proofs.__main__ import main as proofs_main
from natsd.oracle.proofs._expr import and_, cases, ite, not_, or_
from natsd.oracle.proofs.routing import (
    EMPTY,
    FWC,
    K_QUANTIFIED,
    STAR,
    Tokens,
    enumerate_tokens,
    is_literal,
    matches,
    routable,
    same_tokens,
)
from natsd.subjects import validate
from natsd.subjects.sublist import Sublist, Subscription
from natsd.subjects.validate import subject_matches_filter, tokens_match

ROUTING = {
    "routing.cache_invalidation_preserves_match",
    "routing.cache_invalidation_is_exact",
    "routing.cache_literal_fast_path_is_exact",
    "routing.cache_invalidation_witness",
    "routing.match_without_fwc_keeps_length",
    "routing.match_fwc_is_prefix_plus_one_or_more",
    "routing.subset_match_is_sound",
    "routing.subset_match_is_complete",
}


def subject(rendered: str) -> str:
    """A subject from a rendered model value (a JSON string)."""
    return json.loads(rendered)


def toks(rendered: str) -> list[str]:
    return subject(rendered).split(".")


# -- the checks hold, and the runner reports them -----------------------------------


def test_every_routing_check_holds_quickly() -> None:
    t0 = time.perf_counter()
    results = proofs.run_all(["routing"])
    assert {r.name for r in results} == ROUTING
    for r in results:
        assert r.ok, f"{r.name}: {r.detail}"
        assert r.rules and all(rule.count(".") >= 1 for rule in r.rules)
        assert r.seconds < 5, r
    assert time.perf_counter() - t0 < 10


def test_run_all_selects_by_name_or_area_and_rejects_unknown_names() -> None:
    assert ROUTING <= set(proofs.names())
    [one] = proofs.run_all(["routing.subset_match_is_sound"])
    assert one.name == "routing.subset_match_is_sound" and one.ok
    assert one.rules == ["routing.subject.tokens", "protocol.perms.subscribe"]
    with pytest.raises(KeyError):
        proofs.run_all(["routing.no_such_check"])
    with pytest.raises(KeyError):
        proofs.run_all(["rout"])  # area names match whole dotted segments only


def test_a_failing_or_crashing_check_is_reported_and_the_cli_exits_non_zero(monkeypatch, capsys) -> None:
    proofs.names()  # load the areas before swapping the registry
    monkeypatch.setattr(_core, "_REGISTRY", dict(_core._REGISTRY))

    @proofs.proof("scratch.fails", rules=["x.y"])
    def fails() -> proofs.Verdict:
        return proofs.Verdict(False, 'counterexample: P="a"')

    @proofs.proof("scratch.crashes", rules=["x.y"])
    def crashes() -> proofs.Verdict:
        raise RuntimeError("boom")

    with pytest.raises(ValueError):
        proofs.proof("scratch.fails", rules=[])(lambda: proofs.Verdict(True, ""))
    results = {r.name: r for r in proofs.run_all(["scratch"])}
    assert not results["scratch.fails"].ok
    assert not results["scratch.crashes"].ok and "RuntimeError: boom" in results["scratch.crashes"].detail
    assert proofs_main(["scratch"]) == 1
    assert "FAIL scratch.fails" in capsys.readouterr().out
    assert proofs_main(["no.such"]) == 2


def test_python_m_runs_the_checks_and_exits_zero() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "natsd.oracle.proofs", "routing.cache_invalidation_preserves_match"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok   routing.cache_invalidation_preserves_match" in out.stdout
    assert "1/1 checks hold" in out.stdout


# -- deliberately wrong variants: the checks can fail ----------------------------------


def wrong_matcher(*, tail=lambda s, p: s.n == p.n, fwc=lambda s, i: s.n > i, fwc_is_one_token=False):
    """``routing.matches`` with one piece of its semantics swapped out."""

    def m(p: Tokens, s: Tokens):
        r = tail(s, p)
        for i in reversed(range(len(p.t))):
            pi, si = p.t[i], s.t[i]
            wild = or_(pi == STAR, pi == FWC) if fwc_is_one_token else pi == STAR
            r = cases(
                (i >= p.n, tail(s, p)),
                (and_(pi == FWC, not fwc_is_one_token), fwc(s, i)),
                (i >= s.n, False),
                (and_(not_(wild), pi != si), False),
                otherwise=r,
            )
        return r

    return m


def wrong_subset(*, guard_fwc_in_p=True, literal_under_star=True):
    """``routing.subset`` with one of the implementation's tests removed or tightened."""

    def sub(p: Tokens, f: Tokens):
        r = p.n == f.n
        for i in reversed(range(len(f.t))):
            t1, t2 = p.t[i], f.t[i]
            r = cases(
                (i >= f.n, p.n == f.n),
                (i >= p.n, False),
                (t2 == EMPTY, False),
                (t2 == FWC, True),
                (or_(t1 == EMPTY, t1 == FWC) if guard_fwc_in_p else t1 == EMPTY, False),
                (t1 == STAR, ite(t2 == STAR, r, False)),
                (and_(t2 != STAR, t1 != t2) if literal_under_star else t1 != t2, False),
                otherwise=r,
            )
        return r

    return sub


def drop_with(match_fn):
    return lambda p, s: ite(is_literal(p), same_tokens(p, s), match_fn(p, s))


def test_cache_check_catches_invalidating_only_the_changed_subject() -> None:
    v = routing.cache_invalidation_preserves_match(drop=same_tokens)
    assert not v.ok and v.detail.startswith("counterexample:")
    m = v.model
    assert m["op"] in ("insert", "remove") and m["y_is_x"] == "True" and m["cached_before"] == "True"
    # real: the implementation's matcher says the changed pattern covers a different key
    assert tokens_match(toks(m["S"]), toks(m["P"])) and subject(m["S"]) != subject(m["P"])
    # and the real Sublist drops that entry, so it does not go stale
    sl = Sublist()
    sl.match(subject(m["S"]))
    sl.insert(Subscription(object(), subject(m["P"]), None, b"1"))
    assert sl.match(subject(m["S"])).psubs


def test_cache_check_catches_fwc_treated_as_one_token() -> None:
    v = routing.cache_invalidation_preserves_match(drop=drop_with(wrong_matcher(fwc_is_one_token=True)))
    assert not v.ok
    p, s = toks(v.model["P"]), toks(v.model["S"])
    assert ">" in p and len(s) > len(p) and tokens_match(s, p)


def test_cache_check_catches_never_invalidating() -> None:
    v = routing.cache_invalidation_preserves_match(drop=lambda p, s: False)
    assert not v.ok and tokens_match(toks(v.model["S"]), toks(v.model["P"]))


def test_exactness_check_catches_flushing_everything() -> None:
    # sound (nothing stale) but not exact: the inductive check passes, exactness fails
    assert routing.cache_invalidation_preserves_match(drop=lambda p, s: True).ok
    v = routing.cache_invalidation_is_exact(drop=lambda p, s: True)
    assert not v.ok and not tokens_match(toks(v.model["S"]), toks(v.model["P"]))


def test_fast_path_check_catches_a_literal_test_that_forgets_star() -> None:
    def no_fwc_only(p: Tokens):
        return and_(*(or_(i >= p.n, x != FWC) for i, x in enumerate(p.t)))

    v = routing.cache_literal_fast_path_is_exact(is_literal=no_fwc_only)
    assert not v.ok and "*" in toks(v.model["P"])
    assert tokens_match(toks(v.model["S"]), toks(v.model["P"])) != (v.model["S"] == v.model["P"])


def test_witness_check_fails_when_wildcards_match_nothing_new() -> None:
    v = routing.cache_invalidation_witness(matches=same_tokens)
    assert not v.ok and "vacuous" in v.detail


def test_length_check_catches_a_prefix_matcher() -> None:
    v = routing.match_without_fwc_keeps_length(matches=wrong_matcher(tail=lambda s, p: s.n >= p.n))
    assert not v.ok
    p, s = toks(v.model["P"]), toks(v.model["S"])
    assert ">" not in p and len(s) > len(p) and not tokens_match(s, p)


def test_fwc_check_catches_fwc_matching_zero_tokens() -> None:
    v = routing.match_fwc_is_prefix_plus_one_or_more(matches=wrong_matcher(fwc=lambda s, i: s.n >= i))
    assert not v.ok
    p, s = toks(v.model["P"]), toks(v.model["S"])
    assert p[-1] == ">" and len(s) == len(p) - 1 and not tokens_match(s, p)


def test_subset_soundness_check_catches_fwc_under_star() -> None:
    v = routing.subset_match_is_sound(subset=wrong_subset(guard_fwc_in_p=False))
    assert not v.ok
    p, f, s = (subject(v.model[k]) for k in ("P", "F", "S"))
    # the wrong variant says subset, yet S is in P and not in F; the implementation refuses
    assert tokens_match(s.split("."), p.split(".")) and not tokens_match(s.split("."), f.split("."))
    assert not subject_matches_filter(p, f)


def test_subset_completeness_check_catches_a_too_strict_subset_test() -> None:
    v = routing.subset_match_is_complete(subset=wrong_subset(literal_under_star=False))
    assert not v.ok
    p, f = subject(v.model["P"]), subject(v.model["F"])
    assert subject_matches_filter(p, f)  # the implementation accepts the pair
    for s in enumerate_tokens(("a", "b", "c", "d"), K_QUANTIFIED + 1, 1):  # and it is a true subset
        assert not tokens_match(s, p.split(".")) or tokens_match(s, f.split("."))


# -- the proof encoding is the implementation's semantics ----------------------------


TOKENS = ("a", "b", "*", ">", "")


def test_matches_agrees_with_tokens_match_on_every_small_case() -> None:
    lists = enumerate_tokens(TOKENS, 3)
    encoded = [(t, Tokens.of(t, slots=3)) for t in lists]
    for pt, p in encoded:
        for st, s in encoded:
            assert matches(p, s) is tokens_match(st, pt), (pt, st)


def test_subset_agrees_with_subject_matches_filter_on_every_small_case() -> None:
    lists = enumerate_tokens(TOKENS, 3, 1)
    encoded = [(".".join(t), Tokens.of(t, slots=3)) for t in lists]
    for ps, p in encoded:
        for fs, f in encoded:
            assert routing.subset(p, f) is subject_matches_filter(ps, fs), (ps, fs)


def test_validity_predicates_agree_with_validate() -> None:
    for t in enumerate_tokens(TOKENS + ("x*",), 3, 1):
        s, x = ".".join(t), Tokens.of(t, slots=3)
        assert routing.is_valid_pattern(x) is validate.is_valid_subject(s), t
        assert routing.is_valid_literal(x) is validate.is_valid_literal_subject(s), t
        assert is_literal(x) is validate.is_literal(s), t
        assert routable(x) is all(t), t


def test_drop_and_routable_agree_with_a_real_sublist_cache() -> None:
    """For each pattern P: cache every key, insert then remove P, and see which keys were dropped."""
    keys = [".".join(t) for t in enumerate_tokens(("a", "b", "*", ">", "", "x*"), 3, 1)]
    patterns = [".".join(t) for t in enumerate_tokens(("a", "b", "*", ">", "x*"), 3, 1)]
    patterns = [p for p in patterns if validate.is_valid_subject(p)]
    assert len(patterns) > 90 and len(keys) > 250
    enc = {k: Tokens.of(k, slots=3) for k in keys + patterns}
    for p in patterns:
        sl = Sublist()
        for k in keys:
            sl.match(k)
        sub = Subscription(object(), p, None, b"1")
        for change in (sl.insert, sl.remove):
            for k in keys:
                sl.match(k)  # re-cache what the previous step dropped
            change(sub)
            for k in keys:
                hits = sl.cache_hits
                result = sl.match(k)
                dropped = sl.cache_hits == hits
                assert dropped is routing.drop(enc[p], enc[k]), (change.__name__, p, k)
                live = change == sl.insert
                assert bool(result) is (live and routable(enc[k]) and matches(enc[p], enc[k])), (p, k)
