"""NATS header blocks as JetStream reads and writes them.

Mirrors nats-server server/client.go (``getHeader``, ``sliceHeader``,
``getHeaderKeyIndex``, ``genHeader``, ``setHeader``,
``removeHeaderIfPresent``, ``removeHeaderStatusIfPresent``), server/util.go
``parseInt64``, the header getters of server/stream.go (``getMsgId``,
``getExpected*``, ``getRollup``, ``getMessageTTL``, ``parseMessageTTL``,
``getMessageIncr``), and the Go standard library pieces JetStream relies on:
``time.ParseDuration``, ``time.Duration.String`` and ``time.RFC3339Nano``.

Theory of operation
-------------------
A header block is ``NATS/1.0[ code[ description]]\\r\\n`` then ``Key: Value\\r\\n``
lines then a blank ``\\r\\n``. Two readers exist, on purpose:

- ``parse_headers`` builds an ordered multi-map (``Headers``) for code that
  wants every field (tests, tools, the API layer).
- The JetStream getters (``slice_header`` and everything built on it) follow
  Go exactly: they search the *raw bytes* for the key preceded by ``\\r\\n``
  and followed immediately by ``:``. The match is case-sensitive
  (``nats-msg-id`` is not ``Nats-Msg-Id`` [obs]), the first occurrence wins,
  only spaces (not tabs) before the value are skipped and trailing
  whitespace is kept. A present-but-empty value counts as absent for every
  getter here, as in Go.

Nothing here keeps state; every function is pure. Spec rules: stream.ttl.parse,
stream.publish.* header semantics (the checks themselves live in
``natsd.jetstream.stream``).
"""

from __future__ import annotations

import re

from natsd.protocol.gotime import ZERO_TIME, go_duration, parse_go_duration, parse_rfc3339, rfc3339nano

__all__ = [
    # header names
    "MSG_ID",
    "EXPECTED_STREAM",
    "EXPECTED_LAST_SEQ",
    "EXPECTED_LAST_SUBJ_SEQ",
    "EXPECTED_LAST_SUBJ_SEQ_SUBJ",
    "EXPECTED_LAST_MSG_ID",
    "STREAM_SOURCE",
    "ROLLUP",
    "MSG_SIZE",
    "MSG_TTL",
    "MARKER_REASON",
    "MSG_INCR",
    "COUNTER_SOURCES",
    "BATCH_ID",
    "BATCH_SEQ",
    "BATCH_COMMIT",
    "SCHEDULE",
    "SCHEDULE_NEXT",
    "SCHEDULER",
    "REQUEST_INFO",
    "KV_OPERATION",
    "NATS_STREAM",
    "NATS_SUBJECT",
    "NATS_SEQUENCE",
    "NATS_TIME_STAMP",
    "NATS_LAST_SEQUENCE",
    "NATS_NUM_PENDING",
    "NATS_UPTO_SEQUENCE",
    "HDR_LINE",
    "EMPTY_HDR",
    # parsing
    "Headers",
    "parse_headers",
    # Go raw lookups and edits
    "slice_header",
    "get_header",
    "header_key_index",
    "gen_header",
    "set_header",
    "remove_header",
    "remove_status",
    "status_header",
    "build_headers",
    # JetStream getters
    "parse_int64",
    "msg_id",
    "expected_stream",
    "expected_last_seq",
    "expected_last_subject_seq",
    "expected_last_subject_seq_subject",
    "expected_last_msg_id",
    "rollup",
    "TTLInvalid",
    "message_ttl",
    "parse_message_ttl",
    "message_incr",
    "is_subject_delete_marker",
    # builders
    "republish_header",
    "direct_get_header",
    # time
    "parse_go_duration",
    "go_duration",
    "rfc3339nano",
    "parse_rfc3339",
    "ZERO_TIME",
]

MSG_ID = "Nats-Msg-Id"
EXPECTED_STREAM = "Nats-Expected-Stream"
EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
EXPECTED_LAST_SUBJ_SEQ = "Nats-Expected-Last-Subject-Sequence"
EXPECTED_LAST_SUBJ_SEQ_SUBJ = "Nats-Expected-Last-Subject-Sequence-Subject"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
STREAM_SOURCE = "Nats-Stream-Source"
ROLLUP = "Nats-Rollup"
MSG_SIZE = "Nats-Msg-Size"
MSG_TTL = "Nats-TTL"
MARKER_REASON = "Nats-Marker-Reason"
MSG_INCR = "Nats-Incr"
COUNTER_SOURCES = "Nats-Counter-Sources"
BATCH_ID = "Nats-Batch-Id"
BATCH_SEQ = "Nats-Batch-Sequence"
BATCH_COMMIT = "Nats-Batch-Commit"
SCHEDULE = "Nats-Schedule"
SCHEDULE_NEXT = "Nats-Schedule-Next"
SCHEDULER = "Nats-Scheduler"
REQUEST_INFO = "Nats-Request-Info"  # Go ClientInfoHdr
KV_OPERATION = "KV-Operation"
NATS_STREAM = "Nats-Stream"
NATS_SUBJECT = "Nats-Subject"
NATS_SEQUENCE = "Nats-Sequence"
NATS_TIME_STAMP = "Nats-Time-Stamp"
NATS_LAST_SEQUENCE = "Nats-Last-Sequence"
NATS_NUM_PENDING = "Nats-Num-Pending"
NATS_UPTO_SEQUENCE = "Nats-UpTo-Sequence"

HDR_LINE = b"NATS/1.0\r\n"
EMPTY_HDR = b"NATS/1.0\r\n\r\n"
_CRLF = b"\r\n"


# --- parsing into an ordered multi-map ----------------------------------------------


class Headers:
    """A parsed header block: status code/description and ordered (key, value) fields."""

    __slots__ = ("code", "description", "fields")

    def __init__(self, code: int | None = None, description: str = "", fields=None) -> None:
        self.code = code
        self.description = description
        self.fields: list[tuple[str, str]] = list(fields or ())

    def __repr__(self) -> str:
        return f"Headers(code={self.code!r}, description={self.description!r}, fields={self.fields!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return (self.code, self.description, self.fields) == (other.code, other.description, other.fields)

    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of ``key`` (exact case, as the server's JetStream lookups)."""
        for k, v in self.fields:
            if k == key:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.fields if k == key]

    def get_fold(self, key: str) -> str | None:
        """First value of ``key`` compared case-insensitively (what clients do)."""
        lk = key.lower()
        for k, v in self.fields:
            if k.lower() == lk:
                return v
        return None

    def __contains__(self, key: str) -> bool:
        return any(k == key for k, _ in self.fields)

    def keys(self) -> list[str]:
        return [k for k, _ in self.fields]

    def encode(self) -> bytes:
        """The header block bytes (``NATS/1.0[ code[ desc]]`` + fields + blank line)."""
        return build_headers(self.fields, code=self.code, description=self.description)


def parse_headers(hdr: bytes | None) -> Headers:
    """Parse a header block. Lines without ``:`` are skipped; values are stripped."""
    if not hdr:
        return Headers()
    text = bytes(hdr).decode("utf-8", "surrogateescape")
    lines = text.split("\r\n")
    first = lines[0]
    code: int | None = None
    desc = ""
    if first.startswith("NATS/1.0"):
        rest = first[8:].strip()
        if rest:
            parts = rest.split(" ", 1)
            if parts[0].isdigit():
                code = int(parts[0])
                desc = parts[1].strip() if len(parts) > 1 else ""
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        k, sep, v = line.partition(":")
        if not sep:
            continue
        fields.append((k.strip(), v.strip()))
    return Headers(code, desc, fields)


def build_headers(fields, *, code: int | None = None, description: str = "") -> bytes:
    """A header block from (key, value) pairs, in order."""
    first = "NATS/1.0"
    if code is not None:
        first += f" {code}"
        if description:
            first += f" {description}"
    out = [first.encode(), _CRLF]
    for k, v in fields:
        out.append(f"{k}: {v}\r\n".encode())
    out.append(_CRLF)
    return b"".join(out)


def status_header(code: int, description: str = "", fields=()) -> bytes:
    """A status-only block such as ``NATS/1.0 404 Message Not Found\\r\\n\\r\\n``."""
    return build_headers(fields, code=code, description=description)


# --- Go's raw-byte lookups -----------------------------------------------------------------


def header_key_index(key: str, hdr: bytes | None) -> int:
    """Go getHeaderKeyIndex: offset of ``key`` preceded by CRLF and followed by ':', else -1."""
    if not hdr:
        return -1
    bkey = key.encode()
    klen, hlen = len(bkey), len(hdr)
    offset = 0
    while True:
        i = hdr.find(bkey, offset)
        if i < 0 or i - offset < 2:  # Go checks the index relative to the offset
            return -1
        if i >= hlen - 1 or hdr[i - 1] != 0x0A or hdr[i - 2] != 0x0D:
            offset = i + klen
            continue
        if i + klen >= hlen:
            return -1
        if hdr[i + klen] != 0x3A:  # ':'
            offset = i + klen
            continue
        return i


def slice_header(key: str, hdr: bytes | None) -> bytes | None:
    """Go sliceHeader: the value of ``key`` (leading spaces skipped, up to CRLF), or None."""
    if not hdr:
        return None
    i = header_key_index(key, hdr)
    if i < 0:
        return None
    i += len(key.encode()) + 1
    n = len(hdr)
    while i < n and hdr[i] == 0x20:
        i += 1
    start = i
    while i < n:
        if hdr[i] == 0x0D and i < n - 1 and hdr[i + 1] == 0x0A:
            break
        i += 1
    return bytes(hdr[start:i])


get_header = slice_header  # Go getHeader is a copying sliceHeader; bytes are immutable here


def _go_header_value(value: str) -> str:
    """net/http Header.Write: CR/LF become spaces, then ASCII whitespace is trimmed."""
    return value.replace("\r", " ").replace("\n", " ").strip(" \t\r\n")


def gen_header(hdr: bytes | None, key: str, value: str) -> bytes:
    """Go genHeader: append ``key: value`` to a header block (creating one if needed)."""
    base = bytes(hdr[:-2]) if hdr and len(hdr) > 2 else HDR_LINE
    return base + f"{key}: {_go_header_value(value)}\r\n".encode() + _CRLF


def set_header(key: str, value: str, hdr: bytes | None) -> bytes:
    """Go setHeader: replace the first value of ``key`` in place, else append it."""
    i = header_key_index(key, hdr)
    if i < 0 or hdr is None:
        return gen_header(hdr, key, value)
    vstart = i + len(key.encode()) + 1
    if vstart < len(hdr) and hdr[vstart] == 0x20:
        vstart += 1
    vend = hdr.find(b"\r", vstart)
    if vend < 0:
        return hdr
    return bytes(hdr[:vstart]) + value.encode() + bytes(hdr[vend:])


def remove_header(hdr: bytes | None, key: str) -> bytes | None:
    """Go removeHeaderIfPresent: drop every ``key`` line; None when nothing remains."""
    if hdr is None:
        return None
    bkey = key.encode()
    while True:
        start = header_key_index(key, hdr)
        if start < 1 or hdr[start - 1] != 0x0A:
            return hdr
        idx = start + len(bkey)
        if idx >= len(hdr) or hdr[idx] != 0x3A:
            return hdr
        end = hdr.find(_CRLF, start)
        if end < 0:
            return hdr
        hdr = hdr[:start] + hdr[end + 2 :]
        if len(hdr) <= len(EMPTY_HDR):
            return None


def remove_status(hdr: bytes | None) -> bytes | None:
    """Go removeHeaderStatusIfPresent: ``NATS/1.0 503 x\\r\\n...`` -> ``NATS/1.0\\r\\n...``."""
    if not hdr:
        return hdr
    k = b"NATS/1.0"
    i = hdr.find(b"\r")
    if not hdr.startswith(k) or i <= len(k):
        return hdr
    hdr = hdr[: len(k)] + hdr[i:]
    if len(hdr) == len(EMPTY_HDR):
        return None
    return hdr


# --- JetStream getters (server/stream.go) -------------------------------------------------

_I64 = 1 << 63
_U64 = 1 << 64


def parse_int64(d: bytes | None) -> int:
    """Go parseInt64: decimal digits only, -1 on anything else (int64 wrap-around kept)."""
    if not d:
        return -1
    n = 0
    for c in d:
        if c < 0x30 or c > 0x39:
            return -1
        n = ((n * 10 + (c - 0x30) + _I64) % _U64) - _I64
    return n


def _text(v: bytes | None) -> str:
    return v.decode("utf-8", "surrogateescape") if v else ""


def msg_id(hdr: bytes | None) -> str:
    return _text(slice_header(MSG_ID, hdr))


def expected_stream(hdr: bytes | None) -> str:
    return _text(slice_header(EXPECTED_STREAM, hdr))


def expected_last_msg_id(hdr: bytes | None) -> str:
    return _text(slice_header(EXPECTED_LAST_MSG_ID, hdr))


def _expected_uint(key: str, hdr: bytes | None) -> int | None:
    v = slice_header(key, hdr)
    if not v:
        return None
    return parse_int64(v) % _U64  # Go uint64(parseInt64(..)): a bad value is 2^64-1


def expected_last_seq(hdr: bytes | None) -> int | None:
    """Nats-Expected-Last-Sequence, or None. A non-numeric value is 2^64-1 (never matches)."""
    return _expected_uint(EXPECTED_LAST_SEQ, hdr)


def expected_last_subject_seq(hdr: bytes | None) -> int | None:
    return _expected_uint(EXPECTED_LAST_SUBJ_SEQ, hdr)


def expected_last_subject_seq_subject(hdr: bytes | None) -> str:
    return _text(slice_header(EXPECTED_LAST_SUBJ_SEQ_SUBJ, hdr))


def rollup(hdr: bytes | None) -> str:
    """Nats-Rollup lower-cased ("" when absent), as Go getRollup."""
    return _text(slice_header(ROLLUP, hdr)).lower()


class TTLInvalid(ValueError):
    """A Nats-TTL value Go rejects (JSMessageTTLInvalidErr, 10165)."""


def parse_message_ttl(ttl: str) -> int:
    """Go parseMessageTTL: seconds (> 0), 0 for none, -1 for "never"; TTLInvalid otherwise.

    A Go duration below 1s is invalid ("0", "500ms"); a duration is truncated to
    whole seconds ("1.5s" -> 1); a string that is not a duration is read as
    decimal seconds ("5" -> 5, "00" -> 0 = no TTL); anything else is invalid.
    """
    if ttl.lower() == "never":
        return -1
    try:
        dur = parse_go_duration(ttl)
    except ValueError:
        pass
    else:
        if dur < 1_000_000_000:
            raise TTLInvalid(ttl)
        sec, nsec = divmod(dur, 1_000_000_000)
        return int(float(sec) + float(nsec) / 1e9)
    t = parse_int64(ttl.encode("utf-8", "surrogateescape"))
    if t < 0:
        raise TTLInvalid(ttl)
    return t


def message_ttl(hdr: bytes | None) -> int:
    """Go getMessageTTL: the Nats-TTL in seconds (0 none, -1 never); TTLInvalid when bad."""
    v = slice_header(MSG_TTL, hdr)
    if not v:
        return 0
    return parse_message_ttl(_text(v))


_BIGINT = re.compile(r"[+-]?[0-9]+\Z")


def message_incr(hdr: bytes | None) -> tuple[int | None, bool]:
    """Go getMessageIncr: (value or None when absent, ok). ok is False for a non-integer."""
    v = slice_header(MSG_INCR, hdr)
    if not v:
        return None, True
    s = _text(v)
    if not _BIGINT.match(s):
        return None, False
    return int(s), True


def is_subject_delete_marker(hdr: bytes | None) -> bool:
    """Go isSubjectDeleteMarker: a Nats-Marker-Reason, or a KV purge."""
    return bool(slice_header(MARKER_REASON, hdr)) or slice_header(KV_OPERATION, hdr) == b"PURGE"


# --- header blocks the server builds -------------------------------------------------------


def republish_header(
    hdr: bytes | None,
    *,
    stream: str,
    subject: str,
    seq: int,
    ts: int,
    last_seq: int,
    msg_size: int | None = None,
) -> bytes:
    """The republished message's headers: the original ones plus Nats-Stream ... Nats-Last-Sequence.

    ``msg_size`` set (headers_only) adds ``Nats-Msg-Size``. Go appends with one
    format string, so no value trimming happens here.
    """
    tail = (
        f"Nats-Stream: {stream}\r\nNats-Subject: {subject}\r\nNats-Sequence: {seq}\r\n"
        f"Nats-Time-Stamp: {rfc3339nano(ts)}\r\nNats-Last-Sequence: {last_seq}\r\n"
    )
    if msg_size is not None:
        tail += f"Nats-Msg-Size: {msg_size}\r\n"
    base = bytes(hdr[:-2]) if hdr else HDR_LINE
    return base + tail.encode() + _CRLF


def direct_get_header(
    hdr: bytes | None,
    *,
    stream: str,
    subject: str,
    seq: int,
    ts: int,
    num_pending: int | None = None,
    last_seq: int | None = None,
) -> bytes:
    """A direct-get reply's headers: stored headers plus Nats-Stream/-Subject/-Sequence/-Time-Stamp.

    Batch and multi-last replies also carry Nats-Num-Pending and Nats-Last-Sequence.
    """
    pairs = [
        (NATS_STREAM, stream),
        (NATS_SUBJECT, subject),
        (NATS_SEQUENCE, str(seq)),
        (NATS_TIME_STAMP, rfc3339nano(ts)),
    ]
    if num_pending is not None:
        pairs.append((NATS_NUM_PENDING, str(num_pending)))
        pairs.append((NATS_LAST_SEQUENCE, str(last_seq or 0)))
    if not hdr:
        return build_headers(pairs)
    out = bytes(hdr)
    for k, v in pairs:
        out = gen_header(out, k, v)
    return out
