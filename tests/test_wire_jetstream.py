"""JetStream stream management and publish through nats-py, as users call them.

Each expectation holds against the Go server too (NATSD_WIRE_SERVER=go).
"""

from __future__ import annotations

import json

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


async def _api(nc, subject: str, body: bytes = b"", headers=None) -> dict:
    msg = await nc.request(subject, body, timeout=2, headers=headers)
    return json.loads(msg.data)


async def test_api_error_replies_keep_the_type_and_decode_strictly(js_server):
    nc, js = await _connect(js_server)
    try:
        r = await _api(nc, "$JS.API.STREAM.INFO.NOPE")
        assert r["type"] == "io.nats.jetstream.api.v1.stream_info_response"
        assert r["error"] == {"code": 404, "err_code": 10059, "description": "stream not found"}
        r = await _api(nc, "$JS.API.STREAM.CREATE.X", b'{"name":"X","bogus":1}')
        assert r == {"type": "io.nats.jetstream.api.v1.stream_create_response",
                     "error": {"code": 400, "err_code": 10025,
                               "description": 'invalid JSON: json: unknown field "bogus"'}}
        r = await _api(nc, "$JS.API.STREAM.CREATE.X")  # an empty body is {}: the name does not match
        assert r["error"]["err_code"] == 10056
        for bad in ("a/b", "a\\b"):  # path separators: 10128, before the config is checked
            r = await _api(nc, f"$JS.API.STREAM.CREATE.{bad}", b'{"name":"%s","subjects":["x.>"]}'
                           % bad.replace("\\", "\\\\").encode())
            assert r["error"] == {"code": 400, "err_code": 10128,
                                  "description": "Stream name can not contain path separators"}
        r = await _api(nc, "$JS.API.STREAM.UPDATE.NOPE", b'{"name":"NOPE","subjects":["nope"]}')
        assert r["type"] == "io.nats.jetstream.api.v1.stream_update_response"
        assert r["error"] == {"code": 404, "err_code": 10059, "description": "stream not found"}
        r = await _api(nc, "$JS.API.STREAM.DELETE.NOPE")
        assert r["error"]["err_code"] == 10059
        await js.add_stream(name="S", subjects=["s"], storage=api.StorageType.MEMORY)
        for level in ("99", "x"):
            r = await _api(nc, "$JS.API.STREAM.INFO.S", headers={"Nats-Required-Api-Level": level})
            assert r["type"] == "io.nats.jetstream.api.v1.stream_info_response"
            assert r["error"] == {"code": 412, "err_code": 10185,
                                  "description": "JetStream minimum api level required"}
        r = await _api(nc, "$JS.API.STREAM.INFO.S", headers={"Nats-Required-Api-Level": "1"})
        assert r["config"]["name"] == "S"
        r = await _api(nc, "$JS.API.STREAM.LEADER.STEPDOWN.S")
        assert r["error"] == {"code": 503, "err_code": 10010, "description": "JetStream clustering support required"}
        with pytest.raises(nats.errors.TimeoutError):  # an API subject nobody serves gets no reply
            await nc.request("$JS.API.STREAM.BOGUS", b"", timeout=0.5)
    finally:
        await nc.close()


async def test_stream_names_and_list_pages(js_server):
    nc, js = await _connect(js_server)
    try:
        r = await _api(nc, "$JS.API.STREAM.NAMES")
        assert r == {"type": "io.nats.jetstream.api.v1.stream_names_response",
                     "total": 0, "offset": 0, "limit": 1024, "streams": None}
        r = await _api(nc, "$JS.API.STREAM.LIST")
        assert (r["total"], r["limit"], r["streams"]) == (0, 256, [])
        for name in ("C", "A", "B"):
            await js.add_stream(name=name, subjects=[name.lower()], storage=api.StorageType.MEMORY)
        r = await _api(nc, "$JS.API.STREAM.NAMES")
        assert (r["total"], r["offset"], r["limit"], r["streams"]) == (3, 0, 1024, ["A", "B", "C"])
        r = await _api(nc, "$JS.API.STREAM.NAMES", b'{"offset":1}')
        assert r["streams"] == ["B", "C"]
        r = await _api(nc, "$JS.API.STREAM.LIST")
        assert (r["total"], r["limit"]) == (3, 256)
        assert [s["config"]["name"] for s in r["streams"]] == ["A", "B", "C"]
    finally:
        await nc.close()


async def test_account_info_counts_stream_bytes(js_server):
    nc, js = await _connect(js_server)
    try:
        await js.add_stream(name="S", subjects=["s"], storage=api.StorageType.MEMORY)
        await js.publish("s", b"x")
        info = await js.account_info()
        assert (info.streams, info.consumers, info.memory) == (1, 0, len("s") + len("x") + 16)
        assert info.limits.max_memory == -1 and info.limits.max_streams == -1
        assert info.api.level == 5
    finally:
        await nc.close()


async def test_stream_info_cluster_metadata_and_update_overlap(js_server):
    nc, js = await _connect(js_server)
    try:
        await js.add_stream(name="S", subjects=["s.>"], storage=api.StorageType.MEMORY, metadata={"k": "v"})
        si = await js.stream_info("S")
        assert si.config.metadata["k"] == "v"
        assert si.cluster.leader == nc._server_info["server_name"]  # a standalone server leads
        await js.add_stream(name="T", subjects=["t"], storage=api.StorageType.MEMORY)
        with pytest.raises(BadRequestError) as e:
            await js.update_stream(name="T", subjects=["t", "s.x"], storage=api.StorageType.MEMORY)
        assert e.value.err_code == 10065
        with pytest.raises(NotFoundError) as e:
            await js.update_stream(name="NOPE", subjects=["nope"], storage=api.StorageType.MEMORY)
        assert e.value.err_code == 10059
    finally:
        await nc.close()


async def test_no_ack_stream_and_direct_get_without_allow_direct(js_server):
    nc, js = await _connect(js_server)
    try:
        await js.add_stream(name="N", subjects=["n"], storage=api.StorageType.MEMORY, no_ack=True)
        with pytest.raises(nats.errors.TimeoutError):  # stored, but no PubAck
            await nc.request("n", b"x", timeout=0.5)
        si = await js.stream_info("N")
        assert si.state.messages == 1
        with pytest.raises(nats.errors.NoRespondersError):
            await nc.request("$JS.API.DIRECT.GET.N", b'{"seq":1}', timeout=1)
    finally:
        await nc.close()


async def test_republish_and_stored_required_api_level_header(js_server):
    nc, js = await _connect(js_server)
    try:
        sub = await nc.subscribe("rp.>")
        await js.add_stream(name="R", subjects=["r.>"], storage=api.StorageType.MEMORY,
                            republish=api.RePublish(src="r.>", dest="rp.>"))
        # a plain publish is not checked against Nats-Required-Api-Level; the header is stored
        ack = await js.publish("r.a", b"x", headers={"K": "v", "Nats-Required-Api-Level": "99"})
        assert ack.seq == 1
        msg = await js.get_msg("R", 1)
        assert msg.headers["Nats-Required-Api-Level"] == "99"
        out = await sub.next_msg(timeout=2)
        assert (out.subject, out.data) == ("rp.a", b"x")  # r.> -> rp.> keeps the tail
        h = out.headers
        assert (h["K"], h["Nats-Stream"], h["Nats-Subject"], h["Nats-Sequence"], h["Nats-Last-Sequence"]) == (
            "v", "R", "r.a", "1", "0")
        assert h["Nats-Time-Stamp"].endswith("Z")
        await js.publish("r.a", b"y")
        out = await sub.next_msg(timeout=2)
        assert (out.data, out.headers["Nats-Sequence"], out.headers["Nats-Last-Sequence"]) == (b"y", "2", "1")
    finally:
        await nc.close()


async def test_replies_carry_go_metadata_escaping_and_cluster_only_in_info(js_server):
    nc, js = await _connect(js_server)
    try:
        cfg = {"name": "M", "subjects": ["m"], "storage": "memory", "description": "a<b>&c"}
        raw = (await nc.request("$JS.API.STREAM.CREATE.M", json.dumps(cfg).encode(), timeout=2)).data
        assert b"a\\u003cb\\u003e\\u0026c" in raw  # Go's HTML-safe JSON
        created = json.loads(raw)
        md = created["config"]["metadata"]
        assert md["_nats.req.level"] == "0" and "_nats.ver" in md and md["_nats.level"] == "5"
        assert "cluster" not in created
        info = await _api(nc, "$JS.API.STREAM.INFO.M")
        assert info["cluster"]["leader"] and "_nats.ver" in info["config"]["metadata"]
        assert (info["total"], info["offset"], info["limit"]) == (0, 0, 0)
        listed = await _api(nc, "$JS.API.STREAM.LIST")
        assert listed["streams"][0]["config"]["metadata"] == {"_nats.req.level": "0"}
    finally:
        await nc.close()


async def test_paging_offsets_are_clamped(js_server):
    nc, js = await _connect(js_server)
    try:
        await js.add_stream(name="P", subjects=["p"], storage=api.StorageType.MEMORY)
        r = await _api(nc, "$JS.API.STREAM.NAMES", b'{"offset":-5}')
        assert (r["offset"], r["streams"]) == (0, ["P"])
        r = await _api(nc, "$JS.API.STREAM.NAMES", b'{"offset":99}')
        assert (r["total"], r["offset"], r["streams"]) == (1, 1, None)
    finally:
        await nc.close()


async def test_update_checks_the_config_before_the_name_and_the_lookup(js_server):
    nc, js = await _connect(js_server)
    try:
        r = await _api(nc, "$JS.API.STREAM.UPDATE.NOPE")  # empty body: the config fails first
        assert r["error"]["err_code"] == 10052
        r = await _api(nc, "$JS.API.STREAM.UPDATE.NOPE", b'{"name":"OTHER"}')
        assert r["error"]["err_code"] == 10056
        r = await _api(nc, "$JS.API.STREAM.UPDATE.NOPE", b'{"name":"NOPE"}')
        assert r["error"]["err_code"] == 10059
        r = await _api(nc, "$JS.API.STREAM.CREATE.E", b'{"name":"E","discard":"bogus"}')
        assert (r["error"]["err_code"], r["error"]["description"]) == (
            10025, 'invalid JSON: can not unmarshal "\\"bogus\\""')
        r = await _api(nc, "$JS.API.STREAM.PURGE.NOPE", b'{"seq":2,"keep":1}')
        assert r["error"]["err_code"] == 10003 and r["purged"] == 0
        r = await _api(nc, "$JS.API.STREAM.INFO.NOPE")
        assert (r["error"]["err_code"], r["total"], r["offset"], r["limit"]) == (10059, 0, 0, 0)
    finally:
        await nc.close()


async def test_names_filter_finds_streams_whose_subjects_collide(js_server):
    nc, js = await _connect(js_server)
    try:
        await js.add_stream(name="W", subjects=["a.*"], storage=api.StorageType.MEMORY)
        await js.add_stream(name="X", subjects=["x.>"], storage=api.StorageType.MEMORY)
        for flt, expect in (("*.b", ["W", "X"]), ("a.b", ["W"]), (">", ["W", "X"]), ("x.y.z", ["X"]), ("q", None)):
            r = await _api(nc, "$JS.API.STREAM.NAMES", json.dumps({"subject": flt}).encode())
            assert r["streams"] == expect, flt
    finally:
        await nc.close()
