"""Trainers: one base owning the round (collect -> advantages -> optimizer steps -> sync ->
log/checkpoint/eval) in :mod:`agents.trainers.base`; GRPO/RLOO (:mod:`agents.trainers.grpo`),
PPO (:mod:`agents.trainers.ppo`), multi-task CGPO (:mod:`agents.trainers.cgpo`); their settings
in :mod:`agents.trainers.config`."""
