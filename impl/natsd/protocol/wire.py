"""Client protocol constants and encoders (nats-server const.go, client.go).

Every text here is the Go server's, byte for byte: clients match on them.
"""

from __future__ import annotations

__all__ = [
    "OK", "PING", "PONG", "CRLF", "err_line",
    "ERR_UNKNOWN_OP", "ERR_AUTH_VIOLATION", "ERR_AUTH_TIMEOUT", "ERR_MAX_PAYLOAD",
    "ERR_MAX_CONTROL_LINE", "ERR_MAX_SUBS", "ERR_MAX_CONNECTIONS", "ERR_INVALID_PUB_SUBJECT",
    "ERR_INVALID_SUBJECT", "ERR_STALE_CONNECTION", "ERR_TLS_REQUIRED", "ERR_BAD_PROTOCOL",
    "ERR_NO_RESPONDERS_HEADERS", "no_responders_msg", "PROTO_PLAIN", "PROTO_INFO",
]

CRLF = b"\r\n"
OK = b"+OK\r\n"
PING = b"PING\r\n"
PONG = b"PONG\r\n"

PROTO_PLAIN = 0  # ClientProtoZero
PROTO_INFO = 1  # ClientProtoInfo: client understands async INFO

ERR_UNKNOWN_OP = "Unknown Protocol Operation"
ERR_AUTH_VIOLATION = "Authorization Violation"
ERR_AUTH_TIMEOUT = "Authentication Timeout"
ERR_MAX_PAYLOAD = "Maximum Payload Violation"
ERR_MAX_CONTROL_LINE = "maximum control line exceeded"
ERR_MAX_SUBS = "maximum subscriptions exceeded"
ERR_MAX_CONNECTIONS = "maximum connections exceeded"
ERR_INVALID_PUB_SUBJECT = "Invalid Publish Subject"
ERR_INVALID_SUBJECT = "Invalid Subject"
ERR_STALE_CONNECTION = "Stale Connection"
ERR_TLS_REQUIRED = "Secure Connection - TLS Required"
ERR_BAD_PROTOCOL = "invalid client protocol"
ERR_NO_RESPONDERS_HEADERS = "no responders requires headers support"


def err_line(text: str) -> bytes:
    return b"-ERR '" + text.encode() + b"'\r\n"


def no_responders_msg(reply: bytes, sid: bytes, subject: bytes) -> bytes:
    """The 503 status a requester gets when nobody is subscribed (client.go)."""
    hdr = b"NATS/1.0 503\r\nNats-Subject: " + subject + b"\r\n\r\n"
    n = str(len(hdr)).encode()
    return b"HMSG " + reply + b" " + sid + b" " + n + b" " + n + b"\r\n" + hdr + b"\r\n"
