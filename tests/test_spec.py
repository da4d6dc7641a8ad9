"""The spec is consistent, and every generated file is up to date.

Fails when a rule is malformed, an id repeats, a Y rule names no test or a
test that does not exist, or when docs/spec/*.md or differences.md differ
from what `python -m natsd.spec generate` writes.
"""

from __future__ import annotations

from natsd.spec import SpecError, load
from natsd.spec._generate import generate


def test_spec_loads_and_every_named_test_exists() -> None:
    areas = load()
    assert {a.area for a in areas} >= {"protocol", "routing", "operations"}
    for a in areas:
        for r in a.rule:
            assert r.status != "Y" or r.tests, r.id


def test_generated_files_are_fresh() -> None:
    stale = generate(check=True)
    assert not stale, f"run `python -m natsd.spec generate`; stale: {stale}"


def test_a_rule_naming_a_missing_test_is_rejected(tmp_path) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "x.toml").write_text(
        'area = "x"\ntitle = "X"\n[[rule]]\nid = "x.a"\nstatement = "s"\ngo = "g"\nstatus = "Y"\n'
        'tests = ["tests/nope.py::test_nope"]\n'
    )
    try:
        load(tmp_path / "spec")
    except SpecError as e:
        assert "missing test" in str(e)
    else:
        raise AssertionError("a dangling test id was accepted")


def test_a_y_rule_without_tests_is_rejected(tmp_path) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "x.toml").write_text(
        'area = "x"\ntitle = "X"\n[[rule]]\nid = "x.a"\nstatement = "s"\ngo = "g"\nstatus = "Y"\n'
    )
    try:
        load(tmp_path / "spec")
    except SpecError as e:
        assert "names no test" in str(e)
    else:
        raise AssertionError("a Y rule without tests was accepted")
