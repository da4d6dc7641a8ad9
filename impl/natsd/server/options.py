"""Server options with the Go nats-server defaults (server/opts.go, const.go).

``Options`` is the one place settings live. The config file (``natsd.server.conf``)
and the command line (``natsd.server.cli``) both produce an ``Options``; flags
override the file, as in nats-server.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = ["Options", "User", "NkeyUser", "Permissions", "SubjectPermission"]

SEC = 1_000_000_000  # nanoseconds in a second; every duration here is int ns


@dataclass
class SubjectPermission:
    allow: list[str] | None = None
    deny: list[str] | None = None


@dataclass
class Permissions:
    publish: SubjectPermission | None = None
    subscribe: SubjectPermission | None = None
    # allow_responses ignored for now (partial in spec/)


@dataclass
class User:
    username: str
    password: str  # plain text or a bcrypt hash ("$2a$...")
    permissions: Permissions | None = None
    account: str | None = None


@dataclass
class NkeyUser:
    nkey: str  # public user nkey, "U..."
    permissions: Permissions | None = None
    account: str | None = None


@dataclass
class Options:
    # identity / listen
    server_name: str = ""
    host: str = "0.0.0.0"
    port: int = 4222
    client_advertise: str = ""
    # monitoring
    http_host: str = ""  # defaults to host when empty
    http_port: int = 0  # 0 = off
    https_port: int = 0
    http_base_path: str = ""
    # limits
    max_connections: int = 65536
    max_subscriptions: int = 0  # 0 = unlimited
    max_payload: int = 1024 * 1024
    max_pending: int = 64 * 1024 * 1024
    max_control_line: int = 4096
    ping_interval: int = 2 * 60 * SEC
    max_pings_out: int = 2
    write_deadline: int = 10 * SEC
    # auth
    username: str = ""
    password: str = ""
    authorization: str = ""  # token
    auth_timeout: float = 2.0  # seconds, as Go reports it in varz
    users: list[User] = field(default_factory=list)
    nkeys: list[NkeyUser] = field(default_factory=list)
    no_auth_user: str = ""
    # tls
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca_cert: str = ""
    tls_verify: bool = False
    tls_timeout: float = 2.0  # seconds
    tls_map: bool = False
    # logging
    debug: bool = False
    trace: bool = False
    trace_verbose: bool = False  # -VV / trace_verbose: also trace the system account
    logtime: bool = True
    logtime_utc: bool = False
    log_file: str = ""
    syslog: bool = False
    pid_file: str = ""
    # lame duck
    lame_duck_duration: int = 2 * 60 * SEC
    lame_duck_grace_period: int = 10 * SEC
    # jetstream
    jetstream: bool = False
    store_dir: str = ""
    jetstream_max_memory: int = -1
    jetstream_max_store: int = -1
    jetstream_domain: str = ""
    jetstream_sync: str = "group"  # group (natsd default) | always | interval (Go's default, sync_interval)
    jetstream_sync_interval: int = 120 * SEC
    jetstream_cipher: str = "none"  # none | aes | chachapoly
    jetstream_key: str = ""
    # bookkeeping
    config_file: str = ""
    check_config: bool = False  # -t: validate the config file and exit
    no_log: bool = False

    def copy(self) -> Options:
        return dataclasses.replace(self)
