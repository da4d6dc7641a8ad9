"""The proof registry and the two ways a check ends: proved, or a witness found.

A proof is a zero-argument callable (its keyword parameters have the real
encoding as defaults, so tests can hand it a deliberately wrong variant)
returning a ``Verdict``. ``run_all`` times each one and wraps it in a
``ProofResult`` carrying the spec rule ids it supports.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import msgspec
import z3

__all__ = ["ProofResult", "Verdict", "proof", "registered", "select", "run", "prove", "witness", "TIMEOUT_MS"]

TIMEOUT_MS = 60_000  # per solver call; a timeout is reported as a failure, never as proved

Show = Mapping[str, Callable[[z3.ModelRef], str]]


class ProofResult(msgspec.Struct, frozen=True):
    name: str  # "routing.cache_invalidation_preserves_match"
    ok: bool
    detail: str  # what was proved and its bounds, or the counterexample
    seconds: float
    rules: list[str]  # spec rule ids this check supports


class Verdict(msgspec.Struct, frozen=True):
    ok: bool
    detail: str
    model: dict[str, str] = {}  # the counterexample (or sanity witness), rendered


@dataclass(frozen=True)
class _Entry:
    name: str
    rules: tuple[str, ...]
    fn: Callable[[], Verdict]


_REGISTRY: dict[str, _Entry] = {}


def proof(name: str, *, rules: Iterable[str]) -> Callable[[Callable[..., Verdict]], Callable[..., Verdict]]:
    """Register a check under ``<area>.<property>``; returns the function unchanged."""
    if "." not in name:
        raise ValueError(f"proof name {name!r} must be <area>.<property>")

    def register(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"proof {name!r} registered twice")
        _REGISTRY[name] = _Entry(name, tuple(rules), fn)
        return fn

    return register


def registered() -> list[str]:
    return list(_REGISTRY)


def select(names: Iterable[str] | None) -> list[_Entry]:
    """All entries, or those named exactly or by area prefix (``routing`` selects ``routing.*``)."""
    if names is None:
        return list(_REGISTRY.values())
    out: dict[str, _Entry] = {}
    for want in names:
        hits = [e for e in _REGISTRY.values() if e.name == want or e.name.startswith(want + ".")]
        if not hits:
            raise KeyError(f"no proof named {want!r}; known: {', '.join(_REGISTRY)}")
        for e in hits:
            out[e.name] = e
    return list(out.values())


def run(entry: _Entry) -> ProofResult:
    t0 = time.perf_counter()
    try:
        v = entry.fn()
    except Exception as e:  # a crashing check is a failed check, reported, not raised
        tb = traceback.format_exception_only(type(e), e)[-1].strip()
        v = Verdict(False, f"check raised {tb}")
    return ProofResult(entry.name, v.ok, v.detail, time.perf_counter() - t0, list(entry.rules))


def _solver(*facts: z3.BoolRef | bool) -> z3.Solver:
    s = z3.Solver()
    s.set(timeout=TIMEOUT_MS)
    s.add(*facts)
    return s


def _render(m: z3.ModelRef, show: Show) -> dict[str, str]:
    return {k: f(m) for k, f in show.items()}


def _fmt(model: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in model.items())


def _smallest(facts: list[z3.BoolRef], size: z3.ArithRef | None, fallback: z3.ModelRef) -> z3.ModelRef:
    """Re-solve for the instance minimising ``size``, so a human reads the shortest one."""
    if size is None:
        return fallback
    o = z3.Optimize()
    o.set(timeout=TIMEOUT_MS)
    o.add(*facts)
    o.minimize(size)
    return o.model() if o.check() == z3.sat else fallback


def prove(
    claim: z3.BoolRef,
    *,
    given: Iterable[z3.BoolRef],
    show: Show,
    proved: str,
    size: z3.ArithRef | None = None,
) -> Verdict:
    """``claim`` holds in every model of ``given``: z3 finds ``given ∧ ¬claim`` unsatisfiable.

    Otherwise the counterexample (the one smallest in ``size``, when given) is
    rendered through ``show``.
    """
    facts = [*given, z3.Not(claim)]
    s = _solver(*facts)
    r = s.check()
    if r == z3.unsat:
        return Verdict(True, proved)
    if r == z3.sat:
        model = _render(_smallest(facts, size, s.model()), show)
        return Verdict(False, "counterexample: " + _fmt(model), model)
    return Verdict(False, f"z3 returned unknown ({s.reason_unknown()}); not proved")


def witness(
    facts: Iterable[z3.BoolRef],
    *,
    show: Show,
    found: str,
    vacuous: str,
    size: z3.ArithRef | None = None,
) -> Verdict:
    """A sanity check: ``facts`` are satisfiable together, and here is an instance (the smallest in ``size``)."""
    facts = list(facts)
    s = _solver(*facts)
    r = s.check()
    if r == z3.sat:
        model = _render(_smallest(facts, size, s.model()), show)
        return Verdict(True, f"{found}: {_fmt(model)}", model)
    if r == z3.unsat:
        return Verdict(False, vacuous)
    return Verdict(False, f"z3 returned unknown ({s.reason_unknown()}); no witness")
