"""The monitoring HTTP server: /varz, /connz, /subsz, /healthz and friends.

Mirrors nats-server server.go (``startMonitoring``) and monitor.go (``Varz``,
``Connz``, ``Subsz``, ``Routez``, ``Gatewayz``, ``Leafz``, ``Accountz``,
``AccountStatz``, ``Jsz``, ``HandleHealthz``, ``HandleRoot``) for a single
server without clustering, gateways, leaf nodes, MQTT or websockets.

Theory of operation
-------------------
aiohttp serves one catch-all route; ``_Monitor.handle`` looks the exact path
up in a table built from ``http_base_path`` (Go's ServeMux patterns have no
trailing slash, so anything else is Go's "404 page not found"). Handlers run
in the event loop that owns the broker, so each answer is a consistent
snapshot without locks. ``broker.fold_stats()`` runs first: fast-path
deliveries are counted per delivery-cache entry until folded.

Output is written like Go's ``json.MarshalIndent(v, "", "  ")``: keys in the
Go struct order, ``omitempty`` fields left out when empty, ``<>&`` escaped,
integral floats without a fraction. Times are RFC 3339 with nanoseconds in
UTC; ``uptime``/``idle`` use Go's ``myUptime`` ("1m2s"), ``rtt`` Go's
``time.Duration.String()``. Bad query parameters get Go's 400 texts.

Server counters that outlive a connection (varz in/out totals, accstatz
sent/received) are the open clients plus every closed snapshot the shell
keeps in ``server.closed``; the closed ones are absorbed into running totals
as they are first seen, so they survive the ring's eviction.

Intended differences: there is no system account ($SYS) and none of its
internal subscriptions, so subscription counts are lower than Go's and
``system_account`` is absent; ``feature_flags`` (Go JetStream internals),
``git_commit`` and Go-only runtime details are not reported; /stacksz shows
Python threads and asyncio tasks; /debug/vars only ``cmdline``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import posixpath
import re
import resource
import socket
import sys
import tempfile
import time
import traceback
from decimal import Decimal

from aiohttp import web

from natsd.protocol.gotime import go_duration, rfc3339nano
from natsd.server.log import logger
from natsd.subjects.validate import is_valid_literal_subject, tokens_match

__all__ = ["start", "dumps", "rfc3339", "go_duration", "my_uptime"]

GLOBAL_ACCOUNT = "$G"
DEFAULT_LIST_SIZE = 1024  # DefaultConnListSize / DefaultSubListSize
_NS = 1_000_000_000
_U64_MAX = 2**64 - 1

# ------------------------------------------------------------------ formatting


class _Raw(str):
    """Text placed into the JSON output as is (a pre-formatted number)."""


def _json_str(s: str) -> str:
    # encoding/json escapes <, >, & and the JS line separators (HTML safe).
    out = json.dumps(s, ensure_ascii=False)
    if any(ch in out for ch in "<>&\u2028\u2029"):
        out = (out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
               .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return out


def _json_float(f: float) -> str:
    # encoding/json floatEncoder: shortest digits, 'f' format unless the
    # magnitude is < 1e-6 or >= 1e21, exponent "e-07" shortened to "e-7".
    if f != f or f in (float("inf"), float("-inf")):
        return "0"
    a = abs(f)
    r = repr(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        if len(r) >= 4 and r[-4] == "e" and r[-3] == "-" and r[-2] == "0":
            r = r[:-2] + r[-1]
        return r
    if "e" in r:
        r = format(Decimal(r), "f")
    if r.endswith(".0"):
        r = r[:-2]
    return r


def _write(v, out: list[str], nl: str | None) -> None:
    if isinstance(v, _Raw):
        out.append(str(v))
    elif isinstance(v, str):
        out.append(_json_str(v))
    elif v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        out.append(_json_float(v))
    elif isinstance(v, dict):
        if not v:
            out.append("{}")
            return
        inner = None if nl is None else nl + "  "
        sep = ":" if nl is None else ": "
        out.append("{")
        for i, (k, x) in enumerate(v.items()):
            if i:
                out.append(",")
            if inner is not None:
                out.append(inner)
            out.append(_json_str(str(k)))
            out.append(sep)
            _write(x, out, inner)
        if nl is not None:
            out.append(nl)
        out.append("}")
    elif isinstance(v, (list, tuple)):
        if not v:
            out.append("[]")
            return
        inner = None if nl is None else nl + "  "
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            if inner is not None:
                out.append(inner)
            _write(x, out, inner)
        if nl is not None:
            out.append(nl)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(v).__name__}")


def dumps(v, *, indent: bool = True) -> str:
    """JSON as Go's json.MarshalIndent(v, "", "  ") (or json.Marshal)."""
    out: list[str] = []
    _write(v, out, "\n" if indent else None)
    return "".join(out)


def rfc3339(ns: int) -> str:
    """RFC3339Nano of a wall-clock time (never Go's zero time here: 0 is the epoch)."""
    return rfc3339nano(ns) if ns else "1970-01-01T00:00:00Z"


def my_uptime(ns: int) -> str:
    """monitor.go myUptime: whole seconds as "1y2d3h4m5s", leading zero units dropped."""
    tsecs = max(ns, 0) // _NS
    tmins, thrs = tsecs // 60, tsecs // 3600
    tdays = thrs // 24
    tyrs = tdays // 365
    if tyrs:
        return f"{tyrs}y{tdays % 365}d{thrs % 24}h{tmins % 60}m{tsecs % 60}s"
    if tdays:
        return f"{tdays}d{thrs % 24}h{tmins % 60}m{tsecs % 60}s"
    if thrs:
        return f"{thrs}h{tmins % 60}m{tsecs % 60}s"
    if tmins:
        return f"{tmins}m{tsecs % 60}s"
    return f"{tsecs}s"


def _rtt(ns: int) -> str:
    # client.go getRTT: truncated to microseconds between 1µs and 1ms.
    if 1000 < ns < 1_000_000:
        ns -= ns % 1000
    return go_duration(ns)


# ------------------------------------------------------------------ query params


class _BadRequest(Exception):
    """A 400 answer; the message is the plain-text body Go sends."""


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # close enough to Go's %q


def _bool(query, name: str) -> bool:
    s = query.get(name, "")
    if s == "":
        return False
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise _BadRequest(f"Error decoding boolean for '{name}': strconv.ParseBool: parsing {_q(s)}: invalid syntax")


def _int(query, name: str) -> int:
    s = query.get(name, "")
    if s == "":
        return 0
    if not re.fullmatch(r"[+-]?[0-9]+", s):
        raise _BadRequest(f"Error decoding int for '{name}': strconv.Atoi: parsing {_q(s)}: invalid syntax")
    v = int(s)
    if not -(2**63) <= v < 2**63:
        raise _BadRequest(f"Error decoding int for '{name}': strconv.Atoi: parsing {_q(s)}: value out of range")
    return v


def _uint(query, name: str) -> int:
    s = query.get(name, "")
    if s == "":
        return 0
    if not re.fullmatch(r"[0-9]+", s):
        raise _BadRequest(
            f"Error decoding uint64 for '{name}': strconv.ParseUint: parsing {_q(s)}: invalid syntax")
    v = int(s)
    if v > _U64_MAX:
        raise _BadRequest(
            f"Error decoding uint64 for '{name}': strconv.ParseUint: parsing {_q(s)}: value out of range")
    return v


def _subs(query) -> tuple[bool, bool]:
    # decodeSubs: "detail" (any case) or a boolean
    if query.get("subs", "").lower() == "detail":
        return False, True
    return _bool(query, "subs"), False


def _state(query) -> str:
    s = query.get("state", "")
    if s == "":
        return "open"
    low = s.lower()
    if low in ("open", "closed"):
        return low
    if low in ("any", "all"):
        return "any"
    raise _BadRequest(f"Error decoding state for {s}")


_SORTS = {"cid", "start", "subs", "pending", "msgs_to", "msgs_from", "bytes_to", "bytes_from",
          "last", "idle", "uptime", "stop", "reason", "rtt"}


def _page(items: list, offset: int, limit: int) -> list:
    lo = min(max(offset, 0), len(items))
    return items[lo: lo + min(limit, len(items) - lo)]


# ------------------------------------------------------------------ process stats


def _rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _sys_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _disk_available(path: str) -> int:
    # disk_avail.go: 75% of the space available in the store dir (1TB if unknown).
    p = path
    while p and not os.path.exists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    try:
        st = os.statvfs(p or "/")
        return st.f_bavail * st.f_frsize // 4 * 3
    except OSError:
        return 1024**4


def _tls_cert_not_after(path: str) -> int | None:
    try:
        from cryptography import x509

        with open(path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        return int(cert.not_valid_after_utc.timestamp()) * _NS
    except Exception:  # best effort, as the field is omitted when unknown
        return None


# OpenSSL names of TLS 1.2 suites -> the IANA names Go reports.
_CIPHERS = {
    "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}


def _peer_certs(tls_obj) -> list[dict] | None:
    # Go lists the verified chain; Python < 3.13 exposes only the peer's own cert.
    try:
        chain = getattr(tls_obj, "get_verified_chain", None)
        ders = [bytes(c) for c in chain()] if chain is not None else []  # DER, Python 3.13+
        if not ders:
            der = tls_obj.getpeercert(binary_form=True)
            ders = [der] if der else []
    except Exception:
        return None
    out = []
    for der in ders:
        entry: dict = {}
        try:
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization

            cert = x509.load_der_x509_certificate(der)
            entry["subject"] = cert.subject.rfc4514_string()
            spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
            entry["spki_sha256"] = hashlib.sha256(spki).hexdigest()
        except Exception:
            pass
        entry["cert_sha256"] = hashlib.sha256(der).hexdigest()
        out.append(entry)
    return out or None



def _tls_object(shell):
    # the shell's ssl.SSLObject (TLS runs through memory BIOs on the plain transport)
    return getattr(shell, "tls", None)


def _raw_auth_user(c) -> str:
    # client.go getRawAuthUser, also for servers without auth (CONNECT fields).
    if c.user:
        return c.user
    o = c.opts
    if o.nkey:
        return o.nkey
    if o.user:
        return o.user
    if o.jwt:
        return ""
    if o.auth_token:
        return "[REDACTED]"
    return ""


# ------------------------------------------------------------------ the server


_INDEX_LINKS = (
    ("General", "/varz"), ("JetStream", "/jsz"), ("Connections", "/connz"), ("Accounts", "/accountz"),
    ("Account Stats", "/accstatz"), ("Subscriptions", "/subsz"), ("Routes", "/routez"),
    ("LeafNodes", "/leafz"), ("Gateways", "/gatewayz"), ("Raft Groups", "/raftz"),
    ("Health Probe", "/healthz"), ("Expvar", "/debug/vars"),
)


def _normalize_base(p: str) -> str:
    # opts.go normalizeBasePath
    if not p:
        return "/"
    if not p.startswith("/"):
        p = "/" + p
    return posixpath.normpath(p).replace("//", "/")


def _join(base: str, p: str) -> str:
    # path.Join(base, p)
    return posixpath.normpath(base.rstrip("/") + p) if p != "/" else base


class _Monitor:
    def __init__(self, server) -> None:
        self.server = server
        self.req_stats: dict[str, int] = {}
        self._cpu_at = (time.monotonic(), _cpu_seconds())
        self._pcpu = 0.0
        self._closed_totals = [0, 0, 0, 0]  # in_msgs, in_bytes, out_msgs, out_bytes
        self._acc_totals: dict[str, list[int]] = {}
        self._js_config: dict | None = None
        self._cert_not_after = _tls_cert_not_after(server.opts.tls_cert) if server.opts.tls_cert else None
        self.base = _normalize_base(server.opts.http_base_path)
        handlers = {
            "/": self.root, "/varz": self.varz, "/connz": self.connz, "/routez": self.routez,
            "/gatewayz": self.gatewayz, "/leafz": self.leafz, "/subsz": self.subsz,
            "/subscriptionsz": self.subsz, "/stacksz": self.stacksz, "/accountz": self.accountz,
            "/accstatz": self.accstatz, "/jsz": self.jsz, "/healthz": self.healthz,
            "/ipqueuesz": self.ipqueuesz, "/raftz": self.raftz, "/debug/vars": self.expvar,
        }
        self.routes = {_join(self.base, p): h for p, h in handlers.items()}

    # -- plumbing ------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        h = self.routes.get(request.path)
        if h is None:
            return web.Response(status=404, text="404 page not found\n", charset="utf-8",
                                content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"})
        try:
            return h(request.query)
        except _BadRequest as e:
            return web.Response(status=400, text=str(e), content_type="text/plain", charset="utf-8")

    def count(self, path: str) -> None:
        self.req_stats[path] = self.req_stats.get(path, 0) + 1

    @staticmethod
    def _json(v, status: int = 200, indent: bool = True) -> web.Response:
        return web.Response(status=status, body=dumps(v, indent=indent).encode(),
                            content_type="application/json", headers={"Access-Control-Allow-Origin": "*"})

    @property
    def _now(self) -> int:
        return time.time_ns()

    def _accounts(self) -> list[str]:
        names = [GLOBAL_ACCOUNT]
        o = self.server.opts
        for ident in (*o.users, *o.nkeys):
            if ident.account and ident.account not in names:
                names.append(ident.account)
        for c in self.server.broker.clients.values():
            if c.account not in names:
                names.append(c.account)
        return names

    def _absorb_closed(self) -> None:
        # Newest snapshots are at the end of the ring: walk back to the first
        # one already counted (marked in the snapshot itself).
        fresh = []
        for snap in reversed(self.server.closed):
            if snap.get("_monitor_counted"):
                break
            fresh.append(snap)
        tot = self._closed_totals
        for snap in fresh:
            snap["_monitor_counted"] = True
            c = snap["client"]
            acc = self._acc_totals.setdefault(c.account, [0, 0, 0, 0])
            for i, v in enumerate((c.in_msgs, c.in_bytes, c.out_msgs, c.out_bytes)):
                tot[i] += v
                acc[i] += v

    def _sublist_stats(self) -> dict:
        sl = self.server.broker.sublist
        cache = getattr(sl, "_cache", {})
        tot = mx = 0
        for r in cache.values():
            n = len(r.psubs) + len(r.qsubs)
            tot += n
            mx = max(mx, n)
        return {
            "num_subscriptions": sl.count,
            "num_cache": len(cache),
            "num_inserts": sl.inserts,
            "num_removes": sl.removes,
            "num_matches": sl.matches,
            "cache_hit_rate": sl.cache_hits / sl.matches if sl.matches else 0,
            "max_fanout": mx,
            "avg_fanout": tot / len(cache) if tot else 0,
        }

    # -- / -------------------------------------------------------------------
    def root(self, query) -> web.Response:
        from natsd.server.app import SERVER_VERSION

        self.count("/")
        links = "\n".join(
            f'\t<a href=.{_join(self.base, p)}{" class=last" if p == "/debug/vars" else ""}>{label}'
            f'<span class="endpoint"> {p}</span></a>'
            for label, p in _INDEX_LINKS
        )
        html = f"""<html lang="en">
	<head>
	<link rel="shortcut icon" href="https://nats.io/favicon.ico">
	<style type="text/css">
		body {{ font-family: ui-sans-serif,system-ui,sans-serif; font-size: 18; margin-left: 32px }}
		a {{ display:block; margin-left: 7px; padding-bottom: 6px; color: rgb(72 72 92); text-decoration: none }}
		a:hover {{ font-weight: 600; color: rgb(59 50 202) }}
		a.help {{ display:inline; font-weight: 600; color: rgb(59 50 202); font-size: 20}}
		a.last {{ padding-bottom: 16px }}
		.endpoint {{ font-size: 12px; color: #999; font-family: monospace; display: none }}
		a:hover .endpoint {{ display: inline }}
	</style>
	</head>
	<body>
	<h2>natsd</h2>
	<a href=https://github.com/nats-io/nats-server class='version'>v{SERVER_VERSION}</a>
	<br/>
{links}
    <a href=https://docs.nats.io/running-a-nats-service/nats_admin/monitoring class="help">Help</a>
  </body>
</html>"""
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    # -- /varz ---------------------------------------------------------------
    def _cpu(self) -> float:
        # pse_linux.go samples once a second: percent of one core, one decimal.
        now, cpu = time.monotonic(), _cpu_seconds()
        t0, c0 = self._cpu_at
        if now - t0 >= 1.0:
            self._pcpu = int((cpu - c0) * 1000 / (now - t0)) / 10
            self._cpu_at = (now, cpu)
        return self._pcpu

    def _jetstream_config(self) -> dict:
        if self._js_config is None:
            o = self.server.opts
            store = os.path.join(o.store_dir or os.path.join(tempfile.gettempdir(), "nats"), "jetstream")
            max_mem = o.jetstream_max_memory
            if max_mem < 0:
                sysmem = _sys_memory()
                max_mem = sysmem // 4 * 3 if sysmem > 0 else 256 * 1024 * 1024
            max_store = o.jetstream_max_store if o.jetstream_max_store >= 0 else _disk_available(store)
            cfg = {"max_memory": max_mem, "max_storage": max_store, "store_dir": store,
                   "sync_interval": 120 * _NS}
            if o.jetstream_domain:
                cfg["domain"] = o.jetstream_domain
            cfg["strict"] = True
            self._js_config = cfg
        return dict(self._js_config)

    @staticmethod
    def _js_stats(accounts: int, level: int) -> dict:
        return {"memory": 0, "storage": 0, "reserved_memory": 0, "reserved_storage": 0,
                "accounts": accounts, "ha_assets": 0, "api": {"level": level, "total": 0, "errors": 0}}

    def varz(self, query) -> web.Response:
        from natsd.server.app import JS_API_LEVEL

        self.count("/varz")
        srv = self.server
        o = srv.opts
        broker = srv.broker
        info = broker.info
        broker.fold_stats()
        self._absorb_closed()
        in_msgs, in_bytes, out_msgs, out_bytes = self._closed_totals
        for c in broker.clients.values():
            in_msgs += c.in_msgs
            in_bytes += c.in_bytes
            out_msgs += c.out_msgs
            out_bytes += c.out_bytes
        now = self._now
        v: dict = {
            "server_id": srv.server_id,
            "server_name": srv.server_name,
            "version": info.get("version", ""),
            "proto": info.get("proto", 1),
            "go": info.get("go", ""),
            "host": info.get("host", o.host),
            "port": srv.port,
        }
        for k in ("auth_required", "tls_required", "tls_verify"):
            if info.get(k):
                v[k] = True
        v["max_connections"] = o.max_connections
        if o.max_subscriptions:
            v["max_subscriptions"] = o.max_subscriptions
        js: dict = {}
        if o.jetstream:
            js = {"config": self._jetstream_config(), "stats": self._js_stats(1, JS_API_LEVEL),
                  "limits": {"default_max_consumers": 1000}}
        v.update({
            "ping_interval": o.ping_interval,
            "ping_max": o.max_pings_out,
            "http_host": o.http_host or o.host,
            "http_port": srv.http_port,
            "http_base_path": o.http_base_path,
            "https_port": o.https_port,
            "auth_timeout": float(o.auth_timeout),
            "max_control_line": o.max_control_line,
            "max_payload": o.max_payload,
            "max_pending": o.max_pending,
            "cluster": {},
            "gateway": {},
            "leaf": {},
            "mqtt": {},
            "websocket": {},
            "jetstream": js,
            "tls_timeout": float(o.tls_timeout),
            "write_deadline": o.write_deadline,
            "start": rfc3339(srv.start_time_ns),
            "now": rfc3339(now),
            "uptime": my_uptime(now - srv.start_time_ns),
            "mem": _rss(),
            "cores": _cores(),
            "gomaxprocs": _cores(),
            "cpu": self._cpu(),
            "connections": len(broker.clients),
            "total_connections": broker.total_connections,
            "routes": 0,
            "remotes": 0,
            "leafnodes": 0,
            "in_msgs": in_msgs,
            "in_bytes": in_bytes,
            "in_client_msgs": in_msgs,
            "in_client_bytes": in_bytes,
            "out_msgs": out_msgs,
            "out_bytes": out_bytes,
            "out_client_msgs": out_msgs,
            "out_client_bytes": out_bytes,
            "slow_consumers": srv.slow_consumers,
            "stale_connections": srv.stale_connections,
            "stalled_clients": 0,
            "subscriptions": broker.sublist.count,
            "http_req_stats": dict(sorted(self.req_stats.items())),
            "config_load_time": rfc3339(srv.start_time_ns),
            "config_digest": "",
        })
        sys_acc = getattr(srv, "system_account", None)
        if sys_acc:
            v["system_account"] = sys_acc
        v["slow_consumer_stats"] = {"clients": srv.slow_consumers, "routes": 0, "gateways": 0, "leafs": 0}
        v["stale_connection_stats"] = {"clients": srv.stale_connections, "routes": 0, "gateways": 0,
                                       "leafs": 0}
        v["disk_io_wait_stats"] = {"waiters": 0, "waits": 0, "wait_time": 0, "max_wait_time": 0}
        if self._cert_not_after:
            v["tls_cert_not_after"] = rfc3339(self._cert_not_after)
        return self._json(v)

    # -- /connz --------------------------------------------------------------
    def connz(self, query) -> web.Response:
        sort = query.get("sort", "")
        auth = _bool(query, "auth")
        subs, subs_det = _subs(query)
        offset = _int(query, "offset")
        limit = _int(query, "limit")
        cid = _uint(query, "cid")
        state = _state(query)
        user = query.get("user", "")
        acc = query.get("acc", "")
        self.count("/connz")
        return self._json(self._connz(sort, auth, subs, subs_det, offset, limit, cid, state, user, acc))

    def _connz(self, sort, auth, subs, subs_det, offset, limit, cid, state, user, acc) -> dict:
        if sort and sort not in _SORTS:
            raise _BadRequest(f"invalid sorting option: {sort}")
        sort = sort or "cid"
        offset = max(offset, 0)
        if limit <= 0:
            limit = DEFAULT_LIST_SIZE
        if sort in ("stop", "reason") and state != "closed":
            raise _BadRequest(f"sort by {sort} only valid on closed connections")
        if cid > 0:
            limit = 1
        srv = self.server
        broker = srv.broker
        now = self._now
        out = {"server_id": srv.server_id, "now": rfc3339(now), "num_connections": 0, "total": 0,
               "offset": offset, "limit": limit, "connections": []}
        if acc and acc not in self._accounts():
            # Go answers before filling in the server id, with a null list.
            out["server_id"] = ""
            out["connections"] = None
            return out
        broker.fold_stats()
        clist = [c for c in broker.clients.values() if not acc or c.account == acc]
        closed = []
        total = 0
        if state in ("open", "any"):
            total += len(clist)
        if state in ("closed", "any"):
            closed = list(srv.closed)
            total += len(closed)
            if acc:
                # closed clients keep an account name only when it is not $G
                kept = [s for s in closed if s["client"].account != GLOBAL_ACCOUNT
                        and s["client"].account == acc]
                total -= len(closed) - len(kept)
                closed = kept
        out["total"] = total
        opened = []
        if cid > 0:
            c = broker.clients.get(cid) if state in ("open", "any") else None
            if c is not None:
                opened, closed = [c], []
            else:
                closed = [s for s in closed if s["client"].cid == cid][:1]
        elif state in ("open", "any"):
            opened = [c for c in clist if not user or _raw_auth_user(c) == user]
        if user:
            closed = [s for s in closed if _raw_auth_user(s["client"]) == user]
        rows = [self._row(c, None, now) for c in opened] + [self._row(s["client"], s, now) for s in closed]
        rows = _sort_rows(rows, sort, now)
        page = _page(rows, offset, limit)
        out["connections"] = [self._conn_info(r, now, auth, subs, subs_det) for r in page]
        out["num_connections"] = len(page)
        return out

    @staticmethod
    def _row(c, snap: dict | None, now: int) -> dict:
        if snap is None:
            shell = c.shell
            pending = len(c.out)
            t = getattr(shell, "transport", None)
            if t is not None:
                with contextlib.suppress(Exception):
                    pending += t.get_write_buffer_size()
            subs = list(c.subs.values())
        else:
            pending = 0
            subs = list(snap.get("subs") or ())
        return {"c": c, "snap": snap, "cid": c.cid, "pending": pending, "subs": subs,
                "stop": snap["stop"] if snap else None, "reason": snap["reason"] if snap else "",
                "start": c.start, "last": c.last_activity, "rtt": c.rtt}

    def _conn_info(self, r: dict, now: int, auth: bool, subs: bool, subs_det: bool) -> dict:
        c = r["c"]
        snap = r["snap"]
        ref = r["stop"] if snap else now
        d: dict = {"cid": c.cid, "kind": "Client", "type": "nats",
                   "ip": c.ip if c.port else "", "port": c.port if c.port else 0,
                   "start": rfc3339(c.start), "last_activity": rfc3339(c.last_activity)}
        if snap:
            d["stop"] = rfc3339(snap["stop"])
            if snap["reason"]:
                d["reason"] = snap["reason"]
        d.update({
            "rtt": _rtt(c.rtt),
            "uptime": my_uptime(ref - c.start),
            "idle": my_uptime(ref - c.last_activity),
            "pending_bytes": r["pending"],
            "in_msgs": c.in_msgs,
            "out_msgs": c.out_msgs,
            "in_bytes": c.in_bytes,
            "out_bytes": c.out_bytes,
            "subscriptions": len(r["subs"]),
        })
        o = c.opts
        for k, val in (("name", o.name), ("lang", o.lang), ("version", o.version)):
            if val:
                d[k] = val
        tls_obj = _tls_object(c.shell) if c.tls else None
        if tls_obj is not None:
            with contextlib.suppress(Exception):
                ver = tls_obj.version() or ""
                d["tls_version"] = ver[4:] if ver.startswith("TLSv") else ver
                name = tls_obj.cipher()[0]
                d["tls_cipher_suite"] = _CIPHERS.get(name, name)
            if auth:
                certs = _peer_certs(tls_obj)
                if certs:
                    d["tls_peer_certs"] = certs
        non_global = c.account if c.account != GLOBAL_ACCOUNT else ""
        if auth:
            au = _raw_auth_user(c)
            if au:
                d["authorized_user"] = au
            if non_global:
                d["account"] = non_global
        sl = r["subs"]
        if sl:
            if subs_det:
                d["subscriptions_list_detail"] = [_sub_detail(s, c, with_account=snap is not None)
                                                  for s in sl]
            elif subs:
                d["subscriptions_list"] = [s if isinstance(s, str) else s.subject for s in sl]
        if auth and (snap is None or non_global):
            d["name_tag"] = c.account
        return d

    # -- /subsz --------------------------------------------------------------
    def subsz(self, query) -> web.Response:
        self.count("/subsz")
        detail = _bool(query, "subs")
        offset = max(_int(query, "offset"), 0)
        limit = _int(query, "limit")
        if limit <= 0:
            limit = DEFAULT_LIST_SIZE
        test = query.get("test", "")
        acc = query.get("acc", "")
        if test and not is_valid_literal_subject(test):
            raise _BadRequest(f"invalid test subject, must be valid publish subject: {test}")
        srv = self.server
        srv.broker.fold_stats()
        known = not acc or acc in self._accounts()
        stats = self._sublist_stats() if known else {
            "num_subscriptions": 0, "num_cache": 0, "num_inserts": 0, "num_removes": 0,
            "num_matches": 0, "cache_hit_rate": 0, "max_fanout": 0, "avg_fanout": 0}
        out: dict = {"server_id": srv.server_id, "now": rfc3339(self._now)}
        out.update(stats)
        out.update({"total": 0, "offset": offset, "limit": limit})
        if detail:
            toks = test.split(".") if test else None
            details = []
            for sub in srv.broker.sublist.all_subs() if known else ():
                c = sub.client
                if c is None or (acc and getattr(c, "account", GLOBAL_ACCOUNT) != acc):
                    continue
                if toks is not None and not tokens_match(toks, sub.subject.split(".")):
                    continue
                details.append(_sub_detail(sub, c, with_account=True))
            out["total"] = len(details)
            page = _page(details, offset, limit)
            if page:
                out["subscriptions_list"] = page
        return self._json(out)

    # -- clustering endpoints: nothing configured ----------------------------
    def routez(self, query) -> web.Response:
        _subs(query)
        self.count("/routez")
        srv = self.server
        return self._json({"server_id": srv.server_id, "server_name": srv.server_name,
                           "now": rfc3339(self._now), "num_routes": 0, "routes": []})

    def gatewayz(self, query) -> web.Response:
        self.count("/gatewayz")
        _subs(query)
        _bool(query, "accs")
        return self._json({"server_id": self.server.server_id, "now": rfc3339(self._now),
                           "outbound_gateways": {}, "inbound_gateways": {}})

    def leafz(self, query) -> web.Response:
        self.count("/leafz")
        _bool(query, "subs")
        return self._json({"server_id": self.server.server_id, "now": rfc3339(self._now),
                           "leafnodes": 0, "leafs": []})

    def raftz(self, query) -> web.Response:
        return web.Response(status=404, text="No Raft nodes registered", content_type="text/plain",
                            charset="utf-8")

    def ipqueuesz(self, query) -> web.Response:
        return self._json({})

    # -- accounts ------------------------------------------------------------
    def accountz(self, query) -> web.Response:
        self.count("/accountz")
        srv = self.server
        out: dict = {"server_id": srv.server_id, "now": rfc3339(self._now)}
        sys_acc = getattr(srv, "system_account", None)
        if sys_acc:
            out["system_account"] = sys_acc
        name = query.get("acc", "")
        if not name:
            out["accounts"] = self._accounts()
            return self._json(out)
        if name not in self._accounts():
            raise _BadRequest(f"Account {name} does not exist")
        clients = [c for c in srv.broker.clients.values() if c.account == name]
        nsubs = sum(len(c.subs) for c in clients)
        stats = self._sublist_stats()
        if len(self._accounts()) > 1:
            stats["num_subscriptions"] = nsubs
        out["account_detail"] = {
            "account_name": name,
            "update_time": rfc3339(srv.start_time_ns),
            "expired": False,
            "complete": True,
            "jetstream_enabled": bool(srv.opts.jetstream),
            "leafnode_connections": 0,
            "client_connections": len(clients),
            "subscriptions": nsubs,
            "name_tag": name,
            "sublist_stats": stats,
        }
        return self._json(out)

    def accstatz(self, query) -> web.Response:
        self.count("/accstatz")
        unused = _bool(query, "unused")
        srv = self.server
        srv.broker.fold_stats()
        self._absorb_closed()
        stats = []
        for name in self._accounts():
            clients = [c for c in srv.broker.clients.values() if c.account == name]
            if not clients and not unused:
                continue
            t = list(self._acc_totals.get(name, (0, 0, 0, 0)))
            for c in clients:
                t[0] += c.in_msgs
                t[1] += c.in_bytes
                t[2] += c.out_msgs
                t[3] += c.out_bytes

            def data(msgs: int, nbytes: int) -> dict:
                zero = {"msgs": 0, "bytes": 0}
                return {"msgs": msgs, "bytes": nbytes, "gateways": dict(zero), "routes": dict(zero),
                        "leafs": dict(zero)}

            stats.append({
                "acc": name, "name": name, "conns": len(clients), "leafnodes": 0,
                "total_conns": len(clients), "num_subscriptions": sum(len(c.subs) for c in clients),
                "sent": data(t[2], t[3]), "received": data(t[0], t[1]), "slow_consumers": 0,
            })
        return self._json({"server_id": srv.server_id, "now": rfc3339(self._now), "account_statz": stats})

    # -- /jsz ----------------------------------------------------------------
    def jsz(self, query) -> web.Response:
        from natsd.server.app import JS_API_LEVEL

        self.count("/jsz")
        accounts = _bool(query, "accounts")
        streams = _bool(query, "streams")
        consumers = _bool(query, "consumers")
        _bool(query, "direct-consumers")
        _bool(query, "config")
        offset = _int(query, "offset")
        limit = _int(query, "limit")
        leader_only = _bool(query, "leader-only")
        _bool(query, "raft")
        _bool(query, "stream-leader-only")
        acc = query.get("acc", "")
        srv = self.server
        if limit == 0:
            limit = 1024
        if consumers:
            streams = True
        if streams and not acc:
            accounts = True
        enabled = bool(srv.opts.jetstream)
        out = self._js_stats(1 if enabled else 0, JS_API_LEVEL if enabled else 0)
        out.update({"server_id": srv.server_id, "now": rfc3339(self._now)})
        if not enabled:
            if leader_only:
                raise _BadRequest("filtered response: not leader")
            out.update({"disabled": True, "config": {"max_memory": 0, "max_storage": 0},
                        "streams": 0, "consumers": 0, "messages": 0, "bytes": 0, "total": 0})
            return self._json(out)
        out.update({"config": self._jetstream_config(), "limits": {"default_max_consumers": 1000},
                    "streams": 0, "consumers": 0, "messages": 0, "bytes": 0})
        js_accounts = [GLOBAL_ACCOUNT]
        if acc in js_accounts:
            chosen = [acc]
        elif accounts and limit > 0:
            chosen = _page(sorted(js_accounts), max(offset, 0), limit)
        else:
            chosen = []
        if chosen:
            out["account_details"] = [
                {"name": a, "id": a, "memory": 0, "storage": 0, "reserved_memory": _U64_MAX,
                 "reserved_storage": _U64_MAX, "accounts": 0, "ha_assets": 0,
                 "api": {"level": 0, "total": 0, "errors": 0}} for a in chosen
            ]
        out["total"] = len(js_accounts)
        return self._json(out)

    # -- /healthz --------------------------------------------------------------
    def healthz(self, query) -> web.Response:
        self.count("/healthz")
        js_flags = {p: _bool(query, p) for p in ("js-enabled", "js-enabled-only", "js-server-only", "js-meta-only")}
        details = _bool(query, "details")
        account, stream, consumer = query.get("account", ""), query.get("stream", ""), query.get("consumer", "")
        err = ""
        if not account and stream:
            err = '"account" must not be empty when checking stream health'
        elif not stream and consumer:
            err = '"stream" must not be empty when checking consumer health'
        if not err:
            js = getattr(self.server, "jetstream", None)
            if js is None or js_flags["js-server-only"] or js_flags["js-enabled-only"] or js_flags["js-enabled"]:
                return self._json({"status": "ok"}, indent=False)
            from natsd.jetstream import health  # Go healthz: stream recovery and write errors

            code, body = health.check(js, account=account, stream=stream, consumer=consumer, details=details)
            return self._json(body, status=code, indent=False)
        if details:
            body = {"status": "error", "errors": [{"type": "BAD_REQUEST", "error": err}]}
        else:
            body = {"status": "error", "error": err}
        return self._json(body, status=400, indent=False)

    # -- debugging -------------------------------------------------------------
    def stacksz(self, query) -> web.Response:
        parts = []
        for tid, frame in sys._current_frames().items():
            parts.append(f"thread {tid}:\n" + "".join(traceback.format_stack(frame)))
        with contextlib.suppress(RuntimeError):
            for task in asyncio.all_tasks():
                stack = task.get_stack()
                lines = "".join(traceback.format_list(traceback.extract_stack(stack[-1]))) if stack else ""
                parts.append(f"task {task.get_name()} [{task.get_coro()!r}]:\n{lines}")
        return web.Response(body="\n".join(parts).encode(), content_type="application/json",
                            headers={"Access-Control-Allow-Origin": "*"})

    def expvar(self, query) -> web.Response:
        argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
        body = "{\n" + '"cmdline": ' + dumps(list(argv), indent=False) + "\n}\n"
        return web.Response(body=body.encode(), content_type="application/json", charset="utf-8")


def _sub_detail(sub, c, *, with_account: bool) -> dict:
    """SubDetail: under /subsz and closed connections with account, else without."""
    d: dict = {}
    if with_account:
        acc = getattr(c, "account", GLOBAL_ACCOUNT)
        d["account"] = acc
        d["account_tag"] = acc
    if isinstance(sub, str):  # a closed connection that kept subjects only
        d.update({"subject": sub, "sid": "", "msgs": 0, "cid": c.cid})
        return d
    d["subject"] = sub.subject
    if sub.queue:
        d["qgroup"] = sub.queue
    sid = sub.sid
    d["sid"] = sid.decode("latin-1") if isinstance(sid, bytes) else str(sid)
    d["msgs"] = sub.nm
    if sub.max:
        d["max"] = sub.max
    d["cid"] = c.cid
    return d


def _sort_rows(rows: list[dict], sort: str, now: int) -> list[dict]:
    """Connz ordering: by cid ascending, uptime and reason ascending, the rest descending."""
    if sort in ("cid", "start"):
        return sorted(rows, key=lambda r: r["cid"])
    if sort == "uptime":
        return sorted(rows, key=lambda r: (r["stop"] or now) - r["start"])
    if sort == "reason":
        return sorted(rows, key=lambda r: r["reason"])
    key = {
        "subs": lambda r: len(r["subs"]),
        "pending": lambda r: r["pending"],
        "msgs_to": lambda r: r["c"].out_msgs,
        "msgs_from": lambda r: r["c"].in_msgs,
        "bytes_to": lambda r: r["c"].out_bytes,
        "bytes_from": lambda r: r["c"].in_bytes,
        "last": lambda r: r["last"],
        "idle": lambda r: now - r["last"],
        "stop": lambda r: r["stop"] or 0,
        "rtt": lambda r: r["rtt"],
    }[sort]
    return sorted(rows, key=key, reverse=True)


def _listen_socket(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, addr = infos[0]
    if not host:
        for fam, _, _, _, a in infos:
            if fam == socket.AF_INET:
                family, addr = fam, a
                break
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def start(server) -> web.AppRunner:
    """Start the monitoring listener for ``server``; returns the runner to clean up."""
    o = server.opts
    host = o.http_host or o.host
    port = o.http_port if o.http_port > 0 else 0  # -1 (RANDOM_PORT) and 0: ephemeral
    mon = _Monitor(server)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", mon.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        sock = _listen_socket(host, port)
    except OSError as e:
        await runner.cleanup()
        raise OSError(e.errno, f"can't listen to the monitor port: {e}") from e
    site = web.SockSite(runner, sock)
    await site.start()
    bound = sock.getsockname()[1]
    server.http_port = bound
    server.http_req_stats = mon.req_stats
    server.monitor_state = mon
    shown = f"[{host}]" if ":" in host else host
    logger.info("Starting http monitor on %s:%d", shown, bound)
    return runner
