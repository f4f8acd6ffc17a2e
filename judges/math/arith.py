"""Arithmetic claims in a solution step, checked exactly with sympy (no ``eval``).

:func:`find_claims` normalises LaTeX and words (``\\times``, ``\\frac{a}{b}``, "plus",
"is", "% of") to a small token language, finds relation chains (``=``, ``\\approx``,
``\\neq``) and checks each link whose sides parse as arithmetic: numbers,
``+ - * / ^ ! % ( )``, ``sqrt`` and ``pi``. The parser is recursive descent over that
whitelist; values are sympy Rationals (exact) or simple irrationals; integer sizes are
capped at 20 000 bits, exponents at 1000, factorials at 500, runs at 200 tokens.
"""

from __future__ import annotations

import re

import sympy

__all__ = ["find_claims"]

_MAX_BITS = 20_000


# --------------------------------------------------------------------------- normalising

_REPLACE = [
    (re.compile(r"\*\*|__"), " "),
    (re.compile(r"\\left|\\right|\\[,;!: ]|\\displaystyle"), " "),
    (re.compile(r"\\(?:times|cdot|ast)\b|[×·⋅∗]"), "*"),
    (re.compile(r"\\div\b|÷"), "/"),
    (re.compile(r"[\u2212\u2013]"), "-"),
    (re.compile(r"\\approx\b|≈"), " ~= "),
    (re.compile(r"\\neq?\b|≠"), " != "),
    (re.compile(r"\\(?:le|ge|leq|geq|lt|gt)\b|[<>≤≥]"), " ; "),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\?\$"), " "),
    (re.compile(r"\\pi\b|π"), " pi "),
    (re.compile(r"\\(?:text|mathrm|textbf|mathbf|operatorname)\{([^{}]*)\}"), r" \1 "),
    (re.compile(r"\\(?:boxed|fbox)\s*\{"), "{"),
    (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""),
    (re.compile(r"\bmultiplied by\b|\btimes\b", re.I), "*"),
    (re.compile(r"\bdivided by\b|\bover\b", re.I), "/"),
    (re.compile(r"\bplus\b", re.I), "+"),
    (re.compile(r"\bminus\b", re.I), "-"),
    (re.compile(r"\b(?:equals|is equal to|equal to)\b", re.I), "="),
    (re.compile(r"\b(?:is|makes|gives|yields)\b", re.I), " IS "),
    (re.compile(r"%\s*of\b", re.I), "% *"),
]
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_SQRT = re.compile(r"\\sqrt\s*\{([^{}]*)\}")


def _normalise(text: str) -> str:
    s = text
    for _ in range(8):
        t = _SQRT.sub(r" sqrt(\1)", _FRAC.sub(r"((\1)/(\2))", s))
        if t == s:
            break
        s = t
    for pattern, rep in _REPLACE:
        s = pattern.sub(rep, s)
    s = re.sub(r"\\[A-Za-z]+", " CMD ", s)
    return s.replace("{", "(").replace("}", ")")


_TOKEN = re.compile(
    r"(?P<ws>\s+)|(?P<num>\d+(?:\.\d+)?|\.\d+)|(?P<rel>~=|!=|=|\bIS\b)|(?P<fn>\bsqrt\b|\bpi\b)"
    r"|(?P<op>[-+*/^!%()])|(?P<word>[A-Za-z_]\w*)|(?P<other>.)"
)


def _tokens(s: str) -> list[tuple[str, str, bool]]:
    """``(kind, text, space_before)`` tokens, whitespace folded into the flag."""
    out: list[tuple[str, str, bool]] = []
    space = True
    for m in _TOKEN.finditer(s):
        kind = m.lastgroup or "other"
        if kind == "ws":
            space = True
            continue
        out.append((kind, m.group(), space))
        space = False
    return out


# ------------------------------------------------------------------------------ evaluating


class _Unchecked(Exception):
    """The expression is not something we evaluate (too big, malformed, undefined)."""


def _bounded(v: sympy.Expr) -> sympy.Expr:
    if v.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise _Unchecked("undefined")
    if isinstance(v, sympy.Rational) and max(abs(v.p).bit_length(), v.q.bit_length()) > _MAX_BITS:
        raise _Unchecked("too large")
    return v


class _Parser:
    """expr := term (+|- term)*; term := unary ((*|/) unary | implicit)*;
    unary := (+|-) unary | power; power := postfix (^ unary)?;
    postfix := atom (!|%)*; atom := number | ( expr ) | sqrt atom | pi"""

    def __init__(self, toks: list[tuple[str, str, bool]]) -> None:
        self.toks, self.i = toks, 0

    def peek(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.toks[self.i][1]
        self.i += 1
        return tok

    def parse(self) -> sympy.Expr:
        v = self.expr()
        if self.i != len(self.toks):
            raise _Unchecked("trailing tokens")
        return v

    def expr(self) -> sympy.Expr:
        v = self.term()
        while self.peek() in ("+", "-"):
            v = _bounded(v + self.term() if self.take() == "+" else v - self.term())
        return v

    def term(self) -> sympy.Expr:
        v = self.unary()
        while True:
            nxt = self.peek()
            if nxt in ("*", "/"):
                self.take()
                rhs = self.unary()
                if nxt == "/" and rhs == 0:
                    raise _Unchecked("division by zero")
                v = _bounded(v * rhs if nxt == "*" else v / rhs)
            elif nxt in ("(", "sqrt", "pi"):
                v = _bounded(v * self.unary())
            else:
                return v

    def unary(self) -> sympy.Expr:
        if self.peek() in ("-", "+"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.postfix()
        if self.peek() != "^":
            return base
        self.take()
        exp = self.unary()
        if not exp.is_Rational or abs(exp.p) > 1000 or exp.q > 12:
            raise _Unchecked("exponent out of range")
        if base.is_Rational:
            bits = max(abs(base.p).bit_length(), base.q.bit_length(), 1)
            if bits * abs(exp.p) > _MAX_BITS:
                raise _Unchecked("power too large")
        if base == 0 and exp.is_negative:
            raise _Unchecked("division by zero")
        return _bounded(base**exp)

    def postfix(self) -> sympy.Expr:
        v = self.atom()
        while self.peek() in ("!", "%"):
            if self.take() == "%":
                v = v / 100
            else:
                if not (v.is_Integer and 0 <= v <= 500):
                    raise _Unchecked("factorial out of range")
                v = sympy.factorial(v)
        return v

    def atom(self) -> sympy.Expr:
        tok = self.peek()
        if tok is None:
            raise _Unchecked("missing operand")
        self.take()
        kind = self.toks[self.i - 1][0]
        if kind == "num":
            if len(tok) > 40:
                raise _Unchecked("number too long")
            return sympy.Rational(tok)
        if tok == "(":
            v = self.expr()
            if self.peek() != ")":
                raise _Unchecked("unbalanced parenthesis")
            self.take()
            return v
        if tok == "sqrt":
            v = self.atom()
            if v.is_negative:
                raise _Unchecked("square root of a negative number")
            return _bounded(sympy.sqrt(v))
        if tok == "pi":
            return sympy.pi
        raise _Unchecked(f"unexpected {tok!r}")


_OPS = {"+", "-", "*", "/", "^", "!", "%", "sqrt", "pi"}


def _decimals(side: list[tuple[str, str, bool]]) -> int | None:
    """Decimal places of a side that is a single decimal literal, else None."""
    if len(side) == 1 and side[0][0] == "num" and "." in side[0][1]:
        return len(side[0][1].split(".")[1])
    return None


def _holds(rel: str, lhs: list, rhs: list) -> tuple[bool, str]:
    a, b = _Parser(lhs).parse(), _Parser(rhs).parse()
    diff = a - b
    d = abs(sympy.N(diff, 30))
    if rel == "!=":
        return bool(d > 1e-12), ""
    k_rhs, k_lhs = _decimals(rhs), _decimals(lhs)
    # the "claim" is a bare decimal literal on one side; "true" is the other side's value
    k, true = (k_rhs, a) if k_rhs is not None else (k_lhs, b) if k_lhs is not None else (None, a)
    if rel == "~=":
        tol = max(10.0 ** -(k if k is not None else 2), 0.005 * float(abs(sympy.N(true, 30))))
        return bool(d <= tol), ""
    if diff == 0 or d <= 1e-12 * max(1.0, float(abs(sympy.N(a, 30)))):
        return True, ""
    if k:  # a rounded decimal claim: fine when the true value needs more than k decimals
        if not (true * 10**k).is_Integer and d < 10.0**-k:
            return True, ""
    return False, f"{_show(a)} vs {_show(b)}"


def _show(v: sympy.Expr) -> str:
    if v.is_Rational and max(abs(v.p), v.q) < 10**15:
        return str(v)
    return str(sympy.N(v, 12))


def find_claims(text: str) -> list[tuple[str, bool, str]]:
    """``(claim, holds, note)`` for every checkable relation in ``text``."""
    toks = _tokens(_normalise(text))
    out: list[tuple[str, bool, str]] = []
    runs: list[tuple[int, int]] = []
    start = None
    for i, (kind, _tok, _sp) in enumerate(toks + [("word", "", True)]):
        if kind in ("num", "op", "rel", "fn"):
            if start is None:
                start = i
        elif start is not None:
            runs.append((start, i))
            start = None
    for a, b in runs:
        run = toks[a:b]
        if not any(k == "rel" for k, _, _ in run) or len(run) > 200:
            continue
        sides: list[list] = [[]]
        rels: list[str] = []
        for tok in run:
            if tok[0] == "rel":
                rels.append(tok[1])
                sides.append([])
            else:
                sides[-1].append(tok)
        before = toks[a - 1] if a > 0 else None
        after = toks[b] if b < len(toks) else None
        first = sides[0]
        if (
            first
            and first[0][1] in "*/^!%)"
            or (first and first[0][1] in "+-" and before is not None and before[0] == "word")
        ):
            sides[0] = []
        last = sides[-1]
        if last and (
            last[-1][1] in "+-*/^(" or (after is not None and after[0] == "word" and not after[2])
        ):
            sides[-1] = []
        for j, rel in enumerate(rels):
            lhs, rhs = sides[j], sides[j + 1]
            if not lhs or not rhs:
                continue
            has_op = [any(t[1] in _OPS for t in s) for s in (lhs, rhs)]
            if rel == "IS" and not (has_op[0] and len(rhs) == 1 and rhs[0][0] == "num"):
                continue
            if not any(has_op):
                continue
            rel_ = "=" if rel == "IS" else rel
            claim = f"{' '.join(t[1] for t in lhs)} {rel_} {' '.join(t[1] for t in rhs)}"
            try:
                ok, note = _holds(rel_, lhs, rhs)
            except (_Unchecked, TypeError, ValueError, ZeroDivisionError, OverflowError):
                continue
            out.append((claim[:200], ok, note))
    return out
