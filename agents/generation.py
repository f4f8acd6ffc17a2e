"""The engine a trainer samples with: :mod:`judges.llm.sampler`, the house's one inference layer.

The CPU engine (:class:`TorchSampler`), the sampling type and the protocol moved down to
``judges.llm`` so that evaluation, serving and the LLM judges generate through the same engine
as training. This module keeps the old import path.
"""

from judges.llm.sampler import *  # noqa: F403 -- the same names, one implementation
from judges.llm.sampler import __all__  # noqa: F401
