"""z3 checks for the stream model's counters and limits (spec/stream.toml).

Theory of operation
-------------------
The executable model (natsd.model.stream, memory storage) keeps a stream as a
list of stored messages plus ``first_seq``/``last_seq``. Its counters and limits
satisfy an invariant ``inv`` that every transition below preserves; the checks
prove ``inv(s) ∧ T(s, s') → inv(s')`` for each transition T, over *all*
abstract states (an inductive proof over states, not a bounded run).

Abstract state (``S``), all integers: ``first``, ``last``, ``msgs``, ``bytes``
and, for one tracked subject X, ``cx`` (messages on X) and ``co`` (on every
other subject). Limits (``Limits``) are as ``normalise`` leaves them: -1
(unlimited) or >= 1, and the policy (discard new, discard_new_per_subject).

``inv`` (what the model maintains, read off ``_store``/``_remove``/``_purge_ex``):

- a never-written stream has ``first == last == 0`` (stream.state.new), else
  ``first >= 1``, ``last >= first - 1``, ``msgs <= last - first + 1`` and
  ``msgs == 0`` iff ``first == last + 1`` (stream.state.after_purge; interior
  deletes leave gaps, hence ``<=``: stream.state.counts);
- ``msgs == cx + co``; each memory-store message accounts >= 16 bytes
  (stream.bytes.memory: subject + headers + data + 16), so
  ``bytes >= 16 * msgs`` and an empty stream has ``bytes == 0``;
- the limits hold: ``max_msgs``, ``max_bytes`` and ``max_msgs_per_subject``
  (for X) are unlimited (<= 0) or not exceeded.

Abstractions, stated honestly:

- Sizes are integers >= 16 (``MIN_SIZE``); which message a removal takes is a
  nondeterministic choice constrained only by facts a concrete store
  guarantees: its size is >= 16 and leaves >= 16 for each remaining message
  (and all of ``bytes`` if none remain); when it was the first message the new
  ``first`` is some seq in ``(first, last]`` that still has room for the
  remaining messages (pigeonhole: they are distinct seqs in ``[first', last]``).
  This over-approximates the real store, which is sound for preservation.
- One tracked subject. X is arbitrary, so a proof for X covers every subject.
  A publish to another subject Y reads Y's count ``pc`` as a nondeterministic
  value ``<= co`` that satisfies Y's per-subject limit (the invariant for Y).
- Eviction loops. ``_enforce_old``'s two loops remove ``j`` messages from the
  front; the proofs take *any* ``j >= 0`` (no bound) with total size between
  ``16 * j`` and what leaves 16 per remaining message, constrained by the loop's
  exit condition (max_msgs and max_bytes hold). So the counters are proved for
  every number of evictions per step; that the loop stops as early as Go's
  does (minimality) is not claimed. It always exits: the empty stream meets
  every limit. The per-subject eviction in ``_store`` is exactly one message,
  and the check proves that ``len(same) - maxp`` is at most 1 under ``inv``.
- Not covered: rollups and filtered/sequence purges (``_purge_ex`` with a
  subject or seq, ``_compact``), max_age expiry (each expiry is one ``_remove``,
  i.e. the delete transition), and a stream over its limits after an update that
  lowered them under discard new (``over_limit_ok``): the limit part of ``inv``
  is then not claimed, and nor is it here.

The functions are expression style (``_expr``): on Python ints they compute the
abstract step of a concrete model run (tests/test_proofs_stream.py replays the
real StreamModel through them), on z3 ints they build the formulas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import z3

from ._core import Verdict, proof, prove, witness
from ._expr import and_, cases, implies, is_symbolic, ite, not_, or_

__all__ = [
    "MIN_SIZE",
    "S",
    "Limits",
    "Removal",
    "PubChoice",
    "inv",
    "seqs_ok",
    "counts_ok",
    "within",
    "pick",
    "remove",
    "removal_ok",
    "append",
    "refused",
    "store",
    "publish",
    "publish_ok",
    "purge_all",
    "update_limits",
]

MIN_SIZE = 16  # Go memStoreMsgSize: len(subject) + len(hdr) + len(data) + 16


class S(NamedTuple):
    """Abstract stream state (ints or z3 ints)."""

    first: Any
    last: Any
    msgs: Any
    bytes: Any
    cx: Any  # messages on the tracked subject X
    co: Any  # messages on every other subject

    @classmethod
    def var(cls, name: str) -> S:
        return cls(*(z3.Int(f"{name}.{f}") for f in cls._fields))


class Limits(NamedTuple):
    max_msgs: Any
    max_bytes: Any
    maxp: Any  # max_msgs_per_subject
    discard_new: Any  # bool
    dnps: Any  # discard_new_per_subject (bool)

    @classmethod
    def var(cls, name: str) -> Limits:
        return cls(
            z3.Int(f"{name}.max_msgs"),
            z3.Int(f"{name}.max_bytes"),
            z3.Int(f"{name}.maxp"),
            z3.Bool(f"{name}.discard_new"),
            z3.Bool(f"{name}.dnps"),
        )


class Removal(NamedTuple):
    """Which messages a removal takes: ``jx`` on X, ``jo`` others, of total ``size``;
    ``moved``: the first message is among them; ``nf``: the new first seq then."""

    jx: Any
    jo: Any
    size: Any
    moved: Any
    nf: Any

    @classmethod
    def var(cls, name: str) -> Removal:
        return cls(z3.Int(f"{name}.jx"), z3.Int(f"{name}.jo"), z3.Int(f"{name}.size"),
                   z3.Bool(f"{name}.moved"), z3.Int(f"{name}.nf"))

    @classmethod
    def none(cls) -> Removal:
        return cls(0, 0, 0, False, 0)


class PubChoice(NamedTuple):
    """A publish: on X or not, its size; ``pc`` the published subject's count before,
    ``oldest`` the size of its oldest message; ``psub`` the per-subject eviction,
    ``front`` the discard-old evictions."""

    isx: Any
    size: Any
    pc: Any
    oldest: Any
    psub: Removal
    front: Removal

    @classmethod
    def var(cls, name: str) -> PubChoice:
        return cls(z3.Bool(f"{name}.isx"), z3.Int(f"{name}.size"), z3.Int(f"{name}.pc"),
                   z3.Int(f"{name}.oldest"), Removal.var(f"{name}.psub"), Removal.var(f"{name}.front"))


def _b(x: Any) -> Any:
    """A bool as 0/1."""
    return ite(x, 1, 0)


# -- the invariant -------------------------------------------------------------------


def seqs_ok(s: S) -> Any:
    fresh = and_(s.first == 0, s.last == 0, s.msgs == 0)
    return or_(
        fresh,
        and_(s.first >= 1, s.last >= s.first - 1, s.msgs <= s.last - s.first + 1, (s.msgs == 0) == (s.first == s.last + 1)),
    )


def counts_ok(s: S) -> Any:
    return and_(
        s.cx >= 0, s.co >= 0, s.msgs == s.cx + s.co, s.bytes >= MIN_SIZE * s.msgs, implies(s.msgs == 0, s.bytes == 0)
    )


def within(s: S, lim: Limits, *, per_subject: bool = True) -> Any:
    """The limits hold (the model's guards are ``limit > 0 and ...``)."""
    return and_(
        or_(lim.max_msgs <= 0, s.msgs <= lim.max_msgs),
        or_(lim.max_bytes <= 0, s.bytes <= lim.max_bytes),
        *([or_(lim.maxp <= 0, s.cx <= lim.maxp)] if per_subject else []),
    )


def inv(s: S, lim: Limits) -> Any:
    return and_(seqs_ok(s), counts_ok(s), within(s, lim))


def limits_ok(lim: Limits) -> Any:
    """As ``normalise`` leaves them: -1 or >= 1; discard_new_per_subject needs discard new and maxp > 0."""
    return and_(
        *(or_(x == -1, x >= 1) for x in (lim.max_msgs, lim.max_bytes, lim.maxp)),
        implies(lim.dnps, and_(lim.discard_new, lim.maxp > 0)),
    )


# -- transitions ------------------------------------------------------------------


def pick(c: Any, a: S, b: S) -> S:
    return S(*(ite(c, x, y) for x, y in zip(a, b, strict=True)))


def remove(s: S, r: Removal) -> S:
    """``_remove`` applied to each removed message: counters drop, first follows."""
    m = s.msgs - r.jx - r.jo
    first = cases((not_(r.moved), s.first), (m == 0, s.last + 1), otherwise=r.nf)
    return S(first, s.last, m, s.bytes - r.size, s.cx - r.jx, s.co - r.jo)


def removal_ok(s: S, r: Removal) -> Any:
    """What a concrete store guarantees of the messages a removal takes (see module doc)."""
    j = r.jx + r.jo
    m = s.msgs - j
    return and_(
        r.jx >= 0, r.jo >= 0, r.jx <= s.cx, r.jo <= s.co,
        r.size >= MIN_SIZE * j, r.size <= s.bytes - MIN_SIZE * m,
        implies(j == 0, and_(r.size == 0, not_(r.moved))),
        implies(and_(j > 0, m == 0), and_(r.size == s.bytes, r.moved)),
        implies(and_(r.moved, m > 0), and_(r.nf > s.first, r.nf <= s.last, m <= s.last - r.nf + 1)),
    )


def append(s: S, isx: Any, size: Any) -> S:
    """``_store``'s append: seq last + 1; first set when the stream was empty."""
    return S(ite(s.msgs == 0, s.last + 1, s.first), s.last + 1, s.msgs + 1, s.bytes + size,
             s.cx + _b(isx), s.co + _b(not_(isx)))


def refused(s: S, lim: Limits, c: PubChoice) -> Any:
    """``_discard_new`` (rollups aside): the store refuses the message."""
    at_limit = and_(lim.maxp > 0, c.pc >= lim.maxp)
    return and_(
        lim.discard_new,
        or_(
            and_(at_limit, lim.dnps),
            and_(lim.max_msgs > 0, s.msgs >= lim.max_msgs, not_(at_limit)),
            and_(lim.max_bytes > 0, s.bytes + c.size > lim.max_bytes, or_(not_(at_limit), c.oldest < c.size)),
        ),
    )


def psub_evicts(lim: Limits, c: PubChoice) -> Any:
    return and_(lim.maxp > 0, c.pc + 1 > lim.maxp)


def store(s: S, lim: Limits, c: PubChoice) -> S:
    """``_store``: append, one per-subject eviction, then discard-old front evictions."""
    a = append(s, c.isx, c.size)
    b = pick(psub_evicts(lim, c), remove(a, c.psub), a)
    return pick(lim.discard_new, b, remove(b, c.front))


def publish(s: S, lim: Limits, c: PubChoice, *, refused: Callable[..., Any] = refused,
            store: Callable[..., S] = store) -> S:
    return pick(refused(s, lim, c), s, store(s, lim, c))


def publish_ok(s: S, lim: Limits, c: PubChoice) -> Any:
    """The publish choices a concrete stream can make (see module doc)."""
    a = append(s, c.isx, c.size)
    b = pick(psub_evicts(lim, c), remove(a, c.psub), a)
    same = ite(c.isx, s.cx, s.co)
    evict = psub_evicts(lim, c)
    return and_(
        c.size >= MIN_SIZE,
        implies(c.isx, c.pc == s.cx),
        c.pc >= 0, c.pc <= same,
        implies(lim.maxp > 0, c.pc <= lim.maxp),  # for X part of inv; for another subject, its own inv
        # the per-subject eviction takes the oldest stored message of the subject (never the new one)
        implies(c.pc >= 1, and_(c.oldest >= MIN_SIZE, c.oldest <= s.bytes - MIN_SIZE * (s.msgs - 1))),
        implies(evict, and_(c.psub.jx == _b(c.isx), c.psub.jo == _b(not_(c.isx)), c.psub.size == c.oldest,
                            removal_ok(a, c.psub))),
        # _enforce_old: any number of messages from the front, until max_msgs and max_bytes hold
        implies(not_(lim.discard_new), and_(
            removal_ok(b, c.front),
            c.front.moved == (c.front.jx + c.front.jo > 0),
            within(remove(b, c.front), lim, per_subject=False),
        )),
    )


def purge_all(s: S) -> S:
    """``_purge_ex(st, "", 0, 0)``: everything goes, first = last + 1."""
    return S(s.last + 1, s.last, 0, 0, 0, 0)


def update_limits(s: S, new: Limits, old: Limits, front: Removal, psub: Removal) -> S:
    """``update`` under discard old: ``_enforce_old`` with the new limits, then the
    per-subject trim when max_msgs_per_subject is set or lowered."""
    a = remove(s, front)
    tighten = and_(new.maxp > 0, or_(old.maxp <= 0, new.maxp < old.maxp))
    return pick(tighten, remove(a, psub), a)


def update_ok(s: S, new: Limits, old: Limits, front: Removal, psub: Removal) -> Any:
    a = remove(s, front)
    tighten = and_(new.maxp > 0, or_(old.maxp <= 0, new.maxp < old.maxp))
    return and_(
        not_(new.discard_new), not_(new.dnps),
        removal_ok(s, front), front.moved == (front.jx + front.jo > 0), within(a, new, per_subject=False),
        # each subject keeps its newest maxp: exactly max(0, cx - maxp) of X go (others: any number)
        implies(tighten, and_(removal_ok(a, psub), psub.jx == ite(a.cx > new.maxp, a.cx - new.maxp, 0))),
    )


# -- z3 plumbing -------------------------------------------------------------------


def _show(**things: Any) -> dict[str, Callable[[z3.ModelRef], str]]:
    def one(x: Any) -> Callable[[z3.ModelRef], str]:
        if isinstance(x, tuple):
            fields = getattr(x, "_fields", range(len(x)))
            parts = [(f, one(v)) for f, v in zip(fields, x, strict=True)]
            return lambda m: "(" + ", ".join(f"{f}={g(m)}" for f, g in parts) + ")"
        if not is_symbolic(x):
            return lambda m: str(x)
        return lambda m: str(m.eval(x, model_completion=True))

    return {k: one(v) for k, v in things.items()}


def _size(*states: S) -> z3.ArithRef:
    return z3.Sum(*(z3.If(x >= 0, x, -x) for s in states for x in (s.last, s.msgs, s.bytes)))


_ABS = ("abstract memory-store stream: sizes >= 16, one tracked subject (covers all), "
        "nondeterministic choice of removed messages")


def _inductive(name: str, pre: list[Any], s: S, lim: Limits, s2: S, lim2: Limits, show: dict, what: str,
               extra: Any = True) -> Verdict:
    return prove(
        z3.And(inv(s2, lim2), extra),
        given=[limits_ok(lim), limits_ok(lim2), inv(s, lim), *pre],
        size=_size(s, s2),
        show=_show(before=s, after=s2, **show),
        proved=f"inductive: inv(s) ∧ {name}(s, s') → inv(s'); {what}; {_ABS}",
    )


# -- the checks -------------------------------------------------------------------


@proof("stream.initial_states_satisfy_invariant", rules=["stream.state.new", "stream.first_seq"])
def initial_states_satisfy_invariant(inv: Callable[[S, Limits], Any] = inv) -> Verdict:
    """A new stream (first = last = 0) and one created with first_seq = f >= 1
    (first = f, last = f - 1) satisfy ``inv`` under any normalised limits."""
    lim, f = Limits.var("lim"), z3.Int("first_seq")
    return prove(
        z3.And(inv(S(0, 0, 0, 0, 0, 0), lim), implies(f >= 1, inv(S(f, f - 1, 0, 0, 0, 0), lim))),
        given=[limits_ok(lim)],
        show=_show(lim=lim, first_seq=f),
        proved="base case: the new stream and a first_seq stream satisfy inv, any limits",
    )


@proof("stream.publish_discard_old_preserves_invariant",
       rules=["stream.discard.old.evict", "stream.limit.max_msgs_per_subject", "stream.bytes.memory",
              "stream.state.counts", "stream.retention.limits"])
def publish_discard_old_preserves_invariant(publish: Callable[..., S] = publish,
                                            publish_ok: Callable[..., Any] = publish_ok) -> Verdict:
    """Publish under discard old: append at last + 1, evict the subject's oldest
    when over max_msgs_per_subject (exactly one, also proved), then evict from
    the front until max_msgs and max_bytes hold. Inductive over all states; the
    front evictions are any number j >= 0 (unbounded), constrained by the loop's
    exit condition (see module doc)."""
    s, lim, c = S.var("s"), Limits.var("lim"), PubChoice.var("pub")
    s2 = publish(s, lim, c)
    one = implies(psub_evicts(lim, c), c.pc + 1 - lim.maxp == 1)  # same[:len(same) - maxp] is one message
    return _inductive("publish_old", [not_(lim.discard_new), publish_ok(s, lim, c)], s, lim, s2, lim,
                      {"lim": lim, "pub_isx": c.isx, "pub_size": c.size, "pub_pc": c.pc, "front": c.front},
                      "front evictions unbounded (any j, loop summarised by its exit condition)", extra=one)


@proof("stream.publish_discard_new_preserves_invariant",
       rules=["stream.discard.new.reject", "stream.discard.new.per_subject_evicts",
              "stream.discard.new_per_subject.reject", "stream.limit.max_msgs_per_subject", "stream.state.counts"])
def publish_discard_new_preserves_invariant(publish: Callable[..., S] = publish,
                                            publish_ok: Callable[..., Any] = publish_ok) -> Verdict:
    """Publish under discard new: refused when it would exceed max_msgs / max_bytes
    (unless the subject is at its limit and its oldest message, at least as
    large, is replaced) or, with discard_new_per_subject, the subject's limit;
    otherwise append and the per-subject eviction. Inductive over all states
    whose limits hold (not ``over_limit_ok``)."""
    s, lim, c = S.var("s"), Limits.var("lim"), PubChoice.var("pub")
    s2 = publish(s, lim, c)
    return _inductive("publish_new", [lim.discard_new, publish_ok(s, lim, c)], s, lim, s2, lim,
                      {"lim": lim, "pub_isx": c.isx, "pub_size": c.size, "pub_pc": c.pc, "oldest": c.oldest},
                      "no eviction loop under discard new")


@proof("stream.purge_all_preserves_invariant", rules=["stream.purge.semantics", "stream.state.after_purge"])
def purge_all_preserves_invariant(purge_all: Callable[[S], S] = purge_all) -> Verdict:
    """A full purge: first = last + 1, no messages, no bytes (also of a never-written stream)."""
    s, lim = S.var("s"), Limits.var("lim")
    return _inductive("purge_all", [], s, lim, purge_all(s), lim, {"lim": lim}, "one step, nothing bounded")


@proof("stream.delete_msg_preserves_invariant", rules=["stream.state.counts", "stream.limit.max_age"])
def delete_msg_preserves_invariant(remove: Callable[[S, Removal], S] = remove) -> Verdict:
    """Deleting one stored message (STREAM.MSG.DELETE, and each max_age expiry):
    msgs - 1, bytes - its size, first advances when it was the first (to
    last + 1 when none remain)."""
    s, lim, r = S.var("s"), Limits.var("lim"), Removal.var("del")
    pre = [r.jx + r.jo == 1, removal_ok(s, r)]
    return _inductive("delete", pre, s, lim, remove(s, r), lim, {"lim": lim, "removed": r}, "one message")


@proof("stream.update_limits_discard_old_preserves_invariant",
       rules=["stream.update.limits", "stream.discard.old.evict", "stream.limit.max_msgs_per_subject"])
def update_limits_discard_old_preserves_invariant(update_limits: Callable[..., S] = update_limits) -> Verdict:
    """A limits update under discard old (any new limits, in particular tighter
    ones): front evictions until the new max_msgs / max_bytes hold (any number),
    then, when max_msgs_per_subject is set or lowered, each subject's excess
    oldest messages. From a state within the old limits to one within the new."""
    s, old, new = S.var("s"), Limits.var("old"), Limits.var("new")
    front, psub = Removal.var("front"), Removal.var("psub")
    s2 = update_limits(s, new, old, front, psub)
    return _inductive("update", [update_ok(s, new, old, front, psub)], s, old, s2, new,
                      {"old": old, "new": new, "front": front, "psub": psub}, "evictions unbounded (summarised)")


@proof("stream.transitions_are_enabled",
       rules=["stream.discard.old.evict", "stream.discard.new.reject", "stream.discard.new.per_subject_evicts",
              "stream.purge.semantics", "stream.update.limits"])
def transitions_are_enabled() -> Verdict:
    """Sanity (non-vacuity): from a state satisfying ``inv``, each transition's
    interesting case is possible: a discard-old publish that evicts from the
    front with every limit set, a discard-new publish that is refused and one
    that replaces the subject's oldest, a purge of a non-empty stream, a
    delete of the first message leaving others, and a tightening update that
    evicts. Reported as the instances z3 found."""
    s, lim, c = S.var("s"), Limits.var("lim"), PubChoice.var("pub")
    r, old, new = Removal.var("r"), Limits.var("old"), Limits.var("new")
    front, psub = Removal.var("front"), Removal.var("psub")
    base = [limits_ok(lim), inv(s, lim)]
    cases_ = {
        "publish_old_evicts": [*base, not_(lim.discard_new), publish_ok(s, lim, c), not_(refused(s, lim, c)),
                               lim.max_msgs > 0, lim.max_bytes > 0, lim.maxp > 0, c.front.jx + c.front.jo >= 2],
        "publish_new_refused": [*base, lim.discard_new, publish_ok(s, lim, c), refused(s, lim, c)],
        "publish_new_replaces": [*base, lim.discard_new, publish_ok(s, lim, c), not_(refused(s, lim, c)),
                                 lim.max_msgs > 0, s.msgs == lim.max_msgs, psub_evicts(lim, c)],
        "purge_nonempty": [*base, s.msgs >= 2],
        "delete_first": [*base, r.jx + r.jo == 1, removal_ok(s, r), r.moved, s.msgs >= 2],
        "update_tightens": [limits_ok(old), limits_ok(new), inv(s, old), update_ok(s, new, old, front, psub),
                            front.jx + front.jo >= 1, psub.jx >= 1],
    }
    found = []
    for what, facts in cases_.items():
        v = witness(facts, show=_show(s=s), found=what, vacuous=f"{what} is never enabled: vacuous")
        if not v.ok:
            return v
        found.append(v.detail)
    return Verdict(True, "; ".join(found))
