"""Push consumers and consumer advisories through nats-py, natsd beside the Go server.

Each scenario runs on both servers (natsd.oracle.wire.run_on_natsd_and_go); what
the client saw is normalised (ids, timestamps, ack times, the flow-control
reply's random tail) and must be the same on both, and as stated here.
"""

from __future__ import annotations

import asyncio
import json
import re

import nats
import pytest

from natsd.oracle.wire import HOST, run_on_natsd_and_go

pytestmark = pytest.mark.asyncio

WAIT = 10.0


async def _connect(srv):
    return await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)


async def _api(nc, subject: str, body: dict | None = None) -> dict:
    msg = await nc.request(subject, json.dumps(body).encode() if body is not None else b"", timeout=WAIT)
    return json.loads(msg.data)


def _event(msg) -> str:
    body = json.loads(msg.data)
    for key, value in (("id", "<id>"), ("timestamp", "<ts>"), ("ack_time", "<dur>")):
        if key in body:
            body[key] = value
    return f"{msg.subject} {json.dumps(body, sort_keys=True)}"


def _frame(msg) -> str:
    reply = re.sub(r"^(\$JS\.ACK\.(?:[^.]+\.){5})[^.]+", r"\1<ts>", msg.reply or "")
    reply = re.sub(r"^(\$JS\.FC\.[^.]+\.[^.]+\.).*$", r"\1<fc>", reply)
    status = msg.headers.get("Status") if msg.headers else None
    return f"{status or 'msg'} {msg.subject} {reply} {msg.data.decode()}"


async def _take(q: asyncio.Queue, n: int, keep=lambda m: True) -> list:
    out = []
    while len(out) < n:
        m = await asyncio.wait_for(q.get(), WAIT)
        if keep(m):
            out.append(m)
    return out


async def test_push_delivery_acks_and_advisories_match_go(tmp_path):
    """A push consumer delivers to its deliver subject once bound; +ACK (sampled
    at 100%) publishes an ack metric, -NAK a nak advisory and an immediate
    redelivery, +TERM a terminated advisory with the reason; create and delete
    publish consumer_action advisories."""

    async def scenario(srv):
        nc = await _connect(srv)
        try:
            events: asyncio.Queue = asyncio.Queue()
            frames: asyncio.Queue = asyncio.Queue()

            async def on_event(m):
                await events.put(m)

            async def on_frame(m):
                await frames.put(m)

            await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.>", cb=on_event)
            await nc.subscribe("$JS.EVENT.METRIC.CONSUMER.ACK.>", cb=on_event)
            await _api(nc, "$JS.API.STREAM.CREATE.P", {"name": "P", "subjects": ["p.*"], "storage": "memory"})
            for i in range(3):
                await nc.request(f"p.{i}", f"m{i}".encode(), timeout=WAIT)
            created = await _api(nc, "$JS.API.CONSUMER.CREATE.P.W", {"stream_name": "P", "config": {
                "durable_name": "W", "ack_policy": "explicit", "deliver_subject": "dlv.w", "sample_freq": "100%"}})
            unbound = created.get("push_bound", False)
            await nc.subscribe("dlv.w", cb=on_frame)
            got = await _take(frames, 3)
            await nc.request(got[0].reply, b"+ACK", timeout=WAIT)
            await nc.request(got[1].reply, b"-NAK", timeout=WAIT)
            redelivered = (await _take(frames, 1))[0]
            await nc.request(got[2].reply, b"+TERM done", timeout=WAIT)
            info = await _api(nc, "$JS.API.CONSUMER.INFO.P.W")
            await _api(nc, "$JS.API.CONSUMER.DELETE.P.W")
            seen = [_event(m) for m in await _take(events, 5)]
            return {"unbound_at_create": unbound, "frames": [_frame(m) for m in [*got, redelivered]],
                    "push_bound": info.get("push_bound"), "ack_floor": info["ack_floor"]["stream_seq"],
                    "events": seen}
        finally:
            await nc.close()

    got = await run_on_natsd_and_go(scenario, tmp_path)
    assert got["natsd"] == got["go"]
    seen = got["go"]
    assert seen["unbound_at_create"] is False and seen["push_bound"] is True
    assert seen["frames"][0] == "msg p.0 $JS.ACK.P.W.1.1.1.<ts>.2 m0"
    assert seen["frames"][3] == "msg p.1 $JS.ACK.P.W.2.2.4.<ts>.0 m1"
    assert seen["ack_floor"] == 1
    kinds = [e.split(" ", 1)[0] for e in seen["events"]]
    assert kinds == ["$JS.EVENT.ADVISORY.CONSUMER.CREATED.P.W", "$JS.EVENT.METRIC.CONSUMER.ACK.P.W",
                     "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.P.W", "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.P.W",
                     "$JS.EVENT.ADVISORY.CONSUMER.DELETED.P.W"]
    assert '"reason": "done"' in seen["events"][3]


async def test_ack_flow_control_reply_acknowledges_up_to_the_last_delivery(tmp_path):
    """Ack policy flow_control: at max_ack_pending the consumer sends a
    flow-control request; a reply naming the last delivery acknowledges up to
    it (like ack all) and delivery resumes."""

    async def scenario(srv):
        nc = await _connect(srv)
        try:
            frames: asyncio.Queue = asyncio.Queue()

            async def on_frame(m):
                await frames.put(m)

            def no_heartbeat(m) -> bool:  # the forced 1 s heartbeat runs on a real clock
                return not (m.headers and m.headers.get("Description") == "Idle Heartbeat")

            await _api(nc, "$JS.API.STREAM.CREATE.F", {"name": "F", "subjects": ["f.*"], "storage": "memory"})
            for i in range(3):
                await nc.request(f"f.{i}", f"m{i}".encode(), timeout=WAIT)
            created = await _api(nc, "$JS.API.CONSUMER.CREATE.F.A", {"stream_name": "F", "config": {
                "durable_name": "A", "ack_policy": "flow_control", "deliver_subject": "dlv.a",
                "max_ack_pending": 2}})
            cfg = created["config"]
            await nc.subscribe("dlv.a", cb=on_frame)
            first = await _take(frames, 3, no_heartbeat)
            fc = first[2]
            await nc.publish(fc.reply, b"", headers={"Nats-Last-Consumer": "2", "Nats-Last-Stream": "2"})
            rest = await _take(frames, 1, no_heartbeat)
            info = await _api(nc, "$JS.API.CONSUMER.INFO.F.A")
            return {"flow_control": cfg.get("flow_control"), "idle_heartbeat": cfg.get("idle_heartbeat"),
                    "frames": [_frame(m) for m in first + rest], "ack_floor": info["ack_floor"]["stream_seq"]}
        finally:
            await nc.close()

    got = await run_on_natsd_and_go(scenario, tmp_path)
    assert got["natsd"] == got["go"]
    seen = got["go"]
    assert seen["flow_control"] is True and seen["idle_heartbeat"] == 1_000_000_000
    assert seen["frames"][2] == "100 dlv.a $JS.FC.F.A.<fc> "
    assert seen["frames"][3] == "msg f.2 $JS.ACK.F.A.1.3.3.<ts>.0 m2"
    assert seen["ack_floor"] == 2


async def test_ack_flow_control_config_errors_match_go(tmp_path):
    """Ack policy flow_control needs a push consumer (10218) with flow control
    (10219, only pedantic: otherwise the server sets it), a 1 s heartbeat,
    max_ack_pending above 0 (10220), no ack_wait or backoff (10221) and no
    max_deliver (10222); the same error replies as Go's."""
    base = {"durable_name": "A", "ack_policy": "flow_control", "deliver_subject": "dlv.a"}
    cases = [
        ({"durable_name": "A", "ack_policy": "flow_control"}, False),
        (base, True),
        ({**base, "flow_control": True, "idle_heartbeat": 2_000_000_000}, True),
        ({**base, "max_ack_pending": -1}, False),
        ({**base, "ack_wait": 1_000_000_000}, False),
        ({**base, "backoff": [1_000_000_000]}, False),
        ({**base, "max_deliver": 3}, False),
        ({**base, "flow_control": True, "idle_heartbeat": 1_000_000_000, "max_ack_pending": 1}, True),
    ]

    async def scenario(srv):
        nc = await _connect(srv)
        try:
            await _api(nc, "$JS.API.STREAM.CREATE.F", {"name": "F", "subjects": ["f.*"], "storage": "memory"})
            out = []
            for cfg, pedantic in cases:
                req = {"stream_name": "F", "config": cfg, **({"pedantic": True} if pedantic else {})}
                got = await _api(nc, "$JS.API.CONSUMER.CREATE.F.A", req)
                out.append(got.get("error") or {"ack_policy": got["config"]["ack_policy"]})
            return out
        finally:
            await nc.close()

    got = await run_on_natsd_and_go(scenario, tmp_path)
    assert got["natsd"] == got["go"]
    codes = [e.get("err_code") for e in got["go"]]
    assert codes == [10218, 10219, 10052, 10220, 10221, 10221, 10222, None]
