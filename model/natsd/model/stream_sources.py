"""Reference model of mirrors and sources within one server.

Go: server/stream.go ``setupMirrorConsumer``, ``processInboundMirrorMsg``,
``trySetupSourceConsumer``, ``processInboundSourceMsg``, ``genSourceHeader``,
``mirrorInfo``/``sourceInfo``.

Theory of operation
-------------------
A stream with a ``mirror`` or ``sources`` config holds one :class:`Origin` per
origin it copies from (``Stream.origins``, keyed by Go's index name "<stream>
<filter or transform sources> <transform dests>"): whether its consumer is set
up yet and the last origin sequence it consumed (``sseq``). Go copies
asynchronously through internal consumers, set up 100-200ms after the stream
is created; the model copies in :func:`settle`, which the oracle calls once
the servers have settled (after every operation), so between operations a
replica is either never set up (just created: its info shows ``active`` -1)
or fully caught up.

Copying, per origin, every origin message after ``sseq`` that its filter (or
one of its transforms' sources) matches, in sequence order:

* a mirror stores it at the origin's sequence and time (gaps become deleted
  sequences; an empty mirror starts at the origin's first sequence), subject
  and payload as in the origin, headers minus Nats-Expected-* and
  Nats-Batch-*, with no dedupe on Nats-Msg-Id (stream.mirror.replicates,
  stream.dedupe.mirror);
* a source appends it at the next local sequence with the transformed subject
  and the header ``Nats-Stream-Source: <origin> <origin seq> <filter> <dest>
  <origin subject> <origin identity>`` (stream.sources.stores). The identity
  is a hash of the origin's creation time, the model writes :data:`IDENTITY`
  (same length) and the oracle masks it.

Both go through the replica's own store limits, and a rollup header acts only
where the replica allows rollups. Info (stream.mirror.info,
stream.sources.info): name, lag 0 (caught up), active (-1 before set up, else
masked), the last origin sequence consumed for a source (``seq``, omitted when
0, and never counting the sequences it started after), filter_subject (for a mirror only once set up) and subject_transforms.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from natsd.model.stream_state import Msg
from natsd.model.streamcfg import subject_matches, transform

if TYPE_CHECKING:
    from natsd.model.stream import StreamModel
    from natsd.model.stream_state import Stream

__all__ = ["ACTIVE", "IDENTITY", "Origin", "configure", "has_origins", "info", "settle"]

#: Mask tokens: a source's ``active`` once heard from, the origin identity.
ACTIVE = "<active>"
IDENTITY = "IDENTITY"


@dataclass
class Origin:
    src: dict  # the mirror or one sources entry, as configured
    mirror: bool
    ready: bool = False
    sseq: int = 0  # the consumer's position: the last origin sequence it passed
    delivered: int = 0  # the last origin sequence copied (a source's info "seq")

    def filters(self) -> list[tuple[str, str | None]]:
        """(source pattern, transform destination or None) pairs."""
        trs = self.src.get("subject_transforms") or []
        if trs:
            return [(t.get("src") or ">", t.get("dest") or ">") for t in trs]
        return [(self.src.get("filter_subject") or ">", None)]

    def match(self, subject: str) -> str | None:
        """The subject to store under, or None when the origin message is filtered out."""
        for src, dest in self.filters():
            if subject_matches(src, subject):
                return transform(src, dest, subject) if dest and dest != ">" else subject
        return None

    def header_parts(self) -> tuple[str, str]:
        trs = self.src.get("subject_transforms") or []
        if trs:
            return "\f".join(t.get("src") or ">" for t in trs), "\f".join(t.get("dest") or ">" for t in trs)
        return self.src.get("filter_subject") or ">", ">"


def _key(src: dict) -> str:
    source, dest = Origin(src, False).header_parts()
    return f"{src['name']} {source} {dest}"


def has_origins(config: dict) -> bool:
    return bool(config.get("mirror") or config.get("sources"))


def configure(st: Stream) -> None:
    """After create/update: keep the origins still configured, add new ones,
    drop removed ones (an update removing the mirror promotes the stream)."""
    old = st.origins
    st.origins = {}
    if st.config.get("mirror"):
        o = old.get("mirror")
        st.origins["mirror"] = o if o is not None and o.src == st.config["mirror"] else Origin(
            st.config["mirror"], True)
    for src in st.config.get("sources") or []:
        k = _key(src)
        st.origins[k] = old.get(k) or Origin(src, False)


def info(st: Stream, cover: Callable[..., None]) -> dict:
    """The "mirror" / "sources" keys of a StreamInfo for ``st`` (empty when none)."""
    out: dict = {}
    for o in st.origins.values():
        cover("stream.mirror.info" if o.mirror else "stream.sources.info")
        entry: dict = {"name": o.src["name"], "lag": 0}
        if not o.mirror and o.delivered:
            entry["seq"] = o.delivered
        entry["active"] = ACTIVE if o.ready else -1
        if o.src.get("filter_subject") and (o.ready or not o.mirror):
            entry["filter_subject"] = o.src["filter_subject"]
        if o.src.get("subject_transforms"):
            entry["subject_transforms"] = o.src["subject_transforms"]
        if o.mirror:
            out["mirror"] = entry
        else:
            out.setdefault("sources", []).append(entry)
    return out


def _strip(hdr: bytes, prefixes: tuple[bytes, ...]) -> bytes:
    """Drop the header lines whose key starts with one of ``prefixes``."""
    if not hdr:
        return hdr
    lines = hdr.split(b"\r\n")
    kept = [ln for i, ln in enumerate(lines) if i == 0 or not ln.startswith(prefixes)]
    out = b"\r\n".join(kept)
    return b"" if len(out) <= len(b"NATS/1.0\r\n\r\n") else out


def _with(hdr: bytes, line: str) -> bytes:
    return (hdr[:-2] if hdr else b"NATS/1.0\r\n") + line.encode() + b"\r\n\r\n"


def _get(hdr: bytes, key: str) -> str | None:
    for line in hdr.split(b"\r\n")[1:]:
        if line.startswith(key.encode() + b":"):
            return line.split(b":", 1)[1].strip().decode()
    return None


def _set(hdr: bytes, key: str, value: str) -> bytes:
    """Go setHeader: the value replaced in place, else the header appended."""
    lines = hdr.split(b"\r\n")
    for i, line in enumerate(lines[1:], 1):
        if line.startswith(key.encode() + b":"):
            lines[i] = f"{key}: {value}".encode()
            return b"\r\n".join(lines)
    return _with(hdr, f"{key}: {value}")


def _counter(st: Stream, subject: str, hdr: bytes, data: bytes, origin: str, origin_subject: str) -> tuple[bytes, bytes]:
    """stream.counter.sources: a counter stream sourcing a counter adds what the
    origin's subject total moved since last seen (Nats-Incr rewritten to that
    difference) and records the origin totals in Nats-Counter-Sources (JSON
    {stream: {subject: total}}, kept per subject on its last message)."""
    last = st.last_matching(subject)
    initial, sources = 0, {}
    if last is not None:
        initial = int(json.loads(last.data)["val"])
        sources = json.loads(_get(last.hdr, "Nats-Counter-Sources") or "{}")
    total = int(json.loads(data)["val"])
    seen = sources.setdefault(origin, {})
    diff = total - int(seen.get(origin_subject, "0"))
    seen[origin_subject] = str(total)
    hdr = _set(hdr, "Nats-Incr", str(diff))
    ordered = {k: dict(sorted(v.items())) for k, v in sorted(sources.items())}
    hdr = _set(hdr, "Nats-Counter-Sources", json.dumps(ordered, separators=(",", ":")))
    return hdr, json.dumps({"val": str(initial + diff)}, separators=(",", ":")).encode()


def settle(model: StreamModel) -> None:
    """Set up every origin whose stream exists and copy everything new, until
    nothing moves (a replica can itself be an origin)."""
    moved = True
    while moved:
        moved = False
        for st in list(model.streams.values()):
            for o in st.origins.values():
                origin = model.streams.get(o.src["name"])
                if origin is None or origin is st:
                    continue
                if not o.ready:
                    o.ready = True
                    _start(st, o, origin)
                moved |= _copy(model, st, o, origin)


def _start(st: Stream, o: Origin, origin: Stream) -> None:
    """Where a new consumer starts: an empty mirror at the origin's first
    sequence (its own sequences move there), else after what is stored; a
    source from the origin's first sequence."""
    start = max(origin.first_seq, 1)
    if o.mirror and (st.msgs or st.first_seq):
        o.sseq = st.last_seq
    elif o.mirror:
        if start > 1:
            st.first_seq, st.last_seq = start, start - 1
        o.sseq = start - 1
    else:
        o.sseq = start - 1


def _copy(model: StreamModel, st: Stream, o: Origin, origin: Stream) -> bool:
    moved = False
    for m in [m for m in origin.msgs if m.seq > o.sseq]:
        subject = o.match(m.subject)
        if subject is None:
            continue
        hdr = _strip(m.hdr, (b"Nats-Expected-", b"Nats-Batch-"))
        rollup = ""
        if st.config["allow_rollup_hdrs"] and not st.config["deny_purge"]:
            for line in hdr.split(b"\r\n")[1:]:
                if line.lower().startswith(b"nats-rollup:"):
                    rollup = line.split(b":", 1)[1].strip().decode().lower()
        if o.mirror:
            model._cover("stream.mirror.replicates")
            if b"\r\nNats-Msg-Id:" in m.hdr:
                model._cover("stream.dedupe.mirror")
            if m.seq <= st.last_seq:
                o.sseq = m.seq
                continue
            msg = Msg(m.seq, subject, hdr, m.data, m.ts, m.ttl)
        else:
            model._cover("stream.sources.stores")
            source, dest = o.header_parts()
            hdr = _strip(hdr, (b"Nats-Stream-Source:",))
            hdr = _with(hdr, f"Nats-Stream-Source: {o.src['name']} {m.seq} {source} {dest} {m.subject} {IDENTITY}")
            data = m.data
            if st.config.get("allow_msg_counter"):
                model._cover("stream.counter.sources")
                hdr, data = _counter(st, subject, hdr, data, o.src["name"], m.subject)
            msg = Msg(st.last_seq + 1, subject, hdr, data, model.now, m.ttl)
        msg_id = ""
        for line in hdr.split(b"\r\n")[1:]:
            if line.startswith(b"Nats-Msg-Id:"):
                msg_id = line.split(b":", 1)[1].strip().decode()
                break
        model._accept(st, msg, msg_id, rollup)
        o.sseq = o.delivered = m.seq
        moved = True
    return moved
