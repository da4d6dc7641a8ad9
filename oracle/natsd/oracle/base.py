"""The oracle framework: areas, harnesses, the step checker and the state machine.

Theory of operation
-------------------
An *area* (routing, stream, consumer, ...) states its operation alphabet as
frozen msgspec Structs (a tagged union, so a failing sequence is both a
pasteable Python program and a JSON document), a Hypothesis strategy drawing
them, a model factory, and the harnesses that apply the same operations to the
implementation:

``core``
    in-process, the sans-IO cores driven directly (fastest; long campaigns);
``wire``
    a live natsd subprocess over TCP;
``differential``
    the same operations to natsd *and* the Go nats-server over TCP.

A harness has one or more *sides* (``core``; ``natsd``; ``natsd`` and ``go``)
and ``apply(op)`` returns one observation per side. Every side gets its own
copy of the model, so where the semantics leave a choice open (which member of
a queue group receives a message) each copy follows its own server's choice.

One step (:func:`check_step`): apply the op to the harness, then to each model
with that side's observation at hand (``Area.model_step`` may use it only to
resolve choices the spec leaves open, after checking the choice is allowed),
and compare the two observations exactly. Observations are normalised by the
harness only for what is nondeterministic by definition (e.g. fan-out order).
After every step the area's invariants compare model state with the
implementation state the harness exposes (``Harness.state``). Any mismatch
raises :class:`Divergence` whose message names the step, the op, and the model
and implementation observations of every side.

:func:`build_machine` turns an area and a harness factory into a Hypothesis
``RuleBasedStateMachine`` (one rule: ``step(op)``; one invariant). Hypothesis
rules stay synchronous; wire harnesses use blocking sockets. A
:class:`Recorder` shared by the machines counts steps and ops, collects the
rules the models covered and keeps the last failing op sequence, which after
Hypothesis has shrunk is the shortest one it found.

Areas register themselves in :data:`AREAS` when their module is imported;
:func:`load_areas` imports the known area modules.
"""

from __future__ import annotations

import importlib
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import msgspec
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

__all__ = [
    "AREAS",
    "AREA_MODULES",
    "Area",
    "Divergence",
    "Failure",
    "Harness",
    "HarnessKind",
    "Op",
    "Recorder",
    "ReplayResult",
    "build_machine",
    "check_invariants",
    "check_step",
    "decode_ops",
    "encode_ops",
    "get_area",
    "load_areas",
    "register",
    "replay",
    "spec_rules",
    "weighted",
]

#: Modules that define areas (imported by :func:`load_areas`).
AREA_MODULES = ("natsd.oracle.routing", "natsd.oracle.stream", "natsd.oracle.store", "natsd.oracle.consumer")


class Op(msgspec.Struct, frozen=True, tag=True, repr_omit_defaults=True):
    """Base of every operation. Subclasses are tagged by class name in JSON."""


class Divergence(AssertionError):
    """The implementation and the model disagree (or an invariant failed)."""


class Harness:
    """Applies operations to an implementation and observes the result.

    ``sides`` names the observed servers; ``apply`` returns one observation per
    side; ``state`` returns per side the implementation state the area's
    invariants inspect (or None when the harness cannot observe it); ``close``
    releases what the harness holds (connections; servers belong to the session).
    """

    sides: tuple[str, ...] = ()

    def apply(self, op: Op) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def state(self) -> dict[str, Any] | None:
        return None

    def close(self) -> None:
        pass


HarnessFactory = Callable[[], Harness]


@dataclass(frozen=True)
class HarnessKind:
    """One way of running an area: ``session()`` is a context manager that sets up
    what the harnesses share (server processes) and yields a harness factory; one
    harness is made per Hypothesis example.
    """

    name: str
    doc: str
    session: Callable[[], AbstractContextManager[HarnessFactory]]
    in_process: bool = False


@dataclass(frozen=True)
class Area:
    """Everything the framework needs to run campaigns over one semantic area.

    ``model_step(model, op, impl_obs) -> model_obs`` applies ``op`` to the model;
    ``impl_obs`` may only be used to resolve what the spec leaves open.
    ``invariants`` are ``(name, check)`` pairs; ``check(model, impl_state)``
    returns a problem description or None. ``describe(model_obs, impl_obs)``
    explains a mismatch (optional). ``faults`` are named context managers that
    plant a known bug in the in-process implementation (self-test of the oracle).
    """

    name: str
    title: str
    op_type: Any
    ops: st.SearchStrategy
    new_model: Callable[[], Any]
    model_step: Callable[[Any, Any, Any], Any]
    harnesses: dict[str, HarnessKind]
    covered: Callable[[Any], set[str]] = lambda model: set(model.covered)
    invariants: tuple[tuple[str, Callable[[Any, Any], str | None]], ...] = ()
    describe: Callable[[Any, Any], str] | None = None
    faults: dict[str, Callable[[], AbstractContextManager[None]]] = field(default_factory=dict)
    spec_area: str = ""

    @property
    def spec_name(self) -> str:
        return self.spec_area or self.name


AREAS: dict[str, Area] = {}


def register(area: Area) -> Area:
    AREAS[area.name] = area
    return area


def load_areas() -> dict[str, Area]:
    for mod in AREA_MODULES:
        importlib.import_module(mod)
    return AREAS


def get_area(name: str) -> Area:
    load_areas()
    try:
        return AREAS[name]
    except KeyError:
        raise KeyError(f"unknown area {name!r}; known: {', '.join(sorted(AREAS))}") from None


def spec_rules(area: Area) -> list[str]:
    """The rule ids of the area's spec file (spec/<area>.toml), in file order."""
    from natsd.spec import SPEC_DIR, SpecError, load

    try:
        for a in load(check_tests=False):
            if a.area == area.spec_name:
                return [r.id for r in a.rule]
    except SpecError:
        pass  # another area file is broken: read ours alone
    path = SPEC_DIR / f"{area.spec_name}.toml"
    if not path.is_file():
        return []
    data = tomllib.loads(path.read_text())
    return [r["id"] for r in data.get("rule", [])]


# ---------------------------------------------------------------------------- ops


def _same(x: Any) -> Any:
    return x


def weighted(*pairs: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """``one_of`` where each strategy is drawn in proportion to its weight.

    (``st.one_of(a, a, b)`` would not do: Hypothesis merges identical branches,
    so each copy is a distinct ``map`` of the same strategy.)
    """
    return st.one_of(*[s.map(_same) for w, s in pairs for _ in range(w)])


def encode_ops(ops: Sequence[Op]) -> list[Any]:
    """Ops as JSON-ready values (``{"type": "Sub", ...}``)."""
    return [msgspec.to_builtins(op) for op in ops]


def decode_ops(area: Area, raw: Sequence[Any]) -> list[Op]:
    return [msgspec.convert(x, area.op_type) for x in raw]


# --------------------------------------------------------------------- one step


def check_step(area: Area, models: dict[str, Any], harness: Harness, op: Op, index: int) -> str | None:
    """Apply ``op`` to the harness and to each side's model; None when all agree,
    else the divergence message."""
    observed = harness.apply(op)
    results = []
    for side in harness.sides:
        impl = observed[side]
        expected = area.model_step(models[side], op, impl)
        results.append((side, expected, impl, expected == impl))
    if all(ok for *_, ok in results):
        return None
    lines = [f"divergence at step {index}: {op!r}"]
    for side, expected, impl, ok in results:
        lines.append(f"  [{side}] {'agrees with the model' if ok else 'DIFFERS from the model'}")
        lines.append(f"    model: {expected!r}")
        lines.append(f"    {side}: {impl!r}")
        if not ok and area.describe is not None:
            lines.extend("    " + ln for ln in area.describe(expected, impl).splitlines())
    if len(results) > 1:
        bad = [side for side, *_, ok in results if not ok]
        good = [side for side, *_, ok in results if ok]
        if good:
            lines.append(f"  hint: {', '.join(good)} agree(s) with the model; look at {', '.join(bad)} first")
        else:
            lines.append("  hint: every server differs from the model; check the model (and the spec) first")
    return "\n".join(lines)


def check_invariants(area: Area, models: dict[str, Any], harness: Harness, after: str) -> str | None:
    state = harness.state()
    if state is None or not area.invariants:
        return None
    problems = []
    for side in harness.sides:
        impl_state = state.get(side)
        if impl_state is None:
            continue
        for name, check in area.invariants:
            problem = check(models[side], impl_state)
            if problem:
                problems.append(f"  [{side}] {name}: {problem}")
    if not problems:
        return None
    return f"invariant violated {after}:\n" + "\n".join(problems)


# --------------------------------------------------------------------- recorder


@dataclass
class Failure:
    ops: list[Op]
    message: str

    @property
    def length(self) -> int:
        return len(self.ops)


@dataclass
class Recorder:
    """Shared by every machine of a campaign: counts, coverage, the last failure."""

    steps: int = 0
    examples: int = 0
    ops: Counter = field(default_factory=Counter)
    covered: set[str] = field(default_factory=set)
    failure: Failure | None = None
    on_step: Callable[[Recorder], None] | None = None
    started: float = field(default_factory=time.monotonic)

    def step(self, op: Op) -> None:
        self.steps += 1
        self.ops[type(op).__name__] += 1
        if self.on_step is not None:
            self.on_step(self)

    def fail(self, ops: Sequence[Op], message: str) -> None:
        self.failure = Failure(list(ops), message)


def _raise(message: str) -> None:
    # One raise site: Hypothesis tells failures apart by where they were raised,
    # and every divergence of a campaign is the same kind of failure.
    raise Divergence(message)


class _MachineBase(RuleBasedStateMachine):
    area: Area
    harness_factory: HarnessFactory
    recorder: Recorder

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[Op] = []
        self.recorder.examples += 1
        self.harness = type(self).harness_factory()
        self.models = {side: self.area.new_model() for side in self.harness.sides}

    def _check(self, fn: Callable[[], str | None], where: str) -> None:
        try:
            message = fn()
        except Divergence:
            raise
        except Exception as e:  # the harness broke: that is a failure too
            message = f"error {where}: {e.__class__.__name__}: {e}"
        if message:
            self.recorder.fail(self.ops, message)
            _raise(message)

    def do_step(self, op: Op) -> None:
        self.ops.append(op)
        self.recorder.step(op)
        n = len(self.ops)
        self._check(lambda: check_step(self.area, self.models, self.harness, op, n), f"at step {n}: {op!r}")

    def do_invariants(self) -> None:
        where = f"after step {len(self.ops)}" + (f": {self.ops[-1]!r}" if self.ops else " (start)")
        self._check(lambda: check_invariants(self.area, self.models, self.harness, where), where)

    def teardown(self) -> None:
        for model in self.models.values():
            self.recorder.covered |= self.area.covered(model)
        self.harness.close()


def build_machine(
    area: Area, harness_factory: HarnessFactory, recorder: Recorder, name: str | None = None
) -> type[RuleBasedStateMachine]:
    """A ``RuleBasedStateMachine`` class whose single rule applies one drawn op.

    The class name (``<Area>Campaign_<harness>`` by default) keys the Hypothesis
    example database, so saved failures are replayed first by the next campaign.
    """

    @rule(op=area.ops)
    def step(self, op):
        self.do_step(op)

    @invariant()
    def invariants(self):
        self.do_invariants()

    cls_name = name or f"{area.name.capitalize()}Campaign"
    ns = {
        "area": area,
        "harness_factory": staticmethod(harness_factory),
        "recorder": recorder,
        "step": step,
        "invariants": invariants,
        "__module__": __name__,
        "__qualname__": cls_name,
    }
    return type(cls_name, (_MachineBase,), ns)


# ----------------------------------------------------------------------- replay


@dataclass
class ReplayResult:
    ops: list[Op]
    steps_run: int
    diverged_at: int | None  # 1-based index of the failing step, None when all agree
    message: str | None

    @property
    def ok(self) -> bool:
        return self.diverged_at is None


def iter_replay(area: Area, ops: Sequence[Op], harness_factory: HarnessFactory) -> Iterator[tuple[int, Op, str | None]]:
    """Apply ``ops`` one by one; yields ``(index, op, problem)`` and stops at the first problem."""
    harness = harness_factory()
    models = {side: area.new_model() for side in harness.sides}
    try:
        for i, op in enumerate(ops, 1):
            try:
                problem = check_step(area, models, harness, op, i) or check_invariants(
                    area, models, harness, f"after step {i}: {op!r}"
                )
            except Exception as e:
                problem = f"error at step {i}: {op!r}: {e.__class__.__name__}: {e}"
            yield i, op, problem
            if problem:
                return
    finally:
        harness.close()


def replay(area: Area, ops: Sequence[Op], harness_factory: HarnessFactory) -> ReplayResult:
    """Re-run an op sequence step by step (no Hypothesis); report the first divergence."""
    steps = 0
    for i, _op, problem in iter_replay(area, ops, harness_factory):
        steps = i
        if problem:
            return ReplayResult(list(ops), steps, i, problem)
    return ReplayResult(list(ops), steps, None, None)
