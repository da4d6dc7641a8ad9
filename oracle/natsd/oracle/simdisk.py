"""SimDisk: a simulated disk with a page cache and a durable image.

Implements ``natsd.store._fsio.FileSystem`` so the file store runs on it
unchanged. Used by the store campaign (``natsd.oracle.store``) and the file
store tests to inject the faults a real disk has.

Theory of operation
-------------------
A file is an inode with two contents: ``page`` (what reads see: the page
cache) and ``durable`` (what survives a power loss); ``fsync`` copies page to
durable. The namespace (path -> inode) has the same split: create, rename and
remove change the page namespace at once and are appended to a journal;
``fsync_dir(d)`` makes the journal entries under ``d`` durable, in order.

Faults:

- ``crash()``: the process dies; the page cache survives (nothing to do here
  beyond forgetting descriptors; the caller drops its store object);
- ``power_loss(rng)``: the namespace becomes the durable one plus a prefix of
  the journal (directory operations persist in order); every file becomes its
  durable content plus, where the page content extends it, a random prefix of
  the unsynced bytes (a torn write); unsynced rewrites of durable bytes are lost;
- ``flip_bit(path, bit)``, ``cut(path, size)``: media corruption, in both
  images.

Everything is deterministic given the ``random.Random`` passed in.
"""

from __future__ import annotations

import random

from natsd.store._fsio import FileSystem

__all__ = ["SimDisk"]


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


class _Inode:
    __slots__ = ("page", "durable")

    def __init__(self) -> None:
        self.page = bytearray()
        self.durable = b""


class SimDisk(FileSystem):
    def __init__(self) -> None:
        self._ns: dict[str, _Inode] = {}
        self._dns: dict[str, _Inode] = {}
        self._journal: list[tuple[str, str, str | None, _Inode | None]] = []
        self._dirs: set[str] = set()
        self.fsyncs = 0
        self.writes = 0

    # --- FileSystem -------------------------------------------------------------------

    def _get(self, path: str) -> _Inode:
        ino = self._ns.get(path)
        if ino is None:
            raise FileNotFoundError(path)
        return ino

    def _create(self, path: str) -> _Inode:
        if _parent(path) not in self._dirs:
            raise FileNotFoundError(_parent(path))
        ino = _Inode()
        self._ns[path] = ino
        self._journal.append(("create", path, None, ino))
        return ino

    def append(self, path: str, data: bytes) -> None:
        ino = self._ns.get(path) or self._create(path)
        ino.page += data
        self.writes += 1

    def write_file(self, path: str, data: bytes) -> None:
        ino = self._ns.get(path) or self._create(path)
        ino.page = bytearray(data)
        self.writes += 1

    def read(self, path: str) -> bytes:
        return bytes(self._get(path).page)

    def size(self, path: str) -> int:
        return len(self._get(path).page)

    def exists(self, path: str) -> bool:
        return path in self._ns or path in self._dirs

    def listdir(self, path: str) -> list[str]:
        if path not in self._dirs:
            raise FileNotFoundError(path)
        names = {p[len(path) + 1 :] for p in self._ns if _parent(p) == path}
        names |= {d[len(path) + 1 :] for d in self._dirs if _parent(d) == path}
        return sorted(names)

    def truncate(self, path: str, size: int) -> None:
        del self._get(path).page[size:]

    def rename(self, src: str, dst: str) -> None:
        ino = self._get(src)
        del self._ns[src]
        self._ns[dst] = ino
        self._journal.append(("rename", src, dst, ino))

    def remove(self, path: str) -> None:
        self._get(path)
        del self._ns[path]
        self._journal.append(("remove", path, None, None))

    def makedirs(self, path: str) -> None:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            self._dirs.add("/".join(parts[:i]))

    def remove_dir(self, path: str) -> None:
        if any(_parent(p) == path for p in self._ns) or any(_parent(d) == path for d in self._dirs):
            raise OSError(39, "Directory not empty", path)
        self._dirs.discard(path)

    def fsync(self, path: str) -> None:
        ino = self._get(path)
        ino.durable = bytes(ino.page)
        self.fsyncs += 1

    def fsync_dir(self, path: str) -> None:
        keep = []
        for entry in self._journal:
            if _parent(entry[1]) == path or (entry[2] is not None and _parent(entry[2]) == path):
                self._apply(self._dns, entry)
            else:
                keep.append(entry)
        self._journal = keep
        self.fsyncs += 1

    @staticmethod
    def _apply(ns: dict[str, _Inode], entry: tuple) -> None:
        kind, path, dst, ino = entry
        if kind == "create":
            ns[path] = ino
        elif kind == "rename":
            if ns.get(path) is ino:
                del ns[path]
            ns[dst] = ino
        else:
            ns.pop(path, None)

    # --- faults ---------------------------------------------------------------------------

    def crash(self) -> None:
        """A process crash: the page cache survives."""

    def power_loss(self, rng: random.Random) -> None:
        """Drop what was not made durable; tear unsynced appends at a random point."""
        ns = dict(self._dns)
        for entry in self._journal[: rng.randint(0, len(self._journal))]:
            self._apply(ns, entry)
        self._journal = []
        seen: set[int] = set()
        for ino in ns.values():
            if id(ino) in seen:
                continue
            seen.add(id(ino))
            page, dur = ino.page, ino.durable
            keep = dur
            if len(page) > len(dur) and page[: len(dur)] == dur and rng.random() < 0.7:
                extra = len(page) - len(dur)
                keep = dur + bytes(page[len(dur) : len(dur) + rng.randint(0, extra)])
            ino.page = bytearray(keep)
            ino.durable = bytes(keep)
        self._ns = ns
        self._dns = dict(ns)

    def flip_bit(self, path: str, bit: int) -> None:
        """Media corruption: one bit flips in both images."""
        ino = self._get(path)
        byte, mask = bit // 8, 1 << (bit % 8)
        if byte < len(ino.page):
            ino.page[byte] ^= mask
        if byte < len(ino.durable):
            d = bytearray(ino.durable)
            d[byte] ^= mask
            ino.durable = bytes(d)

    def cut(self, path: str, size: int) -> None:
        """Media corruption: the file loses its bytes from ``size`` on, in both images."""
        ino = self._get(path)
        del ino.page[size:]
        ino.durable = ino.durable[:size]

    def files(self, under: str = "") -> list[str]:
        return sorted(p for p in self._ns if p.startswith(under))

    def image(self) -> dict[str, bytes]:
        """Every file's page content: to check that something touched nothing."""
        return {p: bytes(i.page) for p, i in sorted(self._ns.items())}
