"""When a push consumer counts as bound, as the Go server decides it.

Go tracks a push consumer's interest with the sublist's registerNotification:
only a subscription on exactly the deliver subject counts (in the deliver group
when one is set). A wildcard subscription that would receive the messages does
not bind it. Each test holds against the Go server too (NATSD_WIRE_SERVER=go).
"""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.js import api

from natsd.oracle.wire import HOST, wait_until

pytestmark = pytest.mark.asyncio


@pytest.fixture
def js_server(start_server, tmp_path):
    return start_server(["-js", "-sd", str(tmp_path / "store")])


async def test_only_an_exact_subscription_binds_a_push_consumer(js_server):
    nc = await nats.connect(f"nats://{HOST}:{js_server.port}", allow_reconnect=False)
    js = nc.jetstream()
    try:
        await js.add_stream(name="P", subjects=["p.>"], storage=api.StorageType.MEMORY)
        await js.publish("p.1", b"one")
        got: asyncio.Queue = asyncio.Queue()

        async def cb(msg):
            await got.put(msg)

        await nc.subscribe("dlv.*", cb=cb)
        await nc.flush()
        await js.add_consumer("P", api.ConsumerConfig(durable_name="W", deliver_subject="dlv.x",
                                                      ack_policy=api.AckPolicy.NONE))
        info = await js.consumer_info("P", "W")
        assert info.push_bound is None or info.push_bound is False
        assert got.empty()
        exact = await nc.subscribe("dlv.x")
        await nc.flush()

        async def bound():
            return (await js.consumer_info("P", "W")).push_bound

        await wait_until(bound, timeout=10, what="push_bound after the exact subscription")
        msg = await exact.next_msg(timeout=10)
        assert msg.data == b"one" and msg.subject == "p.1"
        # the wildcard subscriber receives the delivery too, once the consumer is bound
        assert (await asyncio.wait_for(got.get(), 10)).data == b"one"
    finally:
        await nc.close()


async def test_a_deliver_group_binds_only_with_that_queue(js_server):
    nc = await nats.connect(f"nats://{HOST}:{js_server.port}", allow_reconnect=False)
    js = nc.jetstream()
    try:
        await js.add_stream(name="Q", subjects=["q.>"], storage=api.StorageType.MEMORY)
        await js.publish("q.1", b"one")
        await nc.subscribe("dq.x")  # same subject, no queue: does not bind a grouped consumer
        await nc.flush()
        await js.add_consumer("Q", api.ConsumerConfig(durable_name="G", deliver_subject="dq.x",
                                                      deliver_group="workers", ack_policy=api.AckPolicy.NONE))
        assert not (await js.consumer_info("Q", "G")).push_bound
        member = await nc.subscribe("dq.x", queue="workers")
        await nc.flush()
        msg = await member.next_msg(timeout=10)
        assert msg.data == b"one"
        assert (await js.consumer_info("Q", "G")).push_bound
    finally:
        await nc.close()
