"""Compile trusted test source in the parent (tests are trusted, programs are not).

The test driver in the sandbox runs the compiled code object as it is: tests see the program
only as plain data and handles (see ``_driver``), so comparisons need no rewriting. Compiling
here catches a test that does not compile before any sandbox is used. Cached.
"""

from __future__ import annotations

import functools
import marshal

__all__ = ["compile_test", "BadTestSource"]


class BadTestSource(ValueError):
    """The test source itself does not compile."""


@functools.lru_cache(maxsize=4096)
def compile_test(source: str, filename: str = "<test>") -> bytes:
    """Compile one test; returns ``marshal`` bytes of the code object.

    Raises:
        BadTestSource: the test source has a syntax error.
    """
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        raise BadTestSource(f"test does not compile: {exc}") from exc
    return marshal.dumps(code)
