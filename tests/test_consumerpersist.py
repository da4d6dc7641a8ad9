"""Unit tests of natsd.jetstream._consumerpersist and Consumer.restore.

A consumer written to a directory and read back continues exactly where it
was (Go applyState); a stream that came back shorter pulls the state back (Go
reconcileStateWithStream); damaged files are never trusted. The wire tests
(tests/test_wire_durability_consumers.py) cover the same through a server
restart and kill -9.
"""

from __future__ import annotations

import msgspec

from natsd.api import ConsumerConfig, StreamConfig
from natsd.jetstream import Stream, check_config
from natsd.jetstream import consumercfg as ccfg
from natsd.jetstream._consumerpersist import ConsumerFiles, load_consumers, state_of
from natsd.jetstream.consumer import Consumer

S = 1_000_000_000
T0 = 1_700_000_000 * S


def _stream() -> Stream:
    return Stream(check_config(StreamConfig(name="S", subjects=["s.>"], storage="memory")), None, T0)


def _consumer(st: Stream, name: str = "C", **kw) -> Consumer:
    raw = msgspec.convert({"durable_name": name, "ack_policy": "explicit", "ack_wait": 10 * S, **kw}, ConsumerConfig)
    cfg = ccfg.normalise(raw, st.config)
    ccfg.check(cfg, st.config)
    return Consumer(st, name, cfg, T0)


def _deliveries(c: Consumer) -> list[str]:
    return [o.reply for o in c.drain() if o.reply and o.reply.startswith("$JS.ACK.")]


def _worked(st: Stream) -> Consumer:
    for i in range(6):
        st.process_msg(f"s.{i}", None, b"x", T0)
    c = _consumer(st)
    c.pull("_INBOX.r", b"5", T0)
    acks = _deliveries(c)
    for r in (acks[0], acks[1], acks[3]):  # 1, 2 and 4 acknowledged; 3 and 5 pending
        c.ack(r, None, b"+ACK", T0 + S)
    c.ack(acks[2], None, b"-NAK", T0 + S)
    c.pull("_INBOX.r", b"1", T0 + S)
    assert _deliveries(c) == [f"$JS.ACK.S.C.2.3.6.{T0}.1"]  # 3 again, delivery count 2
    return c


def test_state_round_trips_and_the_consumer_continues(tmp_path):
    st = _stream()
    c = _worked(st)
    files = ConsumerFiles(str(tmp_path))
    files.created(c, T0 + 2 * S)
    (rec,) = load_consumers(str(tmp_path))
    assert (rec.name, rec.config, rec.created) == ("C", c.cfg, T0)
    assert rec.state == state_of(c, T0 + 2 * S)
    assert (rec.state.delivered_consumer, rec.state.delivered_stream) == (6, 5)
    assert (rec.state.ack_floor_consumer, rec.state.ack_floor_stream) == (2, 2)
    assert [p[:2] for p in rec.state.pending] == [(3, 3), (5, 5)] and rec.state.redelivered == [(3, 1)]

    again = Consumer(st, "C", rec.config, T0 + 3 * S)
    again.restore(rec.state, T0 + 3 * S)
    before, after = c.info(T0 + 3 * S), again.info(T0 + 3 * S)
    for f in ("delivered", "ack_floor", "num_ack_pending", "num_redelivered", "num_pending"):
        ga, gb = getattr(before, f), getattr(after, f)
        if f in ("delivered", "ack_floor"):
            ga, gb = (ga.consumer_seq, ga.stream_seq), (gb.consumer_seq, gb.stream_seq)
        assert ga == gb, f
    # pending check soon after the start (Go: 500ms..1.5s), then ack_wait counts from the old deliveries
    assert T0 + 3 * S + S // 2 <= again.next_deadline() <= T0 + 3 * S + 3 * S // 2
    again.pull("_INBOX.r", b"3", T0 + 3 * S)
    assert _deliveries(again) == [f"$JS.ACK.S.C.1.6.7.{T0}.0"]  # 6, never delivered before
    again.on_timer(T0 + 12 * S)
    assert _deliveries(again) == [f"$JS.ACK.S.C.3.3.8.{T0}.0", f"$JS.ACK.S.C.2.5.9.{T0}.0"]


def test_a_stream_that_came_back_shorter_pulls_the_state_back(tmp_path):
    st = _stream()
    c = _worked(st)
    state = state_of(c, T0 + 2 * S)
    short = _stream()
    for i in range(3):  # only 1..3 survived
        short.process_msg(f"s.{i}", None, b"x", T0)
    again = Consumer(short, "C", c.cfg, T0 + 3 * S)
    again.restore(state, T0 + 3 * S)
    assert sorted(again.pending) == [3] and again.rdc == {3: 1}
    assert (again.sseq, again.dseq) == (4, 4)  # Go: one past the highest pending
    assert (again.cstore.ds, again.cstore.dc) == (3, 3)
    short.process_msg("s.new", None, b"x", T0 + 3 * S)
    again.pull("_INBOX.r", b"1", T0 + 3 * S)
    assert _deliveries(again) == [f"$JS.ACK.S.C.1.4.4.{T0 + 3 * S}.0"]  # the new message is not skipped


def test_damaged_files_are_not_trusted_and_removal_is_definition_first(tmp_path):
    st = _stream()
    files = ConsumerFiles(str(tmp_path))
    for name in ("A", "B", "E"):
        files.created(_consumer(st, name), T0)
    obs = tmp_path / "obs"
    for slot in ("state.0", "state.1"):
        (obs / "A" / slot).write_bytes(b"NCS1" + bytes(16) + b"[0,0,0,0,[],[]]")
    (obs / "B" / "consumer.json").write_bytes(b"{not json")
    files.removed("E")
    recs = load_consumers(str(tmp_path))
    assert [(r.name, r.state) for r in recs] == [("A", None)]
    assert (obs / "B").exists() and not (obs / "E").exists()


def test_only_changed_consumers_are_written(tmp_path):
    st = _stream()
    st.process_msg("s.1", None, b"x", T0)
    c = _consumer(st)
    files = ConsumerFiles(str(tmp_path))
    files.created(c, T0)

    def newest():
        (rec,) = load_consumers(str(tmp_path))
        return rec.generation, rec.slot, rec.state

    assert newest()[:2] == (1, 0)
    files.sync([c], T0)
    assert newest()[:2] == (1, 0)  # nothing changed since the last write
    c.pull("_INBOX.r", b"1", T0)
    (reply,) = _deliveries(c)
    files.sync([c], T0)
    assert newest()[:2] == (2, 1)
    c.ack(reply, None, b"+ACK", T0)
    files.sync([c], T0)
    gen, slot, state = newest()
    # written since the last fsync: the same file again (state.0 keeps the fsynced state)
    assert (gen, slot, state.ack_floor_stream, state.pending) == (3, 1, 1, [])


def test_between_fsyncs_the_fsynced_state_file_is_never_written(tmp_path):
    """A power loss between two durable syncs can tear only the file written since
    the last fsync: the other keeps the last fsynced state (at-least-once: the acks
    of the last tick may be redelivered, nothing is lost)."""
    st = _stream()
    for i in range(3):
        st.process_msg(f"s.{i}", None, b"x", T0)
    c = _consumer(st)
    files = ConsumerFiles(str(tmp_path))
    files.created(c, T0)  # generation 1, fsynced, in state.0
    d = tmp_path / "obs" / "C"
    c.pull("_INBOX.r", b"3", T0)
    replies = _deliveries(c)
    files.sync([c], T0, durable=True)  # generation 2, fsynced, in state.1
    synced = (d / "state.1").read_bytes()
    for reply in replies:  # three more writes, none fsynced: all into state.0
        c.ack(reply, None, b"+ACK", T0)
        files.sync([c], T0)
        assert (d / "state.1").read_bytes() == synced
    (d / "state.0").write_bytes((d / "state.0").read_bytes()[:-5])  # torn by a power loss
    (rec,) = load_consumers(str(tmp_path))
    assert (rec.generation, rec.slot, rec.state.delivered_stream, rec.state.ack_floor_stream) == (2, 1, 3, 0)


def test_a_torn_state_write_leaves_the_previous_state(tmp_path):
    st = _stream()
    st.process_msg("s.1", None, b"x", T0)
    c = _consumer(st)
    files = ConsumerFiles(str(tmp_path))
    files.created(c, T0)  # generation 1 in state.0
    c.pull("_INBOX.r", b"1", T0)
    _deliveries(c)
    files.sync([c], T0)  # generation 2 in state.1: 1 delivered, pending
    newest = tmp_path / "obs" / "C" / "state.1"
    newest.write_bytes(newest.read_bytes()[:-3])
    (rec,) = load_consumers(str(tmp_path))
    assert (rec.generation, rec.slot, rec.state.delivered_stream, rec.state.pending) == (1, 0, 0, [])
    # writing goes on over the damaged file, and the next read takes it again
    again = Consumer(st, "C", rec.config, T0)
    again.restore(rec.state, T0)
    files2 = ConsumerFiles(str(tmp_path))
    files2.recovered(again, rec)
    again.pull("_INBOX.r", b"1", T0)
    assert len(_deliveries(again)) == 1
    files2.sync([again], T0)
    (rec,) = load_consumers(str(tmp_path))
    assert (rec.generation, rec.slot, rec.state.delivered_stream) == (2, 1, 1)
