"""The client protocol core gives the same result for every split of the input.

A TCP stream may deliver an op in any number of pieces; Go's parser is a byte
state machine, so the outcome never depends on where reads end. These tests feed
each script whole, split at every byte offset, and byte by byte, and require
identical output for the publisher and a subscriber (rule protocol.parser.split).
"""

from __future__ import annotations

import pytest

from natsd.server.core import Broker

SUBSCRIBER = b'CONNECT {"verbose":false,"headers":true}\r\nSUB foo.> 1\r\nSUB foo.* q 2\r\n'

GOOD = (
    b'CONNECT {"verbose":true,"pedantic":false,"headers":true,"no_responders":true}\r\n'
    b"PUB foo.bar 5\r\nhello\r\n"
    b"PUB foo.bar reply.x 5\r\nhello\r\n"
    b"pub foo.bar 0\r\n\r\n"
    b"PUB\tfoo.tab\t3\r\nabc\r\n"
    b"HPUB foo.h 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"
    b"HPUB foo.h r 23 25\r\nNATS/1.0\r\nA: bcdefg\r\n\r\nhi\r\n"
    b"SUB _INBOX.a 9\r\nPUB nobody _INBOX.a 2\r\nxx\r\n"
    b"PING\r\nping junk\r\nPONG\r\n"
    b"UNSUB 9\r\nUNSUB 77 3\r\n"
    b"PUB foo.bar 5\r\nhello\r\n"
)

BAD = [
    b"PUX foo 1\r\n",
    b"PUB foo -1\r\n",
    b"PUB foo 3\r\nabcd\r\n",
    b"SUB\r\n",
    b"SUB foo\r\n",
    b"PUB a b c 3\r\n",
    b"CONNECT {bad json\r\n",
    b'CONNECT {"protocol":2}\r\n',
    b"MSG foo 1 1\r\na\r\n",
    b"PUB " + b"x" * 5000 + b" 1\r\na\r\n",
    b"PUB foo 2000000\r\n",
    b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nab\r\n",  # headers not negotiated
    b"-ERR 'x'\r\n",
]


def run(script: bytes, pieces: list[int]) -> tuple[bytes, bytes, str | None]:
    broker = Broker(max_payload=1024 * 1024)
    sub = broker.new_client(0)
    sub.receive(SUBSCRIBER)
    sub.out.clear()
    pub = broker.new_client(0)
    prev = 0
    for cut in [*pieces, len(script)]:
        pub.receive(script[prev:cut])
        prev = cut
    broker.fold_stats()
    return bytes(pub.out), bytes(sub.out), pub.close_reason


@pytest.mark.parametrize("script", [GOOD, *BAD], ids=lambda s: s[:24].decode("latin-1"))
def test_every_two_way_split_gives_the_same_result(script: bytes) -> None:
    whole = run(script, [])
    for k in range(1, len(script)):
        assert run(script, [k]) == whole, f"split at {k}"


@pytest.mark.parametrize("script", [GOOD, *BAD[:4]], ids=lambda s: s[:24].decode("latin-1"))
def test_byte_at_a_time_gives_the_same_result(script: bytes) -> None:
    assert run(script, list(range(1, len(script)))) == run(script, [])


def test_good_script_output() -> None:
    pub_out, sub_out, reason = run(GOOD, [])
    assert reason is None
    assert pub_out.count(b"+OK\r\n") == 12
    assert b"HMSG _INBOX.a 9 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\n" in pub_out
    assert pub_out.count(b"PONG\r\n") == 2
    assert sub_out.startswith(b"MSG foo.bar 1 5\r\nhello\r\nMSG foo.bar 2 5\r\nhello\r\n")
    assert b"HMSG foo.h 1 r 23 25\r\nNATS/1.0\r\nA: bcdefg\r\n\r\nhi\r\n" in sub_out
    assert b"MSG foo.tab 1 3\r\nabc\r\n" in sub_out


def test_three_way_splits_of_a_short_script() -> None:
    script = b"PUB foo.a r 2\r\nhi\r\nHPUB foo.b 12 12\r\nNATS/1.0\r\n\r\n\r\n"
    script = b'CONNECT {"verbose":false,"headers":true}\r\n' + script
    whole = run(script, [])
    for i in range(1, len(script)):
        for j in range(i, len(script)):
            assert run(script, [i, j]) == whole, (i, j)


def test_learned_lines_respect_later_option_changes() -> None:
    # A PUB line is cached after its first use; what the cache decided must not
    # outlive a SUB of an echo-off client or a new CONNECT (rule protocol.echo).
    broker = Broker()
    c = broker.new_client(0)
    c.receive(b'CONNECT {"verbose":false,"echo":false}\r\nPUB foo 1\r\na\r\n')
    c.receive(b"SUB foo 1\r\nPUB foo 1\r\nb\r\n")
    assert bytes(c.out) == b""
    c.receive(b'CONNECT {"echo":true}\r\nPUB foo 1\r\nc\r\n')
    assert bytes(c.out) == b"MSG foo 1 1\r\nc\r\n"
    c.out.clear()
    c.receive(b'CONNECT {"verbose":true}\r\nPUB foo 1\r\nd\r\n')
    assert bytes(c.out) == b"+OK\r\n+OK\r\nMSG foo 1 1\r\nd\r\n"
