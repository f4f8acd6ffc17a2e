"""``rlenvs/Chat-v0`` with ``judge="endogenous"`` (issue 33): the embedded model's endogenous
reward (judges.endogenous) names a judge like ``"smollm2"`` does, and scores a reply."""

from __future__ import annotations

import rlenvs


def test_chat_env_scores_with_the_endogenous_reward_by_name():
    env = rlenvs.make("rlenvs/Chat-v0", judge="endogenous")
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("The sky is blue because air scatters blue light.")
    verdict = info["verdict"]
    assert terminated and 0.0 <= reward <= 1.0
    assert "endogenous reward" in verdict.reason
    assert verdict.details["tokens"] > 5
    assert verdict.score == reward or "endogenous" in info["reward_components"]
