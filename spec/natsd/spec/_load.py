"""Load and validate spec/*.toml."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

from ._syntax import (
    RESERVED_FUNCTION_NAMES,
    RESERVED_TYPE_NAMES,
    TypeSyntaxError,
    constructor_name,
    default_problem,
    is_py_name,
    parse_type,
    placeholders,
    refs,
)

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
    strict: bool = True  # the request body is decoded with DisallowUnknownFields (false: plain json.Unmarshal)
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
        _check_area(area, path.name)
        areas.append(area)
    _check_across(areas)
    return areas


# The Go ApiError shape; a [[type]] of this name is generated in natsd.api.errors.
API_ERROR_FIELDS = ("code", "err_code", "description")


def _check_area(area: Area, file: str) -> None:
    """Checks that need only one area file."""
    for t in area.type:
        where = f"{file}: type {t.name!r}"
        if not is_py_name(t.name) or t.name in RESERVED_TYPE_NAMES:
            raise SpecError(f"{where}: the name must be a Python identifier and not one of {sorted(RESERVED_TYPE_NAMES)}")
        if t.status == "differs" and not t.note:
            raise SpecError(f"{where} differs and needs a note saying why")
        jsons: set[str] = set()
        pys: set[str] = set()
        for f in t.field:
            fwhere = f"{where} field {f.json!r}"
            if f.json in jsons:
                raise SpecError(f"{fwhere}: duplicate JSON field")
            jsons.add(f.json)
            py = f.py or f.json
            if not is_py_name(py) or py.startswith("_"):
                raise SpecError(
                    f"{fwhere}: {py!r} is not a usable Python attribute name; give `py = \"...\"`"
                )
            if py in pys:
                raise SpecError(f"{fwhere}: duplicate Python name {py!r}")
            pys.add(py)
            try:
                expr = parse_type(f.type)
            except TypeSyntaxError as e:
                raise SpecError(f"{fwhere}: {e}") from None
            if f.default is not msgspec.UNSET:
                problem = default_problem(expr, f.default)
                if problem is not None:
                    raise SpecError(f"{fwhere}: bad default for type {f.type!r}: {problem}")
        if t.name == "ApiError" and sorted(f.json for f in t.field) != sorted(API_ERROR_FIELDS):
            raise SpecError(f"{where}: ApiError must have exactly the fields {API_ERROR_FIELDS}")
    for s in area.subject:
        if s.status == "differs" and not s.note:
            raise SpecError(f"{file}: subject {s.subject!r} differs and needs a note saying why")
    headers: set[str] = set()
    for h in area.header:
        if h.name in headers:
            raise SpecError(f"{file}: duplicate header {h.name!r}")
        headers.add(h.name)
        if h.status == "differs" and not h.note:
            raise SpecError(f"{file}: header {h.name!r} differs and needs a note saying why")
    for e in area.error:
        where = f"{file}: error {e.name!r}"
        if not is_py_name(e.name):
            raise SpecError(f"{where}: the name must be a Go identifier")
        if e.status == "differs" and not e.note:
            raise SpecError(f"{where} differs and needs a note saying why")
        for p in placeholders(e.description):
            if not is_py_name(p):
                raise SpecError(f"{where}: placeholder {{{p}}} is not usable as a keyword argument")


def _check_across(areas: list[Area]) -> None:
    """Checks over all area files: unique names, references that resolve."""
    types: dict[str, str] = {}
    for a in areas:
        for t in a.type:
            if t.name in types:
                raise SpecError(f"{a.area}.toml: duplicate type {t.name!r} (also in {types[t.name]})")
            types[t.name] = f"{a.area}.toml"
    for a in areas:
        for t in a.type:
            for f in t.field:
                for ref in refs(parse_type(f.type)):
                    if ref not in types:
                        raise SpecError(
                            f"{a.area}.toml: type {t.name!r} field {f.json!r} refers to unknown type {ref!r}"
                        )
    subjects: dict[str, str] = {}
    for a in areas:
        for s in a.subject:
            if s.subject in subjects:
                raise SpecError(f"{a.area}.toml: duplicate subject {s.subject!r} (also in {subjects[s.subject]})")
            subjects[s.subject] = f"{a.area}.toml"
            for role, name in (("request", s.request), ("response", s.response)):
                if name and name not in types:
                    raise SpecError(f"{a.area}.toml: subject {s.subject!r} {role} names unknown type {name!r}")
    names: dict[str, str] = {}
    codes: dict[int, str] = {}
    funcs: dict[str, str] = {}
    for a in areas:
        for e in a.error:
            where = f"{a.area}.toml: error {e.name!r}"
            if e.name in names:
                raise SpecError(f"{where}: duplicate error name (also in {names[e.name]})")
            names[e.name] = f"{a.area}.toml"
            if e.err_code in codes:
                raise SpecError(f"{where}: err_code {e.err_code} is also used by {codes[e.err_code]!r}")
            codes[e.err_code] = e.name
            fn = constructor_name(e.name)
            if fn in funcs or fn in RESERVED_FUNCTION_NAMES or not is_py_name(fn):
                raise SpecError(f"{where}: constructor name {fn!r} clashes (with {funcs.get(fn, 'a reserved name')!r})")
            funcs[fn] = e.name
