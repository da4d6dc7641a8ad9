"""The `natsd-campaign` CLI: run writes Markdown + JSON reports, replay re-runs
their failing sequences, list and prove report what exists."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from natsd.oracle.base import encode_ops
from natsd.oracle.campaign import main, parse_duration, report_paths
from natsd.oracle.routing import Pub, Sub

REPORT_KEYS = {
    "area", "harness", "result", "seed", "requested_steps", "duration_s", "steps", "examples", "rounds",
    "steps_per_example", "elapsed_s", "ops_per_s", "ops", "rules", "divergences", "failures", "db", "plant",
    "started_at",
}


def test_run_writes_both_reports(tmp_path, capsys) -> None:
    rc = main(["run", "routing", "--steps", "400", "--seed", "3", "--db", str(tmp_path / "db"),
               "--report", str(tmp_path / "r"), "--quiet"])
    assert rc == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert set(data) == REPORT_KEYS
    assert data["result"] == "pass" and data["divergences"] == 0 and data["failures"] == []
    assert data["steps"] >= 400 and data["harness"] == "core" and data["seed"] == 3
    assert sum(data["ops"].values()) == data["steps"]
    rules = data["rules"]
    assert rules["spec"] == "spec/routing.toml"
    assert rules["total"] == len(rules["covered"]) + len(rules["not_covered"])
    assert "routing.match" in rules["covered"] and "routing.scale" in rules["not_covered"]
    assert rules["unknown"] == []
    md = (tmp_path / "r.md").read_text()
    assert "# Campaign report: routing / core" in md and "PASS" in md and "`routing.scale` | **no**" in md
    out = capsys.readouterr().out
    assert "rules covered:" in out and "ops/s" in out


def test_run_is_reproducible_from_its_seed(tmp_path) -> None:
    ops = []
    for i in range(2):
        main(["run", "routing", "--steps", "300", "--seed", "11", "--db", "none",
              "--report", str(tmp_path / f"r{i}"), "--quiet"])
        ops.append(json.loads((tmp_path / f"r{i}.json").read_text())["ops"])
    assert ops[0] == ops[1]


def test_progress_goes_to_stderr(tmp_path, capsys) -> None:
    main(["run", "routing", "--steps", "100", "--db", "none", "--report", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert "routing/core [" in err and "ops/s" in err and "divergences" in err


def test_planted_fault_run_then_replay(tmp_path, capsys) -> None:
    """A run with a planted fault records a shrunk sequence; replay shows it
    diverging with the fault and passing without it."""
    report = tmp_path / "bad"
    rc = main(["run", "routing", "--steps", "20000", "--seed", "1", "--db", "none", "--plant", "stale-cache",
               "--report", str(report), "--quiet"])
    assert rc == 1
    data = json.loads((tmp_path / "bad.json").read_text())
    assert data["result"] == "divergence" and data["divergences"] == 1 and data["plant"] == "stale-cache"
    failure = data["failures"][0]
    assert failure["length"] == len(failure["ops"]) <= 6
    assert failure["ops"][0]["type"] in {"Pub", "Sub", "Unsub", "Connect", "Disconnect"}
    assert "divergence at step" in failure["message"]
    assert "Shrunk to" in (tmp_path / "bad.md").read_text()
    capsys.readouterr()

    assert main(["replay", str(tmp_path / "bad.json"), "--plant", "stale-cache"]) == 1
    out = capsys.readouterr().out
    assert "DIVERGES" in out and "still diverges" in out
    assert main(["replay", str(tmp_path / "bad.json")]) == 0
    assert "no divergence" in capsys.readouterr().out


def test_replay_of_a_hand_written_report(tmp_path, capsys) -> None:
    """A report can be written by hand: the ops are tagged JSON objects."""
    ops = [Pub(0, "a"), Sub(0, "a", None, "1"), Pub(0, "a")]  # diverges only with a stale cache
    report = {"area": "routing", "harness": "core", "failures": [{"ops": encode_ops(ops), "message": ""}]}
    path = tmp_path / "hand.json"
    path.write_text(json.dumps(report))
    assert main(["replay", str(path)]) == 0
    assert main(["replay", str(path), "--plant", "stale-cache"]) == 1
    out = capsys.readouterr().out
    assert "  3  Pub(conn=0, subject='a')  DIVERGES" in out
    assert "missing deliveries" in out


def test_list_names_areas_harnesses_and_rule_counts(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "routing:" in out and "spec/routing.toml" in out and "rules" in out
    for h in ("core", "wire", "differential"):
        assert f"harness {h}:" in out


def test_prove_runs_the_proofs_or_says_they_are_missing(capsys) -> None:
    rc = main(["prove"])
    out, err = capsys.readouterr()
    try:
        import natsd.oracle.proofs  # noqa: F401
    except ModuleNotFoundError:
        assert rc == 2 and "not available" in err
    else:
        assert rc in (0, 1) and "proofs hold" in out


def test_usage_errors_exit_2(tmp_path, capsys) -> None:
    assert main(["run", "nosuch", "--db", "none", "--quiet"]) == 2
    assert main(["run", "routing", "--harness", "nosuch", "--db", "none", "--quiet"]) == 2
    assert main(["run", "routing", "--harness", "wire", "--plant", "stale-cache", "--db", "none"]) == 2
    assert main(["run", "routing", "--duration", "soon", "--db", "none"]) == 2
    assert main(["replay", str(tmp_path / "missing.json")]) == 2


def test_durations_and_report_paths() -> None:
    assert parse_duration("90") == 90 and parse_duration("10m") == 600 and parse_duration("1h30m") == 5400
    with pytest.raises(ValueError):
        parse_duration("10 minutes")
    assert report_paths("x/r.json") == report_paths("x/r.md") == report_paths("x/r")


def test_console_script_module_entry(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "natsd.oracle.campaign", "run", "routing", "--steps", "100", "--db", "none",
         "--report", str(tmp_path / "s"), "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "s.json").exists() and (tmp_path / "s.md").exists()
