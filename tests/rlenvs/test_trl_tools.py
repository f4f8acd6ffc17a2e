"""One real TRL GRPO step on ToolMath-v0 whose tool calls run through the rlenvs environment.

The policy is the real SmolLM2-135M with a scripted logits processor (``ScriptedTurns``) that
forces the text of each assistant turn; every other part is TRL's own: its chat-template tool
rendering, its tool-call parser, its tool loop calling our ``environment_factory`` methods, its
``tool_mask``, its loss and optimizer step. The script never sees the gold answer: turn 1 calls
the ``python`` tool (one rollout per group carefully, one carelessly, off by one), turn 2 copies
whatever the tool printed into ``\\boxed{}``. So a rollout earns reward 1.0 only if the real
sandboxed tool output reached the policy's context through TRL, and the group has a reward
spread, which gives nonzero advantages and a real weight update.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable

import pytest
import torch

from rlenvs.adapters import (
    env_dataset,
    env_reward_func,
    environment_factory,
    tool_calling_tokenizer,
)

trl = pytest.importorskip("trl")
transformers = pytest.importorskip("transformers")

ENV_ID = "rlenvs/ToolMath-v0"
ENV_KWARGS = {"kinds": ("multiply",)}
HEADER = "<|im_start|>assistant\n"
SYSTEM = "You are a careful assistant. Use the tools to compute exactly."


def _tokenizer():
    from judges.llm.embedded import embedded_model_dir

    return transformers.AutoTokenizer.from_pretrained(str(embedded_model_dir()))


def _qwen_template(tok):
    from trl.chat_template_utils import qwen2_5_chat_template

    out = transformers.AutoTokenizer.from_pretrained(tok.name_or_path)
    out.chat_template = qwen2_5_chat_template
    return out


class ScriptedTurns(transformers.LogitsProcessor):
    """Forces each assistant turn to ``script(context, k)`` followed by EOS.

    ``context`` is the decoded text up to and including the last assistant header of the row;
    ``k`` counts earlier rows of the batch with the same context (the k-th generation of a
    prompt). Only the next token of the scripted text is allowed while the row still follows it.
    """

    def __init__(self, tokenizer, script: Callable[[str, int], str]) -> None:
        self.tok, self.script = tokenizer, script
        self.header = tokenizer(HEADER, add_special_tokens=False)["input_ids"]
        self.targets: dict[tuple[tuple[int, ...], int], list[int]] = {}
        self.forced_turns: list[str] = []

    def _turn_start(self, row: list[int]) -> int:
        n = len(self.header)
        for i in range(len(row) - n, -1, -1):
            if row[i:i + n] == self.header:
                return i + n
        raise AssertionError("no assistant header in the generation context")

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        seen: Counter = Counter()
        for i, row in enumerate(input_ids.tolist()):
            start = self._turn_start(row)
            context, generated = tuple(row[:start]), row[start:]
            key = (context, seen[context])
            seen[context] += 1
            if key not in self.targets:
                text = self.script(self.tok.decode(list(context)), key[1])
                self.forced_turns.append(text)
                self.targets[key] = (self.tok(text, add_special_tokens=False)["input_ids"]
                                     + [self.tok.eos_token_id])
            target = self.targets[key]
            if len(generated) < len(target) and generated == target[:len(generated)]:
                scores[i, :] = float("-inf")
                scores[i, target[len(generated)]] = 0.0
        return scores


def _call(code: str) -> str:
    return f'<tool_call>\n{json.dumps({"name": "python", "arguments": {"code": code}})}\n</tool_call>'


def policy_script(context: str, k: int) -> str:
    """Turn 1: compute the product with python (generation k=1 adds 1 by mistake).
    Turn 2: box what the tool printed."""
    responses = re.findall(r"<tool_response>\n(.*?)\n</tool_response>", context, re.S)
    if responses:
        return f"The tool says \\boxed{{{responses[-1].strip()}}}."
    a, b = re.findall(r"Compute (\d+) \* (\d+)\.", context)[-1]
    return _call(f"print({a} * {b}{' + 1' if k else ''})")


def test_tool_calling_tokenizer_gives_smollm2_a_template_trl_accepts_and_parses():
    from trl.chat_template_utils import (
        add_response_schema,
        is_chat_template_prefix_preserving,
        parse_response,
        supports_tool_calling,
    )

    tok = _tokenizer()
    assert not supports_tool_calling(tok)  # why the helper exists
    fixed = tool_calling_tokenizer(tok)
    assert fixed is not tok and not supports_tool_calling(tok)  # the caller's tokenizer untouched
    assert supports_tool_calling(fixed) and tool_calling_tokenizer(fixed) is fixed
    env_cls = environment_factory(ENV_ID, **ENV_KWARGS)
    tools = [env_cls.python, env_cls.calculator]
    prompt = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Compute 2 * 3."}]
    prefix = fixed.apply_chat_template(prompt, tools=tools, add_generation_prompt=True,
                                       tokenize=True, return_dict=False)
    rendered = fixed.decode(prefix)
    assert rendered.startswith(f"<|im_start|>system\n{SYSTEM}") and '"name": "python"' in rendered
    # no system message: the model's own default system line, not TRL's template's Qwen persona
    own = tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)
    assert own.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    no_system = fixed.apply_chat_template(prompt[1:], tools=tools, tokenize=False)
    assert no_system.startswith(own.split("<|im_end|>")[0] + "\n\n# Tools\n")
    assert "Qwen" not in no_system and "Qwen" not in fixed.apply_chat_template(prompt[1:],
                                                                               tokenize=False)
    assert is_chat_template_prefix_preserving(fixed)  # so TRL keeps this template as it is
    # GRPOTrainer sets a parser only when none is set: ours must be TRL's own for this family
    assert fixed.response_template == add_response_schema(_qwen_template(tok)).response_template
    ids = fixed(_call("print(2 * 3)") + "<|im_end|>", add_special_tokens=False)["input_ids"]
    parsed = parse_response(fixed, ids, prefix=prefix, tools=tools)
    assert parsed["tool_calls"] == [{"type": "function", "function": {
        "name": "python", "arguments": {"code": "print(2 * 3)"}}}]


def test_tool_calling_tokenizer_refuses_a_template_it_cannot_make_parseable():
    tok = _tokenizer()
    plain = tool_calling_tokenizer(tok)
    plain.eos_token = "<|endoftext|>"
    plain.chat_template = tok.chat_template
    with pytest.raises(ValueError, match="EOS"):
        tool_calling_tokenizer(plain)
    from tokenizers import Tokenizer, models, pre_tokenizers

    backend = Tokenizer(models.WordLevel({"[UNK]": 0, "hi": 1, "</s>": 2}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    other = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]",
                                                 eos_token="</s>")
    other.chat_template = "{% for m in messages %}{{ m['content'] }}</s>{% endfor %}"
    with pytest.raises(ValueError, match="not ChatML"):
        tool_calling_tokenizer(other)


class _RecordingGRPOTrainer(trl.GRPOTrainer):
    """TRL's trainer, recording the batch its loss was computed on (nothing else changed)."""

    loss_inputs: list[dict] = []

    def compute_loss(self, model, inputs, *args, **kwargs):
        self.loss_inputs.append({k: v.detach().clone() if torch.is_tensor(v) else v
                                 for k, v in inputs.items()})
        return super().compute_loss(model, inputs, *args, **kwargs)


@pytest.mark.slow
def test_one_trl_grpo_step_runs_real_tool_calls_through_the_env_and_masks_their_results(tmp_path):
    from judges.code import run_python
    from judges.llm.embedded import embedded_model_dir

    torch.manual_seed(0)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    ran: list[str] = []

    def sandbox(source, timeout_s=5.0, **kwargs):  # the env's real sandbox, counted env-side
        ran.append(source)
        return run_python(source, timeout_s=timeout_s, **kwargs)

    def never(source, timeout_s=5.0, **kwargs):
        raise AssertionError("the reward function re-ran a tool")

    data = env_dataset(ENV_ID, n=2, seed=0, **ENV_KWARGS).map(
        lambda row: {"prompt": [{"role": "system", "content": SYSTEM}, *row["prompt"]]})
    tasks = [json.loads(t) for t in data["task"]]
    env_reward = env_reward_func(ENV_ID, python_runner=never, **ENV_KWARGS)
    scored: list = []

    def reward(prompts, completions, **kwargs):
        scored.extend(completions)
        return env_reward(prompts, completions, **kwargs)

    reward.__name__ = env_reward.__name__
    tok = tool_calling_tokenizer(_tokenizer())
    model = transformers.AutoModelForCausalLM.from_pretrained(str(embedded_model_dir()),
                                                              dtype=torch.float32)
    script = ScriptedTurns(tok, policy_script)
    # generate()'s own logits_processor argument (GenerationConfig cannot carry one)
    model.generate = lambda *a, _generate=model.generate, **k: _generate(
        *a, logits_processor=transformers.LogitsProcessorList([script]), **k)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = trl.GRPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=2, gradient_accumulation_steps=2,
        num_generations=2,  # one generation of 2 prompts x 2, the loss in 2 micro-batches
        max_completion_length=160, max_steps=1, learning_rate=1e-4, use_cpu=True, report_to=[],
        logging_steps=1, save_strategy="no", beta=0.0, max_tool_calling_iterations=2,
        bf16=False, gradient_checkpointing=False,  # CPU: plain fp32 is the fast path
    )
    trainer = _RecordingGRPOTrainer(
        model=model, processing_class=tok, reward_funcs=reward, train_dataset=data, args=args,
        environment_factory=environment_factory(ENV_ID, python_runner=sandbox, **ENV_KWARGS))
    trainer.loss_inputs = []
    trainer.train()
    assert trainer.state.global_step == 1
    assert len(script.forced_turns) == 8  # 4 tool calls, then 4 final answers; nothing else

    # 1. every rollout's tool call ran once, through the env's real sandbox
    assert len(ran) == 4
    products = {t["question"][8:-1]: int(t["answer"]) for t in tasks}
    for expr in products:
        assert sum(f"print({expr})" in s for s in ran) == 1
        assert sum(f"print({expr} + 1)" in s for s in ran) == 1
    logs = [e.tool_log for e in trainer.environments]
    assert [[c["name"] for c in log] for log in logs] == [["python"]] * 4
    assert all(c["status"] == "ok" for log in logs for c in log)
    metrics = next(h for h in trainer.state.log_history if "tools/call_frequency" in h)
    assert metrics["tools/call_frequency"] == 1.0 and metrics["tools/failure_frequency"] == 0.0

    # 2. the reward is our env's verdict on the final answer of a real tool conversation
    assert [[m["role"] for m in c] for c in scored] == [["assistant", "tool", "assistant"]] * 4
    outputs = [c[1]["content"].strip() for c in scored]
    assert sorted(outputs) == sorted(str(p + d) for p in products.values() for d in (0, 1))
    calls = [c[0]["tool_calls"][0]["function"]["arguments"]["code"] for c in scored]
    assert [call.endswith(" + 1)") for call in calls] == [False, True] * 2  # k-th generation
    for call, output, verdict in zip(calls, outputs, env_reward.last_verdicts, strict=True):
        product = products[call[len("print("):-1].removesuffix(" + 1")]
        assert output == str(product + call.endswith(" + 1)"))
        assert verdict.score == (output == str(product))
        if verdict.score:
            assert verdict.reason == "correct"
        else:
            assert verdict.reason.startswith(f"expected {product}, got '{output}'")
    assert metrics[f"rewards/{env_reward.__name__}/mean"] == 0.5

    # 3. tool_mask is 0 exactly over the tool-result tokens, 1 over everything the model wrote
    #    (TRL shuffles and splits the batch before the loss: rows are matched by their tool call)
    eos = tok.eos_token_id
    by_call = {_call(c[0]["tool_calls"][0]["function"]["arguments"]["code"]): c for c in scored}
    assert len(by_call) == 4
    rows = [(inputs, r) for inputs in trainer.loss_inputs for r in range(len(inputs["tool_mask"]))]
    assert len(trainer.loss_inputs) == 2 and len(rows) == 4
    for inputs, row in rows:
        length = int(inputs["completion_mask"][row].sum())
        ids = inputs["completion_ids"][row, :length].tolist()
        mask = inputs["tool_mask"][row, :length].tolist()
        call_end = ids.index(eos) + 1
        tool_len = mask.index(1, call_end) - call_end
        assert mask == [1] * call_end + [0] * tool_len + [1] * (length - call_end - tool_len)
        conversation = by_call.pop(tok.decode(ids[:call_end - 1]))
        tool_text = tok.decode(ids[call_end:call_end + tool_len])
        assert tool_text == (f"\n<|im_start|>user\n<tool_response>\n{conversation[1]['content']}"
                             f"\n</tool_response><|im_end|>\n{HEADER}")
        answer = tok.decode(ids[call_end + tool_len:])
        output = conversation[1]["content"].strip()
        assert answer == f"The tool says \\boxed{{{output}}}.<|im_end|>"
        assert ids[-1] == eos
    assert not by_call

    # 4. the optimizer step moved the weights (nonzero advantages from the reward spread)
    changed = [n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert changed


def test_malformed_tool_calls_get_the_envs_error_message_not_an_exception():
    env_cls = environment_factory(ENV_ID, **ENV_KWARGS)
    env = env_cls()
    env.reset(task={"question": "Compute 2 * 3.", "answer": "6"})
    # what TRL's tool loop passes: **arguments exactly as the policy wrote them
    for arguments, error in [({"expression": "1", "self": 3}, "unknown argument(s) ['self']"),
                             ({"expression": "1", "extra": 1}, "unknown argument(s) ['extra']"),
                             ({"expression": 5}, "must be string"),
                             ({}, "missing required argument(s) ['expression']")]:
        out = env.calculator(**arguments)
        assert out.startswith("Error: calculator:") and error in out, out
    assert len(env.tool_log) == 4 and all(c["status"] != "ok" for c in env.tool_log)
