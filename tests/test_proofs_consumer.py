"""z3 checks of the consumer model's ack floors and redelivery bound (natsd.oracle.proofs.consumer).

- every consumer check holds, fast;
- each check, handed a deliberately wrong variant of a transition, fails with
  a counterexample, so the proofs are not tautologies;
- the abstraction speaks about the real model: random runs of ConsumerModel
  keep ``inv`` (ack explicit), ``inv_all`` (ack all) and the max_deliver bound
  at every step, evaluated on Python values.
"""

from __future__ import annotations

import random
import time

import z3

from natsd.model.consumer import ConsumerModel
from natsd.oracle import proofs
from natsd.oracle.consumer import ACK_KINDS, CONSUMERS, FETCHES, STREAMS, SUBJECTS
from natsd.oracle.proofs import consumer as P
from natsd.oracle.proofs.consumer import M, S

CONSUMER = {
    "consumer.initial_state_satisfies_invariant",
    "consumer.delivery_preserves_ack_floor_invariant",
    "consumer.explicit_ack_preserves_ack_floor_invariant",
    "consumer.cleanup_and_purge_preserve_ack_floor_invariant",
    "consumer.ack_all_preserves_stream_floor_invariant",
    "consumer.ack_all_of_a_redelivery_can_pass_pending_consumer_sequences",
    "consumer.redelivery_never_exceeds_max_deliver",
    "consumer.transitions_are_enabled",
}


def test_every_consumer_check_holds() -> None:
    t0 = time.perf_counter()
    results = proofs.run_all(["consumer"])
    assert {r.name for r in results} == CONSUMER
    for r in results:
        assert r.ok, f"{r.name}: {r.detail}"
        assert r.rules and all(rule.startswith("consumer.") for rule in r.rules)
    assert time.perf_counter() - t0 < 20


# -- deliberately wrong variants: the checks can fail ----------------------------------


def refuted(v: proofs.Verdict) -> dict[str, str]:
    assert not v.ok and "counterexample" in v.detail, v.detail
    return v.model


def test_floor_moved_onto_the_next_pending_message_is_refuted() -> None:
    """moveAckFloor must stop just *below* the next pending message."""
    m = refuted(P.explicit_ack_preserves_ack_floor_invariant(
        ack=lambda s, seq, empty, nx: P.ack(s, seq, empty, nx, loop_floor=lambda x: x)))
    assert "after.F" in m


def test_floor_moved_by_an_ack_that_is_not_at_the_floor_is_refuted() -> None:
    """Without the 'acked message was right above the floor' test, an ack of a
    later message jumps over earlier pending ones."""

    def always_moves(s: S, seq, empty, nx) -> S:
        P2 = z3.Store(s.P, seq, False)
        return S(P.ite(empty, s.D - 1, s.PD[seq]), P.ite(empty, s.N - 1, seq), s.D, s.N, P2, s.PD)

    refuted(P.explicit_ack_preserves_ack_floor_invariant(ack=always_moves))


def test_delivery_that_does_not_advance_the_next_sequence_is_refuted() -> None:
    def stuck(s: S, seq) -> S:
        return S(s.A, s.F, s.D + 1, s.N, z3.Store(s.P, seq, True), z3.Store(s.PD, seq, s.D))

    refuted(P.delivery_preserves_ack_floor_invariant(deliver_new=stuck))


def test_purge_that_keeps_pending_messages_below_the_new_floor_is_refuted() -> None:
    refuted(P.cleanup_and_purge_preserve_ack_floor_invariant(
        purge=lambda s, start, lg, empty: P.purge(s, start, lg, empty, drop=False)))


def test_ack_all_that_keeps_pending_messages_is_refuted() -> None:
    def keeps(s: S, seq, dseq) -> S:
        ignored = P.or_(dseq <= s.A, seq <= s.F)
        return S(P.ite(ignored, s.A, dseq), P.ite(ignored, s.F, seq), s.D, s.N, s.P, s.PD)

    refuted(P.ack_all_preserves_stream_floor_invariant(ack_all=keeps))


def test_redelivery_bound_off_by_one_is_refuted() -> None:
    steps = dict(P._MD_STEPS)
    steps["from_queue"] = (lambda m, maxd: P.from_queue(m, maxd, over=lambda dc, mx: dc > mx + 1),
                           steps["from_queue"][1])
    v = P.redelivery_never_exceeds_max_deliver(steps=steps)
    assert not v.ok and v.detail.startswith("from_queue: counterexample"), v.detail


def test_redelivery_that_does_not_count_is_refuted() -> None:
    steps = dict(P._MD_STEPS)
    steps["from_queue"] = (lambda m, maxd: M(m.c + 1, m.r, True, False), steps["from_queue"][1])
    v = P.redelivery_never_exceeds_max_deliver(steps=steps)
    assert not v.ok and v.detail.startswith("from_queue"), v.detail


# -- the abstraction speaks about the real model ----------------------------------------


def _random_run(rng: random.Random, steps: int) -> ConsumerModel:
    """A random walk over the campaign's tables, checking the invariants on the
    model's consumers (evaluated on Python values) after every step."""
    m = ConsumerModel()
    m.create("S", {"name": "S", "storage": "memory", **STREAMS[rng.choice(["limits", "max_msgs", "interest",
                                                                            "workqueue", "per_subject"])]})
    delivered: list[str] = []
    # not the last-per-subject starts: a purge while their start list is being
    # delivered sends the next sequence back below the floor (Go does; the
    # proofs leave that transition out)
    valid = [c for c in CONSUMERS if not c.startswith("bad_") and c not in ("push", "last_per_subject", "lps_c")]
    for _ in range(steps):
        r = rng.random()
        if r < 0.3:
            m.publish(rng.choice(SUBJECTS), (), b"x" * rng.choice([0, 1, 10]))
        elif r < 0.4:
            name = rng.choice("CD")
            cfg = dict(CONSUMERS[rng.choice(valid)])
            cfg["durable_name"] = name
            m.consumer_create("S", name, {"stream_name": "S", "config": cfg})
        elif r < 0.65:
            frames = m.fetch("S", rng.choice("CD"), rng.choice(FETCHES).encode()) or []
            delivered.extend(f.reply for f in frames if f.subject)
        elif r < 0.9 and delivered:
            m.ack(rng.choice(delivered), rng.choice(ACK_KINDS).encode())
        elif r < 0.95:
            m.advance(rng.choice([1, 30_000, 60_001, 120_000]) * 1_000_000)
        else:
            # purges of everything or up to a sequence: a filtered purge can move
            # an unfiltered consumer's floor past a pending consumer sequence (Go
            # ``purge`` with isWider), which the full ``inv`` does not claim
            m.purge("S", rng.choice(["", '{"seq":3}', '{"seq":9}']).encode())
        for o in m.consumers.get("S", {}).values():
            A, F, D, N, pending = P.concrete(o)
            assert P.inv_concrete(A, F, D, N, pending, consumer_floor=o.ack != "all"), (o.name, o.cfg, A, F, D, N,
                                                                                       pending)
            if o.maxdc:
                assert all(n <= o.maxdc for n in o.deliveries.values()), (o.name, o.deliveries)
    return m


def test_random_model_runs_keep_the_proved_invariants() -> None:
    covered: set[str] = set()
    for seed in range(40):  # the config table is wide: enough walks to draw an ack-all consumer
        covered |= _random_run(random.Random(seed), 250).ccovered
    # the runs reach the transitions the proofs are about
    assert {"consumer.ack.explicit", "consumer.ack.all", "consumer.max_deliver", "consumer.ack_wait.redeliver",
            "consumer.stream_purge"} <= covered
