"""Consumer administration beside delivery: CONSUMER.PAUSE, CONSUMER.RESET and
the pull-request checks made before a request is queued (no reply subject,
Nats-Required-Api-Level).

A mixin of natsd.model.consumer.ConsumerModel (it uses its state: ``streams``,
``consumers``, ``now``, ``_info``, ``_calc_pending``, ``_signal``,
``_stream_ack``, ``_c``). It mirrors server/jetstream_api.go
(``jsConsumerPauseRequest``) and server/consumer.go (``updatePauseState``,
``processResetReq``, ``resetStartingSeqLocked``, ``resetLocalStartingSeq``,
``checkStateForInterestStream``, ``processNextMsgReq``), with
server/memstore.go (``consumerMemStore.Reset``).

Theory of operation: a pause is the config's ``pause_until`` (a UTC RFC 3339
string, as Go encodes it); the consumer is paused while that time lies after
``now``, and a paused consumer's delivery loop delivers nothing (requests wait
or expire). A reset puts the running and stored state back to a new start
sequence, drops what was pending, and on interest and workqueue streams acks
for this consumer the messages below the new start (``chkflr``: Go's check
floor, where that walk resumes).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from natsd.api import errors as E
from natsd.model import consumercfg as K
from natsd.model.stream import TS, ZERO_TIME

__all__ = ["AdminMixin", "API_LEVEL", "PAUSE_T", "RESET_T", "UNPIN_T", "parse_time", "api_level_refused"]

_T = "io.nats.jetstream.api.v1."
PAUSE_T = _T + "consumer_pause_response"
RESET_T = _T + "consumer_reset_response"
UNPIN_T = _T + "consumer_unpin_response"
#: Go validGroupName
_GROUP_NAME = re.compile(r"^[a-zA-Z0-9/_=-]{1,16}$")
#: Go JSApiLevel
API_LEVEL = 5


def parse_time(text: str | None) -> int:
    """An RFC 3339 time as Unix nanoseconds (0 for none or Go's zero time)."""
    if not text or text.startswith("0001-01-01"):
        return 0
    head, _, frac = text.rstrip("Z").partition(".")
    dt = datetime.fromisoformat(head).replace(tzinfo=UTC)
    ns = int((frac + "000000000")[:9]) if frac else 0
    return int(dt.timestamp()) * 10**9 + ns


def api_level_refused(hdr: bytes) -> bool:
    """Go ``errorOnRequiredApiLevel``: a Nats-Required-Api-Level header that is
    not an integer or is above the server's level."""
    for line in hdr.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip() == b"Nats-Required-Api-Level":
            value = value.strip()
            if not value:
                return False
            try:
                return API_LEVEL < int(value)
            except ValueError:
                return True
    return False


def _err(e: E.ApiError) -> dict:
    return {"code": e.code, "err_code": e.err_code, "description": e.description}


class AdminMixin:
    """CONSUMER.PAUSE / CONSUMER.RESET and the early pull-request checks."""

    streams: dict
    consumers: dict
    now: int

    def paused(self, o: Any) -> bool:
        """consumer.pause: delivery stops while pause_until lies ahead."""
        until = parse_time(o.cfg["pause_until"])
        return until > self.now

    def seq_from_time(self, st: Any, ts: int) -> int:
        """Go memStore ``GetSeqFromTime``: the first message stored at or after
        ``ts`` (consumer.deliver.by_start_time), else the next sequence."""
        if not st.msgs:
            return st.last_seq + 1
        return next((m.seq for m in st.msgs if m.ts >= ts), st.last_seq + 1)

    def pause_info(self, o: Any, info: dict) -> dict:
        """The info fields of a pause and of priority groups (Go
        ``infoWithSnapAndReply``: the first group's state, with the pin held)."""
        if o.cfg["priority_groups"]:
            group = {"group": o.cfg["priority_groups"][0], "pinned_ts": TS if o.pin_id else ZERO_TIME}
            if o.pin_id:
                group["pinned_client_id"] = o.pin_id
            info["priority_groups"] = [group]
        if self.paused(o):
            info["paused"] = True
            info["pause_remaining"] = parse_time(o.cfg["pause_until"]) - self.now
        return info

    def consumer_pause(self, stream: str, name: str, body: bytes) -> dict:
        """$JS.API.CONSUMER.PAUSE.<stream>.<name> (consumer.pause.api): a
        pause_until that is set pauses (until then), a zero or absent one resumes;
        the config's required API level follows."""
        def fail(e: E.ApiError) -> dict:
            # Go encodes the whole response: paused false and the zero time too
            return {"type": PAUSE_T, "error": _err(e), "paused": False, "pause_until": ZERO_TIME}

        text = body.strip()
        until = None
        if text[:1] in (b"{", b"["):
            try:
                req = json.loads(text)
            except ValueError as e:
                return fail(E.invalid_json(err=str(e)))
            until = req.get("pause_until") if isinstance(req, dict) else None
        if self._lookup(stream) is None:  # type: ignore[attr-defined]
            return fail(E.stream_not_found())
        o = self.consumers.get(stream, {}).get(name)
        if o is None:
            return fail(E.consumer_not_found())
        self._c("consumer.pause.api")  # type: ignore[attr-defined]
        ns = parse_time(until)
        was = parse_time(o.cfg["pause_until"])
        o.cfg["pause_until"] = until if ns else None
        o.cfg["metadata"] = {**(o.cfg["metadata"] or {}), "_nats.req.level": K.required_level(o.cfg)}
        if was != ns:  # Go updateConfig: the pause advisory (the loop is not signalled:
            # a resumed consumer delivers at its next message or timer)
            self.pause_event(o, o.cfg["pause_until"], ns)  # type: ignore[attr-defined]
        out: dict = {"type": PAUSE_T, "paused": ns > self.now, "pause_until": until if ns else ZERO_TIME}
        if ns > self.now:
            self._c("consumer.pause")  # type: ignore[attr-defined]
            out["pause_remaining"] = ns - self.now
        return out

    def consumer_unpin(self, stream: str, name: str, body: bytes) -> dict:
        """$JS.API.CONSUMER.UNPIN.<stream>.<name> (consumer.priority.unpin, Go
        ``jsConsumerUnpinRequest``): the request's group must be one of the
        consumer's (any policy); the pin is released and the delivery loop
        signalled."""
        def fail(e: E.ApiError) -> dict:
            return {"type": UNPIN_T, "error": _err(e)}

        try:
            req = json.loads(body)
        except ValueError as e:
            from natsd.model.consumer import _go_json_error

            return fail(E.invalid_json(err=_go_json_error(body, e)))
        group = (req.get("group") or "") if isinstance(req, dict) else ""
        if not group:
            return fail(E.invalid_json(err="consumer group not specified"))
        if not _GROUP_NAME.match(group):
            return fail(E.consumer_invalid_group_name())
        st = self._lookup(stream)  # type: ignore[attr-defined]
        if st is None:
            return fail(E.stream_not_found())
        o = self.consumers.get(stream, {}).get(name)
        if o is None:
            return fail(E.consumer_not_found())
        if group not in (o.cfg["priority_groups"] or []):
            return fail(E.consumer_invalid_priority_group())
        self._c("consumer.priority.unpin")  # type: ignore[attr-defined]
        o.pin_id, o.pin_ttl = "", None
        self.unpinned_event(o, group, "admin")  # type: ignore[attr-defined]  # held or not
        self._signal(st, o)  # type: ignore[attr-defined]
        return {"type": UNPIN_T}

    def consumer_reset(self, stream: str, name: str, body: bytes) -> dict | None:
        """$JS.API.CONSUMER.RESET.<stream>.<name> (consumer.reset), served by the
        consumer itself (None: no answer - Go's API subscription takes a request
        for a consumer that does not exist and drops it)."""
        st = self._lookup(stream)  # type: ignore[attr-defined]
        o = self.consumers.get(stream, {}).get(name) if st is not None else None
        if o is None:
            return None
        self._c("consumer.reset")  # type: ignore[attr-defined]

        def fail(e: E.ApiError) -> dict:
            return {"type": RESET_T, "error": _err(e), "reset_seq": 0}

        seq = 0
        if body:
            from natsd.model.consumer import _go_json_error

            try:
                req = json.loads(body)
            except ValueError as e:
                return fail(E.invalid_json(err=_go_json_error(body, e)))
            seq = int(req.get("seq") or 0) if isinstance(req, dict) else 0
        dp = o.cfg["deliver_policy"]
        if seq == 0:
            seq = o.asflr + 1
        elif dp == "all":
            pass
        elif dp == "by_start_sequence":
            if seq < o.cfg["opt_start_seq"]:
                return fail(E.consumer_invalid_reset(err="below start seq"))
        elif dp == "by_start_time":
            if seq < self.seq_from_time(st, parse_time(o.cfg["opt_start_time"])):
                return fail(E.consumer_invalid_reset(err="below start time"))
        else:
            return fail(E.consumer_invalid_reset(err="not allowed"))
        seq = max(seq, 1)
        # resetLocalStartingSeq
        recalc = o.sseq != seq or len(o.pending) > 0
        if recalc and seq == o.asflr + 1 and o.ack in ("all", "flow_control"):
            o.npc += len(o.pending)
            recalc = False
        o.pending, o.rdc, o.rdq = {}, {}, []
        o.sseq, o.dseq = seq, 1
        o.adflr, o.asflr = 0, seq - 1
        o.delivered_at = o.acked_at = False
        o.deliveries = {}
        # consumerMemStore.Reset(seq - 1): an empty state, then SetStarting
        o.s_delivered, o.s_ack = [0, seq - 1], [0, seq - 1]
        o.s_pending, o.s_red = {}, {}
        if st.config["retention"] != "limits":
            self._check_interest_state(st, o)
        if recalc:
            self._calc_pending(st, o)  # type: ignore[attr-defined]
        if o.is_pull:
            self._signal(st, o)  # type: ignore[attr-defined]
        info = self._info(o, RESET_T)  # type: ignore[attr-defined]
        info["reset_seq"] = seq
        if not o.is_pull:
            self._push(st, o)  # type: ignore[attr-defined]  # the reply shows the state before the loop runs
        return info

    def _check_interest_state(self, st: Any, o: Any) -> None:
        """Go ``checkStateForInterestStream`` with nothing pending: the messages of
        this consumer at or below its ack floor are acked to the stream, from the
        check floor on."""
        asflr = o.asflr
        if asflr > st.last_seq:
            return
        retry = 0
        seq = max(st.first_seq, o.chkflr)
        while asflr > 0 and seq <= asflr:
            nxt = next((m.seq for m in st.msgs if m.seq >= seq and o.matches(m.subject)), None)
            if nxt is None:
                break
            seq = nxt
            if seq <= asflr:
                there = any(m.seq == seq for m in st.msgs)
                self._stream_ack(st, seq)  # type: ignore[attr-defined]
                removed = there and not any(m.seq == seq for m in st.msgs)
                if removed and retry == 0:
                    retry = seq
            seq += 1
        if retry == 0:
            nxt = next((m.seq for m in st.msgs if m.seq >= asflr + 1 and o.matches(m.subject)), None)
            retry = max(asflr + 1, nxt) if nxt is not None else st.last_seq + 1
        o.chkflr = max(o.chkflr, retry)
