"""``rlenvs/Chat-v0``: open-ended chat prompts scored by a judge of your choice.

Tasks come from a JSONL file (one object per line with ``prompt``; optional ``reference``,
``task_type``, ``baseline``), a ``datasets`` dataset, or the shipped 24-prompt sample.

The ``judge`` kwarg picks the scoring:

* ``"rules"`` (default) -- a cheap rule-based judge (non-empty, sensible length, not
  repetitive, does not address the grader, *addresses the task*: shares a content word with
  the prompt or the task's ``reference`` and says more than the prompt): fast and offline.
  Its one content check is what keeps master-key replies ("Let's solve this problem step by
  step.", "Thought process:", "Solution") and format-only replies from being paid -- they are
  made of function words and words about answering -- but it is relevance, not quality: a
  smoke-test reward, not a judgement of how good a reply is (audit it, then train with a real
  judge);
* ``"smollm2"`` -- a pointwise LLM judge over the embedded SmolLM2-135M-Instruct, loaded on the
  first step and shared by every env in the process (``judge_kwargs`` go to
  ``PointwiseJudge``, e.g. ``{"rubric": ..., "sampling": SamplingParams(...)}``);
* ``"reference"`` -- the same model, reference-guided (tasks need ``reference``);
* ``"endogenous"`` -- the same model's endogenous reward, read from its logits, no generation
  (``judges.endogenous``; ``judge_kwargs`` go to ``EndogenousRewardJudge``);
* ``"polar"`` -- the POLAR reference-conditioned reward model (SmolLM2 + shipped adapters,
  ``judges.polar``): how close the reply is, as a policy's output, to the task's ``reference``
  (tasks need one; ``judge_kwargs`` go to ``PolarJudge``);
* an ``http(s)://.../v1`` URL -- a pointwise judge over an OpenAI-compatible server
  (``judge_model`` names the served model);
* any ``ChatModel`` (pointwise judge over it) or any judge callable ``(reply, task) -> Verdict``
  (a ``MixtureOfJudges``, ``combine(...)``, ``GenerativeRewardModel``...).

LLM judges are wrapped in ``judges.guard.guarded`` (replies that address the grader score 0)
unless ``guard=False``. ``info["reward_components"]`` reports each part by name.

Example::

    env = rlenvs.make("rlenvs/Chat-v0", judge="smollm2", reward="dense")
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from judges import Verdict
from judges.guard import find_judge_injection, guarded
from judges.ifeval.normalize import normalize_text
from rlenvs.task_env import TaskEnv
from rlenvs.tasks import ListSource

__all__ = ["ChatEnv", "rule_chat_judge", "addresses_task", "SAMPLE_PATH"]

SAMPLE_PATH = Path(__file__).resolve().parent.parent / "data" / "chat_sample.jsonl"
JudgeFn = Callable[[str, Mapping[str, Any]], Verdict]

_SHARED: dict[str, Any] = {}
_SHARED_LOCK = threading.Lock()


def _embedded_model() -> Any:
    with _SHARED_LOCK:
        if "smollm2" not in _SHARED:
            from judges.llm.transformers_backend import TransformersChat

            _SHARED["smollm2"] = TransformersChat.from_embedded()
        return _SHARED["smollm2"]


# Closed classes: function words (articles, pronouns, auxiliaries, prepositions, conjunctions,
# common adverbs) and the words a reply uses about answering or grading itself. Neither says
# anything about a task, so neither counts as content.
_FUNCTION_WORDS = frozenset("""
a an the this that these those it its i me my mine we us our you your he him his she her
they them their there here what which who whom whose when where why how is are was were be been
being am do does did done have has had having can could will would shall should may might must
to of in on at by for from with without into onto about as than then so such not no yes or and
but if because while also just very too only all any some each every both either neither more
most much many few own same other up down out over under again once now well let lets
ok okay sure certainly alright cannot
""".split())
_ANSWERING_WORDS = frozenset("""
answer answers answered solution solutions solve solving solved respond response responses reply
step steps problem problems question questions thought thoughts process reasoning reason think
thinking explain explanation following below above final result output task work working
approach method carefully careful detail detailed consider considering first next finally
score scores scored rating rated grade graded verdict correct correctly pass passed true false
points full marks help helps helped helping helpful happy glad hope
""".split())
_WORD_RE = re.compile(r"\w+")


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _content(text: str) -> set[str]:
    """The stems of ``text``'s content words (numbers included)."""
    words = (w for w in _WORD_RE.findall(normalize_text(text).lower()) if len(w) > 1 or not w.isascii())
    return {_stem(w) for w in words if w not in _FUNCTION_WORDS and w not in _ANSWERING_WORDS}


def addresses_task(response: str, task: Mapping[str, Any]) -> bool:
    """Whether ``response`` says something about the task: it shares a content word with the
    prompt or the task's reference, and says something beyond the prompt (an echo of the
    prompt is not an answer). Master-key replies ("Let's solve this problem step by step.",
    "Thought process:", "Solution") are made of function words and words about answering,
    so they fail whatever their wording."""
    own = _content(response)
    prompt = _content(str(task.get("prompt", "")))
    known = prompt | _content(str(task.get("reference") or ""))
    return bool(own & known) and not own <= prompt


def rule_chat_judge(response: str, task: Mapping[str, Any], min_chars: int = 2,
                    max_chars: int = 4000) -> Verdict:
    """Cheap offline checks, each a component; score = their mean (0 when the reply addresses
    the grader or does not address the task), pass = all hold. A form check with one content
    check (:func:`addresses_task`), not a judgement of quality."""
    text = normalize_text(response).strip()  # invisible characters are no content
    words = re.findall(r"\w+", text.lower())
    trigrams = [tuple(words[i : i + 3]) for i in range(max(0, len(words) - 2))]
    components = {
        "nonempty": float(len(text) >= min_chars),
        "length_ok": float(min_chars <= len(text) <= max_chars),
        "not_repetitive": float(not trigrams or len(set(trigrams)) / len(trigrams) >= 0.5),
        "addresses_task": float(addresses_task(text, task)),
        "judge_guard": float(not find_judge_injection(response)),
    }
    gates = components["judge_guard"] and components["addresses_task"]
    score = sum(components.values()) / len(components) if gates else 0.0
    failed = [n for n, v in components.items() if v < 1]
    return Verdict(score, not failed, "all checks passed" if not failed
                   else "failed: " + ", ".join(failed), {"components": components})


class _LazyJudge:
    """Builds an LLM judge on first use, so constructing the env stays cheap."""

    def __init__(self, build: Callable[[], JudgeFn]) -> None:
        self._build = build
        self._judge: JudgeFn | None = None

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        if self._judge is None:
            self._judge = self._build()
        return self._judge(response, task)


def _make_judge(judge: Any, judge_model: str, judge_kwargs: Mapping[str, Any], guard: bool
                ) -> JudgeFn:
    from judges.llmjudge import PointwiseJudge, ReferenceJudge

    kwargs = dict(judge_kwargs)
    if judge == "rules":
        return rule_chat_judge
    if judge == "smollm2":
        built: JudgeFn = _LazyJudge(lambda: PointwiseJudge(_embedded_model(), **kwargs))
    elif judge == "reference":
        built = _LazyJudge(lambda: ReferenceJudge(_embedded_model(), **kwargs))
    elif judge == "endogenous":  # the model's own logits as reward (judges.endogenous)
        from judges.endogenous import EndogenousRewardJudge

        built = _LazyJudge(lambda: EndogenousRewardJudge(_embedded_model(), **kwargs))
    elif judge == "polar":  # reference-conditioned reward model (judges.polar), its own model
        def polar() -> JudgeFn:
            from judges.polar import PolarJudge  # torch: imported on the first step

            return PolarJudge(**kwargs)  # a model that fails to load gives unscored verdicts

        built = _LazyJudge(polar)
    elif isinstance(judge, str) and judge.startswith(("http://", "https://")):
        from judges.llm.openai_backend import OpenAIChat

        built = PointwiseJudge(OpenAIChat(judge, model=judge_model), **kwargs)
    elif isinstance(judge, str):
        raise ValueError(f"unknown judge {judge!r}: use 'rules', 'smollm2', 'reference', "
                         "'endogenous', 'polar', an http(s):// URL, a ChatModel or a judge "
                         "callable")
    elif hasattr(judge, "generate"):
        built = PointwiseJudge(judge, **kwargs)
    elif callable(judge):
        return judge
    else:
        raise TypeError(f"judge must be a name, URL, ChatModel or callable, got {type(judge)}")
    return guarded(built) if guard else built


class ChatEnv(TaskEnv):
    """Open-ended prompts, one reply, scored by a judge (see the module docstring).

    Args:
        path: a JSONL file of tasks (default: the shipped sample).
        dataset: alternatively a ``datasets`` dataset (or a local path ``load_dataset`` reads).
        prompt_key: the field holding the prompt (copied to ``prompt``).
        judge / judge_model / judge_kwargs / guard: see the module docstring.
        **kwargs: ``LLMEnv`` options (``reward``, ``system_prompt``, ...).
    """
    public_fields = ("id", "task_type", "prompt")  # the rest is private (issue 26)

    def __init__(self, path: str | Path | None = None, dataset: Any = None,
                 prompt_key: str = "prompt", judge: Any = "rules",
                 judge_model: str = "default", judge_kwargs: Mapping[str, Any] | None = None,
                 guard: bool = True, **kwargs: Any) -> None:
        def convert(row: dict[str, Any]) -> dict[str, Any]:
            if not isinstance(row.get(prompt_key), str):
                raise ValueError(f"each task needs a string {prompt_key!r}")
            return {**row, "prompt": row[prompt_key]}

        if dataset is not None:
            source = ListSource.from_dataset(dataset, convert=convert)
        else:
            source = ListSource.from_jsonl(path or SAMPLE_PATH, convert=convert,
                                           required=(prompt_key,))
        super().__init__(source=source, prompt=lambda t: t["prompt"],
                         judge=_make_judge(judge, judge_model, judge_kwargs or {}, guard),
                         required_keys=("prompt",), **kwargs)
