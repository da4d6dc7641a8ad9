"""Stream lifecycle advisories through nats-py, as a monitoring client sees them:
$JS.EVENT.ADVISORY.STREAM.CREATED|UPDATED|DELETED.<stream>, one per change
(an idempotent create sends none).

The Go server sends them from the stream's own queue, so an advisory may come
after the API reply (an update's was seen arriving seconds late); natsd sends
each before the reply. Against Go (NATSD_WIRE_SERVER=go) the update advisory is
not awaited.
"""

from __future__ import annotations

import json

import nats
import pytest
from nats.js import api

from natsd.oracle.wire import HOST

pytestmark = pytest.mark.asyncio

TYPE = "io.nats.jetstream.advisory.v1.stream_action"


@pytest.fixture
def js_server(start_server, tmp_path):
    return start_server(["-js", "-sd", str(tmp_path / "store")])


async def test_create_update_delete_send_stream_action_advisories(js_server, wire_kind):
    nc = await nats.connect(f"nats://{HOST}:{js_server.port}", allow_reconnect=False)
    js = nc.jetstream()
    try:
        sub = await nc.subscribe("$JS.EVENT.ADVISORY.STREAM.>")
        seen: list[tuple[str, dict]] = []

        async def next_advisory() -> tuple[str, dict]:
            msg = await sub.next_msg(timeout=2)
            body = json.loads(msg.data)
            assert len(body.pop("id")) == 22 and body.pop("timestamp").endswith("Z")
            seen.append((msg.subject, body))
            return seen[-1]

        cfg = api.StreamConfig(name="A", subjects=["a"], storage=api.StorageType.MEMORY)
        await js.add_stream(cfg)
        assert await next_advisory() == (
            "$JS.EVENT.ADVISORY.STREAM.CREATED.A",
            {"type": TYPE, "stream": "A", "action": "create"},
        )
        await js.add_stream(cfg)  # the same config again: nothing changed, no advisory
        await js.update_stream(
            api.StreamConfig(name="A", subjects=["a"], storage=api.StorageType.MEMORY, max_msgs=5)
        )
        if wire_kind != "go":
            assert await next_advisory() == (
                "$JS.EVENT.ADVISORY.STREAM.UPDATED.A",
                {"type": TYPE, "stream": "A", "action": "modify"},
            )
        await js.delete_stream("A")
        got = await next_advisory()
        if wire_kind == "go" and got[0].endswith(".UPDATED.A"):
            got = await next_advisory()
        assert got == (
            "$JS.EVENT.ADVISORY.STREAM.DELETED.A",
            {"type": TYPE, "stream": "A", "action": "delete"},
        )
    finally:
        await nc.close()
