"""verify_math against math-verify's own test suite, read from a math-verify checkout at run time.

    python benchmarks/bench_math_verify_suite.py PATH [--out benchmarks/results/math_verify_suite.json]

``PATH`` is a checkout of https://github.com/huggingface/Math-Verify (a directory holding
``tests/test_*.py``), an unpacked sdist, or a bare git directory of it (its ``HEAD:tests`` is
read with ``git archive``). Nothing of math-verify's suite is stored here: the cases are
collected from ``PATH`` each run by ``tests/judges/data/math_verify_suite_extract.py`` (every
parametrized ``(gold, pred, expected)`` with the options its test runs it under).

For every case three verdicts are put side by side: the suite's ``expected`` label, ours
(``verify_math(pred, gold)``, default options; a case whose test sets other options gets
the same options), and the installed math-verify's plain ``verify(parse(gold), parse(pred))``.
The report gives the agreement rates and lists every case where ours differs from the
label or from math-verify.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from math_verify import parse, verify

from judges.math import verify_math_batch

ROOT = Path(__file__).resolve().parents[1]
EXTRACTOR = ROOT / "tests" / "judges" / "data" / "math_verify_suite_extract.py"
logging.getLogger("math_verify").setLevel(logging.CRITICAL + 1)


def load_cases(path: Path) -> tuple[list[dict[str, Any]], str]:
    """The suite's cases from a checkout, an sdist or a bare git directory, and a label."""
    spec = importlib.util.spec_from_file_location("math_verify_suite_extract", EXTRACTOR)
    assert spec is not None and spec.loader is not None
    extractor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extractor)
    if (path / "tests").is_dir():
        return extractor.cases(path), str(path)
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", f"--git-dir={path}", "archive", "HEAD", "tests"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        head = subprocess.run(
            ["git", f"--git-dir={path}", "rev-parse", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return extractor.cases(Path(tmp)), f"git {head}"


def _options(case: dict[str, Any]) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if case["precision"] != 6:
        opts["float_rounding"] = case["precision"]
    if not case["strict"]:
        opts["strict"] = False
    if case["allow_set_relation_comp"]:
        opts["allow_set_relation_comp"] = True
    return opts


def ours(cases: list[dict[str, Any]]) -> list[bool]:
    """verify_math's verdicts, batched by option set."""
    out: list[bool] = [False] * len(cases)
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(cases):
        groups.setdefault(json.dumps(_options(c), sort_keys=True), []).append(i)
    for key, idx in groups.items():
        verdicts = verify_math_batch(
            [cases[i]["pred"] for i in idx], [cases[i]["gold"] for i in idx], **json.loads(key)
        )
        for i, v in zip(idx, verdicts, strict=True):
            out[i] = v.passed
    return out


def theirs(cases: list[dict[str, Any]]) -> list[bool]:
    """math-verify's plain ``verify(parse(gold), parse(pred))`` with the case's options."""
    out = []
    for c in cases:
        try:
            ok = verify(
                parse(c["gold"]),
                parse(c["pred"]),
                float_rounding=c["precision"],
                strict=c["strict"],
                allow_set_relation_comp=c["allow_set_relation_comp"],
            )
        except Exception:
            ok = False
        out.append(bool(ok))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", type=Path, help="math-verify checkout, sdist or bare git dir")
    ap.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    args = ap.parse_args()
    cases, label = load_cases(args.path)
    t0 = time.perf_counter()
    mine = ours(cases)
    t1 = time.perf_counter()
    peer = theirs(cases)
    t2 = time.perf_counter()
    expected = [bool(c["expected"]) for c in cases]
    n = len(cases)
    rows = []
    for i, c in enumerate(cases):
        if mine[i] != expected[i] or mine[i] != peer[i]:
            rows.append(
                {
                    "index": i,
                    "source": c["source"],
                    "gold": c["gold"][-80:],
                    "pred": c["pred"][-80:],
                    "expected": expected[i],
                    "verify_math": mine[i],
                    "math_verify": peer[i],
                    "options": _options(c),
                }
            )
    report = {
        "suite": label,
        "cases": n,
        "verify_math_vs_expected": sum(a == b for a, b in zip(mine, expected, strict=True)) / n,
        "math_verify_vs_expected": sum(a == b for a, b in zip(peer, expected, strict=True)) / n,
        "verify_math_vs_math_verify": sum(a == b for a, b in zip(mine, peer, strict=True)) / n,
        "seconds": {"verify_math": round(t1 - t0, 2), "math_verify": round(t2 - t1, 2)},
        "disagreements": rows,
    }
    print(
        f"{label}: {n} cases; agreement with the suite's labels: verify_math "
        f"{report['verify_math_vs_expected']:.2%}, math-verify "
        f"{report['math_verify_vs_expected']:.2%}; verify_math vs math-verify "
        f"{report['verify_math_vs_math_verify']:.2%}"
    )
    for r in rows:
        who = "ours!=label" if r["verify_math"] != r["expected"] else "ours!=theirs"
        print(
            f"  #{r['index']:3d} [{who}] {r['source']}: gold={r['gold'][-50:]!r} "
            f"pred={r['pred'][-50:]!r} expected={int(r['expected'])} "
            f"ours={int(r['verify_math'])} theirs={int(r['math_verify'])}"
        )
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        print(f"report written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
