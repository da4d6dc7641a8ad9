"""Differential raw-protocol harness: send the same bytes to two servers, compare replies.

* :func:`start_go_server` / :func:`start_natsd` start a server on 127.0.0.1 on a free
  port in a temp dir (see :mod:`natsd.oracle.procs`); the returned
  :class:`~natsd.oracle.procs.ServerProcess` is a context manager and is always
  stopped on exit.
* :func:`run_script` connects with a raw socket, reads the INFO line, sends each chunk
  with its own ``send`` (pausing ``gap_ms`` between chunks so that split lines really
  arrive split), then sends a final ``PING\\r\\n`` probe and reads until the server
  closes the connection or the probe has been answered. The result is a
  :class:`Transcript`: the server frames after INFO plus whether the server closed.

How the read ends (deterministically): every ``PONG`` the server can send in reply to
the script needs the four bytes ``ping`` (any case) in the script. So with
``k = script.lower().count(b"ping")`` the server sends at most ``k + 1`` PONGs (the
``+ 1`` is the probe). Reading stops at the first of: the server closed the
connection; ``k + 1`` PONGs were received; no byte arrived for ``quiet_ms`` (the probe
was swallowed, e.g. as payload of an unfinished PUB, or a script PING sat inside a
payload); the overall ``deadline`` expired. Once the probe is answered a second
``PING`` (the fence) is sent and read up to its ``PONG``, which is then removed: this
makes frames queued right after the probe's PONG (Go sends an async INFO after the
first PONG following a CONNECT with protocol >= 1) part of the transcript
deterministically. The probe's PONG is kept in the frames: it shows that the
connection is still usable and in which parser state the script left it.

Normalisation masks only what is nondeterministic by definition: the initial INFO is
kept in :attr:`Transcript.info` with host/run-specific fields masked and is not part
of transcript equality; an INFO inside the frames (not expected from a client port)
is reduced to ``b"INFO"``. All other frames are compared byte for byte.

Run ``python -m natsd.oracle.differential --help`` for the corpus tools (stability
check against Go, findings table).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import select
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from natsd.oracle.procs import ServerProcess, ServerStartError, find_executable

__all__ = [
    "INFO_MASKED_FIELDS",
    "Transcript",
    "transcripts_equal",
    "normalise_info",
    "parse_frames",
    "run_script",
    "start_go_server",
    "start_natsd",
    "start_server",
    "go_server_binary",
]

HOST = "127.0.0.1"

#: INFO fields whose values are nondeterministic by definition (identity, build,
#: addresses, per-connection values). Their values are replaced by ``"*"``.
INFO_MASKED_FIELDS = frozenset(
    {
        "server_id",
        "server_name",
        "version",
        "go",
        "git_commit",
        "client_id",
        "client_ip",
        "port",
        "host",
        "xkey",
        "nonce",
        "connect_info",
        "connect_urls",
        "ws_connect_urls",
        "ip",
        "cluster",
        "domain",
        "tls_available",
    }
)

_MSG_RE = re.compile(rb"^(MSG|HMSG)\s")


# --------------------------------------------------------------------------- servers


def go_server_binary() -> str:
    """Path of ``nats-server``: next to ``sys.executable``, else on PATH, else $NATS_SERVER_BIN."""
    env = os.environ.get("NATS_SERVER_BIN")
    if env:
        return env
    found = find_executable("nats-server")
    if not found:
        raise FileNotFoundError("nats-server binary not found next to sys.executable nor on PATH")
    return found


def _config_setup(config: str | None):
    if config is None:
        return None

    def setup(workdir: Path) -> None:
        (workdir / "server.conf").write_text(config)

    return setup


def _with_config(args: list[str], workdir: Path, config: str | None) -> list[str]:
    if config is not None:
        args += ["-c", str(workdir / "server.conf")]
    return args


def start_go_server(
    extra_args: Sequence[str] = (), *, config: str | None = None, timeout: float = 15.0
) -> ServerProcess:
    """Start ``nats-server -a 127.0.0.1 -p PORT [-c server.conf] *extra_args``.

    ``config`` is written to ``server.conf`` in the server's temp dir. The returned
    process is running and accepting connections; use it as a context manager.
    """
    binary = go_server_binary()

    def argv(port: int, workdir: Path) -> list[str]:
        return _with_config([binary, "-a", HOST, "-p", str(port)], workdir, config) + list(extra_args)

    return ServerProcess.launch(
        argv, host=HOST, name="nats-server", setup=_config_setup(config), timeout=timeout
    )


def start_natsd(
    extra_args: Sequence[str] = (), *, config: str | None = None, timeout: float = 30.0
) -> ServerProcess:
    """Start ``python -m natsd -a 127.0.0.1 -p PORT [-c server.conf] *extra_args``."""

    def argv(port: int, workdir: Path) -> list[str]:
        return _with_config(
            [sys.executable, "-m", "natsd", "-a", HOST, "-p", str(port)], workdir, config
        ) + list(extra_args)

    return ServerProcess.launch(argv, host=HOST, name="natsd", setup=_config_setup(config), timeout=timeout)


def start_server(kind: str, extra_args: Sequence[str] = (), *, config: str | None = None) -> ServerProcess:
    """``kind`` is ``"go"`` or ``"natsd"``."""
    if kind == "go":
        return start_go_server(extra_args, config=config)
    if kind == "natsd":
        return start_natsd(extra_args, config=config)
    raise ValueError(f"unknown server kind {kind!r}")


# ------------------------------------------------------------------------ transcript


def normalise_info(raw: bytes) -> dict:
    """Parse an ``INFO {...}`` line (with or without CRLF) and mask nondeterministic fields."""
    body = raw.strip()
    if body[:4].upper() == b"INFO":
        body = body[4:].strip()
    try:
        info = json.loads(body)
    except ValueError:
        return {"<unparseable>": body.decode("utf-8", "backslashreplace")}
    if not isinstance(info, dict):
        return {"<not-an-object>": info}
    return {k: ("*" if k in INFO_MASKED_FIELDS else v) for k, v in sorted(info.items())}


@dataclass
class Transcript:
    """What a server sent after its INFO line in reply to a script.

    ``frames``: one entry per protocol line (without CRLF), except MSG/HMSG which
    include their payload: ``b"MSG foo 1 5\\r\\nhello"``. ``trailing``: bytes after
    the last complete frame. ``closed``: the server closed (or reset) the connection.
    Equality compares frames, trailing and closed; ``info`` and diagnostics are not
    compared.
    """

    frames: list[bytes]
    closed: bool
    trailing: bytes = b""
    info: dict = field(default_factory=dict, compare=False)
    stop_reason: str = field(default="", compare=False)
    elapsed: float = field(default=0.0, compare=False)
    send_error: str = field(default="", compare=False)

    def render(self) -> list[str]:
        """Human-readable lines (Python bytes literals without the b prefix)."""
        out = [show_bytes(f) for f in self.frames]
        if self.trailing:
            out.append(f"<partial {show_bytes(self.trailing)}>")
        out.append("<closed>" if self.closed else "<open>")
        return out

    def summary(self) -> str:
        return " | ".join(self.render())

    def canonical(self, unordered: bool = False) -> tuple:
        """A comparable value; with ``unordered`` each run of consecutive MSG/HMSG
        frames is sorted (fan-out order across subscriptions is not a contract)."""
        frames = list(self.frames)
        if unordered:
            out: list[bytes] = []
            run: list[bytes] = []
            for f in frames:
                if _MSG_RE.match(f):
                    run.append(f)
                    continue
                out.extend(sorted(run))
                run = []
                out.append(f)
            out.extend(sorted(run))
            frames = out
        return (tuple(frames), self.trailing, self.closed)


def transcripts_equal(a: Transcript, b: Transcript, *, unordered: bool = False) -> bool:
    return a.canonical(unordered) == b.canonical(unordered)


def show_bytes(data: bytes) -> str:
    """Printable ASCII as is; CR, LF, TAB as ``\\r \\n \\t``; other bytes as ``\\xNN``."""
    out = []
    for b in data:
        if b == 0x0D:
            out.append("\\r")
        elif b == 0x0A:
            out.append("\\n")
        elif b == 0x09:
            out.append("\\t")
        elif b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def parse_frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Split server output into frames; return ``(frames, unparsed_tail)``."""
    frames: list[bytes] = []
    pos = 0
    n = len(data)
    while pos < n:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            break
        line = data[pos:eol]
        m = _MSG_RE.match(line)
        if m:
            parts = line.split()
            try:
                size = int(parts[-1])
            except (ValueError, IndexError):
                frames.append(line)
                pos = eol + 2
                continue
            start = eol + 2
            end = start + size
            if end + 2 > n:
                break  # incomplete message
            frames.append(line + b"\r\n" + data[start:end])
            if data[end : end + 2] != b"\r\n":
                # not framed as expected; keep the rest raw
                pos = end
                continue
            pos = end + 2
            continue
        if line[:4] == b"INFO":
            line = b"INFO"
        frames.append(line)
        pos = eol + 2
    return frames, data[pos:]


def _read_info(sock: socket.socket, deadline: float) -> bytes:
    buf = b""
    while b"\r\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no INFO line from server (got {buf[:200]!r})")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"server closed before INFO (got {buf[:200]!r})")
        buf += chunk
    return buf


def run_script(
    host: str,
    port: int,
    chunks: Iterable[bytes],
    *,
    quiet_ms: int = 400,
    gap_ms: float = 3.0,
    probe: bool = True,
    deadline_s: float = 15.0,
) -> Transcript:
    """Send ``chunks`` to a server on a raw connection and collect its reply.

    Each chunk is sent with a separate ``sendall`` followed by a ``gap_ms`` pause
    (during which incoming bytes are drained), so that a chunk boundary is very
    likely a read boundary on the server. See the module docstring for when reading
    stops.
    """
    chunks = [bytes(c) for c in chunks]
    t0 = time.monotonic()
    deadline = t0 + deadline_s
    sock = socket.create_connection((host, port), timeout=5.0)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = _read_info(sock, deadline)
        eol = buf.index(b"\r\n")
        info = normalise_info(buf[:eol])
        data = bytearray(buf[eol + 2 :])
        closed = False
        send_error = ""

        def recv_once(timeout: float) -> bool:
            """Wait up to ``timeout`` for bytes and read them once; False on EOF/reset."""
            nonlocal closed
            r, _, _ = select.select([sock], [], [], max(0.0, timeout))
            if not r:
                return True
            try:
                got = sock.recv(65536)
            except (ConnectionResetError, ConnectionAbortedError):
                got = b""
            if not got:
                closed = True
                return False
            data.extend(got)
            return True

        def drain(timeout: float) -> bool:
            """Read whatever arrives during ``timeout``; False on EOF/reset."""
            end = time.monotonic() + timeout
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return True
                if not recv_once(left):
                    return False

        script = chunks + ([b"PING\r\n"] if probe else [])
        for i, chunk in enumerate(script):
            if closed:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as e:
                send_error = f"chunk {i}: {e.__class__.__name__}"
                break
            if i + 1 < len(script) and gap_ms > 0:
                drain(gap_ms / 1000.0)

        max_pongs = b"".join(chunks).lower().count(b"ping") + (1 if probe else 0)
        stop_reason = "closed" if closed else ""
        last_rx = time.monotonic()
        seen = len(data)
        fence_sent = False
        while not closed:
            frames, _ = parse_frames(bytes(data))
            pongs = frames.count(b"PONG")
            if probe and not fence_sent and pongs >= max_pongs:
                # The probe was answered. Anything the server queues right after
                # that PONG (Go's async INFO after the first PONG) precedes the
                # answer to a second PING, so read up to that one and drop it.
                try:
                    sock.sendall(b"PING\r\n")
                    fence_sent = True
                except OSError as e:
                    send_error = send_error or f"fence: {e.__class__.__name__}"
                    stop_reason = "probe answered"
                    break
            if fence_sent and pongs >= max_pongs + 1:
                stop_reason = "probe answered"
                break
            now = time.monotonic()
            if len(data) != seen:
                seen, last_rx = len(data), now
            if now - last_rx >= quiet_ms / 1000.0:
                stop_reason = "quiet"
                break
            if now >= deadline:
                stop_reason = "deadline"
                break
            if not recv_once(min(0.05, quiet_ms / 1000.0)):
                stop_reason = "closed"
                break
        frames, trailing = parse_frames(bytes(data))
        if fence_sent and stop_reason == "probe answered":
            # drop the fence's PONG (the last PONG frame)
            idx = len(frames) - 1 - frames[::-1].index(b"PONG")
            del frames[idx]
        return Transcript(
            frames=frames,
            closed=closed,
            trailing=trailing,
            info=info,
            stop_reason=stop_reason,
            elapsed=time.monotonic() - t0,
            send_error=send_error,
        )
    finally:
        with contextlib.suppress(OSError):
            sock.close()


# -------------------------------------------------------------------------- corpus cli


def _run_corpus(kind: str, cases, profiles: dict[str, str | None]) -> dict[str, Transcript]:
    servers: dict[str, ServerProcess] = {}
    out: dict[str, Transcript] = {}
    try:
        for case in cases:
            srv = servers.get(case.config)
            if srv is None:
                srv = servers[case.config] = start_server(kind, config=profiles[case.config])
            out[case.name] = run_script(srv.host, srv.port, case.script())
    finally:
        for srv in servers.values():
            srv.stop()
    return out


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("`", "'")


def main(argv: Sequence[str] | None = None) -> int:
    from natsd.oracle.protocol_corpus import CASES, PROFILES

    ap = argparse.ArgumentParser(prog="python -m natsd.oracle.differential")
    ap.add_argument(
        "--stability", type=int, default=0, metavar="N", help="run the corpus N extra times against Go"
    )
    ap.add_argument(
        "--against", choices=["go", "natsd"], default=None, help="also run against this server and diff"
    )
    ap.add_argument("--findings", action="store_true", help="print the Go behaviour table (markdown)")
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    args = ap.parse_args(argv)

    cases = [c for c in CASES if args.k in c.name]
    try:
        ref = _run_corpus("go", cases, PROFILES)
    except ServerStartError as e:
        print(e, file=sys.stderr)
        return 2
    rc = 0
    for n in range(args.stability):
        again = _run_corpus("go", cases, PROFILES)
        for c in cases:
            if not transcripts_equal(again[c.name], ref[c.name], unordered=c.unordered):
                rc = 1
                print(f"UNSTABLE[{n}] {c.name}:\n  {ref[c.name].summary()}\n  {again[c.name].summary()}")
    if args.against:
        other = _run_corpus(args.against, cases, PROFILES)
        for c in cases:
            if not transcripts_equal(other[c.name], ref[c.name], unordered=c.unordered):
                rc = 1
                print(
                    f"DIFF {c.name}:\n  go:    {ref[c.name].summary()}\n  {args.against}: {other[c.name].summary()}"
                )
    if args.findings:
        from natsd.oracle import protocol_corpus as pc

        labels = {
            pc.C: "std",
            pc.C_NOHDR: "no-headers",
            pc.C_VERBOSE: "verbose",
            pc.C_PEDANTIC: "pedantic",
            pc.C_NOECHO: "no-echo",
            pc.C_NR: "no-responders",
            None: "none",
        }
        for title, want in (("Good inputs", False), ("Malformed inputs", True)):
            print(f"\n### {title}\n")
            print("| case | CONNECT | sent after CONNECT | Go reply (frames after INFO) |")
            print("|---|---|---|---|")
            for c in cases:
                if c.malformed != want:
                    continue
                t = ref[c.name]
                data = b"".join(c.chunks)
                sent = show_bytes(data)
                if len(sent) > 110:
                    sent = sent[:90] + f"...({len(data)} bytes)"
                if len(c.chunks) > 1:
                    sent += f" [{len(c.chunks)} chunks]"
                label = labels.get(c.connect, show_bytes(c.connect or b"").removesuffix("\\r\\n"))
                if c.config != "default":
                    label += f" (profile {c.config})"
                print(
                    f"| `{c.name}` | `{_md_escape(label)}` | `{_md_escape(sent)}` | `{_md_escape(t.summary())}` |"
                )
    if not (args.stability or args.against or args.findings):
        for c in cases:
            print(
                f"{c.name}: {ref[c.name].summary()}  [{ref[c.name].stop_reason}, {ref[c.name].elapsed:.2f}s]"
            )
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
