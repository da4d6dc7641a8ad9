"""Start and stop server processes (Go nats-server or natsd) for tests and benchmarks.

``ServerProcess`` owns one child process listening on ``host:port``. It runs in its
own temporary directory (logs, config files, store dirs go there), waits for the
port to accept TCP connections by polling ``connect`` against a deadline, and is
always stopped on exit: SIGTERM, then SIGKILL if it does not exit in time. If the
process dies during start-up or never opens its port, the start raises
``ServerStartError`` carrying the tail of the process log.

Typical use::

    with ServerProcess.launch(lambda port: [binary, "-a", "127.0.0.1", "-p", str(port)]) as srv:
        sock = socket.create_connection((srv.host, srv.port))
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "ServerProcess",
    "ServerStartError",
    "free_port",
    "wait_for_port",
    "find_executable",
]

DEFAULT_HOST = "127.0.0.1"


class ServerStartError(RuntimeError):
    """The server process exited or did not open its port in time.

    ``exited`` tells which: only a start whose process exited early is retried by
    :meth:`ServerProcess.launch` (typically the port was taken in the meantime).
    """

    def __init__(self, message: str, *, exited: bool = False) -> None:
        super().__init__(message)
        self.exited = exited


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that was free on ``host`` a moment ago (bind to port 0 and release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(
    host: str,
    port: int,
    *,
    timeout: float = 10.0,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.01,
) -> None:
    """Poll ``connect((host, port))`` until it succeeds or ``timeout`` seconds pass.

    ``alive`` is checked between attempts; when it returns False the wait stops early
    (the process died). Raises ``TimeoutError`` or ``ServerStartError``.
    """
    deadline = time.monotonic() + timeout
    last_err: OSError | None = None
    while True:
        if alive is not None and not alive():
            raise ServerStartError(f"process exited before {host}:{port} accepted connections")
        try:
            with socket.create_connection(
                (host, port), timeout=max(0.05, min(1.0, deadline - time.monotonic()))
            ):
                return
        except OSError as e:
            last_err = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{host}:{port} did not accept connections within {timeout}s: {last_err}")
        time.sleep(interval)


def find_executable(name: str) -> str | None:
    """``name`` next to ``sys.executable`` (the venv's bin dir) or else on PATH."""
    cand = Path(sys.executable).parent / name
    if cand.is_file() and os.access(cand, os.X_OK):
        return str(cand)
    return shutil.which(name)


class ServerProcess:
    """One server child process listening on ``host:port``.

    Construct with :meth:`launch` (which starts it) or call :meth:`start` yourself.
    The object is a context manager; leaving the block stops the process and removes
    its temporary directory (unless ``keep_dir`` is set).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        host: str = DEFAULT_HOST,
        port: int,
        workdir: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        name: str = "server",
        keep_dir: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.host = host
        self.port = port
        self.name = name
        self.env = env
        self.keep_dir = keep_dir
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.log_path = self.workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file = None
        self._last_log = ""

    # -- construction -------------------------------------------------------------

    @classmethod
    def launch(
        cls,
        build_argv: Callable[[int, Path], Sequence[str]],
        *,
        host: str = DEFAULT_HOST,
        name: str = "server",
        env: dict[str, str] | None = None,
        timeout: float = 15.0,
        attempts: int = 3,
        setup: Callable[[Path], None] | None = None,
    ) -> ServerProcess:
        """Pick a free port, start the process, wait until the port accepts connections.

        ``build_argv(port, workdir)`` returns the command line. ``setup(workdir)`` may
        write files (config) before the start. A start that fails because the process
        exits early (e.g. the port was taken in the meantime) is retried on a new port
        up to ``attempts`` times.
        """
        last: Exception | None = None
        for _ in range(max(1, attempts)):
            workdir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
            port = free_port(host)
            try:
                if setup is not None:
                    setup(workdir)
                srv = cls(
                    build_argv(port, workdir), host=host, port=port, workdir=workdir, env=env, name=name
                )
                srv._own_dir = True
            except BaseException:
                shutil.rmtree(workdir, ignore_errors=True)
                raise
            try:
                srv.start(timeout=timeout)
                return srv
            except ServerStartError as e:
                last = e
                if not e.exited:
                    break
                continue
        assert last is not None
        raise last

    # -- lifecycle ----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 15.0) -> ServerProcess:
        if self.proc is not None:
            raise RuntimeError("already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ if self.env is None else self.env)
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=str(self.workdir),
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
            wait_for_port(self.host, self.port, timeout=timeout, alive=self.running)
        except BaseException as e:
            rc = self.proc.poll() if self.proc is not None else None
            self.stop()
            if isinstance(e, (ServerStartError, TimeoutError, OSError)):
                raise ServerStartError(
                    f"{self.name} failed to start on {self.host}:{self.port} (exit={rc}): {e}\n"
                    f"argv: {self.argv}\n--- log tail ---\n{self._last_log}",
                    exited=rc is not None,
                ) from e
            raise
        return self

    def log_tail(self, limit: int = 4000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    def stop(self, timeout: float = 5.0) -> int | None:
        """Stop the process (SIGTERM, then SIGKILL). Idempotent. Returns the exit code."""
        rc: int | None = None
        proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait(timeout=timeout)
            rc = proc.returncode
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()
            self._log_file = None
        self._last_log = self.log_tail()
        if self._own_dir and not self.keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return rc

    def __enter__(self) -> ServerProcess:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServerProcess {self.name} pid={self.pid} {self.host}:{self.port}>"
