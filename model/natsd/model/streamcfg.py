"""Reference model of stream configuration checks (Go ``checkStreamCfg``).

Theory of operation
-------------------
One pure function, :func:`check_config`, takes a STREAM.CREATE/UPDATE
request (a JSON dict) and returns either the config Go stores (a dict in the
key order STREAM.INFO shows) or the API error Go answers. It runs the checks
in Go's order (server/stream.go ``checkStreamCfg``) for the forms the stream
campaign sends: names, sizes, limits, durations, one-way feature combinations,
mirror and source declarations, subjects, the subject transform, republish and
placement. It reads the other streams of the account only through ``lookup``
(name -> stored config dict, or None), for the mirror/source size, direct and
cycle checks. It keeps no state; ``cover`` receives the spec rule ids
(spec/stream.toml) a call went through.

Also here, because the checks need them: the subject helpers (matching,
collision, validity) and the subject-transform mapping for the forms the
campaign configures (``*`` tokens feeding ``{{wildcard(n)}}``, a trailing ``>``).

This module imports nothing from the implementation but ``natsd.api``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from natsd.api import errors as E

__all__ = [
    "DEFAULT_DUPLICATE_WINDOW",
    "check_config",
    "subject_collide",
    "subject_matches",
    "transform",
    "transform_error",
    "valid_subject",
]

#: Go's default duplicate window (StreamDefaultDuplicatesWindow), 2 minutes.
DEFAULT_DUPLICATE_WINDOW = 120 * 10**9

Cover = Callable[..., None]
Lookup = Callable[[str], "dict | None"]

# ------------------------------------------------------------------- subjects


def subject_matches(pattern: str, subject: str) -> bool:
    """Does the (possibly wildcard) ``pattern`` match the literal ``subject``?"""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


def subject_collide(a: str, b: str) -> bool:
    """Could some literal subject match both patterns (Go ``SubjectsCollide``)?"""
    at, bt = a.split("."), b.split(".")
    for i in range(max(len(at), len(bt))):
        x = at[i] if i < len(at) else None
        y = bt[i] if i < len(bt) else None
        if x == ">" or y == ">":
            return x is not None and y is not None  # '>' needs at least one token
        if x is None or y is None:
            return False
        if x != y and x != "*" and y != "*":
            return False
    return True


def valid_subject(subject: str) -> bool:
    """A valid subscription subject: non-empty tokens, '>' only last, no spaces."""
    if not subject or any(c in subject for c in " \t\r\n"):
        return False
    tokens = subject.split(".")
    return all(tokens) and ">" not in tokens[:-1]


_WILD = "{{wildcard("


def transform_error(src: str, dest: str) -> str | None:
    """Why ``src`` -> ``dest`` is not a valid mapping (Go's text after "invalid
    mapping destination: "), or None: a ``{{wildcard(n)}}`` must name one of
    the source's ``*`` tokens."""
    stars = src.split(".").count("*")
    for tok in dest.split("."):
        if tok.startswith(_WILD) and tok.endswith(")}}"):
            n = int(tok[len(_WILD) : -3])
            if not 1 <= n <= stars:
                return f"wildcard index out of range in {tok}: [{n}]"
    return None


def transform(src: str, dest: str, subject: str) -> str | None:
    """A subject transform (Go ``SubjectTransform.Match``): the source's '*'
    tokens feed ``{{wildcard(n)}}`` in the destination, a trailing '>' in both
    carries the remaining tokens. None when the subject does not match."""
    if not subject_matches(src, subject):
        return None
    st, tokens = src.split("."), subject.split(".")
    wild = [t for p, t in zip(st, tokens, strict=False) if p == "*"]
    out = []
    for tok in dest.split("."):
        if tok.startswith(_WILD) and tok.endswith(")}}"):
            out.append(wild[int(tok[len(_WILD) : -3]) - 1])
        elif tok == ">":
            out.extend(tokens[len(st) - 1 :])
        else:
            out.append(tok)
    return ".".join(out)


def _valid_name(name: str) -> bool:
    return bool(name) and not any(c in name for c in " \t\r\n.*>/\\")


# ------------------------------------------------------------------ the check


def _check_origins(req: dict, sdm: int, cover: Cover, lookup: Lookup, max_msg_size: int,
                   out: dict) -> E.ApiError | None:
    """The mirror and sources part of checkStreamCfg (stream.mirror.config,
    stream.sources.config): what a mirror may not combine with, valid and
    unique origin names, filter xor transforms, the origin's max_msg_size, a
    mirror's mirror_direct taken from its origin, and cycles."""
    mirror = req.get("mirror")
    sources = req.get("sources") or []
    if mirror is not None:
        cover("stream.mirror.config")
        if req.get("first_seq"):
            return E.mirror_with_first_seq()
        if req.get("subjects"):
            return E.mirror_with_subjects()
        if sources:
            return E.mirror_with_sources()
        if req.get("allow_msg_counter"):
            return E.mirror_with_counters()
        if req.get("allow_atomic"):
            return E.mirror_with_atomic_publish()
        if req.get("allow_batched"):
            return E.mirror_with_batch_publish()
        if mirror.get("filter_subject") and mirror.get("subject_transforms"):
            return E.mirror_multiple_filters_not_allowed()
        if sdm > 0:
            return E.stream_invalid_config(err="subject delete markers forbidden on mirrors")
        if not _valid_name(mirror.get("name") or ""):
            return E.mirror_invalid_stream_name()
        origin = lookup(mirror["name"])
        if origin is not None:
            if max_msg_size > 0 and origin["max_msg_size"] > 0 and max_msg_size < origin["max_msg_size"]:
                return E.mirror_max_message_size_too_big()
            out["mirror_direct"] = origin["allow_direct"]
    seen: set[str] = set()
    for src in sources:
        cover("stream.sources.config")
        if not _valid_name(src.get("name") or ""):
            return E.source_invalid_stream_name()
        key = f"{src['name']} {src.get('filter_subject') or '>'}"
        if key in seen:
            return E.source_duplicate_detected()
        seen.add(key)
        if src.get("filter_subject") and src.get("subject_transforms"):
            return E.source_multiple_filters_not_allowed()
        if src.get("external") is not None:  # another domain's: not looked up here
            continue
        origin = lookup(src["name"])
        if origin is not None and max_msg_size > 0 and 0 < origin["max_msg_size"] and (
                max_msg_size < origin["max_msg_size"]):
            return E.source_max_message_size_too_big()
    bad = _check_external(sources, cover)
    if bad is not None:
        return bad
    # cycles: a stream that reaches itself through its mirror or sources
    name = req["name"]
    todo = [o["name"] for o in ([mirror] if mirror else []) + list(sources)]
    visited: set[str] = set()
    while todo:
        cur = todo.pop(0)
        if cur == name:
            cover("stream.sources.config")
            return E.stream_invalid_config(err="detected cycle")
        if cur in visited:
            continue
        visited.add(cur)
        other = lookup(cur)
        if other is not None:
            todo += [o["name"] for o in ([other["mirror"]] if other.get("mirror") else [])
                     + list(other.get("sources") or [])]
    return None


def _check_external(sources: list, cover: Cover) -> E.ApiError | None:
    """stream.sources.external, the config part: an external source's deliver
    prefix must be a subject without wildcards (10024; the campaign's local
    origins have no subjects it could overlap), its api prefix too (10052) and
    must not overlap $JS.API (10021)."""
    def literal(subject: str) -> bool:
        return valid_subject(subject) and not any(t in ("*", ">") for t in subject.split("."))

    ext = [src["external"] for src in sources if src.get("external") is not None]
    if ext:
        cover("stream.sources.external")
    for pfx in [e["deliver"] for e in ext if e.get("deliver")]:
        if not literal(pfx):
            return E.stream_invalid_external_delivery_subj(prefix=pfx)
    for pfx in [e["api"] for e in ext if e.get("api")]:
        if not literal(pfx):
            return E.stream_invalid_config(
                err=f"stream external api prefix {json.dumps(pfx)} must be a valid subject without wildcards")
        if subject_collide(pfx, "$JS.API"):
            return E.stream_external_api_overlap(prefix=pfx, subject="$JS.API")
    return None


def check_config(name: str, req: dict, cover: Cover, lookup: Lookup) -> dict | E.ApiError:
    """The config Go stores for a create/update request, or the error it answers:
    the part of ``checkStreamCfg`` the campaign's configs reach, in Go's order.

    stream.config.description: at most 4096 bytes.
    stream.config.limits_normalise: 0 or < -1 limits become -1;
    stream.config.pedantic: with pedantic, < -1 is 10157 instead.
    stream.config.max_age: under 100ms (non-zero) is an error.
    stream.config.duplicate_window.default: 2m, or max_age when shorter, or
    none for a mirror or a stream with sources;
    stream.config.duplicate_window.bounds: not above max_age.
    stream.config.rollup_needs_purge, stream.config.counter_compat,
    stream.config.discard_new_per_subject, stream.config.subject_delete_marker_ttl,
    stream.config.schedules_compat, stream.config.persist_mode.
    stream.mirror.config, stream.sources.config (:func:`_check_origins`).
    stream.config.subjects.default: no subjects (and no origin) -> [name];
    stream.config.subjects.valid / capture_all / reserved: each subject
    valid, not '>' and not in $JS.> without no_ack, no overlap with a later one.
    stream.subject_transform.config: an invalid source is 10155, an invalid
    destination 10156. stream.republish.config: src defaults to '>', a dest
    overlapping the subjects is a cycle, an invalid mapping is refused.
    stream.config.placement: no preferred server.
    stream.config.api_level_metadata: _nats.req.level 0 stored (the reply
    adds _nats.level and _nats.ver); stream.metadata: user metadata kept.
    """
    pedantic = bool(req.get("pedantic"))

    def invalid(text: str) -> E.ApiError:
        return E.stream_invalid_config(err=text)

    cover("stream.config.name")
    if not _valid_name(name):
        return invalid("stream name is required and can not contain '.', '*', '>', '\\', '/'")
    if len(name) > 255:
        return invalid("stream name is too long, maximum allowed is 255")
    if len(req.get("description") or "") > 4096:
        cover("stream.config.description")
        return invalid("stream description is too long, maximum allowed is 4096")
    if sum(len(k) + len(v) for k, v in (req.get("metadata") or {}).items()) > 131072:
        cover("stream.config.metadata")
        return invalid("stream metadata exceeds maximum size of 131072 bytes")
    retention = req.get("retention") or "limits"
    replicas = int(req.get("num_replicas") or 1)
    if replicas > 5:
        cover("stream.config.replicas")
        return invalid("maximum replicas is 5")
    limits = {}
    cover("stream.config.limits_normalise")
    for key in ("max_msgs", "max_msgs_per_subject", "max_bytes", "max_msg_size", "max_consumers"):
        v = int(req.get(key) or 0)
        if v == 0 or v < -1:
            if pedantic and v < -1:
                cover("stream.config.pedantic")
                return E.pedantic(err=f"{key} must be set to -1")
            v = -1
        limits[key] = v
    max_age = int(req.get("max_age") or 0)
    if max_age and max_age < 100_000_000:
        cover("stream.config.max_age")
        return invalid("max age needs to be >= 100ms")
    dup = int(req.get("duplicate_window") or 0)
    has_origin = req.get("mirror") is not None or bool(req.get("sources"))
    if dup == 0 and not has_origin:
        cover("stream.config.duplicate_window.default")
        dup = max_age if max_age and max_age < DEFAULT_DUPLICATE_WINDOW else DEFAULT_DUPLICATE_WINDOW
    if max_age and dup > max_age:
        cover("stream.config.duplicate_window.bounds")
        return invalid("duplicates window can not be larger then max age")
    if req.get("deny_purge") and req.get("allow_rollup_hdrs"):
        cover("stream.config.rollup_needs_purge")
        return invalid("roll-ups require the purge permission")
    discard = (req.get("discard") or "old").lower()
    if req.get("allow_msg_counter") and discard == "new":
        cover("stream.config.counter_compat")
        return invalid("counter stream cannot use discard new")
    if req.get("discard_new_per_subject"):
        cover("stream.config.discard_new_per_subject")
        if discard != "new":
            return invalid("discard new per subject requires discard new policy to be set")
        if limits["max_msgs_per_subject"] <= 0:
            return invalid("discard new per subject requires max msgs per subject > 0")
    sdm = int(req.get("subject_delete_marker_ttl") or 0)
    if 0 < sdm < 1_000_000_000:
        cover("stream.config.subject_delete_marker_ttl")
        return invalid("subject delete marker TTL must be at least 1 second")
    if req.get("allow_msg_schedules") and discard == "new":
        cover("stream.config.schedules_compat")
        return invalid("message scheduling cannot use discard new")
    if req.get("allow_msg_schedules") and pedantic and (req.get("deny_purge") or not req.get("allow_rollup_hdrs")):
        cover("stream.config.schedules_compat")
        return invalid("message scheduling cannot be set if roll-ups are disabled")
    storage = req.get("storage") or "file"
    if req.get("persist_mode") == "async" and storage != "file":
        cover("stream.config.persist_mode")
        return invalid("async persist mode is only supported on file storage")
    origin_out: dict = {}
    bad = _check_origins(req, sdm, cover, lookup, limits["max_msg_size"], origin_out)
    if bad is not None:
        return bad
    subjects = list(req.get("subjects") or [])
    if not subjects:
        if not has_origin:
            cover("stream.config.subjects.default")
            subjects = [name]
    else:
        cover("stream.config.subjects.valid")
        seen: set[str] = set()
        for i, subj in enumerate(subjects):
            if not valid_subject(subj):
                return invalid("invalid subject")
            if subj in seen:
                return invalid("duplicate subjects detected")
            if subj == ">" and not req.get("no_ack"):
                cover("stream.config.subjects.capture_all")
                return invalid("capturing all subjects requires no-ack to be true")
            if not req.get("no_ack") and any(subject_collide(subj, ns) for ns in ("$JS.>", "$JSC.>", "$NRG.>")):
                cover("stream.config.subjects.reserved")
                return invalid("subjects that overlap with jetstream api require no-ack to be true")
            for later in subjects[i + 1 :]:
                if subject_collide(later, subj):
                    return invalid(f"subject {json.dumps(subj)} overlaps with {json.dumps(later)}")
            seen.add(subj)
    tr = req.get("subject_transform")
    if tr:
        cover("stream.subject_transform.config")
        if tr.get("src") and not valid_subject(tr["src"]):
            return E.stream_transform_invalid_source(err=f"invalid subject {tr['src']}")
        why = transform_error(tr.get("src") or ">", tr["dest"])
        if why:
            return E.stream_transform_invalid_destination(err=f"invalid mapping destination: {why}")
    rp = req.get("republish")
    if rp:
        cover("stream.republish.config")
        rp = {**rp, "src": rp.get("src") or ">"}
        if any(subject_collide(rp["dest"], s) for s in subjects):
            return invalid("stream configuration for republish destination forms a cycle")
        if transform_error(rp["src"], rp["dest"]):
            return invalid(f"stream configuration for republish with transform from '{rp['src']}' "
                           f"to '{rp['dest']}' not valid")
    if (req.get("placement") or {}).get("preferred"):
        cover("stream.config.placement")
        return invalid("preferred server not permitted in placement")
    cover("stream.config.api_level_metadata")
    cfg: dict = {"name": name}
    if subjects:
        cfg["subjects"] = subjects
    cfg.update({
        "retention": retention,
        "max_consumers": limits["max_consumers"],
        "max_msgs": limits["max_msgs"],
        "max_bytes": limits["max_bytes"],
        "max_age": max_age,
        "max_msgs_per_subject": limits["max_msgs_per_subject"],
        "max_msg_size": limits["max_msg_size"],
        "discard": discard,
        "storage": storage,
        "num_replicas": replicas,
    })
    if dup:
        cfg["duplicate_window"] = dup
    for key in ("mirror", "sources"):
        if req.get(key):
            cfg[key] = req[key]
    if req.get("compression") not in (None, "", "none"):
        cover("stream.compression")  # s2 compresses file blocks: nothing else changes
    cfg["compression"] = req.get("compression") or "none"
    if req.get("first_seq"):
        cfg["first_seq"] = int(req["first_seq"])
    cfg["allow_direct"] = bool(req.get("allow_direct"))
    cfg["mirror_direct"] = bool(origin_out.get("mirror_direct", req.get("mirror_direct")))
    if req.get("discard_new_per_subject"):
        cfg["discard_new_per_subject"] = True
    for key in ("sealed", "deny_delete", "deny_purge", "allow_rollup_hdrs"):
        cfg[key] = bool(req.get(key))
    cfg["consumer_limits"] = {}
    # subject delete markers turn on message TTLs and rollups (not pedantic)
    cfg["allow_msg_ttl"] = bool(req.get("allow_msg_ttl")) or sdm > 0
    if sdm > 0 and not cfg["allow_rollup_hdrs"]:
        cfg["allow_rollup_hdrs"], cfg["deny_purge"] = True, False
    if sdm > 0:
        cfg["subject_delete_marker_ttl"] = sdm
    for key in ("no_ack", "subject_transform"):
        if req.get(key):
            cfg[key] = req[key]
    if rp:
        cfg["republish"] = rp
    if req.get("allow_msg_counter"):
        cfg["allow_msg_counter"] = True
    if req.get("allow_atomic"):
        cfg["allow_atomic"] = True
    if req.get("allow_msg_schedules"):
        # message schedules turn on rollups (a schedule is a rollup of its subject)
        cover("stream.config.schedules_compat")
        cfg["allow_msg_schedules"] = True
        cfg["allow_rollup_hdrs"], cfg["deny_purge"] = True, False
    if req.get("metadata"):
        cover("stream.metadata")
    # counters, atomic batches and schedules need API level 2, message TTLs 1
    level = ("2" if req.get("allow_msg_counter") or req.get("allow_atomic") or req.get("allow_msg_schedules")
             else "1" if cfg["allow_msg_ttl"] else "0")
    cfg["metadata"] = {**(req.get("metadata") or {}), "_nats.req.level": level}
    return cfg
