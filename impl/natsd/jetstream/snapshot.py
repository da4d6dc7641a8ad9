"""Stream snapshots and restores: $JS.API.STREAM.SNAPSHOT.<s> and STREAM.RESTORE.<s>.

Mirrors nats-server server/jetstream_api.go (``jsStreamSnapshotRequest``,
``streamSnapshot``, ``jsStreamRestoreRequest``, ``processStreamRestore``) and
server/stream_backup.go (``streamSnapshotV2``, ``RestoreStreamV2``) for a
standalone server and the global account. Spec rules: api.snapshot,
api.restore, api.snapshot.format (differs).

Theory of operation
-------------------
The wire protocol is Go's. SNAPSHOT answers ``{config, state}`` and then
streams the snapshot to ``deliver_subject`` in chunks of ``chunk_size``; each
full chunk carries the reply ``$JS.SNAPSHOT.ACK.<s>.<id>.<len>.<index>`` and
takes one of ``window_size // chunk_size`` slots, which the client's ack on
that reply gives back. A short last chunk carries no reply. The end is an
empty message with ``NATS/1.0 204`` headers (no headers at all when no full
chunk was sent, as Go), or ``408 No Interest`` when the receiver went away,
``408 No Flow Response`` when no ack came for 5 s while the window was full,
``500 <error>`` when the stream could not be read.

RESTORE checks the request, answers ``deliver_subject``
``$JS.SNAPSHOT.RESTORE.<s>.<id>`` and subscribes it. Each chunk (with a reply,
else the restore is dropped) is decoded at once into a *staging* store and
acked with an empty message; an empty chunk is the end, answered with a
``stream_create_response`` (the stream's info, or 10062 ``restore failed:
...``). A chunk that fails to decode is answered with that error at once and
ends the restore; 5 s without a chunk ends it silently (Go's stall check).
The staging store is a MemStore, or for a durable file stream a FileStore in
``<store_dir>/jetstream/$G/restore.tmp/<s>.<id>``, which is renamed into the
streams directory only after the whole snapshot decoded and checked out: a
bad or cut restore leaves nothing behind.

Format (natsd's own; Go 2.15 writes its "archive" records in s2): one LZ4
frame with a content checksum holding ``NATSDSN1`` and then records
``kind(1) len(u32) body crc32(kind+body)(u32)``: ``S`` state (JSON first/last
seq, messages, bytes), ``M`` message (seq u64, ts i64, subject length u16,
header length u32 or 0xFFFFFFFF for none, subject, header, payload), ``E`` end
(message count u64). Like Go's v2 this is a logical copy: it restores into
either storage type, under any key. Consumers are not included yet (their
state files are not part of the format): the state's consumer count is 0.

Sessions are sans-IO: ``SnapshotSender`` and ``RestoreReader`` take ``now``
and return what to send; ``Snapshots`` wires them to the internal client and
is driven by the service's ``tick``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import zlib
from collections.abc import Iterator

import lz4.frame

from natsd.api import RestoreRequest, RestoreResponse, SnapshotRequest, SnapshotResponse, StreamCreateResponse
from natsd.api import errors as E
from natsd.api.gojson import decode_request, encode_reply
from natsd.jetstream import ApiErrorException, persist
from natsd.jetstream import headers as H
from natsd.jetstream.streamcfg import check_config, set_static_metadata, store_limits
from natsd.store.base import ErrStoreEOF
from natsd.store.memstore import MemStore
from natsd.subjects.validate import is_literal, is_valid_subject

__all__ = ["Snapshots", "SnapshotSender", "RestoreReader", "RestoreError", "snapshot_bytes", "MAGIC"]

_log = logging.getLogger("natsd")

MAGIC = b"NATSDSN1"
CHUNK_SIZE = 128 * 1024  # defaultSnapshotChunkSize
WINDOW_SIZE = 8 * 1024 * 1024  # defaultSnapshotWindowSize
ACK_TIMEOUT = 5_000_000_000  # snapshotAckTimeout
INTEREST_WAIT = 2_000_000_000  # streamSnapshot waits this long for the receiver's interest
STALL_TIMEOUT = 5_000_000_000  # processStreamRestore activityInterval
_REC = struct.Struct("<cI")
_MSG = struct.Struct("<QqHI")
_NO_HDR = 0xFFFFFFFF
_MAX_REC = 1 << 30
_LZ4_MAGIC = b"\x04\x22\x4d\x18"

HDR_DONE = b"NATS/1.0 204\r\n\r\n"
HDR_NO_INTEREST = b"NATS/1.0 408 No Interest\r\n\r\n"
HDR_NO_FLOW = b"NATS/1.0 408 No Flow Response\r\n\r\n"


def _chunk_size(requested: int) -> int:
    """Go streamSnapshot: 0 means 128 KiB; clamped to 1 KiB..1 MiB."""
    return min(max(1024, requested or CHUNK_SIZE), 1024 * 1024)


def _record(kind: bytes, body: bytes) -> bytes:
    return _REC.pack(kind, len(body)) + body + struct.pack("<I", zlib.crc32(body, zlib.crc32(kind)))


# -- writing -------------------------------------------------------------------------------------

def _raw_records(store, st) -> Iterator[bytes]:
    """The uncompressed snapshot of ``store`` as of state ``st`` (Go: streamSnapshotV2)."""
    first, last = st.first_seq, st.last_seq
    yield MAGIC + _record(b"S", json.dumps({"first_seq": first, "last_seq": last, "last_ts": st.last_ts,
                                            "messages": st.msgs, "bytes": st.bytes}).encode())
    count = 0
    seq = first
    while seq <= last:
        try:
            sm, seq = store.load_next_msg(">", True, seq)
        except ErrStoreEOF:
            break
        if seq > last:
            break
        subj = sm.subject.encode()
        hlen = _NO_HDR if sm.hdr is None else len(sm.hdr)
        yield _record(b"M", _MSG.pack(seq, sm.ts, len(subj), hlen) + subj + (sm.hdr or b"") + sm.data)
        count += 1
        seq += 1
    yield _record(b"E", struct.pack("<Q", count))


def snapshot_bytes(store, chunk_size: int) -> Iterator[bytes]:
    """The compressed snapshot of ``store`` cut into chunks of ``chunk_size`` (the last may be short)."""
    st = store.fast_state()
    comp = lz4.frame.LZ4FrameCompressor(content_checksum=True, block_checksum=True)
    buf = bytearray(comp.begin())
    for raw in _raw_records(store, st):
        buf += comp.compress(raw)
        while len(buf) >= chunk_size:
            yield bytes(buf[:chunk_size])
            del buf[:chunk_size]
    buf += comp.flush()
    while buf:
        yield bytes(buf[:chunk_size])
        del buf[:chunk_size]


class SnapshotSender:
    """One snapshot going out: chunks, the ack window, timers (Go: streamSnapshot).

    ``pump``/``on_ack``/``on_timer`` return ``(subject, reply, headers, payload)``
    tuples to publish; ``done`` turns True once the end message is among them.
    """

    def __init__(self, deliver: str, ack_prefix: str, chunks: Iterator[bytes], chunk_size: int,
                 window_size: int, now: int, has_interest: bool) -> None:
        chunk_size = _chunk_size(chunk_size)
        window_size = max(min(max(1024, window_size or WINDOW_SIZE), 32 * 1024 * 1024), chunk_size)
        self.deliver = deliver
        self.ack_prefix = ack_prefix
        self.chunks = chunks
        self.chunk_size = chunk_size
        self.max_inflight = window_size // chunk_size
        self.slots = self.max_inflight
        self.index = 1
        self.end_hdr: bytes | None = None
        self.done = False
        self.error = ""
        self.had_interest = has_interest
        self.interest_deadline = None if has_interest else now + INTEREST_WAIT
        self.ack_deadline = now + ACK_TIMEOUT

    def _finish(self, hdr: bytes | None, error: str = "") -> list:
        self.done = True
        self.error = error
        return [(self.deliver, None, hdr, b"")]

    def pump(self, now: int, has_interest: bool) -> list:
        """Send what the window allows."""
        out: list = []
        if self.done:
            return out
        if self.interest_deadline is not None:
            if not has_interest and now < self.interest_deadline:
                return out  # Go waits up to 2 s for the receiver to subscribe
            self.interest_deadline = None
            self.had_interest = has_interest
        elif self.had_interest and not has_interest:
            return out + self._finish(HDR_NO_INTEREST, "no interest")
        self.had_interest = self.had_interest or has_interest
        while self.slots > 0:
            self.slots -= 1
            try:
                chunk = next(self.chunks, b"")
            except Exception as e:  # the store could not be read: Go's 500 <err>
                return out + self._finish(f"NATS/1.0 500 {e}\r\n\r\n".encode(), str(e))
            if len(chunk) < self.chunk_size:
                if chunk:
                    out.append((self.deliver, None, None, chunk))
                return out + self._finish(self.end_hdr)
            out.append((self.deliver, f"{self.ack_prefix}.{len(chunk)}.{self.index}", None, chunk))
            self.end_hdr = HDR_DONE
            self.ack_deadline = now + ACK_TIMEOUT
            self.index += 1
        return out

    def on_ack(self, now: int, has_interest: bool) -> list:
        self.slots = min(self.slots + 1, self.max_inflight)
        return self.pump(now, has_interest)

    def on_timer(self, now: int, has_interest: bool) -> list:
        if not self.done and self.interest_deadline is None and now >= self.ack_deadline:
            return self._finish(HDR_NO_FLOW, "no flow response")
        return self.pump(now, has_interest)


# -- reading -------------------------------------------------------------------------------------

class RestoreError(Exception):
    """The snapshot cannot be restored; the text follows 'restore failed: '."""


class RestoreReader:
    """Decodes a snapshot as its chunks arrive into ``store`` (Go: RestoreStreamV2).

    ``feed`` raises RestoreError on anything malformed; ``finish`` checks that the
    whole snapshot arrived and pads the trailing gap.
    """

    def __init__(self, store, max_payload: int, max_msg_size: int) -> None:
        self.store = store
        self.max_payload = max_payload
        self.max_msg_size = max_msg_size
        self.dec = lz4.frame.LZ4FrameDecompressor()
        self.buf = bytearray()
        self.magic = False
        self.state: dict | None = None
        self.lseq = 0
        self.count = 0
        self.ended = False
        self.total = 0
        self.last = 0
        self.head: bytes | None = b""

    def feed(self, chunk: bytes, now: int) -> None:
        self.total += len(chunk)
        if self.ended:
            return  # Go acks and drops what follows the end of the backup
        if self.head is not None:  # the LZ4 frame magic tells a natsd snapshot from a Go (s2) one
            self.head += chunk
            if len(self.head) < len(_LZ4_MAGIC):
                return
            if not self.head.startswith(_LZ4_MAGIC):
                raise RestoreError("not a natsd snapshot")
            chunk, self.head = self.head, None
        try:
            if self.dec.eof:
                raise RestoreError("unexpected data after the end of the snapshot")
            self.buf += self.dec.decompress(chunk)
        except RuntimeError as e:  # lz4 reports bad frames, blocks and checksums this way
            raise RestoreError(f"snapshot is corrupt: {e}") from None
        self._parse(now)

    def _parse(self, now: int) -> None:
        buf = self.buf
        pos = 0
        if not self.magic:
            if len(buf) < len(MAGIC):
                return
            if bytes(buf[: len(MAGIC)]) != MAGIC:
                raise RestoreError("not a natsd snapshot")
            self.magic = True
            pos = len(MAGIC)
        while not self.ended and len(buf) - pos >= _REC.size:
            kind, size = _REC.unpack_from(buf, pos)
            if size > _MAX_REC:
                raise RestoreError("snapshot is corrupt: record too large")
            end = pos + _REC.size + size + 4
            if len(buf) < end:
                break
            body = bytes(buf[pos + _REC.size : end - 4])
            (crc,) = struct.unpack_from("<I", buf, end - 4)
            if crc != zlib.crc32(body, zlib.crc32(kind)):
                raise RestoreError("snapshot is corrupt: record checksum mismatch")
            self._apply(kind, body, now)
            pos = end
        del buf[:pos]

    def _apply(self, kind: bytes, body: bytes, now: int) -> None:
        if self.state is None:
            if kind != b"S":
                raise RestoreError("expected state.json first")
            try:
                st = json.loads(body)
                first = int(st["first_seq"])
                last = int(st["last_seq"])
            except (ValueError, KeyError, TypeError) as e:
                raise RestoreError(f"error in state.json: {e}") from None
            self.state = st
            if first > 1:
                self.store.compact(first)  # Go: start off at the right sequence
            self.lseq = max(first - 1, 0)
            self.last = last
            return
        if kind == b"E":
            (n,) = struct.unpack("<Q", body)
            if n != self.count:
                raise RestoreError(f"snapshot holds {self.count} messages, its end says {n}")
            self.ended = True
            return
        if kind != b"M":
            raise RestoreError("expected message sequence")
        seq, ts, slen, hlen = _MSG.unpack_from(body)
        off = _MSG.size
        hsize = 0 if hlen == _NO_HDR else hlen
        if off + slen + hsize > len(body):
            raise RestoreError(f"failed to parse message sequence {seq}: invalid header length")
        subj = body[off : off + slen].decode()
        hdr = None if hlen == _NO_HDR else body[off + slen : off + slen + hlen]
        data = body[off + slen + hsize :]
        if hsize + len(data) > self.max_payload:
            raise RestoreError(f"message sequence {seq} exceeds maximum payload size")
        if self.max_msg_size >= 0 and hsize + len(data) > self.max_msg_size:
            raise RestoreError(f"message sequence {seq} exceeds maximum message size")
        if seq <= self.lseq:
            raise RestoreError(f"message sequence {seq} out of order")
        if seq - self.lseq - 1 > 0:
            self.store.skip_msgs(self.lseq + 1, seq - self.lseq - 1, now=now)
        self.lseq = seq
        self.count += 1
        try:
            ttl = H.message_ttl(hdr)
        except H.TTLInvalid as e:
            raise RestoreError(f"failed to parse message TTL: {e}") from None
        if ttl > 0 and now > ts + ttl * 1_000_000_000:
            self.store.skip_msgs(seq, 1, now=now)  # expired: keep the sequence only
            return
        try:
            self.store.store_raw_msg(subj, hdr, data, seq, ts, ttl * 1_000_000_000 if ttl > 0 else ttl)
        except Exception as e:
            raise RestoreError(f"failed to store message sequence {seq}: {e}") from None

    def finish(self, now: int) -> None:
        if self.head:
            raise RestoreError("not a natsd snapshot")
        if not self.ended or not self.dec.eof or self.buf:
            raise RestoreError("backup was truncated")
        if self.lseq < self.last:
            # a deleted tail: keep its sequences, and the time of the last one (Go pads with SkipMsgs)
            if self.last - self.lseq > 1:
                self.store.skip_msgs(self.lseq + 1, self.last - self.lseq - 1, now=now)
            last_ts = int(self.state.get("last_ts") or now)
            self.store.skip_msg(self.last, now=last_ts, no_interest=True)


# -- the service side ----------------------------------------------------------------------------

class _Restore:
    __slots__ = ("name", "cfg", "subject", "sub", "reader", "store", "staging", "deadline")


class Snapshots:
    """Snapshot and restore sessions of a JetStreamService (``js``)."""

    def __init__(self, js) -> None:
        self.js = js
        self.senders: dict[str, tuple[SnapshotSender, object]] = {}
        self.restores: dict[str, _Restore] = {}
        self._pending: list[SnapshotSender] = []
        if js.store_dir:
            shutil.rmtree(self._staging_root(), ignore_errors=True)  # leftovers of a crash mid-restore

    def _staging_root(self) -> str:
        return os.path.join(os.path.dirname(persist.streams_root(self.js.store_dir)), "restore.tmp")

    def _id(self) -> str:
        return "".join(self.js._rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
                       for _ in range(22))

    def _send(self, outs: list) -> None:
        for subject, reply, hdr, data in outs:
            self.js.client.publish(subject.encode(), data, reply.encode() if reply else None, headers=hdr)

    # -- SNAPSHOT ---------------------------------------------------------------------------------
    def snapshot(self, name: str, body: bytes) -> SnapshotResponse:
        """Go jsStreamSnapshotRequest: the reply; the chunks follow it (``start_pending``)."""
        from natsd.jetstream.api import _is_empty_request

        if _is_empty_request(body):
            raise ApiErrorException(E.bad_request())
        entry = self.js._lookup(name)
        req = decode_request(body, SnapshotRequest)
        ds = req.deliver_subject
        if not (is_valid_subject(ds) and is_literal(ds)):
            raise ApiErrorException(E.snapshot_deliver_subject_invalid())
        stream = entry.stream
        state = stream.state()
        chunk = _chunk_size(req.chunk_size)
        now = self.js.clock()
        sender = SnapshotSender(ds, f"$JS.SNAPSHOT.ACK.{name}.{self._id()}", snapshot_bytes(stream.store, chunk),
                                req.chunk_size, req.window_size, now, self.js._has_interest(ds))
        self._pending.append(sender)
        return SnapshotResponse(config=stream.config, state=state)

    def start_pending(self) -> None:
        """Start the snapshots whose reply was just sent."""
        while self._pending:
            sender = self._pending.pop(0)
            sub = self.js.client.subscribe(sender.ack_prefix + ".>", self._ack_handler(sender))
            self.senders[sender.ack_prefix] = (sender, sub)
            self._send(sender.pump(self.js.clock(), self.js._has_interest(sender.deliver)))
            self._reap(sender)

    def _ack_handler(self, sender: SnapshotSender):
        def on_ack(sub, subject: bytes, reply: bytes | None, hdr: bytes | None, body: bytes) -> None:
            self._send(sender.on_ack(self.js.clock(), self.js._has_interest(sender.deliver)))
            self._reap(sender)
        return on_ack

    def _reap(self, sender: SnapshotSender) -> None:
        if sender.done:
            _, sub = self.senders.pop(sender.ack_prefix, (None, None))
            if sub is not None:
                self.js.client.unsubscribe(sub)
            if sender.error:
                _log.warning("Snapshot to %s failed: %s", sender.deliver, sender.error)

    # -- RESTORE ----------------------------------------------------------------------------------
    def restore(self, name: str, body: bytes) -> RestoreResponse:
        """Go jsStreamRestoreRequest: check the request, subscribe the chunk subject."""
        from natsd.jetstream.api import _is_empty_request

        js = self.js
        if _is_empty_request(body):
            raise ApiErrorException(E.bad_request())
        req = decode_request(body, RestoreRequest)
        cfg = req.config
        if not cfg.name:
            cfg = type(cfg)(**{**{f: getattr(cfg, f) for f in cfg.__struct_fields__}, "name": name})
        if cfg.name != name:
            raise ApiErrorException(E.stream_mismatch())
        if "/" in name or "\\" in name:
            raise ApiErrorException(E.stream_name_contains_path_separators())
        cfg = check_config(set_static_metadata(cfg), pedantic=False, create=True, lookup=js._config_of)
        if name in js.streams or any(r.name == name for r in self.restores.values()):
            raise ApiErrorException(E.stream_name_exist_restore_failed())
        r = _Restore()
        r.name, r.cfg = name, cfg
        r.subject = f"$JS.SNAPSHOT.RESTORE.{name}.{self._id()}"
        r.staging = None
        if js._durable(cfg):
            r.staging = os.path.join(self._staging_root(), r.subject.rsplit(".", 1)[1])
            os.makedirs(os.path.dirname(r.staging), exist_ok=True)
            r.store = persist.open_file_store(r.staging, cfg, js.storage)
        else:
            r.store = MemStore(store_limits(cfg))
        max_payload = getattr(js.broker, "max_payload", 1024 * 1024)
        r.reader = RestoreReader(r.store, max_payload, cfg.max_msg_size if cfg.max_msg_size > 0 else -1)
        r.deadline = js.clock() + STALL_TIMEOUT
        r.sub = js.client.subscribe(r.subject, self._chunk_handler(r))
        self.restores[r.subject] = r
        return RestoreResponse(deliver_subject=r.subject)

    def _chunk_handler(self, r: _Restore):
        def on_chunk(sub, subject: bytes, reply: bytes | None, hdr: bytes | None, body: bytes) -> None:
            js = self.js
            now = js.clock()
            if not reply:
                self._drop(r, f"restore for stream '$G > {r.name}' requires reply subject for each chunk")
                return
            r.deadline = now + STALL_TIMEOUT
            try:
                if body:
                    r.reader.feed(body, now)
                    js.client.publish(reply, b"")
                    return
                r.reader.finish(now)
                resp = self._complete(r, now)
            except RestoreError as e:
                resp = self._failed(r, str(e))
            except ApiErrorException as e:
                resp = self._failed(r, "", e.error)
            except Exception as e:  # we broke: report it as Go reports store errors
                _log.exception("Restore of stream %r failed", r.name)
                resp = self._failed(r, str(e))
            js.client.publish(reply, encode_reply(resp))
        return on_chunk

    def _failed(self, r: _Restore, text: str, err=None) -> dict:
        err = err or E.stream_restore(err=text)
        self._drop(r, err.description)
        # Go's JSApiStreamCreateResponse with no StreamInfo: the type and the error only
        return {"type": "io.nats.jetstream.api.v1.stream_create_response", "error": err}

    def _drop(self, r: _Restore, why: str) -> None:
        """End a restore and throw its staging store away."""
        self.restores.pop(r.subject, None)
        self.js.client.unsubscribe(r.sub)
        try:
            r.store.stop()
        except Exception:
            pass
        if r.staging:
            shutil.rmtree(r.staging, ignore_errors=True)
        _log.warning("Restore of stream '$G > %s' failed: %s", r.name, why)

    def _complete(self, r: _Restore, now: int) -> StreamCreateResponse:
        """Go RestoreStreamV2's end: the staged store becomes the stream."""
        js = self.js
        if r.name in js.streams:
            raise ApiErrorException(E.stream_name_exist_restore_failed())
        try:
            js._check_overlap(r.cfg)
        except ApiErrorException as e:
            raise RestoreError(f"error adding stream: {e.error.description}") from None
        final = persist.stream_dir(js.store_dir, r.name) if r.staging else ""
        if final and os.path.exists(final):
            raise RestoreError(f"error adding stream: directory {final} exists")
        self.restores.pop(r.subject, None)
        js.client.unsubscribe(r.sub)
        if r.staging:
            r.store.stop()
            persist.write_meta(r.staging, r.cfg, now)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.rename(r.staging, final)
            persist.fsync_dir(os.path.dirname(final))
            entry = js._open_stream(r.cfg, now, create=False)
        else:
            entry = js._open_stream(r.cfg, now, create=False, store=r.store)
        st = entry.stream.store.fast_state()
        _log.info("Completed restore of %d bytes for stream '$G > %s' (%d messages)", r.reader.total, r.name, st.msgs)
        return StreamCreateResponse(**js._info_fields(entry))

    # -- time and shutdown ------------------------------------------------------------------------
    def tick(self, now: int) -> None:
        for sender, _sub in list(self.senders.values()):
            self._send(sender.on_timer(now, self.js._has_interest(sender.deliver)))
            self._reap(sender)
        for r in list(self.restores.values()):
            if now >= r.deadline:
                self._drop(r, f"restore for stream '$G > {r.name}' is stalled")

    def stop(self) -> None:
        for r in list(self.restores.values()):
            self._drop(r, "server shutdown")
