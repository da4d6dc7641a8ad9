"""Reading and removing stored messages: STREAM.PURGE, STREAM.MSG.GET,
DIRECT.GET and STREAM.MSG.DELETE of the stream reference model.

Theory of operation
-------------------
:class:`StreamMessages` is a part of :class:`natsd.model.stream.StreamModel`
(a base class): the handlers here read a stream's messages or remove some of
them, always through the model's ``_remove`` (so a model built on the stream
model, the consumer model, hears of every removal). They mirror Go's memstore
and filestore ``PurgeEx``, ``purge``, ``compact``, ``removeMsg`` and the
jetstream_api.go handlers. Rules: stream.purge.semantics, stream.deny_purge,
stream.deny_delete, stream.sealed, stream.allow_direct.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from natsd.api import errors as E
from natsd.model.stream_state import (
    MSG_DELETE_T,
    MSG_GET_T,
    PURGE_T,
    TS,
    Msg,
    Stream,
    _b64,
    _err,
)
from natsd.model.streamcfg import subject_matches

__all__ = ["StreamMessages"]


class StreamMessages:
    """PURGE, MSG.GET, DIRECT.GET, MSG.DELETE (a base of StreamModel)."""

    if TYPE_CHECKING:
        streams: dict[str, Stream]

        def _cover(self, *rules: str) -> None: ...
        def _remove(self, st: Stream, seq: int) -> bool: ...
        def _lookup(self, name: str) -> Stream | None: ...

    # -- purge -----------------------------------------------------------------

    def _purge_ex(self, st: Stream, subject: str, seq: int, keep: int) -> int:
        """Go memstore ``PurgeEx(subject, seq, keep)``; the number removed.

        No subject (or '>') without seq and keep: everything (first_seq =
        last_seq + 1, also on a new stream). No subject with seq: everything
        below seq; seq past the end empties the stream and moves last_seq to
        seq - 1. Otherwise the messages matching the subject (below seq when
        given), all but the newest ``keep``. seq 1 removes nothing.
        """
        if seq == 1:
            return 0
        if subject in ("", ">"):
            if keep == 0 and seq == 0:
                n = len(st.msgs)
                st.msgs.clear()
                st.first_seq = st.last_seq + 1
                return n
            if seq > 1:
                return self._compact(st, seq)
            subject = ">"
        matching = [m for m in st.msgs if subject_matches(subject, m.subject)]
        if not matching:
            return 0
        if keep:
            if keep >= len(matching):
                return 0
            matching = matching[: len(matching) - keep]
        if seq:
            matching = [m for m in matching if m.seq < seq]
        for m in matching:
            self._remove(st, m.seq)
        return len(matching)

    def _compact(self, st: Stream, seq: int) -> int:
        """Go memstore ``compact(seq)``: remove every message below seq."""
        if st.first_seq > seq:
            return 0
        if seq <= st.last_seq:
            below = [m for m in st.msgs if m.seq < seq]
            st.msgs = [m for m in st.msgs if m.seq >= seq]
            st.first_seq = st.msgs[0].seq if st.msgs else st.last_seq + 1
            return len(below)
        n = len(st.msgs)
        st.msgs.clear()
        st.first_seq, st.last_seq = seq, seq - 1
        return n

    def purge(self, name: str, body: bytes) -> dict:
        """$JS.API.STREAM.PURGE.<name>. A body that is not a JSON object purges
        everything; seq with keep is a bad request (checked before the stream is
        looked up). stream.deny_purge; stream.purge.semantics."""
        req = json.loads(body) if body.strip().startswith(b"{") else None
        if req is not None and int(req.get("seq") or 0) > 0 and int(req.get("keep") or 0) > 0:
            return {"type": PURGE_T, "error": _err(E.bad_request()), "purged": 0}
        st = self._lookup(name)
        if st is None:
            return {"type": PURGE_T, "error": _err(E.stream_not_found()), "purged": 0}
        if st.config["sealed"]:
            self._cover("stream.sealed")
            return {"type": PURGE_T, "error": _err(E.stream_sealed()), "purged": 0}
        if st.config["deny_purge"]:
            self._cover("stream.deny_purge")
            return {"type": PURGE_T, "error": _err(E.stream_purge_failed(err="stream purge not permitted")),
                    "purged": 0}
        self._cover("stream.purge.semantics")
        req = req or {}
        n = self._purge_ex(st, req.get("filter") or "", int(req.get("seq") or 0), int(req.get("keep") or 0))
        return {"type": PURGE_T, "success": True, "purged": n}

    # -- STREAM.MSG.GET / DELETE -------------------------------------------------

    def get_msg(self, name: str, body: bytes) -> dict:
        """$JS.API.STREAM.MSG.GET.<name>: by seq, last_by_subj (wildcards allowed)
        or next_by_subj (from seq). An empty request or conflicting fields are a
        bad request, checked before the stream is looked up."""
        req = json.loads(body) if body.strip() else {}
        seq, last_for, next_for = int(req.get("seq") or 0), req.get("last_by_subj") or "", req.get("next_by_subj") or ""
        if not req or (seq and last_for) or (not seq and not last_for and not next_for) or (last_for and next_for):
            return {"type": MSG_GET_T, "error": _err(E.bad_request())}
        st = self._lookup(name)
        if st is None:
            return {"type": MSG_GET_T, "error": _err(E.stream_not_found())}
        found: Msg | None = None
        if seq and not next_for:
            found = next((m for m in st.msgs if m.seq == seq), None)
        elif next_for:
            found = next((m for m in st.msgs if m.seq >= seq and subject_matches(next_for, m.subject)), None)
        else:
            found = st.last_matching(last_for)
        if found is None:
            return {"type": MSG_GET_T, "error": _err(E.no_message_found())}
        message: dict = {"subject": found.subject, "seq": found.seq}
        if found.hdr:
            message["hdrs"] = _b64(found.hdr)
        if found.data:
            message["data"] = _b64(found.data)
        message["time"] = TS
        return {"type": MSG_GET_T, "message": message}

    def direct_get(self, name: str, last_subject: str | None, body: bytes) -> tuple[bytes, bytes] | None:
        """$JS.API.DIRECT.GET.<name> (``last_subject`` None) or
        $JS.API.DIRECT.GET.<name>.<last_subject>: the reply's header block and
        payload, or None when nothing answers (no such stream, or allow_direct
        off: the client gets no-responders). stream.allow_direct.

        Single requests only (no batch, no multi_last). The reply carries the
        stored headers plus Nats-Stream, Nats-Subject, Nats-Sequence and
        Nats-Time-Stamp (masked); errors are status headers (408, 404).
        """
        st = self._lookup(name)
        if st is None or not st.config["allow_direct"]:
            return None
        self._cover("stream.allow_direct")

        def status(text: str) -> tuple[bytes, bytes]:
            return f"NATS/1.0 {text}\r\n\r\n".encode(), b""

        req = json.loads(body) if body.strip() else {}
        seq, last_for, next_for = int(req.get("seq") or 0), req.get("last_by_subj") or "", req.get("next_by_subj") or ""
        if last_subject is None:
            if not body:
                return status("408 Empty Request")
            if not seq and not last_for and not next_for:
                return status("408 Empty Request")
            if (seq and last_for) or (last_for and next_for):
                return status("408 Bad Request")
        else:
            if seq or last_for or next_for:
                return status("408 Bad Request")
            last_for = last_subject
        if seq and not next_for:
            found = next((m for m in st.msgs if m.seq == seq), None)
        elif next_for:
            found = next((m for m in st.msgs if m.seq >= seq and subject_matches(next_for, m.subject)), None)
        else:
            found = st.last_matching(last_for)
        if found is None:
            return status("404 Message Not Found")
        head = found.hdr[:-2] if found.hdr else b"NATS/1.0\r\n"
        added = f"Nats-Stream: {name}\r\nNats-Subject: {found.subject}\r\nNats-Sequence: {found.seq}\r\n"
        return head + added.encode() + f"Nats-Time-Stamp: {TS}\r\n\r\n".encode(), found.data

    def delete_msg(self, name: str, body: bytes) -> dict:
        """$JS.API.STREAM.MSG.DELETE.<name>. An empty request is a bad request;
        stream.deny_delete; a sequence not stored is 10043. no_erase changes
        nothing visible (the memory store overwrites the erased data)."""
        req = json.loads(body) if body.strip() else {}
        if not req:
            return {"type": MSG_DELETE_T, "error": _err(E.bad_request())}
        st = self._lookup(name)
        if st is None:
            return {"type": MSG_DELETE_T, "error": _err(E.stream_not_found())}
        if st.config["sealed"]:
            self._cover("stream.sealed")
            return {"type": MSG_DELETE_T, "error": _err(E.stream_sealed())}
        if st.config["deny_delete"]:
            self._cover("stream.deny_delete")
            return {"type": MSG_DELETE_T, "error": _err(E.stream_msg_delete_failed(err="message delete not permitted"))}
        seq = int(req.get("seq") or 0)
        if st.config["storage"] == "file" and not st.first_seq <= seq <= st.last_seq:
            # the file store refuses a sequence outside [first, last] (Go fileStore.removeMsg)
            self._cover("stream.bytes.file")
            text = "stream store EOF" if seq > st.last_seq else "no message found"
            return {"type": MSG_DELETE_T, "error": _err(E.stream_msg_delete_failed(err=text))}
        if not self._remove(st, seq):
            return {"type": MSG_DELETE_T, "error": _err(E.sequence_not_found(seq=seq))}
        return {"type": MSG_DELETE_T, "success": True}

