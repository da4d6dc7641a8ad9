"""z3 checks of the invariants natsd's models and cores rely on.

``run_all(names=None)`` runs the registered checks (all, or those named exactly
or by area, e.g. ``["routing"]``) and returns one ``ProofResult`` each;
``python -m natsd.oracle.proofs [name ...]`` prints them and exits non-zero on
any failure. ``natsd-campaign prove`` calls ``run_all``.

Adding an area: write ``proofs/<area>.py``, decorate each check with
``@proof("<area>.<property>", rules=[...spec rule ids...])``, and add the
module name to ``AREAS``. A check returns a ``Verdict`` via ``prove`` (the claim
is valid: z3 finds its negation unsatisfiable, else a rendered counterexample)
or ``witness`` (a sanity instance exists, so a rule is not vacuous). Give each
check keyword parameters whose defaults are the real encoding, so tests can
pass a deliberately wrong variant and see the check fail. Write the model
arithmetic in expression style (``_expr``), so the same function runs on
Python values in tests against the implementation and builds the z3 terms.

Each check's docstring says what it establishes and its bounds: most are
bounded model checks (every instance up to a size), some are inductive
(an invariant that holds initially and is preserved by every transition).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from ._core import ProofResult, Verdict, proof, prove, registered, witness
from ._core import run as _run
from ._core import select as _select

__all__ = ["AREAS", "ProofResult", "Verdict", "names", "proof", "prove", "run_all", "witness"]

AREAS: tuple[str, ...] = ("routing", "stream", "consumer")


def _load() -> None:
    for area in AREAS:
        importlib.import_module(f"{__name__}.{area}")


def names() -> list[str]:
    """Every registered check, in run order."""
    _load()
    return registered()


def run_all(names: Iterable[str] | None = None) -> list[ProofResult]:
    """Run the selected checks (all when ``names`` is None); unknown names raise ``KeyError``."""
    _load()
    return [_run(e) for e in _select(None if names is None else list(names))]
