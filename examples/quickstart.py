"""Evaluate the embedded SmolLM2 on a few arithmetic tasks, by hand and with the harness."""

import rlenvs
from rlenvs.policies import load_policy

policy = load_policy("smollm2")
env = rlenvs.make("rlenvs/Arithmetic-v0", level=1, lenient=True)
obs, info = env.reset(seed=0)
reply = policy.generate([obs])[0]
obs, reward, terminated, truncated, info = env.step(reply)
print(f"task {info['verdict'].details.get('extracted')!r}: reward={reward} ({info['verdict'].reason})")

result = rlenvs.evaluate("rlenvs/Arithmetic-v0", policy, episodes=8, env_kwargs={"level": 1})
print(result.summary["pass_at_k"])
