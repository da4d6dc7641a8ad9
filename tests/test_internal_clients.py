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


def test_unique_ack_subjects_reach_wildcard_and_literal_subscribers() -> None:
    # Ack subjects are routed through a result shared per consumer; a client's
    # subscription on a literal ack subject must still be honoured, and
    # counts must survive the small cache for such subjects being recycled.
    broker = Broker()
    svc = broker.new_internal_client("$JS")
    acks = []
    svc.subscribe("$JS.ACK.S.C.*.*.*.*.*", lambda sub, s, r, h, p: acks.append(s))
    c = broker.new_client(0)
    c.receive(CONNECT + b"PING\r\n")
    c.out.clear()
    n = 600
    c.receive(b"".join(b"PUB $JS.ACK.S.C.1.%d.%d.0.0 4\r\n+ACK\r\n" % (i, i) for i in range(n)))
    assert acks == [b"$JS.ACK.S.C.1.%d.%d.0.0" % (i, i) for i in range(n)]
    watcher = broker.new_client(0)
    watcher.receive(CONNECT + b"SUB $JS.ACK.> 1\r\nSUB $JS.ACK.S.C.1.7.7.0.0 2\r\n")
    acks.clear()
    c.receive(b"PUB $JS.ACK.S.C.1.7.7.0.0 4\r\n+ACK\r\nPUB $JS.ACK.S.C.1.8.8.0.0 4\r\n+ACK\r\n")
    assert acks == [b"$JS.ACK.S.C.1.7.7.0.0", b"$JS.ACK.S.C.1.8.8.0.0"]
    assert sorted(bytes(watcher.out).split(b"\r\n+ACK\r\n")) == sorted([
        b"", b"MSG $JS.ACK.S.C.1.7.7.0.0 1 4", b"MSG $JS.ACK.S.C.1.7.7.0.0 2 4", b"MSG $JS.ACK.S.C.1.8.8.0.0 1 4"])
    for i in range(n):
        c.receive(b"PUB $JS.ACK.S.C.1.%d.%d.0.0 4\r\n+ACK\r\n" % (i, i))
    broker.fold_stats()
    assert svc.out_msgs == 2 * n + 2
    assert watcher.out_msgs == 3 + n + 1  # ack 7 matches both of its subscriptions
