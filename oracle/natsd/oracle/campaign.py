"""``natsd-campaign``: run, replay and list model-vs-implementation campaigns.

::

    natsd-campaign run routing --harness core --steps 100000
    natsd-campaign run routing --harness differential --steps 2000 --seed 7
    natsd-campaign run routing --duration 2h --report reports/routing
    natsd-campaign replay reports/routing.json [--harness wire]
    natsd-campaign list
    natsd-campaign prove

A campaign runs Hypothesis stateful examples (``--steps-per-example`` steps each)
in rounds until the requested number of steps (or the duration) is reached,
shows a progress line on stderr, keeps Hypothesis's example database in
``--db`` (failures found earlier are replayed first next time), and writes a
Markdown and a JSON report. A divergence stops the campaign after Hypothesis
has shrunk it; the report holds the shrunk op sequence, which ``replay``
re-runs step by step. Exit status: 0 no divergence, 1 divergence, 2 usage or
setup error. See docs/campaigns.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from natsd.oracle.base import (
    Area,
    Failure,
    Recorder,
    build_machine,
    decode_ops,
    encode_ops,
    get_area,
    iter_replay,
    load_areas,
    spec_rules,
)

__all__ = ["CampaignResult", "Progress", "main", "parse_duration", "run_campaign", "write_report"]

DEFAULT_DIR = Path(".natsd-campaign")
DEFAULT_STEPS_PER_EXAMPLE = 50
MAX_EXAMPLES_PER_ROUND = 100

# --------------------------------------------------------------------- helpers


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``2h``, ``1h30m`` -> seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"bad duration {text!r} (examples: 90s, 10m, 2h, 1h30m)")
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * scale[u] for n, u in parts)


def _fmt_secs(s: float) -> str:
    s = int(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class Progress:
    """A one-line progress bar on a stream, redrawn with ``\\r`` (at most 10/s).

    On a stream that is not a terminal (CI logs) it prints a plain line every 10 s.
    """

    def __init__(
        self, label: str, steps: int | None, duration: float | None, stream: TextIO | None = None
    ) -> None:
        self.label = label
        self.steps = steps
        self.duration = duration
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self._last = 0.0
        self._width = 0
        self.divergences = 0
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())

    def update(self, rec: Recorder, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < (0.1 if self.tty else 10.0):
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        rate = rec.steps / elapsed
        fracs = []
        if self.steps:
            fracs.append(rec.steps / self.steps)
        if self.duration:
            fracs.append(elapsed / self.duration)
        frac = min(1.0, max(fracs)) if fracs else 0.0
        filled = int(frac * 24)
        bar = "#" * filled + "-" * (24 - filled)
        total = f"/{self.steps:,}" if self.steps else ""
        eta = ""
        if 0 < frac < 1:
            eta = f"  eta {_fmt_secs(elapsed * (1 - frac) / frac)}"
        line = (
            f"{self.label} [{bar}] {frac * 100:5.1f}%  {rec.steps:,}{total} steps  {rate:,.0f} ops/s  "
            f"{self.divergences} divergence{'s' if self.divergences != 1 else ''}  "
            f"{_fmt_secs(elapsed)}{eta}"
        )
        if self.tty:
            pad = max(0, self._width - len(line))
            self._width = len(line)
            self.stream.write("\r" + line + " " * pad)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self, rec: Recorder) -> None:
        self.update(rec, force=True)
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()


# -------------------------------------------------------------------- campaign


@dataclass
class CampaignResult:
    area: str
    harness: str
    seed: int
    requested_steps: int | None
    duration_s: float | None
    steps: int
    examples: int
    rounds: int
    elapsed_s: float
    ops: dict[str, int]
    covered: list[str]
    not_covered: list[str]
    failures: list[Failure]
    area_obj: Area = field(repr=False)
    unknown_rules: list[str] = field(default_factory=list)
    db: str | None = None
    plant: str | None = None
    steps_per_example: int = DEFAULT_STEPS_PER_EXAMPLE
    started_at: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def ops_per_s(self) -> float:
        return self.steps / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def coverage_pct(self) -> float:
        total = len(self.covered) + len(self.not_covered)
        return 100.0 * len(self.covered) / total if total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "area": self.area,
            "harness": self.harness,
            "result": "pass" if self.ok else "divergence",
            "seed": self.seed,
            "requested_steps": self.requested_steps,
            "duration_s": self.duration_s,
            "steps": self.steps,
            "examples": self.examples,
            "rounds": self.rounds,
            "steps_per_example": self.steps_per_example,
            "elapsed_s": round(self.elapsed_s, 3),
            "ops_per_s": round(self.ops_per_s, 1),
            "ops": dict(sorted(self.ops.items())),
            "rules": {
                "spec": f"spec/{self.area_obj.spec_name}.toml",
                "total": len(self.covered) + len(self.not_covered),
                "covered": self.covered,
                "not_covered": self.not_covered,
                "coverage_pct": round(self.coverage_pct, 1),
                "unknown": self.unknown_rules,
            },
            "divergences": len(self.failures),
            "failures": [
                {
                    "length": f.length,
                    "message": f.message,
                    "ops": encode_ops(f.ops),
                    "ops_repr": [repr(op) for op in f.ops],
                }
                for f in self.failures
            ],
            "db": self.db,
            "plant": self.plant,
            "started_at": self.started_at,
        }


def run_campaign(
    area: Area | str,
    harness: str = "core",
    *,
    steps: int | None = 2000,
    duration: float | None = None,
    seed: int | None = None,
    db: str | os.PathLike[str] | None = None,
    steps_per_example: int = DEFAULT_STEPS_PER_EXAMPLE,
    plant: str | None = None,
    progress: Progress | None = None,
    max_failures: int = 1,
) -> CampaignResult:
    """Run Hypothesis examples in rounds until ``steps`` steps or ``duration``
    seconds (whichever comes first; at least one must be given), or until
    ``max_failures`` divergences were found and shrunk.

    Round ``r`` uses the Hypothesis seed derived from ``(seed, r)``, so a run is
    reproducible from its seed (given the same example database contents).
    ``plant`` names a fault of the area to plant in the in-process implementation.
    """
    from hypothesis import HealthCheck, Phase, Verbosity, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.database import DirectoryBasedExampleDatabase

    if isinstance(area, str):
        area = get_area(area)
    if harness not in area.harnesses:
        raise ValueError(f"area {area.name!r} has no harness {harness!r} ({', '.join(area.harnesses)})")
    kind = area.harnesses[harness]
    if steps is None and duration is None:
        raise ValueError("give steps or a duration")
    if plant is not None:
        if plant not in area.faults:
            raise ValueError(f"area {area.name!r} has no fault {plant!r} ({', '.join(area.faults) or 'none'})")
        if not kind.in_process:
            raise ValueError(f"faults are planted in process: use an in-process harness, not {harness!r}")
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    database = DirectoryBasedExampleDatabase(str(db)) if db else None

    rec = Recorder()
    if progress is not None:
        rec.on_step = progress.update
    failures: list[Failure] = []
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    rounds = 0

    def budget_left() -> bool:
        if steps is not None and rec.steps >= steps:
            return False
        return not (duration is not None and time.monotonic() - t0 >= duration)

    with ExitStack() as stack:
        factory = stack.enter_context(kind.session())
        if plant is not None:
            stack.enter_context(area.faults[plant]())
        machine = build_machine(area, factory, rec, name=f"{area.name.capitalize()}Campaign_{harness}")
        while budget_left() and len(failures) < max_failures:
            if steps is not None:
                examples = -(-(steps - rec.steps) // steps_per_example)
            else:
                examples = MAX_EXAMPLES_PER_ROUND
            examples = max(1, min(MAX_EXAMPLES_PER_ROUND, examples))
            round_seed = (seed * 1_000_003 + rounds) % 2**64
            rounds += 1
            cfg = settings(
                max_examples=examples,
                stateful_step_count=steps_per_example,
                deadline=None,
                database=database,
                derandomize=False,
                suppress_health_check=list(HealthCheck),
                verbosity=Verbosity.quiet,
                report_multiple_bugs=False,
                phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
                print_blob=False,
            )
            rec.failure = None
            try:
                from hypothesis.stateful import run_state_machine_as_test

                run_state_machine_as_test(hypothesis_seed(round_seed)(machine), settings=cfg)
            except Exception as e:  # a divergence (shrunk) or a broken harness
                failure = rec.failure or Failure([], f"{e.__class__.__name__}: {e}")
                failures.append(failure)
                if progress is not None:
                    progress.divergences = len(failures)
                    progress.update(rec, force=True)
    elapsed = time.monotonic() - t0
    if progress is not None:
        progress.finish(rec)
    rules = spec_rules(area)
    covered = [r for r in rules if r in rec.covered]
    return CampaignResult(
        area=area.name,
        harness=harness,
        seed=seed,
        requested_steps=steps,
        duration_s=duration,
        steps=rec.steps,
        examples=rec.examples,
        rounds=rounds,
        elapsed_s=elapsed,
        ops=dict(rec.ops),
        covered=covered,
        not_covered=[r for r in rules if r not in rec.covered],
        failures=failures,
        area_obj=area,
        # ids the model reports that the spec file lacks: a missing rule or a wrong id
        unknown_rules=sorted(rec.covered - set(rules)),
        db=str(db) if db else None,
        plant=plant,
        steps_per_example=steps_per_example,
        started_at=started_at,
    )


# ---------------------------------------------------------------------- report


def report_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``X.md`` / ``X.json`` / ``X`` -> (X.md, X.json)."""
    p = Path(path)
    if p.suffix in (".md", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".md"), p.with_name(p.name + ".json")


def render_markdown(result: CampaignResult) -> str:
    r = result
    status = "PASS: no divergence" if r.ok else f"DIVERGENCE ({len(r.failures)})"
    out = [f"# Campaign report: {r.area} / {r.harness}\n"]
    out.append("| | |\n|---|---|")
    rows = [
        ("result", status),
        ("steps", f"{r.steps:,}" + (f" (requested {r.requested_steps:,})" if r.requested_steps else "")),
        ("examples", f"{r.examples:,} in {r.rounds} round(s), up to {r.steps_per_example} steps each"),
        ("elapsed", f"{r.elapsed_s:.1f} s" + (f" (limit {r.duration_s:.0f} s)" if r.duration_s else "")),
        ("ops/s", f"{r.ops_per_s:,.0f}"),
        ("seed", f"`{r.seed}`"),
        ("example database", f"`{r.db}`" if r.db else "none"),
        ("started", r.started_at),
    ]
    if r.plant:
        rows.append(("planted fault", f"`{r.plant}`"))
    out += [f"| {k} | {v} |" for k, v in rows]
    out.append("\n## Operations\n")
    out.append("| op | count | share |\n|---|---:|---:|")
    total = sum(r.ops.values()) or 1
    for name, n in sorted(r.ops.items(), key=lambda kv: -kv[1]):
        out.append(f"| `{name}` | {n:,} | {100 * n / total:.1f}% |")
    ntotal = len(r.covered) + len(r.not_covered)
    out.append(
        f"\n## Spec rules (spec/{r.area_obj.spec_name}.toml): {len(r.covered)}/{ntotal} covered "
        f"({r.coverage_pct:.0f}%)\n"
    )
    out.append("| rule | exercised |\n|---|---|")
    for rid in r.covered:
        out.append(f"| `{rid}` | yes |")
    for rid in r.not_covered:
        out.append(f"| `{rid}` | **no** |")
    if r.unknown_rules:
        out.append(
            "\nThe model reported rule ids the spec file does not have (add the rules or fix the ids): "
            + ", ".join(f"`{rid}`" for rid in r.unknown_rules)
        )
    out.append("\n## Failures\n")
    if r.ok:
        out.append("None.")
    for i, f in enumerate(r.failures, 1):
        out.append(f"### {i}. {f.message.splitlines()[0] if f.message else 'failure'}\n")
        out.append(f"Shrunk to {f.length} op(s). Replay: `natsd-campaign replay <this report>.json`\n")
        out.append("```python")
        out.append(f"from natsd.oracle.{r.area} import *  # noqa")
        out.append("ops = [")
        out += [f"    {op!r}," for op in f.ops]
        out.append("]")
        out.append("```\n")
        out.append("```text")
        out.append(f.message)
        out.append("```\n")
    return "\n".join(out) + "\n"


def write_report(result: CampaignResult, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    md, js = report_paths(path)
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(render_markdown(result))
    js.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return md, js


# ------------------------------------------------------------------------- cli


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        area = get_area(args.area)
    except KeyError as e:
        print(f"natsd-campaign: {e.args[0]}", file=sys.stderr)
        return 2
    try:
        duration = parse_duration(args.duration) if args.duration else None
    except ValueError as e:
        print(f"natsd-campaign: {e}", file=sys.stderr)
        return 2
    steps = args.steps
    if steps is None and duration is None:
        steps = 2000
    db = None if args.db in ("", "none") else args.db
    progress = None if args.quiet else Progress(f"{area.name}/{args.harness}", steps, duration)
    try:
        result = run_campaign(
            area,
            args.harness,
            steps=steps,
            duration=duration,
            seed=args.seed,
            db=db,
            steps_per_example=args.steps_per_example,
            plant=args.plant,
            progress=progress,
            max_failures=args.max_failures,
        )
    except ValueError as e:
        print(f"natsd-campaign: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nnatsd-campaign: interrupted", file=sys.stderr)
        return 130
    report = args.report
    if report is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        report = DEFAULT_DIR / "reports" / f"{area.name}-{args.harness}-{stamp}"
    md, js = write_report(result, report)
    ntotal = len(result.covered) + len(result.not_covered)
    print(
        f"{result.area}/{result.harness}: {result.steps:,} steps, {result.examples:,} examples, "
        f"{result.elapsed_s:.1f} s, {result.ops_per_s:,.0f} ops/s, seed {result.seed}"
    )
    print(f"rules covered: {len(result.covered)}/{ntotal} ({result.coverage_pct:.0f}%)")
    if result.not_covered:
        print("not covered: " + ", ".join(result.not_covered))
    if result.unknown_rules:
        print("rule ids missing from the spec: " + ", ".join(result.unknown_rules))
    for f in result.failures:
        print(f"\nDIVERGENCE (shrunk to {f.length} ops):")
        for op in f.ops:
            print(f"  {op!r}")
        print(f.message)
    print(f"\nreport: {md}\n        {js}")
    return 0 if result.ok else 1


def _cmd_replay(args: argparse.Namespace) -> int:
    try:
        data = json.loads(Path(args.report).read_text())
        area = get_area(data["area"])
    except (OSError, ValueError, KeyError) as e:
        print(f"natsd-campaign: cannot read report {args.report}: {e}", file=sys.stderr)
        return 2
    harness = args.harness or data.get("harness", "core")
    if harness not in area.harnesses:
        print(f"natsd-campaign: area {area.name!r} has no harness {harness!r}", file=sys.stderr)
        return 2
    kind = area.harnesses[harness]
    failures = data.get("failures") or []
    if args.plant and (args.plant not in area.faults or not kind.in_process):
        print(f"natsd-campaign: cannot plant {args.plant!r} with harness {harness!r}", file=sys.stderr)
        return 2
    if not failures:
        print(f"{args.report}: no failing sequences to replay")
        return 0
    if data.get("plant") and not args.plant:
        print(f"note: recorded with the planted fault {data['plant']!r}; add --plant {data['plant']} to plant it again")
    still = 0
    with ExitStack() as stack:
        factory = stack.enter_context(kind.session())
        if args.plant:
            stack.enter_context(area.faults[args.plant]())
        for n, f in enumerate(failures, 1):
            ops = decode_ops(area, f["ops"])
            print(f"sequence {n}: {len(ops)} ops on {area.name}/{harness}")
            diverged = False
            for i, op, problem in iter_replay(area, ops, factory):
                print(f"  {i:3d}  {op!r}  {'DIVERGES' if problem else 'ok'}")
                if problem:
                    diverged = True
                    print("\n".join("       " + ln for ln in problem.splitlines()))
            if diverged:
                still += 1
                print("  -> still diverges")
            else:
                print("  -> no divergence (fixed, or it needs the recorded harness / fault)")
    print(f"{still} of {len(failures)} sequence(s) still diverge")
    return 1 if still else 0


def _cmd_list(args: argparse.Namespace) -> int:
    areas = load_areas()
    for name in sorted(areas):
        area = areas[name]
        rules = spec_rules(area)
        print(f"{name}: {area.title}")
        print(f"  spec: spec/{area.spec_name}.toml, {len(rules)} rules")
        for h in area.harnesses.values():
            print(f"  harness {h.name}: {h.doc}")
        if area.faults:
            print(f"  plantable faults (core): {', '.join(area.faults)}")
    return 0


def _cmd_prove(args: argparse.Namespace) -> int:
    try:
        from natsd.oracle import proofs
    except ModuleNotFoundError as e:
        if e.name == "natsd.oracle.proofs":
            print("natsd-campaign: natsd.oracle.proofs is not available yet (no proofs to run)", file=sys.stderr)
        else:
            print(f"natsd-campaign: the proofs need a missing module: {e.name} ({e})", file=sys.stderr)
        return 2
    results = proofs.run_all()
    failed = 0
    for r in results:
        ok = bool(getattr(r, "ok", False))
        failed += not ok
        detail = getattr(r, "detail", "")
        print(f"{'PASS' if ok else 'FAIL'}  {r.name}" + (f"  {detail}" if detail else ""))
    print(f"{len(results) - failed}/{len(results)} proofs hold")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="natsd-campaign",
        description="Model-vs-implementation campaigns for natsd (Hypothesis stateful testing).",
    )
    sub = ap.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a campaign over an area")
    run.add_argument("area", help="area name (see `natsd-campaign list`)")
    run.add_argument("--harness", default="core", help="core (default), wire or differential")
    run.add_argument("--steps", type=int, default=None, help="total steps to run (default 2000 without --duration)")
    run.add_argument("--duration", default=None, help="stop after this long (90s, 10m, 2h)")
    run.add_argument("--seed", type=int, default=None, help="seed (default: random, printed in the report)")
    run.add_argument(
        "--db", default=str(DEFAULT_DIR / "db"), help="Hypothesis example database directory ('none' to disable)"
    )
    run.add_argument("--report", default=None, help="report path; writes PATH.md and PATH.json")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--steps-per-example", type=int, default=DEFAULT_STEPS_PER_EXAMPLE)
    run.add_argument("--max-failures", type=int, default=1, help="stop after this many divergences")
    run.add_argument("--plant", default=None, help="plant a known fault (core harness; a self-test)")
    run.set_defaults(func=_cmd_run)

    rp = sub.add_parser("replay", help="re-run the failing sequences of a report step by step")
    rp.add_argument("report", help="a report .json written by `run`")
    rp.add_argument("--harness", default=None, help="default: the report's harness")
    rp.add_argument("--plant", default=None, help="plant a known fault (core harness)")
    rp.set_defaults(func=_cmd_replay)

    ls = sub.add_parser("list", help="list the areas, their harnesses and rule counts")
    ls.set_defaults(func=_cmd_list)

    pv = sub.add_parser("prove", help="run the z3 proofs (natsd.oracle.proofs)")
    pv.set_defaults(func=_cmd_prove)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
