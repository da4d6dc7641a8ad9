"""Unit tests for natsd.server.auth (nkeys, CONNECT authentication, permissions).

Expected verdicts in the permission tables were observed on the Go nats-server
(same users and subjects over the wire), so they pin Go's quirks too.
"""

from __future__ import annotations

import base64

import bcrypt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from natsd.server.auth import (
    AUTH_VIOLATION,
    Authenticator,
    AuthResult,
    CompiledPermissions,
    compile_permissions,
    crc16,
    decode_public_key,
    decode_seed,
    encode_public_key,
    encode_seed,
    is_reserved_publish,
    is_reserved_reply,
    is_valid_public_user_key,
    new_nonce,
    pub_violation,
    public_key_from_seed,
    reply_violation,
    sign_nonce,
    sub_violation,
    validate_auth,
    verify_nonce,
)
from natsd.server.options import NkeyUser, Options, Permissions, SubjectPermission, User

# Pairs taken from the nats-server test suite (config_check_test.go, test/configs/nkeys).
GO_USER_SEED = "SUAEL6RU3BSDAFKOHNTEOK5Q6FTM5FTAMWVIKBET6FHPO4JRII3CYELVNM"
GO_USER_PUB = "UCARKS2E3KVB7YORL2DG34XLT7PUCOL2SVM7YXV6ETHLW6Z46UUJ2VZ3"
GO_OPERATOR_SEED = "SOAFYNORQLQFJYBYNUGC5D7SH2MXMUX5BFEWWGHN3EK4VGG5TPT5DZP7QU"
GO_OPERATOR_PUB = "OCAT33MTVU2VUOIMGNGUNXJ66AH2RLSDAF3MUBCYAY5QMIL65NQM6XQG"


def _keypair(prefix: str = "U") -> tuple[str, str, Ed25519PrivateKey]:
    priv = Ed25519PrivateKey.generate()
    seed = encode_seed(priv.private_bytes_raw(), prefix)
    return seed, public_key_from_seed(seed), priv


def _flip_char(s: str, i: int) -> str:
    c = "A" if s[i] != "A" else "B"
    return s[:i] + c + s[i + 1 :]


# ---------------------------------------------------------------------------
# nkeys
# ---------------------------------------------------------------------------


def test_crc16_xmodem_check_value():
    assert crc16(b"123456789") == 0x31C3
    assert crc16(b"") == 0


def test_go_seed_vectors():
    assert public_key_from_seed(GO_USER_SEED) == GO_USER_PUB
    assert public_key_from_seed(GO_OPERATOR_SEED) == GO_OPERATOR_PUB
    assert decode_seed(GO_USER_SEED)[0] == "U"
    assert decode_seed(GO_OPERATOR_SEED)[0] == "O"


@pytest.mark.parametrize("prefix", list("UNOACX"))
def test_public_key_round_trip(prefix):
    raw = bytes(range(32))
    s = encode_public_key(raw, prefix)
    assert s[0] == prefix
    assert len(s) == 56
    assert decode_public_key(s) == raw
    assert decode_public_key(s, prefix) == raw


@pytest.mark.parametrize("prefix", list("UNOAC"))
def test_seed_round_trip(prefix):
    raw = bytes(range(100, 132))
    s = encode_seed(raw, prefix)
    assert s[:2] == "S" + prefix
    assert decode_seed(s) == (prefix, raw)


def test_decode_rejects_bad_crc_and_garbage():
    with pytest.raises(ValueError):
        decode_public_key(_flip_char(GO_USER_PUB, 10))
    with pytest.raises(ValueError):
        decode_public_key(GO_USER_PUB[:-1])
    for bad in ["", "U", "not base32!", GO_USER_PUB.lower(), GO_USER_PUB + "="]:
        with pytest.raises(ValueError):
            decode_public_key(bad)
    with pytest.raises(ValueError):
        decode_seed(_flip_char(GO_USER_SEED, 20))


def test_decode_rejects_wrong_kind():
    with pytest.raises(ValueError):
        decode_public_key(GO_USER_SEED)  # a seed is not a public key
    with pytest.raises(ValueError):
        decode_public_key(GO_OPERATOR_PUB, "U")
    with pytest.raises(ValueError):
        decode_seed(GO_USER_PUB)
    # config_check_test.go: the "S" form of a user key is no user nkey.
    assert not is_valid_public_user_key("SCARKS2E3KVB7YORL2DG34XLT7PUCOL2SVM7YXV6ETHLW6Z46UUJ2VZ3")
    assert is_valid_public_user_key(GO_USER_PUB)
    assert not is_valid_public_user_key(GO_OPERATOR_PUB)


def test_encode_rejects_bad_input():
    with pytest.raises(ValueError):
        encode_public_key(b"\0" * 31)
    with pytest.raises(ValueError):
        encode_public_key(b"\0" * 32, "S")
    with pytest.raises(ValueError):
        encode_seed(b"\0" * 32, "P")


def test_cross_check_with_nkeys_package():
    nkeys = pytest.importorskip("nkeys")
    kp = nkeys.from_seed(GO_USER_SEED.encode())
    assert kp.public_key.decode() == GO_USER_PUB
    seed, pub, _ = _keypair()
    kp = nkeys.from_seed(seed.encode())
    assert kp.public_key.decode() == pub
    sig = base64.b64encode(kp.sign(b"nonce")).decode()
    assert verify_nonce(pub, b"nonce", sig)


def test_new_nonce_shape():
    n = new_nonce()
    assert len(n) == 15
    assert len(base64.urlsafe_b64decode(n + "=")) == 11
    assert new_nonce() != n


def test_verify_nonce_both_base64_variants():
    _, pub, priv = _keypair()
    nonce = new_nonce().encode()
    sig = priv.sign(nonce)
    raw_url = base64.urlsafe_b64encode(sig).decode().rstrip("=")
    std = base64.b64encode(sig).decode()
    assert verify_nonce(pub, nonce, raw_url)  # Go clients
    assert verify_nonce(pub, nonce, std)  # nats-py
    assert verify_nonce(pub, nonce, sign_nonce(encode_seed(priv.private_bytes_raw()), nonce))


def test_verify_nonce_failures():
    _, pub, priv = _keypair()
    _, other_pub, _ = _keypair()
    nonce = b"abcdefghijklmno"
    sig = base64.b64encode(priv.sign(nonce)).decode()
    assert not verify_nonce(pub, b"abcdefghijklmnX", sig)
    assert not verify_nonce(other_pub, nonce, sig)
    assert not verify_nonce("UNOTAKEY", nonce, sig)
    assert not verify_nonce(pub, nonce, "")
    assert not verify_nonce(pub, nonce, "!!!not base64!!!")
    assert not verify_nonce(pub, nonce, base64.b64encode(b"short").decode())
    bad = bytearray(priv.sign(nonce))
    bad[0] ^= 1
    assert not verify_nonce(pub, nonce, base64.b64encode(bytes(bad)).decode())


# ---------------------------------------------------------------------------
# authentication
# ---------------------------------------------------------------------------


def _hash(pw: str) -> str:
    return bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()


def test_no_auth_configured():
    a = Authenticator(Options())
    assert not a.required and not a.nonce_needed
    r = a.check({}, None)
    assert r == AuthResult("", None, "$G")
    # Credentials are ignored but still reported, as getRawAuthUser does.
    assert a.check({"user": "bob", "pass": "x"}, None).user == "bob"
    assert a.check({"auth_token": "t"}, None).user == "[REDACTED]"


@pytest.mark.parametrize("hashed", [False, True])
def test_single_user_password(hashed):
    a = Authenticator(Options(username="derek", password=_hash("s3cr3t") if hashed else "s3cr3t"))
    assert a.required and not a.nonce_needed
    r = a.check({"user": "derek", "pass": "s3cr3t"}, None)
    assert r is not None and r.user == "derek" and r.permissions is None and r.account == "$G"
    assert a.check({"user": "derek", "pass": "wrong"}, None) is None
    assert a.check({"user": "other", "pass": "s3cr3t"}, None) is None
    assert a.check({}, None) is None


@pytest.mark.parametrize("hashed", [False, True])
def test_token(hashed):
    a = Authenticator(Options(authorization=_hash("tok") if hashed else "tok"))
    assert a.required
    r = a.check({"auth_token": "tok"}, None)
    assert r is not None and r.user == "[REDACTED]"
    assert a.check({"auth_token": "tok2"}, None) is None
    assert a.check({"user": "tok", "pass": "tok"}, None) is None
    assert a.check({}, None) is None


def test_bcrypt_prefixes_and_long_password():
    h = _hash("pw")
    for pre in ("$2a$", "$2b$", "$2y$"):
        a = Authenticator(Options(username="u", password=pre + h[4:]))
        assert a.check({"user": "u", "pass": "pw"}, None) is not None
    # Go's bcrypt reads only the first 72 bytes of the password.
    long_pw = "x" * 72
    a = Authenticator(Options(username="u", password=_hash(long_pw)))
    assert a.check({"user": "u", "pass": long_pw + "tail"}, None) is not None
    # Not a bcrypt hash shape -> compared as plain text.
    a = Authenticator(Options(username="u", password="$2a$xx"))
    assert a.check({"user": "u", "pass": "$2a$xx"}, None) is not None


def test_users_list_permissions_and_accounts():
    perms = Permissions(publish=SubjectPermission(allow=["foo"]))
    opts = Options(
        users=[
            User("alice", "pa", perms, account="A"),
            User("bob", _hash("pb")),
        ]
    )
    a = Authenticator(opts)
    assert a.required and not a.nonce_needed
    r = a.check({"user": "alice", "pass": "pa"}, None)
    assert r is not None and r.user == "alice" and r.account == "A"
    assert isinstance(r.permissions, CompiledPermissions)
    assert r.permissions.can_publish("foo") and not r.permissions.can_publish("bar")
    r = a.check({"user": "bob", "pass": "pb"}, None)
    assert r is not None and r.permissions is None and r.account == "$G"
    assert a.check({"user": "bob", "pass": "pa"}, None) is None
    assert a.check({"user": "carol", "pass": "pa"}, None) is None
    assert a.check({"pass": "pa"}, None) is None
    assert a.check({}, None) is None


def test_non_string_fields_fail():
    a = Authenticator(Options(username="u", password="p"))
    assert a.check({"user": "u", "pass": 1}, None) is None


def test_nkeys_list():
    _, pub, priv = _keypair()
    perms = Permissions(subscribe=SubjectPermission(deny=["secret.>"]))
    a = Authenticator(Options(nkeys=[NkeyUser(pub, perms, account="ACC")]))
    assert a.required and a.nonce_needed
    nonce = new_nonce()
    sig = base64.urlsafe_b64encode(priv.sign(nonce.encode())).decode().rstrip("=")
    r = a.check({"nkey": pub, "sig": sig}, nonce)
    assert r is not None and r.user == pub and r.account == "ACC"
    assert r.permissions is not None and not r.permissions.can_subscribe("secret.x")
    # Signature over another nonce, missing signature, unknown key, no nonce.
    assert a.check({"nkey": pub, "sig": sig}, new_nonce()) is None
    assert a.check({"nkey": pub}, nonce) is None
    _, other, _ = _keypair()
    assert a.check({"nkey": other, "sig": sig}, nonce) is None
    assert a.check({"nkey": pub, "sig": sig}, None) is None
    assert a.check({}, nonce) is None
    assert a.check({"user": "x", "pass": "y"}, nonce) is None


def test_nkeys_and_users_together():
    _, pub, priv = _keypair()
    a = Authenticator(Options(users=[User("u", "p")], nkeys=[NkeyUser(pub)]))
    nonce = new_nonce()
    sig = base64.b64encode(priv.sign(nonce.encode())).decode()
    assert a.check({"nkey": pub, "sig": sig}, nonce).user == pub
    assert a.check({"user": "u", "pass": "p"}, nonce).user == "u"
    assert a.check({"user": "u", "pass": "x"}, nonce) is None


def test_no_auth_user():
    a = Authenticator(Options(users=[User("anon", "pw", account="A"), User("u", "p")], no_auth_user="anon"))
    r = a.check({}, None)
    assert r is not None and r.user == "anon" and r.account == "A"
    # Credentials given: normal rules, no fallback.
    assert a.check({"user": "u", "pass": "p"}, None).user == "u"
    assert a.check({"user": "u", "pass": "bad"}, None) is None
    assert a.check({"pass": "pw"}, None) is None
    assert a.check({"auth_token": "x"}, None) is None


def test_no_auth_user_nkey():
    _, pub, _ = _keypair()
    a = Authenticator(Options(nkeys=[NkeyUser(pub)], no_auth_user=pub))
    r = a.check({}, new_nonce())
    assert r is not None and r.user == pub
    # Go quirk kept: naming the no_auth_user nkey needs no signature either.
    assert a.check({"nkey": pub}, new_nonce()) is not None


def test_tls_map_uses_certificate_names():
    a = Authenticator(Options(users=[User("CN=alice", ""), User("bob@example.com", "")], tls_map=True))
    assert a.check({}, None) is None
    assert a.check({}, None, tls_names=["nobody"]) is None
    r = a.check({"user": "ignored"}, None, tls_names=["x.example.com", "bob@example.com"])
    assert r is not None and r.user == "bob@example.com"
    assert a.check({}, None, tls_names=["CN=alice"]).user == "CN=alice"


def test_validate_auth():
    validate_auth(Options())
    validate_auth(Options(users=[User("a", "b")], no_auth_user="a"))
    with pytest.raises(ValueError, match="users/nkeys are not defined"):
        validate_auth(Options(no_auth_user="a"))
    with pytest.raises(ValueError, match="not present as user or nkey"):
        validate_auth(Options(users=[User("a", "b")], no_auth_user="z"))
    bad = Permissions(publish=SubjectPermission(allow=["foo bar"]))
    with pytest.raises(ValueError, match='invalid permissions for user "a": publish allow'):
        validate_auth(Options(users=[User("a", "b", bad)]))
    ok_queue = Permissions(subscribe=SubjectPermission(allow=["foo bar"]))
    validate_auth(Options(users=[User("a", "b", ok_queue)]))
    bad_sub = Permissions(subscribe=SubjectPermission(deny=["foo bar baz"]))
    with pytest.raises(ValueError, match="subscribe deny"):
        validate_auth(Options(users=[User("a", "b", bad_sub)]))


def test_auth_violation_text():
    assert AUTH_VIOLATION == "Authorization Violation"


# ---------------------------------------------------------------------------
# permissions
# ---------------------------------------------------------------------------


def test_compile_none():
    assert compile_permissions(None) is None
    p = CompiledPermissions(Permissions())
    assert p.can_publish("anything") and p.can_subscribe(">") and not p.has_sub_deny


def test_publish_allow_deny_wildcards():
    # User "d" of the Go probe: allow ["p.>", "x"], deny ["p.secret"].
    p = CompiledPermissions(
        Permissions(publish=SubjectPermission(allow=["p.>", "x", "w.*.z"], deny=["p.secret"]))
    )
    assert p.can_publish("p.a")
    assert p.can_publish("p.a.b")
    assert not p.can_publish("p")
    assert not p.can_publish("p.secret")
    assert p.can_publish("x")
    assert not p.can_publish("y")
    assert p.can_publish("w.1.z") and not p.can_publish("w.1.2.z")
    # Cached verdicts are the same.
    assert not p.can_publish("p.secret") and p.can_publish("p.a")


def test_publish_deny_only_and_empty_allow():
    p = CompiledPermissions(Permissions(publish=SubjectPermission(deny=["$SYS.>", "a.*"])))
    assert p.can_publish("foo")
    assert not p.can_publish("$SYS.x.y")
    assert not p.can_publish("a.b") and p.can_publish("a.b.c")
    # nats-server parses `allow: []` to "no allow list" (observed: publishing works).
    p = CompiledPermissions(Permissions(publish=SubjectPermission(allow=[])))
    assert p.can_publish("x")


def test_publish_cache_is_bounded():
    p = CompiledPermissions(Permissions(publish=SubjectPermission(allow=["a.>"])))
    for i in range(10_000):
        assert p.can_publish(f"a.{i}")
    assert len(p._pcache) <= 4096


# Go probe user "a": subscribe allow ["foo.*", "bar.>", "baz", "q.x v1", "q.y", "q.y v1"].
SUB_ALLOW = ["foo.*", "bar.>", "baz", "q.x v1", "q.y", "q.y v1"]
SUB_ALLOW_CASES = [
    ("foo.*", None, True),
    ("foo.>", None, True),  # Go quirk: entry "*" accepts a ">" token
    ("foo.bar", None, True),
    ("bar.*", None, True),
    (">", None, False),
    ("baz", "q", True),
    ("q.x", None, False),  # only queue entries: plain sub refused
    ("q.x", "v1", True),
    ("q.x", "v2", False),
    ("q.y", None, True),
    ("q.y", "v2", False),  # queue entries decide for queue subs
    ("q.y", "v1", True),
    ("*", None, False),
    ("foo.*.x", None, False),
]


@pytest.mark.parametrize(("subject", "queue", "ok"), SUB_ALLOW_CASES)
def test_subscribe_allow_matches_go(subject, queue, ok):
    p = CompiledPermissions(Permissions(subscribe=SubjectPermission(allow=SUB_ALLOW)))
    assert p.can_subscribe(subject, queue) is ok


# Go probe user "d": subscribe deny ["foo.*", "bar.baz", "q.x v*"].
SUB_DENY = ["foo.*", "bar.baz", "q.x v*"]
SUB_DENY_CASES = [
    ("foo.*", None, False),
    ("foo.>", None, False),
    ("foo.bar", None, False),
    (">", None, True),  # broader wildcard allowed; filtered at delivery
    ("bar.baz", "q", False),
    ("q.x", "v1", True),  # "v*" is no wildcard token: only queue "v*" itself
    ("q.x", "v*", False),
    ("q.x", None, True),
    ("q.x", "w", True),
]


@pytest.mark.parametrize(("subject", "queue", "ok"), SUB_DENY_CASES)
def test_subscribe_deny_matches_go(subject, queue, ok):
    p = CompiledPermissions(Permissions(subscribe=SubjectPermission(deny=SUB_DENY)))
    assert p.can_subscribe(subject, queue) is ok


def test_subscribe_queue_wildcards():
    p = CompiledPermissions(Permissions(subscribe=SubjectPermission(allow=["jobs.> workers.*"])))
    assert p.can_subscribe("jobs.a", "workers.east")
    assert not p.can_subscribe("jobs.a", "workers")
    assert not p.can_subscribe("jobs.a", "other.east")
    assert not p.can_subscribe("jobs.a")
    p = CompiledPermissions(Permissions(subscribe=SubjectPermission(deny=["jobs.> bad.>"])))
    assert not p.can_subscribe("jobs.a", "bad.x.y")
    assert p.can_subscribe("jobs.a", "good")
    assert p.can_subscribe("jobs.a")


def test_empty_subscribe_allow_is_no_restriction():
    p = CompiledPermissions(Permissions(subscribe=SubjectPermission(allow=[])))
    assert p.can_subscribe("anything.at.all")


def test_delivery_denied():
    p = CompiledPermissions(Permissions(subscribe=SubjectPermission(deny=["foo.*", "bar q1"])))
    assert p.has_sub_deny
    assert p.can_subscribe(">")
    assert p.delivery_denied("foo.x")
    assert not p.delivery_denied("foo.x.y")
    assert not p.delivery_denied("other")
    assert not p.delivery_denied("bar")
    assert p.delivery_denied("bar", "q1")
    assert not p.delivery_denied("bar", "q2")
    assert p.delivery_denied("foo.x")  # cached
    assert not CompiledPermissions(Permissions()).delivery_denied("foo.x")


def test_invalid_entries_are_skipped():
    p = CompiledPermissions(
        Permissions(
            publish=SubjectPermission(allow=["ok", "bad..subject"], deny=["d q"]),
            subscribe=SubjectPermission(allow=["s", "a b c"]),
        )
    )
    assert p.can_publish("ok") and not p.can_publish("bad..subject")
    assert not p.can_publish("d")  # "subject queue" publish deny keeps its subject
    assert p.can_subscribe("s") and not p.can_subscribe("a")


# ---------------------------------------------------------------------------
# error texts and reserved subjects
# ---------------------------------------------------------------------------


def test_violation_texts():
    assert pub_violation("foo.bar") == 'Permissions Violation for Publish to "foo.bar"'
    assert sub_violation("foo.*") == 'Permissions Violation for Subscription to "foo.*"'
    assert sub_violation("foo", "q") == 'Permissions Violation for Subscription to "foo" using queue "q"'
    assert reply_violation("_R_.x") == 'Permissions Violation for Publish with Reply of "_R_.x"'


def test_violation_texts_go_quoting():
    # %q escaping; latin-1 strings are the wire bytes, read as UTF-8 by Go.
    assert pub_violation('a"b\\c') == 'Permissions Violation for Publish to "a\\"b\\\\c"'
    assert pub_violation("a\x01\x7f") == 'Permissions Violation for Publish to "a\\x01\\x7f"'
    assert pub_violation("\xc3\xbc") == 'Permissions Violation for Publish to "ü"'
    assert pub_violation("\xff") == 'Permissions Violation for Publish to "\\xff"'


def test_reserved_subjects():
    assert is_reserved_reply("_R_.abc")
    assert is_reserved_reply("$JS.ACK.s.c.1")
    assert is_reserved_reply("_GR_.x")
    assert not is_reserved_reply("_INBOX.x")
    assert not is_reserved_reply("_R_.")
    assert is_reserved_publish("_GR_.x")
    assert is_reserved_publish("$NRG.x")
    assert not is_reserved_publish("foo")
