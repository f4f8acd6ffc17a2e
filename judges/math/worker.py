"""The math-verify worker process, and the message framing shared with the pool.

A worker is a separate Python process (``python -m judges.math.worker``) started by
:mod:`judges.math.pool`. It reads length-prefixed JSON requests on stdin and writes one
length-prefixed JSON result per item on a private copy of stdout (fd 1 itself is pointed at
stderr, so stray prints cannot corrupt the protocol).

Inside the worker:

* ``RLIMIT_AS`` caps its memory (``RLENVS_MATH_MEMORY_MB``, set by the pool) and core dumps
  are off;
* math-verify runs with its own timeouts disabled (``parsing_timeout=None``,
  ``timeout_seconds=None``) because it is the only thing running here;
* a *soft* timeout (``setitimer`` + SIGALRM, fine here: this is the worker's main thread)
  interrupts slow pure-Python work such as ``simplify`` so the worker survives; work stuck
  in C (huge integer powers) is handled by the pool's hard kill;
* parsed sympy objects never leave the process; results carry booleans, floats and
  strings truncated here.

Heavy imports (sympy, math-verify) happen only in :func:`main`, so importing this module
for the framing helpers is cheap.
"""

from __future__ import annotations

import json
import os
import re
import struct
import time
from collections import OrderedDict
from typing import Any

__all__ = ["write_msg", "read_msg", "main"]

_HEADER = struct.Struct("!I")
MAX_MSG = 256 * 1024 * 1024


def write_msg(fd: int, obj: Any) -> None:
    """Write one length-prefixed JSON message to ``fd`` (blocking until all is written)."""
    body = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_msg(fd: int) -> Any | None:
    """Read one message from ``fd``; None at end of file."""
    head = _read_exact(fd, _HEADER.size)
    if head is None:
        return None
    (size,) = _HEADER.unpack(head)
    if size > MAX_MSG:
        raise ValueError(f"message of {size} bytes is too large")
    body = _read_exact(fd, size)
    if body is None:
        return None
    return json.loads(body)


# ----------------------------------------------------------------------- worker internals


class _SoftTimeout(BaseException):
    """Raised by SIGALRM inside the worker; BaseException so `except Exception` misses it."""


def _limit_memory() -> None:
    import resource

    mb = int(os.environ.get("RLENVS_MATH_MEMORY_MB", "0") or 0)
    if mb > 0:
        limit = mb * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ValueError, OSError):
            pass
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass


def _watch_parent(parent: int) -> None:
    """Exit when the pool's process is gone (a thread; works whenever the GIL is free)."""
    import threading
    import time

    def loop() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=loop, name="parent-watch", daemon=True).start()


def _covers_digits(parsed: list[Any], text: str) -> bool:
    """The plain-expression parse used every digit of the answer: ``"1 000"`` -> 1000 yes,
    ``"11 \\mid 12"`` -> 12 no (a fragment of the answer is not the answer)."""
    shown = next((x for x in parsed if isinstance(x, str)), "")
    digits = sum(ch in "0123456789" for ch in text)
    return digits > 0 and sum(ch in "0123456789" for ch in shown) >= digits


_DECIMAL_RE = re.compile(r"(?<![\d.,])(\d*)\.(\d+)(?![\d.])(?!,\d)(?!\s*\\?%)")
_ANY_DECIMAL_RE = re.compile(r"\d\.\d|(?<![\d.])\.\d")


def exact_decimals(text: str) -> str:
    """Decimal literals written as the exact fractions they are (``0.25`` -> ``(25/100)``),
    so that an exact gold is compared exactly, not after rounding."""
    return _DECIMAL_RE.sub(
        lambda m: f"({int(m.group(1) + m.group(2))}/1{'0' * len(m.group(2))})", text
    )


class _Engine:
    """Parses and compares inside the worker; keeps an LRU cache of parsed answers."""

    def __init__(self) -> None:
        import logging

        from math_verify import (
            ExprExtractionConfig,
            LatexExtractionConfig,
            StringExtractionConfig,
            parse,
            verify,
        )

        for name in ("math_verify", "latex2sympy2_extended"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        self.parse, self.verify = parse, verify
        self.Latex, self.Expr, self.String = (
            LatexExtractionConfig,
            ExprExtractionConfig,
            StringExtractionConfig,
        )
        self.cache: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()
        parse("$1$", parsing_timeout=None)  # warm the regex caches

    def _configs(self, targets: list[str], boxed_priority: int) -> list[Any]:
        out: list[Any] = []
        for t in targets:
            if t == "latex":
                out.append(self.Latex(boxed_match_priority=boxed_priority))
            elif t == "expr":
                out.append(self.Expr())
            elif t == "string":
                out.append(self.String())
        return out

    def parse_one(self, text: str, mode: str, targets: list[str], bp: int) -> list[Any]:
        """``mode`` "text": math-verify's own extraction; "answer": an extracted answer."""
        if mode == "text":
            return list(self.parse(text, self._configs(targets, bp), parsing_timeout=None))
        boxed = list(
            self.parse(
                "\\boxed{" + text + "}", [self.Latex(boxed_match_priority=0)], parsing_timeout=None
            )
        )
        if any(not isinstance(x, str) for x in boxed):
            return boxed
        plain = list(self.parse(text, [self.Expr()], parsing_timeout=None))
        if any(not isinstance(x, str) for x in plain) and _covers_digits(plain, text):
            return plain
        return [x for x in boxed if isinstance(x, str)] or [text]

    def parsed(self, text: str, mode: str, targets: list[str], bp: int) -> list[Any]:
        """``parse_one`` through an LRU cache (golds repeat across a GRPO group, and so do
        popular answers); long texts are not cached."""
        if len(text) > 2000:
            return self.parse_one(text, mode, targets, bp)
        key = (text, mode, tuple(targets), bp)
        hit = self.cache.get(key)
        if hit is not None:
            self.cache.move_to_end(key)
            return hit
        hit = self.parse_one(text, mode, targets, bp)
        self.cache[key] = hit
        if len(self.cache) > 4096:
            self.cache.popitem(last=False)
        return hit

    @staticmethod
    def value(objs: list[Any]) -> float | None:
        """A float for a plainly numeric parse (numbers, percentages, small expressions)."""
        import math

        import sympy

        for obj in objs:
            if isinstance(obj, str):
                continue
            try:
                if not isinstance(obj, sympy.Expr) or obj.free_symbols:
                    return None
                if not obj.is_Number:
                    if sympy.count_ops(obj) > 40:
                        return None
                    obj = obj.doit().evalf(20)
                if not (obj.is_real and obj.is_Number):
                    return None
                v = float(obj)
                return v if math.isfinite(v) else None
            except Exception:
                return None
        return None

    @staticmethod
    def rationals_differ(gold: list[Any], pred: list[Any]) -> bool:
        """Both first parses are exact rational numbers (no percent) and they differ."""
        import sympy

        g = next((x for x in gold if not isinstance(x, str)), None)
        p = next((x for x in pred if not isinstance(x, str)), None)
        for x in (g, p):
            if not isinstance(x, sympy.Expr) or x.free_symbols or x.has(sympy.UnevaluatedExpr):
                return False
        if g == p or (g.is_Rational and p.is_Rational):
            return False  # identical, or already compared exactly by math-verify
        gv, pv = g.doit(), p.doit()
        return bool(gv.is_Rational and pv.is_Rational and gv != pv)

    def same(self, item: dict[str, Any], gold: list[Any], pred: list[Any], text: str) -> bool:
        """math-verify's ``verify`` plus two integrity rules: exact rationals are compared
        exactly, and every constant side of a predicted equation (``41 = 42``) must equal
        the gold too -- unless the gold is itself an equation."""
        if not gold or not pred:
            return False
        equal = bool(
            self.verify(
                gold,
                pred,
                float_rounding=int(item.get("fr", 6)),
                numeric_precision=int(item.get("np", 15)),
                strict=bool(item.get("strict", True)),
                allow_set_relation_comp=bool(item.get("asr", False)),
                timeout_seconds=None,
            )
        )
        if equal and item.get("exact", True) and "." not in item["g"] + text:
            equal = not self.rationals_differ(gold, pred)
        if equal and item.get("exact_gold") and item.get("decimal"):
            equal = self.exactly_equal(gold, pred)
        if equal:
            sides = self.constant_sides(gold, pred)
            equal = all(self.same(item, gold, [side], text) for side in sides)
        return equal

    @staticmethod
    def exactly_equal(gold: list[Any], pred: list[Any]) -> bool:
        """An exact gold against an answer written with decimals (read as the exact
        fractions they are): equal only when the difference simplifies to 0 -- a decimal
        close to ``1/3`` or to ``\\pi`` is not it. Sets, tuples and relations keep
        math-verify's element-wise verdict (their decimals are exact fractions already)."""
        import sympy

        g = next((x for x in gold if not isinstance(x, str)), None)
        p = next((x for x in pred if not isinstance(x, str)), None)
        if not isinstance(g, sympy.Expr) or not isinstance(p, sympy.Expr):
            return True
        try:
            return sympy.simplify(g.doit() - p.doit()) == 0
        except Exception:  # not provably the same value: a decimal is not an exact answer
            return False

    @staticmethod
    def constant_sides(gold: list[Any], pred: list[Any]) -> list[Any]:
        """Sides without symbols of the equations in the first parse of ``pred`` (none when
        the gold holds an equation)."""
        import sympy

        def eqs(obj: Any) -> list[Any]:
            if isinstance(obj, sympy.Eq):
                return [obj]
            if isinstance(obj, sympy.And | sympy.FiniteSet | sympy.Tuple):
                return [e for a in obj.args for e in eqs(a)]
            return []

        g = next((x for x in gold if not isinstance(x, str)), None)
        p = next((x for x in pred if not isinstance(x, str)), None)
        if g is None or p is None or eqs(g):
            return []
        sides = [s for e in eqs(p) for s in e.args]
        return [s for s in sides if isinstance(s, sympy.Expr) and not s.free_symbols]

    def run(self, item: dict[str, Any]) -> dict[str, Any]:
        targets, bp = item.get("targets", ["latex", "expr"]), int(item.get("bp", 0))
        if item.get("kind") == "extract":
            found = self.parse_one(item["p"], "text", targets, bp)
            shown = next((x for x in found if isinstance(x, str)), "")
            return {"status": "ok", "pred_found": bool(found), "pred_text": shown[:200]}
        exact = bool(item.get("exact_gold"))
        texts = [item["p"], *(item.get("parts") or []), str(item.get("trail") or "")]
        item["decimal"] = exact and any(_ANY_DECIMAL_RE.search(t) for t in texts)
        if exact:  # the policy's decimals are the exact values they write, nothing rounder
            item["p"] = exact_decimals(item["p"])
            item["parts"] = [exact_decimals(x) for x in item.get("parts") or []]
            if item.get("trail") is not None:
                item["trail"] = exact_decimals(str(item["trail"]))
        gold = self.parsed(item["g"], item.get("gm", "answer"), targets, bp)
        pred = self.parsed(item["p"], item.get("pm", "answer"), targets, bp)
        out: dict[str, Any] = {
            "status": "ok",
            "gold_parsed": any(not isinstance(x, str) for x in gold),
            "pred_parsed": any(not isinstance(x, str) for x in pred),
            "gold_found": bool(gold),
            "pred_found": bool(pred),
        }
        if item.get("pm") == "text":
            shown = next((x for x in pred if isinstance(x, str)), "")
            out["pred_text"] = shown[:200]
        # joined values against a single-valued gold: only the each-part reading applies
        equal = self.same(item, gold, pred, item["p"]) if item.get("whole", True) else False
        if not equal and item.get("parts"):  # one value written several ways
            equal = all(
                self.same(item, gold, self.parsed(p, "answer", targets, bp), p)
                for p in item["parts"]
            )
        if equal and item.get("trail") is not None:  # the value stated last must agree
            trail = str(item["trail"])
            equal = self.same(item, gold, self.parsed(trail, "answer", targets, bp), trail)
        if item.get("values") or item.get("rel_tol"):
            g, p = self.value(gold), self.value(pred)
            out["gold_value"], out["pred_value"] = g, p
            tol = item.get("rel_tol")
            if not equal and tol and g is not None and p is not None:
                equal = abs(g - p) <= float(tol) * max(abs(g), abs(p))
        out["equal"] = equal
        return out


def _run_item(engine: _Engine, item: dict[str, Any], timeout: float) -> dict[str, Any]:
    import signal

    signal.setitimer(signal.ITIMER_REAL, max(0.001, timeout))
    cpu = time.process_time()
    try:
        return engine.run(item)
    except _SoftTimeout:  # cpu_s: what the answer itself cost (a starved worker costs little)
        return {"status": "timeout", "cpu_s": time.process_time() - cpu}
    except MemoryError:
        return {"status": "memory", "restart": True}
    except RecursionError:
        return {"status": "error", "error": "RecursionError"}
    except Exception as exc:  # any parser/sympy failure is a verdict, not a crash
        return {"status": "error", "error": type(exc).__name__}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main() -> None:
    """Worker entry point: serve requests until stdin closes."""
    import signal
    import sys

    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    parent = os.getppid()
    _limit_memory()
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def on_alarm(signum: int, frame: Any) -> None:
        raise _SoftTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    try:
        engine = _Engine()
    except BaseException as exc:  # report and die: the pool will not retry forever
        write_msg(out_fd, {"ready": False, "error": f"{type(exc).__name__}: {exc}"[:500]})
        os._exit(2)
    _watch_parent(parent)
    write_msg(out_fd, {"ready": True, "pid": os.getpid()})
    while True:
        request = read_msg(0)
        if request is None:
            os._exit(0)
        timeout = float(request.get("timeout", 5.0))
        for item in request["items"]:
            try:
                result = _run_item(engine, item, timeout)
            except _SoftTimeout:  # the alarm fired between the work and its cancellation
                result = {"status": "timeout"}
            write_msg(out_fd, result)
            if result.get("restart"):
                os._exit(3)


if __name__ == "__main__":
    main()
