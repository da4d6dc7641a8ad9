"""The field-type grammar of spec ``[[type.field]]`` entries, and Python naming rules.

Grammar::

    T := str | bool | int | int32 | int64 | uint64 | float
       | duration            # int nanoseconds on the wire
       | time                # RFC3339Nano string
       | bytes               # base64 string
       | any
       | <TypeName>          # another [[type]], in any area
       | list[T]
       | map[str,T]          # JSON object with string keys

Spaces around ``[``, ``]`` and ``,`` are allowed.
"""

from __future__ import annotations

import keyword
import re
from typing import Any

import msgspec

# primitive -> Python annotation
PRIMITIVES: dict[str, str] = {
    "str": "str",
    "bool": "bool",
    "int": "int",
    "int32": "int",
    "int64": "int",
    "uint64": "int",
    "float": "float",
    "duration": "int",
    "time": "str",
    "bytes": "str",
    "any": "Any",
}

INT_RANGES: dict[str, tuple[int, int]] = {
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "duration": (-(2**63), 2**63 - 1),
}

# Names a generated module defines itself: a [[type]] or constructor may not take them.
RESERVED_TYPE_NAMES = frozenset({"Any", "STRICT_TYPES", "TYPES", "msgspec"})
RESERVED_FUNCTION_NAMES = frozenset({"make", "by_code", "re", "msgspec", "annotations"})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class TypeSyntaxError(ValueError):
    """A field type string does not follow the grammar."""


class Prim(msgspec.Struct, frozen=True):
    name: str


class Ref(msgspec.Struct, frozen=True):
    name: str


class ListOf(msgspec.Struct, frozen=True):
    item: TypeExpr


class MapOf(msgspec.Struct, frozen=True):
    value: TypeExpr


TypeExpr = Prim | Ref | ListOf | MapOf


def parse_type(text: str) -> TypeExpr:
    """Parse a field type string; raise TypeSyntaxError when it is malformed."""
    s = text.strip()
    if s.startswith("list[") and s.endswith("]"):
        return ListOf(parse_type(s[5:-1]))
    if s.startswith("map[") and s.endswith("]"):
        key, sep, value = s[4:-1].partition(",")
        if not sep or key.strip() != "str":
            raise TypeSyntaxError(f"bad map type {text!r}: expected map[str,T]")
        return MapOf(parse_type(value))
    if s in PRIMITIVES:
        return Prim(s)
    if s in ("list", "map") or not _NAME.match(s):
        raise TypeSyntaxError(f"bad field type {text!r}")
    return Ref(s)


def refs(expr: TypeExpr) -> list[str]:
    """The [[type]] names an expression refers to."""
    if isinstance(expr, Ref):
        return [expr.name]
    if isinstance(expr, ListOf):
        return refs(expr.item)
    if isinstance(expr, MapOf):
        return refs(expr.value)
    return []


def annotation(expr: TypeExpr) -> str:
    """The Python annotation (source text) of an expression."""
    if isinstance(expr, Prim):
        return PRIMITIVES[expr.name]
    if isinstance(expr, Ref):
        return expr.name
    if isinstance(expr, ListOf):
        return f"list[{annotation(expr.item)}]"
    return f"dict[str, {annotation(expr.value)}]"


def default_problem(expr: TypeExpr, value: Any) -> str | None:
    """Why ``value`` is not a valid default for ``expr`` (None when it is)."""
    if isinstance(expr, Prim):
        n = expr.name
        if n == "any":
            return None
        if n in ("str", "time", "bytes"):
            return None if isinstance(value, str) else f"expected a string, got {value!r}"
        if n == "bool":
            return None if isinstance(value, bool) else f"expected a boolean, got {value!r}"
        if n == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return None if ok else f"expected a number, got {value!r}"
        if not isinstance(value, int) or isinstance(value, bool):
            return f"expected an integer, got {value!r}"
        lo, hi = INT_RANGES.get(n, (None, None))
        if lo is not None and not lo <= value <= hi:
            return f"{value} is out of range for {n}"
        return None
    if isinstance(expr, ListOf):
        if not isinstance(value, list):
            return f"expected a list, got {value!r}"
        for item in value:
            if (p := default_problem(expr.item, item)) is not None:
                return p
        return None
    if isinstance(expr, MapOf):
        if not isinstance(value, dict):
            return f"expected a table, got {value!r}"
        for item in value.values():
            if (p := default_problem(expr.value, item)) is not None:
                return p
        return None
    return None if isinstance(value, dict) else f"expected a table for {expr.name}, got {value!r}"


def is_py_name(name: str) -> bool:
    """A plain Python identifier that is not a keyword."""
    return bool(_NAME.match(name)) and not keyword.iskeyword(name)


def constructor_name(constant: str) -> str:
    """Python constructor name of a Go error constant.

    Follows Go's ``funcNameForConstant`` (server/errors_gen.go: drop a trailing
    ``ErrF``/``Err``/``F``), then drops the ``JS`` prefix and an ``Error`` suffix
    and converts to snake_case: ``JSStreamNotFoundErr`` -> ``stream_not_found``,
    ``JSStreamWrongLastMsgIDErrF`` -> ``stream_wrong_last_msg_id``.
    """
    base = constant
    for suffix in ("ErrF", "Err", "F"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    base = base.removesuffix("Error").removeprefix("JS")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", base).lower()


PLACEHOLDER = re.compile(r"\{(\w+)\}")


def placeholders(template: str) -> list[str]:
    """The distinct ``{placeholders}`` of an error description, in order."""
    return list(dict.fromkeys(PLACEHOLDER.findall(template)))
