"""Conversations and command execution for roles 2, 3 and 6, driven through agixtsdk 0.0.82.

Contract: /work/shared/docs/reference/agents-memory.md sections 3.3, 4.4, 7 and 11, with the project's
decided deviations (docs/compat.md). Conversations belong to the user who made them: another user's
conversation or message ids (same company or not) are 404 on every route. POST /v1/conversation with a
name the caller already has appends to that conversation (same id); names are 1-256 characters (else
422) and an unknown agent is 404. GET /v1/conversations carries `conversations_with_ids` (newest first),
so the SDK's get_conversation_id_by_name works; the SDK's rename ({new_conversation_name}) and
message-update ({new_message}) bodies are accepted (section 11). History page 1 is the newest `limit`
messages in chronological order; "-" is the caller's scratch conversation ([] until used).

POST /v1/agent/{id}/command needs extensions:execute (roles 2 and 3, not 6 → 403). Unknown command 404,
disabled for the agent 403, bad argument types 422, a path leaving the workspace 400. A run logs an
`[ACTIVITY]` message and then its output (role = agent name) in the conversation the SDK names by id
("" = the scratch conversation). "Write to File" answers with an /outputs/<agent>/<conversation>/<file>
link whose `?token=` serves the file without a header; without the token the file needs the header of
a user who sees the agent (401 with no header, 404 for another company's user).

One team is built per module; the admin shares one agent with the company.
"""

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from conftest import HTTP_TIMEOUT, register_fresh_user
from helpers import _detail, _url, build_team

SHARED = "Conversation Team Agent"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SDK_FAILURE = "Unable to retrieve data"  # what the SDK raises when a key it reads is missing
WRITTEN = re.compile(r"^File (?P<file>\S+) written successfully\. The user can access it at (?P<url>\S+)$")
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def team(base_url):
    return build_team(base_url)


@pytest.fixture(scope="module")
def shared_id(team):
    settings = {"shared": "true", "company_id": team.company_id}
    result = team.admin.sdk.add_agent(SHARED, settings=settings)
    assert result.get("message") == "Agent added." and UUID_RE.match(str(result.get("id"))), result
    return result["id"]


def _req(base_url, headers, method, path, body=None, **params):
    return requests.request(method, _url(base_url, path), headers=headers, json=body, params=params or None,
                            timeout=HTTP_TIMEOUT)


def _run(base_url, sdk, agent_id, name, args, conversation=""):
    """POST the body the SDK's execute_command sends; the raw response."""
    body = {"command_name": name, "command_args": args, "conversation_name": conversation}
    return _req(base_url, sdk.headers, "POST", f"/v1/agent/{agent_id}/command", body)


def _link(base_url, output, agent_id, conversation_id, filename):
    """The (unsigned, signed) URLs of the file in a "Write to File" answer, on the test server."""
    m = WRITTEN.match(output)
    assert m and m["file"] == filename, output
    parts = urlsplit(m["url"])
    assert parts.path == f"/outputs/{agent_id}/{conversation_id}/{filename}", output
    (token,) = parse_qs(parts.query).get("token", [""])
    expiry, _, mac = token.partition(".")
    assert expiry.isdigit() and int(expiry) > time.time() and re.fullmatch(r"[0-9a-f]{64}", mac), output
    return f"{base_url}{parts.path}", f"{base_url}{parts.path}?{parts.query}"


def _get(url, headers=None):
    return requests.get(url, headers=headers or {}, timeout=HTTP_TIMEOUT)


def _logged_run(history, agent_name, command, output):
    """The last two messages are the activity and the output of one run of `command`."""
    activity, answer = history[-2:]
    assert activity["role"] == answer["role"] == agent_name, history[-2:]
    assert activity["message"].startswith(f"[ACTIVITY] Executing command `{command}` with args:"), activity
    assert answer["message"] == output, (answer, output)


# --- conversations CRUD ------------------------------------------------------------


def test_read_only_members_read_conversations_but_write_none(team, shared_id):
    """conversations:write is not a read-only user's (issue 10: they created conversations)."""
    reader = team.reader.sdk
    r = _req(team.base_url, reader.headers, "POST", "/v1/conversation",
             {"conversation_name": "Reader notes", "agent_id": shared_id})
    assert r.status_code == 403 and "conversations:write" in str(_detail(r)), (r.status_code, r.text)
    assert reader.get_conversation_id_by_name("Reader notes") is None
    assert isinstance(reader.get_conversations(), dict)


@pytest.mark.parametrize("role", ["admin", "user"])
def test_conversation_crud_through_the_sdk(team, shared_id, role):
    member = getattr(team, role)
    sdk, name = member.sdk, f"Notes of {role}"
    content = [{"role": "USER", "message": "first"}, {"role": SHARED, "message": "second"}]
    created = sdk.new_conversation(shared_id, name, content)
    assert UUID_RE.match(str(created.get("id"))) and created.get("conversation_history") == content, created
    conv_id = created["id"]
    entry = sdk.get_conversations().get(conv_id)
    assert entry and (entry.get("name"), entry.get("agent_id"), entry.get("agent_name")) == (
        name, shared_id, SHARED), entry
    assert entry.get("created_at") and entry.get("updated_at"), entry
    assert sdk.get_conversations_with_ids()[0] == {"id": conv_id, "name": name}  # newest first
    assert sdk.get_conversation_id_by_name(name) == conv_id
    history = sdk.get_conversation(conv_id)
    assert [(m["role"], m["message"]) for m in history] == [("USER", "first"), (SHARED, "second")], history
    assert all(UUID_RE.match(str(m.get("id"))) and m.get("timestamp") for m in history), history

    mid = sdk.new_conversation_message("USER", "third", conv_id)
    assert UUID_RE.match(str(mid)), mid
    last = sdk.get_conversation(conv_id)[-1]
    assert (last["id"], last["role"], last["message"]) == (mid, "USER", "third"), last
    assert sdk.update_conversation_message(conv_id, mid, "third, edited") == "Message updated."
    edited = {m["id"]: m for m in sdk.get_conversation(conv_id)}[mid]
    assert edited["message"] == "third, edited" and edited["role"] == "USER", edited
    assert sdk.delete_conversation_message(conv_id, history[0]["id"]) == "Message deleted."
    assert [m["message"] for m in sdk.get_conversation(conv_id)] == ["second", "third, edited"]

    new_name = f"Renamed notes of {role}"
    assert sdk.rename_conversation(conv_id, new_name) == {"message": f"Conversation renamed to `{new_name}`."}
    assert sdk.get_conversation_id_by_name(new_name) == conv_id
    assert sdk.get_conversation_id_by_name(name) is None
    assert sdk.get_conversations()[conv_id]["name"] == new_name
    assert sdk.delete_conversation(conv_id) == f"Conversation `{new_name}` deleted."
    assert conv_id not in sdk.get_conversations() and sdk.get_conversation_id_by_name(new_name) is None
    with pytest.raises(Exception, match=SDK_FAILURE):
        sdk.get_conversation(conv_id)
    r = _req(team.base_url, sdk.headers, "GET", f"/v1/conversation/{conv_id}")
    assert r.status_code == 404, (r.status_code, r.text)


def test_existing_name_appends_and_history_pages_newest_first(team):
    sdk, base = team.user.sdk, team.base_url
    agent_id = sdk.get_agent_id_by_name("AGiXT")
    msgs = [{"role": "USER", "message": f"m{i}"} for i in range(1, 6)]
    older = sdk.new_conversation(agent_id, "Older")["id"]
    first = sdk.new_conversation(agent_id, "Paged", msgs[:2])
    again = sdk.new_conversation(agent_id, "Paged", msgs[2:])
    assert again == {"id": first["id"], "conversation_history": msgs[2:]}, (first, again)
    listed = sdk.get_conversations_with_ids()
    assert [c["name"] for c in listed].count("Paged") == 1, listed
    assert [c["id"] for c in listed if c["id"] in (first["id"], older)] == [first["id"], older], listed
    conv_id = first["id"]
    for page, expected in ((1, ["m4", "m5"]), (2, ["m2", "m3"]), (3, ["m1"]), (4, [])):
        r = _req(base, sdk.headers, "GET", f"/v1/conversation/{conv_id}", limit=2, page=page)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        assert [m["message"] for m in body["conversation_history"]] == expected, (page, body)
        assert (body["total"], body["page"], body["limit"]) == (5, page, 2), body
    assert [m["message"] for m in sdk.get_conversation(conv_id, limit=3, page=1)] == ["m3", "m4", "m5"]
    assert [m["message"] for m in sdk.get_conversation(conv_id)] == [m["message"] for m in msgs]


def test_fork_conversation_copies_up_to_the_message(team):
    sdk = team.user.sdk
    agent_id = sdk.get_agent_id_by_name("AGiXT")
    msgs = [{"role": "USER", "message": f"f{i}"} for i in range(1, 5)]
    source = sdk.new_conversation(agent_id, "Forked source", msgs)["id"]
    history = sdk.get_conversation(source)
    fork = sdk.fork_conversation(source, history[1]["id"])
    assert fork["conversation_name"] == "Forked source (fork)", fork
    assert fork["message_count"] == 2, fork
    assert [m["message"] for m in sdk.get_conversation(fork["id"])] == ["f1", "f2"]
    assert [m["message"] for m in sdk.get_conversation(source)] == ["f1", "f2", "f3", "f4"]
    # Another user's conversation is unknown to the caller; a reader may not fork at all.
    r = _req(team.base_url, team.outsider.sdk.headers, "POST", f"/v1/conversation/fork/{source}/{history[0]['id']}")
    assert r.status_code == 404, (r.status_code, r.text)
    r = _req(team.base_url, team.reader.sdk.headers, "POST", f"/v1/conversation/fork/{source}/{history[0]['id']}")
    assert r.status_code == 403, (r.status_code, r.text)


def test_names_and_agents_are_checked(team):
    sdk, base = team.admin.sdk, team.base_url
    for name in ("", "x" * 257):
        r = _req(base, sdk.headers, "POST", "/v1/conversation", {"conversation_name": name})
        assert r.status_code == 422 and "detail" in r.json(), (len(name), r.status_code, r.text)
    longest = sdk.new_conversation("", "n" * 256)
    assert UUID_RE.match(str(longest.get("id"))), longest
    assert sdk.get_conversation_id_by_name("n" * 256) == longest["id"]
    r = _req(base, sdk.headers, "PUT", f"/v1/conversation/{longest['id']}", {"new_conversation_name": "x" * 257})
    assert r.status_code == 422, (r.status_code, r.text)
    assert "detail" in sdk.rename_conversation(longest["id"], "")
    assert sdk.get_conversations()[longest["id"]]["name"] == "n" * 256
    outsider_agent = team.outsider.sdk.get_agent_id_by_name("AGiXT")
    for body in ({"agent_id": UNKNOWN_ID}, {"agent_name": "No Such Agent"}, {"agent_id": outsider_agent}):
        r = _req(base, sdk.headers, "POST", "/v1/conversation", {"conversation_name": "Agentless", **body})
        assert r.status_code == 404, (body, r.status_code, r.text)
    assert sdk.get_conversation_id_by_name("Agentless") is None


def test_other_users_conversation_ids_are_404(team, shared_id):
    admin, base = team.admin.sdk, team.base_url
    content = [{"role": "USER", "message": "secret"}]
    conv_id = admin.new_conversation(shared_id, "Private Talk", content)["id"]
    (mid,) = [m["id"] for m in admin.get_conversation(conv_id)]
    calls = [("GET", "", None), ("PUT", "", {"new_conversation_name": "Hijacked"}), ("DELETE", "", None),
             ("POST", "/message", {"role": "USER", "message": "intrusion"}),
             ("PUT", f"/message/{mid}", {"new_message": "hijacked"}), ("DELETE", f"/message/{mid}", None)]
    for member in (team.user, team.reader, team.outsider):
        for method, suffix, body in calls:
            r = _req(base, member.sdk.headers, method, f"/v1/conversation/{conv_id}{suffix}", body)
            # A read-only member may not write any conversation (403 before the id is looked
            # at); every other refusal is the 404 of an unknown id.
            want = 403 if member is team.reader and method != "GET" else 404
            assert r.status_code == want and "detail" in r.json(), (member.email, method, suffix, r.status_code, r.text)
        assert conv_id not in member.sdk.get_conversations(), member.email
        assert member.sdk.get_conversation_id_by_name("Private Talk") is None, member.email
    # Running a command "in" the admin's conversation is refused the same way.
    r = _run(base, team.user.sdk, shared_id, "Get Datetime", {}, conv_id)
    assert r.status_code == 404, (r.status_code, r.text)
    for ref in (UNKNOWN_ID, "not-a-uuid"):
        r = _req(base, admin.headers, "GET", f"/v1/conversation/{ref}")
        assert r.status_code == 404, (ref, r.status_code, r.text)
    assert [(m["id"], m["message"]) for m in admin.get_conversation(conv_id)] == [(mid, "secret")]
    assert admin.get_conversations()[conv_id]["name"] == "Private Talk"


def test_scratch_conversation_is_empty_until_used(base_url):
    sdk = register_fresh_user(base_url).sdk
    r = _req(base_url, sdk.headers, "GET", "/v1/conversation/-")
    assert r.status_code == 200 and r.json()["conversation_history"] == [] and r.json()["total"] == 0, r.text
    assert sdk.get_conversation_id_by_name("-") is None  # reading "-" does not create it


# --- executing commands, by role ---------------------------------------------------


def test_admin_writes_a_file_and_fetches_it_from_the_link(team):
    sdk, base = team.admin.sdk, team.base_url
    agent_id = sdk.get_agent_id_by_name("AGiXT")
    conv_id = sdk.new_conversation(agent_id, "Admin Files")["id"]
    args = {"filename": "test_admin.txt", "text": "Test content of role 2"}
    out = sdk.execute_command(agent_id, "Write to File", args, conv_id)
    bare, signed = _link(base, out, agent_id, conv_id, "test_admin.txt")
    r = _get(signed)  # no Authorization header: the token is enough
    assert r.status_code == 200 and r.text == "Test content of role 2", (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
    r = _get(bare)
    assert r.status_code == 401, (r.status_code, r.text)
    r = _get(bare, sdk.headers)
    assert r.status_code == 200 and r.text == "Test content of role 2", (r.status_code, r.text)
    r = _get(bare, team.outsider.sdk.headers)  # another company's user
    assert r.status_code == 404, (r.status_code, r.text)
    r = _get(signed[:-1] + ("0" if signed[-1] != "0" else "1"))  # a forged token
    assert r.status_code == 404, (r.status_code, r.text)
    r = _get(signed.replace(conv_id, UNKNOWN_ID))  # the token is bound to its conversation
    assert r.status_code == 404, (r.status_code, r.text)
    _logged_run(sdk.get_conversation(conv_id), "AGiXT", "Write to File", out)
    assert "test_admin.txt" in sdk.get_conversation(conv_id)[-2]["message"]
    assert sdk.execute_command(agent_id, "Read File", {"filename": "test_admin.txt"}, conv_id) == args["text"]


def test_user_writes_through_the_shared_agent_into_the_scratch_conversation(team, shared_id):
    user, base = team.user.sdk, team.base_url
    assert user.get_conversation("-") == []
    args = {"filename": "test_user.txt", "text": "Test content of role 3"}
    out = user.execute_command(shared_id, "Write to File", args)  # conversation "" → "-"
    scratch = user.get_conversation_id_by_name("-")
    assert scratch and UUID_RE.match(scratch), user.get_conversations_with_ids()
    bare, signed = _link(base, out, shared_id, scratch, "test_user.txt")
    r = _get(signed)
    assert r.status_code == 200 and r.text == "Test content of role 3", (r.status_code, r.text)
    # The conversation's owner only (issue 10): members who see the agent meet 404 too.
    for member, status in ((team.user, 200), (team.admin, 404), (team.reader, 404), (team.outsider, 404)):
        r = _get(bare, member.sdk.headers)
        assert r.status_code == status, (member.email, r.status_code, r.text)
    assert _get(bare).status_code == 401
    history = user.get_conversation("-")
    assert len(history) == 2, history
    _logged_run(history, SHARED, "Write to File", out)
    assert user.get_conversations()[scratch]["agent_id"] == shared_id


def test_reader_may_not_execute_commands(team, shared_id):
    reader, base = team.reader.sdk, team.base_url
    own = reader.get_agent_id_by_name("AGiXT")
    args = {"filename": "test_reader.txt", "text": "Test content of role 6"}
    for agent_id in (shared_id, own):
        r = _run(base, reader, agent_id, "Write to File", args)
        assert r.status_code == 403 and "extensions:execute" in str(_detail(r)), (r.status_code, r.text)
        with pytest.raises(Exception, match=SDK_FAILURE):
            reader.execute_command(agent_id, "Write to File", args)
    assert reader.get_conversation("-") == []
    assert reader.get_conversation_id_by_name("-") is None


# --- command refusals and other commands --------------------------------------------


def test_command_refusals_and_other_commands(team):
    sdk, base = team.admin.sdk, team.base_url
    added = sdk.add_agent("Command Checker")
    assert added.get("message") == "Agent added." and UUID_RE.match(str(added.get("id"))), added
    agent_id = added["id"]
    conv_id = sdk.new_conversation(agent_id, "Command Checks")["id"]
    r = _run(base, sdk, agent_id, "No Such Command", {}, conv_id)
    assert r.status_code == 404, (r.status_code, r.text)
    with pytest.raises(Exception, match=SDK_FAILURE):
        sdk.execute_command(agent_id, "No Such Command", {}, conv_id)
    sdk.toggle_command(agent_id, "Get Datetime", False)
    try:
        r = _run(base, sdk, agent_id, "Get Datetime", {}, conv_id)
        assert r.status_code == 403, (r.status_code, r.text)
    finally:
        sdk.toggle_command(agent_id, "Get Datetime", True)
    out = sdk.execute_command(agent_id, "Get Datetime", {}, conv_id)
    assert "UTC" in out, out
    _logged_run(sdk.get_conversation(conv_id), "Command Checker", "Get Datetime", out)

    write = sdk.execute_command(agent_id, "Write to File", {"filename": "notes/a.txt", "text": "one\ntwo\nthree"},
                                conv_id)
    _link(base, write, agent_id, conv_id, "notes/a.txt")
    assert sdk.execute_command(agent_id, "Read File", {"filename": "notes/a.txt"}, conv_id) == "one\ntwo\nthree"
    read = sdk.execute_command(agent_id, "Read File", {"filename": "notes/a.txt", "line_start": "2",
                                                       "line_end": 2}, conv_id)
    assert read == "two", read
    r = _run(base, sdk, agent_id, "Read File", {"filename": "notes/a.txt", "line_start": "abc"}, conv_id)
    assert r.status_code == 422, (r.status_code, r.text)
    for bad in ("../x.txt", "/etc/x"):
        r = _run(base, sdk, agent_id, "Write to File", {"filename": bad, "text": "escape"}, conv_id)
        assert r.status_code == 400 and "detail" in r.json(), (bad, r.status_code, r.text)
    # Another conversation is another workspace.
    other = sdk.new_conversation(agent_id, "Command Checks 2")["id"]
    r = _run(base, sdk, agent_id, "Read File", {"filename": "notes/a.txt"}, other)
    assert r.status_code == 200 and "three" not in r.json()["response"], r.text
