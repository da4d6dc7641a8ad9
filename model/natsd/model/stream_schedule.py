"""Reference model of message schedules (Nats-Schedule), used by natsd.model.stream.

Theory of operation
-------------------
A schedule is a stored message with a Nats-Schedule pattern: ``@at <RFC3339>``
fires once, ``@every <duration>`` (at least 1s) and cron (six fields ``sec
min hour day-of-month month day-of-week``, or @yearly/@annually/@monthly/
@weekly/@daily/@midnight/@hourly, in the zone of Nats-Schedule-Time-Zone)
repeat. Each stream with allow_msg_schedules keeps ``Stream.schedules``:
subject -> ``[seq, due, in_flight]``, changed only here:

- :func:`check` runs the publish checks of a client message in Go's order
  (server/stream.go ``processJetStreamMsgWithBatch``);
- :func:`stored` follows every stored message (Go's store hook): a schedule
  replaces its subject's entry, a plain message (no Nats-Scheduler) drops it,
  a produced message with a Nats-Schedule-Next time moves its scheduler's
  entry there and ends the flight;
- :func:`after_store` purges the schedule named by ``Nats-Scheduler`` when a
  stored message says ``Nats-Schedule-Next: purge``;
- :func:`fire` (the model's ``settle``) produces every due schedule's
  message in sequence order on its target (Go ``getScheduledMessages``):
  the schedule's (or Nats-Schedule-Source's last message's) body and headers
  minus Nats-Schedule*, Nats-Expected-*, Nats-Msg-Id, Nats-TTL and
  Nats-Rollup, plus Nats-Scheduler, Nats-Schedule-Next (the next time, or
  ``purge``) and Nats-TTL / Nats-Rollup from the schedule. A schedule whose
  message is gone or unreadable is dropped; one whose message could not be
  stored stays in flight (it never fires again, as in Go).

Times are integer ns; ``now`` is the model's clock. Coverage: the functions
add the stream.schedule.* rule ids they go through.

This module imports nothing from the implementation but ``natsd.api``.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import TYPE_CHECKING

from natsd.api import errors as E
from natsd.model.stream_state import Msg, Stream, _parse_ttl, _valid_literal
from natsd.model.streamcfg import subject_collide, transform

if TYPE_CHECKING:
    from natsd.model.stream import StreamModel

__all__ = ["after_store", "check", "fire", "is_schedule", "next_fire", "stored"]

SEC = 10**9
UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

_NAMED = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": SEC, "m": 60 * SEC, "h": 3600 * SEC}
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?(Z|[+-]\d\d:\d\d)\Z")


# --------------------------------------------------------------- headers


def _get(hdr: bytes, key: str) -> str | None:
    """The first value of ``key`` in a header block (None when absent)."""
    for line in hdr.split(b"\r\n")[1:]:
        k, sep, v = line.partition(b":")
        if sep and k.decode("latin-1") == key:
            return v.decode("latin-1").strip()
    return None


def _text(hdr: bytes, key: str) -> str:
    return _get(hdr, key) or ""


def is_schedule(hdr: bytes) -> bool:
    """Does a stored message carry a (non-empty) Nats-Schedule?"""
    return bool(_text(hdr, "Nats-Schedule"))


def _append(hdr: bytes, key: str, value: str) -> bytes:
    return (hdr[:-2] if hdr else b"NATS/1.0\r\n") + f"{key}: {value}\r\n\r\n".encode()


# ------------------------------------------------------------------ times


def _parse_time(text: str) -> int | None:
    """An RFC3339 time -> ns (None when malformed)."""
    m = _RFC3339.match(text)
    if not m:
        return None
    try:
        tz = UTC if m.group(8) == "Z" else dt.datetime.strptime(m.group(8).replace(":", ""), "%z").tzinfo
        t = dt.datetime(*(int(m.group(i)) for i in range(1, 7)), tzinfo=tz)
    except ValueError:
        return None
    frac = int((m.group(7) or ".")[1:].ljust(9, "0"))
    return _ns(t) + frac


def _ns(t: dt.datetime) -> int:
    d = t - EPOCH
    return (d.days * 86400 + d.seconds) * SEC + d.microseconds * 1000


def _duration(text: str) -> int | None:
    """A Go duration made of whole numbers and units ("1h", "1m30s", "500ms")."""
    parts = re.findall(r"(\d+)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(n) * _UNITS[u] for n, u in parts)


def _round(ns: int) -> int:
    return (ns + SEC // 2) // SEC * SEC


def _show(ns: int, tz: dt.tzinfo) -> str:
    """Go RFC3339Nano of a whole-second time in zone ``tz`` ("Z" at offset 0)."""
    t = (EPOCH + dt.timedelta(seconds=ns // SEC)).astimezone(tz)
    off = t.utcoffset() or dt.timedelta(0)
    if not off:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    return t.isoformat()


# ------------------------------------------------------------------- cron


def _field(text: str, lo: int, hi: int, names: list[str]) -> tuple[set[int], bool] | None:
    """The values a cron field allows and whether it is a plain '*' (None: invalid)."""

    def num(s: str) -> int | None:
        if s.lower() in names:
            return names.index(s.lower()) + (1 if len(names) == 12 else 0)
        return int(s) if re.fullmatch(r"\+?\d+", s) else None

    values: set[int] = set()
    star = False
    for part in [p for p in text.split(",") if p]:
        rng, _, step_text = part.partition("/")
        if step_text.count("/") or ("/" in part and not step_text):
            return None
        ends = rng.split("-")
        if rng in ("*", "?"):
            a, b = lo, hi
        elif len(ends) in (1, 2) and all(num(e) is not None for e in ends):
            a, b = num(ends[0]), num(ends[-1])
        else:
            return None
        step = 1
        if "/" in part:
            step = num(step_text) if num(step_text) is not None else -1
            if len(ends) == 1:
                b = hi
        if step <= 0 or a < lo or b > hi or a > b:
            return None
        values |= set(range(a, b + 1, step))
        star = star or (rng in ("*", "?") and step <= 1)
    return values, star


def _cron(pattern: str, tz: dt.tzinfo, ts: int) -> int | None:
    """The first second after ``ts``'s whole second that the cron pattern
    matches in ``tz``, searched day by day for five years (None: invalid)."""
    fields = pattern.split()
    if len(fields) != 6:
        return None
    limits = [(0, 59, []), (0, 59, []), (0, 23, []), (1, 31, []), (1, 12, _MONTH_NAMES), (0, 6, _DAY_NAMES)]
    parsed = [_field(f, lo, hi, names) for f, (lo, hi, names) in zip(fields, limits, strict=True)]
    if any(p is None for p in parsed):
        return None
    (secs, _), (mins, _), (hours, _), (doms, dom_star), (months, _), (dows, dow_star) = parsed
    start = (ts // SEC + 1) * SEC
    day = (EPOCH + dt.timedelta(seconds=start // SEC)).astimezone(tz).date()
    end_year = day.year + 5
    while day.year <= end_year:
        dom_ok, dow_ok = day.day in doms, day.isoweekday() % 7 in dows
        day_ok = (dom_ok and dow_ok) if (dom_star or dow_star) else (dom_ok or dow_ok)
        if day.month in months and day_ok:
            for h in sorted(hours):
                for m in sorted(mins):
                    for s in sorted(secs):
                        t = _ns(dt.datetime(day.year, day.month, day.day, h, m, s, tzinfo=tz))
                        if t >= start:
                            return t
        day += dt.timedelta(days=1)
    return None


# ------------------------------------------------------------- schedules


def _zone(hdr: bytes) -> tuple[dt.tzinfo | None, bool]:
    """(zone of Nats-Schedule-Time-Zone or None, valid?)"""
    name = _get(hdr, "Nats-Schedule-Time-Zone")
    if name is None:
        return None, True
    if name in ("UTC", "Local"):
        return UTC, True
    try:
        return zoneinfo.ZoneInfo(name), bool(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None, False


def next_fire(pattern: str, tz: dt.tzinfo | None, ts: int, now: int) -> tuple[int, bool] | None:
    """stream.schedule.pattern: (when the schedule fires, repeats?) counted from
    ``ts``; a repeating schedule that would fire before ``now`` fires once, after
    now instead. None when the pattern is invalid; (0, False) for no pattern."""
    if not pattern:
        return 0, False
    if pattern.startswith("@at "):
        t = _parse_time(pattern[4:])
        return None if tz is not None or t is None else (t, False)
    if pattern.startswith("@every "):
        every = _duration(pattern[7:])
        if tz is not None or every is None or every < SEC:
            return None
        t = _round(ts) + every
        return (t if t >= now else _round(now) + every), True
    cron = _NAMED.get(pattern, pattern)
    t = _cron(cron, tz or UTC, ts)
    if t is not None and t < now:
        t = _cron(cron, tz or UTC, _round(now))
    return None if t is None else (t, True)


def _valid_ttl(text: str) -> bool:
    return not text or _parse_ttl(text) is not None


def check(model: StreamModel, st: Stream, subject: str, hdr: bytes) -> tuple[bytes, E.ApiError | None]:
    """The Nats-Schedule checks of a client publish, in Go's order; a valid
    schedule's header block gains ``Nats-Rollup: sub`` (stream.schedule.store)."""
    allow = bool(st.config.get("allow_msg_schedules"))
    tz, tz_ok = _zone(hdr)
    if not tz_ok:
        model._cover("stream.schedule.options")
        return hdr, (E.message_schedules_time_zone_invalid() if allow else E.message_schedules_disabled())
    pattern = _text(hdr, "Nats-Schedule")
    got = next_fire(pattern, tz, model.now, model.now)
    if got is None:
        model._cover("stream.schedule.pattern")
        return hdr, (E.message_schedules_pattern_invalid() if allow else E.message_schedules_disabled())
    if got[0] == 0:
        return hdr, None
    if not allow:
        model._cover("stream.schedule.disabled")
        return hdr, E.message_schedules_disabled()
    model._cover("stream.schedule.pattern")
    ttl, rollup = _text(hdr, "Nats-Schedule-TTL"), _text(hdr, "Nats-Schedule-Rollup")
    target, source = _text(hdr, "Nats-Schedule-Target"), _text(hdr, "Nats-Schedule-Source")
    subjects = st.config.get("subjects") or [st.name]
    if not _valid_ttl(ttl):
        model._cover("stream.schedule.options")
        return hdr, E.message_schedules_ttl_invalid()
    if rollup not in ("", "sub"):
        model._cover("stream.schedule.options")
        return hdr, E.message_schedules_rollup_invalid()
    if ttl and not st.config.get("allow_msg_ttl"):
        model._cover("stream.schedule.options")
        return hdr, E.message_ttl_disabled()
    model._cover("stream.schedule.target")
    if not _valid_literal(target) or target == subject:
        return hdr, E.message_schedules_target_invalid()
    if source and (source in (target, subject) or not _valid_literal(source)):
        model._cover("stream.schedule.options")
        return hdr, E.message_schedules_source_invalid()
    if not any(subject_collide(s, target) for s in subjects):
        return hdr, E.message_schedules_target_invalid()
    if source and not any(subject_collide(s, source) for s in subjects):
        model._cover("stream.schedule.options")
        return hdr, E.message_schedules_source_invalid()
    model._cover("stream.schedule.store")
    own = _text(hdr, "Nats-Rollup").lower()
    if not own:
        return _append(hdr, "Nats-Rollup", "sub"), None
    return hdr, (None if own == "sub" else E.message_schedules_rollup_invalid())


def stored(model: StreamModel, st: Stream, msg: Msg) -> None:
    """After a store: the schedule table follows the stored message."""
    if not st.config.get("allow_msg_schedules"):
        return
    tz, tz_ok = _zone(msg.hdr)
    got = next_fire(_text(msg.hdr, "Nats-Schedule"), tz, msg.ts, model.now) if tz_ok else None
    if got is not None and got[0]:
        st.schedules[msg.subject] = [msg.seq, got[0], False]
    elif not _text(msg.hdr, "Nats-Scheduler"):
        st.schedules.pop(msg.subject, None)
    nxt, scheduler = _text(msg.hdr, "Nats-Schedule-Next"), _text(msg.hdr, "Nats-Scheduler")
    if nxt and nxt != "purge" and scheduler in st.schedules and _parse_time(nxt) is not None:
        st.schedules[scheduler][1:] = [_parse_time(nxt), False]


def after_store(model: StreamModel, st: Stream, hdr: bytes) -> None:
    """stream.schedule.purge: ``Nats-Schedule-Next: purge`` purges the subject
    named by Nats-Scheduler (Go processJetStreamMsgWithRollup)."""
    scheduler = _text(hdr, "Nats-Scheduler")
    if _text(hdr, "Nats-Schedule-Next") == "purge" and scheduler:
        model._cover("stream.schedule.purge")
        model._purge_ex(st, scheduler, 0, 0)


def _strip(hdr: bytes) -> bytes:
    kept = [
        ln
        for ln in hdr.split(b"\r\n")[1:-2]
        if not ln.startswith(
            (b"Nats-Schedule", b"Nats-Expected-", b"Nats-Msg-Id:", b"Nats-TTL:", b"Nats-Rollup:")
        )
    ]
    return b"NATS/1.0\r\n" + b"".join(ln + b"\r\n" for ln in kept) + b"\r\n" if kept else b""


def fire(model: StreamModel, st: Stream) -> None:
    """stream.schedule.fire: produce the messages of the schedules due now."""
    if not st.config.get("allow_msg_schedules"):
        return
    produced = []
    for subject, entry in list(st.schedules.items()):
        seq, due, in_flight = entry
        if due > model.now or in_flight:
            continue
        msg = next((m for m in st.msgs if m.seq == seq), None)
        tz, tz_ok = _zone(msg.hdr) if msg is not None else (None, False)
        pattern = _text(msg.hdr, "Nats-Schedule") if msg is not None else ""
        got = next_fire(pattern, tz, due, model.now) if pattern and tz_ok else None
        ttl = _text(msg.hdr, "Nats-Schedule-TTL") if msg is not None else ""
        target = _text(msg.hdr, "Nats-Schedule-Target") if msg is not None else ""
        if got is None or not _valid_ttl(ttl) or not target:
            del st.schedules[subject]
            continue
        body = msg
        source = _text(msg.hdr, "Nats-Schedule-Source")
        if source:
            body = st.last_matching(source) or msg
        hdr = _strip(body.hdr)
        hdr = _append(hdr, "Nats-Scheduler", subject)
        hdr = _append(hdr, "Nats-Schedule-Next", _show(got[0], tz or UTC) if got[1] else "purge")
        if ttl:
            hdr = _append(hdr, "Nats-TTL", ttl)
        rollup = _text(msg.hdr, "Nats-Schedule-Rollup")
        if rollup:
            hdr = _append(hdr, "Nats-Rollup", rollup)
        produced.append((seq, target, hdr, body.data))
        entry[2] = True
    for _, target, hdr, data in sorted(produced):
        model._cover("stream.schedule.fire")
        _store_produced(model, st, target, hdr, data)


def _store_produced(model: StreamModel, st: Stream, subject: str, hdr: bytes, data: bytes) -> None:
    """Store a produced message as the server stores its own messages (Go
    processJetStreamMsg with sourced: no client header checks); when it cannot
    be stored it is dropped."""
    tr = st.config.get("subject_transform")
    if tr:
        subject = transform(tr.get("src") or ">", tr["dest"], subject) or subject
    max_size = st.limit("max_msg_size")
    if st.config["sealed"] or (max_size >= 0 and len(hdr) + len(data) > max_size) or len(hdr) > 65535:
        return
    if model._file_store_full(st):
        return  # Go js.limitsExceeded, before the interest skip: 10023, the schedule stays in flight
    rollup = _text(hdr, "Nats-Rollup").lower()
    probe = getattr(model, "_interested", None)
    interested = probe(st, subject) if probe is not None else bool(getattr(model, "consumers", None))
    if st.config["retention"] == "interest" and not interested:
        model._skip_no_interest(st, subject, "", rollup)
        after_store(model, st, hdr)
        return
    ttl = _parse_ttl(_text(hdr, "Nats-TTL"))
    msg = model._new_msg(st, subject, hdr, data, ttl or 0)
    if model._discard_new(st, msg, bool(rollup)):
        return
    model._accept(st, msg, "", rollup)
