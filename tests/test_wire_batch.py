"""Atomic batch publish (Nats-Batch-Id / -Sequence / -Commit) through nats-py.

The wire tests hold against the Go server too (NATSD_WIRE_SERVER=go); one test
replays a script of batch publishes on both servers and compares the reply
bytes; the idle timeout is shown on the stream core, driven by ``now``.
"""

from __future__ import annotations

import base64
import json

import nats
import pytest

from natsd.api._types import StreamConfig
from natsd.jetstream.batch import BATCH_TIMEOUT, BatchGroup
from natsd.jetstream.stream import Stream
from natsd.jetstream.streamcfg import check_config
from natsd.oracle.wire import HOST, run_on_natsd_and_go


@pytest.fixture
def js_server(start_server, tmp_path):
    return start_server(["-js", "-sd", str(tmp_path / "store")])


async def _connect(srv):
    return await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)


async def _api(nc, subject: str, body=b"") -> dict:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return json.loads((await nc.request(subject, data, timeout=5)).data)


async def _create(nc, **cfg) -> None:
    cfg = {"storage": "memory", "allow_atomic": True, **cfg}
    resp = await _api(nc, f"$JS.API.STREAM.CREATE.{cfg['name']}", cfg)
    assert "error" not in resp, resp


async def _pub(nc, subject: str, bid: str, seq, data: bytes = b"", commit: str | None = None, **hdrs) -> bytes:
    headers = {"Nats-Batch-Id": bid, **{k.replace("_", "-"): v for k, v in hdrs.items()}}
    if seq is not None:
        headers["Nats-Batch-Sequence"] = str(seq)
    if commit is not None:
        headers["Nats-Batch-Commit"] = commit
    return (await nc.request(subject, data, timeout=5, headers=headers)).data


def _err(reply: bytes) -> tuple[int, int, str]:
    e = json.loads(reply)["error"]
    return e["code"], e["err_code"], e["description"]


async def _state(nc, name: str) -> dict:
    return (await _api(nc, f"$JS.API.STREAM.INFO.{name}"))["state"]


async def _hdrs(nc, name: str, seq: int) -> bytes:
    msg = (await _api(nc, f"$JS.API.STREAM.MSG.GET.{name}", {"seq": seq}))["message"]
    return base64.b64decode(msg.get("hdrs", ""))


@pytest.mark.asyncio
async def test_commit_stores_the_whole_batch_and_acks_its_count(js_server):
    nc = await _connect(js_server)
    try:
        await _create(nc, name="B", subjects=["b.>"])
        assert await _pub(nc, "b.1", "x", 1, b"one", Nats_Msg_Id="m1") == b""
        assert await _pub(nc, "b.2", "x", 2, b"two") == b""
        assert (await _state(nc, "B"))["messages"] == 0  # staged, not visible
        assert await _pub(nc, "b.3", "x", 3, b"three", "1") == b'{"stream":"B","seq":3,"batch":"x","count":3}'
        assert (await _state(nc, "B"))["messages"] == 3
        # stored as published (nats-py writes the headers in its own order)
        assert sorted((await _hdrs(nc, "B", 1)).split(b"\r\n")) == sorted(
            b"NATS/1.0\r\nNats-Batch-Id: x\r\nNats-Batch-Sequence: 1\r\nNats-Msg-Id: m1\r\n\r\n".split(b"\r\n"))
        assert await _hdrs(nc, "B", 3) == (
            b"NATS/1.0\r\nNats-Batch-Id: x\r\nNats-Batch-Sequence: 3\r\nNats-Batch-Commit: 1\r\n\r\n")
        # commit "eob": the marker is not stored, the last staged message gets the commit header
        assert await _pub(nc, "b.1", "y", 1, b"four") == b""
        assert await _pub(nc, "b.end", "y", 2, commit="eob") == b'{"stream":"B","seq":4,"batch":"y","count":1}'
        assert await _hdrs(nc, "B", 4) == (
            b"NATS/1.0\r\nNats-Batch-Id: y\r\nNats-Batch-Sequence: 1\r\nNats-Batch-Commit: 1\r\n\r\n")
        assert (await _state(nc, "B"))["last_seq"] == 4
        # a committed id can start again
        assert await _pub(nc, "b.1", "x", 1, commit="1") == b'{"stream":"B","seq":5,"batch":"x","count":1}'
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_batch_header_errors(js_server):
    nc = await _connect(js_server)
    try:
        await _create(nc, name="B", subjects=["b.>"])
        await _create(nc, name="N", subjects=["n"], allow_atomic=False)
        assert _err(await _pub(nc, "n", "x", 1)) == (400, 10174, "atomic publish is disabled")
        assert _err(await _pub(nc, "b.1", "x", None))[1] == 10175
        assert _err(await _pub(nc, "b.1", "x", "abc"))[1] == 10175
        assert _err(await _pub(nc, "b.1", "x", 2)) == (400, 10176, "atomic publish batch is incomplete")
        assert _err(await _pub(nc, "b.1", "x", 1, commit="eob"))[1] == 10176
        assert _err(await _pub(nc, "b.1", "x", 1, commit="yes")) == (400, 10200, "atomic publish batch commit is invalid")
        assert _err(await _pub(nc, "b.1", "x" * 65, 1)) == (400, 10179, "atomic publish batch ID is invalid")
        assert _err(await _pub(nc, "b.1", "x", 1001)) == (400, 10199, "atomic publish batch is too large: 1000")
        # a gap abandons the batch: the next message of that id is "incomplete" too
        assert await _pub(nc, "b.1", "g", 1) == b""
        assert _err(await _pub(nc, "b.1", "g", 3))[1] == 10176
        assert _err(await _pub(nc, "b.1", "g", 2, commit="1"))[1] == 10176
        assert (await _state(nc, "B"))["messages"] == 0
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_a_failing_check_at_commit_stores_nothing(js_server):
    nc = await _connect(js_server)
    try:
        await _create(nc, name="B", subjects=["b.>"], allow_rollup_hdrs=True)
        await nc.request("b.0", b"before", timeout=5, headers={"Nats-Msg-Id": "old"})
        cases = [
            ([dict(Nats_Msg_Id="d1"), dict(Nats_Msg_Id="d1")], (400, 10201, "atomic publish batch contains duplicate message id")),
            ([dict(Nats_Msg_Id="old")], (400, 10201, "atomic publish batch contains duplicate message id")),
            ([{}, dict(Nats_Expected_Last_Sequence="2")], (400, 10164, "wrong last sequence")),
            ([dict(Nats_Expected_Last_Sequence="7")], (400, 10071, "wrong last sequence: 1")),
            ([{}, dict(Nats_Rollup="all")], (500, 10111, "batch rollup all invalid")),
            ([dict(Nats_Expected_Last_Msg_Id="old")],
             (400, 10177, "atomic publish unsupported header used: Nats-Expected-Last-Msg-Id")),
            ([dict(Nats_Expected_Stream="OTHER")], (400, 10060, "expected stream does not match")),
        ]
        for n, (msgs, want) in enumerate(cases):
            bid = f"c{n}"
            for i, hdrs in enumerate(msgs[:-1], start=1):
                assert await _pub(nc, f"b.{i}", bid, i, **hdrs) == b""
            last = len(msgs)
            assert _err(await _pub(nc, f"b.{last}", bid, last, commit="1", **msgs[-1])) == want, msgs
            state = await _state(nc, "B")
            assert (state["messages"], state["last_seq"]) == (1, 1), msgs
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_counters_and_limits_count_the_whole_batch(js_server):
    nc = await _connect(js_server)
    try:
        await _create(nc, name="C", subjects=["c.>"], allow_msg_counter=True)
        await nc.request("c.a", b"", timeout=5, headers={"Nats-Incr": "5"})
        assert await _pub(nc, "c.a", "k", 1, Nats_Incr="2") == b""
        assert await _pub(nc, "c.a", "k", 2, commit="1", Nats_Incr="3") == b'{"stream":"C","seq":3,"batch":"k","count":2}'
        msg = (await _api(nc, "$JS.API.STREAM.MSG.GET.C", {"seq": 3}))["message"]
        assert base64.b64decode(msg["data"]) == b'{"val":"10"}'
        await _create(nc, name="E", subjects=["e.>"], max_msgs=2, discard="new")
        assert await _pub(nc, "e.a", "k", 1) == b""
        assert await _pub(nc, "e.b", "k", 2) == b""
        assert _err(await _pub(nc, "e.c", "k", 3, commit="1")) == (503, 10077, "maximum messages exceeded")
        assert (await _state(nc, "E"))["messages"] == 0
    finally:
        await nc.close()


@pytest.mark.asyncio
async def test_too_many_inflight_batches_per_stream(js_server):
    nc = await _connect(js_server)
    try:
        await _create(nc, name="B", subjects=["b"])
        for i in range(50):
            assert await _pub(nc, "b", f"open{i}", 1) == b""
        assert _err(await _pub(nc, "b", "open50", 1)) == (429, 10210, "atomic publish too many inflight")
        # committing one frees a slot
        assert json.loads(await _pub(nc, "b", "open0", 2, commit="1"))["count"] == 2
        assert await _pub(nc, "b", "open50", 1) == b""
    finally:
        await nc.close()


_SCRIPT = [
    ("b.1", {"Nats-Batch-Id": "x", "Nats-Batch-Sequence": "1", "Nats-Msg-Id": "m1"}),
    ("b.2", {"Nats-Batch-Id": "x", "Nats-Batch-Sequence": "2", "Nats-Batch-Commit": "1"}),
    ("b.1", {"Nats-Batch-Id": "y", "Nats-Batch-Sequence": "1", "Nats-Expected-Last-Sequence": "2"}),
    ("b.2", {"Nats-Batch-Id": "y", "Nats-Batch-Sequence": "2", "Nats-Expected-Last-Subject-Sequence": "2"}),
    ("b.3", {"Nats-Batch-Id": "y", "Nats-Batch-Sequence": "3", "Nats-Batch-Commit": "eob"}),
    ("b.1", {"Nats-Batch-Id": "z", "Nats-Batch-Sequence": "1", "Nats-Expected-Last-Subject-Sequence": "1"}),
    ("b.1", {"Nats-Batch-Id": "z", "Nats-Batch-Sequence": "2", "Nats-Batch-Commit": "1"}),
    ("b.1", {"Nats-Batch-Id": "w", "Nats-Batch-Sequence": "1", "Nats-Rollup": "sub"}),
    ("b.1", {"Nats-Batch-Id": "w", "Nats-Batch-Sequence": "2", "Nats-Rollup": "sub", "Nats-Batch-Commit": "1"}),
    ("b.1", {"Nats-Batch-Id": "v", "Nats-Batch-Sequence": "1", "Nats-Required-Api-Level": "9"}),
    ("b.1", {"Nats-Batch-Id": "v", "Nats-Batch-Sequence": "1", "Nats-Stream-Source": "S 1", "Nats-Batch-Commit": "1"}),
    ("b.1", {"Nats-Batch-Id": "v", "Nats-Batch-Sequence": "1", "Nats-TTL": "5s", "Nats-Batch-Commit": "1"}),
    ("b.1", {"Nats-Batch-Id": "v", "Nats-Batch-Sequence": "1", "Nats-Rollup": "all", "Nats-Batch-Commit": "1"}),
]


async def _replay(srv) -> list:
    nc = await _connect(srv)
    out = []
    try:
        await _create(nc, name="B", subjects=["b.>"], allow_rollup_hdrs=True)
        for subject, hdrs in _SCRIPT:
            out.append((await nc.request(subject, b"p", timeout=5, headers=hdrs)).data)
        state = await _state(nc, "B")
        out.append({k: state[k] for k in ("messages", "bytes", "first_seq", "last_seq")})
    finally:
        await nc.close()
    return out


@pytest.mark.differential
@pytest.mark.asyncio
async def test_batch_replies_match_the_go_server(tmp_path, wire_kind):
    if wire_kind == "go":
        pytest.skip("compares natsd with Go")
    got = await run_on_natsd_and_go(_replay, tmp_path)
    assert got["natsd"] == got["go"]


# --- the idle timeout, on the stream core (time is a parameter) ----------------------------------

_S = 1_000_000_000


def _batch_stream(group: BatchGroup) -> Stream:
    s = Stream(check_config(StreamConfig(name="B", subjects=["b"], storage="memory", allow_atomic=True)), None, 1)
    s.batch_group = group
    return s


def _hdr(bid: str, seq: int, commit: str | None = None) -> bytes:
    h = f"NATS/1.0\r\nNats-Batch-Id: {bid}\r\nNats-Batch-Sequence: {seq}\r\n"
    if commit:
        h += f"Nats-Batch-Commit: {commit}\r\n"
    return (h + "\r\n").encode()


def test_an_idle_batch_is_abandoned_after_the_timeout():
    group = BatchGroup()
    s = _batch_stream(group)
    assert s.process_msg("b", _hdr("x", 1), b"1", 10 * _S) is None
    assert group.inflight == 1 and s.next_deadline() == 10 * _S + BATCH_TIMEOUT
    # each message moves the deadline
    assert s.process_msg("b", _hdr("x", 2), b"2", 19 * _S) is None
    s.expire(20 * _S)
    assert group.inflight == 1
    s.expire(19 * _S + BATCH_TIMEOUT)
    assert group.inflight == 0 and s.atomic_batches.abandoned == [("x", "timeout")]
    err = s.process_msg("b", _hdr("x", 3, "1"), b"3", 30 * _S)
    assert err.err_code == 10176 and s.store.fast_state().msgs == 0


def test_a_late_message_finds_its_batch_expired_even_before_a_tick():
    group = BatchGroup()
    s = _batch_stream(group)
    assert s.process_msg("b", _hdr("x", 1), b"1", 0) is None
    err = s.process_msg("b", _hdr("x", 2, "1"), b"2", BATCH_TIMEOUT)
    assert err.err_code == 10176 and group.inflight == 0 and s.store.fast_state().msgs == 0


def test_the_server_wide_inflight_limit_spans_streams():
    group = BatchGroup(max_total=2)
    a, b = _batch_stream(group), _batch_stream(group)
    assert a.process_msg("b", _hdr("1", 1), b"", 0) is None
    assert b.process_msg("b", _hdr("2", 1), b"", 0) is None
    assert b.process_msg("b", _hdr("3", 1), b"", 0).err_code == 10210
    ack = a.process_msg("b", _hdr("1", 2, "1"), b"", 1)
    assert (ack.batch, ack.count, ack.seq) == ("1", 2, 2)
    assert b.process_msg("b", _hdr("3", 1), b"", 2) is None
