"""The file-system interface of the file store, and its real (os) implementation.

The file store does every byte of file IO through a ``FileSystem``: the
real one here (``OsFileSystem``: ``os.open``/``os.write``/``os.fsync``) or
the simulated disk of the oracle (``natsd.oracle.simdisk.SimDisk``: page
cache vs durable image, crash, power loss, torn writes, bit flips). The
interface is the handful of calls an append-only store needs, named by path
(a string), so a simulated disk needs no file-handle bookkeeping:

- ``append(path, data)`` adds bytes at the end (creating the file);
  ``write_file(path, data)`` replaces a (new or temporary) file's content;
  ``read(path)``, ``size(path)``, ``exists(path)``, ``listdir(dir)``;
- ``truncate(path, size)``, ``rename(src, dst)``, ``remove(path)``,
  ``makedirs(dir)``, ``remove_dir(dir)`` (empty);
- ``fsync(path)`` makes the file's content durable, ``fsync_dir(dir)`` the
  directory entries (creates, renames, removes) under ``dir``;
- ``close()`` releases cached descriptors.

Durability rules the store relies on (and the simulated disk enforces):
written bytes survive a process crash; only fsynced bytes survive a power
loss, and an append not yet fsynced may survive in part (a torn tail);
namespace changes survive a power loss only after ``fsync_dir``, in the
order they were made.
"""

from __future__ import annotations

import os

__all__ = ["FileSystem", "OsFileSystem"]


class FileSystem:
    """What the file store needs from a disk. Paths are strings."""

    def append(self, path: str, data: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def write_file(self, path: str, data: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def read(self, path: str) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def size(self, path: str) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def exists(self, path: str) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def listdir(self, path: str) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    def truncate(self, path: str, size: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def rename(self, src: str, dst: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def remove(self, path: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def makedirs(self, path: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def remove_dir(self, path: str) -> None:  # pragma: no cover - interface
        """Remove an empty directory."""
        raise NotImplementedError

    def fsync(self, path: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def fsync_dir(self, path: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        return None


_datasync = getattr(os, "fdatasync", os.fsync)


class OsFileSystem(FileSystem):
    """The real disk. Keeps one append descriptor per file it writes."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def _fd(self, path: str) -> int:
        fd = self._fds.get(path)
        if fd is None:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            self._fds[path] = fd
        return fd

    def _drop(self, path: str) -> None:
        fd = self._fds.pop(path, None)
        if fd is not None:
            os.close(fd)

    def append(self, path: str, data: bytes) -> None:
        fd = self._fd(path)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]

    def write_file(self, path: str, data: bytes) -> None:
        self._drop(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        finally:
            os.close(fd)

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def truncate(self, path: str, size: int) -> None:
        os.truncate(path, size)

    def rename(self, src: str, dst: str) -> None:
        self._drop(src)
        self._drop(dst)
        os.replace(src, dst)

    def remove(self, path: str) -> None:
        self._drop(path)
        os.remove(path)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def remove_dir(self, path: str) -> None:
        os.rmdir(path)

    def fsync(self, path: str) -> None:
        # fdatasync where there is one: the data and what reading it back needs
        # (the size), without the timestamps, which cost a second journal write.
        fd = self._fds.get(path)
        if fd is not None:
            _datasync(fd)
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            _datasync(fd)
        finally:
            os.close(fd)

    def fsync_dir(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        for path in list(self._fds):
            self._drop(path)
