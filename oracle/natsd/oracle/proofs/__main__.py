"""``python -m natsd.oracle.proofs [name-or-area ...]``: run the z3 checks, exit 1 on any failure."""

from __future__ import annotations

import sys

from . import run_all


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        results = run_all(argv or None)
    except KeyError as e:
        print(e.args[0], file=sys.stderr)
        return 2
    width = max((len(r.name) for r in results), default=0)
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        print(f"{mark} {r.name:<{width}} {r.seconds:7.3f}s  {r.detail}")
    failed = [r for r in results if not r.ok]
    total = sum(r.seconds for r in results)
    print(f"{len(results) - len(failed)}/{len(results)} checks hold ({total:.2f}s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
