"""Stream configuration: normalisation, validation and update rules.

Mirrors nats-server server/stream.go ``checkStreamCfgLocked`` (every check,
in Go's order, so the first failure is Go's first failure),
``configUpdateCheckLocked``, the create-only checks of
server/jetstream_api.go ``jsStreamCreateRequest`` (sealed, mirror_direct),
the standalone replicas check of ``addStreamWithAssignmentAndMode``,
server/jetstream_versioning.go (``_nats.*`` metadata), server/sublist.go
``SubjectsCollide``/``subjectIsSubsetMatch``/``ValidateMapping`` and
server/subject_transform.go (``NewSubjectTransform``, ``Match``).

Theory of operation
-------------------
``check_config(cfg) -> cfg'`` is a pure function: it returns the normalised
config Go would store (defaults filled, limits normalised to -1, duplicate
window defaulted, subjects defaulted to ``[name]``, sealed/rollup/TTL
adjustments) or raises ``ApiErrorException`` with Go's error. The input is
never mutated. ``check_update(old, new) -> cfg'`` re-checks ``new`` and then
applies the update rules against ``old``.

What the caller owns (it needs state this module does not have):

- overlap with OTHER streams of the account (10065): use ``subjects_overlap``;
- account limits (10027 max streams, 10047/10028 reservations, tiers) and the
  per-stream byte limits, except the two ``max_bytes`` checks that take
  their inputs as arguments (``max_bytes_required``, ``max_stream_bytes``);
- the stream name matching the API subject (10056/10128);
- ``_nats.req.level`` before checking (``set_static_metadata``) and the
  dynamic ``_nats.ver``/``_nats.level`` in replies (``with_dynamic_metadata``).

Decoding note: Go decodes an absent field as its zero value, and
``checkStreamCfg`` reads ``duplicate_window == 0`` as "unset" (default 2m, or
max_age when shorter, or 0 for mirrors and sources). The generated
``StreamConfig`` struct defaults ``duplicate_window`` to 2m and
``republish.src`` to ">", so the API layer must call ``zero_absent(cfg, raw)``
with the request's JSON object before ``check_config``.

Spec rules: stream.config.* (all but account_limits and
subjects.overlap_streams, which are the caller's), stream.update.immutable,
stream.update.one_way_flags, stream.update.mirror, stream.update.seal,
stream.subject_transform.config, stream.republish.config,
stream.mirror.config, stream.sources.config.
"""

from __future__ import annotations

import random as _random
import re
from collections.abc import Callable, Iterable, Mapping

import msgspec

from natsd.api import errors as E
from natsd.api._types import Placement, StreamConfig, StreamSource
from natsd.store import StoreLimits
from natsd.subjects.validate import is_literal, is_valid_subject

from . import ApiErrorException
from .headers import go_duration

__all__ = [
    "MAX_NAME_LEN",
    "MAX_DESCRIPTION_LEN",
    "MAX_METADATA_LEN",
    "MAX_REPLICAS",
    "DEFAULT_DUPLICATE_WINDOW",
    "API_LEVEL",
    "check_config",
    "check_update",
    "zero_absent",
    "set_static_metadata",
    "with_dynamic_metadata",
    "store_limits",
    "is_valid_asset_name",
    "subjects_collide",
    "subjects_overlap",
    "is_subset_match",
    "TransformError",
    "SubjectTransform",
    "new_subject_transform",
    "validate_mapping",
]

MAX_NAME_LEN = 255  # JSMaxNameLen
MAX_DESCRIPTION_LEN = 4096  # JSMaxDescriptionLen
MAX_METADATA_LEN = 128 * 1024  # JSMaxMetadataLen
MAX_REPLICAS = 5  # StreamMaxReplicas
DEFAULT_DUPLICATE_WINDOW = 120_000_000_000  # StreamDefaultDuplicatesWindow, 2m
API_LEVEL = 5  # JSApiLevel
_MS100 = 100_000_000
_SECOND = 1_000_000_000
_JS_API_PREFIX = "$JS.API"

_RETENTION = ("limits", "interest", "workqueue")
_DISCARD = ("old", "new")
_COMPRESSION = ("none", "s2")
_STORAGE = ("file", "memory")


def _invalid(text: str) -> ApiErrorException:
    return ApiErrorException(E.stream_invalid_config(err=text))


def _pedantic(text: str) -> ApiErrorException:
    return ApiErrorException(E.pedantic(err=text))


def _blen(s: str) -> int:
    return len(s.encode("utf-8", "surrogateescape"))


def _go_q(s: str) -> str:
    """Go %q for the strings that appear in config errors."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# --- names and subjects -------------------------------------------------------------------------


def is_valid_asset_name(name: str) -> bool:
    """Go isValidAssetName: non-empty, none of space \\t\\r\\n\\f . * > \\ /."""
    return bool(name) and not any(c in " \t\r\n\f.*>\\/" for c in name)


def _analyze(tokens: list[str]) -> tuple[bool, bool]:
    pwc = fwc = False
    for t in tokens:
        if t == "*":
            pwc = True
        elif t == ">":
            fwc = True
    return pwc, fwc


def _subset_tokens(tokens: list[str], test: list[str]) -> bool:
    """Go isSubsetMatchTokenized (a test token starting with '*' matches any token, as Go)."""
    for i, t2 in enumerate(test):
        if i >= len(tokens):
            return False
        if not t2:
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
        if t2[0] != "*" and t1 != t2:
            return False
    return len(tokens) == len(test)


def is_subset_match(subject: str, test: str) -> bool:
    """Go subjectIsSubsetMatch: every subject ``subject`` matches is matched by ``test``."""
    return _subset_tokens(subject.split("."), test.split("."))


def _tokens_can_match(t1: str, t2: str) -> bool:
    if not t1 or not t2:
        return False
    if t1[0] in "*>" or t2[0] in "*>":
        return True
    return t1 == t2


def subjects_collide(subj1: str, subj2: str) -> bool:
    """Go SubjectsCollide: could one literal subject match both?"""
    if subj1 == subj2:
        return True
    toks1, toks2 = subj1.split("."), subj2.split(".")
    pwc1, fwc1 = _analyze(toks1)
    pwc2, fwc2 = _analyze(toks2)
    l1, l2 = not (pwc1 or fwc1), not (pwc2 or fwc2)
    if l1 and l2:
        return False
    if l1 and not l2:
        return _subset_tokens(toks1, toks2)
    if l2 and not l1:
        return _subset_tokens(toks2, toks1)
    if not fwc1 and not fwc2 and len(toks1) != len(toks2):
        return False
    lt1, lt2 = len(toks1), len(toks2)
    if lt1 != lt2 and ((lt1 < lt2 and not fwc1) or (lt2 < lt1 and not fwc2)):
        return False
    return all(_tokens_can_match(a, b) for a, b in zip(toks1, toks2, strict=False))


def subjects_overlap(a: Iterable[str], b: Iterable[str]) -> bool:
    """True when any subject of ``a`` collides with any of ``b`` (Go jsAccount.subjectsOverlap)."""
    bl = list(b)
    return any(subjects_collide(x, y) for x in a for y in bl)


def _is_valid_publish_subject(s: str) -> bool:
    return is_valid_subject(s) and is_literal(s)


# --- subject transforms (server/subject_transform.go) -------------------------------------------


class TransformError(ValueError):
    """A transform that Go's NewSubjectTransform/ValidateMapping rejects; str() is Go's text."""


_ERR_DEST = "invalid mapping destination"
_ERR_DEST_SUBJECT = f"{_ERR_DEST}: invalid transform"
_ERR_UNKNOWN_FN = f"{_ERR_DEST}: unknown function"
_ERR_INDEX_RANGE = f"{_ERR_DEST}: wildcard index out of range"
_ERR_NOT_ENOUGH = f"{_ERR_DEST}: not enough arguments passed to the function"
_ERR_INVALID_ARG = f"{_ERR_DEST}: function argument is invalid or in the wrong format"
_ERR_TOO_MANY = f"{_ERR_DEST}: too many arguments passed to the function"
_ERR_BAD_SUBJECT = "invalid subject"


def _fn(name: str) -> re.Pattern[str]:
    pat = "".join(
        f"[{c.lower()}{c.upper()}]" if c.isalpha() and i in _CAPS.get(name, (0,)) else c
        for i, c in enumerate(name)
    )
    return re.compile(r"{{\s*" + pat + r"\s*\((.*)\)\s*}}")


# Go's regexes accept the first letter of each word in either case ([sS]plit[fF]rom[lL]eft).
_CAPS = {
    "partition": (0,),
    "wildcard": (0,),
    "splitFromLeft": (0, 5, 9),
    "splitFromRight": (0, 5, 9),
    "sliceFromLeft": (0, 5, 9),
    "sliceFromRight": (0, 5, 9),
    "split": (0,),
    "left": (0,),
    "right": (0,),
    "random": (0,),
}
_RE = {name: _fn(name) for name in _CAPS}
_COMMA = re.compile(r",\s*")
_ATOI = re.compile(r"[+-]?[0-9]+\Z")
_MAX_I32 = 2**31 - 1

(
    NO_TRANSFORM,
    BAD,
    PARTITION,
    WILDCARD,
    SPLIT_LEFT,
    SPLIT_RIGHT,
    SLICE_LEFT,
    SLICE_RIGHT,
    SPLIT,
    LEFT,
    RIGHT,
    RANDOM,
) = range(12)


def _atoi(s: str) -> int:
    if not _ATOI.match(s):
        raise ValueError(s)
    return int(s)


def _dest_err(token: str, err: str) -> TransformError:
    return TransformError(f"{err} in {token}" if token else err)


def _fn_args(name: str, token: str) -> list[str] | None:
    m = _RE[name].search(token)
    if m is None:
        return None
    return _COMMA.split(m.group(1))


def _index_int_args(token: str, args: list[str], kind: int) -> tuple[int, list[int], int, str]:
    if len(args) < 2:
        raise _dest_err(token, _ERR_NOT_ENOUGH)
    if len(args) > 2:
        raise _dest_err(token, _ERR_TOO_MANY)
    try:
        i = _atoi(args[0].strip(" "))
        n = _atoi(args[1].strip(" "))
    except ValueError:
        raise _dest_err(token, _ERR_INVALID_ARG) from None
    if not -(2**31) <= n <= _MAX_I32:
        raise _dest_err(token, _ERR_INVALID_ARG)
    return kind, [i], n, ""


def _placeholders(token: str) -> tuple[int, list[int], int, str]:
    """Go indexPlaceHolders: (kind, wildcard indexes, int arg, string arg)."""
    n = len(token)
    if n > 1:
        if token[0] == "$":
            try:
                return WILDCARD, [_atoi(token[1:])], -1, ""
            except ValueError:
                return NO_TRANSFORM, [-1], -1, ""
        if n > 4 and token.startswith("{{") and token.endswith("}}"):
            args = _fn_args("wildcard", token)
            if args is not None:
                if len(args) == 1 and args[0] == "":
                    raise _dest_err(token, _ERR_NOT_ENOUGH)
                if len(args) == 1:
                    try:
                        return WILDCARD, [_atoi(args[0].strip(" "))], -1, ""
                    except ValueError:
                        raise _dest_err(token, _ERR_INVALID_ARG) from None
                raise _dest_err(token, _ERR_TOO_MANY)
            args = _fn_args("partition", token)
            if args is not None:
                try:
                    parts = _atoi(args[0].strip(" "))
                    if parts > _MAX_I32:
                        raise ValueError
                    idx = [_atoi(a.strip(" ")) for a in args[1:]]
                except ValueError:
                    raise _dest_err(token, _ERR_INVALID_ARG) from None
                return PARTITION, idx, parts, ""
            for name, kind in (
                ("splitFromLeft", SPLIT_LEFT),
                ("splitFromRight", SPLIT_RIGHT),
                ("sliceFromLeft", SLICE_LEFT),
                ("sliceFromRight", SLICE_RIGHT),
                ("right", RIGHT),
                ("left", LEFT),
            ):
                args = _fn_args(name, token)
                if args is not None:
                    return _index_int_args(token, args, kind)
            args = _fn_args("split", token)
            if args is not None:
                if len(args) < 2:
                    raise _dest_err(token, _ERR_NOT_ENOUGH)
                if len(args) > 2:
                    raise _dest_err(token, _ERR_TOO_MANY)
                try:
                    i = _atoi(args[0].strip(" "))
                except ValueError:
                    raise _dest_err(token, _ERR_INVALID_ARG) from None
                if " " in args[1] or "." in args[1]:
                    raise _dest_err(token, _ERR_INVALID_ARG)
                return SPLIT, [i], -1, args[1]
            args = _fn_args("random", token)
            if args is not None:
                if len(args) != 1:
                    raise _dest_err(token, _ERR_NOT_ENOUGH)
                try:
                    m = _atoi(args[0].strip(" "))
                    if m > _MAX_I32:
                        raise ValueError
                except ValueError:
                    raise _dest_err(token, _ERR_INVALID_ARG) from None
                return RANDOM, [], m, ""
            raise _dest_err(token, _ERR_UNKNOWN_FN)
    return NO_TRANSFORM, [-1], -1, ""


def _subject_info(subject: str) -> tuple[bool, list[str], int, bool]:
    if not subject:
        return False, [], 0, False
    npwcs, sfwc = 0, False
    tokens = subject.split(".")
    for t in tokens:
        if not t or sfwc:
            return False, [], 0, False
        if t == ">":
            sfwc = True
        elif t == "*":
            npwcs += 1
    return True, tokens, npwcs, sfwc


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


class SubjectTransform:
    """A compiled Go subject transform (src -> dest with mapping functions).

    ``rng`` feeds ``{{random(n)}}``; pass a seeded ``random.Random`` for
    determinism (the default is seeded with 0).
    """

    __slots__ = ("src", "dest", "_stoks", "_dtoks", "_kinds", "_idx", "_ints", "_strs", "_rng")

    def __init__(self, src, dest, stoks, dtoks, kinds, idx, ints, strs, rng=None) -> None:
        self.src, self.dest = src, dest
        self._stoks, self._dtoks = stoks, dtoks
        self._kinds, self._idx, self._ints, self._strs = kinds, idx, ints, strs
        self._rng = rng or _random.Random(0)

    def __repr__(self) -> str:
        return f"SubjectTransform({self.src!r} -> {self.dest!r})"

    def match(self, subject: str) -> str | None:
        """Go Match: the transformed subject, or None when ``subject`` is not in ``src``."""
        if self.src in (">", "") and self.dest in (">", ""):
            return subject
        toks = subject.split(".")
        if any(not t or t == "*" or t == ">" for t in toks):
            return None
        if self.src in ("", ">") or _subset_tokens(toks, self._stoks):
            return self.transform_tokens(toks)
        return None

    def transform_tokens(self, toks: list[str]) -> str:
        if not self._kinds:
            return self.dest
        out: list[str] = []
        last = len(self._kinds) - 1
        for i, kind in enumerate(self._kinds):
            if kind == NO_TRANSFORM:
                if self._dtoks[i] == ">":
                    break
                out.append(self._dtoks[i])
            elif kind == PARTITION:
                n = self._ints[i]
                key = "".join(toks[j] for j in self._idx[i]) if self._idx[i] else ".".join(toks)
                n &= 0xFFFFFFFF  # Go: uint32(numBuckets)
                out.append("0" if n == 0 else str(_fnv32a(key.encode("utf-8", "surrogateescape")) % n))
            elif kind == WILDCARD:
                ix = self._idx[i]
                if ix and len(toks) > ix[0]:
                    out.append(toks[ix[0]])
            elif kind == RANDOM:
                n = self._ints[i]
                r = self._rng.randrange(2**31)
                out.append("0" if n == 0 else str(r % abs(n)))  # Go's % keeps the dividend's sign
            else:
                out.append(self._apply(kind, toks[self._idx[i][0]], self._ints[i], self._strs[i]))
            if i < last:
                out.append(".")
        s = "".join(out)
        if self._dtoks[-1] == ">":
            s += ".".join(toks[len(self._stoks) - 1 :])
        return s

    @staticmethod
    def _apply(kind: int, tok: str, n: int, sep: str) -> str:
        ln = len(tok)
        if kind == SPLIT_LEFT:
            return f"{tok[:n]}.{tok[n:]}" if 0 < n < ln else tok
        if kind == SPLIT_RIGHT:
            return f"{tok[: ln - n]}.{tok[ln - n :]}" if 0 < n < ln else tok
        if kind == SLICE_LEFT:
            if not 0 < n < ln:
                return tok
            parts = [tok[i : i + n] for i in range(0, ln, n)]
            return ".".join(parts)
        if kind == SLICE_RIGHT:
            if not 0 < n < ln:
                return tok
            rem = ln % n
            parts = ([tok[:rem]] if rem else []) + [tok[i : i + n] for i in range(rem, ln, n)]
            return ".".join(parts)
        if kind == LEFT:
            return tok[:n] if 0 < n < ln else tok
        if kind == RIGHT:
            return tok[ln - n :] if 0 < n < ln else tok
        if kind == SPLIT:
            splits = tok.split(sep) if sep else list(tok)  # Go strings.Split(s, "") splits runes
            b: list[str] = []
            for j, part in enumerate(splits):
                if part:
                    b.append(part)
                if j < len(splits) - 1 and splits[j + 1] and not (j == 0 and part == ""):
                    b.append(".")
            return "".join(b)
        return tok


def new_subject_transform(src: str, dest: str, rng: _random.Random | None = None) -> SubjectTransform | None:
    """Go NewSubjectTransform (non-strict): None when ``dest`` is empty; TransformError when invalid."""
    if not dest:
        return None
    if not src:
        src = ">"
    sv, stoks, npwcs, has_fwc = _subject_info(src)
    dv, dtoks, dnpwcs, dhas_fwc = _subject_info(dest)
    if not sv or not dv or dnpwcs > 0 or has_fwc != dhas_fwc:
        raise TransformError(_ERR_BAD_SUBJECT)
    kinds: list[int] = []
    idx: list[list[int]] = []
    ints: list[int] = []
    strs: list[str] = []
    if npwcs > 0 or has_fwc:
        sti: dict[int, int] = {}
        for i, t in enumerate(stoks):
            if t == "*":
                sti[len(sti) + 1] = i
        for t in dtoks:
            kind, wix, n, sarg = _placeholders(t)
            if kind == NO_TRANSFORM:
                kinds.append(NO_TRANSFORM), idx.append([-1]), ints.append(-1), strs.append("")
            elif kind == RANDOM:
                kinds.append(RANDOM), idx.append([]), ints.append(n), strs.append("")
            else:
                stis = []
                for w in wix:
                    if w > npwcs:
                        raise _dest_err(f"{t}: [{w}]", _ERR_INDEX_RANGE)
                    stis.append(sti.get(w, 0))
                kinds.append(kind), idx.append(stis), ints.append(n), strs.append(sarg)
    else:
        for t in dtoks:
            kind, _, n, _ = _placeholders(t)
            if kind == NO_TRANSFORM:
                kinds.append(NO_TRANSFORM), idx.append([-1]), ints.append(-1), strs.append("")
            elif kind in (RANDOM, PARTITION):
                kinds.append(kind), idx.append([]), ints.append(n), strs.append("")
            else:
                raise _dest_err(t, _ERR_INDEX_RANGE)
    return SubjectTransform(src, dest, stoks, dtoks, kinds, idx, ints, strs, rng)


# Go main's ValidateMapping does not list left/right, but v2.15.1 accepts them [obs].
_VALIDATE_FNS = tuple(_CAPS)


def validate_mapping(src: str, dest: str) -> str | None:
    """Go ValidateMapping: None when valid, else the error text."""
    if not dest:
        return None
    sfwc = False
    for t in dest.split("."):
        n = len(t)
        if n == 0 or sfwc:
            return str(_dest_err(t, _ERR_DEST_SUBJECT))
        if n > 4 and t.startswith("{{") and t.endswith("}}"):
            if not any(_RE[f].search(t) for f in _VALIDATE_FNS):
                return str(_dest_err(t, _ERR_UNKNOWN_FN))
            continue
        if t == ">":
            sfwc = True
        elif any(c in t for c in "\t\n\f\r "):
            return _ERR_DEST_SUBJECT
    try:
        new_subject_transform(src, dest)
    except TransformError as e:
        return str(e)
    return None


# --- metadata (server/jetstream_versioning.go) --------------------------------------------------

_REQ_LEVEL = "_nats.req.level"
_SRV_VER = "_nats.ver"
_SRV_LEVEL = "_nats.level"


def _required_api_level(cfg: StreamConfig) -> int:
    level = 0
    if cfg.allow_msg_ttl or cfg.subject_delete_marker_ttl > 0:
        level = max(level, 1)
    if cfg.allow_msg_counter or cfg.allow_atomic or cfg.allow_msg_schedules or cfg.persist_mode == "async":
        level = max(level, 2)
    if cfg.allow_batched:
        level = max(level, 4)
    return level


def set_static_metadata(cfg: StreamConfig) -> StreamConfig:
    """Go setStaticStreamMetadata: drop dynamic keys, set ``_nats.req.level``."""
    md = {k: v for k, v in (cfg.metadata or {}).items() if k not in (_SRV_VER, _SRV_LEVEL)}
    md[_REQ_LEVEL] = str(_required_api_level(cfg))
    return msgspec.structs.replace(cfg, metadata=md)


def with_dynamic_metadata(cfg: StreamConfig, version: str, level: int = API_LEVEL) -> StreamConfig:
    """Go setDynamicStreamMetadata: a copy with ``_nats.ver`` and ``_nats.level`` added."""
    md = dict(cfg.metadata or {})
    md[_SRV_VER] = version
    md[_SRV_LEVEL] = str(level)
    return msgspec.structs.replace(cfg, metadata=md)


def zero_absent(cfg: StreamConfig, raw: Mapping[str, object]) -> StreamConfig:
    """Give fields absent from the request JSON Go's zero value where checkStreamCfg can tell.

    ``raw`` is the request's decoded JSON object. ``duplicate_window`` absent
    becomes 0 ("unset"); a republish object without ``src`` gets ``src`` "".
    """
    changes: dict[str, object] = {}
    if "duplicate_window" not in raw:
        changes["duplicate_window"] = 0
    rp = raw.get("republish")
    if cfg.republish is not None and isinstance(rp, Mapping) and "src" not in rp:
        changes["republish"] = msgspec.structs.replace(cfg.republish, src="")
    return msgspec.structs.replace(cfg, **changes) if changes else cfg


def store_limits(cfg: StreamConfig) -> StoreLimits:
    """The limits a store enforces for ``cfg``."""
    return StoreLimits(
        max_msgs=cfg.max_msgs,
        max_bytes=cfg.max_bytes,
        max_age=cfg.max_age,
        max_msgs_per_subject=cfg.max_msgs_per_subject,
        discard="new" if cfg.discard == "new" else "old",
        max_msg_size=cfg.max_msg_size,
        discard_new_per_subject=cfg.discard_new_per_subject,
    )


# --- checkStreamCfg --------------------------------------------------------------------------------

Lookup = Callable[[str], "StreamConfig | None"]


def _compose_iname(src: StreamSource) -> str:
    """Go composeIName (the API prefix stands in for its hash: only equality matters)."""
    iname = src.name
    if src.external is not None:
        iname += ":" + src.external.api
    if src.consumer is not None:
        iname += ":C=" + src.consumer.name
    if not src.subject_transforms:
        source, dest = src.filter_subject or ">", ">"
    else:
        source = "\f".join(t.src or ">" for t in src.subject_transforms)
        dest = "\f".join(t.dest or ">" for t in src.subject_transforms)
    return " ".join((iname, source, dest))


def _compose_cname(src: StreamSource) -> str:
    iname = src.name
    if src.external is not None:
        iname += ":" + src.external.api
    return " ".join((iname, src.consumer.name if src.consumer is not None else ""))


def _check_durable_consumer(src: StreamSource, err: Callable[[], E.ApiError]) -> None:
    c = src.consumer
    if c is None:
        return
    if not is_valid_asset_name(c.name):
        raise ApiErrorException(err())
    if not is_literal(c.deliver_subject) or not is_valid_subject(c.deliver_subject):
        raise ApiErrorException(err())
    if src.opt_start_seq != 0 or src.opt_start_time is not None:
        raise ApiErrorException(err())
    if src.filter_subject:
        raise ApiErrorException(err())


def check_config(
    cfg: StreamConfig,
    *,
    pedantic: bool = False,
    standalone: bool = True,
    create: bool = False,
    max_duplicate_window: int = 0,
    lookup: Lookup | None = None,
    max_bytes_required: bool = False,
    max_stream_bytes: int = 0,
) -> StreamConfig:
    """Go checkStreamCfg: the normalised config, or ApiErrorException with Go's error.

    ``create`` adds the CREATE-only checks Go makes before (sealed,
    mirror_direct without mirror); ``standalone`` adds Go's R>1 rejection
    (10074) after the check; ``max_duplicate_window`` is the server's
    ``max_duplicate_window`` (0 = none); ``lookup(name)`` returns the config of
    another stream of the account (for mirror/source size, direct and cycle
    checks); ``max_bytes_required``/``max_stream_bytes`` are the account's
    (10113/10122).
    """
    if create:
        if cfg.sealed:
            raise _invalid("stream configuration for create can not be sealed")
        if cfg.mirror_direct and cfg.mirror is None:
            raise _invalid("stream has no mirror but does have mirror direct")
    out = _check(cfg, pedantic, max_duplicate_window, lookup, max_bytes_required, max_stream_bytes)
    if standalone and out.num_replicas > 1:
        raise ApiErrorException(E.stream_replicas_not_supported())
    return out


def _check(
    config: StreamConfig,
    pedantic: bool,
    max_dw: int,
    lookup: Lookup | None,
    max_bytes_required: bool,
    max_stream_bytes: int,
) -> StreamConfig:
    if not is_valid_asset_name(config.name):
        raise _invalid("stream name is required and can not contain '.', '*', '>', '\\', '/'")
    if _blen(config.name) > MAX_NAME_LEN:
        raise _invalid(f"stream name is too long, maximum allowed is {MAX_NAME_LEN}")
    if _blen(config.description) > MAX_DESCRIPTION_LEN:
        raise _invalid(f"stream description is too long, maximum allowed is {MAX_DESCRIPTION_LEN}")
    if sum(_blen(k) + _blen(v) for k, v in (config.metadata or {}).items()) > MAX_METADATA_LEN:
        raise _invalid(f"stream metadata exceeds maximum size of {MAX_METADATA_LEN} bytes")

    c: dict[str, object] = {}  # the changes to apply to the copy
    # "" is Go's zero value of each enum: limits, old, none (a request decoded
    # with Go zero values has "" for an absent enum field).
    c["retention"] = retention = config.retention or "limits"
    c["discard"] = discard = (config.discard or "old").lower()  # Go decodes discard case-insensitively
    c["compression"] = config.compression or "none"
    if retention not in _RETENTION:
        raise _invalid("invalid retention")
    if discard not in _DISCARD:
        raise _invalid("invalid discard policy")
    if c["compression"] not in _COMPRESSION:
        raise _invalid("invalid compression")
    storage = config.storage or "file"
    if storage not in _STORAGE:
        raise _invalid("invalid storage type")
    c["storage"] = storage
    if config.persist_mode in ("", "default"):
        c["persist_mode"] = ""  # Go's zero value, DefaultPersistMode: omitted from JSON
    elif config.persist_mode != "async":
        raise _invalid("invalid persist mode")

    replicas = config.num_replicas or 1
    if replicas > MAX_REPLICAS:
        raise _invalid(f"maximum replicas is {MAX_REPLICAS}")
    if replicas < 0:
        raise ApiErrorException(E.replicas_count_cannot_be_negative())
    c["num_replicas"] = replicas

    for fld in ("max_msgs", "max_msgs_per_subject", "max_bytes", "max_msg_size", "max_consumers"):
        v = getattr(config, fld)
        if v == 0 or v < -1:
            if pedantic and v < -1:
                raise _pedantic(f"{fld} must be set to -1")
            c[fld] = -1
    max_age = config.max_age
    if max_age < 0:
        raise _invalid("max age can not be negative")
    if max_age != 0 and max_age < _MS100:
        raise _invalid("max age needs to be >= 100ms")

    dw = config.duplicate_window
    no_origin = config.mirror is None and not config.sources
    if dw == 0 and no_origin:
        max_window = DEFAULT_DUPLICATE_WINDOW
        if max_dw > 0 and max_window > max_dw:
            if pedantic:
                raise _pedantic("duplicate window limits are higher than current limits")
            max_window = max_dw
        if max_age != 0 and max_age < max_window:
            if pedantic:
                raise _pedantic("duplicate window cannot be bigger than max age")
            dw = max_age
        else:
            dw = max_window
    if dw < 0:
        raise _invalid("duplicates window can not be negative")
    if max_age != 0 and dw > max_age:
        raise _invalid("duplicates window can not be larger then max age")
    if max_dw > 0 and dw > max_dw:
        raise _invalid(f"duplicates window can not be larger then server limit of {go_duration(max_dw)}")
    if 0 < dw < _MS100:
        raise _invalid("duplicates window needs to be >= 100ms")
    c["duplicate_window"] = dw

    allow_rollup, deny_purge, allow_ttl = config.allow_rollup_hdrs, config.deny_purge, config.allow_msg_ttl
    if deny_purge and allow_rollup:
        raise _invalid("roll-ups require the purge permission")

    if config.allow_msg_counter:
        if discard == "new":
            raise _invalid("counter stream cannot use discard new")
        if allow_ttl:
            raise _invalid("counter stream cannot use message TTLs")
        if config.allow_msg_schedules:
            raise _invalid("counter stream cannot use message schedules")
        if retention != "limits":
            raise _invalid("counter stream can only use limits retention")

    max_per = c.get("max_msgs_per_subject", config.max_msgs_per_subject)
    if config.discard_new_per_subject:
        if discard != "new":
            raise _invalid("discard new per subject requires discard new policy to be set")
        if max_per <= 0:  # type: ignore[operator]
            raise _invalid("discard new per subject requires max msgs per subject > 0")

    sdm = config.subject_delete_marker_ttl
    if sdm > 0:
        if sdm < _SECOND:
            raise _invalid("subject delete marker TTL must be at least 1 second")
        if not allow_ttl:
            if pedantic:
                raise _invalid("subject delete marker cannot be set if message TTLs are disabled")
            allow_ttl = True
        if not allow_rollup:
            if pedantic:
                raise _invalid("subject delete marker cannot be set if roll-ups are disabled")
            allow_rollup, deny_purge = True, False
    elif sdm < 0:
        raise _invalid("subject delete marker TTL must not be negative")

    if config.allow_msg_schedules:
        if discard == "new":
            raise _invalid("message scheduling cannot use discard new")
        if not allow_rollup:
            if pedantic:
                raise _invalid("message scheduling cannot be set if roll-ups are disabled")
            allow_rollup, deny_purge = True, False
    c.update(allow_rollup_hdrs=allow_rollup, deny_purge=deny_purge, allow_msg_ttl=allow_ttl)

    if c.get("persist_mode", config.persist_mode) == "async":
        if storage != "file":
            raise _invalid("async persist mode is only supported on file storage")
        if replicas > 1:
            raise _invalid("async persist mode is not supported on replicated streams")
        if config.allow_atomic:
            raise _invalid("async persist mode is not supported with atomic batch publish")

    def get(name: str) -> StreamConfig | None:
        return lookup(name) if lookup is not None else None

    max_msg_size = c.get("max_msg_size", config.max_msg_size)
    stream_subs: list[str] = []
    deliver_prefixes: list[str] = []
    api_prefixes: list[str] = []

    mirror = config.mirror
    if mirror is not None:
        if config.first_seq > 0:
            raise ApiErrorException(E.mirror_with_first_seq())
        if config.subjects:
            raise ApiErrorException(E.mirror_with_subjects())
        if config.sources:
            raise ApiErrorException(E.mirror_with_sources())
        if config.allow_msg_counter:
            raise ApiErrorException(E.mirror_with_counters())
        if config.allow_atomic:
            raise ApiErrorException(E.mirror_with_atomic_publish())
        if config.allow_batched:
            raise ApiErrorException(E.mirror_with_batch_publish())
        if config.allow_msg_schedules:
            raise ApiErrorException(E.mirror_with_msg_schedules())
        _check_durable_consumer(mirror, E.mirror_durable_consumer_cfg_invalid)
        if mirror.filter_subject and mirror.subject_transforms:
            raise ApiErrorException(E.mirror_multiple_filters_not_allowed())
        if sdm > 0:
            raise _invalid("subject delete markers forbidden on mirrors")
        trs = mirror.subject_transforms or []
        for i, tr in enumerate(trs):
            if tr.src and not is_valid_subject(tr.src):
                raise ApiErrorException(E.mirror_invalid_subject_filter(err=f"{_ERR_BAD_SUBJECT} {tr.src}"))
            err = validate_mapping(tr.src, tr.dest)
            if err is not None:
                raise ApiErrorException(E.mirror_invalid_transform_destination(err=err))
            for j, other in enumerate(trs):
                if i != j and subjects_collide(tr.src, other.src):
                    raise ApiErrorException(E.mirror_overlapping_subject_filters())
        if mirror.external is None:
            if not is_valid_asset_name(mirror.name):
                raise ApiErrorException(E.mirror_invalid_stream_name())
            origin = get(mirror.name)
            if origin is not None:
                stream_subs.extend(origin.subjects or [])
                if max_msg_size > 0 and origin.max_msg_size > 0 and max_msg_size < origin.max_msg_size:  # type: ignore[operator]
                    raise ApiErrorException(E.mirror_max_message_size_too_big())
                if pedantic and config.mirror_direct != origin.allow_direct:
                    raise _pedantic("origin stream has direct get set, mirror has it disabled")
                c["mirror_direct"] = origin.allow_direct
        else:
            if mirror.external.deliver:
                deliver_prefixes.append(mirror.external.deliver)
            if mirror.external.api:
                api_prefixes.append(mirror.external.api)

    sources = config.sources or []
    if sources and config.allow_msg_schedules:
        raise ApiErrorException(E.source_with_msg_schedules())
    inames: set[str] = set()
    cnames: set[str] = set()
    for src in sources:
        if src is None or not is_valid_asset_name(src.name):
            raise ApiErrorException(E.source_invalid_stream_name())
        iname = _compose_iname(src)
        if iname in inames:
            raise ApiErrorException(E.source_duplicate_detected())
        inames.add(iname)
        if src.filter_subject and src.subject_transforms:
            raise ApiErrorException(E.source_multiple_filters_not_allowed())
        trs = src.subject_transforms or []
        for tr in trs:
            if tr.src and not is_valid_subject(tr.src):
                raise ApiErrorException(E.source_invalid_subject_filter(err=f"{_ERR_BAD_SUBJECT} {tr.src}"))
            err = validate_mapping(tr.src, tr.dest)
            if err is not None:
                raise ApiErrorException(E.source_invalid_transform_destination(err=err))
        for i, tr in enumerate(trs):
            for j, other in enumerate(trs):
                if i != j and is_subset_match(tr.src, other.src):
                    raise ApiErrorException(E.source_overlapping_subject_filters())
        if src.consumer is not None:
            _check_durable_consumer(src, E.source_durable_consumer_cfg_invalid)
            cname = _compose_cname(src)
            if cname in cnames:
                raise ApiErrorException(E.source_durable_consumer_duplicate_detected())
            cnames.add(cname)
        if src.external is None:
            origin = get(src.name)
            if origin is not None:
                stream_subs.extend(origin.subjects or [])
                if max_msg_size > 0 and origin.max_msg_size > 0 and max_msg_size < origin.max_msg_size:  # type: ignore[operator]
                    raise ApiErrorException(E.source_max_message_size_too_big())
        else:
            if src.external.deliver:
                deliver_prefixes.append(src.external.deliver)
            if src.external.api:
                api_prefixes.append(src.external.api)

    for pfx in deliver_prefixes:
        if not _is_valid_publish_subject(pfx):
            raise ApiErrorException(E.stream_invalid_external_delivery_subj(prefix=pfx))
        for sub in stream_subs:
            if subjects_collide(sub, f"{pfx}.{sub}"):
                raise ApiErrorException(E.stream_external_del_prefix_overlaps(prefix=pfx, subject=sub))
    for pfx in api_prefixes:
        if not _is_valid_publish_subject(pfx):
            raise _invalid(
                f"stream external api prefix {_go_q(pfx)} must be a valid subject without wildcards"
            )
        if subjects_collide(pfx, _JS_API_PREFIX):
            raise ApiErrorException(E.stream_external_api_overlap(prefix=pfx, subject=_JS_API_PREFIX))

    _check_cycles(config, get)

    subjects = list(config.subjects or [])
    if not subjects:
        if mirror is None and not sources:
            subjects = [config.name]
    else:
        if mirror is not None:
            raise ApiErrorException(E.mirror_with_subjects())
        seen: set[str] = set()
        for i, subj in enumerate(subjects):
            if not is_valid_subject(subj):
                raise _invalid("invalid subject")
            if subj in seen:
                raise _invalid("duplicate subjects detected")
            if subj == ">":
                if not config.no_ack:
                    raise _invalid("capturing all subjects requires no-ack to be true")
                if replicas != 1:
                    raise _invalid("capturing all subjects requires replicas of 1")
            if not config.no_ack:
                for ns in ("$JS.>", "$JSC.>", "$NRG.>"):
                    if subjects_collide(subj, ns) and not is_subset_match(subj, "$JS.EVENT.>"):
                        raise _invalid("subjects that overlap with jetstream api require no-ack to be true")
                if subjects_collide(subj, "$SYS.>") and not is_subset_match(subj, "$SYS.ACCOUNT.>"):
                    raise _invalid("subjects that overlap with system api require no-ack to be true")
            for other in subjects[i + 1 :]:
                if subjects_collide(other, subj):
                    raise _invalid(f"subject {_go_q(subj)} overlaps with {_go_q(other)}")
            seen.add(subj)
    c["subjects"] = subjects or None

    if not subjects and not sources and mirror is None:
        raise _invalid("stream needs at least one configured subject or be a source/mirror")

    max_bytes = c.get("max_bytes", config.max_bytes)
    if max_bytes_required and max_bytes <= 0:  # type: ignore[operator]
        raise ApiErrorException(E.stream_max_bytes_required())
    if max_stream_bytes > 0 and max_bytes > max_stream_bytes:  # type: ignore[operator]
        raise ApiErrorException(E.stream_max_stream_bytes_exceeded())

    st = config.subject_transform
    if st is not None:
        if st.src and not is_valid_subject(st.src):
            raise ApiErrorException(E.stream_transform_invalid_source(err=f"{_ERR_BAD_SUBJECT} {st.src}"))
        err = validate_mapping(st.src, st.dest)
        if err is not None:
            raise ApiErrorException(E.stream_transform_invalid_destination(err=err))

    rp = config.republish
    if rp is not None:
        rsrc, rdest = rp.src, rp.dest
        if not rsrc:
            if pedantic:
                raise _pedantic("republish source can not be empty")
            rsrc = ">"
        if rdest == ">" and rsrc == ">" and st is not None and len(subjects) == 1 and st.src == subjects[0]:
            if pedantic:
                raise _pedantic("implicit republish based on subject transform")
            rsrc = rdest = st.dest
        if any(subjects_collide(rdest, s) for s in subjects):
            raise _invalid("stream configuration for republish destination forms a cycle")
        try:
            new_subject_transform(rsrc, rdest)
        except TransformError:
            raise _invalid(
                f"stream configuration for republish with transform from '{rsrc}' to '{rdest}' not valid"
            ) from None
        c["republish"] = msgspec.structs.replace(rp, src=rsrc, dest=rdest)

    pl = config.placement
    if pl is not None and pl == Placement():
        c["placement"] = None
    elif pl is not None and pl.preferred:
        raise _invalid("preferred server not permitted in placement")

    return msgspec.structs.replace(config, **c)


def _check_cycles(cfg: StreamConfig, get: Callable[[str], StreamConfig | None]) -> None:
    """Go's source/mirror cycle detection over the streams ``get`` can see."""

    def overlaps(subjects: list[str], flt: str) -> bool:
        if not flt:
            return True
        return any(subjects_collide(s, flt) for s in subjects)

    to_visit = [cfg]
    visited: set[str] = set()
    steps = 0
    while to_visit:
        steps += 1
        if steps > 100_000:  # a cycle Go would chase forever; cannot happen with valid state
            break
        cur = to_visit.pop(0)
        visited.add(cur.name)
        for src in cur.sources or []:
            if src.external is not None:
                continue
            if src.name in visited:
                if overlaps(cur.subjects or [], src.filter_subject):
                    raise _invalid("detected cycle")
            else:
                other = get(src.name)
                if other is not None:
                    to_visit.append(other)
        m = cur.mirror
        if m is not None and m.external is None:
            if m.name in visited:
                raise _invalid("detected cycle")
            other = get(m.name)
            if other is not None:
                to_visit.append(other)


# --- configUpdateCheck --------------------------------------------------------------------------------


def check_update(
    old: StreamConfig,
    new: StreamConfig,
    *,
    pedantic: bool = False,
    standalone: bool = True,
    max_duplicate_window: int = 0,
    lookup: Lookup | None = None,
    max_bytes_required: bool = False,
    max_stream_bytes: int = 0,
) -> StreamConfig:
    """Go configUpdateCheck: the normalised new config, or ApiErrorException.

    ``old`` is the stream's current (checked) config. Account reservations for
    a larger max_bytes, overlap with other streams (10065) and consumer limit
    violations are the caller's.
    """
    cfg = _check(new, pedantic, max_duplicate_window, lookup, max_bytes_required, max_stream_bytes)
    if cfg.name != old.name:
        raise _invalid("stream configuration name must match original")
    if standalone and cfg.num_replicas > 1:
        raise ApiErrorException(E.stream_replicas_not_supported())
    if cfg.storage != old.storage:
        raise _invalid("stream configuration update can not change storage type")
    if cfg.retention != old.retention and "workqueue" in (old.retention, cfg.retention):
        raise _invalid("stream configuration update can not change retention policy to/from workqueue")
    if not cfg.sealed and old.sealed:
        raise _invalid("stream configuration update can not unseal a sealed stream")
    if not cfg.deny_delete and old.deny_delete:
        raise _invalid("stream configuration update can not cancel deny message deletes")
    if not cfg.deny_purge and old.deny_purge:
        raise _invalid("stream configuration update can not cancel deny purge")
    if cfg.mirror is not None and cfg.mirror != old.mirror:
        raise ApiErrorException(E.stream_mirror_not_updatable())
    if cfg.discard_new_per_subject:
        if cfg.discard != "new":
            raise _invalid("discard new per subject requires discard new policy to be set")
        if cfg.max_msgs_per_subject <= 0:
            raise _invalid("discard new per subject requires max msgs per subject > 0")
    if old.allow_msg_ttl and not cfg.allow_msg_ttl:
        raise _invalid("message TTL status can not be disabled")
    if cfg.allow_msg_counter != old.allow_msg_counter:
        raise _invalid("stream configuration update can not change message counter setting")
    if old.allow_msg_schedules and not cfg.allow_msg_schedules:
        raise _invalid("message schedules can not be disabled")
    if (old.persist_mode or "default") != (cfg.persist_mode or "default"):
        raise _invalid("stream configuration update can not change persist mode")
    if cfg.sealed:
        cfg = msgspec.structs.replace(
            cfg, max_age=0, discard="new", deny_delete=True, deny_purge=True, allow_rollup_hdrs=False
        )
    return cfg
