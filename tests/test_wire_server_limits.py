"""The server's JetStream storage limits (``jetstream { max_file_store }``)
through nats-py: stream reservations (max_bytes) beyond the limit are refused
with 10047, and once the server holds more than the limit a publish is refused
with 10023 until something is removed.

Each expectation holds against the Go server too (NATSD_WIRE_SERVER=go); the
differential test runs the scenario on natsd and Go and compares.
"""

from __future__ import annotations

import nats
import pytest
from nats.js import api
from nats.js.errors import APIError

from natsd.oracle.wire import HOST, launch

pytestmark = pytest.mark.asyncio

LIMIT = 2048
CONFIG = f"jetstream {{\n  store_dir: '{{dir}}/js'\n  max_file_store: {LIMIT}\n}}\n"


def _error(e: APIError) -> tuple:
    return e.code, e.err_code, e.description


async def _scenario(srv) -> list:
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    js = nc.jetstream()
    out: list = []

    async def attempt(coro) -> None:
        try:
            got = await coro
            out.append(getattr(got, "seq", "ok"))
        except APIError as e:
            out.append(_error(e))

    try:
        file = api.StorageType.FILE
        await attempt(js.add_stream(name="BIG", subjects=["big"], storage=file, max_bytes=2 * LIMIT))
        await attempt(js.add_stream(name="R", subjects=["r"], storage=file, max_bytes=1500))
        await attempt(js.add_stream(name="R2", subjects=["r2"], storage=file, max_bytes=1000))
        await attempt(
            js.update_stream(api.StreamConfig(name="R", subjects=["r"], storage=file, max_bytes=1900))
        )
        await attempt(js.add_stream(name="F", subjects=["f"], storage=file))
        await attempt(js.add_stream(name="M", subjects=["m"], storage=api.StorageType.MEMORY))
        for _ in range(4):
            await attempt(js.publish("f", b"x" * 700))
        await attempt(js.publish("m", b"x" * 700))  # memory is not limited here
        await js.purge_stream("F")
        await attempt(js.publish("f", b"x" * 700))
        out.append((await js.stream_info("F")).state.messages)
    finally:
        await nc.close()
    return out


EXPECTED = [
    (500, 10047, "insufficient storage resources available"),  # 4096 > 2048
    "ok",
    (500, 10047, "insufficient storage resources available"),  # 1500 reserved, 1000 more does not fit
    "ok",  # R grows by 400: 1900 <= 2048
    "ok",
    "ok",
    1,
    2,
    3,  # the third crosses the limit (checked before storing)
    (503, 10023, "insufficient resources"),
    1,
    4,  # purged: room again
    1,
]


@pytest.fixture
def limited_server(start_server):
    return start_server(config=CONFIG)


async def test_file_store_limit_refuses_reservations_and_publishes(limited_server):
    assert await _scenario(limited_server) == EXPECTED


@pytest.mark.differential
async def test_file_store_limit_matches_the_go_server(wire_kind):
    if wire_kind == "go":
        pytest.skip("compares natsd with Go")
    got = {}
    for kind in ("natsd", "go"):
        srv = launch(config=CONFIG, kind=kind)
        try:
            got[kind] = await _scenario(srv)
        finally:
            srv.stop()
    assert got["natsd"] == got["go"] == EXPECTED
