"""Shared fixtures for the over-the-wire tests (tests/test_wire_*.py).

``start_server(args=(), config=None, monitor=False)`` starts a server process (natsd
by default, the Go nats-server with ``NATSD_WIRE_SERVER=go``) and registers it so it
is always stopped when the test ends.
"""

from __future__ import annotations

import pytest

from natsd.oracle.wire import launch, relaunch, server_kind


@pytest.fixture
def wire_kind() -> str:
    return server_kind()


@pytest.fixture
def start_server():
    started = []

    def start(args=(), *, config=None, files=None, monitor=False):
        srv = launch(args, config=config, files=files, monitor=monitor)
        started.append(srv)
        return srv

    def restart(old):
        srv = relaunch(old)
        started.append(srv)
        return srv

    start.restart = restart
    try:
        yield start
    finally:
        for srv in started:
            srv.stop()


@pytest.fixture
def server(start_server):
    """A server with default options."""
    return start_server()
