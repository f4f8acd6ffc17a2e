"""verify_math vs calling math-verify directly, side by side on the same 1000 pairs.

    python benchmarks/bench_math.py [--pairs 1000] [--seed 0]

The peer is what a user writes without us: ``verify(parse("$" + gold + "$"), parse(response))``
on the main thread (math-verify's signal-based timeouts on, defaults otherwise). Ours is
``verify_math_batch`` (fast path in-process + persistent worker processes with hard kills),
and, for reference, one ``verify_math`` call per pair and the batch without the fast path.
Pool start-up (~0.5 s, once per process) is measured separately, not in the rates.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any

from math_verify import parse, verify
from math_verify import parser as mv_parser
from sympy.core.cache import clear_cache

from judges.math import configure_pool, verify_math, verify_math_batch
from judges.math.pool import get_pool

logging.getLogger("math_verify").setLevel(logging.ERROR)
Timed = tuple[float, list[Any]]


def _frac(rng: random.Random) -> tuple[int, int]:
    return rng.randint(1, 40), rng.randint(2, 40)


def make_pairs(n: int, seed: int) -> list[tuple[str, str, bool]]:
    """``(gold, response, intended_correct)`` pairs over eight families, ~30% wrong."""
    rng = random.Random(seed)
    out: list[tuple[str, str, bool]] = []
    wrap = [
        "The answer is $\\boxed{{{}}}$.",
        "Let me compute step by step.\nSo we get $\\boxed{{{}}}$",
        "Therefore, the final answer is {}.",
        "#### {}",
    ]
    for i in range(n):
        kind = i % 8
        ok = rng.random() > 0.3
        if kind in (0, 1):  # integers
            g = rng.randint(-50, 5000)
            gold, ans = str(g), str(g if ok else g + rng.randint(1, 9))
        elif kind == 2:  # fractions, unreduced / as latex
            a, b = _frac(rng)
            k = rng.randint(1, 4)
            gold = f"\\frac{{{a}}}{{{b}}}"
            ans = f"\\frac{{{a * k}}}{{{b * k}}}" if ok else f"\\frac{{{a + 1}}}{{{b}}}"
        elif kind == 3:  # decimals vs fractions
            a = rng.randint(1, 99)
            gold = f"{a / 4:g}"
            ans = f"\\frac{{{a}}}{{4}}" if ok else f"\\frac{{{a + 1}}}{{4}}"
        elif kind == 4:  # polynomial identities
            c = rng.randint(1, 9)
            gold = f"x^2 + {2 * c}x + {c * c}"
            ans = f"(x+{c})^2" if ok else f"(x+{c + 1})^2"
        elif kind == 5:  # radicals
            r = rng.randint(2, 7)
            gold = f"{r}\\sqrt{{2}}"
            ans = f"\\sqrt{{{2 * r * r}}}" if ok else f"\\sqrt{{{2 * r * r + 1}}}"
        elif kind == 6:  # intervals and sets
            a, b = sorted(rng.sample(range(-20, 20), 2))
            gold = f"[{a}, {b})"
            ans = f"[{a},{b})" if ok else f"({a},{b}]"
        else:  # percentages and decimals
            p = rng.randint(1, 99)
            gold = f"{p}\\%"
            ans = f"{p}\\%" if ok else f"{p + 1}\\%"
        template = wrap[rng.randrange(len(wrap))]
        if kind not in (0, 1) and template == "#### {}":
            template = wrap[0]
        out.append((gold, template.format(ans), ok))
    return out


def _clear_peer_caches() -> None:
    clear_cache()
    for fn in (mv_parser.parse_latex_cached, mv_parser.parse_expr_cached, mv_parser.extract_latex):
        fn.cache_clear()


def run_peer(pairs: list[tuple[str, str, bool]], warm: list[tuple[str, str, bool]]) -> Timed:
    """math-verify on the main thread: warm-up pass (ANTLR's DFA), caches cleared, timed pass."""
    for g, r, _ in warm:
        verify(parse(f"${g}$"), parse(r))
    _clear_peer_caches()
    t = time.perf_counter()
    res = [bool(verify(parse(f"${g}$"), parse(r))) for g, r, _ in pairs]
    return time.perf_counter() - t, res


def run_ours(
    pairs: list[tuple[str, str, bool]],
    warm: list[tuple[str, str, bool]],
    *,
    batch: bool,
    workers: int | None = None,
    **opts: Any,
) -> Timed:
    """A fresh pool (start-up excluded), a warm-up pass on other pairs, then the timed pass."""
    configure_pool(workers=workers)
    get_pool().warm()
    verify_math_batch([r for _, r, _ in warm], [g for g, _, _ in warm], fast_path=False)
    golds = [g for g, _, _ in pairs]
    responses = [r for _, r, _ in pairs]
    t = time.perf_counter()
    if batch:
        res: list[Any] = verify_math_batch(responses, golds, **opts)
    else:
        res = [verify_math(r, g, **opts) for r, g in zip(responses, golds, strict=True)]
    return time.perf_counter() - t, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=300, help="warm-up pairs (another seed)")
    ap.add_argument("--rounds", type=int, default=1, help="best of N rounds per variant")
    args = ap.parse_args()
    pairs = make_pairs(args.pairs, args.seed)
    warm = make_pairs(args.warmup, args.seed + 1)
    n = len(pairs)

    t = time.perf_counter()
    configure_pool()
    get_pool().warm()
    startup = time.perf_counter() - t
    size = get_pool().size

    variants: dict[str, Callable[[], Timed]] = {
        "math-verify direct (main thread)": lambda: run_peer(pairs, warm),
        f"verify_math_batch ({size} workers)": lambda: run_ours(pairs, warm, batch=True),
        f"verify_math, one call per pair ({size} workers)": lambda: run_ours(
            pairs, warm, batch=False
        ),
        f"verify_math_batch, fast_path=False ({size} w.)": lambda: run_ours(
            pairs, warm, batch=True, fast_path=False
        ),
        "verify_math_batch (1 worker)": lambda: run_ours(pairs, warm, batch=True, workers=1),
        "verify_math_batch, fast_path=False (1 worker)": lambda: run_ours(
            pairs, warm, batch=True, workers=1, fast_path=False
        ),
    }
    best: dict[str, float] = {}
    results: dict[str, list[Any]] = {}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            seconds, res = fn()
            best[name] = min(best.get(name, float("inf")), seconds)
            results[name] = res
    configure_pool()

    names = list(variants)
    peer = results[names[0]]
    ours = results[names[1]]
    print(f"pairs: {n} (seed {args.seed}); CPUs: {os.cpu_count()}; pool start-up {startup:.2f} s")
    print(
        f"best of {args.rounds} round(s); every pass: warm-up on {len(warm)} other pairs, then"
        " answer caches cleared (peer) / fresh worker processes (ours)"
    )
    print(f"{'variant':50s} {'pairs/s':>9s} {'ratio':>7s}")
    for name in names:
        r = n / best[name]
        print(f"{name:50s} {r:9.0f} {r * best[names[0]] / n:7.2f}")
    fast = sum(v.details.get("method") == "fast_path" for v in ours)
    agree = sum(p == v.passed for p, v in zip(peer, ours, strict=True))
    ok_ours = sum(ok == v.passed for (_, _, ok), v in zip(pairs, ours, strict=True))
    ok_peer = sum(ok == p for (_, _, ok), p in zip(pairs, peer, strict=True))
    consistent = all(
        [v.passed for v in results[name]] == [v.passed for v in ours] for name in names[1:]
    )
    print(f"fast path decided {fast}/{n} pairs")
    print(f"verdict agreement with math-verify direct: {agree}/{n}")
    print(f"matches the generator's intended label: ours {ok_ours}/{n}, direct {ok_peer}/{n}")
    print(f"all verify_math variants give identical verdicts: {consistent}")


if __name__ == "__main__":
    main()
