"""Frames and records of the file store's message blocks; compression and encryption.

The role of nats-server server/filestore.go ``writeMsgRecord`` /
``indexCacheBuf`` / ``rebuildStateLocked`` (record layout, checksum check),
``genEncryptionKeys``/``checkAndLoadEncryption`` (ciphers) and the s2 block
compression; natsd's own layout (spec rules store.file.record,
store.file.checksum, store.file.record_limit, store.encryption,
store.compression; differences recorded in spec/store.toml).

Theory of operation
-------------------
A block file is a sequence of *frames*. One frame holds the effects of one
store operation (a publish and the evictions it caused; one purge; ...), so a
frame is the unit of atomicity: recovery applies a frame whole or not at all.

Frame: ``length u32 | crc32 u32 | flags u8 | body`` (little endian). The crc
covers length, flags and body, so a flipped bit anywhere, including in the
length, is caught; a length past the end of the file or over ``MAX_FRAME`` is
a torn or corrupt tail. ``flags`` bit 0: body is lz4-block compressed;
bit 1: body is encrypted (12-byte random nonce, then AEAD ciphertext and
tag). Compression runs before encryption; the crc is over the stored bytes.

Body: records, each starting with a type byte:

- ``M`` message: seq (u64), ts, ttl (i64), subject length (u16), header
  length (u32; 0 = no headers), payload length (u32), then the three byte
  strings;
- ``D`` removal (tombstone): first seq, count (u64; a run of removed sequences);
- ``P`` purge: drop every message, then set first, last (u64), last_ts (i64);
- ``S`` sequence state: set last seq and last_ts; when the store holds no
  message also set first (see filestore for why this is enough).

A key is derived from the configured key with HMAC-SHA256 (so any length of
configured key works) and checked against a token sealed in the store's
meta file before anything is read or written: a wrong key is an error that
touches no data.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib
from collections.abc import Iterator

import lz4.block
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

__all__ = [
    "MAX_FRAME",
    "Codec",
    "BadFrame",
    "encode_msg",
    "encode_del",
    "encode_purge",
    "encode_seqs",
    "iter_records",
    "scan_frames",
    "derive_key",
]

MAX_FRAME = 64 * 1024 * 1024  # a frame longer than this is corrupt
FRAME_HDR = struct.Struct("<IIB")
_LEN_FLAGS = struct.Struct("<I")
F_LZ4 = 1
F_ENC = 2
_MIN_COMPRESS = 128  # bodies shorter than this are stored as they are

_MSG = struct.Struct("<BQqqHII")  # type, seq, ts, ttl, subject/header/payload lengths
_DEL = struct.Struct("<BQQ")
_SEQ3 = struct.Struct("<BQQq")
MAX_SUBJECT = 0xFFFF  # bytes
MAX_SEQ = (1 << 64) - 1
T_MSG, T_DEL, T_PURGE, T_SEQS = 77, 68, 80, 83  # "M", "D", "P", "S"
_AAD = b"natsd-filestore-frame"
CIPHERS = ("aes", "chachapoly")


class BadFrame(Exception):
    """A frame failed its checksum or could not be decoded."""


def derive_key(key: bytes | str, cipher: str) -> bytes:
    if isinstance(key, str):
        key = key.encode()
    if not key:
        raise ValueError("an encryption key must not be empty")
    return hmac.new(key, b"natsd filestore " + cipher.encode(), hashlib.sha256).digest()


class Codec:
    """Turns a frame body into stored bytes and back (compression, encryption)."""

    def __init__(self, compression: str = "none", cipher: str = "none", key: bytes | str | None = None) -> None:
        if compression not in ("none", "s2"):
            raise ValueError(f"unknown compression {compression!r} (none, s2)")
        self.compress = compression == "s2"
        self.cipher = cipher
        self._aead: AESGCM | ChaCha20Poly1305 | None = None
        if cipher != "none":
            if cipher not in CIPHERS:
                raise ValueError(f"unknown cipher {cipher!r} (aes, chachapoly)")
            if key is None:
                raise ValueError(f"cipher {cipher!r} needs a key")
            k = derive_key(key, cipher)
            self._aead = AESGCM(k) if cipher == "aes" else ChaCha20Poly1305(k)

    @property
    def encrypted(self) -> bool:
        return self._aead is not None

    def seal(self, plain: bytes) -> bytes:
        """Encrypt ``plain`` with a fresh random nonce (for the meta key token)."""
        assert self._aead is not None
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plain, _AAD)

    def open(self, sealed: bytes) -> bytes:
        """Decrypt; raises BadFrame when the tag does not verify."""
        if self._aead is None:
            raise BadFrame("encrypted frame but no cipher configured")
        if len(sealed) < 28:
            raise BadFrame("encrypted body too short")
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], _AAD)
        except InvalidTag:
            raise BadFrame("decryption failed (wrong key or corrupt data)") from None

    def frame(self, body: bytes) -> bytes:
        """The stored frame for a body of records."""
        flags = 0
        if self.compress and len(body) >= _MIN_COMPRESS:
            packed = lz4.block.compress(body, store_size=True)
            if len(packed) < len(body):
                body, flags = packed, F_LZ4
        if self._aead is not None:
            body, flags = self.seal(body), flags | F_ENC
        n = len(body)
        head = _LEN_FLAGS.pack(n)
        crc = zlib.crc32(body, zlib.crc32(bytes((flags,)), zlib.crc32(head)))
        return FRAME_HDR.pack(n, crc, flags) + body

    def body(self, flags: int, stored: bytes) -> bytes:
        """The records of a checksummed frame; BadFrame when they cannot be recovered."""
        if flags & ~(F_LZ4 | F_ENC):
            raise BadFrame(f"unknown frame flags {flags:#x}")
        if flags & F_ENC:
            stored = self.open(stored)
        if flags & F_LZ4:
            try:
                stored = lz4.block.decompress(stored)
            except Exception as e:  # lz4 raises LZ4BlockError; any failure is corruption
                raise BadFrame(f"decompression failed: {e}") from None
        return stored


def scan_frames(buf: bytes) -> Iterator[tuple[int, int, bytes]]:
    """Checksummed frames of a block: (offset, flags, stored body), in order.

    Stops at the end of the last whole frame whose checksum holds; the caller
    compares the offset reached with ``len(buf)`` to see a bad tail. The last
    value yielded is followed by nothing: read ``scan_end`` for where it stopped.
    """
    pos, n = 0, len(buf)
    hs = FRAME_HDR.size
    while pos + hs <= n:
        length, crc, flags = FRAME_HDR.unpack_from(buf, pos)
        end = pos + hs + length
        if length > MAX_FRAME or end > n:
            return
        body = buf[pos + hs : end]
        if zlib.crc32(body, zlib.crc32(bytes((flags,)), zlib.crc32(buf[pos : pos + 4]))) != crc:
            return
        yield pos, flags, body
        pos = end


def frame_end(buf: bytes, offset: int) -> int:
    """End offset of the (already checked) frame starting at ``offset``."""
    return offset + FRAME_HDR.size + FRAME_HDR.unpack_from(buf, offset)[0]


# --- records ---------------------------------------------------------------------


def encode_msg(seq: int, ts: int, ttl: int, subject: bytes, hdr: bytes | None, data: bytes) -> bytes:
    h = hdr or b""
    return _MSG.pack(T_MSG, seq, ts, ttl, len(subject), len(h), len(data)) + subject + h + data


def encode_del(seq: int, count: int) -> bytes:
    return _DEL.pack(T_DEL, seq, count)


def encode_purge(first: int, last: int, last_ts: int) -> bytes:
    return _SEQ3.pack(T_PURGE, first, last, last_ts)


def encode_seqs(first: int, last: int, last_ts: int) -> bytes:
    return _SEQ3.pack(T_SEQS, first, last, last_ts)


Record = tuple  # ("M", seq, ts, ttl, subject, hdr, data) | ("D", seq, n) | ("P"|"S", first, last, ts)


def iter_records(body: bytes) -> Iterator[tuple]:
    """Decode the records of a frame body; BadFrame on anything malformed."""
    pos, n = 0, len(body)
    try:
        while pos < n:
            t = body[pos]
            if t == T_MSG:
                _, seq, ts, ttl, ls, lh, ld = _MSG.unpack_from(body, pos)
                p = pos + _MSG.size
                end = p + ls + lh + ld
                if end > n:
                    raise BadFrame("message record past the end of its frame")
                subject = body[p : p + ls].decode()
                hdr = body[p + ls : p + ls + lh] if lh else None
                yield ("M", seq, ts, ttl, subject, hdr, body[p + ls + lh : end])
                pos = end
            elif t == T_DEL:
                _, seq, count = _DEL.unpack_from(body, pos)
                yield ("D", seq, count)
                pos += _DEL.size
            elif t == T_PURGE or t == T_SEQS:
                _, first, last, last_ts = _SEQ3.unpack_from(body, pos)
                yield ("P" if t == T_PURGE else "S", first, last, last_ts)
                pos += _SEQ3.size
            else:
                raise BadFrame(f"unknown record type {t}")
    except (struct.error, UnicodeDecodeError) as e:
        raise BadFrame(f"malformed record: {e}") from None


# --- the block index (msgs/index.db) ------------------------------------------------

_IDX_MAGIC = b"NATSDIX1"
_IDX_ENT = struct.Struct("<QQ")


def encode_index(sealed: dict[int, int]) -> bytes:
    """The sealed blocks and their sizes, with a crc32 over everything."""
    body = _IDX_MAGIC + b"".join(_IDX_ENT.pack(b, n) for b, n in sorted(sealed.items()))
    return body + struct.pack("<I", zlib.crc32(body))


def decode_index(raw: bytes) -> dict[int, int] | None:
    """The sealed block sizes, or None when the file is not a whole, valid index."""
    if len(raw) < len(_IDX_MAGIC) + 4 or not raw.startswith(_IDX_MAGIC):
        return None
    body, (crc,) = raw[:-4], struct.unpack("<I", raw[-4:])
    if zlib.crc32(body) != crc or (len(body) - len(_IDX_MAGIC)) % _IDX_ENT.size:
        return None
    return dict(_IDX_ENT.iter_unpack(body[len(_IDX_MAGIC) :]))
