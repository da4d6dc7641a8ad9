"""Subject validation and filter matching.

Mirrors nats-server sublist.go: ``isValidSubject``, ``IsValidLiteralSubject``,
``subjectIsLiteral`` and ``SubjectMatchesFilter``. Subjects are ``str`` here;
the protocol layer decodes them once (latin-1, so every byte survives).

Rules (spec/protocol.toml):
- protocol.subject.tokens: tokens are split on ``.``, none may be empty.
- protocol.subject.whitespace: a token must not contain space, tab, CR, LF or FF.
- protocol.subject.fwc_last: ``>`` is a wildcard only as a whole token and only as the last one.
- protocol.subject.literal: a publish subject has no whole-token ``*`` or ``>``.
"""

from __future__ import annotations

__all__ = [
    "is_valid_subject",
    "is_valid_literal_subject",
    "is_literal",
    "subject_matches_filter",
    "tokens_match",
]

_WS = frozenset(" \t\n\r\f")


def is_valid_subject(subject: str) -> bool:
    """A subscription subject: non-empty tokens, no whitespace, ``>`` only last."""
    if not subject:
        return False
    seen_fwc = False
    for tok in subject.split("."):
        if not tok or seen_fwc:
            return False
        if len(tok) == 1:
            if tok == ">":
                seen_fwc = True
            elif tok in _WS:
                return False
        elif not _WS.isdisjoint(tok):
            return False
    return True


def is_valid_literal_subject(subject: str) -> bool:
    """Go's IsValidLiteralSubject: non-empty tokens and no wildcard token."""
    for tok in subject.split("."):
        if not tok or tok == "*" or tok == ">":
            return False
    return True


def is_literal(subject: str) -> bool:
    """True when no token is exactly ``*`` or ``>`` (does not validate)."""
    if "*" not in subject and ">" not in subject:
        return True
    for tok in subject.split("."):
        if tok == "*" or tok == ">":
            return False
    return True


def tokens_match(tokens: list[str], pattern: list[str]) -> bool:
    """A literal token list against a pattern token list (``*`` one token, ``>`` the rest)."""
    n = len(tokens)
    for i, p in enumerate(pattern):
        if p == ">":
            return n > i
        if i >= n:
            return False
        if p != "*" and p != tokens[i]:
            return False
    return n == len(pattern)


def subject_matches_filter(subject: str, filter: str) -> bool:
    """Go's SubjectMatchesFilter: is ``subject`` (which may hold wildcards) a subset of ``filter``."""
    toks = subject.split(".")
    test = filter.split(".")
    for i, t2 in enumerate(test):
        if i >= len(toks):
            return False
        if not t2:
            return False
        if t2 == ">":
            return True
        t1 = toks[i]
        if not t1 or t1 == ">":
            return False
        if t1 == "*":
            if t2 != "*":
                return False
            continue
        if t2 != "*" and t1 != t2:
            return False
    return len(toks) == len(test)
