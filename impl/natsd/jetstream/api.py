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

- Consumers (``jsConsumer*Request``): each stream's consumers live in a
  ``natsd.jetstream.consumer.StreamConsumers``; acks ($JS.ACK.<s>.<c>.*...),
  flow-control replies, MSG.NEXT and RESET reach the consumer core directly
  (Go serves those per consumer, outside the API counters). The cores only
  queue outputs; ``_flush_consumers`` delivers them in order with
  ``InternalClient.deliver`` (the frame keeps the stored subject). Consumer
  timers and push interest run from ``tick(now)``.

- Snapshots and restores (STREAM.SNAPSHOT / STREAM.RESTORE) are sessions in
  ``natsd.jetstream.snapshot.Snapshots``: the handler answers, then
  ``start_pending`` sends the first chunks after that reply; acks, restore
  chunks and ``tick`` drive them.

Not served yet (no reply, as Go for unknown subjects): cluster operations.
See spec/api.toml for statuses.
"""

from __future__ import annotations

import json
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from natsd.api import (
    AccountInfoResponse,
    AccountLimits,
    ApiStats,
    ClusterInfo,
    ConsumerActionAdvisory,
    ConsumerConfig,
    ConsumerCreateResponse,
    ConsumerDeleteResponse,
    ConsumerInfo,
    ConsumerInfoResponse,
    ConsumerLeaderStepDownResponse,
    ConsumerListResponse,
    ConsumerNamesResponse,
    ConsumerPauseRequest,
    ConsumerPauseResponse,
    ConsumerResetRequest,
    ConsumerResetResponse,
    ConsumersRequest,
    ConsumerUnpinRequest,
    ConsumerUnpinResponse,
    CreateConsumerRequest,
    MsgDeleteRequest,
    MsgDeleteResponse,
    MsgGetRequest,
    MsgGetResponse,
    RestoreResponse,
    SnapshotResponse,
    StreamActionAdvisory,
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
from natsd.jetstream import ApiErrorException, persist
from natsd.jetstream import consumercfg as ccfg
from natsd.jetstream._consumerpersist import ConsumerFiles, load_consumers
from natsd.jetstream._consumerpull import go_json_syntax_error
from natsd.jetstream.batch import BatchGroup
from natsd.jetstream.consumer import Consumer, OutMsg
from natsd.jetstream.consumerset import StreamConsumers
from natsd.jetstream.snapshot import Snapshots
from natsd.jetstream.sources import Replication
from natsd.jetstream.stream import Stream, check_get_request, encode_puback
from natsd.jetstream.streamcfg import (
    check_config,
    check_update,
    is_valid_asset_name,
    set_static_metadata,
    subjects_collide,
    subjects_overlap,
    with_dynamic_metadata,
)
from natsd.protocol.gotime import rfc3339nano
from natsd.store.memstore import MemStore

__all__ = ["JetStreamService", "API_LEVEL"]

API_LEVEL = 5
NAMES_LIMIT = 1024  # JSApiNamesLimit
LIST_LIMIT = 256  # JSApiListLimit
SUBJECTS_LIMIT = 100_000  # JSMaxSubjectDetails
DEFAULT_MAX_CONSUMERS = 1000  # 2.15.1 caps every stream at 1000 consumers by default [obs]
#: Consumer deliveries made in one go are written out to the connections every
#: this many (see JetStreamService.early_write)
EARLY_WRITE_EVERY = 64
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
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


#: Zero fields Go writes in an error reply beyond what OMITEMPTY says (the spec
#: marks them optional because the success reply may be built without them):
#: JSApiConsumerPauseResponse's paused and pause_until have no omitempty.
_ERROR_ZEROS: dict[str, dict] = {
    "ConsumerPauseResponse": {"paused": False, "pause_until": "0001-01-01T00:00:00Z"},
}


class JetStreamService:
    def __init__(self, broker, *, clock: Callable[[], int], server_name: str, store_dir: str = "",
                 max_memory: int = -1, max_store: int = -1, domain: str = "",
                 version: str = "2.15.1", storage: persist.StorageOptions | None = None) -> None:
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
        # Mirrors/sources (natsd.jetstream.sources) and the server-wide atomic batch limits.
        self.replication = Replication(self._stream_of)
        self.batch_group = BatchGroup()
        # Consumers (natsd.jetstream.consumer): per stream, their subscriptions, and the output queue.
        self.consumer_sets: dict[str, StreamConsumers] = {}
        self._csubs: dict[tuple[str, str], list] = {}
        self._outq: deque = deque()
        self._flushing = False
        self._sub_gen = -1
        self._initial_info: dict | None = None  # a new consumer's info before its first delivery
        self._rng = random.Random()
        for prefix in _PREFIXES:
            self.client.subscribe(prefix, self._on_request)
        self.storage = storage or persist.StorageOptions()
        self._file_stores: dict[str, Any] = {}  # stream name -> FileStore (group commit visits only these)
        # Group commit in the shell: a file stream's PubAcks wait here for sync(), which
        # sends them once the turn's writes are durable, or an error when the fsync failed.
        self.hold_acks = False
        self.held_acks: list[tuple[str, bytes, bytes]] = []
        # set by the shell: writes the connections' queued bytes out before the
        # loop turn ends (a long run of consumer deliveries goes out in parts,
        # so a client starts on the first messages of a batch while the rest
        # are made)
        self.early_write: Callable[[], None] | None = None
        self.snapshots = Snapshots(self)
        if store_dir:
            self._recover_streams()

    def tick(self, now: int) -> None:
        """Expire what time has removed (max_age, TTLs, dedupe window entries);
        file stores on an interval sync policy sync when due."""
        interval = self.storage.sync == "interval"
        for entry in self.streams.values():
            entry.stream.expire(now)  # also produces the messages of due schedules
            self._publish_out(entry.stream.drain_outbox())
            if interval and hasattr(entry.stream.store, "tick"):
                entry.stream.store.tick(now)
        self._publish_out(self.replication.tick(now))
        self._tick_consumers(now)
        self.snapshots.tick(now)

    def run_schedules(self, now: int) -> None:
        """Produce the messages of the schedules due at ``now`` (``tick`` does it
        too): for a harness whose clock stands still between steps."""
        for entry in list(self.streams.values()):
            if entry.stream.fire_schedules(now):
                self._publish_out(entry.stream.drain_outbox())
        if self.replication.replicas:
            self._publish_out(self.replication.pump(now))
        self._flush_consumers()

    def next_deadline(self) -> int | None:
        """The earliest time (ns) at which ``tick`` has work: a stream's expiry or
        dedupe window, a source's retry or heartbeat, a consumer's timer. A shell
        (or a harness with a fake clock) that wakes there runs each timer at its own time."""
        ds = [d for d in (entry.stream.next_deadline() for entry in self.streams.values()) if d is not None]
        d = self.replication.next_deadline()
        if d is not None:
            ds.append(d)
        for cs in self.consumer_sets.values():
            ds.extend(d for d in (c.next_deadline() for c in cs.consumers.values()) if d is not None)
        return min(ds, default=None)

    def _stream_of(self, name: str) -> Stream | None:
        entry = self.streams.get(name)
        return entry.stream if entry is not None else None

    def _publish_out(self, outs) -> None:
        for out in outs:
            self.client.publish(out.subject.encode("latin-1"), out.data, headers=out.hdr)

    # -- plumbing -------------------------------------------------------------
    def _reply(self, reply: bytes, resp: Any) -> None:
        if getattr(resp, "error", None) is not None:
            self.api_errors += 1
        self.client.publish(reply, encode_reply(resp))
        self.api_total += 1  # Go counts responses (trackAPI), after building them

    def _on_request(self, sub, subject: bytes, reply: bytes | None, hdr: bytes | None, body: bytes) -> None:
        if subject.startswith((b"$JS.API.CONSUMER.MSG.NEXT.", b"$JS.API.CONSUMER.RESET.")):
            self._per_consumer(subject, reply, hdr, body)  # not API calls: Go serves them per consumer
            return
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
        self.snapshots.start_pending()  # a snapshot's chunks follow its reply

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
        out.update(_ERROR_ZEROS.get(resp_type.__name__, {}))
        self.api_errors += 1
        self.client.publish(reply, encode_reply(out))
        self.api_total += 1

    def _route(self, t: list[str]):
        n = len(t)
        if t == ["INFO"]:
            return self._account_info, AccountInfoResponse, None
        if n >= 2 and t[0] == "CONSUMER":
            return self._route_consumer(t)
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
                    "SNAPSHOT": (self.snapshots.snapshot, SnapshotResponse),
                    "RESTORE": (self.snapshots.restore, RestoreResponse),
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
            if entry.stream.config.storage == "memory":
                memory += entry.stream.store.stored_bytes
            else:
                storage += entry.stream.store.stored_bytes
        return memory, storage

    def _account_info(self, _arg, body: bytes) -> AccountInfoResponse:
        memory, storage = self._usage()
        return AccountInfoResponse(
            memory=memory, storage=storage, reserved_memory=0, reserved_storage=0,
            streams=len(self.streams), consumers=self.consumer_count(),
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
        now = self.clock()
        fields["mirror"] = self.replication.mirror_info(entry.stream.config.name, now)
        fields["sources"] = self.replication.sources_info(entry.stream.config.name, now)
        if cluster:
            fields["cluster"] = ClusterInfo(leader=self.server_name)  # INFO: a standalone server leads
        else:
            fields.pop("cluster", None)
        return fields

    # -- server resources (Go checkBytesLimits and limitsExceeded; stream.config.account_limits,
    # stream.limit.account_resources). The global account has no limits of its own: only the
    # server's max_memory_store / max_file_store apply, and only when set.
    def _server_limit(self, storage: str) -> int:
        return self.max_memory if storage == "memory" else self.max_store if storage == "file" else -1

    def _check_server_bytes(self, storage: str, add: int) -> None:
        """Reserving ``add`` more bytes of ``storage`` (a max_bytes; below 0 counts
        as 1) beyond what the server's limit leaves after the streams' reservations
        (their max_bytes) is 10028 / 10047."""
        limit = self._server_limit(storage)
        if limit < 0:
            return
        add = 1 if add < 0 else add
        reserved = sum(e.stream.config.max_bytes for e in self.streams.values()
                       if e.stream.config.storage == storage and e.stream.config.max_bytes > 0)
        if reserved > limit or add > limit - reserved:
            raise ApiErrorException(E.memory_resources_exceeded() if storage == "memory"
                                    else E.storage_resources_exceeded())

    def _resources_exceeded(self, storage: str) -> bool:
        """Go ``js.limitsExceeded``: the bytes stored on ``storage`` are over the server's limit."""
        limit = self._server_limit(storage)
        if limit < 0:
            return False
        # per publish while a limit is set: the streams of that storage only, no state objects
        return sum(e.stream.store.stored_bytes for e in self.streams.values()
                   if e.stream.config.storage == storage) > limit

    def _check_overlap(self, cfg: StreamConfig, skip: str | None = None) -> None:
        for name, entry in self.streams.items():
            if name != skip and subjects_overlap(cfg.subjects or [], entry.stream.config.subjects or []):
                raise ApiErrorException(E.stream_subject_overlap())

    def _stream_create(self, name: str, body: bytes) -> StreamCreateResponse:
        req = decode_request(body, StreamConfigRequest)
        if req.name != name:
            raise ApiErrorException(E.stream_mismatch())
        if "/" in name or "\\" in name:  # Go checks this before the config (and it keeps names out of paths)
            raise ApiErrorException(E.stream_name_contains_path_separators())
        if (self.max_memory >= 0 or self.max_store >= 0) and not req.sealed and not (req.mirror_direct
                                                                                    and req.mirror is None):
            # Go jsNonClusteredStreamLimitsCheck: after the sealed and mirror_direct
            # refusals, before the config checks, on the request as sent (an absent
            # storage reserves nothing, an absent max_bytes is 0)
            raw = msgspec.json.decode(body)
            self._check_server_bytes(req.storage if "storage" in raw else "", raw.get("max_bytes", 0))
        cfg = check_config(set_static_metadata(_config_from_request(req)), pedantic=req.pedantic,
                           create=True, lookup=self._config_of)
        existing = self.streams.get(name)
        if existing is not None:
            if existing.stream.config != cfg:
                raise ApiErrorException(E.stream_name_exist())
            return StreamCreateResponse(**self._info_fields(existing), did_create=True)
        self._check_overlap(cfg)
        now = self.clock()
        entry = self._open_stream(cfg, now, create=True)
        self._stream_advisory("CREATED", name, "create")
        return StreamCreateResponse(**self._info_fields(entry), did_create=True)

    # -- storage (natsd.jetstream.persist) ---------------------------------------------------
    def _durable(self, cfg: StreamConfig) -> bool:
        return cfg.storage == "file" and bool(self.store_dir)

    def _open_stream(self, cfg: StreamConfig, created: int, *, create: bool,
                     store: MemStore | None = None) -> _StreamEntry:
        """Build a stream on its store (a FileStore in the store dir for file
        storage; recovered when it exists; or the given one, a restore's), then
        wire its subscriptions."""
        if store is None and self._durable(cfg):
            directory = persist.stream_dir(self.store_dir, cfg.name)
            if create:
                persist.write_meta(directory, cfg, created)
            store = persist.open_file_store(directory, cfg, self.storage)
        elif store is None:
            if cfg.storage == "file":
                _log.warning("Stream %r uses file storage but JetStream has no store directory: "
                             "its messages are kept in memory only", cfg.name)
            store = MemStore()
        if hasattr(store, "needs_sync"):
            self._file_stores[cfg.name] = store  # what sync() visits every loop turn
        stream = Stream(cfg, store, created)
        if not create:
            stream.rebuild_dedupe(self.clock())
        stream.batch_group = self.batch_group
        if self.max_memory >= 0 or self.max_store >= 0:
            stream.resources_exceeded = self._resources_exceeded
        entry = _StreamEntry(stream)
        self.streams[cfg.name] = entry
        self._subscribe(entry)
        self.replication.add(stream, self.clock())
        return entry

    def _recover_streams(self) -> None:
        for rec in persist.load_streams(self.store_dir):
            try:
                self._open_stream(rec.config, rec.created, create=False)
            except Exception as e:  # a store that cannot open: say so, serve the others
                _log.error("JetStream stream %r could not be recovered from %s: %s", rec.name, rec.directory, e)
                continue
            st = self.streams[rec.name].stream.store.fast_state()
            _log.info("  Restored %d messages for stream '$G > %s'", st.msgs, rec.name)
            self._recover_consumers(rec.name)

    def sync(self, *, durable: bool = False) -> None:
        """Group commit: fsync every file store written since the last call.
        The shell calls this before it writes the loop turn's PubAcks; consumer
        state that changed in the turn is written after the messages, on every
        sync policy, and fsynced only with ``durable`` (the shell's JetStream
        tick): see natsd.jetstream._consumerpersist."""
        failed: dict[str, Exception] = {}
        if self.storage.sync == "group":  # "always": the store syncs each write; "interval": tick() drives it
            for name, store in self._file_stores.items():
                if store.needs_sync:
                    try:
                        store.sync()
                    except Exception as e:  # sticky in the store: later writes fail with it
                        _log.error("JetStream stream %r: sync failed: %s", name, e)
                        failed[name] = e
        if self.held_acks:
            held, self.held_acks = self.held_acks, []
            for name, reply, ack in held:
                err = failed.get(name)
                if err is not None:  # not durable: never acknowledged as stored
                    ack = encode_puback(name, E.stream_store_failed(err=str(err)))
                self.client.publish(reply, ack)
        self._sync_consumers(durable)

    def stop(self) -> None:
        """Sync and close every store (server shutdown)."""
        self.snapshots.stop()
        self._sync_consumers(True)
        for entry in self.streams.values():
            try:
                entry.stream.store.stop()
            except Exception as e:
                _log.error("JetStream stream %r: close failed: %s", entry.stream.config.name, e)

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
        # Go configUpdateCheck reserves only what max_bytes grew by
        self._check_server_bytes(new.storage, max(max(new.max_bytes, 0) - max(entry.stream.config.max_bytes, 0), 0))
        self._check_overlap(new, skip=name)
        if self._durable(new):
            persist.write_meta(persist.stream_dir(self.store_dir, name), new, entry.stream.created)
        self._unsubscribe(entry)
        entry.stream.update(new, self.clock())
        self._subscribe(entry)
        self.replication.update(entry.stream, self.clock())
        self._stream_advisory("UPDATED", name, "modify")
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
        self._file_stores.pop(name, None)
        self._drop_consumers(name)
        self.replication.remove(name)
        if entry.stream.atomic_batches is not None:
            entry.stream.atomic_batches.clear()
        durable = self._durable(entry.stream.config)
        if durable:
            persist.forget_stream(persist.stream_dir(self.store_dir, name))  # the definition first
        entry.stream.store.delete()
        if durable:
            persist.remove_stream(persist.stream_dir(self.store_dir, name))
        self._stream_advisory("DELETED", name, "delete")
        return StreamDeleteResponse(success=True)

    def _stream_advisory(self, what: str, name: str, action: str) -> None:
        """stream.advisories: $JS.EVENT.ADVISORY.STREAM.<what>.<stream> (Go sendCreateAdvisory,
        sendUpdateAdvisoryLocked, sendDeleteAdvisoryLocked), before the API reply."""
        adv = StreamActionAdvisory(id="".join(self._rng.choice(_BASE62) for _ in range(22)),
                                   timestamp=rfc3339nano(self.clock()), stream=name, action=action,
                                   domain=self.domain or None)
        self.client.publish(f"$JS.EVENT.ADVISORY.STREAM.{what}.{name}".encode("latin-1"), encode_reply(adv))

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
        now = self.clock()
        infos = [msgspec.structs.replace(self.streams[n].stream.info(now),
                                         mirror=self.replication.mirror_info(n, now),
                                         sources=self.replication.sources_info(n, now))
                 for n in page]
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
        self._consumer_event(name, lambda now: None)  # consumers see the removal now (Go decStreamPending)
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
                # None: a staged atomic batch message, acknowledged with an empty reply.
                name = stream.config.name
                ack = b"" if result is None else encode_puback(name, result)
                if self.hold_acks and name in self._file_stores:
                    self.held_acks.append((name, reply, ack))
                else:
                    self.client.publish(reply, ack)
            if self.replication.replicas:  # nothing to copy otherwise: skip the clock read
                self._publish_out(self.replication.pump(self.clock()))
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

    # -- consumers (jetstream_api.go jsConsumer*Request; consumer.go glue) ---------------------
    def _route_consumer(self, t: list[str]):
        n = len(t)
        op = t[1] if n > 1 else ""
        if op == "CREATE" and n >= 3:
            return self._consumer_create, ConsumerCreateResponse, t
        if op == "DURABLE" and n >= 3 and t[2] == "CREATE":
            return self._consumer_create, ConsumerCreateResponse, t
        if op == "NAMES" and n == 3:
            return self._consumer_names, ConsumerNamesResponse, t[2]
        if op == "LIST" and n == 3:
            return self._consumer_list, ConsumerListResponse, t[2]
        if n == 4:
            table = {
                "INFO": (self._consumer_info, ConsumerInfoResponse),
                "DELETE": (self._consumer_delete, ConsumerDeleteResponse),
                "PAUSE": (self._consumer_pause, ConsumerPauseResponse),
                "UNPIN": (self._consumer_unpin, ConsumerUnpinResponse),
            }
            if op in table:
                method, rtype = table[op]
                return method, rtype, (t[2], t[3])
        if op == "LEADER" and n == 5 and t[2] == "STEPDOWN":
            return self._consumer_stepdown, ConsumerLeaderStepDownResponse, (t[3], t[4])
        return None

    def _consumers_of(self, name: str) -> StreamConsumers:
        cs = self.consumer_sets.get(name)
        if cs is None:
            stream = self._lookup(name).stream
            cs = self.consumer_sets[name] = StreamConsumers(stream, self.clock)
            cs.notify = lambda: self._flush_consumers(cs)
            if self._durable(stream.config):
                cs.files = ConsumerFiles(persist.stream_dir(self.store_dir, name),
                                         fsync=self.storage.sync != "interval")
        return cs

    def _lookup_consumer(self, stream: str, name: str) -> Consumer:
        self._lookup(stream)
        cs = self.consumer_sets.get(stream)
        c = cs.consumers.get(name) if cs is not None else None
        if c is None:
            raise ApiErrorException(E.consumer_not_found())
        return c

    def _has_interest(self, subject: str) -> bool:
        r = self.broker.sublist.match(subject)
        return bool(r.psubs or r.qsubs)

    def _push_interest(self, cfg: ConsumerConfig) -> bool:
        """Whether a push consumer is bound. Go tracks it with the sublist's
        registerNotification: only a subscription on exactly the deliver subject
        counts (in the deliver group, when one is set); a wildcard subscription
        that would receive the messages does not."""
        subject = cfg.deliver_subject
        r = self.broker.sublist.match(subject)
        group = cfg.deliver_group
        if not group:
            return any(s.subject == subject and not s.closed for s in r.psubs)
        return any(s.subject == subject and s.queue == group and not s.closed for grp in r.qsubs for s in grp)

    def _consumer_info_fields(self, c: Consumer, now: int, dynamic: bool = True, *, refresh: bool = True) -> dict:
        if refresh and not c.is_pull:
            c.set_interest(self._push_interest(c.cfg), now)
        info = c.info(now)
        fields = {f: getattr(info, f) for f in info.__struct_fields__}
        if dynamic:
            fields["config"] = ccfg.with_dynamic_metadata(info.config, self.version, API_LEVEL)
        self._flush_consumers()
        return fields

    def _consumer_create(self, t: list[str], body: bytes) -> ConsumerCreateResponse:
        """Go jsConsumerCreateRequest + addConsumerWithAssignmentAndMode (standalone)."""
        req = decode_request(body, CreateConsumerRequest)
        cfg = req.config
        n = len(t) + 2  # tokens of the full subject
        filtered = ""
        if t[1] == "DURABLE":
            if n != 7:
                raise ApiErrorException(E.consumer_durable_name_not_in_subject())
            kind, stream_name, cname = "durable", t[3], t[4]
        elif n == 5:
            kind, stream_name, cname = "ephemeral", t[2], cfg.name
        else:
            kind, stream_name, cname = "new", t[2], t[3]
            filtered = ".".join(t[4:])
        if stream_name != req.stream_name:
            raise ApiErrorException(E.stream_mismatch())
        if cname and ("/" in cname or "\\" in cname):
            raise ApiErrorException(E.consumer_name_contains_path_separators())
        if kind == "durable":
            if not cfg.durable_name:
                raise ApiErrorException(E.consumer_durable_name_not_set())
            if cname != cfg.durable_name:
                raise ApiErrorException(E.consumer_durable_name_not_match_subject())
            cfg = msgspec.structs.replace(cfg, name=cname)
        elif kind == "new":
            if cfg.durable_name and cname != cfg.durable_name:
                raise ApiErrorException(E.consumer_durable_name_not_match_subject())
            cfg = msgspec.structs.replace(cfg, name=cname)
        elif cfg.durable_name:
            raise ApiErrorException(E.consumer_ephemeral_with_durable_name())
        if filtered and cfg.filter_subjects:
            raise ApiErrorException(E.consumer_multiple_filters_not_allowed())
        if filtered and cfg.filter_subject != filtered:
            raise ApiErrorException(E.consumer_create_filter_subject_mismatch())
        if cfg.num_replicas > 1:
            raise ApiErrorException(E.stream_replicas_not_supported())
        entry = self._lookup(stream_name)
        cs = self._consumers_of(stream_name)
        existing = cs.consumers.get(cname) if cname else None
        if existing is not None:
            cfg = msgspec.structs.replace(cfg, pause_until=existing.cfg.pause_until)
        cfg = ccfg.set_static_metadata(cfg)
        now = self.clock()
        self._initial_info = None
        c = self._add_consumer(entry.stream, cs, cfg, req.action, req.pedantic, now)
        fields, self._initial_info = self._initial_info or self._consumer_info_fields(c, now), None
        return ConsumerCreateResponse(**fields)

    def _add_consumer(self, stream: Stream, cs: StreamConsumers, cfg: ConsumerConfig, action: str,
                      pedantic: bool, now: int) -> Consumer:
        scfg = stream.config
        cfg = ccfg.normalise(cfg, scfg, pedantic)
        ccfg.check(cfg, scfg)
        cname = cfg.durable_name or cfg.name
        eo = cs.consumers.get(cname) if cname else None
        if eo is not None:
            if action == "create":
                ocfg = eo.cfg
                probe = msgspec.structs.replace(cfg, metadata=_with_level_of(cfg.metadata, ocfg.metadata))
                if probe != ocfg:
                    raise ApiErrorException(E.consumer_already_exists())
            if scfg.retention == "workqueue":
                others = [(n, o.cfg) for n, o in cs.consumers.items()]
                if not ccfg.partition_unique(cname, ccfg.filters_of(cfg), others):
                    raise ApiErrorException(E.consumer_wq_consumer_not_unique())
            bound = bool(eo.cfg.deliver_subject) and self._push_interest(eo.cfg)
            if cfg.inactive_threshold == 0 and not ccfg.is_durable(cfg):
                cfg = msgspec.structs.replace(cfg, inactive_threshold=eo.cfg.inactive_threshold)
            ccfg.check_update(eo.cfg, cfg, bound)
            old_deliver = eo.cfg.deliver_subject
            refiltered = eo.update(cfg, now)
            if old_deliver != cfg.deliver_subject:
                self._consumer_subs(eo, subscribe=False)
                self._consumer_subs(eo, subscribe=True)
            if refiltered and scfg.retention == "interest":
                cs.cleanup_no_interest(eo.asflr)  # Go updateConfig: only when the filters changed
            cs.settle(now)
            if cs.files is not None:
                self._write_consumer(cs, eo, now, create=False)
            if old_deliver != cfg.deliver_subject:
                # Go: the consumer learns of the new subject's interest through its
                # interest channel (updateDeliveryInterest), after the reply's
                # info, which shows it unbound [obs]
                eo.active = False
                self._initial_info = self._consumer_info_fields(eo, now, refresh=False)
                eo.set_interest(self._push_interest(cfg), now)
            if eo.pause_until > now:
                eo.pause_advisory(now)  # Go jsConsumerCreateRequest: after any create reply, while paused
            self._flush_consumers()
            return eo
        if action == "update":
            raise ApiErrorException(E.consumer_does_not_exist())
        maxc = scfg.max_consumers if scfg.max_consumers > 0 else DEFAULT_MAX_CONSUMERS
        maxc = min(maxc, DEFAULT_MAX_CONSUMERS)
        if len(cs) >= maxc:
            raise ApiErrorException(E.maximum_consumers_limit())
        if scfg.retention == "workqueue":
            ccfg.check_workqueue(cfg, cname, [(n, o.cfg) for n, o in cs.consumers.items()])
        if ccfg.is_durable(cfg):
            if len(cfg.durable_name) > ccfg.MAX_NAME_LEN:
                raise ApiErrorException(E.consumer_name_too_long(max=ccfg.MAX_NAME_LEN))
            name = cfg.durable_name
        elif cfg.name:
            name = cfg.name
        else:
            while True:
                name = "".join(self._rng.choice(_BASE62) for _ in range(8))
                if name not in cs.consumers:
                    break
            # Go names the consumer only: the config it reports keeps no name [obs]
        if not is_valid_asset_name(name):
            raise ApiErrorException(E.consumer_bad_durable_name())
        c = Consumer(stream, name, cfg, now, has_interest=self._has_interest, rng=self._rng,
                     domain=self.domain)
        if cs.files is not None:
            self._write_consumer(cs, c, now, create=True)
        cs.add(c)
        self._consumer_subs(c, subscribe=True)
        # Go setLeader: a push consumer knows whether it is bound, then the info
        # the create reply reports is taken (infoWithSnap), then the delivery loop starts
        bound = not c.is_pull and self._push_interest(cfg)
        c.active = bound
        self._initial_info = self._consumer_info_fields(c, now)
        if not c.is_pull:
            c.active = False
            c.set_interest(bound, now)
        self._consumer_advisory(c, "CREATED", "create", now)
        if c.pause_until > now:
            c.pause_advisory(now)  # Go: after the create reply, when created paused
        cs.settle(now)
        self._flush_consumers()
        return c

    def _write_consumer(self, cs: StreamConsumers, c: Consumer, now: int, *, create: bool) -> None:
        """Persist a new or changed consumer definition (Go ConsumerStore / UpdateConfig)."""
        try:
            if create:
                cs.files.created(c, now)
            else:
                cs.files.write_definition(c)
        except OSError as e:
            _log.error("JetStream consumer %r on %r: writing its definition failed: %s",
                       c.name, c.stream.config.name, e)
            if create:
                cs.files.removed(c.name)
            raise ApiErrorException(E.consumer_store_failed(err=str(e))) from e

    def _recover_consumers(self, name: str) -> None:
        """Bring back the consumers of a recovered file stream (Go doConsumers)."""
        recovered = load_consumers(persist.stream_dir(self.store_dir, name))
        if not recovered:
            return
        cs = self._consumers_of(name)
        now = self.clock()
        for rec in recovered:
            try:
                c = Consumer(cs.stream, rec.name, rec.config, now, has_interest=self._has_interest,
                             rng=self._rng, domain=self.domain)
                c.created = rec.created
                if rec.state is not None:
                    c.restore(rec.state, now)
            except Exception as e:  # a definition this server cannot run: say so, serve the others
                _log.error("JetStream consumer '%s > %s' could not be recovered: %s", name, rec.name, e)
                continue
            cs.add(c)
            cs.files.recovered(c, rec)
            if rec.state is None:  # it starts over: say so on disk, or the next start would start over again
                try:
                    cs.files.write_state(c, now)
                except OSError as e:
                    _log.error("JetStream consumer '%s > %s': writing its state failed: %s", name, rec.name, e)
            self._consumer_subs(c, subscribe=True)
            if not c.is_pull:
                c.set_interest(self._push_interest(c.cfg), now)
        cs.settle(now)

    def _sync_consumers(self, durable: bool = False) -> None:
        """Write the state of every file-stream consumer that changed (once per loop
        turn); ``durable``: fsync what was written since the last such call."""
        now = 0
        for cs in self.consumer_sets.values():
            if cs.files is not None and (cs.consumers or durable):
                now = now or self.clock()
                cs.files.sync(cs.consumers.values(), now, durable=durable)

    def _consumer_subs(self, c: Consumer, *, subscribe: bool) -> None:
        key = (c.stream.config.name, c.name)
        if not subscribe:
            c.on_outbox = None
            for sub in self._csubs.pop(key, []):
                self.client.unsubscribe(sub)
            return
        c.on_outbox = lambda: self._early_deliver(c)
        sname = c.stream.config.name

        def on_ack(sub, subject: bytes, reply: bytes | None, hdr: bytes | None, body: bytes) -> None:
            self._consumer_event(sname, lambda now: c.ack(subject.decode("latin-1"),
                                                          reply.decode("latin-1") if reply else None,
                                                          body, now))

        def on_fc(sub, subject: bytes, reply: bytes | None, hdr: bytes | None, body: bytes) -> None:
            self._consumer_event(sname, lambda now: c.flow_control(subject.decode("latin-1"), hdr, now))

        subs = []
        if c.cfg.ack_policy != "none":  # Go: no ack subscription for ack none (acks get no responders)
            subs.append(self.client.subscribe(f"$JS.ACK.{sname}.{c.name}.*.*.*.*.*", on_ack))
        if c.cfg.flow_control:
            subs.append(self.client.subscribe(f"$JS.FC.{sname}.{c.name}.*", on_fc))
        self._csubs[key] = subs

    def _consumer_event(self, stream: str, fn) -> None:
        cs = self.consumer_sets.get(stream)
        if cs is None:
            return
        now = self.clock()
        try:
            fn(now)
            cs.settle(now)
        except Exception:  # we broke: log it, never take the publisher's connection down
            _log.exception("JetStream consumer event on %s failed", stream)
        self._flush_consumers(cs)

    def _flush_consumers(self, cs: StreamConsumers | None = None) -> None:
        """Publish consumer outputs in order; re-entrant calls only enqueue.

        ``cs`` limits the first collection to one stream's consumers (the usual case).
        """
        for one in (cs,) if cs is not None else self.consumer_sets.values():
            self._outq.extend(one.outputs())
        if self._flushing:
            return
        self._flushing = True
        n = 0
        try:
            while self._outq:
                o = self._outq.popleft()
                self._deliver_out(o)
                n += 1
                if n % EARLY_WRITE_EVERY == 0 and self.early_write is not None and self._outq and self._synced():
                    self.early_write()
                if not self._outq:
                    for cs in self.consumer_sets.values():
                        self._outq.extend(cs.outputs())
        finally:
            self._flushing = False

    def _deliver_out(self, o: OutMsg) -> None:
        self.client.deliver(o.to.encode("latin-1"), o.subject.encode("latin-1"), o.data,
                            reply=o.reply.encode("latin-1") if o.reply else None, headers=o.hdr)

    def _early_deliver(self, c: Consumer) -> None:
        """Consumer.on_outbox: a long run of deliveries goes out in parts while it
        is made. Only where nothing can notice the difference: nothing else is
        queued (order), the subscribers are client connections (no handler runs
        in the middle of the consumer's step) and nothing waits for an fsync."""
        if (self._flushing or self._outq or self.early_write is None
                or not all(self.client.reaches_clients_only(to) for to in {o.to for o in c.outbox})
                or not self._synced()):
            return
        self._flushing = True
        try:
            for o in c.drain():
                self._deliver_out(o)
        finally:
            self._flushing = False
        self.early_write()

    def _synced(self) -> bool:
        """No stream write of this turn waits for its fsync (then nothing queued
        for a client depends on one: what does is held until sync)."""
        return self.storage.sync != "group" or not any(store.needs_sync for store in self._file_stores.values())

    def _consumer_advisory(self, c: Consumer, what: str, action: str, now: int) -> None:
        subj = f"$JS.EVENT.ADVISORY.CONSUMER.{what}.{c.stream.config.name}.{c.name}"
        adv = ConsumerActionAdvisory(id="".join(self._rng.choice(_BASE62) for _ in range(22)),
                                     timestamp=rfc3339nano(now), stream=c.stream.config.name,
                                     consumer=c.name, action=action, domain=self.domain or None)
        self.client.publish(subj.encode("latin-1"), encode_reply(adv))

    def _per_consumer(self, subject: bytes, reply: bytes | None, hdr: bytes | None, body: bytes) -> None:
        """MSG.NEXT (a pull request, no JSON reply) and RESET, served per consumer as Go does."""
        if reply is None:
            return
        toks = subject.decode("latin-1").split(".")
        is_reset = toks[3] == "RESET"
        names = toks[4:] if is_reset else toks[5:]
        cs = self.consumer_sets.get(names[0]) if len(names) == 2 else None
        c = cs.consumers.get(names[1]) if cs is not None else None
        if c is None:
            if is_reset:
                # Go's $JS.API.> subscription takes the request (so no 503) and no
                # handler answers it [obs: go harness of the consumer campaign]
                return
            # Go subscribes these per consumer: none means no responders (client.go's 503).
            self.client.deliver(reply, reply, b"", headers=b"NATS/1.0 503\r\nNats-Subject: " + subject + b"\r\n\r\n")
            return
        if is_reset:
            self._consumer_reset(c, reply, hdr, body)
            return
        # Go processNextMsgReq: a push consumer's 409 comes before the level check
        if c.is_pull and hdr is not None and _required_level(hdr) > API_LEVEL:
            self.client.deliver(reply, reply, b"", headers=b"NATS/1.0 412 Required Api Level\r\n\r\n")
            return
        r = reply.decode("latin-1")
        self._consumer_event(names[0], lambda now: c.pull(r, body, now))

    def _consumer_reset(self, c: Consumer, reply: bytes, hdr: bytes | None, body: bytes) -> None:
        """Go processResetReq (standalone)."""
        if hdr is not None and _required_level(hdr) > API_LEVEL:
            self.client.publish(reply, encode_reply(ConsumerResetResponse(error=E.required_api_level(), reset_seq=0)))
            return
        seq = 0
        if body:
            try:
                seq = decode_request(body, ConsumerResetRequest).seq
            except RequestError as e:
                text = str(e)
                try:  # Go's encoding/json wording for a syntax error
                    json.loads(body)
                except json.JSONDecodeError as je:
                    text = go_json_syntax_error(body.decode("latin-1"), je)
                except ValueError:
                    pass
                self.client.publish(reply, encode_reply(
                    ConsumerResetResponse(error=E.invalid_json(err=text), reset_seq=0)))
                return
        now = self.clock()
        try:
            new = c.reset(seq)
        except ValueError as e:
            self.client.publish(reply, encode_reply(
                ConsumerResetResponse(error=E.consumer_invalid_reset(err=str(e)), reset_seq=0)))
            return
        cs = self.consumer_sets[c.stream.config.name]
        fields = self._consumer_info_fields(c, now)
        self.client.publish(reply, encode_reply(ConsumerResetResponse(**fields, reset_seq=new)))
        c.wake(now)
        cs.settle(now)
        self._flush_consumers(cs)

    def _consumer_names(self, stream: str, body: bytes) -> ConsumerNamesResponse:
        req = decode_request(body, ConsumersRequest) if body.strip() else ConsumersRequest()
        self._lookup(stream)
        names = sorted(self.consumer_sets[stream].consumers) if stream in self.consumer_sets else []
        offset = _clamp(req.offset, len(names))
        return ConsumerNamesResponse(total=len(names), offset=offset, limit=NAMES_LIMIT,
                                     consumers=names[offset : offset + NAMES_LIMIT])

    def _consumer_list(self, stream: str, body: bytes) -> ConsumerListResponse:
        req = decode_request(body, ConsumersRequest) if body.strip() else ConsumersRequest()
        self._lookup(stream)
        cs = self.consumer_sets.get(stream)
        names = sorted(cs.consumers) if cs is not None else []
        offset = _clamp(req.offset, len(names))
        now = self.clock()
        infos = [ConsumerInfo(**self._consumer_info_fields(cs.consumers[n], now, dynamic=False))
                 for n in names[offset : offset + LIST_LIMIT]]
        return ConsumerListResponse(total=len(names), offset=offset, limit=LIST_LIMIT, consumers=infos)

    def _consumer_info(self, arg: tuple[str, str], body: bytes) -> ConsumerInfoResponse:
        if not _is_empty_request(body):
            raise ApiErrorException(E.not_empty_request())
        c = self._lookup_consumer(*arg)
        return ConsumerInfoResponse(**self._consumer_info_fields(c, self.clock()))

    def _consumer_delete(self, arg: tuple[str, str], body: bytes) -> ConsumerDeleteResponse:
        if not _is_empty_request(body):
            raise ApiErrorException(E.not_empty_request())
        c = self._lookup_consumer(*arg)
        self._delete_consumer(c, self.clock())
        return ConsumerDeleteResponse(success=True)

    def _delete_consumer(self, c: Consumer, now: int) -> None:
        sname = c.stream.config.name
        self._consumer_subs(c, subscribe=False)
        cs = self.consumer_sets.get(sname)
        if cs is not None and c.name in cs.consumers:
            cs.remove(c.name, now)
            if cs.files is not None:
                cs.files.removed(c.name)
        self._outq.extend(c.drain())
        self._consumer_advisory(c, "DELETED", "delete", now)
        self._flush_consumers()

    def _consumer_pause(self, arg: tuple[str, str], body: bytes) -> ConsumerPauseResponse:
        req = ConsumerPauseRequest()
        if body.strip()[:1] in (b"{", b"["):
            req = decode_request(body, ConsumerPauseRequest)
        c = self._lookup_consumer(*arg)
        now = self.clock()
        until = ccfg.parse_time(req.pause_until) or 0
        c.pause(until, now)
        c.cfg = ccfg.set_static_metadata(c.cfg)
        cs = self.consumer_sets.get(arg[0])
        if cs is not None and cs.files is not None:
            self._write_consumer(cs, c, now, create=False)
        self._flush_consumers()
        paused = until > now
        return ConsumerPauseResponse(paused=paused, pause_until=rfc3339nano(until),
                                     pause_remaining=until - now if paused else None)

    def _consumer_unpin(self, arg: tuple[str, str], body: bytes) -> ConsumerUnpinResponse:
        if not body.strip():  # Go json.Unmarshal of an empty body (no empty-request shortcut here)
            raise ApiErrorException(E.invalid_json(err="unexpected end of JSON input"))
        req = decode_request(body, ConsumerUnpinRequest)
        if not req.group:
            raise ApiErrorException(E.invalid_json(err="consumer group not specified"))
        if not ccfg.GROUP_NAME.match(req.group):
            raise ApiErrorException(E.consumer_invalid_group_name())
        c = self._lookup_consumer(*arg)
        if req.group not in (c.cfg.priority_groups or []):
            raise ApiErrorException(E.consumer_invalid_priority_group())
        self._consumer_event(arg[0], lambda now: c.unpin(req.group, "admin", now))
        return ConsumerUnpinResponse()

    def _consumer_stepdown(self, arg: tuple[str, str], body: bytes) -> ConsumerLeaderStepDownResponse:
        raise ApiErrorException(E.cluster_required())  # Go answers before any lookup when standalone

    def _tick_consumers(self, now: int) -> None:
        gen = self.broker.sublist.genid
        if gen != self._sub_gen:
            self._sub_gen = gen
            for cs in self.consumer_sets.values():
                for c in cs.consumers.values():
                    if not c.is_pull:
                        c.set_interest(self._push_interest(c.cfg), now)
        for cs in list(self.consumer_sets.values()):
            for c in cs.tick(now):
                if cs.files is not None:
                    cs.files.removed(c.name)
                self._consumer_subs(c, subscribe=False)
                self._outq.extend(c.drain())
                self._consumer_advisory(c, "DELETED", "delete", now)
        self._flush_consumers()

    def _drop_consumers(self, stream: str) -> None:
        cs = self.consumer_sets.pop(stream, None)
        if cs is None:
            return
        for c in list(cs.consumers.values()):
            self._consumer_subs(c, subscribe=False)
            c.stop()
            self._outq.extend(c.drain())
        self._flush_consumers()

    def consumer_count(self) -> int:
        return sum(len(cs) for cs in self.consumer_sets.values())


def _is_empty_request(body: bytes) -> bool:
    """Go isEmptyRequest: no bytes, or a JSON object with no fields."""
    if not body:
        return True
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    return isinstance(value, dict) and not value



def _with_level_of(md: dict[str, str] | None, prev: dict[str, str] | None) -> dict[str, str] | None:
    """Go copyConsumerMetadata: take the previous ``_nats.req.level`` (or drop it) before comparing."""
    out = dict(md or {})
    key = "_nats.req.level"
    if prev and key in prev:
        out[key] = prev[key]
    else:
        out.pop(key, None)
    return out or None

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
