"""Copy back a procedure's changes to its arguments into the test's own objects (stdlib only;
the test driver's side of a call, see ``_driver``).

Arguments cross to the program by value. A call that returns ``None`` - a procedure, such as an
in-place sort - reports its arguments as they are after the call, and the driver makes the same
changes to the test's objects in place (nested containers too, so the test's aliases see them).
A call that returns a value gets no copy-back: its result is the value, and a test that computes
its expectation from its own inputs after the call keeps them as it made them.
"""

from __future__ import annotations

import collections

MAX_DEPTH = 500


def copy_back(args: list, kwargs: dict, new_args, new_kwargs) -> None:
    """A procedure's changes to its arguments, made to the test's own objects in place."""
    if type(new_args) is list and len(new_args) == len(args):
        for old, new in zip(args, new_args, strict=True):
            _merge(old, new, 0)
    if type(new_kwargs) is dict:
        for key, old in kwargs.items():
            if key in new_kwargs:
                _merge(old, new_kwargs[key], 0)


def _merge(old, new, depth: int):
    """``old`` changed in place to equal ``new`` where both are the same mutable type (nested
    containers too, so the test's aliases see the change); otherwise ``new``."""
    t = type(old)
    if t is not type(new) or depth > MAX_DEPTH:
        return new
    if t is list or t is collections.deque:
        merged = [_merge(o, n, depth + 1) for o, n in zip(old, new, strict=False)]
        merged += list(new)[len(old):]
        old.clear()
        old.extend(merged)
    elif isinstance(old, dict):
        merged = {k: _merge(old[k], v, depth + 1) if k in old else v for k, v in new.items()}
        old.clear()
        old.update(merged)
    elif t is set or t is bytearray:
        old.clear()
        if t is set:
            old.update(new)
        else:
            old.extend(new)
    elif t is tuple and len(old) == len(new):
        merged = [_merge(o, n, depth + 1) for o, n in zip(old, new, strict=True)]
        return old if all(m is o for m, o in zip(merged, old, strict=True)) else new
    else:
        return new
    return old
