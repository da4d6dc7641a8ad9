"""Unit tests for the natsd command line and config-to-Options mapping
(natsd.server.cli, Go main.go + server/opts.go)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from natsd import __version__
from natsd.server import cli
from natsd.server.cli import (
    DEFAULT_STORE_DIR,
    CommandLineError,
    HelpRequested,
    UsageError,
    VersionRequested,
    options_from_config,
    parse_args,
)
from natsd.server.conf import ConfigError, parse
from natsd.server.options import Options, SubjectPermission

S = 1_000_000_000


def conf(tmp_path, text: str, name: str = "n.conf") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def load(text: str, **kw) -> Options:
    return options_from_config(parse(text, path="t.conf"), **kw)


def load_error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(text)
    return str(info.value)


# ---- flag syntax (Go's flag package) -------------------------------------------------------


def test_no_arguments_gives_go_defaults():
    o = parse_args([])
    assert (o.host, o.port, o.http_port, o.max_payload, o.logtime) == ("0.0.0.0", 4222, 0, 1024 * 1024, True)
    assert (o.debug, o.trace, o.jetstream, o.store_dir, o.config_file) == (False, False, False, "", "")


@pytest.mark.parametrize(
    "argv",
    [["-p", "5000"], ["--p", "5000"], ["-port", "5000"], ["--port", "5000"], ["-p=5000"], ["--port=5000"]],
)
def test_dash_forms_and_equals(argv):
    assert parse_args(argv).port == 5000


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["-a", "127.0.0.1"], "host", "127.0.0.1"),
        (["--addr", "10.0.0.1"], "host", "10.0.0.1"),
        (["--net", "::1"], "host", "::1"),
        (["-n", "srv"], "server_name", "srv"),
        (["--name", "srv"], "server_name", "srv"),
        (["--server_name", "srv"], "server_name", "srv"),
        (["-m", "8222"], "http_port", 8222),
        (["--http_port", "8222"], "http_port", 8222),
        (["-ms", "8443"], "https_port", 8443),
        (["--https_port", "8443"], "https_port", 8443),
        (["--user", "u"], "username", "u"),
        (["-user", "u"], "username", "u"),
        (["--pass", "p"], "password", "p"),
        (["--auth", "tok"], "authorization", "tok"),
        (["-D"], "debug", True),
        (["--debug"], "debug", True),
        (["-V"], "trace", True),
        (["--trace"], "trace", True),
        (["-l", "/tmp/n.log"], "log_file", "/tmp/n.log"),
        (["--log", "/tmp/n.log"], "log_file", "/tmp/n.log"),
        (["-T=false"], "logtime", False),
        (["--logtime=false"], "logtime", False),
        (["-s"], "syslog", True),
        (["--syslog"], "syslog", True),
        (["-P", "/tmp/n.pid"], "pid_file", "/tmp/n.pid"),
        (["--pid", "/tmp/n.pid"], "pid_file", "/tmp/n.pid"),
        (["--client_advertise", "nats://x:1"], "client_advertise", "nats://x:1"),
        (["-js"], "jetstream", True),
        (["--jetstream"], "jetstream", True),
        (["-sd", "/data"], "store_dir", "/data"),
        (["--store_dir", "/data"], "store_dir", "/data"),
        (["--max_payload", "2MB"], "max_payload", 2 * 1024 * 1024),
        (["--max_payload=65536"], "max_payload", 65536),
        (["-p", "0x10"], "port", 16),
        (["-p", "010"], "port", 8),  # Go's ParseInt base 0: a leading 0 is octal
    ],
)
def test_flags(argv, field, value):
    assert getattr(parse_args(argv), field) == value


def test_debug_trace_combinations():
    o = parse_args(["-DV"])
    assert (o.debug, o.trace, o.trace_verbose) == (True, True, False)
    o = parse_args(["-VV"])
    assert (o.debug, o.trace, o.trace_verbose) == (False, True, True)
    o = parse_args(["-DVV"])
    assert (o.debug, o.trace, o.trace_verbose) == (True, True, True)
    o = parse_args(["-D", "-V", "-DV=false"])
    assert (o.debug, o.trace) == (False, False)


@pytest.mark.parametrize("value", ["1", "t", "T", "TRUE", "true", "True"])
def test_go_boolean_spellings(value):
    assert parse_args([f"-js={value}"]).jetstream is True


def test_later_flag_wins():
    assert parse_args(["-p", "1", "--port", "2"]).port == 2


def test_value_flag_takes_next_argument_even_with_dash():
    assert parse_args(["--user", "-weird"]).username == "-weird"


def test_bool_flag_does_not_take_a_separate_value():
    # "-js true" is -js followed by the positional argument "true", as in Go.
    with pytest.raises(CommandLineError, match='unrecognized command: "true"'):
        parse_args(["-js", "true"])


def test_double_dash_ends_flags():
    with pytest.raises(CommandLineError, match="unrecognized command"):
        parse_args(["--", "-p", "5"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-bogus"], "flag provided but not defined: -bogus"),
        (["-p"], "flag needs an argument: -p"),
        (["-p", "abc"], 'invalid value "abc" for flag -p: parse error'),
        (["--max_payload", "lots"], 'invalid value "lots" for flag -max_payload'),
        (["-js=maybe"], 'invalid boolean value "maybe" for -js'),
        (["---p", "1"], "bad flag syntax: ---p"),
        (["-=x"], "bad flag syntax"),
        (["-P"], "flag needs an argument"),
    ],
)
def test_usage_errors(argv, message):
    with pytest.raises(UsageError, match=message):
        parse_args(argv)


@pytest.mark.parametrize(
    "argv", [["-h"], ["--help"], ["-help"], ["help"], ["-p", "1", "HELP"], ["--help_tls"]]
)
def test_help(argv):
    with pytest.raises(HelpRequested):
        parse_args(argv)


@pytest.mark.parametrize("argv", [["-v"], ["--version"], ["version"], ["-h", "-v"]])
def test_version(argv):
    with pytest.raises(VersionRequested):
        parse_args(argv)


def test_signal_flag_is_refused():
    with pytest.raises(CommandLineError, match="not supported"):
        parse_args(["-sl", "stop"])


def test_go_only_flags_warn():
    warnings: list[str] = []
    o = parse_args(["--routes", "nats://x:6222", "--cluster_name", "c", "--no_advertise"], warnings=warnings)
    assert o.port == 4222
    assert len(warnings) == 3 and all("ignored" in w for w in warnings)


# ---- baseline (setBaselineOptions) -------------------------------------------------------


def test_port_zero_means_default_and_minus_one_means_random():
    assert parse_args(["-p", "0"]).port == 4222
    assert parse_args(["-p", "-1"]).port == 0


# ---- jetstream store dir --------------------------------------------------------------


def test_jetstream_default_store_dir():
    assert parse_args(["-js"]).store_dir == DEFAULT_STORE_DIR == "./natsd-store"
    assert parse_args(["-js", "-sd", "/data"]).store_dir == "/data"
    assert parse_args(["-sd", "/data"]).jetstream is False


def test_jetstream_store_dir_from_config_is_kept(tmp_path):
    path = conf(tmp_path, "jetstream { store_dir: /from/config }\n")
    assert parse_args(["-c", path]).store_dir == "/from/config"
    assert parse_args(["-c", path, "-sd", "/from/flag"]).store_dir == "/from/flag"


def test_jetstream_enabled_in_config_gets_default_store_dir(tmp_path):
    assert parse_args(["-c", conf(tmp_path, "jetstream: enabled\n")]).store_dir == DEFAULT_STORE_DIR


# ---- precedence: defaults < config < flags ---------------------------------------------------


def test_flags_override_config(tmp_path):
    path = conf(tmp_path, "port: 5000\nhost: 127.0.0.1\ndebug: true\nlogtime: false\nserver_name: fromconf\n")
    o = parse_args(["-c", path])
    assert (o.port, o.host, o.debug, o.logtime, o.server_name) == (5000, "127.0.0.1", True, False, "fromconf")
    assert o.config_file == path
    o = parse_args(["-p", "6000", "--config", path, "-D=false", "-T", "-n", "fromflag"])
    assert (o.port, o.host, o.debug, o.logtime, o.server_name) == (6000, "127.0.0.1", False, True, "fromflag")


def test_unset_flags_do_not_override_config(tmp_path):
    # -T defaults to true, but only a -T actually given overrides "logtime: false".
    assert parse_args(["-c", conf(tmp_path, "logtime: false\n"), "-D"]).logtime is False


def test_flag_credentials_override_config_authorization(tmp_path):
    path = conf(tmp_path, "authorization { user: a, password: b }\n")
    o = parse_args(["-c", path, "--user", "flaguser"])
    assert (o.username, o.password) == ("flaguser", "b")


def test_config_errors_propagate(tmp_path):
    with pytest.raises(ConfigError, match='unknown field "nope"'):
        parse_args(["-c", conf(tmp_path, "nope: 1\n")])
    with pytest.raises(ConfigError, match="error opening config file"):
        parse_args(["-c", str(tmp_path / "missing.conf")])


def test_check_config_requires_a_file():
    with pytest.raises(CommandLineError, match="must specify"):
        parse_args(["-t"])


# ---- TLS flags ------------------------------------------------------------------------


def test_tls_flags():
    o = parse_args(
        ["--tls", "--tlscert", "c.pem", "--tlskey", "k.pem", "--tlscacert", "ca.pem", "--tlsverify"]
    )
    assert (o.tls_cert, o.tls_key, o.tls_ca_cert, o.tls_verify) == ("c.pem", "k.pem", "ca.pem", True)
    assert o.auth_timeout == o.tls_timeout + 1.0 == 3.0  # Go gives TLS servers one more second


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--tls"], "certificate must be present"), (["--tlscert", "c.pem"], "private key must be present")],
)
def test_tls_flags_need_cert_and_key(argv, message):
    with pytest.raises(CommandLineError, match=message):
        parse_args(argv)


def test_tls_false_disables_config_tls(tmp_path):
    path = conf(tmp_path, "tls { cert_file: c.pem, key_file: k.pem, verify: true }\n")
    assert parse_args(["-c", path]).tls_cert == "c.pem"
    o = parse_args(["-c", path, "--tls=false", "--tlsverify"])
    assert (o.tls_cert, o.tls_key, o.tls_verify) == ("", "", False)


def test_tls_flags_complete_config_tls(tmp_path):
    path = conf(tmp_path, "tls { cert_file: c.pem, key_file: k.pem }\n")
    o = parse_args(["-c", path, "--tlsverify"])
    assert (o.tls_cert, o.tls_verify) == ("c.pem", True)


# ---- config -> Options (processConfigFileLine) ------------------------------------------------


def test_server_settings():
    o = load(
        "listen: 127.0.0.1:4333\nserver_name: s1\nclient_advertise: 'x:1'\nhttp: 8222\nhttps_port: 8443\n"
        "http_base_path: /mon\nmax_payload: 2MB\nmax_pending: 32MB\nmax_control_line: 1KB\n"
        "max_connections: 10\nmax_subscriptions: 100\nping_interval: '30s'\nping_max: 5\n"
        "write_deadline: '5s'\ndebug: true\ntrace: true\nlogtime: false\nlog_file: /tmp/l\npid_file: /tmp/p\n"
        "lame_duck_duration: '1m'\nlame_duck_grace_period: '5s'\nno_auth_user: bob\n"
    )
    assert (o.host, o.port, o.server_name, o.client_advertise) == ("127.0.0.1", 4333, "s1", "x:1")
    assert (o.http_host, o.http_port, o.https_port, o.http_base_path) == ("", 8222, 8443, "/mon")
    assert (o.max_payload, o.max_pending, o.max_control_line) == (2 * 1024**2, 32 * 1024**2, 1024)
    assert (o.max_connections, o.max_subscriptions) == (10, 100)
    assert (o.ping_interval, o.max_pings_out, o.write_deadline) == (30 * S, 5, 5 * S)
    assert (o.debug, o.trace, o.logtime, o.log_file, o.pid_file) == (True, True, False, "/tmp/l", "/tmp/p")
    assert (o.lame_duck_duration, o.lame_duck_grace_period, o.no_auth_user) == (60 * S, 5 * S, "bob")


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("listen: 4333", "0.0.0.0", 4333),
        ("listen: '[::1]:4333'", "::1", 4333),
        ("listen: ':4333'", "0.0.0.0", 4333),
        ("host: 10.0.0.1\nport: 1", "10.0.0.1", 1),
        ("net: 10.0.0.2", "10.0.0.2", 4222),
        ("port: 0", "0.0.0.0", 4222),
        ("port: -1", "0.0.0.0", 0),
    ],
)
def test_listen_forms(text, host, port):
    o = load(text)
    assert (o.host, o.port) == (host, port)


def test_key_names_are_case_insensitive_and_aliases_work():
    o = load("PORT: 1\nmonitor_port: 2\nlogfile: a\npidfile: b\nmax_conn: 3\nmax_subs: 4\nNet: h")
    assert (o.port, o.http_port, o.log_file, o.pid_file, o.max_connections, o.max_subscriptions, o.host) == (
        1,
        2,
        "a",
        "b",
        3,
        4,
        "h",
    )


def test_https_listen_sets_monitor_host():
    o = load("https: '127.0.0.1:8443'")
    assert (o.http_host, o.https_port) == ("127.0.0.1", 8443)


def test_max_connections_zero_refuses_everyone_like_go():
    assert load("max_connections: 0").max_connections == -1


def test_zero_values_fall_back_to_defaults():
    o = load("ping_interval: '0s'\nping_max: 0")
    assert (o.ping_interval, o.max_pings_out) == (120 * S, 2)


def test_integer_durations_are_seconds_with_a_warning():
    warnings: list[str] = []
    o = load("ping_interval: 30\nwrite_deadline: 2", warnings=warnings)
    assert (o.ping_interval, o.write_deadline) == (30 * S, 2 * S)
    assert (
        warnings[0]
        == 't.conf:1:0: invalid use of field "ping_interval": ping_interval should be converted to a duration'
    )


def test_variables_are_not_unknown_fields():
    o = load("MY_PORT = 4999\nport: $MY_PORT")
    assert o.port == 4999


def test_base_options_are_kept_and_not_mutated():
    base = Options(server_name="base", debug=True)
    o = options_from_config(parse("port: 1"), base)
    assert (o.server_name, o.debug, o.port) == ("base", True, 1)
    assert base.port == 4222


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus: 1", 't.conf:1:0: unknown field "bogus"'),
        ("port: 1\n  bogus: 1", 't.conf:2:3: unknown field "bogus"'),
        ("port: abc", "t.conf:1:0: port: expected an integer, got string"),
        ("debug: 1", "debug: expected a boolean, got integer"),
        ("server_name: 'a b'", "server name cannot contain spaces"),
        ("max_payload: 3GB", "max_payload value is too big"),
        ("ping_interval: 'soon'", 'time: invalid duration "soon"'),
        ("lame_duck_duration: '10s'", "invalid lame_duck_duration of 10s, minimum is 30 seconds"),
        ("lame_duck_grace_period: '-1s'", "needs to be positive"),
        ("listen: 'nohost'", 'could not parse address string "nohost"'),
        ("jetstream: maybe", "Expected 'enabled' or 'disabled'"),
        ("jetstream: 5", "Expected map, bool or string to define JetStream"),
        ("jetstream { bogus: 1 }", 'unknown field "bogus"'),
        ("jetstream { max_mem: 'lots' }", "max_mem_store sizes defined as strings must end in K, M, G, T"),
        ("store_dir: /a\njetstream { store_dir: /b }", "Duplicate 'store_dir' configuration"),
        ("tls { bogus: 1 }", 'error parsing tls config, unknown field "bogus"'),
        ("tls { cert_file: c.pem }", "missing 'key_file' in TLS configuration"),
        ("tls { key_file: k.pem }", "missing 'cert_file' in TLS configuration"),
        ("tls { verify: 1 }", "expected 'verify' to be a boolean"),
        ("tls { timeout: [1] }", "'timeout' wrong type"),
    ],
)
def test_config_errors(text, message):
    assert message in load_error(text)


def test_all_errors_are_reported_together():
    msg = load_error("a: 1\nport: x\nb: 2\n")
    assert msg.splitlines() == [
        't.conf:1:0: unknown field "a"',
        "t.conf:2:1: port: expected an integer, got string",
        't.conf:3:1: unknown field "b"',
    ]


def test_go_only_settings_warn(tmp_path):
    warnings: list[str] = []
    o = load(
        "cluster { port: 6222 }\naccounts { A: { users: [ {user: a, password: b} ] } }\nport: 1",
        warnings=warnings,
    )
    assert o.port == 1
    assert warnings == [
        't.conf:1:0: "cluster" is not supported by natsd; ignored',
        't.conf:2:1: "accounts" is not supported by natsd; ignored',
    ]


def test_empty_config_warns(tmp_path):
    warnings: list[str] = []
    parse_args(["-c", conf(tmp_path, "# nothing\n")], warnings=warnings)
    assert warnings == [f"{tmp_path / 'n.conf'}: config has no values or is empty"]


# ---- authorization -------------------------------------------------------------------------


def test_single_user_and_timeout():
    o = load("authorization { user: a, password: b, timeout: 5 }")
    assert (o.username, o.password, o.authorization, o.auth_timeout) == ("a", "b", "", 5.0)
    assert load("authorization { username: a, pass: b, timeout: '1.5s' }").auth_timeout == 1.5


def test_token():
    o = load("authorization { token: s3cret }")
    assert (o.authorization, o.username) == ("s3cret", "")


def test_users_and_permissions():
    o = load(
        """
        authorization {
          default_permissions { publish: "pub.>" }
          users = [
            {user: a, password: pa}
            {user: b, password: pb, permissions: {publish: ["x", "y.*"], subscribe: {allow: "q", deny: ["q.secret"]}}}
            {user: c, password: pc, permissions: {pub: {deny: ">"}, sub: "work.* workers"}}
            {nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4}
          ]
        }
        """
    )
    a, b, c = o.users
    assert (a.username, a.password, b.username, c.username) == ("a", "pa", "b", "c")
    assert a.permissions.publish == SubjectPermission(allow=["pub.>"])  # default permissions apply
    assert b.permissions.publish == SubjectPermission(allow=["x", "y.*"])
    assert b.permissions.subscribe == SubjectPermission(allow=["q"], deny=["q.secret"])
    assert c.permissions.publish == SubjectPermission(deny=[">"])
    assert c.permissions.subscribe == SubjectPermission(allow=["work.* workers"])
    (nk,) = o.nkeys
    assert nk.nkey.startswith("UDXU") and nk.permissions.publish == SubjectPermission(allow=["pub.>"])


def test_bcrypt_password_unquoted():
    h = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG"
    assert load(f"authorization {{ user: a, password: {h} }}").password == h


def test_authorization_variables():
    o = load("PASS = pw\nauthorization { users = [ {user: a, password: $PASS} ] }")
    assert o.users[0].password == "pw"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("authorization { user: a, token: t }", "Cannot have a user/pass and token"),
        ("authorization { user: a, users: [] }", "Can not have a single user/pass and a users array"),
        ("authorization { token: t, users: [] }", "Can not have a token and a users array"),
        ("authorization { users: [ {user: a}, {user: a} ] }", 'Duplicate user "a" detected'),
        ("authorization { users: [ {password: x} ] }", "User entry requires a user"),
        ("authorization { users: [ 5 ] }", "Expected user entry to be a map/struct"),
        ("authorization { users: {user: a} }", "Expected users field to be an array"),
        ("authorization { users: [ {nkey: UBAD} ] }", "Not a valid public nkey for a user"),
        ("authorization { bogus: 1 }", 'unknown field "bogus"'),
        ("authorization { users: [ {user: a, bogus: 1} ] }", 'unknown field "bogus"'),
        ("authorization { permissions: { bogus: x } }", 'Unknown field "bogus" parsing permissions'),
        ("authorization { permissions: { publish: { allow: x, nope: y } } }", 'Unknown field name "nope"'),
        ("authorization { permissions: { publish: 'a..b' } }", 'subject "a..b" is not a valid subject'),
        ("authorization { permissions: { publish: 'a b' } }", 'subject "a b" is not a valid subject'),
        ("authorization { permissions: { subscribe: 'a b..c' } }", 'queue "b..c" is not a valid queue'),
        ("authorization { permissions: { publish: [1] } }", "cannot be cast to string"),
        ("authorization { permissions: { publish: 5 } }", "Expected subject permissions to be a subject"),
        ("authorization { permissions: x }", "Expected permissions to be a map/struct"),
        ("authorization { timeout: [1] }", "'timeout' wrong type"),
        ("authorization: 5", "authorization: expected a map, got integer"),
    ],
)
def test_authorization_errors(text, message):
    assert message in load_error(text)


def test_authorization_error_positions_point_inside_blocks():
    msg = load_error("authorization {\n  users = [\n    {user: a, nope: 1}\n  ]\n}")
    assert msg == 't.conf:3:15: unknown field "nope"'


def test_high_auth_timeout_warns():
    warnings: list[str] = []
    load("authorization { timeout: 120 }", warnings=warnings)
    assert "is high" in warnings[0]


# ---- tls and jetstream blocks -----------------------------------------------------------------


def test_tls_block():
    o = load("tls { cert_file: c.pem, key_file: k.pem, ca_file: ca.pem, verify: true, timeout: 3 }")
    assert (o.tls_cert, o.tls_key, o.tls_ca_cert, o.tls_verify, o.tls_timeout) == (
        "c.pem",
        "k.pem",
        "ca.pem",
        True,
        3.0,
    )
    assert o.auth_timeout == 4.0  # tls_timeout + 1 unless authorization sets a timeout
    o = load(
        "tls { cert_file: c, key_file: k, verify_and_map: true, timeout: '500ms' }\nauthorization { timeout: 2 }"
    )
    assert (o.tls_verify, o.tls_map, o.tls_timeout, o.auth_timeout) == (True, True, 0.5, 2.0)


def test_tls_go_only_keys_warn():
    warnings: list[str] = []
    o = load("tls { cert_file: c, key_file: k, cipher_suites: [x], min_version: '1.3' }", warnings=warnings)
    assert o.tls_cert == "c" and len(warnings) == 2


@pytest.mark.parametrize(
    ("text", "enabled"),
    [
        ("jetstream: true", True),
        ("jetstream: on", True),
        ("jetstream: false", False),
        ("jetstream: enabled", True),
        ("jetstream: Enable", True),
        ("jetstream: disabled", False),
        ("jetstream {}", True),
        ("jetstream { enabled: false }", False),
    ],
)
def test_jetstream_forms(text, enabled):
    assert load(text).jetstream is enabled


def test_jetstream_block():
    o = load("jetstream { store_dir: /js, max_memory_store: 1G, max_file_store: '2G', domain: hub }")
    assert (o.store_dir, o.jetstream_domain) == ("/js", "hub")
    # Unquoted 1G is the lexer's 10^9; the string "2G" is getStorageSize's 2 << 30.
    assert (o.jetstream_max_memory, o.jetstream_max_store) == (10**9, 2 << 30)
    o = load("jetstream { store: /a, max_mem: '512M', max_file: 1TB }")
    assert (o.store_dir, o.jetstream_max_memory, o.jetstream_max_store) == ("/a", 512 << 20, 1024**4)
    assert load("store_dir: /top\njetstream: true").store_dir == "/top"


# ---- main() and python -m natsd ------------------------------------------------------------------


def test_main_help_and_version(capsys):
    assert cli.main(["-h"]) == 0
    assert "Usage: natsd [options]" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"natsd: v{__version__}\n"


def test_main_bad_flag_exits_2(capsys):
    assert cli.main(["-nope"]) == 2
    err = capsys.readouterr().err
    assert "flag provided but not defined: -nope" in err and "Usage:" in err


def test_main_config_error_exits_1(tmp_path, capsys):
    assert cli.main(["-c", conf(tmp_path, "bogus: 1\n")]) == 1
    assert capsys.readouterr().err.startswith("natsd: ")


def test_main_check_config(tmp_path, capsys):
    path = conf(tmp_path, "port: 1\ncluster {}\n")
    assert cli.main(["-c", path, "-t"]) == 0
    err = capsys.readouterr().err
    assert f"configuration file {path} is valid" in err and '"cluster" is not supported' in err


def test_main_runs_the_server(monkeypatch, tmp_path):
    from natsd.server import app

    seen: list[Options] = []
    monkeypatch.setattr(app, "run", lambda opts: seen.append(opts) or 0)
    assert cli.main(["-p", "4999", "-c", conf(tmp_path, "debug: true\n")]) == 0
    assert (seen[0].port, seen[0].debug) == (4999, True)


def test_python_dash_m_natsd():
    out = subprocess.run([sys.executable, "-m", "natsd", "-v"], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, f"natsd: v{__version__}\n")
