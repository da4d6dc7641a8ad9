"""Mirrors and sources through nats-py, as users set them up.

Mirrors and sources copy asynchronously in Go, so every test waits for the
condition it needs (bounded polling of STREAM.INFO), never a fixed sleep.
Each expectation holds against the Go server too (NATSD_WIRE_SERVER=go); the
last test runs one scenario on both servers and compares the replies.
"""

from __future__ import annotations

import base64
import json
import re

import nats
import pytest

from natsd.api._types import StreamConfig, StreamSource, StreamSourceInfo
from natsd.jetstream.headers import parse_rfc3339
from natsd.jetstream.sources import Replication, stream_identity
from natsd.jetstream.stream import Stream
from natsd.jetstream.streamcfg import check_config
from natsd.oracle.wire import HOST, run_on_natsd_and_go, wait_until


@pytest.fixture
def js_server(start_server, tmp_path):
    return start_server(["-js", "-sd", str(tmp_path / "store")])


async def _connect(srv):
    return await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)


async def _api(nc, subject: str, body=b"", headers=None) -> dict:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg = await nc.request(subject, data, timeout=5, headers=headers)
    return json.loads(msg.data) if msg.data else {}


async def _create(nc, cfg: dict) -> dict:
    cfg = {"storage": "memory", **cfg}
    resp = await _api(nc, f"$JS.API.STREAM.CREATE.{cfg['name']}", cfg)
    assert "error" not in resp, resp
    return resp


async def _info(nc, name: str, **req) -> dict:
    return await _api(nc, f"$JS.API.STREAM.INFO.{name}", req or b"")


async def _get(nc, name: str, seq: int) -> dict:
    resp = await _api(nc, f"$JS.API.STREAM.MSG.GET.{name}", {"seq": seq})
    return resp.get("message") or resp


async def _pub(nc, subject: str, data: bytes = b"", headers=None) -> dict:
    return json.loads((await nc.request(subject, data, timeout=5, headers=headers)).data)


async def _wait_last_seq(nc, name: str, seq: int, timeout: float = 10.0) -> dict:
    async def reached():
        info = await _info(nc, name)
        return info if info["state"]["last_seq"] >= seq else None

    return await wait_until(reached, timeout=timeout, what=f"{name} last_seq {seq}")


def _hdrs(msg: dict) -> bytes:
    return base64.b64decode(msg.get("hdrs", ""))


@pytest.mark.asyncio
async def test_mirror_keeps_origin_sequences_times_and_gaps(js_server):
    nc = await _connect(js_server)
    try:
        await _create(nc, {"name": "O", "subjects": ["o.>"]})
        await _pub(nc, "o.a", b"one", {"Nats-Msg-Id": "m1", "Nats-Expected-Stream": "O"})
        await _pub(nc, "o.b", b"two")
        await _pub(nc, "o.c", b"three")
        assert (await _api(nc, "$JS.API.STREAM.MSG.DELETE.O", {"seq": 2}))["success"]
        created = await _create(nc, {"name": "M", "mirror": {"name": "O"}})
        assert created["config"]["mirror"] == {"name": "O"} and "subjects" not in created["config"]
        assert created["mirror"] == {"name": "O", "lag": 0, "active": -1}
        info = await _wait_last_seq(nc, "M", 3)
        assert {k: info["state"][k] for k in ("messages", "first_seq", "last_seq", "num_deleted")} == {
            "messages": 2, "first_seq": 1, "last_seq": 3, "num_deleted": 1}
        mirror = info["mirror"]
        assert (mirror["name"], mirror["lag"], "error" in mirror) == ("O", 0, False)
        assert mirror["active"] >= 0
        for seq in (1, 3):
            mine, theirs = await _get(nc, "M", seq), await _get(nc, "O", seq)
            assert (mine["subject"], mine["data"], mine["time"]) == (theirs["subject"], theirs["data"], theirs["time"])
        # Nats-Expected-* headers are not copied; other headers are
        assert _hdrs(await _get(nc, "M", 1)) == b"NATS/1.0\r\nNats-Msg-Id: m1\r\n\r\n"
        assert (await _get(nc, "M", 2))["error"]["err_code"] == 10037
        # new origin messages follow
        await _pub(nc, "o.d", b"four")
        await _wait_last_seq(nc, "M", 4)
        assert base64.b64decode((await _get(nc, "M", 4))["data"]) == b"four"
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_mirror_filter_start_sequence_and_transforms(js_server):
    nc = await _connect(js_server)
    try:
        await _create(nc, {"name": "O", "subjects": ["o.>"]})
        for i in range(6):
            await _pub(nc, f"o.{'a' if i % 2 else 'b'}.{i}", b"x")
        await _create(nc, {"name": "MF", "mirror": {"name": "O", "filter_subject": "o.a.>"}})
        await _create(nc, {"name": "MS", "mirror": {"name": "O", "opt_start_seq": 3}})
        transforms = [{"src": "o.a.>", "dest": "t.a.>"}, {"src": "o.b.*", "dest": "t.b.{{wildcard(1)}}"}]
        await _create(nc, {"name": "MT", "mirror": {"name": "O", "subject_transforms": transforms}})
        for name in ("MF", "MS", "MT"):
            await _wait_last_seq(nc, name, 6)
        mf = await _info(nc, "MF", deleted_details=True)
        # a filtered mirror keeps the origin's sequences: what it skips is deleted
        assert (mf["state"]["first_seq"], mf["state"]["messages"], mf["state"]["deleted"]) == (2, 3, [3, 5])
        assert mf["mirror"]["filter_subject"] == "o.a.>"
        ms = await _info(nc, "MS")
        assert (ms["state"]["first_seq"], ms["state"]["messages"]) == (3, 4)
        mt = await _info(nc, "MT", subjects_filter=">")
        assert sorted(mt["state"]["subjects"]) == ["t.a.1", "t.a.3", "t.a.5", "t.b.0", "t.b.2", "t.b.4"]
        assert mt["mirror"]["subject_transforms"] == transforms
        # after an origin purge new messages still land at the origin's sequence
        assert (await _api(nc, "$JS.API.STREAM.PURGE.O"))["success"]
        await _pub(nc, "o.a.7", b"y")
        for name in ("MF", "MS", "MT"):
            info = await _wait_last_seq(nc, name, 7)
            assert info["state"]["last_seq"] == 7
        assert (await _get(nc, "MT", 7))["subject"] == "t.a.7"
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_mirror_of_missing_origin_reports_stream_not_found_then_catches_up(js_server):
    nc = await _connect(js_server)
    try:
        await _create(nc, {"name": "M", "mirror": {"name": "LATE"}})

        async def failing():
            m = (await _info(nc, "M"))["mirror"]
            return m if "error" in m else None

        mirror = await wait_until(failing, what="mirror setup error")
        assert mirror == {"name": "LATE", "lag": 0, "active": -1,
                          "error": {"code": 404, "err_code": 10059, "description": "stream not found"}}
        await _create(nc, {"name": "LATE", "subjects": ["late"]})
        await _pub(nc, "late", b"1")
        await _pub(nc, "late", b"2")
        # Go retries a failed setup after 2s + 10s backoff (+ jitter)
        info = await _wait_last_seq(nc, "M", 2, timeout=30)
        assert info["state"]["messages"] == 2 and "error" not in info["mirror"]
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_mirror_config_errors_and_promotion(js_server):
    nc = await _connect(js_server)
    try:
        await _create(nc, {"name": "O", "subjects": ["o"]})
        resp = await _api(nc, "$JS.API.STREAM.CREATE.X", {"name": "X", "subjects": ["x"], "mirror": {"name": "O"},
                                                          "storage": "memory"})
        assert resp["error"] == {"code": 400, "err_code": 10034, "description": "stream mirrors can not contain subjects"}
        resp = await _api(nc, "$JS.API.STREAM.CREATE.X", {"name": "X", "mirror": {"name": "O"},
                                                          "sources": [{"name": "O"}], "storage": "memory"})
        assert resp["error"]["err_code"] == 10031
        resp = await _api(nc, "$JS.API.STREAM.CREATE.SELF", {"name": "SELF", "subjects": ["self"],
                                                             "sources": [{"name": "SELF"}], "storage": "memory"})
        assert resp["error"] == {"code": 500, "err_code": 10052, "description": "detected cycle"}
        await _create(nc, {"name": "M", "mirror": {"name": "O"}})
        await _pub(nc, "o", b"1")
        await _wait_last_seq(nc, "M", 1)
        resp = await _api(nc, "$JS.API.STREAM.UPDATE.M", {"name": "M", "mirror": {"name": "O"}, "subjects": ["m"],
                                                          "storage": "memory"})
        assert resp["error"]["err_code"] == 10034
        # promotion: removing the mirror turns M into a normal stream that keeps its messages
        resp = await _api(nc, "$JS.API.STREAM.UPDATE.M", {"name": "M", "subjects": ["m"], "storage": "memory"})
        assert "error" not in resp and "mirror" not in resp and resp["config"]["subjects"] == ["m"]
        ack = await _pub(nc, "m", b"own")
        assert ack == {"stream": "M", "seq": 2}
        await _pub(nc, "o", b"2")
        assert (await _pub(nc, "m", b"own2"))["seq"] == 3  # no longer follows O
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_source_appends_with_stream_source_header(js_server):
    nc = await _connect(js_server)
    try:
        origin = await _create(nc, {"name": "O", "subjects": ["o.>"]})
        ident = stream_identity(parse_rfc3339(origin["created"]))
        for i in range(6):
            await _pub(nc, f"o.{'a' if i % 2 else 'b'}.{i}", b"x", {"Nats-Expected-Last-Sequence": str(i)})
        sources = [{"name": "O", "subject_transforms": [{"src": "o.a.>", "dest": "t.a.>"}]},
                   {"name": "O", "filter_subject": "o.b.4", "opt_start_seq": 2}]
        created = await _create(nc, {"name": "S", "subjects": ["s"], "sources": sources})
        # Go lists sources in map order: compare as a set
        assert sorted(map(json.dumps, created["sources"])) == sorted(map(json.dumps, [
            {"name": "O", "lag": 0, "active": -1, "subject_transforms": [{"src": "o.a.>", "dest": "t.a.>"}]},
            {"name": "O", "lag": 0, "active": -1, "filter_subject": "o.b.4"}]))
        info = await _wait_last_seq(nc, "S", 4)
        by_filter = {s.get("filter_subject", ""): s for s in info["sources"]}
        assert (by_filter[""]["seq"], by_filter[""]["lag"]) == (6, 0)
        assert (by_filter["o.b.4"]["seq"], by_filter["o.b.4"]["lag"]) == (5, 0)
        got = {}
        for seq in range(1, 5):
            m = await _get(nc, "S", seq)
            got[m["subject"]] = _hdrs(m)
        assert got == {
            "t.a.1": f"NATS/1.0\r\nNats-Stream-Source: O 2 o.a.> t.a.> o.a.1 {ident}\r\n\r\n".encode(),
            "t.a.3": f"NATS/1.0\r\nNats-Stream-Source: O 4 o.a.> t.a.> o.a.3 {ident}\r\n\r\n".encode(),
            "t.a.5": f"NATS/1.0\r\nNats-Stream-Source: O 6 o.a.> t.a.> o.a.5 {ident}\r\n\r\n".encode(),
            "o.b.4": f"NATS/1.0\r\nNats-Stream-Source: O 5 o.b.4 > o.b.4 {ident}\r\n\r\n".encode(),
        }
        # the sourcing stream keeps its own subjects and sequence
        assert await _pub(nc, "s", b"own") == {"stream": "S", "seq": 5}
        await _pub(nc, "o.a.9", b"new")
        await _wait_last_seq(nc, "S", 6)
        m = await _get(nc, "S", 6)
        assert m["subject"] == "t.a.9" and b"Nats-Stream-Source: O 7 o.a.> t.a.> o.a.9 " in _hdrs(m)
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_sources_chain_and_a_source_added_by_update(js_server):
    nc = await _connect(js_server)
    try:
        await _create(nc, {"name": "A", "subjects": ["a"]})
        await _create(nc, {"name": "B", "subjects": ["b"]})
        await _pub(nc, "a", b"a1")
        await _pub(nc, "b", b"b1")
        await _create(nc, {"name": "MA", "mirror": {"name": "A"}})
        await _create(nc, {"name": "S", "subjects": ["s"], "sources": [{"name": "MA"}]})
        info = await _wait_last_seq(nc, "S", 1)
        # daisy chained: the header names the nearest origin only
        assert _hdrs(await _get(nc, "S", 1)).startswith(b"NATS/1.0\r\nNats-Stream-Source: MA 1 > > a ")
        resp = await _api(nc, "$JS.API.STREAM.UPDATE.S", {"name": "S", "subjects": ["s"], "storage": "memory",
                                                          "sources": [{"name": "MA"}, {"name": "B"}]})
        assert "error" not in resp
        info = await _wait_last_seq(nc, "S", 2)
        assert info["state"]["messages"] == 2  # the first source was not copied again
        assert sorted(s["name"] for s in info["sources"]) == ["B", "MA"]
        await _pub(nc, "a", b"a2")
        info = await _wait_last_seq(nc, "S", 3)
        assert base64.b64decode((await _get(nc, "S", 3))["data"]) == b"a2"
    finally:
        await nc.close()


_VOLATILE = re.compile(r'"(created|ts|first_ts|last_ts|time)":"[^"]*"|"active":\d+')


async def _scenario(srv) -> list:
    """A deterministic mirror/source scenario; the replies with times and identities masked."""
    nc = await _connect(srv)
    out: list = []
    try:
        origin = await _create(nc, {"name": "O", "subjects": ["o.>"]})
        ident = stream_identity(parse_rfc3339(origin["created"]))
        for i in range(5):
            await _pub(nc, f"o.{i % 2}", f"m{i}".encode(), {"Nats-Msg-Id": f"id{i}"})
        await _api(nc, "$JS.API.STREAM.MSG.DELETE.O", {"seq": 3})
        out.append(await _create(nc, {"name": "M", "mirror": {"name": "O"}}))
        out.append(await _create(nc, {"name": "S", "subjects": ["s"], "sources": [{"name": "O", "filter_subject": "o.1"}]}))
        await _wait_last_seq(nc, "M", 5)
        await _wait_last_seq(nc, "S", 2)
        for name in ("M", "S"):
            info = await _info(nc, name, deleted_details=True)
            info.pop("cluster", None)
            out.append(info)
            for seq in range(1, 6):
                m = await _get(nc, name, seq)
                if "hdrs" in m:
                    m["hdrs"] = _hdrs(m).decode().replace(ident, "<ident>")
                out.append(m)
    finally:
        await nc.close()
    return json.loads(_VOLATILE.sub('"x":0', json.dumps(out, separators=(",", ":"))))


@pytest.mark.differential
@pytest.mark.asyncio
async def test_mirror_and_source_replies_match_the_go_server(tmp_path, wire_kind):
    if wire_kind == "go":
        pytest.skip("compares natsd with Go")
    got = await run_on_natsd_and_go(_scenario, tmp_path)
    for ours, theirs in zip(got["natsd"], got["go"], strict=True):
        if isinstance(ours, dict) and "config" in ours:
            # metadata key order is not part of the comparison
            ours["config"]["metadata"] = dict(sorted(ours["config"]["metadata"].items()))
            theirs["config"]["metadata"] = dict(sorted(theirs["config"]["metadata"].items()))
        assert ours == theirs


# --- retry timing and stalls, on the sans-IO core (time is a parameter) ---------------------------

_S = 1_000_000_000


class _Streams(dict):
    def config_of(self, name):
        s = self.get(name)
        return s.config if s is not None else None


def _core_stream(streams: _Streams, now: int, **cfg) -> Stream:
    s = Stream(check_config(StreamConfig(storage="memory", **cfg), lookup=streams.config_of), None, now)
    streams[s.config.name] = s
    return s


def test_a_missing_origin_is_retried_with_go_backoff_and_a_deleted_one_stalls():
    streams = _Streams()
    rep = Replication(streams.get)
    mirror = _core_stream(streams, 0, name="M", mirror=StreamSource(name="O"))
    rep.add(mirror, 0)
    assert rep.mirror_info("M", 0) == StreamSourceInfo(name="O", lag=0, active=-1)
    rep.tick(99_000_000)  # setup is 100ms after creation
    assert rep.mirror_info("M", 99_000_000).error is None
    rep.tick(100_000_000)
    assert rep.mirror_info("M", 100_000_000).error.err_code == 10059
    origin = _core_stream(streams, _S, name="O", subjects=["o"])
    origin.process_msg("o", None, b"1", _S)
    # first retry: 2s threshold + 10s backoff + 100ms after the failed attempt
    retry_at = 100_000_000 + 12 * _S + 100_000_000
    rep.tick(retry_at - 1)
    assert mirror.store.fast_state().msgs == 0
    rep.tick(retry_at)
    assert mirror.store.fast_state().msgs == 1 and rep.mirror_info("M", retry_at).error is None
    # the origin goes away: no heartbeats, then after 10s a new setup fails again
    del streams["O"]
    rep.tick(retry_at + 9 * _S)
    info = rep.mirror_info("M", retry_at + 9 * _S)
    assert info.error is None and info.active == 9 * _S
    rep.tick(retry_at + 10 * _S)
    assert rep.mirror_info("M", retry_at + 10 * _S).error.err_code == 10059


def test_while_connected_the_heartbeat_keeps_active_under_a_second():
    streams = _Streams()
    rep = Replication(streams.get)
    origin = _core_stream(streams, 0, name="O", subjects=["o"])
    src = _core_stream(streams, 0, name="S", subjects=["s"], sources=[StreamSource(name="O")])
    rep.add(src, 0)
    rep.tick(100_000_000)
    for t in range(2, 60):
        rep.tick(t * 500_000_000)
        assert 0 <= rep.sources_info("S", t * 500_000_000)[0].active < _S
    origin.process_msg("o", None, b"x", 30 * _S)
    rep.pump(30 * _S)
    info = rep.sources_info("S", 30 * _S)[0]
    assert (info.seq, info.lag, info.active) == (1, 0, 0)
    assert src.store.load_msg(1).hdr.startswith(b"NATS/1.0\r\nNats-Stream-Source: O 1 > > o ")


def test_a_mirror_does_not_dedupe_but_a_source_skips_duplicates():
    streams = _Streams()
    origin = _core_stream(streams, 0, name="O", subjects=["o"], duplicate_window=100_000_000)
    hdr = b"NATS/1.0\r\nNats-Msg-Id: X\r\n\r\n"
    assert origin.process_msg("o", hdr, b"1", 10).seq == 1
    assert origin.process_msg("o", hdr, b"2", 300_000_000).seq == 2  # the window has passed
    mirror = _core_stream(streams, 0, name="M", mirror=StreamSource(name="O"), duplicate_window=120 * _S)
    src = _core_stream(streams, 0, name="S", subjects=["s"], sources=[StreamSource(name="O")],
                       duplicate_window=120 * _S)
    rep = Replication(streams.get)
    rep.add(mirror, 0)
    rep.add(src, 0)
    rep.tick(400_000_000)
    assert mirror.store.fast_state().msgs == 2
    assert src.store.fast_state().msgs == 1 and rep.sources_info("S", 400_000_000)[0].seq == 2
