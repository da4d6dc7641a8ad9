"""The JetStream API service: $JS.API requests in, JSON replies out.

Mirrors nats-server jetstream_api.go (``apiDispatch`` and the ``js*Request``
handlers) for a single server and the global account. Theory of operation:

- An internal client (``natsd.server.core.InternalClient``) subscribes the API
  prefixes; each request arrives as a call during the requester's
  ``receive`` and its reply is routed at once, so the whole exchange stays
  sans-IO and deterministic (time comes from the injected ``clock``).
- Requests are decoded the Go way (``natsd.api.gojson``: zero values for
  absent fields, unknown fields rejected); replies keep the endpoint's type
  string also on error, and are encoded with Go's omitempty rules.
- Each stream gets an ingest subscription per subject; a message there runs
  ``Stream.process_msg`` and, when it has a reply subject and the stream is not
  ``no_ack``, the PubAck (or its error) is published to that reply.
- DIRECT.GET is subscribed per stream only when ``allow_direct`` is set, so a
  direct get on another stream finds no responders, as in Go.

Not served yet (no reply, as Go for unknown subjects): consumers, snapshots,
restore, cluster operations. See spec/api.toml for statuses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from natsd.api import (
    AccountInfoResponse,
    AccountLimits,
    ApiStats,
    ClusterInfo,
    MsgDeleteRequest,
    MsgDeleteResponse,
    MsgGetRequest,
    MsgGetResponse,
    StreamConfig,
    StreamConfigRequest,
    StreamCreateResponse,
    StreamDeleteResponse,
    StreamInfoRequest,
    StreamInfoResponse,
    StreamLeaderStepDownResponse,
    StreamListResponse,
    StreamNamesRequest,
    StreamNamesResponse,
    StreamPurgeRequest,
    StreamPurgeResponse,
    StreamUpdateResponse,
)
from natsd.api import errors as E
from natsd.api._types import OMITEMPTY
from natsd.api.gojson import RequestError, decode_request, encode_reply, zero_value
from natsd.jetstream import ApiErrorException
from natsd.jetstream.stream import Stream, check_get_request, encode_puback
from natsd.jetstream.streamcfg import (
    check_config,
    check_update,
    set_static_metadata,
    subjects_collide,
    subjects_overlap,
    with_dynamic_metadata,
)
from natsd.store.memstore import MemStore

__all__ = ["JetStreamService", "API_LEVEL"]

API_LEVEL = 5
NAMES_LIMIT = 1024  # JSApiNamesLimit
LIST_LIMIT = 256  # JSApiListLimit
SUBJECTS_LIMIT = 100_000  # JSMaxSubjectDetails
_PREFIXES = ("$JS.API.INFO", "$JS.API.STREAM.>", "$JS.API.CONSUMER.>", "$JS.API.META.>",
             "$JS.API.SERVER.>", "$JS.API.ACCOUNT.>")

_log = logging.getLogger("natsd")


class _StreamEntry:
    """A stream and the internal subscriptions that feed it."""

    __slots__ = ("stream", "subs", "direct_subs")

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.subs: list = []
        self.direct_subs: list = []


class JetStreamService:
    def __init__(self, broker, *, clock: Callable[[], int], server_name: str, store_dir: str = "",
                 max_memory: int = -1, max_store: int = -1, domain: str = "",
                 version: str = "2.15.1") -> None:
        self.version = version
        self.broker = broker
        self.clock = clock
        self.server_name = server_name
        self.store_dir = store_dir
        self.max_memory = max_memory
        self.max_store = max_store
        self.domain = domain
        self.streams: dict[str, _StreamEntry] = {}
        self.api_total = 0
        self.api_errors = 0
        self.client = broker.new_internal_client("$JS")
        for prefix in _PREFIXES:
            self.client.subscribe(prefix, self._on_request)

    def tick(self, now: int) -> None:
        """Expire what time has removed (max_age, TTLs, dedupe window entries)."""
        for entry in self.streams.values():
            entry.stream.expire(now)

    # -- plumbing -------------------------------------------------------------
    def _reply(self, reply: bytes, resp: Any) -> None:
        if getattr(resp, "error", None) is not None:
            self.api_errors += 1
        self.client.publish(reply, encode_reply(resp))

    def _on_request(self, sub, subject: bytes, reply: bytes | None, hdr: bytes | None, body: bytes) -> None:
        self.api_total += 1
        if reply is None:
            return
        toks = subject.decode("latin-1").split(".")[2:]
        handler = self._route(toks)
        if handler is None:
            return  # Go does not answer unknown API subjects
        method, resp_type, arg = handler
        if hdr is not None and _required_level(hdr) > API_LEVEL:
            self._error_reply(reply, resp_type, E.required_api_level())
            return
        try:
            resp = method(arg, body)
        except ApiErrorException as e:
            self._error_reply(reply, resp_type, e.error)
            return
        except RequestError as e:
            self._error_reply(reply, resp_type, E.invalid_json(err=str(e)))
            return
        except Exception as e:  # we broke: say so, never take the requester's connection down
            _log.exception("JetStream API %s failed", subject.decode("latin-1"))
            self._error_reply(reply, resp_type, E.ApiError(code=500, description=f"natsd internal error: {e}"))
            return
        if resp is not None:
            self._reply(reply, resp)

    def _error_reply(self, reply: bytes, resp_type: type, err: E.ApiError) -> None:
        # An error reply keeps the endpoint's type and carries only the error,
        # whatever fields the success reply requires.
        out: dict = {}
        omit = OMITEMPTY.get(resp_type.__name__, frozenset())
        for f in msgspec.structs.fields(resp_type):
            if f.name == "type":
                out["type"] = f.default
            elif f.name == "error":
                out["error"] = err
            elif f.encode_name not in omit:
                out[f.encode_name] = zero_value(f.type)  # Go writes non-omitempty fields, zero
        self.api_errors += 1
        self.client.publish(reply, encode_reply(out))

    def _route(self, t: list[str]):
        n = len(t)
        if t == ["INFO"]:
            return self._account_info, AccountInfoResponse, None
        if n >= 2 and t[0] == "STREAM":
            op = t[1]
            if n == 3:
                name = t[2]
                table = {
                    "CREATE": (self._stream_create, StreamCreateResponse),
                    "UPDATE": (self._stream_update, StreamUpdateResponse),
                    "INFO": (self._stream_info, StreamInfoResponse),
                    "DELETE": (self._stream_delete, StreamDeleteResponse),
                    "PURGE": (self._stream_purge, StreamPurgeResponse),
                }
                if op in table:
                    method, rtype = table[op]
                    return method, rtype, name
            if n == 2 and op == "NAMES":
                return self._stream_names, StreamNamesResponse, None
            if n == 2 and op == "LIST":
                return self._stream_list, StreamListResponse, None
            if n == 4 and op == "MSG" and t[2] == "GET":
                return self._msg_get, MsgGetResponse, t[3]
            if n == 4 and op == "MSG" and t[2] == "DELETE":
                return self._msg_delete, MsgDeleteResponse, t[3]
            if n == 4 and op == "LEADER" and t[2] == "STEPDOWN":
                return self._stream_stepdown, StreamLeaderStepDownResponse, t[3]
        return None

    def _config_of(self, name: str) -> StreamConfig | None:
        entry = self.streams.get(name)
        return entry.stream.config if entry is not None else None

    def _lookup(self, name: str) -> _StreamEntry:
        entry = self.streams.get(name)
        if entry is None:
            raise ApiErrorException(E.stream_not_found())
        return entry

    # -- account --------------------------------------------------------------
    def _usage(self) -> tuple[int, int]:
        memory = storage = 0
        for entry in self.streams.values():
            st = entry.stream.store.fast_state()
            if entry.stream.config.storage == "memory":
                memory += st.bytes
            else:
                storage += st.bytes
        return memory, storage

    def _account_info(self, _arg, body: bytes) -> AccountInfoResponse:
        memory, storage = self._usage()
        return AccountInfoResponse(
            memory=memory, storage=storage, reserved_memory=0, reserved_storage=0,
            streams=len(self.streams), consumers=0,
            limits=AccountLimits(max_memory=self.max_memory, max_storage=self.max_store, max_streams=-1,
                                 max_consumers=-1, max_ack_pending=-1, memory_max_stream_bytes=-1,
                                 storage_max_stream_bytes=-1, max_bytes_required=False),
            domain=self.domain or None,
            api=ApiStats(level=API_LEVEL, total=self.api_total, errors=self.api_errors),
        )

    # -- streams --------------------------------------------------------------
    def _info_fields(self, entry: _StreamEntry, req: StreamInfoRequest | None = None, *,
                     cluster: bool = False) -> dict:
        info = entry.stream.info(
            self.clock(),
            subjects_filter=(req.subjects_filter or None) if req is not None else None,
            deleted_details=req.deleted_details if req is not None else False,
            offset=req.offset if req is not None else 0,
            server_name=self.server_name,
        )
        fields = {f: getattr(info, f) for f in info.__struct_fields__}
        # CREATE/UPDATE/INFO replies carry the server's version and API level in
        # the metadata (Go setDynamicStreamMetadata); LIST does not.
        fields["config"] = with_dynamic_metadata(info.config, self.version)
        if cluster:
            fields["cluster"] = ClusterInfo(leader=self.server_name)  # INFO: a standalone server leads
        else:
            fields.pop("cluster", None)
        return fields

    def _check_overlap(self, cfg: StreamConfig, skip: str | None = None) -> None:
        for name, entry in self.streams.items():
            if name != skip and subjects_overlap(cfg.subjects or [], entry.stream.config.subjects or []):
                raise ApiErrorException(E.stream_subject_overlap())

    def _stream_create(self, name: str, body: bytes) -> StreamCreateResponse:
        req = decode_request(body, StreamConfigRequest)
        if req.name != name:
            raise ApiErrorException(E.stream_mismatch())
        cfg = check_config(set_static_metadata(_config_from_request(req)), pedantic=req.pedantic,
                           create=True, lookup=self._config_of)
        existing = self.streams.get(name)
        if existing is not None:
            if existing.stream.config != cfg:
                raise ApiErrorException(E.stream_name_exist())
            return StreamCreateResponse(**self._info_fields(existing), did_create=True)
        self._check_overlap(cfg)
        now = self.clock()
        if cfg.storage == "file":
            _log.warning("Stream %r uses file storage, which natsd does not persist yet: "
                         "its messages are kept in memory only", name)
        stream = Stream(cfg, MemStore(), now)
        entry = _StreamEntry(stream)
        self.streams[name] = entry
        self._subscribe(entry)
        return StreamCreateResponse(**self._info_fields(entry), did_create=True)

    def _stream_update(self, name: str, body: bytes) -> StreamUpdateResponse:
        req = decode_request(body, StreamConfigRequest)
        cfg = set_static_metadata(_config_from_request(req))
        # Go validates the config (checkStreamCfg) first, then the name, then
        # looks the stream up; the standalone replicas check comes after that.
        check_config(cfg, pedantic=req.pedantic, standalone=False, lookup=self._config_of)
        if req.name != name:
            raise ApiErrorException(E.stream_mismatch())
        entry = self._lookup(name)
        new = check_update(entry.stream.config, cfg, pedantic=req.pedantic, lookup=self._config_of)
        self._check_overlap(new, skip=name)
        self._unsubscribe(entry)
        entry.stream.update(new, self.clock())
        self._subscribe(entry)
        return StreamUpdateResponse(**self._info_fields(entry))

    def _stream_info(self, name: str, body: bytes) -> StreamInfoResponse:
        req = decode_request(body, StreamInfoRequest)
        entry = self._lookup(name)
        fields = self._info_fields(entry, req, cluster=True)
        total = limit = 0
        if req.subjects_filter:
            _, total = entry.stream.subject_details(req.subjects_filter, req.offset)
            limit = SUBJECTS_LIMIT if total else 0
        return StreamInfoResponse(**fields, total=total, offset=req.offset, limit=limit)

    def _stream_delete(self, name: str, body: bytes) -> StreamDeleteResponse:
        entry = self._lookup(name)
        self._unsubscribe(entry)
        del self.streams[name]
        entry.stream.store.delete()
        return StreamDeleteResponse(success=True)

    def _stream_purge(self, name: str, body: bytes) -> StreamPurgeResponse:
        req = decode_request(body, StreamPurgeRequest)
        if req.seq > 0 and req.keep > 0:  # Go checks this before looking the stream up
            raise ApiErrorException(E.bad_request())
        entry = self._lookup(name)
        result = entry.stream.purge(req, self.clock())
        if isinstance(result, E.ApiError):
            raise ApiErrorException(result)
        return StreamPurgeResponse(success=True, purged=result)

    def _stream_names(self, _arg, body: bytes) -> StreamNamesResponse:
        req = decode_request(body, StreamNamesRequest)
        names = sorted(self._matching(req.subject))
        offset = _clamp(req.offset, len(names))
        page = names[offset : offset + NAMES_LIMIT]
        return StreamNamesResponse(total=len(names), offset=offset, limit=NAMES_LIMIT,
                                   streams=page or None)

    def _stream_list(self, _arg, body: bytes) -> StreamListResponse:
        req = decode_request(body, StreamNamesRequest)
        names = sorted(self._matching(req.subject))
        offset = _clamp(req.offset, len(names))
        page = names[offset : offset + LIST_LIMIT]
        infos = [self.streams[n].stream.info(self.clock()) for n in page]
        return StreamListResponse(total=len(names), offset=offset, limit=LIST_LIMIT, streams=infos)

    def _matching(self, subject: str) -> list[str]:
        if not subject:
            return list(self.streams)
        # Go filteredStreams: a stream matches when any of its subjects collides
        # with the filter (some literal subject could match both).
        return [name for name, entry in self.streams.items()
                if any(subjects_collide(subject, s) for s in entry.stream.config.subjects or [])]

    def _msg_get(self, name: str, body: bytes) -> MsgGetResponse:
        if _is_empty_request(body):
            raise ApiErrorException(E.bad_request())
        req = decode_request(body, MsgGetRequest)
        err = check_get_request(req)
        if err is not None:
            raise ApiErrorException(err)
        entry = self._lookup(name)
        result = entry.stream.get_msg(req)
        if isinstance(result, E.ApiError):
            raise ApiErrorException(result)
        return MsgGetResponse(message=result)

    def _msg_delete(self, name: str, body: bytes) -> MsgDeleteResponse:
        if _is_empty_request(body):
            raise ApiErrorException(E.bad_request())
        req = decode_request(body, MsgDeleteRequest)
        entry = self._lookup(name)
        result = entry.stream.delete_msg(req.seq, req.no_erase)
        if isinstance(result, E.ApiError):
            raise ApiErrorException(result)
        return MsgDeleteResponse(success=True)

    def _stream_stepdown(self, name: str, body: bytes) -> StreamLeaderStepDownResponse:
        self._lookup(name)
        # A single server is always the leader: Go answers "JetStream not in clustered mode".
        raise ApiErrorException(E.cluster_required())

    # -- ingest -----------------------------------------------------------------
    def _subscribe(self, entry: _StreamEntry) -> None:
        stream = entry.stream
        handler = self._ingest_handler(entry)
        for subj in stream.config.subjects or []:
            entry.subs.append(self.client.subscribe(subj, handler))
        if stream.config.allow_direct:
            direct = self._direct_handler(entry)
            name = stream.config.name
            entry.direct_subs.append(self.client.subscribe(f"$JS.API.DIRECT.GET.{name}", direct))
            entry.direct_subs.append(self.client.subscribe(f"$JS.API.DIRECT.GET.{name}.>", direct))

    def _unsubscribe(self, entry: _StreamEntry) -> None:
        for sub in entry.subs + entry.direct_subs:
            self.client.unsubscribe(sub)
        entry.subs.clear()
        entry.direct_subs.clear()

    def _ingest_handler(self, entry: _StreamEntry):
        def ingest(sub, subject: bytes, reply: bytes | None, hdr: bytes | None, body: bytes) -> None:
            stream = entry.stream
            try:
                result = stream.process_msg(subject.decode("latin-1"), hdr, body, self.clock(),
                                            reply=reply.decode("latin-1") if reply is not None else "")
            except Exception as e:  # we broke: the publisher gets an error, not a dead connection
                _log.exception("JetStream ingest into %s failed", stream.config.name)
                result = E.ApiError(code=500, description=f"natsd internal error: {e}")
            # Go republishes before it acknowledges: a client subscribed to the
            # republish subject sees the copy before its PubAck.
            for out in stream.drain_outbox():
                self.client.publish(out.subject.encode("latin-1"), out.data, headers=out.hdr)
            if reply is not None and not stream.config.no_ack:
                self.client.publish(reply, encode_puback(stream.config.name, result))
        return ingest

    def _direct_handler(self, entry: _StreamEntry):
        def direct(sub, subject: bytes, reply: bytes | None, hdr: bytes | None, body: bytes) -> None:
            if reply is None:
                return
            toks = subject.decode("latin-1").split(".")
            last_subject = ".".join(toks[5:]) if len(toks) > 5 else None
            for out_hdr, out_body in entry.stream.direct_get(body, last_subject):
                self.client.publish(reply, out_body, headers=out_hdr)
        return direct


def _is_empty_request(body: bytes) -> bool:
    """Go isEmptyRequest: no bytes, or a JSON object with no fields."""
    if not body:
        return True
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    return isinstance(value, dict) and not value


def _clamp(offset: int, total: int) -> int:
    # Go: a negative offset is 0, one past the end is the end
    return min(max(offset, 0), total)


def _config_from_request(req: StreamConfigRequest) -> StreamConfig:
    data = {f: getattr(req, f) for f in req.__struct_fields__ if f != "pedantic"}
    return StreamConfig(**data)


def _required_level(hdr: bytes) -> int:
    key = b"Nats-Required-Api-Level:"
    i = hdr.find(key)
    if i < 0:
        return 0
    end = hdr.find(b"\r\n", i)
    value = hdr[i + len(key) : end if end >= 0 else len(hdr)].strip()
    try:
        return int(value)
    except ValueError:
        return API_LEVEL + 1  # Go: an unparsable level is not supported
