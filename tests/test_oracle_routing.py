"""Routing: natsd agrees with the reference model step by step (core, wire, and Go).

The campaigns here are bounded (CI); `natsd-campaign run routing` runs long ones.
The planted-fault tests check the oracle's power: a known bug planted in the
in-process implementation must be found and shrunk to a short op sequence.
"""

from __future__ import annotations

import json

import pytest

from natsd.model.routing import INVALID_SUBJECT, RoutingModel, first_member
from natsd.oracle.base import get_area, replay
from natsd.oracle.campaign import main, run_campaign
from natsd.oracle.routing import (
    CoreHarness,
    Delivery,
    Pub,
    Sub,
    Unsub,
    make_obs,
    model_step,
)

AREA = get_area("routing")


def _campaign(harness: str, steps: int, **kw):
    result = run_campaign(AREA, harness, steps=steps, seed=kw.pop("seed", 20240601), db=None, **kw)
    assert result.ok, result.failures[0].message + "\nops: " + repr(result.failures[0].ops)
    assert result.steps >= steps
    assert set(result.ops) == {"Connect", "Disconnect", "Sub", "Unsub", "Pub"}
    assert not result.unknown_rules
    return result


# ------------------------------------------------------------------- the model


def test_model_publish_subjects_are_literal() -> None:
    m = RoutingModel()
    m.connect(0)
    for sid, subject in enumerate(["a.*", ">", "a.b", "*"], 1):
        assert m.subscribe(0, subject, None, str(sid)) is None
    assert {d[1] for d in m.publish(0, "a.*", None, "")} == {"1", "2"}
    assert {d[1] for d in m.publish(0, ">", None, "")} == {"2", "4"}
    assert m.publish(0, "a..b", None, "") == []
    assert m.subscribe(0, "a.>.b", None, "9") == INVALID_SUBJECT
    assert "9" not in m.sids()[0]


def test_model_queue_groups_span_patterns() -> None:
    m = RoutingModel()
    m.connect(0)
    m.subscribe(0, "a.*", "q", "1")
    m.subscribe(0, "a.b", "q", "2")
    m.subscribe(0, "a.b", "r", "3")
    m.subscribe(0, "a.b", None, "4")
    picked = []

    def choose(queue, members):
        picked.append((queue, [s.sid for s in members]))
        return members[-1]

    got = sorted(d[1] for d in m.publish(0, "a.b", None, "", choose))
    assert got == ["2", "3", "4"]
    assert picked == [("q", ["1", "2"]), ("r", ["3"])]
    assert "routing.queue.one_per_group" in m.covered


def test_model_duplicate_sid_is_ignored() -> None:
    m = RoutingModel()
    m.connect(0)
    m.subscribe(0, "a", None, "1")
    assert m.subscribe(0, "a..b", None, "1") is None  # no error: the sid is taken
    assert m.subscribe(0, "b", "q", "1") is None
    assert [(s.subject, s.queue) for s in m.subs] == [("a", None)]


def test_model_auto_unsubscribe_counts_queue_deliveries() -> None:
    m = RoutingModel()
    m.connect(0)
    m.subscribe(0, "a", "q", "1")
    m.publish(0, "a", None, "", first_member)
    m.unsubscribe(0, "1", 1)  # not above the one already received: gone at once
    assert m.subs == []
    m.subscribe(0, "a", "q", "2")
    m.unsubscribe(0, "2", 2)
    assert len(m.publish(0, "a", None, "")) == 1
    assert len(m.publish(0, "a", None, "")) == 1
    assert m.publish(0, "a", None, "") == []
    assert "routing.unsub.max" in m.covered


def test_queue_pick_outside_the_group_is_a_divergence() -> None:
    """The queue normalisation adopts the implementation's pick only if it is a member."""
    m = RoutingModel()
    model_step(m, Sub(0, "a", "q", "1"), make_obs())
    model_step(m, Sub(0, "b", "q", "2"), make_obs())
    wrong = make_obs([Delivery(0, "2", "a")])
    assert model_step(m, Pub(0, "a"), wrong) != wrong
    right = make_obs([Delivery(0, "1", "a")])
    assert model_step(m, Pub(0, "a"), right) == right


# ---------------------------------------------------------------- campaigns


def test_routing_campaign_core_agrees_with_the_model() -> None:
    result = _campaign("core", 2000)
    # every rule but the scale one is reachable with three connections
    assert result.not_covered == ["routing.scale"]


def test_routing_campaign_wire_agrees_with_the_model() -> None:
    _campaign("wire", 300, steps_per_example=30)


@pytest.mark.differential
def test_routing_campaign_differential_natsd_and_go_agree_with_the_model() -> None:
    _campaign("differential", 300, steps_per_example=30)


def test_wire_harness_observes_what_the_server_sends() -> None:
    """The wire observations are not trivially empty: deliveries, -ERR, state."""
    with AREA.harnesses["wire"].session() as factory:
        h = factory()
        try:
            assert h.apply(Sub(0, "a.*", "q", "1")) == {"natsd": make_obs()}
            assert h.apply(Sub(1, "a..b", None, "2")) == {"natsd": make_obs(errors=[(1, "Invalid Subject")])}
            got = h.apply(Pub(1, "a.b", "r", "hello"))["natsd"]
            assert got.deliveries == (Delivery(0, "1", "a.b", "r", "hello"),)
            assert h.state()["natsd"].subs == {0: frozenset({"1"}), 1: frozenset()}
        finally:
            h.close()


# ------------------------------------------------------------- planted faults


def test_planted_stale_cache_is_found_and_shrunk(monkeypatch) -> None:
    """Sublist insert/remove skip cache invalidation: a stale cached match survives."""
    from natsd.subjects.sublist import Sublist

    monkeypatch.setattr(Sublist, "_invalidate", lambda self, subject: None)
    result = run_campaign(AREA, "core", steps=20_000, seed=1, db=None)
    assert not result.ok, "the campaign missed a stale sublist cache"
    failure = result.failures[0]
    assert failure.length <= 6, failure.ops
    assert "divergence" in failure.message
    # the shrunk sequence is a real reproduction: it fails with the fault ...
    assert not replay(AREA, failure.ops, CoreHarness).ok
    # ... and passes without it
    monkeypatch.undo()
    assert replay(AREA, failure.ops, CoreHarness).ok


@pytest.mark.parametrize("fault", ["no-reset-fast", "queue-all"])
def test_planted_queue_fault_is_found(fault: str) -> None:
    """Every fault of the area's registry is found (and the sequence is short)."""
    result = run_campaign(AREA, "core", steps=20_000, seed=2, db=None, plant=fault)
    assert not result.ok, f"the campaign missed the planted fault {fault}"
    assert result.failures[0].length <= 8, result.failures[0].ops


def test_a_known_sequence_replays_clean() -> None:
    ops = [Sub(0, "a.*", "q", "1"), Sub(1, "a.b", "q", "2"), Pub(2, "a.b"), Unsub(0, "1", 1), Pub(2, "a.b")]
    assert replay(AREA, ops, CoreHarness).ok


# ------------------------------------------------------------------ CI campaign


@pytest.mark.campaign
@pytest.mark.parametrize(
    "harness, steps",
    [("core", 2000), pytest.param("differential", 500, marks=pytest.mark.differential)],
)
def test_routing_campaign_ci(tmp_path, harness: str, steps: int) -> None:
    """The bounded CI campaign: `natsd-campaign run routing --harness H --steps N`."""
    report = tmp_path / "routing"
    rc = main(
        ["run", "routing", "--harness", harness, "--steps", str(steps), "--seed", "7",
         "--db", str(tmp_path / "db"), "--report", str(report), "--quiet"]
    )
    data = json.loads((tmp_path / "routing.json").read_text())
    assert rc == 0, data["failures"]
    assert data["steps"] >= steps
    assert data["divergences"] == 0
