"""Rebuild ``math_verify_suite.jsonl`` from math-verify's own test files (run by hand).

    pip download math-verify==0.9.0 --no-binary :all: --no-deps && tar xzf math_verify-0.9.0.tar.gz
    python math_verify_suite_extract.py math_verify-0.9.0 math_verify_suite.jsonl

Every parametrized ``(gold, pred, expected)`` case of ``tests/test_*.py`` (and the inline
``compare_strings`` call of ``test_precision``), with the config its test runs it under.
"""

from __future__ import annotations

import ast
import json
import math
import sys
from pathlib import Path

HEADER = {
    "source": "https://github.com/huggingface/Math-Verify tests/ "
    "(as shipped in the math-verify 0.9.0 sdist on PyPI)",
    "license": "Apache-2.0 (Copyright The HuggingFace Team; LICENCE of huggingface/Math-Verify)",
    "made_by": "tests/judges/data/math_verify_suite_extract.py",
    "fields": "gold, pred, expected: the case; source: file::test; match_types, precision, "
    "strict, allow_set_relation_comp: the config its test runs it under; helper: through "
    "tests/test_all.py compare_strings (LatexExtractionConfig(boxed_match_priority=0) "
    "and/or ExprExtractionConfig) rather than plain parse()",
}


def _config(call: ast.Call, row: dict) -> dict:
    cfg = {
        "match_types": ["latex", "expr"],
        "precision": 6,
        "strict": True,
        "allow_set_relation_comp": False,
        "helper": call.func.id == "compare_strings",  # type: ignore[attr-defined]
    }
    for kw in call.keywords:
        value = row[kw.value.id] if isinstance(kw.value, ast.Name) else ast.literal_eval(kw.value)
        cfg[kw.arg] = value
    return cfg


def cases(root: Path) -> list[dict]:
    out: list[dict] = []
    for path in sorted(root.glob("tests/test_*.py")):
        for fn in ast.parse(path.read_text()).body:
            if not isinstance(fn, ast.FunctionDef):
                continue
            calls = [
                n
                for n in ast.walk(fn)
                if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") in ("compare_strings", "verify")
            ]
            if not calls:
                continue
            source = f"{path.name}::{fn.name}"
            rows = []
            for dec in fn.decorator_list:
                if isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize":
                    names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
                    if "gold" in names:
                        values = eval(
                            compile(ast.Expression(dec.args[1]), str(path), "eval"), {"math": math}
                        )
                        rows = [dict(zip(names, v, strict=True)) for v in values]
            if not rows:  # inline compare_strings("g", "p", ...) == 1
                for call in calls:
                    if call.func.id == "compare_strings":  # type: ignore[attr-defined]
                        g, p = (ast.literal_eval(a) for a in call.args[:2])
                        out.append(
                            {
                                "source": source,
                                "gold": g,
                                "pred": p,
                                "expected": 1,
                                **_config(call, {}),
                            }
                        )
                continue
            for row in rows:
                expected = int(row.get("expected", row.get("result")))
                case = {
                    "source": source,
                    "gold": row["gold"],
                    "pred": row["pred"],
                    "expected": expected,
                }
                out.append({**case, **_config(calls[0], row)})
    return out


if __name__ == "__main__":
    found = cases(Path(sys.argv[1]))
    with open(sys.argv[2], "w") as f:
        for line in [HEADER, *found]:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{len(found)} cases", file=sys.stderr)
