"""The ``natsd`` command line (mirrors nats-server main.go and server/opts.go:
ConfigureOptions, processConfigFileLine, MergeOptions, setBaselineOptions).

Flags follow Go's ``flag`` package: ``-p 4222``, ``--p=4222``, ``-js``, ``-DV``,
``-T=false``; boolean flags never take a separate argument, and parsing stops at the
first non-flag argument (only ``version`` and ``help`` are accepted there).

Precedence, as in nats-server: defaults, then the config file, then every flag that was
given on the command line (Go re-runs flag parsing after reading the file).

Where natsd differs on purpose:

- ``-js`` with no store directory uses ``./natsd-store`` (Go picks a temp dir).
- ``--max_payload`` (sizes like ``1MB``) is a natsd extension.
- A bad flag exits with status 2; nats-server prints usage and exits 0.
- ``-sd`` together with a config ``store_dir`` is not a duplicate error.
- Cluster, gateway, leafnode, account and other Go-only settings are accepted and
  ignored with a warning rather than served.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from natsd import __version__
from natsd.server.conf import ConfigError, ConfigMap, parse_duration, parse_file, parse_size
from natsd.server.options import NkeyUser, Options, Permissions, SubjectPermission, User
from natsd.subjects.validate import is_valid_subject

__all__ = [
    "main",
    "parse_args",
    "options_from_config",
    "UsageError",
    "CommandLineError",
    "HelpRequested",
    "VersionRequested",
    "DEFAULT_STORE_DIR",
    "USAGE",
]

DEFAULT_STORE_DIR = "./natsd-store"
_DEFAULT_HOST = "0.0.0.0"
_DEFAULT_PORT = 4222
_SEC = 1_000_000_000
_DEFAULT_PING_INTERVAL = 2 * 60 * _SEC
_DEFAULT_PING_MAX = 2
_DEFAULT_TLS_TIMEOUT = 2.0
_DEFAULT_AUTH_TIMEOUT = 2.0
_INT32_MAX = (1 << 31) - 1

USAGE = """
Usage: natsd [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
        --client_advertise <string>  Client URL to advertise to other servers
        --max_payload <size>         Maximum message payload, e.g. 1MB (default: 1MB)

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
        --logtime_utc                Timestamps in UTC instead of local timezone (default: false)
    -s, --syslog                     Log to syslog or windows event log
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (traces system account as well)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (traces system account as well)

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory (default: ./natsd-store)

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
"""


class UsageError(Exception):
    """A malformed command line (unknown flag, bad value): print usage, exit 2."""


class CommandLineError(Exception):
    """A well-formed command line that cannot be honoured: exit 1."""


class HelpRequested(Exception):
    """-h / --help / ``help``: print usage, exit 0."""


class VersionRequested(Exception):
    """-v / --version / ``version``: print the version, exit 0."""


# ---- flags ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Flag:
    kind: str  # "bool", "int", "str" or "size"
    dest: str  # an Options field, or "_name" for flags handled here


_FLAGS: dict[str, _Flag] = {}


def _define(kind: str, dest: str, *names: str) -> None:
    for name in names:
        _FLAGS[name] = _Flag(kind, dest)


_define("bool", "_help", "h", "help")
_define("bool", "_version", "v", "version")
_define("bool", "_help_tls", "help_tls")
_define("int", "port", "p", "port")
_define("str", "server_name", "n", "name", "server_name")
_define("str", "host", "a", "addr", "net")
_define("str", "client_advertise", "client_advertise")
_define("int", "http_port", "m", "http_port")
_define("int", "https_port", "ms", "https_port")
_define("str", "config_file", "c", "config")
_define("bool", "check_config", "t")
_define("str", "_signal", "sl", "signal")
_define("str", "pid_file", "P", "pid")
_define("str", "log_file", "l", "log")
_define("bool", "logtime", "T", "logtime")
_define("bool", "logtime_utc", "logtime_utc")
_define("bool", "syslog", "s", "syslog")
_define("bool", "debug", "D", "debug")
_define("bool", "trace", "V", "trace")
_define("bool", "_VV", "VV")
_define("bool", "_DV", "DV")
_define("bool", "_DVV", "DVV")
_define("bool", "jetstream", "js", "jetstream")
_define("str", "store_dir", "sd", "store_dir")
_define("str", "username", "user")
_define("str", "password", "pass")
_define("str", "authorization", "auth")
_define("bool", "_tls", "tls")
_define("bool", "tls_verify", "tlsverify")
_define("str", "tls_cert", "tlscert")
_define("str", "tls_key", "tlskey")
_define("str", "tls_ca_cert", "tlscacert")
_define("size", "max_payload", "max_payload")
# nats-server flags natsd accepts but does not act on.
_define(
    "str",
    "_ignored",
    "r",
    "remote_syslog",
    "ports_file_dir",
    "routes",
    "cluster",
    "cluster_listen",
    "cluster_advertise",
    "cluster_name",
)
_define("int", "_ignored", "log_size_limit", "max_traced_msg_len", "profile", "connect_retries")
_define("bool", "_ignored", "no_advertise")

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # Go strconv.ParseBool
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _go_int(text: str) -> int:
    """Go strconv.ParseInt(text, 0, 64): 0x/0o/0b prefixes, and a leading 0 means octal."""
    sign, body = ("", text) if text[:1] not in ("+", "-") else (text[0], text[1:])
    if body.strip() != body:
        raise ValueError("parse error")
    if len(body) > 1 and body[0] == "0" and body[1] in "01234567_":
        body = "0o" + body[1:]
    value = int(sign + body, 0)
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError("value out of range")
    return value


def _convert(flag: _Flag, name: str, value: str) -> Any:
    try:
        if flag.kind == "int":
            return _go_int(value)
        if flag.kind == "size":
            return parse_size(value)
        return value
    except ValueError:
        raise UsageError(f'invalid value "{value}" for flag -{name}: parse error') from None


def _scan(argv: list[str]) -> tuple[list[tuple[str, _Flag, Any]], list[str]]:
    """Go flag.Parse: the flags given, in order, and the arguments left over."""
    given: list[tuple[str, _Flag, Any]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if len(arg) < 2 or arg[0] != "-":
            break
        if arg == "--":
            i += 1
            break
        name = arg[2:] if arg[1] == "-" else arg[1:]
        if not name or name[0] in "-=":
            raise UsageError(f"bad flag syntax: {arg}")
        i += 1
        value: str | None = None
        if "=" in name:
            name, value = name.split("=", 1)
        flag = _FLAGS.get(name)
        if flag is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        if flag.kind == "bool":
            # A boolean flag only takes a value through '=': "-js true" is -js then "true".
            if value is None or value in _TRUE:
                parsed: Any = True
            elif value in _FALSE:
                parsed = False
            else:
                raise UsageError(f'invalid boolean value "{value}" for -{name}: parse error')
        else:
            if value is None:
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: -{name}")
                value = argv[i]  # taken even when it starts with '-', as Go does
                i += 1
            parsed = _convert(flag, name, value)
        given.append((name, flag, parsed))
    return given, argv[i:]


def parse_args(argv: list[str], *, warnings: list[str] | None = None) -> Options:
    """Build Options from a command line (and the config file it names).

    Raises HelpRequested / VersionRequested for -h / -v, UsageError for a malformed
    command line, CommandLineError or ConfigError when it cannot be honoured.
    Warnings (ignored settings) are appended to ``warnings`` when given."""
    notes: list[str] = warnings if warnings is not None else []
    given, rest = _scan(list(argv))
    last = {flag.dest: value for _, flag, value in given}
    if last.get("_version"):
        raise VersionRequested()
    if last.get("_help") or last.get("_help_tls"):
        raise HelpRequested()
    if rest:
        command = rest[0].lower()
        if command == "version":
            raise VersionRequested()
        if command == "help":
            raise HelpRequested()
        raise CommandLineError(f'unrecognized command: "{rest[0]}"')
    if last.get("_signal"):
        raise CommandLineError("sending signals (-sl) is not supported by natsd; use kill(1)")
    for name, flag, _ in given:
        if flag.dest == "_ignored":
            notes.append(f"natsd: flag -{name} is not supported by natsd; ignored")

    opts = Options()
    timeout_configured = False
    config_file = last.get("config_file", "")
    if config_file:
        opts, timeout_configured = _load_config(parse_file(config_file), opts, notes)
        opts.config_file = config_file
    elif last.get("check_config"):
        raise CommandLineError("must specify [-c, --config] option to check configuration file syntax")

    _apply_flags(opts, given)
    _apply_tls_flags(opts, given)
    if opts.tls_cert and not timeout_configured:
        opts.auth_timeout = 0.0  # Go: a TLS server allows tls_timeout + 1 (set by the baseline)
    _baseline(opts)
    if opts.jetstream and not opts.store_dir:
        opts.store_dir = DEFAULT_STORE_DIR
    return opts


def _apply_flags(opts: Options, given: list[tuple[str, _Flag, Any]]) -> None:
    for _, flag, value in given:
        dest = flag.dest
        if dest == "_DV":
            opts.debug = opts.trace = value
        elif dest == "_VV":
            opts.trace = opts.trace_verbose = value
        elif dest == "_DVV":
            opts.debug = opts.trace = opts.trace_verbose = value
        elif not dest.startswith("_"):
            setattr(opts, dest, value)


def _apply_tls_flags(opts: Options, given: list[tuple[str, _Flag, Any]]) -> None:
    names = {name for name, _, _ in given if name.startswith("tls")}
    if not names:
        return
    if "tls" in names and not next(v for n, _, v in reversed(given) if n == "tls"):
        # -tls=false turns TLS off, whatever the config file or other flags say.
        opts.tls_cert = opts.tls_key = opts.tls_ca_cert = ""
        opts.tls_verify = False
        return
    if not opts.tls_cert:
        raise CommandLineError("TLS Server certificate must be present and valid")
    if not opts.tls_key:
        raise CommandLineError("TLS Server private key must be present and valid")


def _baseline(opts: Options) -> None:
    """Go setBaselineOptions: zero means "the default"; port -1 means "any free port"."""
    if not opts.host:
        opts.host = _DEFAULT_HOST
    if opts.port == 0:
        opts.port = _DEFAULT_PORT
    elif opts.port == -1:
        opts.port = 0
    if opts.ping_interval == 0:
        opts.ping_interval = _DEFAULT_PING_INTERVAL
    if opts.max_pings_out == 0:
        opts.max_pings_out = _DEFAULT_PING_MAX
    if opts.tls_timeout == 0:
        opts.tls_timeout = _DEFAULT_TLS_TIMEOUT
    if opts.auth_timeout == 0:
        opts.auth_timeout = opts.tls_timeout + 1.0 if opts.tls_cert else _DEFAULT_AUTH_TIMEOUT


# ---- config file -> Options -------------------------------------------------------------

# Settings nats-server knows that natsd does not serve: accepted with a warning.
_GO_ONLY_TOP = frozenset(
    """trace_headers mappings maps disable_sublist_cache no_sublist_cache default_sentinel accounts
    cluster gateway leaf leafnodes logfile_size_limit log_size_limit logfile_max_num log_max_num
    remote_syslog ports_file_dir prof_port prof_block_rate proxy_protocol max_traced_msg_len
    max_sub_tokens max_subscription_tokens ocsp allow_non_tls write_timeout operator operators roots
    root root_operators root_operator resolver account_resolver accounts_resolver resolver_tls
    resolver_preload resolver_pinned_accounts system_account system no_system_account no_system
    no_sys_acc no_header_support trusted trusted_keys connect_error_reports reconnect_error_reports
    websocket ws mqtt server_tags server_metadata feature_flags default_js_domain ocsp_cache
    no_fast_producer_stall max_closed_clients proxies""".split()
)
_GO_ONLY_TLS = frozenset(
    """insecure allow_insecure_cipher_suites cipher_suites curve_preferences connection_rate_limit
    pinned_certs cert_store cert_match_by cert_match ca_certs_match handshake_first first immediate
    cert_match_skip_invalid ocsp_peer certs certificates min_version
    verify_cert_and_check_known_urls""".split()
)
_GO_ONLY_JS = frozenset(
    """strict sync prev_key prev_ek prev_encryption_key
    extension_hint limits tpm unique_tag max_outstanding_catchup max_buffered_size max_buffered_msgs
    request_queue_limit info_queue_limit meta_compact meta_compact_size meta_compact_sync
    max_concurrent_io""".split()
)
_GO_ONLY_AUTH = frozenset({"auth_callout", "auth_hook", "proxy_required"})
_GO_ONLY_USER = frozenset({"allowed_connection_types", "connection_types", "clients", "proxy_required"})


class _Mismatch(ValueError):
    """A value of the wrong type (Go reports these as interface conversion panics)."""


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "map"
    if isinstance(v, list):
        return "array"
    return type(v).__name__


def _str(v: Any) -> str:
    if isinstance(v, str):
        return v
    raise _Mismatch(f"expected a string, got {_kind(v)}")


def _int(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    raise _Mismatch(f"expected an integer, got {_kind(v)}")


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise _Mismatch(f"expected a boolean, got {_kind(v)}")


def _map(v: Any) -> Mapping[str, Any]:
    if isinstance(v, Mapping):
        return v
    raise _Mismatch(f"expected a map, got {_kind(v)}")


def _seconds(v: Any) -> float:
    """A timeout in seconds: a number, or a duration string ("500ms")."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        return parse_duration(v) / _SEC
    raise _Mismatch(f"expected seconds or a duration, got {_kind(v)}")


def _storage_size(v: Any) -> int:
    """opts.go getStorageSize: an int, or a string ending in K/M/G/T (powers of 1024).
    Other size strings ("1GB", "512MiB") are accepted as well."""
    if isinstance(v, str):
        if v == "":
            return 0
        if v[-1] in "KMGT" and v[:-1].lstrip("-").isdigit():
            return int(v[:-1]) << {"K": 10, "M": 20, "G": 30, "T": 40}[v[-1]]
        try:
            return parse_size(v)
        except ValueError:
            raise ValueError("sizes defined as strings must end in K, M, G, T") from None
    return _int(v)


def _fmt_seconds(ns: int) -> str:
    return f"{ns / _SEC:g}s"


def _split_host_port(text: str) -> tuple[str, str]:
    """Go net.SplitHostPort."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise ValueError
        return text[1:end], text[end + 2 :]
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        raise ValueError
    return host, port


def _listen(v: Any) -> tuple[str, int]:
    """opts.go parseListen: a port, or "host:port"."""
    if isinstance(v, int) and not isinstance(v, bool):
        return "", v
    if isinstance(v, str):
        try:
            host, port = _split_host_port(v)
        except ValueError:
            raise ValueError(f'could not parse address string "{v}"') from None
        try:
            return host, int(port)
        except ValueError:
            raise ValueError(f'could not parse port "{port}"') from None
    raise ValueError(f"expected port or host:port, got {_kind(v)}")


class _Loader:
    """Applies one parsed config to Options, collecting every error like opts.go."""

    def __init__(self, opts: Options, warnings: list[str]) -> None:
        self.opts = opts
        self.errors: list[str] = []
        self.warnings = warnings
        self.store_dir_set = False
        self.auth_timeout_set = False

    # -- reporting --

    @staticmethod
    def _where(m: Mapping[str, Any], key: str) -> str:
        pos = m.position(key) if isinstance(m, ConfigMap) else None
        return f"{pos}: " if pos is not None else ""

    def error(self, m: Mapping[str, Any], key: str, reason: str) -> None:
        self.errors.append(self._where(m, key) + reason)

    def warn(self, m: Mapping[str, Any], key: str, reason: str) -> None:
        self.warnings.append(self._where(m, key) + reason)

    def unknown(self, m: Mapping[str, Any], key: str, reason: str | None = None) -> None:
        # A key only read through $variable is a definition, not an unknown setting.
        if not (isinstance(m, ConfigMap) and m.is_used_variable(key)):
            self.error(m, key, reason or f'unknown field "{key}"')

    def each(self, m: Mapping[str, Any], handle: Callable[[Mapping[str, Any], str, str, Any], None]) -> None:
        for key, value in m.items():
            try:
                handle(m, key.lower(), key, value)
            except ValueError as e:  # includes _Mismatch
                self.error(m, key, f"{key}: {e}" if isinstance(e, _Mismatch) else str(e))

    # -- top level (processConfigFileLine) --

    def top(self, m: Mapping[str, Any], lk: str, key: str, v: Any) -> None:
        o = self.opts
        if lk == "listen":
            host, o.port = _listen(v)
            o.host = host or _DEFAULT_HOST
        elif lk in ("host", "net"):
            o.host = _str(v)
        elif lk == "port":
            o.port = _int(v)
        elif lk == "server_name":
            name = _str(v)
            if " " in name:
                raise ValueError("server name cannot contain spaces")
            o.server_name = name
        elif lk == "client_advertise":
            o.client_advertise = _str(v)
        elif lk in ("debug", "trace", "logtime", "logtime_utc", "syslog"):
            setattr(o, lk, _bool(v))
        elif lk == "trace_verbose":
            o.trace_verbose = o.trace = _bool(v)
        elif lk in ("logfile", "log_file"):
            o.log_file = _str(v)
        elif lk in ("pidfile", "pid_file"):
            o.pid_file = _str(v)
        elif lk in ("http", "https"):
            host, port = _listen(v)
            o.http_host = host
            if lk == "http":
                o.http_port = port
            else:
                o.https_port = port
        elif lk in ("http_port", "monitor_port"):
            o.http_port = _int(v)
        elif lk == "https_port":
            o.https_port = _int(v)
        elif lk == "http_base_path":
            o.http_base_path = _str(v)
        elif lk in ("max_payload", "max_control_line"):
            size = parse_size(v)
            if size > _INT32_MAX:
                raise ValueError(f"{key} value is too big")
            setattr(o, lk, size)
        elif lk == "max_pending":
            o.max_pending = parse_size(v)
        elif lk in ("max_connections", "max_conn"):
            # Go: 0 in the file means "refuse every client" (-1), not "the default".
            o.max_connections = _int(v) or -1
        elif lk in ("max_subscriptions", "max_subs"):
            o.max_subscriptions = _int(v)
        elif lk == "ping_interval":
            o.ping_interval = self.duration(m, key, v)
        elif lk == "ping_max":
            o.max_pings_out = _int(v)
        elif lk == "write_deadline":
            o.write_deadline = self.duration(m, key, v)
        elif lk == "lame_duck_duration":
            ns = parse_duration(v)
            if ns < 30 * _SEC:
                raise ValueError(f"invalid lame_duck_duration of {_fmt_seconds(ns)}, minimum is 30 seconds")
            o.lame_duck_duration = ns
        elif lk == "lame_duck_grace_period":
            ns = parse_duration(v)
            if ns < 0:
                raise ValueError("invalid lame_duck_grace_period, needs to be positive")
            o.lame_duck_grace_period = ns
        elif lk == "no_auth_user":
            o.no_auth_user = _str(v)
        elif lk in ("store_dir", "storedir"):
            self.store_dir(_str(v))
        elif lk == "jetstream":
            self.jetstream(v)
        elif lk == "authorization":
            self.authorization(_map(v))
        elif lk == "tls":
            self.tls(_map(v))
        elif lk in _GO_ONLY_TOP:
            self.warn(m, key, f'"{key}" is not supported by natsd; ignored')
        else:
            self.unknown(m, key)

    def duration(self, m: Mapping[str, Any], key: str, v: Any) -> int:
        if not isinstance(v, str):
            self.warn(m, key, f'invalid use of field "{key}": {key} should be converted to a duration')
        return parse_duration(v)

    def store_dir(self, path: str) -> None:
        if self.store_dir_set:
            raise ValueError("Duplicate 'store_dir' configuration")
        self.store_dir_set = True
        self.opts.store_dir = path

    # -- jetstream (parseJetStream) --

    def jetstream(self, v: Any) -> None:
        o = self.opts
        if isinstance(v, bool):
            o.jetstream = v
        elif isinstance(v, str):
            word = v.lower()
            if word not in ("enabled", "enable", "disabled", "disable"):
                raise ValueError(f"Expected 'enabled' or 'disabled' for string value, got '{v}'")
            o.jetstream = word.startswith("enable")
        elif isinstance(v, Mapping):
            o.jetstream = True
            self.each(v, self._jetstream_key)
        else:
            raise ValueError(f"Expected map, bool or string to define JetStream, got {_kind(v)}")

    def _jetstream_key(self, m: Mapping[str, Any], lk: str, key: str, v: Any) -> None:
        o = self.opts
        if lk in ("store", "store_dir", "storedir"):
            self.store_dir(_str(v))
        elif lk in ("max_memory_store", "max_mem_store", "max_mem"):
            try:
                o.jetstream_max_memory = _storage_size(v)
            except ValueError as e:
                raise ValueError(f"max_mem_store {e}") from None
        elif lk in ("max_file_store", "max_file"):
            try:
                o.jetstream_max_store = _storage_size(v)
            except ValueError as e:
                raise ValueError(f"max_file_store {e}") from None
        elif lk == "domain":
            o.jetstream_domain = _str(v)
        elif lk == "sync_interval":
            # Go: "always" syncs every write; a duration syncs on that period. natsd's
            # default (no sync_interval) is group commit: see differences.md.
            if isinstance(v, str) and v.strip().lower() == "always":
                o.jetstream_sync = "always"
            else:
                o.jetstream_sync = "interval"
                o.jetstream_sync_interval = self.duration(m, key, v)
        elif lk in ("key", "ek", "encryption_key"):
            o.jetstream_key = _str(v)
            if o.jetstream_cipher == "none":
                o.jetstream_cipher = "chachapoly"  # Go's default cipher
        elif lk == "cipher":
            word = _str(v).lower()
            if word in ("chacha", "chachapoly"):
                o.jetstream_cipher = "chachapoly"
            elif word == "aes":
                o.jetstream_cipher = "aes"
            else:
                raise ValueError(f'Unknown cipher type: "{v}"')
        elif lk in ("enable", "enabled"):
            o.jetstream = _bool(v)
        elif lk in _GO_ONLY_JS:
            self.warn(m, key, f'jetstream "{key}" is not supported by natsd; ignored')
        else:
            self.unknown(m, key)

    # -- tls (parseTLS) --

    def tls(self, tm: Mapping[str, Any]) -> None:
        o = self.opts
        found: dict[str, Any] = {}

        def handle(m: Mapping[str, Any], lk: str, key: str, v: Any) -> None:
            if lk in ("cert_file", "key_file", "ca_file"):
                if not isinstance(v, str):
                    raise ValueError(f"error parsing tls config, expected '{lk}' to be filename")
                found[lk] = v
            elif lk in ("verify", "verify_and_map"):
                if not isinstance(v, bool):
                    raise ValueError(f"error parsing tls config, expected '{lk}' to be a boolean")
                if lk == "verify" or v:
                    found["verify"] = v
                if lk == "verify_and_map":
                    found["map"] = v
            elif lk == "timeout":
                try:
                    found["timeout"] = _seconds(v)
                except _Mismatch:
                    raise ValueError("error parsing tls config, 'timeout' wrong type") from None
                except ValueError as e:
                    raise ValueError(f"error parsing tls config, 'timeout' {e}") from None
            elif lk in _GO_ONLY_TLS:
                self.warn(m, key, f'tls "{key}" is not supported by natsd; ignored')
            else:
                raise ValueError(f'error parsing tls config, unknown field "{key}"')

        errors_before = len(self.errors)
        self.each(tm, handle)
        if len(self.errors) > errors_before:
            return
        if "cert_file" in found and "key_file" not in found:
            raise ValueError("missing 'key_file' in TLS configuration")
        if "key_file" in found and "cert_file" not in found:
            raise ValueError("missing 'cert_file' in TLS configuration")
        o.tls_cert = found.get("cert_file", "")
        o.tls_key = found.get("key_file", "")
        o.tls_ca_cert = found.get("ca_file", "")
        o.tls_verify = found.get("verify", False)
        o.tls_map = found.get("map", False)
        o.tls_timeout = found.get("timeout", 0.0)

    # -- authorization (parseAuthorization, parseUsers, parseUserPermissions) --

    def authorization(self, am: Mapping[str, Any]) -> None:
        o = self.opts
        auth: dict[str, Any] = {}

        def handle(m: Mapping[str, Any], lk: str, key: str, v: Any) -> None:
            if lk in ("user", "username"):
                auth["user"] = _str(v)
            elif lk in ("pass", "password"):
                auth["pass"] = _str(v)
            elif lk == "token":
                auth["token"] = _str(v)
            elif lk == "timeout":
                try:
                    seconds = _seconds(v)
                except _Mismatch:
                    raise ValueError("error parsing authorization config, 'timeout' wrong type") from None
                except ValueError as e:
                    raise ValueError(f"error parsing authorization config, 'timeout' {e}") from None
                if seconds > 60:
                    self.warn(
                        m,
                        key,
                        f'invalid use of field "{key}": timeout of {v} ({seconds:f} seconds) '
                        "is high, consider keeping it under 60 seconds. possibly caused by unquoted "
                        "duration; use '1m' instead of 1m, for example",
                    )
                auth["timeout"] = seconds
            elif lk == "users":
                auth["users"] = self.users(m, key, v)
            elif lk in ("default_permission", "default_permissions", "permissions"):
                auth["default"] = self.permissions(m, key, v)
            elif lk in _GO_ONLY_AUTH:
                self.warn(m, key, f'authorization "{key}" is not supported by natsd; ignored')
            else:
                self.unknown(m, key)

        self.each(am, handle)
        user, password, token = auth.get("user", ""), auth.get("pass", ""), auth.get("token", "")
        if (user or password) and token:
            raise ValueError("Cannot have a user/pass and token")
        users, nkeys = auth.get("users") or ([], [])
        if "users" in auth:
            # Go checks this whenever a users array is present, even an empty one.
            if user:
                raise ValueError("Can not have a single user/pass and a users array")
            if token:
                raise ValueError("Can not have a token and a users array")
        seen: set[str] = set()
        for kind, names in (("user", [u.username for u in users]), ("nkey", [n.nkey for n in nkeys])):
            for name in names:
                if name in seen:
                    raise ValueError(f'Duplicate {kind} "{name}" detected')
                seen.add(name)
        default = auth.get("default")
        if default is not None:
            for entry in [*users, *nkeys]:
                if entry.permissions is None:
                    entry.permissions = default
        o.username, o.password, o.authorization = user, password, token
        o.users, o.nkeys = list(users), list(nkeys)
        if "timeout" in auth:
            self.auth_timeout_set = True
            o.auth_timeout = auth["timeout"]

    def users(self, m: Mapping[str, Any], key: str, v: Any) -> tuple[list[User], list[NkeyUser]]:
        if not isinstance(v, list):
            raise ValueError(f"Expected users field to be an array, got {v!r}")
        users: list[User] = []
        nkeys: list[NkeyUser] = []
        for entry in v:
            if not isinstance(entry, Mapping):
                self.error(m, key, f"Expected user entry to be a map/struct, got {entry!r}")
                continue
            user = self.user_entry(entry)
            if isinstance(user, NkeyUser):
                nkeys.append(user)
            else:
                users.append(user)
        return users, nkeys

    def user_entry(self, entry: Mapping[str, Any]) -> User | NkeyUser:
        fields: dict[str, Any] = {}

        def handle(um: Mapping[str, Any], lk: str, k: str, uv: Any) -> None:
            if lk == "nkey":
                fields["nkey"] = _str(uv)
            elif lk in ("user", "username"):
                fields["user"] = _str(uv)
            elif lk in ("pass", "password"):
                fields["pass"] = _str(uv)
            elif lk in ("permission", "permissions", "authorization"):
                fields["perms"] = self.permissions(um, k, uv)
            elif lk in _GO_ONLY_USER:
                self.warn(um, k, f'user "{k}" is not supported by natsd; ignored')
            else:
                self.unknown(um, k)

        self.each(entry, handle)
        perms = fields.get("perms")
        if fields.get("nkey"):
            # Errors here fail the whole users array, as in Go.
            if not _looks_like_user_nkey(fields["nkey"]):
                raise ValueError("Not a valid public nkey for a user")
            if fields.get("user") or fields.get("pass"):
                raise ValueError("Nkey users do not take usernames or passwords")
            return NkeyUser(nkey=fields["nkey"], permissions=perms)
        if not fields.get("user"):
            raise ValueError("User entry requires a user")
        return User(username=fields["user"], password=fields.get("pass", ""), permissions=perms)

    def permissions(self, m: Mapping[str, Any], key: str, v: Any) -> Permissions | None:
        if not isinstance(v, Mapping):
            raise ValueError(f"Expected permissions to be a map/struct, got {v!r}")
        p = Permissions()

        def handle(pm: Mapping[str, Any], lk: str, k: str, pv: Any) -> None:
            if lk in ("pub", "publish", "import"):
                p.publish = self.subject_permission(pm, k, pv, allow_queue=False)
            elif lk in ("sub", "subscribe", "export"):
                p.subscribe = self.subject_permission(pm, k, pv, allow_queue=True)
            elif lk in ("publish_allow_responses", "allow_responses"):
                self.warn(pm, k, f'permissions "{k}" is not supported by natsd yet; ignored')
            else:
                self.unknown(pm, k, f'Unknown field "{k}" parsing permissions')

        self.each(v, handle)
        return p

    def subject_permission(
        self, m: Mapping[str, Any], key: str, v: Any, *, allow_queue: bool
    ) -> SubjectPermission | None:
        if not isinstance(v, Mapping):
            # Old style: a subject or a list of subjects, all allowed.
            return SubjectPermission(allow=_subjects(v, allow_queue))
        if not v:
            return None
        sp = SubjectPermission()

        def handle(sm: Mapping[str, Any], lk: str, k: str, sv: Any) -> None:
            if lk == "allow":
                sp.allow = _subjects(sv, allow_queue)
            elif lk == "deny":
                sp.deny = _subjects(sv, allow_queue)
            else:
                self.unknown(
                    sm,
                    k,
                    f'Unknown field name "{k}" parsing subject permissions, '
                    "only 'allow' or 'deny' are permitted",
                )

        self.each(v, handle)
        return sp


def _subjects(v: Any, allow_queue: bool) -> list[str]:
    """opts.go parsePermSubjects: one subject or a list, each valid
    (subscribe permissions may name a queue: "subject queue")."""
    if isinstance(v, str):
        subjects = [v]
    elif isinstance(v, list):
        if not all(isinstance(s, str) for s in v):
            raise ValueError("Subject in permissions array cannot be cast to string")
        subjects = list(v)
    else:
        raise ValueError(
            f"Expected subject permissions to be a subject, or array of subjects, got {_kind(v)}"
        )
    for s in subjects:
        if is_valid_subject(s):
            continue
        parts = s.split()
        if not allow_queue or len(parts) != 2:
            raise ValueError(f'subject "{s}" is not a valid subject')
        if not is_valid_subject(parts[0]):
            raise ValueError(f'subject "{parts[0]}" is not a valid subject')
        if not is_valid_subject(parts[1]):
            raise ValueError(f'queue "{parts[1]}" is not a valid queue')
    return subjects


def _looks_like_user_nkey(key: str) -> bool:
    # Shape only (prefix, length, base32 alphabet); the auth layer verifies keys for real.
    return len(key) == 56 and key[0] == "U" and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in key)


def _load_config(d: Mapping[str, Any], base: Options | None, warnings: list[str]) -> tuple[Options, bool]:
    """Config on top of ``base`` without the baseline defaults; also says whether the
    authorization timeout was given (a TLS server otherwise gets tls_timeout + 1)."""
    opts = copy.deepcopy(base) if base is not None else Options()
    loader = _Loader(opts, warnings)
    if not d:
        path = d.path if isinstance(d, ConfigMap) else None
        warnings.append(f"{path or '<config>'}: config has no values or is empty")
    loader.each(d, loader.top)
    if loader.errors:
        raise ConfigError("\n".join(loader.errors))
    if opts.tls_cert and not loader.auth_timeout_set:
        opts.auth_timeout = 0.0  # the baseline turns this into tls_timeout + 1
    return opts, loader.auth_timeout_set


def options_from_config(
    d: Mapping[str, Any], base: Options | None = None, *, warnings: list[str] | None = None
) -> Options:
    """Apply a parsed config (``conf.parse``) on top of ``base`` and return new Options.

    Every problem is collected and raised together as one ConfigError, each line
    starting with ``file:line:col`` when the config came from ``conf.parse``.
    Ignored settings produce warnings (appended to ``warnings`` when given)."""
    opts, _ = _load_config(d, base, warnings if warnings is not None else [])
    _baseline(opts)
    return opts


# ---- entry point ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """The ``natsd`` command: parse flags and config, then run the server."""
    args = sys.argv[1:] if argv is None else list(argv)
    warnings: list[str] = []
    try:
        opts = parse_args(args, warnings=warnings)
    except HelpRequested:
        print(USAGE)
        return 0
    except VersionRequested:
        print(f"natsd: v{__version__}")
        return 0
    except UsageError as e:
        _print_lines(warnings)
        print(e, file=sys.stderr)
        print(USAGE, file=sys.stderr)
        return 2
    except (CommandLineError, ConfigError) as e:
        _print_lines(warnings)
        print(f"natsd: {e}", file=sys.stderr)
        return 1
    _print_lines(warnings)
    if opts.check_config:
        print(f"natsd: configuration file {opts.config_file} is valid", file=sys.stderr)
        return 0
    from natsd.server import app  # imported late: the server is heavy and -h/-v need none of it

    result = app.run(opts)
    return result if isinstance(result, int) else 0


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
