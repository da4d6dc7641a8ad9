"""z3 checks for subject routing (spec/routing.toml).

Theory of operation
-------------------
A subject or pattern is a ``Tokens``: a token count ``n`` and a fixed number of
token slots (slots at index >= n are padding, never read). A token is an int:
``0, 1, 2, ...`` are literals (rendered ``a``, ``b``, ``c``), and three codes
stand for the tokens the implementation treats specially: ``STAR`` ("*"),
``FWC`` (">") and ``EMPTY`` ("", what ``"a..b".split(".")`` yields).

The functions below are written once, in expression style (``_expr``), and
mirror the implementation line by line:

- ``matches(p, s)``      natsd.subjects.validate.tokens_match(s, p)
- ``subset(p, f)``       natsd.subjects.validate.subject_matches_filter(p, f)
- ``drop(p, s)``         natsd.subjects.sublist.Sublist._invalidate: does changing a
                         subscription on ``p`` drop the cache entry for key ``s``
- ``routable(s)``        Sublist.match: a key with an empty token matches nothing
- ``is_valid_pattern``   validate.is_valid_subject (whitespace aside) / sublist._tokens

Run on Python ints they are the implementation's semantics (tests/test_proofs.py
compares them with the real functions and a real ``Sublist`` over every small
case); run on z3 ints they are the formulas the checks below reason about.

What the bounds mean
--------------------
Every check is over *all* patterns of at most ``k`` tokens (``K``, or
``K_QUANTIFIED`` for the one check with a quantifier). That is the one genuine
bound (bounded model checking): nothing here is an induction on the number of
tokens, so a bug that shows only in patterns longer than ``k`` would be
missed. The other dimensions are complete, not sampled:

- Alphabet. Every formula only compares tokens at the *same position* with each
  other or with the constants STAR/FWC/EMPTY, or asks whether a token is a
  literal at all. A position-wise injective renaming
  of literals therefore preserves every formula, so any counterexample over
  arbitrary token strings maps to one that uses at most as many literals per
  position as the formula has token sequences, plus one fresh literal where a
  check quantifies over subjects. No check involves more than three sequences
  (or two plus a fresh literal), hence ``NAMES`` has three literals.
- Subject length. A pattern of at most ``k`` tokens reads subject positions
  ``< k`` and otherwise only compares the subject's length with its own (equal,
  or longer). Truncating a longer subject to ``k + 1`` tokens (keeping one
  empty token if the dropped tail had one) preserves all of that, so subjects
  of up to ``k + 1`` tokens cover subjects of every length.
- Number of subscriptions. The cache check is inductive and per (key,
  subscription) pair, so it holds for any number of subscriptions (below).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import z3

from ._core import Verdict, proof, prove, witness
from ._expr import and_, cases, implies, is_symbolic, ite, not_, or_

__all__ = [
    "K",
    "K_QUANTIFIED",
    "NAMES",
    "STAR",
    "FWC",
    "EMPTY",
    "Tokens",
    "matches",
    "subset",
    "drop",
    "routable",
    "is_literal",
    "is_valid_pattern",
    "is_valid_literal",
    "same_tokens",
    "enumerate_tokens",
]

K = 12  # most tokens in a pattern: the bound of the quantifier-free checks (each well under 0.1 s)
K_QUANTIFIED = 4  # the bound of subset_match_is_complete, whose hypothesis has a forall (~1 s; 5 takes ~4 s)
NAMES = ("a", "b", "c")  # literal tokens; three suffice for every check here (see above)
STAR, FWC, EMPTY = -1, -2, -3

_SPECIAL = {"*": STAR, ">": FWC, "": EMPTY}
_SPECIAL_NAME = {v: k for k, v in _SPECIAL.items()}
_LITERALS: dict[str, int] = {name: i for i, name in enumerate(NAMES)}  # grows for tests' other literals


class Tokens(NamedTuple):
    """A token count ``n`` and fixed slots ``t`` (ints, or z3 ints)."""

    n: Any
    t: tuple[Any, ...]

    @classmethod
    def of(cls, subject: str | list[str], slots: int | None = None) -> Tokens:
        """Concrete tokens: ``Tokens.of("a.*.>")`` or ``Tokens.of(["a", ""], slots=4)``."""
        toks = subject.split(".") if isinstance(subject, str) else list(subject)
        codes = [_SPECIAL[x] if x in _SPECIAL else _LITERALS.setdefault(x, len(_LITERALS)) for x in toks]
        width = len(codes) if slots is None else slots
        if width < len(codes):
            raise ValueError(f"{toks!r} has more than {width} tokens")
        return cls(len(codes), tuple(codes + [0] * (width - len(codes))))

    @classmethod
    def var(cls, name: str, slots: int) -> Tokens:
        return cls(z3.Int(f"{name}.n"), tuple(z3.Int(f"{name}[{i}]") for i in range(slots)))

    def render(self, m: z3.ModelRef) -> str:
        n = m.eval(self.n, model_completion=True).as_long()
        codes = [m.eval(x, model_completion=True).as_long() for x in self.t[:n]]
        names = [_SPECIAL_NAME[c] if c in _SPECIAL_NAME else NAMES[c] for c in codes]
        return '"' + ".".join(names) + '"'


# -- the semantics, expression style ------------------------------------------


def matches(p: Tokens, s: Tokens) -> Any:
    """Pattern ``p`` matches subject ``s``: validate.tokens_match(s, p), folded from the end.

    ``r`` is the result of the implementation's loop entered at index ``i + 1``;
    each step is one iteration of it, its early returns in the same order.
    Needs ``len(s.t) >= len(p.t)``.
    """
    r = s.n == p.n  # after the loop: return n == len(pattern)
    for i in reversed(range(len(p.t))):
        pi, si = p.t[i], s.t[i]
        r = cases(
            (i >= p.n, s.n == p.n),  # the loop has ended
            (pi == FWC, s.n > i),  # if p == ">": return n > i
            (i >= s.n, False),  # if i >= n: return False
            (and_(pi != STAR, pi != si), False),  # if p != "*" and p != tokens[i]: return False
            otherwise=r,
        )
    return r


def subset(p: Tokens, f: Tokens) -> Any:
    """Every subject ``p`` (which may hold wildcards) matches is matched by filter ``f``.

    validate.subject_matches_filter(p, f) — Go's SubjectMatchesFilter — one
    loop iteration per step, its early returns in the same order. Needs
    ``len(p.t) >= len(f.t)``.
    """
    r = p.n == f.n  # after the loop: return len(toks) == len(test)
    for i in reversed(range(len(f.t))):
        t1, t2 = p.t[i], f.t[i]
        r = cases(
            (i >= f.n, p.n == f.n),  # the loop has ended
            (i >= p.n, False),  # if i >= len(toks): return False
            (t2 == EMPTY, False),  # if not t2: return False
            (t2 == FWC, True),  # if t2 == ">": return True
            (or_(t1 == EMPTY, t1 == FWC), False),  # if not t1 or t1 == ">": return False
            (t1 == STAR, ite(t2 == STAR, r, False)),  # if t1 == "*": False unless t2 == "*", else continue
            (and_(t2 != STAR, t1 != t2), False),  # if t2 != "*" and t1 != t2: return False
            otherwise=r,
        )
    return r


def is_literal(p: Tokens) -> Any:
    """No token is ``*`` or ``>`` (validate.is_literal, at token level)."""
    return and_(*(or_(i >= p.n, and_(x != STAR, x != FWC)) for i, x in enumerate(p.t)))


def same_tokens(p: Tokens, s: Tokens) -> Any:
    """The same subject string: same count, same tokens. Needs ``len(s.t) >= len(p.t)``."""
    return and_(p.n == s.n, *(or_(i >= p.n, x == s.t[i]) for i, x in enumerate(p.t)))


def routable(s: Tokens) -> Any:
    """Sublist.match finds subscriptions only for keys without an empty token."""
    return and_(*(or_(i >= s.n, x != EMPTY) for i, x in enumerate(s.t)))


def is_valid_pattern(p: Tokens) -> Any:
    """A subscription subject Sublist.insert accepts: >= 1 token, none empty, ``>`` only last."""
    return and_(
        p.n >= 1,
        p.n <= len(p.t),
        *(or_(i >= p.n, x >= 0, x == STAR, and_(x == FWC, p.n == i + 1)) for i, x in enumerate(p.t)),
    )


def is_valid_literal(s: Tokens) -> Any:
    """A publish subject: >= 1 token, all literal and non-empty (validate.is_valid_literal_subject)."""
    return and_(s.n >= 1, s.n <= len(s.t), *(or_(i >= s.n, x >= 0) for i, x in enumerate(s.t)))


def drop(p: Tokens, s: Tokens) -> Any:
    """Sublist._invalidate: inserting or removing a subscription on ``p`` drops cache key ``s``.

    Literal ``p`` takes the fast path (drop the key equal to ``p``), any other
    ``p`` drops every key it matches. (The implementation tests for ``*``/``>``
    characters, not tokens, so a literal token such as ``a*`` takes the slow
    path; both paths agree on literal patterns, see
    ``cache_literal_fast_path_is_exact``.)
    """
    return ite(is_literal(p), same_tokens(p, s), matches(p, s))


# -- z3 domains and rendering ------------------------------------------------------


def _slots_in(x: Tokens, lo: int) -> z3.BoolRef:
    """Codes in ``[lo, len(NAMES))`` and canonical zero padding (one model per subject)."""
    return z3.And(
        x.n >= 0,
        x.n <= len(x.t),
        *(z3.If(i < x.n, z3.And(c >= lo, c < len(NAMES)), c == 0) for i, c in enumerate(x.t)),
    )


def _pattern(name: str, k: int) -> tuple[Tokens, list[z3.BoolRef]]:
    p = Tokens.var(name, k)
    return p, [_slots_in(p, FWC), is_valid_pattern(p)]


def _literal_subject(name: str, k: int) -> tuple[Tokens, list[z3.BoolRef]]:
    s = Tokens.var(name, k + 1)
    return s, [_slots_in(s, 0), is_valid_literal(s)]


def _cache_key(name: str, k: int) -> tuple[Tokens, list[z3.BoolRef]]:
    """Any string a client can publish to or the shell can look up: every token code allowed."""
    s = Tokens.var(name, k + 1)
    return s, [_slots_in(s, EMPTY), s.n >= 1]


def _size(*patterns: Tokens, keys: tuple[Tokens, ...] = ()) -> z3.ArithRef:
    """What a readable counterexample keeps small: token counts, and special tokens in keys."""
    special = [z3.If(z3.And(i < x.n, c < 0), 1, 0) for x in keys for i, c in enumerate(x.t)]
    return z3.Sum(*(x.n for x in (*patterns, *keys)), *special)


def _show(**things: Any) -> dict[str, Callable[[z3.ModelRef], str]]:
    def one(x: Any) -> Callable[[z3.ModelRef], str]:
        if isinstance(x, Tokens):
            return x.render
        if callable(x):
            return x
        if not is_symbolic(x):  # a variant under test may return a plain constant
            return lambda m: str(x)
        return lambda m: str(m.eval(x, model_completion=True))

    return {k: one(v) for k, v in things.items()}


def _bounds(k: int) -> str:
    return f"patterns of <= {k} tokens (bounded), subjects of any length and any tokens (complete, see module doc)"


# -- the checks -------------------------------------------------------------------

Matcher = Callable[[Tokens, Tokens], Any]

INSERT, REMOVE, MATCH, SWEEP = range(4)
_OPS = ("insert", "remove", "match", "sweep")


@proof("routing.cache_invalidation_preserves_match", rules=["routing.cache.invalidate", "routing.match"])
def cache_invalidation_preserves_match(
    drop: Matcher = drop, matches: Matcher = matches, k: int = K
) -> Verdict:
    """No cached match result is ever stale: an inductive invariant of the Sublist cache.

    State, per cache key S and per subscription y (pattern Q): is y live; does
    S have a cache entry; is y in that entry. Invariant: if S is cached, y is
    in the entry iff y is live, S is routable and Q matches S. Transitions:
    insert/remove of a subscription x (pattern P; y may or may not be x, and
    distinct subscriptions may share a pattern) dropping the entry when
    ``drop(P, S)``; a match that fills S's entry from the live set; a sweep that
    evicts it. z3 shows the invariant holds initially (empty cache) and that
    every transition preserves it. Since the invariant is a conjunction over
    independent (S, y) pairs and each transition changes a pair only through
    these variables, this is a real induction over every operation sequence,
    for any number of subscriptions; bounded only in pattern length (<= k).
    It is what the rule's "never outlives a change" means, and it holds
    because ``drop`` covers ``matches`` (fast path included). Assumed, not
    proved here: a fill computes the live set that ``matches`` S (the trie walk
    against ``matches`` is what tests/test_sublist.py and the real-Sublist test
    in tests/test_proofs.py check).
    """
    s, dom_s = _cache_key("S", k)
    p, dom_p = _pattern("P", k)
    q, dom_q = _pattern("Q", k)
    same, live, cached, held = z3.Bools("y_is_x live cached held")
    op = z3.Int("op")
    fills, evicted = z3.Bools("match_is_for_S sweep_evicts_S")

    def truth(live_now: Any) -> Any:
        return and_(live_now, routable(s), matches(q, s))

    def inv(c: Any, h: Any, lv: Any) -> Any:
        return implies(c, h == truth(lv))

    mutate = or_(op == INSERT, op == REMOVE)
    live2 = ite(and_(mutate, same), op == INSERT, live)
    refill = and_(op == MATCH, fills, not_(cached))
    cached2 = ite(
        mutate,
        and_(cached, not_(drop(p, s))),
        ite(refill, True, ite(op == SWEEP, and_(cached, not_(evicted)), cached)),
    )
    held2 = ite(refill, truth(live), held)
    given = [*dom_s, *dom_p, *dom_q, op >= 0, op < len(_OPS), implies(same, same_tokens(q, p))]
    claim = z3.And(inv(False, held, live), implies(inv(cached, held, live), inv(cached2, held2, live2)))
    return prove(
        claim,
        given=given,
        size=_size(p, q, keys=(s,)),
        show=_show(
            op=lambda m: _OPS[m.eval(op, model_completion=True).as_long()],
            P=p,
            S=s,
            Q=q,
            y_is_x=same,
            live_before=live,
            cached_before=cached,
            y_in_entry=held,
        ),
        proved=f"inductive: every cached entry equals the live match set after any insert/remove/match/sweep; "
        f"any number of subscriptions; {_bounds(k)}",
    )


@proof("routing.cache_invalidation_is_exact", rules=["routing.cache.invalidate"])
def cache_invalidation_is_exact(drop: Matcher = drop, matches: Matcher = matches, k: int = K) -> Verdict:
    """For a routable key S, a change on pattern P drops S exactly when P matches S.

    The "covers" half is what keeps the cache correct (see the inductive
    check); the other half says invalidation is not wasteful: an entry is
    dropped only if some subscribe/unsubscribe on P can change it. Keys with an
    empty token (always an empty result) may be dropped needlessly, which is
    harmless and not claimed here. Bounded model check, bounds as in the
    module doc.
    """
    s, dom_s = _cache_key("S", k)
    p, dom_p = _pattern("P", k)
    return prove(
        drop(p, s) == matches(p, s),
        given=[*dom_s, *dom_p, routable(s)],
        size=_size(p, keys=(s,)),
        show=_show(P=p, S=s, drop=drop(p, s), matches=matches(p, s)),
        proved=f"drop(P, S) == matches(P, S) for every routable key; {_bounds(k)}",
    )


@proof("routing.cache_literal_fast_path_is_exact", rules=["routing.cache.invalidate", "routing.match"])
def cache_literal_fast_path_is_exact(
    is_literal: Callable[[Tokens], Any] = is_literal, matches: Matcher = matches, k: int = K
) -> Verdict:
    """For a pattern P with no ``*``/``>`` token, P matches S iff S is the same subject.

    This justifies Sublist._invalidate popping only the key equal to a literal
    subject instead of scanning the cache, for every key (even ones with
    empty, ``*`` or ``>`` tokens, which the cache can hold). Bounded model
    check, bounds as in the module doc.
    """
    s, dom_s = _cache_key("S", k)
    p, dom_p = _pattern("P", k)
    return prove(
        implies(is_literal(p), matches(p, s) == same_tokens(p, s)),
        given=[*dom_s, *dom_p],
        size=_size(p, keys=(s,)),
        show=_show(P=p, S=s, matches=matches(p, s)),
        proved=f"literal P: matches(P, S) == (S == P) for every key S; {_bounds(k)}",
    )


@proof("routing.cache_invalidation_witness", rules=["routing.cache.invalidate"])
def cache_invalidation_witness(matches: Matcher = matches, k: int = K) -> Verdict:
    """Sanity: the rule is not vacuous, and wildcard invalidation must reach past the key itself.

    z3 must find a wildcard pattern P and a publishable subject S with more
    tokens than P (so ``>`` stands for two or more of them) whose cached result
    changes when a subscription on P comes or goes. Invalidation that drops
    only the key equal to the changed subject, or that treats ``>`` as a single
    token, would leave that entry stale. Reported as the instance z3 found.
    """
    s, dom_s = _literal_subject("S", k)
    p, dom_p = _pattern("P", k)
    facts = [*dom_s, *dom_p, not_(is_literal(p)), s.n > p.n, matches(p, s)]
    return witness(
        facts,
        size=_size(p, keys=(s,)),
        show=_show(P=p, S=s),
        found="a subscription on P changes the cached result of S",
        vacuous="no wildcard subscription changes a longer key: the invalidation rule would be vacuous",
    )


@proof("routing.match_without_fwc_keeps_length", rules=["routing.match", "routing.subject.tokens"])
def match_without_fwc_keeps_length(matches: Matcher = matches, k: int = K) -> Verdict:
    """A pattern without ``>`` matches only subjects with as many tokens, token by token.

    ``*`` stands for exactly one token. The trie walk relies on this: below a
    ``*`` or literal node it consumes exactly one subject token. Checked against
    the declarative statement (same length, each token ``*`` or equal), for
    every key. Bounded model check, bounds as in the module doc.
    """
    s, dom_s = _cache_key("S", k)
    p, dom_p = _pattern("P", k)
    no_fwc = z3.And(*(z3.Implies(i < p.n, x != FWC) for i, x in enumerate(p.t)))
    tokenwise = z3.And(*(z3.Implies(i < p.n, z3.Or(x == STAR, x == s.t[i])) for i, x in enumerate(p.t)))
    return prove(
        z3.Implies(no_fwc, matches(p, s) == z3.And(s.n == p.n, tokenwise)),
        given=[*dom_s, *dom_p],
        size=_size(p, keys=(s,)),
        show=_show(P=p, S=s, matches=matches(p, s)),
        proved=f"no '>' in P: matches(P, S) iff len(S) == len(P) and each token is '*' or equal; {_bounds(k)}",
    )


@proof("routing.match_fwc_is_prefix_plus_one_or_more", rules=["routing.match", "routing.subject.tokens"])
def match_fwc_is_prefix_plus_one_or_more(matches: Matcher = matches, k: int = K) -> Verdict:
    """A pattern ending in ``>`` matches iff its prefix matches and >= 1 token remains.

    For P = p1...p(n-1).>: matches(P, S) iff len(S) > n - 1 and S's first n-1
    tokens match p1...p(n-1) token-wise. So ``>`` is one *or more* tokens, never
    zero ("a.>" does not match "a"). Bounded model check, bounds as in the
    module doc.
    """
    s, dom_s = _cache_key("S", k)
    p, dom_p = _pattern("P", k)
    ends_fwc = z3.Or(*(z3.And(p.n == i + 1, x == FWC) for i, x in enumerate(p.t)))
    prefix = z3.And(*(z3.Implies(i < p.n - 1, z3.Or(x == STAR, x == s.t[i])) for i, x in enumerate(p.t)))
    return prove(
        z3.Implies(ends_fwc, matches(p, s) == z3.And(s.n > p.n - 1, prefix)),
        given=[*dom_s, *dom_p],
        size=_size(p, keys=(s,)),
        show=_show(P=p, S=s, matches=matches(p, s)),
        proved=f"P = prefix.>: matches(P, S) iff len(S) > len(P) - 1 and the prefix matches; {_bounds(k)}",
    )


@proof("routing.subset_match_is_sound", rules=["routing.subject.tokens", "protocol.perms.subscribe"])
def subset_match_is_sound(subset: Matcher = subset, matches: Matcher = matches, k: int = K) -> Verdict:
    """If subject_matches_filter(P, F), every literal subject P matches, F matches too.

    This is what callers of Go's SubjectMatchesFilter rely on (queue-permission
    checks today; consumer filters inside stream subjects with JetStream): a
    "subset" verdict never admits a subject outside F. Bounded model check,
    bounds as in the module doc.
    """
    p, dom_p = _pattern("P", k)
    f, dom_f = _pattern("F", k)
    s, dom_s = _literal_subject("S", k)
    return prove(
        z3.Implies(z3.And(subset(p, f), matches(p, s)), matches(f, s)),
        given=[*dom_p, *dom_f, *dom_s],
        size=_size(p, f, s),
        show=_show(P=p, F=f, S=s, subset=subset(p, f)),
        proved=f"subset(P, F) and matches(P, S) imply matches(F, S) for all literal S; {_bounds(k)}",
    )


@proof("routing.subset_match_is_complete", rules=["routing.subject.tokens", "protocol.perms.subscribe"])
def subset_match_is_complete(
    subset: Matcher = subset, matches: Matcher = matches, k: int = K_QUANTIFIED
) -> Verdict:
    """If every literal subject P matches is also matched by F, subject_matches_filter(P, F) says so.

    The converse of soundness: the token-wise test rejects no true subset
    (no valid consumer filter or queue permission is refused). The hypothesis
    quantifies over all literal subjects of <= k + 1 tokens over the
    alphabet; restricting it can only add spurious counterexamples, never hide
    one, and k + 1 tokens plus a literal that neither pattern uses at a position
    is enough to separate any non-subset pair, so none are spurious. Bounded in
    pattern length (<= k = K_QUANTIFIED: z3's forall makes this the slow one).
    """
    p, dom_p = _pattern("P", k)
    f, dom_f = _pattern("F", k)
    s, dom_s = _literal_subject("S", k)
    covers = z3.ForAll([s.n, *s.t], z3.Implies(z3.And(*dom_s, matches(p, s)), matches(f, s)))
    return prove(
        z3.Implies(covers, subset(p, f)),
        given=[*dom_p, *dom_f],
        show=_show(P=p, F=f),
        proved=f"every semantic subset pair (P, F) is accepted; {_bounds(k)}",
    )


def enumerate_tokens(alphabet: tuple[str, ...], max_len: int, min_len: int = 0) -> list[list[str]]:
    """Every token list over ``alphabet`` with ``min_len..max_len`` tokens (for exhaustive tests)."""
    return [list(t) for n in range(min_len, max_len + 1) for t in itertools.product(alphabet, repeat=n)]
