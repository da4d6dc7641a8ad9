"""Stream definitions on disk (natsd.jetstream.persist)."""

from __future__ import annotations

import os

from natsd.api import StreamConfig
from natsd.jetstream.persist import load_streams, remove_stream, stream_dir, write_meta


def _cfg(name: str = "S", **kw) -> StreamConfig:
    return StreamConfig(name=name, subjects=[f"{name.lower()}.>"], storage="file", **kw)


def test_definition_round_trips_with_created_time(tmp_path):
    cfg = _cfg(max_msgs=10, metadata={"k": "v"}, allow_direct=True)
    d = stream_dir(str(tmp_path), "S")
    write_meta(d, cfg, 1234)
    [rec] = load_streams(str(tmp_path))
    assert (rec.name, rec.directory, rec.config, rec.created) == ("S", d, cfg, 1234)


def test_rewrite_replaces_and_remove_forgets(tmp_path):
    d = stream_dir(str(tmp_path), "S")
    write_meta(d, _cfg(), 1)
    write_meta(d, _cfg(max_msgs=5), 1)
    assert load_streams(str(tmp_path))[0].config.max_msgs == 5
    remove_stream(d)
    assert load_streams(str(tmp_path)) == [] and not os.path.exists(d)


def test_damaged_definition_is_skipped_and_its_data_left_alone(tmp_path, caplog):
    good, bad = stream_dir(str(tmp_path), "A"), stream_dir(str(tmp_path), "B")
    write_meta(good, _cfg("A"), 1)
    write_meta(bad, _cfg("B"), 1)
    os.makedirs(os.path.join(bad, "msgs"))
    block = os.path.join(bad, "msgs", "1.blk")
    with open(block, "wb") as f:
        f.write(b"data")
    meta = os.path.join(bad, "stream.json")
    raw = bytearray(open(meta, "rb").read())
    raw[raw.index(b'"B"') + 1] = ord("C")  # a flipped byte inside the config
    open(meta, "wb").write(bytes(raw))
    assert [r.name for r in load_streams(str(tmp_path))] == ["A"]
    assert open(block, "rb").read() == b"data"
    assert "unreadable" in caplog.text
