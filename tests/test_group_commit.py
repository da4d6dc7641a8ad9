"""Group commit in the JetStream service: a file stream's PubAcks wait for ``sync()``.

The shell (natsd.server.app) sets ``hold_acks`` and calls ``JetStreamService.sync()``
before it writes a loop turn's output, so a PubAck leaves only after the message it
acknowledges was fsynced; when the fsync fails, the publisher gets Go's "stream store
failed" error (503/10077) instead, and later publishes fail with the store's sticky error.
These run the service in process (a core test: a failing disk cannot be made on the wire).
"""

from __future__ import annotations

import errno
import json

import pytest

from natsd.jetstream.api import JetStreamService
from natsd.oracle.consumer import encode_pub
from natsd.oracle.stream import take_frames
from natsd.server.core import Broker
from natsd.store import _fsio

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'


def _pub(subject: str, reply: str, body: bytes) -> bytes:
    return encode_pub(subject, reply, b"", body)


def _replies(client) -> list[dict]:
    """The JSON bodies of the MSG frames queued for ``client`` (and clear them)."""
    buf = bytearray(client.out)
    client.out.clear()
    return [json.loads(payload) for _, payload in take_frames(buf)]


@pytest.fixture
def service(tmp_path):
    broker = Broker()
    js = JetStreamService(broker, clock=lambda: 1_700_000_000_000_000_000, server_name="natsd",
                          store_dir=str(tmp_path))
    js.hold_acks = True
    client = broker.new_client(0)
    client.receive(CONNECT + b"SUB _R.> 1\r\n")
    client.out.clear()
    cfg = json.dumps({"name": "S", "subjects": ["s.>"], "storage": "file"}).encode()
    client.receive(_pub("$JS.API.STREAM.CREATE.S", "_R.create", cfg))
    assert "error" not in _replies(client)[0]
    yield js, client
    js.stop()


def test_a_file_stream_puback_waits_for_the_sync(service) -> None:
    js, client = service
    client.receive(_pub("s.a", "_R.1", b"one") + _pub("s.b", "_R.2", b"two"))
    assert _replies(client) == []  # written, not yet fsynced: nothing acknowledged
    assert len(js.held_acks) == 2
    js.sync()
    assert _replies(client) == [{"stream": "S", "seq": 1}, {"stream": "S", "seq": 2}]
    assert js.held_acks == []


def test_a_failed_fsync_answers_store_failed_instead_of_the_puback(service, monkeypatch) -> None:
    js, client = service

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_fsio, "_datasync", broken)
    client.receive(_pub("s.a", "_R.1", b"one"))
    js.sync()
    (reply,) = _replies(client)
    assert reply["error"]["code"] == 503 and reply["error"]["err_code"] == 10077
    assert "Input/output error" in reply["error"]["description"]
    assert "seq" in reply and reply["seq"] == 0
    client.receive(_pub("s.a", "_R.2", b"two"))  # the error is sticky: nothing more is accepted
    js.sync()
    (reply,) = _replies(client)
    assert reply["error"]["err_code"] == 10077


def test_memory_streams_and_api_replies_are_not_held(service) -> None:
    js, client = service
    cfg = json.dumps({"name": "M", "subjects": ["m.>"], "storage": "memory"}).encode()
    client.receive(_pub("$JS.API.STREAM.CREATE.M", "_R.c", cfg) + _pub("m.a", "_R.1", b"x"))
    replies = _replies(client)
    assert replies[0]["config"]["name"] == "M" and replies[1] == {"stream": "M", "seq": 1}
    assert js.held_acks == []


def test_long_delivery_runs_go_out_early_only_when_nothing_waits_for_an_fsync(service) -> None:
    """The service writes a long run of consumer deliveries out before the turn
    ends (early_write) only while no file store has a write waiting for its
    fsync: a delivery must never leave before a message stored in its turn is durable."""
    js, client = service
    writes: list[int] = []
    js.early_write = lambda: writes.append(len(js.held_acks))
    client.receive(b"".join(_pub("s.a", "_R.p", b"m") for _ in range(300)))
    js.sync()
    client.out.clear()
    cfg = json.dumps({"stream_name": "S", "config": {"durable_name": "D", "ack_policy": "explicit"}}).encode()
    client.receive(_pub("$JS.API.CONSUMER.DURABLE.CREATE.S.D", "_R.d", cfg) + b"SUB _P.> 2\r\n")
    js.sync()
    client.out.clear()
    pull = _pub("$JS.API.CONSUMER.MSG.NEXT.S.D", "_P.1", b'{"batch":100}')
    client.receive(_pub("s.b", "_R.q", b"new") + pull)  # a write of this turn is not yet fsynced
    assert writes == [] and len(js.held_acks) == 1
    js.sync()
    client.receive(pull)  # nothing written in this turn
    assert writes and all(n == 0 for n in writes)
    frames = [line for line in bytes(client.out).split(b"\r\n") if line.startswith(b"MSG s.")]
    assert len(frames) == 200
