"""z3 checks for the consumer model's ack floors and redelivery bound (spec/consumer.toml).

Theory of operation
-------------------
The executable model (natsd.model.consumer) keeps, per consumer, the running
state Go keeps: ``sseq`` (next stream sequence), ``dseq`` (next consumer
sequence), the ack floors ``adflr``/``asflr`` and the pending set (stream seq
-> consumer seq of its first delivery). The checks below prove, inductively
over *all* states (``inv(s) ∧ T(s, s') → inv(s')``), that the ack-floor rules
hold under every transition that touches them.

Abstract state (:class:`S`): ints ``A`` (adflr), ``F`` (asflr), ``D`` (next
consumer seq), ``N`` (next stream seq); the pending set as a z3 array
``P: Int -> Bool`` and the consumer sequences of pending messages ``PD: Int -> Int``.

``inv`` (explicit ack):

- floors at or below delivered: ``0 <= A <= D - 1`` and ``0 <= F <= N - 1``;
- every pending message lies strictly between the floor and the next
  sequence, in both numberings: ``P[x] → F < x < N ∧ A < PD[x] < D``;
- pending consumer sequences follow stream order (first deliveries go in
  stream order; redeliveries keep their original consumer sequence): this is
  what makes ``moveAckFloor``'s "the acked message was at the floor" test sound.

Transitions (read off ``_deliver``, ``_get_next``, ``_ack_msg``,
``_move_ack_floor``, ``_check_pending``, ``_consumer_purge``, ``_unget``):
first delivery of a new message, redelivery, ack (also what +TERM, a stream
removal and a drop at max_deliver do), the timer's cleanup of messages that
left the stream (and of an empty pending set), a stream purge, a skip of the
next sequence. Each check also proves the floors never move back.

``inv_all`` (ack all) is weaker: an ack-all of a *redelivery* moves the
consumer floor to the redelivery's consumer sequence, which can be above the
original consumer sequences of messages still pending (Go does exactly this;
a later -NAK of such a message is then ignored as out of range). The stream
floor part holds; the stronger form is refuted (a witness shows the case).

Redelivery bound, per message (:class:`M`): deliveries ``c``, redelivery
count ``r`` (Go ``rdc``), pending ``pend``, on the redelivery queue ``inq``.
``inv_md``: ``c <= max_deliver`` (when limited), ``r >= -1`` and
``(pend ∨ inq) → c <= r + 1``. Transitions: first delivery, redelivery from
the queue (``r`` incremented; delivered only when ``r + 2 <= max_deliver``,
else dropped), a redelivery put back (no request could take it), -NAK, the
ack timer (queue it, or stop at max_deliver), ack / term / removal.

Not covered: a *filtered* purge on a consumer whose filter is wider (Go
``purge`` with isWider) drops pending messages the purge removed wherever they
are, and raises the consumer floor to their consumer sequence even when older
pending messages remain: like ack all, it satisfies only ``inv_all``; the
purge transition here is the unfiltered one (everything below a start).
Nor is a last-per-subject start list that is still being delivered when a
purge moves the floors: Go takes its next sequence from the list, back below
the new stream floor. The ack-all witness is found in the abstraction; the
concrete case is replayed against Go in tests/test_oracle_consumer.py.

Abstractions, stated honestly: messages are just sequence numbers (subjects
and filters only decide *which* sequence is next, and every choice is
allowed); time is abstracted away (any pending message may be due, the
timer may fire at any moment); several consumers do not interact here.

The scalar parts are expression style (``_expr``): on Python ints they are
the same computation the model does; tests replay the real ConsumerModel and
evaluate ``inv`` on its states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import z3

from ._core import Verdict, proof, prove, witness
from ._expr import and_, cases, implies, ite, not_, or_

__all__ = [
    "M",
    "S",
    "ack",
    "floors_ok",
    "inv",
    "inv_all",
    "inv_md",
    "pending_ok",
]


class S(NamedTuple):
    """Abstract consumer state: floors, next sequences, pending set and its consumer sequences."""

    A: Any
    F: Any
    D: Any
    N: Any
    P: Any  # Array(Int, Bool)
    PD: Any  # Array(Int, Int)

    @classmethod
    def var(cls, name: str) -> S:
        return cls(z3.Int(f"{name}.A"), z3.Int(f"{name}.F"), z3.Int(f"{name}.D"), z3.Int(f"{name}.N"),
                   z3.Array(f"{name}.P", z3.IntSort(), z3.BoolSort()),
                   z3.Array(f"{name}.PD", z3.IntSort(), z3.IntSort()))


_x, _y = z3.Ints("x y")


def floors_ok(A: Any, F: Any, D: Any, N: Any) -> Any:
    """consumer.info.delivered: the ack floors at or below what was delivered."""
    return and_(A >= 0, A <= D - 1, F >= 0, F <= N - 1)


def pending_ok(s: S, *, consumer_floor: bool = True) -> Any:
    """Every pending message above the floors and below the next sequences,
    consumer sequences in stream order (``consumer_floor`` False: the ack-all form)."""
    low = ite(consumer_floor, s.A, 0)
    return and_(
        z3.ForAll([_x], z3.Implies(s.P[_x], z3.And(s.F < _x, _x < s.N, low < s.PD[_x], s.PD[_x] < s.D))),
        z3.ForAll([_x, _y], z3.Implies(z3.And(s.P[_x], s.P[_y], _x < _y), s.PD[_x] < s.PD[_y])),
    )


def inv(s: S) -> Any:
    return and_(floors_ok(s.A, s.F, s.D, s.N), pending_ok(s))


def inv_all(s: S) -> Any:
    return and_(floors_ok(s.A, s.F, s.D, s.N), pending_ok(s, consumer_floor=False))


def monotonic(s: S, s2: S) -> Any:
    return and_(s2.A >= s.A, s2.F >= s.F)


def _empty(P: Any) -> Any:
    return z3.ForAll([_x], z3.Not(P[_x]))


# -- transitions ------------------------------------------------------------------


def deliver_new(s: S, seq: Any) -> S:
    """``_get_next`` + ``_deliver`` of a new message ``seq`` (>= N): pending with consumer seq D."""
    return S(s.A, s.F, s.D + 1, seq + 1, z3.Store(s.P, seq, True), z3.Store(s.PD, seq, s.D))


def redeliver(s: S) -> S:
    """A pending message delivered again: a new consumer sequence, the pending record keeps the original."""
    return S(s.A, s.F, s.D + 1, s.N, s.P, s.PD)


class Next(NamedTuple):
    """The pending message right above the acked one (Go moveAckFloor's loop)."""

    has: Any
    m: Any

    @classmethod
    def var(cls, name: str) -> Next:
        return cls(z3.Bool(f"{name}.has"), z3.Int(f"{name}.m"))


def next_ok(P: Any, seq: Any, N: Any, nx: Next) -> Any:
    """``nx`` is the smallest pending sequence in (seq, N), when there is one."""
    return and_(
        implies(nx.has, z3.And(P[nx.m], seq < nx.m, nx.m < N,
                               z3.ForAll([_x], z3.Implies(z3.And(seq < _x, _x < nx.m), z3.Not(P[_x]))))),
        implies(not_(nx.has), z3.ForAll([_x], z3.Implies(z3.And(seq < _x, _x < N), z3.Not(P[_x])))),
    )


def move_ack_floor(A: Any, F: Any, D: Any, N: Any, dseq: Any, seq: Any, empty: Any, nx: Next, PD: Any,
                   *, loop_floor: Callable[[Any], Any] = lambda m: m - 1) -> tuple[Any, Any]:
    """Go ``moveAckFloor`` (after the acked message left pending): with nothing
    pending the floors jump to what was delivered; when the acked message was
    right above the floor, the floor moves to it, then up to just below the
    next pending message."""
    at_floor = dseq == A + 1
    A2 = cases((empty, D - 1), (at_floor, ite(nx.has, PD[nx.m] - 1, dseq)), otherwise=A)
    F2 = cases((empty, N - 1), (at_floor, ite(nx.has, loop_floor(nx.m), seq)), otherwise=F)
    return A2, F2


def ack(s: S, seq: Any, empty: Any, nx: Next, **kw: Any) -> S:
    """``_ack_msg`` with ack explicit of a pending ``seq`` (also +TERM, a removal from
    the stream, a drop at max_deliver): out of pending, the floors move."""
    P2 = z3.Store(s.P, seq, False)
    A2, F2 = move_ack_floor(s.A, s.F, s.D, s.N, s.PD[seq], seq, empty, nx, s.PD, **kw)
    return S(A2, F2, s.D, s.N, P2, s.PD)


def ack_ok(s: S, seq: Any, empty: Any, nx: Next) -> Any:
    P2 = z3.Store(s.P, seq, False)
    return and_(s.P[seq], seq < s.N, empty == _empty(P2), next_ok(P2, seq, s.N, nx))


class Largest(NamedTuple):
    """The largest pending sequence below a bound (what a cleanup removes last)."""

    has: Any
    m: Any

    @classmethod
    def var(cls, name: str) -> Largest:
        return cls(z3.Bool(f"{name}.has"), z3.Int(f"{name}.m"))


def largest_ok(P: Any, bound: Any, lg: Largest) -> Any:
    """``lg`` is the largest pending sequence below ``bound`` (< bound), when there is one."""
    return and_(
        implies(lg.has, z3.And(P[lg.m], lg.m < bound,
                               z3.ForAll([_x], z3.Implies(z3.And(lg.m < _x, _x < bound), z3.Not(P[_x]))))),
        implies(not_(lg.has), z3.ForAll([_x], z3.Implies(_x < bound, z3.Not(P[_x])))),
    )


def drop_below(P: Any, bound: Any) -> Any:
    return z3.Lambda([_x], z3.And(P[_x], _x >= bound))


def cleanup(s: S, first: Any, lg: Largest, empty: Any) -> S:
    """``_check_pending``: pending messages below the stream's first sequence
    leave, the floors rise to the largest of them; an empty pending set puts
    the floors at what was delivered."""
    P2 = drop_below(s.P, first)
    A1 = ite(lg.has, ite(s.PD[lg.m] > s.A, s.PD[lg.m], s.A), s.A)
    F1 = ite(lg.has, ite(lg.m > s.F, lg.m, s.F), s.F)
    return S(ite(empty, s.D - 1, A1), ite(empty, s.N - 1, F1), s.D, s.N, P2, s.PD)


def cleanup_ok(s: S, first: Any, lg: Largest, empty: Any) -> Any:
    return and_(largest_ok(s.P, first, lg), empty == _empty(drop_below(s.P, first)))


def purge(s: S, start: Any, lg: Largest, empty: Any, *, drop: bool = True) -> S:
    """``_consumer_purge(start)``: the next sequence at least ``start``; when the
    stream floor is below it, it moves to start - 1 and the pending messages at
    or below it leave (the consumer floor rises to their largest); an empty
    pending set puts the floors at what was delivered."""
    N2 = ite(s.N < start, start, s.N)
    below = s.F < start
    F1 = ite(below, start - 1, s.F)
    P2 = ite(below, drop_below(s.P, start), s.P) if drop else s.P
    A1 = ite(and_(below, lg.has), ite(s.PD[lg.m] > s.A, s.PD[lg.m], s.A), s.A)
    return S(ite(empty, s.D - 1, A1), ite(empty, N2 - 1, F1), s.D, N2, P2, s.PD)


def purge_ok(s: S, start: Any, lg: Largest, empty: Any) -> Any:
    below = s.F < start
    P2 = z3.If(below, drop_below(s.P, start), s.P)
    return and_(start >= 1, largest_ok(s.P, start, lg), empty == _empty(P2))


def skip(s: S, seq: Any) -> S:
    """The next sequence moves ahead (messages skipped by the filter, end of stream,
    or a message taken and put back: ``_unget`` restores it at or above where it was)."""
    return S(s.A, s.F, s.D, seq, s.P, s.PD)


def ack_all(s: S, seq: Any, dseq: Any) -> S:
    """``_ack_msg`` with ack all of a delivery (``seq``, ``dseq`` from its reply
    subject): ignored at or below the floors; else the floors move to it and
    every pending message up to it leaves."""
    ignored = or_(dseq <= s.A, seq <= s.F)
    P2 = z3.Lambda([_x], z3.And(s.P[_x], _x > seq))
    return S(ite(ignored, s.A, dseq), ite(ignored, s.F, seq), s.D, s.N, z3.If(ignored, s.P, P2), s.PD)


def ack_all_ok(s: S, seq: Any, dseq: Any) -> Any:
    """A real delivery (its ack subject): below the next sequences; its consumer
    sequence is no other pending message's, and at least its own first one."""
    return and_(seq >= 1, seq < s.N, dseq >= 1, dseq < s.D,
                z3.ForAll([_x], z3.Implies(z3.And(s.P[_x], _x != seq), s.PD[_x] != dseq)),
                z3.Implies(s.P[seq], dseq >= s.PD[seq]))


# -- redelivery bound -----------------------------------------------------------------


class M(NamedTuple):
    """One message: deliveries c, redelivery count r, pending, queued for redelivery."""

    c: Any
    r: Any
    pend: Any
    inq: Any

    @classmethod
    def var(cls, name: str) -> M:
        return cls(z3.Int(f"{name}.c"), z3.Int(f"{name}.r"), z3.Bool(f"{name}.pend"), z3.Bool(f"{name}.inq"))


def inv_md(m: M, maxd: Any) -> Any:
    """consumer.max_deliver: never delivered more than max_deliver times (0 = unlimited)."""
    return and_(
        implies(maxd > 0, m.c <= maxd), m.c >= 0, m.r >= -1,
        implies(or_(m.pend, m.inq), m.c <= m.r + 1),
    )


def first_delivery(m: M, maxd: Any) -> M:
    return M(m.c + 1, m.r, True, m.inq)


def from_queue(m: M, maxd: Any, *, over: Callable[[Any, Any], Any] = lambda dc, maxd: dc > maxd) -> M:
    """``_get_next`` on a queued message: r + 1; delivered with count r + 2
    unless that is over max_deliver (then it leaves pending without delivery)."""
    r2 = m.r + 1
    dropped = and_(maxd > 0, over(r2 + 1, maxd))
    return M(ite(dropped, m.c, m.c + 1), r2, ite(dropped, False, True), False)


def put_back(m: M, maxd: Any) -> M:
    """A message taken from the queue that no request could take goes back (count restored)."""
    return M(m.c, m.r, m.pend, True)


def nak(m: M, maxd: Any) -> M:
    return M(m.c, m.r, m.pend, ite(m.pend, True, m.inq))


def timer(m: M, maxd: Any) -> M:
    """``_check_pending`` on a due pending message: stop at max_deliver (count kept
    at least 1), else queue it."""
    dc = ite(m.r >= 1, m.r, 1)
    at_max = and_(maxd > 0, dc >= maxd)
    return M(m.c, ite(at_max, dc, m.r), ite(at_max, False, m.pend), ite(at_max, m.inq, True))


def acked(m: M, maxd: Any) -> M:
    """Ack, +TERM or removal from the stream: out of pending and of the queue, count forgotten."""
    return M(m.c, 0, False, False)


_MD_STEPS: dict[str, tuple[Callable[[M, Any], M], Callable[[M, Any], Any]]] = {
    "first_delivery": (first_delivery, lambda m, maxd: and_(m.c == 0, m.r == 0, not_(m.pend), not_(m.inq))),
    "from_queue": (from_queue, lambda m, maxd: m.inq),
    "put_back": (put_back, lambda m, maxd: m.inq),
    "nak": (nak, lambda m, maxd: m.pend),
    "timer": (timer, lambda m, maxd: and_(m.pend, not_(m.inq))),
    "acked": (acked, lambda m, maxd: True),
}


# -- plumbing --------------------------------------------------------------------------


def _val(v: Any) -> Callable[[z3.ModelRef], str]:
    if not isinstance(v, z3.ExprRef):
        return lambda m: str(v)
    return lambda m: str(m.eval(v, model_completion=True))


def _show_s(s: S, prefix: str) -> dict[str, Callable[[z3.ModelRef], str]]:
    return {f"{prefix}.{k}": _val(v) for k, v in (("A", s.A), ("F", s.F), ("D", s.D), ("N", s.N))}


def _show(**things: Any) -> dict[str, Callable[[z3.ModelRef], str]]:
    out: dict[str, Callable[[z3.ModelRef], str]] = {}
    for k, v in things.items():
        if isinstance(v, S):
            out.update(_show_s(v, k))
        elif isinstance(v, tuple):
            for f, x in zip(getattr(v, "_fields", range(len(v))), v, strict=True):
                out[f"{k}.{f}"] = _val(x)
        else:
            out[k] = _val(v)
    return out


_ABS = "abstract consumer: sequences only, any next message, any timing"


def _size(*xs: Any) -> z3.ArithRef:
    """What a witness is minimised in (so a human reads the smallest instance)."""
    return z3.Sum(*(z3.If(x >= 0, x, -x) for x in xs))


def _step(name: str, s: S, s2: S, pre: list[Any], show: dict, *, inv: Callable[[S], Any] = inv) -> Verdict:
    return prove(
        z3.And(inv(s2), monotonic(s, s2)),
        given=[inv(s), *pre],
        show=_show(before=s, after=s2, **show),
        proved=f"inductive: inv(s) ∧ {name}(s, s') → inv(s') ∧ floors never move back; {_ABS}",
    )


# -- the checks -------------------------------------------------------------------------


@proof("consumer.initial_state_satisfies_invariant", rules=["consumer.info.delivered", "consumer.deliver.all"])
def initial_state_satisfies_invariant(inv: Callable[[S], Any] = inv) -> Verdict:
    """A new consumer starting at stream sequence n >= 1: floors (0, n - 1), next
    (1, n), nothing pending (Go ``selectStartingSeqNo``)."""
    n = z3.Int("start")
    P = z3.K(z3.IntSort(), z3.BoolVal(False))
    PD = z3.K(z3.IntSort(), z3.IntVal(0))
    return prove(inv(S(0, n - 1, 1, n, P, PD)), given=[n >= 1], show={"start": lambda m: str(m.eval(n))},
                 proved="base case: a new consumer at any start satisfies inv")


@proof("consumer.delivery_preserves_ack_floor_invariant",
       rules=["consumer.deliver.order", "consumer.ack.explicit", "consumer.info.num_ack_pending"])
def delivery_preserves_ack_floor_invariant(deliver_new: Callable[[S, Any], S] = deliver_new,
                                           redeliver: Callable[[S], S] = redeliver,
                                           skip: Callable[[S, Any], S] = skip) -> Verdict:
    """First delivery of a message at or after the next sequence, a redelivery,
    and a skip of the next sequence (filters, end of stream, a message put back)
    keep every pending message between the floor and the next sequences."""
    s, seq = S.var("s"), z3.Int("seq")
    for name, s2, pre in (("deliver_new", deliver_new(s, seq), [seq >= s.N]),
                          ("redeliver", redeliver(s), []),
                          ("skip", skip(s, seq), [seq >= s.N])):
        v = _step(name, s, s2, pre, {"seq": seq})
        if not v.ok:
            return v
    return Verdict(True, f"inductive: inv preserved and floors never move back by deliver_new, redeliver and "
                         f"skip; {_ABS}")


@proof("consumer.explicit_ack_preserves_ack_floor_invariant",
       rules=["consumer.ack.explicit", "consumer.ack.out_of_range", "consumer.info.delivered",
              "consumer.term.advisory", "consumer.stream_removed_pending"])
def explicit_ack_preserves_ack_floor_invariant(ack: Callable[..., S] = ack) -> Verdict:
    """An explicit ack (or +TERM, or the removal of a pending message from the
    stream, or a drop at max_deliver) of a pending message: the floor moves over
    the acked prefix only, to just below the next pending message, and jumps to
    what was delivered when nothing is pending. Acks of messages not pending
    change nothing (out of range)."""
    s, seq, empty, nx = S.var("s"), z3.Int("seq"), z3.Bool("empty"), Next.var("next")
    return _step("ack", s, ack(s, seq, empty, nx), [ack_ok(s, seq, empty, nx)],
                 {"seq": seq, "empty": empty, "next": nx})


@proof("consumer.cleanup_and_purge_preserve_ack_floor_invariant",
       rules=["consumer.stream_purge", "consumer.stream_removed_pending", "consumer.ack_wait.redeliver"])
def cleanup_and_purge_preserve_ack_floor_invariant(cleanup: Callable[..., S] = cleanup,
                                                   purge: Callable[..., S] = purge) -> Verdict:
    """The pending timer's cleanup (messages below the stream's first sequence
    leave; an empty pending set moves the floors to what was delivered) and a
    stream purge up to any start sequence."""
    s, first, lg, empty = S.var("s"), z3.Int("first"), Largest.var("largest"), z3.Bool("empty")
    v = _step("cleanup", s, cleanup(s, first, lg, empty), [cleanup_ok(s, first, lg, empty)],
              {"first": first, "empty": empty, "largest": lg})
    if not v.ok:
        return v
    start = z3.Int("start")
    v = _step("purge", s, purge(s, start, lg, empty), [purge_ok(s, start, lg, empty)],
              {"start": start, "empty": empty, "largest": lg})
    if not v.ok:
        return v
    return Verdict(True, f"inductive: inv preserved and floors never move back by the timer cleanup and a purge "
                         f"to any start; {_ABS}")


@proof("consumer.ack_all_preserves_stream_floor_invariant", rules=["consumer.ack.all"])
def ack_all_preserves_stream_floor_invariant(ack_all: Callable[[S, Any, Any], S] = ack_all) -> Verdict:
    """Ack all: the floors move to the acked delivery and everything pending up to
    it leaves. Pending messages stay above the stream floor, floors stay at or
    below delivered and never move back (the weaker ``inv_all``)."""
    s, seq, dseq = S.var("s"), z3.Int("seq"), z3.Int("dseq")
    return _step("ack_all", s, ack_all(s, seq, dseq), [ack_all_ok(s, seq, dseq)], {"seq": seq, "dseq": dseq},
                 inv=inv_all)


@proof("consumer.ack_all_of_a_redelivery_can_pass_pending_consumer_sequences", rules=["consumer.ack.all"])
def ack_all_of_a_redelivery_can_pass_pending_consumer_sequences() -> Verdict:
    """Why ``inv_all`` is weaker: from a state satisfying the full ``inv``, an
    ack all of a redelivery (a consumer sequence newer than the pending ones)
    leaves a pending message whose consumer sequence is at or below the new
    consumer floor. A witness of Go's behaviour, not a failure."""
    s, seq, dseq = S.var("s"), z3.Int("seq"), z3.Int("dseq")
    s2 = ack_all(s, seq, dseq)
    return witness([inv(s), ack_all_ok(s, seq, dseq), z3.Not(inv(s2))],
                   show=_show(before=s, after=s2, seq=seq, dseq=dseq), size=_size(s.A, s.F, s.D, s.N),
                   found="ack all of a redelivery passes a pending consumer sequence",
                   vacuous="ack all always keeps the full inv: the weaker inv_all is not needed")


@proof("consumer.redelivery_never_exceeds_max_deliver",
       rules=["consumer.max_deliver", "consumer.ack_wait.redeliver", "consumer.backoff.delays"])
def redelivery_never_exceeds_max_deliver(steps: dict | None = None) -> Verdict:
    """Per message, every transition keeps ``inv_md``: deliveries never exceed
    max_deliver, for any max_deliver (0 = unlimited) and any interleaving of
    deliveries, -NAKs, timer expiries, put-backs and acks."""
    steps = steps or _MD_STEPS
    m, maxd = M.var("m"), z3.Int("max_deliver")
    for name, (step, guard) in steps.items():
        m2 = step(m, maxd)
        v = prove(inv_md(m2, maxd), given=[maxd >= 0, inv_md(m, maxd), guard(m, maxd)],
                  show=_show(before=m, after=m2, max_deliver=maxd),
                  proved=f"inductive: inv_md(m) ∧ {name}(m, m') → inv_md(m')")
        if not v.ok:
            return Verdict(False, f"{name}: {v.detail}", v.model)
    return Verdict(True, "inductive: inv_md preserved by first_delivery, from_queue, put_back, nak, timer, acked; "
                         "any max_deliver")


@proof("consumer.transitions_are_enabled", rules=["consumer.ack.explicit", "consumer.max_deliver"])
def transitions_are_enabled() -> Verdict:
    """Sanity (non-vacuity): an ack that moves the floor over several messages to
    just below the next pending one, an ack that empties the pending set, a
    purge that drops pending messages, and a redelivery dropped at max_deliver
    are all possible from states satisfying the invariants."""
    s, seq, empty, nx = S.var("s"), z3.Int("seq"), z3.Bool("empty"), Next.var("next")
    s2 = ack(s, seq, empty, nx)
    lg, start = Largest.var("largest"), z3.Int("start")
    m, maxd = M.var("m"), z3.Int("max_deliver")
    cases_ = {
        "ack_moves_floor_to_next_pending": [inv(s), ack_ok(s, seq, empty, nx), nx.has, s2.F >= s.F + 2],
        "ack_empties_pending": [inv(s), ack_ok(s, seq, empty, nx), empty, s.N >= s.F + 3],
        "purge_drops_pending": [inv(s), purge_ok(s, start, lg, empty), lg.has, z3.Not(empty)],
        "redelivery_dropped_at_max": [inv_md(m, maxd), m.inq, maxd >= 1, from_queue(m, maxd).c == m.c,
                                      z3.Not(from_queue(m, maxd).pend)],
    }
    found = []
    for what, facts in cases_.items():
        v = witness(facts, show=_show(s=s, m=m), found=what, vacuous=f"{what} is never enabled: vacuous",
                    size=_size(s.A, s.F, s.D, s.N, m.c, m.r))
        if not v.ok:
            return v
        found.append(v.detail)
    return Verdict(True, "; ".join(found))


# -- concrete states (tests) --------------------------------------------------------------


def concrete(o: Any) -> tuple[int, int, int, int, dict[int, int]]:
    """(A, F, D, N, {pending seq: consumer seq}) of a model Consumer."""
    return o.adflr, o.asflr, o.dseq, o.sseq, {s: p[0] for s, p in o.pending.items()}


def inv_concrete(A: int, F: int, D: int, N: int, pending: dict[int, int], *, consumer_floor: bool = True) -> bool:
    """``inv`` evaluated on Python values: ``floors_ok`` is the same function;
    the quantified parts are the same statements over the finite pending set."""
    low = A if consumer_floor else 0
    order = sorted(pending)
    return bool(floors_ok(A, F, D, N)) and all(F < x < N and low < pending[x] < D for x in pending) and all(
        pending[a] < pending[b] for a, b in zip(order, order[1:], strict=False))
