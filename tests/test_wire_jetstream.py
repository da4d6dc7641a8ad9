"""JetStream stream management and publish through nats-py, as users call them.

Each expectation holds against the Go server too (NATSD_WIRE_SERVER=go).
"""

from __future__ import annotations

import nats
import pytest
from nats.js import api
from nats.js.errors import APIError, BadRequestError, NotFoundError

from natsd.oracle.wire import HOST

pytestmark = pytest.mark.asyncio


@pytest.fixture
def js_server(start_server, tmp_path):
    return start_server(["-js", "-sd", str(tmp_path / "store")])


async def _connect(srv):
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    return nc, nc.jetstream()


async def test_server_advertises_jetstream_and_account_info(js_server):
    nc, js = await _connect(js_server)
    try:
        assert nc._server_info.get("jetstream") is True
        info = await js.account_info()
        assert info.streams == 0 and info.api.level >= 1
    finally:
        await nc.close()


async def test_stream_create_defaults_and_info(js_server):
    nc, js = await _connect(js_server)
    try:
        si = await js.add_stream(name="ORDERS", subjects=["orders.>"], storage=api.StorageType.MEMORY)
        cfg = si.config
        assert cfg.name == "ORDERS" and cfg.subjects == ["orders.>"]
        assert cfg.retention == api.RetentionPolicy.LIMITS and cfg.discard == api.DiscardPolicy.OLD
        assert (cfg.max_msgs, cfg.max_bytes, cfg.max_msgs_per_subject) == (-1, -1, -1)
        assert cfg.duplicate_window == 120.0 and cfg.num_replicas == 1
        assert si.state.messages == 0 and si.state.first_seq == 0
        # an identical create is idempotent; a different one is refused
        again = await js.add_stream(name="ORDERS", subjects=["orders.>"], storage=api.StorageType.MEMORY)
        assert again.config.name == "ORDERS"
        with pytest.raises(BadRequestError) as e:
            await js.add_stream(name="ORDERS", subjects=["other.>"], storage=api.StorageType.MEMORY)
        assert e.value.err_code == 10058
        # overlapping subjects with another stream
        with pytest.raises(BadRequestError) as e:
            await js.add_stream(name="OTHER", subjects=["orders.new"], storage=api.StorageType.MEMORY)
        assert e.value.err_code == 10065
    finally:
        await nc.close()


async def test_publish_puback_dedupe_and_get(js_server):
    nc, js = await _connect(js_server)
    try:
        await js.add_stream(name="S", subjects=["s.*"], storage=api.StorageType.MEMORY)
        ack = await js.publish("s.a", b"one")
        assert (ack.stream, ack.seq) == ("S", 1) and not ack.duplicate
        ack = await js.publish("s.b", b"two", headers={"Nats-Msg-Id": "m2", "X": "y"})
        assert ack.seq == 2
        dup = await js.publish("s.b", b"two again", headers={"Nats-Msg-Id": "m2"})
        assert dup.seq == 2 and dup.duplicate
        msg = await js.get_msg("S", 2)
        assert (msg.subject, msg.seq, msg.data) == ("s.b", 2, b"two")
        assert msg.headers["X"] == "y"
        last = await js.get_last_msg("S", "s.a")
        assert last.seq == 1 and last.data == b"one"
        si = await js.stream_info("S")
        assert (si.state.messages, si.state.first_seq, si.state.last_seq) == (2, 1, 2)
        with pytest.raises(NotFoundError):
            await js.get_msg("S", 99)
    finally:
        await nc.close()


async def test_expected_headers_and_discard_new(js_server):
    nc, js = await _connect(js_server)
    try:
        await js.add_stream(name="S", subjects=["s"], storage=api.StorageType.MEMORY, max_msgs=2,
                            discard=api.DiscardPolicy.NEW)
        await js.publish("s", b"1")
        with pytest.raises(APIError) as e:
            await js.publish("s", b"x", headers={"Nats-Expected-Last-Sequence": "5"})
        assert e.value.err_code == 10071
        with pytest.raises(APIError) as e:
            await js.publish("s", b"x", headers={"Nats-Expected-Stream": "NOPE"})
        assert e.value.err_code == 10060
        await js.publish("s", b"2", headers={"Nats-Expected-Last-Sequence": "1"})
        with pytest.raises(APIError) as e:
            await js.publish("s", b"3")
        assert e.value.err_code == 10077
    finally:
        await nc.close()


async def test_limits_purge_delete_update_and_list(js_server):
    nc, js = await _connect(js_server)
    try:
        await js.add_stream(name="S", subjects=["s.>"], storage=api.StorageType.MEMORY, max_msgs_per_subject=2)
        for i in range(3):
            await js.publish("s.a", str(i).encode())
        await js.publish("s.b", b"b")
        si = await js.stream_info("S")
        assert (si.state.messages, si.state.first_seq, si.state.last_seq) == (3, 2, 4)
        assert await js.delete_msg("S", 2)
        with pytest.raises(NotFoundError):
            await js.get_msg("S", 2)
        assert await js.purge_stream("S", subject="s.b")
        si = await js.stream_info("S")
        assert si.state.messages == 1
        si = await js.update_stream(name="S", subjects=["s.>", "t"], storage=api.StorageType.MEMORY,
                                    max_msgs_per_subject=5)
        assert si.config.max_msgs_per_subject == 5 and si.config.subjects == ["s.>", "t"]
        await js.add_stream(name="T2", subjects=["u"], storage=api.StorageType.MEMORY)
        names = sorted(s.config.name for s in await js.streams_info())
        assert names == ["S", "T2"]
        assert await js.find_stream_name_by_subject("u") == "T2"
        assert await js.delete_stream("T2")
        with pytest.raises(NotFoundError):
            await js.stream_info("T2")
        assert await js.purge_stream("S")
        si = await js.stream_info("S")
        assert (si.state.messages, si.state.first_seq, si.state.last_seq) == (0, 5, 4)
    finally:
        await nc.close()


async def test_direct_get(js_server):
    nc, js = await _connect(js_server)
    try:
        await js.add_stream(name="D", subjects=["d.*"], storage=api.StorageType.MEMORY, allow_direct=True)
        await js.publish("d.x", b"first")
        await js.publish("d.x", b"second", headers={"H": "v"})
        msg = await js.get_msg("D", 1, direct=True)
        assert msg.data == b"first" and msg.subject == "d.x"
        last = await js.get_last_msg("D", "d.x", direct=True)
        assert last.seq == 2 and last.data == b"second" and last.headers["H"] == "v"
    finally:
        await nc.close()
