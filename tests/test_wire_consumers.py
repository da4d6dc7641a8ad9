"""JetStream consumers through nats-py, as users call them: pull, push, ordered, acks.

Each expectation holds against the Go server too (NATSD_WIRE_SERVER=go).
"""

from __future__ import annotations

import asyncio
import json
import re

import nats
import pytest
from nats.js import api
from nats.js.errors import APIError, BadRequestError, NotFoundError

from natsd.oracle.wire import HOST, run_on_natsd_and_go

pytestmark = pytest.mark.asyncio


@pytest.fixture
def js_server(start_server, tmp_path):
    return start_server(["-js", "-sd", str(tmp_path / "store")])


async def _connect(srv):
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    return nc, nc.jetstream()


async def _stream(js, name="S", subjects=("s.>",), **kw):
    return await js.add_stream(name=name, subjects=list(subjects), storage=api.StorageType.MEMORY, **kw)


async def _request(nc, subject, body=b""):
    msg = await nc.request(subject, body, timeout=2)
    return json.loads(msg.data)


async def test_pull_fetch_ack_and_consumer_info(js_server):
    nc, js = await _connect(js_server)
    try:
        await _stream(js)
        for i in range(5):
            await js.publish(f"s.{i}", f"m{i}".encode())
        sub = await js.pull_subscribe("s.>", durable="D", stream="S")
        msgs = await sub.fetch(3, timeout=2)
        assert [m.data for m in msgs] == [b"m0", b"m1", b"m2"]
        assert [m.subject for m in msgs] == ["s.0", "s.1", "s.2"]
        md = msgs[2].metadata
        assert (md.sequence.stream, md.sequence.consumer, md.num_delivered, md.num_pending) == (3, 3, 1, 2)
        assert msgs[0].reply.startswith("$JS.ACK.S.D.1.1.1.")
        await msgs[0].ack_sync()
        await msgs[1].ack_sync()
        info = await js.consumer_info("S", "D")
        assert (info.delivered.consumer_seq, info.delivered.stream_seq) == (3, 3)
        assert (info.ack_floor.consumer_seq, info.ack_floor.stream_seq) == (2, 2)
        assert (info.num_ack_pending, info.num_pending, info.num_redelivered) == (1, 2, 0)
        assert info.config.ack_policy == api.AckPolicy.EXPLICIT and info.config.max_ack_pending == 1000
        assert info.config.ack_wait == 30.0 and info.config.max_waiting == 512
    finally:
        await nc.close()


async def test_nak_term_progress_and_redelivery(js_server):
    nc, js = await _connect(js_server)
    try:
        await _stream(js)
        await js.publish("s.a", b"one")
        await js.publish("s.b", b"two")
        terminated = await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.S.W")
        naked = await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.S.W")
        sub = await js.pull_subscribe("s.>", durable="W", stream="S",
                                      config=api.ConsumerConfig(ack_wait=0.5))
        one, two = await sub.fetch(2, timeout=2)
        await one.in_progress()
        await one.nak()
        await nc.publish(two.reply, b"+TERM bad payload")  # nats-py term() sends no reason
        again = (await sub.fetch(1, timeout=2))[0]
        assert again.data == b"one" and again.metadata.num_delivered == 2
        assert again.metadata.sequence.consumer == 3
        adv = json.loads((await terminated.next_msg(timeout=2)).data)
        assert (adv["type"], adv["stream_seq"], adv["reason"]) == (
            "io.nats.jetstream.advisory.v1.terminated", 2, "bad payload")
        adv = json.loads((await naked.next_msg(timeout=2)).data)
        assert (adv["type"], adv["stream_seq"], adv["deliveries"]) == ("io.nats.jetstream.advisory.v1.nak", 1, 1)
        # not acked: redelivered once ack_wait passes
        third = (await sub.fetch(1, timeout=3))[0]
        assert third.data == b"one" and third.metadata.num_delivered == 3
        await third.ack_sync()
        info = await js.consumer_info("S", "W")
        assert (info.num_ack_pending, info.num_redelivered, info.ack_floor.stream_seq) == (0, 0, 2)
    finally:
        await nc.close()


async def test_nak_with_delay_and_max_deliver_advisory(js_server):
    nc, js = await _connect(js_server)
    try:
        await _stream(js)
        await js.publish("s.a", b"one")
        exceeded = await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.S.M")
        sub = await js.pull_subscribe("s.>", durable="M", stream="S",
                                      config=api.ConsumerConfig(max_deliver=2, ack_wait=5))
        first = (await sub.fetch(1, timeout=2))[0]
        await first.nak(delay=0.2)
        second = (await sub.fetch(1, timeout=3))[0]
        assert second.metadata.num_delivered == 2
        await second.nak()
        # the exhausted message is dropped when the consumer next looks for work
        await js.publish("s.b", b"two")
        (nxt,) = await sub.fetch(1, timeout=2)
        assert nxt.data == b"two"
        adv = json.loads((await exceeded.next_msg(timeout=2)).data)
        assert (adv["type"], adv["stream_seq"], adv["deliveries"]) == (
            "io.nats.jetstream.advisory.v1.max_deliver", 1, 2)
        info = await js.consumer_info("S", "M")
        assert info.num_ack_pending == 1 and info.num_redelivered == 1
        # Go's consumer store never saw an ack for the exhausted message: its ack floor stays put
        assert info.ack_floor.stream_seq == 0
    finally:
        await nc.close()


async def test_pull_status_messages(js_server):
    nc, js = await _connect(js_server)
    try:
        await _stream(js)
        await js.add_consumer("S", durable_name="P", ack_policy=api.AckPolicy.EXPLICIT, max_waiting=1)
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        nxt = "$JS.API.CONSUMER.MSG.NEXT.S.P"
        await nc.publish(nxt, json.dumps({"batch": 1, "no_wait": True}).encode(), reply=inbox)
        m = await sub.next_msg(timeout=2)
        assert (m.headers or {}).get("Status") == "404" and m.headers.get("Description") == "No Messages"
        # the first request must outlive the second's arrival, even on a loaded machine
        await nc.publish(nxt, json.dumps({"batch": 2, "expires": 1_000_000_000}).encode(), reply=inbox)
        await nc.publish(nxt, json.dumps({"batch": 1, "expires": 1_000_000_000}).encode(), reply=inbox)
        m = await sub.next_msg(timeout=2)
        assert (m.headers["Status"], m.headers["Description"]) == ("409", "Exceeded MaxWaiting")
        m = await sub.next_msg(timeout=2)
        assert (m.headers["Status"], m.headers["Description"]) == ("408", "Request Timeout")
        assert (m.headers["Nats-Pending-Messages"], m.headers["Nats-Pending-Bytes"]) == ("2", "0")
        await nc.publish(nxt, b"{bad json", reply=inbox)
        m = await sub.next_msg(timeout=2)
        assert m.headers["Status"] == "400" and m.headers["Description"].startswith("Bad Request - ")
        await nc.publish(nxt, json.dumps({"batch": 1, "expires": 10, "idle_heartbeat": 10}).encode(),
                         reply=inbox)
        m = await sub.next_msg(timeout=2)
        assert (m.headers["Status"], m.headers["Description"]) == ("400", "Bad Request - heartbeat value too large")
        await js.publish("s.x", b"0123456789")
        await nc.publish(nxt, json.dumps({"batch": 5, "max_bytes": 10}).encode(), reply=inbox)
        m = await sub.next_msg(timeout=2)
        assert (m.headers["Status"], m.headers["Description"]) == ("409", "Message Size Exceeds MaxBytes")
        await nc.publish(nxt, json.dumps({"batch": 1, "max_bytes": 1000}).encode(), reply=inbox)
        m = await sub.next_msg(timeout=2)
        assert m.data == b"0123456789" and m.subject == "s.x"
        m = await sub.next_msg(timeout=2)
        assert (m.headers["Status"], m.headers["Description"]) == ("409", "Batch Completed")
        # a pull consumer's idle heartbeat while the request waits
        await nc.publish(nxt, json.dumps({"batch": 1, "expires": 1_000_000_000,
                                          "idle_heartbeat": 100_000_000}).encode(), reply=inbox)
        m = await sub.next_msg(timeout=2)
        assert (m.headers["Status"], m.headers["Description"]) == ("100", "Idle Heartbeat")
        assert m.headers["Nats-Last-Consumer"] == "1" and m.headers["Nats-Last-Stream"] == "1"
        # missing consumer: no responders
        other = nc.new_inbox()
        osub = await nc.subscribe(other)
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.S.NOPE", b"", reply=other)
        m = await osub.next_msg(timeout=2)
        assert m.headers["Status"] == "503"
        # deleting the consumer ends waiting requests
        await js.delete_consumer("S", "P")
        while True:
            m = await sub.next_msg(timeout=2)
            if m.headers["Status"] != "100":
                break
        assert (m.headers["Status"], m.headers["Description"]) == ("409", "Consumer Deleted")
    finally:
        await nc.close()


async def test_push_durable_and_deliver_group(js_server):
    nc, js = await _connect(js_server)
    try:
        await _stream(js)
        got: list = []
        done = asyncio.Event()

        async def cb(msg):
            got.append((msg.subject, msg.data, msg.metadata.sequence.stream))
            await msg.ack()
            if len(got) == 3:
                done.set()

        sub = await js.subscribe("s.>", durable="PUSH", cb=cb, stream="S")
        for i in range(3):
            await js.publish(f"s.{i}", f"p{i}".encode())
        await asyncio.wait_for(done.wait(), 3)
        assert got == [("s.0", b"p0", 1), ("s.1", b"p1", 2), ("s.2", b"p2", 3)]
        info = await js.consumer_info("S", "PUSH")
        assert info.push_bound is True and info.config.deliver_subject
        await sub.unsubscribe()
        # a deliver group: each message reaches one member
        seen: list = []
        all_seen = asyncio.Event()

        def member(tag):
            async def on_msg(msg):
                seen.append((tag, msg.metadata.sequence.stream))
                await msg.ack()
                if len(seen) == 3:
                    all_seen.set()
            return on_msg

        await js.subscribe("s.>", queue="workers", stream="S", cb=member(1), manual_ack=True)
        await js.subscribe("s.>", queue="workers", stream="S", cb=member(2), manual_ack=True)
        await asyncio.wait_for(all_seen.wait(), 3)
        assert sorted(seq for _, seq in seen) == [1, 2, 3]  # each message reached one member
        qi = await js.consumer_info("S", "workers")
        assert qi.config.deliver_group == "workers"
    finally:
        await nc.close()


async def test_ordered_consumer_and_headers_only(js_server):
    nc, js = await _connect(js_server)
    try:
        await _stream(js)
        for i in range(20):
            await js.publish(f"s.{i % 3}", f"o{i}".encode(), headers={"K": str(i)})
        sub = await js.subscribe("s.>", ordered_consumer=True, stream="S")
        datas = [(await sub.next_msg(timeout=2)).data for _ in range(20)]
        assert datas == [f"o{i}".encode() for i in range(20)]
        await js.publish("s.9", b"later")
        assert (await sub.next_msg(timeout=2)).data == b"later"
        ho = await js.subscribe("s.>", stream="S", config=api.ConsumerConfig(headers_only=True),
                                manual_ack=True)
        m = await ho.next_msg(timeout=2)
        assert m.data == b"" and m.headers["Nats-Msg-Size"] == "2" and m.headers["K"] == "0"
    finally:
        await nc.close()


async def test_consumer_management_and_errors(js_server):
    nc, js = await _connect(js_server)
    try:
        await _stream(js)
        ci = await js.add_consumer("S", durable_name="A", ack_policy=api.AckPolicy.EXPLICIT,
                                   filter_subject="s.a", metadata={"team": "x"})
        assert ci.name == "A" and ci.config.filter_subject == "s.a"
        assert ci.config.metadata["team"] == "x" and ci.config.metadata["_nats.req.level"] == "0"
        # idempotent create; an update through action create is refused
        again = await js.add_consumer("S", durable_name="A", ack_policy=api.AckPolicy.EXPLICIT,
                                      filter_subject="s.a", metadata={"team": "x"})
        assert again.name == "A"
        r = await _request(nc, "$JS.API.CONSUMER.CREATE.S.A", json.dumps(
            {"stream_name": "S", "action": "create",
             "config": {"durable_name": "A", "ack_policy": "explicit", "filter_subject": "s.b"}}).encode())
        assert r["error"]["err_code"] == 10148
        r = await _request(nc, "$JS.API.CONSUMER.CREATE.S.Z", json.dumps(
            {"stream_name": "S", "action": "update", "config": {"name": "Z"}}).encode())
        assert r["error"]["err_code"] == 10149
        # updates: mutable field accepted, immutable refused with 10012
        upd = await js.add_consumer("S", durable_name="A", ack_policy=api.AckPolicy.EXPLICIT,
                                    filter_subject="s.a", description="d")
        assert upd.config.description == "d"
        with pytest.raises(APIError) as e:
            await js.add_consumer("S", durable_name="A", ack_policy=api.AckPolicy.ALL, filter_subject="s.a")
        assert (e.value.code, e.value.err_code) == (500, 10012) and e.value.description == "ack policy can not be updated"
        eph = await js.add_consumer("S", ack_policy=api.AckPolicy.NONE)
        assert len(eph.name) == 8 and eph.config.inactive_threshold == 5.0
        names = await _request(nc, "$JS.API.CONSUMER.NAMES.S")
        assert names["consumers"] == sorted(["A", eph.name]) and names["total"] == 2
        lst = await _request(nc, "$JS.API.CONSUMER.LIST.S")
        assert [c["name"] for c in lst["consumers"]] == sorted(["A", eph.name])
        assert (await js.account_info()).consumers == 2
        assert (await js.stream_info("S")).state.consumer_count == 2
        assert await js.delete_consumer("S", "A")
        with pytest.raises(NotFoundError) as e:
            await js.consumer_info("S", "A")
        assert e.value.err_code == 10014
        with pytest.raises(NotFoundError) as e:
            await js.add_consumer("NOPE", durable_name="X")
        assert e.value.err_code == 10059
        bad = [
            ({"durable_name": "B", "deliver_policy": "by_start_sequence"}, 10094),
            ({"durable_name": "B", "filter_subject": "s.a", "filter_subjects": ["s.b"]}, 10136),
            ({"durable_name": "B", "filter_subjects": ["s.>", "s.a"]}, 10138),
            ({"durable_name": "B", "deliver_subject": "d.*"}, 10079),
            ({"durable_name": "B", "deliver_subject": "s.x"}, 10081),
            ({"durable_name": "B", "idle_heartbeat": 1_000_000}, 10088),
            ({"durable_name": "B", "ack_policy": "explicit", "backoff": [1, 2, 3], "max_deliver": 2}, 10116),
            ({"durable_name": "B", "deliver_subject": "d", "flow_control": True}, 10108),
            ({"durable_name": "B", "ack_policy": "bogus"}, 10025),
            ({"durable_name": "B", "sample_freq": "x%"}, 10095),
        ]
        for cfg, code in bad:
            r = await _request(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.B",
                               json.dumps({"stream_name": "S", "config": cfg}).encode())
            assert r["error"]["err_code"] == code, (cfg, r)
        r = await _request(nc, "$JS.API.CONSUMER.CREATE.S.C.s.a", json.dumps(
            {"stream_name": "S", "config": {"name": "C", "filter_subject": "s.b"}}).encode())
        assert r["error"]["err_code"] == 10131
        r = await _request(nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.S.C")
        assert r["error"]["err_code"] == 10010 or r["error"]["code"] == 503
    finally:
        await nc.close()


async def test_interest_and_workqueue_retention(js_server):
    nc, js = await _connect(js_server)
    try:
        await _stream(js, "I", ("i.>",), retention=api.RetentionPolicy.INTEREST)
        await js.publish("i.0", b"dropped: no consumer yet")
        assert (await js.stream_info("I")).state.messages == 0
        a = await js.pull_subscribe("i.>", durable="A", stream="I")
        b = await js.pull_subscribe("i.>", durable="B", stream="I")
        await js.publish("i.1", b"x")
        await js.publish("i.2", b"y")
        for m in await a.fetch(2, timeout=2):
            await m.ack_sync()
        assert (await js.stream_info("I")).state.messages == 2
        (m1,) = await b.fetch(1, timeout=2)
        await m1.ack_sync()
        assert (await js.stream_info("I")).state.messages == 1
        await js.delete_consumer("I", "B")  # the rest lost its last interested consumer
        assert (await js.stream_info("I")).state.messages == 0

        await _stream(js, "WQ", ("w.>",), retention=api.RetentionPolicy.WORK_QUEUE)
        w = await js.pull_subscribe("w.>", durable="W", stream="WQ")
        await js.publish("w.a", b"job")
        (job,) = await w.fetch(1, timeout=2)
        await job.ack_sync()
        assert (await js.stream_info("WQ")).state.messages == 0
        with pytest.raises(BadRequestError) as e:
            await js.add_consumer("WQ", durable_name="W2", ack_policy=api.AckPolicy.EXPLICIT)
        assert e.value.err_code == 10099
        with pytest.raises(BadRequestError) as e:
            await js.add_consumer("WQ", durable_name="W3", ack_policy=api.AckPolicy.NONE, filter_subject="w.b")
        assert e.value.err_code in (10084, 10098)
    finally:
        await nc.close()


# --- differential: the same raw requests against natsd and the Go server ---------------------------

_VOLATILE = re.compile(
    r'"(created|ts|last_active|timestamp|id|_nats\.ver|first_ts|last_ts|leader|pinned_ts)":"[^"]*"')


async def _raw_scenario(srv) -> list:
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    out: list = []

    async def req(subject: str, body: dict | bytes = b"") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        msg = await nc.request(subject, data, timeout=2)
        out.append(json.loads(msg.data))

    try:
        await req("$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], "storage": "memory"})
        for i in range(4):
            await nc.request(f"s.{i % 2}", f"m{i}".encode(), timeout=2)
        create = "$JS.API.CONSUMER.CREATE.S"
        await req(f"{create}.D", {"stream_name": "S", "config": {"durable_name": "D", "ack_policy": "explicit",
                                                               "filter_subject": "s.1", "max_deliver": 3}})
        await req(f"{create}.L.s.0", {"stream_name": "S", "config": {"name": "L", "filter_subject": "s.0",
                                                                    "deliver_policy": "last_per_subject"}})
        await req(f"{create}.P", {"stream_name": "S", "config": {
            "name": "P", "deliver_subject": "push.p", "ack_policy": "all", "idle_heartbeat": 500_000_000,
            "flow_control": True, "headers_only": True, "metadata": {"a": "b"}}})
        await req(f"{create}.N", {"stream_name": "S", "config": {"name": "N", "deliver_policy": "new",
                                                               "ack_policy": "none"}})
        await req(f"{create}.T", {"stream_name": "S", "config": {"name": "T", "deliver_policy": "by_start_sequence",
                                                               "opt_start_seq": 3, "backoff": [1_000_000_000,
                                                                                                 2_000_000_000]}})
        # errors, each with Go's code and text
        for cfg in ({"durable_name": "E", "deliver_policy": "last_per_subject"},
                    {"durable_name": "E", "opt_start_time": "2024-01-01T00:00:00Z"},
                    {"durable_name": "E", "max_waiting": 5, "deliver_subject": "x.y"},
                    {"durable_name": "E", "ack_policy": "none", "deliver_subject": "x.y", "max_ack_pending": 5},
                    {"durable_name": "E", "deliver_subject": "x.y", "idle_heartbeat": 50_000_000},
                    {"durable_name": "E", "filter_subjects": ["s.1", ""]},
                    {"durable_name": "E", "name": "F"},
                    {"durable_name": "E", "description": "x" * 5000},
                    {"durable_name": "E", "max_expires": 10},
                    {"durable_name": "E", "num_replicas": 3},
                    {"durable_name": "E", "priority_policy": "overflow"},
                    {"durable_name": "E", "priority_groups": ["g"]},
                    {"durable_name": "E", "ack_wait": -1},
                    {"durable_name": "E", "unknown": 1}):
            await req(f"{create}.E", {"stream_name": "S", "config": cfg})
        await req("$JS.API.CONSUMER.DURABLE.CREATE.S.E", {"stream_name": "S", "config": {"name": "E"}})
        await req("$JS.API.CONSUMER.DURABLE.CREATE.S.E", {"stream_name": "S", "config": {"durable_name": "X"}})
        await req(f"{create}.E", {"stream_name": "OTHER", "config": {}})
        await req(create, {"stream_name": "S", "config": {"durable_name": "E"}})
        await req(f"{create}.D", {"stream_name": "S", "config": {"durable_name": "D", "ack_policy": "explicit",
                                                               "filter_subject": "s.1", "max_deliver": 3,
                                                               "deliver_policy": "last"}})
        await req(f"{create}.D", {"stream_name": "S", "config": {"durable_name": "D", "ack_policy": "explicit",
                                                               "filter_subject": "s.>", "max_deliver": 3}})
        await req("$JS.API.CONSUMER.INFO.S.D")
        await req("$JS.API.CONSUMER.INFO.S.D", b'{"x":1}')
        await req("$JS.API.CONSUMER.INFO.S.NOPE")
        await req("$JS.API.CONSUMER.INFO.NOPE.D")
        await req("$JS.API.CONSUMER.NAMES.S")
        await req("$JS.API.CONSUMER.NAMES.S", {"offset": 2})
        await req("$JS.API.CONSUMER.LIST.S", {"offset": 3})
        await req("$JS.API.CONSUMER.PAUSE.S.D", {"pause_until": "2200-01-01T00:00:00Z"})
        await req("$JS.API.CONSUMER.PAUSE.S.D")
        await req("$JS.API.CONSUMER.UNPIN.S.D", {"group": "g"})
        await req("$JS.API.CONSUMER.LEADER.STEPDOWN.S.D")
        await req("$JS.API.INFO")
        # pull: messages and statuses as the raw wire shows them
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.S.D", json.dumps({"batch": 3, "no_wait": True}).encode(),
                         reply=inbox)
        for _ in range(3):
            m = await sub.next_msg(timeout=2)
            reply = ".".join(t if i != 7 else "<ts>" for i, t in enumerate((m.reply or "").split(".")))
            out.append({"subject": m.subject, "reply": reply, "data": m.data.decode(), "hdrs": m.header})
        await req("$JS.API.CONSUMER.INFO.S.D")
        await req("$JS.API.CONSUMER.RESET.S.D", {"seq": 2})
        await req("$JS.API.CONSUMER.RESET.S.D")
        await req("$JS.API.CONSUMER.RESET.S.L", {"seq": 2})
        await req("$JS.API.CONSUMER.RESET.S.T", {"seq": 1})
        await req("$JS.API.CONSUMER.RESET.S.T", {"seq": 4})
        await req("$JS.API.CONSUMER.DELETE.S.D")
        await req("$JS.API.CONSUMER.DELETE.S.D")
        await req("$JS.API.CONSUMER.DELETE.S.N", b"junk")
        await req("$JS.API.CONSUMER.NAMES.S")
    finally:
        await nc.close()
    text = _VOLATILE.sub(r'"\1":"x"', json.dumps(out, separators=(",", ":")))
    return json.loads(re.sub(r'"pause_remaining":\d+', '"pause_remaining":1', text))


@pytest.mark.differential
async def test_consumer_api_replies_match_the_go_server(tmp_path, wire_kind):
    if wire_kind == "go":
        pytest.skip("compares natsd with Go")
    got = await run_on_natsd_and_go(_raw_scenario, tmp_path)
    for i, (ours, theirs) in enumerate(zip(got["natsd"], got["go"], strict=True)):
        assert ours == theirs, i


async def _ack_scenario(srv) -> list:
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    out: list = []

    async def req(subject: str, body: dict | bytes = b"") -> dict:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        msg = await nc.request(subject, data, timeout=2)
        out.append(json.loads(msg.data))
        return out[-1]

    def show(m) -> dict:
        reply = ".".join(t if i != 7 else "<ts>" for i, t in enumerate((m.reply or "").split(".")))
        subject = "<inbox>" if m.subject.startswith("_INBOX.") else m.subject
        return {"subject": subject, "reply": reply, "data": m.data.decode(), "hdrs": m.header}

    try:
        create = "$JS.API.CONSUMER.CREATE"
        await req("$JS.API.STREAM.CREATE.I", {"name": "I", "subjects": ["i.>"], "storage": "memory",
                                              "retention": "interest", "max_consumers": 2})
        await nc.request("i.0", b"no interest yet", timeout=2)
        await req(f"{create}.I.A", {"stream_name": "I", "config": {"durable_name": "A", "ack_policy": "explicit",
                                                                 "max_batch": 2, "max_bytes": 100,
                                                                 "max_expires": 1_000_000_000}})
        await req(f"{create}.I.B", {"stream_name": "I", "config": {"durable_name": "B", "ack_policy": "all",
                                                                 "filter_subject": "i.b"}})
        await req(f"{create}.I.C", {"stream_name": "I", "config": {"durable_name": "C"}})
        await req(f"{create}.I.D", {"stream_name": "I", "config": {"durable_name": "D", "num_replicas": 3}})
        for i in range(5):
            await nc.request("i.b" if i % 2 else "i.a", f"m{i}".encode(), timeout=2)
        await req("$JS.API.STREAM.INFO.I")
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        nxt = "$JS.API.CONSUMER.MSG.NEXT.I"
        for body in ({"batch": 3}, {"batch": 1, "expires": 2_000_000_000}, {"batch": 1, "max_bytes": 200},
                     {"batch": 2, "no_wait": True}):
            await nc.publish(f"{nxt}.A", json.dumps(body).encode(), reply=inbox)
        msgs = [await sub.next_msg(timeout=2) for _ in range(5)]
        out.extend(show(m) for m in msgs)
        delivered = [m for m in msgs if m.reply]
        # AckSync gets an empty reply, also when repeated; +NXT acks and pulls more into the reply
        out.append(show(await nc.request(delivered[0].reply, b"+ACK", timeout=2)))
        out.append(show(await nc.request(delivered[0].reply, b"", timeout=2)))
        out.append(show(await nc.request(delivered[1].reply, b"-NAK {\"delay\": 5000000000}", timeout=2)))
        out.append(show(await nc.request(delivered[1].reply, b"+WPI", timeout=2)))
        await nc.publish(delivered[1].reply, b"+NXT {\"batch\": 1}", reply=inbox)
        pulled = await sub.next_msg(timeout=2)
        out.append(show(pulled))
        await req("$JS.API.CONSUMER.INFO.I.A")
        await req("$JS.API.STREAM.INFO.I")
        # B acks all through its second message: both leave B's pending set
        await nc.publish(f"{nxt}.B", json.dumps({"batch": 2}).encode(), reply=inbox)
        b_msgs = [await sub.next_msg(timeout=2) for _ in range(2)]
        out.extend(show(m) for m in b_msgs)
        out.append(show(await nc.request(b_msgs[1].reply, b"+ACK", timeout=2)))
        await req("$JS.API.CONSUMER.INFO.I.B")
        await req("$JS.API.STREAM.INFO.I")
        out.append(show(await nc.request(pulled.reply, b"+TERM", timeout=2)))
        await req("$JS.API.CONSUMER.INFO.I.A")
        await req("$JS.API.CONSUMER.DELETE.I.A")
        await req("$JS.API.STREAM.INFO.I")
        await req("$JS.API.CONSUMER.DELETE.I.B")
        await req("$JS.API.STREAM.INFO.I")
        # workqueue rules
        await req("$JS.API.STREAM.CREATE.W", {"name": "W", "subjects": ["w.>"], "storage": "memory",
                                              "retention": "workqueue"})
        for cfg in ({"durable_name": "X"}, {"durable_name": "X", "ack_policy": "explicit", "deliver_policy": "new"},
                    {"durable_name": "X", "ack_policy": "explicit", "filter_subject": "w.a"},
                    {"durable_name": "Y", "ack_policy": "explicit", "filter_subject": "w.*"},
                    {"durable_name": "Z", "ack_policy": "explicit"},
                    {"durable_name": "X", "ack_policy": "explicit", "filter_subject": "w.b"}):
            await req(f"{create}.W.{cfg['durable_name']}", {"stream_name": "W", "config": cfg})
        # a pull request to a push consumer
        await req(f"{create}.W.PU", {"stream_name": "W", "config": {"name": "PU", "deliver_subject": "pu",
                                                                  "ack_policy": "explicit",
                                                                  "filter_subject": "w.c"}})
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.W.PU", b"", reply=inbox)
        out.append(show(await sub.next_msg(timeout=2)))
        # priority groups: a pinned client, the pin header, mismatch and unpin
        await req("$JS.API.STREAM.CREATE.PR", {"name": "PR", "subjects": ["pr"], "storage": "memory"})
        await nc.request("pr", b"p1", timeout=2)
        await req(f"{create}.PR.G", {"stream_name": "PR", "config": {
            "durable_name": "G", "ack_policy": "explicit", "priority_policy": "pinned_client",
            "priority_groups": ["g"]}})
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.PR.G", json.dumps({"batch": 1, "group": "g"}).encode(),
                         reply=inbox)
        pinned = await sub.next_msg(timeout=2)
        pin = pinned.header["Nats-Pin-Id"]
        pinned.header["Nats-Pin-Id"] = "<pin>"
        out.append(show(pinned))
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.PR.G", json.dumps({"batch": 1, "group": "g", "id": "zz"}).encode(),
                         reply=inbox)
        out.append(show(await sub.next_msg(timeout=2)))
        info = await req("$JS.API.CONSUMER.INFO.PR.G")
        assert info["priority_groups"][0]["pinned_client_id"] == pin
        info["priority_groups"][0]["pinned_client_id"] = "<pin>"
        await req("$JS.API.CONSUMER.UNPIN.PR.G", {"group": "g"})
        await req("$JS.API.CONSUMER.UNPIN.PR.G", {"group": "h"})
        await req("$JS.API.CONSUMER.UNPIN.PR.G", {})
        await req("$JS.API.CONSUMER.INFO.PR.G")
    finally:
        await nc.close()
    text = _VOLATILE.sub(r'"\1":"x"', json.dumps(out, separators=(",", ":")))
    return json.loads(re.sub(r'"pause_remaining":\d+', '"pause_remaining":1', text))


@pytest.mark.differential
async def test_acks_retention_and_workqueue_match_the_go_server(tmp_path, wire_kind):
    if wire_kind == "go":
        pytest.skip("compares natsd with Go")
    got = await run_on_natsd_and_go(_ack_scenario, tmp_path)
    for i, (ours, theirs) in enumerate(zip(got["natsd"], got["go"], strict=True)):
        assert ours == theirs, i


async def test_key_value_watch_and_keys_use_consumers(js_server):
    nc, js = await _connect(js_server)
    try:
        kv = await js.create_key_value(bucket="B", history=3)
        await kv.put("a", b"1")
        await kv.put("b", b"2")
        await kv.put("a", b"3")
        assert sorted(await kv.keys()) == ["a", "b"]  # an ordered, headers-only, last-per-subject consumer
        hist = await kv.history("a")
        assert [e.value for e in hist] == [b"1", b"3"]
        watcher = await kv.watchall()
        seen = []
        async for entry in watcher:
            if entry is None:
                break  # initial values done
            seen.append((entry.key, entry.value))
        assert sorted(seen) == [("a", b"3"), ("b", b"2")]
        await kv.put("c", b"4")
        entry = await watcher.updates(timeout=2)
        assert (entry.key, entry.value) == ("c", b"4")
        await watcher.stop()
    finally:
        await nc.close()


async def test_idle_ephemeral_is_deleted_with_advisory(js_server):
    nc, js = await _connect(js_server)
    try:
        await _stream(js)
        created = await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.CREATED.S.*")
        deleted = await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.DELETED.S.*")
        ci = await js.add_consumer("S", ack_policy=api.AckPolicy.EXPLICIT, inactive_threshold=0.3)
        adv = json.loads((await created.next_msg(timeout=2)).data)
        assert (adv["type"], adv["consumer"], adv["action"]) == (
            "io.nats.jetstream.advisory.v1.consumer_action", ci.name, "create")
        adv = json.loads((await deleted.next_msg(timeout=5)).data)
        assert (adv["consumer"], adv["action"]) == (ci.name, "delete")
        with pytest.raises(NotFoundError):
            await js.consumer_info("S", ci.name)
    finally:
        await nc.close()


async def _past_pause_scenario(srv) -> list:
    """The pause advisories a client sees around consumers whose pause_until has
    already passed: one created so, one paused into the past and then updated."""
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    past, future = "2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z"
    try:
        events = await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.S.*")

        async def req(subject: str, body: dict) -> dict:
            return await _request(nc, subject, json.dumps(body).encode())

        await req("$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], "storage": "memory"})
        await req(
            "$JS.API.CONSUMER.CREATE.S.E",
            {
                "stream_name": "S",
                "config": {"durable_name": "E", "ack_policy": "explicit", "pause_until": past},
            },
        )
        plain = {"durable_name": "D", "ack_policy": "explicit"}
        await req("$JS.API.CONSUMER.CREATE.S.D", {"stream_name": "S", "config": plain})
        await req("$JS.API.CONSUMER.PAUSE.S.D", {"pause_until": past})
        await req(
            "$JS.API.CONSUMER.CREATE.S.D", {"stream_name": "S", "config": {**plain, "description": "x"}}
        )
        # a pull request left to expire: the servers' timers have time to run meanwhile
        expired = await nc.request(
            "$JS.API.CONSUMER.MSG.NEXT.S.D",
            json.dumps({"batch": 1, "expires": 300_000_000}).encode(),
            timeout=2,
        )
        out: list = [(expired.headers or {}).get("Status")]
        await req("$JS.API.CONSUMER.PAUSE.S.E", {"pause_until": future})  # the last advisory expected
        while True:
            adv = json.loads((await events.next_msg(timeout=2)).data)
            out.append((adv["consumer"], adv["paused"], adv["pause_until"]))
            if adv["consumer"] == "E":
                return out
    finally:
        await nc.close()


@pytest.mark.differential
async def test_a_pause_already_past_arms_no_timer_like_the_go_server(tmp_path, wire_kind):
    """Go updatePauseState arms no timer for a pause_until already past: a consumer
    created so, or updated while its config holds one (the update keeps it), sends
    no pause advisory later; only CONSUMER.PAUSE itself announces one."""
    if wire_kind == "go":
        pytest.skip("compares natsd with Go")
    got = await run_on_natsd_and_go(_past_pause_scenario, tmp_path)
    assert got["go"] == ["408", ("D", False, "2020-01-01T00:00:00Z"), ("E", True, "2099-01-01T00:00:00Z")]
    assert got["natsd"] == got["go"]


async def test_long_runs_of_deliveries_arrive_whole_and_in_order(js_server):
    """A pull batch and a push consumer each deliver hundreds of messages in one
    go (the server writes such a run out in parts while it makes it): every
    message arrives once, in order; a file stream's messages published in the
    same moment are delivered too."""
    nc, js = await _connect(js_server)
    try:
        await _stream(js)
        await js.add_stream(name="F", subjects=["f.>"], storage=api.StorageType.FILE)
        n = 700
        acks = [await js.publish_async(f"s.{i % 7}", b"m%d" % i) for i in range(n)]
        await asyncio.gather(*acks)
        sub = await js.pull_subscribe("s.>", durable="D", stream="S")
        got = []
        while len(got) < n:
            msgs = await sub.fetch(min(300, n - len(got)), timeout=5)
            got += msgs
            for m in msgs:
                await m.ack()
        assert [m.data for m in got] == [b"m%d" % i for i in range(n)]
        assert [m.metadata.sequence.stream for m in got] == list(range(1, n + 1))
        info = await js.consumer_info("S", "D")
        assert info.num_pending == 0 and info.delivered.stream_seq == n

        seen: list[bytes] = []
        done = asyncio.Event()

        async def on_msg(m):
            seen.append(m.data)
            if len(seen) == 2 * n:
                done.set()

        await js.subscribe("f.>", stream="F", cb=on_msg, ordered_consumer=True)
        for i in range(n):  # unacknowledged publishes, racing the deliveries
            await nc.publish(f"f.{i % 5}", b"f%d" % i)
        await asyncio.gather(*[await js.publish_async("f.x", b"g%d" % i) for i in range(n)])
        await asyncio.wait_for(done.wait(), 10)
        assert seen == [b"f%d" % i for i in range(n)] + [b"g%d" % i for i in range(n)]
    finally:
        await nc.close()
