"""Load and validate spec/*.toml."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

SPEC_DIR = Path(__file__).resolve().parents[2]
ROOT = SPEC_DIR.parent

Status = Literal["Y", "partial", "N", "differs"]


class SpecError(ValueError):
    """The spec files are inconsistent."""


class Rule(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: str
    statement: str
    go: str
    status: Status
    model: str = ""
    tests: list[str] = []
    note: str = ""


class Field(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One JSON field of an API type.

    ``type`` is one of: str, bool, int, int32, int64, uint64, float, duration
    (int nanoseconds), time (RFC3339Nano string), bytes (base64 string), any,
    the name of another ``[[type]]``, ``list[T]`` or ``map[str,T]``.
    """

    json: str
    type: str
    doc: str = ""
    default: Any = msgspec.UNSET  # absent = no default (required unless optional)
    optional: bool = False  # Go omitempty / may be absent on the wire
    py: str = ""  # Python attribute name when json is not an identifier
    limits: str = ""
    note: str = ""


class Type(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    go: str
    doc: str = ""
    status: Status = "N"
    note: str = ""
    field: list[Field] = []


class Subject(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    subject: str  # e.g. "$JS.API.STREAM.CREATE.<stream>"
    go: str
    doc: str = ""
    request: str = ""  # a [[type]] name, "" = no body
    response: str = ""  # a [[type]] name, "" = no JSON reply (e.g. MSG.NEXT)
    response_type: str = ""  # the "type" string, e.g. io.nats.jetstream.api.v1.stream_create_response
    status: Status = "N"
    note: str = ""


class Header(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str  # e.g. "Nats-Msg-Id"
    go: str
    doc: str
    status: Status = "N"
    note: str = ""


class ApiErrorSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str  # Go constant, e.g. "JSStreamNotFoundErr"
    code: int  # HTTP-like status
    err_code: int  # JetStream error code
    description: str  # template; {placeholders} are filled by the constructor
    status: Status = "N"
    note: str = ""


class Area(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    area: str
    title: str
    summary: str = ""
    rule: list[Rule] = []
    type: list[Type] = []
    subject: list[Subject] = []
    header: list[Header] = []
    error: list[ApiErrorSpec] = []


def _functions(path: Path, cache: dict[Path, set[str]]) -> set[str]:
    if path not in cache:
        names: set[str] = set()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        names.add(f"{node.name}::{item.name}")
        cache[path] = names
    return cache[path]


def test_exists(node_id: str, root: Path = ROOT, _cache: dict | None = None) -> bool:
    """``tests/test_x.py::test_y[param]`` names a test function that exists."""
    cache = _cache if _cache is not None else {}
    file, _, name = node_id.partition("::")
    path = root / file
    if not path.is_file() or not name:
        return False
    return name.split("[", 1)[0] in _functions(path, cache)


def load(spec_dir: Path = SPEC_DIR, *, check_tests: bool = True) -> list[Area]:
    areas: list[Area] = []
    seen: dict[str, str] = {}
    cache: dict[Path, set[str]] = {}
    for path in sorted(spec_dir.glob("*.toml")):
        try:
            area = msgspec.convert(tomllib.loads(path.read_text()), Area)
        except (tomllib.TOMLDecodeError, msgspec.ValidationError) as e:
            raise SpecError(f"{path.name}: {e}") from None
        if area.area != path.stem:
            raise SpecError(f"{path.name}: area {area.area!r} does not match the file name")
        for rule in area.rule:
            if rule.id in seen:
                raise SpecError(f"{path.name}: duplicate rule id {rule.id!r} (also in {seen[rule.id]})")
            seen[rule.id] = path.name
            if not rule.id.startswith(area.area + "."):
                raise SpecError(f"{path.name}: rule {rule.id!r} must start with {area.area + '.'!r}")
            if rule.status != "Y" and not rule.note:
                raise SpecError(f"{path.name}: rule {rule.id!r} is {rule.status} and needs a note saying why")
            if check_tests:
                for t in rule.tests:
                    if not test_exists(t, spec_dir.parent, cache):
                        raise SpecError(f"{path.name}: rule {rule.id!r} names a missing test {t!r}")
                if rule.status == "Y" and not rule.tests:
                    raise SpecError(f"{path.name}: rule {rule.id!r} is Y but names no test")
        areas.append(area)
    return areas
