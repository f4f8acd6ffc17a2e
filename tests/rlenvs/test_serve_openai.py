"""``rlenvs serve`` through the official ``openai`` client: a real server on loopback serving the
real embedded model (issue 18, item 2)."""

from __future__ import annotations

import pytest

openai = pytest.importorskip("openai")

from judges.llm.server import ChatServer  # noqa: E402

QUESTION = [{"role": "user", "content": "Explain in two sentences why the sky is blue."}]
GREETING = [{"role": "user", "content": "Reply with just the word: hello"}]


@pytest.fixture(scope="module")
def served(smollm2):
    server = ChatServer(smollm2, max_new_tokens=6).start()  # as `rlenvs serve --max-new-tokens 6`
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)
    yield client, smollm2
    server.stop()


def _prompt_tokens(model, messages) -> int:
    ids = model.tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    return len(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def test_max_tokens_defaults_to_the_servers_limit_and_length_is_reported(served):
    client, model = served
    r = client.chat.completions.create(model=model.name, messages=QUESTION, temperature=0)
    choice = r.choices[0]
    assert choice.finish_reason == "length"  # cut at --max-new-tokens, not 256
    assert r.usage.completion_tokens == 6
    assert r.usage.prompt_tokens == _prompt_tokens(model, QUESTION)
    assert r.usage.total_tokens == r.usage.prompt_tokens + 6
    r = client.chat.completions.create(model=model.name, messages=QUESTION, temperature=0,
                                       max_tokens=3)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 3
    # a reply that ends on its own says "stop" and counts its end-of-turn token
    r = client.chat.completions.create(model=model.name, messages=GREETING, temperature=0,
                                       max_tokens=40)
    assert r.choices[0].finish_reason == "stop"
    assert 1 <= r.usage.completion_tokens < 40


def test_n_choices_are_distinct_and_seed_reproduces_them(served):
    client, model = served
    kwargs = dict(model=model.name, messages=QUESTION, temperature=1.0, n=3, seed=7, max_tokens=8)
    a = client.chat.completions.create(**kwargs)
    b = client.chat.completions.create(**kwargs)
    assert [c.index for c in a.choices] == [0, 1, 2]
    texts = [c.message.content for c in a.choices]
    assert len(set(texts)) >= 2
    assert texts == [c.message.content for c in b.choices]
    assert 3 <= a.usage.completion_tokens <= 3 * 8  # summed over the choices
    other = client.chat.completions.create(**{**kwargs, "seed": 8})
    assert [c.message.content for c in other.choices] != texts


def test_stop_cuts_the_reply_before_the_stop_string(served):
    client, model = served
    full = client.chat.completions.create(model=model.name, messages=QUESTION, temperature=0,
                                          max_tokens=12).choices[0].message.content
    word = full.split()[2]
    r = client.chat.completions.create(model=model.name, messages=QUESTION, temperature=0,
                                       max_tokens=12, stop=[word])
    assert r.choices[0].message.content == full[: full.index(word)]
    assert r.choices[0].finish_reason == "stop"


def test_streaming_is_server_sent_events_with_usage(served):
    client, model = served
    whole = client.chat.completions.create(model=model.name, messages=QUESTION, temperature=0)
    stream = client.chat.completions.create(model=model.name, messages=QUESTION, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "length" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_logprobs_with_top_alternatives(served):
    client, model = served
    r = client.chat.completions.create(model=model.name, messages=QUESTION, temperature=0,
                                       max_tokens=4, logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens == 4
    for entry in content:
        assert len(entry.top_logprobs) == 2
        assert entry.logprob == pytest.approx(entry.top_logprobs[0].logprob, abs=1e-3)  # greedy
    assert "".join(e.token for e in content) == r.choices[0].message.content
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=model.name, messages=QUESTION, n=99)
