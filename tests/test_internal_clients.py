"""Internal clients: server-side subscribers (JetStream API, stream ingest) that
receive messages as calls and publish replies through the same routing."""

from __future__ import annotations

from natsd.server.core import Broker

CONNECT = b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n'


def test_internal_subscriber_answers_a_request() -> None:
    broker = Broker()
    svc = broker.new_internal_client("api")
    seen = []

    def handler(sub, subject, reply, headers, payload):
        seen.append((subject, reply, headers, payload))
        svc.publish(reply, b"answer:" + payload)

    svc.subscribe("$JS.API.>", handler)
    c = broker.new_client(0)
    c.receive(CONNECT + b"SUB _INBOX.1 7\r\nPUB $JS.API.INFO _INBOX.1 2\r\nhi\r\n")
    assert seen == [(b"$JS.API.INFO", b"_INBOX.1", None, b"hi")]
    assert bytes(c.out) == b"MSG _INBOX.1 7 9\r\nanswer:hi\r\n"


def test_internal_subscriber_gets_headers_and_publishes_them() -> None:
    broker = Broker()
    svc = broker.new_internal_client("ingest")
    got = []
    svc.subscribe("orders.*", lambda sub, s, r, h, p: got.append((s, h, p)))
    c = broker.new_client(0)
    c.receive(CONNECT + b"SUB out 1\r\nHPUB orders.1 23 25\r\nNATS/1.0\r\nA: bcdefg\r\n\r\nok\r\n")
    assert got == [(b"orders.1", b"NATS/1.0\r\nA: bcdefg\r\n\r\n", b"ok")]
    svc.publish(b"out", b"x", headers=b"NATS/1.0\r\nB: 1\r\n\r\n")
    assert bytes(c.out) == b"HMSG out 1 18 19\r\nNATS/1.0\r\nB: 1\r\n\r\nx\r\n"


def test_request_to_nobody_still_gets_no_responders_and_internal_unsub_works() -> None:
    broker = Broker()
    svc = broker.new_internal_client("api")
    sub = svc.subscribe("svc", lambda *a: svc.publish(a[2], b"pong"))
    c = broker.new_client(0)
    c.receive(CONNECT + b"SUB r 1\r\nPUB svc r 0\r\n\r\n")
    assert bytes(c.out) == b"MSG r 1 4\r\npong\r\n"
    c.out.clear()
    svc.unsubscribe(sub)
    c.receive(b"PUB svc r 0\r\n\r\n")
    assert bytes(c.out) == b"HMSG r 1 35 35\r\nNATS/1.0 503\r\nNats-Subject: svc\r\n\r\n\r\n"
