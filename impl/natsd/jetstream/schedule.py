"""Message schedules (Nats-Schedule): parsing, the publish checks, and the scheduler.

Mirrors nats-server server/scheduler.go (``MsgScheduling``,
``getScheduledMessages``, ``parseMsgSchedule``), server/cron.go
(``parseCron``), the schedule part of server/stream.go
``processJetStreamMsgWithBatch`` (``getMessageSchedule`` and friends) and the
schedule hooks of server/memstore.go (``storeRawMsg``, ``runMsgScheduling``,
``recoverMsgSchedulingState``).

Theory of operation
-------------------
A schedule is a stored message whose Nats-Schedule header holds a pattern:
``@at <RFC3339>`` (once), ``@every <duration >= 1s>`` (repeating), a 6-field
cron ``sec min hour dom month dow`` or one of the predefined @-names (cron,
optionally in the IANA zone of Nats-Schedule-Time-Zone). It is stored with an
implicit ``Nats-Rollup: sub``, so a subject holds at most one schedule.

State (:class:`Schedules`, one per stream with allow_msg_schedules): the
schedules by subject, each the sequence of its message, its due time (ns) and
whether a produced message is in flight. Only the stream changes it:

- ``stored(seq, subject, hdr, ts, now)`` after every store: a schedule message
  adds (or replaces) its subject's entry; a plain message without
  Nats-Scheduler removes it; a produced message carrying Nats-Schedule-Next
  <time> moves its scheduler's entry to that time (and ends the flight).
- ``due(now, load, load_last)``: the messages to produce now, in schedule
  sequence order. An entry whose message is gone or no longer valid is
  dropped; an entry in flight is left alone (Go: a produced message that
  could not be stored leaves its schedule stuck until the subject gets a new
  schedule).
- ``next_deadline()``: the earliest due time.

The stream stores each produced message through ``process_msg(...,
sourced=True)`` on the target subject; a one-shot schedule's message carries
``Nats-Schedule-Next: purge`` and the stream's rollup step then purges the
schedule's subject.

Time is a parameter: every computation takes ``now`` where Go reads the wall
clock. Intended differences: a schedule fires exactly at its due time (Go's
timer fires no sooner than 250ms after it was armed); cron times that fall in
a daylight-saving gap are resolved by ``zoneinfo`` (Go normalises them its own
way); time zone "Local" is UTC.

Spec rules: stream.schedule.pattern, stream.schedule.target,
stream.schedule.options, stream.schedule.store, stream.schedule.fire,
stream.schedule.purge (its checks live in natsd.jetstream.stream).
"""

from __future__ import annotations

import datetime as _dt
import re
import zoneinfo
from collections.abc import Callable, Sequence

from natsd.api import errors as E
from natsd.api.errors import ApiError
from natsd.protocol.gotime import parse_go_duration, parse_rfc3339
from natsd.subjects.validate import is_literal, is_valid_subject

from . import headers as H
from .streamcfg import subjects_collide

__all__ = [
    "Schedules",
    "check_publish",
    "format_next",
    "next_schedule",
    "parse_schedule",
    "produced_header",
]

SCHEDULE = "Nats-Schedule"
TIME_ZONE = "Nats-Schedule-Time-Zone"
TTL = "Nats-Schedule-TTL"
ROLLUP = "Nats-Schedule-Rollup"
TARGET = "Nats-Schedule-Target"
SOURCE = "Nats-Schedule-Source"
SCHEDULER = "Nats-Scheduler"
NEXT = "Nats-Schedule-Next"
PURGE = "purge"

_SECOND = 1_000_000_000
_UTC = _dt.UTC
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)

_PREDEFINED = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}


def _text(v: bytes | None) -> str:
    return v.decode("utf-8", "surrogateescape") if v else ""


def _valid_publish_subject(s: str) -> bool:
    return bool(s) and is_valid_subject(s) and is_literal(s)


# --- cron ------------------------------------------------------------------------------------

_MONTHS = {
    n: i + 1
    for i, n in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DAYS = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
#: (lowest, highest, names) of the six fields, in order
_FIELDS = ((0, 59, None), (0, 59, None), (0, 23, None), (1, 31, None), (1, 12, _MONTHS), (0, 6, _DAYS))
_ATOI = re.compile(r"[+-]?[0-9]+\Z")


class _CronError(ValueError):
    pass


def _number(text: str, names: dict[str, int] | None) -> int:
    if names is not None and text.lower() in names:
        return names[text.lower()]
    if not _ATOI.match(text):
        raise _CronError(text)
    n = int(text)
    if n < 0:
        raise _CronError(text)
    return n


def _cron_field(text: str, lo: int, hi: int, names: dict[str, int] | None) -> tuple[frozenset[int], bool]:
    """The values one field allows, and whether it was a plain '*' (or '?')."""
    values: set[int] = set()
    star = False
    for part in (p for p in text.split(",") if p):
        range_step = part.split("/")
        if len(range_step) > 2:
            raise _CronError(part)
        bounds = range_step[0].split("-")
        if bounds[0] in ("*", "?"):
            first, last, part_star = lo, hi, True
        else:
            if len(bounds) > 2:
                raise _CronError(part)
            first = _number(bounds[0], names)
            last = _number(bounds[1], names) if len(bounds) == 2 else first
            part_star = False
        step = 1
        if len(range_step) == 2:
            step = _number(range_step[1], None)
            if len(bounds) == 1:  # "N/step" runs to the field's end
                last = hi
            if step > 1:
                part_star = False
        if first < lo or last > hi or first > last or step == 0:
            raise _CronError(part)
        values.update(range(first, last + 1, step))
        star = star or part_star
    return frozenset(values), star


def _cron_next(pattern: str, tz: _dt.tzinfo, after: int) -> int:
    """The first time (ns) strictly after the whole second of ``after`` that the
    cron pattern matches in zone ``tz``; _CronError when the pattern is invalid
    or matches nothing within five years."""
    fields = pattern.split()
    if len(fields) != 6:
        raise _CronError(pattern)
    (secs, _), (mins, _), (hours, _), (doms, dom_star), (months, _), (dows, dow_star) = (
        _cron_field(f, lo, hi, names) for f, (lo, hi, names) in zip(fields, _FIELDS, strict=True)
    )
    start = (after // _SECOND + 1) * _SECOND
    local = (_EPOCH + _dt.timedelta(microseconds=start // 1000)).astimezone(tz)
    day = local.date()
    first = (local.hour, local.minute, local.second)
    last_year = day.year + 5
    hs, ms, ss = sorted(hours), sorted(mins), sorted(secs)

    def day_matches(d: _dt.date) -> bool:
        dom_ok = d.day in doms
        dow_ok = (d.isoweekday() % 7) in dows
        return (dom_ok and dow_ok) if (dom_star or dow_star) else (dom_ok or dow_ok)

    def times(frm: tuple[int, int, int]):
        for h in hs:
            if h < frm[0]:
                continue
            for m in ms:
                if (h, m) < frm[:2]:
                    continue
                for s in ss:
                    if (h, m, s) >= frm:
                        yield h, m, s

    while day.year <= last_year:
        if day.month in months and day_matches(day):
            for h, m, s in times(first if day == local.date() else (0, 0, 0)):
                ns = _to_ns(_dt.datetime(day.year, day.month, day.day, h, m, s, tzinfo=tz))
                if ns >= start:
                    return ns
        day += _dt.timedelta(days=1)
    raise _CronError(pattern)


def _to_ns(t: _dt.datetime) -> int:
    delta = t - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _SECOND + delta.microseconds * 1000


def _round_second(ns: int) -> int:
    """Go Time.Round(time.Second) (halves away from zero)."""
    return (ns + _SECOND // 2) // _SECOND * _SECOND


# --- parsing --------------------------------------------------------------------------------


def parse_schedule(pattern: str, tz: _dt.tzinfo | None, ts: int, now: int) -> tuple[int, bool] | None:
    """Go parseMsgSchedule: (when it fires in ns, repeating?), or None when invalid.

    ``ts`` is the time the schedule counts from (its store time, or the time it
    last fired); ``now`` is Go's ``time.Now()``: a repeating schedule that
    would fire in the past skips ahead and fires once. An empty pattern is
    ``(0, False)``: not a schedule. ``tz`` is the Nats-Schedule-Time-Zone
    (cron only).
    """
    if not pattern:
        return 0, False
    if pattern.startswith("@at "):
        if tz is not None:
            return None
        try:
            return parse_rfc3339(pattern[4:]), False
        except ValueError:
            return None
    if pattern.startswith("@every "):
        if tz is not None:
            return None
        try:
            every = parse_go_duration(pattern[7:])
        except ValueError:
            return None
        if every < _SECOND:
            return None
        nxt = _round_second(ts) + every
        if nxt < now:
            nxt = _round_second(now) + every
        return nxt, True
    cron = _PREDEFINED.get(pattern, pattern)
    zone = tz or _UTC
    try:
        nxt = _cron_next(cron, zone, ts)
        if nxt < now:
            nxt = _cron_next(cron, zone, _round_second(now))
    except _CronError:
        return None
    return nxt, True


def load_location(hdr: bytes | None) -> tuple[_dt.tzinfo | None, ApiError | None]:
    """Go loadMessageScheduleLocation: the zone of Nats-Schedule-Time-Zone (None
    when absent); an empty or unknown zone is 10223."""
    raw = H.slice_header(TIME_ZONE, hdr)
    if raw is None:
        return None, None
    name = _text(raw)
    if not name:
        return None, E.message_schedules_time_zone_invalid()
    if name in ("UTC", "Local"):
        return _UTC, None
    try:
        return zoneinfo.ZoneInfo(name), None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None, E.message_schedules_time_zone_invalid()


def next_schedule(hdr: bytes | None, ts: int, now: int) -> int | ApiError:
    """Go nextMessageSchedule: when the schedule in ``hdr`` fires (0: not a schedule)."""
    if not hdr:
        return 0
    tz, err = load_location(hdr)
    if err is not None:
        return err
    got = parse_schedule(_text(H.slice_header(SCHEDULE, hdr)), tz, ts, now)
    if got is None:
        return E.message_schedules_pattern_invalid()
    return got[0]


def _schedule_ttl(hdr: bytes | None) -> str | None:
    """Go getMessageScheduleTTL: the raw Nats-Schedule-TTL ("" when absent), None when invalid."""
    ttl = _text(H.slice_header(TTL, hdr))
    if not ttl:
        return ""
    try:
        H.parse_message_ttl(ttl)
    except H.TTLInvalid:
        return None
    return ttl


def check_publish(
    hdr: bytes, subject: str, stream_subjects: Sequence[str], allow: bool, allow_ttl: bool, now: int
) -> tuple[bytes, ApiError | None]:
    """The Nats-Schedule checks of a client publish (Go processJetStreamMsgWithBatch),
    in Go's order: the header block to store (a schedule gains ``Nats-Rollup: sub``)
    and the first error. Not a schedule: ``hdr`` unchanged, no error."""
    due = next_schedule(hdr, now, now)
    if isinstance(due, ApiError):
        return hdr, (due if allow else E.message_schedules_disabled())
    if due == 0:
        return hdr, None
    if not allow:
        return hdr, E.message_schedules_disabled()
    ttl = _schedule_ttl(hdr)
    if ttl is None:
        return hdr, E.message_schedules_ttl_invalid()
    rollup = _text(H.slice_header(ROLLUP, hdr))
    if rollup and rollup != "sub":
        return hdr, E.message_schedules_rollup_invalid()
    if ttl and not allow_ttl:
        return hdr, E.message_ttl_disabled()
    target = _text(H.slice_header(TARGET, hdr))
    if not _valid_publish_subject(target) or target == subject:
        return hdr, E.message_schedules_target_invalid()
    source = _text(H.slice_header(SOURCE, hdr))
    if source and (source == target or source == subject or not _valid_publish_subject(source)):
        return hdr, E.message_schedules_source_invalid()
    if not any(subjects_collide(s, target) for s in stream_subjects):
        return hdr, E.message_schedules_target_invalid()
    if source and not any(subjects_collide(s, source) for s in stream_subjects):
        return hdr, E.message_schedules_source_invalid()
    r = H.rollup(hdr)
    if not r:
        return H.gen_header(hdr, H.ROLLUP, "sub"), None
    if r != "sub":
        return hdr, E.message_schedules_rollup_invalid()
    return hdr, None


# --- produced messages ---------------------------------------------------------------------


def format_next(ns: int, tz: _dt.tzinfo | None) -> str:
    """Go Time.Format(time.RFC3339Nano) of ``ns`` in zone ``tz`` (UTC when None)."""
    t = (_EPOCH + _dt.timedelta(microseconds=ns // 1000)).astimezone(tz or _UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    frac = ns % _SECOND
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    off = t.utcoffset() or _dt.timedelta(0)
    if not off:
        return text + "Z"
    mins = int(off.total_seconds()) // 60
    sign = "+" if mins >= 0 else "-"
    mins = abs(mins)
    return f"{text}{sign}{mins // 60:02d}:{mins % 60:02d}"


def _remove_prefixed(hdr: bytes | None, prefix: bytes) -> bytes | None:
    """Go removeHeaderIfPrefixPresent: drop every line whose key starts with ``prefix``."""
    if hdr is None:
        return None
    lines = hdr.split(b"\r\n")
    kept = [lines[0]] + [ln for ln in lines[1:] if not ln.startswith(prefix)]
    out = b"\r\n".join(kept)
    return out if len(out) > len(H.EMPTY_HDR) else None


def produced_header(hdr: bytes | None, scheduler: str, next_text: str, ttl: str, rollup: str) -> bytes:
    """The header block of a produced message: ``hdr`` (the schedule's, or the
    source message's) without Nats-Schedule*, Nats-Expected-*, Nats-Msg-Id,
    Nats-TTL and Nats-Rollup, then Nats-Scheduler, Nats-Schedule-Next and the
    schedule's TTL and rollup."""
    hdr = _remove_prefixed(hdr, SCHEDULE.encode())
    hdr = _remove_prefixed(hdr, b"Nats-Expected-")
    for key in (H.MSG_ID, H.MSG_TTL, H.ROLLUP):
        hdr = H.remove_header(hdr, key)
    out = H.gen_header(hdr, SCHEDULER, scheduler)
    out = H.gen_header(out, NEXT, next_text)
    if ttl:
        out = H.gen_header(out, H.MSG_TTL, ttl)
    if rollup:
        out = H.gen_header(out, H.ROLLUP, rollup)
    return out


class _Entry:
    __slots__ = ("seq", "due", "inflight")

    def __init__(self, seq: int, due: int) -> None:
        self.seq, self.due, self.inflight = seq, due, False


#: (schedule seq, target subject, header block, payload) of a message to produce
Produced = tuple[int, str, bytes, bytes]


class Schedules:
    """The schedules of one stream. See the module docstring."""

    def __init__(self) -> None:
        self._by_subject: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._by_subject)

    def entries(self) -> dict[str, tuple[int, int]]:
        """subject -> (sequence, due ns), for tests and the oracle."""
        return {s: (e.seq, e.due) for s, e in self._by_subject.items()}

    def recover(self, msgs, now: int) -> None:
        """Go recoverMsgSchedulingState: every stored schedule, oldest first
        (``msgs`` yields (seq, subject, hdr, ts))."""
        for seq, subject, hdr, ts in msgs:
            due = next_schedule(hdr, ts, now) if hdr else 0
            if isinstance(due, int) and due:
                self._by_subject[subject] = _Entry(seq, due)

    def stored(self, seq: int, subject: str, hdr: bytes | None, ts: int, now: int) -> None:
        """The store hook (Go memstore storeRawMsg)."""
        due = next_schedule(hdr, ts, now)
        if isinstance(due, int) and due:
            self._by_subject[subject] = _Entry(seq, due)
        elif not H.slice_header(SCHEDULER, hdr):
            self._by_subject.pop(subject, None)
        nxt = _text(H.slice_header(NEXT, hdr))
        if nxt and nxt != PURGE:
            scheduler = _text(H.slice_header(SCHEDULER, hdr))
            entry = self._by_subject.get(scheduler) if scheduler else None
            if entry is not None:
                try:
                    entry.due = parse_rfc3339(nxt)
                except ValueError:
                    return
                entry.inflight = False

    def next_deadline(self) -> int | None:
        return min((e.due for e in self._by_subject.values() if not e.inflight), default=None)

    def due(
        self,
        now: int,
        load: Callable[[int], tuple[str, bytes | None, bytes] | None],
        load_last: Callable[[str], tuple[bytes | None, bytes] | None],
    ) -> list[Produced]:
        """Go getScheduledMessages: the messages due at ``now``, in schedule
        sequence order; each one's schedule is then in flight. ``load(seq)``
        gives (subject, hdr, data) of a stored message or None, ``load_last``
        the (hdr, data) of a subject's last message or None."""
        out: list[Produced] = []
        for subject, entry in list(self._by_subject.items()):
            if entry.due > now or entry.inflight:
                continue
            got = load(entry.seq)
            if got is None:
                del self._by_subject[subject]
                continue
            _, hdr, data = got
            pattern = _text(H.slice_header(SCHEDULE, hdr))
            tz, err = load_location(hdr)
            parsed = parse_schedule(pattern, tz, entry.due, now) if pattern and err is None else None
            ttl = _schedule_ttl(hdr)
            target = _text(H.slice_header(TARGET, hdr))
            if parsed is None or ttl is None or not target:
                del self._by_subject[subject]
                continue
            nxt, repeat = parsed
            rollup = _text(H.slice_header(ROLLUP, hdr))
            source = _text(H.slice_header(SOURCE, hdr))
            if source:
                last = load_last(source)
                if last is not None:
                    hdr, data = last
            next_text = format_next(nxt, tz) if repeat else PURGE
            out.append((entry.seq, target, produced_header(hdr, subject, next_text, ttl, rollup), data))
            entry.inflight = True
        out.sort(key=lambda p: p[0])
        return out
