"""z3 checks of the stream model's counters and limits (natsd.oracle.proofs.stream).

- every stream check holds, fast;
- each check, handed a deliberately wrong variant of the transition (or of the
  invariant), fails with a counterexample, so the proofs are not tautologies;
- the abstraction speaks about the real model: random runs of StreamModel keep
  ``inv`` at every step (evaluated on Python values), and z3 finds choices
  under which each abstract transition yields exactly the observed post-state.
"""

from __future__ import annotations

import json
import random
import time

import pytest
import z3

from natsd.model.stream import StreamModel
from natsd.oracle import proofs
from natsd.oracle.proofs import stream as P
from natsd.oracle.proofs.stream import Limits, PubChoice, Removal, S

STREAM = {
    "stream.initial_states_satisfy_invariant",
    "stream.publish_discard_old_preserves_invariant",
    "stream.publish_discard_new_preserves_invariant",
    "stream.purge_all_preserves_invariant",
    "stream.delete_msg_preserves_invariant",
    "stream.update_limits_discard_old_preserves_invariant",
    "stream.transitions_are_enabled",
}


def test_every_stream_check_holds_quickly() -> None:
    t0 = time.perf_counter()
    results = proofs.run_all(["stream"])
    assert {r.name for r in results} == STREAM
    for r in results:
        assert r.ok, f"{r.name}: {r.detail}"
        assert r.rules and all(rule.startswith("stream.") for rule in r.rules)
        assert r.seconds < 2, r
    assert time.perf_counter() - t0 < 5


# -- deliberately wrong variants: the checks can fail ----------------------------------


def refuted(v: proofs.Verdict) -> dict[str, str]:
    assert not v.ok and v.detail.startswith("counterexample"), v.detail
    return v.model


def test_discard_new_without_the_check_is_refuted() -> None:
    m = refuted(P.publish_discard_new_preserves_invariant(
        publish=lambda s, lim, c: P.publish(s, lim, c, refused=lambda *a: False)))
    assert "lim" in m and "after" in m


def test_discard_old_without_front_eviction_is_refuted() -> None:
    def no_evict(s: S, lim: Limits, c: PubChoice) -> S:
        a = P.append(s, c.isx, c.size)
        return P.pick(P.psub_evicts(lim, c), P.remove(a, c.psub), a)

    refuted(P.publish_discard_old_preserves_invariant(publish=lambda s, lim, c: P.publish(s, lim, c, store=no_evict)))


def test_publish_that_never_sets_first_is_refuted() -> None:
    def keep_first(s: S, isx, size) -> S:
        return S(s.first, s.last + 1, s.msgs + 1, s.bytes + size, s.cx + P.ite(isx, 1, 0), s.co + P.ite(isx, 0, 1))

    def store(s: S, lim: Limits, c: PubChoice) -> S:
        a = keep_first(s, c.isx, c.size)
        b = P.pick(P.psub_evicts(lim, c), P.remove(a, c.psub), a)
        return P.pick(lim.discard_new, b, P.remove(b, c.front))

    m = refuted(P.publish_discard_old_preserves_invariant(publish=lambda s, lim, c: P.publish(s, lim, c, store=store)))
    assert m["before"].startswith("(first=")


def test_publish_that_ignores_the_per_subject_limit_is_refuted() -> None:
    def no_psub(s: S, lim: Limits, c: PubChoice) -> S:
        a = P.append(s, c.isx, c.size)
        return P.pick(lim.discard_new, a, P.remove(a, c.front))

    refuted(P.publish_discard_new_preserves_invariant(publish=lambda s, lim, c: P.publish(s, lim, c, store=no_psub)))


def test_purge_that_leaves_first_unchanged_is_refuted() -> None:
    m = refuted(P.purge_all_preserves_invariant(purge_all=lambda s: S(s.first, s.last, 0, 0, 0, 0)))
    assert "msgs=" in m["before"]


def test_delete_that_never_moves_first_is_refuted() -> None:
    def stuck(s: S, r: Removal) -> S:
        return P.remove(s, r)._replace(first=s.first)

    refuted(P.delete_msg_preserves_invariant(remove=stuck))


def test_delete_that_forgets_bytes_is_refuted() -> None:
    refuted(P.delete_msg_preserves_invariant(remove=lambda s, r: P.remove(s, r)._replace(bytes=s.bytes)))


def test_update_without_per_subject_trim_is_refuted() -> None:
    refuted(P.update_limits_discard_old_preserves_invariant(
        update_limits=lambda s, new, old, front, psub: P.remove(s, front)))


def test_first_at_least_one_is_not_the_models_invariant() -> None:
    """The naive ``first >= 1`` fails on the never-written stream (first = last = 0)."""
    def naive(s: S, lim: Limits):
        return P.and_(s.first >= 1, P.inv(s, lim))

    refuted(P.initial_states_satisfy_invariant(inv=naive))


def test_witness_fails_when_a_transition_is_disabled(monkeypatch) -> None:
    monkeypatch.setattr(P, "refused", lambda *a: True)  # every publish refused: nothing ever evicts
    v = P.transitions_are_enabled()
    assert not v.ok and "vacuous" in v.detail


# -- the abstraction speaks about the real model --------------------------------------

X = "x"


def abstract(st) -> S:
    cx = sum(1 for m in st.msgs if m.subject == X)
    return S(st.first_seq, st.last_seq, len(st.msgs), st.bytes, cx, len(st.msgs) - cx)


def limits(st) -> Limits:
    c = st.config
    return Limits(c["max_msgs"], c["max_bytes"], c["max_msgs_per_subject"], c["discard"] == "new",
                  bool(c.get("discard_new_per_subject")))


def admits(*facts) -> bool:
    s = z3.Solver()
    s.add(*facts)
    return s.check() == z3.sat


def equal(a: S, b: S):
    return z3.And(*(x == y for x, y in zip(a, b, strict=True)))


def config(rng: random.Random, discard: str) -> dict:
    req = {"name": "S", "subjects": [X, "y.*"], "storage": "memory", "discard": discard,
           "max_msgs": rng.choice([0, 2, 4]), "max_bytes": rng.choice([0, 60, 120]),
           "max_msgs_per_subject": rng.choice([0, 1, 2])}
    if discard == "new" and req["max_msgs_per_subject"] and rng.random() < 0.3:
        req["discard_new_per_subject"] = True
    return req


@pytest.mark.parametrize("seed", range(12))
def test_model_runs_keep_inv_and_each_step_is_an_abstract_transition(seed: int) -> None:
    rng = random.Random(seed)
    m = StreamModel()
    discard = rng.choice(["old", "new"])
    assert "error" not in m.create("S", config(rng, discard))
    st = m.streams["S"]
    for _ in range(25):
        pre, lim = abstract(st), limits(st)
        assert P.inv(pre, lim) is True, (pre, lim)
        op = rng.choice(["pub", "pub", "pub", "pub", "del", "purge", "update"])
        if op == "pub":
            subject = rng.choice([X, "y.a", "y.b"])
            c = PubChoice.var("c")
            m.publish(subject, (), b"z" * rng.randrange(0, 50))
            post = abstract(st)
            assert admits(P.publish_ok(pre, lim, c), c.isx == (subject == X),
                          equal(P.publish(pre, lim, c), post)), (pre, lim, post)
        elif op == "del" and st.msgs:
            seq = rng.choice(st.msgs).seq
            m.delete_msg("S", json.dumps({"seq": seq}).encode())
            r = Removal.var("r")
            assert admits(r.jx + r.jo == 1, P.removal_ok(pre, r), equal(P.remove(pre, r), abstract(st)))
        elif op == "purge":
            m.purge("S", b"")
            assert abstract(st) == P.purge_all(pre)
        elif op == "update" and discard == "old":
            assert "error" not in m.update("S", config(rng, "old"))
            front, psub = Removal.var("front"), Removal.var("psub")
            assert admits(P.update_ok(pre, limits(st), lim, front, psub),
                          equal(P.update_limits(pre, limits(st), lim, front, psub), abstract(st)))
    assert P.inv(abstract(st), limits(st)) is True
