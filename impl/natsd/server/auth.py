"""Client authentication and publish/subscribe permissions (sans-IO).

Mirrors nats-server for the non-JWT, non-account-resolver case:

- server/auth.go: ``configureAuthorization``, ``processClientOrLeafAuthentication``
  (CLIENT kind), ``isBcrypt``/``comparePasswords``, ``validateNoAuthUser`` and
  ``validatePermissionSubjects`` (via opts.go ``checkPermSubjectArray``).
- server/nkey.go: ``nonceRequired``, ``generateNonce``.
- server/client.go: ``setPermissions``, ``pubAllowedFullCheck``,
  ``canSubscribeInternal``, ``queueMatches``, ``checkDenySub`` and the
  ``*PermissionViolation`` error texts.
- github.com/nats-io/nkeys: public key / seed encoding (base32 without padding of
  prefix byte(s) + 32-byte Ed25519 key + CRC16/XMODEM little endian).

Nothing here touches sockets or the event loop: the connection code calls
``Authenticator.check`` with the parsed CONNECT object and the nonce it put in
INFO, and consults ``CompiledPermissions`` on PUB/SUB/delivery.

Not implemented (callers must not rely on them): JWT/operator mode, accounts
other than by name, auth callout, ``allow_responses``, allowed connection types,
proxies, and full TLS certificate mapping (a name-lookup hook only, see
``Authenticator.check``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import bcrypt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from natsd.server.options import NkeyUser, Options, Permissions, User
from natsd.subjects.validate import is_literal, is_valid_subject, subject_matches_filter, tokens_match

__all__ = [
    "AUTH_VIOLATION",
    "GLOBAL_ACCOUNT",
    "SYS_QUEUE_GROUP",
    "AuthResult",
    "Authenticator",
    "CompiledPermissions",
    "compile_permissions",
    "crc16",
    "decode_public_key",
    "decode_seed",
    "encode_public_key",
    "encode_seed",
    "is_reserved_publish",
    "is_reserved_reply",
    "is_valid_public_user_key",
    "new_nonce",
    "go_quote",
    "pub_violation",
    "public_key_from_seed",
    "reply_violation",
    "sign_nonce",
    "sub_violation",
    "validate_auth",
    "verify_nonce",
]

AUTH_VIOLATION = "Authorization Violation"
GLOBAL_ACCOUNT = "$G"
# client.go sysGroup: a CLIENT may never join this queue group, permissions or not.
SYS_QUEUE_GROUP = "_sys_"
# What client.go getRawAuthUser reports for token auth (never the token itself).
_REDACTED = "[REDACTED]"

# ---------------------------------------------------------------------------
# nkeys
# ---------------------------------------------------------------------------

# nkeys prefix bytes: the letter is what the first base32 character becomes.
_PREFIX_BYTES: dict[str, int] = {
    "S": 18 << 3,  # seed
    "P": 15 << 3,  # private key
    "N": 13 << 3,  # server
    "C": 2 << 3,  # cluster
    "O": 14 << 3,  # operator
    "A": 0,  # account
    "U": 20 << 3,  # user
    "X": 23 << 3,  # curve (x25519)
}
_PREFIX_LETTERS = {v: k for k, v in _PREFIX_BYTES.items()}
# nkeys checkValidPublicPrefixByte.
_PUBLIC_PREFIXES = frozenset("NCOAUX")
_KEY_LEN = 32


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM (poly 0x1021, init 0), the checksum nkeys appends."""
    crc = 0
    table = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ b) & 0xFF]
    return crc


def _encode(raw: bytes) -> str:
    full = raw + crc16(raw).to_bytes(2, "little")
    return base64.b32encode(full).decode("ascii").rstrip("=")


def _decode(src: str) -> bytes:
    """base32 (no padding) -> payload without the CRC; ValueError on any defect."""
    if not isinstance(src, str) or not src or "=" in src:
        raise ValueError("invalid nkey encoding")
    try:
        raw = base64.b32decode(src + "=" * (-len(src) % 8), casefold=False)
    except (binascii.Error, ValueError) as e:
        raise ValueError("invalid nkey encoding") from e
    if len(raw) < 4:
        raise ValueError("invalid nkey encoding")
    body, crc = raw[:-2], int.from_bytes(raw[-2:], "little")
    if crc16(body) != crc:
        raise ValueError("invalid nkey checksum")
    return body


def encode_public_key(raw32: bytes, prefix: str = "U") -> str:
    """Public nkey string ("U...", "N...", ...) for a raw 32-byte Ed25519 public key."""
    if prefix not in _PUBLIC_PREFIXES:
        raise ValueError(f"invalid public prefix {prefix!r}")
    if len(raw32) != _KEY_LEN:
        raise ValueError("public key must be 32 bytes")
    return _encode(bytes([_PREFIX_BYTES[prefix]]) + bytes(raw32))


def decode_public_key(s: str, prefix: str | None = None) -> bytes:
    """Raw 32-byte key of a public nkey; ``prefix`` (e.g. "U") pins the key type.

    Raises ValueError on bad base32, CRC, prefix (seeds/private keys are not public
    keys) or length. nkeys itself does not check the length; we do, because every
    caller feeds the result to Ed25519.
    """
    body = _decode(s)
    letter = _PREFIX_LETTERS.get(body[0])
    if letter is None or letter not in _PUBLIC_PREFIXES:
        raise ValueError("invalid public key prefix")
    if prefix is not None and letter != prefix:
        raise ValueError(f"expected a {prefix!r} public key, got {letter!r}")
    key = body[1:]
    if len(key) != _KEY_LEN:
        raise ValueError("invalid public key length")
    return key


def is_valid_public_user_key(s: str) -> bool:
    """nkeys IsValidPublicUserKey (config check: "Not a valid public nkey for a user")."""
    try:
        decode_public_key(s, "U")
    except ValueError:
        return False
    return True


def encode_seed(raw32: bytes, prefix: str = "U") -> str:
    """Seed string ("SU...", "SO...") for a 32-byte Ed25519 seed of key type ``prefix``.

    nkeys packs the 'S' prefix and the type's 5 high bits into byte 0 and the
    type's low 3 bits into the top of byte 1, so the text starts "S" + type letter.
    """
    if prefix not in _PUBLIC_PREFIXES:
        raise ValueError(f"invalid seed type {prefix!r}")
    if len(raw32) != _KEY_LEN:
        raise ValueError("seed must be 32 bytes")
    pb = _PREFIX_BYTES[prefix]
    b1 = _PREFIX_BYTES["S"] | (pb >> 5)
    b2 = (pb & 31) << 3
    return _encode(bytes([b1, b2]) + bytes(raw32))


def decode_seed(s: str) -> tuple[str, bytes]:
    """(type letter, raw 32-byte seed) of a seed string; ValueError when invalid."""
    body = _decode(s)
    if len(body) < 2:
        raise ValueError("invalid seed")
    b1 = body[0] & 0xF8
    b2 = ((body[0] & 0x07) << 5) | ((body[1] & 0xF8) >> 3)
    letter = _PREFIX_LETTERS.get(b2)
    if b1 != _PREFIX_BYTES["S"] or letter is None or letter not in _PUBLIC_PREFIXES:
        raise ValueError("invalid seed")
    raw = body[2:]
    if len(raw) != _KEY_LEN:
        raise ValueError("invalid seed length")
    return letter, raw


def public_key_from_seed(seed: str) -> str:
    """Public nkey matching a seed (nkeys FromSeed(...).PublicKey())."""
    letter, raw = decode_seed(seed)
    pub = Ed25519PrivateKey.from_private_bytes(raw).public_key().public_bytes_raw()
    return encode_public_key(pub, letter)


def sign_nonce(seed: str, nonce: bytes) -> str:
    """Client side of the challenge (tests, tools): base64 raw-url Ed25519 signature."""
    _, raw = decode_seed(seed)
    sig = Ed25519PrivateKey.from_private_bytes(raw).sign(nonce)
    return base64.urlsafe_b64encode(sig).decode("ascii").rstrip("=")


_RAW_URL_RE = re.compile(r"[A-Za-z0-9_-]*")


def _decode_sig(sig_b64: str) -> bytes | None:
    # auth.go tries base64.RawURLEncoding (Go clients) and falls back to
    # StdEncoding with padding (nats-py sends base64.b64encode output).
    if _RAW_URL_RE.fullmatch(sig_b64) and len(sig_b64) % 4 != 1:
        try:
            return base64.urlsafe_b64decode(sig_b64 + "=" * (-len(sig_b64) % 4))
        except (binascii.Error, ValueError):
            pass
    try:
        return base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError):
        return None


def verify_nonce(public_nkey: str, nonce: bytes, sig_b64: str) -> bool:
    """True iff ``sig_b64`` is a valid Ed25519 signature of ``nonce`` by ``public_nkey``.

    The signed bytes are the nonce *text* exactly as sent in INFO. Never raises.
    """
    if not isinstance(sig_b64, str) or not sig_b64:
        return False
    sig = _decode_sig(sig_b64)
    if sig is None:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(decode_public_key(public_nkey))
        key.verify(sig, nonce)
    except (ValueError, InvalidSignature):
        return False
    return True


def new_nonce() -> str:
    """nkey.go generateNonce: 11 random bytes, base64 raw-url -> 15 characters."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode("ascii").rstrip("=")


# ---------------------------------------------------------------------------
# passwords
# ---------------------------------------------------------------------------

_BCRYPT_RE = re.compile(r"\$2[abxy]\$\d{2}\$")


def _is_bcrypt(password: str) -> bool:
    # auth.go isBcrypt: ^\$2[abxy]\$\d{2}\$.*
    return password.startswith("$") and _BCRYPT_RE.match(password) is not None


def _compare_passwords(server: str, client: str) -> bool:
    """auth.go comparePasswords: bcrypt when the configured value is a hash, else constant time."""
    cpass = client.encode("utf-8")
    if _is_bcrypt(server):
        # Go's bcrypt only ever looks at the first 72 bytes; Python's bcrypt
        # refuses longer input instead, so truncate to keep Go's verdict.
        try:
            return bcrypt.checkpw(cpass[:72], server.encode("utf-8"))
        except ValueError:  # malformed hash
            return False
    return hmac.compare_digest(server.encode("utf-8"), cpass)


# ---------------------------------------------------------------------------
# permissions
# ---------------------------------------------------------------------------

_PUB_CACHE_MAX = 4096
_DENY_CACHE_MAX = 4096

# A compiled entry: (pattern tokens, queue or None).
_Entry = tuple[list[str], str | None]


def _sublist_tokens(subject: str) -> list[str] | None:
    # Sublist.Match/hasInterest return "no match" for a subject with an empty token.
    toks = subject.split(".")
    if "" in toks:
        return None
    return toks


def _split_subject_queue(sq: str) -> tuple[str, str | None] | None:
    """client.go splitSubjectQueue: "subject" or "subject queue"; None when invalid."""
    vals = sq.split()
    if not vals or len(vals) > 2:
        return None
    queue = vals[1] if len(vals) == 2 else None
    if not is_valid_subject(vals[0]) or (queue is not None and not is_valid_subject(queue)):
        return None
    return vals[0], queue


def _match(entries: list[_Entry], toks: list[str]) -> tuple[bool, list[str]]:
    """Sublist.Match over permission entries -> (any plain entry, queue names of queue entries).

    Sublist.Match treats every token of the *tested* subject literally, so a
    subscription token "*" only meets entries with "*" or ">" there, and a
    subscription token ">" meets entries with "*" or ">" (see CompiledPermissions).
    """
    plain = False
    queues: list[str] = []
    for pattern, queue in entries:
        if tokens_match(toks, pattern):
            if queue is None:
                plain = True
            else:
                queues.append(queue)
    return plain, queues


def _queue_matches(queue: str, qnames: list[str]) -> bool:
    # client.go queueMatches: '*' and '>' are legal queue-name characters, so try
    # the literal name first, then wildcard subset matching.
    if not qnames:
        return True
    for qname in qnames:
        if queue == qname or (not is_literal(qname) and subject_matches_filter(queue, qname)):
            return True
    return False


class CompiledPermissions:
    """A user's publish/subscribe permissions, compiled once (client.go setPermissions).

    Semantics, as in Go:

    - Publish: allowed iff (no allow list, or the subject matches an allow entry)
      and it matches no deny entry. An empty allow list is no allow list, as
      nats-server does for ``allow: []`` in a config file; invalid entries are
      skipped. A "subject queue" deny entry denies its subject. Verdicts are
      cached per subject (cleared past 4096 entries).
    - Subscribe allow/deny entries are "subject" or "subject queue"; an *empty*
      subscribe allow list means no restriction (Go checks ``len > 0`` there).
      The subscription subject is matched against entries with its tokens taken
      literally (Go Sublist.Match), so with allow "foo.>" or "foo.*" the
      subscription "foo.*" is allowed, while allow "foo.bar" does not allow
      "foo.*". Go quirk kept: an entry token "*" also accepts a subscription token
      ">" (allow "foo.*" lets "foo.>" through).
      A queue subscription that meets queue-qualified allow entries must match one
      of their queues (allow ["foo", "foo v1"] -> plain subs to foo, queue subs only
      in v1); a plain subscription needs a plain allow entry. A deny entry without a
      queue denies any subscription it matches; a queue deny entry denies only
      subscriptions in a matching queue.
    - Deny entries do not stop broader wildcard subscriptions (deny "foo", sub
      ">"); such messages are dropped at delivery: call ``delivery_denied`` for
      every message delivered to the client when ``has_sub_deny`` is true. Go only
      arms that filter once a wildcard/queue subscription collides with a deny
      entry; checking always gives the same verdicts (a literal plain subscription
      that passed ``can_subscribe`` can never be denied at delivery).
    """

    __slots__ = (
        "_pub_open",
        "_pub_allow_lit",
        "_pub_allow_wc",
        "_pub_deny_lit",
        "_pub_deny_wc",
        "_pcache",
        "_sub_allow",
        "_sub_deny",
        "_dcache",
    )

    def __init__(self, perms: Permissions) -> None:
        self._pcache: dict[str, bool] = {}
        self._dcache: dict[tuple[str, str], bool] = {}
        # None = no list (everything passes this stage); literal entries go to a
        # set so the common exact-subject permission costs one lookup.
        self._pub_allow_lit: set[str] | None = None
        self._pub_allow_wc: list[list[str]] = []
        self._pub_deny_lit: set[str] | None = None
        self._pub_deny_wc: list[list[str]] = []
        pub = perms.publish
        if pub is not None:
            # Go's config parser turns `allow: []` into a nil list, i.e. no
            # restriction (verified against nats-server); only allow_responses,
            # which we do not implement, makes an empty list mean "deny all".
            if pub.allow:
                self._pub_allow_lit = set()
                for s in pub.allow:
                    if is_valid_subject(s):
                        self._add_pub(s, self._pub_allow_lit, self._pub_allow_wc)
            if pub.deny:
                self._pub_deny_lit = set()
                for s in pub.deny:
                    subj: str | None = s
                    if not is_valid_subject(s):
                        sq = _split_subject_queue(s)
                        subj = sq[0] if sq is not None else None
                    if subj is not None:
                        self._add_pub(subj, self._pub_deny_lit, self._pub_deny_wc)
        self._pub_open = self._pub_allow_lit is None and self._pub_deny_lit is None

        self._sub_allow: list[_Entry] | None = None
        self._sub_deny: list[_Entry] | None = None
        sub = perms.subscribe
        if sub is not None:
            if sub.allow:
                self._sub_allow = self._compile_sub(sub.allow)
            if sub.deny:
                self._sub_deny = self._compile_sub(sub.deny)

    @staticmethod
    def _add_pub(subject: str, lits: set[str], wcs: list[list[str]]) -> None:
        if is_literal(subject):
            lits.add(subject)
        else:
            wcs.append(subject.split("."))

    @staticmethod
    def _compile_sub(entries: list[str]) -> list[_Entry]:
        out: list[_Entry] = []
        for e in entries:
            sq = _split_subject_queue(e)
            if sq is not None:  # Go logs and skips invalid entries
                out.append((sq[0].split("."), sq[1]))
        return out

    # -- publish ------------------------------------------------------------

    def can_publish(self, subject: str) -> bool:
        """client.go pubAllowed (without allow_responses)."""
        if self._pub_open:
            return True
        v = self._pcache.get(subject)
        if v is not None:
            return v
        allowed = self._pub_check(subject)
        if len(self._pcache) >= _PUB_CACHE_MAX:
            # Cheaper than Go's random pruning and just as bounded.
            self._pcache.clear()
        self._pcache[subject] = allowed
        return allowed

    def _pub_check(self, subject: str) -> bool:
        toks = _sublist_tokens(subject)
        if self._pub_allow_lit is not None:
            if toks is None:
                return False
            if subject not in self._pub_allow_lit and not any(
                tokens_match(toks, p) for p in self._pub_allow_wc
            ):
                return False
        if self._pub_deny_lit is not None and toks is not None:
            if subject in self._pub_deny_lit or any(tokens_match(toks, p) for p in self._pub_deny_wc):
                return False
        return True

    # -- subscribe ----------------------------------------------------------

    @property
    def has_sub_deny(self) -> bool:
        """True when deliveries must be screened with ``delivery_denied``."""
        return self._sub_deny is not None

    def can_subscribe(self, subject: str, queue: str | None = None) -> bool:
        """client.go canSubscribeInternal for a CLIENT connection (no MQTT/leaf rules).

        The ``_sys_`` queue group ban (SYS_QUEUE_GROUP) is not a permission and is
        left to the caller, which must apply it even when a user has no permissions.
        """
        toks = _sublist_tokens(subject)
        allowed = True
        if self._sub_allow is not None:
            if toks is None:
                return False
            plain, qnames = _match(self._sub_allow, toks)
            allowed = plain
            if queue and qnames:
                # A queue listed in the allow list decides, even over a plain entry.
                allowed = _queue_matches(queue, qnames)
        if allowed and self._sub_deny is not None and toks is not None:
            plain, qnames = _match(self._sub_deny, toks)
            allowed = not plain
            if allowed and queue and qnames:
                allowed = not _queue_matches(queue, qnames)
        return allowed

    def delivery_denied(self, subject: str, queue: str | None = None) -> bool:
        """client.go checkDenySub: drop a message on ``subject`` for a (queue) subscription."""
        if self._sub_deny is None:
            return False
        key = (subject, queue or "")
        v = self._dcache.get(key)
        if v is not None:
            return v
        toks = _sublist_tokens(subject)
        denied = False
        if toks is not None:
            plain, qnames = _match(self._sub_deny, toks)
            denied = plain or bool(queue and qnames and _queue_matches(queue, qnames))
        if len(self._dcache) >= _DENY_CACHE_MAX:
            self._dcache.clear()
        self._dcache[key] = denied
        return denied


def compile_permissions(perms: Permissions | None) -> CompiledPermissions | None:
    """None stays None: a user without permissions is never checked (Go c.perms == nil)."""
    return None if perms is None else CompiledPermissions(perms)


# ---------------------------------------------------------------------------
# error texts (client.go) and reserved subjects
# ---------------------------------------------------------------------------

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(s: str) -> str:
    """Go's %q (strconv.Quote) of the bytes behind ``s``.

    The protocol layer hands us latin-1-decoded strings (one char per wire byte);
    Go quotes the raw bytes read as UTF-8, so reinterpret before escaping.
    """
    try:
        raw = s.encode("latin-1")
    except UnicodeEncodeError:
        raw = s.encode("utf-8", "surrogatepass")
    text = raw.decode("utf-8", "surrogateescape")
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0xDC80 <= o <= 0xDCFF:  # an invalid UTF-8 byte
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def pub_violation(subject: str) -> str:
    """client.go pubPermissionViolation text."""
    return f"Permissions Violation for Publish to {go_quote(subject)}"


def sub_violation(subject: str, queue: str | None = None) -> str:
    """client.go subPermissionViolation text."""
    if queue:
        return (
            f"Permissions Violation for Subscription to {go_quote(subject)} using queue {go_quote(queue)}"
        )
    return f"Permissions Violation for Subscription to {go_quote(subject)}"


def reply_violation(reply: str) -> str:
    """client.go replySubjectViolation text (sent for a reserved reply subject)."""
    return f"Permissions Violation for Publish with Reply of {go_quote(reply)}"


def is_reserved_reply(reply: str) -> bool:
    """client.go isReservedReply: service-import, JetStream ack and gateway reply prefixes."""
    return (
        (len(reply) > 4 and reply.startswith("_R_."))
        or (len(reply) > 8 and reply.startswith("$JS.ACK."))
        or (len(reply) > 5 and reply.startswith("_GR_."))
    )


def is_reserved_publish(subject: str) -> bool:
    """Subjects a CLIENT may never publish to (pub_violation), before/after permissions.

    processInboundClientMsg rejects "_GR_." (gateway routed replies) and "$NRG."
    (Raft) unless the client is in the system account, which we do not have.
    """
    return (len(subject) > 5 and subject.startswith("_GR_.")) or subject.startswith("$NRG.")


# ---------------------------------------------------------------------------
# authentication
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthResult:
    """An accepted CONNECT.

    ``user`` is what /connz reports as authorized_user (client.go getRawAuthUser):
    the nkey, else the user name, else "[REDACTED]" for a token, else "".
    """

    user: str
    permissions: CompiledPermissions | None
    account: str = GLOBAL_ACCOUNT


def _connect_str(connect: dict, key: str) -> str | None:
    v = connect.get(key)
    if v is None:
        return ""
    return v if isinstance(v, str) else None


class Authenticator:
    """Decides CONNECTs for one set of Options (auth.go configureAuthorization + check)."""

    __slots__ = (
        "required",
        "nonce_needed",
        "_username",
        "_password",
        "_token",
        "_no_auth_user",
        "_tls_map",
        "_users",
        "_nkeys",
        "_perms",
    )

    def __init__(self, options: Options) -> None:
        self._username = options.username
        self._password = options.password
        self._token = options.authorization
        self._no_auth_user = options.no_auth_user
        self._tls_map = options.tls_map
        self._users: dict[str, User] = {u.username: u for u in options.users}
        self._nkeys: dict[str, NkeyUser] = {n.nkey: n for n in options.nkeys}
        # One compiled set per configured identity, shared by its connections:
        # verdicts depend only on the subject, so the caches can be shared too.
        self._perms: dict[int, CompiledPermissions | None] = {}
        for ident in (*options.users, *options.nkeys):
            self._perms[id(ident)] = compile_permissions(ident.permissions)
        self.required: bool = bool(self._users or self._nkeys or self._username or self._token)
        # nkey.go nonceRequired (no trusted keys / always_enable_nonce here).
        self.nonce_needed: bool = bool(self._nkeys)

    def _result(self, user: str, ident: User | NkeyUser) -> AuthResult:
        return AuthResult(user, self._perms.get(id(ident)), ident.account or GLOBAL_ACCOUNT)

    def check(
        self, connect: dict, nonce: str | None, *, tls_names: Iterable[str] | None = None
    ) -> AuthResult | None:
        """auth.go processClientOrLeafAuthentication for a CLIENT; None = Authorization Violation.

        ``connect`` is the parsed CONNECT JSON (keys "user", "pass", "auth_token",
        "nkey", "sig", "jwt"); ``nonce`` the nonce text sent in INFO.

        ``tls_names``: only when ``tls_map`` is on and users are configured. Go then
        takes the user from the verified client certificate (emails, DNS names,
        URIs, then the subject DN); the caller passes those candidates in that
        order and the first configured user name wins. Without names such a
        client fails, as in Go without a certificate (DN reordering not handled).
        """
        c_user = _connect_str(connect, "user")
        c_pass = _connect_str(connect, "pass")
        c_token = _connect_str(connect, "auth_token")
        c_nkey = _connect_str(connect, "nkey")
        c_sig = _connect_str(connect, "sig")
        c_jwt = _connect_str(connect, "jwt")
        if c_user is None or c_pass is None or c_token is None or c_nkey is None or c_sig is None:
            # Go's CONNECT decoding would have failed on a non-string field.
            return None
        if c_jwt is None:
            c_jwt = ""

        if not self.required:
            # Credentials are ignored; /connz still shows what the client sent.
            return AuthResult(_raw_auth_user(c_nkey, c_user, c_jwt, c_token), None)

        no_auth = self._no_auth_user
        nkey: NkeyUser | None = None
        user: User | None = None

        if self._nkeys:
            if no_auth and not (c_user or c_pass or c_token or c_nkey) and no_auth in self._nkeys:
                c_nkey = no_auth
            if c_nkey:
                nkey = self._nkeys.get(c_nkey)
                if nkey is None:
                    return None

        if self._users and nkey is None:
            if self._tls_map:
                for name in tls_names or ():
                    user = self._users.get(name)
                    if user is not None:
                        break
                if user is None:
                    return None
                c_user = user.username
            else:
                if no_auth and not (c_user or c_pass or c_token) and no_auth in self._users:
                    u = self._users[no_auth]
                    c_user, c_pass = u.username, u.password
                if c_user:
                    user = self._users.get(c_user)
                    if user is None:
                        return None

        if nkey is not None:
            # The no_auth_user nkey connects without proving key ownership.
            if nkey.nkey != no_auth:
                if not c_sig or nonce is None:
                    # Go would verify against an empty nonce; with nkeys configured
                    # we always send one, so a missing nonce is a caller bug: fail.
                    return None
                if not verify_nonce(c_nkey, nonce.encode("latin-1"), c_sig):
                    return None
            return self._result(nkey.nkey, nkey)

        if user is not None:
            # A user without password is only a certificate identity when mapping
            # is on elsewhere (auth.go canTLSMap); we have a single client listener,
            # where tls_map already took the branch above, so nothing to check here.
            if not _compare_passwords(user.password, c_pass):
                return None
            # A stray "nkey" in CONNECT still wins in getRawAuthUser.
            return self._result(_raw_auth_user(c_nkey, user.username, c_jwt, c_token), user)

        # Simple single-identity auth.
        if self._token:
            if not _compare_passwords(self._token, c_token):
                return None
            return AuthResult(_raw_auth_user(c_nkey, c_user, c_jwt, c_token), None)
        if self._username:
            if self._username != c_user or not _compare_passwords(self._password, c_pass):
                return None
            return AuthResult(_raw_auth_user(c_nkey, c_user, c_jwt, c_token), None)
        return None


def _raw_auth_user(nkey: str, user: str, jwt: str, token: str) -> str:
    # client.go getRawAuthUser; a JWT reports the verified user key, which this
    # server never has, hence "".
    if nkey:
        return nkey
    if user:
        return user
    if jwt:
        return ""
    if token:
        return _REDACTED
    return ""


# ---------------------------------------------------------------------------
# configuration checks
# ---------------------------------------------------------------------------


def _check_perm_subjects(subjects: list[str] | None, allow_queue: bool) -> None:
    # opts.go checkPermSubjectArray
    for s in subjects or ():
        if is_valid_subject(s):
            continue
        if not allow_queue:
            raise ValueError(f"subject {go_quote(s)} is not a valid subject")
        elems = s.split()
        if len(elems) != 2:
            raise ValueError(f"subject {go_quote(s)} is not a valid subject")
        if not is_valid_subject(elems[0]):
            raise ValueError(f"subject {go_quote(elems[0])} is not a valid subject")
        if not is_valid_subject(elems[1]):
            raise ValueError(f"queue {go_quote(elems[1])} is not a valid queue")


def _validate_permission_subjects(p: Permissions | None) -> None:
    # auth.go validatePermissionSubjects
    if p is None:
        return
    checks = []
    if p.publish is not None:
        checks += [("publish allow", p.publish.allow, False), ("publish deny", p.publish.deny, False)]
    if p.subscribe is not None:
        checks += [("subscribe allow", p.subscribe.allow, True), ("subscribe deny", p.subscribe.deny, True)]
    for what, subjects, allow_queue in checks:
        try:
            _check_perm_subjects(subjects, allow_queue)
        except ValueError as e:
            raise ValueError(f"{what}: {e}") from None


def validate_auth(options: Options) -> None:
    """auth.go validateAuth (permissions + no_auth_user); ValueError with Go's text."""
    for u in options.users:
        try:
            _validate_permission_subjects(u.permissions)
        except ValueError as e:
            raise ValueError(f"invalid permissions for user {go_quote(u.username)}: {e}") from None
    for n in options.nkeys:
        try:
            _validate_permission_subjects(n.permissions)
        except ValueError as e:
            raise ValueError(f"invalid permissions for nkey {go_quote(n.nkey)}: {e}") from None
    na = options.no_auth_user
    if not na:
        return
    if not options.users and not options.nkeys:
        raise ValueError(f'no_auth_user: "{na}" present, but users/nkeys are not defined')
    if any(u.username == na for u in options.users) or any(n.nkey == na for n in options.nkeys):
        return
    raise ValueError(
        f'no_auth_user: "{na}" not present as user or nkey in authorization block or account configuration'
    )
