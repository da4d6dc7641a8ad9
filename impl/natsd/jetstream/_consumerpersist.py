"""Consumers of file streams on disk: their definitions and their state.

Plays the part of nats-server's ``consumerFileStore`` (server/filestore.go:
``ConsumerStore``, ``writeConsumerMeta``, ``encodeConsumerState``,
``flushLoop``, ``Delete``) and of the consumer half of
server/jetstream.go ``processStreamRecovery`` (``doConsumers``), with natsd's
own file format. Layout, as Go's directory names::

    <stream dir>/obs/<consumer>/consumer.json   {"config": ..., "created": ns, "sum": crc32}
    <stream dir>/obs/<consumer>/state.0, state.1  header (magic, length, generation, crc32) + state JSON

The state is Go's consumer-store state (``ConsumerState``): the delivered
pair, the ack floor pair, the pending map (stream seq -> consumer seq and
delivery time in ns; Go keeps seconds) and the redelivery counts. It is taken
from the consumer's store view (``natsd.jetstream._consumerstore.StoreState``),
which is what Go writes, with the delivery times from the live pending map.

The definition is written atomically (temporary file, fsync, rename, fsync
of the directory). The state, written far more often, alternates between two
files created with the consumer and rewritten in place (one fsync, no rename
and no directory fsync: several times cheaper per write): each write carries
the next generation number. ``ConsumerFiles.sync`` writes the state of every
consumer whose state changed since its last write; the service calls it once
per event-loop turn before the turn's outputs leave, so a process crash
(kill -9) loses no ack that was answered. The fsync of consumer state is
batched: ``sync(durable=True)`` (every JetStream tick, 100 ms, and at
shutdown) fsyncs what was written since. Between two fsyncs every write of a
consumer goes to the same file, the one *not* holding its last fsynced
state, so a power loss at any moment leaves that fsynced state intact in the
other file; recovery takes the valid state with the highest generation. A
power loss can so cost the acks of the last tick: those messages are
redelivered (at-least-once), never lost; stream messages themselves are
fsynced before their PubAcks (group commit). Nothing is fsynced when the
server syncs on an interval (Go's default). Whether a state changed is judged by a cheap
fingerprint: every delivery raises the delivered consumer sequence, every
taken ack shrinks the pending map, the ack floor or the redelivery map, so
no change goes unseen.

Recovery (``load_consumers``) reads every consumer directory; a definition
that is missing, unreadable or fails its checksum is reported and skipped
(its directory is left alone); a damaged state file is reported, and when
neither file holds a valid state the consumer starts from its configuration,
as a new one would.

Consumers with mem_storage (nats-py's ordered consumers, KV watchers and
object readers) and direct consumers are not written, as in Go (their
consumer store is a memory one). Other ephemeral consumers are written too, as Go does: after a restart they come
back and their inactive_threshold deletes them unless a client shows up.
Their files are not fsynced (KV watchers and ordered consumers would pay an
fsync per delivery turn for state nobody needs after a power loss).
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import zlib

import msgspec

from natsd.api import ConsumerConfig
from natsd.jetstream.consumercfg import is_durable
from natsd.jetstream.persist import encode_definition, fsync_dir, read_definition, write_atomic

__all__ = ["ConsumerFiles", "PersistedState", "RecoveredConsumer", "load_consumers", "state_of"]

_log = logging.getLogger("natsd")
OBS = "obs"  # Go's consumerDir
DEF = "consumer.json"
STATES = ("state.0", "state.1")
_HDR = struct.Struct("<4sIQI")  # magic, body length, generation, crc32 of generation and body
_MAGIC = b"NCS1"


class PersistedState(msgspec.Struct, frozen=True, array_like=True):
    """Go ConsumerState: delivered and ack floor pairs, pending, redelivered."""

    delivered_consumer: int
    delivered_stream: int
    ack_floor_consumer: int
    ack_floor_stream: int
    pending: list[tuple[int, int, int]]  # (stream seq, consumer seq, delivered at ns)
    redelivered: list[tuple[int, int]]  # (stream seq, redeliveries)


class RecoveredConsumer(msgspec.Struct, frozen=True):
    name: str
    config: ConsumerConfig
    created: int
    state: PersistedState | None
    generation: int = 0  # of ``state``; 0 when there is none
    slot: int = 0  # the file holding it


def state_of(c, now: int) -> PersistedState:
    """The consumer-store state Go would write for consumer ``c``."""
    st = c.cstore
    live = c.pending
    pending = []
    for sseq, dseq in st.pending.items():
        p = live.get(sseq)
        pending.append((sseq, dseq, p[1] if p is not None else now))
    pending.sort()
    return PersistedState(st.dc, st.ds, st.ac, st.as_, pending, sorted(st.rd.items()))


def _fingerprint(c) -> tuple:
    st = c.cstore
    return (id(st), st.dc, st.ds, st.ac, st.as_, len(st.pending), len(st.rd))


class ConsumerFiles:
    """The on-disk side of one file stream's consumers (``<stream dir>/obs``).

    ``fsync`` false (Go's interval sync) leaves flushing to the OS; the
    rename still makes every write all-or-nothing for a process crash.
    """

    def __init__(self, stream_dir: str, *, fsync: bool = True) -> None:
        self.root = os.path.join(stream_dir, OBS)
        self.fsync = fsync
        self._written: dict[str, tuple] = {}  # consumer name -> fingerprint of the last write
        self._gen: dict[str, tuple[int, int]] = {}  # consumer name -> (generation, slot) of the newest state
        self._unsynced: set[str] = set()  # written since their last fsync (all to one slot)

    def _dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    @staticmethod
    def kept(c) -> bool:
        """Go ConsumerStore: mem_storage (ordered consumers) and direct consumers get a memory store."""
        return not (c.cfg.mem_storage or c.cfg.direct)

    def _fsync(self, c) -> bool:
        # Ephemerals are written (Go recovers them) but not fsynced: a power
        # loss may lose one, which its inactive_threshold would delete anyway.
        return self.fsync and is_durable(c.cfg)

    def write_definition(self, c) -> None:
        """Write the consumer's config and creation time (creates its directory)."""
        if not self.kept(c):
            return
        d = self._dir(c.name)
        new = not os.path.isdir(d)
        if new and not os.path.isdir(self.root):
            os.makedirs(self.root, exist_ok=True)
            if self._fsync(c):
                fsync_dir(os.path.dirname(self.root))
        os.makedirs(d, exist_ok=True)
        doc = encode_definition(c.cfg, c.created)
        fsync = self._fsync(c)
        write_atomic(d, DEF, doc, fsync=fsync)
        if new and fsync:
            fsync_dir(self.root)

    def created(self, c, now: int) -> None:
        """A new consumer: its definition, its two state files, then its starting state (Go SetStarting)."""
        if not self.kept(c):
            return
        self.write_definition(c)
        d = self._dir(c.name)
        for name in STATES:
            open(os.path.join(d, name), "wb").close()
        if self._fsync(c):
            fsync_dir(d)
        self._gen[c.name] = (0, 1)
        self.write_state(c, now, durable=True)

    def write_state(self, c, now: int, *, durable: bool = False) -> None:
        """Write ``c``'s state: over the older of its two state files, or, when it
        was written since its last fsync, over that unsynced write again (the
        other file keeps the fsynced state). ``durable`` fsyncs it at once."""
        gen, slot = self._gen.get(c.name, (0, 1))
        if c.name not in self._unsynced:
            slot = 1 - slot
        gen += 1
        raw = msgspec.json.encode(state_of(c, now))
        path = os.path.join(self._dir(c.name), STATES[slot])
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, _HDR.pack(_MAGIC, len(raw), gen, _state_sum(gen, raw)) + raw, 0)
            os.ftruncate(fd, _HDR.size + len(raw))
            if self._fsync(c):
                if durable:
                    os.fsync(fd)
                    self._unsynced.discard(c.name)
                else:
                    self._unsynced.add(c.name)
        finally:
            os.close(fd)
        self._gen[c.name] = (gen, slot)
        self._written[c.name] = _fingerprint(c)

    def _fsync_unsynced(self) -> None:
        for name in sorted(self._unsynced):
            _, slot = self._gen[name]
            try:
                fd = os.open(os.path.join(self._dir(name), STATES[slot]), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                _log.error("JetStream consumer %r: syncing its state failed: %s", name, e)
        self._unsynced.clear()

    def sync(self, consumers, now: int, *, durable: bool = False) -> None:
        """Write the state of every consumer that changed since its last write;
        with ``durable``, then fsync every state written since the last fsync."""
        for c in consumers:
            if c.closed or self._written.get(c.name) == _fingerprint(c) or not self.kept(c):
                continue
            try:
                self.write_state(c, now)
            except OSError as e:
                _log.error("JetStream consumer %r: writing its state failed: %s", c.name, e)
        if durable and self._unsynced:
            self._fsync_unsynced()

    def removed(self, name: str) -> None:
        """Forget a deleted consumer: the definition first, so a crash in between
        cannot bring it back, then the rest of its directory."""
        self._written.pop(name, None)
        self._gen.pop(name, None)
        self._unsynced.discard(name)
        d = self._dir(name)
        try:
            os.remove(os.path.join(d, DEF))
            if self.fsync:
                fsync_dir(d)
        except FileNotFoundError:
            pass
        except OSError as e:
            _log.error("JetStream consumer %r: removing its definition failed: %s", name, e)
        shutil.rmtree(d, ignore_errors=True)

    def recovered(self, c, rec: RecoveredConsumer) -> None:
        """``c`` was brought back from disk in the state ``rec`` read."""
        self._gen[c.name] = (rec.generation, rec.slot) if rec.state is not None else (0, 1)
        self._written[c.name] = _fingerprint(c)


def _state_sum(gen: int, raw: bytes) -> int:
    return zlib.crc32(raw, zlib.crc32(gen.to_bytes(8, "little")))


def _read_state(path: str) -> tuple[int, PersistedState] | None:
    """(generation, state) of one state file; None when empty; raises ValueError when damaged."""
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return None
    if len(data) < _HDR.size:
        raise ValueError("short header")
    magic, n, gen, crc = _HDR.unpack_from(data)
    raw = data[_HDR.size : _HDR.size + n]
    if magic != _MAGIC or len(raw) != n or _state_sum(gen, raw) != crc:
        raise ValueError("checksum mismatch")
    return gen, msgspec.json.decode(raw, type=PersistedState)


def load_consumers(stream_dir: str) -> list[RecoveredConsumer]:
    """Every consumer of the stream in ``stream_dir`` whose definition reads back intact."""
    root = os.path.join(stream_dir, OBS)
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        d = os.path.join(root, name)
        if not os.path.isdir(d):
            continue
        try:
            config, created = read_definition(os.path.join(d, DEF), ConsumerConfig)
        except FileNotFoundError:
            _log.warning("JetStream consumer directory %s has no %s: skipped (left untouched)", d, DEF)
            continue
        except (OSError, ValueError, msgspec.DecodeError) as e:
            _log.error("JetStream consumer %r: definition in %s unreadable (%s): skipped (left untouched)",
                       name, d, e)
            continue
        best: tuple[int, int, PersistedState] | None = None  # generation, slot, state
        for slot, fname in enumerate(STATES):
            try:
                got = _read_state(os.path.join(d, fname))
            except FileNotFoundError:
                continue
            except (OSError, ValueError, msgspec.DecodeError) as e:
                _log.warning("JetStream consumer %r: %s unreadable (%s)", name, fname, e)
                continue
            if got is not None and (best is None or got[0] > best[0]):
                best = (got[0], slot, got[1])
        if best is None:
            _log.error("JetStream consumer %r: no readable state in %s: it starts from its configuration", name, d)
            out.append(RecoveredConsumer(name, config, created, None))
        else:
            out.append(RecoveredConsumer(name, config, created, best[2], best[0], best[1]))
    return out
