"""Consumers of file streams on disk: their definitions and their state.

Plays the part of nats-server's ``consumerFileStore`` (server/filestore.go:
``ConsumerStore``, ``writeConsumerMeta``, ``encodeConsumerState``,
``flushLoop``, ``Delete``) and of the consumer half of
server/jetstream.go ``processStreamRecovery`` (``doConsumers``), with natsd's
own file format. Layout, as Go's directory names::

    <stream dir>/obs/<consumer>/consumer.json  {"config": ..., "created": ns, "sum": crc32}
    <stream dir>/obs/<consumer>/state.json     {"state": ..., "sum": crc32}

The state is Go's consumer-store state (``ConsumerState``): the delivered
pair, the ack floor pair, the pending map (stream seq -> consumer seq and
delivery time in ns; Go keeps seconds) and the redelivery counts. It is taken
from the consumer's store view (``natsd.jetstream._consumerstore.StoreState``),
which is what Go writes, with the delivery times from the live pending map.

Both files are written atomically (temporary file, rename; with fsync of the
file and the directory unless the server syncs on an interval), so a crash
leaves the old or the new version, never a torn one. ``ConsumerFiles.sync``
writes the state of every consumer whose state changed since its last write;
the service calls it once per event-loop turn before the turn's outputs leave
(group commit) and at shutdown. Whether a state changed is judged by a cheap
fingerprint: every delivery raises the delivered consumer sequence, every
taken ack shrinks the pending map, the ack floor or the redelivery map, so
no change goes unseen.

Recovery (``load_consumers``) reads every consumer directory; a definition
that is missing, unreadable or fails its checksum is reported and skipped
(its directory is left alone); a damaged state file is reported and the
consumer starts from its configuration, as a new one would.

Ephemeral consumers are written too, as Go does: after a restart they come
back and their inactive_threshold deletes them unless a client shows up.
Their files are not fsynced (KV watchers and ordered consumers would pay an
fsync per delivery turn for state nobody needs after a power loss).
"""

from __future__ import annotations

import logging
import os
import shutil
import zlib

import msgspec

from natsd.api import ConsumerConfig
from natsd.jetstream.consumercfg import is_durable

__all__ = ["ConsumerFiles", "PersistedState", "RecoveredConsumer", "load_consumers", "state_of"]

_log = logging.getLogger("natsd")
OBS = "obs"  # Go's consumerDir
DEF = "consumer.json"
STATE = "state.json"


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


class _Def(msgspec.Struct):
    config: msgspec.Raw
    created: int
    sum: int


class _State(msgspec.Struct):
    state: msgspec.Raw
    sum: int


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


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(directory: str, name: str, data: bytes, fsync: bool) -> None:
    tmp = os.path.join(directory, name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, os.path.join(directory, name))
    if fsync:
        _fsync_dir(directory)


class ConsumerFiles:
    """The on-disk side of one file stream's consumers (``<stream dir>/obs``).

    ``fsync`` false (Go's interval sync) leaves flushing to the OS; the
    rename still makes every write all-or-nothing for a process crash.
    """

    def __init__(self, stream_dir: str, *, fsync: bool = True) -> None:
        self.root = os.path.join(stream_dir, OBS)
        self.fsync = fsync
        self._written: dict[str, tuple] = {}  # consumer name -> fingerprint of the last write

    def _dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def _fsync(self, c) -> bool:
        # Ephemerals are written (Go recovers them) but not fsynced: a power
        # loss may lose one, which its inactive_threshold would delete anyway.
        return self.fsync and is_durable(c.cfg)

    def write_definition(self, c) -> None:
        """Write the consumer's config and creation time (creates its directory)."""
        d = self._dir(c.name)
        new = not os.path.isdir(d)
        os.makedirs(d, exist_ok=True)
        cfg = msgspec.json.encode(c.cfg)  # every field as held (Go's JSON omits some that matter here)
        doc = b'{"config":%s,"created":%d,"sum":%d}' % (cfg, c.created, _sum(cfg, c.created))
        fsync = self._fsync(c)
        _write_atomic(d, DEF, doc, fsync)
        if new and fsync:
            _fsync_dir(self.root)

    def created(self, c, now: int) -> None:
        """A new consumer: its definition, then its starting state (Go SetStarting)."""
        self.write_definition(c)
        self.write_state(c, now)

    def write_state(self, c, now: int) -> None:
        raw = msgspec.json.encode(state_of(c, now))
        _write_atomic(self._dir(c.name), STATE, b'{"sum":%d,"state":%s}' % (zlib.crc32(raw), raw), self._fsync(c))
        self._written[c.name] = _fingerprint(c)

    def sync(self, consumers, now: int) -> None:
        """Write the state of every consumer that changed since its last write."""
        for c in consumers:
            if c.closed or self._written.get(c.name) == _fingerprint(c):
                continue
            try:
                self.write_state(c, now)
            except OSError as e:
                _log.error("JetStream consumer %r: writing its state failed: %s", c.name, e)

    def removed(self, name: str) -> None:
        """Forget a deleted consumer: the definition first, so a crash in between
        cannot bring it back, then the rest of its directory."""
        self._written.pop(name, None)
        d = self._dir(name)
        try:
            os.remove(os.path.join(d, DEF))
            if self.fsync:
                _fsync_dir(d)
        except FileNotFoundError:
            pass
        except OSError as e:
            _log.error("JetStream consumer %r: removing its definition failed: %s", name, e)
        shutil.rmtree(d, ignore_errors=True)

    def recovered(self, c) -> None:
        """``c`` was brought back from disk in the state its files hold."""
        self._written[c.name] = _fingerprint(c)


def _sum(config_json: bytes, created: int) -> int:
    return zlib.crc32(config_json + b"|" + str(created).encode())


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
            with open(os.path.join(d, DEF), "rb") as f:
                doc = msgspec.json.decode(f.read(), type=_Def)
            raw = bytes(doc.config)
            if _sum(raw, doc.created) != doc.sum:
                raise ValueError("checksum mismatch")
            config = msgspec.json.decode(raw, type=ConsumerConfig)
        except FileNotFoundError:
            _log.warning("JetStream consumer directory %s has no %s: skipped (left untouched)", d, DEF)
            continue
        except (OSError, ValueError, msgspec.DecodeError) as e:
            _log.error("JetStream consumer %r: definition in %s unreadable (%s): skipped (left untouched)",
                       name, d, e)
            continue
        state = None
        try:
            with open(os.path.join(d, STATE), "rb") as f:
                sdoc = msgspec.json.decode(f.read(), type=_State)
            sraw = bytes(sdoc.state)
            if zlib.crc32(sraw) != sdoc.sum:
                raise ValueError("checksum mismatch")
            state = msgspec.json.decode(sraw, type=PersistedState)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, msgspec.DecodeError) as e:
            _log.error("JetStream consumer %r: state in %s unreadable (%s): it starts from its configuration",
                       name, d, e)
        out.append(RecoveredConsumer(name, config, doc.created, state))
    return out
