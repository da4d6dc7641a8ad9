"""Unit tests for the NATS config format parser (natsd.server.conf, Go conf/lex.go + parse.go)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from natsd.server.conf import ConfigError, ConfigMap, parse, parse_duration, parse_file, parse_size


def err(text: str, **kw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, **kw)
    return info.value


# ---- keys, separators, comments -----------------------------------------------------------


def test_key_separators():
    assert parse("a = 1\nb: 2\nc 3\nd=4\ne:5\n") == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}


def test_semicolons_and_commas_end_top_level_values():
    assert parse("a = 1; b = 2, c = 3") == {"a": 1, "b": 2, "c": 3}


def test_newline_between_key_and_separator_is_allowed():
    assert parse("a\n= 1") == {"a": 1}


def test_quoted_keys():
    assert parse("'a b' = 1\n\"c:d\" = 2") == {"a b": 1, "c:d": 2}


def test_comments():
    text = "# hash\n// slashes\na = 1 # trailing\nb = 2 // trailing\nm {\n  # inside\n  c = 3 // x\n}\n"
    assert parse(text) == {"a": 1, "b": 2, "m": {"c": 3}}


def test_empty_and_comment_only_documents():
    assert parse("") == {}
    assert parse("# nothing\n\n// here\n") == {}


def test_top_level_braces_are_transparent():
    assert parse("{\n  port: 4222\n  debug: true\n}\n") == {"port": 4222, "debug": True}


def test_crlf_line_endings():
    assert parse("a = 1\r\nb = x\r\n") == {"a": 1, "b": "x"}


def test_later_key_wins():
    assert parse("a = 1\na = 2") == {"a": 2}


# ---- scalar values ----------------------------------------------------------------------


def test_strings():
    text = 'a = bare\nb = "dq"\nc = \'sq\'\nd = "with spaces"\ne = nats://u:p@host:4222\nf = a.b.>\n'
    assert parse(text) == {
        "a": "bare",
        "b": "dq",
        "c": "sq",
        "d": "with spaces",
        "e": "nats://u:p@host:4222",
        "f": "a.b.>",
    }


def test_double_quoted_escapes():
    assert parse(r'a = "t\tn\nr\rq\"b\\x\x41"') == {"a": 't\tn\nr\rq"b\\xA'}


def test_hex_escapes_are_bytes():
    assert parse(r'a = "\xe2\x82\xac"') == {"a": "\u20ac"}


def test_single_quotes_do_not_escape():
    assert parse(r"a = 'no\tescape'") == {"a": "no\\tescape"}


def test_unquoted_strings_escape_too():
    assert parse(r"a = x\ty") == {"a": "x\ty"}


def test_quoted_words_stay_strings():
    assert parse('a = "true"\nb = \'42\'\nc = "$NOPE"') == {"a": "true", "b": "42", "c": "$NOPE"}


def test_booleans():
    text = "a = true\nb = FALSE\nc = yes\nd = No\ne = on\nf = off"
    assert parse(text) == {"a": True, "b": False, "c": True, "d": False, "e": True, "f": False}


def test_numbers():
    text = "a = 42\nb = -7\nc = 1.5\nd = -0.25\ne = 0"
    got = parse(text)
    assert got == {"a": 42, "b": -7, "c": 1.5, "d": -0.25, "e": 0}
    assert isinstance(got["a"], int) and isinstance(got["c"], float)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", 1024),
        ("1KB", 1024),
        ("1ki", 1024),
        ("1KiB", 1024),
        ("2m", 2_000_000),
        ("1MB", 1024**2),
        ("1mib", 1024**2),
        ("3g", 3 * 10**9),
        ("1GB", 1024**3),
        ("1t", 10**12),
        ("1TB", 1024**4),
        ("1p", 10**15),
        ("1PB", 1024**5),
        ("-2k", -2000),
    ],
)
def test_size_suffixes(text, value):
    assert parse(f"v = {text}") == {"v": value}


def test_words_that_start_with_digits_are_strings():
    # Durations stay strings; opts.go parses them. Note the Go quirk: unquoted "2m"
    # is the integer 2,000,000 (a size), while "2m30s" and "10s" are strings.
    got = parse("a = 10s\nb = 1h30m\nc = 2m30s\nd = 100ms\ne = 1e5\nf = 4a")
    assert got == {"a": "10s", "b": "1h30m", "c": "2m30s", "d": "100ms", "e": "1e5", "f": "4a"}


def test_addresses_are_strings():
    assert parse("a = 127.0.0.1\nb = 0.0.0.0:4222") == {"a": "127.0.0.1", "b": "0.0.0.0:4222"}


def test_datetime():
    assert parse("t = 2024-01-02T03:04:05Z") == {"t": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)}


def test_block_string():
    assert parse("motd = (\nline one\n  line two )\n)\nport = 1\n") == {
        "motd": "\nline one\n  line two )\n",
        "port": 1,
    }


def test_unquoted_bcrypt_hash_is_not_a_variable():
    h = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG"
    assert parse(f"password = {h}") == {"password": h}


# ---- maps and arrays -------------------------------------------------------------------


def test_nested_maps():
    text = "a {\n  b {\n    c = 1\n    d: [x, y]\n  }\n  e = true\n}\nf: { g: 2, h: 3 }\n"
    got = parse(text)
    assert got == {"a": {"b": {"c": 1, "d": ["x", "y"]}, "e": True}, "f": {"g": 2, "h": 3}}
    assert isinstance(got["a"], ConfigMap) and isinstance(got["a"]["b"], ConfigMap)


def test_map_value_may_follow_a_newline():
    assert parse("m {\n  a =\n    1\n}") == {"m": {"a": 1}}


def test_arrays_comma_and_newline_separated():
    text = "a = [1, 2, 3]\nb = [\n  x\n  y\n]\nc = [\"q\", 'r',]\nd = []\ne = [1.5, true, -2]"
    assert parse(text) == {
        "a": [1, 2, 3],
        "b": ["x", "y"],
        "c": ["q", "r"],
        "d": [],
        "e": [1.5, True, -2],
    }


def test_arrays_of_maps_and_arrays():
    text = "users = [\n  {user: a, password: b}\n  {user: c, password: d, permissions: {publish: [x]}}\n]\nm = [[1, 2], [3]]"
    assert parse(text) == {
        "users": [
            {"user": "a", "password": "b"},
            {"user": "c", "password": "d", "permissions": {"publish": ["x"]}},
        ],
        "m": [[1, 2], [3]],
    }


def test_array_comments():
    assert parse("a = [\n  1 # one\n  2 // two\n]") == {"a": [1, 2]}


def test_sized_word_before_bracket_stays_a_string_like_go():
    assert parse("a = [1k]") == {"a": ["1k"]}


# ---- variables -------------------------------------------------------------------------


def test_variable_from_earlier_key():
    got = parse("PORT = 4333\nport = $PORT")
    assert got == {"PORT": 4333, "port": 4333}
    assert got.is_used_variable("PORT") and not got.is_used_variable("port")


def test_variable_from_enclosing_block():
    text = "user = admin\nauthorization {\n  pw = s3cret\n  users = [ {user: $user, password: $pw} ]\n}"
    got = parse(text)
    assert got["authorization"]["users"] == [{"user": "admin", "password": "s3cret"}]
    assert got.is_used_variable("user") and got["authorization"].is_used_variable("pw")


def test_inner_block_shadows_outer():
    assert parse("x = outer\nm { x = inner, y = $x }\nz = $x")["m"]["y"] == "inner"
    assert parse("x = outer\nm { x = inner, y = $x }\nz = $x")["z"] == "outer"


def test_variable_from_environment(monkeypatch):
    monkeypatch.setenv("NATSD_TEST_PORT", "4444")
    monkeypatch.setenv("NATSD_TEST_SIZE", "2MB")
    monkeypatch.setenv("NATSD_TEST_WORD", "hello")
    got = parse("port = $NATSD_TEST_PORT\nsize = $NATSD_TEST_SIZE\nw = $NATSD_TEST_WORD")
    assert got == {"port": 4444, "size": 2 * 1024**2, "w": "hello"}


def test_file_variable_beats_environment(monkeypatch):
    monkeypatch.setenv("NATSD_TEST_X", "env")
    assert parse("NATSD_TEST_X = file\nv = $NATSD_TEST_X")["v"] == "file"


def test_undefined_variable_reports_its_line(monkeypatch):
    monkeypatch.delenv("NATSD_NOPE", raising=False)
    e = err("a = 1\n\nb = $NATSD_NOPE\n", path="x.conf")
    assert e.line == 3
    assert str(e).startswith("x.conf:3: ")
    assert "variable reference for 'NATSD_NOPE' on line 3 can not be found" in str(e)


def test_environment_variable_cycle(monkeypatch):
    monkeypatch.setenv("NATSD_A", "$NATSD_B")
    monkeypatch.setenv("NATSD_B", "$NATSD_A")
    assert "cycle" in str(err("v = $NATSD_A"))


def test_variables_in_arrays_use_enclosing_maps():
    assert parse("s = foo\nl = [$s, bar]") == {"s": "foo", "l": ["foo", "bar"]}


# ---- include -----------------------------------------------------------------------------


def test_include_relative_to_including_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "auth.conf").write_text("user = bob\npassword = pw\ninclude 'more.conf'\n")
    (tmp_path / "sub" / "more.conf").write_text("token = t\n")
    main = tmp_path / "main.conf"
    main.write_text('port = 1\nauthorization {\n  include "sub/auth.conf"\n}\n')
    assert parse_file(main) == {"port": 1, "authorization": {"user": "bob", "password": "pw", "token": "t"}}


def test_include_defines_variables_for_the_rest(tmp_path):
    (tmp_path / "vars.conf").write_text("PORT: 4555\n")
    main = tmp_path / "main.conf"
    main.write_text("include vars.conf\nport: $PORT\n")
    got = parse_file(main)
    assert got == {"PORT": 4555, "port": 4555}
    assert got.position("PORT").path.endswith("vars.conf")
    assert got.position("port").line == 2


def test_include_keeps_later_keys(tmp_path):
    (tmp_path / "base.conf").write_text("port = 1\ndebug = true\n")
    main = tmp_path / "main.conf"
    main.write_text("include ./base.conf\nport = 2\n")
    assert parse_file(main) == {"port": 2, "debug": True}


def test_include_absolute_path(tmp_path):
    inc = tmp_path / "abs.conf"
    inc.write_text("a = 1\n")
    assert parse(f'include "{inc}"') == {"a": 1}


def test_missing_include_is_an_error(tmp_path):
    main = tmp_path / "main.conf"
    main.write_text("a = 1\ninclude nope.conf\n")
    with pytest.raises(ConfigError) as info:
        parse_file(main)
    assert info.value.line == 2
    assert "error parsing include file 'nope.conf'" in str(info.value)


def test_error_inside_include_names_both_files(tmp_path):
    (tmp_path / "bad.conf").write_text("ok = 1\nbroken = [1,,]\n")
    main = tmp_path / "main.conf"
    main.write_text("include bad.conf\n")
    with pytest.raises(ConfigError) as info:
        parse_file(main)
    msg = str(info.value)
    assert msg.startswith(f"{main}:1: error parsing include file 'bad.conf'")
    assert "bad.conf:2: " in msg


def test_include_cycle_is_an_error(tmp_path):
    (tmp_path / "a.conf").write_text("include b.conf\n")
    (tmp_path / "b.conf").write_text("include a.conf\n")
    with pytest.raises(ConfigError, match="include cycle"):
        parse_file(tmp_path / "a.conf")


def test_include_keyword_needs_a_space():
    # "include = x" is an ordinary key, as in Go.
    assert parse("include: x") == {"include": "x"}


# ---- errors and positions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a = 1\nb =\n2\n", 3, "Expected value but found new line"),
        ("a = 1\nb = 1.5s\n", 2, "Expected a top-level value to end"),
        ("a = [1,,2]", 1, "Unexpected array value terminator"),
        ("a = [1 2]", 1, "Expected an array value terminator"),
        ("m {\n  a = 1 b = 2\n}", 2, "Expected a map value terminator"),
        ("m {\n  a = 1\n", 3, "Unexpected EOF processing map."),
        ('a = "open\n\n', 3, "Unexpected EOF."),
        ("a = 'open", 1, "Unexpected EOF."),
        ("a = (\nno end\n", 3, "Unexpected EOF processing block."),
        ('a = "\\q"', 1, "Invalid escape character 'q'"),
        ('a = "\\xZZ"', 1, "Expected two hexadecimal digits"),
        ("a = 12-01", 1, "ISO8601"),
        ("a = .5", 1, "Floats must start with a digit"),
        ("a = 1.\n", 2, "Floats must have a digit after the '.'"),
        ("a = -x", 1, "Expected a digit"),
        ("a = 1kbib", 1, "unknown size suffix"),
        ("a = 99999999999999999999", 1, "out of the range"),
        ("\n\nlonely", 3, "config is invalid"),
        ("= 1", 1, "Unexpected key separator"),
        ("/a = 1", 1, "Unexpected '/'"),
        ("m { a = }", 1, "has no value"),
    ],
)
def test_errors_carry_line_numbers(text, line, fragment):
    e = err(text, path="t.conf")
    assert e.line == line, str(e)
    assert fragment in str(e)
    assert str(e).startswith(f"t.conf:{line}: ")


def test_error_without_path_uses_string_marker():
    assert str(err("a =\n1")).startswith("<string>:2: ")


def test_positions_follow_go_columns():
    got = parse("port = 1\n  host = x\nm {\n    a = 1\n}", path="p.conf")
    assert got.position("port") == ("p.conf", 1, 0)  # Go: first line counts from 0 ...
    assert got.position("host") == ("p.conf", 2, 3)  # ... later lines from the '\n'
    assert got["m"].position("a") == ("p.conf", 4, 5)
    assert str(got.position("host")) == "p.conf:2:3"


def test_parse_file_missing(tmp_path):
    with pytest.raises(ConfigError, match="error opening config file"):
        parse_file(tmp_path / "absent.conf")


def test_parse_file_records_path(tmp_path):
    f = tmp_path / "x.conf"
    f.write_text("a = 1\n")
    got = parse_file(f)
    assert got.path == str(f)
    assert got.position("a").path == str(f)


# ---- durations and sizes ---------------------------------------------------------------

S = 1_000_000_000


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        ("2m", 120 * S),
        ("10s", 10 * S),
        ("1h30m", 5400 * S),
        ("1.5s", 1_500_000_000),
        (".5s", 500_000_000),
        ("250ms", 250_000_000),
        ("10us", 10_000),
        ("10\u00b5s", 10_000),
        ("7ns", 7),
        ("-1m", -60 * S),
        ("0", 0),
        ("1h2m3s4ms", 3723 * S + 4_000_000),
        (5, 5 * S),
        (0, 0),
        (0.5, 500_000_000),
    ],
)
def test_parse_duration(value, ns):
    assert parse_duration(value) == ns


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "invalid duration"),
        ("10", "missing unit"),
        ("5x", 'unknown unit "x"'),
        ("s", "invalid duration"),
        ("1.", "missing unit"),
        (True, "boolean"),
        ([1], "expected a duration"),
    ],
)
def test_parse_duration_errors(value, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


def test_parse_duration_of_a_parsed_value():
    got = parse('a = "2m"\nb = 90\nc = 1h')
    assert [parse_duration(got[k]) for k in "abc"] == [120 * S, 90 * S, 3600 * S]


@pytest.mark.parametrize(
    ("value", "size"),
    [(512, 512), ("512", 512), ("1MB", 1024**2), ("1M", 10**6), ("64KiB", 64 * 1024), ("2 gb", 2 * 1024**3)],
)
def test_parse_size(value, size):
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["1XB", "MB", "", True, 1.5])
def test_parse_size_errors(value):
    with pytest.raises(ValueError):
        parse_size(value)
