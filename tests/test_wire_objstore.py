"""Object stores as nats-py uses them (nats.js.object_store), on file and memory storage.

A bucket is a stream ``OBJ_<bucket>`` on ``$O.<bucket>.C.>`` (chunks, one
subject per object upload) and ``$O.<bucket>.M.>`` (one rolled-up JSON meta
message per object name, base64url of the name); nats-py reads chunks back
through an ordered push consumer (flow control, heartbeats) and checks the
SHA-256 digest. This nats-py has no add_link/add_bucket_link: links are
written the way nats.go's AddLink/AddBucketLink write them. Each expectation
holds against the Go server too (NATSD_WIRE_SERVER=go).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import random

import nats
import pytest
from nats.js import api
from nats.js.errors import (
    BadRequestError,
    BucketNotFoundError,
    LinkIsABucketError,
    NotFoundError,
    ObjectNotFoundError,
)

from natsd.oracle.wire import HOST

pytestmark = pytest.mark.asyncio

STORAGES = [api.StorageType.FILE, api.StorageType.MEMORY]
MB = 1024 * 1024


@pytest.fixture
def js_server(start_server, tmp_path):
    return start_server(["-js", "-sd", str(tmp_path / "store")])


async def _connect(srv):
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    return nc, nc.jetstream()


def _meta_subject(bucket: str, name: str) -> str:
    return f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


def _digest(data: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


async def _add_link(nc, js, bucket: str, name: str, to_bucket: str, to_name: str | None) -> None:
    """nats.go AddLink (to_name set) / AddBucketLink (to_name None): a meta message with options.link."""
    link = {"bucket": to_bucket} | ({"name": to_name} if to_name else {})
    info = {"name": name, "bucket": bucket, "nuid": nc._nuid.next().decode(), "size": 0, "chunks": 0,
            "mtime": "2026-01-01T00:00:00Z", "options": {"link": link}}
    await js.publish(_meta_subject(bucket, name), json.dumps(info).encode(), headers={"Nats-Rollup": "sub"})


@pytest.mark.parametrize("storage", STORAGES)
async def test_put_and_get_objects_of_several_megabytes(js_server, storage):
    nc, js = await _connect(js_server)
    try:
        obs = await js.create_object_store("FILES", storage=storage, description="blobs")
        big = random.Random(7).randbytes(5 * MB + 12345)
        info = await obs.put("big.bin", big)
        assert (info.name, info.bucket, info.size, info.chunks) == ("big.bin", "FILES", len(big), 41)  # 128 KiB chunks
        assert info.digest == _digest(big) and not info.deleted
        got = await obs.get("big.bin")
        assert got.data == big and got.info.nuid == info.nuid
        sink = io.BytesIO()
        into = await obs.get("big.bin", writeinto=sink)
        assert sink.getvalue() == big and into.info.size == len(big)
        # a bigger chunk size, given in the object's meta options
        meta = api.ObjectMeta(name="wide.bin", description="half-MiB chunks",
                              options=api.ObjectMetaOptions(max_chunk_size=MB // 2))
        wide = big[: 3 * MB]
        info = await obs.put("wide.bin", wide, meta=meta)
        assert (info.chunks, info.size, info.description) == (6, 3 * MB, "half-MiB chunks")
        assert (await obs.get("wide.bin")).data == wide
        # empty objects have no chunks
        info = await obs.put("empty", b"")
        assert (info.size, info.chunks) == (0, 0)
        assert (await obs.get("empty")).data == b""
        st = await obs.status()
        assert (st.bucket, st.description, st.storage_type, st.sealed) == ("FILES", "blobs", storage, False)
        assert st.size > len(big) + len(wide)
        assert st.stream_info.state.messages == 41 + 6 + 3  # chunks and one meta message per object
        cfg = st.stream_info.config
        assert cfg.subjects == ["$O.FILES.C.>", "$O.FILES.M.>"]
        assert cfg.allow_rollup_hdrs and cfg.allow_direct and cfg.discard == api.DiscardPolicy.NEW
    finally:
        await nc.close()


@pytest.mark.parametrize("storage", STORAGES)
async def test_info_list_replace_and_delete(js_server, storage):
    nc, js = await _connect(js_server)
    try:
        obs = await js.create_object_store("DOCS", storage=storage)
        with pytest.raises(NotFoundError):  # nothing to list yet
            await obs.list()
        for name, body in (("a.txt", b"alpha"), ("b.txt", b"bravo" * 50_000), ("c.txt", b"charlie")):
            await obs.put(name, body)
        info = await obs.get_info("b.txt")
        assert (info.name, info.size, info.chunks, info.digest) == ("b.txt", 250_000, 2, _digest(b"bravo" * 50_000))
        assert [i.name for i in await obs.list()] == ["a.txt", "b.txt", "c.txt"]
        # replacing an object: a new upload subject, the old chunks are purged
        before = (await obs.status()).stream_info.state.messages
        new = await obs.put("b.txt", b"short")
        assert new.nuid != info.nuid and new.chunks == 1
        assert (await obs.status()).stream_info.state.messages == before - 2 + 1
        assert (await obs.get("b.txt")).data == b"short"
        # delete: the meta says deleted, the chunks are gone
        await obs.delete("a.txt")
        with pytest.raises(ObjectNotFoundError):
            await obs.get_info("a.txt")
        with pytest.raises(ObjectNotFoundError):
            await obs.get("a.txt")
        gone = await obs.get_info("a.txt", show_deleted=True)
        assert gone.deleted and (gone.size, gone.chunks, gone.digest) == (0, 0, "")
        listed = await obs.list()
        assert [(i.name, bool(i.deleted)) for i in listed] == [("c.txt", False), ("b.txt", False), ("a.txt", True)]
        assert [i.name for i in await obs.list(ignore_deletes=True)] == ["c.txt", "b.txt"]
        with pytest.raises(ObjectNotFoundError):
            await obs.delete("a.txt")
        # chunks of c and b, and three meta messages
        assert (await obs.status()).stream_info.state.messages == 2 + 3
    finally:
        await nc.close()


async def test_watch_sees_puts_and_deletes(js_server):
    nc, js = await _connect(js_server)
    try:
        obs = await js.create_object_store("W", storage=api.StorageType.FILE)
        w = await obs.watch()
        assert await w.updates() is None  # empty bucket: the end-of-initial marker at once
        await obs.put("one", b"1")
        u = await w.updates()
        assert (u.name, u.size, bool(u.deleted)) == ("one", 1, False)
        await obs.put("two", b"22")
        await obs.delete("one")
        assert [(u.name, bool(u.deleted)) for u in [await w.updates(), await w.updates()]] == \
            [("two", False), ("one", True)]
        await w.stop()

        again = await obs.watch(ignore_deletes=True)
        first = await again.updates()
        assert (first.name, await again.updates()) == ("two", None)
        await again.stop()

        hist = await obs.watch(include_history=True)
        names = [(await hist.updates()) for _ in range(3)]
        assert [(u.name, bool(u.deleted)) for u in names[:2]] == [("two", False), ("one", True)]
        assert names[2] is None  # one's put was rolled up by its delete
        await hist.stop()

        new = await obs.watch(updates_only=True)
        await obs.put("three", b"333")
        u = await new.updates()
        assert (u.name, u.size) == ("three", 3)
        await new.stop()
    finally:
        await nc.close()


async def test_links_to_objects_and_buckets(js_server):
    nc, js = await _connect(js_server)
    try:
        src = await js.create_object_store("SRC", storage=api.StorageType.FILE)
        dst = await js.create_object_store("DST", storage=api.StorageType.MEMORY)
        body = random.Random(3).randbytes(300_000)
        await src.put("data.bin", body)
        await _add_link(nc, js, "DST", "alias", "SRC", "data.bin")
        await _add_link(nc, js, "DST", "everything", "SRC", None)
        info = await dst.get_info("alias")
        assert info.is_link() and (info.options.link.bucket, info.options.link.name) == ("SRC", "data.bin")
        got = await dst.get("alias")
        assert got.data == body and got.info.name == "data.bin" and got.info.bucket == "SRC"
        with pytest.raises(LinkIsABucketError):
            await dst.get("everything")
        assert sorted(i.name for i in await dst.list()) == ["alias", "everything"]
        # a link to a bucket that is gone
        assert await js.delete_object_store("SRC")
        with pytest.raises(BucketNotFoundError):
            await dst.get("alias")
    finally:
        await nc.close()


async def test_update_meta_keeps_the_data(js_server):
    nc, js = await _connect(js_server)
    try:
        obs = await js.create_object_store("M", storage=api.StorageType.FILE)
        put = await obs.put("report", b"numbers" * 1000)
        await obs.update_meta("report", api.ObjectMeta(name="report", description="Q3",
                                                      headers={"Owner": ["finance"]}))
        info = await obs.get_info("report")
        assert (info.description, info.headers, info.nuid, info.size) == ("Q3", {"Owner": ["finance"]}, put.nuid, 7000)
        assert (await obs.get("report")).data == b"numbers" * 1000
        # the meta subject holds one message (rolled up)
        st = (await obs.status()).stream_info.state
        assert st.messages == 1 + 1
        with pytest.raises(nats.js.errors.ObjectDeletedError):
            await obs.update_meta("nothing", api.ObjectMeta(name="nothing"))
    finally:
        await nc.close()


async def test_seal_status_ttl_and_delete_bucket(js_server):
    nc, js = await _connect(js_server)
    try:
        obs = await js.create_object_store("S", config=api.ObjectStoreConfig(ttl=3600.0, max_bytes=8 * MB,
                                                                            storage=api.StorageType.FILE))
        await obs.put("kept", b"k" * 1000)
        st = await obs.status()
        assert (st.ttl, st.sealed, st.replicas, st.stream_info.config.max_bytes) == (3600.0, False, 1, 8 * MB)
        with pytest.raises(nats.js.errors.APIError) as ei:  # discard new: a chunk past max_bytes is refused
            await obs.put("too-big", b"x" * (9 * MB))
        assert (ei.value.code, ei.value.err_code, ei.value.description) == (503, 10077, "maximum bytes exceeded")
        assert (await obs.status()).stream_info.state.messages == 2  # the failed upload's chunks were purged
        await obs.seal()
        st = await obs.status()
        assert st.sealed
        with pytest.raises(BadRequestError) as ei:
            await js.purge_stream("OBJ_S")
        assert (ei.value.err_code, ei.value.description) == (10109, "invalid operation on sealed stream")
        with pytest.raises(BadRequestError) as ei:
            await obs.put("late", b"no")
        assert ei.value.description == "invalid operation on sealed stream"
        assert (await obs.get("kept")).data == b"k" * 1000
        again = await js.object_store("S")
        assert (await again.get_info("kept")).size == 1000
        assert await js.delete_object_store("S")
        with pytest.raises(BucketNotFoundError):
            await js.object_store("S")
    finally:
        await nc.close()


async def test_concurrent_gets_of_one_object(js_server):
    nc, js = await _connect(js_server)
    try:
        obs = await js.create_object_store("C", storage=api.StorageType.MEMORY)
        body = random.Random(5).randbytes(2 * MB)
        await obs.put("shared", body)
        results = await asyncio.gather(*(obs.get("shared") for _ in range(4)))
        assert all(r.data == body for r in results)
    finally:
        await nc.close()


async def test_objects_survive_restart(start_server, tmp_path):
    srv = start_server(["-js", "-sd", str(tmp_path / "store")])
    nc, js = await _connect(srv)
    body = random.Random(11).randbytes(3 * MB + 7)
    try:
        obs = await js.create_object_store("R", storage=api.StorageType.FILE)
        await obs.put("blob", body)
        await obs.put("gone", b"soon")
        await obs.delete("gone")
    finally:
        await nc.close()
    srv.stop()
    srv2 = await asyncio.to_thread(start_server.restart, srv)
    nc, js = await _connect(srv2)
    try:
        obs = await js.object_store("R")
        assert (await obs.get("blob")).data == body
        assert [(i.name, bool(i.deleted)) for i in await obs.list()] == [("blob", False), ("gone", True)]
    finally:
        await nc.close()
