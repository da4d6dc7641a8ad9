#!/usr/bin/env python3
"""Bootstrap for a fresh machine with only Python 3.11+: `server` or `test`.

    python3 dev.py server [natsd flags...]   # venv + install, then natsd -js (store ./natsd-store)
    python3 dev.py test [pytest args...]     # venv + install with test extras, ruff, pytest

Everything goes into ./.venv; nothing is installed system-wide.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py must explain itself on old Pythons
        sys.exit("natsd needs Python 3.11 or newer")
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed{extras}"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    spec = f"{ROOT}{extras}"
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "-e", spec], check=True)
    stamp.touch()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("server", "test"):
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "server":
        _ensure_venv("")
        args = rest or ["-js", "-sd", str(ROOT / "natsd-store")]
        return subprocess.call([str(PY), "-m", "natsd", *args])
    _ensure_venv("[test]")
    rc = subprocess.call([str(PY), "-m", "ruff", "check", str(ROOT)], cwd=ROOT)
    if rc:
        return rc
    return subprocess.call([str(PY), "-m", "pytest", "-q", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
