"""Key-value buckets as nats-py uses them (nats.js.kv), on file and memory storage.

A bucket is a stream ``KV_<bucket>`` on ``$KV.<bucket>.>``; nats-py builds
everything from stream config, publishes with expected-last-subject-sequence,
KV-Operation / Nats-Rollup headers, Nats-TTL, direct gets and ordered push
consumers. Each expectation holds against the Go server too
(NATSD_WIRE_SERVER=go).
"""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.js import api
from nats.js.errors import (
    BadRequestError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)

from natsd.oracle.wire import HOST, wait_until

pytestmark = pytest.mark.asyncio

STORAGES = [api.StorageType.FILE, api.StorageType.MEMORY]


@pytest.fixture
def js_server(start_server, tmp_path):
    return start_server(["-js", "-sd", str(tmp_path / "store")])


async def _connect(srv):
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    return nc, nc.jetstream()


async def _collect(watcher, n: int, timeout: float = 5.0) -> list:
    """The next ``n`` updates of a watcher (None marks the end of the initial values)."""
    return [await watcher.updates(timeout=timeout) for _ in range(n)]


def _view(entries) -> list:
    return [None if e is None else (e.key, e.value, e.revision, e.operation) for e in entries]


@pytest.mark.parametrize("storage", STORAGES)
async def test_put_get_create_update_with_revision_checks(js_server, storage):
    nc, js = await _connect(js_server)
    try:
        kv = await js.create_key_value(bucket="CFG", history=5, storage=storage, description="config")
        assert await kv.put("a", b"1") == 1
        e = await kv.get("a")
        assert (e.key, e.value, e.revision, e.bucket) == ("a", b"1", 1, "CFG")
        with pytest.raises(KeyWrongLastSequenceError) as ei:
            await kv.create("a", b"again")
        assert ei.value.description == "wrong last sequence: 1"
        assert await kv.create("b", b"2") == 2
        assert await kv.update("a", b"3", last=1) == 3
        with pytest.raises(KeyWrongLastSequenceError) as ei:
            await kv.update("a", b"4", last=1)
        assert ei.value.description == "wrong last sequence: 3"
        with pytest.raises(KeyWrongLastSequenceError) as ei:  # update of a key that does not exist
            await kv.update("zz", b"4", last=2)
        assert ei.value.description == "wrong last sequence: 0"
        assert (await kv.get("a", revision=1)).value == b"1"
        assert (await kv.get("a")).value == b"3"
        with pytest.raises(KeyNotFoundError):  # revision 2 is key b's
            await kv.get("a", revision=2)
        with pytest.raises(KeyNotFoundError):
            await kv.get("missing")
        # delete: a DEL marker, the key reads as not found; create works again on top of it
        assert await kv.delete("a")
        with pytest.raises(KeyNotFoundError) as ei:
            await kv.get("a")
        assert ei.value.op == "DEL" and ei.value.entry.revision == 4
        marker = await js.get_msg("KV_CFG", subject="$KV.CFG.a")
        assert marker.headers == {"KV-Operation": "DEL"} and not marker.data
        assert await kv.create("a", b"5") == 5
        # delete with an expected last revision
        with pytest.raises(BadRequestError) as ei:
            await kv.delete("a", last=4)
        assert (ei.value.err_code, ei.value.description) == (10071, "wrong last sequence: 5")
        assert await kv.delete("a", last=5)
        st = await kv.status()
        assert (st.bucket, st.values, st.history, st.ttl) == ("CFG", 6, 5, 0.0)
        cfg = st.stream_info.config
        assert (cfg.name, cfg.subjects, cfg.storage, cfg.description) == ("KV_CFG", ["$KV.CFG.>"], storage, "config")
        assert cfg.allow_rollup_hdrs and cfg.deny_delete and cfg.allow_msg_ttl
        assert cfg.discard == api.DiscardPolicy.NEW and cfg.max_msgs_per_subject == 5
    finally:
        await nc.close()


@pytest.mark.parametrize("storage", STORAGES)
async def test_history_purge_and_purge_deletes(js_server, storage):
    nc, js = await _connect(js_server)
    try:
        kv = await js.create_key_value(bucket="H", history=3, storage=storage)
        for i in range(5):
            await kv.put("k", f"v{i}".encode())
        await kv.put("other", b"o")
        assert _view(await kv.history("k")) == [("k", b"v2", 3, None), ("k", b"v3", 4, None), ("k", b"v4", 5, None)]
        await kv.delete("k")
        assert _view(await kv.history("k"))[-1] == ("k", b"", 7, "DEL")
        assert len(await kv.history("k")) == 3  # the marker counts against history
        await kv.purge("k")
        assert _view(await kv.history("k")) == [("k", b"", 8, "PURGE")]
        marker = await js.get_msg("KV_H", subject="$KV.H.k")
        assert marker.headers == {"KV-Operation": "PURGE", "Nats-Rollup": "sub"}
        assert await kv.keys() == ["other"]
        assert (await kv.status()).values == 2
        await kv.purge_deletes(olderthan=0)  # markers of any age go
        with pytest.raises(NoKeysError):
            await kv.history("k")
        assert (await kv.status()).values == 1
        assert (await kv.get("other")).value == b"o"
    finally:
        await nc.close()


async def test_history_above_64_is_refused_by_the_client_and_the_server(js_server):
    nc, js = await _connect(js_server)
    try:
        with pytest.raises(nats.js.errors.KeyHistoryTooLargeError):
            await js.create_key_value(bucket="BIG", history=65)
        # the server takes any max_msgs_per_subject; 64 is the client's limit
        kv = await js.create_key_value(bucket="B64", history=64)
        assert (await kv.status()).history == 64
    finally:
        await nc.close()


async def test_keys_and_filters(js_server):
    nc, js = await _connect(js_server)
    try:
        kv = await js.create_key_value(bucket="K", storage=api.StorageType.FILE)
        with pytest.raises(NoKeysError):
            await kv.keys()
        for key in ("app.one", "app.two", "db.one", "gone"):
            await kv.put(key, b"x")
        await kv.put("app.one", b"y")  # keys lists each key once, in order of its last revision
        await kv.delete("gone")
        assert await kv.keys() == ["app.two", "db.one", "app.one"]
        assert sorted(await kv.keys(filters=["app"])) == ["app.one", "app.two"]
        assert await kv.keys(filters=["db."]) == ["db.one"]
    finally:
        await nc.close()


@pytest.mark.parametrize("storage", STORAGES)
async def test_watch_and_watchall(js_server, storage):
    nc, js = await _connect(js_server)
    try:
        kv = await js.create_key_value(bucket="W", history=10, storage=storage)
        empty = await kv.watchall()
        assert await empty.updates() is None  # nothing yet: the end-of-initial marker at once
        await kv.put("a", b"1")
        await kv.put("a", b"2")
        await kv.put("b", b"1")
        await kv.delete("b")
        assert _view(await _collect(empty, 4)) == [("a", b"1", 1, None), ("a", b"2", 2, None),
                                                   ("b", b"1", 3, None), ("b", b"", 4, "DEL")]
        await empty.stop()

        w = await kv.watchall()  # latest per key, then None, then live updates
        assert _view(await _collect(w, 3)) == [("a", b"2", 2, None), ("b", b"", 4, "DEL"), None]
        await kv.put("c", b"live")
        await kv.purge("a")
        assert _view(await _collect(w, 2)) == [("c", b"live", 5, None), ("a", b"", 6, "PURGE")]
        await w.stop()

        h = await kv.watchall(include_history=True)
        # a's history went with the purge; b's value and marker remain
        assert [e and e.revision for e in await _collect(h, 5)] == [3, 4, 5, 6, None]
        await h.stop()

        one = await kv.watch("c")
        assert _view(await _collect(one, 2)) == [("c", b"live", 5, None), None]
        await kv.put("d", b"not watched")
        await kv.put("c", b"again")
        assert _view(await _collect(one, 1)) == [("c", b"again", 8, None)]
        await one.stop()

        nodel = await kv.watchall(ignore_deletes=True)
        assert _view(await _collect(nodel, 3)) == [("d", b"not watched", 7, None), ("c", b"again", 8, None), None]
        await nodel.stop()

        meta = await kv.watchall(meta_only=True, ignore_deletes=True)
        got = await _collect(meta, 3)
        assert [(e.key, e.value, e.revision) for e in got[:2]] == [("d", b"", 7), ("c", b"", 8)]
        assert got[2] is None
        await meta.stop()

        # updates only (nats.go's UpdatesOnly; this nats-py has no flag): an ordered consumer delivering new
        seen: asyncio.Queue = asyncio.Queue()

        async def cb(msg):
            await seen.put((msg.subject, msg.data))

        sub = await js.subscribe("$KV.W.>", cb=cb, ordered_consumer=True, deliver_policy=api.DeliverPolicy.NEW)
        await kv.put("e", b"new")
        assert await asyncio.wait_for(seen.get(), 5) == ("$KV.W.e", b"new")
        assert seen.empty()
        await sub.unsubscribe()
    finally:
        await nc.close()


async def test_bucket_info_and_delete_bucket(js_server):
    nc, js = await _connect(js_server)
    try:
        kv = await js.create_key_value(api.KeyValueConfig(bucket="INFO", history=2, ttl=3600.0, max_bytes=1 << 20,
                                                          max_value_size=128, storage=api.StorageType.FILE))
        await kv.put("k", b"v")
        st = await kv.status()
        assert (st.bucket, st.values, st.history, st.ttl) == ("INFO", 1, 2, 3600.0)
        cfg = st.stream_info.config
        assert (cfg.max_bytes, cfg.max_msg_size, cfg.duplicate_window) == (1 << 20, 128, 120.0)
        with pytest.raises(BadRequestError) as ei:  # a value above max_value_size
            await kv.put("big", b"x" * 129)
        assert (ei.value.err_code, ei.value.description) == (10054, "message size exceeds maximum allowed")
        again = await js.key_value("INFO")
        assert (await again.get("k")).value == b"v"
        assert await js.delete_key_value("INFO")
        with pytest.raises(BucketNotFoundError):
            await js.key_value("INFO")
        with pytest.raises(nats.js.errors.NotFoundError):
            await js.delete_key_value("INFO")
    finally:
        await nc.close()


async def test_per_key_ttl_and_limit_markers(js_server):
    nc, js = await _connect(js_server)
    try:
        kv = await js.create_key_value(bucket="T", history=5, storage=api.StorageType.FILE, limit_marker_ttl=1.0)
        st = await kv.status()
        assert st.marker_ttl == 1.0 and st.stream_info.config.allow_msg_ttl
        await kv.put("keep", b"k")
        rev = await kv.create("short", b"s", msg_ttl=1.0)
        msg = await js.get_msg("KV_T", seq=rev)
        assert msg.headers == {"Nats-Expected-Last-Subject-Sequence": "0", "Nats-TTL": "1"}  # nats-py sends seconds
        w = await kv.watchall()
        assert _view(await _collect(w, 3)) == [("keep", b"k", 1, None), ("short", b"s", 2, None), None]
        # the key expires; the server places a marker (Nats-Marker-Reason: MaxAge), seen as a purge
        (marker,) = await _collect(w, 1, timeout=10)
        assert (marker.key, marker.value, marker.operation) == ("short", b"", "PURGE")
        raw = await js.get_msg("KV_T", seq=marker.revision)
        assert raw.headers["Nats-Marker-Reason"] == "MaxAge" and raw.headers["Nats-TTL"] == "1s"
        # this nats-py's get() looks at KV-Operation only: it reads the marker as an empty value
        e = await kv.get("short")
        assert e.revision == marker.revision and not e.value
        # and the marker itself expires after its own TTL
        await wait_until(lambda: _gone(js, "KV_T", marker.revision), timeout=10, what="the marker to expire")
        assert (await kv.get("keep")).value == b"k"
        await w.stop()
        # create with a TTL on top of an expired key works (its last revision is gone)
        assert await kv.create("short", b"again", msg_ttl=60.0) > marker.revision
        # a purge marker with a TTL
        await kv.purge("keep", msg_ttl=60.0)
        purged = await js.get_msg("KV_T", subject="$KV.T.keep")
        assert purged.headers == {"KV-Operation": "PURGE", "Nats-Rollup": "sub", "Nats-TTL": "60"}
    finally:
        await nc.close()


async def _gone(js, stream: str, seq: int) -> bool:
    try:
        await js.get_msg(stream, seq=seq)
    except nats.js.errors.NotFoundError:
        return True
    return False


async def test_bucket_max_age_expires_values(js_server):
    nc, js = await _connect(js_server)
    try:
        kv = await js.create_key_value(bucket="AGE", ttl=1.0, storage=api.StorageType.MEMORY)
        assert (await kv.status()).stream_info.config.duplicate_window == 1.0  # nats-py caps it at the ttl
        await kv.put("k", b"v")
        await wait_until(lambda: _key_gone(kv, "k"), timeout=10, what="the value to age out")
        assert (await kv.status()).values == 0
    finally:
        await nc.close()


async def _key_gone(kv, key: str) -> bool:
    try:
        await kv.get(key)
    except KeyNotFoundError:
        return True
    return False


async def test_direct_get_bucket(js_server):
    nc, js = await _connect(js_server)
    try:
        kv = await js.create_key_value(bucket="D", history=3, direct=True, storage=api.StorageType.FILE)
        assert (await kv.status()).stream_info.config.allow_direct
        await kv.put("k", b"1")
        await kv.put("k", b"2")
        await kv.put("j", b"x")
        assert (await kv.get("k")).value == b"2"
        assert (await kv.get("k", revision=1)).value == b"1"
        with pytest.raises(KeyNotFoundError):  # revision 3 is j's
            await kv.get("k", revision=3)
        await kv.delete("k")
        with pytest.raises(KeyNotFoundError) as ei:
            await kv.get("k")
        assert ei.value.op == "DEL"
        with pytest.raises(KeyNotFoundError):
            await kv.get("nope")
        raw = await js.get_msg("KV_D", subject="$KV.D.k", direct=True)
        assert (raw.seq, raw.headers["KV-Operation"], raw.headers["Nats-Stream"]) == (4, "DEL", "KV_D")
    finally:
        await nc.close()


async def test_file_bucket_survives_restart(start_server, tmp_path):
    srv = start_server(["-js", "-sd", str(tmp_path / "store")])
    nc, js = await _connect(srv)
    try:
        kv = await js.create_key_value(bucket="R", history=4, storage=api.StorageType.FILE)
        for i in range(3):
            await kv.put("k", f"v{i}".encode())
        await kv.put("gone", b"x")
        await kv.delete("gone")
        await kv.create("ttl", b"t", msg_ttl=3600.0)
    finally:
        await nc.close()
    srv.stop()
    srv2 = await asyncio.to_thread(start_server.restart, srv)
    nc, js = await _connect(srv2)
    try:
        kv = await js.key_value("R")
        assert (await kv.get("k")).value == b"v2"
        assert [e.value for e in await kv.history("k")] == [b"v0", b"v1", b"v2"]
        with pytest.raises(KeyNotFoundError):
            await kv.get("gone")
        assert await kv.keys() == ["k", "ttl"]
        with pytest.raises(KeyWrongLastSequenceError) as ei:  # revisions carry on
            await kv.update("k", b"v3", last=2)
        assert ei.value.description == "wrong last sequence: 3"
        assert await kv.update("k", b"v3", last=3) == 7
    finally:
        await nc.close()
