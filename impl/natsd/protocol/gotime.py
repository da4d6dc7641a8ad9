"""Go's time formats, as the Go server writes and reads them.

``go_duration`` is ``time.Duration.String()`` ("1.5ms", "2m0s"),
``parse_go_duration`` is ``time.ParseDuration``, ``rfc3339nano`` and
``parse_rfc3339`` are ``time.RFC3339Nano`` of UTC times in integer
nanoseconds (0 is Go's zero time). One home for them: JetStream headers,
replies and the monitoring endpoints all use these.
"""

from __future__ import annotations

import datetime as _dt
import re
import time

__all__ = ["ZERO_TIME", "go_duration", "parse_go_duration", "parse_rfc3339", "rfc3339nano"]

_I64 = 1 << 63  # Go durations are int64 nanoseconds

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # U+00B5 micro sign
    "\u03bcs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_go_duration(s: str) -> int:
    """Go time.ParseDuration: "1h2m3.5s", "-1.5ms", "0" -> int ns; ValueError when invalid."""
    orig = s
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    d = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise ValueError(f'time: invalid duration "{orig}"')
        i = 0
        v = 0
        while i < len(s) and "0" <= s[i] <= "9":
            v = v * 10 + ord(s[i]) - 48
            if v > _I64:
                raise ValueError(f'time: invalid duration "{orig}"')
            i += 1
        pre = i > 0
        s = s[i:]
        f, scale, post = 0, 1.0, False
        if s and s[0] == ".":
            s = s[1:]
            i = 0
            overflow = False
            while i < len(s) and "0" <= s[i] <= "9":
                if not overflow:
                    if f > (_I64 - 1) // 10:
                        overflow = True
                    else:
                        f = f * 10 + ord(s[i]) - 48
                        scale *= 10
                i += 1
            post = i > 0
            s = s[i:]
        if not pre and not post:
            raise ValueError(f'time: invalid duration "{orig}"')
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise ValueError(f'time: missing unit in duration "{orig}"')
        u, s = s[:i], s[i:]
        unit = _UNITS.get(u)
        if unit is None:
            raise ValueError(f'time: unknown unit "{u}" in duration "{orig}"')
        if v > _I64 // unit:
            raise ValueError(f'time: invalid duration "{orig}"')
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))
            if v > _I64:
                raise ValueError(f'time: invalid duration "{orig}"')
        d += v
        if d > _I64:
            raise ValueError(f'time: invalid duration "{orig}"')
    if neg:
        return -d
    if d > _I64 - 1:
        raise ValueError(f'time: invalid duration "{orig}"')
    return d


def _frac(v: int, unit: int) -> str:
    whole, rest = divmod(v, unit)
    if not rest:
        return str(whole)
    width = len(str(unit)) - 1
    return f"{whole}.{str(rest).rjust(width, '0').rstrip('0')}"


def go_duration(ns: int) -> str:
    """Go time.Duration.String(): "0s", "1.5ms", "2m0s", "1h0m0s"."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000_000_000:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            return sign + _frac(u, 1_000) + "µs"
        return sign + _frac(u, 1_000_000) + "ms"
    h, rem = divmod(u, 3_600_000_000_000)
    m, rem = divmod(rem, 60_000_000_000)
    secs = _frac(rem, 1_000_000_000) + "s"
    if h:
        return f"{sign}{h}h{m}m{secs}"
    if m:
        return f"{sign}{m}m{secs}"
    return sign + secs


ZERO_TIME = "0001-01-01T00:00:00Z"
_NS = 1_000_000_000


def rfc3339nano(ns: int) -> str:
    """Go time.RFC3339Nano of a UTC time in int ns; 0 is Go's zero time."""
    if ns == 0:
        return ZERO_TIME
    secs, frac = divmod(ns, _NS)
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        s += "." + f"{frac:09d}".rstrip("0")
    return s + "Z"


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)


def parse_rfc3339(s: str) -> int:
    """An RFC3339 time (as Go's time.Time JSON decoding accepts) -> int ns since the epoch.

    The zero time parses to 0. ValueError when malformed.
    """
    m = _RFC3339.match(s)
    if not m:
        raise ValueError(f'parsing time "{s}" as "2006-01-02T15:04:05Z07:00": cannot parse')
    year, mon, day, hh, mm, ss = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= mon <= 12 and 1 <= day <= 31 and hh < 24 and mm < 60 and ss < 60):
        raise ValueError(f'parsing time "{s}": value out of range')
    frac = int((m.group(7) or "").ljust(9, "0") or 0)
    try:
        days = (_dt.date(year, mon, day) - _dt.date(1970, 1, 1)).days
    except ValueError as e:
        raise ValueError(f'parsing time "{s}": {e}') from None
    secs = days * 86400 + hh * 3600 + mm * 60 + ss
    if m.group(9):
        off = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        secs -= off if m.group(9) == "+" else -off
    ns = secs * _NS + frac
    if year == 1 and mon == 1 and day == 1 and not (hh or mm or ss or frac) and not m.group(9):
        return 0
    return ns
