"""Message schedules on the sans-IO stream core (natsd.jetstream.schedule): time is
a parameter, so due times, skipped runs and cron patterns are shown exactly."""

from __future__ import annotations

import zoneinfo

import msgspec
import pytest

from natsd.api._types import StreamConfig
from natsd.jetstream import headers as H
from natsd.jetstream.schedule import format_next, parse_schedule
from natsd.jetstream.stream import Stream
from natsd.jetstream.streamcfg import check_config
from natsd.protocol.gotime import parse_rfc3339

S = 1_000_000_000
T0 = parse_rfc3339("2026-03-10T12:00:00.400Z")  # a Tuesday


def _stream(**cfg) -> Stream:
    conf = {"name": "S", "subjects": ["a.*", "b"], "storage": "memory", "allow_msg_schedules": True, **cfg}
    return Stream(check_config(msgspec.convert(conf, StreamConfig), create=True), created=T0)


def _hdr(*kv: str) -> bytes:
    pairs = zip(kv[::2], kv[1::2], strict=True)
    return ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode()


def _on(s: Stream, subject: str) -> list[tuple[int, bytes | None, bytes]]:
    out = []
    st = s.store.fast_state()
    for seq in range(st.first_seq, st.last_seq + 1):
        try:
            m = s.store.load_msg(seq)
        except Exception:
            continue
        if m.subject == subject:
            out.append((m.ts, m.hdr, m.data))
    return out


@pytest.mark.parametrize(
    ("pattern", "zone", "want"),
    [
        ("@at 2026-03-10T13:00:00+01:00", None, ("2026-03-10T12:00:00Z", False)),
        ("@every 1m", None, ("2026-03-10T12:01:00Z", True)),  # from the store time rounded to the second
        ("@hourly", None, ("2026-03-10T13:00:00Z", True)),
        ("@weekly", None, ("2026-03-15T00:00:00Z", True)),  # Sunday midnight
        ("0 30 9 * * mon-fri", "Europe/Paris", ("2026-03-11T09:30:00+01:00", True)),
        ("0 0 0 29 2 *", None, ("2028-02-29T00:00:00Z", True)),
        ("*/20 * * * * *", None, ("2026-03-10T12:00:20Z", True)),
        ("0 0 0 1,15 * 3", None, ("2026-03-11T00:00:00Z", True)),  # day of month OR day of week
    ],
)
def test_patterns_give_gos_next_time(pattern, zone, want):
    tz = zoneinfo.ZoneInfo(zone) if zone else None
    got = parse_schedule(pattern, tz, T0, T0)
    assert got is not None
    assert (format_next(got[0], tz), got[1]) == want


@pytest.mark.parametrize(
    "pattern",
    [
        "@every 999ms",
        "@every -1s",
        "@at tomorrow",
        "@at",
        "0 0 0 30 2 *",
        "61 * * * * *",
        "* * * * *",
        "* * * * * 7",
        "5-1 * * * * *",
        "*/0 * * * * *",
        "@often",
    ],
)
def test_invalid_patterns(pattern):
    assert parse_schedule(pattern, None, T0, T0) is None


def test_at_and_every_take_no_time_zone():
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    assert parse_schedule("@at 2026-03-10T13:00:00Z", paris, T0, T0) is None
    assert parse_schedule("@every 1s", paris, T0, T0) is None
    assert parse_schedule("@daily", paris, T0, T0) == (parse_rfc3339("2026-03-10T23:00:00Z"), True)


def test_every_fires_when_due_and_names_the_next_time():
    s = _stream()
    ack = s.process_msg("a.1", _hdr("Nats-Schedule", "@every 10s", "Nats-Schedule-Target", "b"), b"x", T0)
    assert ack.seq == 1
    due = parse_rfc3339("2026-03-10T12:00:10Z")
    assert s.next_deadline() == due
    s.expire(due - 1)
    assert _on(s, "b") == []
    s.expire(due)
    assert _on(s, "b") == [
        (due, _hdr("Nats-Scheduler", "a.1", "Nats-Schedule-Next", "2026-03-10T12:00:20Z"), b"x")
    ]
    assert s.next_deadline() == due + 10 * S
    # an hour later: the missed runs are skipped, it fires once and counts from now
    late = due + 3600 * S + 300_000_000
    s.expire(late)
    produced = _on(s, "b")
    assert len(produced) == 2
    assert H.slice_header("Nats-Schedule-Next", produced[1][1]) == b"2026-03-10T13:00:20Z"


def test_a_one_shot_schedule_purges_itself_when_it_fires():
    s = _stream()
    s.process_msg(
        "a.1", _hdr("Nats-Schedule", "@at 2026-03-10T12:05:00Z", "Nats-Schedule-Target", "b"), b"x", T0
    )
    s.expire(T0 + 600 * S)
    assert _on(s, "a.1") == []
    assert [h for _, h, _ in _on(s, "b")] == [_hdr("Nats-Scheduler", "a.1", "Nats-Schedule-Next", "purge")]
    assert s.next_deadline() is None


def test_a_plain_message_on_the_schedule_subject_cancels_it():
    s = _stream()
    s.process_msg("a.1", _hdr("Nats-Schedule", "@every 1s", "Nats-Schedule-Target", "b"), b"x", T0)
    s.process_msg("a.1", None, b"plain", T0)
    s.expire(T0 + 60 * S)
    assert _on(s, "b") == []


def test_a_schedule_whose_message_cannot_be_stored_stays_in_flight():
    s = _stream(max_msg_size=120)
    assert s.process_msg("a.2", None, b"p" * 100, T0).seq == 1
    sched = _hdr("Nats-Schedule", "@every 1s", "Nats-Schedule-Target", "b", "Nats-Schedule-Source", "a.2")
    assert s.process_msg("a.1", sched, b"", T0).seq == 2
    s.expire(T0 + 5 * S)  # the source's body plus the produced headers exceed max_msg_size
    assert _on(s, "b") == []
    assert s.next_deadline() is None  # as Go: in flight until the subject gets a new schedule
    s.process_msg("a.2", None, b"small", T0 + 5 * S)
    s.expire(T0 + 60 * S)
    assert _on(s, "b") == []
    s.process_msg("a.1", sched, b"", T0 + 60 * S)
    s.expire(T0 + 62 * S)
    assert [d for _, _, d in _on(s, "b")] == [b"small"]


def test_schedules_come_back_from_the_store_of_a_new_stream_core():
    s = _stream()
    s.process_msg(
        "a.1", _hdr("Nats-Schedule", "@at 2026-03-10T12:00:30Z", "Nats-Schedule-Target", "b"), b"x", T0
    )
    again = Stream(s.config, s.store, created=T0)  # what recovery does with a file store
    assert again.next_deadline() == 0  # not scanned yet: tick at once
    again.expire(T0 + 60 * S)
    assert [d for _, _, d in _on(again, "b")] == [b"x"]
