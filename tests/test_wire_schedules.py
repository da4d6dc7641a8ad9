"""Message schedules (Nats-Schedule) through nats-py, on natsd and the Go server.

Each scenario runs on both servers (``run_on_natsd_and_go``) and the two results
are compared: what a user sees (PubAcks, the messages stored, their headers)
must be the same. Times the servers stamp are left out of the comparison; a
repeating schedule's Nats-Schedule-Next is checked for its shape and distance.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import nats
import pytest

from natsd.oracle.wire import HOST, relaunch, run_on_natsd_and_go, wait_until

PAST = "@at 2020-01-01T00:00:00Z"
FUTURE = "@at 2099-01-01T00:00:00Z"


@pytest.fixture(autouse=True)
def _both_servers(wire_kind):
    if wire_kind == "go":
        pytest.skip("each test runs on natsd and on Go itself")


async def _connect(srv):
    return await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)


async def _api(nc, subject: str, body=b"") -> dict:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return json.loads((await nc.request(subject, data, timeout=5)).data)


async def _create(nc, name: str = "S", **cfg) -> dict:
    cfg = {
        "name": name,
        "subjects": ["a.*", "b", "c.*"],
        "storage": "memory",
        "allow_msg_schedules": True,
        "allow_msg_ttl": True,
        **cfg,
    }
    resp = await _api(nc, f"$JS.API.STREAM.CREATE.{name}", cfg)
    assert "error" not in resp, resp
    return resp["config"]


async def _pub(nc, subject: str, data: bytes = b"", **headers: str) -> dict:
    return json.loads((await nc.request(subject, data, timeout=5, headers=headers or None)).data)


async def _messages(nc, name: str = "S") -> list[tuple[int, str, str, str]]:
    """Every stored message: (seq, subject, header block, payload), times left out."""
    state = (await _api(nc, f"$JS.API.STREAM.INFO.{name}"))["state"]
    out = []
    for seq in range(state["first_seq"], state["last_seq"] + 1):
        got = await _api(nc, f"$JS.API.STREAM.MSG.GET.{name}", {"seq": seq})
        if "message" in got:
            m = got["message"]
            out.append(
                (
                    seq,
                    m["subject"],
                    base64.b64decode(m.get("hdrs", "")).decode(),
                    base64.b64decode(m.get("data", "")).decode(),
                )
            )
    return out


async def _gone(nc, seq: int, name: str = "S") -> bool:
    return "error" in await _api(nc, f"$JS.API.STREAM.MSG.GET.{name}", {"seq": seq})


def H(*pairs: str) -> dict[str, str]:  # noqa: N802 - reads as a header literal
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


# --- a schedule fires --------------------------------------------------------------------------


async def _fire_scenario(srv):
    nc = await _connect(srv)
    try:
        cfg = await _create(nc)
        await _pub(nc, "c.1", b"source body", **{"X-Src": "s"})
        acks = [
            await _pub(
                nc,
                "a.1",
                b"one",
                **H(
                    "X-A",
                    "1",
                    "Nats-Schedule",
                    PAST,
                    "Nats-Schedule-Target",
                    "b",
                    "Nats-Msg-Id",
                    "m1",
                    "Nats-Expected-Last-Sequence",
                    "1",
                    "Nats-Schedule-TTL",
                    "1m",
                    "Nats-Schedule-Rollup",
                    "sub",
                    "Nats-TTL",
                    "2m",
                    "X-B",
                    "2",
                ),
            ),
            await _pub(
                nc,
                "a.2",
                b"two",
                **H("Nats-Schedule", PAST, "Nats-Schedule-Target", "c.2", "Nats-Schedule-Source", "c.1"),
            ),
            await _pub(
                nc,
                "a.3",
                b"three",
                **H("Nats-Schedule", PAST, "Nats-Schedule-Target", "c.3", "Nats-Schedule-Source", "c.9"),
            ),
            await _pub(nc, "a.4", b"later", **H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "b")),
        ]
        for ack in acks[:3]:
            await wait_until(lambda ack=ack: _gone(nc, ack["seq"]), what=f"schedule {ack['seq']} fired")
        return {
            "config": (cfg["allow_rollup_hdrs"], cfg["deny_purge"]),
            "acks": acks,
            "stored": await _messages(nc),
        }
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_due_schedules_fire_on_their_targets_with_go_headers(tmp_path):
    got = await run_on_natsd_and_go(_fire_scenario, tmp_path)
    assert got["natsd"] == got["go"]
    stored = {subject: (hdr, data) for _, subject, hdr, data in got["natsd"]["stored"]}
    assert got["natsd"]["config"] == (True, False)  # schedules turn rollups on
    # the schedule's headers minus Nats-Schedule*, Nats-Expected-*, Nats-Msg-Id, Nats-TTL,
    # Nats-Rollup; then Nats-Scheduler, Nats-Schedule-Next and the schedule's TTL/rollup
    assert stored["b"] == (
        "NATS/1.0\r\nX-A: 1\r\nX-B: 2\r\nNats-Scheduler: a.1\r\nNats-Schedule-Next: purge\r\n"
        "Nats-TTL: 1m\r\nNats-Rollup: sub\r\n\r\n",
        "one",
    )
    # Nats-Schedule-Source: the source subject's last message is produced
    assert stored["c.2"] == (
        "NATS/1.0\r\nX-Src: s\r\nNats-Scheduler: a.2\r\nNats-Schedule-Next: purge\r\n\r\n",
        "source body",
    )
    # a source without messages: the schedule's own body
    assert stored["c.3"] == ("NATS/1.0\r\nNats-Scheduler: a.3\r\nNats-Schedule-Next: purge\r\n\r\n", "three")
    # the one-shot schedules are purged; the future one is kept, stored as a rollup of its subject
    assert not {"a.1", "a.2", "a.3"} & stored.keys()
    assert stored["a.4"] == (
        "NATS/1.0\r\nNats-Schedule: @at 2099-01-01T00:00:00Z\r\nNats-Schedule-Target: b\r\n"
        "Nats-Rollup: sub\r\n\r\n",
        "later",
    )


async def _every_scenario(srv):
    nc = await _connect(srv)
    try:
        await _create(nc)
        ack = await _pub(nc, "a.1", b"tick", **H("Nats-Schedule", "@every 1s", "Nats-Schedule-Target", "b"))
        produced = await wait_until(lambda: _produced(nc, 2), what="two produced messages")
        await _pub(nc, "a.9", **H("Nats-Schedule-Next", "purge", "Nats-Scheduler", "a.1"))
        return ack, produced, await _gone(nc, ack["seq"])
    finally:
        await nc.close()


async def _produced(nc, n: int):
    got = [m for m in await _messages(nc) if m[1] == "b"]
    return got if len(got) >= n else None


@pytest.mark.asyncio
async def test_a_repeating_schedule_names_its_next_time(tmp_path):
    got = await run_on_natsd_and_go(_every_scenario, tmp_path)
    shapes = {}
    for kind, (ack, produced, purged) in got.items():
        assert ack == {"stream": "S", "seq": 1} and purged, kind
        nexts = []
        for _, _, hdr, data in produced[:2]:
            lines = hdr.split("\r\n")
            assert lines[1] == "Nats-Scheduler: a.1" and data == "tick", (kind, hdr)
            assert lines[2].startswith("Nats-Schedule-Next: "), (kind, hdr)
            nexts.append(dt.datetime.fromisoformat(lines[2].split(": ", 1)[1]))
        assert nexts[1] - nexts[0] == dt.timedelta(seconds=1), (kind, nexts)
        assert nexts[0].microsecond == 0 and nexts[0].utcoffset() == dt.timedelta(0), (kind, nexts)
        shapes[kind] = [h.split("Nats-Schedule-Next: ")[0] for _, _, h, _ in produced[:2]]
    assert shapes["natsd"] == shapes["go"]


# --- purge and errors --------------------------------------------------------------------------


async def _purge_scenario(srv):
    nc = await _connect(srv)
    try:
        await _create(nc)
        out = [
            await _pub(nc, "a.1", b"x", **H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "b")),
            await _pub(nc, "b", b"plain"),
            await _pub(nc, "a.9", **H("Nats-Schedule-Next", "purge", "Nats-Scheduler", "b")),
            await _pub(nc, "a.9", **H("Nats-Schedule-Next", "soon", "Nats-Scheduler", "a.1")),
            await _pub(nc, "a.9", **H("Nats-Schedule-Next", "purge")),
            await _pub(nc, "a.9", **H("Nats-Scheduler", "a.1")),
            await _pub(nc, "a.9", **H("Nats-Schedule-Next", "purge", "Nats-Scheduler", "a.1")),
            await _pub(nc, "a.9", **H("Nats-Schedule-Next", "purge", "Nats-Scheduler", "a.7")),
        ]
        return out, await _messages(nc)
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_a_client_purges_a_schedule_with_nats_schedule_next(tmp_path):
    got = await run_on_natsd_and_go(_purge_scenario, tmp_path)
    assert got["natsd"] == got["go"]
    acks, stored = got["natsd"]
    assert [a.get("error", {}).get("err_code") for a in acks] == [
        None,
        None,
        10212,
        10212,
        10212,
        10212,
        None,
        None,
    ]
    assert [m[1] for m in stored] == ["b", "a.9", "a.9"]  # the schedule on a.1 is gone


_INVALID = [
    H("Nats-Schedule", "@every 500ms", "Nats-Schedule-Target", "b"),
    H("Nats-Schedule", "bogus", "Nats-Schedule-Target", "b"),
    H("Nats-Schedule", "0 0 0 30 2 *", "Nats-Schedule-Target", "b"),
    H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "b", "Nats-Schedule-Time-Zone", "Europe/Paris"),
    H("Nats-Schedule", "@daily", "Nats-Schedule-Target", "b", "Nats-Schedule-Time-Zone", "Nope/Nowhere"),
    H("Nats-Schedule-Time-Zone", "Nope/Nowhere"),
    H("Nats-Schedule", FUTURE),
    H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "a.1"),
    H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "z"),
    H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "c.*"),
    H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "b", "Nats-Schedule-TTL", "x"),
    H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "b", "Nats-Schedule-Rollup", "all"),
    H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "b", "Nats-Rollup", "all"),
    H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "b", "Nats-Schedule-Source", "b"),
    H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "b", "Nats-Schedule-Source", "z"),
]
_VALID = [
    H(
        "Nats-Schedule",
        "0 30 9 * * mon-fri",
        "Nats-Schedule-Target",
        "b",
        "Nats-Schedule-Time-Zone",
        "Europe/Paris",
    ),
    H("Nats-Schedule", "@weekly", "Nats-Schedule-Target", "b"),
    H("Nats-Schedule", "*/5 * * * jan,jul *", "Nats-Schedule-Target", "c.1"),
    H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "b", "Nats-Rollup", "SUB"),
]


async def _errors_scenario(srv):
    nc = await _connect(srv)
    try:
        await _create(nc)
        await _create(nc, "N", subjects=["n.*"], allow_msg_ttl=False)
        await _create(nc, "P", subjects=["p.*"], allow_msg_schedules=False)
        out = [await _pub(nc, "a.1", b"x", **h) for h in _INVALID]
        out += [await _pub(nc, f"a.{i}", b"x", **h) for i, h in enumerate(_VALID, 2)]
        out.append(
            await _pub(
                nc,
                "n.1",
                **H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "n.2", "Nats-Schedule-TTL", "1m"),
            )
        )
        out.append(await _pub(nc, "p.1", **H("Nats-Schedule", FUTURE, "Nats-Schedule-Target", "p.2")))
        out.append(await _pub(nc, "p.1", **H("Nats-Schedule", "bogus")))
        return out
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_schedule_errors_are_gos(tmp_path):
    got = await run_on_natsd_and_go(_errors_scenario, tmp_path)
    assert got["natsd"] == got["go"]
    codes = [a.get("error", {}).get("err_code") for a in got["natsd"]]
    assert codes == [
        10189,
        10189,
        10189,
        10189,
        10223,
        10223,
        10190,
        10190,
        10190,
        10190,
        10191,
        10192,
        10192,
        10203,
        10203,
        None,
        None,
        None,
        None,
        10166,
        10188,
        10188,
    ]


# --- restart ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_schedule_due_while_the_server_was_down_fires_after_restart(tmp_path):
    async def scenario(srv):
        nc = await _connect(srv)
        due = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=2)
        try:
            await _create(nc, storage="file")
            ack = await _pub(
                nc,
                "a.1",
                b"after restart",
                **H(
                    "Nats-Schedule", "@at " + due.strftime("%Y-%m-%dT%H:%M:%SZ"), "Nats-Schedule-Target", "b"
                ),
            )
            before = [m[1] for m in await _messages(nc)]
        finally:
            await nc.close()
        srv.stop()
        await wait_until(lambda: time.time() > due.timestamp() + 0.5, what="the schedule's time")
        again = relaunch(srv)
        try:
            nc = await _connect(again)
            try:
                await wait_until(lambda: _gone(nc, ack["seq"]), what="the schedule fired")
                return ack, before, [(m[1], m[2], m[3]) for m in await _messages(nc)]
            finally:
                await nc.close()
        finally:
            again.stop()

    got = await run_on_natsd_and_go(scenario, tmp_path)
    assert got["natsd"] == got["go"]
    assert got["natsd"] == (
        {"stream": "S", "seq": 1},
        ["a.1"],
        [("b", "NATS/1.0\r\nNats-Scheduler: a.1\r\nNats-Schedule-Next: purge\r\n\r\n", "after restart")],
    )
