"""Pull requests of a consumer: parsing, the waiting queue, priority groups.

Mirrors nats-server server/consumer.go ``processNextMsgRequest`` and
``nextReqFromMsg`` (a MSG.NEXT request in), ``processWaiting`` (expiry,
no_wait at end of stream, lost interest, heartbeats), ``nextWaiting`` with
``waitQueue.pop`` / ``popAndRequeue`` / ``insertAtPosition`` (which request
gets the next message) and the priority-group rules: ``overflow``
(min_pending / min_ack_pending gating), ``pinned_client`` (``assignNewPinId``,
``unassignPinId``, the pin timer, 423 statuses) and ``prioritized``.

Theory of operation: ``PullRequests`` is a mixin of ``natsd.jetstream.consumer.
Consumer``; it owns ``waiting`` (a deque of ``Waiting``, in serving order) and
the pin state, and uses the consumer's outbox, counters and ``_gather``. It
does no IO and reads no clock: every entry point takes ``now``.

Intended difference from Go: when the queue is full it is pruned on every
request (Go: at most once a second).

Spec rules: consumer.pull.body, consumer.pull.no_reply,
consumer.pull.push_consumer, consumer.pull.heartbeat_too_large,
consumer.pull.limits, consumer.pull.no_wait, consumer.pull.expires,
consumer.pull.max_bytes, consumer.pull.max_waiting, consumer.pull.heartbeat,
consumer.pull.interest_gone, consumer.pull.num_waiting,
consumer.priority.group_required, consumer.priority.overflow,
consumer.priority.pinned, consumer.priority.pinned_id_other_policy,
consumer.priority.prioritized, consumer.priority.unpin.
"""

from __future__ import annotations

import json
from collections import deque

from natsd.api import ConsumerGroupPinnedAdvisory, ConsumerGroupUnpinnedAdvisory
from natsd.protocol.gotime import go_duration, rfc3339nano

__all__ = ["PullRequests", "Waiting", "int_field", "status_hdr"]


class Waiting:
    """One queued pull request (Go waitingRequest)."""

    __slots__ = ("reply", "n", "d", "b", "expires", "hb", "hbt", "no_wait", "received", "pg", "group",
                 "min_pending", "min_ack_pending", "pin_id", "priority")

    def __init__(self, reply: str, n: int, b: int, expires: int, hb: int, no_wait: bool, now: int) -> None:
        self.pg = False  # a JSON request carries a priority group (Go: non-nil PriorityGroup)
        self.group = self.pin_id = ""
        self.min_pending = self.min_ack_pending = self.priority = 0
        self.reply = reply
        self.n = n
        self.d = 0
        self.b = b
        self.expires = expires  # 0 = never
        self.hb = hb
        self.hbt = now + hb if hb > 0 else 0
        self.no_wait = no_wait
        self.received = now


def status_hdr(code: int, desc: str, pending: tuple[int, int] | None = None) -> bytes:
    if pending is None:
        return f"NATS/1.0 {code} {desc}\r\n\r\n".encode()
    return (f"NATS/1.0 {code} {desc}\r\nNats-Pending-Messages: {pending[0]}\r\n"
            f"Nats-Pending-Bytes: {pending[1]}\r\n\r\n").encode()


_INT_BITS = {"int": 64, "int64": 64, "time.Duration": 64}
# JSApiConsumerGetNextRequest (with the embedded PriorityGroup): JSON name -> Go type.
NEXT_REQUEST_FIELDS = {
    "expires": "time.Duration", "batch": "int", "max_bytes": "int", "no_wait": "bool",
    "idle_heartbeat": "time.Duration", "group": "string", "min_pending": "int64",
    "min_ack_pending": "int64", "id": "string", "priority": "int",
}


def _go_kind(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return f"number {v!r}"


def go_field(key: str, v, gotype: str, struct: str = ""):
    """A JSON value as Go's encoding/json stores it in a field of ``gotype``, or its error.

    null leaves the zero value; a mismatch raises ValueError with Go's text.
    """
    if v is None:
        return "" if gotype == "string" else False if gotype == "bool" else 0
    ok = False
    if gotype == "string":
        ok = isinstance(v, str)
    elif gotype == "bool":
        ok = isinstance(v, bool)
    elif not isinstance(v, bool):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        ok = isinstance(v, int) and -(2 ** 63) <= v < 2 ** 63
    if not ok:
        kind = "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else _go_kind(v)
        if kind == "number":
            kind = f"number {v}"
        raise ValueError(f"json: cannot unmarshal {kind} into Go struct field {struct}.{key} of type {gotype}")
    return v


def go_json_syntax_error(text: str, e: json.JSONDecodeError) -> str:
    """Go encoding/json's syntax error text for a body Python's decoder refused."""
    pos = e.pos
    if pos >= len(text) or e.msg.startswith("Unterminated"):
        return "unexpected end of JSON input"
    ch = text[pos]
    q = "'\\''" if ch == "'" else repr(ch)
    if e.msg.startswith("Expecting property name"):
        return f"invalid character {q} looking for beginning of object key string"
    if e.msg.startswith("Expecting ':'"):
        return f"invalid character {q} after object key"
    if e.msg.startswith("Expecting ','"):
        depth = []
        in_str = esc = False
        for c in text[:pos]:  # the innermost open container decides Go's wording
            if in_str:
                esc, in_str = (False, True) if esc else (c == "\\", c != '"')
            elif c == '"':
                in_str = True
            elif c in "[{":
                depth.append(c)
            elif c in "]}" and depth:
                depth.pop()
        where = "array element" if depth and depth[-1] == "[" else "object key:value pair"
        return f"invalid character {q} after {where}"
    if e.msg.startswith("Extra data"):
        return f"invalid character {q} after top-level value"
    return f"invalid character {q} looking for beginning of value"


def int_field(obj: dict, key: str) -> int:
    """An integer field of a JSON object (ack/nak options), Go's way."""
    return go_field(key, obj.get(key), "int64", "ConsumerNakOptions")


def parse_next_request(obj: dict) -> dict:
    """Go json.Unmarshal into JSApiConsumerGetNextRequest: values by field, the first error in order."""
    out: dict = {}
    err: ValueError | None = None
    for key, v in obj.items():
        gotype = NEXT_REQUEST_FIELDS.get(key)
        if gotype is None:
            continue  # unknown fields are ignored
        try:
            out[key] = go_field(key, v, gotype)
        except ValueError as e:
            err = err or e
    if err is not None:
        raise err
    return out


class PullRequests:
    """Mixin: the pull side of ``Consumer`` (see the module docstring)."""

    def pull(self, reply: str | None, body: bytes, now: int) -> None:
        """Go processNextMsgRequest (the request's reply subject gets messages and statuses)."""
        if not reply or self.closed:
            return
        if not self.is_pull:
            self._send(reply, status_hdr(409, "Consumer is push based"))
            return
        req = body.strip()
        expires = batch = max_bytes = hb = prio = min_p = min_ap = 0
        no_wait = False
        pin_id = ""
        obj: dict = {}
        if not req:
            batch = 1
        elif req[:1] == b"{":
            try:
                obj = json.loads(req)
                if not isinstance(obj, dict):
                    raise ValueError("json: cannot unmarshal into Go value of type server.JSApiConsumerGetNextRequest")
                f = parse_next_request(obj)
                batch, expires, max_bytes = f.get("batch", 0), f.get("expires", 0), f.get("max_bytes", 0)
                hb, no_wait, prio = f.get("idle_heartbeat", 0), f.get("no_wait", False), f.get("priority", 0)
                min_p, min_ap = f.get("min_pending", 0), f.get("min_ack_pending", 0)
                pin_id = f.get("id", "")
                obj = f
            except json.JSONDecodeError as e:
                text = go_json_syntax_error(req.decode("utf-8", "replace"), e)
                self._send(reply, status_hdr(400, f"Bad Request - {text}"))
                return
            except (ValueError, TypeError) as e:
                self._send(reply, status_hdr(400, f"Bad Request - {e}"))
                return
            if hb > 0 and hb * 2 > expires:
                self._send(reply, status_hdr(400, "Bad Request - heartbeat value too large"))
                return
        else:
            try:
                batch = int(req)
            except ValueError:
                batch = 1
        cfg = self.cfg
        if cfg.max_batch > 0 and batch > cfg.max_batch:
            self._send(reply, status_hdr(409, f"Exceeded MaxRequestBatch of {cfg.max_batch}"))
            return
        if expires > 0 and cfg.max_expires > 0 and expires > cfg.max_expires:
            self._send(reply, status_hdr(409, f"Exceeded MaxRequestExpires of {go_duration(cfg.max_expires)}"))
            return
        if max_bytes > 0 and cfg.max_bytes > 0 and max_bytes > cfg.max_bytes:
            self._send(reply, status_hdr(409, f"Exceeded MaxRequestMaxBytes of {cfg.max_bytes}"))
            return
        if req[:1] == b"{":
            if (min_p or min_ap) and cfg.priority_policy != "overflow":
                self._send(reply, status_hdr(400, "Bad Request - Not a Overflow Priority consumer"))
                return
            if pin_id and cfg.priority_policy != "pinned_client":
                self._send(reply, status_hdr(400, "Bad Request - Not a Pinned Client Priority consumer"))
                return
            if prio < 0 or prio > 9:
                self._send(reply, status_hdr(400, "Bad Request - Priority must be between 0 and 9"))
                return
            if cfg.priority_policy:
                group = obj.get("group") or ""
                if not group:
                    self._send(reply, status_hdr(400, "Bad Request - Priority Group missing"))
                    return
                if group not in (cfg.priority_groups or []):
                    self._send(reply, status_hdr(400, "Bad Request - Invalid Priority Group"))
                    return
                if self.current_pin:
                    if pin_id == self.current_pin:
                        self.pin_deadline = now + cfg.priority_timeout
                    elif pin_id:
                        self._send(reply, status_hdr(423, "Nats-Pin-Id mismatch"))
                        return
        if len(self.waiting) >= cfg.max_waiting:
            self._process_waiting(False, now)
        exp_at = now + expires if expires > 0 else 0
        if no_wait:
            msgs_pending = self.num_pending() + len(self.rdq)
            if msgs_pending == 0 and exp_at == 0:
                self.waiting_last = now
                self._send(reply, status_hdr(404, "No Messages"))
                return
            if msgs_pending > 0:
                brp = self._process_waiting(False, now)
                if msgs_pending < brp:
                    self.waiting_last = now
                    self._send(reply, status_hdr(408, "Requests Pending"))
                    return
        if len(self.waiting) >= cfg.max_waiting:
            if hb == 0:
                self._send(reply, status_hdr(409, "Exceeded MaxWaiting"))
            return
        wr = Waiting(reply, batch, max_bytes, exp_at, hb, no_wait, now)
        if req[:1] == b"{":
            wr.pg = True
            wr.group = obj.get("group") or ""
            wr.min_pending, wr.min_ack_pending, wr.pin_id, wr.priority = min_p, min_ap, pin_id, prio
        if cfg.priority_policy == "prioritized":
            self._insert_by_priority(wr)
        else:
            self.waiting.append(wr)
        self.waiting_last = now
        if self.dthresh > 0:
            self.inactive_at = now + self.dthresh
        self._gather(now)

    def _process_waiting(self, eos: bool, now: int) -> int:
        """Go processWaiting: expire, finish no_wait at end of stream, drop lost interest, heartbeat.

        Returns the number of messages the remaining requests still ask for.
        """
        brp = 0
        keep: deque[Waiting] = deque()
        for wr in self.waiting:
            expired = wr.expires and now >= wr.expires
            if (eos and wr.no_wait) or expired:
                if expired:
                    self._send(wr.reply, status_hdr(408, "Request Timeout", (wr.n, wr.b)))
                    continue
                if not wr.expires or wr.d > 0:
                    self._send(wr.reply, status_hdr(404, "No Messages"))
                    continue
            if not self.has_interest(wr.reply):
                continue
            brp += wr.n
            if wr.hbt and now >= wr.hbt:
                self._send(wr.reply, self._heartbeat_hdr())
                wr.hbt = now + wr.hb
            keep.append(wr)
        self.waiting = keep
        return brp

    def _insert_by_priority(self, wr: Waiting) -> None:
        """Go insertAtPosition: after every request of the same or a better (lower) priority."""
        prio = wr.priority if wr.pg else 2**31 - 1
        for i, cur in enumerate(self.waiting):
            if (cur.priority if cur.pg else 2**31 - 1) > prio:
                self.waiting.insert(i, wr)
                return
        self.waiting.append(wr)

    def _cycle(self) -> None:
        self.waiting.rotate(-1)

    def _next_waiting(self, sz: int, now: int) -> Waiting | None:
        """Go nextWaiting + waitQueue.pop / popAndRequeue (round robin, priorities, pins)."""
        policy = self.cfg.priority_policy
        need_pin = not self.current_pin and policy == "pinned_client"
        cycled = 0
        while self.waiting:
            wr = self.waiting[0]
            if wr.expires and now >= wr.expires:
                self._send(wr.reply, status_hdr(408, "Request Timeout", (wr.n, wr.b)))
                self.waiting.popleft()
                continue
            assigned = False
            if need_pin:
                if not wr.pin_id:
                    self._assign_pin(wr, now)
                    assigned = True
                else:
                    self._send(wr.reply, status_hdr(423, "Nats-Wrong-Pin-Id", (wr.n, wr.b)))
                    self.waiting.popleft()
                    continue
            elif self.current_pin and wr.pin_id != self.current_pin:
                if wr.pin_id:
                    self._send(wr.reply, status_hdr(423, "Nats-Wrong-Pin-Id", (wr.n, wr.b)))
                    self.waiting.popleft()
                    continue
                self._cycle()
                cycled += 1
                if cycled >= len(self.waiting):
                    return None
                continue
            if policy == "overflow" and wr.pg and (wr.min_pending > 0 or wr.min_ack_pending > 0) and not (
                    (wr.min_pending > 0 and wr.min_pending <= self.npc + 1)
                    or (wr.min_ack_pending > 0 and wr.min_ack_pending <= len(self.pending))):
                self._cycle()
                cycled += 1
                if cycled >= len(self.waiting):
                    return None
                continue
            if wr.b > 0:
                if sz <= wr.b:
                    wr.b -= sz
                    if wr.b == 0:
                        wr.n = 1
                else:
                    self._send(wr.reply, status_hdr(409, "Message Size Exceeds MaxBytes", (wr.n, wr.b)))
                    if assigned:
                        self._unassign_pin()
                    self.waiting.popleft()
                    continue
            if self.has_interest(wr.reply):
                wr.d += 1
                wr.n -= 1
                if wr.n <= 0:
                    self.waiting.popleft()
                elif len(self.waiting) > 1:
                    self.waiting.popleft()
                    if policy == "prioritized":
                        self._insert_by_priority(wr)
                    else:
                        self.waiting.append(wr)
                return wr
            self.waiting.popleft()
        return None

    def _assign_pin(self, wr: Waiting, now: int) -> None:
        """Go assignNewPinId."""
        if not wr.group:
            return
        self.current_pin = self._id()
        self.pinned_ts = now
        self.pin_group = wr.group
        wr.pin_id = self.current_pin
        self.pin_deadline = now + self.cfg.priority_timeout
        self._advisory("$JS.EVENT.ADVISORY.CONSUMER.PINNED", ConsumerGroupPinnedAdvisory(
            id=self._id(), timestamp=rfc3339nano(now), account="$G", stream=self.stream.config.name,
            consumer=self.name, domain=self.domain, group=wr.group, pinned_id=self.current_pin))

    def _unassign_pin(self) -> None:
        self.current_pin = ""
        self.pinned_ts = 0
        self.pin_deadline = 0

    def unpin(self, group: str, reason: str, now: int) -> None:
        """Release the pin (CONSUMER.UNPIN: reason admin; priority_timeout: reason timeout)."""
        self._unassign_pin()
        self._advisory("$JS.EVENT.ADVISORY.CONSUMER.UNPINNED", ConsumerGroupUnpinnedAdvisory(
            id=self._id(), timestamp=rfc3339nano(now), account="$G", stream=self.stream.config.name,
            consumer=self.name, domain=self.domain, group=group, reason=reason))
        self._gather(now)
