"""The state of the stream reference model: stored messages, streams, and the
helpers the model's modules share (header parsing, Go JSON, mask tokens).

Theory of operation
-------------------
:class:`Msg` is one stored message (sequence, subject, header block as
stored, payload, store time, TTL) with its accounted size under either
storage (stream.bytes.memory, stream.bytes.file). :class:`Stream` is one
stream: its normalised config, its messages in sequence order and the
counters Go's store keeps (``first_seq``/``last_seq``, last time, last
message id, the dedupe table), plus the open atomic batches
(natsd.model.stream_batch) and the origins it copies from
(natsd.model.stream_sources). Nothing here changes a stream by itself: the
model's methods (natsd.model.stream) do.

This module imports nothing from the implementation but ``natsd.api``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from natsd.api import errors as E
from natsd.model.streamcfg import subject_matches, valid_subject

if TYPE_CHECKING:
    from natsd.model.stream_batch import Batch
    from natsd.model.stream_sources import Origin

#: Mask tokens: a non-zero time, the server version, the server name (the oracle
#: puts them into the implementation's replies in the same places).
TS = "<ts>"
VER = "<ver>"
SERVER = "<server>"
#: Go's zero time.Time in JSON.
ZERO_TIME = "0001-01-01T00:00:00Z"
#: The model clock's start (ns); any non-zero value would do.
T0 = 1_700_000_000 * 10**9
#: The JetStream API level reported in _nats.level.
API_LEVEL = 5
#: JSMaxSubjectDetails: the page size of STREAM.INFO subjects.
MAX_SUBJECT_DETAILS = 100_000

_T = "io.nats.jetstream.api.v1."
CREATE_T = _T + "stream_create_response"
INFO_T = _T + "stream_info_response"
UPDATE_T = _T + "stream_update_response"
DELETE_T = _T + "stream_delete_response"
PURGE_T = _T + "stream_purge_response"
MSG_GET_T = _T + "stream_msg_get_response"
MSG_DELETE_T = _T + "stream_msg_delete_response"

# -------------------------------------------------------------------- headers


def encode_headers(headers: tuple[tuple[str, str], ...]) -> bytes:
    """The header block a client sends for ``headers`` (b"" for none)."""
    if not headers:
        return b""
    return ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()


def _header(headers: tuple[tuple[str, str], ...], key: str) -> str:
    """The first value of ``key`` ("" when absent), as Go's ``getHeader``."""
    for k, v in headers:
        if k == key:
            return v.strip()
    return ""


#: Headers a counter increment cannot be combined with (10171).
_INCR_INCOMPATIBLE = (
    "Nats-Rollup", "Nats-Expected-Stream", "Nats-Expected-Last-Msg-Id",
    "Nats-Expected-Last-Subject-Sequence-Subject", "Nats-Expected-Last-Sequence",
    "Nats-Expected-Last-Subject-Sequence",
)


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def _parse_ttl(text: str) -> int | None:
    """Nats-TTL as Go's ``getMessageTTL`` reads the values the campaign sends
    (stream.ttl.parse): "" -> 0 (none), "never" -> -1, a duration "<n>s" /
    "<n>m" / "<n>h" / "<n>ms" -> whole seconds (under 1s: invalid), an integer
    -> seconds; None when invalid."""
    if not text:
        return 0
    if text.lower() == "never":
        return -1
    units = {"ms": 10**-3, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            secs = int(text[: -len(unit)]) * units[unit]
            return None if secs < 1 else int(secs)
    return int(text) if text.isdigit() else None


def _ttl_seconds(text: str) -> int:
    """The TTL the 'disabled' check sees: an invalid value counts as none."""
    return _parse_ttl(text) or 0


def _remove_header(hdr: bytes, key: str) -> bytes:
    """Go ``removeHeaderIfPresent``: drop the ``key`` lines; b"" when none remain."""
    if not hdr:
        return hdr
    lines = hdr.split(b"\r\n")
    kept = [ln for ln in lines if not ln.startswith(key.encode() + b":")]
    out = b"\r\n".join(kept)
    return b"" if len(out) <= len(b"NATS/1.0\r\n\r\n") else out


def _go_duration(secs: int) -> str:
    """Go's time.Duration String for whole seconds: 7200 -> "2h0m0s"."""
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    return f"{m}m{s}s" if m else f"{s}s"


def _valid_literal(subject: str) -> bool:
    return valid_subject(subject) and not any(t in ("*", ">") for t in subject.split("."))


def _go_uint(text: str) -> int:
    """Go's ``uint64(parseInt64(b))``: a non-number is -1, i.e. 2**64-1."""
    return int(text) if text.isdigit() else 2**64 - 1


# ----------------------------------------------------------------------- JSON


def _go_json(value: Any) -> str:
    """Go ``json.Marshal`` text: compact, with <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _err(e: E.ApiError) -> dict:
    return {"code": e.code, "err_code": e.err_code, "description": e.description}


def _time(ns: int) -> str:
    return TS if ns else ZERO_TIME


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------- state


@dataclass
class Msg:
    seq: int
    subject: str
    hdr: bytes  # the header block as sent, b"" when none
    data: bytes
    ts: int
    ttl: int = 0  # Nats-TTL in seconds, -1 never

    @property
    def size(self) -> int:
        """stream.bytes.memory: subject + headers + payload + 16 (Go memStoreMsgSize)."""
        return len(self.subject) + len(self.hdr) + len(self.data) + 16

    @property
    def file_size(self) -> int:
        """stream.bytes.file: 22 + subject + payload + 8, plus 4 + headers when it
        has headers (Go fileStoreMsgSize)."""
        return 22 + len(self.subject) + len(self.data) + 8 + (4 + len(self.hdr) if self.hdr else 0)


@dataclass
class Stream:
    config: dict
    created: int
    msgs: list[Msg] = field(default_factory=list)
    first_seq: int = 0
    last_seq: int = 0
    last_ts: int = 0
    last_msg_id: str = ""
    msg_ids: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (seq, ts)
    #: an update lowered limits under discard new, which Go does not apply to
    #: what is stored: max_msgs / max_bytes may be exceeded from then on
    over_limit_ok: bool = False
    #: open atomic batches by id (natsd.model.stream_batch)
    batches: dict[str, Batch] = field(default_factory=dict)
    #: what a mirror or a stream with sources copies from (natsd.model.stream_sources)
    origins: dict[str, Origin] = field(default_factory=dict)
    #: message schedules: subject -> [seq, due ns, in flight] (natsd.model.stream_schedule)
    schedules: dict[str, list] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config["name"]

    def limit(self, key: str) -> int:
        return self.config[key]

    @property
    def bytes(self) -> int:
        return sum(self.msg_size(m) for m in self.msgs)

    def msg_size(self, m: Msg) -> int:
        """The bytes ``m`` counts for in this stream's storage."""
        return m.file_size if self.config["storage"] == "file" else m.size

    def per_subject(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.msgs:
            out[m.subject] = out.get(m.subject, 0) + 1
        return out

    def captures(self, subject: str) -> bool:
        return any(subject_matches(p, subject) for p in self.config.get("subjects", []))

    def last_matching(self, filter_subject: str) -> Msg | None:
        """The last stored message matching the filter (Go ``LoadLastMsg``). For
        '>' (or no filter) Go looks only at last_seq: once that message is gone
        (deleted, purged) there is no "last message", even if others remain."""
        if filter_subject in ("", ">"):
            return self.msgs[-1] if self.msgs and self.msgs[-1].seq == self.last_seq else None
        for m in reversed(self.msgs):
            if subject_matches(filter_subject, m.subject):
                return m
        return None

