"""Rollout: turning an environment and an engine into token-level training rows.

* :mod:`agents.rollout.chain` -- one chain of turns per row (``RolloutCollector``, ``Trajectory``);
* :mod:`agents.rollout.tree` -- Tree-GRPO's tree search over turns;
* :mod:`agents.rollout.arpo` -- ARPO's entropy-triggered branching;
* :mod:`agents.rollout.branched` -- the collector both branched rollouts share;
* :mod:`agents.rollout.chat_tokens` -- conversations as token ids, environment tokens masked;
* :mod:`agents.rollout.batch` -- rows collated into padded micro-batches.
"""
