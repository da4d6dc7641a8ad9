"""``python -m natsd.spec generate [--check]``: write docs/spec/*.md, differences.md and impl/natsd/api/."""

from __future__ import annotations

import sys

from ._generate import generate


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "generate":
        print("usage: python -m natsd.spec generate [--check]")
        return 2
    stale = generate(check="--check" in argv[1:])
    if stale:
        print("stale: " + ", ".join(str(p) for p in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
