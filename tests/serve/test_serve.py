"""`valuelocate serve` against real clients: the official `openai` client and raw HTTP, on a
server started on a free loopback port with the real stories260k model and a neuron run
located on it."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

import serve_fixtures as fx
from valuelocate import generation
from valuelocate.artifacts import load_neuron_sets
from valuelocate.hooks import edit_neurons
from valuelocate.prompting import stop_token_ids
from valuelocate.serve import build_server, running_server
from valuelocate.steering.compose import EditStack
from valuelocate.steering.dynamic import steering_edit

NAME, needs_stories = fx.NAME, fx.needs_stories
lm, run_dir, server = fx.lm, fx.run_dir, fx.server  # the shared fixtures

pytestmark = needs_stories

PROMPT = "Once upon a time"
N = 24


def generate_answers(lm, prompts, *, edit=None, max_new_tokens):  # type: ignore[no-untyped-def]
    """What ``valuelocate steer --repetition-penalty 1`` answers: the server, like OpenAI's
    API, applies no repetition penalty."""
    config = generation.GenerationConfig(
        max_new_tokens=max_new_tokens, repetition_penalty=1.0, batch_size=1
    )
    return generation.generate_answers(lm, prompts, config=config, edit=edit)


def client(server) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def post(server, path: str, body: Any, raw: bytes | None = None) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.base_url + path, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def chat(server, values: dict | None = None, model: str = NAME, prompt: str = PROMPT) -> str:  # type: ignore[no-untyped-def]
    extra = {"values": values} if values is not None else None
    reply = client(server).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=N,
        temperature=0,
        extra_body=extra,
    )
    return reply.choices[0].message.content or ""


def test_models_list_the_base_and_one_alias_per_dimension_and_pole(server) -> None:  # type: ignore[no-untyped-def]
    ids = [m.id for m in client(server).models.list().data]
    assert ids == [
        NAME,
        f"{NAME}+conservation:affirm",
        f"{NAME}+conservation:oppose",
        f"{NAME}+self_enhancement:affirm",
        f"{NAME}+self_enhancement:oppose",
    ]


def test_chat_completion_and_streaming_agree(server) -> None:  # type: ignore[no-untyped-def]
    c = client(server)
    whole = chat(server)
    assert len(whole) > 10
    chunks = list(
        c.chat.completions.create(
            model=NAME,
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=N,
            temperature=0,
            stream=True,
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "length"
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == whole
    completion = c.completions.create(model=NAME, prompt=PROMPT, max_tokens=N, temperature=0)
    # stories260k has no chat template: a chat turn is its text, as `valuelocate steer` does.
    assert completion.choices[0].text == whole
    assert completion.usage.completion_tokens == N
    streamed = c.completions.create(
        model=NAME, prompt=PROMPT, max_tokens=N, temperature=0, stream=True
    )
    assert "".join(ch.choices[0].text for ch in streamed) == whole


def test_stop_strings_and_seeded_sampling(server) -> None:  # type: ignore[no-untyped-def]
    c = client(server)
    whole = chat(server)
    cut = whole.index("Lily")
    reply = c.completions.create(
        model=NAME, prompt=PROMPT, max_tokens=N, temperature=0, stop=["Lily"]
    )
    assert reply.choices[0].text == whole[:cut]
    assert reply.choices[0].finish_reason == "stop"
    draws = [
        c.completions.create(
            model=NAME, prompt=PROMPT, max_tokens=N, temperature=1.5, top_p=0.95, seed=s
        )
        .choices[0]
        .text
        for s in (7, 7, 8)
    ]
    assert draws[0] == draws[1], "the same seed alone gives the same sample"
    assert draws[0] != whole or draws[2] != whole, "sampling is not greedy"


def test_steered_answer_equals_valuelocate_steer(server, lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    sets = load_neuron_sets(run_dir)
    for dimension, gamma in (("conservation", 2.0), ("conservation", -4.0)):
        pole = "affirm" if gamma > 0 else "oppose"
        edit = steering_edit(sets[dimension], pole, abs(gamma))
        (expected,) = generate_answers(lm, [PROMPT], edit=edit, max_new_tokens=N)
        (plain,) = generate_answers(lm, [PROMPT], max_new_tokens=N)
        assert expected != plain, "the chosen edit must change the answer"
        assert chat(server, {dimension: gamma}).strip() == expected
        alias = f"{NAME}+{dimension}:{pole}@{abs(gamma):g}"
        assert chat(server, model=alias).strip() == expected
    # The plain alias uses gamma 1.
    edit = steering_edit(sets["self_enhancement"], "oppose", 1.0)
    (expected,) = generate_answers(lm, [PROMPT], edit=edit, max_new_tokens=N)
    assert chat(server, model=f"{NAME}+self_enhancement:oppose").strip() == expected


def test_zero_values_are_the_unsteered_model_bit_for_bit(server, lm) -> None:  # type: ignore[no-untyped-def]
    (plain,) = generate_answers(lm, [PROMPT], max_new_tokens=N)
    assert chat(server).strip() == plain
    assert chat(server, {"conservation": 0.0, "self_enhancement": 0}).strip() == plain
    body = {
        "model": NAME,
        "prompt": PROMPT,
        "max_tokens": 8,
        "temperature": 0,
        "logprobs": 5,
        "echo": True,
    }
    _, unsteered = post(server, "/completions", body)
    _, zero = post(server, "/completions", {**body, "values": {"conservation": 0}})
    assert zero["choices"][0]["logprobs"] == unsteered["choices"][0]["logprobs"]
    _, steered = post(server, "/completions", {**body, "values": {"conservation": 4}})
    assert steered["choices"][0]["logprobs"] != unsteered["choices"][0]["logprobs"]


def test_composed_values_equal_nested_edits(server, lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    sets = load_neuron_sets(run_dir)
    first = steering_edit(sets["conservation"], "affirm", 2.0)
    second = steering_edit(sets["self_enhancement"], "oppose", 3.0)
    stops = stop_token_ids(lm.model, lm.tokenizer)
    with edit_neurons(lm.model, first, stop_token_ids=stops):
        (nested,) = generate_answers(lm, [PROMPT], edit=second, max_new_tokens=N)
    first.reset()
    second.reset()
    (composed,) = generate_answers(
        lm, [PROMPT], edit=EditStack([[first, second]], site="act"), max_new_tokens=N
    )
    assert composed == nested
    assert chat(server, {"conservation": 2.0, "self_enhancement": -3.0}).strip() == nested


CLIENTS = [
    (None, PROMPT),
    ({"conservation": 2.0}, PROMPT),
    ({"conservation": -4.0}, PROMPT),
    ({"self_enhancement": 4.0}, PROMPT),
    ({"self_enhancement": -4.0, "conservation": 1.5}, PROMPT),
    ({"conservation": 4.0}, "Lily and Tom went to the park"),
    (None, "The little dog was sad because"),
    ({"self_enhancement": 2.5}, "The little dog was sad because"),
]


def test_eight_concurrent_clients_each_get_their_solo_answer(server, lm) -> None:  # type: ignore[no-untyped-def]
    solo = [chat(server, values, prompt=prompt) for values, prompt in CLIENTS]
    assert len(set(solo)) >= 6, "the clients must ask for different answers"
    before = server.engine.stats.largest_batch
    answers: list[str | None] = [None] * len(CLIENTS)
    barrier = threading.Barrier(len(CLIENTS))

    def ask(i: int) -> None:
        values, prompt = CLIENTS[i]
        barrier.wait()
        answers[i] = chat(server, values, prompt=prompt)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(CLIENTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert answers == solo
    assert server.engine.stats.largest_batch > max(before, 1), "the requests were batched"
    assert fx.settled_hooks(lm.model) == 0


def test_requests_arriving_during_a_batch_join_it_and_get_their_solo_answer(server, lm) -> None:  # type: ignore[no-untyped-def]
    # A first answer; the others arrive one by one while it is generated, so they join its
    # batch between steps (the engine counts them) instead of waiting for it to end. Rounds
    # repeat (at most three) until one has joined: each must give every solo answer.
    solo = [chat(server, values, prompt=prompt) for values, prompt in CLIENTS[:5]]
    joined_before = server.engine.stats.joined
    for _round in range(3):
        answers: list[str | None] = [None] * 5

        def ask(i: int, out: list[str | None] = answers) -> None:
            values, prompt = CLIENTS[i]
            out[i] = chat(server, values, prompt=prompt)

        threads = []
        for i in range(5):
            threads.append(threading.Thread(target=ask, args=(i,)))
            threads[-1].start()
            time.sleep(0.01)
        for t in threads:
            t.join(timeout=300)
        assert answers == solo
        if server.engine.stats.joined > joined_before:
            break
    assert server.engine.stats.joined > joined_before, "no request joined a running batch"
    assert fx.settled_hooks(lm.model) == 0


def test_every_bad_input_gets_its_4xx_and_the_server_keeps_serving(server, lm) -> None:  # type: ignore[no-untyped-def]
    good = {"model": NAME, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 4}
    cases = [
        ("/chat/completions", None, b"{not json", 400, None),
        ("/chat/completions", {"model": NAME}, None, 400, "messages"),
        ("/chat/completions", {**good, "messages": "hi"}, None, 400, "messages"),
        ("/chat/completions", {**good, "values": {"nope": 1}}, None, 400, "values.nope"),
        (
            "/chat/completions",
            {**good, "values": {"conservation": 9}},
            None,
            400,
            "values.conservation",
        ),
        (
            "/chat/completions",
            {**good, "values": {"conservation": "x"}},
            None,
            400,
            "values.conservation",
        ),
        ("/chat/completions", {**good, "max_tokens": 10**6}, None, 400, "max_tokens"),
        (
            "/chat/completions",
            {**good, "messages": [{"role": "user", "content": "word " * 600}]},
            None,
            400,
            "messages",
        ),
        ("/chat/completions", {**good, "model": "gpt-4"}, None, 404, "model"),
        ("/chat/completions", {**good, "model": f"{NAME}+nope:affirm"}, None, 400, "values.nope"),
        ("/chat/completions", {**good, "temperature": "hot"}, None, 400, "temperature"),
        ("/chat/completions", {**good, "rule": "magic"}, None, 400, "rule"),
        ("/chat/completions", {**good, "scope": "everything"}, None, 400, "scope"),
        ("/chat/completions", {**good, "ignore_eos": "yes"}, None, 400, "ignore_eos"),
        ("/completions", {"model": NAME}, None, 400, "prompt"),
        ("/completions", {"model": NAME, "prompt": [[1, 99999]]}, None, 400, "prompt"),
        ("/completions", {"model": NAME, "prompt": "x", "logprobs": 99}, None, 400, "logprobs"),
    ]
    for path, body, raw, status, param in cases:
        code, reply = post(server, path, body, raw)
        assert (code, reply["error"]["param"]) == (status, param), (body, reply)
        assert reply["error"]["message"]
        assert fx.settled_hooks(lm.model) == 0
        code, reply = post(server, "/chat/completions", good)
        assert code == 200 and reply["choices"][0]["message"]["content"]
    with pytest.raises(openai.NotFoundError):
        client(server).chat.completions.create(model="nope", messages=good["messages"])


def test_ignore_eos_generates_max_tokens_through_the_stop_token(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    # The stories model does not end its stories within these budgets, so a server whose stop
    # token is the period stands in for one whose model stops: vLLM's ``ignore_eos`` field
    # (equal work for benchmarks) makes a request go on through it to ``max_tokens``.
    parts = build_server(lm, run_dir, name=NAME, max_batch=4, max_queue=8)
    parts.engine.stop_ids = [fx.period_id(lm)]
    with running_server(parts) as period_server:
        api = client(period_server)

        def ask(**extra: Any) -> Any:
            reply = api.completions.create(
                model=NAME, prompt=PROMPT, max_tokens=N, temperature=0, extra_body=extra
            )
            return reply.choices[0], reply.usage

        (stopped, used), (going, all_used) = ask(), ask(ignore_eos=True)
        assert stopped.finish_reason == "stop" and used.completion_tokens < N
        assert going.finish_reason == "length" and all_used.completion_tokens == N
        assert going.text.startswith(stopped.text + ".")
        steered, _ = ask(ignore_eos=True, values={"conservation": 4})
        assert steered.finish_reason == "length" and steered.text != going.text
    assert fx.settled_hooks(lm.model) == 0
