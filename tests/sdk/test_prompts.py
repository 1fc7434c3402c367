"""Prompts through agixtsdk 0.0.82 for roles 2, 3 and 6: every prompt method of the SDK,
including `rename_prompt` (a PATCH the reference does not route) and
`get_prompt_id_by_name`, against the user tier over Agentry's built-in set.

Contract: /work/shared/docs/reference/agents-memory.md section 6 and docs/compat.md: a name is
unique within a user's category (409), a built-in prompt changed becomes the user's own
version until reverted, another user's prompt is 404, roles 3 and 6 read but get 403 on
writes (they hold `prompts:read` only).
"""

import requests

from conftest import HTTP_TIMEOUT, register_fresh_user
from helpers import build_team


def _url(base_url, path):
    return f"{base_url}{path}"


def test_prompt_lifecycle_through_the_sdk(base_url):
    sdk = register_fresh_user(base_url).sdk
    listed = sdk.get_prompts()
    assert {"Think About It", "Chat", "Instruct"} <= {p["name"] for p in listed}

    created = sdk.add_prompt("SDK Prompt", "Say {what} to {who}.", "SDK")
    prompt_id = created["id"]
    assert created["message"] == f"Prompt 'SDK Prompt' created with ID: {prompt_id}"
    assert sdk.get_prompt_id_by_name("SDK Prompt", category="SDK") == prompt_id
    assert sdk.get_prompt(prompt_id)["prompt"] == "Say {what} to {who}."
    assert sdk.get_prompt_args(prompt_id) == ["what", "who"]
    assert [p["name"] for p in sdk.get_prompts(prompt_category="SDK")] == ["SDK Prompt"]

    categories = sdk.get_prompt_categories()
    sdk_category = next(c for c in categories if c["name"] == "SDK")
    assert [p["id"] for p in sdk.get_prompts_by_category_id(sdk_category["id"])] == [prompt_id]

    assert sdk.update_prompt(prompt_id, "Say {what}.") == "Prompt updated."
    assert sdk.get_prompt(prompt_id)["prompt"] == "Say {what}."
    assert "renamed" in sdk.rename_prompt(prompt_id, "Renamed Prompt")
    assert sdk.get_prompt(prompt_id)["prompt_name"] == "Renamed Prompt"

    everything = sdk.get_all_prompts()
    assert prompt_id in {p["id"] for p in everything["user_prompts"]}
    assert "Chat" in {p["name"] for p in everything["global_prompts"]}

    # A duplicate name in the same category is refused.
    r = requests.post(
        _url(base_url, "/v1/prompt"),
        headers=sdk.headers,
        json={"prompt_name": "Renamed Prompt", "prompt": "x", "prompt_category": "SDK"},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 409, r.text

    assert sdk.delete_prompt(prompt_id) == "Prompt 'Renamed Prompt' deleted."
    assert sdk.get_prompt_id_by_name("Renamed Prompt", category="SDK") is None


def test_changing_a_built_in_and_reverting(base_url):
    sdk = register_fresh_user(base_url).sdk
    chat_id = sdk.get_prompt_id_by_name("Chat")
    original = sdk.get_prompt(chat_id)["prompt"]
    assert sdk.update_prompt(chat_id, "Mine: {user_input}") == "Prompt updated."
    mine = sdk.get_prompt_id_by_name("Chat")
    assert mine != chat_id and sdk.get_prompt(mine)["prompt"] == "Mine: {user_input}"
    r = requests.post(_url(base_url, f"/v1/prompt/{mine}/revert"), headers=sdk.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.json() == {"message": "Reverted to default"}, r.text
    assert sdk.get_prompt_id_by_name("Chat") == chat_id
    assert sdk.get_prompt(chat_id)["prompt"] == original


def test_roles_and_other_users(base_url):
    team = build_team(base_url)
    admin_prompt = team.admin.sdk.add_prompt("Admin Only", "secret {x}", "Team")["id"]
    for role in (team.user, team.reader):
        # Another user's prompt is unknown to them.
        r = requests.get(_url(base_url, f"/v1/prompt/{admin_prompt}"), headers=role.sdk.headers, timeout=HTTP_TIMEOUT)
        assert r.status_code == 404, r.text
        assert {"Chat"} <= {p["name"] for p in role.sdk.get_prompts()}
    # Roles 3 and 6 hold `prompts:read` only (the reference's role catalog): writes are 403.
    for role in (team.user, team.reader):
        r = requests.post(
            _url(base_url, "/v1/prompt"),
            headers=role.sdk.headers,
            json={"prompt_name": "Not Mine", "prompt": "z"},
            timeout=HTTP_TIMEOUT,
        )
        assert r.status_code == 403 and "prompts:write" in r.json()["detail"], r.text
