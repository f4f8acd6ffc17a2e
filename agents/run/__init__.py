"""Run plumbing: checkpoints and resume, the metrics file, held-out evaluation, curves, the
GRPO demo and its presets."""
