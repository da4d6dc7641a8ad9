"""Stream snapshot and restore over the wire, driven as nats.go / the nats CLI drive them.

nats-py has no snapshot helper, so the tests speak the protocol directly:
SNAPSHOT with a deliver subject, ack every chunk that carries a reply, stop at
the empty end message; RESTORE, then send the chunks as requests to the
deliver subject it names (each acked with an empty reply) and an empty
message as the end, whose reply is the stream_create_response.

natsd's snapshot bytes are its own (spec api.snapshot.format), so snapshots
only go natsd -> natsd; the request checks and the flow-control protocol are
compared with the Go server in the same run.
"""

from __future__ import annotations

import asyncio
import json
import os
import re

import nats
import pytest
from nats.js import api
from nats.js.errors import NotFoundError

from natsd.oracle.wire import HOST, launch

pytestmark = pytest.mark.asyncio

ACK_RE = re.compile(r"^\$JS\.SNAPSHOT\.ACK\.(\w+)\.(\w+)\.(\d+)\.(\d+)$")


async def _connect(srv):
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    return nc, nc.jetstream()


async def _api(nc, subject: str, body: dict | bytes) -> dict:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg = await nc.request(subject, data, timeout=5)
    return json.loads(msg.data)


class Snap:
    def __init__(self) -> None:
        self.reply: dict = {}
        self.chunks: list[tuple[str | None, bytes]] = []
        self.end_headers: dict | None = None

    @property
    def data(self) -> bytes:
        return b"".join(c for _, c in self.chunks)


async def snapshot(nc, stream: str, *, ack: bool = True, timeout: float = 10, **opts) -> Snap:
    """Take a snapshot the way jsm.go does (ack each chunk that has a reply)."""
    snap = Snap()
    done = asyncio.get_running_loop().create_future()
    inbox = nc.new_inbox()

    async def on_msg(msg):
        if not msg.data:
            snap.end_headers = dict(msg.headers or {})
            if not done.done():
                done.set_result(None)
            return
        snap.chunks.append((msg.reply or None, msg.data))
        if msg.reply and ack:
            await nc.publish(msg.reply, b"")

    sub = await nc.subscribe(inbox, cb=on_msg)
    try:
        snap.reply = await _api(nc, f"$JS.API.STREAM.SNAPSHOT.{stream}", {"deliver_subject": inbox, **opts})
        if "error" not in snap.reply:
            await asyncio.wait_for(done, timeout)
    finally:
        await sub.unsubscribe()
    return snap


async def restore(nc, stream: str, config: dict, data: bytes, *, chunk: int = 1000) -> dict:
    """Restore as jsm.go does; returns the final reply (or the error a chunk got)."""
    resp = await _api(nc, f"$JS.API.STREAM.RESTORE.{stream}", {"config": config})
    if "error" in resp:
        return resp
    ds = resp["deliver_subject"]
    assert re.fullmatch(rf"\$JS\.SNAPSHOT\.RESTORE\.{stream}\.\w+", ds), ds
    for i in range(0, len(data), chunk):
        ack = await nc.request(ds, data[i : i + chunk], timeout=5)
        if ack.data:
            return json.loads(ack.data)
    final = await nc.request(ds, b"", timeout=5)
    return json.loads(final.data)


async def _messages(js, stream: str) -> list[tuple]:
    info = await js.stream_info(stream)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            m = await js.get_msg(stream, seq)
        except NotFoundError:
            continue
        out.append((m.seq, m.subject, m.data, dict(m.headers or {})))
    return out


def _state(info: dict) -> dict:
    return {k: v for k, v in info["state"].items() if k != "consumer_count"}


async def _fill(js, name: str, storage, n: int = 60) -> None:
    await js.add_stream(name=name, subjects=[f"{name.lower()}.>"], storage=storage, description="snap me")
    for i in range(n):
        await js.publish(f"{name.lower()}.{i % 4}", os.urandom(40 + i),
                         headers={"Nats-Msg-Id": f"id{i}", "X-I": str(i)})
    await js.delete_msg(name, 7)
    await js.purge_stream(name, subject=f"{name.lower()}.3")


@pytest.mark.parametrize("storage", [api.StorageType.FILE, api.StorageType.MEMORY])
async def test_snapshot_then_restore_gives_identical_stream(start_server, tmp_path, storage):
    srv = start_server(["-js", "-sd", str(tmp_path / "store")])
    nc, js = await _connect(srv)
    try:
        await _fill(js, "ORDERS", storage)
        before = await _api(nc, "$JS.API.STREAM.INFO.ORDERS", b"")
        before_msgs = await _messages(js, "ORDERS")
        # small chunks and a two-chunk window: the snapshot only completes if acks reopen the window
        snap = await snapshot(nc, "ORDERS", chunk_size=1024, window_size=2048)
        assert snap.reply["type"] == "io.nats.jetstream.api.v1.stream_snapshot_response"
        assert snap.reply["state"]["messages"] == before["state"]["messages"]
        assert snap.reply["config"]["name"] == "ORDERS"
        assert len(snap.chunks) > 2
        await js.delete_stream("ORDERS")

        done = await restore(nc, "ORDERS", snap.reply["config"], snap.data)
        assert done["type"] == "io.nats.jetstream.api.v1.stream_create_response", done
        assert "error" not in done, done
        assert _state(done) == _state(before)
        after = await _api(nc, "$JS.API.STREAM.INFO.ORDERS", b"")
        assert _state(after) == _state(before)
        assert after["config"]["storage"] == before["config"]["storage"]
        assert await _messages(js, "ORDERS") == before_msgs
        # the dedupe window came back with the messages
        dup = await js.publish("orders.2", b"again", headers={"Nats-Msg-Id": "id58"})  # seq 59 (60 was purged)
        assert dup.duplicate and dup.seq == 59
        fresh = await js.publish("orders.0", b"new")
        assert fresh.seq == before["state"]["last_seq"] + 1
    finally:
        await nc.close()
    if storage == api.StorageType.FILE:  # a restored file stream is durable
        srv.stop()
        srv = start_server.restart(srv)
        nc, js = await _connect(srv)
        try:
            msgs = await _messages(js, "ORDERS")
            assert msgs[:-1] == before_msgs and msgs[-1][2] == b"new"
        finally:
            await nc.close()


async def test_snapshot_chunks_carry_go_ack_subjects_and_end_with_204(start_server):
    srv = start_server(["-js"])
    nc, js = await _connect(srv)
    try:
        await js.add_stream(name="S", subjects=["s.>"], storage=api.StorageType.MEMORY)
        for i in range(200):
            await js.publish(f"s.{i}", os.urandom(100))
        snap = await snapshot(nc, "S", chunk_size=1024)
        full = [(r, c) for r, c in snap.chunks if len(c) == 1024]
        assert full and all(r is not None for r, _ in full)
        ids = set()
        for i, (reply, chunk) in enumerate(full, start=1):
            m = ACK_RE.match(reply)
            assert m and m.group(1) == "S" and int(m.group(3)) == len(chunk) and int(m.group(4)) == i
            ids.add(m.group(2))
        assert len(ids) == 1
        tail = snap.chunks[len(full):]
        assert all(r is None and len(c) < 1024 for r, c in tail) and len(tail) <= 1
        assert snap.end_headers.get("Status") == "204"
    finally:
        await nc.close()


async def test_tiny_snapshot_ends_with_an_empty_message_without_headers(start_server):
    srv = start_server(["-js"])
    nc, js = await _connect(srv)
    try:
        await js.add_stream(name="T", subjects=["t"], storage=api.StorageType.MEMORY)
        await js.publish("t", b"one")
        snap = await snapshot(nc, "T")  # one short chunk, no reply on it, then the bare end (Go)
        assert [r for r, _ in snap.chunks] == [None]
        assert snap.end_headers == {}
        await js.delete_stream("T")
        done = await restore(nc, "T", snap.reply["config"], snap.data)
        assert done["state"]["messages"] == 1
    finally:
        await nc.close()


def _corrupt(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes([data[mid] ^ 0x40]) + data[mid + 1 :]


@pytest.mark.parametrize("damage", ["flipped", "truncated", "garbage"])
async def test_bad_restore_fails_with_10062_and_leaves_nothing(start_server, tmp_path, damage):
    store = tmp_path / "store"
    srv = start_server(["-js", "-sd", str(store)])
    nc, js = await _connect(srv)
    try:
        await _fill(js, "ORDERS", api.StorageType.FILE, n=200)
        snap = await snapshot(nc, "ORDERS", chunk_size=4096)
        await js.delete_stream("ORDERS")
        bad = {"flipped": _corrupt(snap.data), "truncated": snap.data[: len(snap.data) // 2],
               "garbage": os.urandom(5000)}[damage]
        resp = await restore(nc, "ORDERS", snap.reply["config"], bad)
        assert resp["type"] == "io.nats.jetstream.api.v1.stream_create_response"
        assert resp["error"]["code"] == 500 and resp["error"]["err_code"] == 10062, resp
        assert resp["error"]["description"].startswith("restore failed: ")
        names = await _api(nc, "$JS.API.STREAM.NAMES", b"")
        assert not names.get("streams")
        streams_dir = store / "jetstream" / "$G" / "streams"
        assert not (streams_dir / "ORDERS").exists()
        assert not any((store / "jetstream" / "$G" / "restore.tmp").glob("*"))
        # nothing half-made blocks a good restore of the same name
        done = await restore(nc, "ORDERS", snap.reply["config"], snap.data)
        assert done["state"]["messages"] == snap.reply["state"]["messages"]
    finally:
        await nc.close()


async def test_restore_onto_an_existing_stream_is_10130(start_server):
    srv = start_server(["-js"])
    nc, js = await _connect(srv)
    try:
        await js.add_stream(name="E", subjects=["e"], storage=api.StorageType.MEMORY)
        resp = await _api(nc, "$JS.API.STREAM.RESTORE.E", {"config": {"name": "E", "storage": "memory"}})
        assert resp["error"] == {"code": 400, "err_code": 10130,
                                 "description": "stream name already in use, cannot restore"}
    finally:
        await nc.close()


# -- the same requests to the Go server ------------------------------------------------------------

def _norm(reply: dict) -> dict:
    """JSON syntax errors keep Go's code and prefix; the parser's words differ (spec api.decode.errors)."""
    err = reply.get("error")
    if err and err["err_code"] == 10025 and not err["description"].startswith("invalid JSON: json:"):
        return {**reply, "error": {**err, "description": "invalid JSON: <syntax>"}}
    return reply


REQUESTS = [
    ("$JS.API.STREAM.SNAPSHOT.NOPE", {"deliver_subject": "x.y"}),
    ("$JS.API.STREAM.SNAPSHOT.D", b""),
    ("$JS.API.STREAM.SNAPSHOT.D", {}),
    ("$JS.API.STREAM.SNAPSHOT.D", {"deliver_subject": "x.*"}),
    ("$JS.API.STREAM.SNAPSHOT.D", {"deliver_subject": ""}),
    ("$JS.API.STREAM.SNAPSHOT.D", b"{bad json"),
    ("$JS.API.STREAM.RESTORE.D", {"config": {"name": "D", "storage": "memory"}}),
    ("$JS.API.STREAM.RESTORE.X", {"config": {"name": "Y", "storage": "memory"}}),
    ("$JS.API.STREAM.RESTORE.X", b""),
    ("$JS.API.STREAM.RESTORE.X", b"{bad json"),
    ("$JS.API.STREAM.RESTORE.X", {"config": {"name": "X", "storage": "memory", "max_msgs": -2,
                                             "retention": "nope"}}),
]


async def test_snapshot_and_restore_request_errors_match_go(tmp_path):
    servers = [launch(["-js", "-sd", str(tmp_path / k)], kind=k) for k in ("natsd", "go")]
    try:
        replies = []
        for srv in servers:
            nc, js = await _connect(srv)
            try:
                await js.add_stream(name="D", subjects=["d"], storage=api.StorageType.MEMORY)
                replies.append([await _api(nc, subj, body) for subj, body in REQUESTS])
            finally:
                await nc.close()
        for (subj, body), ours, go in zip(REQUESTS, *replies, strict=True):
            assert _norm(ours) == _norm(go), (subj, body, ours, go)
    finally:
        for srv in servers:
            srv.stop()


async def test_garbage_restore_is_10062_on_both_servers(tmp_path):
    servers = [launch(["-js", "-sd", str(tmp_path / k)], kind=k) for k in ("natsd", "go")]
    try:
        for srv in servers:
            nc, js = await _connect(srv)
            try:
                resp = await restore(nc, "G", {"name": "G", "storage": "memory"}, b"\x07" * 3000)
                assert resp["type"] == "io.nats.jetstream.api.v1.stream_create_response", (srv.kind, resp)
                assert resp["error"]["code"] == 500 and resp["error"]["err_code"] == 10062, (srv.kind, resp)
                with pytest.raises(NotFoundError):
                    await js.stream_info("G")
            finally:
                await nc.close()
    finally:
        for srv in servers:
            srv.stop()


async def test_unacked_window_ends_with_408_no_flow_response_like_go(tmp_path):
    """A receiver that never acks gets one window of chunks, then (after 5 s) 408."""
    servers = [launch(["-js"], kind=k) for k in ("natsd", "go")]
    try:
        async def run(srv):
            nc, js = await _connect(srv)
            try:
                await js.add_stream(name="W", subjects=["w.>"], storage=api.StorageType.MEMORY)
                for i in range(100):
                    await js.publish(f"w.{i}", os.urandom(200))
                return await snapshot(nc, "W", ack=False, timeout=15, chunk_size=1024, window_size=1024)
            finally:
                await nc.close()

        snaps = await asyncio.gather(*(run(s) for s in servers))
        for srv, snap in zip(servers, snaps, strict=True):
            assert len(snap.chunks) == 1 and snap.chunks[0][0] is not None, srv.kind
            assert snap.end_headers.get("Status") == "408", (srv.kind, snap.end_headers)
            assert snap.end_headers.get("Description") == "No Flow Response", (srv.kind, snap.end_headers)
    finally:
        for srv in servers:
            srv.stop()


async def test_snapshot_moves_between_servers_with_different_keys(start_server, tmp_path):
    """The snapshot is a logical copy: taken from an encrypted store, restored under another key."""
    conf = "jetstream {{ store_dir: '{store}', key: '{key}', cipher: {cipher} }}"
    a = start_server(config=conf.format(store=tmp_path / "a", key="key-one", cipher="aes"))
    b = start_server(config=conf.format(store=tmp_path / "b", key="key-two", cipher="chachapoly"))
    nc, js = await _connect(a)
    try:
        await _fill(js, "ORDERS", api.StorageType.FILE, n=40)
        before = await _messages(js, "ORDERS")
        snap = await snapshot(nc, "ORDERS")
    finally:
        await nc.close()
    assert b"snap me" not in snap.data  # compressed, so the description is not in clear either way
    nc, js = await _connect(b)
    try:
        done = await restore(nc, "ORDERS", snap.reply["config"], snap.data, chunk=64 * 1024)
        assert _state(done) == _state(snap.reply)
        assert await _messages(js, "ORDERS") == before
    finally:
        await nc.close()


async def test_restore_chunk_without_reply_drops_the_restore_like_go(tmp_path):
    servers = [launch(["-js"], kind=k) for k in ("natsd", "go")]
    try:
        for srv in servers:
            nc, js = await _connect(srv)
            try:
                resp = await _api(nc, "$JS.API.STREAM.RESTORE.N", {"config": {"name": "N", "storage": "memory"}})
                ds = resp["deliver_subject"]
                await nc.publish(ds, b"chunk without a reply")
                with pytest.raises(nats.errors.NoRespondersError):
                    await nc.request(ds, b"", timeout=5)  # the restore subject is gone
                with pytest.raises(NotFoundError):
                    await js.stream_info("N")
            finally:
                await nc.close()
    finally:
        for srv in servers:
            srv.stop()


async def test_snapshot_reply_and_small_stream_chunks_match_go(tmp_path):
    async def run(srv):
        nc, js = await _connect(srv)
        try:
            await js.add_stream(name="D", subjects=["d.>"], storage=api.StorageType.FILE)
            for i in range(5):
                await js.publish(f"d.{i}", b"x")
            await js.delete_msg("D", 2)
            return await snapshot(nc, "D")
        finally:
            await nc.close()

    servers = [launch(["-js", "-sd", str(tmp_path / k)], kind=k) for k in ("natsd", "go")]
    try:
        ours, go = [await run(s) for s in servers]
    finally:
        for srv in servers:
            srv.stop()
    for snap in (ours, go):
        for k in ("first_ts", "last_ts"):
            snap.reply["state"][k] = "<ts>"
    assert ours.reply == go.reply
    # under one chunk: the data comes without an ack reply, then a bare empty message (no headers)
    assert [r for r, _ in ours.chunks] == [r for r, _ in go.chunks] == [None]
    assert ours.end_headers == go.end_headers == {}


# -- the restore decoder on hand-made snapshots (no server) -----------------------------------------

def _handmade(*records: bytes) -> bytes:
    import lz4.frame

    from natsd.jetstream.snapshot import MAGIC

    return lz4.frame.compress(MAGIC + b"".join(records), content_checksum=True)


def _msg(seq: int, subject: str = "a", data: bytes = b"x") -> bytes:
    import struct

    from natsd.jetstream.snapshot import _record

    return _record(b"M", struct.pack("<QqHI", seq, 1, len(subject), 0xFFFFFFFF) + subject.encode() + data)


@pytest.mark.parametrize(("records", "error"), [
    (["msg1"], "expected state.json first"),
    (["state", "msg2", "msg1"], "message sequence 1 out of order"),
    (["state", "msg1", "end2"], "snapshot holds 1 messages, its end says 2"),
    (["state", "msg1"], "backup was truncated"),
])
async def test_restore_reader_refuses_malformed_snapshots(records, error):
    import struct

    from natsd.jetstream.snapshot import RestoreError, RestoreReader, _record
    from natsd.store.memstore import MemStore

    parts = {"state": _record(b"S", b'{"first_seq": 1, "last_seq": 2}'), "msg1": _msg(1), "msg2": _msg(2),
             "end2": _record(b"E", struct.pack("<Q", 2))}
    reader = RestoreReader(MemStore(), 1 << 20, -1)
    with pytest.raises(RestoreError, match=error):
        reader.feed(_handmade(*(parts[r] for r in records)), now=10)
        reader.finish(now=10)


async def test_a_go_snapshot_is_refused_by_natsd_with_10062(tmp_path):
    go = launch(["-js", "-sd", str(tmp_path / "go")], kind="go")
    ours = launch(["-js", "-sd", str(tmp_path / "natsd")], kind="natsd")
    try:
        nc, js = await _connect(go)
        try:
            await _fill(js, "ORDERS", api.StorageType.FILE, n=20)
            snap = await snapshot(nc, "ORDERS")
        finally:
            await nc.close()
        assert snap.data and "error" not in snap.reply
        nc, js = await _connect(ours)
        try:
            resp = await restore(nc, "ORDERS", snap.reply["config"], snap.data)
            assert resp["error"] == {"code": 500, "err_code": 10062,
                                     "description": "restore failed: not a natsd snapshot"}
            with pytest.raises(NotFoundError):
                await js.stream_info("ORDERS")
        finally:
            await nc.close()
    finally:
        go.stop()
        ours.stop()
