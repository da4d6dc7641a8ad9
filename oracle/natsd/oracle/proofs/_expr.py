"""Expression style: one function, two readings (STYLE.md item 10).

A function written with these helpers instead of ``if``/``and``/``or`` runs on
plain Python values (ints, bools) and returns a plain value, or, handed z3
terms, returns the z3 formula of the same computation. So the function that a
test compares against the implementation is, character for character, the
function z3 reasons about: the proof encoding cannot drift from the code it
mirrors.

Both branches of ``ite`` are evaluated eagerly, so an expression-style function
must only index and compute things that are defined whatever the condition is
(fixed-size token slots, not ``xs[n - 1]`` with a symbolic ``n``).
"""

from __future__ import annotations

from typing import Any

import z3

__all__ = ["ite", "cases", "and_", "or_", "not_", "implies", "is_symbolic"]


def is_symbolic(x: Any) -> bool:
    return isinstance(x, z3.ExprRef)


def ite(c: Any, a: Any, b: Any) -> Any:
    """``a if c else b`` on a Python bool; ``z3.If(c, a, b)`` on a z3 condition."""
    if isinstance(c, bool):
        return a if c else b
    return z3.If(c, a, b)


def cases(*arms: tuple[Any, Any], otherwise: Any) -> Any:
    """The value of the first arm whose condition holds, else ``otherwise``.

    Reads like a run of early returns: ``cases((c1, v1), (c2, v2), otherwise=v)``
    is ``if c1: return v1`` / ``if c2: return v2`` / ``return v``.
    """
    r = otherwise
    for c, v in reversed(arms):
        r = ite(c, v, r)
    return r


def and_(*xs: Any) -> Any:
    if any(map(is_symbolic, xs)):
        return z3.And(*xs)
    return all(xs)


def or_(*xs: Any) -> Any:
    if any(map(is_symbolic, xs)):
        return z3.Or(*xs)
    return any(xs)


def not_(x: Any) -> Any:
    return z3.Not(x) if is_symbolic(x) else not x


def implies(a: Any, b: Any) -> Any:
    if is_symbolic(a) or is_symbolic(b):
        return z3.Implies(a, b)
    return (not a) or bool(b)
