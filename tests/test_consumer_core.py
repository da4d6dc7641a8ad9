"""Unit tests of the sans-IO consumer core: natsd.jetstream.{consumercfg,consumer}.

Time is a parameter (a fake clock), so ack waits, backoff, pull expiry,
heartbeats and inactivity run instantly and exactly. Expected values are the
Go server's (server/consumer.go); the wire tests check the same behaviour
against a running natsd and, where marked, the Go server.
"""

from __future__ import annotations

import json

import msgspec
import pytest

from natsd.api import ConsumerConfig, StreamConfig
from natsd.jetstream import ApiErrorException, Stream, check_config
from natsd.jetstream import consumercfg as ccfg
from natsd.jetstream.consumer import Consumer, ack_reply_info
from natsd.jetstream.consumerset import StreamConsumers
from natsd.jetstream.headers import parse_headers

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def stream(clock: Clock, **kw) -> Stream:
    kw.setdefault("name", "S")
    kw.setdefault("subjects", ["s.>"])
    return Stream(check_config(StreamConfig(storage="memory", **kw)), None, clock.now)


def consumer(st: Stream, cs: StreamConsumers | None, clock: Clock, *, interest=lambda s: True,
             name="", **kw) -> Consumer:
    name = name or kw.get("durable_name") or "C"
    raw = msgspec.convert(kw, ConsumerConfig)
    raw = msgspec.structs.replace(raw, deliver_policy=kw.get("deliver_policy", ""),
                                  ack_policy=kw.get("ack_policy", ""),
                                  replay_policy=kw.get("replay_policy", ""),
                                  priority_policy=kw.get("priority_policy", ""), max_deliver=kw.get("max_deliver", 0))
    cfg = ccfg.normalise(raw, st.config)
    ccfg.check(cfg, st.config)
    c = Consumer(st, name, cfg, clock.now, has_interest=interest)
    if cs is not None:
        cs.add(c)
    return c


def pub(st: Stream, clock: Clock, subject: str, data: bytes = b"x", hdr: bytes | None = None) -> int:
    return st.process_msg(subject, hdr, data, clock.now).seq


def delivered(c: Consumer) -> list:
    return [o for o in c.drain() if o.reply and o.reply.startswith("$JS.ACK.")]


def statuses(outs) -> list[tuple[int, str]]:
    res = []
    for o in outs:
        if o.hdr and not (o.reply or "").startswith("$JS.ACK."):
            h = parse_headers(o.hdr)
            if h.code is not None:
                res.append((h.code, h.description))
    return res


# --- config --------------------------------------------------------------------------------------


def test_defaults_follow_go_set_consumer_config_defaults():
    st = Stream(check_config(StreamConfig(name="S", subjects=["s.>"], storage="memory")), None, T0)
    raw = msgspec.structs.replace(ConsumerConfig(durable_name="D", ack_policy="explicit"),
                                  deliver_policy="", replay_policy="", priority_policy="", max_deliver=0)
    cfg = ccfg.normalise(raw, st.config)
    assert (cfg.deliver_policy, cfg.replay_policy, cfg.max_deliver) == ("all", "instant", -1)
    assert (cfg.ack_wait, cfg.max_ack_pending, cfg.max_waiting) == (30 * S, 1000, 512)
    bo = ccfg.normalise(msgspec.structs.replace(raw, backoff=[2 * S, 4 * S], max_deliver=5), st.config)
    assert bo.ack_wait == 2 * S
    with pytest.raises(ApiErrorException) as e:
        ccfg.normalise(msgspec.structs.replace(raw, max_deliver=-5), st.config, pedantic=True)
    assert e.value.error.err_code == 10157
    push = ccfg.normalise(msgspec.structs.replace(raw, deliver_subject="d"), st.config)
    assert push.max_waiting == 0


@pytest.mark.parametrize(("kw", "code", "text"), [
    ({"deliver_policy": "by_start_sequence"}, 10094,
     "consumer delivery policy is deliver by start sequence, but optional start sequence is not set"),
    ({"opt_start_seq": 3}, 10094, "consumer delivery policy is deliver all, but optional start sequence is also set"),
    ({"filter_subject": "a", "filter_subjects": ["b"]}, 10136, None),
    ({"filter_subjects": ["s.>", "s.a"]}, 10138, None),
    ({"filter_subjects": ["s.a", ""]}, 10139, None),
    ({"deliver_subject": "d.>"}, 10079, None),
    ({"deliver_subject": "s.x"}, 10081, None),
    ({"deliver_subject": "d", "idle_heartbeat": 10 * MS}, 10083, None),
    ({"deliver_subject": "d", "flow_control": True}, 10108, None),
    ({"idle_heartbeat": S}, 10088, None),
    ({"flow_control": True}, 10089, None),
    ({"max_expires": 10}, 10115, None),
    ({"ack_policy": "explicit", "backoff": [S, S], "max_deliver": 1}, 10116, None),
    ({"ack_wait": -1}, 10183, None),
    ({"sample_freq": "abc"}, 10095, None),
    ({"num_replicas": 3}, 10126, None),
    ({"description": "x" * 4097}, 10107, None),
    ({"durable_name": "a.b"}, 10052, "consumer durable name can not contain '.', '*', '>', '\\', '/'"),
    ({"durable_name": "a", "name": "b"}, 10132, None),
    ({"priority_policy": "overflow"}, 10159, None),
    ({"priority_groups": ["g"]}, 10196, None),
])
def test_check_refuses_what_go_refuses(kw, code, text):
    st = Stream(check_config(StreamConfig(name="S", subjects=["s.>"], storage="memory")), None, T0)
    raw = msgspec.convert({"ack_policy": "none", **kw}, ConsumerConfig)
    with pytest.raises(ApiErrorException) as e:
        ccfg.check(ccfg.normalise(raw, st.config), st.config)
    assert e.value.error.err_code == code
    if text is not None:
        assert e.value.error.description == text


def test_update_rules():
    old = ConsumerConfig(durable_name="D", ack_policy="explicit", ack_wait=S)
    ccfg.check_update(old, msgspec.structs.replace(old, ack_wait=2 * S, description="x"), False)
    for field, value, text in (("ack_policy", "all", "ack policy can not be updated"),
                               ("deliver_policy", "new", "deliver policy can not be updated"),
                               ("deliver_subject", "d", "can not update pull consumer to push based"),
                               ("max_waiting", 7, "max waiting can not be updated")):
        with pytest.raises(ApiErrorException) as e:
            ccfg.check_update(old, msgspec.structs.replace(old, **{field: value}), False)
        assert (e.value.error.err_code, e.value.error.description) == (10012, text)


def test_workqueue_partitions():
    others = [("A", ConsumerConfig(ack_policy="explicit", filter_subject="w.a"))]
    ccfg.check_workqueue(ConsumerConfig(ack_policy="explicit", filter_subject="w.b"), "B", others)
    for cfg, code in ((ConsumerConfig(ack_policy="explicit"), 10099),
                      (ConsumerConfig(ack_policy="explicit", filter_subject="w.*"), 10100),
                      (ConsumerConfig(ack_policy="none", filter_subject="w.c"), 10098),
                      (ConsumerConfig(ack_policy="explicit", deliver_policy="new"), 10101)):
        with pytest.raises(ApiErrorException) as e:
            ccfg.check_workqueue(cfg, "B", others)
        assert e.value.error.err_code == code


# --- delivery and acks ---------------------------------------------------------------------------


def test_ack_reply_subject_layout_and_parse():
    clock = Clock()
    st = stream(clock)
    pub(st, clock, "s.a")
    pub(st, clock, "s.b")
    c = consumer(st, StreamConsumers(st, clock), clock, durable_name="D", ack_policy="explicit")
    c.pull("_INBOX.r", b"2", clock.now)
    first, second = delivered(c)
    assert first.to == "_INBOX.r" and first.subject == "s.a"
    assert first.reply == f"$JS.ACK.S.D.1.1.1.{T0}.1" and second.reply == f"$JS.ACK.S.D.1.2.2.{T0}.0"
    assert ack_reply_info(second.reply) == (2, 2, 1, T0, 0)
    assert ack_reply_info(f"$JS.ACK._.abcd1234.S.D.3.4.5.{T0}.6.x") == (4, 5, 3, T0, 6)
    assert ack_reply_info("$JS.ACK.S.D.1.2") == (0, 0, 0, 0, 0)


def test_explicit_ack_floor_and_ack_sync_reply():
    clock = Clock()
    st = stream(clock)
    for i in range(3):
        pub(st, clock, f"s.{i}")
    c = consumer(st, StreamConsumers(st, clock), clock, durable_name="D", ack_policy="explicit")
    c.pull("in", b"3", clock.now)
    msgs = delivered(c)
    c.ack(msgs[1].reply, "ackreply", b"+ACK", clock.now)
    out = c.drain()
    assert [(o.to, o.hdr, o.data) for o in out] == [("ackreply", None, b"")]
    info = c.info(clock.now)
    assert (info.ack_floor.stream_seq, info.num_ack_pending) == (0, 2)  # 1 still pending
    c.ack(msgs[0].reply, None, b"", clock.now)
    info = c.info(clock.now)
    assert (info.ack_floor.consumer_seq, info.ack_floor.stream_seq, info.num_ack_pending) == (2, 2, 1)
    c.ack(msgs[0].reply, "again", b"+ACK", clock.now)  # a repeated ack is still answered
    assert [o.to for o in c.drain()] == ["again"]


def test_ack_all_acks_everything_below():
    clock = Clock()
    st = stream(clock)
    for i in range(4):
        pub(st, clock, f"s.{i}")
    c = consumer(st, None, clock, durable_name="D", ack_policy="all")
    c.pull("in", b"4", clock.now)
    msgs = delivered(c)
    c.ack(msgs[2].reply, None, b"+ACK", clock.now)
    info = c.info(clock.now)
    assert (info.num_ack_pending, info.ack_floor.stream_seq) == (1, 3)


def test_ack_wait_redelivery_and_backoff():
    clock = Clock()
    st = stream(clock)
    pub(st, clock, "s.a")
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit", backoff=[S, 3 * S], max_deliver=4)
    c.pull("in", json.dumps({"batch": 10, "expires": 60 * S}).encode(), clock.now)
    assert len(delivered(c)) == 1
    assert c.next_deadline() == T0 + S + MS  # backoff[0] (+ Go's 1ms ackWaitDelay)
    clock.now += S + MS
    c.on_timer(clock.now)
    again = delivered(c)
    assert [ack_reply_info(o.reply)[2] for o in again] == [2]  # delivery count 2
    clock.now += S + MS  # the second redelivery waits backoff[1]
    c.on_timer(clock.now)
    assert delivered(c) == []
    clock.now += 2 * S
    c.on_timer(clock.now)
    assert [ack_reply_info(o.reply)[2] for o in delivered(c)] == [3]
    info = c.info(clock.now)
    assert (info.num_redelivered, info.num_ack_pending, info.delivered.consumer_seq) == (1, 1, 3)


def test_max_deliver_stops_redelivery_with_advisory():
    clock = Clock()
    st = stream(clock)
    pub(st, clock, "s.a")
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit", ack_wait=S, max_deliver=2)
    c.pull("in", json.dumps({"batch": 10, "expires": 60 * S}).encode(), clock.now)
    for _ in range(2):
        assert len(delivered(c)) == 1
        clock.now += S + MS
        c.on_timer(clock.now)
    out = c.drain()
    adv = [json.loads(o.data) for o in out if o.to.startswith("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.")]
    assert adv and (adv[0]["stream_seq"], adv[0]["deliveries"]) == (1, 2)
    assert not [o for o in out if o.reply and o.reply.startswith("$JS.ACK.")]
    assert c.info(clock.now).num_ack_pending == 0


def test_nak_delay_and_term_advisory():
    clock = Clock()
    st = stream(clock)
    pub(st, clock, "s.a")
    pub(st, clock, "s.b")
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit", ack_wait=30 * S)
    c.pull("in", json.dumps({"batch": 10, "expires": 60 * S}).encode(), clock.now)
    one, two = delivered(c)
    c.ack(one.reply, None, b'-NAK {"delay": 2000000000}', clock.now)
    c.ack(two.reply, None, b"+TERM poison", clock.now)
    out = c.drain()
    kinds = {o.to.split(".")[4]: json.loads(o.data) for o in out if o.to.startswith("$JS.EVENT")}
    assert kinds["MSG_NAKED"]["stream_seq"] == 1 and kinds["MSG_TERMINATED"]["reason"] == "poison"
    clock.now += S
    c.on_timer(clock.now)
    assert delivered(c) == []
    clock.now += S + 20 * MS
    c.on_timer(clock.now)
    assert [ack_reply_info(o.reply)[:3] for o in delivered(c)] == [(1, 3, 2)]


def test_max_ack_pending_blocks_until_acks():
    clock = Clock()
    st = stream(clock)
    for i in range(3):
        pub(st, clock, f"s.{i}")
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit", max_ack_pending=2)
    c.pull("in", json.dumps({"batch": 3, "expires": 60 * S}).encode(), clock.now)
    first = delivered(c)
    assert len(first) == 2
    c.ack(first[0].reply, None, b"", clock.now)
    assert [ack_reply_info(o.reply)[0] for o in delivered(c)] == [3]


# --- pull requests -------------------------------------------------------------------------------


def test_pull_expiry_no_wait_and_heartbeat():
    clock = Clock()
    st = stream(clock)
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit")
    c.pull("a", json.dumps({"no_wait": True}).encode(), clock.now)
    assert statuses(c.drain()) == [(404, "No Messages")]
    c.pull("b", json.dumps({"batch": 5, "expires": 2 * S, "idle_heartbeat": 500 * MS}).encode(), clock.now)
    assert c.info(clock.now).num_waiting == 1
    clock.now += 500 * MS
    c.on_timer(clock.now)
    out = c.drain()
    assert statuses(out) == [(100, "Idle Heartbeat")]
    assert parse_headers(out[0].hdr).get("Nats-Last-Consumer") == "0"
    clock.now += 2 * S
    c.on_timer(clock.now)
    out = c.drain()
    assert statuses(out)[-1] == (408, "Request Timeout")
    h = parse_headers(out[-1].hdr)
    assert (h.get("Nats-Pending-Messages"), h.get("Nats-Pending-Bytes")) == ("5", "0")
    assert c.info(clock.now).num_waiting == 0


def test_pull_limits_and_push_refusal():
    clock = Clock()
    st = stream(clock)
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit", max_batch=2, max_expires=S,
                 max_bytes=10, max_waiting=1)
    c.pull("r", b"3", clock.now)
    c.pull("r", json.dumps({"expires": 2 * S}).encode(), clock.now)
    c.pull("r", json.dumps({"max_bytes": 11}).encode(), clock.now)
    c.pull("r", json.dumps({"expires": S}).encode(), clock.now)
    c.pull("r", json.dumps({"expires": S}).encode(), clock.now)
    c.pull(None, b"", clock.now)  # no reply: ignored
    assert statuses(c.drain()) == [(409, "Exceeded MaxRequestBatch of 2"), (409, "Exceeded MaxRequestExpires of 1s"),
                                   (409, "Exceeded MaxRequestMaxBytes of 10"), (409, "Exceeded MaxWaiting")]
    p = consumer(st, None, clock, name="P", deliver_subject="d")
    p.pull("r", b"", clock.now)
    assert statuses(p.drain()) == [(409, "Consumer is push based")]


def test_pull_interest_gone_drops_request_and_delete_notifies():
    clock = Clock()
    st = stream(clock)
    live = {"keep"}
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit", interest=lambda s: s in live)
    c.pull("gone", json.dumps({"batch": 1, "expires": 10 * S}).encode(), clock.now)
    c.pull("keep", json.dumps({"batch": 1, "expires": 10 * S}).encode(), clock.now)
    pub(st, clock, "s.a")
    c.on_stored(1, "s.a", clock.now)
    msgs = delivered(c)
    assert [o.to for o in msgs] == ["keep"]
    c.pull("keep", json.dumps({"batch": 1, "expires": 10 * S}).encode(), clock.now)
    c.stop()
    assert statuses(c.drain()) == [(409, "Consumer Deleted")]


# --- push ----------------------------------------------------------------------------------------


def test_push_waits_for_interest_and_sends_heartbeats():
    clock = Clock()
    st = stream(clock)
    cs = StreamConsumers(st, clock)
    c = consumer(st, cs, clock, durable_name="P", deliver_subject="d", idle_heartbeat=S)
    pub(st, clock, "s.a")
    assert c.drain() == []  # no interest yet
    c.set_interest(True, clock.now)
    (m,) = delivered(c)
    assert (m.to, m.subject) == ("d", "s.a")
    clock.now += S
    c.on_timer(clock.now)
    out = c.drain()
    assert statuses(out) == [(100, "Idle Heartbeat")]
    h = parse_headers(out[0].hdr)
    assert (h.get("Nats-Last-Consumer"), h.get("Nats-Last-Stream")) == ("1", "1")
    assert c.info(clock.now).push_bound is True


def test_push_flow_control_stalls_until_reply():
    clock = Clock()
    st = stream(clock)
    cs = StreamConsumers(st, clock)
    c = consumer(st, cs, clock, durable_name="F", deliver_subject="d", idle_heartbeat=S, flow_control=True)
    c.set_interest(True, clock.now)
    c.maxpb = 1000  # a small window, so a few messages trigger flow control
    big = b"x" * 400
    for _ in range(4):
        pub(st, clock, "s.a", big)
    out = c.drain()
    fc = [o for o in out if o.hdr and b"FlowControl" in o.hdr]
    assert len(fc) == 1 and fc[0].reply.startswith("$JS.FC.S.F.") and len(fc[0].reply.split(".")[-1]) == 4
    sent = len([o for o in out if o.reply and o.reply.startswith("$JS.ACK.")])
    assert sent < 4  # stalled past the window
    clock.now += S
    c.on_timer(clock.now)
    hb = c.drain()
    assert parse_headers(hb[0].hdr).get("Nats-Consumer-Stalled") == fc[0].reply
    c.flow_control(fc[0].reply, None, clock.now)
    assert len(delivered(c)) == 4 - sent


def test_headers_only_delivery():
    clock = Clock()
    st = stream(clock)
    pub(st, clock, "s.a", b"hello", b"NATS/1.0\r\nK: v\r\n\r\n")
    c = consumer(st, None, clock, durable_name="H", headers_only=True)
    c.pull("in", b"", clock.now)
    (m,) = delivered(c)
    assert m.data == b"" and m.hdr == b"NATS/1.0\r\nK: v\r\nNats-Msg-Size: 5\r\n\r\n"


# --- start positions -----------------------------------------------------------------------------


def test_deliver_policies():
    clock = Clock()
    st = stream(clock)
    for subj in ("s.a", "s.b", "s.a", "s.c"):
        pub(st, clock, subj)
        clock.now += S

    def first_seqs(**kw) -> list[int]:
        c = consumer(st, None, clock, name="X", **kw)
        c.pull("in", b"10", clock.now)
        return [ack_reply_info(o.reply)[0] for o in delivered(c)]

    assert first_seqs() == [1, 2, 3, 4]
    assert first_seqs(deliver_policy="last") == [4]
    assert first_seqs(deliver_policy="last", filter_subject="s.a") == [3]
    assert first_seqs(deliver_policy="new") == []
    assert first_seqs(deliver_policy="by_start_sequence", opt_start_seq=2) == [2, 3, 4]
    from natsd.protocol.gotime import rfc3339nano
    assert first_seqs(deliver_policy="by_start_time", opt_start_time=rfc3339nano(T0 + 2 * S)) == [3, 4]
    assert first_seqs(deliver_policy="last_per_subject", filter_subjects=["s.a", "s.b"]) == [2, 3]
    assert first_seqs(filter_subjects=["s.a", "s.c"]) == [1, 3, 4]


# --- stream events, retention, lifecycle -----------------------------------------------------------


def test_purge_moves_floors_and_drops_pending():
    clock = Clock()
    st = stream(clock)
    cs = StreamConsumers(st, clock)
    for i in range(4):
        pub(st, clock, f"s.{i}")
    c = consumer(st, cs, clock, durable_name="D", ack_policy="explicit")
    c.pull("in", b"2", clock.now)
    delivered(c)
    st.purge()
    info = c.info(clock.now)
    assert (info.num_ack_pending, info.num_pending, info.ack_floor.stream_seq) == (0, 0, 4)
    assert info.delivered.stream_seq == 4


def test_removed_pending_message_is_terminated():
    clock = Clock()
    st = stream(clock)
    cs = StreamConsumers(st, clock)
    pub(st, clock, "s.a")
    c = consumer(st, cs, clock, durable_name="D", ack_policy="explicit")
    c.pull("in", b"1", clock.now)
    delivered(c)
    assert st.delete_msg(1) is None
    cs.settle(clock.now)
    out = c.drain()
    adv = [json.loads(o.data) for o in out if "MSG_TERMINATED" in o.to]
    assert adv[0]["reason"] == "Unacknowledged message was deleted"
    assert c.info(clock.now).num_ack_pending == 0


def test_interest_retention_removes_once_all_acked():
    clock = Clock()
    st = stream(clock, retention="interest")
    cs = StreamConsumers(st, clock)
    a = consumer(st, cs, clock, name="A", durable_name="A", ack_policy="explicit")
    b = consumer(st, cs, clock, name="B", durable_name="B", ack_policy="explicit", filter_subject="s.b")
    pub(st, clock, "s.a")
    pub(st, clock, "s.b")
    a.pull("in", b"2", clock.now)
    b.pull("in", b"1", clock.now)
    am, bm = delivered(a), delivered(b)
    for m in am:
        a.ack(m.reply, None, b"", clock.now)
    cs.settle(clock.now)
    assert st.store.fast_state().msgs == 1  # s.b still waits for B
    b.ack(bm[0].reply, None, b"", clock.now)
    cs.settle(clock.now)
    assert st.store.fast_state().msgs == 0


def test_workqueue_removes_on_ack_and_ephemeral_goes_inactive():
    clock = Clock()
    st = stream(clock, retention="workqueue")
    cs = StreamConsumers(st, clock)
    w = consumer(st, cs, clock, name="W", durable_name="W", ack_policy="explicit")
    pub(st, clock, "s.a")
    w.pull("in", b"1", clock.now)
    (m,) = delivered(w)
    w.ack(m.reply, None, b"", clock.now)
    cs.settle(clock.now)
    assert st.store.fast_state().msgs == 0
    eph = consumer(st, None, clock, name="E", ack_policy="explicit", filter_subject="s.z")
    assert eph.cfg.inactive_threshold == 5 * S
    clock.now += 5 * S
    assert eph.on_timer(clock.now) is True  # idle past inactive_threshold: delete


def test_inactive_durable_waits_for_acks_then_is_deleted():
    """Go deleteNotActive: a pull consumer with inactive_threshold goes once the
    threshold has passed since its last activity (request, delivery, ack) and
    no delivered message can still be acked within its ack wait plus the threshold."""
    clock = Clock()
    st = stream(clock)
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit", inactive_threshold=100 * S,
                 ack_wait=30 * S)
    pub(st, clock, "s.a")
    pub(st, clock, "s.b")
    c.pull("in", b"2", clock.now)
    m1, m2 = delivered(c)
    clock.now += 50 * S
    c.ack(m1.reply, None, b"", clock.now)  # activity: the countdown restarts
    clock.now += 99 * S
    assert c.on_timer(clock.now) is False
    clock.now += 1 * S  # 100 s after the ack, but m2 is due again (ack wait): it could still be acked
    assert c.on_timer(clock.now) is False
    assert c.next_deadline() is not None
    c.ack(m2.reply, None, b"", clock.now)
    assert c.on_timer(clock.now + 100 * S - 1) is False
    assert c.on_timer(clock.now + 100 * S) is True


def test_pause_holds_delivery_until_deadline():
    clock = Clock()
    st = stream(clock)
    pub(st, clock, "s.a")
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit")
    c.pause(clock.now + 2 * S, clock.now)
    c.pull("in", json.dumps({"batch": 1, "expires": 10 * S}).encode(), clock.now)
    assert delivered(c) == []
    info = c.info(clock.now)
    assert info.paused is True and info.pause_remaining == 2 * S
    clock.now += 2 * S
    c.on_timer(clock.now)
    assert len(delivered(c)) == 1


def test_replay_original_paces_stored_messages_then_goes_instant():
    clock = Clock()
    st = stream(clock)
    pub(st, clock, "s.a")
    clock.now += 2 * S
    pub(st, clock, "s.b")
    c = consumer(st, None, clock, durable_name="R", replay_policy="original", deliver_subject="d")
    c.set_interest(True, clock.now)
    assert [o.subject for o in delivered(c)] == ["s.a"]  # s.b waits for the original 2s gap
    assert c.next_deadline() == clock.now + 2 * S
    clock.now += S
    c.on_timer(clock.now)
    assert delivered(c) == []
    clock.now += S
    c.on_timer(clock.now)
    assert [o.subject for o in delivered(c)] == ["s.b"]
    clock.now += 10 * S
    pub(st, clock, "s.c")  # past the stored messages: instant
    c.on_stored(3, "s.c", clock.now)
    assert [o.subject for o in delivered(c)] == ["s.c"]


def test_pause_and_resume_send_pause_advisories():
    clock = Clock()
    st = stream(clock)
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit")
    c.pause(clock.now + S, clock.now)
    clock.now += S
    c.on_timer(clock.now)
    advs = [json.loads(o.data) for o in c.drain() if o.to == "$JS.EVENT.ADVISORY.CONSUMER.PAUSE.S.D"]
    assert [a["paused"] for a in advs] == [True, False]
    assert advs[0]["type"] == "io.nats.jetstream.advisory.v1.consumer_pause"


# --- priority groups -----------------------------------------------------------------------------


def _req(**kw) -> bytes:
    kw.setdefault("expires", 60 * S)
    return json.dumps(kw).encode()


def test_pinned_client_pins_first_request_and_refuses_others():
    clock = Clock()
    st = stream(clock)
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit", priority_policy="pinned_client",
                 priority_groups=["g"], priority_timeout=10 * S)
    c.pull("r1", _req(batch=5, group="g"), clock.now)
    c.pull("r2", _req(batch=5, group="g"), clock.now)
    pub(st, clock, "s.a")
    c.on_stored(1, "s.a", clock.now)
    out = c.drain()
    (m,) = [o for o in out if o.reply and o.reply.startswith("$JS.ACK.")]
    pin = parse_headers(m.hdr).get("Nats-Pin-Id")
    assert m.to == "r1" and pin == c.current_pin and len(pin) == 22
    pinned = [json.loads(o.data) for o in out if "CONSUMER.PINNED" in o.to]
    assert pinned[0]["pinned_id"] == pin and pinned[0]["group"] == "g"
    c.pull("r3", _req(batch=1, group="g", id="other"), clock.now)
    assert statuses(c.drain()) == [(423, "Nats-Pin-Id mismatch")]
    info = c.info(clock.now)
    assert info.priority_groups[0].pinned_client_id == pin
    clock.now += 10 * S  # no request renewed the pin: it times out
    c.on_timer(clock.now)
    unpinned = [json.loads(o.data) for o in c.drain() if "CONSUMER.UNPINNED" in o.to]
    assert unpinned[0]["reason"] == "timeout" and c.current_pin != pin


def test_priority_request_checks_and_prioritized_order():
    clock = Clock()
    st = stream(clock)
    plain = consumer(st, None, clock, name="N", durable_name="N", ack_policy="explicit")
    plain.pull("r", _req(min_pending=1), clock.now)
    plain.pull("r", _req(id="x"), clock.now)
    plain.pull("r", _req(priority=12), clock.now)
    assert statuses(plain.drain()) == [(400, "Bad Request - Not a Overflow Priority consumer"),
                                       (400, "Bad Request - Not a Pinned Client Priority consumer"),
                                       (400, "Bad Request - Priority must be between 0 and 9")]
    c = consumer(st, None, clock, name="P", durable_name="P", ack_policy="explicit",
                 priority_policy="prioritized", priority_groups=["g"])
    c.pull("r", _req(), clock.now)
    c.pull("r", _req(group="nope"), clock.now)
    assert statuses(c.drain()) == [(400, "Bad Request - Priority Group missing"),
                                   (400, "Bad Request - Invalid Priority Group")]
    c.pull("low", _req(group="g", priority=5), clock.now)
    c.pull("high", _req(group="g", priority=1), clock.now)
    pub(st, clock, "s.a")
    c.on_stored(1, "s.a", clock.now)
    assert [o.to for o in delivered(c)] == ["high"]


def test_overflow_serves_only_past_min_pending():
    clock = Clock()
    st = stream(clock)
    c = consumer(st, None, clock, durable_name="O", ack_policy="explicit", priority_policy="overflow",
                 priority_groups=["g"])
    c.pull("picky", _req(group="g", min_pending=3), clock.now)
    pub(st, clock, "s.a")
    c.on_stored(1, "s.a", clock.now)
    assert delivered(c) == []
    pub(st, clock, "s.b")
    c.on_stored(2, "s.b", clock.now)
    pub(st, clock, "s.c")
    c.on_stored(3, "s.c", clock.now)
    assert [o.to for o in delivered(c)] == ["picky"]


def test_reset_restarts_delivery_within_policy():
    clock = Clock()
    st = stream(clock)
    for i in range(4):
        pub(st, clock, f"s.{i}")
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit")
    c.pull("in", b"2", clock.now)
    first = delivered(c)
    c.ack(first[0].reply, None, b"", clock.now)
    assert c.reset(0) == 2  # 0 = ack floor + 1
    info = c.info(clock.now)
    assert (info.num_ack_pending, info.delivered.consumer_seq, info.ack_floor.stream_seq) == (0, 0, 1)
    c.pull("in", b"1", clock.now)
    assert [ack_reply_info(o.reply)[:2] for o in delivered(c)] == [(2, 1)]
    by_seq = consumer(st, None, clock, name="B", deliver_policy="by_start_sequence", opt_start_seq=3)
    with pytest.raises(ValueError, match="below start seq"):
        by_seq.reset(2)
    last = consumer(st, None, clock, name="L", deliver_policy="last")
    with pytest.raises(ValueError, match="not allowed"):
        last.reset(1)


def test_sample_freq_publishes_ack_metrics():
    clock = Clock()
    st = stream(clock)
    pub(st, clock, "s.a")
    c = consumer(st, None, clock, durable_name="D", ack_policy="explicit", sample_freq="100%")
    c.pull("in", b"1", clock.now)
    (m,) = delivered(c)
    clock.now += 5 * MS
    c.ack(m.reply, None, b"+ACK", clock.now)
    (metric,) = [json.loads(o.data) for o in c.drain() if o.to == "$JS.EVENT.METRIC.CONSUMER.ACK.S.D"]
    assert (metric["type"], metric["stream_seq"], metric["ack_time"]) == (
        "io.nats.jetstream.metric.v1.consumer_ack", 1, 5 * MS)


def test_rate_limit_paces_push_delivery():
    clock = Clock()
    st = stream(clock, max_msg_size=1000)
    c = consumer(st, None, clock, durable_name="R", deliver_subject="d", rate_limit_bps=8000)  # 1000 B/s
    c.set_interest(True, clock.now)
    for _ in range(3):
        pub(st, clock, "s.a", b"x" * 400)
        c.on_stored(st.last_seq, "s.a", clock.now)
    assert len(delivered(c)) == 2  # the 1000 B burst covers two ~450 B deliveries
    assert c.next_deadline() is not None and c.next_deadline() > clock.now
    clock.now = c.next_deadline()
    c.on_timer(clock.now)
    assert len(delivered(c)) == 1
