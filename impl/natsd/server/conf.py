"""The NATS configuration file format (mirrors nats-server conf/lex.go and conf/parse.go).

The format is a relaxed superset of JSON::

    # comments start with '#' or '//'
    port: 4222                      # 'key: value', 'key = value' and 'key value'
    max_payload = 1MB               # sizes: k=1000, kb/ki/kib=1024 (and m, g, t, p, e)
    authorization {                 # nested maps, members separated by newlines or ','
      users = [ {user: a, password: "s3cret"} ]
    }
    TOKEN = $SECRET                 # variables: an earlier key in this or an enclosing map,
                                    # else an environment variable
    include "accounts.conf"         # path relative to the including file
    motd = (
    text until a ')' alone on its line
    )

``parse`` returns a ``ConfigMap``: a plain ``dict`` whose keys also remember where they
were written, so option errors can say ``file:line:col`` as nats-server does.

Values are ``str``, ``int``, ``float``, ``bool``, ``datetime``, ``list`` or ``ConfigMap``.
Durations stay strings (``"2m"``); ``parse_duration`` converts them the way opts.go does.

Where we knowingly differ from the Go lexer (all cases where Go rejects or silently
mangles input, so every config Go accepts parses the same here):

- A plain number directly before ``]`` ends there: Go lexes ``[1, 2]`` as ``1`` and
  ``"2]..."`` and then fails; we return ``[1, 2]``. (``[1k]`` stays ``["1k"]`` as in Go.)
- An unknown size suffix (``1kbib``) is an error; Go drops the key without a word.
- ``include /abs/path`` uses the absolute path; Go joins it onto the including
  file's directory. Include cycles are an error instead of a stack overflow.
- A block string ``( ... )`` closed by ``)`` at end of file does not keep the ``)``.
- Go's number lexer in the v2.15 binaries lets ``2m30s`` be a string; the Go source in
  ref/ would stop after ``2m``. We follow the released binary.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from datetime import UTC, datetime
from typing import Any, NamedTuple

__all__ = [
    "ConfigError",
    "ConfigMap",
    "Position",
    "parse",
    "parse_file",
    "parse_duration",
    "parse_size",
]

_WS = frozenset(" \t")  # Go isWhitespace: spaces that never end a line
_NL = frozenset("\n\r")
_SEP = frozenset("=:")
_DIGITS = frozenset("0123456789")
_STRING_END = frozenset("\n\r;,]} \t")  # what ends an unquoted string (plus EOF)
_SIZED_END = frozenset("\n\r};, \t")  # what ends "1k", "1MB" (plus EOF)
_NUMBER_END = _SIZED_END | {"]"}  # Go lacks ']' here, see the module docstring
_INCLUDE_END = frozenset("\n\r;} \t'")
_SIZE_LETTERS = frozenset("kKmMgGtTpPeE")
_SIZE_TAIL = frozenset("bBiI")
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_ESCAPES = {"t": b"\t", "n": b"\n", "r": b"\r", '"': b'"', "\\": b"\\"}
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _size_multipliers() -> dict[str, int]:
    # conf/parse.go: a bare letter is decimal, "b", "i" or "ib" after it is binary.
    table = {"": 1}
    for power, letter in enumerate("kmgtpe", start=1):
        table[letter] = 1000**power
        for tail in ("b", "i", "ib"):
            table[letter + tail] = 1024**power
    return table


_SIZE_MULT = _size_multipliers()


class ConfigError(Exception):
    """A configuration problem; the message starts with ``file:line`` when known."""

    def __init__(
        self, reason: str, *, path: str | None = None, line: int | None = None, col: int | None = None
    ) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.col = col
        super().__init__(self._format())

    def _format(self) -> str:
        if self.line is None:
            return self.reason if self.path is None else f"{self.path}: {self.reason}"
        where = f"{self.path or '<string>'}:{self.line}"
        if self.col is not None:
            where += f":{self.col}"
        return f"{where}: {self.reason}"


class Position(NamedTuple):
    path: str | None
    line: int
    col: int  # Go's column: 0-based on line 1, 1-based after (it counts from the '\n')

    def __str__(self) -> str:
        return f"{self.path or '<string>'}:{self.line}:{self.col}"


class ConfigMap(dict):
    """A parsed map. Besides its items it records each key's position and which keys
    were read through ``$variable`` (Go does not report those as unknown fields)."""

    __slots__ = ("path", "positions", "used")

    def __init__(self, *args: Any, path: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path = path  # the file this map was written in
        self.positions: dict[str, Position] = {}
        self.used: set[str] = set()

    def position(self, key: str) -> Position | None:
        return self.positions.get(key)

    def is_used_variable(self, key: str) -> bool:
        return key in self.used


class _Key(NamedTuple):
    name: str
    offset: int
    include: bool


class _Parser:
    def __init__(self, text: str, path: str | None, env_refs: set[str], chain: tuple[str, ...]) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.path = path
        self.base_dir = os.path.dirname(path) if path else "."
        self.env_refs = env_refs  # env variables being expanded, to catch $A -> $B -> $A
        self.chain = chain  # real paths of the files including us, to catch include cycles
        self.scopes: list[ConfigMap] = []  # maps being built, innermost last
        self.newlines = [k for k, c in enumerate(text) if c == "\n"]

    # ---- positions and errors -------------------------------------------------------

    def _line(self, offset: int) -> int:
        return bisect_left(self.newlines, offset) + 1

    def _position(self, offset: int) -> Position:
        idx = bisect_left(self.newlines, offset)
        return Position(self.path, idx + 1, offset - (self.newlines[idx - 1] if idx else 0))

    def _error(self, reason: str, at: int | None = None) -> ConfigError:
        # Go reports the line it is on after consuming the offending character.
        return ConfigError(reason, path=self.path, line=self._line(self.i if at is None else at))

    def _peek(self, k: int | None = None) -> str:
        k = self.i if k is None else k
        return self.s[k] if k < self.n else ""

    def _describe(self, c: str) -> str:
        return {"": "EOF", "\n": "\\n", "\r": "\\r"}.get(c, c)

    # ---- skipping ---------------------------------------------------------------

    def _skip_space(self) -> None:
        while self.i < self.n and self.s[self.i].isspace():
            self.i += 1

    def _skip_blanks(self) -> None:
        while self.i < self.n and self.s[self.i] in _WS:
            self.i += 1

    def _at_comment(self) -> bool:
        c = self._peek()
        return c == "#" or (c == "/" and self._peek(self.i + 1) == "/")

    def _skip_comment(self) -> None:
        while self.i < self.n and self.s[self.i] not in _NL:
            self.i += 1

    # ---- document structure ---------------------------------------------------------

    def parse_document(self) -> ConfigMap:
        root = ConfigMap(path=self.path)
        self.scopes.append(root)
        while True:
            self._skip_space()
            c = self._peek()
            if c == "":
                return root
            if self._at_comment():
                self._skip_comment()
            elif c in ("{", "}"):
                # Braces around the whole document (JSON style) are transparent.
                self.i += 1
            elif c == "/":
                raise self._error("Unexpected '/', comments start with '#' or '//'", self.i + 1)
            else:
                self._member(root, in_map=False)
                self._end_top_value()

    def _member(self, target: ConfigMap, *, in_map: bool) -> None:
        key = self._read_key(in_map=in_map)
        if key.include:
            self._include(target)
            return
        value = self._read_after_key(key, in_map=in_map)
        target[key.name] = value
        target.positions[key.name] = self._position(key.offset)
        target.used.discard(key.name)

    def _end_top_value(self) -> None:
        self._skip_blanks()
        c = self._peek()
        if self._at_comment():
            self._skip_comment()
        elif c in _NL or c in (";", ",", "}"):
            self.i += 1
        elif c != "":
            raise self._error(
                "Expected a top-level value to end with a new line, comment or EOF, "
                f"but got '{self._describe(c)}' instead.",
                self.i + 1,
            )

    def _read_key(self, *, in_map: bool) -> _Key:
        s, c = self.s, self._peek()
        if c in _SEP:
            raise self._error(f"Unexpected key separator '{c}'", self.i + 1)
        if in_map and c == "]":
            raise self._error("Unexpected array end ']' processing map.", self.i + 1)
        if c in ('"', "'"):
            end = s.find(c, self.i + 1)
            if end < 0:
                raise self._error("Unexpected EOF processing quoted key.", self.n)
            key = _Key(s[self.i + 1 : end], self.i + 1, False)
            self.i = end + 1
            return key
        start = self.i
        while True:
            c = self._peek()
            if c == "":
                if in_map:
                    raise self._error("Unexpected EOF processing map key.", self.n)
                break
            if c.isspace():
                # Only a bare word followed by a space can be the include keyword.
                if s[start : self.i].lower() == "include":
                    return _Key("include", start, True)
                break
            if c in _SEP:
                break
            self.i += 1
        return _Key(s[start : self.i], start, False)

    def _read_after_key(self, key: _Key, *, in_map: bool) -> Any:
        # Newlines may separate a key from its separator ...
        self._skip_space()
        c = self._peek()
        if c == "" and not in_map:
            raise self._error(f"config is invalid: key '{key.name}' has no value", self.n)
        if c in _SEP:
            self.i += 1
        if in_map:
            # ... and, inside a map only, a separator from its value.
            self._skip_space()
            c = self._peek()
            if c == ",":
                raise self._error("Unexpected map value terminator ','.", self.i + 1)
            if c in ("}", ""):
                raise self._error(f"key '{key.name}' has no value", self.i + 1)
        return self._read_value()

    def _read_map(self) -> ConfigMap:
        m = ConfigMap(path=self.path)
        self.scopes.append(m)
        try:
            while True:
                self._skip_space()
                c = self._peek()
                if c == "}":
                    self.i += 1
                    return m
                if c == "":
                    raise self._error("Unexpected EOF processing map.", self.n)
                if self._at_comment():
                    self._skip_comment()
                    continue
                self._member(m, in_map=True)
                if self._end_map_value():
                    return m
        finally:
            self.scopes.pop()

    def _end_map_value(self) -> bool:
        """Consume what follows a map member; True when it was the closing brace."""
        while True:
            self._skip_blanks()
            c = self._peek()
            if self._at_comment():
                self._skip_comment()
                continue
            if c in _NL or c in (";", ","):
                self.i += 1
                return False
            if c == "}":
                self.i += 1
                return True
            raise self._error(
                "Expected a map value terminator ',' or a map terminator '}', "
                f"but got '{self._describe(c)}' instead.",
                self.i + 1,
            )

    def _read_array(self) -> list[Any]:
        arr: list[Any] = []
        while True:
            self._skip_space()
            c = self._peek()
            if self._at_comment():
                self._skip_comment()
                continue
            if c == ",":
                raise self._error("Unexpected array value terminator ','.", self.i + 1)
            if c == "]":
                self.i += 1
                return arr
            arr.append(self._read_value())
            if self._end_array_value():
                return arr

    def _end_array_value(self) -> bool:
        """Consume what follows an array element; True when it was the closing bracket."""
        while True:
            self._skip_blanks()
            c = self._peek()
            if self._at_comment():
                self._skip_comment()
                continue
            if c == "," or c in _NL:
                self.i += 1
                return False
            if c == "]":
                self.i += 1
                return True
            raise self._error(
                "Expected an array value terminator ',' or an array terminator ']', "
                f"but got '{self._describe(c)}' instead.",
                self.i + 1,
            )

    # ---- include -------------------------------------------------------------------

    def _include(self, target: ConfigMap) -> None:
        self._skip_blanks()
        s, c, start = self.s, self._peek(), self.i
        if c in ('"', "'"):
            end = s.find(c, start + 1)
            if end < 0:
                raise self._error("Unexpected EOF in quoted include", self.n)
            name, self.i = s[start + 1 : end], end + 1
        elif c in _NL or c in _DIGITS or c in ("[", "{", "(", "-", "\\"):
            raise self._error(f"Expected include value but found '{self._describe(c)}'", start + 1)
        else:
            while self.i < self.n and s[self.i] not in _INCLUDE_END:
                self.i += 1
            name = s[start : self.i]
            if self._peek() == "'":
                self.i += 1
        full = os.path.join(self.base_dir, name)
        real = os.path.realpath(full)
        if real in self.chain:
            raise self._error(f"error parsing include file '{name}', include cycle", start)
        try:
            with open(full, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise self._error(f"error parsing include file '{name}', {e}", start) from None
        try:
            sub = _Parser(text, full, set(), self.chain + (real,)).parse_document()
        except ConfigError as e:
            raise self._error(f"error parsing include file '{name}', {e}", start) from None
        # Included keys land in the current map, keeping their own file positions.
        for k, v in sub.items():
            target[k] = v
            target.positions[k] = sub.positions[k]
            if k in sub.used:
                target.used.add(k)
            else:
                target.used.discard(k)

    # ---- values ----------------------------------------------------------------------

    def _read_value(self) -> Any:
        self._skip_blanks()
        c, start = self._peek(), self.i
        if c == "[":
            self.i += 1
            return self._read_array()
        if c == "{":
            self.i += 1
            return self._read_map()
        if c == "'":
            end = self.s.find("'", start + 1)
            if end < 0:
                raise self._error("Unexpected EOF.", self.n)
            self.i = end + 1
            return self.s[start + 1 : end]
        if c == '"':
            return self._read_double_quoted()
        if c == "-":
            return self._read_negative()
        if c == "(":
            return self._read_block()
        if c in _DIGITS:
            return self._read_number()
        if c == ".":
            raise self._error("Floats must start with a digit", start + 1)
        if c in _NL:
            raise self._error("Expected value but found new line", start + 1)
        return self._read_unquoted(start, start)

    def _escape(self, k: int) -> tuple[bytes, int]:
        """Decode the escape whose letter is at ``k``; return its bytes and the next offset."""
        c = self._peek(k)
        if c == "x":
            digits = self.s[k + 1 : k + 3]
            if len(digits) < 2 or any(d in _NL for d in digits):
                raise self._error("Expected two hexadecimal digits after '\\x', but hit end of line", k + 1)
            if not _HEX2.fullmatch(digits):
                raise self._error(f"Expected two hexadecimal digits after '\\x', but got '{digits}'", k + 3)
            return bytes.fromhex(digits), k + 3
        if c in _ESCAPES:
            return _ESCAPES[c], k + 1
        raise self._error(
            f"Invalid escape character '{self._describe(c)}'. Only the following escape characters "
            'are allowed: \\xXX, \\t, \\n, \\r, \\", \\\\.',
            k + 1,
        )

    def _read_double_quoted(self) -> str:
        s = self.s
        out = bytearray()
        seg = k = self.i + 1
        while True:
            c = self._peek(k)
            if c == "":
                raise self._error("Unexpected EOF.", self.n)
            if c == "\\":
                out += s[seg:k].encode()
                decoded, k = self._escape(k + 1)
                out += decoded
                seg = k
            elif c == '"':
                out += s[seg:k].encode()
                self.i = k + 1
                # \xNN escapes are raw bytes, as in Go; a broken sequence survives as surrogates.
                return out.decode("utf-8", "surrogateescape")
            else:
                k += 1

    def _read_unquoted(self, start: int, resume: int) -> Any:
        """An unquoted word from ``start``, scanning on from ``resume``: a string, a
        boolean or a ``$variable``."""
        s = self.s
        out: bytearray | None = None
        seg = start
        k = resume
        while True:
            c = self._peek(k)
            if c == "\\":
                out = out if out is not None else bytearray()
                out += s[seg:k].encode()
                decoded, k = self._escape(k + 1)
                out += decoded
                seg = k
                continue
            if c == "" or c in _STRING_END:
                end, self.i = k, k
                break
            if c == "'":
                # Go ends an unquoted string at a quote and swallows the quote.
                end, self.i = k, k + 1
                break
            k += 1
        if out is not None:
            out += s[seg:end].encode()
            return out.decode("utf-8", "surrogateescape")
        word = s[start:end]
        flag = _BOOLS.get(word.lower())
        if flag is not None:
            return flag
        if word.startswith("$"):
            return self._lookup(word[1:], start)
        return word

    def _read_number(self) -> Any:
        start = k = self.i
        while self._peek(k) in _DIGITS:
            k += 1
        c = self._peek(k)
        if c == "-":
            if k - start != 4:
                raise self._error("All ISO8601 dates must be in full Zulu form.", k + 1)
            return self._read_datetime(start, k + 1)
        if c == ".":
            return self._read_float(start, k)
        if c in _SIZE_LETTERS:
            return self._read_sized(start, k)
        if c == "" or c in _NUMBER_END:
            self.i = k
            return self._integer(start, k)
        # Anything else makes it a word that merely starts with digits: "1h", "10s", "4a".
        return self._read_unquoted(start, k + 1)

    def _read_negative(self) -> Any:
        start = self.i
        k = start + 1
        c = self._peek(k)
        if c not in _DIGITS:
            if c == ".":
                raise self._error("Floats must start with a digit, not '.'.", k + 1)
            raise self._error(f"Expected a digit but got '{self._describe(c)}'.", k + 1)
        while self._peek(k) in _DIGITS:
            k += 1
        c = self._peek(k)
        if c == ".":
            return self._read_float(start, k)
        if c in _SIZE_LETTERS:
            return self._read_sized(start, k)
        # Unlike positive numbers, whatever follows is left to the value-end check.
        self.i = k
        return self._integer(start, k)

    def _read_sized(self, start: int, k: int) -> Any:
        k += 1
        while self._peek(k) in _SIZE_TAIL:
            k += 1
        c = self._peek(k)
        if c == "" or c in _SIZED_END:
            self.i = k
            return self._integer(start, k)
        # "100ms", "2m30s" are words; so is "1k" right before ']' (Go does that, keep it).
        return self._read_unquoted(start, k)

    def _read_float(self, start: int, dot: int) -> Any:
        k = dot + 1
        c = self._peek(k)
        if c not in _DIGITS:
            raise self._error(
                f"Floats must have a digit after the '.', but got '{self._describe(c)}' instead.", k + 1
            )
        while self._peek(k) in _DIGITS:
            k += 1
        if self._peek(k) == ".":
            # A second dot: an IP address such as 127.0.0.1:4222, kept as a string.
            k += 1
            while k < self.n and (self.s[k] in _DIGITS or self.s[k] in ".:-"):
                k += 1
            self.i = k
            return self.s[start:k]
        self.i = k
        text = self.s[start:k]
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise self._error(f"float '{text}' is out of the range", k)
        return value

    def _integer(self, start: int, end: int) -> int:
        text = self.s[start:end]
        digits = len(text) - len(text.lstrip("-0123456789"))
        num = int(text[:digits])
        suffix = text[digits:].lower()
        if suffix not in _SIZE_MULT:
            raise self._error(f"unknown size suffix '{text[digits:]}' in '{text}'", end)
        value = num * _SIZE_MULT[suffix]
        if not (_INT64_MIN <= num <= _INT64_MAX and _INT64_MIN <= value <= _INT64_MAX):
            raise self._error(f"integer '{text}' is out of the range", end)
        return value

    def _read_datetime(self, start: int, k: int) -> datetime:
        # "YYYY-" is consumed; the rest must be exactly "MM-DDTHH:MM:SSZ".
        for want in "00-00T00:00:00Z":
            c = self._peek(k)
            if want == "0":
                if c not in _DIGITS:
                    raise self._error(
                        f"Expected digit in ISO8601 datetime, but found '{self._describe(c)}' instead.", k + 1
                    )
            elif c != want:
                raise self._error(
                    f"Expected '{want}' in ISO8601 datetime, but found '{self._describe(c)}' instead.", k + 1
                )
            k += 1
        self.i = k
        text = self.s[start:k]
        try:
            return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise self._error(f"expected Zulu formatted DateTime, but got '{text}'", k) from None

    def _read_block(self) -> str:
        # "( ... )": raw text up to a ')' alone on its own line; the text keeps the
        # newline after '(' and the one before ')', as Go's does.
        body = self.i + 1
        k = body
        while True:
            close = self.s.find("\n)", k)
            if close < 0:
                raise self._error("Unexpected EOF processing block.", self.n)
            after = self._peek(close + 2)
            if after == "" or after in _NL:
                self.i = close + 2
                return self.s[body : close + 1]
            k = close + 1

    # ---- variables --------------------------------------------------------------------

    def _lookup(self, name: str, at: int) -> Any:
        line = self._line(at)
        if name.startswith("2a$"):
            # An unquoted bcrypt hash ("$2a$11$...") is not a variable.
            return "$" + name
        for scope in reversed(self.scopes):
            if name in scope:
                scope.used.add(name)
                return scope[name]
        if name in self.env_refs:
            raise self._error(
                f"variable reference for '{name}' on line {line} could not be parsed: "
                f"variable reference cycle for '{name}'",
                at,
            )
        raw = os.environ.get(name)
        if raw is None:
            raise self._error(f"variable reference for '{name}' on line {line} can not be found", at)
        # Environment values are parsed as config values: "4222" is an int, "[a, b]" a list.
        self.env_refs.add(name)
        try:
            parsed = _Parser(f"pk={raw}", None, self.env_refs, self.chain).parse_document()
        except ConfigError as e:
            raise self._error(
                f"variable reference for '{name}' on line {line} could not be parsed: {e.reason}", at
            ) from None
        finally:
            self.env_refs.discard(name)
        return parsed.get("pk")


def parse(text: str, *, path: str | None = None) -> ConfigMap:
    """Parse config text. ``path`` names the file for messages and anchors includes
    (without it, includes are relative to the working directory, as in Go)."""
    chain = (os.path.realpath(path),) if path else ()
    return _Parser(text, path, set(), chain).parse_document()


def parse_file(path: str | os.PathLike[str]) -> ConfigMap:
    """Read and parse a config file."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"error opening config file: {e}") from None
    return parse(text, path=path)


# ---- durations and sizes (server/opts.go parseDuration, Go time.ParseDuration) ----------

_NS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


def _go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds."""
    quoted = '"' + text + '"'
    rest = text
    sign = 1
    if rest[:1] in ("-", "+"):
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0
    while rest:
        m = _DURATION_PART.match(rest)
        assert m is not None  # the pattern matches the empty string
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            raise ValueError(f"time: invalid duration {quoted}")
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _NS_PER_UNIT:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        scale = _NS_PER_UNIT[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        if total > _INT64_MAX:
            raise ValueError(f"time: invalid duration {quoted}")
        rest = rest[m.end() :]
    return sign * total


def parse_duration(value: Any) -> int:
    """A config duration in nanoseconds: a Go duration string ("2m", "1h30m", "1.5s",
    "250ms") or a plain number meaning seconds (the old style opts.go still accepts)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got boolean {value}")
    if isinstance(value, int):
        return value * 1_000_000_000
    if isinstance(value, float):
        return int(value * 1_000_000_000)
    if isinstance(value, str):
        return _go_duration(value)
    raise ValueError(f"expected a duration, got {type(value).__name__}")


_SIZE_TEXT = re.compile(r"\s*(-?\d+)\s*([A-Za-z]*)\s*")


def parse_size(value: Any) -> int:
    """A size in bytes: an int, or a string with the config format's suffixes
    ("1MB" = 1048576, "1M" = 1000000, "64KiB", "512")."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got boolean {value}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        m = _SIZE_TEXT.fullmatch(value)
        if m and m.group(2).lower() in _SIZE_MULT:
            return int(m.group(1)) * _SIZE_MULT[m.group(2).lower()]
        raise ValueError(f"invalid size {value!r}")
    raise ValueError(f"expected a size, got {type(value).__name__}")
