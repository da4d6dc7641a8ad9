"""Consumers: the reference model states Go's semantics, and natsd agrees with it.

Three kinds of tests:

- the model alone (Go's less obvious consumer behaviours, stated as tests);
- the model against the Go nats-server (harness ``go``): this is what
  validates the model; a planted model fault must make it fail;
- natsd against the model: in process (``core``), over the wire (``wire``) and
  beside Go (``differential``). These skip, with the reason, while natsd does
  not answer the consumer API.

The campaigns here are bounded; `natsd-campaign run consumer --harness H` runs long ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import run_state_machine_as_test

from natsd.model import consumer as MC
from natsd.model.consumer import ConsumerModel
from natsd.oracle.base import Divergence, Recorder, build_machine, get_area, replay
from natsd.oracle.campaign import run_campaign
from natsd.oracle.consumer import (
    PULL_OPS,
    Ack,
    AdvanceTime,
    ConsumerInfo,
    CreateConsumer,
    CreateEphemeral,
    CreateStream,
    DeleteConsumer,
    DeleteMsg,
    DeleteStream,
    Fetch,
    FetchLevel,
    FetchNoReply,
    Linger,
    Pause,
    Publish,
    Purge,
    Reset,
    StreamInfo,
    Unpin,
    consumers_answer,
)
from natsd.oracle.consumer_push import Drain, Events, Subscribe, Unsubscribe

AREA = get_area("consumer")
SEC = 10**9
MS = 10**6


def _replays_clean(kind: str, sequences: list) -> None:
    """Each op sequence replays with no divergence on the ``kind`` harness."""
    with AREA.harnesses[kind].session() as factory:
        for ops in sequences:
            result = replay(AREA, ops, factory)
            assert result.ok, result.message


def _campaign(harness: str, steps: int, **kw):
    result = run_campaign(AREA, harness, steps=steps, seed=kw.pop("seed", 20240601), db=None, **kw)
    assert result.ok, result.failures[0].message + "\nops: " + repr(result.failures[0].ops)
    assert result.steps >= steps
    assert {"Fetch", "Ack", "CreateConsumer", "Publish", "ConsumerInfo"} <= set(result.ops)
    assert not result.unknown_rules
    return result


@functools.cache
def _natsd_missing() -> str | None:
    return consumers_answer("natsd")


def _require_natsd_wire() -> None:
    reason = _natsd_missing()
    if reason:
        pytest.skip(f"natsd does not serve the consumer API yet: {reason}")


def _require_natsd_core() -> None:
    try:
        import natsd.jetstream.consumer  # noqa: F401
    except ImportError as e:
        pytest.skip(f"natsd.jetstream.consumer cannot be imported yet: {e}")


def _model(stream: dict | None = None) -> ConsumerModel:
    m = ConsumerModel()
    m.create("S", {"name": "S", "storage": "memory", "subjects": ["a", "b", "c.*"], **(stream or {})})
    return m


def _create(m: ConsumerModel, name: str = "C", **cfg) -> dict:
    return m.consumer_create("S", name, {"stream_name": "S", "config": {"durable_name": name, **cfg}})


def _fetch(m: ConsumerModel, body: str, name: str = "C") -> list[MC.Frame]:
    frames = m.fetch("S", name, body.encode())
    assert frames is not None
    return frames


def _statuses(frames: list[MC.Frame]) -> list[str]:
    return [f.hdr.decode().split("\r\n")[0] for f in frames if not f.subject]


# ------------------------------------------------------------------- the model


def test_model_defaults_of_a_pull_consumer() -> None:
    cfg = _create(_model(), ack_policy="explicit")["config"]
    assert (cfg["ack_wait"], cfg["max_deliver"], cfg["max_waiting"], cfg["max_ack_pending"]) == (30 * SEC, -1, 512,
                                                                                                 1000)
    assert cfg["num_replicas"] == 0 and "max_batch" not in cfg
    assert cfg["metadata"]["_nats.req.level"] == "0"


def test_model_ack_reply_subject_and_pending_token() -> None:
    m = _model()
    _create(m, ack_policy="explicit", filter_subject="a")
    for subject in ("a", "b", "a"):
        m.publish(subject, (), b"x")
    frames = _fetch(m, '{"batch":5,"no_wait":true}')
    assert [MC.parse_ack_reply(f.reply) for f in frames if f.subject] == [("S", "C", 1, 1, 1), ("S", "C", 1, 3, 2)]
    assert [f.reply.rsplit(".", 1)[1] for f in frames if f.subject] == ["1", "0"]
    assert _statuses(frames) == ["NATS/1.0 404 No Messages"]


def test_model_batch_zero_max_bytes_reports_minus_one_pending() -> None:
    """A JSON request without batch still gets one message; with bytes left Go
    reports 'Batch Completed' with Nats-Pending-Messages: -1 [obs]."""
    m = _model()
    _create(m, ack_policy="all")
    m.publish("a", (), b"hello")
    frames = _fetch(m, '{"no_wait":true,"max_bytes":70}')
    assert frames[-1].hdr == b"NATS/1.0 409 Batch Completed\r\nNats-Pending-Messages: -1\r\nNats-Pending-Bytes: 25\r\n\r\n"


def test_model_message_too_big_for_max_bytes_goes_back() -> None:
    m = _model()
    _create(m, ack_policy="explicit")
    m.publish("a", (), b"x" * 10)
    m.publish("a", (), b"x" * 10)
    frames = _fetch(m, '{"batch":3,"no_wait":true,"max_bytes":60}')
    assert len([f for f in frames if f.subject]) == 1
    assert _statuses(frames) == ["NATS/1.0 409 Message Size Exceeds MaxBytes"]
    assert [MC.parse_ack_reply(f.reply)[3] for f in _fetch(m, '{"batch":1,"no_wait":true}')] == [2]


def test_model_ack_none_consumer_has_no_ack_subscription() -> None:
    """Go subscribes to the ack subject only for ack policies that need acks."""
    m = _model()
    _create(m, ack_policy="none")
    m.publish("a", (), b"")
    (frame,) = _fetch(m, '{"batch":1,"no_wait":true}')
    assert m.ack(frame.reply, b"+ACK") == "no_responders"
    assert m.consumer_info("S", "C")["ack_floor"] == {"consumer_seq": 1, "stream_seq": 1}


def test_model_num_pending_counts_new_messages_below_the_start() -> None:
    """Go's running num_pending counts every new matching message past what it
    counted at creation, also one below the start sequence."""
    m = _model()
    m.publish("a", (), b"")
    _create(m, ack_policy="explicit", deliver_policy="by_start_sequence", opt_start_seq=3)
    m.publish("a", (), b"")  # seq 2, below the start
    m.publish("a", (), b"")  # seq 3
    (frame,) = _fetch(m, '{"batch":1,"no_wait":true}')
    assert frame.reply.endswith(".1")  # Go says 1 more pending though nothing is left
    assert m.consumer_info("S", "C")["num_pending"] == 0  # INFO clamps it


def test_model_ack_all_of_a_redelivery_moves_the_floor_past_pending() -> None:
    """Ack all with the reply subject of a redelivery takes that delivery's (new)
    consumer sequence as the floor; an older delivery still pending is then at
    or below it, and a -NAK of it is ignored as out of range."""
    m = _model()
    _create(m, ack_policy="all")
    m.publish("a", (), b"")
    m.publish("a", (), b"")
    first, second = _fetch(m, '{"batch":2,"no_wait":true}')
    assert m.ack(first.reply, b"-NAK") == "reply"
    (again,) = _fetch(m, '{"batch":1,"no_wait":true}')
    assert MC.parse_ack_reply(again.reply)[2:] == (2, 1, 3)
    assert m.ack(again.reply, b"+ACK") == "reply"
    info = m.consumer_info("S", "C")
    assert info["ack_floor"] == {"consumer_seq": 3, "stream_seq": 1, "last_active": MC.TS}
    assert info["num_ack_pending"] == 1
    m.ack(second.reply, b"-NAK")
    assert _statuses(_fetch(m, '{"batch":1,"no_wait":true}')) == ["NATS/1.0 404 No Messages"]


def test_model_redelivery_after_ack_wait_and_backoff_stops_at_max_deliver() -> None:
    m = _model()
    _create(m, ack_policy="explicit", backoff=[60 * SEC, 120 * SEC], max_deliver=3)
    m.publish("a", (), b"")
    assert len(_fetch(m, '{"batch":1,"no_wait":true}')) == 1
    m.advance(60 * SEC)  # the timer fires 1ms after the deadline
    assert _statuses(_fetch(m, '{"batch":1,"no_wait":true}')) == ["NATS/1.0 404 No Messages"]
    m.advance(MS)
    (second,) = _fetch(m, '{"batch":1,"no_wait":true}')
    assert MC.parse_ack_reply(second.reply)[2] == 2
    m.advance(120 * SEC + MS)  # backoff[1] for the second redelivery
    (third,) = _fetch(m, '{"batch":1,"no_wait":true}')
    assert MC.parse_ack_reply(third.reply)[2] == 3
    m.advance(600 * SEC)
    assert _statuses(_fetch(m, '{"batch":1,"no_wait":true}')) == ["NATS/1.0 404 No Messages"]
    info = m.consumer_info("S", "C")
    assert info["num_ack_pending"] == 0 and info["num_redelivered"] == 1
    assert {"consumer.ack_wait.redeliver", "consumer.backoff.delays", "consumer.max_deliver"} <= m.ccovered


def test_model_expiring_request_gets_redeliveries_then_times_out() -> None:
    m = _model()
    _create(m, ack_policy="explicit", ack_wait=60 * SEC)
    m.publish("a", (), b"")
    _fetch(m, '{"batch":1,"no_wait":true}')
    m.advance(60 * SEC - 10 * MS)  # the redelivery is due 1 ms after 60 s, inside the 20 ms window
    frames = _fetch(m, '{"batch":2,"expires":20000000}')
    assert [MC.parse_ack_reply(f.reply)[2] for f in frames if f.subject] == [2]
    assert frames[-1].hdr == b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\nNats-Pending-Bytes: 0\r\n\r\n"


def test_model_interest_and_workqueue_retention() -> None:
    m = _model({"retention": "interest"})
    assert m.publish("a", (), b"") == '{"stream":"S","seq":1}'
    assert m.info("S", None)["state"]["messages"] == 0  # no consumer: not kept
    _create(m, "C", ack_policy="explicit")
    _create(m, "D", ack_policy="explicit", filter_subject="a")
    m.publish("a", (), b"")
    (c,) = _fetch(m, '{"batch":1,"no_wait":true}', "C")
    m.ack(c.reply, b"+ACK")
    assert m.info("S", None)["state"]["messages"] == 1  # D has not acked
    m.consumer_delete("S", "D")
    assert m.info("S", None)["state"]["messages"] == 0
    w = _model({"retention": "workqueue"})
    _create(w, "C", ack_policy="explicit")
    assert _create(w, "D", ack_policy="explicit")["error"]["err_code"] == 10099
    w.publish("a", (), b"")
    (f,) = _fetch(w, '{"batch":1,"no_wait":true}')
    w.ack(f.reply, b"")
    assert w.info("S", None)["state"]["messages"] == 0


def test_model_update_rules() -> None:
    m = _model()
    _create(m, ack_policy="explicit")
    bad = m.consumer_create("S", "C", {"stream_name": "S", "config": {"durable_name": "C", "ack_policy": "all"}})
    assert bad["error"] == {"code": 500, "err_code": 10012, "description": "ack policy can not be updated"}
    again = m.consumer_create("S", "C", {"stream_name": "S", "action": "create",
                                         "config": {"durable_name": "C", "ack_policy": "explicit", "ack_wait": SEC}})
    assert again["error"]["err_code"] == 10148
    upd = m.consumer_create("S", "C", {"stream_name": "S", "action": "update",
                                       "config": {"durable_name": "C", "ack_policy": "explicit", "ack_wait": SEC}})
    assert upd["config"]["ack_wait"] == SEC
    missing = m.consumer_create("S", "D", {"stream_name": "S", "action": "update",
                                           "config": {"durable_name": "D", "ack_policy": "explicit"}})
    assert missing["error"]["err_code"] == 10149


def test_model_reset_acks_what_lies_below_the_new_start_on_interest_streams() -> None:
    m = _model({"retention": "interest"})
    _create(m, "C", ack_policy="explicit")
    _create(m, "D", ack_policy="explicit", filter_subject="a")
    for subject in ("a", "b", "a"):
        m.publish(subject, (), b"")
    _fetch(m, '{"batch":5,"no_wait":true}')
    reply = m.consumer_reset("S", "C", b'{"seq":3}')
    assert reply["reset_seq"] == 3 and reply["num_ack_pending"] == 0
    assert reply["ack_floor"] == {"consumer_seq": 0, "stream_seq": 2}
    assert m.info("S", None)["state"]["messages"] == 2  # b (seq 2) went; D still needs seq 1
    assert m.consumer_reset("S", "D", b'{"seq":0}')["reset_seq"] == 1
    assert m.consumer_reset("S", "Z", b"") is None  # Go: no answer at all
    _create(m, "E", ack_policy="explicit", deliver_policy="by_start_sequence", opt_start_seq=2)
    assert m.consumer_reset("S", "E", b'{"seq":1}')["error"]["description"] == "invalid reset: below start seq"


def test_model_overflow_request_waits_for_its_thresholds() -> None:
    m = _model()
    _create(m, ack_policy="explicit", priority_policy="overflow", priority_groups=["g"])
    m.publish("a", (), b"")
    m.publish("a", (), b"")
    assert _statuses(_fetch(m, '{"batch":2,"no_wait":true,"group":"g","min_pending":3}')) == ["NATS/1.0 404 No Messages"]
    assert len(_fetch(m, '{"batch":1,"no_wait":true,"group":"g","min_pending":2}')) == 1
    # one pending (ack) now: min_ack_pending 1 lets the next one through
    assert len(_fetch(m, '{"batch":1,"no_wait":true,"group":"g","min_ack_pending":1}')) == 1
    assert _statuses(_fetch(m, '{"batch":1,"no_wait":true}')) == ["NATS/1.0 400 Bad Request - Priority Group missing"]
    assert m.consumer_info("S", "C")["priority_groups"] == [{"group": "g", "pinned_ts": "0001-01-01T00:00:00Z"}]


def test_model_pause_holds_delivery_and_reports_the_deadline() -> None:
    m = _model()
    _create(m, ack_policy="explicit")
    m.publish("a", (), b"")
    reply = m.consumer_pause("S", "C", b'{"pause_until":"2099-01-01T00:00:00Z"}')
    assert reply["paused"] is True and reply["pause_until"] == "2099-01-01T00:00:00Z"
    assert _statuses(_fetch(m, '{"batch":1,"no_wait":true}')) == ["NATS/1.0 404 No Messages"]
    info = m.consumer_info("S", "C")
    assert info["paused"] is True and info["config"]["metadata"]["_nats.req.level"] == "1"
    assert m.consumer_pause("S", "C", b"")["paused"] is False
    assert len(_fetch(m, '{"batch":1,"no_wait":true}')) == 1


# ------------------------------------------------------- the model against Go


@pytest.mark.differential
def test_consumer_model_agrees_with_go() -> None:
    """The model checked against the Go nats-server alone: this validates the model."""
    _campaign("go", 1500, steps_per_example=40)


#: Sequences that once told the model something about Go (each replays clean).
GO_QUIRKS = [
    # batch 0 with max_bytes: one message, then 409 Batch Completed with -1 pending
    [CreateStream(), CreateConsumer("C", "all"), Publish("a", 5), Publish("a", 5),
     Fetch("C", '{"no_wait":true}'), Fetch("C", '{"batch":2,"no_wait":true,"max_bytes":40}'),
     Fetch("C", '{"batch":9,"no_wait":true,"max_bytes":1000}'), ConsumerInfo("C")],
    # ack none: no ack subscription (no responders)
    [CreateStream(), CreateConsumer("C", "none"), Publish("a"), Fetch("C"), Ack(0), ConsumerInfo("C")],
    # running num_pending counts a message below the start sequence
    [CreateStream(), Publish("a"), CreateConsumer("C", "by_seq"), Publish("a"), Publish("a"), Fetch("C"),
     ConsumerInfo("C")],
    # ack all of a redelivery passes an older pending delivery; its -NAK is then ignored
    [CreateStream(), CreateConsumer("C", "all"), Publish("a"), Publish("a"), Fetch("C", '{"batch":2,"no_wait":true}'),
     Ack(0, "-NAK"), Fetch("C"), Ack(2), ConsumerInfo("C"), Ack(1, "-NAK"), Fetch("C"), ConsumerInfo("C")],
    # max_deliver with -NAK: the third redelivery is dropped from pending
    [CreateStream(), CreateConsumer("C", "max_deliver_2"), Publish("a"), Fetch("C"), Ack(0, "-NAK"), Fetch("C"),
     Ack(1, "-NAK"), Fetch("C"), ConsumerInfo("C")],
    # max_ack_pending: a no_wait request is left waiting, abandoned; acks then free the consumer
    [CreateStream(), CreateConsumer("C", "max_ack_pending_2"), Publish("a"), Publish("b"), Publish("c.1"),
     Fetch("C", '{"batch":5,"no_wait":true}'), Fetch("C"), Ack(0), Fetch("C"), ConsumerInfo("C")],
    # interest retention: kept while some consumer needs it, gone with the last one
    [CreateStream("interest"), Publish("a"), CreateConsumer("C"), CreateConsumer("D", "filter_a"), Publish("a"),
     Publish("b"), Fetch("C", '{"batch":2,"no_wait":true}'), Ack(0), Ack(1), StreamInfo(), DeleteConsumer("D"),
     StreamInfo()],
    # workqueue: explicit ack and partitions required; acked messages go
    [CreateStream("workqueue"), CreateConsumer("C", "all"), CreateConsumer("C"), CreateConsumer("D"),
     CreateConsumer("D", "filter_a"), Publish("a"), Fetch("D"), Ack(0, "+TERM"), StreamInfo()],
    # purges move the floors; a removed pending message leaves num_ack_pending
    [CreateStream(), CreateConsumer("C"), CreateConsumer("D", "filter_a"), Publish("a"), Publish("b"), Publish("a"),
     Fetch("C", '{"batch":5,"no_wait":true}'), Fetch("D", '{"batch":5,"no_wait":true}'), DeleteMsg(1),
     ConsumerInfo("C"), Purge('{"seq":3}'), ConsumerInfo("C"), ConsumerInfo("D"), Purge(), ConsumerInfo("C")],
    # request limits and bodies
    [CreateStream(), CreateConsumer("C", "request_limits"), Publish("a"), Fetch("C", '{"batch":5,"no_wait":true}'),
     Fetch("C", '{"batch":1,"expires":20000000,"no_wait":true}'), Fetch("C", '{"batch":"x"}'), Fetch("C", '{bad'),
     Fetch("C", '{"batch":1,"no_wait":true,"idle_heartbeat":1000000000,"expires":200000000}'),
     Fetch("C", '{"batch":1,"no_wait":true,"max_bytes":500}'), Fetch("D"), CreateConsumer("D", "push"), Fetch("D")],
    # expiring requests end with 408 and what was left of them
    [CreateStream(), CreateConsumer("C"), Publish("a"), Fetch("C", '{"batch":2,"expires":20000000}'),
     Fetch("C", '{"batch":3,"expires":20000000,"max_bytes":200}'), AdvanceTime(60_001), ConsumerInfo("C")],
    # an update that removes the filters leaves the consumer unregistered for new
    # messages: num_pending does not count them (they are still delivered)
    [CreateStream(), Publish("a"), Publish("b"), CreateConsumer("C", "filter_a"), CreateConsumer("C"), Publish("a"),
     ConsumerInfo("C"), Fetch("C", '{"batch":5,"no_wait":true}'), ConsumerInfo("C")],
    # narrowing the filters of an interest consumer removes what no one needs any
    # more, also a message it has pending, which stays pending (it no longer
    # hears of that subject)
    [CreateStream("interest"), CreateConsumer("C"), Publish("a"), Publish("a"), Publish("b"), Fetch("C"),
     CreateConsumer("C", "filters_bc"), ConsumerInfo("C"), StreamInfo(), Fetch("C", '{"batch":5,"no_wait":true}'),
     ConsumerInfo("C")],
    # last per subject, last, by sequence past the end
    [CreateStream(), Publish("c.1"), Publish("c.2"), Publish("c.1"), Publish("a"), CreateConsumer("C", "lps_c"),
     CreateConsumer("D", "last_filter_a"), Fetch("C", '{"batch":5,"no_wait":true}'), ConsumerInfo("C"),
     Fetch("D", '{"batch":5,"no_wait":true}'), DeleteConsumer("D"), CreateConsumer("D", "by_seq_far"),
     ConsumerInfo("D")],
    # a purge leaves a last-per-subject start list alone: its purged entry is a
    # miss (404 to a no_wait request), the next request gets the rest
    [CreateStream(), Publish("b"), Publish("a"), Publish("a"), CreateConsumer("C", "last_per_subject"),
     Purge('{"seq":3}'), Fetch("C"), Fetch("C"), ConsumerInfo("C")],
    # a purge that removes nothing does not count num_pending afresh: Go's running
    # count (here one too many after a max_msgs removal below the start) stays
    [CreateStream("max_msgs"), Publish("a"), Publish("a"), Publish("a"), Publish("a"), Publish("a"),
     CreateConsumer("C", "last_per_subject"), Publish("a"), Purge('{"seq":3}'), Fetch("C"), ConsumerInfo("C")],
    # ephemeral creates: a server-chosen name (masked), no name in the config,
    # inactive_threshold 5s; a durable_name on the legacy subject is 10020
    [CreateStream(), Publish("a"), CreateEphemeral(), CreateEphemeral("push", named=True),
     CreateEphemeral("bad_durable_mismatch"), CreateEphemeral("inactive_threshold")],
    # max_consumers on the stream: 10026 past it, an existing name still updates
    [CreateStream("max_consumers_1"), CreateConsumer("C"), CreateConsumer("D"), CreateEphemeral(),
     CreateConsumer("C", "explicit", "update"), ConsumerInfo("C")],
    # a pull request without reply is ignored; Nats-Required-Api-Level above 5 or
    # not a number is 412, after a push consumer's 409
    [CreateStream(), CreateConsumer("C"), Publish("a"), FetchNoReply("C"), FetchLevel("C", "99"),
     FetchLevel("C", "x"), FetchLevel("C", "5"), CreateConsumer("D", "push"), FetchLevel("D", "99"),
     ConsumerInfo("C")],
    # pause: nothing delivered while paused (a no_wait request gets 404 at once,
    # one with expires 408), info says paused; a past pause_until or none resumes
    [CreateStream(), CreateConsumer("C"), Publish("a"), Pause("C", '{"pause_until":"2099-01-01T00:00:00Z"}'),
     Fetch("C"), Fetch("C", '{"batch":1,"expires":20000000,"no_wait":true}'), Fetch("C", '{"batch":2,"expires":20000000}'),
     ConsumerInfo("C"), Pause("C", '{"pause_until":"2020-01-01T00:00:00Z"}'), ConsumerInfo("C"), Fetch("C"),
     Pause("C"), ConsumerInfo("C"), Pause("D")],
    # reset: back to the ack floor or a sequence, pending dropped; on an interest
    # stream what lies below the new start is acked for the consumer
    [CreateStream("interest"), CreateConsumer("C"), CreateConsumer("D", "filter_a"), Publish("a"), Publish("b"),
     Publish("a"), Fetch("C", '{"batch":5,"no_wait":true}'), Reset("C", '{"seq":3}'), StreamInfo(), Reset("C"),
     Fetch("C"), Reset("D", "{bad"), DeleteConsumer("D"), CreateConsumer("D", "by_seq"), Reset("D", '{"seq":1}'),
     Reset("D", '{"seq":4}'), DeleteConsumer("D"), CreateConsumer("D", "by_time_future"), Reset("D", '{"seq":1}'),
     DeleteConsumer("D"), CreateConsumer("D", "last"), Reset("D", '{"seq":2}'), Reset("D"), ConsumerInfo("C")],
    # priority groups: overflow thresholds, the request checks of each policy
    [CreateStream(), CreateConsumer("C", "overflow"), CreateConsumer("D", "prioritized"), Publish("a"), Publish("a"),
     Fetch("C", '{"batch":2,"no_wait":true,"group":"g","min_pending":3}'),
     Fetch("C", '{"batch":2,"expires":20000000,"group":"g","min_pending":2}'),
     Fetch("C", '{"batch":2,"no_wait":true,"group":"g","min_ack_pending":1}'), Publish("a"),
     Fetch("C", '{"batch":2,"no_wait":true,"group":"g","min_ack_pending":1}'), Fetch("C", '{"batch":1,"no_wait":true}'),
     Fetch("C", '{"batch":1,"no_wait":true,"group":"h"}'), Fetch("D", '{"batch":1,"no_wait":true,"group":"g","priority":10}'),
     Fetch("D", '{"batch":1,"no_wait":true,"group":"g","id":"x"}'), Fetch("D", '{"batch":1,"no_wait":true,"min_pending":1}'),
     Fetch("D", '{"batch":2,"no_wait":true,"group":"g"}'), ConsumerInfo("C"), ConsumerInfo("D")],
    # by_start_time: a start time before everything starts at the first message,
    # one after everything at the next sequence
    [CreateStream(), Publish("a"), Publish("b"), CreateConsumer("C", "by_time_past"),
     CreateConsumer("D", "by_time_future"), Fetch("C"), Fetch("D"), Publish("a"), Fetch("D"), ConsumerInfo("D")],
    # a new deliver subject (update of an unbound push consumer): the reply shows
    # it unbound and nothing delivered (Go's consumer learns of the new subject's
    # interest from its interest channel, after the reply); the subscriber then
    # gets everything (campaign seed 82). Not after an Unsubscribe: Go's reply
    # then still shows the consumer bound until that channel is read (a race)
    [CreateStream(), *[Publish("a")] * 5, CreateConsumer("C", "push"), Subscribe("C"),
     CreateConsumer("C", "push_rate"), Subscribe("C"), ConsumerInfo("C")],
]


@pytest.mark.differential
def test_go_quirks_replay_clean() -> None:
    _replays_clean("go", GO_QUIRKS)


@pytest.mark.differential
def test_planted_model_fault_in_the_stored_ack_floor_is_found(monkeypatch) -> None:
    """The oracle can fail: a model whose explicit acks never reach the stored
    state (the ack floor CONSUMER.INFO shows) is caught against Go, shortly."""
    real = ConsumerModel._store_update_acks

    def forgetful(self, o, dseq, sseq):
        if o.ack != "explicit":
            real(self, o, dseq, sseq)

    monkeypatch.setattr(ConsumerModel, "_store_update_acks", forgetful)
    # Generation only (shrinking against a live server is what makes long
    # campaigns slow): the first divergence found is enough to prove the point.
    rec = Recorder()
    cfg = settings(max_examples=80, stateful_step_count=40, phases=[Phase.generate], database=None, deadline=None,
                   suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    area = dataclasses.replace(AREA, ops=PULL_OPS)  # acks of pull deliveries: no push op waits for frames
    with area.harnesses["go"].session() as factory:
        machine = build_machine(area, factory, rec, name="ConsumerPlantedFault")
        for seed in (2, 3, 5, 7):
            with contextlib.suppress(Divergence):
                run_state_machine_as_test(hypothesis_seed(seed)(machine), settings=cfg)
            if rec.failure is not None:
                break
    assert rec.failure is not None, "the oracle missed a model whose acks do not move the ack floor"
    assert "DIFFERS from the model" in rec.failure.message and "ack_floor" in rec.failure.message
    assert any(isinstance(op, Ack) for op in rec.failure.ops)


# ------------------------------------------------------- natsd against the model


def test_consumer_campaign_core_agrees_with_the_model() -> None:
    _require_natsd_core()
    _campaign("core", 4000)


def test_consumer_quirks_replay_clean_in_core() -> None:
    _require_natsd_core()
    _replays_clean("core", GO_QUIRKS)


#: Time-dependent sequences: only the in-process harness can move its clock.
TIMED = [
    # ack_wait redelivery, then backoff delays, then max_deliver
    [CreateStream(), CreateConsumer("C", "backoff"), Publish("a"), Fetch("C"), AdvanceTime(60_000), Fetch("C"),
     AdvanceTime(1), Fetch("C"), ConsumerInfo("C"), AdvanceTime(60_001), Fetch("C"), AdvanceTime(60_000),
     Fetch("C"), ConsumerInfo("C"), AdvanceTime(600_000), Fetch("C"), AdvanceTime(600_000), Fetch("C"),
     ConsumerInfo("C")],
    # -NAK with a delay; +WPI resets the timer; max_deliver 3 with ack_wait 2m
    [CreateStream(), CreateConsumer("C", "ack_wait_2m"), Publish("a"), Publish("b"),
     Fetch("C", '{"batch":2,"no_wait":true}'), Ack(0, "-NAK 1m"), AdvanceTime(59_999), Fetch("C"),
     AdvanceTime(30_000), Ack(1, "+WPI"), AdvanceTime(100_000), Fetch("C", '{"batch":2,"no_wait":true}'),
     AdvanceTime(120_002), Fetch("C", '{"batch":2,"no_wait":true}'), ConsumerInfo("C")],
    # a request waiting with expires receives a redelivery that falls due meanwhile
    [CreateStream(), CreateConsumer("C", "ack_wait"), Publish("a"), Fetch("C"), AdvanceTime(59_999),
     Fetch("C", '{"batch":2,"expires":20000000}'), ConsumerInfo("C")],
    # interest retention keeps a message past max_deliver until it is acked
    # (checked against Go with a 1 s ack_wait)
    [CreateStream("interest"), CreateConsumer("C"), Publish("a"), Publish("a"), Publish("a"), Fetch("C"),
     CreateConsumer("C", "max_deliver_1"), AdvanceTime(30_001), StreamInfo(), Ack(0), StreamInfo(),
     ConsumerInfo("C")],
    # an abandoned request (stopped by max_ack_pending): the redeliveries rotate
    [CreateStream(), CreateConsumer("C", "max_ack_pending_2"), Publish("a"), Publish("b"), Publish("c.1"),
     Fetch("C", '{"batch":5,"no_wait":true}'), AdvanceTime(30_001), ConsumerInfo("C"),
     Fetch("C", '{"batch":5,"no_wait":true}'), ConsumerInfo("C")],
    # ... but not once a CONSUMER.INFO has dropped the abandoned request (checked
    # against Go with a 1 s ack_wait)
    [CreateStream(), CreateConsumer("C", "max_ack_pending_2"), Publish("a"), Publish("b"), Publish("c.1"),
     Fetch("C", '{"batch":5,"no_wait":true}'), ConsumerInfo("C"), AdvanceTime(30_001),
     Fetch("C", '{"batch":5,"no_wait":true}'), ConsumerInfo("C")],
]


def test_time_dependent_redelivery_replays_clean_in_core() -> None:
    _require_natsd_core()
    _replays_clean("core", TIMED)


#: The pull side: waiting requests, heartbeats, pinned clients, inactivity.
#: Each replays clean on the core harness; those without AdvanceTime on Go too
#: (there idle heartbeats and what follows a deletion are not compared).
PULL_SIDE_CORE = [
    # requests that wait (Linger: core-only, see natsd.oracle.consumer.LINGER_ON_WIRE):
    # num_waiting, 409 Exceeded MaxWaiting past max_waiting, '409 Consumer Deleted'
    # when the consumer goes
    [CreateStream(), CreateConsumer("C", "explicit_max_waiting_1"), Publish("a"), Linger("C", 2),
     CreateConsumer("D"), Publish("b"), Linger("D", 3), ConsumerInfo("C")],
]
PULL_SIDE = [
    # idle heartbeats of a waiting request (every idle_heartbeat, restarted by a
    # delivery), none once it has expired; too large for its expiry is a 400
    [CreateStream(), CreateConsumer("C"), Fetch("C", '{"batch":2,"expires":20000000,"idle_heartbeat":5000000}'),
     Publish("a"), Fetch("C", '{"batch":2,"expires":20000000,"idle_heartbeat":5000000}'),
     Fetch("C", '{"batch":1,"expires":20000000,"idle_heartbeat":15000000}'), ConsumerInfo("C")],
    # pinned_client: the first request of group g pins; its id keeps the pin, another
    # id is 423, a request without id is passed over; UNPIN releases, the next pins anew
    [CreateStream(), CreateConsumer("C", "pinned"), Publish("a"), Publish("b"), Publish("a"), Publish("b"),
     Fetch("C", '{"batch":1,"no_wait":true,"group":"g"}'), ConsumerInfo("C"),
     Fetch("C", '{"batch":2,"no_wait":true,"group":"g","id":"<pin>"}'),
     Fetch("C", '{"batch":1,"no_wait":true,"group":"g","id":"x"}'), Fetch("C", '{"batch":2,"no_wait":true,"group":"g"}'),
     Unpin("C", '{"group":"h"}'), Unpin("C", ""), Unpin("C", '{"group":"g"}'), ConsumerInfo("C"),
     Fetch("C", '{"batch":2,"no_wait":true,"group":"g","id":"<pin>"}'), Fetch("C", '{"batch":1,"no_wait":true,"group":"g"}'),
     ConsumerInfo("C")],
    # a pin outlives an update to policy none (Go updateConfig leaves currentPinId):
    # a plain request is passed over, 404 No Messages (campaign seed 35, 63,903 steps)
    [CreateStream(), Publish("a"), Publish("a"), Publish("a"), CreateConsumer("C", "pinned"),
     Fetch("C", '{"batch":1,"no_wait":true,"group":"g"}'), CreateConsumer("C"), Fetch("C"), ConsumerInfo("C")],
    # a pause_until already past arms no timer, created or kept by an update (Go
    # updatePauseState): another consumer's request still gets its heartbeats
    # (campaign seed 38, 98,126 steps: natsd's stale deadline stopped the clock)
    [CreateStream(), Publish("a"), CreateConsumer("D"), Pause("D", '{"pause_until":"2020-01-01T00:00:00Z"}'),
     CreateConsumer("D", "sampled"), CreateConsumer("C"),
     Fetch("C", '{"batch":2,"expires":20000000,"idle_heartbeat":5000000}'), ConsumerInfo("D")],
]

#: ... and those only a fake clock can replay
PULL_SIDE_TIMED = [
    # the pin is released after priority_timeout (2m) without requests
    [CreateStream(), CreateConsumer("C", "pinned"), Publish("a"), Publish("a"),
     Fetch("C", '{"batch":1,"no_wait":true,"group":"g"}'), AdvanceTime(100_000),
     Fetch("C", '{"batch":1,"expires":20000000,"group":"g","id":"<pin>"}'), AdvanceTime(120_000),
     ConsumerInfo("C"), Publish("a"), Fetch("C", '{"batch":1,"no_wait":true,"group":"g"}'), ConsumerInfo("C")],
    # ... and so is one kept by an update to policy none: plain requests are served again
    [CreateStream(), Publish("a"), Publish("a"), CreateConsumer("C", "pinned"),
     Fetch("C", '{"batch":1,"no_wait":true,"group":"g"}'), CreateConsumer("C"), Fetch("C"), AdvanceTime(120_000),
     Fetch("C"), Events()],
    # inactive_threshold: deleted once idle for it, not while a delivered message
    # can still be acked; an ack is activity
    [CreateStream("interest"), CreateConsumer("C", "inactive_100s"), CreateConsumer("D", "inactive_100s"),
     Publish("a"), Fetch("C"), AdvanceTime(100_000), ConsumerInfo("C"), ConsumerInfo("D"), StreamInfo(),
     AdvanceTime(59_999), Ack(0), AdvanceTime(99_999), ConsumerInfo("C"), AdvanceTime(1), ConsumerInfo("C"),
     StreamInfo()],
]


def test_pull_side_replays_clean_in_core() -> None:
    _require_natsd_core()
    _replays_clean("core", PULL_SIDE_CORE + PULL_SIDE + PULL_SIDE_TIMED)


@pytest.mark.differential
def test_pull_side_replays_clean_on_go() -> None:
    _replays_clean("go", PULL_SIDE)


#: The push side (natsd.oracle.consumer_push). Each replays clean on the core
#: harness; PUSH_SIDE on Go too (the PUSH_SIDE_CORE configs are core-only).
PUSH_SIDE = [
    # a purge that empties pending at max_ack_pending does not kick the delivery
    # loop (Go consumer.purge sends no signal): nothing goes out until the next
    # message, whose ack reply counts from the recalculated num_pending
    [CreateStream(), Subscribe("C"), CreateConsumer("C", "push_max2"), Publish("a"), Publish("a"), Publish("a"),
     Publish("a"), Purge('{"seq":3}'), Drain("C"), Publish("a"), Drain("C"), ConsumerInfo("C")],
    # every successful create of a paused consumer, an update too, is followed by
    # a pause advisory (Go jsConsumerCreateRequest; campaign seed 31)
    [CreateStream(), Publish("a"), CreateConsumer("C"), Pause("C", '{"pause_until":"2099-01-01T00:00:00Z"}'),
     CreateConsumer("C", "pinned"), CreateConsumer("C", "pinned"), Events()],
    # an update that drops sample_freq goes on sampling (Go updateConfig keeps
    # sfreq when the new value does not parse; found against Go by seed 2 of
    # test_planted_model_fault_in_the_stored_ack_floor_is_found)
    [CreateStream(), Publish("a"), Publish("a"), CreateConsumer("D", "sampled"), Fetch("D", '{"batch":2,"no_wait":true}'),
     Ack(0), CreateConsumer("D"), Ack(1), Events()],
    # CONSUMER.PAUSE does not run the delivery loop: resumed, a push consumer
    # delivers at its next message (Go updateConfig sends no signal)
    [CreateStream(), Subscribe("C"), CreateConsumer("C", "push_plain"),
     Pause("C", '{"pause_until":"2099-01-01T00:00:00Z"}'), Publish("a"), Drain("C"), Pause("C", ""), Drain("C"),
     Publish("a"), Drain("C")],
    # a pin claimed publishes consumer_group_pinned with its id; CONSUMER.UNPIN
    # publishes consumer_group_unpinned (reason admin), pin held or not
    [CreateStream(), Publish("a"), Publish("a"), CreateConsumer("C", "pinned"),
     Fetch("C", '{"batch":1,"no_wait":true,"group":"g"}'), Events(), Unpin("C", '{"group":"g"}'),
     Unpin("C", '{"group":"g"}'), Fetch("C", '{"batch":1,"no_wait":true,"group":"g"}'), Events()],
]
PUSH_SIDE_CORE = [
    # an update changing nothing but repeating the config does not run a push consumer's loop
    # (Go updateConfig signals for max_ack_pending): a message held for replay original stays held
    # (campaign seed 95)
    [CreateStream()] + [Publish("a")] * 6 + [AdvanceTime(100), CreateConsumer("C", "push_replay")]
    + [Publish("a")] * 13 + [Subscribe("C"), CreateConsumer("C", "push_replay")],
    # ack policy flow_control takes an ack all of an earlier incarnation's reply at or past the next
    # sequence: the floor moves onto what is delivered next (campaign seed 93: the model's own
    # invariant was too strict there)
    [Publish("a")] * 2 + [CreateStream()] + [Publish("a")] * 7 + [Subscribe("C")] + [Publish("a")] * 19
    + [CreateConsumer("C"), Linger("C")] + [Publish("a")] * 5 + [CreateConsumer("C", "push_ack_fc"), Ack(2)],
    # ... and the stored ack floor past what was delivered (seed 93 again, after the fix above)
    [Publish("a")] * 2 + [CreateStream("max_msgs")] + [Publish("a")] * 7 + [Subscribe("C"),
     CreateConsumer("D", "push_ack_fc")] + [Publish("a")] * 19 + [CreateConsumer("C"), Linger("C"), Publish("a"),
     Publish("a"), Subscribe("D"), Publish("a"), CreateConsumer("C", "push_ack_fc"), Ack(9)],
    # ... the same under ack policy flow_control, its request outstanding
    # (campaign seed 31, 67,018 steps: natsd delivered at the purge, one fewer pending)
    [CreateStream(), Subscribe("C"), CreateConsumer("C", "push_ack_fc"), Publish("a"), Publish("a"), Publish("a"),
     Publish("a"), Purge('{"seq":3}'), Drain("C"), Publish("a"), Subscribe("C")],
    # a reset leaves the pending timer running (Go resetLocalStartingSeq does not
    # touch ptmr): armed at 100 ms by the ack_wait update, it redelivers what the
    # reset delivered anew at ack_wait, not 1 ms later (campaign seed 31, 93,951 steps)
    [CreateStream(), Publish("a"), Publish("a"), Subscribe("C"), CreateConsumer("C", "push_max2"), Publish("a"),
     CreateConsumer("C", "push_plain"), Reset("C"), AdvanceTime(30_000), ConsumerInfo("C"), Drain("C")],
    # replay original paces only what was stored when the delivery loop started:
    # created on an empty stream, it delivers at once (campaign seed 34); a purge
    # past that point while unbound ends the pacing only when the loop next runs
    # (a publish does not run an unbound consumer's loop: Go processStreamSignal)
    [CreateStream(), CreateConsumer("C", "push_replay"), Publish("a"), Publish("a"), AdvanceTime(100), Publish("a"),
     Subscribe("C")],
    [CreateStream(), Publish("a"), Publish("a"), CreateConsumer("C", "push_replay"), Purge(), Publish("a"),
     AdvanceTime(100), Publish("a"), Subscribe("C"), AdvanceTime(100), Drain("C")],
    # ... nor does a pause request that changes nothing: replay stays on for an
    # unbound consumer purged past its start (campaign seed 31, 102,516 steps)
    [CreateStream(), Publish("a"), Publish("a"), CreateConsumer("C", "push_replay"), Purge(), Publish("a"),
     Pause("C", ""), AdvanceTime(100), Publish("a"), Subscribe("C")],
    # a message held for its replay gap goes when the gap has passed even if the
    # subscriber left meanwhile (Go sleeps, then delivers; before, natsd's timer
    # stayed due for ever and the model's clock spun on it)
    [CreateStream(), Publish("a"), AdvanceTime(100), Publish("a"), Publish("a"), CreateConsumer("C", "push_replay"),
     Subscribe("C"), Unsubscribe("C"), AdvanceTime(100), ConsumerInfo("C"), Subscribe("C"), ConsumerInfo("C")],
    # under ack policy flow_control an ack past the next sequence is taken (Go
    # processAckMsg skips that check under flow control): a reply subject of the
    # deleted stream's consumer moves the new one's floor (campaign seed 39)
    [CreateStream(), Publish("a"), Publish("a"), Publish("a"), Subscribe("C"), CreateConsumer("C", "push_ack_fc"),
     DeleteStream(), CreateStream(), CreateConsumer("C", "push_ack_fc"), Ack(0), ConsumerInfo("C"), Publish("a"),
     Drain("C")],
    # a pin released by its priority_timeout: consumer_group_unpinned, reason timeout
    [CreateStream(), Publish("a"), CreateConsumer("C", "pinned"), Fetch("C", '{"batch":1,"no_wait":true,"group":"g"}'),
     AdvanceTime(120_000), Events()],
]


def test_push_side_replays_clean_in_core() -> None:
    _require_natsd_core()
    _replays_clean("core", PUSH_SIDE + PUSH_SIDE_CORE)


@pytest.mark.differential
def test_push_side_replays_clean_on_go() -> None:
    _replays_clean("go", PUSH_SIDE)


def test_consumer_campaign_wire_agrees_with_the_model() -> None:
    _require_natsd_wire()
    _campaign("wire", 200, steps_per_example=25)


@pytest.mark.differential
def test_consumer_campaign_differential_natsd_and_go_agree_with_the_model() -> None:
    _require_natsd_wire()
    _campaign("differential", 200, steps_per_example=25)


def test_reply_observation_masks_only_times_and_versions() -> None:
    from natsd.oracle.consumer import mask, mask_ack_reply

    assert mask_ack_reply("$JS.ACK.S.C.1.2.3.1796657166970453487.4") == "$JS.ACK.S.C.1.2.3.<ts>.4"
    got = mask({"created": "2026-01-01T00:00:00Z", "delivered": {"last_active": "2026-01-01T00:00:00Z",
                                                              "consumer_seq": 1},
                "config": {"metadata": {"_nats.ver": "2.15.1", "_nats.level": "5"}}})
    assert json.dumps(got, sort_keys=True) == json.dumps(
        {"created": MC.TS, "delivered": {"last_active": MC.TS, "consumer_seq": 1},
         "config": {"metadata": {"_nats.ver": MC.VER, "_nats.level": "5"}}}, sort_keys=True)
