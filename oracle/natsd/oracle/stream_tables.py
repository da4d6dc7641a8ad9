"""The tables the stream campaign draws from: stream configs, publish subjects,
sizes and header blocks, the request bodies of the other ops, time steps.

Theory of operation
-------------------
Plain data, simplest entries first (Hypothesis favours both ends of a table
when it shrinks; repeated entries weight a table). :data:`CONFIGS` names
each config a CreateStream/UpdateStream op can send (configs named ``bad_*``
are refused by Go); the subjects there are stream S's, stream T takes
:data:`T_SUBJECTS` instead. The op strategies and their weights are in
natsd.oracle.stream.
"""

from __future__ import annotations

__all__ = [
    "ADVANCE_MS", "BATCH_HEADERS", "CONFIGS", "DELETE_REQUESTS", "DIRECT_REQUESTS", "GET_REQUESTS", "HEADERS",
    "INFO_REQUESTS", "NAME_BODY", "NAME_SUFFIX", "NO_ACK_SUBJECT", "NO_ACK_WAIT", "PAST", "PURGE_REQUESTS",
    "SCHEDULE_HEADERS", "SIZES", "STREAMS", "SUBJECTS", "T_SUBJECTS", "payload",
    "FILE_STORE_LIMIT", "BIG_SIZE",
]

STREAMS = ("S", "T")
SEC = 1_000_000_000
#: The servers' jetstream max_file_store (bytes): small enough that a few
#: publishes of BIG_SIZE bytes to file streams exceed it (10023), and that
#: file streams' max_bytes reservations collide (10047). Memory is not limited.
FILE_STORE_LIMIT = 1024
BIG_SIZE = 700

#: Config keys that are not sent: appended to the stream name (invalid names),
#: the name in the body instead of the subject's (10056).
NAME_SUFFIX = "_name_suffix"
NAME_BODY = "_name_body"

#: Stream configs by name (the request minus name and storage), simplest first.
CONFIGS: dict[str, dict] = {
    "plain": {"subjects": ["a", "b"]},
    "wild": {"subjects": ["c.*"]},
    "mixed": {"subjects": ["a", "c.>"]},
    "default_subjects": {},
    "zero_limits": {"subjects": ["a", "b"], "max_msgs": 0, "max_bytes": -5},  # normalises to "plain"
    "max_msgs": {"subjects": ["a", "b"], "max_msgs": 3},
    "max_msgs_new": {"subjects": ["a", "b"], "max_msgs": 3, "discard": "new"},
    "max_bytes": {"subjects": ["a", "b"], "max_bytes": 150},
    "max_bytes_new": {"subjects": ["a", "c.*"], "max_bytes": 150, "discard": "new"},
    "per_subject": {"subjects": ["a", "c.>"], "max_msgs_per_subject": 2},
    "per_subject_new": {"subjects": ["a", "b"], "max_msgs_per_subject": 1, "discard": "new",
                        "discard_new_per_subject": True},
    "per_subject_max_msgs_new": {"subjects": ["a", "b"], "max_msgs_per_subject": 2, "max_msgs": 3,
                                 "discard": "new"},
    "per_subject_max_bytes_new": {"subjects": ["a", "c.*"], "max_msgs_per_subject": 1, "max_bytes": 150,
                                  "discard": "new"},
    "limits_old": {"subjects": ["a", "c.>"], "max_msgs": 5, "max_bytes": 200, "max_msgs_per_subject": 2},
    "rollup": {"subjects": ["a", "b"], "allow_rollup_hdrs": True},
    "rollup_wild": {"subjects": ["c.*"], "allow_rollup_hdrs": True, "max_msgs_per_subject": 3},
    "rollup_per_subject_new": {"subjects": ["a", "b"], "allow_rollup_hdrs": True, "max_msgs_per_subject": 1,
                               "discard": "new", "discard_new_per_subject": True},
    "deny": {"subjects": ["a", "b"], "deny_delete": True, "deny_purge": True},
    "direct": {"subjects": ["a", "b"], "allow_direct": True},
    "direct_mixed": {"subjects": ["a", "c.>"], "allow_direct": True, "max_msgs_per_subject": 2},
    "max_msg_size": {"subjects": ["a", "b"], "max_msg_size": 40},
    "first_seq": {"subjects": ["a", "b"], "first_seq": 10},
    "max_age": {"subjects": ["a", "b"], "max_age": 3600 * SEC},
    "max_age_minute": {"subjects": ["a", "c.*"], "max_age": 60 * SEC},
    "dup_window": {"subjects": ["a", "b"], "duplicate_window": 600 * SEC},
    "bad_rollup_deny_purge": {"subjects": ["a"], "allow_rollup_hdrs": True, "deny_purge": True},
    "bad_per_subject_old": {"subjects": ["a"], "max_msgs_per_subject": 1, "discard_new_per_subject": True},
    "bad_max_age": {"subjects": ["a"], "max_age": 50_000_000},
    "bad_dup_window": {"subjects": ["a"], "max_age": 3600 * SEC, "duplicate_window": 7200 * SEC},
    "sealed": {"subjects": ["a"], "sealed": True},  # refused on create; on update it seals
    "sealed_deny": {"subjects": ["a", "b"], "sealed": True, "deny_delete": True, "deny_purge": True},
    "metadata": {"subjects": ["a", "b"], "metadata": {"owner": "x"}},
    "counter": {"subjects": ["a", "b"], "allow_msg_counter": True},
    "counter_limits": {"subjects": ["a", "c.*"], "allow_msg_counter": True, "max_msgs_per_subject": 2,
                       "allow_rollup_hdrs": True},
    "bad_subject": {"subjects": ["a..b"]},
    "bad_capture_all": {"subjects": [">"]},
    "bad_reserved": {"subjects": ["$JS.API.>"]},
    "bad_duplicate_subjects": {"subjects": ["a", "a"]},
    "bad_overlapping_subjects": {"subjects": ["a", "*"]},
    "bad_replicas": {"subjects": ["a"], "num_replicas": 3},
    "bad_mirror_direct": {"subjects": ["a"], "mirror_direct": True},
    "bad_discard": {"subjects": ["a"], "discard": "bogus"},
    "bad_pedantic": {"subjects": ["a"], "max_msgs": -5, "pedantic": True},
    "bad_counter_discard_new": {"subjects": ["a"], "allow_msg_counter": True, "discard": "new"},
    "bad_marker_ttl": {"subjects": ["a"], "subject_delete_marker_ttl": 500_000_000},
    "bad_persist_async": {"subjects": ["a"], "persist_mode": "async"},
    "bad_description": {"subjects": ["a"], "description": "d" * 5000},
    "bad_placement": {"subjects": ["a"], "placement": {"preferred": "x"}},
    "bad_schedules_discard_new": {"subjects": ["a"], "allow_msg_schedules": True, "discard": "new"},
    # message schedules (SCHEDULE_HEADERS): allow_msg_ttl for Nats-Schedule-TTL
    "schedules": {"subjects": ["a", "b", "c.*"], "allow_msg_schedules": True, "allow_msg_ttl": True},
    "schedules_file": {"subjects": ["a", "b", "c.*"], "allow_msg_schedules": True, "storage": "file",
                       "first_seq": 1, "max_msgs_per_subject": 2},
    "no_ack": {"subjects": ["d"], "no_ack": True},
    "transform": {"subjects": ["a", "c.*"], "subject_transform": {"src": "c.*", "dest": "x.{{wildcard(1)}}"}},
    "republish": {"subjects": ["a", "b"], "republish": {"src": ">", "dest": "rp.>"}},
    "republish_headers_only": {"subjects": ["a", "c.*"], "max_msgs_per_subject": 2,
                               "republish": {"src": "c.*", "dest": "rp.{{wildcard(1)}}", "headers_only": True}},
    "transform_republish": {"subjects": ["c.*"], "allow_rollup_hdrs": True,
                            "subject_transform": {"src": "c.*", "dest": "x.{{wildcard(1)}}"},
                            "republish": {"src": "x.*", "dest": "rp.{{wildcard(1)}}"}},
    "ttl": {"subjects": ["a", "b"], "allow_msg_ttl": True},
    "ttl_max_age": {"subjects": ["a", "c.*"], "allow_msg_ttl": True, "max_age": 60 * SEC},
    "marker": {"subjects": ["a", "b"], "max_age": 3600 * SEC, "subject_delete_marker_ttl": 7200 * SEC},
    "bad_name_star": {"subjects": ["a"], NAME_SUFFIX: "*"},
    "bad_name_long": {"subjects": ["a"], NAME_SUFFIX: "x" * 255},
    "bad_metadata_size": {"subjects": ["a"], "metadata": {"k": "v" * 131072}},
    "bad_name_mismatch": {"subjects": ["a"], NAME_BODY: "X"},
    "bad_replicas_max": {"subjects": ["a"], "num_replicas": 7},
    "bad_transform_src": {"subjects": ["a"], "subject_transform": {"src": "a..b", "dest": "x"}},
    "bad_transform_dest": {"subjects": ["c.*"], "subject_transform": {"src": "c.*", "dest": "x.{{wildcard(2)}}"}},
    "bad_republish_cycle": {"subjects": ["a", "e.>"], "republish": {"src": "a", "dest": "e.1"}},
    "bad_republish_mapping": {"subjects": ["c.*"], "republish": {"src": "c.*", "dest": "rp.{{wildcard(2)}}"}},
    "republish_default_src": {"subjects": ["a", "b"], "republish": {"dest": "rp.>"}},
    "interest": {"subjects": ["a", "b"], "retention": "interest", "allow_rollup_hdrs": True},
    # mirrors and sources of S (meant for T; on S itself they are a cycle)
    "mirror": {"mirror": {"name": "S"}},
    "mirror_filter": {"mirror": {"name": "S", "filter_subject": "a"}},
    "sources": {"sources": [{"name": "S"}]},
    "sources_filters": {"subjects": ["b"], "sources": [{"name": "S", "filter_subject": "b"},
                                                       {"name": "S", "filter_subject": "c.*"}]},
    "counter_sources": {"sources": [{"name": "S"}], "allow_msg_counter": True},
    "sources_transform": {"sources": [{"name": "S", "subject_transforms": [{"src": "a", "dest": "x.a"}]}],
                          "max_msgs_per_subject": 2},
    "bad_mirror_subjects": {"subjects": ["a"], "mirror": {"name": "S"}},
    "bad_mirror_first_seq": {"mirror": {"name": "S"}, "first_seq": 5},
    "bad_mirror_sources": {"mirror": {"name": "S"}, "sources": [{"name": "S"}]},
    "bad_mirror_counter": {"mirror": {"name": "S"}, "allow_msg_counter": True},
    "bad_mirror_atomic": {"mirror": {"name": "S"}, "allow_atomic": True},
    "bad_mirror_batched": {"mirror": {"name": "S"}, "allow_batched": True},
    "bad_mirror_name": {"mirror": {"name": "S*"}},
    "bad_source_name": {"sources": [{"name": "S.x"}]},
    "bad_source_duplicate": {"sources": [{"name": "S"}, {"name": "S"}]},
    "bad_source_filters": {"sources": [{"name": "S", "filter_subject": "a",
                                        "subject_transforms": [{"src": "a", "dest": "b"}]}]},
    # file storage (its own byte accounting), compression. first_seq 1: a
    # never-written Go file stream reports deleted [0] with deleted_details,
    # natsd's file store does not (tests/test_oracle_stream.py::
    # test_natsd_file_store_reports_no_deleted_zero_when_never_written)
    "file": {"subjects": ["a", "b"], "storage": "file", "first_seq": 1},
    "file_limits": {"subjects": ["a", "c.*"], "storage": "file", "compression": "s2", "max_bytes": 150,
                    "max_msgs_per_subject": 2, "first_seq": 1},
    "memory_s2": {"subjects": ["a", "b"], "compression": "s2", "max_msgs": 3},
    "atomic": {"subjects": ["a", "b"], "allow_atomic": True, "allow_rollup_hdrs": True, "allow_msg_ttl": True},
    "atomic_limits": {"subjects": ["a", "c.*"], "allow_atomic": True, "max_msgs": 3, "discard": "new",
                      "max_msgs_per_subject": 2, "discard_new_per_subject": True},
    "interest_limits": {"subjects": ["a", "c.*"], "retention": "interest", "max_msgs": 2, "discard": "new"},
    # consumers (natsd.oracle.stream_consumers) remove messages from these
    "workqueue": {"subjects": ["a", "b"], "retention": "workqueue"},
    "max_consumers": {"subjects": ["a", "b"], "max_consumers": 1},
    # FILE_STORE_LIMIT: a reservation of most of it, and one beyond it
    "file_reserved": {"subjects": ["a", "b"], "storage": "file", "first_seq": 1, "max_bytes": 800},
    "bad_file_reservation": {"subjects": ["a"], "storage": "file", "max_bytes": 4096},
    # external sources (another domain's stream X): only their config checks are reachable
    "bad_external_deliver": {"sources": [{"name": "X", "external": {"api": "$JS.X.API", "deliver": "x.*"}}]},
    "bad_external_api": {"sources": [{"name": "X", "external": {"api": "$JS.API"}}]},
    "bad_external_api_wild": {"sources": [{"name": "X", "external": {"api": "$JS.*.API", "deliver": "dx"}}]},
}

#: Publish subjects: "z" is captured by no stream; "S"/"T" only by a stream
#: with default subjects.
SUBJECTS = ["a", "b", "a", "c.1", "b", "z", "a", "c.2", "S", "b", "T", "c.1", "d", "a"]
#: Captured only by the no_ack config: the wire harnesses wait for its reply
#: only briefly (none comes from a no_ack stream; no-responders comes at once).
NO_ACK_SUBJECT = "d"
NO_ACK_WAIT = 0.3
SIZES = [0, 1, 10, 60]

_H = tuple[tuple[str, str], ...]
_ID, _ELS, _ELSS, _ELSSS = ("Nats-Msg-Id", "Nats-Expected-Last-Sequence",
                            "Nats-Expected-Last-Subject-Sequence", "Nats-Expected-Last-Subject-Sequence-Subject")
HEADERS: list[_H] = (
    [()]
    + [((_ID, i),) for i in "123"]
    + [((_ELS, str(n)),) for n in range(6)]
    + [((_ELSS, str(n)),) for n in range(4)]
    + [(("Nats-Expected-Stream", s),) for s in STREAMS]
    + [(("Nats-Rollup", v),) for v in ("sub", "all", "ALL", "bogus")]
    + [(("Nats-Expected-Last-Msg-Id", i),) for i in "12"]
    + [
        ((_ID, "1"), ("Nats-Rollup", "sub")),
        ((_ID, "2"), (_ELS, "2")),
        ((_ID, "3"), ("Nats-Expected-Last-Msg-Id", "2")),
        ((_ELSS, "0"), (_ELSSS, "c.*")),
        ((_ELSS, "2"), (_ELSSS, "a")),
        ((_ELSSS, "a"),),
        (("Nats-Expected-Stream", "T"), (_ID, "1")),
        (("Nats-TTL", "1m"),),
        (("Nats-TTL", "60"),),
        (("Nats-TTL", "never"),),
        (("Nats-TTL", "1h"),),
        (("Nats-TTL", "500ms"),),
        (("Nats-TTL", "x"),),
        (("Nats-TTL", "1m"), (_ID, "1")),
        (("Nats-Request-Info", "x"),),
        (("X-Big", "h" * 65530),),
        (("Nats-Incr", "1"),),
        (("Nats-Incr", "1"),),  # twice: counter streams need it to store anything
        (("Nats-Incr", "-7"),),
        (("Nats-Incr", "+3"), (_ID, "1")),
        (("Nats-Incr", "x"),),
        (("Nats-Incr", "2"), (_ELS, "3")),
        (("Nats-Schedule", "@every 1s"),),
        (("Nats-Schedule-Next", "purge"),),
        (("Nats-Schedule-Next", "purge"), ("Nats-Scheduler", "b")),
        (("Nats-Scheduler", "a"),),
        (("Nats-Stream-Source", "X 1"),),
        (("Nats-Batch-Id", "b1"),),
        (("Nats-Required-Api-Level", "9"),),
        (("Nats-TTL", "1m"), ("Nats-Expected-Stream", "T")),
        (("Nats-Incr", "1"), ("Nats-Expected-Stream", "T")),
        (("Nats-Stream-Source", "X 1"), (_ELS, "9")),
        (("Nats-Stream-Source", "X 1"), (_ID, "2")),
        (("Nats-Batch-Id", "b1"), (_ID, "2")),
    ]
)

_SC, _ST = "Nats-Schedule", "Nats-Schedule-Target"
#: Message schedules: an @at long past fires at once (the wire harnesses wait
#: for it: see PAST), one far ahead never does; "@every 1h" fires only when
#: AdvanceTime crosses the hour (never on the wire: real time, short examples),
#: the cron of 29 February only in years; then the invalid ones and the
#: client's purge of a schedule.
PAST, FUTURE = "@at 2020-01-01T00:00:00Z", "@at 2099-01-01T00:00:00Z"
SCHEDULE_HEADERS: list[_H] = [
    ((_SC, PAST), (_ST, "b")),
    ((_SC, FUTURE), (_ST, "b")),
    ((_SC, PAST), (_ST, "c.1"), ("Nats-Schedule-TTL", "1m"), ("X-K", "v"), (_ID, "s1"), (_ELS, "2")),
    ((_SC, PAST), (_ST, "a"), ("Nats-Schedule-Source", "c.2"), ("Nats-Schedule-Rollup", "sub")),
    ((_SC, "@every 1h"), (_ST, "a")),
    ((_SC, "@every 1h"), (_ST, "c.2"), ("Nats-Schedule-TTL", "60")),
    ((_SC, "0 0 0 29 2 *"), (_ST, "b"), ("Nats-Schedule-Time-Zone", "Europe/Paris")),
    ((_SC, FUTURE), (_ST, "c.1"), ("Nats-Rollup", "sub")),
    ((_SC, "@every 500ms"), (_ST, "b")),
    ((_SC, "bogus"), (_ST, "b")),
    ((_SC, "0 0 0 30 2 *"), (_ST, "b")),
    ((_SC, FUTURE), (_ST, "b"), ("Nats-Schedule-Time-Zone", "Europe/Paris")),
    (("Nats-Schedule-Time-Zone", "Nope/X"),),
    ((_SC, FUTURE),),
    ((_SC, FUTURE), (_ST, "a")),
    ((_SC, FUTURE), (_ST, "z")),
    ((_SC, FUTURE), (_ST, "c.*")),
    ((_SC, FUTURE), (_ST, "b"), ("Nats-Schedule-TTL", "x")),
    ((_SC, FUTURE), (_ST, "b"), ("Nats-Schedule-Rollup", "all")),
    ((_SC, FUTURE), (_ST, "b"), ("Nats-Rollup", "all")),
    ((_SC, FUTURE), (_ST, "b"), ("Nats-Schedule-Source", "b")),
    ((_SC, FUTURE), (_ST, "b"), ("Nats-Schedule-Source", "z")),
    (("Nats-Schedule-Next", "purge"), ("Nats-Scheduler", "a")),
    (("Nats-Schedule-Next", "purge"), ("Nats-Scheduler", "c.1")),
    (("Nats-Schedule-Next", "purge"), ("Nats-Scheduler", "z")),
]
HEADERS += SCHEDULE_HEADERS

_B, _BS, _BC = "Nats-Batch-Id", "Nats-Batch-Sequence", "Nats-Batch-Commit"
#: Atomic batch messages: ids b1 and b2, sequences in and out of order, commits
#: ("1", "eob", invalid) and the headers the commit checks look at.
BATCH_HEADERS: list[_H] = [
    ((_B, "b1"), (_BS, "1")),
    ((_B, "b1"), (_BS, "2")),
    ((_B, "b1"), (_BS, "2"), (_BC, "1")),
    ((_B, "b1"), (_BS, "3"), (_BC, "1")),
    ((_B, "b1"), (_BS, "2"), (_BC, "eob")),
    ((_B, "b1"), (_BS, "3"), (_BC, "eob")),
    ((_B, "b1"), (_BS, "1"), (_BC, "1")),
    ((_B, "b1"), (_BS, "1"), (_BC, "eob")),
    ((_B, "b1"), (_BS, "2"), (_BC, "x")),
    ((_B, "b2"), (_BS, "1"), (_ID, "1")),
    ((_B, "b2"), (_BS, "2"), (_ID, "1"), (_BC, "1")),
    ((_B, "b2"), (_BS, "2"), (_ID, "2"), (_BC, "1")),
    ((_B, "b2"), (_BS, "1"), (_ELS, "0")),
    ((_B, "b2"), (_BS, "2"), (_ELS, "1"), (_BC, "1")),
    ((_B, "b2"), (_BS, "2"), (_ELSS, "0"), (_BC, "1")),
    ((_B, "b1"), (_BS, "2"), ("Nats-Rollup", "sub"), (_BC, "1")),
    ((_B, "b1"), (_BS, "2"), ("Nats-Rollup", "all"), (_BC, "1")),
    ((_B, "b1"), (_BS, "1"), ("Nats-Expected-Last-Msg-Id", "1")),
    ((_B, "b1"), (_BS, "1"), ("Nats-Required-Api-Level", "9")),
    ((_B, "b1"), (_BS, "2"), ("Nats-Required-Api-Level", "1"), (_BC, "1")),
    ((_B, "b1"), (_BS, "2"), ("Nats-TTL", "1m"), (_BC, "1")),
    ((_B, "b1"), (_BS, "2"), ("Nats-Expected-Stream", "T")),
    ((_B, "b1"), (_BS, "x")),
    ((_B, "b1"), (_BS, "1001")),
    ((_B, "b" * 65), (_BS, "1")),
]
HEADERS += BATCH_HEADERS

INFO_REQUESTS = ["", '{"subjects_filter":">"}', '{"subjects_filter":"c.*"}', '{"deleted_details":true}']
PURGE_REQUESTS = [
    "", "{}", '{"filter":"a"}', '{"filter":"c.*"}', '{"filter":">"}', '{"seq":2}', '{"seq":4}', '{"seq":30}',
    '{"seq":1}', '{"keep":1}', '{"keep":2}', '{"filter":"a","keep":1}', '{"filter":"c.>","seq":3}',
    '{"seq":2,"keep":1}',
]
GET_REQUESTS = (
    [f'{{"seq":{n}}}' for n in (1, 2, 3, 4, 5, 6, 12)]
    + [f'{{"last_by_subj":"{s}"}}' for s in ("a", "b", "c.1", "c.*", ">")]
    + ['{"next_by_subj":"a"}', '{"seq":3,"next_by_subj":"c.*"}', "{}", "", '{"seq":1,"last_by_subj":"a"}']
)
DELETE_REQUESTS = (
    [f'{{"seq":{n}}}' for n in (1, 2, 3, 4, 5, 12)]
    + [f'{{"seq":{n},"no_erase":true}}' for n in (1, 2, 3)]
    + ["{}"]
)
#: DirectGet (request body, last subject in the request subject)
DIRECT_REQUESTS = (
    [(f'{{"seq":{n}}}', "") for n in (1, 2, 3, 12)]
    + [(f'{{"last_by_subj":"{s}"}}', "") for s in ("a", "c.*", ">")]
    + [('{"next_by_subj":"a"}', ""), ('{"seq":3,"next_by_subj":"c.*"}', "")]
    + [("", s) for s in ("a", "b", "c.1", "c.*")]
    + [("{}", "a"), ('{"seq":1}', "a"), ("", ""), ("{}", ""), ('{"seq":1,"last_by_subj":"a"}', "")]
)
#: AdvanceTime classes (ms): around the one-minute windows and the hour.
ADVANCE_MS = [1, 1000, 59_999, 60_000, 600_000, 3_600_000]


def payload(size: int) -> bytes:
    return (b"abcdefghijklmnopqrstuvwxyz" * (size // 26 + 1))[:size]


#: The subjects of CONFIGS are stream S's; stream T takes these instead, so that
#: the two streams mostly coexist ("plain": S a, b; T c.1, c.2) yet sometimes
#: collide ("mixed": S a, c.>; T c.1, b).
T_SUBJECTS = {"a": "c.1", "b": "c.2", "c.*": "b", "c.>": "b"}
