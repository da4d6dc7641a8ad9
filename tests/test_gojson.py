"""Go-compatible JSON for API types: requests decode with zero values and
strictness, replies keep Go's always-present fields and omitempty rules."""

from __future__ import annotations

import msgspec
import pytest

from natsd.api import ApiError, StreamConfig, StreamConfigRequest, StreamCreateResponse, gojson


def test_absent_request_fields_are_go_zero_values() -> None:
    cfg = gojson.decode_request(b'{"name":"S","max_age":3000000000}', StreamConfigRequest)
    # the server, not the decoder, applies defaults: it must see what was unset
    assert (cfg.duplicate_window, cfg.max_msgs, cfg.retention, cfg.storage) == (0, 0, "", "")
    assert cfg.consumer_limits.max_ack_pending == 0


def test_empty_and_null_bodies_are_empty_objects() -> None:
    assert gojson.decode_request(b"", StreamConfigRequest).name == ""
    assert gojson.decode_request(b"null", StreamConfigRequest).name == ""


def test_strict_request_types_reject_unknown_fields() -> None:
    with pytest.raises(gojson.RequestError, match='json: unknown field "bogus"'):
        gojson.decode_request(b'{"name":"S","bogus":1}', StreamConfigRequest)
    with pytest.raises(gojson.RequestError, match='unknown field "nope"'):
        gojson.decode_request(b'{"name":"S","consumer_limits":{"nope":1}}', StreamConfigRequest)


def test_wrong_types_and_bad_json_are_request_errors() -> None:
    for body in (b'{"name":5}', b"{bad", b"[]"):
        with pytest.raises(gojson.RequestError):
            gojson.decode_request(body, StreamConfigRequest)


def test_replies_keep_go_always_present_fields() -> None:
    out = msgspec.json.decode(gojson.encode_reply(StreamConfig(name="S", subjects=["a"])))
    assert out["max_age"] == 0 and out["sealed"] is False and out["consumer_limits"] == {}
    assert "description" not in out and "mirror" not in out  # omitempty and zero


def test_error_replies_keep_the_endpoint_type() -> None:
    resp = StreamCreateResponse(error=ApiError(code=404, err_code=10059, description="stream not found"))
    out = msgspec.json.decode(gojson.encode_reply(resp))
    assert out == {"type": "io.nats.jetstream.api.v1.stream_create_response",
                   "error": {"code": 404, "err_code": 10059, "description": "stream not found"}}
