"""Agents, commands, extensions and providers for roles 2, 3 and 6, driven through agixtsdk 0.0.82.

Contract: /work/shared/docs/reference/agents-memory.md sections 1-4 and 11, with the project's
decided deviations (docs/compat.md): an unknown or inaccessible agent is 404 (never 500), a
duplicate agent name of one owner is 409, secrets are masked by key class (MAX_TOKENS is not one),
no empty-named command, every route needs a token, persona PUT and clone need agents:write, the
wallet is owner-only and a clone gets a wallet of its own. Sharing: shared="true" with
company_id=<company> makes an agent visible to every member of that company; role 3
(agents:write) changes its settings and commands, role 6 (agents:read) only reads it (writes are
403); only the owner renames, deletes or reads the wallet; anyone else gets 404.

One team is built per module with one agent the admin shares with the company; the tests that
change that agent restore it.
"""

import re

import pytest
import requests
from agixtsdk import AGiXTSDK

from conftest import HTTP_TIMEOUT, unique_email
from helpers import ROLE_COMPANY_ADMIN, _detail, _invite, _register_invited, _url, build_team

SHARED = "Team Agent"
PROVIDERS = {"anthropic", "azure", "chutes", "deepinfra", "deepseek", "elevenlabs", "ezlocalai", "gemini",
             "huggingface", "openai", "openrouter", "perplexity", "xai"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SDK_FAILURE = "Unable to retrieve data"  # what the SDK raises when a key it reads is missing
# Every agent route that changes something, with the scope it needs.
WRITES = [
    ("PUT", "", {"agent_name": "", "settings": {"persona": "hijacked"}}, "agents:write"),
    ("PATCH", "", {"new_name": "Hijacked"}, "agents:write"),
    ("DELETE", "", None, "agents:delete"),
    ("PUT", "/commands", {"commands": {"Get Datetime": False}}, "agents:write"),
    ("PATCH", "/command", {"command_name": "Get Datetime", "enable": False}, "agents:write"),
    ("PATCH", "/extension/commands", {"extension_name": "essential_abilities", "enable": False}, "agents:write"),
    ("PUT", "/persona", {"persona": "hijacked"}, "agents:write"),
    ("POST", "/clone", {"new_name": "Stolen Copy"}, "agents:write"),
]


@pytest.fixture(scope="module")
def team(base_url):
    return build_team(base_url)


@pytest.fixture(scope="module")
def shared_id(team):
    settings = {"shared": "true", "company_id": team.company_id, "persona": "Team helper"}
    return _add(team.admin.sdk, SHARED, settings=settings)


def _req(base_url, sdk, method, path, body=None):
    return requests.request(method, _url(base_url, path), headers=sdk.headers, json=body, timeout=HTTP_TIMEOUT)


def _ids(sdk):
    return {a["id"] for a in sdk.get_agents()}


def _add(sdk, name, **kwargs):
    result = sdk.add_agent(name, **kwargs)
    assert result.get("message") == "Agent added." and UUID_RE.match(str(result.get("id"))), result
    return result["id"]


# --- one's own agents ----------------------------------------------------------


def test_add_agent_defaults_masking_and_commands(team):
    sdk = team.admin.sdk
    secrets = {"OPENAI_API_KEY": "sk-test-123456", "ACCESS_TOKEN": "tok-98765", "MY_PRIVATE_THING": "p-55555"}
    settings = {**secrets, "MAX_TOKENS": "9000", "OPENAI_MAX_TOKENS": "1000", "persona": "Calm"}
    agent_id = _add(sdk, "Defaults", settings=settings, commands={"Get Datetime": False})
    config = sdk.get_agentconfig(agent_id)
    assert set(config) == {"settings", "commands"}, config
    s = config["settings"]
    expected = {"mode": "prompt", "provider": "rotation", "prompt_name": "Think About It",
                "prompt_category": "Default", "company_id": team.company_id, "persona": "Calm",
                "MAX_TOKENS": "9000", "OPENAI_MAX_TOKENS": "1000"}
    assert {k: s.get(k) for k in expected} == expected, s
    for key in [*secrets, "SOLANA_WALLET_API_KEY"]:
        assert s.get(key) == "HIDDEN", (key, s)
    assert not any(v in str(config) for v in secrets.values()), config
    assert s.get("SOLANA_WALLET_ADDRESS") not in (None, "", "HIDDEN"), s
    commands = config["commands"]
    extensions = sdk.get_extensions()
    existing = {c["friendly_name"] for e in extensions for c in e["commands"]}
    core = {c["friendly_name"] for e in extensions if e["category"] == "Core Abilities" for c in e["commands"]}
    assert "" not in commands and set(commands) == existing, (sorted(commands), sorted(existing))
    assert {"Write to File", "Read File", "Get Datetime"} <= core, core
    assert {n for n, on in commands.items() if on} == core - {"Get Datetime"}, commands
    assert sdk.get_commands(agent_id) == commands
    r = _req(team.base_url, sdk, "GET", "/v1/agent/Defaults")  # a name resolves like the id
    assert r.status_code == 200 and r.json()["agent"] == config, (r.status_code, r.text)


def test_import_and_name_refusals(team):
    sdk, base = team.admin.sdk, team.base_url
    result = sdk.import_agent("Only Once", {"persona": "Imported"}, {"Get Datetime": False})
    assert result.get("message") == "Agent Only Once created." and UUID_RE.match(str(result.get("id"))), result
    assert sdk.get_agent_id_by_name("Only Once") == result["id"]
    config = sdk.get_agentconfig(result["id"])
    assert config["settings"].get("persona") == "Imported", config
    assert config["commands"].get("Get Datetime") is False and config["commands"].get("Read File") is True, config
    for path, body in (("/v1/agent", {"agent_name": "Only Once"}),
                       ("/v1/agent/import", {"agent_name": "Only Once", "settings": {}, "commands": {}})):
        r = _req(base, sdk, "POST", path, body)
        assert r.status_code == 409 and "Only Once" in _detail(r), (path, r.status_code, r.text)
    duplicate = sdk.add_agent("Only Once")
    assert "id" not in duplicate and "already exists" in str(duplicate.get("detail")), duplicate
    assert [a["name"] for a in sdk.get_agents()].count("Only Once") == 1
    for body in ({"agent_name": ""}, {"agent_name": "a/b"}, {"agent_name": "Listy", "settings": ["x"]}):
        r = _req(base, sdk, "POST", "/v1/agent", body)
        assert r.status_code == 422 and isinstance(_detail(r), list), (body, r.status_code, r.text)
    assert "Listy" not in {a["name"] for a in sdk.get_agents()}


def test_update_settings_merges_and_persona(team):
    sdk, base = team.admin.sdk, team.base_url
    agent_id = _add(sdk, "Merge", settings={"foo": "bar", "keep": "me", "OPENAI_API_KEY": "sk-1"})
    message = sdk.update_agent_settings(agent_id, {"foo": "", "OPENAI_API_KEY": "", "count": 5, "flag": True})
    assert message == "Agent Merge configuration updated.", message
    s = sdk.get_agentconfig(agent_id)["settings"]
    assert "foo" not in s, s  # "" deletes an ordinary setting
    assert s.get("OPENAI_API_KEY") == "", s  # "" on a secret is kept as an explicit disconnect
    got = {k: s.get(k) for k in ("keep", "count", "flag", "mode")}
    assert got == {"keep": "me", "count": "5", "flag": "True", "mode": "prompt"}, s
    r = _req(base, sdk, "PUT", f"/v1/agent/{agent_id}", {"agent_name": "", "settings": ["x"]})
    assert r.status_code == 422, (r.status_code, r.text)
    assert sdk.get_persona(agent_id) == ""
    assert sdk.update_persona(agent_id, "Terse") == "Agent Merge configuration updated."
    assert sdk.get_persona(agent_id) == "Terse"
    assert sdk.get_agentconfig(agent_id)["settings"].get("persona") == "Terse"


def test_rename_and_delete_through_sdk(team, shared_id):
    sdk, base = team.admin.sdk, team.base_url
    agent_id = _add(sdk, "Before Rename")
    assert sdk.rename_agent(agent_id, "After Rename") == {"message": "Agent renamed."}
    names = {a["name"]: a["id"] for a in sdk.get_agents()}
    assert names.get("After Rename") == agent_id and "Before Rename" not in names, names
    clash = sdk.rename_agent(agent_id, SHARED)  # a name the owner already uses
    assert SHARED in str(clash.get("detail")), clash
    r = _req(base, sdk, "PATCH", f"/v1/agent/{agent_id}", {"new_name": SHARED})
    assert r.status_code == 409, (r.status_code, r.text)
    r = _req(base, sdk, "PATCH", f"/v1/agent/{agent_id}", {"new_name": "a/b"})
    assert r.status_code == 422, (r.status_code, r.text)
    names = {a["name"]: a["id"] for a in sdk.get_agents()}
    assert names.get("After Rename") == agent_id and names.get(SHARED) == shared_id, names
    assert sdk.delete_agent(agent_id) == "Agent After Rename deleted."
    assert agent_id not in _ids(sdk)
    with pytest.raises(Exception, match=SDK_FAILURE):
        sdk.get_agentconfig(agent_id)
    for method, body in (("GET", None), ("DELETE", None), ("PATCH", {"new_name": "Ghost"})):
        r = _req(base, sdk, method, f"/v1/agent/{agent_id}", body)
        assert r.status_code == 404 and "detail" in r.json(), (method, r.status_code, r.text)


def test_command_toggles(team):
    sdk, base = team.admin.sdk, team.base_url
    agent_id = _add(sdk, "Toggles")
    updated = "Agent Toggles configuration updated."
    assert sdk.toggle_command(agent_id, "Get Datetime", False) == updated
    assert sdk.get_commands(agent_id)["Get Datetime"] is False
    assert sdk.toggle_command(agent_id, "get_datetime", True) == updated  # function name
    assert sdk.get_commands(agent_id)["Get Datetime"] is True
    assert sdk.update_agent_commands(agent_id, {"Read File": False, "Write to File": False}) == updated
    commands = sdk.get_commands(agent_id)
    assert commands["Read File"] is False and commands["Write to File"] is False, commands
    assert commands["Get Datetime"] is True and commands["List Directory"] is True, commands
    for body, status in (({"command_name": "No Such Command", "enable": True}, 404),
                         ({"command_name": "Get Datetime", "enable": "no"}, 422)):
        r = _req(base, sdk, "PATCH", f"/v1/agent/{agent_id}/command", body)
        assert r.status_code == status, (body, r.status_code, r.text)
    assert "No Such Command" not in sdk.get_commands(agent_id)
    with pytest.raises(Exception, match=SDK_FAILURE):
        sdk.toggle_command(agent_id, "No Such Command", True)
    (essential,) = [e for e in sdk.get_extensions() if e["extension_name"] == "essential_abilities"]
    n = len(essential["commands"])
    path = f"/v1/agent/{agent_id}/extension/commands"
    for name, enable in (("Essential Abilities", False), ("essential-abilities", True)):
        r = _req(base, sdk, "PATCH", path, {"extension_name": name, "enable": enable})
        assert r.status_code == 200, (name, r.status_code, r.text)
        state = sdk.get_commands(agent_id)
        assert all(state[c["friendly_name"]] is enable for c in essential["commands"]), state
    assert r.json() == {"message": f"Successfully enabled {n} commands for extension 'Essential Abilities'"}, r.text
    r = _req(base, sdk, "PATCH", path, {"extension_name": "no_such_extension", "enable": True})
    assert r.status_code == 404, (r.status_code, r.text)


def test_clone_and_wallet(team, shared_id):
    sdk, base = team.admin.sdk, team.base_url
    r = _req(base, sdk, "POST", f"/v1/agent/{shared_id}/clone", {"new_name": "Team Clone"})
    assert r.status_code == 200 and "message" in r.json(), (r.status_code, r.text)
    clone_id = r.json().get("id")
    assert UUID_RE.match(str(clone_id)) and clone_id != shared_id, r.text
    source, clone = sdk.get_agentconfig(shared_id), sdk.get_agentconfig(clone_id)
    assert "shared" not in clone["settings"] and clone["settings"].get("persona") == "Team helper", clone
    assert clone["commands"] == source["commands"], (clone, source)
    assert clone_id not in _ids(team.reader.sdk)
    r = _req(base, sdk, "POST", f"/v1/agent/{shared_id}/clone", {"new_name": "Team Clone"})
    assert r.status_code == 409, (r.status_code, r.text)
    wallets = {}
    for agent_id in (shared_id, clone_id):
        r = _req(base, sdk, "GET", f"/v1/agent/{agent_id}/wallet")
        assert r.status_code == 200, (r.status_code, r.text)
        wallet = r.json()
        assert re.fullmatch(r"[0-9a-f]{64}", wallet.get("private_key", "")) and wallet.get("passphrase"), wallet
        address = sdk.get_agentconfig(agent_id)["settings"]["SOLANA_WALLET_ADDRESS"]
        assert wallet.get("address") == address and re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{32,44}", address), wallet
        assert _req(base, sdk, "GET", f"/v1/agent/{agent_id}/wallet").json() == wallet  # stable
        wallets[agent_id] = wallet
    assert wallets[shared_id]["private_key"] != wallets[clone_id]["private_key"], wallets
    assert wallets[shared_id]["address"] != wallets[clone_id]["address"], wallets


# --- sharing across roles --------------------------------------------------------


def test_each_role_lists_agents(team, shared_id):
    for member, owner in ((team.admin, True), (team.user, False), (team.reader, False)):
        agents = member.sdk.get_agents()
        entry = {a["id"]: a for a in agents}.get(shared_id)
        expected = {"name": SHARED, "company_id": team.company_id, "default": False, "is_shared": True,
                    "is_owner": owner, "access_level": "owner" if owner else "viewer"}
        assert entry and {k: entry.get(k) for k in expected} == expected, (member.email, agents)
        defaults = [a for a in agents if a["default"]]
        assert len(defaults) == 1 and defaults[0]["name"] == "AGiXT" and defaults[0]["is_owner"], agents
        assert defaults[0]["company_id"] == team.company_id, agents
    # A new user (the outsider) has exactly the agent made at registration, in their own company.
    agents = team.outsider.sdk.get_agents()
    expected = {"name": "AGiXT", "status": False, "company_id": team.outsider_company_id, "default": True,
                "is_owner": True, "is_shared": False, "access_level": "owner"}
    assert len(agents) == 1 and {k: agents[0].get(k) for k in expected} == expected, agents
    assert UUID_RE.match(agents[0]["id"]), agents


def test_members_read_the_shared_agent(team, shared_id):
    admin = team.admin.sdk
    config, extensions = admin.get_agentconfig(shared_id), admin.get_agent_extensions(shared_id)
    assert config["settings"].get("shared") == "true", config
    for member in (team.user, team.reader):
        sdk = member.sdk
        assert sdk.get_agentconfig(shared_id) == config, member.email
        assert sdk.get_commands(shared_id) == config["commands"], member.email
        seen = sdk.get_agent_extensions(shared_id)
        assert seen == extensions, (member.email, seen)
        enabled = {c["friendly_name"]: c["enabled"] for e in seen for c in e["commands"]}
        assert enabled == config["commands"], (enabled, config["commands"])
        assert sdk.get_persona(shared_id) == "Team helper"
        r = _req(team.base_url, sdk, "GET", f"/v1/agent/{shared_id}/extensions")
        assert r.headers.get("Cache-Control") == "no-cache, no-store, must-revalidate", r.headers


def test_reader_write_attempts_are_denied(team, shared_id):
    admin, reader, base = team.admin.sdk, team.reader.sdk, team.base_url
    before = admin.get_agentconfig(shared_id)
    own_id = reader.get_agent_id_by_name("AGiXT")
    for agent_id in (shared_id, own_id):  # scopes decide, even on the reader's own agent
        for method, suffix, body, scope in WRITES:
            r = _req(base, reader, method, f"/v1/agent/{agent_id}{suffix}", body)
            assert r.status_code == 403, (method, suffix, r.status_code, r.text)
            assert "Insufficient permissions" in _detail(r) and scope in _detail(r), r.text
    r = _req(base, reader, "POST", "/v1/agent", {"agent_name": "Reader Agent"})
    assert r.status_code == 403 and "agents:write" in _detail(r), (r.status_code, r.text)
    assert "Insufficient permissions" in str(reader.add_agent("Reader Agent").get("detail"))
    assert "Insufficient permissions" in str(reader.rename_agent(shared_id, "Hijacked").get("detail"))
    for call, args in ((reader.update_agent_settings, (shared_id, {"persona": "x"})),
                       (reader.update_agent_commands, (shared_id, {"Get Datetime": False})),
                       (reader.toggle_command, (shared_id, "Get Datetime", False)),
                       (reader.update_persona, (shared_id, "x")),
                       (reader.delete_agent, (shared_id,))):
        with pytest.raises(Exception, match=SDK_FAILURE):
            call(*args)
    assert admin.get_agentconfig(shared_id) == before
    names = {a["name"] for a in reader.get_agents()}
    assert SHARED in names and not names & {"Reader Agent", "Hijacked", "Stolen Copy"}, names


def test_user_changes_shared_agent_and_admin_sees_it_at_once(team, shared_id):
    admin, user = team.admin.sdk, team.user.sdk
    assert "TEAM_NOTE" not in admin.get_agentconfig(shared_id)["settings"]  # read first: no stale cache
    assert admin.get_commands(shared_id)["Get Datetime"] is True
    updated = f"Agent {SHARED} configuration updated."
    try:
        assert user.update_agent_settings(shared_id, {"TEAM_NOTE": "from the power user"}) == updated
        assert admin.get_agentconfig(shared_id)["settings"].get("TEAM_NOTE") == "from the power user"
        assert team.reader.sdk.get_agentconfig(shared_id)["settings"].get("TEAM_NOTE") == "from the power user"
        assert user.toggle_command(shared_id, "Get Datetime", False) == updated
        assert admin.get_commands(shared_id)["Get Datetime"] is False
        assert user.update_agent_commands(shared_id, {"Read File": False}) == updated
        assert admin.get_agentconfig(shared_id)["commands"]["Read File"] is False
    finally:
        admin.update_agent_settings(shared_id, {"TEAM_NOTE": ""})
        admin.update_agent_commands(shared_id, {"Get Datetime": True, "Read File": True})
    assert "TEAM_NOTE" not in admin.get_agentconfig(shared_id)["settings"]


def test_only_the_owner_renames_deletes_and_reads_the_wallet(team, shared_id):
    base = team.base_url
    # A second company admin holds agents:delete, so ownership (not scope) is what refuses them.
    email = unique_email()
    r = _invite(base, team.admin.sdk, email, team.company_id, ROLE_COMPANY_ADMIN)
    assert r.status_code == 200, (r.status_code, r.text)
    co_admin = _register_invited(base, email, r.json()["id"], "CoAdmin")
    assert shared_id in _ids(co_admin.sdk)
    for member in (co_admin, team.user):
        for method, suffix, body in (("PATCH", "", {"new_name": "Hijacked"}), ("GET", "/wallet", None)):
            r = _req(base, member.sdk, method, f"/v1/agent/{shared_id}{suffix}", body)
            assert r.status_code == 404, (member.email, method, suffix, r.status_code, r.text)
    r = _req(base, co_admin.sdk, "DELETE", f"/v1/agent/{shared_id}")
    assert r.status_code == 404, (r.status_code, r.text)
    r = _req(base, team.user.sdk, "DELETE", f"/v1/agent/{shared_id}")
    assert r.status_code == 403 and "agents:delete" in _detail(r), (r.status_code, r.text)
    with pytest.raises(Exception, match=SDK_FAILURE):
        co_admin.sdk.delete_agent(shared_id)
    assert {a["id"]: a["name"] for a in team.admin.sdk.get_agents()}.get(shared_id) == SHARED


def test_outsider_and_unknown_ids_get_404(team, shared_id):
    outsider, base = team.outsider.sdk, team.base_url
    reads = [("GET", s, None) for s in ("", "/command", "/extensions", "/persona", "/providers", "/wallet")]
    for method, suffix, body in reads + [(m, s, b) for m, s, b, _ in WRITES]:
        r = _req(base, outsider, method, f"/v1/agent/{shared_id}{suffix}", body)
        assert r.status_code == 404 and "detail" in r.json(), (method, suffix, r.status_code, r.text)
    for call in (outsider.get_agentconfig, outsider.get_commands, outsider.get_agent_extensions):
        with pytest.raises(Exception, match=SDK_FAILURE):
            call(shared_id)
    assert shared_id not in _ids(outsider)
    for ref in ("00000000-0000-4000-8000-000000000000", "No%20Such%20Agent", SHARED.replace(" ", "%20")):
        r = _req(base, outsider, "GET", f"/v1/agent/{ref}")
        assert r.status_code == 404, (ref, r.status_code, r.text)
    assert team.admin.sdk.get_agentconfig(shared_id)["settings"].get("persona") == "Team helper"


def test_unsharing_hides_the_agent_again(team):
    admin, base = team.admin.sdk, team.base_url
    agent_id = _add(admin, "Briefly Shared", settings={"shared": "true", "company_id": team.company_id})
    members = (team.user.sdk, team.reader.sdk)
    for shared in ("false", "true", ""):
        admin.update_agent_settings(agent_id, {"shared": shared})
        for sdk in members:
            assert (agent_id in _ids(sdk)) is (shared == "true"), (shared, sdk.get_agents())
            r = _req(base, sdk, "GET", f"/v1/agent/{agent_id}")
            assert r.status_code == (200 if shared == "true" else 404), (shared, r.status_code, r.text)
    entry = {a["id"]: a for a in admin.get_agents()}.get(agent_id)
    assert entry and entry["is_shared"] is False and entry["is_owner"] is True, entry
    assert "shared" not in admin.get_agentconfig(agent_id)["settings"]


# --- providers and extensions ----------------------------------------------------


def test_providers(team):
    reader, admin, base = team.reader.sdk, team.admin.sdk, team.base_url
    providers = reader.get_providers()
    assert isinstance(providers, dict) and set(providers) == PROVIDERS, providers
    for key, p in providers.items():
        assert set(p) == {"name", "description", "services", "settings"} and p["name"], (key, p)
        assert isinstance(p["services"], list) and isinstance(p["settings"], dict), (key, p)
    openai = providers["openai"]
    assert openai["name"] == "OpenAI" and "embeddings" in openai["services"], openai
    assert openai["settings"].get("OPENAI_API_KEY") == "" and openai["settings"].get("OPENAI_AI_MODEL") == "gpt-4o"
    assert providers["anthropic"]["name"] == "Anthropic Claude" and providers["perplexity"]["services"] == []
    agent_id = _add(admin, "Provider Agent")
    for key, expected in (("sk-live-1234", True), ("", False)):
        admin.update_agent_settings(agent_id, {"OPENAI_API_KEY": key})
        r = _req(base, admin, "GET", f"/v1/agent/{agent_id}/providers")
        assert r.status_code == 200, (r.status_code, r.text)
        connected = {k: v.get("connected") for k, v in r.json()["providers"].items()}
        assert set(connected) == PROVIDERS and connected["openai"] is expected, connected
        assert not any(v for k, v in connected.items() if k != "openai"), connected
    def get(path):
        r = _req(base, reader, "GET", path)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()
    assert set(get("/api/provider")["providers"]) == PROVIDERS
    assert get("/api/provider/openai")["settings"] == {**openai["settings"], "provider": "openai"}
    assert get("/api/provider/nope") == {"settings": {"provider": "nope"}}
    listed = get("/api/providers")["providers"]
    assert {k for item in listed for k in item} == PROVIDERS, listed
    tts = get("/api/providers/service/tts")["providers"]
    assert {"openai", "elevenlabs"} <= set(tts) and "anthropic" not in tts, tts
    assert get("/api/providers/service/nope") == {"providers": []}
    embedders = sorted(k for k, p in providers.items() if "embeddings" in p["services"])
    assert sorted(get("/api/embedding_providers")["providers"]) == embedders
    assert sorted(get("/api/embedders")["embedders"]) == embedders


def test_extensions_and_command_args(team):
    sdk, base = team.reader.sdk, team.base_url
    r = _req(base, sdk, "GET", "/v1/extensions")
    assert r.status_code == 200 and isinstance(r.json(), list), (r.status_code, r.text[:300])
    extensions = sdk.get_extensions()
    assert extensions == r.json()
    by_name = {e["extension_name"]: e for e in extensions}
    essential = by_name.get("essential_abilities")
    assert essential and essential["category"] == "Core Abilities", sorted(by_name)
    for e in extensions:
        assert {"extension_name", "friendly_name", "description", "settings", "commands", "category"} <= set(e), e
        assert e["commands"], e  # extensions without commands are left out
        for c in e["commands"]:
            assert set(c) == {"friendly_name", "description", "command_name", "command_args"}, c
    commands = {c["friendly_name"]: c for c in essential["commands"]}
    write = commands.get("Write to File")
    assert write and write["command_name"] == "write_to_file", write
    assert write["command_args"] == {"filename": "", "text": ""}, write
    assert sdk.get_command_args("Write to File") == {"filename": "", "text": ""}
    read_args = sdk.get_command_args("Read File")
    assert read_args == commands["Read File"]["command_args"] and read_args.get("line_start") == "1", read_args
    assert sdk.get_command_args("No Such Command") == {}
    assert isinstance(sdk.get_extension_settings(), dict)
    categories = _req(base, sdk, "GET", "/v1/extension/categories").json()
    core = {c["name"]: c for c in categories}.get("Core Abilities")
    assert core and "essential_abilities" in {e["name"] for e in core["extensions"]}, categories
    summary = _req(base, sdk, "GET", "/v1/extension/categories/summary").json()
    summary = {c["name"]: c["extension_count"] for c in summary}
    assert summary == {c["name"]: len(c["extensions"]) for c in categories}, (summary, categories)


def test_missing_token_is_401(base_url, shared_id):
    anonymous = AGiXTSDK(base_uri=base_url)
    for method, path in (("GET", "/v1/agent"), ("POST", "/v1/agent"), ("GET", f"/v1/agent/{shared_id}"),
                         ("GET", f"/v1/agent/{shared_id}/wallet"), ("GET", "/v1/providers"),
                         ("GET", "/v1/extensions")):
        r = _req(base_url, anonymous, method, path, {"agent_name": "Anon"} if method == "POST" else None)
        assert r.status_code == 401 and "detail" in r.json(), (method, path, r.status_code, r.text)
    with pytest.raises(Exception, match=SDK_FAILURE):
        anonymous.get_agents()
