"""Corpus of raw client-protocol scripts for the differential harness.

Each :class:`Case` is a named script: an optional CONNECT prefix (sent as its own
chunk) followed by ``chunks`` (each sent with its own ``send``). The harness appends a
``PING\\r\\n`` probe (see :mod:`natsd.oracle.differential`), so a trailing ``PONG`` in
a transcript is normally the probe's answer and shows the connection was still usable.

``config`` names a server profile in :data:`PROFILES`; both servers of a comparison
are started with the same profile (a config file passed with ``-c``).

Cases with ``malformed=True`` exercise error paths. Their observed Go behaviour is
tabulated in ``PROTOCOL_FINDINGS.md`` (regenerate with
``python -m natsd.oracle.differential --findings``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Case", "CASES", "PROFILES", "GOOD", "MALFORMED", "case_by_name"]

#: server profiles: name -> config file text (``None``: no config file)
PROFILES: dict[str, str | None] = {
    "default": None,
    "small": "max_payload: 64\n",
}

#: plain client: headers on, verbose/pedantic off
C = b'CONNECT {"verbose":false,"pedantic":false,"protocol":1,"headers":true}\r\n'
C_NOHDR = b'CONNECT {"verbose":false,"pedantic":false,"protocol":1,"headers":false}\r\n'
C_VERBOSE = b'CONNECT {"verbose":true,"pedantic":false,"protocol":1,"headers":true}\r\n'
C_PEDANTIC = b'CONNECT {"verbose":false,"pedantic":true,"protocol":1,"headers":true}\r\n'
C_NOECHO = b'CONNECT {"verbose":false,"pedantic":false,"protocol":1,"headers":true,"echo":false}\r\n'
C_NR = b'CONNECT {"verbose":false,"pedantic":false,"protocol":1,"headers":true,"no_responders":true}\r\n'


@dataclass(frozen=True)
class Case:
    name: str
    chunks: tuple[bytes, ...]
    connect: bytes | None = C
    config: str = "default"
    malformed: bool = False
    note: str = ""
    #: fan-out order across subscriptions is not part of the contract (Go keeps a
    #: node's plain subs in a map): compare runs of consecutive MSG/HMSG as multisets
    unordered: bool = False

    def script(self) -> list[bytes]:
        """All chunks in send order, the CONNECT prefix (if any) first."""
        pre = [self.connect] if self.connect is not None else []
        return pre + list(self.chunks)


def _case(name, *chunks, connect=C, config="default", malformed=False, note="", unordered=False) -> Case:
    return Case(
        name,
        tuple(chunks),
        connect=connect,
        config=config,
        malformed=malformed,
        note=note,
        unordered=unordered,
    )


def good(name, *chunks, **kw) -> Case:
    return _case(name, *chunks, **kw)


def bad(name, *chunks, **kw) -> Case:
    return _case(name, *chunks, malformed=True, **kw)


def bytewise(case: Case, suffix: str = "_bytewise") -> Case:
    """The same script with the CONNECT prefix and every chunk sent one byte at a time."""
    data = b"".join(case.script())
    return Case(
        case.name + suffix,
        tuple(data[i : i + 1] for i in range(len(data))),
        connect=None,
        config=case.config,
        malformed=case.malformed,
        note=(case.note + " " if case.note else "") + "(1-byte chunks)",
        unordered=case.unordered,
    )


def split_every(case: Case, n: int, suffix: str) -> Case:
    data = b"".join(case.script())
    return Case(
        case.name + suffix,
        tuple(data[i : i + n] for i in range(0, len(data), n)),
        connect=None,
        config=case.config,
        malformed=case.malformed,
        note=(case.note + " " if case.note else "") + f"({n}-byte chunks)",
        unordered=case.unordered,
    )


HDR = b"NATS/1.0\r\nA: 1\r\n\r\n"  # 18 bytes
HDR_STATUS = b"NATS/1.0 503\r\n\r\n"  # 16 bytes
HDR_STATUS_DESC = b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\n\r\n"
LONG = 5000  # > max_control_line (4096)

# ----------------------------------------------------------------------------- good

_sub_pub = good("sub_pub", b"SUB foo 1\r\nPUB foo 5\r\nhello\r\n")
_hpub = good("hpub_hmsg", b"SUB foo 1\r\nHPUB foo 18 23\r\n" + HDR + b"hello\r\n")
_connect_only = good("connect_then_ping", b"PING\r\n")

GOOD: list[Case] = [
    _connect_only,
    good("ping_before_connect", b"PING\r\n", connect=None),
    good("pong_is_silent", b"PONG\r\n"),
    good("two_pings_one_chunk", b"PING\r\nPING\r\n"),
    _sub_pub,
    good("sub_pub_reply", b"SUB foo 1\r\nPUB foo bar 5\r\nhello\r\n"),
    good("pub_empty_payload", b"SUB foo 1\r\nPUB foo 0\r\n\r\n"),
    good("pub_payload_with_crlf", b"SUB foo 1\r\nPUB foo 10\r\nab\r\nPING\r\n\r\n"),
    good("pub_no_interest", b"PUB nobody 5\r\nhello\r\n"),
    good("pub_before_connect", b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n", connect=None),
    good("sub_star", b"SUB foo.* 1\r\nPUB foo.bar 1\r\na\r\nPUB foo.bar.baz 1\r\nb\r\nPUB foo 1\r\nc\r\n"),
    good("sub_gt", b"SUB foo.> 7\r\nPUB foo.bar.baz 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo.x 1\r\nc\r\n"),
    good("sub_full_wildcard", b"SUB > 1\r\nPUB a.b.c 1\r\nx\r\n"),
    good("two_subs_same_subject", b"SUB foo 1\r\nSUB foo 2\r\nPUB foo 1\r\nx\r\n", unordered=True),
    good(
        "overlapping_subs",
        b"SUB foo.* 1\r\nSUB foo.bar 2\r\nSUB > 3\r\nPUB foo.bar 1\r\nx\r\n",
        unordered=True,
    ),
    good("queue_group_single_member", b"SUB foo q1 1\r\nPUB foo 1\r\nx\r\n"),
    good("queue_group_plus_plain", b"SUB foo q1 1\r\nSUB foo 2\r\nPUB foo 1\r\nx\r\n", unordered=True),
    good("queue_unsub", b"SUB foo q1 1\r\nUNSUB 1\r\nPUB foo 1\r\nx\r\n"),
    _hpub,
    good("hpub_reply", b"SUB foo 1\r\nHPUB foo bar 18 18\r\n" + HDR + b"\r\n"),
    good("hpub_headers_only", b"SUB foo 1\r\nHPUB foo 18 18\r\n" + HDR + b"\r\n"),
    good("hpub_status_line", b"SUB foo 1\r\nHPUB foo 16 16\r\n" + HDR_STATUS + b"\r\n"),
    good(
        "hpub_status_line_description",
        b"SUB foo 1\r\nHPUB foo %d %d\r\n" % (len(HDR_STATUS_DESC), len(HDR_STATUS_DESC) + 2)
        + HDR_STATUS_DESC
        + b"ok\r\n",
    ),
    good("pub_with_headers_false", b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n", connect=C_NOHDR),
    good("unsub", b"SUB foo 1\r\nUNSUB 1\r\nPUB foo 1\r\nx\r\n"),
    good("unsub_max", b"SUB foo 1\r\nUNSUB 1 2\r\n" + b"PUB foo 1\r\nx\r\n" * 3),
    good(
        "unsub_max_after_delivery",
        b"SUB foo 1\r\nPUB foo 1\r\nx\r\nPUB foo 1\r\ny\r\nUNSUB 1 1\r\nPUB foo 1\r\nz\r\n",
    ),
    good("unsub_unknown_sid", b"UNSUB 99\r\n"),
    good("verbose_ok", b"SUB foo 1\r\nPUB foo 1\r\nx\r\nUNSUB 1\r\nPING\r\n", connect=C_VERBOSE),
    good("verbose_hpub_ok", b"HPUB foo 18 18\r\n" + HDR + b"\r\n", connect=C_VERBOSE),
    good("verbose_unsub_unknown_ok", b"UNSUB 42\r\n", connect=C_VERBOSE),
    good("connect_empty_object_defaults", b"SUB foo 1\r\nPUB foo 1\r\nx\r\n", connect=b"CONNECT {}\r\n"),
    good(
        "connect_unknown_fields", b"PING\r\n", connect=b'CONNECT {"verbose":false,"foo":"bar","x":[1,2]}\r\n'
    ),
    good("connect_twice", b'CONNECT {"verbose":true}\r\nPING\r\n'),
    good(
        "connect_second_merges_options",
        b'CONNECT {"pedantic":true}\r\nSUB foo 1\r\nPUB foo.* 1\r\nx\r\n',
        connect=C_VERBOSE,
    ),
    good("echo_false", b"SUB foo 1\r\nPUB foo 1\r\nx\r\n", connect=C_NOECHO),
    good("pedantic_valid_pub", b"SUB foo.bar 1\r\nPUB foo.bar 1\r\nx\r\n", connect=C_PEDANTIC),
    good("lowercase_ops", b"sub foo 1\r\npub foo 2\r\nhi\r\nping\r\nunsub 1\r\n"),
    good("mixed_case_ops", b"SuB foo 1\r\npUb foo 2\r\nhi\r\nPiNg\r\n"),
    good("lowercase_hpub", b"sub foo 1\r\nhpub foo 18 18\r\n" + HDR + b"\r\n"),
    good("lowercase_connect", b'connect {"verbose":true}\r\nping\r\n', connect=None),
    good("tabs_as_separators", b"SUB\tfoo\t1\r\nPUB\tfoo\t2\r\nhi\r\n"),
    good("repeated_separators", b"SUB  foo \t q1   1\r\nPUB \t foo    2\r\nhi\r\n"),
    good("trailing_space_in_args", b"SUB foo 1 \r\nPUB foo 2 \r\nhi\r\n"),
    good("bare_lf_line_endings", b"SUB foo 1\nPUB foo 2\nhi\r\nPING\n"),
    good(
        "no_responders_503",
        b"SUB _INBOX.reply 1\r\nPUB service _INBOX.reply 0\r\n\r\n",
        connect=C_NR,
    ),
    good("no_responders_not_requested", b"SUB _INBOX.reply 1\r\nPUB service _INBOX.reply 0\r\n\r\n"),
    good("no_responders_reply_not_subscribed", b"PUB service _INBOX.nosub 0\r\n\r\n", connect=C_NR),
    good(
        "request_reply",
        b"SUB svc 1\r\nSUB _INBOX.r 2\r\nPUB svc _INBOX.r 3\r\nreq\r\nPUB _INBOX.r 3\r\nrep\r\n",
        connect=C_NR,
    ),
    good("utf8_subject", "SUB caf\u00e9.\u00fc 1\r\nPUB caf\u00e9.\u00fc 1\r\nx\r\n".encode()),
    good("nul_in_payload", b"SUB foo 1\r\nPUB foo 3\r\n\x00\x01\x02\r\n"),
    good("binary_payload_all_bytes", b"SUB foo 1\r\nPUB foo 256\r\n" + bytes(range(256)) + b"\r\n"),
    good("many_msgs_one_chunk", b"SUB foo 1\r\n" + b"".join(b"PUB foo 1\r\n%d\r\n" % i for i in range(10))),
    good("max_payload_exact", b"SUB foo 1\r\nPUB foo 64\r\n" + b"x" * 64 + b"\r\n", config="small"),
    good("client_plus_ok_ignored", b"+OK\r\nPING\r\n"),
    good("split_payload", b"SUB foo 1\r\nPUB foo 10\r\nhello", b"world\r\n"),
    good("split_pub_line", b"SUB foo 1\r\nPU", b"B fo", b"o 5\r", b"\nhel", b"lo\r", b"\n"),
    good("split_before_lf", b"SUB foo 1\r\nPUB foo 5\r\nhello\r", b"\nPING\r", b"\n"),
    good(
        "split_hpub_in_header", b"SUB foo 1\r\nHPUB foo 18 23\r\nNATS/1", b".0\r\nA: 1\r", b"\n\r\nhello\r\n"
    ),
    good("sid_non_numeric", b"SUB foo abc\r\nPUB foo 1\r\nx\r\nUNSUB abc\r\nPUB foo 1\r\ny\r\n"),
    good("connect_no_space_before_json", b"PING\r\n", connect=b'CONNECT{"verbose":true}\r\n'),
    good("connect_extra_whitespace", b"PING\r\n", connect=b'CONNECT \t {"verbose":true}  \r\n'),
    good(
        "connect_credentials_without_auth",
        b"PING\r\n",
        connect=b'CONNECT {"verbose":false,"user":"a","pass":"b"}\r\n',
    ),
    good(
        "connect_token_without_auth", b"PING\r\n", connect=b'CONNECT {"verbose":false,"auth_token":"t"}\r\n'
    ),
    good(
        "connect_jwt_sig_without_auth",
        b"PING\r\n",
        connect=b'CONNECT {"verbose":false,"jwt":"x","sig":"y","nkey":"U"}\r\n',
    ),
    good(
        "connect_after_sub",
        b"SUB foo 1\r\n",
        b'CONNECT {"verbose":false}\r\nPUB foo 1\r\nx\r\n',
        connect=None,
    ),
    good(
        "no_responders_wildcard_reply_sub", b"SUB _INBOX.* 1\r\nPUB service _INBOX.a 0\r\n\r\n", connect=C_NR
    ),
    good(
        "no_responders_echo_false",
        b"SUB _INBOX.a 1\r\nPUB service _INBOX.a 0\r\n\r\n",
        connect=b'CONNECT {"verbose":false,"headers":true,"no_responders":true,"echo":false}\r\n',
    ),
    good("no_responders_hpub", b"SUB r 1\r\nHPUB service r 18 20\r\n" + HDR + b"hi\r\n", connect=C_NR),
    good("no_responders_queue_reply_sub", b"SUB r q 1\r\nPUB service r 0\r\n\r\n", connect=C_NR),
    good(
        "no_responders_with_responder", b"SUB service 1\r\nSUB r 2\r\nPUB service r 0\r\n\r\n", connect=C_NR
    ),
    good(
        "verbose_with_connect_proto1",
        b"SUB foo 1\r\nPING\r\nPING\r\n",
        connect=b'CONNECT {"verbose":true,"protocol":1}\r\n',
    ),
    bytewise(_sub_pub),
    bytewise(_hpub),
    bytewise(good("connect_verbose", b"SUB foo 1\r\nPING\r\n", connect=C_VERBOSE)),
]

# ------------------------------------------------------------------------ malformed

_pub_neg = bad("pub_size_negative", b"PUB foo -1\r\n")
_unknown = bad("unknown_op", b"FOO\r\n")
_pub_long = bad("pub_payload_longer_than_size", b"PUB foo 2\r\nhello\r\n")
_long_ctl = bad("control_line_too_long_pub", b"PUB " + b"a" * LONG + b" 0\r\n\r\n")

MALFORMED: list[Case] = [
    # unknown / truncated operations
    _unknown,
    bad("unknown_op_before_connect", b"FOO\r\n", connect=None),
    bad("unknown_op_no_crlf", b"X"),
    bad("unknown_op_after_good_ops", b"SUB foo 1\r\nPUB foo 1\r\nx\r\nBAR baz\r\n"),
    bad("unknown_op_lowercase", b"xyz\r\n"),
    bad("misspelled_ping", b"PIG\r\n"),
    bad("misspelled_pub", b"PUX foo 1\r\n"),
    bad("ping_with_trailing_junk", b"PINGXYZ\r\n"),
    bad("ping_with_args", b"PING foo bar\r\n"),
    bad("pong_with_trailing_junk", b"PONG junk\r\n"),
    bad("truncated_pu", b"PU\r\n"),
    bad("truncated_su", b"SU\r\n"),
    bad("truncated_uns", b"UNS\r\n"),
    bad("truncated_hpu", b"HPU\r\n"),
    bad("truncated_connec", b"CONNEC\r\n", connect=None),
    bad("truncated_pi", b"PI\r\n"),
    bad("op_without_space_pub", b"PUB\r\n"),
    bad("op_without_space_sub", b"SUB\r\n"),
    bad("op_without_space_unsub", b"UNSUB\r\n"),
    bad("op_glued_to_arg", b"PUBfoo 1\r\nx\r\n"),
    bad("hmsg_from_client_zero_size", b"SUB foo 1\r\nHMSG foo 1 0 0\r\n\r\n"),
    bad("hmsg_from_client_garbage_args", b"HMSG x\r\n\r\n"),
    bad("hmsg_from_client_verbose", b"HMSG foo 1 0 0\r\n\r\n", connect=C_VERBOSE),
    bad("info_no_args_from_client", b"INFO\r\n"),
    bad("plus_ok_with_junk", b"+OK junk\r\n"),
    bad("minus_err_no_args", b"-ERR\r\n"),
    bad("ping_no_crlf", b"PING"),
    bad("msg_from_client", b"MSG foo 1 5\r\nhello\r\n"),
    bad("hmsg_from_client", b"HMSG foo 1 18 18\r\n" + HDR + b"\r\n"),
    bad("route_sub_from_client", b"RS+ $G foo\r\n"),
    bad("leaf_sub_from_client", b"LS+ $G foo\r\n"),
    bad("account_sub_from_client", b"A+ foo\r\n"),
    bad("info_from_client", b"INFO {}\r\n"),
    bad("info_bad_json_from_client", b"INFO {bad\r\n"),
    bad("minus_err_from_client", b"-ERR 'boom'\r\n"),
    bad("plus_bad_from_client", b"+NO\r\n"),
    bad("empty_line", b"\r\n"),
    bad("bare_lf_line", b"\n"),
    bad("leading_space", b" PING\r\n"),
    bad("nul_byte_op", b"\x00PING\r\n"),
    bad("nul_inside_ping_line", b"PING\x00\r\n"),
    bad("high_byte_op", b"\xffPING\r\n"),
    bad("cr_without_lf_ping", b"PING\rPING\r\n"),
    bad("cr_without_lf_sub", b"SUB foo 1\rPUB foo 1\r\nx\r\n"),
    bad("http_request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", connect=None),
    # PUB argument errors
    bad("pub_space_only", b"PUB \r\n"),
    bad("pub_one_arg", b"PUB foo\r\n"),
    _pub_neg,
    bad("pub_size_non_numeric", b"PUB foo abc\r\n"),
    bad("pub_size_hex", b"PUB foo 0x5\r\nhello\r\n"),
    bad("pub_size_plus_sign", b"PUB foo +5\r\nhello\r\n"),
    bad("pub_size_ten_digits", b"PUB foo 0000000005\r\nhello\r\n"),
    bad("pub_size_nine_digits", b"PUB foo 000000005\r\nhello\r\n"),
    bad("pub_size_huge", b"PUB foo 99999999999999999999\r\n"),
    bad("pub_too_many_args", b"PUB foo bar baz 5\r\nhello\r\n"),
    _pub_long,
    bad("pub_payload_shorter_than_size", b"PUB foo 10\r\nhello\r\nPUB foo 1\r\nx\r\n"),
    bad("pub_payload_missing_crlf", b"PUB foo 5\r\nhelloPING\r\n"),
    bad("pub_payload_lf_only_end", b"PUB foo 5\r\nhello\nPING\r\n"),
    bad("pub_payload_waits_for_more", b"SUB foo 1\r\nPUB foo 100\r\nshort\r\n"),
    bad(
        "pub_wildcard_subject_non_pedantic", b"SUB foo.* 1\r\nSUB > 2\r\nPUB foo.* 1\r\nx\r\n", unordered=True
    ),
    bad("pub_gt_subject_non_pedantic", b"SUB > 1\r\nPUB foo.> 1\r\nx\r\n"),
    bad("pub_wildcard_subject_pedantic", b"SUB > 1\r\nPUB foo.* 1\r\nx\r\n", connect=C_PEDANTIC),
    bad("pub_empty_token_pedantic", b"SUB > 1\r\nPUB foo..bar 1\r\nx\r\n", connect=C_PEDANTIC),
    bad("pub_empty_token_non_pedantic", b"SUB > 1\r\nPUB foo..bar 1\r\nx\r\n"),
    bad("pub_leading_dot_non_pedantic", b"SUB > 1\r\nPUB .foo 1\r\nx\r\n"),
    bad("pub_trailing_dot_pedantic", b"PUB foo. 1\r\nx\r\n", connect=C_PEDANTIC),
    bad("pub_reply_wildcard", b"SUB foo 1\r\nPUB foo bar.* 1\r\nx\r\n"),
    bad("pub_reply_empty_token", b"SUB foo 1\r\nPUB foo a..b 1\r\nx\r\n"),
    bad("pub_reply_wildcard_pedantic", b"SUB foo 1\r\nPUB foo a.* 1\r\nx\r\n", connect=C_PEDANTIC),
    bad("pub_size_trailing_whitespace", b"SUB foo 1\r\nPUB foo 5\t \r\nhello\r\n"),
    bad(
        "verbose_pedantic_wildcard_pub",
        b"PUB foo.* 1\r\nx\r\n",
        connect=b'CONNECT {"verbose":true,"pedantic":true}\r\n',
    ),
    bad("verbose_unknown_op", b"FOO\r\n", connect=C_VERBOSE),
    bad("verbose_max_payload", b"PUB foo 2000000\r\n", connect=C_VERBOSE),
    bad("verbose_pub_one_arg", b"PUB foo\r\n", connect=C_VERBOSE),
    bad("pedantic_sub_bad_subject", b"SUB foo..x 1\r\n", connect=C_PEDANTIC),
    bad("hpub_header_size_not_covering_headers", b"SUB foo 1\r\nHPUB foo 3 5\r\nabcde\r\n"),
    bad("pub_reserved_gnr_subject", b"SUB > 1\r\nPUB $GNR.a.b.c.d 1\r\nx\r\n"),
    bad("pub_reserved_reply_prefix", b"SUB foo 1\r\nPUB foo _R_.abc 1\r\nx\r\n"),
    bad("pub_reserved_gr_subject", b"SUB > 1\r\nPUB _GR_.a.b 1\r\nx\r\n"),
    bad("pub_reserved_gr_reply", b"SUB foo 1\r\nPUB foo _GR_.a.b 1\r\nx\r\n"),
    bad("pub_js_ack_reply", b"SUB foo 1\r\nPUB foo $JS.ACK.s.c.1.2.3.4.5 1\r\nx\r\n"),
    bad("pub_nrg_subject", b"SUB > 1\r\nPUB $NRG.foo 1\r\nx\r\n"),
    bad("pub_invalid_utf8_subject", b"SUB > 1\r\nPUB \xff\xfe 1\r\nx\r\n"),
    # HPUB errors
    bad("hpub_headers_false", b"HPUB foo 18 18\r\n" + HDR + b"\r\n", connect=C_NOHDR),
    bad("hpub_before_connect", b"HPUB foo 18 18\r\n" + HDR + b"\r\n", connect=None),
    bad("hpub_header_size_gt_total", b"HPUB foo 20 12\r\n" + HDR + b"\r\n"),
    bad("hpub_two_args", b"HPUB foo 18\r\n" + HDR + b"\r\n"),
    bad("hpub_five_args", b"HPUB foo bar baz 18 18\r\n" + HDR + b"\r\n"),
    bad("hpub_header_size_non_numeric", b"HPUB foo x 18\r\n" + HDR + b"\r\n"),
    bad("hpub_total_size_negative", b"HPUB foo 18 -1\r\n"),
    bad("hpub_zero_header_size", b"SUB foo 1\r\nHPUB foo 0 5\r\nhello\r\n"),
    bad("hpub_garbage_header_block", b"SUB foo 1\r\nHPUB foo 5 5\r\nhello\r\n"),
    bad("hpub_wildcard_pedantic", b"HPUB foo.* 18 18\r\n" + HDR + b"\r\n", connect=C_PEDANTIC),
    # max payload / control line
    bad("pub_over_default_max_payload", b"PUB foo 1048577\r\n"),
    bad("pub_over_max_payload", b"PUB foo 65\r\n" + b"x" * 65 + b"\r\n", config="small"),
    bad("hpub_over_max_payload", b"HPUB foo 18 65\r\n" + HDR + b"x" * 47 + b"\r\n", config="small"),
    _long_ctl,
    bad("control_line_too_long_sub", b"SUB " + b"a" * LONG + b" 1\r\n"),
    bad("control_line_too_long_connect", b'CONNECT {"name":"' + b"n" * LONG + b'"}\r\n', connect=None),
    bad("control_line_too_long_no_crlf", b"SUB " + b"a" * LONG),
    bad("control_line_at_limit_ok", b"SUB " + b"a" * (4096 - 6) + b" 1\r\n"),
    bad("unknown_op_long_line", b"X" * LONG + b"\r\n"),
    bad("long_ping_line", b"PING" + b" " * LONG + b"\r\n"),
    # CONNECT errors
    bad("connect_bad_json", b"CONNECT {bad\r\n", connect=None),
    bad("connect_no_args", b"CONNECT\r\n", connect=None),
    bad("connect_space_only", b"CONNECT \r\n", connect=None),
    bad("connect_json_array", b"CONNECT []\r\n", connect=None),
    bad("connect_wrong_type", b'CONNECT {"verbose":"yes"}\r\n', connect=None),
    bad("connect_trailing_garbage", b'CONNECT {"verbose":false} x\r\n', connect=None),
    bad("connect_protocol_2", b'CONNECT {"protocol":2}\r\n', connect=None),
    bad("connect_protocol_negative", b'CONNECT {"protocol":-1}\r\n', connect=None),
    bad("connect_no_responders_without_headers", b'CONNECT {"no_responders":true}\r\n', connect=None),
    bad(
        "connect_no_responders_headers_false",
        b'CONNECT {"no_responders":true,"headers":false}\r\n',
        connect=None,
    ),
    bad("connect_account_field", b'CONNECT {"verbose":false,"account":"A"}\r\n', connect=None),
    bad("connect_after_bad_connect", b"CONNECT {bad\r\nPING\r\n", connect=None),
    bad("connect_json_null", b"PING\r\n", connect=b"CONNECT null\r\n"),
    bad("connect_verbose_null", b"PING\r\n", connect=b'CONNECT {"verbose":null}\r\n'),
    bad("connect_duplicate_keys", b"PING\r\n", connect=b'CONNECT {"verbose":true,"verbose":false}\r\n'),
    bad("connect_int_for_bool", connect=b'CONNECT {"verbose":1}\r\n'),
    bad("connect_protocol_string", connect=b'CONNECT {"protocol":"1"}\r\n'),
    bad("connect_protocol_float", connect=b'CONNECT {"protocol":1.5}\r\n'),
    bad("connect_two_objects", connect=b"CONNECT {} {}\r\n"),
    bad("connect_headers_string", connect=b'CONNECT {"headers":"true"}\r\n'),
    bad("connect_name_number", connect=b'CONNECT {"name":5}\r\n'),
    bad("connect_bad_json_verbose_first", b'CONNECT {"verbose":true}\r\nCONNECT {bad\r\n', connect=None),
    # SUB errors
    bad("sub_space_only", b"SUB \r\n"),
    bad("sub_one_arg", b"SUB foo\r\n"),
    bad("sub_four_args", b"SUB foo q 1 extra\r\n"),
    bad("sub_empty_token", b"SUB foo..bar 1\r\n"),
    bad("sub_leading_dot", b"SUB .foo 1\r\n"),
    bad("sub_trailing_dot", b"SUB foo. 1\r\n"),
    bad("sub_gt_not_last", b"SUB foo.>.bar 1\r\n"),
    bad("sub_only_dot", b"SUB . 1\r\n"),
    bad("sub_star_in_token", b"SUB foo*.bar 1\r\nPUB foo*.bar 1\r\nx\r\n"),
    bad("sub_gt_in_token", b"SUB foo.b> 1\r\nPUB foo.b> 1\r\nx\r\n"),
    bad("sub_vertical_tab_in_subject", b"SUB foo\x0bbar 1\r\nPUB foo\x0bbar 1\r\nx\r\n"),
    bad("sub_form_feed_in_subject", b"SUB foo.a\x0cb 1\r\nPUB foo.a\x0cb 1\r\nx\r\n"),
    bad("sub_nul_in_subject", b"SUB fo\x00o 1\r\nPUB fo\x00o 1\r\nx\r\n"),
    bad("sub_invalid_utf8", b"SUB \xff 1\r\nPUB \xff 1\r\nx\r\n"),
    bad("sub_duplicate_sid", b"SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\nx\r\nPUB foo 1\r\ny\r\n"),
    bad("sub_duplicate_sid_verbose", b"SUB foo 1\r\nSUB bar 1\r\n", connect=C_VERBOSE),
    bad("sub_bad_subject_verbose", b"SUB foo..bar 1\r\n", connect=C_VERBOSE),
    bad("sub_queue_bad_subject", b"SUB foo. q 1\r\n"),
    # UNSUB errors
    bad("unsub_space_only", b"UNSUB \r\n"),
    bad("unsub_bad_max", b"SUB foo 1\r\nUNSUB 1 abc\r\nPUB foo 1\r\nx\r\n"),
    bad("unsub_zero_max", b"SUB foo 1\r\nUNSUB 1 0\r\nPUB foo 1\r\nx\r\n"),
    bad("unsub_negative_max", b"SUB foo 1\r\nUNSUB 1 -3\r\nPUB foo 1\r\nx\r\n"),
    bad("unsub_three_args", b"SUB foo 1\r\nUNSUB 1 2 3\r\n"),
    # awkward splits of malformed input
    bytewise(_unknown),
    bytewise(_pub_neg),
    bytewise(_pub_long),
    bad("split_payload_longer_than_size", b"PUB foo 2\r\n", b"hello\r\n"),
    bad("split_control_line_too_long", *([b"SUB "] + [b"a" * 1000] * 5)),
    split_every(_long_ctl, 512, "_512"),
    bad("split_pub_size_then_garbage", b"PUB foo 3\r\nab", b"cd\r\n"),
    bad("split_cr_then_garbage", b"PUB foo 1\r\nx\r", b"x\n"),
]

CASES: list[Case] = GOOD + MALFORMED


def case_by_name(name: str) -> Case:
    for c in CASES:
        if c.name == name:
            return c
    raise KeyError(name)


def _check_unique() -> None:
    seen: set[str] = set()
    for c in CASES:
        if c.name in seen:
            raise ValueError(f"duplicate case name {c.name}")
        if c.config not in PROFILES:
            raise ValueError(f"case {c.name}: unknown profile {c.config}")
        seen.add(c.name)


_check_unique()
