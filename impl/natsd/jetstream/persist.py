"""Where file streams live on disk, and how their definitions come back.

Plays the part of nats-server's ``meta.inf``/``meta.sum`` handling
(server/stream.go ``writeStreamMeta``, server/jetstream.go
``enableJetStream``/``processStreamRecovery``) with natsd's own format.

Layout under the JetStream store directory (``-sd``), as Go's::

    <store_dir>/jetstream/$G/streams/<stream>/stream.json  the definition
    <store_dir>/jetstream/$G/streams/<stream>/meta.json, msgs/  the FileStore's blocks

``stream.json`` holds ``{"config": <every StreamConfig field>,
"created": <ns>, "sum": <crc32 of the two>}``. It is written atomically
(temporary file, fsync, rename, fsync of the directory), so a crash leaves
the old or the new definition, never a torn one. Only file-storage streams are
written: a standalone Go server does not bring memory streams back after a
restart either.

Recovery (``load_streams``) reads every stream directory; a definition that
is missing, unreadable or fails its checksum is reported and skipped, and its
directory is left untouched (no data is deleted because its definition is
damaged).
"""

from __future__ import annotations

import logging
import os
import shutil
import zlib

import msgspec

from natsd.api import StreamConfig

__all__ = ["streams_root", "stream_dir", "write_meta", "forget_stream", "remove_stream", "write_atomic",
           "fsync_dir", "encode_definition", "read_definition", "load_streams", "RecoveredStream",
           "StorageOptions", "open_file_store"]

_log = logging.getLogger("natsd")
META = "stream.json"


class StorageOptions(msgspec.Struct, frozen=True):
    """Server-wide file storage settings (the ``jetstream {}`` block).

    ``sync``: ``group`` (natsd's default: one fsync per event-loop turn, before
    the turn's PubAcks go out), ``always`` (Go's ``sync_interval: always``) or
    ``interval`` (Go's default behaviour, every ``sync_interval`` ns). ``cipher``
    and ``key`` turn on encryption at rest; each stream gets its own key,
    derived from the server key and the stream name (HKDF-SHA256).
    """

    sync: str = "group"
    sync_interval: int = 120 * 1_000_000_000
    cipher: str = "none"  # none | aes | chachapoly
    key: str = ""


def _stream_key(key: str, name: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"natsd stream key",
                info=name.encode()).derive(key.encode())


def open_file_store(directory: str, config: StreamConfig, opts: StorageOptions):
    """The FileStore of a file stream, opened (recovered) in ``directory``."""
    from natsd.jetstream.streamcfg import store_limits
    from natsd.store.filestore import FileStore, FileStoreOptions, dyn_block_size

    encrypted = opts.cipher != "none"
    fopts = FileStoreOptions(
        block_size=dyn_block_size(config.retention, config.max_bytes, encrypted),
        sync=opts.sync,  # type: ignore[arg-type]
        sync_interval=opts.sync_interval,
        compression="s2" if config.compression == "s2" else "none",
        cipher=opts.cipher,  # type: ignore[arg-type]
        key=_stream_key(opts.key, config.name) if encrypted else None,
    )
    # Recovery losses are logged by the store itself (natsd.store logger).
    return FileStore(directory, store_limits(config), first_seq=config.first_seq, options=fopts)


class RecoveredStream(msgspec.Struct, frozen=True):
    name: str
    directory: str
    config: StreamConfig
    created: int


def streams_root(store_dir: str) -> str:
    return os.path.join(store_dir, "jetstream", "$G", "streams")


def stream_dir(store_dir: str, name: str) -> str:
    return os.path.join(streams_root(store_dir), name)


def _sum(config_json: bytes, created: int) -> int:
    return zlib.crc32(config_json + b"|" + str(created).encode())


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(directory: str, name: str, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``directory/name`` with ``data`` atomically: temporary file, fsync,
    rename, fsync of the directory (the fsyncs only with ``fsync``)."""
    tmp = os.path.join(directory, name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, os.path.join(directory, name))
    if fsync:
        fsync_dir(directory)


def encode_definition(config: msgspec.Struct, created: int) -> bytes:
    """A definition file: every field of the config as held (not the API's omitempty
    form, so it reads back exactly), its creation time, a checksum."""
    cfg = msgspec.json.encode(config)
    return b'{"config":%s,"created":%d,"sum":%d}' % (cfg, created, _sum(cfg, created))


def read_definition(path: str, config_type: type):
    """``(config, created)`` of a definition file; raises OSError (FileNotFoundError
    when missing), ValueError or msgspec.DecodeError when it cannot be trusted."""
    with open(path, "rb") as f:
        doc = msgspec.json.decode(f.read(), type=_Doc)
    raw = bytes(doc.config)
    if _sum(raw, doc.created) != doc.sum:
        raise ValueError("checksum mismatch")
    return msgspec.json.decode(raw, type=config_type), doc.created


def write_meta(directory: str, config: StreamConfig, created: int) -> None:
    """Write the stream's definition atomically (creates the directory)."""
    os.makedirs(directory, exist_ok=True)
    write_atomic(directory, META, encode_definition(config, created))
    fsync_dir(os.path.dirname(directory))


def forget_stream(directory: str) -> None:
    """Remove a deleted stream's definition, first: a crash while its messages
    are being removed cannot bring back a stream with half of them."""
    meta = os.path.join(directory, META)
    if os.path.exists(meta):
        os.remove(meta)
        fsync_dir(directory)


def remove_stream(directory: str) -> None:
    """Forget the stream and remove whatever is left of its directory."""
    forget_stream(directory)
    shutil.rmtree(directory, ignore_errors=True)


class _Doc(msgspec.Struct):
    config: msgspec.Raw
    created: int
    sum: int


def load_streams(store_dir: str) -> list[RecoveredStream]:
    """Every stream definition under ``store_dir`` that reads back intact, by name."""
    root = streams_root(store_dir)
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        directory = os.path.join(root, name)
        meta = os.path.join(directory, META)
        if not os.path.isdir(directory):
            continue
        try:
            config, created = read_definition(meta, StreamConfig)
        except FileNotFoundError:
            _log.warning("JetStream stream directory %s has no %s: skipped (left untouched)", directory, META)
            continue
        except (OSError, ValueError, msgspec.DecodeError) as e:
            _log.error("JetStream stream %r: definition %s unreadable (%s): skipped (left untouched)",
                       name, meta, e)
            continue
        if config.name != name:
            _log.error("JetStream stream directory %s holds stream %r: skipped", directory, config.name)
            continue
        out.append(RecoveredStream(name, directory, config, created))
    return out
