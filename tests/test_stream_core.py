"""Unit tests of the sans-IO stream core: natsd.jetstream.{headers,streamcfg,stream}.

Expected values are the Go server's (v2.15.1), most of them observed on the
wire with a real nats-server: config defaults and errors, PubAck bytes,
publish header checks and their order, MSG.GET/DELETE and direct-get
replies. No Go server is needed to run these tests; time is a parameter.
"""

from __future__ import annotations

import msgspec
import pytest

from natsd.api import MsgGetRequest, StreamConfig, StreamPurgeRequest
from natsd.api.errors import ApiError
from natsd.jetstream import ApiErrorException, Stream, check_config, check_update, encode_puback
from natsd.jetstream import headers as H
from natsd.jetstream.stream import PurgeEvent
from natsd.jetstream.streamcfg import (
    new_subject_transform,
    set_static_metadata,
    subjects_collide,
    subjects_overlap,
    validate_mapping,
    with_dynamic_metadata,
    zero_absent,
)

S = 1_000_000_000
T0 = 1_700_000_000 * S  # a fixed "now"


def conf(**kw) -> StreamConfig:
    """A config as the API layer decodes it (absent duplicate_window = Go's zero)."""
    kw.setdefault("name", "S")
    raw = dict(kw)
    return zero_absent(msgspec.convert(raw, StreamConfig), raw)


def mk(**kw) -> StreamConfig:
    return check_config(conf(**kw), create=True)


def stream(**kw) -> Stream:
    kw.setdefault("subjects", ["s.>"])
    return Stream(mk(**kw), created=T0)


def hdr(*pairs, status: str = "") -> bytes:
    first = "NATS/1.0" + (f" {status}" if status else "")
    return (first + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode()


def err_of(fn, *a, **kw) -> ApiError:
    with pytest.raises(ApiErrorException) as ei:
        fn(*a, **kw)
    return ei.value.error


def cfg_err(**kw) -> tuple[int, str]:
    pedantic = kw.pop("pedantic", False)
    e = err_of(check_config, conf(**kw), pedantic=pedantic, create=True)
    return e.err_code, e.description


def ack(res) -> bytes:
    return encode_puback(res, stream="S")


# --- headers ---------------------------------------------------------------------------------


def test_parse_headers_is_an_ordered_multimap():
    h = H.parse_headers(b"NATS/1.0 503 No Responders\r\nA: 1\r\nb: 2\r\nA: 3\r\n\r\n")
    assert (h.code, h.description) == (503, "No Responders")
    assert h.fields == [("A", "1"), ("b", "2"), ("A", "3")]
    assert h.get("A") == "1" and h.get_all("A") == ["1", "3"]
    assert h.get("B") is None and h.get_fold("B") == "2"
    assert H.parse_headers(h.encode()) == h


def test_header_lookup_is_case_sensitive_and_anchored_like_go():
    raw = hdr(("nats-msg-id", "low"), ("X-Nats-Msg-Id", "pre"), ("Nats-Msg-Id", "  v  "))
    assert H.slice_header("Nats-Msg-Id", raw) == b"v  "  # leading spaces skipped, trailing kept
    assert H.msg_id(hdr(("nats-msg-id", "a"))) == ""
    assert H.slice_header("Nats-Msg-Id", hdr(("Nats-Msg-Id-Other", "x"))) is None
    assert H.msg_id(hdr(("Nats-Msg-Id", ""))) == ""


def test_expected_last_sequence_non_numeric_never_matches():
    assert H.expected_last_seq(hdr(("Nats-Expected-Last-Sequence", "12"))) == 12
    assert H.expected_last_seq(hdr(("Nats-Expected-Last-Sequence", "abc"))) == 2**64 - 1
    assert H.expected_last_seq(hdr(("Nats-Expected-Last-Sequence", ""))) is None
    assert H.expected_last_seq(None) is None


def test_header_edits_match_go():
    assert H.gen_header(None, "K", " v\r\n") == b"NATS/1.0\r\nK: v\r\n\r\n"
    assert H.gen_header(hdr(("A", "1")), "K", "v") == b"NATS/1.0\r\nA: 1\r\nK: v\r\n\r\n"
    assert H.remove_header(hdr(("Foo", "1"), ("B", "2")), "Foo") == hdr(("B", "2"))
    assert H.remove_header(hdr(("Foo", "1")), "Foo") is None
    # Go quirk kept: a key first found at offset < 2 ("A" inside "NATS/1.0") is "absent".
    assert H.slice_header("A", hdr(("A", "1"))) is None
    assert H.remove_status(hdr(("A", "1"), status="503 x")) == hdr(("A", "1"))
    assert H.remove_status(hdr(status="503")) is None
    assert H.set_header("Foo", "22", hdr(("Foo", "1"), ("B", "2"))) == hdr(("Foo", "22"), ("B", "2"))


@pytest.mark.parametrize(
    ("value", "secs"),
    [("1s", 1), ("1.5s", 1), ("1h", 3600), ("5", 5), ("00", 0), ("never", -1), ("NEVER", -1)],
)
def test_nats_ttl_values(value, secs):
    assert H.parse_message_ttl(value) == secs


@pytest.mark.parametrize("value", ["0", "500ms", "0s", "-1", "-1s", "bogus", "1x"])
def test_nats_ttl_invalid_values(value):
    with pytest.raises(H.TTLInvalid):
        H.parse_message_ttl(value)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("1h2m3.5s", 3723 * S + S // 2),
        ("-1.5ms", -1_500_000),
        (".5s", S // 2),
        ("1.s", S),
        ("2µs", 2000),
        ("2μs", 2000),
        ("+3ns", 3),
    ],
)
def test_go_parse_duration(text, ns):
    assert H.parse_go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "1", "s", "1x", ".s", "-", "9223372036854775808ns"])
def test_go_parse_duration_errors(text):
    with pytest.raises(ValueError):
        H.parse_go_duration(text)


def test_go_duration_string_and_times():
    assert [H.go_duration(v) for v in (0, 2 * S, 300 * S, 3600 * S, 1_500_000, 999)] == [
        "0s",
        "2s",
        "5m0s",
        "1h0m0s",
        "1.5ms",
        "999ns",
    ]
    assert H.rfc3339nano(0) == "0001-01-01T00:00:00Z"
    assert H.rfc3339nano(T0) == "2023-11-14T22:13:20Z"
    assert H.rfc3339nano(T0 + 120_000_000) == "2023-11-14T22:13:20.12Z"
    assert H.parse_rfc3339("2023-11-14T22:13:20.12Z") == T0 + 120_000_000
    assert H.parse_rfc3339("2023-11-14T23:13:20+01:00") == T0
    assert H.parse_rfc3339("0001-01-01T00:00:00Z") == 0
    with pytest.raises(ValueError):
        H.parse_rfc3339("yesterday")


# --- config: defaults -------------------------------------------------------------------------


def test_config_defaults_match_go_observed():
    c = mk(name="S", subjects=["s.>"])
    assert (c.subjects, c.retention, c.discard, c.storage, c.compression) == (
        ["s.>"],
        "limits",
        "old",
        "file",
        "none",
    )
    assert (c.max_consumers, c.max_msgs, c.max_bytes, c.max_msgs_per_subject, c.max_msg_size) == (-1,) * 5
    # DefaultPersistMode is Go's zero value: kept as "" so replies omit it, as Go's do
    assert (c.max_age, c.num_replicas, c.duplicate_window, c.persist_mode) == (0, 1, 120 * S, "")
    assert not (c.sealed or c.deny_delete or c.deny_purge or c.allow_rollup_hdrs or c.allow_msg_ttl)


def test_config_subjects_default_to_the_name():
    assert mk(name="ORDERS").subjects == ["ORDERS"]


def test_config_limits_normalise_to_minus_one():
    c = mk(
        subjects=["a"], max_msgs=0, max_bytes=-5, max_msgs_per_subject=-9, max_msg_size=0, max_consumers=-3
    )
    assert (c.max_msgs, c.max_bytes, c.max_msgs_per_subject, c.max_msg_size, c.max_consumers) == (-1,) * 5
    assert cfg_err(subjects=["a"], max_msgs=-5, pedantic=True) == (
        10157,
        "pedantic mode: max_msgs must be set to -1",
    )


def test_duplicate_window_defaults_to_max_age_when_shorter():
    assert mk(subjects=["a"], max_age=3 * S).duplicate_window == 3 * S
    assert mk(subjects=["a"], max_age=600 * S).duplicate_window == 120 * S
    assert mk(mirror={"name": "O"}).duplicate_window == 0
    assert cfg_err(subjects=["a"], max_age=3 * S, pedantic=True) == (
        10157,
        "pedantic mode: duplicate window cannot be bigger than max age",
    )
    c = check_config(conf(subjects=["a"]), max_duplicate_window=60 * S)
    assert c.duplicate_window == 60 * S
    assert err_of(
        check_config, conf(subjects=["a"], duplicate_window=90 * S), max_duplicate_window=60 * S
    ).description == ("duplicates window can not be larger then server limit of 1m0s")


@pytest.mark.parametrize(
    ("kw", "desc"),
    [
        ({"max_age": -1}, "max age can not be negative"),
        ({"max_age": 50_000_000}, "max age needs to be >= 100ms"),
        ({"duplicate_window": -1}, "duplicates window can not be negative"),
        ({"duplicate_window": 50_000_000}, "duplicates window needs to be >= 100ms"),
        ({"max_age": 3 * S, "duplicate_window": 5 * S}, "duplicates window can not be larger then max age"),
        ({"deny_purge": True, "allow_rollup_hdrs": True}, "roll-ups require the purge permission"),
        ({"discard_new_per_subject": True}, "discard new per subject requires discard new policy to be set"),
        (
            {"discard_new_per_subject": True, "discard": "new"},
            "discard new per subject requires max msgs per subject > 0",
        ),
        ({"sealed": True}, "stream configuration for create can not be sealed"),
        ({"mirror_direct": True}, "stream has no mirror but does have mirror direct"),
        ({"num_replicas": 7}, "maximum replicas is 5"),
        ({"subject_delete_marker_ttl": S // 2}, "subject delete marker TTL must be at least 1 second"),
        ({"subject_delete_marker_ttl": -1}, "subject delete marker TTL must not be negative"),
        ({"allow_msg_counter": True, "discard": "new"}, "counter stream cannot use discard new"),
        ({"allow_msg_counter": True, "allow_msg_ttl": True}, "counter stream cannot use message TTLs"),
        (
            {"allow_msg_counter": True, "retention": "interest"},
            "counter stream can only use limits retention",
        ),
        ({"allow_msg_schedules": True, "discard": "new"}, "message scheduling cannot use discard new"),
        (
            {"persist_mode": "async", "storage": "memory"},
            "async persist mode is only supported on file storage",
        ),
        (
            {"persist_mode": "async", "allow_atomic": True},
            "async persist mode is not supported with atomic batch publish",
        ),
        ({"description": "d" * 4097}, "stream description is too long, maximum allowed is 4096"),
        ({"metadata": {"k": "v" * 140000}}, "stream metadata exceeds maximum size of 131072 bytes"),
        ({"placement": {"preferred": "x"}}, "preferred server not permitted in placement"),
        ({"republish": {"dest": "s.x"}}, "stream configuration for republish destination forms a cycle"),
        (
            {"republish": {"src": "s.*", "dest": "rp.$2"}},
            "stream configuration for republish with transform from 's.*' to 'rp.$2' not valid",
        ),
    ],
)
def test_config_errors_10052(kw, desc):
    kw.setdefault("subjects", ["s.>"])
    assert cfg_err(**kw) == (10052, desc)


@pytest.mark.parametrize(
    ("subjects", "desc", "no_ack"),
    [
        (["a", "a"], 'subject "a" overlaps with "a"', False),  # [obs] Go never reaches "duplicate subjects"
        (["a.*", "a.b"], 'subject "a.*" overlaps with "a.b"', False),
        (["a.>", "b", "a.b.c"], 'subject "a.>" overlaps with "a.b.c"', False),
        (["a..b"], "invalid subject", False),
        ([">"], "capturing all subjects requires no-ack to be true", False),
        (["$JS.API.foo"], "subjects that overlap with jetstream api require no-ack to be true", False),
        (["*.>"], "subjects that overlap with jetstream api require no-ack to be true", False),
        (["$SYS.x"], "subjects that overlap with system api require no-ack to be true", False),
    ],
)
def test_config_subject_errors(subjects, desc, no_ack):
    assert cfg_err(subjects=subjects, no_ack=no_ack) == (10052, desc)


@pytest.mark.parametrize("subjects", [["$JS.EVENT.foo"], ["$SYS.ACCOUNT.x"], ["$JSC.>"], [">"]])
def test_config_reserved_subject_exceptions(subjects):
    no_ack = subjects in (["$JSC.>"], [">"])
    assert mk(subjects=subjects, no_ack=no_ack).subjects == subjects


def test_config_names():
    assert cfg_err(name="a.b") == (
        10052,
        "stream name is required and can not contain '.', '*', '>', '\\', '/'",
    )
    assert cfg_err(name="a/b")[0] == 10052
    assert cfg_err(name="x" * 256) == (10052, "stream name is too long, maximum allowed is 255")


def test_config_replicas():
    assert mk(subjects=["a"], num_replicas=0).num_replicas == 1
    assert cfg_err(subjects=["a"], num_replicas=-1) == (10133, "replicas count cannot be negative")
    assert cfg_err(subjects=["a"], num_replicas=3) == (
        10074,
        "replicas > 1 not supported in non-clustered mode",
    )
    assert check_config(conf(subjects=["a"], num_replicas=3), standalone=False).num_replicas == 3


def test_subject_delete_marker_ttl_enables_ttl_and_rollup():
    c = mk(subjects=["a"], subject_delete_marker_ttl=2 * S, deny_purge=True)
    assert (c.allow_msg_ttl, c.allow_rollup_hdrs, c.deny_purge) == (True, True, False)
    assert cfg_err(subjects=["a"], subject_delete_marker_ttl=2 * S, pedantic=True) == (
        10052,
        "subject delete marker cannot be set if message TTLs are disabled",
    )
    assert mk(subjects=["a"], allow_msg_schedules=True).allow_rollup_hdrs


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"mirror": {"name": "O"}, "subjects": ["q"]}, 10034),
        ({"mirror": {"name": "O"}, "first_seq": 5}, 10143),
        ({"mirror": {"name": "O"}, "sources": [{"name": "P"}]}, 10031),
        ({"mirror": {"name": "O.x"}}, 10142),
        ({"mirror": {"name": "O"}, "allow_msg_counter": True}, 10173),
        (
            {
                "mirror": {
                    "name": "O",
                    "filter_subject": "a",
                    "subject_transforms": [{"src": "a", "dest": "b"}],
                }
            },
            10150,
        ),
        ({"sources": [{"name": "O"}, {"name": "O"}]}, 10140),
        ({"sources": [{"name": "O.x"}]}, 10141),
        ({"sources": [{"name": "O", "subject_transforms": [{"src": "a.*", "dest": "b.$2"}]}]}, 10146),
        ({"sources": [{"name": "O", "external": {"api": "$JS.API", "deliver": "d"}}]}, 10021),
        ({"sources": [{"name": "O", "external": {"deliver": "d.*"}}]}, 10024),
        ({"subjects": ["x.*"], "subject_transform": {"src": "x..", "dest": "y"}}, 10155),
        ({"subjects": ["x.*"], "subject_transform": {"src": "x.*", "dest": "y.{{foo(1)}}"}}, 10156),
    ],
)
def test_config_mirror_source_transform_errors(kw, code):
    assert cfg_err(**kw)[0] == code


def test_config_transforms_and_placement():
    c = mk(
        subjects=["x.*"], subject_transform={"src": "x.*", "dest": "y.{{left(1,1)}}"}
    )  # accepted by v2.15.1
    assert c.subject_transform.dest == "y.{{left(1,1)}}"
    assert mk(subjects=["a"], placement={}).placement is None
    assert mk(subjects=["a"], placement={"cluster": "c"}).placement.cluster == "c"
    assert mk(subjects=["s.>"], republish={"dest": "rp.>"}).republish.src == ">"
    assert cfg_err(subjects=["s.>"], republish={"dest": "rp.>"}, pedantic=True) == (
        10157,
        "pedantic mode: republish source can not be empty",
    )


def test_config_cycle_detection_uses_lookup():
    others = {"B": mk(name="B", sources=[{"name": "A"}], subjects=["b"])}
    cfg = conf(name="A", subjects=["a"], sources=[{"name": "B"}])
    e = err_of(check_config, cfg, lookup=others.get)
    assert e.description == "detected cycle"
    assert check_config(cfg).sources[0].name == "B"  # nothing visible: no cycle


# Each (config, err_code) pair was observed on a v2.15.1 server.
@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"mirror": {"name": "O"}, "allow_atomic": True}, 10198),
        ({"mirror": {"name": "O"}, "allow_batched": True}, 10209),
        ({"mirror": {"name": "O"}, "allow_msg_schedules": True}, 10186),
        ({"mirror": {"name": "O", "subject_transforms": [{"src": "a..b", "dest": "x"}]}}, 10151),
        ({"mirror": {"name": "O", "subject_transforms": [{"src": "a.*", "dest": "b.$2"}]}}, 10154),
        (
            {"mirror": {"name": "O", "subject_transforms": [{"src": "o.>", "dest": "b.>"}, {"src": "o.x", "dest": "c"}]}},
            10152,
        ),
        ({"mirror": {"name": "O", "filter_subject": "o.a", "consumer": {"name": "c", "deliver_subject": "d"}}}, 10213),
        ({"sources": [{"name": "O"}], "allow_msg_schedules": True}, 10187),
        (
            {"sources": [{"name": "O", "filter_subject": "o.x", "subject_transforms": [{"src": "o.x", "dest": "y"}]}]},
            10144,
        ),
        ({"sources": [{"name": "O", "subject_transforms": [{"src": "a..b", "dest": "x"}]}]}, 10145),
        (
            {"sources": [{"name": "O", "subject_transforms": [{"src": "o.>", "dest": "b.>"}, {"src": "o.x", "dest": "c"}]}]},
            10147,
        ),
        (
            {
                "sources": [
                    {"name": "O", "consumer": {"name": "c", "deliver_subject": "d"}},
                    {"name": "O", "filter_subject": "o.a", "consumer": {"name": "c", "deliver_subject": "d2"}},
                ]
            },
            10215,
        ),
        (
            {
                "sources": [
                    {"name": "O", "consumer": {"name": "c", "deliver_subject": "d"}},
                    {
                        "name": "O",
                        "subject_transforms": [{"src": "o.a", "dest": "z"}],
                        "consumer": {"name": "c", "deliver_subject": "d2"},
                    },
                ]
            },
            10216,
        ),
    ],
)
def test_config_mirror_and_source_feature_errors(kw, code):
    assert cfg_err(**kw)[0] == code


def test_config_checks_against_the_origin_stream():
    origins = {"O": mk(name="O", subjects=["o.>"], max_msg_size=100, allow_direct=True)}

    def check(**kw):
        return check_config(conf(**kw), create=True, lookup=origins.get)

    assert check(name="M", mirror={"name": "O"}).mirror_direct is True  # taken from the origin
    e = err_of(check, name="M", mirror={"name": "O"}, max_msg_size=50)
    assert (e.err_code, e.description) == (10030, "stream mirror must have max message size >= source")
    e = err_of(check, name="Q", sources=[{"name": "O"}], max_msg_size=50)
    assert (e.err_code, e.description) == (10046, "stream source must have max message size >= target")
    e = err_of(check, name="Q", sources=[{"name": "O"}, {"name": "P", "external": {"api": "$JS.x.API", "deliver": "o"}}])
    assert (e.err_code, e.description) == (10022, "stream external delivery prefix o overlaps with stream subject o.>")


def test_metadata_levels():
    assert set_static_metadata(conf(subjects=["a"])).metadata == {"_nats.req.level": "0"}
    assert set_static_metadata(conf(subjects=["a"], allow_msg_ttl=True)).metadata["_nats.req.level"] == "1"
    assert set_static_metadata(conf(subjects=["a"], allow_atomic=True)).metadata["_nats.req.level"] == "2"
    assert set_static_metadata(conf(subjects=["a"], allow_batched=True)).metadata["_nats.req.level"] == "4"
    c = with_dynamic_metadata(set_static_metadata(conf(subjects=["a"])), "2.15.1")
    assert c.metadata == {"_nats.req.level": "0", "_nats.ver": "2.15.1", "_nats.level": "5"}
    c2 = set_static_metadata(c)
    assert c2.metadata == {"_nats.req.level": "0"}


def test_zero_absent_only_touches_absent_fields():
    assert zero_absent(StreamConfig(name="a"), {"name": "a"}).duplicate_window == 0
    assert (
        zero_absent(StreamConfig(name="a"), {"name": "a", "duplicate_window": 5}).duplicate_window == 120 * S
    )


@pytest.mark.parametrize(
    ("a", "b", "hit"),
    [
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
        ("a.*", "a.b", True),
        ("a.>", "a.b.c", True),
        ("a.*", "a.b.c", False),
        ("*.b", "a.*", True),
        ("a.*.c", "a.>", True),
        ("a.*", "b.>", False),
        ("a.b.>", "a.*", False),
        (">", "x", True),
    ],
)
def test_subjects_collide(a, b, hit):
    assert subjects_collide(a, b) is hit and subjects_collide(b, a) is hit


def test_subjects_overlap_between_streams():
    assert subjects_overlap(["a.>", "b"], ["c", "a.x"])
    assert not subjects_overlap(["a.>", "b"], ["c", "b.x"])


def test_subject_transform_functions():
    tr = new_subject_transform("x.*.*", "y.$2.{{wildcard(1)}}")
    assert tr.match("x.a.b") == "y.b.a" and tr.match("z.a.b") is None
    assert new_subject_transform("a.*", "b.{{splitfromleft(1,2)}}").match("a.abcd") == "b.ab.cd"
    assert new_subject_transform("a.*", "b.{{SliceFromRight(1,2)}}").match("a.abcde") == "b.a.bc.de"
    assert new_subject_transform("a.*", "b.{{split(1,-)}}").match("a.-x--y-") == "b.x.y"
    assert new_subject_transform("a.>", "b.>").match("a.c.d") == "b.c.d"
    assert new_subject_transform("a.*", "p.{{partition(3,1)}}").match("a.k") in ("p.0", "p.1", "p.2")
    assert (
        validate_mapping("a.*", "b.{{nope(1)}}")
        == "invalid mapping destination: unknown function in {{nope(1)}}"
    )
    assert (
        validate_mapping("a.*", "b.$2")
        == "invalid mapping destination: wildcard index out of range in $2: [2]"
    )


# --- config: update ---------------------------------------------------------------------------


def upd(old_kw: dict, new_kw: dict) -> StreamConfig:
    old = mk(subjects=["u.>"], **old_kw)
    return check_update(old, conf(subjects=["u.>"], **new_kw))


@pytest.mark.parametrize(
    ("old_kw", "new_kw", "desc"),
    [
        ({}, {"storage": "memory"}, "stream configuration update can not change storage type"),
        (
            {},
            {"retention": "workqueue"},
            "stream configuration update can not change retention policy to/from workqueue",
        ),
        ({"deny_delete": True}, {}, "stream configuration update can not cancel deny message deletes"),
        ({"deny_purge": True}, {}, "stream configuration update can not cancel deny purge"),
        ({"allow_msg_ttl": True}, {}, "message TTL status can not be disabled"),
        (
            {},
            {"allow_msg_counter": True},
            "stream configuration update can not change message counter setting",
        ),
        ({"allow_msg_schedules": True}, {}, "message schedules can not be disabled"),
        ({}, {"persist_mode": "async"}, "stream configuration update can not change persist mode"),
        ({}, {"name": "Other"}, "stream configuration name must match original"),
    ],
)
def test_update_errors(old_kw, new_kw, desc):
    e = err_of(upd, old_kw, new_kw)
    assert (e.code, e.err_code, e.description) == (500, 10052, desc)


def test_update_allows_limits_interest_and_seals():
    assert upd({}, {"retention": "interest"}).retention == "interest"
    assert upd({}, {"max_consumers": 10}).max_consumers == 10
    c = upd(
        {"allow_rollup_hdrs": True, "max_age": 5 * S},
        {"sealed": True, "allow_rollup_hdrs": True, "max_age": 5 * S},
    )
    assert (c.sealed, c.max_age, c.discard, c.deny_delete, c.deny_purge, c.allow_rollup_hdrs) == (
        True,
        0,
        "new",
        True,
        True,
        False,
    )
    e = err_of(upd, {"sealed": False}, {"num_replicas": 3})
    assert e.err_code == 10074
    old = mk(mirror={"name": "O"})
    assert err_of(check_update, old, conf(mirror={"name": "P"})).err_code == 10055
    assert check_update(old, conf(subjects=["p"])).mirror is None  # promote


def test_update_unseal_is_refused():
    old = check_update(mk(subjects=["u"]), conf(subjects=["u"], sealed=True))
    assert err_of(check_update, old, conf(subjects=["u"], deny_delete=True, deny_purge=True)).description == (
        "stream configuration update can not unseal a sealed stream"
    )


# --- PubAck bytes ------------------------------------------------------------------------------


def test_puback_bytes_match_go_template():
    from natsd.api import PubAck

    assert encode_puback(PubAck(stream="S", seq=7)) == b'{"stream":"S","seq":7}'
    assert (
        encode_puback(PubAck(stream="S", seq=7, duplicate=True))
        == b'{"stream":"S","seq":7,"duplicate": true}'
    )
    assert encode_puback(PubAck(stream="S", seq=7, domain="hub")) == b'{"stream":"S","domain":"hub","seq":7}'
    assert encode_puback(PubAck(stream="S", seq=7, val="3")) == b'{"stream":"S","seq":7,"val":"3"}'
    assert encode_puback(PubAck(stream="S", seq=7, batch="b", count=2)) == (
        b'{"stream":"S","seq":7,"batch":"b","count":2}'
    )
    e = ApiError(code=500, err_code=10111, description='rollup value invalid: "bad<"')
    assert encode_puback(e, stream="S") == (
        b'{"error":{"code":500,"err_code":10111,"description":"rollup value invalid: \\"bad\\u003c\\""},'
        b'"stream":"S","seq":0}'
    )


# --- publish -------------------------------------------------------------------------------------


def test_publish_assigns_sequences_and_state():
    st = stream()
    assert ack(st.process_msg("s.1", None, b"x", T0)) == b'{"stream":"S","seq":1}'
    assert ack(st.process_msg("s.2", hdr(("A", "1")), b"y", T0 + 1)) == b'{"stream":"S","seq":2}'
    state = st.info(T0 + 2).state
    assert (state.messages, state.first_seq, state.last_seq, state.num_subjects) == (2, 1, 2, 2)
    assert state.first_ts == "2023-11-14T22:13:20Z" and state.last_ts == "2023-11-14T22:13:20.000000001Z"
    assert state.bytes == (3 + 1 + 16) + (3 + len(hdr(("A", "1"))) + 1 + 16)


def test_empty_stream_info_uses_zero_time_and_purge_moves_first_past_last():
    st = stream()
    s0 = st.info(T0).state
    assert (s0.first_seq, s0.last_seq, s0.first_ts, s0.last_ts) == (0, 0, H.ZERO_TIME, H.ZERO_TIME)
    assert s0.num_subjects is None and s0.subjects is None and s0.consumer_count == 0
    for i in range(3):
        st.process_msg("s.1", None, b"x", T0 + i)
    assert st.purge(None) == 3
    s1 = st.info(T0).state
    assert (s1.messages, s1.first_seq, s1.last_seq, s1.first_ts) == (0, 4, 3, H.ZERO_TIME)
    assert s1.last_ts == H.rfc3339nano(T0 + 2)


def test_info_subjects_only_with_filter_and_deleted_details():
    st = stream()
    for i in range(4):
        st.process_msg(f"s.{i % 2}", None, b"x", T0)
    st.delete_msg(2)
    st.consumer_count = 3
    info = st.info(T0, server_name="srv")
    assert info.state.subjects is None and info.state.num_deleted == 1 and info.state.deleted is None
    assert info.cluster.leader == "srv" and info.state.consumer_count == 3
    info = st.info(T0, subjects_filter="s.*", deleted_details=True)
    assert info.state.subjects == {"s.0": 2, "s.1": 1} and info.state.deleted == [2]
    assert st.subject_details("s.0") == ({"s.0": 2}, 1)


def test_dedupe_within_window_then_forgotten():
    st = stream(duplicate_window=2 * S)
    h = hdr(("Nats-Msg-Id", "m1"))
    assert ack(st.process_msg("s.1", h, b"x", T0)) == b'{"stream":"S","seq":1}'
    assert ack(st.process_msg("s.1", h, b"x", T0 + S)) == b'{"stream":"S","seq":1,"duplicate": true}'
    assert st.next_deadline() == T0 + 2 * S
    assert ack(st.process_msg("s.1", h, b"x", T0 + 2 * S)) == b'{"stream":"S","seq":2}'
    st.expire(T0 + 10 * S)
    assert st.msg_ids() == {} and st.next_deadline() is None


def test_dedupe_header_is_case_sensitive():
    st = stream()
    h = hdr(("nats-msg-id", "m1"))
    assert st.process_msg("s.1", h, b"x", T0).seq == 1
    assert st.process_msg("s.1", h, b"x", T0).seq == 2


def test_expected_stream_and_last_sequence():
    st = stream()
    st.process_msg("s.1", None, b"x", T0)
    assert ack(st.process_msg("s.1", hdr(("Nats-Expected-Stream", "T")), b"x", T0)) == (
        b'{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"},"stream":"S","seq":0}'
    )
    assert st.process_msg("s.1", hdr(("Nats-Expected-Last-Sequence", "1")), b"x", T0).seq == 2
    e = st.process_msg("s.1", hdr(("Nats-Expected-Last-Sequence", "1")), b"x", T0)
    assert (e.code, e.err_code, e.description) == (400, 10071, "wrong last sequence: 2")
    st.purge(None)
    assert (
        st.process_msg("s.1", hdr(("Nats-Expected-Last-Sequence", "2")), b"x", T0).seq == 3
    )  # survives purge
    assert st.process_msg("s.1", hdr(("Nats-Expected-Last-Sequence", "x")), b"x", T0).description == (
        "wrong last sequence: 3"
    )


def test_expected_last_subject_sequence():
    st = stream()
    h0 = hdr(("Nats-Expected-Last-Subject-Sequence", "0"))
    assert st.process_msg("s.a", h0, b"x", T0).seq == 1
    assert st.process_msg("s.a", h0, b"x", T0).description == "wrong last sequence: 1"
    assert st.process_msg("s.b", h0, b"x", T0).seq == 2
    assert st.process_msg("s.a", hdr(("Nats-Expected-Last-Subject-Sequence", "1")), b"x", T0).seq == 3
    over = hdr(
        ("Nats-Expected-Last-Subject-Sequence", "3"), ("Nats-Expected-Last-Subject-Sequence-Subject", "s.*")
    )
    assert st.process_msg("s.c", over, b"x", T0).seq == 4
    e = st.process_msg("s.c", hdr(("Nats-Expected-Last-Subject-Sequence-Subject", "s.*")), b"x", T0)
    assert (e.err_code, e.description) == (10193, "missing sequence for expected last sequence per subject")
    e = st.process_msg("s.z", hdr(("Nats-Expected-Last-Subject-Sequence", "9")), b"x", T0)
    assert e.description == "wrong last sequence: 0"


def test_expected_last_msg_id():
    st = stream()
    e = st.process_msg("s.1", hdr(("Nats-Expected-Last-Msg-Id", "zz")), b"x", T0)
    assert (e.code, e.err_code, e.description) == (400, 10070, "wrong last msg ID: ")
    st.process_msg("s.1", hdr(("Nats-Msg-Id", "a")), b"x", T0)
    assert st.process_msg("s.1", hdr(("Nats-Expected-Last-Msg-Id", "a")), b"x", T0).seq == 2
    assert st.process_msg("s.1", hdr(("Nats-Expected-Last-Msg-Id", "a")), b"x", T0).description == (
        "wrong last msg ID: "
    )


def test_rollup_rules():
    st = stream()
    e = st.process_msg("s.1", hdr(("Nats-Rollup", "xx")), b"x", T0)
    assert (e.code, e.err_code, e.description) == (500, 10111, "rollup not permitted")
    st = stream(allow_rollup_hdrs=True)
    for i in range(3):
        st.process_msg(f"s.{i % 2}", None, b"x", T0)
    assert (
        st.process_msg("s.0", hdr(("Nats-Rollup", "bad")), b"x", T0).description
        == 'rollup value invalid: "bad"'
    )
    assert st.process_msg("s.0", hdr(("Nats-Rollup", "SUB")), b"x", T0).seq == 4
    assert st.store.subjects_totals(">") == {"s.0": 1, "s.1": 1}
    events: list[PurgeEvent] = []
    st.on_purged = events.append
    assert st.process_msg("s.1", hdr(("Nats-Rollup", "all")), b"x", T0).seq == 5
    assert st.store.subjects_totals(">") == {"s.1": 1}
    assert events == [PurgeEvent(filter="", first_seq=5, filtered_first=5, last_seq=5, purged=2)]
    assert (
        stream(allow_rollup_hdrs=False).process_msg("s.1", hdr(("Nats-Rollup", "sub")), b"x", T0).err_code
        == 10111
    )


def test_ttl_rules_and_expiry():
    st = stream()
    assert st.process_msg("s.1", hdr(("Nats-TTL", "never")), b"x", T0).err_code == 10166
    assert st.process_msg("s.1", hdr(("Nats-TTL", "0")), b"x", T0).err_code == 10165  # invalid beats disabled
    assert st.process_msg("s.1", hdr(("Nats-TTL", "00")), b"x", T0).seq == 1  # "00" is no TTL
    st = stream(allow_msg_ttl=True, max_age=10 * S)
    e = st.process_msg("s.1", hdr(("Nats-TTL", "500ms")), b"x", T0)
    assert (e.code, e.err_code, e.description) == (400, 10165, "invalid per-message TTL")
    st.process_msg("s.1", hdr(("Nats-TTL", "2s")), b"x", T0)
    st.process_msg("s.2", hdr(("Nats-TTL", "never")), b"x", T0)
    st.process_msg("s.3", None, b"x", T0)
    assert st.next_deadline() == T0 + 2 * S
    assert st.expire(T0 + 2 * S) == 1
    assert st.expire(T0 + 10 * S) == 1
    assert st.store.subjects_totals(">") == {"s.2": 1}  # never exempts from max_age


def test_subject_delete_marker_on_max_age():
    st = stream(max_age=S, subject_delete_marker_ttl=2 * S)
    st.process_msg("s.a", None, b"1", T0)
    st.process_msg("s.b", None, b"1", T0)
    st.process_msg("s.b", None, b"2", T0 + S // 2)
    assert st.expire(T0 + S) == 2
    m = st.store.load_last_msg("s.a")
    assert m.hdr == b"NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: 2s\r\nNats-Rollup: sub\r\n\r\n"
    assert m.data == b"" and st.store.subjects_totals("s.b") == {"s.b": 1}
    st.expire(T0 + S + 2 * S)  # the marker expires by its TTL and leaves no marker behind
    assert st.store.subjects_totals("s.a") == {}


def test_ttl_raised_to_marker_ttl():
    st = stream(allow_msg_ttl=True, subject_delete_marker_ttl=2 * S)
    st.process_msg("s.b", hdr(("Nats-TTL", "1.5s")), b"1", T0)
    assert st.store.load_msg(1).hdr == b"NATS/1.0\r\nNats-TTL: 2\r\n\r\n"


def test_max_msg_size_and_header_limit_come_right_after_sealed():
    st = stream(max_msg_size=40, storage="memory")
    st.process_msg("s.1", hdr(("Nats-Msg-Id", "a")), b"1", T0)
    e = st.process_msg("s.1", hdr(("Nats-Msg-Id", "a")), b"x" * 30, T0)  # v2.15.1: size beats dedupe
    assert (e.code, e.err_code, e.description) == (400, 10054, "message size exceeds maximum allowed")
    assert st.process_msg("s.1", hdr(("Nats-Expected-Stream", "B")), b"x" * 30, T0).err_code == 10054
    assert st.process_msg("s.1", None, b"x" * 40, T0).seq == 2
    big = hdr(("X", "y" * 66000))
    assert stream().process_msg("s.1", big + b"", b"1", T0).err_code == 10097
    assert (
        stream().process_msg("s.1", hdr(("Nats-Expected-Stream", "B"), ("X", "y" * 66000)), b"", T0).err_code
        == 10097
    )


def test_file_record_too_large():
    e = stream(storage="file").process_msg("s.1", None, b"x" * (32 * 1024 * 1024), T0)
    assert (e.code, e.err_code, e.description) == (503, 10077, "message too large")


def test_sealed_stream_rejects_publish_purge_delete():
    st = stream(allow_rollup_hdrs=True)
    st.process_msg("s.1", None, b"x", T0)
    st.update(check_update(st.config, conf(subjects=["s.>"], sealed=True)))
    for res in (st.process_msg("s.1", None, b"x", T0), st.purge(None), st.delete_msg(1)):
        assert (res.code, res.err_code, res.description) == (400, 10109, "invalid operation on sealed stream")


def test_discard_new_errors():
    st = stream(
        discard="new", max_msgs=2, max_msgs_per_subject=1, discard_new_per_subject=True, storage="memory"
    )
    st.process_msg("s.1", None, b"1", T0)
    e = st.process_msg("s.1", None, b"2", T0)
    assert (e.code, e.err_code, e.description) == (503, 10077, "maximum messages per subject exceeded")
    st.process_msg("s.2", None, b"3", T0)
    assert st.process_msg("s.3", None, b"4", T0).description == "maximum messages exceeded"
    st = stream(discard="new", max_bytes=100, storage="memory")
    st.process_msg("s.1", None, b"x" * 40, T0)
    assert st.process_msg("s.1", None, b"x" * 40, T0).description == "maximum bytes exceeded"


def test_discard_old_and_per_subject_limits_evict():
    st = stream(max_msgs=3, max_msgs_per_subject=2)
    for i in range(5):
        st.process_msg("s.a" if i < 3 else "s.b", None, b"%d" % i, T0)
    state = st.info(T0).state
    assert (state.messages, state.first_seq, state.last_seq) == (3, 3, 5)
    assert st.store.subjects_totals(">") == {"s.a": 1, "s.b": 2}


def test_subject_transform_applies_before_storing_and_republish():
    st = stream(
        subjects=["in.*"],
        subject_transform={"src": "in.*", "dest": "st.$1"},
        republish={"src": "st.*", "dest": "rp.$1"},
    )
    st.process_msg("in.a", None, b"x", T0)
    st.process_msg("in.a", hdr(("K", "v")), b"y", T0 + 1)
    assert st.store.load_msg(1).subject == "st.a"
    out = st.drain_outbox()
    assert [o.subject for o in out] == ["rp.a", "rp.a"]
    assert out[1].hdr == (
        b"NATS/1.0\r\nK: v\r\nNats-Stream: S\r\nNats-Subject: st.a\r\nNats-Sequence: 2\r\n"
        b"Nats-Time-Stamp: 2023-11-14T22:13:20.000000001Z\r\nNats-Last-Sequence: 1\r\n\r\n"
    )
    assert out[1].data == b"y" and st.drain_outbox() == []
    st = stream(republish={"dest": "rp.>", "headers_only": True})
    st.process_msg("s.1", None, b"hello", T0)
    (o,) = st.drain_outbox()
    assert o.subject == "rp.s.1" and o.data == b"" and o.hdr.endswith(b"Nats-Msg-Size: 5\r\n\r\n")


def test_interest_stream_without_consumers_skips_but_acks():
    st = stream(retention="interest")
    assert st.process_msg("s.1", None, b"x", T0).seq == 1
    state = st.info(T0).state
    assert (state.messages, state.first_seq, state.last_seq) == (0, 2, 1)
    st.consumer_count, st.interest = 1, (lambda subj: subj == "s.2")
    assert st.process_msg("s.2", None, b"x", T0).seq == 2
    assert st.info(T0).state.messages == 1


def test_counters():
    st = stream(allow_msg_counter=True)
    assert ack(st.process_msg("s.c", hdr(("Nats-Incr", "5")), b"", T0)) == b'{"stream":"S","seq":1,"val":"5"}'
    assert (
        ack(st.process_msg("s.c", hdr(("Nats-Incr", "-2")), b"", T0)) == b'{"stream":"S","seq":2,"val":"3"}'
    )
    assert st.store.load_msg(2).data == b'{"val":"3"}'
    assert st.process_msg("s.c", None, b"", T0).err_code == 10169
    assert st.process_msg("s.c", hdr(("Nats-Incr", "1")), b"x", T0).err_code == 10170
    assert st.process_msg("s.c", hdr(("Nats-Incr", "1"), ("Nats-Rollup", "sub")), b"", T0).err_code == 10171
    assert st.process_msg("s.c", hdr(("Nats-Incr", "x1")), b"", T0).err_code == 10171
    assert stream().process_msg("s.c", hdr(("Nats-Incr", "1")), b"", T0).err_code == 10168


def test_counter_with_an_unreadable_stored_value_is_broken():
    from natsd.store import MemStore

    store = MemStore()
    store.store_msg("s.c", None, b"not json", now=T0)  # e.g. written before the stream was a counter
    st = Stream(mk(subjects=["s.>"], allow_msg_counter=True), store, T0)
    e = st.process_msg("s.c", hdr(("Nats-Incr", "1")), b"", T0)
    assert (e.code, e.err_code, e.description) == (400, 10172, "message counter is broken")
    assert st.info(T0).state.messages == 1


def test_unsupported_and_banned_headers():
    st = stream()
    e = st.process_msg("s.1", hdr(("Nats-Batch-Id", "b")), b"", T0)
    assert (e.err_code, e.description) == (10174, "atomic publish is disabled")
    assert st.process_msg("s.1", None, b"", T0, reply="_INBOX.b.10.ok.1.0.$FI").err_code == 10205
    assert st.process_msg("s.1", hdr(("Nats-Schedule", "@every 1s")), b"", T0).err_code == 10188
    assert st.process_msg("s.1", hdr(("Nats-Schedule-Next", "x")), b"", T0).err_code == 10212
    assert st.process_msg("s.1", hdr(("Nats-Scheduler", "s.9")), b"", T0).err_code == 10212
    e = st.process_msg("s.1", hdr(("Nats-Stream-Source", "X 1")), b"", T0)
    assert (e.err_code, e.description) == (10227, "message stream source header is not allowed")


def test_status_line_and_request_info_are_stripped():
    st = stream()
    st.process_msg("s.1", hdr(("A", "1"), status="503 x"), b"x", T0)
    st.process_msg("s.1", hdr(("Nats-Request-Info", "{}"), ("A", "1")), b"x", T0)
    st.process_msg("s.1", hdr(status="503"), b"x", T0)
    assert [st.store.load_msg(i).hdr for i in (1, 2, 3)] == [hdr(("A", "1")), hdr(("A", "1")), None]


def test_first_seq_config():
    st = stream(first_seq=10)
    assert st.info(T0).state.last_seq == 9
    assert st.process_msg("s.1", None, b"x", T0).seq == 10


def test_update_applies_lower_limits():
    st = stream()
    for _i in range(5):
        st.process_msg("s.1", None, b"x", T0)
    st.update(check_update(st.config, conf(subjects=["s.>"], max_msgs=2)), T0)
    assert st.info(T0).state.messages == 2


# --- purge / get / delete -----------------------------------------------------------------------


def filled(**kw) -> Stream:
    st = stream(**kw)
    for i in range(6):
        st.process_msg(f"s.{i % 2}", hdr(("I", str(i))) if i == 2 else None, b"%d" % i, T0 + i)
    return st


def test_purge_variants():
    assert filled().purge(StreamPurgeRequest(filter="s.0")) == 3
    assert filled().purge(StreamPurgeRequest(seq=4)) == 3
    assert filled().purge(StreamPurgeRequest(keep=2)) == 4
    assert filled().purge(StreamPurgeRequest(filter="s.1", keep=1)) == 2
    st = filled()
    e = st.purge(StreamPurgeRequest(seq=2, keep=1))
    assert (e.code, e.err_code, e.description) == (400, 10003, "bad request")
    e = filled(deny_purge=True).purge(None)
    assert (e.code, e.err_code, e.description) == (500, 10110, "stream purge not permitted")


def test_get_msg():
    st = filled()
    m = st.get_msg(MsgGetRequest(seq=3))
    assert (m.subject, m.seq, m.hdrs, m.data, m.time) == (
        "s.0",
        3,
        "TkFUUy8xLjANCkk6IDINCg0K",
        "Mg==",
        "2023-11-14T22:13:20.000000002Z",
    )
    assert st.get_msg(MsgGetRequest(seq=3, no_hdr=True)).hdrs is None
    assert st.get_msg(MsgGetRequest(last_by_subj="s.1")).seq == 6
    assert st.get_msg(MsgGetRequest(next_by_subj="s.1", seq=3)).seq == 4
    assert st.get_msg(MsgGetRequest(next_by_subj="s.*")).seq == 1
    e = st.get_msg(MsgGetRequest(seq=99))
    assert (e.code, e.err_code, e.description) == (404, 10037, "no message found")
    assert st.get_msg(MsgGetRequest(seq=1, last_by_subj="s.1")).err_code == 10003
    assert st.get_msg(MsgGetRequest(seq=1, batch=2)).err_code == 10003
    assert st.get_msg(MsgGetRequest(start_time=H.rfc3339nano(T0 + 4))).seq == 5


def test_delete_msg_errors_memory_and_file():
    st = filled(storage="memory")
    assert st.delete_msg(2) is None
    e = st.delete_msg(2)
    assert (e.code, e.err_code, e.description) == (400, 10043, "sequence 2 not found")
    assert st.delete_msg(0).description == "sequence 0 not found"
    st = filled(storage="file")
    assert st.delete_msg(1, no_erase=True) is None
    assert [st.delete_msg(s).description for s in (1, 0, 99)] == ["no message found"] * 2 + [
        "stream store EOF"
    ]
    assert st.delete_msg(3) is None and st.delete_msg(3).description == "sequence 3 not found"
    e = filled(deny_delete=True).delete_msg(1)
    assert (e.code, e.err_code, e.description) == (500, 10057, "message delete not permitted")


# --- direct get -----------------------------------------------------------------------------------


def frames(replies):
    return [(r.hdr, r.data) for r in replies]


def test_direct_get_single_and_errors():
    st = filled(allow_direct=True)
    (r,) = st.direct_get(MsgGetRequest(seq=3))
    assert (
        r.hdr
        == (
            b"NATS/1.0\r\nI: 2\r\nNats-Stream: S\r\nNats-Subject: s.0\r\nNats-Sequence: 3\r\n"
            b"Nats-Time-Stamp: 2023-11-14T22:13:20.000000002Z\r\n\r\n"
        )
        and r.data == b"2"
    )
    assert frames(st.direct_get(MsgGetRequest(seq=3, no_hdr=True))) == [(None, b"2")]
    assert frames(st.direct_get(MsgGetRequest(seq=99))) == [(b"NATS/1.0 404 Message Not Found\r\n\r\n", b"")]
    assert frames(st.direct_get(MsgGetRequest())) == [(b"NATS/1.0 408 Empty Request\r\n\r\n", b"")]
    assert frames(st.direct_get(MsgGetRequest(seq=1, last_by_subj="s.1"))) == [
        (b"NATS/1.0 408 Bad Request\r\n\r\n", b"")
    ]
    assert st.direct_get_last("s.1")[0].data == b"5"
    assert frames(st.direct_get_last("")) == [(b"NATS/1.0 408 Bad Request\r\n\r\n", b"")]


def test_direct_get_batch_and_eob():
    st = filled()
    out = st.direct_get(MsgGetRequest(seq=2, batch=2))
    assert [r.data for r in out] == [b"1", b"2", b""]
    assert b"Nats-Num-Pending: 4\r\nNats-Last-Sequence: 0\r\n" in out[0].hdr
    assert out[2].hdr == b"NATS/1.0 204 EOB\r\nNats-Num-Pending: 3\r\nNats-Last-Sequence: 3\r\n\r\n"
    out = st.direct_get(MsgGetRequest(seq=2, batch=2, no_hdr=True))  # no_hdr: pending is not counted down
    assert frames(out)[:2] == [(None, b"1"), (None, b"2")]
    assert out[2].hdr == b"NATS/1.0 204 EOB\r\nNats-Num-Pending: 5\r\nNats-Last-Sequence: 3\r\n\r\n"
    out = st.direct_get(MsgGetRequest(seq=1, batch=5, max_bytes=5))
    assert [r.data for r in out] == [b"0", b"1", b""]


def test_direct_get_multi_last():
    st = filled()
    out = st.direct_get(MsgGetRequest(multi_last=["s.*"]))
    assert [r.data for r in out] == [b"4", b"5", b""]
    assert out[-1].hdr == (
        b"NATS/1.0 204 EOB\r\nNats-Num-Pending: 0\r\nNats-Last-Sequence: 6\r\nNats-UpTo-Sequence: 6\r\n\r\n"
    )
    out = st.direct_get(MsgGetRequest(multi_last=["s.*"], up_to_seq=4))
    assert [r.data for r in out] == [b"2", b"3", b""]
    assert frames(st.direct_get(MsgGetRequest(multi_last=["x"]))) == [
        (b"NATS/1.0 404 No Results\r\n\r\n", b"")
    ]


def test_direct_get_from_raw_request_bodies():
    st = filled(allow_direct=True)
    assert frames(st.direct_get(b"")) == [(b"NATS/1.0 408 Empty Request\r\n\r\n", b"")]
    assert frames(st.direct_get(b"{nope")) == [(b"NATS/1.0 408 Malformed Request\r\n\r\n", b"")]
    assert frames(st.direct_get(b'{"seq":"x"}')) == [(b"NATS/1.0 408 Malformed Request\r\n\r\n", b"")]
    assert frames(st.direct_get(b'{"seq":1,"other":1}'))[0][1] == b"0"  # unknown fields are ignored, as Go
    assert [data for _, data in st.direct_get(b"", "s.0")] == [b"4"]
    assert frames(st.direct_get(b'{"seq":1}', "s.0")) == [(b"NATS/1.0 408 Bad Request\r\n\r\n", b"")]
    assert frames(st.direct_get(b"", "")) == [(b"NATS/1.0 408 Bad Request\r\n\r\n", b"")]


def test_positional_construction_with_a_given_store():
    from natsd.store import MemStore

    st = Stream(mk(subjects=["s.>"], max_msgs=2, first_seq=5), MemStore(), T0)
    assert [st.process_msg("s.1", None, b"x", T0).seq for _ in range(3)] == [5, 6, 7]
    assert st.info(T0).state.messages == 2 and st.info(T0).created == H.rfc3339nano(T0)
    assert encode_puback("S", st.process_msg("s.1", None, b"x", T0)) == b'{"stream":"S","seq":8}'
    assert st.purge(None, T0) == 2


def test_go_zero_enum_values_are_the_defaults():
    c = check_config(
        StreamConfig(name="Z", retention="", discard="", compression="", storage="", persist_mode="")
    )
    assert (c.retention, c.discard, c.compression, c.storage, c.persist_mode) == (
        "limits",
        "old",
        "none",
        "file",
        "",
    )
    assert check_config(StreamConfig(name="Z", discard="New")).discard == "new"
    assert err_of(check_config, StreamConfig(name="Z", retention="Limits")).description == "invalid retention"
