"""Go-compatible JSON for the API types: decode requests, encode replies.

The generated structs carry the spec's defaults (what a field is after the
server normalised it) and drop default-valued fields when msgspec encodes
them. Go behaves differently on both sides, and clients see the difference:

- **Requests** decode into Go structs whose missing fields are zero values;
  the server then applies its defaults (``checkStreamCfg``) knowing what was
  left unset (a missing ``duplicate_window`` follows ``max_age``). Strictly
  decoded requests reject unknown fields with JSInvalidJSONErr (10025).
  ``decode_request`` does both: zero values for what is absent, strictness for
  the types in ``STRICT_TYPES``.
- **Replies** carry every field without ``omitempty`` even when it is zero
  (``"max_age":0``), and omit an ``omitempty`` field only when it is zero.
  ``encode_reply`` writes exactly that, in the struct's field order. An
  optional field whose default is None is a Go pointer: written whenever set.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import msgspec

from . import _types
from .errors import ApiError

__all__ = ["RequestError", "decode_request", "encode_reply", "to_go", "zero_value"]

_NONE = type(None)


class RequestError(ValueError):
    """The request body is not valid for its type; ``str(e)`` is Go's error text."""


def _zero(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not _NONE]
        return None if len(args) != len(typing.get_args(tp)) else _zero(args[0])
    if tp is bool:
        return False
    if tp is int:
        return 0
    if tp is float:
        return 0.0
    if tp is str:
        return ""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _fill({}, tp, False)  # a non-pointer struct: every field zero
    return None  # lists, maps, pointers: Go's nil


def zero_value(tp: Any) -> Any:
    """Go's zero value for a field annotation (nil for pointers, lists, maps)."""
    return _zero(tp)


def _struct_of(tp: Any) -> type[msgspec.Struct] | None:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        for a in typing.get_args(tp):
            s = _struct_of(a)
            if s is not None:
                return s
    return None


def _items_of(tp: Any) -> tuple[str, Any] | None:
    """('list', item type) / ('dict', value type) for container annotations."""
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        for a in typing.get_args(tp):
            r = _items_of(a)
            if r is not None:
                return r
        return None
    origin = typing.get_origin(tp)
    if origin is list:
        return "list", typing.get_args(tp)[0]
    if origin is dict:
        return "dict", typing.get_args(tp)[1]
    return None


# Go enum fields with their own UnmarshalJSON (store.go, stream.go, filestore.go):
# JSON name -> (accepted values, case-insensitive?, error text for other values;
# None = Go's "can not unmarshal %q" of the JSON token).
_ENUMS: dict[str, tuple[frozenset[str], bool, str | None]] = {
    "retention": (frozenset({"limits", "interest", "workqueue"}), False, None),
    "discard": (frozenset({"old", "new"}), True, None),
    "storage": (frozenset({"file", "memory"}), False, None),
    "persist_mode": (frozenset({"default", "", "async"}), False, None),
    "compression": (frozenset({"none", "s2"}), False, "unknown compression algorithm"),
    "ack_policy": (frozenset({"none", "all", "explicit", "flow_control"}), False, None),
    "replay_policy": (frozenset({"instant", "original"}), False, None),
    "deliver_policy": (frozenset({"all", "undefined", "last", "last_per_subject", "new",
                                  "by_start_sequence", "by_start_time"}), False, None),
}
_ENUM_TYPES = frozenset({"StreamConfig", "StreamConfigRequest", "ConsumerConfig"})


def _go_q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_enum(name: str, value: Any) -> Any:
    allowed, fold, message = _ENUMS[name]
    if isinstance(value, str):
        v = value.lower() if fold else value
        if v in allowed:
            return v
    if message is not None:
        raise RequestError(message)
    raise RequestError(f"can not unmarshal {_go_q(msgspec.json.encode(value).decode())}")


def _fill(raw: Any, tp: type[msgspec.Struct], strict: bool) -> Any:
    if not isinstance(raw, dict):
        return raw  # msgspec.convert reports the type error
    fields = msgspec.structs.fields(tp)
    enums = tp.__name__ in _ENUM_TYPES
    known = {f.encode_name: f for f in fields}
    if strict:
        for key in raw:
            if key not in known:
                raise RequestError(f'json: unknown field "{key}"')
    out = {}
    for f in fields:
        if f.encode_name in raw:
            value = raw[f.encode_name]
            if enums and f.encode_name in _ENUMS and value is not None:
                value = _check_enum(f.encode_name, value)
            nested = _struct_of(f.type)
            if nested is not None and isinstance(value, dict):
                value = _fill(value, nested, strict and nested.__name__ in _types.STRICT_TYPES)
            else:
                items = _items_of(f.type)
                if items is not None and value is not None:
                    item_struct = _struct_of(items[1])
                    if item_struct is not None:
                        sub_strict = strict and item_struct.__name__ in _types.STRICT_TYPES
                        if items[0] == "list" and isinstance(value, list):
                            value = [_fill(v, item_struct, sub_strict) for v in value]
                        elif items[0] == "dict" and isinstance(value, dict):
                            value = {k: _fill(v, item_struct, sub_strict) for k, v in value.items()}
            out[f.encode_name] = value
        else:
            out[f.encode_name] = _zero(f.type)
    return out


def decode_request(body: bytes, tp: type[msgspec.Struct]) -> Any:
    """Decode an API request as Go does: empty body = ``{}``, absent fields =
    zero values, unknown fields rejected for strict types, ``null`` = zero."""
    if not body.strip():
        raw: Any = {}
    else:
        try:
            raw = msgspec.json.decode(body)
        except msgspec.DecodeError as e:
            raise RequestError(str(e)) from None
    if raw is None:
        raw = {}
    filled = _fill(raw, tp, tp.__name__ in _types.STRICT_TYPES)
    try:
        return msgspec.convert(filled, tp)
    except msgspec.ValidationError as e:
        raise RequestError(str(e)) from None


def _is_zero(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    if isinstance(value, (str, list, dict, tuple)):
        return len(value) == 0
    return False


def to_go(obj: Any) -> Any:
    """Builtins for ``obj`` with Go's omitempty rules, fields in struct order."""
    if isinstance(obj, msgspec.Struct):
        tp = type(obj)
        omit = _types.OMITEMPTY.get(tp.__name__)
        if omit is None and tp is ApiError:
            omit = frozenset({"err_code", "description"})
        out = {}
        for f in msgspec.structs.fields(tp):
            value = getattr(obj, f.name)
            # An omitempty field is left out when zero. A field whose default is
            # None stands for a Go pointer or an embedded struct pointer (the
            # flattened StreamInfo of a create reply): it is left out only when
            # None, so an explicit 0 is written, as Go writes a non-nil pointer.
            if omit is not None and f.encode_name in omit and (
                value is None if f.default is None else _is_zero(value)
            ):
                continue
            if omit is None and value is None:
                continue
            out[f.encode_name] = to_go(value)
        return out
    if isinstance(obj, list):
        return [to_go(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_go(v) for k, v in obj.items()}
    return obj


def encode_reply(obj: Any) -> bytes:
    # Go's encoder is HTML-safe: <, > and & are escaped. They can only occur
    # inside JSON strings, so a byte replacement is exact.
    out = msgspec.json.encode(to_go(obj))
    if b"<" in out or b">" in out or b"&" in out:
        out = out.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")
    return out
