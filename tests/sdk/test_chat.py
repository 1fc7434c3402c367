"""Chat completions through the clients people use: OpenAI's official `openai` client
(non-stream, stream, `stream_options.include_usage`, `models.list()`) and agixtsdk 0.0.82's
chat helpers (`chat`, `instruct`, `prompt_agent`), against the built server whose model
provider is the fake model server (`fake-model`, built by `cargo test`) on 127.0.0.1.

Contract: /work/shared/docs/reference/agents-memory.md section 8 and docs/compat.md: `model` is
an agent's id or the name of an agent the caller sees (else 404), `user` names the
conversation, the stream is standard OpenAI chunks ending with `[DONE]`.
"""

import os
import subprocess
from pathlib import Path

import openai
import pytest
import requests

from conftest import HTTP_TIMEOUT, REPO_ROOT, _serve, register_fresh_user


@pytest.fixture(scope="module")
def fake_model():
    server = os.environ.get("AGENTRY_BIN")
    beside = Path(server).parent / "fake-model" if server else REPO_ROOT / "target/debug/fake-model"
    binary = Path(os.environ.get("FAKE_MODEL_BIN") or beside)
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"fake-model not found at {binary}; `cargo test --workspace` builds it",
            pytrace=False,
        )
    proc = subprocess.Popen(
        [str(binary)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), url
    yield url
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory, fake_model):
    """A server whose (server-configured, trusted) provider is the fake model."""
    yield from _serve(
        tmp_path_factory,
        {"EZLOCALAI_API_URI": fake_model, "EZLOCALAI_AI_MODEL": "echo"},
        name="agentry-chat-data",
    )


@pytest.fixture
def user(chat_url):
    registered = register_fresh_user(chat_url)
    agents = registered.sdk.get_agents()
    assert agents, "a new account has its default agent"
    return registered, agents[0]


def _client(chat_url, sdk):
    token = sdk.headers["Authorization"].replace("Bearer ", "")
    return openai.OpenAI(base_url=f"{chat_url}/v1", api_key=token, max_retries=0)


def test_openai_client_completion_models_and_refusals(chat_url, user):
    registered, agent = user
    client = _client(chat_url, registered.sdk)

    models = client.models.list()
    assert [m.id for m in models.data] == [agent["name"]]

    answer = client.chat.completions.create(
        model=agent["name"],
        messages=[{"role": "user", "content": "hello from openai"}],
        user="openai-test",
    )
    assert answer.object == "chat.completion"
    assert answer.model == agent["name"]
    assert answer.choices[0].finish_reason == "stop"
    content = answer.choices[0].message.content
    assert content.startswith("echo: ") and "hello from openai" in content
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens > 0
    # The answer is in the conversation `user` named (the completion's id is its id).
    history = registered.sdk.get_conversation(conversation_id=answer.id)
    assert [m["role"] for m in history] == ["USER", agent["name"]]
    assert history[-1]["message"] == content

    # The agent by id works too; an unknown agent is OpenAI's NotFoundError.
    by_id = client.chat.completions.create(
        model=agent["id"], messages=[{"role": "user", "content": "x"}]
    )
    assert by_id.model == agent["name"]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nobody", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=agent["name"], messages=[])


def test_openai_client_stream_with_usage(chat_url, user):
    registered, agent = user
    client = _client(chat_url, registered.sdk)
    chunks = list(
        client.chat.completions.create(
            model=agent["name"],
            messages=[{"role": "user", "content": "stream this please"}],
            stream=True,
            stream_options={"include_usage": True},
            user="streamed",
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("echo: ") and "stream this please" in text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    # Without include_usage: no usage chunk.
    plain = list(
        client.chat.completions.create(
            model=agent["name"], messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert all(c.usage is None for c in plain)
    history = registered.sdk.get_conversation(conversation_id=chunks[0].id)
    assert history[-1]["message"] == text.strip()


def test_agixtsdk_chat_helpers(chat_url, user):
    registered, agent = user
    sdk = registered.sdk
    conversation = sdk.new_conversation(agent_id=agent["id"], conversation_name="sdk-chat")
    conversation_id = conversation["id"]

    said = sdk.chat(agent_id=agent["id"], user_input="hi via chat", conversation_id=conversation_id)
    assert isinstance(said, str) and said.startswith("echo: ") and "hi via chat" in said
    # The SDK's "Chat" prompt was the one rendered.
    assert "Reply to the user's message" in said

    done = sdk.instruct(agent_id=agent["id"], user_input="do the thing", conversation_id=conversation_id)
    assert "do the thing" in done and "Carry out the instruction" in done

    prompted = sdk.prompt_agent(
        agent_id=agent["id"],
        prompt_name="Think About It",
        prompt_args={"user_input": "think", "conversation_name": conversation_id},
    )
    assert "think" in prompted

    history = sdk.get_conversation(conversation_id=conversation_id)
    users = [m["message"] for m in history if m["role"] == "USER"]
    assert users == ["hi via chat", "do the thing", "think"]


def test_another_users_agent_is_unknown(chat_url, user):
    registered, agent = user
    other = register_fresh_user(chat_url)
    r = requests.post(
        f"{chat_url}/v1/chat/completions",
        headers=other.sdk.headers,
        json={"model": agent["id"], "messages": [{"role": "user", "content": "x"}]},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 404, r.text
    r = requests.post(
        f"{chat_url}/v1/agent/{agent['id']}/prompt",
        headers=other.sdk.headers,
        json={"prompt_name": "Chat", "prompt_args": {"user_input": "x"}},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 404, r.text
