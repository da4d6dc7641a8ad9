"""Consumer configuration: defaults, checks and update rules.

Mirrors nats-server server/consumer.go ``setConsumerConfigDefaults``
(``normalise``), ``checkConsumerCfg`` (``check``), the workqueue and
max-consumers part of ``addConsumerWithAssignmentAndMode``
(``check_workqueue``), ``checkNewConsumerConfig`` (``check_update``),
``updateInactiveThreshold`` (the 5s ephemeral default) and
server/jetstream_versioning.go ``setStaticConsumerMetadata`` /
``setDynamicConsumerMetadata``.

Theory of operation: a CreateConsumerRequest is decoded the Go way (absent
fields are Go zero values, so the enums arrive as ""), ``normalise`` turns
zero values into the server's defaults in Go's order (a pedantic request gets
10157 instead of a silent change), and ``check`` refuses what Go refuses, in
Go's order, so the first error is Go's. Every function is pure: configs are
frozen msgspec structs and a changed config is a new value. Errors are raised
as ``ApiErrorException`` carrying the generated Go error.

Spec rules: consumer.config.names, consumer.config.description_metadata,
consumer.config.replicas, consumer.config.enums, consumer.config.normalise,
consumer.config.ack_wait, consumer.config.backoff,
consumer.config.max_ack_pending, consumer.config.max_waiting,
consumer.config.inactive_threshold, consumer.config.deliver_policy,
consumer.config.filters, consumer.config.push, consumer.config.pull,
consumer.config.sample_freq, consumer.config.direct, consumer.config.priority,
consumer.config.ack_flow_control, consumer.config.api_level_metadata,
consumer.create.workqueue, consumer.update.immutable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from natsd.api import ConsumerConfig, StreamConfig
from natsd.api import errors as E
from natsd.jetstream import ApiErrorException
from natsd.jetstream.streamcfg import is_subset_match, is_valid_asset_name, subjects_collide
from natsd.protocol.gotime import go_duration, parse_rfc3339, rfc3339nano
from natsd.subjects.validate import is_literal, is_valid_subject

__all__ = [
    "ACK_WAIT_DEFAULT",
    "DELETE_WAIT_DEFAULT",
    "MAX_ACK_PENDING_DEFAULT",
    "WAIT_QUEUE_DEFAULT",
    "check",
    "check_update",
    "check_workqueue",
    "filters_of",
    "is_durable",
    "normalise",
    "parse_time",
    "set_static_metadata",
    "with_dynamic_metadata",
]

_MS = 1_000_000
_S = 1_000_000_000
ACK_WAIT_DEFAULT = 30 * _S  # JsAckWaitDefault
DELETE_WAIT_DEFAULT = 5 * _S  # JsDeleteWaitTimeDefault
MAX_ACK_PENDING_DEFAULT = 1000  # JsDefaultMaxAckPending
PINNED_TTL_DEFAULT = 120 * _S  # JsDefaultPinnedTTL
WAIT_QUEUE_DEFAULT = 512  # JSWaitQueueDefaultMax
FC_HEARTBEAT = 1 * _S  # sourceHealthHB
MAX_NAME_LEN = 255
MAX_DESCRIPTION_LEN = 4096
MAX_METADATA_LEN = 128 * 1024
GROUP_NAME = re.compile(r"^[a-zA-Z0-9/_=-]{1,16}$")

_REQ_LEVEL = "_nats.req.level"
_SRV_VER = "_nats.ver"
_SRV_LEVEL = "_nats.level"


def _pedantic(text: str) -> ApiErrorException:
    return ApiErrorException(E.pedantic(err=text))


def _raise(err: E.ApiError) -> None:
    raise ApiErrorException(err)


def is_durable(cfg: ConsumerConfig) -> bool:
    return cfg.durable_name != ""


def filters_of(cfg: ConsumerConfig) -> list[str]:
    """Go gatherSubjectFilters: filter_subject and filter_subjects, empties dropped."""
    out = [cfg.filter_subject] if cfg.filter_subject else []
    out.extend(f for f in cfg.filter_subjects or [] if f)
    return out


def parse_time(value: str | None) -> int | None:
    """An RFC3339 time from a config to ns; None stays None (a Go nil pointer)."""
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError as e:
        raise ApiErrorException(E.invalid_json(err=str(e))) from None


def normalise(cfg: ConsumerConfig, scfg: StreamConfig, pedantic: bool = False) -> ConsumerConfig:
    """Zero enums to their Go defaults, then Go setConsumerConfigDefaults."""
    ch: dict = {}
    get = lambda name: ch.get(name, getattr(cfg, name))  # noqa: E731 - local shorthand
    if cfg.deliver_policy in ("", "undefined"):
        ch["deliver_policy"] = "all"
    if cfg.ack_policy == "":
        ch["ack_policy"] = "none"
    if cfg.replay_policy == "":
        ch["replay_policy"] = "instant"
    if cfg.priority_policy == "none":
        ch["priority_policy"] = ""  # Go's zero PriorityNone: omitted from JSON
    for name in ("opt_start_time", "pause_until"):
        ns = parse_time(getattr(cfg, name))
        if ns is not None:
            ch[name] = rfc3339nano(ns)
    if cfg.max_deliver == 0 or cfg.max_deliver < -1:
        if pedantic and cfg.max_deliver < -1:
            raise _pedantic("max_deliver must be set to -1")
        ch["max_deliver"] = -1
    for name, text in (("max_waiting", "max_waiting must not be negative"),):
        if getattr(cfg, name) < 0:
            if pedantic:
                raise _pedantic(text)
            ch[name] = 0
    if cfg.max_ack_pending < -1:
        if pedantic:
            raise _pedantic("max_ack_pending must be set to -1")
        ch["max_ack_pending"] = -1
    for name in ("max_batch", "max_expires", "max_bytes", "idle_heartbeat", "inactive_threshold",
                 "priority_timeout"):
        if getattr(cfg, name) < 0:
            if pedantic:
                raise _pedantic(f"{name} must not be negative")
            ch[name] = 0
    ack = get("ack_policy")
    if cfg.deliver_subject == "" and get("max_waiting") == 0:
        ch["max_waiting"] = WAIT_QUEUE_DEFAULT
    if cfg.ack_wait == 0 and ack in ("explicit", "all"):
        ch["ack_wait"] = ACK_WAIT_DEFAULT
    if cfg.backoff:
        if pedantic and get("ack_wait") != cfg.backoff[0]:
            raise _pedantic("first backoff value has to equal batch AckWait")
        ch["ack_wait"] = cfg.backoff[0]
    limits = scfg.consumer_limits
    lim_map = limits.max_ack_pending if limits is not None else 0
    lim_inact = limits.inactive_threshold if limits is not None else 0
    if get("max_ack_pending") == 0:
        if pedantic and lim_map > 0:
            raise _pedantic("max_ack_pending must be set if it's configured in stream limits")
        ch["max_ack_pending"] = lim_map
    if get("inactive_threshold") == 0:
        if pedantic and lim_inact > 0:
            raise _pedantic("inactive_threshold must be set if it's configured in stream limits")
        ch["inactive_threshold"] = lim_inact
    if get("max_ack_pending") == 0 and ack != "none":
        ch["max_ack_pending"] = MAX_ACK_PENDING_DEFAULT  # no server or account cap configured
    if get("priority_policy") == "pinned_client" and get("priority_timeout") == 0:
        ch["priority_timeout"] = PINNED_TTL_DEFAULT
    if ack == "flow_control" and not pedantic:
        ch["flow_control"] = True
        ch["idle_heartbeat"] = FC_HEARTBEAT
    return msgspec.structs.replace(cfg, **ch) if ch else cfg


def _overlap_free(filters: list[str]) -> None:
    for i, a in enumerate(filters):
        if not is_valid_subject(a):
            _raise(E.stream_invalid_config(err="invalid subject"))
        for j, b in enumerate(filters):
            if i != j and is_subset_match(a, b):
                _raise(E.consumer_overlapping_subject_filters())


def _start_policy(cfg: ConsumerConfig) -> None:
    dp, seq, ts = cfg.deliver_policy, cfg.opt_start_seq, cfg.opt_start_time

    def bad(name: str, what: str) -> None:
        _raise(E.consumer_invalid_policy(
            err=f"consumer delivery policy is deliver {name}, but optional start {what} is also set"))

    def unset(name: str, what: str) -> None:
        _raise(E.consumer_invalid_policy(
            err=f"consumer delivery policy is deliver {name}, but optional {what} is not set"))

    names = {"all": "all", "last": "last", "last_per_subject": "last per subject", "new": "new"}
    if dp in names:
        if seq > 0:
            bad(names[dp], "sequence")
        if ts is not None:
            bad(names[dp], "time")
        if dp == "last_per_subject" and not cfg.filter_subject and not cfg.filter_subjects:
            unset("last per subject", "filter subject")
    elif dp == "by_start_sequence":
        if seq == 0:
            unset("by start sequence", "start sequence")
        if ts is not None:
            bad("by start sequence", "time")
    elif dp == "by_start_time":
        if ts is None:
            unset("by start time", "start time")
        if seq != 0:
            bad("by start time", "start sequence")


def check(cfg: ConsumerConfig, scfg: StreamConfig) -> None:
    """Go checkConsumerCfg, in Go's order (server and account limits: none configured)."""
    if cfg.name and not is_valid_asset_name(cfg.name):
        _raise(E.stream_invalid_config(err="consumer name can not contain '.', '*', '>', '\\', '/'"))
    if cfg.durable_name and not is_valid_asset_name(cfg.durable_name):
        _raise(E.stream_invalid_config(err="consumer durable name can not contain '.', '*', '>', '\\', '/'"))
    if cfg.num_replicas > 0 and cfg.num_replicas > scfg.num_replicas:
        _raise(E.consumer_replicas_exceeds_stream())
    if cfg.num_replicas < 0:
        _raise(E.replicas_count_cannot_be_negative())
    if scfg.retention in ("interest", "workqueue") and cfg.num_replicas not in (0, scfg.num_replicas):
        _raise(E.consumer_replicas_should_match_stream())
    if any(b < 0 for b in cfg.backoff or []):
        _raise(E.consumer_back_off_negative())
    if cfg.ack_wait < 0:
        _raise(E.consumer_ack_wait_negative())
    if cfg.ack_policy == "flow_control":
        if not cfg.deliver_subject:
            _raise(E.consumer_ack_fc_requires_push())
        if not cfg.flow_control:
            _raise(E.consumer_ack_fc_requires_fc())
        if cfg.idle_heartbeat != FC_HEARTBEAT:
            _raise(E.stream_invalid_config(err="flow control ack policy heartbeat needs to be 1s"))
        if cfg.max_ack_pending <= 0:
            _raise(E.consumer_ack_fc_requires_max_ack_pending())
        if cfg.ack_wait != 0 or cfg.backoff:
            _raise(E.consumer_ack_fc_requires_no_ack_wait())
        if cfg.max_deliver > 0:
            _raise(E.consumer_ack_fc_requires_no_max_deliver())
    if cfg.backoff and cfg.max_deliver != -1 and len(cfg.backoff) > cfg.max_deliver:
        _raise(E.consumer_max_deliver_backoff())
    if len(cfg.description.encode()) > MAX_DESCRIPTION_LEN:
        _raise(E.consumer_description_too_long(max=MAX_DESCRIPTION_LEN))
    if cfg.deliver_subject:
        ds = cfg.deliver_subject
        if not is_literal(ds):
            _raise(E.consumer_deliver_to_wildcards())
        if not is_valid_subject(ds):
            _raise(E.consumer_invalid_deliver_subject())
        if any(is_subset_match(ds, s) for s in scfg.subjects or []):
            _raise(E.consumer_deliver_cycle())
        if cfg.max_waiting != 0:
            _raise(E.consumer_push_max_waiting())
        if cfg.max_ack_pending > 0 and cfg.ack_policy == "none":
            _raise(E.consumer_max_pending_ack_policy_required())
        if 0 < cfg.idle_heartbeat < 100 * _MS:
            _raise(E.consumer_small_heartbeat())
    else:
        if cfg.ack_policy == "none" and scfg.retention == "workqueue":
            _raise(E.consumer_pull_requires_ack())
        if cfg.rate_limit_bps > 0:
            _raise(E.consumer_pull_with_rate_limit())
        if cfg.max_waiting < 0:
            _raise(E.consumer_max_waiting_negative())
        if cfg.idle_heartbeat > 0:
            _raise(E.consumer_hb_requires_push())
        if cfg.flow_control:
            _raise(E.consumer_fc_requires_push())
        if cfg.max_batch < 0:
            _raise(E.consumer_max_request_batch_negative())
        if cfg.max_expires != 0 and cfg.max_expires < _MS:
            _raise(E.consumer_max_request_expires_too_small())
    limits = scfg.consumer_limits
    if limits is not None:
        if limits.max_ack_pending > 0 and cfg.max_ack_pending > limits.max_ack_pending:
            _raise(E.consumer_max_pending_ack_excess(limit=limits.max_ack_pending))
        if limits.inactive_threshold > 0 and cfg.inactive_threshold > limits.inactive_threshold:
            _raise(E.consumer_inactive_threshold_excess(limit=go_duration(limits.inactive_threshold)))
    if cfg.direct:
        if not cfg.deliver_subject:
            _raise(E.consumer_direct_requires_push())
        if is_durable(cfg):
            _raise(E.consumer_direct_requires_ephemeral())
    if cfg.filter_subject and cfg.filter_subjects:
        _raise(E.consumer_duplicate_filter_subjects())
    if cfg.filter_subject and not is_valid_subject(cfg.filter_subject):
        _raise(E.stream_invalid_config(err="invalid subject"))
    if any(f == "" for f in cfg.filter_subjects or []):
        _raise(E.consumer_empty_filter())
    _overlap_free(filters_of(cfg))
    _start_policy(cfg)
    if cfg.sample_freq:
        text = cfg.sample_freq[:-1] if cfg.sample_freq.endswith("%") else cfg.sample_freq
        if not re.fullmatch(r"[+-]?\d+", text):
            _raise(E.consumer_invalid_sampling(err=f'strconv.Atoi: parsing "{text}": invalid syntax'))
        if int(text) < 0:
            _raise(E.consumer_invalid_sampling(err="<nil>"))
    if cfg.flow_control and cfg.idle_heartbeat == 0:
        _raise(E.consumer_with_flow_control_needs_heartbeats())
    if cfg.durable_name and cfg.name and cfg.name != cfg.durable_name:
        _raise(E.consumer_create_durable_and_name_mismatch())
    md_len = sum(len(k.encode()) + len(v.encode()) for k, v in (cfg.metadata or {}).items())
    if md_len > MAX_METADATA_LEN:
        _raise(E.consumer_metadata_length(limit=f"{MAX_METADATA_LEN // 1024}KB"))
    if cfg.priority_policy:
        if cfg.deliver_subject:
            _raise(E.consumer_push_with_priority_group())
        if not cfg.priority_groups:
            _raise(E.consumer_priority_policy_without_group())
        for g in cfg.priority_groups:
            if g == "":
                _raise(E.consumer_empty_group_name())
            if not GROUP_NAME.match(g):
                _raise(E.consumer_invalid_group_name())
    else:
        if cfg.priority_groups:
            _raise(E.consumer_priority_group_with_policy_none())
        if cfg.priority_timeout > 0:
            _raise(E.consumer_pinned_ttl_without_priority_policy_none())
    if scfg.placement is not None and scfg.placement.preferred:
        _raise(E.stream_invalid_config(err="preferred server not permitted in placement"))


def check_workqueue(cfg: ConsumerConfig, name: str, others: Iterable[tuple[str, ConsumerConfig]]) -> None:
    """The workqueue rules of Go addConsumerWithAssignmentAndMode for a new consumer.

    ``others`` are the stream's other (name, config) pairs.
    """
    if cfg.direct or cfg.sourcing:
        return
    if cfg.ack_policy not in ("explicit", "flow_control"):
        _raise(E.consumer_wq_requires_explicit_ack())
    if cfg.deliver_policy != "all":
        _raise(E.consumer_wq_consumer_not_deliver_all())
    others = [(n, c) for n, c in others if not (c.direct or c.sourcing)]
    if others:
        subjects = filters_of(cfg)
        if not subjects:
            _raise(E.consumer_wq_multiple_unfiltered())
        if not partition_unique(name, subjects, others):
            _raise(E.consumer_wq_consumer_not_unique())


def partition_unique(name: str, subjects: list[str], others: Iterable[tuple[str, ConsumerConfig]]) -> bool:
    """Go stream.partitionUnique: no other consumer's filters collide with ``subjects``."""
    for other, ocfg in others:
        if other == name:
            continue
        ofilters = filters_of(ocfg)
        if not ofilters:
            return False
        for s in subjects:
            if any(subjects_collide(s, f) for f in ofilters):
                return False
    return True


def check_update(old: ConsumerConfig, new: ConsumerConfig, deliver_bound: bool) -> None:
    """Go checkNewConsumerConfig. ``deliver_bound`` says the old deliver subject has interest."""
    if old == new:
        return

    def fail(text: str) -> None:
        _raise(E.consumer_create(err=text))

    if old.deliver_policy != new.deliver_policy:
        fail("deliver policy can not be updated")
    if old.mem_storage != new.mem_storage:
        fail("storage type can not be updated")
    if old.direct != new.direct:
        fail("direct can not be updated")
    if old.sourcing != new.sourcing:
        fail("sourcing can not be updated")
    if old.opt_start_seq != new.opt_start_seq:
        fail("start sequence can not be updated")
    if parse_time(old.opt_start_time) != parse_time(new.opt_start_time):
        fail("start time can not be updated")
    if old.ack_policy != new.ack_policy:
        fail("ack policy can not be updated")
    if old.replay_policy != new.replay_policy:
        fail("replay policy can not be updated")
    if old.idle_heartbeat != new.idle_heartbeat:
        fail("heart beats can not be updated")
    if old.flow_control != new.flow_control:
        fail("flow control can not be updated")
    if old.deliver_subject != new.deliver_subject:
        if not old.deliver_subject:
            fail("can not update pull consumer to push based")
        if not new.deliver_subject:
            fail("can not update push consumer to pull based")
        if deliver_bound:
            _raise(E.consumer_name_exist())
    if old.max_waiting != new.max_waiting:
        fail("max waiting can not be updated")
    if new.backoff and new.max_deliver != -1 and len(new.backoff) > new.max_deliver:
        _raise(E.consumer_max_deliver_backoff())


def _required_level(cfg: ConsumerConfig) -> int:
    level = 0
    if cfg.pause_until is not None and parse_time(cfg.pause_until):
        level = 1
    if cfg.priority_policy not in ("", "none") or cfg.priority_timeout != 0 or cfg.priority_groups:
        level = max(level, 1)
    if cfg.ack_policy == "flow_control":
        level = max(level, 4)
    return level


def set_static_metadata(cfg: ConsumerConfig) -> ConsumerConfig:
    """Go setStaticConsumerMetadata: drop dynamic keys, set ``_nats.req.level``."""
    md = {k: v for k, v in (cfg.metadata or {}).items() if k not in (_SRV_VER, _SRV_LEVEL)}
    md[_REQ_LEVEL] = str(_required_level(cfg))
    return msgspec.structs.replace(cfg, metadata=md)


def with_dynamic_metadata(cfg: ConsumerConfig, version: str, level: int) -> ConsumerConfig:
    """Go setDynamicConsumerMetadata: a copy with ``_nats.ver`` and ``_nats.level``."""
    md = dict(cfg.metadata or {})
    md[_SRV_VER] = version
    md[_SRV_LEVEL] = str(level)
    return msgspec.structs.replace(cfg, metadata=md)
