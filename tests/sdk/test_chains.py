"""Chains through agixtsdk 0.0.82 for roles 2, 3 and 6: every chain method of the SDK,
including those that fail against the reference (`get_chain_id_by_name`, which reads
`name`; `get_chain_responses`, whose route the reference lacks; `run_chain(chain_name=...)`,
which puts the name where the id goes), against the user tier. The server's model is the
fake model server (`fake-model`, built by `cargo test`).

Contract: /work/shared/docs/reference/agents-memory.md section 5 and docs/compat.md: a name
is unique per user (409), steps stay numbered 1..n, a chain that would call itself is 400,
another user's chain is 404; role 3 holds chains:read and chains:execute, role 6
chains:read only.
"""

import requests

from conftest import HTTP_TIMEOUT, register_fresh_user
from helpers import build_team
from test_chat import chat_url, fake_model  # noqa: F401  (fixtures)


def test_chain_lifecycle_and_run(chat_url):  # noqa: F811
    sdk = register_fresh_user(chat_url).sdk
    agent = sdk.get_agents()[0]
    created = sdk.add_chain("SDK Chain")
    chain_id = created["id"]
    assert sdk.get_chain_id_by_name("SDK Chain") == chain_id
    assert sdk.get_chains()[0]["chainName"] == "SDK Chain"

    assert sdk.add_step(chain_id, 1, agent["id"], "Prompt", {"prompt_name": "Chat", "user_input": "{user_input}!"}) == "Step 1 added to chain 'SDK Chain'."
    assert sdk.add_step(chain_id, 2, agent["id"], "Command", {"command_name": "Get Datetime"}).startswith("Step 2 added")
    assert sdk.add_step(chain_id, 3, agent["id"], "Prompt", {"prompt_name": "Chat", "user_input": "after {STEP1}"}).startswith("Step 3 added")
    chain = sdk.get_chain(chain_id)
    assert [s["step"] for s in chain["steps"]] == [1, 2, 3]
    assert sdk.get_chain_args(chain_id) == ["user_input", "STEP1"]

    answer = sdk.run_chain(chain_id=chain_id, user_input="hey", agent_id=agent["id"], all_responses=True)
    assert "Step 1 (Prompt - Chat) Output:" in answer and "hey!" in answer and "after echo: " in answer
    by_name = sdk.run_chain(chain_name="SDK Chain", user_input="again")
    assert "after echo: " in by_name
    single = sdk.run_chain_step(chain_id, 2, "x", agent_id=agent["id"])
    assert "UTC" in single
    responses = sdk.get_chain_responses(chain_id)
    # The latest run is the single step 2.
    assert responses["run_id"] and list(responses["responses"]) == ["2"]

    assert sdk.move_step(chain_id, 3, 1) == "Step 3 moved to 1 in chain 'SDK Chain'."
    assert sdk.update_step(chain_id, 2, agent["id"], "Prompt", {"prompt_name": "Instruct"}) == "Step 2 updated for chain 'SDK Chain'."
    assert sdk.delete_step(chain_id, 1) == "Step 1 deleted from chain 'SDK Chain'."
    assert [s["step"] for s in sdk.get_chain(chain_id)["steps"]] == [1, 2]

    assert sdk.rename_chain(chain_id, "Renamed Chain") == "Chain updated to 'Renamed Chain'."
    imported = sdk.import_chain(
        "Imported Chain",
        {"chain_name": "Imported Chain", "steps": [{"step": 1, "agent_name": agent["name"], "prompt_type": "Command", "prompt": {"command_name": "Get Datetime"}}]},
    )
    assert imported == "Imported chain: Imported Chain"
    assert {c["name"] for c in sdk.get_chains()} == {"Renamed Chain", "Imported Chain"}
    assert sdk.delete_chain(chain_id) == "Chain 'Renamed Chain' deleted."
    assert sdk.get_chain_id_by_name("Renamed Chain") is None


def test_refusals(chat_url):  # noqa: F811
    sdk = register_fresh_user(chat_url).sdk
    agent = sdk.get_agents()[0]
    chain_id = sdk.add_chain("Loop")["id"]
    r = requests.post(f"{chat_url}/v1/chain", headers=sdk.headers, json={"chain_name": "Loop"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 409, r.text
    r = requests.post(
        f"{chat_url}/v1/chain/{chain_id}/step",
        headers=sdk.headers,
        json={"step_number": 1, "agent_id": agent["id"], "prompt_type": "Chain", "prompt": {"chain_name": "Loop"}},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 400 and "itself" in r.json()["detail"], r.text
    r = requests.post(f"{chat_url}/v1/chain/{chain_id}/run", headers=sdk.headers, json={"prompt": "x"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 400 and "no steps" in r.json()["detail"], r.text
    other = register_fresh_user(chat_url).sdk
    r = requests.get(f"{chat_url}/v1/chain/{chain_id}", headers=other.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 404, r.text


def test_roles(chat_url):  # noqa: F811
    team = build_team(chat_url)
    for role, may_write in ((team.admin, True), (team.user, False), (team.reader, False)):
        r = requests.post(f"{chat_url}/v1/chain", headers=role.sdk.headers, json={"chain_name": "Role Chain"}, timeout=HTTP_TIMEOUT)
        if may_write:
            assert r.status_code == 200, r.text
        else:
            assert r.status_code == 403 and "chains:write" in r.json()["detail"], r.text
        assert requests.get(f"{chat_url}/v1/chains", headers=role.sdk.headers, timeout=HTTP_TIMEOUT).status_code == 200
