"""Consumer configuration in the reference model: defaults, checks, updates.

The plainest statement of what the Go server does with a ConsumerConfig on
$JS.API.CONSUMER.CREATE (server/consumer.go ``setConsumerConfigDefaults``,
``checkConsumerCfg``, ``checkNewConsumerConfig``; server/jetstream_versioning.go
``setStaticConsumerMetadata``) for a standalone server, the global account and
no JetStream limits.

Theory of operation
-------------------
A config is a plain dict holding *every* field of Go's ``ConsumerConfig`` with
its Go value (zero values included), keyed by the JSON names. ``decode`` turns
a request's config into that dict (or the decoding error Go answers);
``defaults`` applies ``setConsumerConfigDefaults`` (pedantic errors);
``check`` is ``checkConsumerCfg`` in Go's order; ``update_error`` is
``checkNewConsumerConfig`` (what an update may not change). ``to_json`` drops
the fields Go's ``omitempty`` tags drop, which is the config as clients see it.
Two configs are equal (Go ``reflect.DeepEqual``) when their dicts are equal.

Rules (spec/consumer.toml): consumer.config.names, consumer.config.replicas,
consumer.config.enums, consumer.config.normalise, consumer.config.ack_wait,
consumer.config.backoff, consumer.config.max_ack_pending,
consumer.config.max_waiting, consumer.config.deliver_policy,
consumer.config.filters, consumer.config.push, consumer.config.pull,
consumer.config.sample_freq, consumer.config.direct, consumer.config.priority,
consumer.config.description_metadata, consumer.config.api_level_metadata,
consumer.update.immutable.

Nothing here imports the implementation but ``natsd.api`` (the error table).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from natsd.api import errors as E

__all__ = [
    "ACK_WAIT_DEFAULT",
    "DEFAULT_MAX_ACK_PENDING",
    "DEFAULT_MAX_WAITING",
    "FIELDS",
    "check",
    "decode",
    "defaults",
    "filters_of",
    "is_subset",
    "to_json",
    "update_error",
    "valid_subject",
]

SEC = 1_000_000_000
#: JsAckWaitDefault
ACK_WAIT_DEFAULT = 30 * SEC
#: JsDefaultMaxAckPending
DEFAULT_MAX_ACK_PENDING = 1000
#: JSWaitQueueDefaultMax
DEFAULT_MAX_WAITING = 512
#: JsDefaultPinnedTTL
DEFAULT_PINNED_TTL = 120 * SEC
#: JSMaxNameLen, JSMaxDescriptionLen, JSMaxMetadataLen
MAX_NAME_LEN = 255
#: Go JsDeleteWaitTimeDefault: the inactive_threshold an ephemeral consumer gets when it sets none
EPHEMERAL_INACTIVE = 5_000_000_000
MAX_DESCRIPTION_LEN = 4096
MAX_METADATA_LEN = 128 * 1024

#: Every ConsumerConfig field with its Go zero value, and whether Go omits it
#: when zero (``omitempty``).
FIELDS: dict[str, tuple[Any, bool]] = {
    "durable_name": ("", True),
    "name": ("", True),
    "description": ("", True),
    "deliver_policy": ("all", False),
    "opt_start_seq": (0, True),
    "opt_start_time": (None, True),
    "ack_policy": ("none", False),
    "ack_wait": (0, True),
    "max_deliver": (0, True),
    "backoff": (None, True),
    "filter_subject": ("", True),
    "filter_subjects": (None, True),
    "replay_policy": ("instant", False),
    "rate_limit_bps": (0, True),
    "sample_freq": ("", True),
    "max_waiting": (0, True),
    "max_ack_pending": (0, True),
    "flow_control": (False, True),
    "headers_only": (False, True),
    "max_batch": (0, True),
    "max_expires": (0, True),
    "max_bytes": (0, True),
    "deliver_subject": ("", True),
    "deliver_group": ("", True),
    "idle_heartbeat": (0, True),
    "inactive_threshold": (0, True),
    "num_replicas": (0, False),
    "mem_storage": (False, True),
    "direct": (False, True),
    "sourcing": (False, True),
    "metadata": (None, True),
    "pause_until": (None, True),
    "priority_groups": (None, True),
    "priority_policy": ("none", True),
    "priority_timeout": (0, True),
}

#: Go's enum JSON values (DeliverPolicy, AckPolicy, ReplayPolicy, PriorityPolicy).
ENUMS = {
    "deliver_policy": ("all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject"),
    "ack_policy": ("none", "all", "explicit", "flow_control"),
    "replay_policy": ("instant", "original"),
    "priority_policy": ("none", "overflow", "pinned_client", "prioritized"),
}

_GROUP_NAME = re.compile(r"^[a-zA-Z0-9/_=-]{1,16}$")


def _err(e: E.ApiError) -> E.ApiError:
    return e


# ------------------------------------------------------------------ subjects


def valid_subject(subject: str) -> bool:
    """Go ``IsValidSubject``: non-empty tokens, '>' only last, no whitespace."""
    if not subject or any(c in subject for c in " \t\r\n\f"):
        return False
    tokens = subject.split(".")
    return all(tokens) and ">" not in tokens[:-1]


def valid_asset_name(name: str) -> bool:
    """Go ``isValidAssetName``."""
    return bool(name) and not any(c in name for c in " \t\r\n\f.*>\\/")


def is_subset(subject: str, test: str) -> bool:
    """Go ``subjectIsSubsetMatch``: every subject ``subject`` matches, ``test`` matches too."""
    tokens, tests = subject.split("."), test.split(".")
    for i, t2 in enumerate(tests):
        if i >= len(tokens) or not t2:
            return False
        if t2 == ">":
            return True
        t1 = tokens[i]
        if not t1 or t1 == ">":
            return False
        if t1 == "*":
            if t2 != "*":
                return False
            continue
        if t2 != "*" and t1 != t2:
            return False
    return len(tokens) == len(tests)


def filters_of(cfg: dict) -> list[str]:
    """Go ``gatherSubjectFilters``: filter_subject and filter_subjects, empty ones dropped."""
    out = [cfg["filter_subject"]] if cfg["filter_subject"] else []
    return out + [f for f in cfg["filter_subjects"] or [] if f]


# ---------------------------------------------------------------------- decode


def decode(raw: Any) -> dict | E.ApiError:
    """The request's ``config`` as the full field dict (Go zero values for what
    is absent); consumer.config.enums: an enum value Go does not know fails
    decoding (10025), before anything else is checked."""
    raw = raw or {}
    cfg = {k: v for k, (v, _) in FIELDS.items()}
    for key, value in raw.items():
        if key in ENUMS and value is not None:
            if value not in ENUMS[key]:
                text = json.dumps(json.dumps(value))
                if key == "priority_policy":
                    return E.invalid_json(err=f"unknown priority policy: {json.dumps(value)}")
                return E.invalid_json(err=f"can not unmarshal {text}")
        if value is not None:
            cfg[key] = value
    return cfg


# -------------------------------------------------------------------- defaults


def defaults(cfg: dict, stream_cfg: dict, pedantic: bool) -> E.ApiError | None:
    """Go ``setConsumerConfigDefaults`` (in place), no server or account limits.

    consumer.config.normalise: max_deliver 0 or < -1 -> -1; negative
    max_waiting, max_batch, max_expires, max_bytes, idle_heartbeat,
    inactive_threshold, priority_timeout -> 0; max_ack_pending < -1 -> -1;
    pedantic: 10157 instead. consumer.config.max_waiting: a pull consumer's 0
    is 512. consumer.config.ack_wait: 30s for explicit/all, backoff[0] when
    backoff is set. consumer.config.max_ack_pending: the stream's
    consumer_limits, else 1000 unless ack none. consumer.config.priority:
    pinned_client defaults priority_timeout to 2m.
    """

    def ped(text: str) -> E.ApiError:
        return E.pedantic(err=text)

    if cfg["max_deliver"] == 0 or cfg["max_deliver"] < -1:
        if pedantic and cfg["max_deliver"] < -1:
            return ped("max_deliver must be set to -1")
        cfg["max_deliver"] = -1
    for key, text in (("max_waiting", "max_waiting must not be negative"),):
        if cfg[key] < 0:
            if pedantic:
                return ped(text)
            cfg[key] = 0
    if cfg["max_ack_pending"] < -1:
        if pedantic:
            return ped("max_ack_pending must be set to -1")
        cfg["max_ack_pending"] = -1
    for key in ("max_batch", "max_expires", "max_bytes", "idle_heartbeat", "inactive_threshold",
                "priority_timeout"):
        if cfg[key] < 0:
            if pedantic:
                return ped(f"{key} must not be negative")
            cfg[key] = 0
    if not cfg["deliver_subject"] and cfg["max_waiting"] == 0:
        cfg["max_waiting"] = DEFAULT_MAX_WAITING
    if cfg["ack_wait"] == 0 and cfg["ack_policy"] in ("explicit", "all"):
        cfg["ack_wait"] = ACK_WAIT_DEFAULT
    if cfg["backoff"]:
        if pedantic and cfg["ack_wait"] != cfg["backoff"][0]:
            return ped("first backoff value has to equal batch AckWait")
        cfg["ack_wait"] = cfg["backoff"][0]
    limits = stream_cfg.get("consumer_limits") or {}
    if cfg["max_ack_pending"] == 0:
        if pedantic and limits.get("max_ack_pending", 0) > 0:
            return ped("max_ack_pending must be set if it's configured in stream limits")
        cfg["max_ack_pending"] = limits.get("max_ack_pending", 0)
    if cfg["inactive_threshold"] == 0:
        if pedantic and limits.get("inactive_threshold", 0) > 0:
            return ped("inactive_threshold must be set if it's configured in stream limits")
        cfg["inactive_threshold"] = limits.get("inactive_threshold", 0)
    if cfg["max_ack_pending"] == 0 and cfg["ack_policy"] != "none":
        cfg["max_ack_pending"] = DEFAULT_MAX_ACK_PENDING
    if cfg["priority_policy"] == "pinned_client" and cfg["priority_timeout"] == 0:
        cfg["priority_timeout"] = DEFAULT_PINNED_TTL
    if cfg["ack_policy"] == "flow_control" and not pedantic:
        cfg["flow_control"], cfg["idle_heartbeat"] = True, SEC
    return None


# ----------------------------------------------------------------------- check


def check(cfg: dict, stream_cfg: dict) -> E.ApiError | None:
    """Go ``checkConsumerCfg`` in its order (standalone, no limits)."""
    invalid: Callable[[str], E.ApiError] = lambda text: E.stream_invalid_config(err=text)  # noqa: E731
    if cfg["name"] and not valid_asset_name(cfg["name"]):
        return invalid("consumer name can not contain '.', '*', '>', '\\', '/'")
    if cfg["durable_name"] and not valid_asset_name(cfg["durable_name"]):
        return invalid("consumer durable name can not contain '.', '*', '>', '\\', '/'")
    replicas = cfg["num_replicas"]
    if replicas > 0 and replicas > stream_cfg["num_replicas"]:
        return E.consumer_replicas_exceeds_stream()
    if replicas < 0:
        return E.replicas_count_cannot_be_negative()
    if stream_cfg["retention"] in ("interest", "workqueue") and replicas not in (0, stream_cfg["num_replicas"]):
        return E.consumer_replicas_should_match_stream()
    if any(b < 0 for b in cfg["backoff"] or []):
        return E.consumer_back_off_negative()
    if cfg["ack_wait"] < 0:
        return E.consumer_ack_wait_negative()
    if cfg["ack_policy"] == "flow_control":
        if not cfg["deliver_subject"]:
            return E.consumer_ack_fc_requires_push()
        if not cfg["flow_control"]:
            return E.consumer_ack_fc_requires_fc()
        if cfg["idle_heartbeat"] != SEC:
            return invalid("flow control ack policy heartbeat needs to be 1s")
        if cfg["max_ack_pending"] <= 0:
            return E.consumer_ack_fc_requires_max_ack_pending()
        if cfg["ack_wait"] != 0 or cfg["backoff"]:
            return E.make("JSConsumerAckFCRequiresNoAckWaitErr")
        if cfg["max_deliver"] > 0:
            return E.make("JSConsumerAckFCRequiresNoMaxDeliverErr")
    nb = len(cfg["backoff"] or [])
    if nb and cfg["max_deliver"] != -1 and nb > cfg["max_deliver"]:
        return E.consumer_max_deliver_backoff()
    if len(cfg["description"].encode()) > MAX_DESCRIPTION_LEN:
        return E.consumer_description_too_long(max=MAX_DESCRIPTION_LEN)
    if cfg["deliver_subject"]:
        ds = cfg["deliver_subject"]
        if any(t in ("*", ">") for t in ds.split(".")):
            return E.consumer_deliver_to_wildcards()
        if not valid_subject(ds):
            return E.consumer_invalid_deliver_subject()
        if any(is_subset(ds, s) for s in stream_cfg["subjects"]):
            return E.consumer_deliver_cycle()
        if cfg["max_waiting"] != 0:
            return E.consumer_push_max_waiting()
        if cfg["max_ack_pending"] > 0 and cfg["ack_policy"] == "none":
            return E.consumer_max_pending_ack_policy_required()
        if 0 < cfg["idle_heartbeat"] < SEC // 10:
            return E.consumer_small_heartbeat()
    else:
        if cfg["ack_policy"] == "none" and stream_cfg["retention"] == "workqueue":
            return E.consumer_pull_requires_ack()
        if cfg["rate_limit_bps"] > 0:
            return E.consumer_pull_with_rate_limit()
        if cfg["max_waiting"] < 0:
            return E.consumer_max_waiting_negative()
        if cfg["idle_heartbeat"] > 0:
            return E.consumer_hb_requires_push()
        if cfg["flow_control"]:
            return E.consumer_fc_requires_push()
        if cfg["max_batch"] < 0:
            return E.consumer_max_request_batch_negative()
        if cfg["max_expires"] != 0 and cfg["max_expires"] < 1_000_000:
            return E.consumer_max_request_expires_too_small()
    limits = stream_cfg.get("consumer_limits") or {}
    if limits.get("max_ack_pending", 0) > 0 and cfg["max_ack_pending"] > limits["max_ack_pending"]:
        return E.consumer_max_pending_ack_excess(limit=limits["max_ack_pending"])
    if limits.get("inactive_threshold", 0) > 0 and cfg["inactive_threshold"] > limits["inactive_threshold"]:
        return E.consumer_inactive_threshold_excess(limit=limits["inactive_threshold"])
    if cfg["direct"]:
        if not cfg["deliver_subject"]:
            return E.consumer_direct_requires_push()
        if cfg["durable_name"]:
            return E.consumer_direct_requires_ephemeral()
    if cfg["filter_subject"] and cfg["filter_subjects"]:
        return E.consumer_duplicate_filter_subjects()
    if cfg["filter_subject"] and not valid_subject(cfg["filter_subject"]):
        return invalid("invalid subject")
    if any(f == "" for f in cfg["filter_subjects"] or []):
        return E.consumer_empty_filter()
    filters = filters_of(cfg)
    for i, f in enumerate(filters):
        if not valid_subject(f):
            return invalid("invalid subject")
        if any(j != i and is_subset(f, g) for j, g in enumerate(filters)):
            return E.consumer_overlapping_subject_filters()
    bad = _deliver_policy_error(cfg)
    if bad:
        return E.consumer_invalid_policy(err=bad)
    if cfg["sample_freq"]:
        text = cfg["sample_freq"].removesuffix("%")
        if not re.fullmatch(r"[+-]?[0-9]+", text) or int(text) < 0:
            err = "" if re.fullmatch(r"[+-]?[0-9]+", text) else f'strconv.Atoi: parsing {json.dumps(text)}: invalid syntax'
            return E.consumer_invalid_sampling(err=err)
    if cfg["flow_control"] and cfg["idle_heartbeat"] == 0:
        return E.consumer_with_flow_control_needs_heartbeats()
    if cfg["durable_name"] and cfg["name"] and cfg["name"] != cfg["durable_name"]:
        return E.consumer_create_durable_and_name_mismatch()
    if sum(len(k) + len(v) for k, v in (cfg["metadata"] or {}).items()) > MAX_METADATA_LEN:
        return E.consumer_metadata_length(limit=f"{MAX_METADATA_LEN // 1024}KB")
    if cfg["priority_policy"] != "none":
        if cfg["deliver_subject"]:
            return E.consumer_push_with_priority_group()
        if not cfg["priority_groups"]:
            return E.consumer_priority_policy_without_group()
        for group in cfg["priority_groups"]:
            if group == "":
                return E.consumer_empty_group_name()
            if not _GROUP_NAME.match(group):
                return E.consumer_invalid_group_name()
    else:
        if cfg["priority_groups"]:
            return E.consumer_priority_group_with_policy_none()
        if cfg["priority_timeout"] > 0:
            return E.consumer_pinned_ttl_without_priority_policy_none()
    return None


def _deliver_policy_error(cfg: dict) -> str:
    """consumer.config.deliver_policy: the start options each policy needs or refuses."""
    dp, seq, t = cfg["deliver_policy"], cfg["opt_start_seq"], cfg["opt_start_time"]
    names = {"all": "all", "last": "last", "last_per_subject": "last per subject", "new": "new",
             "by_start_sequence": "by start sequence", "by_start_time": "by start time"}
    p = names[dp]
    also = f"consumer delivery policy is deliver {p}, but optional start {{}} is also set"
    unset = f"consumer delivery policy is deliver {p}, but optional {{}} is not set"
    if dp in ("all", "last", "last_per_subject", "new"):
        if seq > 0:
            return also.format("sequence")
        if t is not None:
            return also.format("time")
        if dp == "last_per_subject" and not filters_of(cfg) and not cfg["filter_subject"]:
            return unset.format("filter subject")
    elif dp == "by_start_sequence":
        if seq == 0:
            return unset.format("start sequence")
        if t is not None:
            return also.format("time")
    elif dp == "by_start_time":
        if t is None:
            return unset.format("start time")
        if seq != 0:
            return also.format("start sequence")
    return ""


def required_level(cfg: dict) -> str:
    """consumer.config.api_level_metadata: Go ``setStaticConsumerMetadata``."""
    level = 0
    if cfg["pause_until"]:
        level = 1
    if cfg["priority_policy"] != "none" or cfg["priority_timeout"] or cfg["priority_groups"]:
        level = 1
    if cfg["ack_policy"] == "flow_control":
        level = 4
    return str(level)


# ---------------------------------------------------------------------- update


def update_error(old: dict, new: dict) -> str | E.ApiError | None:
    """consumer.update.immutable: Go ``checkNewConsumerConfig``; the text of the
    10012 error, an ApiError, or None when the update is allowed. (The deliver
    subject of a push consumer with interest cannot change either; the campaign
    never subscribes to one, so that branch is not modelled.)"""
    if old == new:
        return None
    for key, text in (("deliver_policy", "deliver policy"), ("mem_storage", "storage type"),
                      ("direct", "direct"), ("sourcing", "sourcing"), ("opt_start_seq", "start sequence"),
                      ("opt_start_time", "start time"), ("ack_policy", "ack policy"),
                      ("replay_policy", "replay policy"), ("idle_heartbeat", "heart beats"),
                      ("flow_control", "flow control")):
        if old[key] != new[key]:
            return f"{text} can not be updated"
    if old["deliver_subject"] != new["deliver_subject"]:
        if not old["deliver_subject"]:
            return "can not update pull consumer to push based"
        if not new["deliver_subject"]:
            return "can not update push consumer to pull based"
    if old["max_waiting"] != new["max_waiting"]:
        return "max waiting can not be updated"
    nb = len(new["backoff"] or [])
    if nb and new["max_deliver"] != -1 and nb > new["max_deliver"]:
        return E.consumer_max_deliver_backoff()
    return None


# ------------------------------------------------------------------------ json


def to_json(cfg: dict) -> dict:
    """The config as Go encodes it: omitempty fields at their zero value dropped."""
    out = {}
    for key, (zero, omit) in FIELDS.items():
        v = cfg[key]
        if omit and (v == zero or v in (None, "", 0, False, [], {})):
            continue
        out[key] = v
    return out
